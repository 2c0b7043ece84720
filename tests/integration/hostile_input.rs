//! Hostile input, part two: query strings and search queries at and past
//! their limits, bodies built to exhaust the parser, the analysis or memory,
//! and cross-origin requests. Every request is bounded by a timeout and
//! followed by a health check: each case gets a clear JSON error or is
//! processed, and the service keeps answering.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::server::{urlencode, Server};

/// Longest any single hostile request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
    took: Duration,
}

fn send(server: &Server, request: reqwest::blocking::RequestBuilder) -> Answer {
    let started = Instant::now();
    let response = request
        .timeout(REQUEST_TIMEOUT)
        .send()
        .unwrap_or_else(|error| {
            panic!(
                "no answer within {REQUEST_TIMEOUT:?}: {:.300}",
                error.to_string()
            )
        });
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().unwrap_or(Value::Null);
    let took = started.elapsed();
    assert_healthy(server);
    Answer {
        status,
        headers,
        body,
        took,
    }
}

fn get(server: &Server, path_and_query: &str) -> Answer {
    send(
        server,
        server
            .client
            .get(format!("{}{path_and_query}", server.base)),
    )
}

fn post(server: &Server, path: &str, body: Vec<u8>) -> Answer {
    send(
        server,
        server
            .client
            .post(format!("{}{path}", server.base))
            .header("Content-Type", "application/json")
            .body(body),
    )
}

fn assert_healthy(server: &Server) {
    let response = server
        .client
        .get(format!("{}/healthz", server.base))
        .timeout(Duration::from_secs(10))
        .send()
        .expect("the service still answers");
    assert_eq!(response.status().as_u16(), 200, "the service is healthy");
}

/// Asserts the `{"error": {"code", "message", "field"}}` shape.
fn assert_error(answer: &Answer, status: u16, code: &str, field: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    let error = &answer.body["error"];
    assert_eq!(error["code"], code, "{}", answer.body);
    assert_eq!(error["field"], field, "{}", answer.body);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|message| !message.is_empty()),
        "{}",
        answer.body
    );
}

/// Peak resident memory of the service so far (`VmHWM`), in KiB.
fn peak_rss_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id()))
        .expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// One request written byte for byte (for what HTTP clients refuse to send);
/// returns the status line.
fn raw_request(server: &Server, request: &[u8]) -> String {
    let address = server.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(REQUEST_TIMEOUT))
        .expect("timeout");
    // The service may refuse and close before it has read everything.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer.lines().next().unwrap_or_default().to_string()
}

#[test]
fn search_queries_and_query_strings_are_bounded() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        data.path(),
        &[
            ("XINSHENG_MAX_QUERY_CHARS", "50"),
            ("XINSHENG_MAX_QUERY_TERMS", "5"),
        ],
        &[],
    );
    let item = json!({"external_id": "q1", "source": "review", "channel": "tmall", "text": "物流太慢 alpha beta gamma delta"});
    assert_eq!(
        post(&server, "/api/v1/feedback", item.to_string().into_bytes()).status,
        202
    );
    server.wait_idle();

    // At the limits: searched.
    let fifty = format!("物流{}", " ".repeat(48));
    for query in ["alpha beta gamma delta 物流", fifty.as_str()] {
        let answer = get(&server, &format!("/api/v1/search?q={}", urlencode(query)));
        assert_eq!(answer.status, 200, "{query:?}: {}", answer.body);
        assert_eq!(answer.body["total"], 1, "{query:?}");
    }

    // Past them, in search and export alike: 400 naming q, quickly.
    let too_long = "慢".repeat(51);
    let too_many_words = "alpha beta gamma delta 物流 太慢";
    // 45 KB of URL: about the most an HTTP client sends (the `http` crate
    // caps a URI at 64 KiB); the 4 MB request line below goes by hand.
    let megabyte = "慢".repeat(5_000);
    for endpoint in ["/api/v1/search", "/api/v1/search/export"] {
        for (query, reason) in [
            (too_long.as_str(), "longer than 50 characters"),
            (too_many_words, "at most 5"),
            ("物流\u{0}太慢", "control character U+0000"),
            ("\u{1b}[31m物流", "control character U+001B"),
            (megabyte.as_str(), "longer than 50 characters"),
        ] {
            let answer = get(&server, &format!("{endpoint}?q={}", urlencode(query)));
            assert_error(&answer, 400, "invalid_parameter", "q");
            let message = answer.body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains(reason),
                "{endpoint} {query:.20?}: {message}"
            );
            assert!(answer.took < Duration::from_secs(2), "{:?}", answer.took);
        }
    }

    // Operator soup and invisible characters are not syntax here: searched.
    for query in [
        "((((\"\"\"))))AND OR NOT :: ^^ ~~ *",
        "物\u{200b}流\u{feff}",
        "\u{202e}物流",
    ] {
        let answer = get(&server, &format!("/api/v1/search?q={}", urlencode(query)));
        assert_eq!(answer.status, 200, "{query:?}: {}", answer.body);
    }

    // Invalid UTF-8 once percent-decoded, in a value and in a name.
    assert_error(
        &get(&server, "/api/v1/search?q=%E7%89%A9%FF%FE"),
        400,
        "invalid_encoding",
        "q",
    );
    assert_error(
        &get(&server, "/api/v1/boards/issues?%C3%28=1"),
        400,
        "invalid_encoding",
        "\u{fffd}(",
    );
    // Raw bytes that are not even ASCII in the request line: refused by
    // the HTTP parser, not a crash.
    let status_line = raw_request(
        &server,
        b"GET /api/v1/search?q=\xff\xfe\x00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(status_line.contains(" 400 "), "{status_line}");
    assert_healthy(&server);

    // Huge numbers of parameters: refused before parsing.
    let many = vec!["channel=tmall"; 2_000].join("&");
    assert_error(
        &get(&server, &format!("/api/v1/search?{many}")),
        400,
        "too_many_parameters",
        "query",
    );
    let many_unknown: String = (0..3_000).map(|n| format!("p{n}=1&")).collect();
    assert_error(
        &get(&server, &format!("/api/v1/followups?{many_unknown}")),
        400,
        "too_many_parameters",
        "query",
    );
    // A duplicate parameter is named.
    assert_error(
        &get(&server, "/api/v1/search?q=a&q=b"),
        400,
        "invalid_parameter",
        "q",
    );
    // A request line beyond what the HTTP parser buffers: refused, and the
    // connection does not hang.
    let started = Instant::now();
    let huge_line = format!(
        "GET /api/v1/search?q={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(4 * 1024 * 1024)
    );
    let status_line = raw_request(&server, huge_line.as_bytes());
    assert!(
        status_line.is_empty() || status_line.contains(" 4"),
        "{status_line}"
    );
    assert!(started.elapsed() < REQUEST_TIMEOUT);
    assert_healthy(&server);
}

#[test]
fn cross_origin_requests_get_no_cors_grant() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(data.path(), &[], &[]);
    let origin = "https://evil.example";
    for path in [
        "/api/v1/search",
        "/api/v1/feedback",
        "/",
        "/static/js/main.js",
    ] {
        // A preflight, as a browser sends it before a cross-origin request.
        let preflight = send(
            &server,
            server
                .client
                .request(reqwest::Method::OPTIONS, format!("{}{path}", server.base))
                .header("Origin", origin)
                .header("Access-Control-Request-Method", "POST")
                .header(
                    "Access-Control-Request-Headers",
                    "authorization, content-type",
                ),
        );
        assert!(
            !(200..300).contains(&preflight.status),
            "{path}: a preflight must not succeed: {}",
            preflight.status
        );
        // The request itself, as a page on another origin would send it.
        let simple = send(
            &server,
            server
                .client
                .get(format!("{}{path}", server.base))
                .header("Origin", origin),
        );
        for answer in [&preflight, &simple] {
            let granted: Vec<&str> = answer
                .headers
                .keys()
                .map(|name| name.as_str())
                .filter(|name| name.starts_with("access-control-"))
                .collect();
            assert!(granted.is_empty(), "{path}: {granted:?}");
        }
    }
    // The UI's security headers, on its answers and on its refusals.
    for (method, path) in [
        (reqwest::Method::GET, "/"),
        (reqwest::Method::OPTIONS, "/"),
        (reqwest::Method::GET, "/static/js/main.js"),
        (reqwest::Method::GET, "/static/nope.js"),
    ] {
        let answer = send(
            &server,
            server
                .client
                .request(method.clone(), format!("{}{path}", server.base))
                .header("Origin", origin),
        );
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "same-origin"),
        ] {
            assert_eq!(
                answer
                    .headers
                    .get(name)
                    .and_then(|value| value.to_str().ok()),
                Some(value),
                "{method} {path}: {name}"
            );
        }
        let policy = answer
            .headers
            .get("content-security-policy")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        assert!(
            policy.starts_with("default-src 'self'"),
            "{method} {path}: {policy}"
        );
    }
}

#[test]
fn bodies_built_to_exhaust_the_service_are_refused_or_processed() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(data.path(), &[], &[]);

    // Deep nesting inside an otherwise valid item, as NDJSON, and in a PATCH.
    let deep_meta = format!(
        "{{\"external_id\":\"d1\",\"source\":\"review\",\"channel\":\"tmall\",\"text\":\"好\",\"meta\":{}1{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let answer = post(&server, "/api/v1/feedback", deep_meta.clone().into_bytes());
    assert_error(&answer, 400, "malformed_json", "body");
    let ndjson = format!(
        "{}\n{deep_meta}\n",
        json!({"external_id": "d0", "source": "review", "channel": "tmall", "text": "好"})
    );
    let answer = post(&server, "/api/v1/feedback", ndjson.into_bytes());
    assert_error(&answer, 400, "malformed_json", "body");
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("line 2")),
        "{}",
        answer.body
    );
    // 20,000 levels stay under the 64 KiB limit of a PATCH body.
    let deep_patch = format!(
        "{{\"note\":{}\"x\"{}}}",
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    let answer = send(
        &server,
        server
            .client
            .patch(format!("{}/api/v1/followups/1", server.base))
            .body(deep_patch),
    );
    assert!(
        answer.status == 400 || answer.status == 404,
        "{}: {}",
        answer.status,
        answer.body
    );

    // A 10 MB single line: garbage, and one JSON string over the text limit.
    let line = "x".repeat(10 * 1024 * 1024);
    let answer = post(&server, "/api/v1/feedback", line.into_bytes());
    assert_error(&answer, 400, "malformed_json", "body");
    eprintln!("10 MB line refused in {:?}", answer.took);
    assert!(answer.took < Duration::from_secs(10), "{:?}", answer.took);
    let long_text = json!({"external_id": "l1", "source": "chat", "channel": "wecom",
        "segments": [{"speaker": "customer", "text": "慢".repeat(3_500_000)}]});
    let answer = post(
        &server,
        "/api/v1/feedback",
        long_text.to_string().into_bytes(),
    );
    assert_error(&answer, 422, "too_long", "segments");
    eprintln!("10 MB segment refused in {:?}", answer.took);
    assert!(answer.took < Duration::from_secs(10), "{:?}", answer.took);

    // A body of a million tiny items: refused by count, without building a
    // million values first.
    let before_kib = peak_rss_kib(&server);
    let tiny_items = format!("[{}0]", "0,".repeat(12 * 1024 * 1024));
    let answer = post(&server, "/api/v1/feedback", tiny_items.into_bytes());
    assert_error(&answer, 400, "too_many_items", "body");
    let grown_mib = peak_rss_kib(&server).saturating_sub(before_kib) / 1024;
    eprintln!("peak memory grew by {grown_mib} MiB for a 24 MiB body of 12.6M items");
    assert!(grown_mib < 200, "peak memory grew by {grown_mib} MiB");

    // Times no calendar holds: refused, with the field named.
    for created_at in [json!(i64::MAX), json!(i64::MIN), json!(1e300)] {
        let item = json!({"external_id": "t1", "source": "review", "channel": "tmall",
            "text": "物流太慢", "created_at": created_at});
        let answer = post(&server, "/api/v1/feedback", item.to_string().into_bytes());
        assert_error(&answer, 422, "invalid_date", "created_at");
    }

    // Zero-width, bidi and control characters: stored, and stripped from
    // what is analysed.
    let item = json!({"external_id": "z1", "source": "review", "channel": "tmall",
        "text": "\u{200b}物\u{200b}流\u{0}太慢\u{7}了\u{feff}，包装\u{200c}破了\u{1b}"});
    let answer = post(&server, "/api/v1/feedback", item.to_string().into_bytes());
    assert_eq!(answer.status, 202, "{}", answer.body);
    let zero_width_id = answer.body["items"][0]["id"].as_i64().expect("id");

    // Zip-bomb-like text: items of one phrase repeated to the text limit
    // (one clause of 20,000 characters, a single character, an emoji;
    // `hostile` sends 4,000 short clauses), then one ordinary item behind
    // them. The queue keeps moving: all of it is analysed in bounded time.
    let bombs: Vec<Value> = (0..6)
        .map(|n| {
            let phrase = ["质量差质量差", "哈", "😡"][n % 3];
            let repeats = 20_000 / phrase.chars().count();
            json!({"external_id": format!("bomb{n}"), "source": "review", "channel": "tmall",
                "text": phrase.repeat(repeats)})
        })
        .collect();
    let started = Instant::now();
    let answer = post(
        &server,
        "/api/v1/feedback",
        serde_json::to_vec(&bombs).expect("json"),
    );
    assert_eq!(answer.status, 202, "{}", answer.body);
    let behind = json!({"external_id": "after", "source": "review", "channel": "tmall", "text": "客服态度很差"});
    let answer = post(&server, "/api/v1/feedback", behind.to_string().into_bytes());
    assert_eq!(answer.status, 202, "{}", answer.body);
    let behind_id = answer.body["items"][0]["id"].as_i64().expect("id");
    server.wait_idle();
    let analysed_in = started.elapsed();
    eprintln!("6 items of 20,000 repeated characters analysed in {analysed_in:?}");
    assert!(analysed_in < Duration::from_secs(30), "{analysed_in:?}");
    let (_, after) = server.get(&format!("/api/v1/feedback/{behind_id}"));
    assert_eq!(after["state"], "indexed", "{after}");

    let (_, stored) = server.get(&format!("/api/v1/feedback/{zero_width_id}"));
    let analysed = stored["analysis"]["normalised_text"]
        .as_str()
        .expect("analysed");
    assert_eq!(analysed, "物流太慢了，包装破了");
    let answer = get(&server, &format!("/api/v1/search?q={}", urlencode("物流")));
    assert!(
        answer.body["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .any(|hit| hit["id"] == zero_width_id),
        "the cleaned item is found by the words it hid: {}",
        answer.body
    );
}
