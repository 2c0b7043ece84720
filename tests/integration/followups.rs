//! The follow-up queue through the real service: items are analysed by the
//! shipped models, queued by the projection, worked on over HTTP, and what
//! people set survives a restart, `reindex --reanalyse` and a 追评 that
//! makes the item be analysed again.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::server::{binary, Server};

fn items() -> Vec<Value> {
    vec![
        json!({"external_id": "calm", "source": "review", "channel": "tmall", "text": "衣服很好看，面料舒服，物流也快", "rating": 5,
               "consumer_id": "c-calm", "created_at": "2026-11-18T09:00:00+08:00"}),
        json!({"external_id": "threat", "source": "review", "channel": "tmall", "text": "再不退款我就投诉到12315", "rating": 1,
               "consumer_id": "c-threat", "created_at": "2026-11-18T10:00:00+08:00"}),
        json!({"external_id": "repeat-1", "source": "review", "channel": "jd", "text": "洗了一次就起球了，质量太差", "rating": 2,
               "consumer_id": "c-repeat", "created_at": "2026-11-10T10:00:00+08:00"}),
        json!({"external_id": "repeat-2", "source": "review", "channel": "jd", "text": "又买了一件，还是起球，太失望了", "rating": 2,
               "consumer_id": "c-repeat", "created_at": "2026-11-19T10:00:00+08:00"}),
        json!({"external_id": "vip", "source": "review", "channel": "jd", "text": "电视屏幕有坏点，很失望", "rating": 3,
               "consumer_id": "c-vip", "created_at": "2026-11-19T12:00:00+08:00", "meta": {"order_amount": 5000}}),
    ]
}

fn patch(server: &Server, path: &str, body: Value) -> (u16, Value) {
    let response = server
        .client
        .patch(format!("{}{path}", server.base))
        .body(body.to_string())
        .send()
        .expect("PATCH");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// The projection runs right after each index commit, so the queue can
/// lag the analysis queue by a moment: poll until `done` holds.
fn wait_for(server: &Server, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, answer) = server.get(path);
        assert_eq!(status, 200, "{answer}");
        if done(&answer) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "gave up waiting on {path}: {answer}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn by_external_text<'a>(queue: &'a Value, text: &str) -> Option<&'a Value> {
    queue["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|item| item["feedback"]["text"].as_str() == Some(text))
}

fn signal_kinds(item: &Value) -> Vec<String> {
    item["signals"]
        .as_array()
        .expect("signals")
        .iter()
        .map(|signal| signal["kind"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn negative_items_are_queued_worked_on_and_keep_their_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[], &[]);
    let (status, answer) = server.post(
        "/api/v1/feedback",
        serde_json::to_vec(&items()).expect("json"),
    );
    assert_eq!(status, 202, "{answer}");
    server.wait_idle();
    let queue = wait_for(&server, "/api/v1/followups", |queue| {
        queue["total"].as_u64() >= Some(3)
    });

    assert!(
        by_external_text(&queue, "衣服很好看，面料舒服，物流也快").is_none(),
        "a calm positive review is not queued: {queue}"
    );
    assert_eq!(queue["total"], 3, "{queue}");
    let threat = by_external_text(&queue, "再不退款我就投诉到12315").expect("threat queued");
    assert_eq!(
        queue["items"][0]["id"], threat["id"],
        "the most severe comes first: {queue}"
    );
    assert!(threat["severity"].as_u64() >= Some(3), "{threat}");
    assert!(
        signal_kinds(threat).contains(&"threat".to_string()),
        "{threat}"
    );
    assert!(
        signal_kinds(threat).contains(&"low_rating".to_string()),
        "{threat}"
    );
    assert_eq!(threat["status"], "open");
    assert_eq!(threat["feedback"]["consumer_id"], "c-threat");
    assert_eq!(threat["feedback"]["rating"], 1);
    assert_eq!(threat["created_at"], "2026-11-18T10:00:00+08:00");
    assert!(threat["contacted_at"].is_null() && threat["assignee"].is_null());

    let second =
        by_external_text(&queue, "又买了一件，还是起球，太失望了").expect("second complaint");
    assert!(
        signal_kinds(second).contains(&"repeat".to_string()),
        "{second}"
    );
    assert!(
        by_external_text(&queue, "洗了一次就起球了，质量太差").is_none(),
        "one plain 2-star complaint is not queued, it only counts for the repeat: {queue}"
    );
    let vip = by_external_text(&queue, "电视屏幕有坏点，很失望").expect("high value");
    let high_value = vip["signals"]
        .as_array()
        .expect("signals")
        .iter()
        .find(|signal| signal["kind"] == "high_value")
        .expect("high_value signal");
    assert_eq!(high_value["detail"], "订单金额 ¥5000");

    // Severity order, then newest.
    let severities: Vec<u64> = queue["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["severity"].as_u64().expect("severity"))
        .collect();
    assert!(
        severities.windows(2).all(|pair| pair[0] >= pair[1]),
        "{severities:?}"
    );

    let threat_path = format!("/api/v1/followups/{}", threat["id"]);
    let (status, contacted) = patch(
        &server,
        &threat_path,
        json!({"status": "contacted", "assignee": "小王", "note": "电话联系，同意退款"}),
    );
    assert_eq!(status, 200, "{contacted}");
    assert_eq!(contacted["status"], "contacted");
    assert_eq!(contacted["assignee"], "小王");
    assert!(contacted["contacted_at"].is_string());
    let (status, refused) = patch(&server, &threat_path, json!({"status": "closed"}));
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (422, Some("status"))
    );
    let (status, resolved) = patch(&server, &threat_path, json!({"status": "resolved"}));
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["contacted_at"], contacted["contacted_at"]);
    assert!(resolved["resolved_at"].is_string());
    let (status, refused) = patch(&server, &threat_path, json!({"status": "contacted"}));
    assert_eq!(
        status, 422,
        "resolved → contacted needs a reopen: {refused}"
    );
    assert_eq!(refused["error"]["code"], "invalid_transition");
    let (status, refused) = patch(&server, &threat_path, json!({"note": "很".repeat(2001)}));
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (422, Some("note"))
    );
    let (status, _) = patch(
        &server,
        "/api/v1/followups/999999",
        json!({"status": "resolved"}),
    );
    assert_eq!(status, 404);
    let (status, refused) = server.get("/api/v1/followups?min_severity=9");
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (400, Some("min_severity"))
    );
    let (status, _) = server.get("/api/v1/followups?limit=201");
    assert_eq!(status, 400);

    let (status, detail) = server.get(&threat_path);
    assert_eq!(status, 200);
    let history: Vec<(String, String)> = detail["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|row| {
            (
                row["field"].as_str().unwrap_or("").to_string(),
                row["to"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        history,
        vec![
            ("status".to_string(), "contacted".to_string()),
            ("assignee".to_string(), "小王".to_string()),
            ("note".to_string(), "电话联系，同意退款".to_string()),
            ("status".to_string(), "resolved".to_string()),
        ]
    );

    let (status, open) = server.get("/api/v1/followups?status=open&limit=1");
    assert_eq!(status, 200);
    assert_eq!(
        (
            open["total"].as_u64(),
            open["items"].as_array().map(Vec::len)
        ),
        (Some(2), Some(1))
    );
    let (_, by_assignee) = server.get("/api/v1/followups?assignee=%E5%B0%8F%E7%8E%8B");
    assert_eq!(by_assignee["total"], 1);
    let (_, in_period) = server.get("/api/v1/followups?from=2026-11-15&to=2026-11-19");
    assert_eq!(
        in_period["total"], 1,
        "only the threat is from 11-18: {in_period}"
    );

    let (status, stats) = server.get("/api/v1/followups/stats?from=2026-11-01&to=2026-12-01");
    assert_eq!(status, 200, "{stats}");
    assert_eq!(
        (
            stats["open"].as_u64(),
            stats["contacted"].as_u64(),
            stats["resolved"].as_u64(),
            stats["total"].as_u64()
        ),
        (Some(2), Some(0), Some(1), Some(3))
    );
    let resolution_rate = stats["resolution_rate"].as_f64().expect("rate");
    assert!((resolution_rate - 1.0 / 3.0).abs() < 1e-9, "{stats}");
    assert!(
        stats["median_minutes_to_contact"].as_f64() >= Some(0.0),
        "{stats}"
    );
    let (_, later) = server.get("/api/v1/followups/stats?from=2027-01-01");
    assert_eq!(
        (
            later["total"].as_u64(),
            later["median_minutes_to_contact"].is_null()
        ),
        (Some(0), true)
    );
    server.kill();

    // A person's work survives a restart and a reanalysis of every item.
    let output = binary()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["reindex", "--reanalyse"])
        .output()
        .expect("reindex");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let restarted = Server::start(dir.path(), &[], &[]);
    let (status, after) = restarted.get(&threat_path);
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["status"], "resolved");
    assert_eq!(after["assignee"], "小王");
    assert_eq!(after["note"], "电话联系，同意退款");
    assert_eq!(after["contacted_at"], resolved["contacted_at"]);
    assert_eq!(after["resolved_at"], resolved["resolved_at"]);
    let (_, queue_after) = restarted.get("/api/v1/followups");
    assert_eq!(
        queue_after["total"], 3,
        "reanalysis queues nothing twice: {queue_after}"
    );

    // A 追评 with a new threat: the item is analysed again and the follow-up
    // gets the new signal, but a resolved follow-up is not reopened.
    let followup_text = "处理太慢了，我要找媒体曝光";
    let mut with_followup = items()[1].clone();
    with_followup["followup_text"] = json!(followup_text);
    with_followup["followup_at"] = json!("2026-11-20T10:00:00+08:00");
    let (status, answer) = restarted.post("/api/v1/feedback", with_followup.to_string());
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["items"][0]["updated"], true, "{answer}");
    let rescored = wait_for(&restarted, &threat_path, |item| {
        item["signals"].as_array().is_some_and(|signals| {
            signals.iter().any(|signal| {
                signal["detail"]
                    .as_str()
                    .is_some_and(|detail| detail.contains("曝光"))
            })
        })
    });
    assert_eq!(rescored["status"], "resolved", "{rescored}");
    assert_eq!(rescored["resolved_at"], resolved["resolved_at"]);
    assert!(rescored["feedback"]["text"]
        .as_str()
        .is_some_and(|text| text.contains(followup_text)));

    // Reopen keeps the first contact; the board's numbers follow.
    let (status, reopened) = patch(&restarted, &threat_path, json!({"status": "open"}));
    assert_eq!(status, 200, "{reopened}");
    assert!(reopened["resolved_at"].is_null());
    assert_eq!(reopened["contacted_at"], resolved["contacted_at"]);
    let (_, stats) = restarted.get("/api/v1/followups/stats");
    assert_eq!(
        (stats["open"].as_u64(), stats["resolved"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(stats["resolution_rate"], 0.0);
}
