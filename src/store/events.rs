//! The analysis event log and the cursors of the projections that read it.
//!
//! Every time the worker records an item's analysis (`mark_indexed`), an
//! `analysis_events` row is written in the same transaction. Derived views
//! (consumer profiles, the follow-up queue, severe-signal alerts) are
//! projections of that log: each keeps a cursor, the `seq` of the last event
//! it applied, and must advance it in the same transaction as its own
//! writes ([`set_projection_cursor`]). So after any crash a projection has
//! applied each event exactly once, and a projection added later catches up
//! from the start of the log. An item analysed again (追评, new chat turns,
//! reanalysis) gets a new event: projections replace that item's earlier
//! contribution rather than adding to it.
//!
//! Events every registered projection has passed are pruned.

use rusqlite::{params, OptionalExtension, Transaction};

use super::{classify, row_to_feedback, Store, StoreError, StoredFeedback, COLUMNS};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS analysis_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    feedback_id INTEGER NOT NULL,
    analysed_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS projection_cursors (
    name TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
"#;

/// An item whose analysis was recorded, with the stored row as it is now.
/// If the item changed again since, its newer analysis brings a later event,
/// so applying the row as it stands is always safe.
#[derive(Debug, Clone)]
pub struct AnalysedEvent {
    pub seq: i64,
    pub item: StoredFeedback,
}

pub(super) fn record_analysed(
    transaction: &Transaction<'_>,
    feedback_id: i64,
    analysed_at: i64,
) -> Result<(), StoreError> {
    transaction
        .prepare_cached("INSERT INTO analysis_events (feedback_id, analysed_at) VALUES (?1, ?2)")?
        .execute(params![feedback_id, analysed_at])
        .map_err(classify)?;
    Ok(())
}

/// Records that projection `name` has applied every event up to `seq`.
/// Call inside the transaction that holds the projection's own writes.
pub(crate) fn set_projection_cursor(
    transaction: &Transaction<'_>,
    name: &str,
    seq: i64,
) -> Result<(), StoreError> {
    transaction
        .prepare_cached(
            "INSERT INTO projection_cursors (name, seq) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET seq = MAX(seq, excluded.seq)",
        )?
        .execute(params![name, seq])
        .map_err(classify)?;
    Ok(())
}

impl Store {
    /// The last event projection `name` applied; 0 for a new projection.
    pub fn projection_cursor(&self, name: &str) -> Result<i64, StoreError> {
        let connection = self.connection.lock();
        let seq: Option<i64> = connection
            .query_row(
                "SELECT seq FROM projection_cursors WHERE name = ?1",
                params![name],
                |row| row.get(0),
            )
            .optional()
            .map_err(classify)?;
        Ok(seq.unwrap_or(0))
    }

    /// For projections whose effects live outside this database or that
    /// skipped every event of a batch: records progress on its own.
    pub fn advance_projection(&self, name: &str, seq: i64) -> Result<(), StoreError> {
        let mut connection = self.connection.lock();
        let transaction = connection.transaction().map_err(classify)?;
        set_projection_cursor(&transaction, name, seq)?;
        transaction.commit().map_err(classify)
    }

    /// Events after `after_seq`, oldest first, each with its item's stored row.
    pub fn analysed_after(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<AnalysedEvent>, StoreError> {
        let connection = self.connection.lock();
        let columns = COLUMNS
            .split(", ")
            .map(|column| format!("f.{column}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut statement = connection.prepare_cached(&format!(
            "SELECT {columns}, e.seq FROM analysis_events e JOIN feedback f ON f.id = e.feedback_id
             WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?2"
        ))?;
        let column_count = COLUMNS.split(", ").count();
        let rows = statement
            .query_map(params![after_seq, limit as i64], |row| {
                let seq: i64 = row.get(column_count)?;
                Ok(row_to_feedback(row)?.map(|item| AnalysedEvent { seq, item }))
            })
            .map_err(classify)?;
        let mut events = Vec::new();
        for row in rows {
            events.push(row.map_err(classify)??);
        }
        Ok(events)
    }

    /// Events some of `projections` have not applied yet.
    pub fn projection_backlog(&self, projections: &[&str]) -> Result<u64, StoreError> {
        let mut oldest_cursor = i64::MAX;
        for name in projections {
            oldest_cursor = oldest_cursor.min(self.projection_cursor(name)?);
        }
        if projections.is_empty() {
            return Ok(0);
        }
        let connection = self.connection.lock();
        let backlog: i64 = connection
            .query_row(
                "SELECT COUNT(*) FROM analysis_events WHERE seq > ?1",
                params![oldest_cursor],
                |row| row.get(0),
            )
            .map_err(classify)?;
        Ok(backlog.max(0) as u64)
    }

    /// Deletes events that all of `projections` have applied. A projection
    /// never run keeps everything (its cursor counts as 0).
    pub fn prune_events(&self, projections: &[&str]) -> Result<u64, StoreError> {
        let mut oldest_cursor = i64::MAX;
        for name in projections {
            oldest_cursor = oldest_cursor.min(self.projection_cursor(name)?);
        }
        if projections.is_empty() || oldest_cursor == 0 {
            return Ok(0);
        }
        let connection = self.connection.lock();
        let deleted = connection
            .execute(
                "DELETE FROM analysis_events WHERE seq <= ?1",
                params![oldest_cursor],
            )
            .map_err(classify)?;
        Ok(deleted as u64)
    }
}

#[cfg(test)]
mod tests {
    use crate::feedback::{Analysis, NewFeedback, Polarity, Source};
    use crate::store::Store;

    fn item(external_id: &str) -> NewFeedback {
        NewFeedback {
            external_id: external_id.to_string(),
            source: Source::Review,
            channel: "tmall".to_string(),
            text: "物流很快".to_string(),
            rating: None,
            order_id: None,
            sku: None,
            product_name: None,
            category: None,
            consumer_id: Some("c-1".to_string()),
            store: None,
            created_at: 1_700_000_000,
            meta: None,
            segments: Vec::new(),
            reason_code: None,
        }
    }

    fn analysis() -> Analysis {
        Analysis {
            normalised_text: "物流很快".into(),
            language: "cmn".into(),
            tags: Vec::new(),
            sentiment: Polarity::Pos,
            sentiment_score: 1.0,
            keywords: Vec::new(),
            analyser_version: "test".into(),
        }
    }

    #[test]
    fn recorded_analyses_are_events_read_after_a_cursor_and_pruned_once_applied() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), false).expect("open");
        let inserted = store
            .insert_batch(&[item("a"), item("b")], 1)
            .expect("insert");
        let analysis = analysis();
        store
            .mark_indexed(
                &[
                    (inserted[0].id, 0, &analysis),
                    (inserted[1].id, 0, &analysis),
                ],
                2,
            )
            .expect("mark");
        // A stale revision records nothing, so it is no event either.
        store
            .mark_indexed(&[(inserted[0].id, 7, &analysis)], 3)
            .expect("mark stale");
        let events = store.analysed_after(0, 10).expect("events");
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].item.id, inserted[0].id);
        assert_eq!(
            events[1].item.analysis.as_ref().map(|a| a.sentiment),
            Some(Polarity::Pos)
        );
        assert_eq!(
            store.analysed_after(events[0].seq, 10).expect("rest").len(),
            1
        );

        assert_eq!(store.prune_events(&["first", "second"]).expect("prune"), 0);
        store
            .advance_projection("first", events[1].seq)
            .expect("advance");
        store
            .advance_projection("second", events[0].seq)
            .expect("advance");
        // A cursor never moves back.
        store
            .advance_projection("first", events[0].seq)
            .expect("advance");
        assert_eq!(
            store.projection_cursor("first").expect("cursor"),
            events[1].seq
        );
        assert_eq!(store.prune_events(&["first", "second"]).expect("prune"), 1);
        assert_eq!(store.analysed_after(0, 10).expect("left").len(), 1);
    }
}
