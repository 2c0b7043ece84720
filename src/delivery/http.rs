//! JSON over HTTP POST, signed like Xinsheng's inbound generic webhook
//! (`X-Xinsheng-Timestamp`, `X-Xinsheng-Signature: sha256=HMAC(secret,
//! timestamp + "." + body)`), so a receiver verifies both directions with
//! the same code. Any 2xx answer accepts the whole batch.

use std::time::Duration;

use super::{DeliveryError, Destination};
use crate::store::outbox::OutboxMessage;

pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A blocking client for the delivery thread.
pub fn client(target: &str) -> Result<reqwest::blocking::Client, DeliveryError> {
    reqwest::blocking::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|error| DeliveryError::Client {
            target: target.to_string(),
            message: error.to_string(),
        })
}

/// POSTs `body` and returns the answer's text when the status is 2xx.
pub fn post_json(
    client: &reqwest::blocking::Client,
    target: &str,
    url: &str,
    body: &[u8],
    extra_headers: &[(&str, String)],
) -> Result<String, DeliveryError> {
    let mut request = client
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_vec());
    for (name, value) in extra_headers {
        request = request.header(*name, value);
    }
    let response = request.send().map_err(|error| DeliveryError::Unreachable {
        target: target.to_string(),
        url: url.to_string(),
        message: error.to_string(),
    })?;
    let status = response.status();
    let text = response.text().unwrap_or_default();
    if !status.is_success() {
        let excerpt: String = text.chars().take(200).collect();
        return Err(DeliveryError::Refused {
            target: target.to_string(),
            message: format!("HTTP {status}: {excerpt}"),
        });
    }
    Ok(text)
}

/// Delivers batches as `{"<envelope>": [message, ...]}`, each message being
/// its payload object with `delivery_id` added.
pub struct SignedJsonDestination {
    pub target: String,
    pub url: String,
    pub secret: String,
    pub envelope: &'static str,
    pub max_batch: usize,
    pub client: reqwest::blocking::Client,
}

impl SignedJsonDestination {
    pub fn body(&self, messages: &[OutboxMessage]) -> Vec<u8> {
        let items: Vec<serde_json::Value> = messages
            .iter()
            .map(|message| {
                let mut item = message.payload.clone();
                if let Some(object) = item.as_object_mut() {
                    object.insert("delivery_id".into(), serde_json::json!(message.id));
                }
                item
            })
            .collect();
        serde_json::json!({ self.envelope: items })
            .to_string()
            .into_bytes()
    }
}

impl Destination for SignedJsonDestination {
    fn target(&self) -> &str {
        &self.target
    }

    fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn deliver(&self, messages: &[OutboxMessage]) -> Result<(), DeliveryError> {
        let body = self.body(messages);
        let timestamp = crate::time::now_unix().to_string();
        let signature = crate::webhooks::generic::sign(&self.secret, &timestamp, &body);
        post_json(
            &self.client,
            &self.target,
            &self.url,
            &body,
            &[
                ("X-Xinsheng-Timestamp", timestamp),
                ("X-Xinsheng-Signature", signature),
            ],
        )?;
        Ok(())
    }
}
