//! Alert notifications to a DingTalk custom group robot (自定义机器人).
//!
//! `POST {url}` (the robot's `…/robot/send?access_token=…`) with
//! `{"msgtype":"markdown","markdown":{"title","text"}}`. With a 加签 secret
//! the URL also carries `&timestamp=<ms>&sign=<urlencoded base64
//! HMAC-SHA256(secret, "<ms>\n<secret>")>` (the formula DingTalk also uses to
//! sign its callbacks, [`crate::webhooks::dingtalk::sign`]). DingTalk answers
//! HTTP 200 even when it refuses: only `{"errcode":0}` is a delivery;
//! anything else (130101: more than 20 messages a minute; 310000: bad
//! signature or keyword) fails the batch, which the outbox retries with
//! backoff. Up to [`MAX_BATCH`] alerts go out as one message (see
//! [`crate::alerts::message::robot_markdown`]), which keeps a flood of
//! alerts under the rate limit.
//!
//! The URL holds the robot's token: errors name the host only.

use super::http::{client, post_json};
use super::{DeliveryError, Destination};
use crate::alerts::message::robot_markdown;
use crate::store::outbox::OutboxMessage;

pub const MAX_BATCH: usize = 5;
/// DingTalk does not publish a markdown limit; the WeCom one is kept as a
/// safe bound for both.
pub const MAX_TEXT_BYTES: usize = 4_000;

pub struct DingtalkRobot {
    target: String,
    url: String,
    secret: Option<String>,
    client: reqwest::blocking::Client,
}

/// `sign` for the signed-robot URL: base64 HMAC, then URL-encoded.
pub fn url_sign(secret: &str, timestamp_ms: i64) -> String {
    let signature = crate::webhooks::dingtalk::sign(secret, &timestamp_ms.to_string());
    serde_urlencoded::to_string([("sign", signature)])
        .map(|pair| pair.trim_start_matches("sign=").to_string())
        .unwrap_or_default()
}

/// The webhook URL with the signature parameters appended (or as it is
/// without a secret).
pub fn signed_url(url: &str, secret: Option<&str>, timestamp_ms: i64) -> String {
    match secret {
        Some(secret) => {
            let separator = if url.contains('?') { '&' } else { '?' };
            format!(
                "{url}{separator}timestamp={timestamp_ms}&sign={}",
                url_sign(secret, timestamp_ms)
            )
        }
        None => url.to_string(),
    }
}

pub fn body(messages: &[OutboxMessage]) -> serde_json::Value {
    let markdown = robot_markdown(messages, MAX_TEXT_BYTES);
    serde_json::json!({
        "msgtype": "markdown",
        "markdown": {"title": markdown.title, "text": markdown.text},
    })
}

/// `{"errcode":0}` is the only success.
pub fn check_reply(target: &str, reply: &str) -> Result<(), DeliveryError> {
    let parsed: serde_json::Value = serde_json::from_str(reply).unwrap_or_default();
    match parsed.get("errcode").and_then(serde_json::Value::as_i64) {
        Some(0) => Ok(()),
        Some(code) => Err(DeliveryError::Refused {
            target: target.to_string(),
            message: format!(
                "errcode {code}: {}",
                parsed
                    .get("errmsg")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("")
            ),
        }),
        None => Err(DeliveryError::Refused {
            target: target.to_string(),
            message: format!(
                "answer without errcode: {}",
                reply.chars().take(200).collect::<String>()
            ),
        }),
    }
}

/// Replaces the secret-bearing URL in an error by its scheme and host.
pub(super) fn without_url(error: DeliveryError, url: &str) -> DeliveryError {
    let shown = redacted_url(url);
    let scrub = |text: String| {
        // reqwest quotes the URL it was given, query string included.
        let mut text = text.replace(url, &shown);
        if let Some((base, _)) = url.split_once('?') {
            text = text.replace(base, &shown);
        }
        text
    };
    match error {
        DeliveryError::Unreachable {
            target, message, ..
        } => DeliveryError::Unreachable {
            target,
            message: scrub(message),
            url: redacted_url(url),
        },
        DeliveryError::Refused { target, message } => DeliveryError::Refused {
            target,
            message: scrub(message),
        },
        other => other,
    }
}

/// `https://oapi.dingtalk.com/…`: enough to tell which robot, no token.
pub fn redacted_url(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |position| position + 3);
    let host_end = url[after_scheme..]
        .find(['/', '?'])
        .map_or(url.len(), |position| after_scheme + position);
    format!("{}/…", &url[..host_end])
}

impl DingtalkRobot {
    pub fn new(target: String, url: String, secret: Option<String>) -> Result<Self, DeliveryError> {
        let client = client(&target)?;
        Ok(DingtalkRobot {
            target,
            url,
            secret,
            client,
        })
    }
}

impl Destination for DingtalkRobot {
    fn target(&self) -> &str {
        &self.target
    }

    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    fn deliver(&self, messages: &[OutboxMessage]) -> Result<(), DeliveryError> {
        let body = body(messages).to_string();
        let now_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let url = signed_url(&self.url, self.secret.as_deref(), now_ms as i64);
        let reply = post_json(&self.client, &self.target, &url, body.as_bytes(), &[])
            .map_err(|error| without_url(error, &url))?;
        check_reply(&self.target, &reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_matches_dingtalk_python_sample() {
        // Python, as in DingTalk's documentation:
        // quote_plus(b64encode(hmac.new(secret, f"{ts}\n{secret}", sha256).digest()))
        assert_eq!(
            url_sign("SEC0123456789abcdef", 1_700_000_000_002),
            "VGvd0brDJp%2FnMZtR%2BXnA3yBIlhowT%2BTwkRPua0q1%2Fjg%3D"
        );
        assert_eq!(
            url_sign("this is secret", 1_577_808_000_000),
            "ijHEivi6YiCNPZOq4hZstmvZ3sPfbioAiMhP30ae7W0%3D"
        );
    }

    #[test]
    fn signed_url_appends_timestamp_and_sign() {
        let url = "https://oapi.dingtalk.com/robot/send?access_token=abc";
        assert_eq!(signed_url(url, None, 1), url);
        assert_eq!(
            signed_url(url, Some("this is secret"), 1_577_808_000_000),
            "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1577808000000&sign=ijHEivi6YiCNPZOq4hZstmvZ3sPfbioAiMhP30ae7W0%3D"
        );
    }

    #[test]
    fn only_errcode_zero_is_delivered() {
        assert!(check_reply("t", r#"{"errcode":0,"errmsg":"ok"}"#).is_ok());
        let limited = check_reply("t", r#"{"errcode":130101,"errmsg":"send too fast"}"#)
            .expect_err("rate limited");
        assert!(limited.to_string().contains("130101"));
        assert!(check_reply("t", "<html>gateway</html>").is_err());
    }

    #[test]
    fn errors_do_not_show_the_token() {
        let url =
            "https://oapi.dingtalk.com/robot/send?access_token=secret-token&timestamp=1&sign=x";
        let error = without_url(
            DeliveryError::Unreachable {
                target: "alerts.ops".into(),
                url: url.into(),
                message: format!("error sending request for url ({url})"),
            },
            url,
        );
        let shown = error.to_string();
        assert!(!shown.contains("secret-token"), "{shown}");
        assert!(shown.contains("https://oapi.dingtalk.com/…"), "{shown}");
    }

    #[test]
    fn body_is_a_markdown_message() {
        let record = serde_json::json!({
            "id": 1, "rule": "r", "key": "r:x", "kind": "severe", "severity": "critical",
            "title": "【严重】严重信号：12315", "text": "### 【严重】严重信号：12315\n\n[查看明细](http://x)\n",
            "detail": {}, "link": "http://x", "fired_at": 0, "targets": ["ops"]
        });
        let message = OutboxMessage {
            id: 9,
            target: "alerts.ops".into(),
            payload: record,
            created_at: 0,
            attempts: 0,
        };
        let body = body(&[message]);
        assert_eq!(body["msgtype"], "markdown");
        assert_eq!(body["markdown"]["title"], "【严重】严重信号：12315");
        let text = body["markdown"]["text"].as_str().expect("text");
        assert!(text.starts_with("### 【严重】严重信号：12315"), "{text}");
    }
}
