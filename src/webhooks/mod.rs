//! Inbound chat-platform webhooks.
//!
//! Every platform module is pure: it gets the raw request ([`WebhookRequest`])
//! and the current time, authenticates the request against the raw body
//! bytes before parsing anything, and answers a [`WebhookOutcome`]: the HTTP
//! reply the platform expects plus the platform-neutral messages to store.
//! Transport, storage and outbound calls (the WeCom `kf/sync_msg` pull) live
//! in the caller, which stores nothing unless `handle` returned `Ok`.
//!
//! The [`WebhookRequest::query`] values must already be percent-decoded
//! (WeCom's `echostr` is base64 and arrives URL-encoded).

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::feedback::Speaker;

pub mod dingtalk;
pub mod feishu;
pub mod generic;
/// WeCom/DingTalk shared AES scheme ("WXBizMsgCrypt").
pub mod msgcrypt;
pub mod slack;
pub mod wecom;

/// What the HTTP layer hands to a platform adapter. Raw body bytes:
/// signatures are checked against them before any parsing.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// `"GET"` or `"POST"`.
    pub method: &'a str,
    /// Percent-decoded query parameters, in request order.
    pub query: &'a [(String, String)],
    /// Header names lower-cased.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl WebhookRequest<'_> {
    /// First query parameter with this name.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// First header with this name; tolerant of callers that forgot to
    /// lower-case, since a missed header would read as an attack.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub(crate) fn require_query(&self, name: &'static str) -> Result<&str, WebhookError> {
        self.query_param(name)
            .ok_or(WebhookError::MissingParameter(name))
    }

    pub(crate) fn require_header(&self, name: &'static str) -> Result<&str, WebhookError> {
        self.header(name)
            .ok_or(WebhookError::MissingParameter(name))
    }

    pub(crate) fn require_method(&self, allowed: &[&str]) -> Result<(), WebhookError> {
        if allowed
            .iter()
            .any(|method| self.method.eq_ignore_ascii_case(method))
        {
            Ok(())
        } else {
            Err(WebhookError::MethodNotAllowed(self.method.to_string()))
        }
    }
}

/// The HTTP answer the platform expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl WebhookReply {
    pub fn text(body: &str) -> Self {
        WebhookReply {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn json(value: &Value) -> Self {
        WebhookReply {
            status: 200,
            content_type: "application/json",
            body: value.to_string().into_bytes(),
        }
    }

    pub fn empty() -> Self {
        WebhookReply::text("")
    }
}

/// One chat message from any platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// The platform's id, for idempotency.
    pub message_id: String,
    /// Which conversation it belongs to (see each platform module).
    pub conversation_key: String,
    pub sender_id: String,
    pub speaker: Speaker,
    pub text: String,
    /// Unix seconds.
    pub sent_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Answer this and store nothing (URL verification / challenge).
    Reply(WebhookReply),
    /// Store these messages (may be empty, e.g. ignored event types), then
    /// answer `reply`.
    Messages {
        messages: Vec<InboundMessage>,
        reply: WebhookReply,
    },
    /// WeCom `kf_msg_or_event`: the callback carries only a token; the caller
    /// must pull with `kf/sync_msg` (token, open_kfid), then answer `reply`.
    WecomPull {
        token: String,
        open_kfid: String,
        reply: WebhookReply,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("signature does not match")]
    BadSignature,
    #[error("timestamp {timestamp} is more than {max_skew_secs}s away from now ({now})")]
    StaleTimestamp {
        timestamp: i64,
        now: i64,
        max_skew_secs: i64,
    },
    #[error("missing parameter {0}")]
    MissingParameter(&'static str),
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("cannot decrypt: {0}")]
    Decrypt(String),
    #[error("message is addressed to another receiver")]
    WrongReceiver,
    #[error("verification token does not match")]
    BadToken,
    #[error("method {0} not allowed")]
    MethodNotAllowed(String),
    /// The request needs a secret this deployment's config leaves out.
    #[error("{0} is not configured")]
    NotConfigured(&'static str),
    /// A configured secret is unusable (e.g. an EncodingAESKey that is not
    /// 43 base64 characters).
    #[error("invalid webhook configuration: {0}")]
    BadConfig(String),
}

impl WebhookError {
    pub fn status(&self) -> u16 {
        match self {
            WebhookError::BadSignature
            | WebhookError::StaleTimestamp { .. }
            | WebhookError::WrongReceiver
            | WebhookError::BadToken => 401,
            WebhookError::MissingParameter(_)
            | WebhookError::Malformed(_)
            | WebhookError::Decrypt(_) => 400,
            WebhookError::NotConfigured(_) => 404,
            WebhookError::MethodNotAllowed(_) => 405,
            WebhookError::BadConfig(_) => 500,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            WebhookError::BadSignature => "bad_signature",
            WebhookError::StaleTimestamp { .. } => "stale_timestamp",
            WebhookError::MissingParameter(_) => "missing_parameter",
            WebhookError::Malformed(_) => "malformed",
            WebhookError::Decrypt(_) => "decrypt_failed",
            WebhookError::WrongReceiver => "wrong_receiver",
            WebhookError::BadToken => "bad_token",
            WebhookError::MethodNotAllowed(_) => "method_not_allowed",
            WebhookError::NotConfigured(_) => "not_configured",
            WebhookError::BadConfig(_) => "bad_config",
        }
    }
}

pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

pub(crate) fn parse_timestamp(value: &str, name: &'static str) -> Result<i64, WebhookError> {
    value
        .trim()
        .parse()
        .map_err(|_| WebhookError::Malformed(format!("{name} is not an integer")))
}

pub(crate) fn check_fresh(
    timestamp: i64,
    now: i64,
    max_skew_secs: i64,
) -> Result<(), WebhookError> {
    if now.abs_diff(timestamp) > max_skew_secs.unsigned_abs() {
        Err(WebhookError::StaleTimestamp {
            timestamp,
            now,
            max_skew_secs,
        })
    } else {
        Ok(())
    }
}

/// The scheme Slack and the generic contract share: a timestamp header
/// within `max_skew_secs` of now, and a signature header over timestamp and
/// raw body that `sign` recomputes.
pub(crate) fn verify_timestamped(
    request: &WebhookRequest<'_>,
    timestamp_header: &'static str,
    signature_header: &'static str,
    max_skew_secs: i64,
    now: i64,
    sign: impl Fn(&str) -> String,
) -> Result<(), WebhookError> {
    request.require_method(&["POST"])?;
    let timestamp = request.require_header(timestamp_header)?;
    let signature = request.require_header(signature_header)?;
    check_fresh(
        parse_timestamp(timestamp, timestamp_header)?,
        now,
        max_skew_secs,
    )?;
    if ct_eq(sign(timestamp).as_bytes(), signature.trim().as_bytes()) {
        Ok(())
    } else {
        Err(WebhookError::BadSignature)
    }
}

pub(crate) fn parse_json(bytes: &[u8], what: &str) -> Result<Value, WebhookError> {
    serde_json::from_slice(bytes)
        .map_err(|error| WebhookError::Malformed(format!("{what} is not valid JSON: {error}")))
}

/// The string at `pointer`, or "" when absent or not a string: platforms
/// omit empty fields, and callers decide which ones are required.
pub(crate) fn str_at<'v>(value: &'v Value, pointer: &str) -> &'v str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The non-empty string at `pointer`, else `MissingParameter(name)`.
pub(crate) fn required_str<'v>(
    value: &'v Value,
    pointer: &str,
    name: &'static str,
) -> Result<&'v str, WebhookError> {
    match str_at(value, pointer) {
        "" => Err(WebhookError::MissingParameter(name)),
        found => Ok(found),
    }
}

pub(crate) fn check_token(expected: &str, got: Option<&str>) -> Result<(), WebhookError> {
    let got = got.ok_or(WebhookError::MissingParameter("token"))?;
    if ct_eq(expected.as_bytes(), got.as_bytes()) {
        Ok(())
    } else {
        Err(WebhookError::BadToken)
    }
}

/// Messages whose text is blank carry nothing to analyse (stickers, file
/// shares without a comment), so they are not stored at all.
pub(crate) fn text_message(
    message_id: String,
    conversation_key: String,
    sender_id: String,
    speaker: Speaker,
    text: &str,
    sent_at: i64,
) -> Option<InboundMessage> {
    let text = text.trim();
    (!text.is_empty()).then(|| InboundMessage {
        message_id,
        conversation_key,
        sender_id,
        speaker,
        text: text.to_string(),
        sent_at,
    })
}

/// Config structs hold secrets; their `Debug` shows only which are set.
macro_rules! redacted_debug {
    ($type:ident: $($field:ident),*) => {
        impl std::fmt::Debug for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($type))
                    $(.field(stringify!($field), &"<redacted>"))*
                    .finish()
            }
        }
    };
}
pub(crate) use redacted_debug;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_status_and_codes() {
        assert_eq!(WebhookError::BadSignature.status(), 401);
        assert_eq!(WebhookError::BadToken.status(), 401);
        assert_eq!(WebhookError::WrongReceiver.status(), 401);
        let stale = WebhookError::StaleTimestamp {
            timestamp: 0,
            now: 1000,
            max_skew_secs: 300,
        };
        assert_eq!(stale.status(), 401);
        assert_eq!(stale.code(), "stale_timestamp");
        assert_eq!(WebhookError::MissingParameter("x").status(), 400);
        assert_eq!(WebhookError::Malformed(String::new()).code(), "malformed");
        assert_eq!(WebhookError::Decrypt(String::new()).status(), 400);
    }

    #[test]
    fn freshness_window_is_symmetric_and_overflow_safe() {
        assert!(check_fresh(1000, 1300, 300).is_ok());
        assert!(check_fresh(1300, 1000, 300).is_ok());
        assert!(check_fresh(1000, 1301, 300).is_err());
        assert!(check_fresh(i64::MIN, i64::MAX, 300).is_err());
    }

    #[test]
    fn config_debug_hides_secrets() {
        let config = slack::SlackConfig {
            signing_secret: "hunter2".into(),
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn headers_match_case_insensitively() {
        let headers = vec![("X-Test".to_string(), "1".to_string())];
        let request = WebhookRequest {
            method: "POST",
            query: &[],
            headers: &headers,
            body: b"",
        };
        assert_eq!(request.header("x-test"), Some("1"));
    }
}
