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
use crate::feedback::NewFeedback;
use crate::nlp::pii;

use parking_lot::{Condvar, Mutex};

use crate::store::raw_texts::RawText;
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
    #[error(
        "{pending} items are waiting for analysis (limit {limit}); nothing was stored, retry later"
    )]
    Overloaded { pending: u64, limit: u64 },
}

/// What a refused client is told to wait, in seconds: about the time the
/// worker needs for a few thousand items.
pub const OVERLOAD_RETRY_AFTER_SECONDS: u64 = 5;

/// How stale the pending count used for back-pressure may be: counting on
/// every request would take the database lock from the worker.
const PENDING_COUNT_TTL: std::time::Duration = std::time::Duration::from_millis(250);

/// Refuses new items while the analysis queue is longer than `limit`, so a
/// flood costs disk up to a bound and never memory: items wait in the
/// database, not in RAM, and a client is told to come back.
#[derive(Debug)]
pub struct BackPressure {
    limit: u64,
    counted: Mutex<Option<(std::time::Instant, u64)>>,
}

impl BackPressure {
    pub fn new(limit: u64) -> BackPressure {
        BackPressure {
            limit,
            counted: Mutex::new(None),
        }
    }

    /// `Ok` when `incoming` more items fit.
    pub fn admit(&self, store: &Store, incoming: usize) -> Result<(), IngestError> {
        if self.limit == 0 {
            return Ok(());
        }
        let pending = self.pending(store)?;
        if pending + incoming as u64 > self.limit && pending > 0 {
            return Err(IngestError::Overloaded {
                pending,
                limit: self.limit,
            });
        }
        let mut counted = self.counted.lock();
        if let Some((_, cached)) = counted.as_mut() {
            *cached += incoming as u64;
        }
        Ok(())
    }

    /// Refuses before any parsing when the queue is already full: under
    /// overload, parsing, validating and masking bodies that will be refused
    /// anyway would take CPU from the analysis that drains the queue.
    pub fn refuse_if_full(&self, store: &Store) -> Result<(), IngestError> {
        if self.limit == 0 {
            return Ok(());
        }
        let pending = self.pending(store)?;
        if pending >= self.limit {
            return Err(IngestError::Overloaded {
                pending,
                limit: self.limit,
            });
        }
        Ok(())
    }

    fn pending(&self, store: &Store) -> Result<u64, IngestError> {
        let mut counted = self.counted.lock();
        Ok(match *counted {
            Some((at, pending)) if at.elapsed() < PENDING_COUNT_TTL => pending,
            _ => {
                let pending = store.queue_counts()?.pending;
                *counted = Some((std::time::Instant::now(), pending));
                pending
            }
        })
    }
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

/// What ingest does to every item before it is stored or indexed, whatever
/// its path (API, file import, chat webhook): personal data masked
/// ([`pii`]), consumer ids hashed when the deployment asks for it.
#[derive(Debug, Clone, Default)]
pub struct Privacy {
    pub mask_personal_data: bool,
    /// Keep the unmasked originals apart (`keep_raw_text`); off by default.
    pub keep_raw_text: bool,
    pub consumer_ids: ConsumerIds,
}

impl Privacy {
    /// Masks the item in place. Returns its unmasked texts when the
    /// deployment keeps them (empty otherwise).
    pub fn apply(&self, item: &mut NewFeedback) -> Vec<RawText> {
        self.consumer_ids.apply(&mut item.consumer_id);
        let originals = if self.keep_raw_text && self.mask_personal_data {
            let mut originals = vec![RawText {
                origin: "text".into(),
                text: item.text.clone(),
            }];
            originals.extend(
                item.segments
                    .iter()
                    .enumerate()
                    .map(|(n, segment)| RawText {
                        origin: format!("segment:{n}"),
                        text: segment.text.clone(),
                    }),
            );
            originals
        } else {
            Vec::new()
        };
        if !self.mask_personal_data {
            return originals;
        }
        let replacements = item.meta.as_mut().map(pii::mask_meta).unwrap_or_default();
        let mask = |text: &str| pii::mask_values(&pii::mask_text(text), &replacements).into_owned();
        item.text = mask(&item.text);
        for segment in &mut item.segments {
            segment.text = mask(&segment.text);
        }
        originals
    }

    /// A chat message's unmasked text, when the deployment keeps originals.
    pub fn raw_message(&self, text: &str) -> Option<String> {
        (self.keep_raw_text && self.mask_personal_data).then(|| text.to_string())
    }

    pub fn mask_text(&self, text: &str) -> String {
        if self.mask_personal_data {
            pii::mask_text(text).into_owned()
        } else {
            text.to_string()
        }
    }
}

pub struct Ingestor {
    store: Arc<Store>,
    wakeup: Arc<Wakeup>,
    limits: Limits,
    privacy: Privacy,
    back_pressure: BackPressure,
}

impl Ingestor {
    pub fn new(
        store: Arc<Store>,
        wakeup: Arc<Wakeup>,
        limits: Limits,
        privacy: Privacy,
        back_pressure: BackPressure,
    ) -> Ingestor {
        Ingestor {
            store,
            wakeup,
            limits,
            privacy,
            back_pressure,
        }
    }

    /// Parses, validates and durably stores a request body. Blocking: call
    /// from a blocking thread.
    pub fn ingest_body(&self, body: &[u8]) -> Result<Vec<Inserted>, IngestError> {
        self.back_pressure.refuse_if_full(&self.store)?;
        let values = validate::parse_items(body, &self.limits)?;
        let now = crate::time::now_unix();
        let mut items = Vec::with_capacity(values.len());
        let mut originals = Vec::new();
        let mut errors = Vec::new();
        for (index, value) in values.iter().enumerate() {
            match validate::validate_item(index, value, &self.limits, now) {
                Ok(mut item) => {
                    originals.push(self.privacy.apply(&mut item));
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
        self.back_pressure.admit(&self.store, items.len())?;
        let inserted = self.store.insert_batch_keeping(&items, &originals, now)?;
        if inserted.iter().any(|item| !item.duplicate || item.updated) {
            self.wakeup.notify();
        }
        Ok(inserted)
    }
}
