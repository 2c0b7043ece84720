//! Feishu / Lark event subscriptions.
//!
//! * With an `encrypt_key`, bodies arrive as `{"encrypt": base64(iv ‖
//!   AES-256-CBC(key = SHA-256(encrypt_key), PKCS#7))}` and are signed:
//!   `x-lark-signature = hex(SHA-256(timestamp + nonce + encrypt_key + raw_body))`
//!   over headers `x-lark-request-timestamp` (seconds; refused more than an
//!   hour away) and `x-lark-request-nonce`. Feishu does not always sign the
//!   `url_verification` challenge, so an unsigned body is accepted for that
//!   alone, and only with the right verification token.
//! * Every payload carries the verification token (`token`, or
//!   `header.token` in schema 2.0), compared in constant time. Without an
//!   `encrypt_key` that token is the only credential and there is no replay
//!   protection, so production apps should set one.
//! * `im.message.receive_v1` text messages become messages (`@_user_N`
//!   mentions stripped; `sender_type` "app" is the agent); conversation key:
//!   `chat_id`. Other events and message types are acknowledged and dropped.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{
    check_fresh, check_token, ct_eq, parse_json, parse_timestamp, redacted_debug, required_str,
    str_at, text_message, InboundMessage, WebhookError, WebhookOutcome, WebhookReply,
    WebhookRequest,
};
use crate::feedback::Speaker;

pub const PLATFORM: &str = "feishu";
pub const MAX_SKEW_SECS: i64 = 3600;

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeishuConfig {
    /// Set when the app's "Encrypt Key" is; turns on decryption and signatures.
    #[serde(default)]
    pub encrypt_key: Option<String>,
    pub verification_token: String,
}
redacted_debug!(FeishuConfig: encrypt_key, verification_token);

type Encryptor = cbc::Encryptor<aes::Aes256>;
type Decryptor = cbc::Decryptor<aes::Aes256>;

pub fn handle(
    config: &FeishuConfig,
    request: &WebhookRequest,
    now: i64,
) -> Result<WebhookOutcome, WebhookError> {
    request.require_method(&["POST"])?;
    let encrypt_key = config.encrypt_key.as_deref().filter(|key| !key.is_empty());
    let signed = match (encrypt_key, request.header("x-lark-signature")) {
        (Some(key), Some(signature)) => {
            let timestamp = request.require_header("x-lark-request-timestamp")?;
            let nonce = request.require_header("x-lark-request-nonce")?;
            check_fresh(
                parse_timestamp(timestamp, "x-lark-request-timestamp")?,
                now,
                MAX_SKEW_SECS,
            )?;
            let expected = sign(timestamp, nonce, key, request.body);
            if !ct_eq(
                expected.as_bytes(),
                signature.trim().to_ascii_lowercase().as_bytes(),
            ) {
                return Err(WebhookError::BadSignature);
            }
            true
        }
        (Some(_), None) => false,
        // Without an encrypt key Feishu has nothing to sign with; the
        // verification token is the only credential.
        (None, _) => true,
    };

    let outer = parse_json(request.body, "body")?;
    let payload = match outer.get("encrypt") {
        None => outer,
        Some(Value::String(encrypted)) => {
            let key = encrypt_key.ok_or(WebhookError::NotConfigured("encrypt_key"))?;
            parse_json(&decrypt(key, encrypted)?, "decrypted body")?
        }
        Some(_) => return Err(WebhookError::Malformed("encrypt is not a string".into())),
    };

    if str_at(&payload, "/type") == "url_verification" {
        check_token(
            &config.verification_token,
            payload.get("token").and_then(Value::as_str),
        )?;
        let challenge = payload
            .get("challenge")
            .and_then(Value::as_str)
            .ok_or(WebhookError::MissingParameter("challenge"))?;
        return Ok(WebhookOutcome::Reply(WebhookReply::json(
            &json!({ "challenge": challenge }),
        )));
    }
    if !signed {
        return Err(WebhookError::MissingParameter("x-lark-signature"));
    }
    let token = payload
        .pointer("/header/token")
        .or_else(|| payload.get("token"))
        .and_then(Value::as_str);
    check_token(&config.verification_token, token)?;

    let messages = if str_at(&payload, "/header/event_type") == "im.message.receive_v1" {
        received_message(&payload)?.into_iter().collect()
    } else {
        Vec::new()
    };
    Ok(WebhookOutcome::Messages {
        messages,
        reply: WebhookReply::json(&json!({})),
    })
}

fn received_message(payload: &Value) -> Result<Option<InboundMessage>, WebhookError> {
    let message = payload
        .pointer("/event/message")
        .ok_or(WebhookError::MissingParameter("event.message"))?;
    if str_at(message, "/message_type") != "text" {
        return Ok(None);
    }
    let message_id = required_str(message, "/message_id", "message_id")?;
    let chat_id = required_str(message, "/chat_id", "chat_id")?;
    let content = parse_json(str_at(message, "/content").as_bytes(), "message content")?;
    let sent_at_ms = millis_at(message, "/create_time")
        .or_else(|| millis_at(payload, "/header/create_time"))
        .ok_or(WebhookError::MissingParameter("create_time"))?;
    let sender = payload.pointer("/event/sender").unwrap_or(&Value::Null);
    let speaker = match str_at(sender, "/sender_type") {
        "app" => Speaker::Agent,
        _ => Speaker::Customer,
    };
    let sender_id = [
        "/sender_id/open_id",
        "/sender_id/user_id",
        "/sender_id/union_id",
    ]
    .into_iter()
    .map(|pointer| str_at(sender, pointer))
    .find(|id| !id.is_empty())
    .unwrap_or("");
    Ok(text_message(
        message_id.to_string(),
        chat_id.to_string(),
        sender_id.to_string(),
        speaker,
        &strip_mentions(str_at(&content, "/text")),
        sent_at_ms.div_euclid(1000),
    ))
}

/// Feishu writes millisecond times as strings; accept numbers too.
fn millis_at(value: &Value, pointer: &str) -> Option<i64> {
    match value.pointer(pointer)? {
        Value::String(text) => text.trim().parse().ok(),
        number => number.as_i64(),
    }
}

/// Removes the `@_user_N` / `@_all` placeholders Feishu puts where mentions were.
fn strip_mentions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("@_") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let mention_len = match tail.strip_prefix("@_user_") {
            Some(digits) => match digits.bytes().take_while(u8::is_ascii_digit).count() {
                0 => 0,
                count => "@_user_".len() + count,
            },
            None if tail.starts_with("@_all") => "@_all".len(),
            None => 0,
        };
        if mention_len == 0 {
            out.push_str("@_");
            rest = &tail[2..];
        } else {
            rest = &tail[mention_len..];
        }
    }
    out.push_str(rest);
    out
}

/// `x-lark-signature`: hex(SHA-256(timestamp + nonce + encrypt_key + body)).
pub fn sign(timestamp: &str, nonce: &str, encrypt_key: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(timestamp.as_bytes());
    hasher.update(nonce.as_bytes());
    hasher.update(encrypt_key.as_bytes());
    hasher.update(body);
    hex::encode(hasher.finalize())
}

fn aes_key(encrypt_key: &str) -> [u8; 32] {
    Sha256::digest(encrypt_key.as_bytes()).into()
}

/// The `encrypt` field for `plaintext`, with a random IV.
pub fn encrypt(encrypt_key: &str, plaintext: &[u8]) -> String {
    encrypt_with_iv(encrypt_key, rand::random(), plaintext)
}

pub fn encrypt_with_iv(encrypt_key: &str, iv: [u8; 16], plaintext: &[u8]) -> String {
    let mut blob = iv.to_vec();
    blob.extend(
        Encryptor::new(&aes_key(encrypt_key).into(), &iv.into())
            .encrypt_padded_vec_mut::<Pkcs7>(plaintext),
    );
    BASE64.encode(blob)
}

pub fn decrypt(encrypt_key: &str, encrypted: &str) -> Result<Vec<u8>, WebhookError> {
    let blob = BASE64
        .decode(encrypted.trim())
        .map_err(|error| WebhookError::Malformed(format!("encrypt is not base64: {error}")))?;
    if blob.len() < 32 || blob.len() % 16 != 0 {
        return Err(WebhookError::Decrypt(format!(
            "encrypted length {} is not an IV plus whole blocks",
            blob.len()
        )));
    }
    let (iv, cipher) = blob.split_at(16);
    Decryptor::new_from_slices(&aes_key(encrypt_key), iv)
        .map_err(|_| WebhookError::Decrypt("bad IV length".into()))?
        .decrypt_padded_vec_mut::<Pkcs7>(cipher)
        .map_err(|_| WebhookError::Decrypt("bad padding (wrong encrypt_key?)".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &str = "test key";
    const TOKEN: &str = "v_token";
    const NOW: i64 = 1_700_000_000;

    fn config(encrypt_key: Option<&str>) -> FeishuConfig {
        FeishuConfig {
            encrypt_key: encrypt_key.map(str::to_string),
            verification_token: TOKEN.into(),
        }
    }

    fn signed_headers(body: &[u8], timestamp: i64) -> Vec<(String, String)> {
        let ts = timestamp.to_string();
        vec![
            ("x-lark-request-timestamp".into(), ts.clone()),
            ("x-lark-request-nonce".into(), "n0nce".into()),
            ("x-lark-signature".into(), sign(&ts, "n0nce", KEY, body)),
        ]
    }

    fn run(
        config: &FeishuConfig,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<WebhookOutcome, WebhookError> {
        handle(
            config,
            &WebhookRequest {
                method: "POST",
                query: &[],
                headers,
                body,
            },
            NOW,
        )
    }

    fn encrypted_body(plaintext: &Value) -> Vec<u8> {
        json!({ "encrypt": encrypt(KEY, plaintext.to_string().as_bytes()) })
            .to_string()
            .into_bytes()
    }

    fn message_event(token: &str, sender_type: &str) -> Value {
        json!({"schema":"2.0","header":{"event_id":"5e3702a84e847582be8db7fb73283c02","event_type":"im.message.receive_v1",
            "create_time":"1608725989000","token":token,"app_id":"cli_9f5343c580712544","tenant_key":"2ca1d211f64f6438"},
            "event":{"sender":{"sender_id":{"open_id":"ou_84aad35d084aa403a838cf73ee18467","user_id":"e33ggbyz","union_id":"on_8ed6aa67826108097d9ee143816345"},
            "sender_type":sender_type},"message":{"message_id":"om_5ce6d572455d361153b7cb51da133945","chat_id":"oc_5ce6d572455d361153b7xx51da133945",
            "chat_type":"p2p","message_type":"text","content":"{\"text\":\"@_user_1 衣服起球了\"}","create_time":"1609073151345"}}})
    }

    #[test]
    fn documented_decryption_vector() {
        assert_eq!(
            decrypt(KEY, "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=").unwrap(),
            b"hello world"
        );
        let encrypted = encrypt(KEY, "衣服起球了".as_bytes());
        assert_eq!(decrypt(KEY, &encrypted).unwrap(), "衣服起球了".as_bytes());
        assert!(matches!(
            decrypt(KEY, "%%%"),
            Err(WebhookError::Malformed(_))
        ));
        assert!(matches!(
            decrypt(KEY, "AAAA"),
            Err(WebhookError::Decrypt(_))
        ));
    }

    #[test]
    fn signature_matches_formula() {
        let expected = hex::encode(Sha256::digest(b"1700000000n0ncetest key{\"a\":1}"));
        assert_eq!(sign("1700000000", "n0nce", KEY, br#"{"a":1}"#), expected);
    }

    #[test]
    fn plain_challenge_is_answered() {
        let body =
            br#"{"challenge":"ajls384kdjx98XX","token":"v_token","type":"url_verification"}"#;
        let Ok(WebhookOutcome::Reply(reply)) = run(&config(None), &[], body) else {
            panic!("expected a reply");
        };
        assert_eq!(reply.body, br#"{"challenge":"ajls384kdjx98XX"}"#);
        let wrong = br#"{"challenge":"x","token":"nope","type":"url_verification"}"#;
        assert_eq!(run(&config(None), &[], wrong), Err(WebhookError::BadToken));
    }

    #[test]
    fn unsigned_encrypted_challenge_is_answered_but_unsigned_events_are_not() {
        let body =
            encrypted_body(&json!({"challenge":"c1","token":TOKEN,"type":"url_verification"}));
        assert!(matches!(
            run(&config(Some(KEY)), &[], &body),
            Ok(WebhookOutcome::Reply(_))
        ));
        let body =
            encrypted_body(&json!({"challenge":"c1","token":"nope","type":"url_verification"}));
        assert_eq!(
            run(&config(Some(KEY)), &[], &body),
            Err(WebhookError::BadToken)
        );
        let body = encrypted_body(&message_event(TOKEN, "user"));
        assert_eq!(
            run(&config(Some(KEY)), &[], &body),
            Err(WebhookError::MissingParameter("x-lark-signature"))
        );
    }

    #[test]
    fn encrypted_signed_message_is_extracted() {
        let body = encrypted_body(&message_event(TOKEN, "user"));
        let outcome = run(&config(Some(KEY)), &signed_headers(&body, NOW - 5), &body);
        let Ok(WebhookOutcome::Messages { messages, reply }) = outcome else {
            panic!("expected messages, got {outcome:?}");
        };
        assert_eq!(reply.body, b"{}");
        assert_eq!(
            messages,
            vec![InboundMessage {
                message_id: "om_5ce6d572455d361153b7cb51da133945".into(),
                conversation_key: "oc_5ce6d572455d361153b7xx51da133945".into(),
                sender_id: "ou_84aad35d084aa403a838cf73ee18467".into(),
                speaker: Speaker::Customer,
                text: "衣服起球了".into(),
                sent_at: 1_609_073_151,
            }]
        );
    }

    #[test]
    fn app_sender_is_agent_and_plain_events_work_without_key() {
        let body = message_event(TOKEN, "app").to_string().into_bytes();
        let Ok(WebhookOutcome::Messages { messages, .. }) = run(&config(None), &[], &body) else {
            panic!("expected messages");
        };
        assert_eq!(messages[0].speaker, Speaker::Agent);
        let other = json!({"schema":"2.0","header":{"event_type":"im.chat.member.bot.added_v1","token":TOKEN},"event":{}});
        assert_eq!(
            run(&config(None), &[], other.to_string().as_bytes()),
            Ok(WebhookOutcome::Messages {
                messages: vec![],
                reply: WebhookReply::json(&json!({}))
            })
        );
    }

    #[test]
    fn rejects_tampering_staleness_and_garbage() {
        let body = encrypted_body(&message_event(TOKEN, "user"));
        let mut headers = signed_headers(&body, NOW);
        headers[2].1 = sign("1", "2", KEY, &body);
        assert_eq!(
            run(&config(Some(KEY)), &headers, &body),
            Err(WebhookError::BadSignature)
        );

        let headers = signed_headers(&body, NOW - MAX_SKEW_SECS - 1);
        assert!(matches!(
            run(&config(Some(KEY)), &headers, &body),
            Err(WebhookError::StaleTimestamp { .. })
        ));

        let body = encrypted_body(&message_event("wrong", "user"));
        assert_eq!(
            run(&config(Some(KEY)), &signed_headers(&body, NOW), &body),
            Err(WebhookError::BadToken)
        );

        let body = br#"{"encrypt":"not base64!"}"#;
        assert!(matches!(
            run(&config(Some(KEY)), &signed_headers(body, NOW), body),
            Err(WebhookError::Malformed(_))
        ));
        let body = json!({ "encrypt": encrypt("other key", b"{}") })
            .to_string()
            .into_bytes();
        assert!(matches!(
            run(&config(Some(KEY)), &signed_headers(&body, NOW), &body),
            Err(WebhookError::Decrypt(_) | WebhookError::Malformed(_))
        ));
        assert!(matches!(
            run(&config(None), &[], b"<xml/>"),
            Err(WebhookError::Malformed(_))
        ));
        assert_eq!(
            run(&config(None), &[], &encrypted_body(&json!({}))),
            Err(WebhookError::NotConfigured("encrypt_key"))
        );
        let mut event = message_event(TOKEN, "user");
        event["event"]["message"]["content"] = json!("not json");
        assert!(matches!(
            run(&config(None), &[], event.to_string().as_bytes()),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn mentions_are_stripped() {
        assert_eq!(strip_mentions("@_user_1 衣服起球了"), " 衣服起球了");
        assert_eq!(strip_mentions("a @_user_12 b @_all c"), "a  b  c");
        assert_eq!(strip_mentions("@_user_ x @_ y"), "@_user_ x @_ y");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn handle_never_panics(
            with_key in any::<bool>(), signature in proptest::option::of(".*"), timestamp in ".*",
            body in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut headers = vec![
                ("x-lark-request-timestamp".to_string(), timestamp),
                ("x-lark-request-nonce".to_string(), "n".to_string()),
            ];
            headers.extend(signature.map(|signature| ("x-lark-signature".to_string(), signature)));
            let _ = run(&config(with_key.then_some(KEY)), &headers, &body);
        }

        #[test]
        fn signed_encrypted_anything_never_panics(plaintext in ".*", encrypt_field in ".*") {
            for body in [
                json!({ "encrypt": encrypt(KEY, plaintext.as_bytes()) }).to_string().into_bytes(),
                json!({ "encrypt": encrypt_field }).to_string().into_bytes(),
            ] {
                let _ = run(&config(Some(KEY)), &signed_headers(&body, NOW), &body);
            }
        }

        #[test]
        fn arbitrary_event_fields_never_panic(
            message_type in prop_oneof![Just("text".to_string()), ".*"],
            content in ".*", create_time in ".*", sender_type in ".*",
        ) {
            let mut event = message_event(TOKEN, &sender_type);
            event["event"]["message"]["message_type"] = json!(message_type);
            event["event"]["message"]["content"] = json!(content);
            event["event"]["message"]["create_time"] = json!(create_time);
            let _ = run(&config(None), &[], event.to_string().as_bytes());
        }

        #[test]
        fn decrypt_never_panics(input in ".*", bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = decrypt(KEY, &input);
            let _ = decrypt(KEY, &BASE64.encode(bytes));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A genuine `encrypt` value cut short (into the IV, off the block
        /// grid), with a bit flipped, or decrypted with another key: an error
        /// or bytes, never a panic; a cut off the block grid is always an error.
        #[test]
        fn damaged_encryptions_never_panic(
            plaintext in proptest::collection::vec(any::<u8>(), 0..100),
            cut in any::<proptest::sample::Index>(),
            flip in any::<proptest::sample::Index>(),
            bit in 0u8..8,
            other_key in "\\PC{0,20}",
        ) {
            let blob = BASE64.decode(encrypt(KEY, &plaintext)).expect("base64");
            prop_assert_eq!(decrypt(KEY, &BASE64.encode(&blob)), Ok(plaintext.clone()));
            let truncated = &blob[..cut.index(blob.len())];
            let result = decrypt(KEY, &BASE64.encode(truncated));
            if truncated.len() < 32 || truncated.len() % 16 != 0 {
                let is_decrypt_error = matches!(result, Err(WebhookError::Decrypt(_)));
                prop_assert!(is_decrypt_error);
            }
            let mut flipped = blob.clone();
            flipped[flip.index(blob.len())] ^= 1 << bit;
            let _ = decrypt(KEY, &BASE64.encode(&flipped));
            if other_key != KEY {
                prop_assert_ne!(decrypt(&other_key, &BASE64.encode(&blob)), Ok(plaintext));
            }
        }
    }
}
