//! Consumer profiles and derived consumer tags, for the CDP.
//!
//! Every analysed item with a `consumer_id` updates that consumer
//! incrementally: the item's contribution (time, source, sentiment, tag
//! mentions) is recorded under its feedback id, then only that consumer is
//! re-evaluated against the rules of `lexicons/consumer_tags.toml`
//! ([`rules`]). Counts over 30/90/365 days are computed from the
//! contributions when a profile is read, so they are exact at any moment;
//! the derived tags are stored (audiences are selected by tag) and
//! re-evaluated whenever time alone may change them: each consumer carries
//! the next moment a window edge passes one of their items or an idle
//! threshold is reached, and [`ConsumerProfiles`] refreshes the consumers
//! that are due.
//!
//! Tag changes (added, removed) go to the outbox in the same transaction
//! when a CDP is configured, and are pushed by the delivery thread: batched,
//! signed like the generic inbound webhook, retried with backoff, kept
//! across restarts, in order per deployment.

pub mod history;
pub mod ids;
pub mod rules;

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::ingest::projections::{Projection, ProjectionError};
use crate::store::consumers::{
    AudienceQuery, AudienceRow, ConsumerRefresh, TagChange, TagEvaluation,
};
use crate::store::events::AnalysedEvent;
use crate::store::{Store, StoreError};
use history::Profile;
use rules::ConsumerTagRules;

pub const PROJECTION: &str = "consumers";
/// Outbox target of CDP tag-change messages.
pub const CDP_TARGET: &str = "cdp";
/// How often time-driven re-evaluation looks for due consumers.
const REVIEW_INTERVAL: Duration = Duration::from_secs(60);
const REVIEW_BATCH: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("unknown consumer tag {0:?}; see GET /api/v1/consumer-tags")]
    UnknownTag(String),
    #[error("no feedback from consumer {0:?}")]
    NotFound(String),
}

/// `[consumers]` in the config file.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsumerSettings {
    /// When set, consumer ids are replaced at ingest by a keyed hash (see [`ids`]).
    pub id_salt: Option<String>,
    /// Where tag changes are pushed; off when absent.
    pub cdp: Option<CdpSettings>,
}
crate::webhooks::redacted_debug!(ConsumerSettings: id_salt);

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdpSettings {
    pub url: String,
    /// Signs each push (`X-Xinsheng-Signature`, as the generic inbound webhook).
    pub secret: String,
    /// Most tag changes per request.
    #[serde(default = "default_cdp_batch")]
    pub max_batch: usize,
}
crate::webhooks::redacted_debug!(CdpSettings: secret);

impl ConsumerSettings {
    pub fn consumer_ids(&self) -> ids::ConsumerIds {
        ids::ConsumerIds::new(self.id_salt.clone())
    }
}

fn default_cdp_batch() -> usize {
    500
}

/// The CDP's message for one tag change (delivered inside `{"changes": [...]}`).
pub fn change_message(
    rules: &ConsumerTagRules,
    change: &TagChange<'_>,
    utc_offset_seconds: i64,
) -> serde_json::Value {
    let rule = rules.find(change.tag);
    serde_json::json!({
        "consumer_id": change.consumer_id,
        "tag": change.tag,
        "tag_name": rule.map(|rule| rule.name.as_str()),
        "change": change.change,
        "strength": change.strength,
        "at": crate::time::format_rfc3339(change.at, utc_offset_seconds),
        "tags": change.current_tags,
    })
}

pub struct ConsumerProfiles {
    pub store: Arc<Store>,
    pub rules: Arc<ConsumerTagRules>,
    pub push_to_cdp: bool,
    pub utc_offset_seconds: i64,
    last_review: Mutex<Option<Instant>>,
}

impl ConsumerProfiles {
    pub fn new(
        store: Arc<Store>,
        rules: Arc<ConsumerTagRules>,
        push_to_cdp: bool,
        utc_offset_seconds: i64,
    ) -> Self {
        ConsumerProfiles {
            store,
            rules,
            push_to_cdp,
            utc_offset_seconds,
            last_review: Mutex::new(None),
        }
    }

    fn with_refresh<T>(&self, now: i64, work: impl FnOnce(&ConsumerRefresh<'_>) -> T) -> T {
        let evaluate = |_consumer_id: &str, items: &[history::ConsumerItem]| {
            let (tags, next_review_at) = history::derived_tags(items, &self.rules, now);
            TagEvaluation {
                tags: tags.into_iter().map(|tag| (tag.id, tag.strength)).collect(),
                next_review_at,
            }
        };
        let message =
            |change: &TagChange<'_>| change_message(&self.rules, change, self.utc_offset_seconds);
        let refresh = ConsumerRefresh {
            evaluate: &evaluate,
            outbox: self.push_to_cdp.then_some((
                CDP_TARGET,
                &message as &dyn Fn(&TagChange<'_>) -> serde_json::Value,
            )),
            now,
        };
        work(&refresh)
    }

    /// Re-evaluates consumers whose tags time alone may have changed by `now`.
    pub fn review_due(&self, now: i64) -> Result<usize, StoreError> {
        let mut refreshed = 0;
        loop {
            let (count, _) = self.with_refresh(now, |refresh| {
                self.store.refresh_due_consumers(refresh, REVIEW_BATCH)
            })?;
            refreshed += count;
            if count < REVIEW_BATCH {
                return Ok(refreshed);
            }
        }
    }
}

impl Projection for ConsumerProfiles {
    fn name(&self) -> &'static str {
        PROJECTION
    }

    fn apply(&self, events: &[AnalysedEvent]) -> Result<(), ProjectionError> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        let items: Vec<_> = events
            .iter()
            .filter_map(|event| history::contribution(&event.item))
            .collect();
        let now = crate::time::now_unix();
        self.with_refresh(now, |refresh| {
            self.store
                .apply_consumer_items(PROJECTION, last.seq, items, refresh)
        })?;
        Ok(())
    }

    fn maintain(&self) -> Result<(), ProjectionError> {
        {
            let mut last_review = self.last_review.lock();
            if last_review.is_some_and(|at| at.elapsed() < REVIEW_INTERVAL) {
                return Ok(());
            }
            *last_review = Some(Instant::now());
        }
        let refreshed = self.review_due(crate::time::now_unix())?;
        if refreshed > 0 {
            tracing::debug!(refreshed, "consumer tags re-evaluated as time passed");
        }
        Ok(())
    }
}

/// A consumer as `GET /api/v1/consumers/{id}` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ConsumerView {
    #[serde(flatten)]
    pub profile: Profile,
    /// Since when each current tag has held (from the stored tags).
    pub tag_since: std::collections::BTreeMap<String, i64>,
    pub updated_at: i64,
    /// Their follow-ups in the queue, by status, and the newest one.
    pub followups: crate::store::followups::ConsumerFollowups,
}

/// The profile computed now from the consumer's contributions.
pub fn consumer_view(
    store: &Store,
    rules: &ConsumerTagRules,
    consumer_id: &str,
    now: i64,
) -> Result<ConsumerView, ConsumerError> {
    let Some(record) = store.consumer_record(consumer_id)? else {
        return Err(ConsumerError::NotFound(consumer_id.to_string()));
    };
    let items = store.consumer_items(consumer_id)?;
    Ok(ConsumerView {
        profile: history::profile(consumer_id, &items, rules, now),
        tag_since: record
            .tags
            .into_iter()
            .map(|tag| (tag.tag, tag.since))
            .collect(),
        updated_at: record.updated_at,
        followups: store.consumer_followups(consumer_id)?,
    })
}

#[derive(Debug, Clone)]
pub struct AudienceRequest {
    /// Tag id or display name.
    pub tag: String,
    pub min_count: u64,
    pub updated_since: Option<i64>,
    pub after: Option<String>,
    pub limit: usize,
}

/// One page of the consumers carrying a tag; the tag id is resolved from
/// either its id or its name.
pub fn audience(
    store: &Store,
    rules: &ConsumerTagRules,
    request: &AudienceRequest,
) -> Result<(String, Vec<AudienceRow>), ConsumerError> {
    let rule = rules
        .find(&request.tag)
        .ok_or_else(|| ConsumerError::UnknownTag(request.tag.clone()))?;
    let rows = store.audience(&AudienceQuery {
        tag: rule.id.clone(),
        min_strength: request.min_count,
        updated_since: request.updated_since,
        after: request.after.clone(),
        limit: request.limit,
    })?;
    Ok((rule.id.clone(), rows))
}
