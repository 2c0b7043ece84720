//! Ingest → analysis → search, facets and boards over HTTP.

use serde_json::{json, Value};

use crate::server::Server;

fn items() -> Vec<Value> {
    vec![
        json!({"external_id": "r1", "source": "review", "channel": "tmall", "text": "物流很快，但是衣服起球了，洗了一次就这样", "rating": 2,
               "sku": "QH-HD-002", "category": "服装", "consumer_id": "c1", "created_at": "2026-11-18T10:00:00+08:00"}),
        json!({"external_id": "r2", "source": "review", "channel": "jd", "text": "尺码偏小，建议拍大一码，面料还可以", "rating": 3,
               "sku": "QH-TS-001", "category": "服装", "created_at": "2026-11-18T12:00:00+08:00"}),
        json!({"external_id": "r3", "source": "review", "channel": "tmall", "text": "發貨太慢了，等了一個星期才到", "rating": 1,
               "sku": "QH-TS-001", "category": "服装", "created_at": "2026-11-19T09:00:00+08:00"}),
        json!({"external_id": "f1", "source": "refund", "channel": "tmall", "text": "卫衣起球严重，质量太差，申请退款", "sku": "QH-HD-002",
               "category": "服装", "consumer_id": "c1", "created_at": "2026-11-19T11:00:00+08:00", "meta": {"reason_code": "质量问题"}}),
        json!({"external_id": "r4", "source": "review", "channel": "douyin", "text": "很好，推荐购买", "rating": 5,
               "sku": "QH-NT-040", "category": "食品", "created_at": "2026-11-10T09:00:00+08:00"}),
    ]
}

#[test]
fn ingest_is_durable_idempotent_and_analysed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[], &[]);

    let (status, answer) = server.post(
        "/api/v1/feedback",
        serde_json::to_vec(&items()).expect("json"),
    );
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["accepted"], 5);
    let first_id = answer["items"][0]["id"].as_i64().expect("id");

    // Same items again, as NDJSON: same ids, nothing stored twice.
    let ndjson: String = items().iter().map(|item| format!("{item}\n")).collect();
    let (status, again) = server.post("/api/v1/feedback", ndjson);
    assert_eq!(status, 202);
    assert_eq!(
        (again["accepted"].as_i64(), again["duplicates"].as_i64()),
        (Some(0), Some(5))
    );
    assert_eq!(again["items"][0]["id"].as_i64(), Some(first_id));

    server.wait_idle();
    let (status, item) = server.get(&format!("/api/v1/feedback/{first_id}"));
    assert_eq!(status, 200);
    assert_eq!(item["state"], "indexed");
    assert_eq!(item["external_id"], "r1");
    assert_eq!(item["created_at"], "2026-11-18T10:00:00+08:00");
    let tags: Vec<(String, String)> = item["analysis"]["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|tag| {
            (
                tag["tag"].as_str().unwrap_or("").to_string(),
                tag["polarity"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        tags.contains(&("logistics.speed".into(), "pos".into())),
        "{tags:?}"
    );
    assert!(
        tags.contains(&("product.material".into(), "neg".into())),
        "{tags:?}"
    );
    let material = item["analysis"]["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .find(|tag| tag["tag"] == "product.material")
        .expect("material");
    assert_eq!(material["evidence"]["text"], "起球");
    assert_eq!(material["evidence"]["clause"], "但是衣服起球了");
    // The service tags with the shipped models and records which.
    let version = item["analysis"]["analyser_version"]
        .as_str()
        .expect("version");
    assert!(
        version.starts_with("model:xs-") && version.contains(";lexicon:lex-"),
        "{version}"
    );

    // Traditional text was normalised and tagged.
    let (_, traditional) = server.get(&format!("/api/v1/feedback/{}", answer["items"][2]["id"]));
    assert_eq!(
        traditional["analysis"]["normalised_text"],
        "发货太慢了，等了一个星期才到"
    );
    assert_eq!(traditional["analysis"]["sentiment"], "neg");

    let (status, missing) = server.get("/api/v1/feedback/999999");
    assert_eq!(
        (status, missing["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[test]
fn search_filters_facets_and_highlights() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[], &[]);
    server.post(
        "/api/v1/feedback",
        serde_json::to_vec(&items()).expect("json"),
    );
    server.wait_idle();

    let (status, result) = server.get("/api/v1/search?q=%E8%B5%B7%E7%90%83"); // 起球
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["total"], 2);
    let snippet = result["hits"][0]["snippet"].as_str().expect("snippet");
    assert!(snippet.contains("<mark>起球</mark>"), "{snippet}");
    assert_eq!(result["facets"]["tag"]["product.material"], 2);
    assert_eq!(result["facets"]["source"]["refund"], 1);
    assert_eq!(result["facets"]["sku"]["QH-HD-002"], 2);

    // Tag + polarity apply to the same mention; source narrows further.
    let (_, filtered) = server
        .get("/api/v1/search?q=%E8%B5%B7%E7%90%83&tag=product.material&polarity=neg&source=refund");
    assert_eq!(filtered["total"], 1);
    assert_eq!(filtered["hits"][0]["source"], "refund");
    let (_, praise) = server.get("/api/v1/search?tag=logistics.speed&polarity=pos");
    assert_eq!(praise["total"], 1);
    let (_, complaints) = server.get("/api/v1/search?library=logistics&polarity=neg");
    assert_eq!(complaints["total"], 1, "{complaints}");

    // Two query parts must both match; a multi-word part matches as a phrase.
    let (_, both) = server.get("/api/v1/search?q=%E5%B0%BA%E7%A0%81%20%E5%81%8F%E5%B0%8F"); // 尺码 偏小
    assert_eq!(both["total"], 1);
    let (_, part) = server.get("/api/v1/search?q=%E5%81%8F%E5%B0%8F"); // 偏小
    assert_eq!(part["total"], 1);
    let (_, compound) = server.get("/api/v1/search?q=%E5%B0%BA%E7%A0%81%E5%81%8F%E5%B0%8F"); // 尺码偏小
    assert_eq!(compound["total"], 1);
    let (_, dates) = server.get("/api/v1/search?from=2026-11-19&to=2026-11-20&sort=newest");
    assert_eq!(dates["total"], 2);
    assert_eq!(dates["hits"][0]["created_at"], "2026-11-19T11:00:00+08:00");
    let (_, page) = server.get("/api/v1/search?sort=newest&limit=2&offset=4");
    assert_eq!(
        (
            page["total"].as_u64(),
            page["hits"].as_array().map(Vec::len)
        ),
        (Some(5), Some(1))
    );
    let (_, nothing) = server.get("/api/v1/search?q=%E5%86%B0%E7%AE%B1"); // 冰箱
    assert_eq!(nothing["total"], 0);
}

#[test]
fn issue_board_counts_and_previous_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[], &[]);
    server.post(
        "/api/v1/feedback",
        serde_json::to_vec(&items()).expect("json"),
    );
    server.wait_idle();

    let (status, board) =
        server.get("/api/v1/boards/issues?from=2026-11-14&to=2026-11-21&interval=day");
    assert_eq!(status, 200, "{board}");
    assert_eq!(board["volume"], 4);
    assert_eq!(board["negative"], 4, "{board}");
    assert_eq!(board["negative_rate"], 1.0);
    // Library counts are tag mentions: material ×2, quality ×2, size ×1.
    assert_eq!(board["libraries"]["product"]["neg"], 5, "{board}");
    assert_eq!(board["libraries"]["logistics"]["pos"], 1);
    assert_eq!(board["libraries"]["logistics"]["neg"], 1);
    assert_eq!(board["top_negative_tags"][0]["tag"], "product.material");
    assert_eq!(board["top_negative_tags"][0]["neg"], 2);
    let series = board["series"].as_array().expect("series");
    assert_eq!(series.len(), 7);
    assert_eq!(series[4]["start"], "2026-11-18T00:00:00+08:00");
    assert_eq!(series[4]["volume"], 2);
    assert_eq!(series[5]["volume"], 2);
    assert_eq!(board["previous"]["from"], "2026-11-07T00:00:00+08:00");
    assert_eq!(board["previous"]["volume"], 1);
    assert_eq!(board["previous"]["negative_rate"], 0.0);

    let (_, jd_only) = server.get("/api/v1/boards/issues?from=2026-11-14&to=2026-11-21&channel=jd");
    assert_eq!(jd_only["volume"], 1);
    let (_, weekly) =
        server.get("/api/v1/boards/issues?from=2026-11-14&to=2026-11-21&interval=week");
    assert_eq!(weekly["series"].as_array().map(Vec::len), Some(1));
}

#[test]
fn bad_input_is_refused_with_the_field_named_and_nothing_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[("XINSHENG_MAX_BODY_BYTES", "200000")], &[]);
    let valid = json!({"external_id": "ok", "source": "review", "channel": "tmall", "text": "好"});
    let with = |field: &str, value: Value| {
        let mut item = valid.clone();
        item[field] = value;
        item
    };
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"{\"external_id\": ".to_vec(), 400, "body"),
        (b"".to_vec(), 400, "body"),
        (
            serde_json::to_vec(&with("source", json!("tweet"))).expect("json"),
            422,
            "source",
        ),
        (
            serde_json::to_vec(
                &json!({"external_id": "x", "source": "review", "channel": "tmall"}),
            )
            .expect("json"),
            422,
            "text",
        ),
        (
            serde_json::to_vec(&with("text", json!(""))).expect("json"),
            422,
            "text",
        ),
        (
            serde_json::to_vec(&with("text", json!("长".repeat(20_001)))).expect("json"),
            422,
            "text",
        ),
        (
            serde_json::to_vec(&with("rating", json!(0))).expect("json"),
            422,
            "rating",
        ),
        (
            serde_json::to_vec(&with("created_at", json!("2026-13-45"))).expect("json"),
            422,
            "created_at",
        ),
        (
            serde_json::to_vec(&json!([valid, with("rating", json!(9))])).expect("json"),
            422,
            "items[1].rating",
        ),
        (vec![b' '; 300_000], 413, "body"),
    ];
    for (body, expected_status, expected_field) in cases {
        let (status, answer) = server.post("/api/v1/feedback", body);
        assert_eq!(status, expected_status, "{answer}");
        assert_eq!(answer["error"]["field"], expected_field, "{answer}");
        assert!(answer["error"]["message"]
            .as_str()
            .is_some_and(|message| !message.is_empty()));
    }
    let too_many: Vec<Value> = (0..10_001)
        .map(|n| with("external_id", json!(format!("n{n}"))))
        .collect();
    let (status, answer) = server.post(
        "/api/v1/feedback",
        serde_json::to_vec(&too_many).expect("json"),
    );
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (413, Some("body_too_large")),
        "limit is 200 kB here"
    );

    let (status, answer) = server.get("/api/v1/search?polarty=neg");
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (400, Some("polarty"))
    );
    let (status, answer) = server.get("/api/v1/search?limit=abc");
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (400, Some("limit"))
    );
    let (status, answer) = server.get("/api/v1/boards/issues?from=last-week");
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (400, Some("from"))
    );

    // The one valid item of the refused batch was not stored.
    let (_, health) = server.get("/healthz");
    assert_eq!(
        health["queue"]["pending"].as_u64().unwrap_or(0)
            + health["queue"]["indexed"].as_u64().unwrap_or(0),
        0
    );
}

#[test]
fn batch_limit_is_enforced_in_items() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[("XINSHENG_MAX_BATCH_ITEMS", "3")], &[]);
    let items: Vec<Value> = (0..4)
        .map(|n| json!({"external_id": format!("b{n}"), "source": "survey", "channel": "store", "text": "还行"}))
        .collect();
    let (status, answer) = server.post(
        "/api/v1/feedback",
        serde_json::to_vec(&items).expect("json"),
    );
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("too_many_items"))
    );
}

#[test]
fn a_full_analysis_queue_refuses_ingest_with_retry_after_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[("XINSHENG_MAX_PENDING_ITEMS", "100")], &[]);
    let batch = |prefix: &str| -> Vec<u8> {
        let items: Vec<Value> = (0..1000)
            .map(|n| json!({"external_id": format!("{prefix}{n}"), "source": "review", "channel": "tmall",
                            "text": format!("第{n}件，物流太慢了，等了一个星期")}))
            .collect();
        serde_json::to_vec(&items).expect("json")
    };
    let (first, _) = server.post("/api/v1/feedback", batch("a"));
    assert_eq!(first, 202);
    let refused = server
        .client
        .post(format!("{}/api/v1/feedback", server.base))
        .body(batch("b"))
        .send()
        .expect("POST");
    assert_eq!(refused.status().as_u16(), 429);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: Value = refused.json().expect("json");
    assert_eq!(body["error"]["code"], "queue_full");
    // Once the worker caught up, the same request is accepted, and the
    // refused one stored nothing in between.
    server.wait_idle();
    let (_, health) = server.get("/healthz");
    assert_eq!(health["queue"]["indexed"], 1000);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (again, answer) = server.post("/api/v1/feedback", batch("b"));
    assert_eq!(again, 202, "{answer}");
    assert_eq!(answer["accepted"], 1000);
}

#[test]
fn demo_data_fills_the_board() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[], &["--demo"]);
    server.wait_idle();
    let (_, board) = server.get("/api/v1/boards/issues");
    assert!(
        board["volume"].as_u64().unwrap_or(0) > 100,
        "{}",
        board["volume"]
    );
    assert!(board["top_negative_tags"]
        .as_array()
        .is_some_and(|tags| !tags.is_empty()));
    let (_, search) = server.get("/api/v1/search?q=%E8%B5%B7%E7%90%83&tag=product.material");
    assert!(
        search["total"].as_u64().unwrap_or(0) >= 10,
        "{}",
        search["total"]
    );
}

#[test]
fn non_chinese_text_is_indexed_and_searchable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[], &[]);
    let item = json!({"external_id": "en-1", "source": "review", "channel": "shopify",
                      "text": "The delivery was late and the BOX was crushed.", "rating": 1});
    let (status, answer) = server.post("/api/v1/feedback", item.to_string());
    assert_eq!(status, 202);
    server.wait_idle();
    let (_, stored) = server.get(&format!("/api/v1/feedback/{}", answer["items"][0]["id"]));
    assert_eq!(stored["analysis"]["language"], "eng");
    assert_eq!(
        stored["analysis"]["sentiment"], "neg",
        "the 1-star rating decides when the text has no verdict"
    );
    let (_, hits) = server.get("/api/v1/search?q=box%20Delivery");
    assert_eq!(hits["total"], 1);
    assert!(
        hits["hits"][0]["snippet"]
            .as_str()
            .is_some_and(|snippet| snippet.contains("<mark>BOX</mark>")),
        "{hits}"
    );
}
