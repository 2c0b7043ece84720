//! The unmasked originals, kept only when the deployment sets
//! `keep_raw_text` (off by default): every text that went into an item —
//! an API or import item's text and segments, each chat message — as it
//! arrived, appended in the same transaction that stores the masked item.
//! Nothing here is indexed, searched, exported or pushed; the only reader is
//! `GET /api/v1/feedback/{id}/raw` with the `admin` scope.

use rusqlite::{params, Transaction};
use serde::Serialize;

use super::{classify, Store, StoreError};

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS raw_texts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    feedback_id INTEGER NOT NULL REFERENCES feedback (id) ON DELETE CASCADE,
    origin TEXT NOT NULL,
    text TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS raw_texts_by_feedback ON raw_texts (feedback_id, seq);
"#;

/// One unmasked text and where it came from: `text`, `segment:<n>` or
/// `message:<message id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawText {
    pub origin: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredRawText {
    pub origin: String,
    pub text: String,
    pub received_at: i64,
}

pub(crate) fn append_raw_texts(
    transaction: &Transaction<'_>,
    feedback_id: i64,
    texts: &[RawText],
    received_at: i64,
) -> Result<(), StoreError> {
    if texts.is_empty() {
        return Ok(());
    }
    let mut statement = transaction.prepare_cached(
        "INSERT INTO raw_texts (feedback_id, origin, text, received_at) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for raw in texts {
        statement
            .execute(params![feedback_id, raw.origin, raw.text, received_at])
            .map_err(classify)?;
    }
    Ok(())
}

impl Store {
    /// The kept originals of an item, oldest first (empty when none were kept).
    pub fn raw_texts(&self, feedback_id: i64) -> Result<Vec<StoredRawText>, StoreError> {
        let connection = self.connection.lock();
        let mut statement = connection.prepare_cached(
            "SELECT origin, text, received_at FROM raw_texts WHERE feedback_id = ?1 ORDER BY seq",
        )?;
        let rows = statement
            .query_map([feedback_id], |row| {
                Ok(StoredRawText {
                    origin: row.get(0)?,
                    text: row.get(1)?,
                    received_at: row.get(2)?,
                })
            })
            .map_err(classify)?;
        Ok(rows.collect::<Result<_, _>>().map_err(classify)?)
    }
}
