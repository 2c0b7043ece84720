//! The load generator behind `make load` (`benches/load.rs`, which includes
//! this file) and its smoke test (`load.rs`): client threads against a
//! running service on loopback for a bounded time, one group of threads per
//! kind of traffic (ingest, search, board), each recording every request's
//! latency and outcome, while a sampler reads the service's memory
//! (`VmRSS`, `VmHWM` from `/proc/<pid>/status`) and its analysis queue.
//!
//! Search and board threads are closed-loop (the next request leaves when
//! the answer arrived). Ingest threads are paced to `ingest_rate` items per
//! second in total (open loop: a late request does not make the next one
//! wait), or unpaced with `ingest_rate = 0`, which is the overload run: it
//! ingests as fast as the service acknowledges, far faster than analysis.
//!
//! Outcomes: 2xx is a success; 429 is counted apart (the back-pressure
//! answer, which must carry `Retry-After`); anything else, and any transport
//! error, is an error.

#![allow(dead_code)] // each includer uses a different part

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Ingest,
    Search,
    Board,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ingest => "ingest",
            Kind::Search => "search",
            Kind::Board => "board",
        }
    }
}

/// What to send, and how hard.
#[derive(Debug, Clone)]
pub struct Traffic {
    pub base: String,
    pub api_key: String,
    /// Texts the ingested items are made of.
    pub texts: Vec<String>,
    pub duration: Duration,
    pub ingest_threads: usize,
    pub search_threads: usize,
    pub board_threads: usize,
    /// Items per ingest request.
    pub ingest_batch: usize,
    /// Items per second over all ingest threads; 0: as fast as answered.
    pub ingest_rate: f64,
    /// Makes external ids unique per run (items are idempotent by id).
    pub external_id_prefix: String,
    /// The service's process, for memory samples.
    pub server_pid: u32,
}

/// Every request of one kind.
#[derive(Debug, Default, Clone)]
pub struct KindStats {
    pub requests: u64,
    /// Latencies of successful requests, milliseconds.
    pub latencies_ms: Vec<f64>,
    /// Items acknowledged (ingest only).
    pub items_acknowledged: u64,
    /// Answers 429 (back-pressure) and how many of them lacked `Retry-After`.
    pub refused: u64,
    pub refused_without_retry_after: u64,
    /// Errors by status ("transport" for no answer), with one sample body each.
    pub errors: BTreeMap<String, (u64, String)>,
}

impl KindStats {
    pub fn error_count(&self) -> u64 {
        self.errors.values().map(|(count, _)| count).sum()
    }

    fn merge(&mut self, other: KindStats) {
        self.requests += other.requests;
        self.latencies_ms.extend(other.latencies_ms);
        self.items_acknowledged += other.items_acknowledged;
        self.refused += other.refused;
        self.refused_without_retry_after += other.refused_without_retry_after;
        for (key, (count, sample)) in other.errors {
            let entry = self.errors.entry(key).or_insert((0, sample));
            entry.0 += count;
        }
    }

    fn record_error(&mut self, key: String, sample: String) {
        let entry = self.errors.entry(key).or_insert((0, sample));
        entry.0 += 1;
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[rank.min(sorted.len() - 1)]
    }
}

/// One reading of the sampler.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at_s: f64,
    pub rss_kib: u64,
    pub hwm_kib: u64,
    /// Items waiting for analysis (from `/healthz`), if it answered.
    pub pending: Option<u64>,
}

#[derive(Debug)]
pub struct Report {
    pub elapsed: Duration,
    pub kinds: BTreeMap<Kind, KindStats>,
    pub samples: Vec<Sample>,
}

impl Report {
    pub fn stats(&self, kind: Kind) -> KindStats {
        self.kinds.get(&kind).cloned().unwrap_or_default()
    }

    pub fn error_count(&self) -> u64 {
        self.kinds.values().map(KindStats::error_count).sum()
    }

    pub fn peak_hwm_kib(&self) -> u64 {
        self.samples.iter().map(|s| s.hwm_kib).max().unwrap_or(0)
    }

    pub fn peak_rss_kib(&self) -> u64 {
        self.samples.iter().map(|s| s.rss_kib).max().unwrap_or(0)
    }

    pub fn peak_pending(&self) -> Option<u64> {
        self.samples.iter().filter_map(|s| s.pending).max()
    }

    /// The largest RSS in the first and in the second half of the run.
    pub fn rss_halves_kib(&self) -> (u64, u64) {
        let half = self.elapsed.as_secs_f64() / 2.0;
        let peak = |first: bool| {
            self.samples
                .iter()
                .filter(|s| (s.at_s < half) == first)
                .map(|s| s.rss_kib)
                .max()
                .unwrap_or(0)
        };
        (peak(true), peak(false))
    }

    /// Human-readable lines.
    pub fn lines(&self) -> Vec<String> {
        let seconds = self.elapsed.as_secs_f64();
        let mut lines = Vec::new();
        for (kind, stats) in &self.kinds {
            let ok = stats.latencies_ms.len() as f64;
            let mut line = format!(
                "  {:<6} {:>7} requests, {:>8.1} ok/s, p50 {:>7.1} ms, p99 {:>7.1} ms, errors {}",
                kind.name(),
                stats.requests,
                ok / seconds,
                stats.percentile_ms(50.0),
                stats.percentile_ms(99.0),
                stats.error_count()
            );
            if *kind == Kind::Ingest {
                line.push_str(&format!(
                    ", {} items acknowledged ({:.0} items/s), {} refused with 429 ({} without Retry-After)",
                    stats.items_acknowledged,
                    stats.items_acknowledged as f64 / seconds,
                    stats.refused,
                    stats.refused_without_retry_after
                ));
            }
            lines.push(line);
            for (key, (count, sample)) in &stats.errors {
                lines.push(format!("         {count} × {key}: {sample}"));
            }
        }
        let (first_half, second_half) = self.rss_halves_kib();
        lines.push(format!(
            "  service memory: VmHWM {:.1} MiB, peak VmRSS {:.1} MiB (first half {:.1}, second half {:.1}), peak queue {}",
            self.peak_hwm_kib() as f64 / 1024.0,
            self.peak_rss_kib() as f64 / 1024.0,
            first_half as f64 / 1024.0,
            second_half as f64 / 1024.0,
            self.peak_pending()
                .map_or("unknown".to_string(), |pending| format!("{pending} items"))
        ));
        lines
    }
}

/// Reads `VmRSS` and `VmHWM` (KiB) of a process.
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|line| line.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

pub fn client(api_key: &str, timeout: Duration) -> reqwest::blocking::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {api_key}")).expect("header"),
    );
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .default_headers(headers)
        .build()
        .expect("client")
}

/// Searches in the shape a support team sends them (words, filters, facets).
const SEARCHES: [&str; 10] = [
    "q=%E8%B4%A8%E9%87%8F",                      // 质量
    "q=%E7%89%A9%E6%B5%81%20%E6%85%A2",          // 物流 慢
    "q=%E8%B5%B7%E7%90%83&tag=product.material", // 起球
    "tag=logistics.speed&polarity=neg&sort=newest",
    "q=%E5%8C%85%E8%A3%85&channel=jd", // 包装
    "library=service&polarity=neg",
    "q=%E5%91%B3%E9%81%93%20%E5%A5%BD%E5%90%83", // 味道 好吃
    "q=%E5%B1%8F%E5%B9%95&sku=SKU-7",            // 屏幕
    "q=%E5%AE%A2%E6%9C%8D&sentiment=neg",        // 客服
    "sentiment=pos&sort=newest&offset=20",
];

const SOURCES: [&str; 10] = [
    "review", "review", "review", "review", "review", "review", "review", "refund", "chat",
    "survey",
];
const CHANNELS: [&str; 5] = ["tmall", "jd", "douyin", "wechat", "store"];

/// Items built from the texts: sources, channels, SKUs and dates spread
/// over the last 30 days, so the default board period sees them.
pub fn items(texts: &[String], prefix: &str, first: usize, count: usize) -> Vec<Value> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    (first..first + count)
        .map(|n| {
            let source = SOURCES[n % SOURCES.len()];
            let mut item = json!({
                "external_id": format!("{prefix}-{n}"),
                "source": source,
                "channel": CHANNELS[(n / 3) % CHANNELS.len()],
                "text": texts[n % texts.len()],
                "sku": format!("SKU-{}", n % 300),
                "consumer_id": format!("c-{}", n % 5000),
                "rating": (n % 5) as u64 + 1,
                "created_at": now - 60 - (n as i64 * 7919) % (29 * 86_400),
            });
            if source == "refund" {
                item["reason_code"] = json!("质量问题");
            }
            item
        })
        .collect()
}

/// Posts `count` items as fast as the service takes them (to prepare data
/// for searches and boards); panics on any refusal.
pub fn preload(traffic: &Traffic, count: usize, batch: usize) {
    let client = client(&traffic.api_key, Duration::from_secs(120));
    let mut sent = 0;
    while sent < count {
        let size = batch.min(count - sent);
        let body = items(
            &traffic.texts,
            &format!("{}-preload", traffic.external_id_prefix),
            sent,
            size,
        );
        let response = client
            .post(format!("{}/api/v1/feedback", traffic.base))
            .json(&body)
            .send()
            .expect("preload post");
        let status = response.status().as_u16();
        assert_eq!(
            status,
            202,
            "preload refused: {}",
            response.text().unwrap_or_default()
        );
        sent += size;
    }
}

/// Items waiting for analysis, from `/healthz` (`None` when it does not answer).
fn pending(client: &reqwest::blocking::Client, base: &str) -> Option<u64> {
    client
        .get(format!("{base}/healthz"))
        .send()
        .and_then(|response| response.json::<Value>())
        .ok()
        .and_then(|health| health["queue"]["pending"].as_u64())
}

/// Waits until nothing is pending analysis; returns how long that took.
pub fn wait_idle(traffic: &Traffic, limit: Duration) -> Duration {
    let client = client(&traffic.api_key, Duration::from_secs(30));
    let started = Instant::now();
    while started.elapsed() < limit {
        if pending(&client, &traffic.base) == Some(0) {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("analysis queue did not drain within {limit:?}");
}

/// Board ids the service serves.
pub fn board_ids(traffic: &Traffic) -> Vec<String> {
    let client = client(&traffic.api_key, Duration::from_secs(30));
    let listing: Value = client
        .get(format!("{}/api/v1/boards", traffic.base))
        .send()
        .and_then(|response| response.json())
        .expect("board list");
    listing["boards"]
        .as_array()
        .expect("boards")
        .iter()
        .filter_map(|board| board["id"].as_str().map(str::to_string))
        .collect()
}

fn body_sample(response: reqwest::blocking::Response) -> String {
    let text = response.text().unwrap_or_default();
    text.chars().take(200).collect()
}

/// Sends one request, records it; returns the answer's JSON on success.
fn send(
    stats: &mut KindStats,
    request: reqwest::blocking::RequestBuilder,
    read_json: bool,
) -> Option<Value> {
    let started = Instant::now();
    stats.requests += 1;
    let response = match request.send() {
        Ok(response) => response,
        Err(error) => {
            stats.record_error("transport".to_string(), error.to_string());
            return None;
        }
    };
    let status = response.status().as_u16();
    if status == 429 {
        stats.refused += 1;
        if response.headers().get("retry-after").is_none() {
            stats.refused_without_retry_after += 1;
        }
        let _ = response.bytes();
        return None;
    }
    if !response.status().is_success() {
        stats.record_error(format!("HTTP {status}"), body_sample(response));
        return None;
    }
    // The whole answer is part of the latency.
    let answer = if read_json {
        match response.json::<Value>() {
            Ok(answer) => Some(answer),
            Err(error) => {
                stats.record_error("unreadable answer".to_string(), error.to_string());
                return None;
            }
        }
    } else {
        match response.bytes() {
            Ok(_) => Some(Value::Null),
            Err(error) => {
                stats.record_error("unreadable answer".to_string(), error.to_string());
                return None;
            }
        }
    };
    stats
        .latencies_ms
        .push(started.elapsed().as_secs_f64() * 1000.0);
    answer
}

/// Runs the traffic for its duration and reports.
pub fn run(traffic: &Traffic) -> Report {
    let boards = board_ids(traffic);
    assert!(!boards.is_empty(), "the service serves no board");
    let kinds: Mutex<BTreeMap<Kind, KindStats>> = Mutex::default();
    let samples: Mutex<Vec<Sample>> = Mutex::default();
    let done = AtomicBool::new(false);
    let started = Instant::now();
    let deadline = started + traffic.duration;
    let merge = |kind: Kind, stats: KindStats| {
        kinds
            .lock()
            .expect("stats lock")
            .entry(kind)
            .or_default()
            .merge(stats);
    };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let client = client(&traffic.api_key, Duration::from_secs(5));
            while !done.load(Ordering::Relaxed) {
                let pending = pending(&client, &traffic.base);
                if let Some((rss_kib, hwm_kib)) = memory_kib(traffic.server_pid) {
                    samples.lock().expect("samples lock").push(Sample {
                        at_s: started.elapsed().as_secs_f64(),
                        rss_kib,
                        hwm_kib,
                        pending,
                    });
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        let mut workers = Vec::new();
        for lane in 0..traffic.ingest_threads {
            let merge = &merge;
            workers.push(scope.spawn(move || {
                let client = client(&traffic.api_key, Duration::from_secs(30));
                let mut stats = KindStats::default();
                let interval = (traffic.ingest_rate > 0.0).then(|| {
                    Duration::from_secs_f64(
                        traffic.ingest_batch as f64 * traffic.ingest_threads as f64
                            / traffic.ingest_rate,
                    )
                });
                let prefix = format!("{}-ingest{lane}", traffic.external_id_prefix);
                let mut round = 0usize;
                while Instant::now() < deadline {
                    if let Some(interval) = interval {
                        let due = started + interval.mul_f64(round as f64);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            if due >= deadline {
                                break;
                            }
                            std::thread::sleep(wait);
                        }
                    }
                    let body = items(
                        &traffic.texts,
                        &prefix,
                        round * traffic.ingest_batch,
                        traffic.ingest_batch,
                    );
                    let request = client
                        .post(format!("{}/api/v1/feedback", traffic.base))
                        .json(&body);
                    if let Some(answer) = send(&mut stats, request, true) {
                        stats.items_acknowledged +=
                            answer["items"].as_array().map_or(0, Vec::len) as u64;
                    }
                    round += 1;
                }
                merge(Kind::Ingest, stats);
            }));
        }
        for lane in 0..traffic.search_threads {
            let merge = &merge;
            workers.push(scope.spawn(move || {
                let client = client(&traffic.api_key, Duration::from_secs(30));
                let mut stats = KindStats::default();
                let mut round = lane;
                while Instant::now() < deadline {
                    let query = SEARCHES[round % SEARCHES.len()];
                    let request = client.get(format!("{}/api/v1/search?{query}", traffic.base));
                    send(&mut stats, request, false);
                    round += 1;
                }
                merge(Kind::Search, stats);
            }));
        }
        for lane in 0..traffic.board_threads {
            let (merge, boards) = (&merge, &boards);
            workers.push(scope.spawn(move || {
                let client = client(&traffic.api_key, Duration::from_secs(30));
                let mut stats = KindStats::default();
                let mut round = lane;
                while Instant::now() < deadline {
                    let board = &boards[round % boards.len()];
                    let request = client.get(format!("{}/api/v1/boards/{board}", traffic.base));
                    send(&mut stats, request, false);
                    round += 1;
                }
                merge(Kind::Board, stats);
            }));
        }
        for worker in workers {
            worker.join().expect("load thread");
        }
        done.store(true, Ordering::Relaxed);
    });
    let elapsed = started.elapsed();
    Report {
        elapsed,
        kinds: kinds.into_inner().expect("stats"),
        samples: samples.into_inner().expect("samples"),
    }
}
