//! Personal data is masked at ingest: nothing raw is stored, indexed,
//! searchable or shown, and the masked text is still analysed. Originals are
//! kept only when the deployment asks (`keep_raw_text`), and then only for
//! the tenant's admins.

use serde_json::json;

use crate::server::{urlencode, Server, TEST_API_KEY};

#[test]
fn personal_data_is_masked_before_it_is_stored_or_indexed() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(data.path(), &[], &[]);
    let item = json!([{
        "external_id": "pii-1", "source": "refund", "channel": "jd",
        "text": "物流太慢了，张小明的电话13800138000，身份证11010519491231002X，送到北京市朝阳区建国路8号也没人联系",
        "meta": {"收货人": "张小明", "收货地址": "北京市朝阳区建国路8号", "order_amount": 99}
    }, {
        "external_id": "chat-1", "source": "chat", "channel": "wecom",
        "segments": [{"speaker": "customer", "text": "我邮箱 buyer.one@example.com，快递一直没到"},
                     {"speaker": "agent", "text": "好的，已登记 13912345678"}]
    }]);
    let (status, answer) = server.post("/api/v1/feedback", item.to_string());
    assert_eq!(status, 202, "{answer}");
    server.wait_idle();
    let id = answer["items"][0]["id"].as_i64().expect("id");
    let (_, stored) = server.get(&format!("/api/v1/feedback/{id}"));
    let text = stored["text"].as_str().expect("text");
    assert_eq!(
        text,
        "物流太慢了，张**的电话138****8000，身份证110***********002X，送到北京市朝阳区*****也没人联系"
    );
    assert_eq!(stored["meta"]["收货人"], "张**");
    assert_eq!(stored["meta"]["order_amount"], 99);
    let tags: Vec<&str> = stored["analysis"]["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|tag| tag["tag"].as_str())
        .collect();
    assert!(
        tags.contains(&"logistics.speed"),
        "still analysed: {tags:?}"
    );

    let chat_id = answer["items"][1]["id"].as_i64().expect("id");
    let (_, chat) = server.get(&format!("/api/v1/feedback/{chat_id}"));
    assert_eq!(
        chat["segments"][0]["text"],
        "我邮箱 b********@example.com，快递一直没到"
    );
    assert_eq!(chat["segments"][1]["text"], "好的，已登记 139****5678");

    for raw in [
        "13800138000",
        "张小明",
        "11010519491231002X",
        "13912345678",
        "buyer.one",
    ] {
        let (_, hits) = server.get(&format!("/api/v1/search?q={}", urlencode(raw)));
        assert_eq!(hits["total"], 0, "{raw} is searchable");
    }
    let (status, raw) = server.get(&format!("/api/v1/feedback/{id}/raw"));
    assert_eq!(status, 200, "{raw}");
    assert_eq!(raw["kept"], false);
    assert_eq!(raw["texts"], json!([]));

    let database = std::fs::read(data.path().join("xinsheng.db")).expect("db");
    let wal = std::fs::read(data.path().join("xinsheng.db-wal")).unwrap_or_default();
    for raw in ["13800138000", "11010519491231002X", "buyer.one@example.com"] {
        let needle = raw.as_bytes();
        for bytes in [&database, &wal] {
            assert!(
                !bytes.windows(needle.len()).any(|window| window == needle),
                "{raw} stored raw"
            );
        }
    }
}

#[test]
fn originals_are_kept_apart_for_admins_only_when_the_deployment_asks() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(data.path(), &[("XINSHENG_KEEP_RAW_TEXT", "true")], &[]);
    let item = json!({"external_id": "raw-1", "source": "review", "channel": "jd",
        "text": "电话13800138000，快递太慢"});
    let (status, answer) = server.post("/api/v1/feedback", item.to_string());
    assert_eq!(status, 202, "{answer}");
    server.wait_idle();
    let id = answer["items"][0]["id"].as_i64().expect("id");
    let (_, stored) = server.get(&format!("/api/v1/feedback/{id}"));
    assert_eq!(stored["text"], "电话138****8000，快递太慢", "still masked");
    let (_, hits) = server.get(&format!("/api/v1/search?q={}", urlencode("13800138000")));
    assert_eq!(hits["total"], 0, "originals are never indexed");
    let (status, raw) = server.get(&format!("/api/v1/feedback/{id}/raw"));
    assert_eq!(status, 200, "{raw}");
    assert_eq!(raw["kept"], true);
    assert_eq!(raw["texts"][0]["origin"], "text");
    assert_eq!(raw["texts"][0]["text"], "电话13800138000，快递太慢");

    // A key without `admin` cannot read them.
    let output = crate::server::binary()
        .arg("--data-dir")
        .arg(data.path())
        .args(["keys", "create", "--for", "default", "--scopes", "read"])
        .output()
        .expect("keys create");
    let reader = String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    assert_ne!(reader, TEST_API_KEY);
    let response = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/feedback/{id}/raw", server.base))
        .header("Authorization", format!("Bearer {reader}"))
        .send()
        .expect("GET");
    assert_eq!(response.status().as_u16(), 403);
}
