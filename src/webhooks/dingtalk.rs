//! DingTalk (钉钉) callbacks. One endpoint takes both kinds; a request with
//! a `signature`/`msg_signature` query parameter is an event subscription,
//! anything else a robot callback.
//!
//! * Robot callback: headers `timestamp` (ms) and
//!   `sign = Base64(HmacSHA256(app_secret, timestamp + "\n" + app_secret))`;
//!   timestamps more than an hour away are refused. A text message becomes
//!   one customer message; other message types are acknowledged and dropped.
//!   Conversation key: `conversationId:senderId` for single chats
//!   (`conversationType` "1"), `conversationId` for group chats.
//! * Event subscription: `?signature|msg_signature&timestamp&nonce`, body
//!   `{"encrypt": ".."}`, the shared [`msgcrypt`](super::msgcrypt) scheme with
//!   the app key as receiver id. The reply is "success", encrypted. Events
//!   produce no messages.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::msgcrypt::MsgCrypt;
use super::{
    check_fresh, hmac_sha256, parse_json, parse_timestamp, redacted_debug, required_str, str_at,
    text_message, verify_timestamped, WebhookError, WebhookOutcome, WebhookReply, WebhookRequest,
};
use crate::feedback::Speaker;

pub const PLATFORM: &str = "dingtalk";
pub const MAX_SKEW_MS: i64 = 3_600_000;

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DingtalkConfig {
    /// The robot app's AppSecret; signs robot callbacks.
    pub app_secret: String,
    /// Event subscriptions only: the callback token, the 43-character
    /// aes_key and the receiver id (app key / suite key / corp id).
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub aes_key: Option<String>,
    #[serde(default)]
    pub app_key: Option<String>,
}
redacted_debug!(DingtalkConfig: app_secret, token, aes_key, app_key);

impl DingtalkConfig {
    /// `NotConfigured` unless token, aes_key and app_key are all set.
    pub fn event_crypt(&self) -> Result<MsgCrypt, WebhookError> {
        let token = self
            .token
            .as_deref()
            .ok_or(WebhookError::NotConfigured("token"))?;
        let aes_key = self
            .aes_key
            .as_deref()
            .ok_or(WebhookError::NotConfigured("aes_key"))?;
        let app_key = self
            .app_key
            .as_deref()
            .ok_or(WebhookError::NotConfigured("app_key"))?;
        MsgCrypt::new(token, aes_key, app_key)
    }
}

pub fn handle(
    config: &DingtalkConfig,
    request: &WebhookRequest,
    now: i64,
) -> Result<WebhookOutcome, WebhookError> {
    request.require_method(&["POST"])?;
    match request
        .query_param("msg_signature")
        .or_else(|| request.query_param("signature"))
    {
        Some(signature) => handle_event(config, request, signature, now),
        None => handle_robot(config, request, now),
    }
}

/// The robot callback's `sign` header.
pub fn sign(app_secret: &str, timestamp: &str) -> String {
    BASE64.encode(hmac_sha256(
        app_secret.as_bytes(),
        &[timestamp.as_bytes(), b"\n", app_secret.as_bytes()],
    ))
}

/// The event-subscription reply: `plaintext` encrypted and signed.
pub fn encrypted_reply(crypt: &MsgCrypt, plaintext: &str, timestamp: &str, nonce: &str) -> Value {
    let encrypt = crypt.encrypt(plaintext.as_bytes());
    json!({
        "msg_signature": crypt.signature(timestamp, nonce, &encrypt),
        "timeStamp": timestamp,
        "nonce": nonce,
        "encrypt": encrypt,
    })
}

fn handle_robot(
    config: &DingtalkConfig,
    request: &WebhookRequest,
    now: i64,
) -> Result<WebhookOutcome, WebhookError> {
    // DingTalk's robot timestamps are milliseconds.
    verify_timestamped(
        request,
        "timestamp",
        "sign",
        MAX_SKEW_MS,
        now.saturating_mul(1000),
        |timestamp| sign(&config.app_secret, timestamp),
    )?;
    let timestamp_ms = parse_timestamp(request.require_header("timestamp")?, "timestamp")?;

    let body = parse_json(request.body, "body")?;
    let reply = WebhookReply::json(&json!({}));
    if str_at(&body, "/msgtype") != "text" {
        return Ok(WebhookOutcome::Messages {
            messages: Vec::new(),
            reply,
        });
    }
    let message_id = required_str(&body, "/msgId", "msgId")?;
    let conversation_id = required_str(&body, "/conversationId", "conversationId")?;
    let sender_id = required_str(&body, "/senderId", "senderId")?;
    let conversation_key = if str_at(&body, "/conversationType") == "1" {
        format!("{conversation_id}:{sender_id}")
    } else {
        conversation_id.to_string()
    };
    let sent_at_ms = body
        .get("createAt")
        .and_then(Value::as_i64)
        .unwrap_or(timestamp_ms);
    let messages = text_message(
        message_id.to_string(),
        conversation_key,
        sender_id.to_string(),
        Speaker::Customer,
        str_at(&body, "/text/content"),
        sent_at_ms.div_euclid(1000),
    );
    Ok(WebhookOutcome::Messages {
        messages: messages.into_iter().collect(),
        reply,
    })
}

fn handle_event(
    config: &DingtalkConfig,
    request: &WebhookRequest,
    signature: &str,
    now: i64,
) -> Result<WebhookOutcome, WebhookError> {
    let crypt = config.event_crypt()?;
    let timestamp = request.require_query("timestamp")?;
    let nonce = request.require_query("nonce")?;
    check_fresh(
        event_timestamp_secs(parse_timestamp(timestamp, "timestamp")?),
        now,
        MAX_SKEW_MS / 1000,
    )?;
    // The signature covers the `encrypt` field, so the envelope is parsed first.
    let envelope = parse_json(request.body, "body")?;
    let encrypt = envelope
        .get("encrypt")
        .and_then(Value::as_str)
        .ok_or(WebhookError::MissingParameter("encrypt"))?;
    let event = parse_json(&crypt.open(signature, timestamp, nonce, encrypt)?, "event")?;
    if !event.is_object() {
        return Err(WebhookError::Malformed("event is not a JSON object".into()));
    }
    let reply_timestamp = now.saturating_mul(1000).to_string();
    let reply_nonce: String = rand::Rng::sample_iter(rand::rng(), rand::distr::Alphanumeric)
        .take(8)
        .map(char::from)
        .collect();
    Ok(WebhookOutcome::Reply(WebhookReply::json(&encrypted_reply(
        &crypt,
        "success",
        &reply_timestamp,
        &reply_nonce,
    ))))
}

/// Event subscriptions send milliseconds, but older documentation and SDK
/// samples use seconds; the two ranges cannot be confused for any date
/// between 1973 and the year 5138.
fn event_timestamp_secs(timestamp: i64) -> i64 {
    if timestamp.unsigned_abs() >= 100_000_000_000 {
        timestamp / 1000
    } else {
        timestamp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::msgcrypt;
    use crate::webhooks::InboundMessage;
    use hmac::{Hmac, Mac};
    use proptest::prelude::*;

    const SECRET: &str = "gQkdLMcLgaQZVSTnxqnG7XqbD8N2Sp3PMK4WvJyxCSBnBtS8ZW8TQz2tSzkqB1Qk";
    const TOKEN: &str = "123456";
    const AES_KEY: &str = "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij";
    const APP_KEY: &str = "dingxxxxxxxxxxxx";
    const NOW: i64 = 1_700_000_000;

    fn config() -> DingtalkConfig {
        DingtalkConfig {
            app_secret: SECRET.into(),
            token: Some(TOKEN.into()),
            aes_key: Some(AES_KEY.into()),
            app_key: Some(APP_KEY.into()),
        }
    }

    fn robot_headers(timestamp_ms: i64) -> Vec<(String, String)> {
        let ts = timestamp_ms.to_string();
        vec![
            ("timestamp".into(), ts.clone()),
            ("sign".into(), sign(SECRET, &ts)),
        ]
    }

    fn run(
        config: &DingtalkConfig,
        query: &[(String, String)],
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<WebhookOutcome, WebhookError> {
        handle(
            config,
            &WebhookRequest {
                method: "POST",
                query,
                headers,
                body,
            },
            NOW,
        )
    }

    const TEXT: &str = r#"{"msgtype":"text","text":{"content":" 快递三天了还没到"},"msgId":"msgXXX","createAt":1700000000123,"conversationType":"1","conversationId":"cidXXX","senderId":"$:LWCP_v1:$abc","senderNick":"张三","senderStaffId":"staff1","chatbotUserId":"bot"}"#;

    fn messages(outcome: Result<WebhookOutcome, WebhookError>) -> Vec<InboundMessage> {
        match outcome {
            Ok(WebhookOutcome::Messages { messages, reply }) => {
                assert_eq!((reply.status, reply.body.as_slice()), (200, &b"{}"[..]));
                messages
            }
            other => panic!("expected messages, got {other:?}"),
        }
    }

    #[test]
    fn robot_sign_matches_formula() {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("1700000000000\n{SECRET}").as_bytes());
        assert_eq!(
            sign(SECRET, "1700000000000"),
            BASE64.encode(mac.finalize().into_bytes())
        );
    }

    #[test]
    fn robot_text_becomes_customer_message() {
        let got = messages(run(
            &config(),
            &[],
            &robot_headers(NOW * 1000),
            TEXT.as_bytes(),
        ));
        assert_eq!(
            got,
            vec![InboundMessage {
                message_id: "msgXXX".into(),
                conversation_key: "cidXXX:$:LWCP_v1:$abc".into(),
                sender_id: "$:LWCP_v1:$abc".into(),
                speaker: Speaker::Customer,
                text: "快递三天了还没到".into(),
                sent_at: 1_700_000_000,
            }]
        );
        let group = TEXT.replace(r#""conversationType":"1""#, r#""conversationType":"2""#);
        let got = messages(run(
            &config(),
            &[],
            &robot_headers(NOW * 1000),
            group.as_bytes(),
        ));
        assert_eq!(got[0].conversation_key, "cidXXX");
    }

    #[test]
    fn robot_non_text_is_dropped() {
        let body = r#"{"msgtype":"picture","content":{"downloadCode":"x"},"msgId":"m"}"#;
        assert!(messages(run(
            &config(),
            &[],
            &robot_headers(NOW * 1000),
            body.as_bytes()
        ))
        .is_empty());
    }

    #[test]
    fn robot_rejects_tampering_staleness_and_garbage() {
        let mut headers = robot_headers(NOW * 1000);
        headers[1].1 = sign("other secret", &headers[0].1);
        assert_eq!(
            run(&config(), &[], &headers, TEXT.as_bytes()),
            Err(WebhookError::BadSignature)
        );
        let headers = robot_headers(NOW * 1000 - MAX_SKEW_MS - 1);
        assert!(matches!(
            run(&config(), &[], &headers, TEXT.as_bytes()),
            Err(WebhookError::StaleTimestamp { .. })
        ));
        let headers = robot_headers(NOW * 1000);
        assert!(matches!(
            run(&config(), &[], &headers, b"{"),
            Err(WebhookError::Malformed(_))
        ));
        assert_eq!(
            run(
                &config(),
                &[],
                &headers,
                br#"{"msgtype":"text","text":{"content":"x"}}"#
            ),
            Err(WebhookError::MissingParameter("msgId"))
        );
        assert_eq!(
            run(&config(), &[], &[], TEXT.as_bytes()),
            Err(WebhookError::MissingParameter("timestamp"))
        );
    }

    fn event_request(
        crypt: &MsgCrypt,
        plaintext: &str,
        timestamp: &str,
    ) -> (Vec<(String, String)>, Vec<u8>) {
        let encrypt = crypt.encrypt(plaintext.as_bytes());
        let query = vec![
            (
                "signature".to_string(),
                crypt.signature(timestamp, "nonce1", &encrypt),
            ),
            ("timestamp".to_string(), timestamp.to_string()),
            ("nonce".to_string(), "nonce1".to_string()),
        ];
        (
            query,
            json!({ "encrypt": encrypt }).to_string().into_bytes(),
        )
    }

    #[test]
    fn pinned_encryption() {
        let crypt = config().event_crypt().unwrap();
        let encrypted =
            crypt.encrypt_with_random(*b"0123456789abcdef", br#"{"EventType":"check_url"}"#);
        // Pinned; cross-checked once against an independent Python implementation
        // of the scheme (the `cryptography` package).
        assert_eq!(
            encrypted,
            "HcA0QDKRG/U9FnFvX30Rg3cmHeq0C2cGbcAKqeLm0GR3PgT+O4U/IdQpmL45HaxvWhieAqKtes+Jq6RyHVgtzA=="
        );
    }

    #[test]
    fn check_url_event_gets_encrypted_success() {
        let crypt = config().event_crypt().unwrap();
        for timestamp in [(NOW * 1000).to_string(), NOW.to_string()] {
            let (query, body) = event_request(&crypt, r#"{"EventType":"check_url"}"#, &timestamp);
            let Ok(WebhookOutcome::Reply(reply)) = run(&config(), &query, &[], &body) else {
                panic!("expected a reply");
            };
            assert_eq!(
                (reply.status, reply.content_type),
                (200, "application/json")
            );
            let reply: Value = serde_json::from_slice(&reply.body).unwrap();
            let field = |name| reply[name].as_str().unwrap();
            // Signature recomputed independently: sort the four strings by hand.
            let mut parts = [TOKEN, field("timeStamp"), field("nonce"), field("encrypt")];
            parts.sort();
            let expected = hex::encode(<sha1::Sha1 as sha1::Digest>::digest(parts.concat()));
            assert_eq!(field("msg_signature"), expected);
            assert_eq!(crypt.decrypt(field("encrypt")).unwrap(), b"success");
        }
    }

    #[test]
    fn event_rejects_bad_requests() {
        let crypt = config().event_crypt().unwrap();
        let ts = (NOW * 1000).to_string();
        let (mut query, body) = event_request(&crypt, r#"{"EventType":"x"}"#, &ts);
        query[0].1 = msgcrypt::signature("wrong", &ts, "nonce1", "x");
        assert_eq!(
            run(&config(), &query, &[], &body),
            Err(WebhookError::BadSignature)
        );

        let stale = ((NOW - 7200) * 1000).to_string();
        let (query, body) = event_request(&crypt, r#"{"EventType":"x"}"#, &stale);
        assert!(matches!(
            run(&config(), &query, &[], &body),
            Err(WebhookError::StaleTimestamp { .. })
        ));

        let other = MsgCrypt::new(TOKEN, AES_KEY, "suite_other").unwrap();
        let (query, body) = event_request(&other, r#"{"EventType":"x"}"#, &ts);
        assert_eq!(
            run(&config(), &query, &[], &body),
            Err(WebhookError::WrongReceiver)
        );

        let (query, body) = event_request(&crypt, "not json", &ts);
        assert!(matches!(
            run(&config(), &query, &[], &body),
            Err(WebhookError::Malformed(_))
        ));

        let (query, _) = event_request(&crypt, "{}", &ts);
        assert_eq!(
            run(&config(), &query, &[], b"{}"),
            Err(WebhookError::MissingParameter("encrypt"))
        );

        let robot_only = DingtalkConfig {
            token: None,
            ..config()
        };
        let (query, body) = event_request(&crypt, "{}", &ts);
        assert_eq!(
            run(&robot_only, &query, &[], &body),
            Err(WebhookError::NotConfigured("token"))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn handle_never_panics(
            signature in proptest::option::of(".*"), timestamp in ".*", sign_header in ".*",
            body in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut query = vec![("timestamp".to_string(), timestamp.clone()), ("nonce".to_string(), "n".to_string())];
            if let Some(signature) = signature {
                query.push(("msg_signature".to_string(), signature));
            }
            let headers = vec![("timestamp".to_string(), timestamp), ("sign".to_string(), sign_header)];
            let _ = run(&config(), &query, &headers, &body);
        }

        #[test]
        fn signed_robot_body_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = run(&config(), &[], &robot_headers(NOW * 1000), &body);
        }

        #[test]
        fn signed_robot_json_never_panics(
            msgtype in prop_oneof![Just("text".to_string()), ".*"],
            content in ".*", id in ".*", created in any::<i64>(),
        ) {
            let body = json!({"msgtype": msgtype, "text": {"content": content}, "msgId": id,
                "conversationId": id, "senderId": id, "createAt": created, "conversationType": "1"});
            let _ = run(&config(), &[], &robot_headers(NOW * 1000), body.to_string().as_bytes());
        }

        #[test]
        fn encrypted_event_never_panics(plaintext in ".*") {
            let crypt = config().event_crypt().unwrap();
            let (query, body) = event_request(&crypt, &plaintext, &NOW.to_string());
            let _ = run(&config(), &query, &[], &body);
        }
    }
}
