//! Chat platforms' webhooks in: authenticate with the platform's adapter
//! (`webhooks::*`), then append each message as a turn of its conversation
//! (see `store::conversations`), then answer. Nothing is stored unless the
//! adapter accepted the request; analysis happens later in the worker, so
//! the answer goes out well within every platform's deadline.

use std::sync::Arc;

use parking_lot::Mutex;

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
    wecom_pulls: Mutex<Option<PullQueue>>,
}

impl ChatReceiver {
    pub fn new(store: Arc<Store>, wakeup: Arc<Wakeup>, settings: WebhookSettings) -> ChatReceiver {
        ChatReceiver {
            store,
            wakeup,
            settings,
            wecom_pulls: Mutex::new(None),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Where WeCom pull requests go (the pull worker's queue).
    pub fn set_wecom_pull_queue(&self, queue: PullQueue) {
        *self.wecom_pulls.lock() = Some(queue);
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
            "wecom" => {
                let config = webhooks.wecom.as_ref().ok_or_else(unknown)?;
                ("wecom", wecom::handle(&config.callback(), request, now)?)
            }
            "dingtalk" => {
                let config = webhooks.dingtalk.as_ref().ok_or_else(unknown)?;
                ("dingtalk", dingtalk::handle(config, request, now)?)
            }
            "feishu" => {
                let config = webhooks.feishu.as_ref().ok_or_else(unknown)?;
                ("feishu", feishu::handle(config, request, now)?)
            }
            "slack" => {
                let config = webhooks.slack.as_ref().ok_or_else(unknown)?;
                ("slack", slack::handle(config, request, now)?)
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
                let queue = self.wecom_pulls.lock();
                match queue.as_ref() {
                    Some(queue) => {
                        // The worker is gone only at shutdown; the next
                        // callback pulls from the saved cursor.
                        let _ = queue.send(PullRequest {
                            open_kfid,
                            token: (!token.is_empty()).then_some(token),
                        });
                    }
                    None => tracing::warn!("WeCom callback received but no pull worker runs (set webhooks.wecom.secret)"),
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
                sender_id: message.sender_id.clone(),
                segment: Segment {
                    speaker: message.speaker,
                    text: message.text.clone(),
                    start_ms: None,
                    end_ms: None,
                    at: Some(message.sent_at),
                    message_id: Some(message.message_id.clone()),
                    kind: None,
                },
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
