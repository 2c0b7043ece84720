//! Alerts end to end: the real service on loopback with a rules file and
//! three notifiers (a signed DingTalk robot, a WeCom robot, a generic
//! webhook) pointing at a local HTTP receiver run by the test, which checks
//! every signature and fails on purpose before it accepts.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::server::{now, Server};

const DINGTALK_SECRET: &str = "SECtest-robot-secret";
const GENERIC_SECRET: &str = "hook-secret";
const DAY: i64 = 86_400;

#[derive(Debug, Clone)]
struct Received {
    path: String,
    query: Vec<(String, String)>,
    headers: BTreeMap<String, String>,
    body: Value,
    /// Whether the receiver accepted it.
    accepted: bool,
}

/// A tiny HTTP/1.1 server: one request per connection, answers per path.
struct Receiver {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

struct RawRequest {
    /// Path and query.
    target: String,
    /// Lower-cased names.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(stream: &mut TcpStream) -> Option<RawRequest> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let target = request_line.split_whitespace().nth(1)?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(RawRequest {
        target,
        headers,
        body,
    })
}

impl Receiver {
    /// `/robot/send` (DingTalk) fails twice with HTTP 500, `/cgi-bin/webhook/send`
    /// (WeCom) answers a rate-limit errcode once, `/hook` accepts at once.
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let port = listener.local_addr().expect("address").port();
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let log = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let Some(request) = read_request(&mut stream) else {
                    continue;
                };
                let body = request.body;
                let (path, query_text) = request
                    .target
                    .split_once('?')
                    .unwrap_or((&request.target, ""));
                let query: Vec<(String, String)> =
                    serde_urlencoded::from_str(query_text).unwrap_or_default();
                let headers: BTreeMap<String, String> = request.headers.into_iter().collect();
                let earlier_on_path = log
                    .lock()
                    .expect("log")
                    .iter()
                    .filter(|request: &&Received| request.path == path)
                    .count();
                let (status, answer, accepted) = match path {
                    "/robot/send" if earlier_on_path < 2 => (500, json!({"error": "down"}), false),
                    "/robot/send" => {
                        verify_dingtalk(&query);
                        (200, json!({"errcode": 0, "errmsg": "ok"}), true)
                    }
                    "/cgi-bin/webhook/send" if earlier_on_path < 1 => (
                        200,
                        json!({"errcode": 45009, "errmsg": "api freq out of limit"}),
                        false,
                    ),
                    "/cgi-bin/webhook/send" => (200, json!({"errcode": 0, "errmsg": "ok"}), true),
                    "/hook" => {
                        verify_generic(&headers, &body);
                        (200, json!({"ok": true}), true)
                    }
                    _ => (404, json!({}), false),
                };
                log.lock().expect("log").push(Received {
                    path: path.to_string(),
                    query,
                    headers,
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    accepted,
                });
                let answer = answer.to_string();
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                stream.write_all(reply.as_bytes()).ok();
            }
        });
        Receiver { port, received }
    }

    fn accepted(&self, path: &str) -> Vec<Received> {
        self.received
            .lock()
            .expect("log")
            .iter()
            .filter(|request| request.path == path && request.accepted)
            .cloned()
            .collect()
    }

    fn all(&self, path: &str) -> usize {
        self.received
            .lock()
            .expect("log")
            .iter()
            .filter(|request| request.path == path)
            .count()
    }
}

/// DingTalk's signed robot: `timestamp` (ms, within an hour) and
/// `sign` = base64 HMAC-SHA256(secret, timestamp + "\n" + secret).
fn verify_dingtalk(query: &[(String, String)]) {
    let param = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_else(|| panic!("DingTalk request without {name}"))
    };
    assert_eq!(param("access_token"), "robot-token");
    let timestamp = param("timestamp");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let sent_ms: i64 = timestamp.parse().expect("timestamp in ms");
    assert!((now_ms - sent_ms).abs() < 3_600_000, "stale timestamp");
    let expected = base64::engine::general_purpose::STANDARD.encode(hmac_sha256(
        DINGTALK_SECRET.as_bytes(),
        format!("{timestamp}\n{DINGTALK_SECRET}").as_bytes(),
    ));
    assert_eq!(param("sign"), expected, "DingTalk signature");
}

/// The generic contract: `X-Xinsheng-Signature: sha256=hex(HMAC(secret, ts + "." + body))`.
fn verify_generic(headers: &BTreeMap<String, String>, body: &[u8]) {
    let timestamp = headers
        .get("x-xinsheng-timestamp")
        .expect("timestamp header");
    let mut signed = timestamp.as_bytes().to_vec();
    signed.push(b'.');
    signed.extend_from_slice(body);
    let expected = format!(
        "sha256={}",
        hex::encode(hmac_sha256(GENERIC_SECRET.as_bytes(), &signed))
    );
    assert_eq!(
        headers.get("x-xinsheng-signature"),
        Some(&expected),
        "generic signature"
    );
}

fn review(external_id: String, text: &str, created_at: i64) -> Value {
    json!({"external_id": external_id, "source": "review", "channel": "tmall",
           "text": text, "created_at": created_at})
}

const RULES: &str = r#"
[[rule]]
id = "spike"
kind = "tag_spike"
tag = "*"
window_minutes = 60
baseline_days = 7
min_count = 5
cooldown_minutes = 60

[[rule]]
id = "threat"
kind = "severe"
words = ["12315", "投诉"]

[[rule]]
id = "safety"
kind = "severe"
words = ["过敏", "起火"]
"#;

fn start(data_dir: &std::path::Path, rules_file: &std::path::Path) -> Server {
    Server::start(
        data_dir,
        &[
            ("XINSHENG_TAGGER", "lexicon"),
            (
                "XINSHENG_ALERTS_FILE",
                rules_file.to_str().expect("utf-8 path"),
            ),
            ("XINSHENG_ALERTS_EVALUATE_SECONDS", "1"),
            ("XINSHENG_DELIVERY_INITIAL_BACKOFF_SECONDS", "1"),
        ],
        &[],
    )
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// How many alerts with `title_part` a robot's accepted markdown carried.
fn robot_mentions(requests: &[Received], pointer: &str, title_part: &str) -> usize {
    requests
        .iter()
        .map(|request| {
            request
                .body
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or("")
                .matches(title_part)
                .count()
        })
        .sum()
}

fn generic_keys(requests: &[Received]) -> Vec<String> {
    requests
        .iter()
        .flat_map(|request| {
            request.body["alerts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|alert| alert["key"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn spikes_and_severe_items_alert_once_through_failing_receivers_and_stay_silent_on_noise() {
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = Receiver::start();
    let rules_file = dir.path().join("alerts.toml");
    std::fs::write(&rules_file, RULES).expect("rules");
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).expect("data dir");
    let port = receiver.port;
    std::fs::write(
        data_dir.join("xinsheng.toml"),
        format!(
            r#"
public_url = "http://ui.test"

[alerts.notifiers.ding]
kind = "dingtalk"
url = "http://127.0.0.1:{port}/robot/send?access_token=robot-token"
secret = "{DINGTALK_SECRET}"

[alerts.notifiers.wecom]
kind = "wecom"
url = "http://127.0.0.1:{port}/cgi-bin/webhook/send?key=robot-key"

[alerts.notifiers.hook]
kind = "generic"
url = "http://127.0.0.1:{port}/hook"
secret = "{GENERIC_SECRET}"
"#
        ),
    )
    .expect("config");
    let server = start(&data_dir, &rules_file);

    let started = now();
    let mut items = Vec::new();
    // (a) A spike of delivery-speed complaints in the last half hour over a
    // quiet week: one complaint at this time of day, two days ago.
    for minutes in [3, 6, 9, 12, 15, 18] {
        items.push(review(
            format!("spike-{minutes}"),
            "物流太慢了，等了好久",
            started - minutes * 60,
        ));
    }
    items.push(review(
        "baseline-logistics".into(),
        "物流太慢了",
        started - 2 * DAY - 600,
    ));
    // (b) Noise: a tag at its usual level (five a day at this hour, all week)
    // and a tag below min_count; a negated safety word.
    for day in 0..=7 {
        for minute in 0..5 {
            items.push(review(
                format!("size-{day}-{minute}"),
                "尺码偏小了",
                started - day * DAY - 300 - minute * 60,
            ));
        }
    }
    for minute in 0..3 {
        items.push(review(
            format!("attitude-{minute}"),
            "客服态度很差",
            started - 120 - minute * 60,
        ));
    }
    items.push(review(
        "no-allergy".into(),
        "没有过敏，穿着很舒服",
        started - 60,
    ));
    // (c) A severe item.
    let threat = review("threat-1".into(), "再不处理我就打12315投诉", started - 30);
    items.push(threat.clone());
    let (status, answer) = server.post("/api/v1/feedback", json!(items).to_string());
    assert_eq!(status, 202, "{answer}");
    server.wait_idle();

    // Two alerts: the logistics.speed spike and the threat; each reaches
    // every receiver exactly once, after the failures.
    wait_for("both alerts delivered everywhere", || {
        generic_keys(&receiver.accepted("/hook")).len() >= 2
            && robot_mentions(&receiver.accepted("/robot/send"), "/markdown/text", "【") >= 2
            && robot_mentions(
                &receiver.accepted("/cgi-bin/webhook/send"),
                "/markdown/content",
                "【",
            ) >= 2
    });

    // (c) Re-delivery and reanalysis of the severe item raise nothing new.
    let (status, answer) = server.post("/api/v1/feedback", json!([threat]).to_string());
    assert_eq!(
        (status, answer["items"][0]["duplicate"].clone()),
        (202, json!(true))
    );
    let mut with_followup = threat.clone();
    with_followup["followup_text"] = json!("还是没人处理，我已经打了12315");
    with_followup["followup_at"] = json!(started);
    let (status, answer) = server.post("/api/v1/feedback", json!([with_followup]).to_string());
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["items"][0]["updated"], true, "{answer}");
    server.wait_idle();
    // Several evaluation rounds (every second) pass over the same spike.
    std::thread::sleep(Duration::from_secs(4));

    let mut keys = generic_keys(&receiver.accepted("/hook"));
    keys.sort();
    let threat_id = answer["items"][0]["id"].as_i64().expect("id");
    assert_eq!(
        keys,
        vec![
            "spike:logistics.speed".to_string(),
            format!("threat:item:{threat_id}")
        ],
        "each alert once, no noise"
    );
    let dingtalk = receiver.accepted("/robot/send");
    assert_eq!(
        robot_mentions(&dingtalk, "/markdown/text", "配送时效 差评激增"),
        1
    );
    assert_eq!(
        robot_mentions(&dingtalk, "/markdown/text", "严重信号：12315、投诉"),
        1
    );
    assert!(
        receiver.all("/robot/send") >= dingtalk.len() + 2,
        "failed twice first"
    );
    let wecom = receiver.accepted("/cgi-bin/webhook/send");
    assert_eq!(
        robot_mentions(&wecom, "/markdown/content", "配送时效 差评激增"),
        1
    );
    assert_eq!(robot_mentions(&wecom, "/markdown/content", "严重信号"), 1);
    for request in &dingtalk {
        assert_eq!(request.body["msgtype"], "markdown");
        assert!(request.body["markdown"]["title"].is_string());
        assert!(request.query.iter().any(|(key, _)| key == "sign"));
    }
    for request in &wecom {
        assert_eq!(request.body["msgtype"], "markdown");
        assert!(request.headers.contains_key("content-type"));
    }
    let spike_text = robot_text_with(&dingtalk, "配送时效");
    assert!(spike_text.contains("**6** 条"), "{spike_text}");
    assert!(
        spike_text.contains("http://ui.test/#/search?tag=logistics.speed&polarity=neg&from="),
        "{spike_text}"
    );
    assert!(spike_text.contains("> 物流太慢了"), "{spike_text}");

    // (e) The history lists both, newest first, delivered everywhere.
    let (status, history) = server.get("/api/v1/alerts");
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["total"], 2, "{history}");
    for alert in history["alerts"].as_array().expect("alerts") {
        let statuses: Vec<&str> = alert["deliveries"]
            .as_array()
            .expect("deliveries")
            .iter()
            .filter_map(|delivery| delivery["status"].as_str())
            .collect();
        assert_eq!(statuses, ["delivered"; 3], "{alert}");
        assert!(alert["fired_at"]
            .as_str()
            .is_some_and(|at| at.ends_with("+08:00")));
        assert!(alert["link"]
            .as_str()
            .is_some_and(|link| link.starts_with("http://ui.test/#/search?")));
    }
    let spike = history["alerts"]
        .as_array()
        .and_then(|alerts| alerts.iter().find(|alert| alert["rule"] == "spike"))
        .expect("spike alert");
    assert_eq!(spike["kind"], "tag_spike");
    assert_eq!(spike["detail"]["current"], 6);
    assert_eq!(spike["detail"]["baseline"], json!([0, 1, 0, 0, 0, 0, 0]));
    let (_, only_threats) = server.get("/api/v1/alerts?rule=threat&limit=5");
    assert_eq!(only_threats["total"], 1);
    assert_eq!(
        only_threats["alerts"][0]["detail"]["words"],
        json!(["12315", "投诉"])
    );
    // (f) The issue board shows the same history in its `alerts` widget.
    let (status, board) = server.get("/api/v1/boards/issues");
    assert_eq!(status, 200, "{board}");
    let rows = board["widgets"]["alerts"]["rows"]
        .as_array()
        .expect("alerts widget rows");
    let board_ids: Vec<&Value> = rows.iter().map(|row| &row["id"]).collect();
    let history_ids: Vec<&Value> = history["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|alert| &alert["id"])
        .collect();
    assert_eq!(board_ids, history_ids, "{board}");
    assert!(rows
        .iter()
        .all(|row| row["title"].as_str().is_some_and(|title| !title.is_empty())));
    let (status, error) = server.get("/api/v1/alerts?limit=1000");
    assert_eq!(
        (status, error["error"]["field"].clone()),
        (400, json!("limit"))
    );
    let (status, error) = server.get("/api/v1/alerts?rules=x");
    assert_eq!(
        (status, error["error"]["code"].clone()),
        (400, json!("unknown_parameter"))
    );

    // A restart re-evaluates the same spike: the state is in the database.
    let delivered_before = receiver.received.lock().expect("log").len();
    server.kill();
    let restarted = start(&data_dir, &rules_file);
    std::thread::sleep(Duration::from_secs(3));
    let (_, history_after_restart) = restarted.get("/api/v1/alerts");
    assert_eq!(
        history_after_restart["total"], 2,
        "no re-alert after a restart"
    );
    assert_eq!(
        receiver.received.lock().expect("log").len(),
        delivered_before
    );
}

fn robot_text_with(requests: &[Received], needle: &str) -> String {
    requests
        .iter()
        .filter_map(|request| request.body["markdown"]["text"].as_str())
        .find(|text| text.contains(needle))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn an_invalid_rules_file_stops_the_start_naming_file_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules_file = dir.path().join("broken.toml");
    std::fs::write(
        &rules_file,
        "[[rule]]\nid = \"x\"\nkind = \"tag_spike\"\ntag = \"logistics.sped\"\n",
    )
    .expect("rules");
    let output = crate::server::binary()
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .env("XINSHENG_TAGGER", "lexicon")
        .env("XINSHENG_ALERTS_FILE", &rules_file)
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.toml"), "{stderr}");
    assert!(stderr.contains("rule[0].tag"), "{stderr}");
}
