//! End-to-end benchmark (not a timed test): `make bench`.
//!
//! Builds N items (default 100,000) from ../shared/data/reviews_train.jsonl
//! (texts repeated with distinct external ids; created_at spread over the 180
//! days before a fixed date; 300 SKUs and product names; reviews, refunds
//! with menu reasons, chats and surveys on five channels), starts the release
//! `xinsheng serve` on a temporary data directory, posts them over loopback
//! HTTP in batches from two client threads, and measures the time until every
//! item is analysed, stored and visible in a committed index, and every
//! derived view (consumer profiles, follow-ups, alerts) has caught up. Then measures
//! search latency (p50/p99) over mixed queries, the latency of every shipped
//! board (`GET /api/v1/boards/{id}`, 90 days + previous period, p50/p95/p99),
//! and `classify` throughput.
//!
//! Env: XINSHENG_BENCH_ITEMS (default 100000), XINSHENG_BENCH_CORPUS,
//! XINSHENG_BENCH_CONSUMERS (default 20000: five items per consumer, so
//! profiles are updated; 0 sends no consumer ids),
//! XINSHENG_BENCH_BOARD_REQUESTS (default 60 per board, after 5 warm-up
//! requests), XINSHENG_BENCH_CLASSIFY=0 to skip the classify step.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The default tenant's key in the benchmark's service.
const BENCH_KEY: &str = "xs_bench_0123456789abcdef0123456789abcdef";

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let corpus = std::env::var("XINSHENG_BENCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("../shared/data/reviews_train.jsonl"));
    let total: usize = std::env::var("XINSHENG_BENCH_ITEMS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(100_000);
    // The binary cargo built for this benchmark (bench profile = release),
    // wherever CARGO_TARGET_DIR puts it.
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_xinsheng"));
    if !corpus.exists() || !binary.exists() {
        eprintln!(
            "needs {} and {} (run `cargo build --release`)",
            corpus.display(),
            binary.display()
        );
        return;
    }
    let reviews: Vec<(String, String)> =
        std::io::BufReader::new(std::fs::File::open(&corpus).expect("corpus"))
            .lines()
            .map_while(Result::ok)
            .filter_map(|line| serde_json::from_str::<Value>(&line).ok())
            .map(|review| {
                (
                    review["text"].as_str().unwrap_or("").to_string(),
                    review["category"].as_str().unwrap_or("").to_string(),
                )
            })
            .filter(|(text, _)| !text.trim().is_empty())
            .collect();
    let consumers: usize = std::env::var("XINSHENG_BENCH_CONSUMERS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(20_000);
    let channels = ["tmall", "jd", "douyin", "wechat", "store"];
    // One in ten items is a refund with a menu reason, one in ten a chat, one in ten a survey.
    let sources = [
        "review", "review", "review", "review", "review", "review", "review", "refund", "chat",
        "survey",
    ];
    let refund_reasons = [
        "尺码不合适",
        "质量问题",
        "与描述不符",
        "七天无理由",
        "发货太慢",
    ];
    let now = 1_795_132_800i64; // 2026-11-20T00:00:00Z: a fixed window keeps runs comparable
    let items: Vec<Value> = (0..total)
        .map(|n| {
            let (text, category) = &reviews[n % reviews.len()];
            let created = now - (n as i64 * 7919) % (180 * 86_400);
            let source = sources[n % sources.len()];
            let sku = n % 300;
            let mut item = json!({"external_id": format!("bench-{n}"), "source": source, "channel": channels[(n / 3) % channels.len()],
                   "text": text, "category": category, "sku": format!("SKU-{sku}"), "product_name": format!("商品{sku}"),
                   "created_at": time_rfc3339(created)});
            if consumers > 0 {
                item["consumer_id"] = json!(format!("c-{}", n % consumers));
            }
            if source == "refund" {
                item["reason_code"] = json!(refund_reasons[(n / 10) % refund_reasons.len()]);
            }
            item
        })
        .collect();
    let bytes: usize = items
        .iter()
        .map(|item| item["text"].as_str().map_or(0, str::len))
        .sum();
    println!(
        "items: {total} ({:.1} MB of text, from {}), consumers: {consumers}",
        bytes as f64 / 1e6,
        corpus.display()
    );

    let data_dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut server = Command::new(&binary)
        .current_dir(&root)
        .args(["--data-dir"])
        .arg(data_dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn")
        .env("XINSHENG_BOOTSTRAP_KEY", BENCH_KEY)
        // The benchmark measures the service, not the per-key budget.
        .env("XINSHENG_RATE_LIMIT_PER_MINUTE", "0")
        .stdout(Stdio::null())
        .spawn()
        .expect("start server");
    let base = format!("http://127.0.0.1:{port}");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {BENCH_KEY}")).expect("header"),
    );
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .default_headers(headers)
        .build()
        .expect("client");
    let ready = Instant::now();
    while client
        .get(format!("{base}/healthz"))
        .send()
        .map(|r| !r.status().is_success())
        .unwrap_or(true)
    {
        assert!(
            ready.elapsed() < Duration::from_secs(60),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let batches: Vec<Vec<u8>> = items
        .chunks(5_000)
        .map(|chunk| serde_json::to_vec(chunk).expect("json"))
        .collect();
    let server_cpu_before = process_cpu_seconds(server.id());
    let started = Instant::now();
    let acknowledged = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for lane in 0..2 {
            let (client, base, batches, acknowledged) = (&client, &base, &batches, &acknowledged);
            scope.spawn(move || {
                for body in batches.iter().skip(lane).step_by(2) {
                    let response = client
                        .post(format!("{base}/api/v1/feedback"))
                        .body(body.clone())
                        .send()
                        .expect("post");
                    assert_eq!(response.status().as_u16(), 202);
                    acknowledged.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    let ingest_acknowledged = started.elapsed();
    loop {
        let health: Value = client
            .get(format!("{base}/healthz"))
            .send()
            .and_then(|r| r.json())
            .expect("health");
        // Indexed, and every derived view (consumer profiles, follow-ups,
        // severe alerts) caught up: profiles are part of the pipeline.
        if health["queue"]["pending"] == 0
            && health["indexed_documents"].as_u64() == Some(total as u64)
            && health["projections"]["backlog"] == 0
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let end_to_end = started.elapsed();
    let server_cpu = process_cpu_seconds(server.id()) - server_cpu_before;
    println!(
        "ingest: all {total} acknowledged (stored durably) in {:.2} s = {:.0} items/s",
        ingest_acknowledged.as_secs_f64(),
        total as f64 / ingest_acknowledged.as_secs_f64()
    );
    println!(
        "end to end (HTTP → analysis → database → committed index): {:.2} s = {:.0} items/s",
        end_to_end.as_secs_f64(),
        total as f64 / end_to_end.as_secs_f64()
    );
    // The CPU the service spent is steadier than wall time on a shared VM:
    // it compares configurations (consumer ids or not) run at different moments.
    println!(
        "server CPU end to end: {:.2} s = {:.0} µs/item",
        server_cpu,
        server_cpu * 1e6 / total as f64
    );

    let queries = [
        "q=%E8%B4%A8%E9%87%8F",                      // 质量
        "q=%E7%89%A9%E6%B5%81%20%E6%85%A2",          // 物流 慢
        "q=%E8%B5%B7%E7%90%83&tag=product.material", // 起球
        "tag=logistics.speed&polarity=neg&sort=newest",
        "q=%E5%8C%85%E8%A3%85&channel=jd", // 包装
        "library=service&polarity=neg&from=2026-10-01&to=2026-11-01",
        "q=%E5%91%B3%E9%81%93%20%E5%A5%BD%E5%90%83", // 味道 好吃
        "q=%E5%B1%8F%E5%B9%95&sku=SKU-7",            // 屏幕
    ];
    let mut latencies = Vec::new();
    for round in 0..100 {
        for query in queries {
            let started = Instant::now();
            let response = client
                .get(format!("{base}/api/v1/search?{query}&offset={}", round % 3))
                .send()
                .expect("search");
            assert!(response.status().is_success());
            let _ = response.bytes();
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    println!(
        "search ({} queries, facets included): p50 {:.1} ms, p99 {:.1} ms",
        latencies.len(),
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0)
    );
    let board_requests: usize = std::env::var("XINSHENG_BENCH_BOARD_REQUESTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(60);
    let listing: Value = client
        .get(format!("{base}/api/v1/boards"))
        .send()
        .and_then(|r| r.json())
        .expect("board list");
    let board_ids: Vec<String> = listing["boards"]
        .as_array()
        .expect("boards")
        .iter()
        .filter_map(|board| board["id"].as_str().map(str::to_string))
        .collect();
    println!(
        "boards, 90 days (2026-08-22 .. 2026-11-20) by day + previous period, {board_requests} requests each after 5 warm-up:"
    );
    for board_id in &board_ids {
        let url = format!("{base}/api/v1/boards/{board_id}?from=2026-08-22&to=2026-11-20");
        let mut board_latencies = Vec::with_capacity(board_requests);
        let mut answer_bytes = 0;
        for round in 0..(5 + board_requests) {
            let started = Instant::now();
            let response = client.get(&url).send().expect("board");
            assert!(response.status().is_success(), "{url}");
            answer_bytes = response.bytes().map_or(0, |bytes| bytes.len());
            if round >= 5 {
                board_latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
        board_latencies.sort_by(|a, b| a.total_cmp(b));
        println!(
            "  {board_id:<10} p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms ({} KB answer)",
            percentile(&board_latencies, 50.0),
            percentile(&board_latencies, 95.0),
            percentile(&board_latencies, 99.0),
            answer_bytes / 1024
        );
    }
    let _ = server.kill();
    let _ = server.wait();

    if std::env::var("XINSHENG_BENCH_CLASSIFY").is_ok_and(|value| value == "0") {
        return;
    }
    // classify: the same analysis path, no server or database.
    let input: String = reviews
        .iter()
        .take(total.min(reviews.len()))
        .enumerate()
        .map(|(n, (text, _))| format!("{}\n", json!({"id": n, "text": text})))
        .collect();
    let started = Instant::now();
    let mut classify = Command::new(&binary)
        .current_dir(&root)
        .arg("classify")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("classify");
    let mut stdin = classify.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = classify.wait_with_output().expect("classify output");
    let _ = writer.join();
    let classified = output.stdout.iter().filter(|b| **b == b'\n').count();
    println!(
        "classify: {classified} reviews in {:.2} s = {:.0} reviews/s (including start-up and dictionary load)",
        started.elapsed().as_secs_f64(),
        classified as f64 / started.elapsed().as_secs_f64()
    );
}

fn time_rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let seconds = unix.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant), to avoid a dependency just for the bench.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

/// User plus system CPU seconds of process `pid` so far (`/proc/PID/stat`).
fn process_cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let Some((_, after_name)) = stat.rsplit_once(')') else {
        return f64::NAN;
    };
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index).and_then(|v| v.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => (user + system) / clock_ticks_per_second(),
        _ => f64::NAN,
    }
}

/// `getconf CLK_TCK`; 100 on every Linux this runs on, asked rather than assumed.
fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}
