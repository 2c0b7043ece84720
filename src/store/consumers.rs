//! Consumer profiles' tables: the consumers with each one's contributions
//! (what each analysed item of theirs says), and their current derived
//! tags. The consumers module decides (profiles, rules); this file only
//! reads and writes.
//!
//! A consumer's contributions live in their own row (`consumers.items`, a
//! compact JSON array), so that an analysed item costs one read and one
//! write of that row: the profile projection runs once per analysed item,
//! and a table of contributions cost a B-tree seek per item of the
//! consumer on every refresh. A contribution is keyed by feedback id, so an
//! item analysed again replaces its earlier contribution instead of adding
//! to it. An item's consumer never changes after ingest (a re-sent item
//! with another consumer id is a duplicate), so a contribution never moves.

use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

use super::events::set_projection_cursor;
use super::outbox::enqueue_outbox_in;
use super::{classify, Store, StoreError};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS consumers (
    consumer_id TEXT PRIMARY KEY,
    last_feedback_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    next_review_at INTEGER,
    items TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS consumers_by_review ON consumers (next_review_at);
CREATE TABLE IF NOT EXISTS consumer_tags (
    consumer_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    strength INTEGER NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (consumer_id, tag)
);
CREATE INDEX IF NOT EXISTS consumer_tags_by_tag ON consumer_tags (tag, consumer_id);
"#;

/// Most contributions kept per consumer (the newest): profiles stay cheap
/// for an id shared by many items, such as a shop's test account.
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

/// A contribution as stored in its consumer's row:
/// `[feedback_id, at, source, sentiment, [[tag, library, polarity], ...]]`.
#[derive(Serialize, Deserialize)]
struct StoredContribution<S>(i64, i64, S, S, Vec<(S, S, S)>);

fn encode_items(consumer_id: &str, items: &[ConsumerItem]) -> Result<String, StoreError> {
    let stored: Vec<StoredContribution<&str>> = items
        .iter()
        .map(|item| {
            StoredContribution(
                item.feedback_id,
                item.at,
                item.source.as_str(),
                item.sentiment.as_str(),
                item.mentions
                    .iter()
                    .map(|mention| {
                        (
                            mention.tag.as_str(),
                            mention.library.as_str(),
                            mention.polarity.as_str(),
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    serde_json::to_string(&stored).map_err(|error| corrupt_items(consumer_id, error))
}

fn decode_items(consumer_id: &str, text: &str) -> Result<Vec<ConsumerItem>, StoreError> {
    let stored: Vec<StoredContribution<String>> =
        serde_json::from_str(text).map_err(|error| corrupt_items(consumer_id, error))?;
    Ok(stored
        .into_iter()
        .map(
            |StoredContribution(feedback_id, at, source, sentiment, mentions)| ConsumerItem {
                feedback_id,
                consumer_id: consumer_id.to_string(),
                at,
                source,
                sentiment,
                mentions: mentions
                    .into_iter()
                    .map(|(tag, library, polarity)| Mention {
                        tag,
                        library,
                        polarity,
                    })
                    .collect(),
            },
        )
        .collect())
}

fn corrupt_items(consumer_id: &str, error: serde_json::Error) -> StoreError {
    StoreError::Corrupt {
        id: 0,
        message: format!("contributions of consumer {consumer_id:?}: {error}"),
    }
}

/// The consumer's contributions, oldest first; empty for an unknown consumer.
fn load_items(
    connection: &rusqlite::Connection,
    consumer_id: &str,
) -> Result<Vec<ConsumerItem>, StoreError> {
    let text: Option<String> = connection
        .prepare_cached("SELECT items FROM consumers WHERE consumer_id = ?1")?
        .query_row(params![consumer_id], |row| row.get(0))
        .optional()
        .map_err(classify)?;
    match text {
        Some(text) => decode_items(consumer_id, &text),
        None => Ok(Vec::new()),
    }
}

/// Adds contributions to a consumer's (replacing any of the same item),
/// oldest first, keeping the newest [`MAX_ITEMS_PER_CONSUMER`].
fn merge_items(items: &mut Vec<ConsumerItem>, new_items: &[&ConsumerItem]) {
    for new_item in new_items {
        match items
            .iter_mut()
            .find(|item| item.feedback_id == new_item.feedback_id)
        {
            Some(existing) => *existing = (*new_item).clone(),
            None => items.push((*new_item).clone()),
        }
    }
    items.sort_by_key(|item| (item.at, item.feedback_id));
    let excess = items.len().saturating_sub(MAX_ITEMS_PER_CONSUMER);
    items.drain(..excess);
}

/// Moves contributions from the first layout (a `consumer_items` table, one
/// row per item) into the consumers' rows. Runs after [`SCHEMA`]; a no-op
/// on new and already moved databases.
pub(super) fn migrate(connection: &mut rusqlite::Connection) -> Result<(), StoreError> {
    let exists = |query: &str| -> Result<bool, StoreError> {
        connection
            .query_row(query, [], |row| row.get::<_, i64>(0))
            .map(|count| count > 0)
            .map_err(classify)
    };
    let has_items_column =
        exists("SELECT COUNT(*) FROM pragma_table_info('consumers') WHERE name = 'items'")?;
    let has_item_table = exists(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'consumer_items'",
    )?;
    if has_items_column && !has_item_table {
        return Ok(());
    }
    let transaction = connection.transaction().map_err(classify)?;
    if !has_items_column {
        // The first layout also indexed updated_at; audiences filter on it
        // only after the tag lookup, so the index cost a write per item and
        // served nothing.
        transaction
            .execute_batch(
                "ALTER TABLE consumers ADD COLUMN items TEXT NOT NULL DEFAULT '[]';
                 DROP INDEX IF EXISTS consumers_by_update;",
            )
            .map_err(classify)?;
    }
    if has_item_table {
        let mut by_consumer: Vec<(String, Vec<ConsumerItem>)> = Vec::new();
        {
            let mut statement = transaction.prepare(
                "SELECT consumer_id, feedback_id, at, source, sentiment, mentions FROM consumer_items
                 ORDER BY consumer_id, at, feedback_id",
            )?;
            let mut rows = statement.query([]).map_err(classify)?;
            while let Some(row) = rows.next().map_err(classify)? {
                let consumer_id: String = row.get(0)?;
                let feedback_id: i64 = row.get(1)?;
                let mentions_text: String = row.get(5)?;
                let item = ConsumerItem {
                    feedback_id,
                    consumer_id: consumer_id.clone(),
                    at: row.get(2)?,
                    source: row.get(3)?,
                    sentiment: row.get(4)?,
                    mentions: serde_json::from_str(&mentions_text).map_err(|error| {
                        StoreError::Corrupt {
                            id: feedback_id,
                            message: format!("consumer mentions: {error}"),
                        }
                    })?,
                };
                match by_consumer.last_mut() {
                    Some((current, items)) if *current == consumer_id => items.push(item),
                    _ => by_consumer.push((consumer_id, vec![item])),
                }
            }
        }
        let mut write = transaction.prepare(
            "INSERT INTO consumers (consumer_id, last_feedback_at, updated_at, items) VALUES (?1, ?2, ?2, ?3)
             ON CONFLICT (consumer_id) DO UPDATE SET items = excluded.items",
        )?;
        for (consumer_id, mut items) in by_consumer {
            merge_items(&mut items, &[]);
            let last_feedback_at = items.last().map_or(0, |item| item.at);
            write
                .execute(params![
                    consumer_id,
                    last_feedback_at,
                    encode_items(&consumer_id, &items)?
                ])
                .map_err(classify)?;
        }
        drop(write);
        transaction
            .execute_batch("DROP TABLE consumer_items")
            .map_err(classify)?;
    }
    transaction.commit().map_err(classify)
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

/// Re-decides one consumer's tags from `items` (all of their
/// contributions), writes the difference, and queues a message per added
/// or removed tag; stores `items` too when they changed. Returns the number
/// of tag changes.
fn refresh_consumer(
    transaction: &Transaction<'_>,
    consumer_id: &str,
    items: &[ConsumerItem],
    refresh: &ConsumerRefresh<'_>,
    items_changed: bool,
) -> Result<usize, StoreError> {
    let evaluation = (refresh.evaluate)(consumer_id, items);
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
    // Contributions are kept oldest first.
    let last_feedback_at = items.last().map_or(0, |item| item.at);
    if items_changed {
        transaction
            .prepare_cached(
                "INSERT INTO consumers (consumer_id, last_feedback_at, updated_at, next_review_at, items)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (consumer_id) DO UPDATE SET last_feedback_at = excluded.last_feedback_at,
                     updated_at = excluded.updated_at, next_review_at = excluded.next_review_at,
                     items = excluded.items",
            )?
            .execute(params![
                consumer_id,
                last_feedback_at,
                refresh.now,
                evaluation.next_review_at,
                encode_items(consumer_id, items)?
            ])
            .map_err(classify)?;
    } else {
        // Only time moved: the contributions stay as stored.
        transaction
            .prepare_cached(
                "UPDATE consumers SET next_review_at = ?2,
                     updated_at = CASE WHEN ?3 THEN ?4 ELSE updated_at END
                 WHERE consumer_id = ?1",
            )?
            .execute(params![
                consumer_id,
                evaluation.next_review_at,
                changes > 0,
                refresh.now
            ])
            .map_err(classify)?;
    }
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
        // Each consumer once per batch, in the order they first appear.
        let mut consumers: Vec<(&str, Vec<&ConsumerItem>)> = Vec::new();
        let mut positions: std::collections::HashMap<&str, usize> = Default::default();
        for item in items {
            let position = *positions
                .entry(item.consumer_id.as_str())
                .or_insert_with(|| {
                    consumers.push((item.consumer_id.as_str(), Vec::new()));
                    consumers.len() - 1
                });
            consumers[position].1.push(item);
        }
        let mut changes = 0;
        for (consumer_id, new_items) in consumers {
            let mut stored = load_items(&transaction, consumer_id)?;
            merge_items(&mut stored, &new_items);
            changes += refresh_consumer(&transaction, consumer_id, &stored, refresh, true)?;
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
            let items = load_items(&transaction, consumer_id)?;
            changes += refresh_consumer(&transaction, consumer_id, &items, refresh, false)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn item(feedback_id: i64, at: i64, polarity: &str) -> ConsumerItem {
        ConsumerItem {
            feedback_id,
            consumer_id: "c-1".into(),
            at,
            source: "review".into(),
            sentiment: polarity.into(),
            mentions: vec![Mention {
                tag: "logistics.speed".into(),
                library: "logistics".into(),
                polarity: polarity.into(),
            }],
        }
    }

    #[test]
    fn contributions_round_trip_through_the_compact_form() {
        let items = vec![item(1, 100, "neg"), item(2, 200, "pos")];
        let text = encode_items("c-1", &items).expect("encode");
        assert_eq!(
            text,
            r#"[[1,100,"review","neg",[["logistics.speed","logistics","neg"]]],[2,200,"review","pos",[["logistics.speed","logistics","pos"]]]]"#
        );
        assert_eq!(decode_items("c-1", &text).expect("decode"), items);
        assert!(matches!(
            decode_items("c-1", "[[1,"),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn an_item_analysed_again_replaces_its_contribution_and_the_newest_are_kept() {
        let mut items = vec![item(1, 100, "neg"), item(2, 200, "neg")];
        let again = item(1, 100, "pos");
        let newer = item(3, 150, "neg");
        merge_items(&mut items, &[&again, &newer]);
        let order: Vec<(i64, &str)> = items
            .iter()
            .map(|item| (item.feedback_id, item.sentiment.as_str()))
            .collect();
        assert_eq!(order, [(1, "pos"), (3, "neg"), (2, "neg")]);

        let many: Vec<ConsumerItem> = (0..MAX_ITEMS_PER_CONSUMER as i64 + 2)
            .map(|id| item(id + 10, id, "neg"))
            .collect();
        let many: Vec<&ConsumerItem> = many.iter().collect();
        merge_items(&mut items, &many);
        assert_eq!(items.len(), MAX_ITEMS_PER_CONSUMER);
        assert_eq!(
            items.last().map(|item| item.at),
            Some(MAX_ITEMS_PER_CONSUMER as i64 + 1)
        );
    }

    #[test]
    fn the_first_layout_is_moved_into_the_consumers_rows() {
        let directory = tempfile::tempdir().expect("temporary directory");
        {
            let connection =
                rusqlite::Connection::open(directory.path().join("xinsheng.db")).expect("open");
            connection
                .execute_batch(
                    r#"CREATE TABLE consumer_items (
                        feedback_id INTEGER PRIMARY KEY, consumer_id TEXT NOT NULL, at INTEGER NOT NULL,
                        source TEXT NOT NULL, sentiment TEXT NOT NULL, mentions TEXT NOT NULL);
                    CREATE INDEX consumer_items_by_consumer ON consumer_items (consumer_id, at);
                    CREATE TABLE consumers (consumer_id TEXT PRIMARY KEY, last_feedback_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL, next_review_at INTEGER);
                    CREATE INDEX consumers_by_update ON consumers (updated_at);
                    INSERT INTO consumer_items VALUES
                        (7, 'c-1', 300, 'refund', 'neg', '[{"tag":"logistics.speed","library":"logistics","polarity":"neg"}]'),
                        (5, 'c-1', 100, 'review', 'pos', '[]'),
                        (6, 'c-2', 200, 'chat', 'neu', '[]');
                    INSERT INTO consumers VALUES ('c-1', 300, 400, 500), ('c-2', 200, 400, NULL);"#,
                )
                .expect("first layout");
        }
        let store = Store::open(directory.path(), false).expect("migrated");
        let first = store.consumer_items("c-1").expect("c-1");
        let ids: Vec<i64> = first.iter().map(|item| item.feedback_id).collect();
        assert_eq!(ids, [5, 7]);
        assert_eq!(first[1].source, "refund");
        assert_eq!(first[1].mentions[0].tag, "logistics.speed");
        assert_eq!(store.consumer_items("c-2").expect("c-2").len(), 1);
        let record = store
            .consumer_record("c-1")
            .expect("record")
            .expect("known");
        assert_eq!((record.last_feedback_at, record.updated_at), (300, 400));
        drop(store);
        // Opening again finds nothing left to move.
        let store = Store::open(directory.path(), false).expect("reopened");
        assert_eq!(store.consumer_items("c-1").expect("c-1").len(), 2);
    }
}
