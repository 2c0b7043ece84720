//! The follow-up queue's tables (all of its SQL).
//!
//! - `followups`: one row per queued feedback item (`feedback_id` UNIQUE):
//!   severity and score with the signals behind them (JSON), the status a
//!   person set (`open` → `contacted` → `resolved`), assignee, note, the
//!   item's time (`created_at`), when it entered the queue (`queued_at`),
//!   when it was last changed, contacted and resolved.
//! - `followup_history`: append-only, who changed what when (`by` = `api`
//!   for people, `system` for the projection's severity changes; entering
//!   the queue is `queued_at` on the row itself).
//! - `followup_consumer_negatives`: every negative item that has a
//!   consumer id, whether queued or not, so that "n negative items of this
//!   consumer in 30 days" is one indexed lookup per batch.
//!
//! Invariants kept here, whatever the caller passes: the projection writes
//! only severity, score, signals and the item's time of an existing row,
//! never status, assignee, note or the contact/resolution times; a row
//! leaves the queue only while open and never acted on by a person; a
//! status change happens only from the status the caller read (a
//! concurrent change makes it [`UpdateOutcome::Changed`], never lost).

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

use super::events::set_projection_cursor;
use super::{classify, Store, StoreError};
use crate::feedback::{Polarity, Source};
use crate::followups::FollowupStatus;

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS followups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    feedback_id INTEGER NOT NULL UNIQUE REFERENCES feedback (id) ON DELETE CASCADE,
    consumer_id TEXT,
    severity INTEGER NOT NULL,
    score INTEGER NOT NULL,
    signals TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'contacted', 'resolved')),
    assignee TEXT,
    note TEXT,
    created_at INTEGER NOT NULL,
    queued_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    contacted_at INTEGER,
    resolved_at INTEGER
);
CREATE INDEX IF NOT EXISTS followups_queue
    ON followups (status, severity DESC, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS followups_by_severity
    ON followups (severity DESC, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS followups_by_time ON followups (created_at);
CREATE INDEX IF NOT EXISTS followups_by_consumer ON followups (consumer_id, created_at);
CREATE TABLE IF NOT EXISTS followup_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    followup_id INTEGER NOT NULL REFERENCES followups (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    by TEXT NOT NULL,
    actor TEXT,
    field TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT
);
CREATE INDEX IF NOT EXISTS followup_history_by_followup ON followup_history (followup_id, id);
CREATE TABLE IF NOT EXISTS followup_consumer_negatives (
    feedback_id INTEGER PRIMARY KEY,
    consumer_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS followup_consumer_negatives_by_consumer
    ON followup_consumer_negatives (consumer_id, created_at);
"#;

/// History rows written by the projection.
const BY_SYSTEM: &str = "system";
/// History rows written through the API: a person acted.
const BY_PERSON: &str = "api";

/// Whether one item of a consumer is negative, as of its latest analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerItem<'a> {
    pub feedback_id: i64,
    pub consumer_id: &'a str,
    pub created_at: i64,
    pub negative: bool,
}

/// The projection's verdict on one item.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowupWrite {
    pub feedback_id: i64,
    pub consumer_id: Option<String>,
    /// The item's time.
    pub created_at: i64,
    pub severity: u8,
    pub score: u32,
    /// JSON array of signals.
    pub signals: String,
    /// At or above the minimum severity: queue it (or keep it queued). Below:
    /// take it out of the queue if nobody has acted on it yet; otherwise
    /// just record the new severity.
    pub qualifies: bool,
}

/// A follow-up's projection-owned columns, as stored before a batch.
struct ExistingFollowup {
    id: i64,
    severity: u8,
    score: u32,
    signals: String,
    consumer_id: Option<String>,
    created_at: i64,
    /// Open and never changed by a person: may leave the queue.
    untouched: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppliedCounts {
    pub queued: usize,
    pub rescored: usize,
    pub dropped: usize,
}

/// A follow-up with the summary of its feedback item.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowupRow {
    pub id: i64,
    pub feedback_id: i64,
    pub severity: u8,
    pub score: u32,
    pub signals_json: String,
    pub status: FollowupStatus,
    pub assignee: Option<String>,
    pub note: Option<String>,
    pub created_at: i64,
    pub queued_at: i64,
    pub updated_at: i64,
    pub contacted_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub feedback: FeedbackSummaryRow,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackSummaryRow {
    pub text: String,
    pub source: Source,
    pub channel: String,
    pub consumer_id: Option<String>,
    pub rating: Option<u8>,
    pub sku: Option<String>,
    pub product_name: Option<String>,
    pub created_at: i64,
    pub sentiment: Option<Polarity>,
    /// `(tag, polarity)` per mention, in the analysis' order.
    pub tags: Vec<(String, Polarity)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub at: i64,
    pub by: String,
    pub actor: Option<String>,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FollowupFilter {
    pub status: Option<FollowupStatus>,
    pub assignee: Option<String>,
    pub min_severity: Option<u8>,
    /// Item time, `[from, to)`.
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// What a person's change writes. `None` leaves a column as it is;
/// `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FollowupChange {
    /// The status read before deciding the change, and the new one.
    pub status: Option<(FollowupStatus, FollowupStatus)>,
    pub contacted_at: Option<Option<i64>>,
    pub resolved_at: Option<Option<i64>>,
    pub assignee: Option<Option<String>>,
    pub note: Option<Option<String>>,
    /// Who made the change, when the caller says.
    pub actor: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UpdateOutcome {
    Updated(Box<FollowupRow>),
    NotFound,
    /// The status is no longer the one the change was decided from.
    Changed,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub open: u64,
    pub contacted: u64,
    pub resolved: u64,
}

/// Only what the summary shows is read from the stored analysis.
#[derive(Deserialize)]
struct AnalysisSummary {
    sentiment: Polarity,
    #[serde(default)]
    tags: Vec<TagSummary>,
}

#[derive(Deserialize)]
struct TagSummary {
    tag: String,
    polarity: Polarity,
}

const ROW_COLUMNS: &str = "fu.id, fu.feedback_id, fu.severity, fu.score, fu.signals, fu.status, fu.assignee, fu.note, fu.created_at, fu.queued_at, fu.updated_at, fu.contacted_at, fu.resolved_at, f.text, f.source, f.channel, f.consumer_id, f.rating, f.sku, f.product_name, f.created_at, f.analysis";

fn row_to_followup(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<FollowupRow, StoreError>> {
    let id: i64 = row.get(0)?;
    let corrupt = |message: String| StoreError::Corrupt { id, message };
    let status_text: String = row.get(5)?;
    let Some(status) = FollowupStatus::parse(&status_text) else {
        return Ok(Err(corrupt(format!("follow-up status {status_text}"))));
    };
    let source_text: String = row.get(14)?;
    let Some(source) = Source::parse(&source_text) else {
        return Ok(Err(corrupt(format!("unknown source {source_text}"))));
    };
    let analysis_text: Option<String> = row.get(21)?;
    let analysis = match analysis_text
        .map(|text| serde_json::from_str::<AnalysisSummary>(&text))
        .transpose()
    {
        Ok(analysis) => analysis,
        Err(error) => return Ok(Err(corrupt(format!("analysis: {error}")))),
    };
    let (sentiment, tags) = match analysis {
        Some(analysis) => (
            Some(analysis.sentiment),
            analysis
                .tags
                .into_iter()
                .map(|tag| (tag.tag, tag.polarity))
                .collect(),
        ),
        None => (None, Vec::new()),
    };
    Ok(Ok(FollowupRow {
        id,
        feedback_id: row.get(1)?,
        severity: row.get(2)?,
        score: row.get(3)?,
        signals_json: row.get(4)?,
        status,
        assignee: row.get(6)?,
        note: row.get(7)?,
        created_at: row.get(8)?,
        queued_at: row.get(9)?,
        updated_at: row.get(10)?,
        contacted_at: row.get(11)?,
        resolved_at: row.get(12)?,
        feedback: FeedbackSummaryRow {
            text: row.get(13)?,
            source,
            channel: row.get(15)?,
            consumer_id: row.get(16)?,
            rating: row.get(17)?,
            sku: row.get(18)?,
            product_name: row.get(19)?,
            created_at: row.get(20)?,
            sentiment,
            tags,
        },
    }))
}

/// `WHERE` clause and parameters of a list filter; only the conditions
/// given, so that the status index is used when a status is.
fn filter_sql(filter: &FollowupFilter) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut conditions = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    if let Some(status) = filter.status {
        values.push(Value::Text(status.as_str().to_string()));
        conditions.push(format!("fu.status = ?{}", values.len()));
    }
    if let Some(assignee) = &filter.assignee {
        values.push(Value::Text(assignee.clone()));
        conditions.push(format!("fu.assignee = ?{}", values.len()));
    }
    if let Some(min_severity) = filter.min_severity {
        values.push(Value::Integer(i64::from(min_severity)));
        conditions.push(format!("fu.severity >= ?{}", values.len()));
    }
    if let Some(from) = filter.from {
        values.push(Value::Integer(from));
        conditions.push(format!("fu.created_at >= ?{}", values.len()));
    }
    if let Some(to) = filter.to {
        values.push(Value::Integer(to));
        conditions.push(format!("fu.created_at < ?{}", values.len()));
    }
    let clause = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    (clause, values)
}

/// One history row: `field` went from `old_value` to `new_value`.
struct HistoryEntry<'a> {
    followup_id: i64,
    at: i64,
    by: &'a str,
    actor: Option<&'a str>,
    field: &'a str,
    old_value: Option<&'a str>,
    new_value: Option<&'a str>,
}

fn insert_history(
    transaction: &Transaction<'_>,
    entry: &HistoryEntry<'_>,
) -> Result<(), StoreError> {
    transaction
        .prepare_cached(
            "INSERT INTO followup_history (followup_id, at, by, actor, field, old_value, new_value)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            entry.followup_id,
            entry.at,
            entry.by,
            entry.actor,
            entry.field,
            entry.old_value,
            entry.new_value
        ])
        .map_err(classify)?;
    Ok(())
}

fn select_followup(
    transaction: &Transaction<'_>,
    id: i64,
) -> Result<Option<FollowupRow>, StoreError> {
    transaction
        .prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM followups fu JOIN feedback f ON f.id = fu.feedback_id WHERE fu.id = ?1"
        ))?
        .query_row(params![id], row_to_followup)
        .optional()
        .map_err(classify)?
        .transpose()
}

/// Records whether each item is negative (its latest analysis wins) and
/// returns, for each of `items`, how many negative items its consumer has in
/// `(created_at - window_seconds, created_at]`, itself included when
/// negative. One lookup for the whole batch.
fn record_consumer_negatives(
    transaction: &Transaction<'_>,
    items: &[ConsumerItem<'_>],
    window_seconds: i64,
) -> Result<Vec<u32>, StoreError> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let mut times_by_consumer: HashMap<String, Vec<i64>> = HashMap::new();
    {
        let mut insert = transaction.prepare_cached(
                "INSERT INTO followup_consumer_negatives (feedback_id, consumer_id, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (feedback_id) DO UPDATE SET consumer_id = excluded.consumer_id, created_at = excluded.created_at",
            )?;
        let mut no_longer_negative: Vec<i64> = Vec::new();
        for item in items {
            if item.negative {
                insert
                    .execute(params![item.feedback_id, item.consumer_id, item.created_at])
                    .map_err(classify)?;
            } else {
                no_longer_negative.push(item.feedback_id);
            }
        }
        // Most items were never negative: one statement for all of them.
        if !no_longer_negative.is_empty() {
            transaction
                .prepare_cached(
                    "DELETE FROM followup_consumer_negatives
                         WHERE feedback_id IN (SELECT value FROM json_each(?1))",
                )?
                .execute(params![
                    serde_json::Value::from(no_longer_negative).to_string()
                ])
                .map_err(classify)?;
        }
        let mut consumers: Vec<&str> = items.iter().map(|item| item.consumer_id).collect();
        consumers.sort_unstable();
        consumers.dedup();
        let earliest = items.iter().map(|item| item.created_at).min().unwrap_or(0);
        let latest = items.iter().map(|item| item.created_at).max().unwrap_or(0);
        let consumers_json = serde_json::Value::from(consumers).to_string();
        let mut lookup = transaction.prepare_cached(
            "SELECT consumer_id, created_at FROM followup_consumer_negatives
                 WHERE consumer_id IN (SELECT value FROM json_each(?1))
                   AND created_at > ?2 AND created_at <= ?3",
        )?;
        let rows = lookup
            .query_map(
                params![consumers_json, earliest - window_seconds, latest],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
            )
            .map_err(classify)?;
        for row in rows {
            let (consumer_id, created_at) = row.map_err(classify)?;
            times_by_consumer
                .entry(consumer_id)
                .or_default()
                .push(created_at);
        }
    }
    for times in times_by_consumer.values_mut() {
        times.sort_unstable();
    }
    Ok(items
        .iter()
        .map(|item| {
            let Some(times) = times_by_consumer.get(item.consumer_id) else {
                return 0;
            };
            let after_window_start =
                times.partition_point(|time| *time <= item.created_at - window_seconds);
            let up_to_item = times.partition_point(|time| *time <= item.created_at);
            up_to_item.saturating_sub(after_window_start) as u32
        })
        .collect())
}

/// Writes the projection's verdicts (see the module invariants).
fn apply_followups(
    transaction: &Transaction<'_>,
    writes: &[FollowupWrite],
    now: i64,
) -> Result<AppliedCounts, StoreError> {
    let mut counts = AppliedCounts::default();
    {
        // Most analysed items never had a follow-up: learn which did in
        // one lookup instead of one per item.
        let feedback_ids: Vec<i64> = writes.iter().map(|write| write.feedback_id).collect();
        let mut existing: HashMap<i64, ExistingFollowup> = HashMap::new();
        {
            let mut lookup = transaction.prepare_cached(
                    "SELECT feedback_id, id, severity, score, signals, consumer_id, created_at,
                            status = 'open' AND NOT EXISTS (
                                SELECT 1 FROM followup_history h WHERE h.followup_id = followups.id AND h.by = ?2)
                     FROM followups WHERE feedback_id IN (SELECT value FROM json_each(?1))",
                )?;
            let rows = lookup
                .query_map(
                    params![serde_json::Value::from(feedback_ids).to_string(), BY_PERSON],
                    |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            ExistingFollowup {
                                id: row.get(1)?,
                                severity: row.get(2)?,
                                score: row.get(3)?,
                                signals: row.get(4)?,
                                consumer_id: row.get(5)?,
                                created_at: row.get(6)?,
                                untouched: row.get(7)?,
                            },
                        ))
                    },
                )
                .map_err(classify)?;
            for row in rows {
                let (feedback_id, followup) = row.map_err(classify)?;
                existing.insert(feedback_id, followup);
            }
        }
        let mut insert = transaction.prepare_cached(
                "INSERT INTO followups (feedback_id, consumer_id, severity, score, signals, status, created_at, queued_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, ?7)",
            )?;
        let mut rescore = transaction.prepare_cached(
                "UPDATE followups SET severity = ?2, score = ?3, signals = ?4, consumer_id = ?5, created_at = ?6, updated_at = ?7
                 WHERE id = ?1",
            )?;
        let mut delete = transaction.prepare_cached("DELETE FROM followups WHERE id = ?1")?;
        for write in writes {
            let Some(current) = existing.get(&write.feedback_id) else {
                if write.qualifies {
                    insert
                        .execute(params![
                            write.feedback_id,
                            write.consumer_id,
                            write.severity,
                            write.score,
                            write.signals,
                            write.created_at,
                            now
                        ])
                        .map_err(classify)?;
                    // The same item twice in one batch is rescored, not inserted twice.
                    existing.insert(
                        write.feedback_id,
                        ExistingFollowup {
                            id: transaction.last_insert_rowid(),
                            severity: write.severity,
                            score: write.score,
                            signals: write.signals.clone(),
                            consumer_id: write.consumer_id.clone(),
                            created_at: write.created_at,
                            untouched: true,
                        },
                    );
                    counts.queued += 1;
                }
                continue;
            };
            if !write.qualifies && current.untouched {
                delete.execute(params![current.id]).map_err(classify)?;
                existing.remove(&write.feedback_id);
                counts.dropped += 1;
                continue;
            }
            let unchanged = current.severity == write.severity
                && current.score == write.score
                && current.signals == write.signals
                && current.consumer_id == write.consumer_id
                && current.created_at == write.created_at;
            if unchanged {
                continue;
            }
            rescore
                .execute(params![
                    current.id,
                    write.severity,
                    write.score,
                    write.signals,
                    write.consumer_id,
                    write.created_at,
                    now
                ])
                .map_err(classify)?;
            if current.severity != write.severity {
                insert_history(
                    transaction,
                    &HistoryEntry {
                        followup_id: current.id,
                        at: now,
                        by: BY_SYSTEM,
                        actor: None,
                        field: "severity",
                        old_value: Some(&current.severity.to_string()),
                        new_value: Some(&write.severity.to_string()),
                    },
                )?;
            }
            let id = current.id;
            let untouched = current.untouched;
            existing.insert(
                write.feedback_id,
                ExistingFollowup {
                    id,
                    severity: write.severity,
                    score: write.score,
                    signals: write.signals.clone(),
                    consumer_id: write.consumer_id.clone(),
                    created_at: write.created_at,
                    untouched,
                },
            );
            counts.rescored += 1;
        }
    }
    Ok(counts)
}

impl Store {
    /// One batch of the follow-up projection, in one transaction: records
    /// which of `consumer_items` are negative, hands each one's count of
    /// its consumer's negatives in the window to `decide` (aligned with
    /// `consumer_items`), writes the follow-ups it returns, and advances
    /// the projection's cursor to `through_seq`.
    pub fn apply_followup_batch(
        &self,
        projection: &str,
        through_seq: i64,
        consumer_items: &[ConsumerItem<'_>],
        window_seconds: i64,
        decide: impl FnOnce(&[u32]) -> Result<Vec<FollowupWrite>, StoreError>,
        now: i64,
    ) -> Result<AppliedCounts, StoreError> {
        let mut connection = self.connection.lock();
        let transaction = connection.transaction().map_err(classify)?;
        let negatives_in_window =
            record_consumer_negatives(&transaction, consumer_items, window_seconds)?;
        let writes = decide(&negatives_in_window)?;
        let counts = apply_followups(&transaction, &writes, now)?;
        set_projection_cursor(&transaction, projection, through_seq)?;
        transaction.commit().map_err(classify)?;
        Ok(counts)
    }

    /// One page of follow-ups by severity, then newest item, and the number
    /// matching the filter.
    pub fn list_followups(
        &self,
        filter: &FollowupFilter,
        limit: usize,
        offset: usize,
    ) -> Result<(u64, Vec<FollowupRow>), StoreError> {
        let (where_clause, mut values) = filter_sql(filter);
        let connection = self.connection.lock();
        let total: i64 = connection
            .prepare_cached(&format!("SELECT COUNT(*) FROM followups fu {where_clause}"))?
            .query_row(rusqlite::params_from_iter(values.iter()), |row| row.get(0))
            .map_err(classify)?;
        let limit_parameter = values.len() + 1;
        values.push(rusqlite::types::Value::Integer(limit as i64));
        values.push(rusqlite::types::Value::Integer(offset as i64));
        let mut statement = connection.prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM followups fu JOIN feedback f ON f.id = fu.feedback_id
             {where_clause}
             ORDER BY fu.severity DESC, fu.created_at DESC, fu.id DESC
             LIMIT ?{limit_parameter} OFFSET ?{}",
            limit_parameter + 1
        ))?;
        let rows = statement
            .query_map(rusqlite::params_from_iter(values.iter()), row_to_followup)
            .map_err(classify)?;
        let mut followups = Vec::new();
        for row in rows {
            followups.push(row.map_err(classify)??);
        }
        Ok((total as u64, followups))
    }

    pub fn get_followup(&self, id: i64) -> Result<Option<FollowupRow>, StoreError> {
        let mut connection = self.connection.lock();
        let transaction = connection.transaction().map_err(classify)?;
        let row = select_followup(&transaction, id)?;
        transaction.commit().map_err(classify)?;
        Ok(row)
    }

    pub fn followup_history(&self, id: i64) -> Result<Vec<HistoryRow>, StoreError> {
        let connection = self.connection.lock();
        let mut statement = connection.prepare_cached(
            "SELECT at, by, actor, field, old_value, new_value FROM followup_history
             WHERE followup_id = ?1 ORDER BY id",
        )?;
        let rows = statement
            .query_map(params![id], |row| {
                Ok(HistoryRow {
                    at: row.get(0)?,
                    by: row.get(1)?,
                    actor: row.get(2)?,
                    field: row.get(3)?,
                    old_value: row.get(4)?,
                    new_value: row.get(5)?,
                })
            })
            .map_err(classify)?;
        rows.collect::<Result<_, _>>().map_err(classify)
    }

    /// Applies a person's change, with a history row per changed field, in
    /// one transaction; the status moves only from the status the change
    /// was decided from.
    pub fn update_followup(
        &self,
        id: i64,
        change: &FollowupChange,
        now: i64,
    ) -> Result<UpdateOutcome, StoreError> {
        let mut connection = self.connection.lock();
        let transaction = connection.transaction().map_err(classify)?;
        let Some(before) = select_followup(&transaction, id)? else {
            return Ok(UpdateOutcome::NotFound);
        };
        if let Some((expected, _)) = change.status {
            if before.status != expected {
                return Ok(UpdateOutcome::Changed);
            }
        }
        let status = change.status.map_or(before.status, |(_, to)| to);
        let contacted_at = change.contacted_at.unwrap_or(before.contacted_at);
        let resolved_at = change.resolved_at.unwrap_or(before.resolved_at);
        let assignee = change
            .assignee
            .clone()
            .unwrap_or_else(|| before.assignee.clone());
        let note = change.note.clone().unwrap_or_else(|| before.note.clone());
        let actor = change.actor.as_deref();
        let changes = [
            (
                "status",
                Some(before.status.as_str()),
                Some(status.as_str()),
            ),
            ("assignee", before.assignee.as_deref(), assignee.as_deref()),
            ("note", before.note.as_deref(), note.as_deref()),
        ];
        let mut changed_fields = 0;
        for (field, old_value, new_value) in changes {
            if old_value == new_value {
                continue;
            }
            insert_history(
                &transaction,
                &HistoryEntry {
                    followup_id: id,
                    at: now,
                    by: BY_PERSON,
                    actor,
                    field,
                    old_value,
                    new_value,
                },
            )?;
            changed_fields += 1;
        }
        if changed_fields == 0 {
            return Ok(UpdateOutcome::Updated(Box::new(before)));
        }
        transaction
            .prepare_cached(
                "UPDATE followups SET status = ?2, contacted_at = ?3, resolved_at = ?4, assignee = ?5, note = ?6, updated_at = ?7
                 WHERE id = ?1",
            )?
            .execute(params![
                id,
                status.as_str(),
                contacted_at,
                resolved_at,
                assignee,
                note,
                now
            ])
            .map_err(classify)?;
        let after = select_followup(&transaction, id)?;
        transaction.commit().map_err(classify)?;
        Ok(match after {
            Some(row) => UpdateOutcome::Updated(Box::new(row)),
            None => UpdateOutcome::NotFound,
        })
    }

    /// Follow-ups per status whose item time is in `[from, to)`, and the
    /// seconds from queueing to first contact of those contacted.
    pub fn followup_counts(
        &self,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<(StatusCounts, Vec<i64>), StoreError> {
        let from = from.unwrap_or(i64::MIN);
        let to = to.unwrap_or(i64::MAX);
        let connection = self.connection.lock();
        let mut counts = StatusCounts::default();
        {
            let mut statement = connection.prepare_cached(
                "SELECT status, COUNT(*) FROM followups WHERE created_at >= ?1 AND created_at < ?2 GROUP BY status",
            )?;
            let rows = statement
                .query_map(params![from, to], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })
                .map_err(classify)?;
            for row in rows {
                let (status, count) = row.map_err(classify)?;
                match FollowupStatus::parse(&status) {
                    Some(FollowupStatus::Open) => counts.open = count as u64,
                    Some(FollowupStatus::Contacted) => counts.contacted = count as u64,
                    Some(FollowupStatus::Resolved) => counts.resolved = count as u64,
                    None => {}
                }
            }
        }
        let mut statement = connection.prepare_cached(
            "SELECT contacted_at - queued_at FROM followups
             WHERE created_at >= ?1 AND created_at < ?2 AND contacted_at IS NOT NULL",
        )?;
        let seconds = statement
            .query_map(params![from, to], |row| row.get::<_, i64>(0))
            .map_err(classify)?
            .collect::<Result<Vec<i64>, _>>()
            .map_err(classify)?;
        Ok((counts, seconds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feedback::{Analysis, NewFeedback};

    fn item(external_id: &str, created_at: i64) -> NewFeedback {
        NewFeedback {
            external_id: external_id.to_string(),
            source: Source::Review,
            channel: "tmall".to_string(),
            text: "又坏了".to_string(),
            rating: Some(1),
            order_id: None,
            sku: None,
            product_name: None,
            category: None,
            consumer_id: Some("c-1".to_string()),
            store: None,
            created_at,
            meta: None,
            segments: Vec::new(),
            reason_code: None,
        }
    }

    fn stored(store: &Store, count: usize) -> Vec<i64> {
        let items: Vec<NewFeedback> = (0..count)
            .map(|index| item(&format!("i-{index}"), 1_700_000_000 + index as i64 * 60))
            .collect();
        let ids: Vec<i64> = store
            .insert_batch(&items, 1_700_000_000)
            .expect("insert")
            .into_iter()
            .map(|inserted| inserted.id)
            .collect();
        let analysis = Analysis {
            normalised_text: "又坏了".into(),
            language: "cmn".into(),
            tags: Vec::new(),
            sentiment: Polarity::Neg,
            sentiment_score: -1.0,
            keywords: Vec::new(),
            analyser_version: "test".into(),
        };
        let analysed: Vec<(i64, i64, &Analysis)> =
            ids.iter().map(|id| (*id, 0, &analysis)).collect();
        store.mark_indexed(&analysed, 1_700_000_100).expect("mark");
        ids
    }

    /// A projection batch with no consumer history to record.
    fn apply(store: &Store, seq: i64, writes: &[FollowupWrite], now: i64) -> AppliedCounts {
        store
            .apply_followup_batch("followups", seq, &[], 0, |_| Ok(writes.to_vec()), now)
            .expect("apply")
    }

    fn write(feedback_id: i64, severity: u8, qualifies: bool) -> FollowupWrite {
        FollowupWrite {
            feedback_id,
            consumer_id: Some("c-1".into()),
            created_at: 1_700_000_000,
            severity,
            score: u32::from(severity) * 20,
            signals: "[]".into(),
            qualifies,
        }
    }

    /// The counts `decide` is given for `items`, in a batch that writes nothing.
    fn negatives_seen(store: &Store, items: &[ConsumerItem<'_>], window: i64) -> Vec<u32> {
        let mut seen = Vec::new();
        store
            .apply_followup_batch(
                "followups",
                1,
                items,
                window,
                |counts| {
                    seen = counts.to_vec();
                    Ok(Vec::new())
                },
                0,
            )
            .expect("batch");
        seen
    }

    #[test]
    fn consumer_negatives_are_counted_within_the_window_up_to_each_item() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), false).expect("open");
        let day = 86_400;
        let item = |feedback_id, consumer_id, days, negative| ConsumerItem {
            feedback_id,
            consumer_id,
            created_at: days * day,
            negative,
        };
        let marks = [
            item(1, "c-1", 0, true),
            item(2, "c-1", 10, true),
            item(3, "c-1", 45, true),
            item(4, "c-2", 10, false),
        ];
        assert_eq!(negatives_seen(&store, &marks, 30 * day), vec![1, 2, 1, 0]);
        // Item 2 is no longer negative after a reanalysis: it stops counting.
        let again = [item(2, "c-1", 10, false), item(5, "c-1", 20, true)];
        assert_eq!(negatives_seen(&store, &again, 30 * day), vec![1, 2]);
    }

    #[test]
    fn the_projection_never_overwrites_what_a_person_set_and_drops_only_untouched_items() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), false).expect("open");
        let ids = stored(&store, 2);
        let counts = apply(
            &store,
            1,
            &[write(ids[0], 3, true), write(ids[1], 2, true)],
            100,
        );
        assert_eq!(counts.queued, 2);
        let (total, rows) = store
            .list_followups(&FollowupFilter::default(), 10, 0)
            .expect("list");
        assert_eq!(total, 2);
        assert_eq!(rows[0].severity, 3, "most severe first");
        let first = rows[0].id;
        let second = rows[1].id;

        let contacted = FollowupChange {
            status: Some((FollowupStatus::Open, FollowupStatus::Contacted)),
            contacted_at: Some(Some(160)),
            assignee: Some(Some("小王".into())),
            ..FollowupChange::default()
        };
        assert!(matches!(
            store
                .update_followup(first, &contacted, 160)
                .expect("update"),
            UpdateOutcome::Updated(_)
        ));
        // The same change again: the status it was decided from is gone.
        assert_eq!(
            store
                .update_followup(first, &contacted, 170)
                .expect("update"),
            UpdateOutcome::Changed
        );

        // Reanalysis: both fall below the minimum severity.
        let counts = apply(
            &store,
            2,
            &[write(ids[0], 1, false), write(ids[1], 1, false)],
            200,
        );
        assert_eq!(
            counts,
            AppliedCounts {
                queued: 0,
                rescored: 1,
                dropped: 1
            }
        );
        let kept = store.get_followup(first).expect("get").expect("kept");
        assert_eq!(kept.status, FollowupStatus::Contacted);
        assert_eq!(kept.assignee.as_deref(), Some("小王"));
        assert_eq!(kept.contacted_at, Some(160));
        assert_eq!(kept.severity, 1);
        assert!(store.get_followup(second).expect("get").is_none());
        assert_eq!(store.projection_cursor("followups").expect("cursor"), 2);

        let history = store.followup_history(first).expect("history");
        let fields: Vec<&str> = history.iter().map(|row| row.field.as_str()).collect();
        assert_eq!(fields, vec!["status", "assignee", "severity"]);
        assert_eq!(history[0].new_value.as_deref(), Some("contacted"));
        assert_eq!(history[0].by, "api");
        assert_eq!(history[2].by, "system");
    }

    #[test]
    fn counts_and_contact_times_cover_the_item_period() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), false).expect("open");
        let ids = stored(&store, 3);
        apply(
            &store,
            1,
            &ids.iter().map(|id| write(*id, 2, true)).collect::<Vec<_>>(),
            1_000,
        );
        let (_, rows) = store
            .list_followups(&FollowupFilter::default(), 10, 0)
            .expect("list");
        let change = FollowupChange {
            status: Some((FollowupStatus::Open, FollowupStatus::Contacted)),
            contacted_at: Some(Some(1_600)),
            ..FollowupChange::default()
        };
        store
            .update_followup(rows[0].id, &change, 1_600)
            .expect("update");
        let (counts, seconds) = store.followup_counts(None, None).expect("counts");
        assert_eq!(
            counts,
            StatusCounts {
                open: 2,
                contacted: 1,
                resolved: 0
            }
        );
        assert_eq!(seconds, vec![600]);
        let (counts, _) = store
            .followup_counts(Some(1_700_000_001), None)
            .expect("counts");
        assert_eq!(counts, StatusCounts::default());
        let filter = FollowupFilter {
            status: Some(FollowupStatus::Open),
            ..FollowupFilter::default()
        };
        let (total, rows) = store.list_followups(&filter, 1, 1).expect("list open");
        assert_eq!((total, rows.len()), (2, 1));
    }
}

/// A consumer's follow-ups, for their profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConsumerFollowups {
    pub open: u64,
    pub contacted: u64,
    pub resolved: u64,
    /// The newest follow-up: (id, status).
    pub latest: Option<(i64, String)>,
}

impl Store {
    pub fn consumer_followups(&self, consumer_id: &str) -> Result<ConsumerFollowups, StoreError> {
        let connection = self.connection.lock();
        let mut summary = ConsumerFollowups::default();
        let mut statement = connection.prepare_cached(
            "SELECT id, status FROM followups WHERE consumer_id = ?1 ORDER BY created_at DESC, id DESC",
        )?;
        let rows = statement
            .query_map(params![consumer_id], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(classify)?;
        for row in rows {
            let (id, status) = row.map_err(classify)?;
            match status.as_str() {
                "open" => summary.open += 1,
                "contacted" => summary.contacted += 1,
                _ => summary.resolved += 1,
            }
            summary.latest.get_or_insert((id, status));
        }
        Ok(summary)
    }
}
