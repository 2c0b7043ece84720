//! Consumer profiles' tables: the consumers with each one's contributions
//! (what each analysed item of theirs says), and their current derived
//! tags. The consumers module decides (profiles, rules); this file only
//! reads and writes.
//!
//! A consumer's contributions live in their own row (`consumers.profile`,
//! with their tags as last decided), so that an analysed item costs one read and one
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
    profile BLOB
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

/// A consumer's row payload (`consumers.profile`): their derived tags
/// with strengths as last decided, which the next refresh compares
/// against, and their contributions, oldest first.
///
/// Binary (postcard, behind a format byte) because every analysed item
/// decodes and re-encodes its consumer's whole payload: as JSON that was a
/// sixth of the projection's time. The tags ride in the same row so that a
/// refresh reads one row; `consumer_tags` stays the table audiences are
/// selected from, written only when a tag changes.
#[derive(Serialize, Deserialize)]
struct StoredProfile<'a> {
    #[serde(borrow)]
    tags: Vec<(&'a str, u64)>,
    #[serde(borrow)]
    contributions: Vec<StoredContribution<&'a str>>,
}

/// `(feedback_id, at, source, sentiment, [(tag, library, polarity), ...])`:
/// borrowed from the binary profile, owned when read from the JSON layout.
#[derive(Serialize, Deserialize)]
struct StoredContribution<S>(i64, i64, S, S, Vec<(S, S, S)>);

impl<S: Into<String>> StoredContribution<S> {
    fn into_item(self, consumer_id: &str) -> ConsumerItem {
        let StoredContribution(feedback_id, at, source, sentiment, mentions) = self;
        ConsumerItem {
            feedback_id,
            consumer_id: consumer_id.to_string(),
            at,
            source: source.into(),
            sentiment: sentiment.into(),
            mentions: mentions
                .into_iter()
                .map(|(tag, library, polarity)| Mention {
                    tag: tag.into(),
                    library: library.into(),
                    polarity: polarity.into(),
                })
                .collect(),
        }
    }
}

const PROFILE_FORMAT: u8 = 1;

/// A consumer's stored state: empty for an unknown consumer.
#[derive(Debug, Clone, Default, PartialEq)]
struct ConsumerState {
    /// (tag id, strength)
    tags: Vec<(String, u64)>,
    /// Oldest first.
    items: Vec<ConsumerItem>,
}

fn encode_profile(
    consumer_id: &str,
    tags: &[(String, u64)],
    items: &[ConsumerItem],
) -> Result<Vec<u8>, StoreError> {
    let stored = StoredProfile {
        tags: tags
            .iter()
            .map(|(tag, strength)| (tag.as_str(), *strength))
            .collect(),
        contributions: items
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
            .collect(),
    };
    // `to_extend` copies byte by byte; `to_stdvec` appends slices.
    let mut bytes =
        postcard::to_stdvec(&stored).map_err(|error| corrupt_profile(consumer_id, error))?;
    bytes.insert(0, PROFILE_FORMAT);
    Ok(bytes)
}

fn decode_profile(consumer_id: &str, bytes: &[u8]) -> Result<ConsumerState, StoreError> {
    let stored: StoredProfile<'_> = match bytes.split_first() {
        Some((&PROFILE_FORMAT, rest)) => {
            postcard::from_bytes(rest).map_err(|error| corrupt_profile(consumer_id, error))?
        }
        _ => {
            return Err(corrupt_profile(
                consumer_id,
                format!("unknown format (first byte {:?})", bytes.first()),
            ))
        }
    };
    Ok(ConsumerState {
        tags: stored
            .tags
            .into_iter()
            .map(|(tag, strength)| (tag.to_string(), strength))
            .collect(),
        items: stored
            .contributions
            .into_iter()
            .map(|contribution| contribution.into_item(consumer_id))
            .collect(),
    })
}

fn corrupt_profile(consumer_id: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        id: 0,
        message: format!("profile of consumer {consumer_id:?}: {error}"),
    }
}

fn load_state(
    connection: &rusqlite::Connection,
    consumer_id: &str,
) -> Result<ConsumerState, StoreError> {
    let decoded = connection
        .prepare_cached("SELECT profile FROM consumers WHERE consumer_id = ?1")?
        .query_row(params![consumer_id], |row| {
            Ok(row
                .get_ref(0)?
                .as_blob_or_null()?
                .map(|bytes| decode_profile(consumer_id, bytes)))
        })
        .optional()
        .map_err(classify)?;
    match decoded.flatten() {
        Some(state) => state,
        None => Ok(ConsumerState::default()),
    }
}

/// Adds contributions to a consumer's (replacing any of the same item),
/// oldest first, keeping the newest [`MAX_ITEMS_PER_CONSUMER`].
fn merge_items(items: &mut Vec<ConsumerItem>, new_items: Vec<ConsumerItem>) {
    for new_item in new_items {
        match items
            .iter_mut()
            .find(|item| item.feedback_id == new_item.feedback_id)
        {
            Some(existing) => *existing = new_item,
            None => items.push(new_item),
        }
    }
    items.sort_by_key(|item| (item.at, item.feedback_id));
    let excess = items.len().saturating_sub(MAX_ITEMS_PER_CONSUMER);
    items.drain(..excess);
}

/// Brings older layouts to the current one. Runs after [`SCHEMA`]; a
/// no-op on new and already moved databases. The layouts, oldest first:
/// a `consumer_items` table with one row per item; contributions as a
/// JSON array in `consumers.items`; the binary `consumers.profile`.
pub(super) fn migrate(connection: &mut rusqlite::Connection) -> Result<(), StoreError> {
    let exists = |query: &str| -> Result<bool, StoreError> {
        connection
            .query_row(query, [], |row| row.get::<_, i64>(0))
            .map(|count| count > 0)
            .map_err(classify)
    };
    let has_profile_column =
        exists("SELECT COUNT(*) FROM pragma_table_info('consumers') WHERE name = 'profile'")?;
    let has_items_column =
        exists("SELECT COUNT(*) FROM pragma_table_info('consumers') WHERE name = 'items'")?;
    let has_item_table = exists(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'consumer_items'",
    )?;
    if has_profile_column && !has_items_column && !has_item_table {
        return Ok(());
    }
    let transaction = connection.transaction().map_err(classify)?;
    if !has_profile_column {
        // The first layout also indexed updated_at; audiences filter on it
        // only after the tag lookup, so the index cost a write per item and
        // served nothing.
        transaction
            .execute_batch(
                "ALTER TABLE consumers ADD COLUMN profile BLOB;
                 DROP INDEX IF EXISTS consumers_by_update;",
            )
            .map_err(classify)?;
    }
    let mut by_consumer: Vec<(String, Vec<ConsumerItem>)> = Vec::new();
    if has_item_table {
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
    if has_items_column {
        let mut statement = transaction.prepare("SELECT consumer_id, items FROM consumers")?;
        let mut rows = statement.query([]).map_err(classify)?;
        while let Some(row) = rows.next().map_err(classify)? {
            let consumer_id: String = row.get(0)?;
            let text: String = row.get(1)?;
            let items = decode_json_items(&consumer_id, &text)?;
            by_consumer.push((consumer_id, items));
        }
    }
    {
        let mut write = transaction.prepare(
            "INSERT INTO consumers (consumer_id, last_feedback_at, updated_at, profile) VALUES (?1, ?2, ?2, ?3)
             ON CONFLICT (consumer_id) DO UPDATE SET profile = excluded.profile",
        )?;
        for (consumer_id, mut items) in by_consumer {
            merge_items(&mut items, Vec::new());
            let tags: Vec<(String, u64)> = load_tags(&transaction, &consumer_id)?
                .into_iter()
                .map(|stored| (stored.tag, stored.strength))
                .collect();
            let last_feedback_at = items.last().map_or(0, |item| item.at);
            write
                .execute(params![
                    consumer_id,
                    last_feedback_at,
                    encode_profile(&consumer_id, &tags, &items)?
                ])
                .map_err(classify)?;
        }
    }
    if has_items_column {
        transaction
            .execute_batch("ALTER TABLE consumers DROP COLUMN items")
            .map_err(classify)?;
    }
    if has_item_table {
        transaction
            .execute_batch("DROP TABLE consumer_items")
            .map_err(classify)?;
    }
    transaction.commit().map_err(classify)
}

/// Contributions in the second layout:
/// `[[feedback_id, at, source, sentiment, [[tag, library, polarity], ...]], ...]`.
fn decode_json_items(consumer_id: &str, text: &str) -> Result<Vec<ConsumerItem>, StoreError> {
    let stored: Vec<StoredContribution<String>> =
        serde_json::from_str(text).map_err(|error| corrupt_profile(consumer_id, error))?;
    Ok(stored
        .into_iter()
        .map(|contribution| contribution.into_item(consumer_id))
        .collect())
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
/// contributions) against `before` (their tags as last decided), writes the
/// difference, and queues a message per added or removed tag; stores the
/// profile again when the contributions or the tags changed. Returns the
/// number of tag changes.
fn refresh_consumer(
    transaction: &Transaction<'_>,
    consumer_id: &str,
    before: &[(String, u64)],
    items: &[ConsumerItem],
    refresh: &ConsumerRefresh<'_>,
    items_changed: bool,
) -> Result<usize, StoreError> {
    let evaluation = (refresh.evaluate)(consumer_id, items);
    let current: Vec<String> = evaluation.tags.iter().map(|(tag, _)| tag.clone()).collect();
    let mut changes = 0;
    let mut strengths_changed = false;
    for (tag, strength) in &evaluation.tags {
        match before.iter().find(|(stored, _)| stored == tag) {
            Some((_, stored)) if stored == strength => {}
            Some(_) => {
                strengths_changed = true;
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
    for (stored, _) in before
        .iter()
        .filter(|(stored, _)| !current.contains(stored))
    {
        transaction
            .prepare_cached("DELETE FROM consumer_tags WHERE consumer_id = ?1 AND tag = ?2")?
            .execute(params![consumer_id, stored])
            .map_err(classify)?;
        changes += 1;
        report_change(
            transaction,
            refresh,
            consumer_id,
            stored,
            TagChangeKind::Removed,
            0,
            &current,
        )?;
    }
    if items_changed || changes > 0 || strengths_changed {
        // Contributions are kept oldest first.
        let last_feedback_at = items.last().map_or(0, |item| item.at);
        let updated_at = (items_changed || changes > 0).then_some(refresh.now);
        transaction
            .prepare_cached(
                "INSERT INTO consumers (consumer_id, last_feedback_at, updated_at, next_review_at, profile)
                 VALUES (?1, ?2, COALESCE(?3, 0), ?4, ?5)
                 ON CONFLICT (consumer_id) DO UPDATE SET last_feedback_at = excluded.last_feedback_at,
                     updated_at = COALESCE(?3, updated_at), next_review_at = excluded.next_review_at,
                     profile = excluded.profile",
            )?
            .execute(params![
                consumer_id,
                last_feedback_at,
                updated_at,
                evaluation.next_review_at,
                encode_profile(consumer_id, &evaluation.tags, items)?
            ])
            .map_err(classify)?;
    } else {
        // Only time moved and nothing it decides changed.
        transaction
            .prepare_cached("UPDATE consumers SET next_review_at = ?2 WHERE consumer_id = ?1")?
            .execute(params![consumer_id, evaluation.next_review_at])
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
        items: Vec<ConsumerItem>,
        refresh: &ConsumerRefresh<'_>,
    ) -> Result<usize, StoreError> {
        // Each consumer once per batch, in the order they first appear.
        let mut consumers: Vec<(String, Vec<ConsumerItem>)> = Vec::new();
        let mut positions: std::collections::HashMap<String, usize> = Default::default();
        for item in items {
            match positions.get(item.consumer_id.as_str()) {
                Some(&position) => consumers[position].1.push(item),
                None => {
                    positions.insert(item.consumer_id.clone(), consumers.len());
                    consumers.push((item.consumer_id.clone(), vec![item]));
                }
            }
        }
        let mut connection = self.connection.lock();
        let transaction = connection.transaction().map_err(classify)?;
        let mut changes = 0;
        for (consumer_id, new_items) in consumers {
            let ConsumerState { tags, mut items } = load_state(&transaction, &consumer_id)?;
            merge_items(&mut items, new_items);
            changes += refresh_consumer(&transaction, &consumer_id, &tags, &items, refresh, true)?;
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
            let state = load_state(&transaction, consumer_id)?;
            changes += refresh_consumer(
                &transaction,
                consumer_id,
                &state.tags,
                &state.items,
                refresh,
                false,
            )?;
        }
        transaction.commit().map_err(classify)?;
        Ok((due.len(), changes))
    }

    pub fn consumer_items(&self, consumer_id: &str) -> Result<Vec<ConsumerItem>, StoreError> {
        let connection = self.connection.lock();
        Ok(load_state(&connection, consumer_id)?.items)
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
    fn profiles_round_trip_through_the_binary_form() {
        let items = vec![item(1, 100, "neg"), item(2, 200, "pos")];
        let tags = vec![("logistics_sensitive".to_string(), 2)];
        let bytes = encode_profile("c-1", &tags, &items).expect("encode");
        assert_eq!(bytes[0], PROFILE_FORMAT);
        assert_eq!(
            decode_profile("c-1", &bytes).expect("decode"),
            ConsumerState { tags, items }
        );
        for corrupt in [&bytes[..bytes.len() - 3], &[], &[9, 0, 0][..]] {
            assert!(matches!(
                decode_profile("c-1", corrupt),
                Err(StoreError::Corrupt { .. })
            ));
        }
    }

    #[test]
    fn an_item_analysed_again_replaces_its_contribution_and_the_newest_are_kept() {
        let mut items = vec![item(1, 100, "neg"), item(2, 200, "neg")];
        let again = item(1, 100, "pos");
        let newer = item(3, 150, "neg");
        merge_items(&mut items, vec![again, newer]);
        let order: Vec<(i64, &str)> = items
            .iter()
            .map(|item| (item.feedback_id, item.sentiment.as_str()))
            .collect();
        assert_eq!(order, [(1, "pos"), (3, "neg"), (2, "neg")]);

        let many: Vec<ConsumerItem> = (0..MAX_ITEMS_PER_CONSUMER as i64 + 2)
            .map(|id| item(id + 10, id, "neg"))
            .collect();
        merge_items(&mut items, many);
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

    #[test]
    fn the_json_layout_is_moved_into_binary_profiles_with_their_tags() {
        let directory = tempfile::tempdir().expect("temporary directory");
        {
            let connection =
                rusqlite::Connection::open(directory.path().join("xinsheng.db")).expect("open");
            connection
                .execute_batch(
                    r#"CREATE TABLE consumers (consumer_id TEXT PRIMARY KEY, last_feedback_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL, next_review_at INTEGER, items TEXT NOT NULL DEFAULT '[]');
                    CREATE TABLE consumer_tags (consumer_id TEXT NOT NULL, tag TEXT NOT NULL,
                        strength INTEGER NOT NULL, since INTEGER NOT NULL, PRIMARY KEY (consumer_id, tag));
                    INSERT INTO consumers VALUES ('c-1', 200, 400, NULL,
                        '[[2,200,"review","neg",[["logistics.speed","logistics","neg"]]],[1,100,"refund","neg",[]]]');
                    INSERT INTO consumer_tags VALUES ('c-1', 'logistics_sensitive', 2, 150);"#,
                )
                .expect("second layout");
        }
        let store = Store::open(directory.path(), false).expect("migrated");
        let items = store.consumer_items("c-1").expect("c-1");
        let ids: Vec<i64> = items.iter().map(|item| item.feedback_id).collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(items[1].mentions[0].tag, "logistics.speed");

        // The tag came along: deciding it again is no change, and it keeps its date.
        let evaluate = |_: &str, _: &[ConsumerItem]| TagEvaluation {
            tags: vec![("logistics_sensitive".to_string(), 2)],
            next_review_at: None,
        };
        let refresh = ConsumerRefresh {
            evaluate: &evaluate,
            outbox: None,
            now: 1_000,
        };
        let changes = store
            .apply_consumer_items("consumers", 1, vec![item(3, 300, "neg")], &refresh)
            .expect("applied");
        assert_eq!(changes, 0);
        let record = store
            .consumer_record("c-1")
            .expect("record")
            .expect("known");
        assert_eq!(record.tags.len(), 1);
        assert_eq!(record.tags[0].since, 150);
        assert_eq!((record.last_feedback_at, record.updated_at), (300, 1_000));
        assert_eq!(store.consumer_items("c-1").expect("c-1").len(), 3);
    }
}
