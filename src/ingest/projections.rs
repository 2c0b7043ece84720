//! Projections: views derived from analysed items (consumer profiles, the
//! follow-up queue, severe-signal alerts), fed from the analysis event log
//! (see [`crate::store::events`]).
//!
//! In the service a projection thread ([`Projections::run`]) catches up
//! whenever the worker has committed, overlapping the next batch's
//! analysis; the CLI catches up inline after each commit. `/healthz` shows
//! the events not yet applied (`projections.backlog`). Each projection reads events after its stored cursor
//! and records its progress in the same transaction as its effects; a
//! failing projection is logged and retried at the next round without
//! holding up the others or the index.

use std::sync::Arc;

use crate::store::events::AnalysedEvent;
use crate::store::{Store, StoreError};

/// Most events handed to a projection per call (one transaction each).
/// Larger rounds amortise the commit and write each hot page once for
/// more events: measured with `cargo bench --bench projections`, going
/// from 500 to 2,000 cut the consumer profiles' CPU per item by about a
/// quarter and the follow-ups' by about 40 %. The price is how long a
/// round holds the store's connection while a backlog drains (the bench
/// prints the longest round); a trickle of events gives small rounds.
pub const EVENTS_PER_ROUND: usize = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
}

pub trait Projection: Send + Sync {
    /// Stable name: the key of the projection's cursor.
    fn name(&self) -> &'static str;

    /// Applies `events` (in `seq` order, non-empty) and advances the
    /// projection's cursor to the last one, atomically with its writes
    /// (`store::events::set_projection_cursor`, or `Store::advance_projection`
    /// when it writes nothing to the database).
    fn apply(&self, events: &[AnalysedEvent]) -> Result<(), ProjectionError>;

    /// Work driven by time rather than by events (re-evaluating what a
    /// passing window changes); called every round, rate-limited by the
    /// projection itself.
    fn maintain(&self) -> Result<(), ProjectionError> {
        Ok(())
    }
}

#[derive(Clone, Default)]
pub struct Projections {
    list: Vec<Arc<dyn Projection>>,
}

impl Projections {
    pub fn new(list: Vec<Arc<dyn Projection>>) -> Projections {
        Projections { list }
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.list
            .iter()
            .map(|projection| projection.name())
            .collect()
    }

    /// Brings every projection up to the end of the log; returns how many
    /// events were applied in all. Each page of events is read once and
    /// handed to every projection that has not applied it (their cursors
    /// usually agree), rather than read and decoded once per projection.
    /// Errors are logged, not returned: the events stay and the next round
    /// retries.
    pub fn catch_up(&self, store: &Store) -> usize {
        for projection in &self.list {
            if let Err(error) = projection.maintain() {
                tracing::error!(projection = projection.name(), %error, "projection maintenance failed");
            }
        }
        let mut applied = 0;
        let mut failed: Vec<&'static str> = Vec::new();
        loop {
            let mut cursors = Vec::with_capacity(self.list.len());
            for projection in &self.list {
                if failed.contains(&projection.name()) {
                    continue;
                }
                match store.projection_cursor(projection.name()) {
                    Ok(cursor) => cursors.push((projection, cursor)),
                    Err(error) => {
                        tracing::error!(projection = projection.name(), %error, "cannot read the projection's cursor");
                        failed.push(projection.name());
                    }
                }
            }
            let Some(oldest) = cursors.iter().map(|(_, cursor)| *cursor).min() else {
                break;
            };
            let events = match store.analysed_after(oldest, EVENTS_PER_ROUND) {
                Ok(events) => events,
                Err(error) => {
                    tracing::error!(%error, "cannot read the analysis event log");
                    break;
                }
            };
            if events.is_empty() {
                break;
            }
            for (projection, cursor) in cursors {
                let start = events.partition_point(|event| event.seq <= cursor);
                if start == events.len() {
                    continue;
                }
                match apply_checked(store, projection.as_ref(), &events[start..], cursor) {
                    Ok(count) => applied += count,
                    Err(error) => {
                        tracing::error!(
                            projection = projection.name(),
                            %error,
                            "projection failed; it retries at the next round"
                        );
                        failed.push(projection.name());
                    }
                }
            }
            if events.len() < EVENTS_PER_ROUND {
                break;
            }
        }
        if applied > 0 {
            if let Err(error) = store.prune_events(&self.names()) {
                tracing::warn!(%error, "cannot prune the analysis event log");
            }
        }
        applied
    }
}

/// Idle wait of the projection thread when nothing wakes it: time-driven
/// work (`maintain`) still runs about this often.
const IDLE_POLL: std::time::Duration = std::time::Duration::from_secs(1);

impl Projections {
    /// The service's projection thread: catches up whenever woken (after
    /// each commit) or every second; returns when `shutdown` is set, after
    /// a last round.
    pub fn run(
        &self,
        store: &Store,
        wakeup: &super::Wakeup,
        shutdown: &std::sync::atomic::AtomicBool,
    ) {
        while !shutdown.load(std::sync::atomic::Ordering::Relaxed) {
            if self.catch_up(store) == 0 {
                wakeup.wait(IDLE_POLL);
            }
        }
        self.catch_up(store);
    }
}

fn apply_checked(
    store: &Store,
    projection: &dyn Projection,
    events: &[AnalysedEvent],
    cursor: i64,
) -> Result<usize, ProjectionError> {
    projection.apply(events)?;
    if store.projection_cursor(projection.name())? <= cursor {
        return Err(ProjectionError::Invalid(format!(
            "projection {} applied events without advancing its cursor",
            projection.name()
        )));
    }
    Ok(events.len())
}
