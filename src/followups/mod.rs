//! The follow-up queue (跟进队列): negative feedback worth contacting before
//! it turns into a refund or a public complaint.
//!
//! **Filling the queue.** [`projection::FollowupProjection`] is a projection
//! of the analysis event log ([`crate::store::events`]): after every index
//! commit it reads the items analysed since its cursor and, for each one
//! that is negative (overall sentiment or a negative tag), a refund, or
//! carries a complaint threat even where the models missed the sentiment,
//! computes its signals and score ([`severity`]). Items at or above
//! `followups.min_severity` get one follow-up each (keyed by feedback id).
//! The consumer's history (`repeat`) is counted from the database, for the
//! whole batch in one lookup, up to the item's own time, so the result
//! does not depend on how items were batched or in which order they came.
//!
//! **What re-analysis may change.** An item analysed again (a 追评, more
//! chat turns, `reindex --reanalyse`) brings a new event: its follow-up's
//! signals, score and severity are recomputed, never its status, assignee,
//! note, or contact and resolution times. A resolved follow-up is never
//! reopened by the machine, and a contacted one never goes back to open:
//! only people move statuses. If the item no longer qualifies, its
//! follow-up leaves the queue only while it is open and no person has acted
//! on it; otherwise it stays, with its new (lower) severity.
//!
//! **Statuses.** `open → contacted → resolved`; `open → resolved` (resolved
//! without contact: `contacted_at` stays empty), `contacted → open` (undo:
//! `contacted_at` is cleared), `resolved → open` (reopen: `resolved_at` is
//! cleared, the first contact time kept). `resolved → contacted` is refused:
//! reopen first. Every change by a person is written to an append-only
//! history with the previous and new value.
//!
//! **Numbers.** Stats count follow-ups by the time of their feedback item
//! (as boards do); time to contact is `contacted_at - queued_at` of those
//! among them that were contacted; the median is reported in minutes.

pub mod projection;
pub mod severity;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::feedback::Polarity;
use crate::nlp::lexicon::TagDefinition;
use crate::store::followups::{
    FollowupChange, FollowupFilter, FollowupRow, HistoryRow, UpdateOutcome,
};
use crate::store::{Store, StoreError};
use severity::{Severity, Signal};

/// Largest page of `GET /api/v1/followups`.
pub const MAX_PAGE: usize = 200;
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_ASSIGNEE_CHARS: usize = 100;
pub const MAX_NOTE_CHARS: usize = 2000;
pub const MAX_ACTOR_CHARS: usize = 100;
/// Attempts at a status change that races another one.
const UPDATE_ATTEMPTS: usize = 3;

/// `[followups]` in `xinsheng.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FollowupSettings {
    /// Lowest severity that enters the queue: 1-4 or low, medium, high,
    /// critical. Env: `XINSHENG_FOLLOWUPS_MIN_SEVERITY`.
    pub min_severity: Severity,
    /// Order amount (yuan) from which `high_value` applies. Env:
    /// `XINSHENG_FOLLOWUPS_HIGH_VALUE_AMOUNT`.
    pub high_value_amount: f64,
    /// `repeat`: negative items of the same consumer within this many days...
    pub repeat_window_days: u32,
    /// ...at least this many, the item itself included (2 or more).
    pub repeat_min_items: u32,
}

impl Default for FollowupSettings {
    fn default() -> Self {
        FollowupSettings {
            min_severity: Severity::Medium,
            high_value_amount: 1000.0,
            repeat_window_days: 30,
            repeat_min_items: 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FollowupStatus {
    Open,
    Contacted,
    Resolved,
}

impl FollowupStatus {
    pub const ALL: [FollowupStatus; 3] = [
        FollowupStatus::Open,
        FollowupStatus::Contacted,
        FollowupStatus::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FollowupStatus::Open => "open",
            FollowupStatus::Contacted => "contacted",
            FollowupStatus::Resolved => "resolved",
        }
    }

    pub fn parse(value: &str) -> Option<FollowupStatus> {
        FollowupStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == value)
    }
}

/// What a status change does to the contact and resolution times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransitionEffect {
    pub contacted_at: Option<Option<i64>>,
    pub resolved_at: Option<Option<i64>>,
}

/// The allowed moves (see the module docs); `None` when refused. Staying
/// in the same status changes nothing.
pub fn transition(
    from: FollowupStatus,
    to: FollowupStatus,
    contacted_at: Option<i64>,
    now: i64,
) -> Option<TransitionEffect> {
    use FollowupStatus::{Contacted, Open, Resolved};
    let unchanged = TransitionEffect {
        contacted_at: None,
        resolved_at: None,
    };
    match (from, to) {
        (Open, Contacted) => Some(TransitionEffect {
            // A reopened follow-up keeps its first contact: time to contact
            // measures how fast the customer first heard from us.
            contacted_at: Some(Some(contacted_at.unwrap_or(now))),
            resolved_at: None,
        }),
        (Open | Contacted, Resolved) => Some(TransitionEffect {
            contacted_at: None,
            resolved_at: Some(Some(now)),
        }),
        (Contacted, Open) => Some(TransitionEffect {
            contacted_at: Some(None),
            resolved_at: None,
        }),
        (Resolved, Open) => Some(TransitionEffect {
            contacted_at: None,
            resolved_at: Some(None),
        }),
        (Resolved, Contacted) => None,
        (Open, Open) | (Contacted, Contacted) | (Resolved, Resolved) => Some(unchanged),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FollowupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no follow-up with id {0}")]
    NotFound(i64),
    #[error("body is not valid JSON: {0}")]
    MalformedBody(String),
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("a follow-up cannot go from {from} to {to}; reopen it first")]
    Transition {
        from: &'static str,
        to: &'static str,
    },
    #[error("the follow-up was changed by someone else meanwhile; reload and retry")]
    Conflict,
    #[error("stored follow-up {id} is corrupt: {message}")]
    Corrupt { id: i64, message: String },
}

/// A person's change, validated: `None` leaves a field as it is,
/// `Some(None)` clears it (an empty string or `null` in the body).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FollowupUpdate {
    pub status: Option<FollowupStatus>,
    pub assignee: Option<Option<String>>,
    pub note: Option<Option<String>>,
    pub actor: Option<String>,
}

impl FollowupUpdate {
    /// Parses a `PATCH` body: `{"status"?, "assignee"?, "note"?, "actor"?}`.
    pub fn from_json(body: &[u8]) -> Result<FollowupUpdate, FollowupError> {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|error| FollowupError::MalformedBody(error.to_string()))?;
        let serde_json::Value::Object(object) = value else {
            return Err(FollowupError::Invalid {
                field: "body",
                message: "body must be a JSON object with status, assignee or note".into(),
            });
        };
        let mut update = FollowupUpdate::default();
        for (key, value) in &object {
            match key.as_str() {
                "status" => {
                    let status = value
                        .as_str()
                        .and_then(|text| FollowupStatus::parse(text.trim()))
                        .ok_or_else(|| FollowupError::Invalid {
                            field: "status",
                            message: "status must be one of open, contacted, resolved".into(),
                        })?;
                    update.status = Some(status);
                }
                "assignee" => {
                    update.assignee = Some(optional_text(value, "assignee", MAX_ASSIGNEE_CHARS)?)
                }
                "note" => update.note = Some(optional_text(value, "note", MAX_NOTE_CHARS)?),
                "actor" => update.actor = optional_text(value, "actor", MAX_ACTOR_CHARS)?,
                other => {
                    return Err(FollowupError::Invalid {
                        field: "body",
                        message: format!(
                            "unknown field `{other}`; expected status, assignee, note or actor"
                        ),
                    })
                }
            }
        }
        Ok(update)
    }
}

fn optional_text(
    value: &serde_json::Value,
    field: &'static str,
    max_chars: usize,
) -> Result<Option<String>, FollowupError> {
    let text = match value {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::String(text) => text.trim(),
        _ => {
            return Err(FollowupError::Invalid {
                field,
                message: format!("{field} must be a string or null"),
            })
        }
    };
    if text.chars().count() > max_chars {
        return Err(FollowupError::Invalid {
            field,
            message: format!("{field} is longer than {max_chars} characters"),
        });
    }
    Ok((!text.is_empty()).then(|| text.to_string()))
}

/// `GET /api/v1/followups` parameters, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub status: Option<FollowupStatus>,
    pub assignee: Option<String>,
    pub min_severity: Option<Severity>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub limit: usize,
    pub offset: usize,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            status: None,
            assignee: None,
            min_severity: None,
            from: None,
            to: None,
            limit: DEFAULT_PAGE,
            offset: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagView {
    pub tag: String,
    pub polarity: Polarity,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedbackSummary {
    pub text: String,
    pub source: &'static str,
    pub channel: String,
    pub consumer_id: Option<String>,
    pub rating: Option<u8>,
    pub sku: Option<String>,
    pub product_name: Option<String>,
    pub created_at: String,
    pub sentiment: Option<Polarity>,
    pub tags: Vec<TagView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryView {
    pub at: String,
    /// `api` (a person) or `system` (the queue's projection).
    pub by: String,
    pub actor: Option<String>,
    pub field: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// One follow-up as the API shows it (see `/work/contract-ui.md`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FollowupView {
    pub id: i64,
    pub feedback_id: i64,
    /// Level 1-4 (low, medium, high, critical).
    pub severity: u8,
    pub severity_label: &'static str,
    /// The 0-100 weighted sum behind the level.
    pub score: u32,
    pub signals: Vec<Signal>,
    pub status: FollowupStatus,
    pub assignee: Option<String>,
    pub note: Option<String>,
    /// The feedback item's time.
    pub created_at: String,
    /// When it entered the queue.
    pub queued_at: String,
    pub updated_at: String,
    pub contacted_at: Option<String>,
    pub resolved_at: Option<String>,
    pub feedback: FeedbackSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryView>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FollowupPage {
    pub total: u64,
    pub items: Vec<FollowupView>,
}

/// The `followup_stats` widget and `GET /api/v1/followups/stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FollowupStats {
    pub open: u64,
    pub contacted: u64,
    pub resolved: u64,
    pub total: u64,
    /// resolved / total; 0 when there are none.
    pub resolution_rate: f64,
    pub median_minutes_to_contact: Option<f64>,
}

/// The queue as the API and boards read and change it.
pub struct Followups<'a> {
    pub store: &'a Store,
    pub tags: &'a [TagDefinition],
    pub utc_offset_seconds: i64,
}

impl Followups<'_> {
    pub fn list(&self, query: &ListQuery) -> Result<FollowupPage, FollowupError> {
        let filter = FollowupFilter {
            status: query.status,
            assignee: query.assignee.clone(),
            min_severity: query.min_severity.map(Severity::level),
            from: query.from,
            to: query.to,
        };
        let (total, rows) =
            self.store
                .list_followups(&filter, query.limit.min(MAX_PAGE), query.offset)?;
        let names = self.tag_names();
        let items = rows
            .into_iter()
            .map(|row| self.view(row, &names, None))
            .collect::<Result<_, _>>()?;
        Ok(FollowupPage { total, items })
    }

    /// One follow-up with its history.
    pub fn get(&self, id: i64) -> Result<FollowupView, FollowupError> {
        let row = self
            .store
            .get_followup(id)?
            .ok_or(FollowupError::NotFound(id))?;
        let history = self.store.followup_history(id)?;
        self.view(row, &self.tag_names(), Some(history))
    }

    /// Applies a person's change; the answer is the follow-up as it is now.
    pub fn update(
        &self,
        id: i64,
        update: &FollowupUpdate,
        now: i64,
    ) -> Result<FollowupView, FollowupError> {
        for _ in 0..UPDATE_ATTEMPTS {
            let current = self
                .store
                .get_followup(id)?
                .ok_or(FollowupError::NotFound(id))?;
            let mut change = FollowupChange {
                assignee: update.assignee.clone(),
                note: update.note.clone(),
                actor: update.actor.clone(),
                ..FollowupChange::default()
            };
            if let Some(to) = update.status {
                let effect = transition(current.status, to, current.contacted_at, now).ok_or(
                    FollowupError::Transition {
                        from: current.status.as_str(),
                        to: to.as_str(),
                    },
                )?;
                change.status = Some((current.status, to));
                change.contacted_at = effect.contacted_at;
                change.resolved_at = effect.resolved_at;
            }
            match self.store.update_followup(id, &change, now)? {
                UpdateOutcome::Updated(row) => {
                    return self.view(*row, &self.tag_names(), None);
                }
                UpdateOutcome::NotFound => return Err(FollowupError::NotFound(id)),
                // Someone moved the status between our read and write:
                // decide again from the status as it is now.
                UpdateOutcome::Changed => continue,
            }
        }
        Err(FollowupError::Conflict)
    }

    pub fn stats(
        &self,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<FollowupStats, FollowupError> {
        stats(self.store, from, to)
    }

    fn tag_names(&self) -> HashMap<&str, &str> {
        self.tags
            .iter()
            .map(|tag| (tag.id.as_str(), tag.name.as_str()))
            .collect()
    }

    fn time(&self, unix_seconds: i64) -> String {
        crate::time::format_rfc3339(unix_seconds, self.utc_offset_seconds)
    }

    fn view(
        &self,
        row: FollowupRow,
        names: &HashMap<&str, &str>,
        history: Option<Vec<HistoryRow>>,
    ) -> Result<FollowupView, FollowupError> {
        let signals: Vec<Signal> =
            serde_json::from_str(&row.signals_json).map_err(|error| FollowupError::Corrupt {
                id: row.id,
                message: format!("signals: {error}"),
            })?;
        let severity = Severity::from_level(i64::from(row.severity)).ok_or_else(|| {
            FollowupError::Corrupt {
                id: row.id,
                message: format!("severity {}", row.severity),
            }
        })?;
        let feedback = row.feedback;
        Ok(FollowupView {
            id: row.id,
            feedback_id: row.feedback_id,
            severity: severity.level(),
            severity_label: severity.label(),
            score: row.score,
            signals,
            status: row.status,
            assignee: row.assignee,
            note: row.note,
            created_at: self.time(row.created_at),
            queued_at: self.time(row.queued_at),
            updated_at: self.time(row.updated_at),
            contacted_at: row.contacted_at.map(|at| self.time(at)),
            resolved_at: row.resolved_at.map(|at| self.time(at)),
            feedback: FeedbackSummary {
                text: feedback.text,
                source: feedback.source.as_str(),
                channel: feedback.channel,
                consumer_id: feedback.consumer_id,
                rating: feedback.rating,
                sku: feedback.sku,
                product_name: feedback.product_name,
                created_at: self.time(feedback.created_at),
                sentiment: feedback.sentiment,
                tags: feedback
                    .tags
                    .into_iter()
                    .map(|(tag, polarity)| TagView {
                        name: names
                            .get(tag.as_str())
                            .map_or_else(|| tag.clone(), |name| name.to_string()),
                        tag,
                        polarity,
                    })
                    .collect(),
            },
            history: history.map(|rows| {
                rows.into_iter()
                    .map(|row| HistoryView {
                        at: self.time(row.at),
                        by: row.by,
                        actor: row.actor,
                        field: row.field,
                        from: row.old_value,
                        to: row.new_value,
                    })
                    .collect()
            }),
        })
    }
}

/// Numbers of follow-ups whose item time is in `[from, to)` (unbounded
/// where `None`): per status, resolution rate, median minutes from
/// queueing to first contact among those contacted.
pub fn stats(
    store: &Store,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<FollowupStats, FollowupError> {
    let (counts, mut seconds_to_contact) = store.followup_counts(from, to)?;
    let total = counts.open + counts.contacted + counts.resolved;
    seconds_to_contact.sort_unstable();
    let median_seconds = match seconds_to_contact.len() {
        0 => None,
        length if length % 2 == 1 => Some(seconds_to_contact[length / 2] as f64),
        length => Some(
            (seconds_to_contact[length / 2 - 1] as f64 + seconds_to_contact[length / 2] as f64)
                / 2.0,
        ),
    };
    Ok(FollowupStats {
        open: counts.open,
        contacted: counts.contacted,
        resolved: counts.resolved,
        total,
        resolution_rate: if total == 0 {
            0.0
        } else {
            counts.resolved as f64 / total as f64
        },
        // Clock changes can make a contact look earlier than its queueing.
        median_minutes_to_contact: median_seconds.map(|seconds| (seconds / 60.0).max(0.0)),
    })
}

/// For the `followup_stats` board widget: the stats of a board's period.
pub fn board_stats(store: &Store, from: i64, to: i64) -> Result<FollowupStats, FollowupError> {
    stats(store, Some(from), Some(to))
}

/// For the `followup_queue` board widget: the first `limit` open
/// follow-ups, as `GET /api/v1/followups?status=open` answers them.
pub fn open_queue(
    store: &Store,
    tags: &[TagDefinition],
    utc_offset_seconds: i64,
    limit: usize,
) -> Result<FollowupPage, FollowupError> {
    let followups = Followups {
        store,
        tags,
        utc_offset_seconds,
    };
    followups.list(&ListQuery {
        status: Some(FollowupStatus::Open),
        limit,
        ..ListQuery::default()
    })
}

/// What boards read of the queue (`followup_stats`, `followup_queue` widgets).
pub struct BoardFollowups {
    store: std::sync::Arc<Store>,
    tags: Vec<TagDefinition>,
    utc_offset_seconds: i64,
}

impl BoardFollowups {
    pub fn new(
        store: std::sync::Arc<Store>,
        tags: Vec<TagDefinition>,
        utc_offset_seconds: i64,
    ) -> Self {
        BoardFollowups {
            store,
            tags,
            utc_offset_seconds,
        }
    }
}

impl crate::boards::followup_hook::FollowupSource for BoardFollowups {
    fn stats(
        &self,
        from: i64,
        to: i64,
    ) -> Result<FollowupStats, crate::boards::followup_hook::FollowupSourceError> {
        Ok(board_stats(&self.store, from, to)?)
    }

    fn open_queue(
        &self,
        limit: usize,
    ) -> Result<
        crate::boards::followup_hook::FollowupPage,
        crate::boards::followup_hook::FollowupSourceError,
    > {
        let page = open_queue(&self.store, &self.tags, self.utc_offset_seconds, limit)?;
        let items = page
            .items
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(crate::boards::followup_hook::FollowupPage {
            total: page.total,
            items,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FollowupStatus::{Contacted, Open, Resolved};

    #[test]
    fn status_moves_forward_reopens_and_refuses_resolved_to_contacted() {
        let now = 1_000;
        assert_eq!(
            transition(Open, Contacted, None, now),
            Some(TransitionEffect {
                contacted_at: Some(Some(now)),
                resolved_at: None
            })
        );
        // Contacted again after a reopen: the first contact time stays.
        assert_eq!(
            transition(Open, Contacted, Some(400), now).map(|effect| effect.contacted_at),
            Some(Some(Some(400)))
        );
        assert_eq!(
            transition(Contacted, Resolved, Some(400), now),
            Some(TransitionEffect {
                contacted_at: None,
                resolved_at: Some(Some(now))
            })
        );
        // Resolved without contact: contacted_at is left empty.
        assert_eq!(
            transition(Open, Resolved, None, now).map(|effect| effect.contacted_at),
            Some(None)
        );
        assert_eq!(
            transition(Contacted, Open, Some(400), now).map(|effect| effect.contacted_at),
            Some(Some(None))
        );
        assert_eq!(
            transition(Resolved, Open, Some(400), now),
            Some(TransitionEffect {
                contacted_at: None,
                resolved_at: Some(None)
            })
        );
        assert_eq!(transition(Resolved, Contacted, Some(400), now), None);
        assert_eq!(
            transition(Resolved, Resolved, Some(400), now),
            Some(TransitionEffect {
                contacted_at: None,
                resolved_at: None
            })
        );
    }

    #[test]
    fn patch_bodies_are_validated_field_by_field() {
        let update = FollowupUpdate::from_json(
            r#"{"status": "contacted", "assignee": " 小王 ", "note": "", "actor": null}"#
                .as_bytes(),
        )
        .expect("valid");
        assert_eq!(
            update,
            FollowupUpdate {
                status: Some(Contacted),
                assignee: Some(Some("小王".into())),
                note: Some(None),
                actor: None,
            }
        );
        let field_of = |body: &[u8]| match FollowupUpdate::from_json(body) {
            Err(FollowupError::Invalid { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        };
        assert_eq!(field_of(br#"{"status": "closed"}"#), "status");
        assert_eq!(field_of(br#"{"status": 2}"#), "status");
        assert_eq!(field_of(br#"{"assignee": 7}"#), "assignee");
        let long_note = format!(r#"{{"note": "{}"}}"#, "很".repeat(MAX_NOTE_CHARS + 1));
        assert_eq!(field_of(long_note.as_bytes()), "note");
        let long_assignee = format!(
            r#"{{"assignee": "{}"}}"#,
            "a".repeat(MAX_ASSIGNEE_CHARS + 1)
        );
        assert_eq!(field_of(long_assignee.as_bytes()), "assignee");
        assert_eq!(field_of(br#"{"stauts": "open"}"#), "body");
        assert_eq!(field_of(br#"["open"]"#), "body");
        assert!(matches!(
            FollowupUpdate::from_json(b"{"),
            Err(FollowupError::MalformedBody(_))
        ));
        // Exactly at the limits is fine.
        let at_limit = format!(r#"{{"note": "{}"}}"#, "很".repeat(MAX_NOTE_CHARS));
        assert!(FollowupUpdate::from_json(at_limit.as_bytes()).is_ok());
    }

    #[test]
    fn an_empty_queue_has_zero_rates_and_no_median() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), false).expect("open");
        let empty = stats(&store, None, None).expect("stats");
        assert_eq!(empty, FollowupStats::default());
    }
}
