//! Consumer profiles, tags, audiences and the CDP push, through the real
//! service. Texts are chosen so the shipped models tag them unambiguously;
//! dates are relative to now, because profile windows end now.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::server::{now, urlencode, Server};

const DAY: i64 = 86_400;

fn item(id: &str, consumer: &str, days_ago: i64, source: &str, text: &str) -> Value {
    json!({"external_id": id, "source": source, "channel": "tmall", "consumer_id": consumer,
           "text": text, "created_at": now() - days_ago * DAY})
}

const SLOW: &str = "物流太慢了，等了一个星期才到";
const CRUSHED: &str = "快递包装破了，东西都压坏了";
const SMALL: &str = "尺码偏小，穿不进去";
const BROKE: &str = "退货退款，质量太差了，用两天就坏了";
const SHODDY: &str = "做工粗糙，开线了，功能也不好用";
const GOOD: &str = "质量很好，很喜欢，下次还来";

/// Waits until the consumer's profile exists with `items` items (the
/// projection runs right after the index commit).
fn wait_profile(server: &Server, consumer: &str, items: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, profile) = server.get(&format!("/api/v1/consumers/{consumer}"));
        if status == 200 && profile["items"] == items {
            return profile;
        }
        assert!(
            Instant::now() < deadline,
            "profile of {consumer} not ready: {status} {profile}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn tag_ids(profile: &Value) -> Vec<String> {
    profile["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|tag| tag["id"].as_str().expect("id").to_string())
        .collect()
}

fn audience(server: &Server, query: &str) -> Vec<String> {
    let (status, body) = server.get(&format!("/api/v1/consumers?{query}"));
    assert_eq!(status, 200, "{body}");
    body["consumers"]
        .as_array()
        .expect("consumers")
        .iter()
        .map(|row| row["consumer_id"].as_str().expect("id").to_string())
        .collect()
}

#[test]
fn profiles_tags_audiences_and_exports_match_hand_counts() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(data.path(), &[], &[]);
    let items = json!([
        item("a1", "alice", 5, "review", SLOW),
        item("a2", "alice", 40, "review", CRUSHED),
        item("b1", "bob", 100, "review", SMALL),
        item("b2", "bob", 120, "review", SLOW),
        item("c1", "carol", 20, "refund", BROKE),
        item("c2", "carol", 60, "review", SHODDY),
        item("d1", "dave", 10, "review", GOOD),
        item("d2", "dave", 100, "review", GOOD),
        item("d3", "dave", 200, "review", GOOD),
        item("e1", "erin", 45, "review", SLOW),
        item("f1", "frank", 1, "review", SLOW),
        item("f2", "frank", 2, "review", CRUSHED),
        item("x1", "", 1, "review", SLOW),
    ]);
    let (status, answer) = server.post("/api/v1/feedback", items.to_string());
    assert_eq!(status, 202, "{answer}");
    server.wait_idle();

    let alice = wait_profile(&server, "alice", 2);
    assert_eq!(tag_ids(&alice), vec!["logistics_sensitive"]);
    assert_eq!(alice["tags"][0]["name"], "物流敏感");
    assert_eq!(alice["tags"][0]["strength"], 2);
    assert!(alice["tags"][0]["definition"]
        .as_str()
        .expect("definition")
        .contains("90 天"));
    assert_eq!(alice["windows"]["30d"]["items"], 1);
    assert_eq!(alice["windows"]["90d"]["items"], 2);
    assert_eq!(alice["windows"]["90d"]["libraries"]["logistics"]["neg"], 2);
    assert_eq!(
        alice["windows"]["90d"]["tags"]["logistics.packaging"]["neg"],
        1
    );
    assert_eq!(alice["last_negative"]["tags"], json!(["logistics.speed"]));
    assert_eq!(alice["recent"].as_array().expect("recent").len(), 2);

    // Bob's slow delivery is 120 days old: outside the 90-day window. His
    // last word, 100 days ago, was a complaint: a silent churn risk.
    let bob = wait_profile(&server, "bob", 2);
    assert_eq!(tag_ids(&bob), vec!["size_trouble", "silent_churn_risk"]);
    assert_eq!(bob["windows"]["365d"]["libraries"]["logistics"]["neg"], 1);
    assert_eq!(bob["windows"]["90d"]["items"], 0);

    let carol = wait_profile(&server, "carol", 2);

    assert_eq!(
        tag_ids(&carol),
        vec![
            "quality_dissatisfied",
            "aftersales_dissatisfied",
            "high_return_risk"
        ]
    );
    assert_eq!(carol["refunds"], 1);
    assert_eq!(
        carol["tags"][0]["strength"], 3,
        "quality + quality + function"
    );

    assert_eq!(
        tag_ids(&wait_profile(&server, "dave", 3)),
        vec!["loyal_praise"]
    );
    assert_eq!(
        tag_ids(&wait_profile(&server, "erin", 1)),
        vec!["silent_churn_risk"]
    );
    let frank = wait_profile(&server, "frank", 2);
    // Two complaints in two days: the follow-up queue has him (repeat), and
    // his profile shows the queue's state.
    let (_, queue) = server.get("/api/v1/followups?status=open&limit=200");
    let frank_open = queue["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|followup| followup["feedback"]["consumer_id"] == "frank")
        .count();
    assert!(frank_open >= 1, "{queue}");
    assert_eq!(frank["followups"]["open"], frank_open, "{frank}");
    assert_eq!(frank["followups"]["resolved"], 0);

    // Audiences, by id or by name, with min_count and keyset paging.
    assert_eq!(
        audience(&server, "tag=logistics_sensitive"),
        vec!["alice", "frank"]
    );
    let by_name = audience(&server, &format!("tag={}", urlencode("物流敏感")));
    assert_eq!(by_name, vec!["alice", "frank"]);
    assert_eq!(audience(&server, "tag=high_return_risk"), vec!["carol"]);
    assert_eq!(
        audience(&server, "tag=quality_dissatisfied&min_count=3"),
        vec!["carol"]
    );
    assert!(audience(&server, "tag=quality_dissatisfied&min_count=4").is_empty());
    assert!(audience(&server, "tag=logistics_sensitive&updated_since=2999-01-01").is_empty());
    let (_, first_page) = server.get("/api/v1/consumers?tag=logistics_sensitive&limit=1");
    assert_eq!(first_page["consumers"][0]["consumer_id"], "alice");
    assert_eq!(first_page["next_after"], "alice");
    assert_eq!(
        audience(&server, "tag=logistics_sensitive&limit=1&after=alice"),
        vec!["frank"]
    );

    // Exports carry the whole audience.
    let csv = server
        .client
        .get(format!(
            "{}/api/v1/consumers/export?tag=logistics_sensitive",
            server.base
        ))
        .send()
        .expect("export");
    assert_eq!(csv.status().as_u16(), 200);
    assert!(csv.headers()["content-type"]
        .to_str()
        .expect("type")
        .starts_with("text/csv"));
    let csv_text = csv.text().expect("csv");
    let lines: Vec<&str> = csv_text.lines().collect();
    assert!(lines[0].starts_with("\u{feff}consumer_id,tag,strength"));
    assert_eq!(lines.len(), 3);
    assert!(lines[1].starts_with("alice,logistics_sensitive,2,"));
    let jsonl = server
        .client
        .get(format!(
            "{}/api/v1/consumers/export?tag=size_trouble&format=jsonl",
            server.base
        ))
        .send()
        .expect("export")
        .text()
        .expect("jsonl");
    let rows: Vec<Value> = jsonl
        .lines()
        .map(|line| serde_json::from_str(line).expect("json line"))
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["consumer_id"], "bob");

    // Errors name the field.
    let (status, error) = server.get("/api/v1/consumers?tag=grumpy");
    assert_eq!(status, 400);
    assert_eq!(error["error"]["field"], "tag");
    let (status, _) = server.get("/api/v1/consumers?min_count=2");
    assert_eq!(status, 400);
    let (status, _) = server.get("/api/v1/consumers/nobody");
    assert_eq!(status, 404);
    let (status, definitions) = server.get("/api/v1/consumer-tags");
    assert_eq!(status, 200);
    assert_eq!(definitions["tags"].as_array().expect("tags").len(), 7);
}

/// A CDP that checks each push's signature, refuses while `accepting` is
/// false, and keeps what it accepted.
struct FakeCdp {
    url: String,
    accepting: Arc<AtomicBool>,
    refused: Arc<Mutex<usize>>,
    accepted: Arc<Mutex<Vec<Value>>>,
}

fn start_fake_cdp(secret: &'static str) -> FakeCdp {
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://{}/cdp/tags",
        listener.local_addr().expect("address")
    );
    let accepting = Arc::new(AtomicBool::new(false));
    let refused: Arc<Mutex<usize>> = Arc::default();
    let accepted: Arc<Mutex<Vec<Value>>> = Arc::default();
    let (accepting_flag, refused_count, accepted_changes) =
        (accepting.clone(), refused.clone(), accepted.clone());
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || {
                let (accepting, refused, accepted) = (
                    accepting_flag.clone(),
                    refused_count.clone(),
                    accepted_changes.clone(),
                );
                App::new().route(
                    "/cdp/tags",
                    web::post().to(move |request: HttpRequest, body: web::Bytes| {
                        let (accepting, refused, accepted) =
                            (accepting.clone(), refused.clone(), accepted.clone());
                        async move {
                            let header = |name: &str| {
                                request
                                    .headers()
                                    .get(name)
                                    .and_then(|value| value.to_str().ok())
                                    .unwrap_or("")
                                    .to_string()
                            };
                            let timestamp = header("X-Xinsheng-Timestamp");
                            let expected =
                                xinsheng::webhooks::generic::sign(secret, &timestamp, &body);
                            if header("X-Xinsheng-Signature") != expected {
                                return HttpResponse::Unauthorized().finish();
                            }
                            if !accepting.load(Ordering::SeqCst) {
                                *refused.lock().expect("lock") += 1;
                                return HttpResponse::InternalServerError().finish();
                            }
                            let batch: Value = serde_json::from_slice(&body).expect("json");
                            accepted
                                .lock()
                                .expect("lock")
                                .extend(batch["changes"].as_array().cloned().unwrap_or_default());
                            HttpResponse::Ok().json(json!({"ok": true}))
                        }
                    }),
                )
            })
            .listen(listener)
            .expect("listen")
            .workers(1)
            .run()
            .await
        })
    });
    FakeCdp {
        url,
        accepting,
        refused,
        accepted,
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn cdp_push_is_retried_until_accepted_and_survives_a_restart() {
    let data = tempfile::tempdir().expect("tempdir");
    let cdp = start_fake_cdp("cdp-secret");
    std::fs::write(
        data.path().join("xinsheng.toml"),
        format!(
            "[consumers.cdp]\nurl = \"{}\"\nsecret = \"cdp-secret\"\nmax_batch = 10\n\n[delivery]\ninitial_backoff_seconds = 1\nmax_backoff_seconds = 2\n",
            cdp.url
        ),
    )
    .expect("config");
    let server = Server::start(data.path(), &[], &[]);
    let items = json!([
        item("a1", "alice", 3, "review", SLOW),
        item("a2", "alice", 4, "review", CRUSHED),
        item("b1", "bob", 5, "review", SMALL),
    ]);
    let (status, _) = server.post("/api/v1/feedback", items.to_string());
    assert_eq!(status, 202);
    server.wait_idle();
    wait_until("two refused pushes", || {
        *cdp.refused.lock().expect("lock") >= 2
    });
    let (_, health) = server.get("/healthz");
    assert_eq!(health["outbox"]["cdp"]["pending"], 2, "{health}");
    assert_eq!(health["outbox"]["cdp"]["delivered"], 0);
    server.kill();

    // The receiver recovers while the service is down; the changes were
    // never acknowledged, so the restarted service delivers them.
    cdp.accepting.store(true, Ordering::SeqCst);
    let server = Server::start(data.path(), &[], &[]);
    wait_until("the changes delivered", || {
        cdp.accepted.lock().expect("lock").len() >= 2
    });
    std::thread::sleep(Duration::from_millis(1500));
    let accepted = cdp.accepted.lock().expect("lock").clone();
    assert_eq!(accepted.len(), 2, "delivered exactly once: {accepted:?}");
    let mut pushed: Vec<(String, String, String)> = accepted
        .iter()
        .map(|change| {
            assert!(change["delivery_id"].is_i64());
            assert_eq!(change["change"], "added");
            (
                change["consumer_id"]
                    .as_str()
                    .expect("consumer")
                    .to_string(),
                change["tag"].as_str().expect("tag").to_string(),
                change["tag_name"].as_str().expect("name").to_string(),
            )
        })
        .collect();
    pushed.sort();
    assert_eq!(
        pushed,
        vec![
            (
                "alice".to_string(),
                "logistics_sensitive".to_string(),
                "物流敏感".to_string()
            ),
            (
                "bob".to_string(),
                "size_trouble".to_string(),
                "尺码困扰".to_string()
            ),
        ]
    );
    let (_, health) = server.get("/healthz");
    assert_eq!(health["outbox"]["cdp"]["pending"], 0);
    assert_eq!(health["outbox"]["cdp"]["delivered"], 2);
}

#[test]
fn salted_consumer_ids_are_never_stored_raw() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(data.path(), &[("XINSHENG_CONSUMER_ID_SALT", "pepper")], &[]);
    let (status, answer) = server.post(
        "/api/v1/feedback",
        json!([item("p1", "13800138000", 1, "review", SLOW)]).to_string(),
    );
    assert_eq!(status, 202);
    server.wait_idle();
    let id = answer["items"][0]["id"].as_i64().expect("id");
    let (_, stored) = server.get(&format!("/api/v1/feedback/{id}"));
    let hashed = stored["consumer_id"]
        .as_str()
        .expect("consumer id")
        .to_string();
    assert!(
        hashed.starts_with("h_") && !hashed.contains("13800138000"),
        "{hashed}"
    );
    // The raw id still finds the profile (it is hashed the same way), and so
    // does the stored form with hashed=true.
    let profile = wait_profile(&server, "13800138000", 1);
    assert_eq!(profile["consumer_id"], hashed);
    let (status, _) = server.get(&format!("/api/v1/consumers/{hashed}?hashed=true"));
    assert_eq!(status, 200);
    let (_, hits) = server.get("/api/v1/search?consumer_id=13800138000");
    assert_eq!(hits["total"], 0);
}
