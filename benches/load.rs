//! Load test (not a timed test): `make load`.
//!
//! Starts the release `xinsheng serve` on loopback with a fresh data
//! directory, preloads items made of the real reviews in
//! ../shared/data/reviews_train.jsonl (their texts are read at run time,
//! never stored in the project), then:
//!
//! 1. **Mixed run**: ingest (paced below what analysis keeps up with), search
//!    and board traffic at a fixed concurrency for a bounded time; reports
//!    throughput, p50/p99 latency and errors per kind, the time the queue
//!    took to drain afterwards, and the service's peak memory (VmHWM). Any
//!    error fails the run: below the configured limits there must be none.
//! 2. **Sustained overload**: a second service with a small
//!    `max_pending_items`, ingest unpaced (as fast as acknowledged, far
//!    above analysis) plus one search thread; reports 202s, 429s (each must
//!    carry `Retry-After`), the queue's peak, and VmRSS over the run (first
//!    and second half) and VmHWM, to show memory stays bounded.
//!
//! The generator is `tests/integration/loadgen.rs`, also run for a few
//! seconds by the test suite (`load.rs` there).
//!
//! Env: XINSHENG_LOAD_SECONDS (mixed run, default 60),
//! XINSHENG_LOAD_OVERLOAD_SECONDS (default 30), XINSHENG_LOAD_PRELOAD
//! (items before the mixed run, default 20000), XINSHENG_LOAD_INGEST_RATE
//! (items/s in the mixed run, default 300), XINSHENG_LOAD_CORPUS.

#[path = "../tests/integration/loadgen.rs"]
mod loadgen;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use loadgen::{Kind, Traffic};

/// The default tenant's key in the load test's service.
const LOAD_KEY: &str = "xs_load_0123456789abcdef0123456789abcdef";

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

struct Service {
    child: Child,
    base: String,
    _data_dir: tempfile::TempDir,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(root: &Path, binary: &Path, env: &[(&str, String)]) -> Service {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("port")
        .port();
    let mut command = Command::new(binary);
    command
        .current_dir(root)
        .arg("--data-dir")
        .arg(data_dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn")
        .env("XINSHENG_BOOTSTRAP_KEY", LOAD_KEY)
        // The load test measures the service, not the per-key budget.
        .env("XINSHENG_RATE_LIMIT_PER_MINUTE", "0")
        .stdout(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let child = command.spawn().expect("start server");
    let base = format!("http://127.0.0.1:{port}");
    let client = loadgen::client(LOAD_KEY, Duration::from_secs(5));
    let started = Instant::now();
    while !client
        .get(format!("{base}/healthz"))
        .send()
        .is_ok_and(|response| response.status().is_success())
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Service {
        child,
        base,
        _data_dir: data_dir,
    }
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let corpus = std::env::var("XINSHENG_LOAD_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("../shared/data/reviews_train.jsonl"));
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_xinsheng"));
    if !corpus.exists() || !binary.exists() {
        eprintln!(
            "load test skipped: needs {} and {}",
            corpus.display(),
            binary.display()
        );
        return;
    }
    let texts: Vec<String> = std::io::BufReader::new(std::fs::File::open(&corpus).expect("corpus"))
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
        .filter_map(|review| review["text"].as_str().map(str::to_string))
        .filter(|text| !text.trim().is_empty())
        .collect();
    let seconds: u64 = env_number("XINSHENG_LOAD_SECONDS", 60);
    let overload_seconds: u64 = env_number("XINSHENG_LOAD_OVERLOAD_SECONDS", 30);
    let preload: usize = env_number("XINSHENG_LOAD_PRELOAD", 20_000);
    let ingest_rate: f64 = env_number("XINSHENG_LOAD_INGEST_RATE", 300.0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "corpus: {} texts from {}; {cores} cores; load average before: {}",
        texts.len(),
        corpus.display(),
        load_average()
    );

    // 1. Mixed traffic below the limits.
    let service = start(&root, &binary, &[]);
    let mut traffic = Traffic {
        base: service.base.clone(),
        api_key: LOAD_KEY.to_string(),
        texts: texts.clone(),
        duration: Duration::from_secs(seconds),
        ingest_threads: 2,
        search_threads: 4,
        board_threads: 2,
        ingest_batch: 50,
        ingest_rate,
        external_id_prefix: "load".to_string(),
        server_pid: service.child.id(),
    };
    let started = Instant::now();
    loadgen::preload(&traffic, preload, 2_000);
    let drained = loadgen::wait_idle(&traffic, Duration::from_secs(600));
    println!(
        "preload: {preload} items ingested and indexed in {:.1} s (queue drained {:.1} s after the last acknowledgement)",
        started.elapsed().as_secs_f64(),
        drained.as_secs_f64()
    );
    println!(
        "mixed run: {seconds} s, {} ingest threads (paced to {ingest_rate:.0} items/s in batches of {}), {} search threads, {} board threads (all boards in turn, default 30-day period):",
        traffic.ingest_threads, traffic.ingest_batch, traffic.search_threads, traffic.board_threads
    );
    let report = loadgen::run(&traffic);
    for line in report.lines() {
        println!("{line}");
    }
    let drained = loadgen::wait_idle(&traffic, Duration::from_secs(600));
    println!(
        "  queue drained {:.1} s after the run; load average after: {}",
        drained.as_secs_f64(),
        load_average()
    );
    let mixed_errors = report.error_count() + report.stats(Kind::Ingest).refused;
    drop(service);

    // 2. Sustained overload against a small queue limit.
    let limit = 5_000u64;
    let service = start(
        &root,
        &binary,
        &[("XINSHENG_MAX_PENDING_ITEMS", limit.to_string())],
    );
    traffic.base = service.base.clone();
    traffic.server_pid = service.child.id();
    traffic.duration = Duration::from_secs(overload_seconds);
    traffic.ingest_threads = 4;
    traffic.ingest_batch = 500;
    traffic.ingest_rate = 0.0;
    traffic.search_threads = 1;
    traffic.board_threads = 0;
    traffic.external_id_prefix = "overload".to_string();
    println!(
        "overload run: {overload_seconds} s, max_pending_items {limit}, {} unpaced ingest threads in batches of {}, 1 search thread:",
        traffic.ingest_threads, traffic.ingest_batch
    );
    let report = loadgen::run(&traffic);
    for line in report.lines() {
        println!("{line}");
    }
    let rss: Vec<String> = report
        .samples
        .iter()
        .step_by((report.samples.len() / 10).max(1))
        .map(|sample| format!("{:.0}s {:.0}", sample.at_s, sample.rss_kib as f64 / 1024.0))
        .collect();
    println!("  VmRSS over the run (MiB): {}", rss.join(", "));
    let ingest = report.stats(Kind::Ingest);
    let drained = loadgen::wait_idle(&traffic, Duration::from_secs(600));
    println!(
        "  queue drained {:.1} s after the run",
        drained.as_secs_f64()
    );
    drop(service);

    assert_eq!(mixed_errors, 0, "errors or refusals below the limits");
    assert!(ingest.refused > 0, "the overload was never refused");
    assert_eq!(
        ingest.refused_without_retry_after, 0,
        "429 without Retry-After"
    );
    assert_eq!(
        report.error_count(),
        0,
        "errors other than 429 under overload"
    );
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_string())
}
