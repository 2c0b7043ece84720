//! Delivery of outbox messages to other systems: the CDP's tag-change
//! webhook, alert notifications to group robots and generic webhooks.
//!
//! One std thread (HTTP clients here are blocking) takes due messages per
//! target from the outbox ([`crate::store::outbox`]), hands up to
//! `max_batch` of them to that target's [`Destination`], and records the
//! outcome: delivered, or failed with the next attempt pushed back
//! exponentially (`initial_backoff` doubling per attempt up to
//! `max_backoff`). Delivery is at least once: a receiver that accepted a
//! batch but whose answer was lost sees it again, so every message carries
//! its `delivery_id` for de-duplication.

pub mod dingtalk_robot;
pub mod http;
pub mod wecom_robot;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::ingest::Wakeup;
use crate::store::outbox::OutboxMessage;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("{target}: cannot reach {url}: {message}")]
    Unreachable {
        target: String,
        url: String,
        message: String,
    },
    #[error("{target}: receiver refused the delivery: {message}")]
    Refused { target: String, message: String },
    #[error("{target}: cannot build the HTTP client: {message}")]
    Client { target: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub trait Destination: Send {
    /// The outbox `target` this destination delivers.
    fn target(&self) -> &str;
    /// Most messages per delivery (1 for receivers that take one message per call).
    fn max_batch(&self) -> usize;
    /// Delivers all of `messages` or fails as a whole.
    fn deliver(&self, messages: &[OutboxMessage]) -> Result<(), DeliveryError>;
}

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// Delay before the next attempt after `attempts` failed ones (≥ 1).
    pub fn delay(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        self.initial
            .saturating_mul(1u32 << doublings)
            .min(self.max)
            .max(Duration::from_secs(1))
    }
}

/// How long the thread sleeps when nothing is due and nobody wakes it.
const IDLE_POLL: Duration = Duration::from_secs(1);

pub struct DeliveryWorker {
    pub store: Arc<Store>,
    pub backoff: Backoff,
}

impl DeliveryWorker {
    /// Delivers everything due now, once per target; returns how many
    /// messages were delivered.
    pub fn deliver_due(&self, destinations: &[Box<dyn Destination>], now: i64) -> usize {
        let mut delivered = 0;
        for destination in destinations {
            match self.deliver_target(destination.as_ref(), now) {
                Ok(count) => delivered += count,
                Err(error) => {
                    tracing::warn!(target = destination.target(), %error, "delivery failed; retried later")
                }
            }
        }
        delivered
    }

    fn deliver_target(
        &self,
        destination: &dyn Destination,
        now: i64,
    ) -> Result<usize, DeliveryError> {
        let mut delivered = 0;
        loop {
            let batch_limit = destination.max_batch().max(1);
            let due = self
                .store
                .due_outbox(destination.target(), now, batch_limit)?;
            if due.is_empty() {
                return Ok(delivered);
            }
            let ids: Vec<i64> = due.iter().map(|message| message.id).collect();
            match destination.deliver(&due) {
                Ok(()) => {
                    self.store.outbox_delivered(&ids, crate::time::now_unix())?;
                    delivered += ids.len();
                }
                Err(error) => {
                    let attempts = due
                        .iter()
                        .map(|message| message.attempts)
                        .max()
                        .unwrap_or(0)
                        + 1;
                    let next_attempt_at = now + self.backoff.delay(attempts).as_secs() as i64;
                    self.store
                        .outbox_failed(&ids, next_attempt_at, &error.to_string())?;
                    return Err(error);
                }
            }
            if due.len() < batch_limit {
                return Ok(delivered);
            }
        }
    }

    /// The delivery thread's loop; `make_destinations` runs on this thread
    /// because blocking HTTP clients must not be built inside the async server.
    pub fn run(
        &self,
        make_destinations: impl FnOnce() -> Vec<Box<dyn Destination>>,
        wakeup: &Wakeup,
        shutdown: &AtomicBool,
    ) {
        let destinations = make_destinations();
        if destinations.is_empty() {
            return;
        }
        while !shutdown.load(Ordering::Relaxed) {
            self.deliver_due(&destinations, crate::time::now_unix());
            wakeup.wait(self.idle_wait());
        }
    }

    fn idle_wait(&self) -> Duration {
        let now = crate::time::now_unix();
        match self.store.next_outbox_attempt() {
            Ok(Some(next)) if next > now => Duration::from_secs((next - now) as u64).min(IDLE_POLL),
            _ => IDLE_POLL,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Flaky {
        failures_left: Mutex<u32>,
        received: Arc<Mutex<Vec<i64>>>,
    }

    impl Destination for Flaky {
        fn target(&self) -> &str {
            "test"
        }
        fn max_batch(&self) -> usize {
            2
        }
        fn deliver(&self, messages: &[OutboxMessage]) -> Result<(), DeliveryError> {
            let mut failures_left = self.failures_left.lock().unwrap();
            if *failures_left > 0 {
                *failures_left -= 1;
                return Err(DeliveryError::Refused {
                    target: "test".into(),
                    message: "HTTP 500".into(),
                });
            }
            self.received
                .lock()
                .unwrap()
                .extend(messages.iter().map(|message| message.id));
            Ok(())
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let backoff = Backoff {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(60),
        };
        let delays: Vec<u64> = (1..=6)
            .map(|attempt| backoff.delay(attempt).as_secs())
            .collect();
        assert_eq!(delays, vec![5, 10, 20, 40, 60, 60]);
    }

    #[test]
    fn failed_messages_wait_for_their_backoff_then_arrive_once_in_order() {
        let data_dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(data_dir.path(), false).unwrap());
        for number in 0..3 {
            store
                .enqueue_outbox("test", &serde_json::json!({ "n": number }), 1_000)
                .unwrap();
        }
        store
            .enqueue_outbox("elsewhere", &serde_json::json!({}), 1_000)
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let destinations: Vec<Box<dyn Destination>> = vec![Box::new(Flaky {
            failures_left: Mutex::new(1),
            received: received.clone(),
        })];
        let worker = DeliveryWorker {
            store: store.clone(),
            backoff: Backoff {
                initial: Duration::from_secs(10),
                max: Duration::from_secs(100),
            },
        };
        assert_eq!(worker.deliver_due(&destinations, 1_000), 0);
        // Not due again before the backoff has passed.
        assert_eq!(worker.deliver_due(&destinations, 1_005), 0);
        assert_eq!(worker.deliver_due(&destinations, 1_010), 3);
        assert_eq!(worker.deliver_due(&destinations, 1_020), 0);
        assert_eq!(*received.lock().unwrap(), vec![1, 2, 3]);
        let counts = store.outbox_counts().unwrap();
        assert_eq!(counts["test"].delivered, 3);
        assert_eq!(counts["test"].pending, 0);
        assert_eq!(counts["elsewhere"].pending, 1);
    }
}
