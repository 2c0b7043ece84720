//! Chat platforms' webhooks in: authenticate with the platform's adapter
//! (`webhooks::*`), then append each message as a turn of its conversation
//! (see `store::conversations`), then answer. Nothing is stored unless the
//! adapter accepted the request; analysis happens later in the worker, so
//! the answer goes out well within every platform's deadline.

use std::sync::Arc;

use super::wecom_pull::{PullQueue, PullRequest};
use super::Wakeup;
use crate::config::WebhookSettings;
use crate::feedback::Segment;
use crate::store::conversations::{ChatTurn, TurnsReport};
use crate::store::{Store, StoreError};
use crate::webhooks::{
    dingtalk, feishu, generic, slack, wecom, InboundMessage, WebhookError, WebhookOutcome,
    WebhookReply, WebhookRequest,
};

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("no webhook is configured for `{0}`")]
    UnknownPlatform(String),
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct ChatReceiver {
    store: Arc<Store>,
    wakeup: Arc<Wakeup>,
    settings: WebhookSettings,
    /// The WeCom pull worker's queue, when WeCom is configured.
    wecom_pulls: Option<PullQueue>,
    /// Turns are masked like every item; a customer's sender id becomes the
    /// conversation's consumer id, hashed when asked.
    privacy: super::Privacy,
}

impl ChatReceiver {
    pub fn new(
        store: Arc<Store>,
        wakeup: Arc<Wakeup>,
        settings: WebhookSettings,
        wecom_pulls: Option<PullQueue>,
        privacy: super::Privacy,
    ) -> ChatReceiver {
        ChatReceiver {
            store,
            wakeup,
            settings,
            wecom_pulls,
            privacy,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Handles one webhook request for `platform` (the path segment).
    /// Blocking: call from a blocking thread.
    pub fn receive(
        &self,
        platform: &str,
        request: &WebhookRequest<'_>,
        now: i64,
    ) -> Result<WebhookReply, ChatError> {
        let webhooks = &self.settings;
        let unknown = || ChatError::UnknownPlatform(platform.to_string());
        let (channel, outcome) = match platform {
            wecom::PLATFORM => {
                let config = webhooks.wecom.as_ref().ok_or_else(unknown)?;
                (wecom::PLATFORM, wecom::handle(config, request, now)?)
            }
            dingtalk::PLATFORM => {
                let config = webhooks.dingtalk.as_ref().ok_or_else(unknown)?;
                (dingtalk::PLATFORM, dingtalk::handle(config, request, now)?)
            }
            feishu::PLATFORM => {
                let config = webhooks.feishu.as_ref().ok_or_else(unknown)?;
                (feishu::PLATFORM, feishu::handle(config, request, now)?)
            }
            slack::PLATFORM => {
                let config = webhooks.slack.as_ref().ok_or_else(unknown)?;
                (slack::PLATFORM, slack::handle(config, request, now)?)
            }
            name => {
                let (name, config) = webhooks.generic.get_key_value(name).ok_or_else(unknown)?;
                (name.as_str(), generic::handle(config, request, now)?)
            }
        };
        match outcome {
            WebhookOutcome::Reply(reply) => Ok(reply),
            WebhookOutcome::Messages { messages, reply } => {
                self.store_messages(channel, &messages, now)?;
                Ok(reply)
            }
            WebhookOutcome::WecomPull {
                token,
                open_kfid,
                reply,
            } => {
                match &self.wecom_pulls {
                    // The worker is gone only at shutdown; the next callback
                    // pulls from the saved cursor.
                    Some(queue) => drop(queue.send(PullRequest {
                        open_kfid,
                        token: (!token.is_empty()).then_some(token),
                    })),
                    None => tracing::warn!("WeCom callback received but no pull worker runs"),
                }
                Ok(reply)
            }
        }
    }

    /// Appends messages to their conversations on `channel`.
    pub fn store_messages(
        &self,
        channel: &str,
        messages: &[InboundMessage],
        now: i64,
    ) -> Result<TurnsReport, StoreError> {
        if messages.is_empty() {
            return Ok(TurnsReport::default());
        }
        let turns: Vec<ChatTurn> = messages
            .iter()
            .map(|message| ChatTurn {
                conversation_key: message.conversation_key.clone(),
                sender_id: self.privacy.consumer_ids.stored(&message.sender_id),
                segment: Segment {
                    speaker: message.speaker,
                    text: self.privacy.mask_text(&message.text),
                    start_ms: None,
                    end_ms: None,
                    at: Some(message.sent_at),
                    message_id: Some(message.message_id.clone()),
                    kind: None,
                },
                raw_text: self.privacy.raw_message(&message.text),
            })
            .collect();
        let report = self.store.append_chat_turns(
            channel,
            &turns,
            self.settings.chat_idle_minutes as i64 * 60,
            now,
        )?;
        if report.stored > 0 {
            self.wakeup.notify();
        }
        Ok(report)
    }
}
