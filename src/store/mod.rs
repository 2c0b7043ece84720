//! The embedded database (SQLite through rusqlite): the system of record.
//!
//! Every acknowledged item is a row of `feedback`, committed before the
//! HTTP answer goes out. The same table is the durable analysis queue: a row
//! is `pending` until its analysis is written *and* the index commit that
//! holds it has succeeded, then `indexed`. A crash anywhere in between
//! leaves the row `pending`, and the worker redoes it at the next start
//! (the index deletes by id before adding, so redoing never duplicates).
//!
//! WAL journal with `synchronous=NORMAL`: a committed transaction survives
//! the process being killed; `durability = "full"` in the config also
//! survives power loss at the cost of an fsync per commit.

use std::path::Path;

use parking_lot::Mutex;
use rusqlite::config::DbConfig;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

pub mod alerts;
pub mod consumers;
pub mod control;
pub mod conversations;
pub mod events;
pub mod followups;
pub mod outbox;
pub mod raw_texts;

use crate::feedback::{Analysis, NewFeedback, Source};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    /// Another connection (a CLI command, an administrator's shell) held
    /// the write lock for longer than the busy timeout.
    #[error("database is busy, try again")]
    Busy,
    /// The data volume has no room left. SQLite rolled the transaction
    /// back: nothing of it was stored, and nothing stored is damaged.
    #[error("the data volume is full")]
    Full,
    #[error("stored row {id} is corrupt: {message}")]
    Corrupt { id: i64, message: String },
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
}

fn classify(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Busy
        }
        Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full,
        _ => StoreError::Sqlite(error),
    }
}

/// Every SQLite error is classified, whichever statement raised it (a
/// `prepare` can meet a lock or a full disk as well as a `step`).
impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> StoreError {
        classify(error)
    }
}

/// How long a statement waits for another connection's write lock before
/// failing with [`StoreError::Busy`].
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    external_id TEXT NOT NULL,
    source TEXT NOT NULL,
    channel TEXT NOT NULL,
    text TEXT NOT NULL,
    rating INTEGER,
    order_id TEXT,
    sku TEXT,
    product_name TEXT,
    category TEXT,
    consumer_id TEXT,
    store TEXT,
    created_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    meta TEXT,
    state TEXT NOT NULL DEFAULT 'pending',
    analysis TEXT,
    analyser_version TEXT,
    analysed_at INTEGER,
    segments TEXT,
    reason_code TEXT,
    revision INTEGER NOT NULL DEFAULT 0,
    UNIQUE (source, channel, external_id)
);
CREATE INDEX IF NOT EXISTS feedback_by_state ON feedback (state, id);
CREATE TABLE IF NOT EXISTS import_progress (
    file_key TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    rows_done INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
"#;

/// Columns added after the first release, with their definitions: opening an
/// older database adds them in place.
const ADDED_COLUMNS: [(&str, &str); 3] = [
    ("segments", "TEXT"),
    ("reason_code", "TEXT"),
    ("revision", "INTEGER NOT NULL DEFAULT 0"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessingState {
    Pending,
    Indexed,
}

impl ProcessingState {
    fn as_str(self) -> &'static str {
        match self {
            ProcessingState::Pending => "pending",
            ProcessingState::Indexed => "indexed",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StoredFeedback {
    pub id: i64,
    #[serde(flatten)]
    pub item: NewFeedback,
    pub received_at: i64,
    pub state: ProcessingState,
    pub analysis: Option<Analysis>,
    /// Bumped whenever the item changes (a turn or a 追评 appended), so an
    /// analysis of an older revision is never recorded as current.
    #[serde(skip)]
    pub revision: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inserted {
    pub id: i64,
    pub external_id: String,
    /// The item was already stored (same source, channel and external_id).
    pub duplicate: bool,
    /// The item was already stored and this request added segments to it
    /// (a 追评, more turns); it is analysed again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub updated: bool,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct QueueCounts {
    pub pending: u64,
    pub indexed: u64,
}

pub struct Store {
    connection: Mutex<Connection>,
}

const COLUMNS: &str = "id, external_id, source, channel, text, rating, order_id, sku, product_name, category, consumer_id, store, created_at, received_at, meta, state, analysis, segments, reason_code, revision";

fn row_to_feedback(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<StoredFeedback, StoreError>> {
    let id: i64 = row.get(0)?;
    let source_text: String = row.get(2)?;
    let meta_text: Option<String> = row.get(14)?;
    let state_text: String = row.get(15)?;
    let analysis_text: Option<String> = row.get(16)?;
    let segments_text: Option<String> = row.get(17)?;
    let corrupt = |message: String| StoreError::Corrupt { id, message };
    let Some(source) = Source::parse(&source_text) else {
        return Ok(Err(corrupt(format!("unknown source {source_text}"))));
    };
    let meta = match meta_text
        .map(|text| serde_json::from_str(&text))
        .transpose()
    {
        Ok(meta) => meta,
        Err(error) => return Ok(Err(corrupt(format!("meta: {error}")))),
    };
    let analysis = match analysis_text
        .map(|text| serde_json::from_str(&text))
        .transpose()
    {
        Ok(analysis) => analysis,
        Err(error) => return Ok(Err(corrupt(format!("analysis: {error}")))),
    };
    let segments = match segments_text
        .map(|text| serde_json::from_str(&text))
        .transpose()
    {
        Ok(segments) => segments.unwrap_or_default(),
        Err(error) => return Ok(Err(corrupt(format!("segments: {error}")))),
    };
    let state = if state_text == "indexed" {
        ProcessingState::Indexed
    } else {
        ProcessingState::Pending
    };
    Ok(Ok(StoredFeedback {
        id,
        item: NewFeedback {
            external_id: row.get(1)?,
            source,
            channel: row.get(3)?,
            text: row.get(4)?,
            rating: row.get(5)?,
            order_id: row.get(6)?,
            sku: row.get(7)?,
            product_name: row.get(8)?,
            category: row.get(9)?,
            consumer_id: row.get(10)?,
            store: row.get(11)?,
            created_at: row.get(12)?,
            meta,
            segments,
            reason_code: row.get(18)?,
        },
        received_at: row.get(13)?,
        state,
        analysis,
        revision: row.get(19)?,
    }))
}

impl Store {
    pub fn open(data_dir: &Path, full_durability: bool) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let mut connection = Connection::open(data_dir.join("xinsheng.db"))?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(
            None,
            "synchronous",
            if full_durability { "FULL" } else { "NORMAL" },
        )?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        // Plans never depend on bound values here (no ANALYZE statistics),
        // yet without the stability guarantee SQLite re-prepares some
        // statements on every new binding (the consumer lookups ran through
        // the SQL parser once per item: a third of the profile projection).
        connection.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        connection.pragma_update(None, "cache_size", -32_768)?;
        connection.pragma_update(None, "wal_autocheckpoint", 8_192)?;
        connection.execute_batch(SCHEMA)?;
        add_missing_columns(&connection)?;
        connection.execute_batch(conversations::SCHEMA)?;
        connection.execute_batch(alerts::SCHEMA)?;
        connection.execute_batch(events::SCHEMA)?;
        connection.execute_batch(outbox::SCHEMA)?;
        connection.execute_batch(consumers::SCHEMA)?;
        consumers::migrate(&mut connection)?;
        connection.execute_batch(followups::SCHEMA)?;
        connection.execute_batch(raw_texts::SCHEMA)?;
        Ok(Store {
            connection: Mutex::new(connection),
        })
    }

    /// Stores a batch in one transaction: all of it or none of it. Items whose
    /// (source, channel, external_id) is already stored, in the database or
    /// earlier in the same batch, return the existing id.
    pub fn insert_batch(
        &self,
        items: &[NewFeedback],
        received_at: i64,
    ) -> Result<Vec<Inserted>, StoreError> {
        self.insert_batch_keeping(items, &[], received_at)
    }

    /// [`Store::insert_batch`], also keeping each item's unmasked originals
    /// (`raw[i]` for `items[i]`; an empty slice keeps nothing) when the item
    /// is stored or extended.
    pub fn insert_batch_keeping(
        &self,
        items: &[NewFeedback],
        raw: &[Vec<raw_texts::RawText>],
        received_at: i64,
    ) -> Result<Vec<Inserted>, StoreError> {
        let mut connection = self.connection.lock();
        let transaction = connection.transaction().map_err(classify)?;
        let mut inserted = Vec::with_capacity(items.len());
        {
            let mut existing_id = transaction.prepare_cached(
                "SELECT id FROM feedback WHERE source = ?1 AND channel = ?2 AND external_id = ?3",
            )?;
            let mut existing_item = transaction.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM feedback WHERE source = ?1 AND channel = ?2 AND external_id = ?3"
            ))?;
            for (position, item) in items.iter().enumerate() {
                let changed = insert_row(&transaction, item, received_at)?;
                let key = params![item.source.as_str(), item.channel, item.external_id];
                let (id, updated) = if changed == 1 {
                    (transaction.last_insert_rowid(), false)
                } else if item.segments.is_empty() {
                    // Only segments can add to a stored item; a plain
                    // re-send needs the id alone, not the row and its analysis.
                    let id = existing_id
                        .query_row(key, |row| row.get(0))
                        .map_err(classify)?;
                    (id, false)
                } else {
                    let stored = existing_item
                        .query_row(key, row_to_feedback)
                        .map_err(classify)??;
                    let updated = match stored.item.merged_with(item) {
                        Some(merged) => {
                            update_content(&transaction, stored.id, &merged)?;
                            true
                        }
                        None => false,
                    };
                    (stored.id, updated)
                };
                if changed == 1 || updated {
                    if let Some(originals) = raw.get(position) {
                        raw_texts::append_raw_texts(&transaction, id, originals, received_at)?;
                    }
                }
                inserted.push(Inserted {
                    id,
                    external_id: item.external_id.clone(),
                    duplicate: changed == 0,
                    updated,
                });
            }
        }
        transaction.commit().map_err(classify)?;
        Ok(inserted)
    }

    pub fn get(&self, id: i64) -> Result<Option<StoredFeedback>, StoreError> {
        let connection = self.connection.lock();
        let mut statement =
            connection.prepare_cached(&format!("SELECT {COLUMNS} FROM feedback WHERE id = ?1"))?;
        let row = statement
            .query_row(params![id], row_to_feedback)
            .optional()
            .map_err(classify)?;
        row.transpose()
    }

    /// Pending items with id above `after_id`, oldest first.
    pub fn pending_after(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<StoredFeedback>, StoreError> {
        self.select_page("state = 'pending' AND id > ?1", after_id, limit)
    }

    /// Every item with id above `after_id`, for rebuilding the index.
    pub fn page_after(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<StoredFeedback>, StoreError> {
        self.select_page("id > ?1", after_id, limit)
    }

    fn select_page(
        &self,
        condition: &str,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<StoredFeedback>, StoreError> {
        let connection = self.connection.lock();
        let mut statement = connection.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM feedback WHERE {condition} ORDER BY id LIMIT ?2"
        ))?;
        let rows = statement
            .query_map(params![after_id, limit as i64], row_to_feedback)
            .map_err(classify)?;
        let mut items = Vec::new();
        for row in rows {
            items.push(row.map_err(classify)??);
        }
        Ok(items)
    }

    /// Records analyses and marks the items indexed, in one transaction.
    /// Call only after the index commit holding these items succeeded.
    /// An item changed since it was read (its revision moved on) stays
    /// pending: the analysis is of text that is no longer current.
    /// Each recorded analysis appends to the event log ([`events`]).
    pub fn mark_indexed(
        &self,
        analysed: &[(i64, i64, &Analysis)],
        analysed_at: i64,
    ) -> Result<(), StoreError> {
        let mut connection = self.connection.lock();
        let transaction = connection.transaction().map_err(classify)?;
        {
            let mut update = transaction.prepare_cached(
                "UPDATE feedback SET state = ?2, analysis = ?3, analyser_version = ?4, analysed_at = ?5 WHERE id = ?1 AND revision = ?6",
            )?;
            for (id, revision, analysis) in analysed {
                let analysis_json =
                    serde_json::to_string(analysis).map_err(|error| StoreError::Corrupt {
                        id: *id,
                        message: format!("analysis does not serialise: {error}"),
                    })?;
                let changed = update
                    .execute(params![
                        id,
                        ProcessingState::Indexed.as_str(),
                        analysis_json,
                        analysis.analyser_version,
                        analysed_at,
                        revision
                    ])
                    .map_err(classify)?;
                if changed > 0 {
                    events::record_analysed(&transaction, *id, analysed_at)?;
                }
            }
        }
        transaction.commit().map_err(classify)?;
        Ok(())
    }

    /// Puts every item back in the queue, for re-analysis with a new lexicon or model.
    pub fn requeue_all(&self) -> Result<u64, StoreError> {
        let connection = self.connection.lock();
        let changed = connection
            .execute("UPDATE feedback SET state = 'pending'", [])
            .map_err(classify)?;
        Ok(changed as u64)
    }

    pub fn queue_counts(&self) -> Result<QueueCounts, StoreError> {
        let connection = self.connection.lock();
        let mut statement =
            connection.prepare_cached("SELECT state, COUNT(*) FROM feedback GROUP BY state")?;
        let mut counts = QueueCounts::default();
        let rows = statement
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .map_err(classify)?;
        for row in rows {
            let (state, count) = row.map_err(classify)?;
            match state.as_str() {
                "indexed" => counts.indexed = count as u64,
                _ => counts.pending += count as u64,
            }
        }
        Ok(counts)
    }

    pub fn import_progress(&self, file_key: &str) -> Result<u64, StoreError> {
        let connection = self.connection.lock();
        let rows_done: Option<i64> = connection
            .query_row(
                "SELECT rows_done FROM import_progress WHERE file_key = ?1",
                params![file_key],
                |row| row.get(0),
            )
            .optional()
            .map_err(classify)?;
        Ok(rows_done.unwrap_or(0) as u64)
    }

    pub fn save_import_progress(
        &self,
        file_key: &str,
        path: &str,
        rows_done: u64,
        now: i64,
    ) -> Result<(), StoreError> {
        let connection = self.connection.lock();
        connection
            .execute(
                "INSERT INTO import_progress (file_key, path, rows_done, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (file_key) DO UPDATE SET rows_done = excluded.rows_done, updated_at = excluded.updated_at",
                params![file_key, path, rows_done as i64, now],
            )
            .map_err(classify)?;
        Ok(())
    }
}

/// Inserts an item unless its (source, channel, external_id) is stored;
/// returns the number of rows inserted (0 or 1).
fn insert_row(
    transaction: &rusqlite::Transaction<'_>,
    item: &NewFeedback,
    received_at: i64,
) -> Result<usize, StoreError> {
    let meta = item.meta.as_ref().map(serde_json::Value::to_string);
    transaction
        .prepare_cached(
            "INSERT INTO feedback (external_id, source, channel, text, rating, order_id, sku, product_name, category, consumer_id, store, created_at, received_at, meta, segments, reason_code)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
             ON CONFLICT (source, channel, external_id) DO NOTHING",
        )?
        .execute(params![
            item.external_id,
            item.source.as_str(),
            item.channel,
            item.text,
            item.rating,
            item.order_id,
            item.sku,
            item.product_name,
            item.category,
            item.consumer_id,
            item.store,
            item.created_at,
            received_at,
            meta,
            segments_json(&item.segments),
            item.reason_code,
        ])
        .map_err(classify)
}

fn segments_json(segments: &[crate::feedback::Segment]) -> Option<String> {
    if segments.is_empty() {
        None
    } else {
        // Segments are plain data; serialising them cannot fail.
        serde_json::to_string(segments).ok()
    }
}

/// Writes an item's new text and segments and queues it for analysis again.
fn update_content(
    transaction: &rusqlite::Transaction<'_>,
    id: i64,
    item: &NewFeedback,
) -> Result<(), StoreError> {
    transaction
        .prepare_cached(
            "UPDATE feedback SET text = ?2, segments = ?3, state = 'pending', revision = revision + 1 WHERE id = ?1",
        )?
        .execute(params![id, item.text, segments_json(&item.segments)])
        .map_err(classify)?;
    Ok(())
}

fn add_missing_columns(connection: &Connection) -> Result<(), StoreError> {
    let mut statement = connection.prepare("SELECT name FROM pragma_table_info('feedback')")?;
    let existing: Vec<String> = statement
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for (name, definition) in ADDED_COLUMNS {
        if !existing.iter().any(|column| column == name) {
            connection.execute_batch(&format!(
                "ALTER TABLE feedback ADD COLUMN {name} {definition}"
            ))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(external_id: &str) -> NewFeedback {
        NewFeedback {
            external_id: external_id.to_string(),
            source: Source::Review,
            channel: "tmall".to_string(),
            text: "物流很快".to_string(),
            rating: Some(5),
            order_id: None,
            sku: Some("QH-TS-001".to_string()),
            product_name: None,
            category: None,
            consumer_id: None,
            store: None,
            created_at: 1_700_000_000,
            meta: Some(serde_json::json!({"k": 1})),
            segments: Vec::new(),
            reason_code: None,
        }
    }

    #[test]
    fn duplicate_external_ids_are_stored_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), false).expect("open");
        let first = store
            .insert_batch(&[item("a"), item("b"), item("a")], 1)
            .expect("insert");
        assert_eq!(first[0].id, first[2].id);
        assert!(!first[0].duplicate && first[2].duplicate);
        let again = store.insert_batch(&[item("b")], 2).expect("insert again");
        assert_eq!(again[0].id, first[1].id);
        assert!(again[0].duplicate);
        assert_eq!(store.queue_counts().expect("counts").pending, 2);
        let stored = store.get(first[0].id).expect("get").expect("exists");
        assert_eq!(stored.item, item("a"));
        assert_eq!(stored.state, ProcessingState::Pending);
    }
}
