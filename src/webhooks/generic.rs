//! Xinsheng's own webhook contract, for any system without a dedicated adapter.
//!
//! `POST` a JSON body with two headers:
//!
//! * `X-Xinsheng-Timestamp`: the current Unix time in seconds; requests more
//!   than 5 minutes away from the server's clock are refused.
//! * `X-Xinsheng-Signature`: `sha256=` + lower-case hex of
//!   HMAC-SHA256(secret, timestamp + "." + raw body bytes).
//!
//! Body (at most 1000 messages; unknown fields are refused so typos surface):
//!
//! ```json
//! {"messages": [{"message_id": "m-1", "conversation_id": "c-9", "sender_id": "u-3",
//!                "speaker": "customer", "text": "快递三天了还没到",
//!                "sent_at": "2026-11-20T10:00:00+08:00"}]}
//! ```
//!
//! `speaker` is `customer`, `agent` or `system`; `sent_at` is Unix seconds or
//! an RFC 3339 string. `message_id` makes redelivery idempotent. The answer
//! is `200 {"accepted": n}`; errors name the offending `messages[i].field`.
//!
//! ```python
//! import hashlib, hmac, json, time, urllib.request
//! body = json.dumps({"messages": messages}).encode()
//! ts = str(int(time.time()))
//! sig = "sha256=" + hmac.new(SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
//! urllib.request.urlopen(urllib.request.Request(URL, body, {"Content-Type": "application/json", "X-Xinsheng-Timestamp": ts, "X-Xinsheng-Signature": sig}))
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{
    hmac_sha256, parse_json, redacted_debug, verify_timestamped, InboundMessage, WebhookError,
    WebhookOutcome, WebhookReply, WebhookRequest,
};
use crate::feedback::Speaker;

pub const MAX_SKEW_SECS: i64 = 300;
pub const MAX_MESSAGES: usize = 1000;

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericConfig {
    pub secret: String,
}
redacted_debug!(GenericConfig: secret);

/// The `X-Xinsheng-Signature` header for `body` sent at `timestamp`.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mac = hmac_sha256(secret.as_bytes(), &[timestamp.as_bytes(), b".", body]);
    format!("sha256={}", hex::encode(mac))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMessage {
    message_id: String,
    conversation_id: String,
    sender_id: String,
    speaker: Speaker,
    text: String,
    sent_at: RawTime,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawTime {
    Unix(i64),
    Rfc3339(String),
}

pub fn handle(
    config: &GenericConfig,
    request: &WebhookRequest,
    now: i64,
) -> Result<WebhookOutcome, WebhookError> {
    verify_timestamped(
        request,
        "x-xinsheng-timestamp",
        "x-xinsheng-signature",
        MAX_SKEW_SECS,
        now,
        |timestamp| sign(&config.secret, timestamp, request.body),
    )?;

    let body = parse_json(request.body, "body")?;
    let object = body
        .as_object()
        .ok_or_else(|| WebhookError::Malformed("body is not a JSON object".into()))?;
    if let Some(unknown) = object.keys().find(|key| *key != "messages") {
        return Err(WebhookError::Malformed(format!(
            "unknown field {unknown:?}"
        )));
    }
    let entries = object
        .get("messages")
        .ok_or(WebhookError::MissingParameter("messages"))?
        .as_array()
        .ok_or_else(|| WebhookError::Malformed("messages is not an array".into()))?;
    if entries.len() > MAX_MESSAGES {
        return Err(WebhookError::Malformed(format!(
            "{} messages, at most {MAX_MESSAGES} per request",
            entries.len()
        )));
    }
    let messages = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| message(index, entry))
        .collect::<Result<Vec<_>, _>>()?;
    let reply = WebhookReply::json(&json!({ "accepted": messages.len() }));
    Ok(WebhookOutcome::Messages { messages, reply })
}

fn message(index: usize, entry: &Value) -> Result<InboundMessage, WebhookError> {
    let invalid = |detail: String| WebhookError::Malformed(format!("messages[{index}]{detail}"));
    let raw = RawMessage::deserialize(entry).map_err(|error| invalid(format!(": {error}")))?;
    for (field, value) in [
        ("message_id", &raw.message_id),
        ("conversation_id", &raw.conversation_id),
        ("sender_id", &raw.sender_id),
        ("text", &raw.text),
    ] {
        if value.trim().is_empty() {
            return Err(invalid(format!(".{field} is empty")));
        }
    }
    let sent_at = match raw.sent_at {
        RawTime::Unix(seconds) => seconds,
        RawTime::Rfc3339(text) => crate::time::parse_rfc3339(&text)
            .ok_or_else(|| invalid(format!(".sent_at {text:?} is not RFC 3339")))?,
    };
    Ok(InboundMessage {
        message_id: raw.message_id,
        conversation_key: raw.conversation_id,
        sender_id: raw.sender_id,
        speaker: raw.speaker,
        text: raw.text.trim().to_string(),
        sent_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "s3cr3t";
    const NOW: i64 = 1_763_604_000;

    fn run_at(
        body: &[u8],
        timestamp: i64,
        signature: Option<String>,
    ) -> Result<WebhookOutcome, WebhookError> {
        let ts = timestamp.to_string();
        let signature = signature.unwrap_or_else(|| sign(SECRET, &ts, body));
        let headers = vec![
            ("x-xinsheng-timestamp".to_string(), ts),
            ("x-xinsheng-signature".to_string(), signature),
        ];
        handle(
            &GenericConfig {
                secret: SECRET.into(),
            },
            &WebhookRequest {
                method: "POST",
                query: &[],
                headers: &headers,
                body,
            },
            NOW,
        )
    }

    fn run(body: &Value) -> Result<WebhookOutcome, WebhookError> {
        run_at(body.to_string().as_bytes(), NOW, None)
    }

    fn entry() -> Value {
        json!({"message_id":"m-1","conversation_id":"c-9","sender_id":"u-3","speaker":"customer",
            "text":" 快递三天了还没到 ","sent_at":"2025-11-20T10:00:00+08:00"})
    }

    #[test]
    fn signature_matches_python_example() {
        // Computed with Python: hmac.new(b"s3cr3t", b"1763604000." + b'{"messages":[]}', hashlib.sha256).hexdigest()
        assert_eq!(
            sign(SECRET, "1763604000", br#"{"messages":[]}"#),
            "sha256=69279d6d2e00540fbaa1a482449c8bcca1cf01e8cfdd55a3d9be85bc729655a1"
        );
    }

    #[test]
    fn accepts_messages() {
        let mut agent = entry();
        agent["message_id"] = json!("m-2");
        agent["speaker"] = json!("agent");
        agent["sent_at"] = json!(1_763_604_001);
        let Ok(WebhookOutcome::Messages { messages, reply }) =
            run(&json!({"messages":[entry(), agent]}))
        else {
            panic!("expected messages");
        };
        assert_eq!(reply.body, br#"{"accepted":2}"#);
        assert_eq!(
            messages[0],
            InboundMessage {
                message_id: "m-1".into(),
                conversation_key: "c-9".into(),
                sender_id: "u-3".into(),
                speaker: Speaker::Customer,
                text: "快递三天了还没到".into(),
                sent_at: 1_763_604_000,
            }
        );
        assert_eq!(
            (messages[1].speaker, messages[1].sent_at),
            (Speaker::Agent, 1_763_604_001)
        );
    }

    #[test]
    fn validation_names_the_field() {
        let mut bad = entry();
        bad["text"] = json!("  ");
        let Err(WebhookError::Malformed(detail)) = run(&json!({"messages":[entry(), bad]})) else {
            panic!("expected malformed");
        };
        assert_eq!(detail, "messages[1].text is empty");
        for (field, value) in [
            ("speaker", json!("bot")),
            ("sent_at", json!("yesterday")),
            ("typo", json!(1)),
        ] {
            let mut bad = entry();
            bad[field] = value;
            let Err(WebhookError::Malformed(detail)) = run(&json!({"messages":[bad]})) else {
                panic!("expected malformed for {field}");
            };
            assert!(detail.starts_with("messages[0]"), "{detail}");
        }
        let too_many = vec![entry(); MAX_MESSAGES + 1];
        assert!(matches!(
            run(&json!({ "messages": too_many })),
            Err(WebhookError::Malformed(_))
        ));
        assert_eq!(
            run(&json!({})),
            Err(WebhookError::MissingParameter("messages"))
        );
        assert!(matches!(
            run(&json!({"messages":[], "extra":1})),
            Err(WebhookError::Malformed(_))
        ));
        assert!(matches!(
            run_at(b"[", NOW, None),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn rejects_tampering_and_staleness() {
        let body = json!({"messages":[entry()]}).to_string();
        let forged = Some(sign("other", &NOW.to_string(), body.as_bytes()));
        assert_eq!(
            run_at(body.as_bytes(), NOW, forged),
            Err(WebhookError::BadSignature)
        );
        assert!(matches!(
            run_at(body.as_bytes(), NOW + MAX_SKEW_SECS + 1, None),
            Err(WebhookError::StaleTimestamp { .. })
        ));
        let headers = vec![("x-xinsheng-timestamp".to_string(), NOW.to_string())];
        let request = WebhookRequest {
            method: "POST",
            query: &[],
            headers: &headers,
            body: body.as_bytes(),
        };
        assert_eq!(
            handle(
                &GenericConfig {
                    secret: SECRET.into()
                },
                &request,
                NOW
            ),
            Err(WebhookError::MissingParameter("x-xinsheng-signature"))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn handle_never_panics(
            timestamp in ".*", signature in ".*",
            body in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let headers = vec![
                ("x-xinsheng-timestamp".to_string(), timestamp),
                ("x-xinsheng-signature".to_string(), signature),
            ];
            let request = WebhookRequest { method: "POST", query: &[], headers: &headers, body: &body };
            let _ = handle(&GenericConfig { secret: SECRET.into() }, &request, NOW);
        }

        #[test]
        fn signed_anything_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = run_at(&body, NOW, None);
        }

        #[test]
        fn arbitrary_fields_never_panic(id in ".*", text in ".*", speaker in ".*", sent_at in ".*") {
            let _ = run(&json!({"messages":[{"message_id":id,"conversation_id":id,"sender_id":id,
                "speaker":speaker,"text":text,"sent_at":sent_at}]}));
        }
    }
}
