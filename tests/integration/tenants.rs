//! Tenants and API keys against the real service: keys made by the admin
//! CLI while the service runs, scopes, revocation, per-key budgets, and two
//! brands whose data never crosses, tried on every endpoint.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::server::{binary, now, urlencode, Server, TEST_API_KEY};

/// Runs the admin CLI on the service's data directory; stdout on success.
fn cli(data_dir: &std::path::Path, args: &[&str]) -> String {
    let output = binary()
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("run xinsheng");
    assert!(
        output.status.success(),
        "xinsheng {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn create_key(data_dir: &std::path::Path, tenant: &str, scopes: &str, extra: &[&str]) -> String {
    let mut args = vec!["keys", "create", "--for", tenant, "--scopes", scopes];
    args.extend_from_slice(extra);
    let key = cli(data_dir, &args).trim().to_string();
    assert!(key.starts_with("xs_"), "{key}");
    key
}

/// A request with `key` (or none) instead of the harness's default key.
fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> reqwest::blocking::Response {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut request = client.request(method, format!("{}{path}", server.base));
    if let Some(key) = key {
        request = request.header("Authorization", format!("Bearer {key}"));
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().expect("request")
}

fn get_as(server: &Server, key: &str, path: &str) -> (u16, Value) {
    let response = call(server, reqwest::Method::GET, path, Some(key), None);
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn text_as(server: &Server, key: &str, path: &str) -> (u16, String) {
    let response = call(server, reqwest::Method::GET, path, Some(key), None);
    (response.status().as_u16(), response.text().expect("body"))
}

fn item(external_id: &str, consumer: &str, text: &str, days_ago: i64) -> Value {
    json!({
        "external_id": external_id,
        "source": "review",
        "channel": "tmall",
        "consumer_id": consumer,
        "sku": "SKU-1",
        "text": text,
        "rating": 1,
        "created_at": now() - days_ago * 86_400,
    })
}

/// Both brands use the same external ids and consumer ids: only the words
/// differ, so any leak shows up as the other brand's words.
const BRAND_A_WORDS: &str = "快递";
const BRAND_B_WORDS: &str = "起球";

fn brand_a_items() -> Value {
    json!([
        item("same-1", "c-1", "快递太慢了，等了整整一个星期", 3),
        item("same-2", "c-1", "快递又慢又暴力，箱子都压坏了", 2),
        item("a-3", "a-only", "快递三天都没有更新物流信息", 4),
        item("a-4", "a-only", "快递慢得离谱，再也不买了", 1),
        item("a-5", "c-9", "快递员态度恶劣，我要打12315投诉", 1),
    ])
}

fn brand_b_items() -> Value {
    json!([
        item("same-1", "c-1", "衣服起球严重，面料太差了", 3),
        item("same-2", "c-1", "起球起得厉害，洗一次就不能穿", 2),
    ])
}

fn search_texts(answer: &Value) -> Vec<String> {
    answer["hits"]
        .as_array()
        .map(|hits| {
            hits.iter()
                .filter_map(|hit| hit["text"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

type HmacSha256 = Hmac<Sha256>;

fn signed_webhook(server: &Server, path: &str, secret: &str, body: &str) -> u16 {
    let timestamp = now();
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    reqwest::blocking::Client::new()
        .post(format!("{}{path}", server.base))
        .header("X-Xinsheng-Timestamp", timestamp.to_string())
        .header(
            "X-Xinsheng-Signature",
            format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
        )
        .body(body.to_string())
        .send()
        .expect("POST")
        .status()
        .as_u16()
}

#[test]
fn keys_carry_a_tenant_and_scopes_and_no_endpoint_crosses_tenants() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path();
    std::fs::write(
        data_dir.join("xinsheng.toml"),
        "[webhooks.generic.helpdesk]\nsecret = \"default-brand-secret\"\n",
    )
    .expect("config");
    let server = Server::start(data_dir, &[], &[]);

    // The admin CLI adds a brand while the service runs; the brand's own
    // file gives it its own webhook secret.
    cli(
        data_dir,
        &["tenants", "create", "brand-b", "--name", "B 品牌"],
    );
    let tenant_dir = data_dir.join("tenants/brand-b");
    std::fs::create_dir_all(&tenant_dir).expect("tenant dir");
    std::fs::write(
        tenant_dir.join("xinsheng.toml"),
        "[webhooks.generic.helpdesk]\nsecret = \"brand-b-secret\"\n",
    )
    .expect("tenant config");
    let key_a = TEST_API_KEY;
    let key_b = create_key(data_dir, "brand-b", "ingest,read", &[]);
    let reader_b = create_key(data_dir, "brand-b", "read", &["--name", "dashboards"]);
    let ingest_only_a = create_key(data_dir, "default", "ingest", &[]);
    assert!(cli(data_dir, &["tenants", "list"]).contains("brand-b\tB 品牌"));

    // Authentication and scopes.
    let response = call(&server, reqwest::Method::GET, "/api/v1/search", None, None);
    assert_eq!(response.status().as_u16(), 401);
    assert!(response
        .headers()
        .get("www-authenticate")
        .is_some_and(|value| value.to_str().unwrap_or("").starts_with("Bearer")));
    let body: Value = response.json().expect("json");
    assert_eq!(body["error"]["code"], "unauthorized");
    for bad in ["xs_0000000000000000000000000000000000", "nonsense", ""] {
        assert_eq!(get_as(&server, bad, "/api/v1/search").0, 401, "{bad:?}");
    }
    let response = call(
        &server,
        reqwest::Method::POST,
        "/api/v1/feedback",
        Some(&reader_b),
        Some(&brand_b_items()),
    );
    assert_eq!(response.status().as_u16(), 403, "a read key cannot ingest");
    assert_eq!(get_as(&server, &ingest_only_a, "/api/v1/search").0, 403);
    assert_eq!(
        get_as(&server, &key_b, "/api/v1/keys").0,
        403,
        "admin scope"
    );
    // X-Api-Key works too; an unauthenticated health check stays open.
    let response = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/tags", server.base))
        .header("X-Api-Key", &key_b)
        .send()
        .expect("GET");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        call(&server, reqwest::Method::GET, "/healthz", None, None)
            .status()
            .as_u16(),
        200
    );

    // The same external ids and consumer ids in both brands.
    for (key, items) in [(&ingest_only_a, brand_a_items()), (&key_b, brand_b_items())] {
        let response = call(
            &server,
            reqwest::Method::POST,
            "/api/v1/feedback",
            Some(key),
            Some(&items),
        );
        assert_eq!(response.status().as_u16(), 202);
        let answer: Value = response.json().expect("json");
        assert_eq!(
            answer["duplicates"], 0,
            "another brand's ids never count as duplicates: {answer}"
        );
    }
    // A webhook signed with the default brand's secret cannot post into B.
    let chat =
        json!({"messages": [{"message_id": "m1", "conversation_id": "conv-1", "sender_id": "buyer",
        "speaker": "customer", "text": "客服回复太慢了，起球的问题没人管", "sent_at": now() - 60}]})
        .to_string();
    assert_eq!(
        signed_webhook(
            &server,
            "/t/brand-b/webhooks/helpdesk",
            "default-brand-secret",
            &chat
        ),
        401
    );
    assert_eq!(
        signed_webhook(
            &server,
            "/t/brand-b/webhooks/helpdesk",
            "brand-b-secret",
            &chat
        ),
        200
    );
    assert_eq!(
        signed_webhook(
            &server,
            "/t/nobody/webhooks/helpdesk",
            "brand-b-secret",
            &chat
        ),
        404
    );
    server.wait_idle();

    let (_, all_a) = get_as(&server, key_a, "/api/v1/search?limit=100");
    let (_, all_b) = get_as(&server, &key_b, "/api/v1/search?limit=100");
    assert_eq!(all_a["total"], 5, "{all_a}");
    assert_eq!(all_b["total"], 3, "two reviews and one chat: {all_b}");
    assert!(search_texts(&all_a)
        .iter()
        .all(|text| !text.contains(BRAND_B_WORDS)));
    assert!(search_texts(&all_b)
        .iter()
        .all(|text| !text.contains(BRAND_A_WORDS)));

    // Every parameter combination stays inside the caller's brand.
    let words_a = urlencode(BRAND_A_WORDS);
    let queries = [
        format!("/api/v1/search?q={words_a}"),
        format!("/api/v1/search?q={words_a}&consumer_id=c-1"),
        "/api/v1/search?consumer_id=a-only".to_string(),
        "/api/v1/search?sku=SKU-1&source=review&channel=tmall&limit=100".to_string(),
        "/api/v1/search?tag=logistics.speed&polarity=neg".to_string(),
        "/api/v1/search?library=logistics&sort=newest".to_string(),
    ];
    for query in &queries {
        let (status, answer) = get_as(&server, &key_b, query);
        assert_eq!(status, 200, "{query}: {answer}");
        assert!(
            search_texts(&answer)
                .iter()
                .all(|text| !text.contains(BRAND_A_WORDS)),
            "{query} leaked: {answer}"
        );
        if !query.contains("SKU-1") {
            assert_eq!(answer["total"], 0, "{query}: {answer}");
        }
    }
    for tenant_parameter in ["tenant=default", "tenant_id=default"] {
        let (status, answer) = get_as(
            &server,
            &key_b,
            &format!("/api/v1/search?{tenant_parameter}"),
        );
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["code"], "unknown_parameter");
    }
    let (status, csv) = text_as(&server, &key_b, "/api/v1/search/export");
    assert_eq!(status, 200);
    assert!(
        csv.contains(BRAND_B_WORDS) && !csv.contains(BRAND_A_WORDS),
        "{csv}"
    );

    // Feedback ids are per brand: B's id 4 does not exist, A's does.
    let (status, _) = get_as(&server, &key_b, "/api/v1/feedback/4");
    assert_eq!(status, 404);
    let (_, first_b) = get_as(&server, &key_b, "/api/v1/feedback/1");
    assert!(first_b["text"]
        .as_str()
        .is_some_and(|text| text.contains(BRAND_B_WORDS)));

    // Boards count the caller's brand only.
    for board in ["issues", "product", "logistics", "service", "followups"] {
        let (status, answer) = get_as(&server, &key_b, &format!("/api/v1/boards/{board}"));
        assert_eq!(status, 200, "{board}: {answer}");
        // The widgets' data (keywords, queues, alerts), not the board's own
        // description, which may well mention 快递.
        let text = answer["widgets"].to_string();
        assert!(!text.contains(BRAND_A_WORDS), "{board}: {text}");
    }
    let (_, board_a) = get_as(&server, key_a, "/api/v1/boards/issues");
    let (_, board_b) = get_as(&server, &key_b, "/api/v1/boards/issues");
    assert_eq!(board_a["volume"], 5, "{board_a}");
    assert_eq!(board_b["volume"], 3, "{board_b}");

    // Consumers: the same id is a different person in each brand.
    let (_, consumer_b) = get_as(&server, &key_b, "/api/v1/consumers/c-1");
    let recent = consumer_b["recent"].to_string();
    assert!(
        recent.contains(BRAND_B_WORDS) && !recent.contains(BRAND_A_WORDS),
        "{consumer_b}"
    );
    let (status, _) = get_as(&server, &key_b, "/api/v1/consumers/a-only");
    assert_eq!(status, 404, "B never heard of A's consumer");
    let sensitive = urlencode("物流敏感");
    let (_, audience_a) = get_as(
        &server,
        key_a,
        &format!("/api/v1/consumers?tag={sensitive}"),
    );
    assert!(
        audience_a.to_string().contains("a-only"),
        "A's audience has its consumer: {audience_a}"
    );
    let (_, audience_b) = get_as(
        &server,
        &key_b,
        &format!("/api/v1/consumers?tag={sensitive}"),
    );
    assert!(!audience_b.to_string().contains("a-only"), "{audience_b}");
    let (_, export_b) = text_as(
        &server,
        &key_b,
        &format!("/api/v1/consumers/export?tag={sensitive}&format=jsonl"),
    );
    assert!(!export_b.contains("a-only"), "{export_b}");

    // Follow-ups: A's threat of a 12315 complaint is A's alone.
    let (_, queue_a) = get_as(&server, key_a, "/api/v1/followups");
    let a_followup = queue_a["items"]
        .as_array()
        .and_then(|items| items.iter().find(|item| item.to_string().contains("12315")))
        .cloned()
        .expect("A's follow-up");
    let (_, queue_b) = get_as(&server, &key_b, "/api/v1/followups");
    assert!(!queue_b.to_string().contains("12315"), "{queue_b}");
    let foreign = format!("/api/v1/followups/{}", a_followup["id"]);
    let (status, answer) = get_as(&server, &key_b, &foreign);
    assert!(
        status == 404 || !answer.to_string().contains("12315"),
        "{answer}"
    );
    let response = call(
        &server,
        reqwest::Method::PATCH,
        &foreign,
        Some(&key_b),
        Some(&json!({"status": "resolved", "note": "not yours"})),
    );
    let patched = response.status().as_u16();
    let (_, after) = get_as(&server, key_a, &foreign);
    assert_eq!(
        after["status"], a_followup["status"],
        "B changed A's follow-up ({patched})"
    );
    let (_, stats_b) = get_as(&server, &key_b, "/api/v1/followups/stats");
    let (_, stats_a) = get_as(&server, key_a, "/api/v1/followups/stats");
    assert_ne!(stats_a, stats_b);

    // Alerts and keys are the brand's own.
    let (_, alerts_b) = get_as(&server, &key_b, "/api/v1/alerts");
    assert!(!alerts_b.to_string().contains(BRAND_A_WORDS), "{alerts_b}");
    let (_, keys_a) = get_as(&server, key_a, "/api/v1/keys");
    let listed = keys_a["keys"].as_array().expect("keys");
    assert!(listed.iter().all(|key| key["tenant"] == "default"));
    assert!(!keys_a.to_string().contains(&key_b[..12]));
    assert!(
        !keys_a.to_string().contains(TEST_API_KEY),
        "listings never show a secret"
    );
    let b_key_id = cli(data_dir, &["keys", "list", "--for", "brand-b"])
        .lines()
        .find(|line| line.contains("dashboards"))
        .and_then(|line| line.split('\t').next())
        .expect("B's reader key")
        .to_string();
    let response = call(
        &server,
        reqwest::Method::DELETE,
        &format!("/api/v1/keys/{b_key_id}"),
        Some(key_a),
        None,
    );
    assert_eq!(response.status().as_u16(), 404, "A cannot revoke B's key");
    assert_eq!(get_as(&server, &reader_b, "/api/v1/search").0, 200);

    // Revocation by the CLI takes effect on the next request; use is recorded.
    cli(data_dir, &["keys", "revoke", &b_key_id]);
    assert_eq!(get_as(&server, &reader_b, "/api/v1/search").0, 401);
    let listing = cli(data_dir, &["keys", "list", "--for", "brand-b"]);
    let reader_line = listing
        .lines()
        .find(|line| line.contains("dashboards"))
        .expect("listed");
    let columns: Vec<&str> = reader_line.split('\t').collect();
    assert_ne!(columns[6], "-", "last use recorded: {reader_line}");
    assert_ne!(columns[7], "-", "revocation recorded: {reader_line}");
    let control = std::fs::read(data_dir.join("control.db")).expect("control.db");
    for secret in [key_b.as_str(), TEST_API_KEY] {
        assert!(
            !control
                .windows(secret.len())
                .any(|window| window == secret.as_bytes()),
            "secrets are stored hashed"
        );
    }

    // An admin rotates keys over the API: the new secret is shown once.
    let response = call(
        &server,
        reqwest::Method::POST,
        "/api/v1/keys",
        Some(key_a),
        Some(&json!({"name": "rotated", "scopes": ["read"]})),
    );
    assert_eq!(response.status().as_u16(), 201);
    let created: Value = response.json().expect("json");
    let rotated = created["key"].as_str().expect("secret").to_string();
    assert_eq!(get_as(&server, &rotated, "/api/v1/search").1["total"], 5);
    let response = call(
        &server,
        reqwest::Method::POST,
        "/api/v1/keys",
        Some(key_a),
        Some(&json!({"name": "bad", "scopes": ["write"]})),
    );
    assert_eq!(response.status().as_u16(), 400);
}

#[test]
fn a_key_over_its_request_budget_gets_429_with_retry_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[], &[]);
    // 6 per minute: a burst of one request, then one every ten seconds.
    let slow = create_key(dir.path(), "default", "read", &["--rate-limit", "6"]);
    assert_eq!(get_as(&server, &slow, "/api/v1/tags").0, 200);
    let response = call(
        &server,
        reqwest::Method::GET,
        "/api/v1/tags",
        Some(&slow),
        None,
    );
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .expect("Retry-After");
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");
    // Other keys have their own budget.
    assert_eq!(server.get("/api/v1/tags").0, 200);
}
