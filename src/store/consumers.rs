//! Consumer profiles' tables: each analysed item's contribution, the
//! consumers, their current derived tags. The consumers module decides
//! (profiles, rules); this file only reads and writes.
//!
//! A contribution is keyed by feedback id, so an item analysed again
//! replaces its earlier contribution instead of adding to it.

use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

use super::events::set_projection_cursor;
use super::outbox::enqueue_outbox_in;
use super::{classify, Store, StoreError};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS consumer_items (
    feedback_id INTEGER PRIMARY KEY,
    consumer_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    source TEXT NOT NULL,
    sentiment TEXT NOT NULL,
    mentions TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consumer_items_by_consumer ON consumer_items (consumer_id, at);
CREATE TABLE IF NOT EXISTS consumers (
    consumer_id TEXT PRIMARY KEY,
    last_feedback_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    next_review_at INTEGER
);
CREATE INDEX IF NOT EXISTS consumers_by_review ON consumers (next_review_at);
CREATE INDEX IF NOT EXISTS consumers_by_update ON consumers (updated_at);
CREATE TABLE IF NOT EXISTS consumer_tags (
    consumer_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    strength INTEGER NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (consumer_id, tag)
);
CREATE INDEX IF NOT EXISTS consumer_tags_by_tag ON consumer_tags (tag, consumer_id);
"#;

/// Most items read per consumer (newest first): profiles stay cheap for an
/// id shared by many items, such as a shop's test account.
pub const MAX_ITEMS_PER_CONSUMER: usize = 5_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mention {
    pub tag: String,
    pub library: String,
    pub polarity: String,
}

/// What one analysed item contributes to its consumer's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsumerItem {
    pub feedback_id: i64,
    pub consumer_id: String,
    /// When the customer said it (the item's `created_at`).
    pub at: i64,
    pub source: String,
    pub sentiment: String,
    pub mentions: Vec<Mention>,
}

/// A consumer's derived tags as decided by the rules at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagEvaluation {
    /// (tag id, strength)
    pub tags: Vec<(String, u64)>,
    pub next_review_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredConsumerTag {
    pub tag: String,
    pub strength: u64,
    pub since: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsumerRecord {
    pub consumer_id: String,
    pub last_feedback_at: i64,
    pub updated_at: i64,
    pub tags: Vec<StoredConsumerTag>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TagChangeKind {
    Added,
    Removed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TagChange<'a> {
    pub consumer_id: &'a str,
    pub tag: &'a str,
    pub change: TagChangeKind,
    pub strength: u64,
    pub at: i64,
    /// The consumer's tags after this evaluation.
    pub current_tags: &'a [String],
}

/// How a refresh decides and reports: the rules, and where tag changes go.
pub struct ConsumerRefresh<'a> {
    pub evaluate: &'a dyn Fn(&str, &[ConsumerItem]) -> TagEvaluation,
    /// Outbox target and message for each tag change, when a CDP is configured.
    pub outbox: Option<(&'a str, &'a dyn Fn(&TagChange<'_>) -> serde_json::Value)>,
    pub now: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AudienceQuery {
    pub tag: String,
    pub min_strength: u64,
    pub updated_since: Option<i64>,
    /// Keyset paging: consumers after this id.
    pub after: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AudienceRow {
    pub consumer_id: String,
    pub strength: u64,
    pub since: i64,
    pub last_feedback_at: i64,
    pub updated_at: i64,
    pub tags: Vec<String>,
}

fn load_items(
    transaction: &rusqlite::Connection,
    consumer_id: &str,
) -> Result<Vec<ConsumerItem>, StoreError> {
    let mut statement = transaction.prepare_cached(
        "SELECT feedback_id, at, source, sentiment, mentions FROM consumer_items
         WHERE consumer_id = ?1 ORDER BY at DESC, feedback_id DESC LIMIT ?2",
    )?;
    let rows = statement
        .query_map(params![consumer_id, MAX_ITEMS_PER_CONSUMER as i64], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
            ))
        })
        .map_err(classify)?;
    let mut items = Vec::new();
    for row in rows {
        let (feedback_id, at, source, sentiment, mentions_text) = row.map_err(classify)?;
        let mentions =
            serde_json::from_str(&mentions_text).map_err(|error| StoreError::Corrupt {
                id: feedback_id,
                message: format!("consumer mentions: {error}"),
            })?;
        items.push(ConsumerItem {
            feedback_id,
            consumer_id: consumer_id.to_string(),
            at,
            source,
            sentiment,
            mentions,
        });
    }
    items.reverse();
    Ok(items)
}

fn load_tags(
    connection: &rusqlite::Connection,
    consumer_id: &str,
) -> Result<Vec<StoredConsumerTag>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT tag, strength, since FROM consumer_tags WHERE consumer_id = ?1 ORDER BY tag",
    )?;
    let rows = statement
        .query_map(params![consumer_id], |row| {
            Ok(StoredConsumerTag {
                tag: row.get(0)?,
                strength: row.get::<_, i64>(1)? as u64,
                since: row.get(2)?,
            })
        })
        .map_err(classify)?;
    let mut tags = Vec::new();
    for row in rows {
        tags.push(row.map_err(classify)?);
    }
    Ok(tags)
}

/// Re-decides one consumer's tags, writes the difference, and queues a
/// message per added or removed tag. Returns the number of tag changes.
fn refresh_consumer(
    transaction: &Transaction<'_>,
    consumer_id: &str,
    refresh: &ConsumerRefresh<'_>,
    items_changed: bool,
) -> Result<usize, StoreError> {
    let items = load_items(transaction, consumer_id)?;
    let evaluation = (refresh.evaluate)(consumer_id, &items);
    let before = load_tags(transaction, consumer_id)?;
    let current: Vec<String> = evaluation.tags.iter().map(|(tag, _)| tag.clone()).collect();
    let mut changes = 0;
    for (tag, strength) in &evaluation.tags {
        match before.iter().find(|stored| &stored.tag == tag) {
            Some(stored) if stored.strength == *strength => {}
            Some(_) => {
                transaction
                    .prepare_cached("UPDATE consumer_tags SET strength = ?3 WHERE consumer_id = ?1 AND tag = ?2")?
                    .execute(params![consumer_id, tag, *strength as i64])
                    .map_err(classify)?;
            }
            None => {
                transaction
                    .prepare_cached("INSERT INTO consumer_tags (consumer_id, tag, strength, since) VALUES (?1, ?2, ?3, ?4)")?
                    .execute(params![consumer_id, tag, *strength as i64, refresh.now])
                    .map_err(classify)?;
                changes += 1;
                report_change(
                    transaction,
                    refresh,
                    consumer_id,
                    tag,
                    TagChangeKind::Added,
                    *strength,
                    &current,
                )?;
            }
        }
    }
    for stored in before
        .iter()
        .filter(|stored| !current.contains(&stored.tag))
    {
        transaction
            .prepare_cached("DELETE FROM consumer_tags WHERE consumer_id = ?1 AND tag = ?2")?
            .execute(params![consumer_id, stored.tag])
            .map_err(classify)?;
        changes += 1;
        report_change(
            transaction,
            refresh,
            consumer_id,
            &stored.tag,
            TagChangeKind::Removed,
            0,
            &current,
        )?;
    }
    let last_feedback_at = items.iter().map(|item| item.at).max().unwrap_or(0);
    let touched = items_changed || changes > 0;
    transaction
        .prepare_cached(
            "INSERT INTO consumers (consumer_id, last_feedback_at, updated_at, next_review_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (consumer_id) DO UPDATE SET last_feedback_at = excluded.last_feedback_at,
                 updated_at = CASE WHEN ?5 THEN excluded.updated_at ELSE consumers.updated_at END,
                 next_review_at = excluded.next_review_at",
        )?
        .execute(params![consumer_id, last_feedback_at, refresh.now, evaluation.next_review_at, touched])
        .map_err(classify)?;
    Ok(changes)
}

fn report_change(
    transaction: &Transaction<'_>,
    refresh: &ConsumerRefresh<'_>,
    consumer_id: &str,
    tag: &str,
    change: TagChangeKind,
    strength: u64,
    current_tags: &[String],
) -> Result<(), StoreError> {
    if let Some((target, message)) = &refresh.outbox {
        let payload = message(&TagChange {
            consumer_id,
            tag,
            change,
            strength,
            at: refresh.now,
            current_tags,
        });
        enqueue_outbox_in(transaction, target, &payload, refresh.now)?;
    }
    Ok(())
}

impl Store {
    /// Records the contributions of analysed items and refreshes their
    /// consumers, then moves projection `projection` to `last_seq`: one
    /// transaction. Returns the number of tag changes.
    pub fn apply_consumer_items(
        &self,
        projection: &str,
        last_seq: i64,
        items: &[ConsumerItem],
        refresh: &ConsumerRefresh<'_>,
    ) -> Result<usize, StoreError> {
        let mut connection = self.connection.lock();
        let transaction = connection.transaction().map_err(classify)?;
        let mut consumers: Vec<&str> = Vec::new();
        {
            let mut upsert = transaction.prepare_cached(
                "INSERT INTO consumer_items (feedback_id, consumer_id, at, source, sentiment, mentions)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (feedback_id) DO UPDATE SET consumer_id = excluded.consumer_id, at = excluded.at,
                     source = excluded.source, sentiment = excluded.sentiment, mentions = excluded.mentions",
            )?;
            for item in items {
                let mentions =
                    serde_json::to_string(&item.mentions).map_err(|error| StoreError::Corrupt {
                        id: item.feedback_id,
                        message: format!("consumer mentions: {error}"),
                    })?;
                upsert
                    .execute(params![
                        item.feedback_id,
                        item.consumer_id,
                        item.at,
                        item.source,
                        item.sentiment,
                        mentions
                    ])
                    .map_err(classify)?;
                if !consumers.contains(&item.consumer_id.as_str()) {
                    consumers.push(&item.consumer_id);
                }
            }
        }
        let mut changes = 0;
        for consumer_id in consumers {
            changes += refresh_consumer(&transaction, consumer_id, refresh, true)?;
        }
        set_projection_cursor(&transaction, projection, last_seq)?;
        transaction.commit().map_err(classify)?;
        Ok(changes)
    }

    /// Refreshes up to `limit` consumers whose tags time alone may have
    /// changed by `refresh.now`. Returns (consumers refreshed, tag changes).
    pub fn refresh_due_consumers(
        &self,
        refresh: &ConsumerRefresh<'_>,
        limit: usize,
    ) -> Result<(usize, usize), StoreError> {
        let mut connection = self.connection.lock();
        let transaction = connection.transaction().map_err(classify)?;
        let due: Vec<String> = {
            let mut statement = transaction.prepare_cached(
                "SELECT consumer_id FROM consumers WHERE next_review_at <= ?1 ORDER BY next_review_at LIMIT ?2",
            )?;
            let rows = statement
                .query_map(params![refresh.now, limit as i64], |row| row.get(0))
                .map_err(classify)?;
            rows.collect::<Result<_, _>>().map_err(classify)?
        };
        let mut changes = 0;
        for consumer_id in &due {
            changes += refresh_consumer(&transaction, consumer_id, refresh, false)?;
        }
        transaction.commit().map_err(classify)?;
        Ok((due.len(), changes))
    }

    pub fn consumer_items(&self, consumer_id: &str) -> Result<Vec<ConsumerItem>, StoreError> {
        let connection = self.connection.lock();
        load_items(&connection, consumer_id)
    }

    pub fn consumer_record(&self, consumer_id: &str) -> Result<Option<ConsumerRecord>, StoreError> {
        let connection = self.connection.lock();
        let row: Option<(i64, i64)> = connection
            .query_row(
                "SELECT last_feedback_at, updated_at FROM consumers WHERE consumer_id = ?1",
                params![consumer_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(classify)?;
        let Some((last_feedback_at, updated_at)) = row else {
            return Ok(None);
        };
        Ok(Some(ConsumerRecord {
            consumer_id: consumer_id.to_string(),
            last_feedback_at,
            updated_at,
            tags: load_tags(&connection, consumer_id)?,
        }))
    }

    /// Consumers carrying `query.tag`, in id order.
    pub fn audience(&self, query: &AudienceQuery) -> Result<Vec<AudienceRow>, StoreError> {
        let connection = self.connection.lock();
        let mut statement = connection.prepare_cached(
            "SELECT t.consumer_id, t.strength, t.since, c.last_feedback_at, c.updated_at,
                    (SELECT group_concat(tag, ',') FROM (SELECT tag FROM consumer_tags a WHERE a.consumer_id = t.consumer_id ORDER BY tag))
             FROM consumer_tags t JOIN consumers c ON c.consumer_id = t.consumer_id
             WHERE t.tag = ?1 AND t.strength >= ?2 AND c.updated_at >= ?3 AND t.consumer_id > ?4
             ORDER BY t.consumer_id LIMIT ?5",
        )?;
        let rows = statement
            .query_map(
                params![
                    query.tag,
                    query.min_strength as i64,
                    query.updated_since.unwrap_or(i64::MIN),
                    query.after.as_deref().unwrap_or(""),
                    query.limit as i64
                ],
                |row| {
                    let tags: Option<String> = row.get(5)?;
                    Ok(AudienceRow {
                        consumer_id: row.get(0)?,
                        strength: row.get::<_, i64>(1)? as u64,
                        since: row.get(2)?,
                        last_feedback_at: row.get(3)?,
                        updated_at: row.get(4)?,
                        tags: tags
                            .map(|tags| tags.split(',').map(str::to_string).collect())
                            .unwrap_or_default(),
                    })
                },
            )
            .map_err(classify)?;
        rows.collect::<Result<_, _>>().map_err(classify)
    }
}
