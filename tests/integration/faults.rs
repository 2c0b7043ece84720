//! Faults: SIGKILL inside analysis and inside index commits, a corrupted or
//! deleted index directory, a database locked by another process, and a
//! full data volume. After each, the service answers clearly, loses no
//! acknowledged item, indexes nothing twice and recovers by itself.
//!
//! The SIGKILL test lands its kills at known points: the worker logs each
//! batch it starts analysing (debug level), and the test hook
//! `XINSHENG_FAULT_COMMIT_DELAY_MS` (`src/index/fault_hook.rs`) makes it
//! log and pause inside every commit; the test reads the service's log and
//! kills when the line it waits for appears.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::server::{authorised_client, binary, Server, SAMPLE_REVIEWS};

/// The default tenant's key in every test service.

fn items(prefix: &str, count: usize) -> Vec<Value> {
    (0..count)
        .map(|n| {
            json!({"external_id": format!("{prefix}-{n}"), "source": "review", "channel": "faults",
                   "text": format!("{}（第{n}条）", SAMPLE_REVIEWS[n % SAMPLE_REVIEWS.len()]), "rating": (n % 5) + 1})
        })
        .collect()
}

/// Posts items; returns the status, the `Retry-After` header and the answer.
fn post_items(base: &str, body: &[Value]) -> (u16, Option<String>, Value) {
    let response = authorised_client(Duration::from_secs(60))
        .post(format!("{base}/api/v1/feedback"))
        .json(body)
        .send()
        .expect("POST /api/v1/feedback");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    (status, retry_after, response.json().unwrap_or(Value::Null))
}

fn acknowledged_ids(answer: &Value) -> Vec<i64> {
    answer["items"]
        .as_array()
        .expect("acknowledged items")
        .iter()
        .map(|item| item["id"].as_i64().expect("id"))
        .collect()
}

fn health(server: &Server) -> Value {
    let (status, health) = server.get("/healthz");
    assert_eq!(status, 200, "{health}");
    health
}

fn search_total(server: &Server, query: &str) -> u64 {
    let (status, answer) = server.get(&format!("/api/v1/search?channel=faults&limit=0{query}"));
    assert_eq!(status, 200, "{answer}");
    answer["total"].as_u64().expect("total")
}

/// After the queue drained: the database holds exactly the acknowledged
/// items, all indexed, and the index holds each exactly once.
fn assert_all_indexed_once(server: &Server, acknowledged: &BTreeSet<i64>) {
    server.wait_idle();
    let health = health(server);
    let count = acknowledged.len() as u64;
    assert_eq!(health["queue"]["pending"], 0, "{health}");
    assert_eq!(health["queue"]["indexed"].as_u64(), Some(count), "{health}");
    assert_eq!(
        health["indexed_documents"].as_u64(),
        Some(count),
        "index and database disagree (duplicates or losses): {health}"
    );
    assert_eq!(search_total(server, ""), count);
    for id in acknowledged.iter().step_by(11) {
        let (status, item) = server.get(&format!("/api/v1/feedback/{id}"));
        assert_eq!(status, 200, "item {id}");
        assert_eq!(item["state"], "indexed", "item {id}");
    }
}

/// Waits for a log line containing every one of `needles`; returns the
/// lines read before it.
fn wait_for_line(log: &Receiver<String>, needles: &[&str], within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut before = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match log.recv_timeout(left) {
            Ok(line) if needles.iter().all(|needle| line.contains(needle)) => return before,
            Ok(line) => before.push(line),
            Err(RecvTimeoutError::Timeout) => {
                panic!("no log line with {needles:?} within {within:?}; read: {before:#?}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("the service exited before logging {needles:?}; read: {before:#?}")
            }
        }
    }
}

/// Where a kill lands in the worker's round.
#[derive(Debug, Clone, Copy)]
enum KillPoint {
    /// While a batch is being analysed: nothing of it is in the index.
    Analysis,
    /// Inside the index commit: segment files written, meta.json not yet.
    SegmentsWritten,
    /// The index commit is durable, the database still says pending.
    IndexCommitted,
}

#[test]
fn sigkill_during_analysis_and_inside_index_commits_loses_and_duplicates_nothing() {
    const BATCH: u64 = 400;
    const ITEMS: u64 = 4000;
    let dir = tempfile::tempdir().expect("tempdir");
    // Full batches and no timed commit: every commit holds one batch of
    // 400; the hook pauses 1 s before each batch's analysis and at both
    // points of its commit.
    let env = [
        ("XINSHENG_ANALYSIS_BATCH", "400"),
        ("XINSHENG_COMMIT_INTERVAL_MS", "600000"),
        ("XINSHENG_FAULT_COMMIT_DELAY_MS", "1000"),
        ("RUST_LOG", "warn,xinsheng::ingest::worker=debug"),
    ];
    let (mut server, mut log) = Server::start_logged(binary(), dir.path(), &env);
    let mut acknowledged = BTreeSet::new();
    for batch in 0..8 {
        let (status, _, answer) =
            post_items(&server.base, &long_items(&format!("k{batch}"), 500, 6));
        assert_eq!(status, 202, "{answer}");
        acknowledged.extend(acknowledged_ids(&answer));
    }
    assert_eq!(acknowledged.len() as u64, ITEMS);
    // What the worker logged while the items came in is stale: the kills
    // below are timed from lines logged after this point.
    std::thread::sleep(Duration::from_millis(20));
    let _stale = log.try_iter().count();

    // Each life of the service is killed at the n-th time its worker
    // reaches the point; n = 2 lets a whole batch through first.
    let plan = [
        (KillPoint::Analysis, 1),
        (KillPoint::SegmentsWritten, 1),
        (KillPoint::IndexCommitted, 1),
        (KillPoint::Analysis, 2),
        (KillPoint::IndexCommitted, 2),
        (KillPoint::SegmentsWritten, 2),
    ];
    let mut indexed_before = 0;
    for (round, (point, occurrence)) in plan.into_iter().enumerate() {
        let needles: &[&str] = match point {
            KillPoint::Analysis => &["fault hook", "analysing"],
            KillPoint::SegmentsWritten => &["fault hook", "segments_written"],
            KillPoint::IndexCommitted => &["fault hook", "index_committed"],
        };
        for _ in 0..occurrence {
            wait_for_line(&log, needles, Duration::from_secs(60));
        }
        server.kill();
        let unread: Vec<String> = log.try_iter().collect();
        if matches!(point, KillPoint::Analysis) {
            assert!(
                !unread.iter().any(|line| line.contains("fault hook")),
                "round {round}: the kill meant for analysis landed in a commit: {unread:#?}"
            );
        }

        (server, log) = Server::start_logged(binary(), dir.path(), &env);
        // Right after the restart, before the worker's first commit (a
        // batch's analysis plus the hook's pause away): the database holds
        // exactly the acknowledged items, and the index what the last
        // durable index commit held.
        let after = health(&server);
        let indexed = after["queue"]["indexed"].as_u64().expect("indexed");
        let pending = after["queue"]["pending"].as_u64().expect("pending");
        let documents = after["indexed_documents"].as_u64().expect("documents");
        assert_eq!(
            indexed + pending,
            ITEMS,
            "round {round} ({point:?}): {after}"
        );
        assert!(
            indexed >= indexed_before,
            "round {round}: indexed items went back: {after}"
        );
        if occurrence > 1 {
            assert!(
                indexed > indexed_before,
                "round {round}: no batch got through: {after}"
            );
        }
        indexed_before = indexed;
        match point {
            // At most the batch of an earlier index-committed kill is ahead
            // of the database; more would be a duplicate.
            KillPoint::Analysis | KillPoint::SegmentsWritten => assert!(
                documents == indexed || documents == indexed + BATCH,
                "round {round} ({point:?}): {after}"
            ),
            // The batch whose index commit was durable is in the index while
            // the database still has it pending; redone after the restart,
            // its documents are replaced, not added again.
            KillPoint::IndexCommitted => assert_eq!(
                documents,
                indexed + BATCH,
                "round {round}: the kill did not land between the index commit and the database: {after}"
            ),
        }
    }
    drop(log);
    server.kill();

    let server = Server::start(dir.path(), &[], &[]);
    assert_all_indexed_once(&server, &acknowledged);
    let negatives = search_total(&server, "&polarity=neg");
    assert!(negatives > 0 && negatives < ITEMS, "{negatives}");
}

/// How an index directory is damaged while the service is stopped.
#[derive(Debug, Clone, Copy)]
enum IndexDamage {
    /// Garbage over the middle of every segment file (sizes unchanged).
    GarbageInSegments,
    /// Garbage over `meta.json`.
    GarbageInMeta,
    /// The whole directory removed.
    Deleted,
}

fn damage_index(index_dir: &Path, damage: IndexDamage) {
    match damage {
        IndexDamage::Deleted => std::fs::remove_dir_all(index_dir).expect("remove index"),
        IndexDamage::GarbageInMeta => {
            std::fs::write(index_dir.join("meta.json"), b"\x00\xffnot json{{{").expect("write")
        }
        IndexDamage::GarbageInSegments => {
            let mut damaged = 0;
            for entry in std::fs::read_dir(index_dir).expect("list index") {
                let path = entry.expect("entry").path();
                let name = path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string();
                if name.ends_with(".json") || name.ends_with(".lock") || name.starts_with('.') {
                    continue;
                }
                let length = std::fs::metadata(&path).expect("metadata").len();
                if length < 16 {
                    continue;
                }
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .expect("open");
                use std::io::Seek;
                let garbage: Vec<u8> = (0..(length / 2).min(4096))
                    .map(|n| (n * 7 + 13) as u8)
                    .collect();
                file.seek(std::io::SeekFrom::Start(length / 4))
                    .expect("seek");
                file.write_all(&garbage).expect("garbage");
                damaged += 1;
            }
            assert!(damaged > 0, "no segment file in {}", index_dir.display());
        }
    }
}

#[test]
fn a_corrupted_or_deleted_index_is_rebuilt_from_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index_dir = dir.path().join("index");
    let server = Server::start(dir.path(), &[], &[]);
    let mut acknowledged = BTreeSet::new();
    for batch in 0..3 {
        let (status, _, answer) = post_items(&server.base, &items(&format!("i{batch}"), 200));
        assert_eq!(status, 202, "{answer}");
        acknowledged.extend(acknowledged_ids(&answer));
        // Several commits, so the index has several segments.
        server.wait_idle();
    }
    assert_all_indexed_once(&server, &acknowledged);
    let queries = [
        "",
        "&polarity=neg",
        "&q=%E8%B5%B7%E7%90%83",
        "&tag=logistics.speed",
    ];
    let before: Vec<u64> = queries
        .iter()
        .map(|query| search_total(&server, query))
        .collect();
    server.kill();

    for damage in [
        IndexDamage::GarbageInSegments,
        IndexDamage::GarbageInMeta,
        IndexDamage::Deleted,
    ] {
        damage_index(&index_dir, damage);
        let server = Server::start(dir.path(), &[], &[]);
        assert_all_indexed_once(&server, &acknowledged);
        let after: Vec<u64> = queries
            .iter()
            .map(|query| search_total(&server, query))
            .collect();
        assert_eq!(
            after, before,
            "{damage:?}: search answers differ after the rebuild"
        );
        server.kill();
    }
    let set_aside = std::fs::read_dir(dir.path())
        .expect("list data dir")
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with("index.broken-")
        })
        .count();
    assert!(
        set_aside >= 1,
        "a damaged index is kept aside for inspection"
    );
}

/// Holds SQLite's write lock on the service's database from this process
/// (as another program would: a CLI import, an administrator's shell) for
/// `hold`, on a thread; the lock is taken when this returns.
fn hold_write_lock(database: &Path, hold: Duration) -> std::thread::JoinHandle<()> {
    let connection = rusqlite::Connection::open(database).expect("open database");
    connection
        .execute_batch("BEGIN EXCLUSIVE; INSERT INTO import_progress (file_key, path, rows_done, updated_at) VALUES ('lock-holder', 'test', 0, 0);")
        .expect("take the write lock");
    std::thread::spawn(move || {
        std::thread::sleep(hold);
        connection
            .execute_batch("ROLLBACK")
            .expect("release the lock");
    })
}

#[test]
fn a_database_locked_by_another_process_delays_or_refuses_ingest_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = dir.path().join("xinsheng.db");
    let mut server = Server::start(dir.path(), &[], &[]);
    let mut acknowledged = BTreeSet::new();
    let (status, _, answer) = post_items(&server.base, &items("l0", 100));
    assert_eq!(status, 202, "{answer}");
    acknowledged.extend(acknowledged_ids(&answer));
    server.wait_idle();

    // Shorter than the busy timeout: ingest waits for the lock, then succeeds.
    let holder = hold_write_lock(&database, Duration::from_secs(2));
    let started = Instant::now();
    let (status, _, answer) = post_items(&server.base, &items("l1", 100));
    let waited = started.elapsed();
    assert_eq!(status, 202, "{answer}");
    assert!(
        waited >= Duration::from_millis(1500),
        "ingest did not wait for the lock: {waited:?}"
    );
    acknowledged.extend(acknowledged_ids(&answer));
    holder.join().expect("lock holder");

    // Longer than the busy timeout: a clear 503 with Retry-After, nothing
    // stored. The service's threads share one connection, so a request may
    // first wait for a background writer that is itself waiting out the busy
    // timeout: up to twice 5 s before its own refusal. The lock is held
    // longer than that.
    server.wait_idle();
    let holder = hold_write_lock(&database, Duration::from_secs(14));
    let started = Instant::now();
    let (status, retry_after, answer) = post_items(&server.base, &items("l2", 100));
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"]["code"], "busy", "{answer}");
    assert!(retry_after.is_some_and(|seconds| seconds.parse::<u64>().is_ok_and(|s| s > 0)));
    assert!(
        started.elapsed() < Duration::from_secs(14),
        "refused only after the lock was gone"
    );
    // Reads go on while another process writes (WAL).
    let before = search_total(&server, "");
    assert_eq!(before, 200);
    holder.join().expect("lock holder");
    assert!(
        server.child.try_wait().expect("status").is_none(),
        "the service died"
    );

    // Released: the same request is taken, and everything is indexed once.
    let (status, _, answer) = post_items(&server.base, &items("l2", 100));
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        answer["accepted"], 100,
        "the refused request stored nothing: {answer}"
    );
    acknowledged.extend(acknowledged_ids(&answer));
    assert_all_indexed_once(&server, &acknowledged);

    // The worker met the lock too (its commit in the 14 s window, if any,
    // failed and was redone): a restart finds the same state.
    server.kill();
    server = Server::start(dir.path(), &[], &[]);
    assert_all_indexed_once(&server, &acknowledged);
    let integrity: String = rusqlite::Connection::open(&database)
        .and_then(|connection| connection.query_row("PRAGMA integrity_check", [], |row| row.get(0)))
        .expect("integrity check");
    assert_eq!(integrity, "ok");
}

/// A small tmpfs that only the service under test sees: mounted in a
/// private mount namespace (and a user namespace when this process may not
/// mount) held open by a `sleep`, entered with `nsenter` to run the service.
/// The kernel drops the mount with the namespace's last process, so nothing
/// is left mounted whatever happens to the test.
struct ScratchVolume {
    holder: Child,
    user_namespace: bool,
    mount_point: tempfile::TempDir,
}

impl ScratchVolume {
    fn create(size_mib: u64) -> Result<ScratchVolume, String> {
        let mount_point = tempfile::tempdir().map_err(|error| error.to_string())?;
        let mut reasons = Vec::new();
        for user_namespace in [false, true] {
            let mut command = Command::new("unshare");
            if user_namespace {
                command.args(["--user", "--map-root-user"]);
            }
            command
                .args(["--mount", "--propagation", "private", "sh", "-c"])
                .arg(r#"mount -t tmpfs -o "size=$1m" xinsheng-faults "$2" && echo mounted && exec sleep 600"#)
                .arg("sh")
                .arg(size_mib.to_string())
                .arg(mount_point.path())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut holder = match command.spawn() {
                Ok(holder) => holder,
                Err(error) => {
                    reasons.push(format!("unshare: {error}"));
                    break;
                }
            };
            let mut first_line = String::new();
            let stdout = holder.stdout.take().expect("stdout");
            let _ = BufReader::new(stdout).read_line(&mut first_line);
            if first_line.trim() == "mounted" {
                return Ok(ScratchVolume {
                    holder,
                    user_namespace,
                    mount_point,
                });
            }
            let output = holder
                .wait_with_output()
                .map_err(|error| error.to_string())?;
            reasons.push(format!(
                "unshare{}: {}",
                if user_namespace { " --user" } else { "" },
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Err(reasons.join("; "))
    }

    /// Where the service sees `relative`.
    fn inside(&self, relative: &str) -> PathBuf {
        self.mount_point.path().join(relative)
    }

    /// The same place, reached from this process through the holder's root.
    fn outside(&self, relative: &str) -> PathBuf {
        let inside = self.inside(relative);
        let relative_to_root = inside.strip_prefix("/").expect("absolute path");
        PathBuf::from(format!("/proc/{}/root", self.holder.id())).join(relative_to_root)
    }

    /// The service's command, run inside the namespace.
    fn command(&self) -> Command {
        let template = binary();
        let mut command = Command::new("nsenter");
        command.arg(format!("--target={}", self.holder.id()));
        if self.user_namespace {
            command.args(["--user", "--preserve-credentials"]);
        }
        command.arg("--mount");
        // nsenter moves to the target's working directory unless told.
        if let Some(directory) = template.get_current_dir() {
            command.arg(format!("--wd={}", directory.display()));
        }
        command.arg("--").arg(template.get_program());
        for (name, value) in template.get_envs() {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        command
    }

    /// Writes a filler file until the volume refuses more; returns its size.
    fn fill(&self) -> u64 {
        let mut filler = std::fs::File::create(self.outside("filler")).expect("filler");
        let chunk = vec![0x5au8; 64 * 1024];
        let mut written = 0u64;
        loop {
            match filler.write(&chunk) {
                Ok(0) => break,
                Ok(count) => written += count as u64,
                Err(error) => {
                    assert_eq!(error.raw_os_error(), Some(28), "expected ENOSPC: {error}");
                    break;
                }
            }
        }
        written
    }

    fn free(&self) {
        std::fs::remove_file(self.outside("filler")).expect("remove filler");
    }
}

impl Drop for ScratchVolume {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// Items whose text is `repeat` times as long.
fn long_items(prefix: &str, count: usize, repeat: usize) -> Vec<Value> {
    let mut items = items(prefix, count);
    for item in &mut items {
        let text = item["text"].as_str().unwrap_or_default().repeat(repeat);
        item["text"] = json!(text);
    }
    items
}

#[test]
fn a_full_data_volume_refuses_ingest_clearly_and_recovers_when_space_returns() {
    let volume = match ScratchVolume::create(64) {
        Ok(volume) => volume,
        Err(reason) => {
            eprintln!(
                "SKIPPED faults::a_full_data_volume…: cannot mount a scratch tmpfs ({reason})"
            );
            return;
        }
    };
    let data_dir = volume.inside("data");
    // The hook holds every commit open for a moment, so the volume can be
    // filled while acknowledged items are on their way into the index.
    let env = [("XINSHENG_FAULT_COMMIT_DELAY_MS", "1000")];
    let (mut server, mut log) = Server::start_logged(volume.command(), &data_dir, &env);
    let mut acknowledged = BTreeSet::new();
    let (status, _, answer) = post_items(&server.base, &items("d0", 300));
    assert_eq!(status, 202, "{answer}");
    acknowledged.extend(acknowledged_ids(&answer));
    assert_all_indexed_once(&server, &acknowledged);

    // Acknowledged, then the disk fills while their index commit is open.
    let _stale = log.try_iter().count();
    let (status, _, answer) = post_items(&server.base, &items("d1", 50));
    assert_eq!(status, 202, "{answer}");
    acknowledged.extend(acknowledged_ids(&answer));
    wait_for_line(
        &log,
        &["fault hook", "segments_written"],
        Duration::from_secs(30),
    );
    let filled = volume.fill();
    assert!(filled > 0);

    // A request that needs room: a clear 507 with Retry-After, nothing stored.
    let large = long_items("d2", 3000, 20);
    let (status, retry_after, answer) = post_items(&server.base, &large);
    assert_eq!(status, 507, "{answer}");
    assert_eq!(answer["error"]["code"], "storage_full", "{answer}");
    assert!(
        retry_after.is_some_and(|seconds| seconds.parse::<u64>().is_ok_and(|s| s > 0)),
        "no Retry-After on 507"
    );
    // The worker cannot commit; the service stays up, reads still work,
    // and the 50 items wait in the database.
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        server.child.try_wait().expect("status").is_none(),
        "the service died"
    );
    assert_eq!(
        search_total(&server, ""),
        300,
        "the committed index is intact"
    );
    let health = health(&server);
    assert_eq!(health["queue"]["pending"], 50, "{health}");
    assert_eq!(health["queue"]["indexed"], 300, "{health}");
    let lines: Vec<String> = log.try_iter().collect();
    assert!(
        lines
            .iter()
            .any(|line| line.contains("analysis round failed")),
        "the worker did not meet the full disk: {lines:#?}"
    );

    // Space returns: the waiting items are indexed, and ingest works again.
    volume.free();
    assert_all_indexed_once(&server, &acknowledged);
    let (status, _, answer) = post_items(&server.base, &large);
    assert_eq!(status, 202, "{answer}");
    acknowledged.extend(acknowledged_ids(&answer));
    assert_all_indexed_once(&server, &acknowledged);
    server.kill();
    let lines: Vec<String> = log.try_iter().collect();
    assert!(
        !lines.iter().any(|line| line.contains("panicked")),
        "{lines:#?}"
    );

    // Nothing was damaged: the index opens as it is (not rebuilt) and the
    // database (as the kill left it) checks out.
    drop(log);
    (server, log) = Server::start_logged(volume.command(), &data_dir, &[]);
    assert_all_indexed_once(&server, &acknowledged);
    server.kill();
    let lines: Vec<String> = log.try_iter().collect();
    assert!(
        !lines
            .iter()
            .any(|line| line.contains("rebuilding from the database")),
        "the index was damaged: {lines:#?}"
    );
    let copy = tempfile::tempdir().expect("tempdir");
    for name in ["xinsheng.db", "xinsheng.db-wal"] {
        let source = volume.outside(&format!("data/{name}"));
        if source.exists() {
            std::fs::copy(&source, copy.path().join(name)).expect("copy database");
        }
    }
    let integrity: String = rusqlite::Connection::open(copy.path().join("xinsheng.db"))
        .and_then(|connection| connection.query_row("PRAGMA integrity_check", [], |row| row.get(0)))
        .expect("integrity check");
    assert_eq!(integrity, "ok");
}
