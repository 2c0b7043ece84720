//! The outbox: messages to other systems (CDP tag changes, alert
//! notifications) written in the same transaction as the change they
//! report, and delivered by [`crate::delivery`] until the receiver accepts
//! them. A message is never dropped: failures are retried with backoff, and
//! pending messages survive restarts because they are rows, not memory.

use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;

use super::{classify, Store, StoreError};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    delivered_at INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (target, delivered_at, next_attempt_at, id);
"#;

/// Delivered messages are kept this long for inspection, then deleted.
pub const DELIVERED_RETENTION_SECONDS: i64 = 7 * 24 * 3600;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxMessage {
    pub id: i64,
    pub target: String,
    pub payload: serde_json::Value,
    pub created_at: i64,
    pub attempts: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OutboxCounts {
    pub pending: u64,
    /// Pending messages that have failed at least once.
    pub failing: u64,
    pub delivered: u64,
}

impl OutboxCounts {
    pub fn add(&mut self, other: &OutboxCounts) {
        self.pending += other.pending;
        self.failing += other.failing;
        self.delivered += other.delivered;
    }
}

pub(crate) fn enqueue_outbox_in(
    transaction: &Transaction<'_>,
    target: &str,
    payload: &serde_json::Value,
    now: i64,
) -> Result<i64, StoreError> {
    transaction
        .prepare_cached(
            "INSERT INTO outbox (target, payload, created_at, next_attempt_at) VALUES (?1, ?2, ?3, ?3)",
        )?
        .execute(params![target, payload.to_string(), now])
        .map_err(classify)?;
    Ok(transaction.last_insert_rowid())
}

impl Store {
    pub fn enqueue_outbox(
        &self,
        target: &str,
        payload: &serde_json::Value,
        now: i64,
    ) -> Result<i64, StoreError> {
        let mut connection = self.connection.lock();
        let transaction = connection.transaction().map_err(classify)?;
        let id = enqueue_outbox_in(&transaction, target, payload, now)?;
        transaction.commit().map_err(classify)?;
        Ok(id)
    }

    /// Undelivered messages for `target`, oldest first, when the oldest is
    /// due. Messages go out in order: while the oldest waits for its retry,
    /// later ones wait behind it (a CDP must not see a tag removed before it
    /// saw it added).
    pub fn due_outbox(
        &self,
        target: &str,
        now: i64,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let connection = self.connection.lock();
        let oldest_due_at: Option<i64> = connection
            .prepare_cached(
                "SELECT next_attempt_at FROM outbox WHERE target = ?1 AND delivered_at IS NULL ORDER BY id LIMIT 1",
            )?
            .query_row(params![target], |row| row.get(0))
            .optional()
            .map_err(classify)?;
        if oldest_due_at.is_none_or(|due_at| due_at > now) {
            return Ok(Vec::new());
        }
        let mut statement = connection.prepare_cached(
            "SELECT id, target, payload, created_at, attempts FROM outbox
             WHERE target = ?1 AND delivered_at IS NULL
             ORDER BY id LIMIT ?2",
        )?;
        let rows = statement
            .query_map(params![target, limit as i64], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, u32>(4)?,
                ))
            })
            .map_err(classify)?;
        let mut messages = Vec::new();
        for row in rows {
            let (id, target, payload_text, created_at, attempts) = row.map_err(classify)?;
            let payload =
                serde_json::from_str(&payload_text).map_err(|error| StoreError::Corrupt {
                    id,
                    message: format!("outbox payload: {error}"),
                })?;
            messages.push(OutboxMessage {
                id,
                target,
                payload,
                created_at,
                attempts,
            });
        }
        Ok(messages)
    }

    /// The earliest next attempt among undelivered messages, if any: the
    /// delivery thread sleeps until then.
    pub fn next_outbox_attempt(&self) -> Result<Option<i64>, StoreError> {
        let connection = self.connection.lock();
        connection
            .query_row(
                "SELECT MIN(next_attempt_at) FROM outbox WHERE delivered_at IS NULL",
                [],
                |row| row.get(0),
            )
            .map_err(classify)
    }

    pub fn outbox_delivered(&self, ids: &[i64], now: i64) -> Result<(), StoreError> {
        let mut connection = self.connection.lock();
        let transaction = connection.transaction().map_err(classify)?;
        {
            let mut update = transaction.prepare_cached(
                "UPDATE outbox SET delivered_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
            )?;
            for id in ids {
                update.execute(params![id, now]).map_err(classify)?;
            }
            transaction
                .prepare_cached("DELETE FROM outbox WHERE delivered_at < ?1")?
                .execute(params![now - DELIVERED_RETENTION_SECONDS])
                .map_err(classify)?;
        }
        transaction.commit().map_err(classify)
    }

    pub fn outbox_failed(
        &self,
        ids: &[i64],
        next_attempt_at: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        let mut connection = self.connection.lock();
        let transaction = connection.transaction().map_err(classify)?;
        {
            let mut update = transaction.prepare_cached(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
            )?;
            for id in ids {
                update
                    .execute(params![id, next_attempt_at, error])
                    .map_err(classify)?;
            }
        }
        transaction.commit().map_err(classify)
    }

    /// Per target, for `/healthz`.
    pub fn outbox_counts(
        &self,
    ) -> Result<std::collections::BTreeMap<String, OutboxCounts>, StoreError> {
        let connection = self.connection.lock();
        let mut statement = connection.prepare_cached(
            "SELECT target,
                    SUM(delivered_at IS NULL),
                    SUM(delivered_at IS NULL AND attempts > 0),
                    SUM(delivered_at IS NOT NULL)
             FROM outbox GROUP BY target",
        )?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    OutboxCounts {
                        pending: row.get::<_, i64>(1)? as u64,
                        failing: row.get::<_, i64>(2)? as u64,
                        delivered: row.get::<_, i64>(3)? as u64,
                    },
                ))
            })
            .map_err(classify)?;
        let mut counts = std::collections::BTreeMap::new();
        for row in rows {
            let (target, target_counts) = row.map_err(classify)?;
            counts.insert(target, target_counts);
        }
        Ok(counts)
    }
}
