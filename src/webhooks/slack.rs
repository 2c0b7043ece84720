//! Slack Events API.
//!
//! * Headers `x-slack-request-timestamp` (refused more than
//!   [`MAX_SKEW_SECS`] away, as Slack recommends) and
//!   `x-slack-signature = "v0=" + hex(HMAC-SHA256(signing_secret, "v0:" + ts + ":" + raw_body))`.
//! * `url_verification` is answered with its challenge.
//! * `event_callback` with a `message` event becomes a message: message id
//!   `client_msg_id`, else `channel:ts`; conversation key
//!   `channel:(thread_ts or ts)`; bot messages (`bot_id` or subtype
//!   `bot_message`) are the agent. Subtypes that are not new content
//!   (`message_changed`, `message_deleted`, `channel_join`, ...) are dropped.
//!   Everything else is acknowledged with an empty 200.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{
    hmac_sha256, parse_json, redacted_debug, required_str, str_at, text_message,
    verify_timestamped, InboundMessage, WebhookError, WebhookOutcome, WebhookReply, WebhookRequest,
};
use crate::feedback::Speaker;

pub const PLATFORM: &str = "slack";
pub const MAX_SKEW_SECS: i64 = 300;

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    pub signing_secret: String,
}
redacted_debug!(SlackConfig: signing_secret);

/// The `x-slack-signature` header for `body` sent at `timestamp`.
pub fn sign(signing_secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mac = hmac_sha256(
        signing_secret.as_bytes(),
        &[b"v0:", timestamp.as_bytes(), b":", body],
    );
    format!("v0={}", hex::encode(mac))
}

pub fn handle(
    config: &SlackConfig,
    request: &WebhookRequest,
    now: i64,
) -> Result<WebhookOutcome, WebhookError> {
    verify_timestamped(
        request,
        "x-slack-request-timestamp",
        "x-slack-signature",
        MAX_SKEW_SECS,
        now,
        |timestamp| sign(&config.signing_secret, timestamp, request.body),
    )?;

    let body = parse_json(request.body, "body")?;
    let messages = match str_at(&body, "/type") {
        "url_verification" => {
            let challenge = body
                .get("challenge")
                .and_then(Value::as_str)
                .ok_or(WebhookError::MissingParameter("challenge"))?;
            return Ok(WebhookOutcome::Reply(WebhookReply::json(
                &json!({ "challenge": challenge }),
            )));
        }
        "event_callback" => match body.get("event") {
            Some(event) => message(event)?.into_iter().collect(),
            None => return Err(WebhookError::MissingParameter("event")),
        },
        _ => Vec::new(),
    };
    Ok(WebhookOutcome::Messages {
        messages,
        reply: WebhookReply::empty(),
    })
}

fn message(event: &Value) -> Result<Option<InboundMessage>, WebhookError> {
    if str_at(event, "/type") != "message" {
        return Ok(None);
    }
    let bot_id = str_at(event, "/bot_id");
    let speaker = match event.get("subtype").and_then(Value::as_str) {
        // New content posted by a person (or a bot, when it has a bot_id).
        None | Some("thread_broadcast" | "file_share" | "me_message") if bot_id.is_empty() => {
            Speaker::Customer
        }
        None | Some("thread_broadcast" | "file_share" | "me_message" | "bot_message") => {
            Speaker::Agent
        }
        Some(_) => return Ok(None),
    };
    let channel = required_str(event, "/channel", "event.channel")?;
    let ts = required_str(event, "/ts", "event.ts")?;
    let sent_at = ts
        .split('.')
        .next()
        .and_then(|seconds| seconds.parse().ok())
        .ok_or_else(|| {
            WebhookError::Malformed(format!("event.ts {ts:?} is not a Slack timestamp"))
        })?;
    let thread = match str_at(event, "/thread_ts") {
        "" => ts,
        thread_ts => thread_ts,
    };
    let message_id = match str_at(event, "/client_msg_id") {
        "" => format!("{channel}:{ts}"),
        id => id.to_string(),
    };
    let sender_id = match str_at(event, "/user") {
        "" => bot_id,
        user => user,
    };
    Ok(text_message(
        message_id,
        format!("{channel}:{thread}"),
        sender_id.to_string(),
        speaker,
        str_at(event, "/text"),
        sent_at,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const NOW: i64 = 1_531_420_618;

    fn config() -> SlackConfig {
        SlackConfig {
            signing_secret: SECRET.into(),
        }
    }

    fn run_at(
        body: &[u8],
        timestamp: i64,
        signature: Option<String>,
    ) -> Result<WebhookOutcome, WebhookError> {
        let ts = timestamp.to_string();
        let signature = signature.unwrap_or_else(|| sign(SECRET, &ts, body));
        let headers = vec![
            ("x-slack-request-timestamp".to_string(), ts),
            ("x-slack-signature".to_string(), signature),
        ];
        handle(
            &config(),
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

    fn messages(body: &Value) -> Vec<InboundMessage> {
        match run(body) {
            Ok(WebhookOutcome::Messages { messages, reply }) => {
                assert_eq!((reply.status, reply.body.len()), (200, 0));
                messages
            }
            other => panic!("expected messages, got {other:?}"),
        }
    }

    fn callback(event: Value) -> Value {
        json!({"token":"z26uFbvR1xHJEdHE1OQiO6t8","team_id":"T061EG9RZ","api_app_id":"A0FFV41KK",
            "event":event,"type":"event_callback","event_id":"Ev9UQ52YNA","event_time":1234567890})
    }

    const DOC_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";

    #[test]
    fn documented_signature_vector() {
        let expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(sign(SECRET, "1531420618", DOC_BODY.as_bytes()), expected);
        // The signature passes; the form body is then not an Events API payload.
        assert!(matches!(
            run_at(DOC_BODY.as_bytes(), NOW, Some(expected.into())),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn url_verification_is_answered() {
        let body = json!({"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"});
        let Ok(WebhookOutcome::Reply(reply)) = run(&body) else {
            panic!("expected a reply");
        };
        assert_eq!(
            reply.body,
            br#"{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#
        );
    }

    #[test]
    fn user_message_in_thread() {
        let got = messages(&callback(
            json!({"type":"message","channel":"C2147483705","user":"U2147483697",
            "text":"Hello world","ts":"1355517523.000005","thread_ts":"1355517500.000001","client_msg_id":"c0ffee"}),
        ));
        assert_eq!(
            got,
            vec![InboundMessage {
                message_id: "c0ffee".into(),
                conversation_key: "C2147483705:1355517500.000001".into(),
                sender_id: "U2147483697".into(),
                speaker: Speaker::Customer,
                text: "Hello world".into(),
                sent_at: 1_355_517_523,
            }]
        );
    }

    #[test]
    fn bot_messages_are_agent_and_edits_are_dropped() {
        let got = messages(&callback(
            json!({"type":"message","subtype":"bot_message","bot_id":"B1",
            "channel":"C1","text":"We are on it","ts":"1355517524.000001"}),
        ));
        assert_eq!(got[0].speaker, Speaker::Agent);
        assert_eq!(got[0].sender_id, "B1");
        assert_eq!(got[0].message_id, "C1:1355517524.000001");
        assert_eq!(got[0].conversation_key, "C1:1355517524.000001");
        let got = messages(&callback(
            json!({"type":"message","bot_id":"B1","user":"U9",
            "channel":"C1","text":"app reply","ts":"1.2"}),
        ));
        assert_eq!(got[0].speaker, Speaker::Agent);
        for subtype in ["message_changed", "message_deleted", "channel_join"] {
            assert!(messages(&callback(
                json!({"type":"message","subtype":subtype,"channel":"C1","ts":"1.2",
                "message":{"text":"edited"}})
            ))
            .is_empty());
        }
        assert!(messages(&callback(json!({"type":"reaction_added","user":"U1"}))).is_empty());
        assert!(messages(&json!({"type":"app_rate_limited"})).is_empty());
    }

    #[test]
    fn rejects_tampering_staleness_and_garbage() {
        let body =
            callback(json!({"type":"message","channel":"C1","text":"x","ts":"1.2"})).to_string();
        let forged = Some(sign("other", &NOW.to_string(), body.as_bytes()));
        assert_eq!(
            run_at(body.as_bytes(), NOW, forged),
            Err(WebhookError::BadSignature)
        );
        let mut tampered = body.clone().into_bytes();
        tampered[0] = b' ';
        let original = Some(sign(SECRET, &NOW.to_string(), body.as_bytes()));
        assert_eq!(
            run_at(&tampered, NOW, original),
            Err(WebhookError::BadSignature)
        );
        assert!(matches!(
            run_at(body.as_bytes(), NOW - MAX_SKEW_SECS - 1, None),
            Err(WebhookError::StaleTimestamp { .. })
        ));
        assert!(matches!(
            run_at(b"{not json", NOW, None),
            Err(WebhookError::Malformed(_))
        ));
        assert!(matches!(
            run(&callback(
                json!({"type":"message","channel":"C1","text":"x","ts":"abc"})
            )),
            Err(WebhookError::Malformed(_))
        ));
        assert_eq!(
            run(&callback(json!({"type":"message","text":"x","ts":"1.2"}))),
            Err(WebhookError::MissingParameter("event.channel"))
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
                ("x-slack-request-timestamp".to_string(), timestamp),
                ("x-slack-signature".to_string(), signature),
            ];
            let _ = handle(&config(), &WebhookRequest { method: "POST", query: &[], headers: &headers, body: &body }, NOW);
        }

        #[test]
        fn signed_anything_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = run_at(&body, NOW, None);
        }

        #[test]
        fn arbitrary_event_fields_never_panic(
            subtype in proptest::option::of(".*"), ts in ".*", text in ".*", thread in ".*",
        ) {
            let _ = run(&callback(json!({"type":"message","subtype":subtype,"channel":"C1",
                "text":text,"ts":ts,"thread_ts":thread})));
        }
    }
}
