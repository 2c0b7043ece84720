//! Smoke runs of the load generator (`make load` runs it for real): a few
//! seconds of mixed traffic with no error, and a few seconds of overload
//! answered by 429 with `Retry-After` and a bounded queue. They keep the
//! generator from rotting and check the service's limits hold at all.

use std::time::Duration;

use serde_json::Value;

use crate::loadgen::{self, Kind, Traffic};
use crate::server::TEST_API_KEY;
use crate::server::{repo_root, Server};

/// The demo file's texts (committed with the project).
fn demo_texts() -> Vec<String> {
    let demo = std::fs::read_to_string(repo_root().join("examples/demo_feedback.jsonl"))
        .expect("demo file");
    demo.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|item| item["text"].as_str().map(str::to_string))
        .filter(|text| !text.trim().is_empty())
        .collect()
}

fn traffic(server: &Server, seconds: u64) -> Traffic {
    Traffic {
        base: server.base.clone(),
        api_key: TEST_API_KEY.to_string(),
        texts: demo_texts(),
        duration: Duration::from_secs(seconds),
        ingest_threads: 1,
        search_threads: 2,
        board_threads: 1,
        ingest_batch: 20,
        ingest_rate: 100.0,
        external_id_prefix: "smoke".to_string(),
        server_pid: server.child.id(),
    }
}

#[test]
fn mixed_load_below_the_limits_has_no_error_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[], &[]);
    let traffic = traffic(&server, 4);
    assert!(traffic.texts.len() > 100);
    loadgen::preload(&traffic, 500, 250);
    server.wait_idle();

    let report = loadgen::run(&traffic);
    for line in report.lines() {
        eprintln!("{line}");
    }
    assert_eq!(report.error_count(), 0, "{:#?}", report.kinds);
    for kind in [Kind::Ingest, Kind::Search, Kind::Board] {
        let stats = report.stats(kind);
        assert!(
            !stats.latencies_ms.is_empty(),
            "no successful {} request",
            kind.name()
        );
        assert_eq!(stats.refused, 0, "{} refused below the limits", kind.name());
    }
    // Paced at 100 items/s for 4 s: about 400 items, all acknowledged.
    let ingest = report.stats(Kind::Ingest);
    assert!(
        (300..=420).contains(&ingest.items_acknowledged),
        "{} items acknowledged",
        ingest.items_acknowledged
    );
    assert!(report.peak_hwm_kib() > 0, "no memory sample of the service");

    server.wait_idle();
    let (_, health) = server.get("/healthz");
    let expected = 500 + ingest.items_acknowledged;
    assert_eq!(health["queue"]["indexed"].as_u64(), Some(expected));
    assert_eq!(health["indexed_documents"].as_u64(), Some(expected));
}

#[test]
fn sustained_overload_is_refused_with_retry_after_and_the_queue_stays_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limit = 600u64;
    let limit_text = limit.to_string();
    let env = [("XINSHENG_MAX_PENDING_ITEMS", limit_text.as_str())];
    let server = Server::start(dir.path(), &env, &[]);
    let mut traffic = traffic(&server, 4);
    // Unpaced: as fast as the service acknowledges, far above analysis.
    traffic.ingest_threads = 2;
    traffic.ingest_batch = 200;
    traffic.ingest_rate = 0.0;
    traffic.search_threads = 1;
    traffic.board_threads = 0;

    let report = loadgen::run(&traffic);
    for line in report.lines() {
        eprintln!("{line}");
    }
    let ingest = report.stats(Kind::Ingest);
    assert!(ingest.refused > 0, "overload was never refused");
    assert_eq!(ingest.refused_without_retry_after, 0);
    assert_eq!(report.error_count(), 0, "{:#?}", report.kinds);
    assert!(
        !report.stats(Kind::Search).latencies_ms.is_empty(),
        "searches failed during the overload"
    );
    // The admission check counts pending items at most 250 ms stale, so the
    // queue may pass the limit by what two threads post meanwhile.
    let peak = report.peak_pending().expect("queue samples");
    assert!(
        peak <= limit + 2 * traffic.ingest_batch as u64 * 4,
        "queue grew to {peak} with a limit of {limit}"
    );
    server.wait_idle();
    let (_, health) = server.get("/healthz");
    assert_eq!(
        health["queue"]["indexed"].as_u64(),
        Some(ingest.items_acknowledged),
        "every acknowledged item is analysed, nothing refused is stored"
    );
}
