//! Alert notifications to a WeCom group robot (企业微信群机器人).
//!
//! `POST {url}` (the robot's `…/cgi-bin/webhook/send?key=…`) with
//! `{"msgtype":"markdown","markdown":{"content"}}`; the content is at most
//! 4096 bytes of UTF-8. WeCom answers `{"errcode":0,"errmsg":"ok"}` on
//! success; any other errcode (45009: more than 20 messages a minute;
//! 93000: invalid key) fails the batch and the outbox retries it with
//! backoff. Up to [`MAX_BATCH`] alerts go out as one message. The key in
//! the URL is a secret: errors name the host only.

use super::dingtalk_robot::{check_reply, without_url};
use super::http::{client, post_json};
use super::{DeliveryError, Destination};
use crate::alerts::message::robot_markdown;
use crate::store::outbox::OutboxMessage;

pub const MAX_BATCH: usize = 5;
/// WeCom's documented limit for markdown content.
pub const MAX_CONTENT_BYTES: usize = 4_096;

pub struct WecomRobot {
    target: String,
    url: String,
    client: reqwest::blocking::Client,
}

pub fn body(messages: &[OutboxMessage]) -> serde_json::Value {
    let markdown = robot_markdown(messages, MAX_CONTENT_BYTES);
    serde_json::json!({
        "msgtype": "markdown",
        "markdown": {"content": markdown.text},
    })
}

impl WecomRobot {
    pub fn new(target: String, url: String) -> Result<Self, DeliveryError> {
        let client = client(&target)?;
        Ok(WecomRobot {
            target,
            url,
            client,
        })
    }
}

impl Destination for WecomRobot {
    fn target(&self) -> &str {
        &self.target
    }

    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    fn deliver(&self, messages: &[OutboxMessage]) -> Result<(), DeliveryError> {
        let body = body(messages).to_string();
        let reply = post_json(&self.client, &self.target, &self.url, body.as_bytes(), &[])
            .map_err(|error| without_url(error, &self.url))?;
        check_reply(&self.target, &reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: i64, text: &str) -> OutboxMessage {
        OutboxMessage {
            id,
            target: "alerts.wecom".into(),
            payload: serde_json::json!({
                "id": id, "rule": "r", "key": format!("r:{id}"), "kind": "tag_spike",
                "severity": "warning", "title": format!("告警 {id}"), "text": text,
                "detail": {}, "link": format!("http://x/{id}"), "fired_at": 0, "targets": []
            }),
            created_at: 0,
            attempts: 0,
        }
    }

    #[test]
    fn body_is_markdown_content_within_the_limit() {
        let long_text = "差评".repeat(3_000);
        let batch: Vec<OutboxMessage> = (1..=3).map(|id| message(id, &long_text)).collect();
        let body = body(&batch);
        assert_eq!(body["msgtype"], "markdown");
        let content = body["markdown"]["content"].as_str().expect("content");
        assert!(
            content.len() <= MAX_CONTENT_BYTES,
            "{} bytes",
            content.len()
        );
        for id in 1..=3 {
            assert!(
                content.contains(&format!("http://x/{id}")),
                "every alert keeps its link"
            );
        }
    }
}
