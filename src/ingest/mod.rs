//! Ingest: append, acknowledge, then analyse in batches.
//!
//! Guarantees:
//! - An item is acknowledged (HTTP 202 with its id) only after the database
//!   transaction that stores it has committed. A killed process loses no
//!   acknowledged item.
//! - A request is all or nothing: if any item is invalid, the answer lists
//!   every invalid item and nothing is stored, so a client can fix and resend
//!   the same request; re-sending is safe because items are idempotent by
//!   (source, channel, external_id).
//! - Analysis and indexing run on a dedicated worker thread ([`worker`]),
//!   which takes pending items from the database, so restarts resume where
//!   the last committed index batch ended.

pub mod chat;
pub mod import;
pub mod projections;
pub mod transcript;
pub mod validate;
pub mod wecom_pull;
pub mod worker;

use std::sync::Arc;

use crate::consumers::ids::ConsumerIds;

use parking_lot::{Condvar, Mutex};

use crate::store::{Inserted, Store, StoreError};
use validate::{BodyError, ItemError, Limits};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("{} of {total} items are invalid; nothing was stored", errors.len())]
    InvalidItems {
        errors: Vec<ItemError>,
        total: usize,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Wakes the analysis worker when new items are stored.
#[derive(Default)]
pub struct Wakeup {
    pending: Mutex<bool>,
    condvar: Condvar,
}

impl Wakeup {
    pub fn notify(&self) {
        *self.pending.lock() = true;
        self.condvar.notify_all();
    }

    /// Waits until notified or `timeout` passes.
    pub fn wait(&self, timeout: std::time::Duration) {
        let mut pending = self.pending.lock();
        if !*pending {
            self.condvar.wait_for(&mut pending, timeout);
        }
        *pending = false;
    }
}

pub struct Ingestor {
    store: Arc<Store>,
    wakeup: Arc<Wakeup>,
    limits: Limits,
    consumer_ids: ConsumerIds,
}

impl Ingestor {
    pub fn new(
        store: Arc<Store>,
        wakeup: Arc<Wakeup>,
        limits: Limits,
        consumer_ids: ConsumerIds,
    ) -> Ingestor {
        Ingestor {
            store,
            wakeup,
            limits,
            consumer_ids,
        }
    }

    /// Parses, validates and durably stores a request body. Blocking: call
    /// from a blocking thread.
    pub fn ingest_body(&self, body: &[u8]) -> Result<Vec<Inserted>, IngestError> {
        let values = validate::parse_items(body, &self.limits)?;
        let now = crate::time::now_unix();
        let mut items = Vec::with_capacity(values.len());
        let mut errors = Vec::new();
        for (index, value) in values.iter().enumerate() {
            match validate::validate_item(index, value, &self.limits, now) {
                Ok(mut item) => {
                    self.consumer_ids.apply(&mut item.consumer_id);
                    items.push(item)
                }
                Err(error) => errors.push(error),
            }
        }
        if !errors.is_empty() {
            return Err(IngestError::InvalidItems {
                errors,
                total: values.len(),
            });
        }
        let inserted = self.store.insert_batch(&items, now)?;
        if inserted.iter().any(|item| !item.duplicate || item.updated) {
            self.wakeup.notify();
        }
        Ok(inserted)
    }
}
