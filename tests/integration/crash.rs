//! Nothing acknowledged is lost: SIGKILL while ingesting and analysing,
//! restart, and every acknowledged item is analysed and searchable once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::server::{Server, SAMPLE_REVIEWS};

#[test]
fn sigkill_during_ingest_and_analysis_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Small analysis batches and a long commit interval keep many items
    // staged-but-uncommitted when the kill lands.
    let env = [
        ("XINSHENG_ANALYSIS_BATCH", "200"),
        ("XINSHENG_COMMIT_INTERVAL_MS", "300"),
    ];
    let server = Server::start(dir.path(), &env, &[]);
    let base = server.base.clone();
    let acknowledged: Arc<Mutex<HashSet<i64>>> = Arc::default();

    let writers: Vec<_> = (0..3)
        .map(|writer| {
            let base = base.clone();
            let acknowledged = acknowledged.clone();
            std::thread::spawn(move || {
                let client = crate::server::authorised_client(Duration::from_secs(10));
                for batch in 0..1_000 {
                    let items: Vec<Value> = (0..100)
                        .map(|n| {
                            json!({"external_id": format!("w{writer}-{batch}-{n}"), "source": "review", "channel": "crash-test",
                                   "text": SAMPLE_REVIEWS[(batch + n) % SAMPLE_REVIEWS.len()]})
                        })
                        .collect();
                    let Ok(response) = client.post(format!("{base}/api/v1/feedback")).json(&items).send() else { return };
                    if response.status().as_u16() != 202 {
                        return;
                    }
                    let Ok(answer) = response.json::<Value>() else { return };
                    let mut acknowledged = acknowledged.lock().expect("lock");
                    for item in answer["items"].as_array().into_iter().flatten() {
                        acknowledged.insert(item["id"].as_i64().expect("id"));
                    }
                }
            })
        })
        .collect();
    // Let ingest and analysis overlap for a while, then pull the plug.
    std::thread::sleep(Duration::from_millis(2_500));
    server.kill();
    for writer in writers {
        writer.join().expect("writer thread");
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(
        acknowledged.len() >= 1_000,
        "only {} items acknowledged before the kill",
        acknowledged.len()
    );

    let server = Server::start(dir.path(), &[], &[]);
    server.wait_idle();
    let (_, health) = server.get("/healthz");
    let stored = health["queue"]["indexed"].as_u64().expect("indexed count");
    assert!(stored >= acknowledged.len() as u64);

    // The index holds every stored item exactly once.
    let (_, all) = server.get("/api/v1/search?channel=crash-test&limit=0");
    assert_eq!(
        all["total"].as_u64(),
        Some(stored),
        "index and database disagree after the crash"
    );
    assert_eq!(
        health["indexed_documents"].as_u64(),
        Some(stored),
        "duplicate documents in the index"
    );

    // Every acknowledged item is analysed; sample them all cheaply by id.
    for id in acknowledged.iter().step_by(37) {
        let (status, item) = server.get(&format!("/api/v1/feedback/{id}"));
        assert_eq!(status, 200);
        assert_eq!(item["state"], "indexed", "item {id}");
        assert!(
            item["analysis"]["tags"]
                .as_array()
                .is_some_and(|tags| !tags.is_empty()),
            "item {id}: {item}"
        );
    }
    let (_, board_search) =
        server.get("/api/v1/search?channel=crash-test&tag=product.size_fit&polarity=neg&limit=0");
    assert!(board_search["total"].as_u64().unwrap_or(0) > 0);
}
