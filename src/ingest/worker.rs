//! The analysis worker: a dedicated thread that takes pending items from the
//! database in id order, analyses them (in parallel on the rayon pool),
//! stages them in the index, and after each index commit marks them indexed
//! in the database. Commits happen when a batch is full or the oldest staged
//! item has waited `commit_interval_ms`, whichever comes first, so that a
//! trickle of items shows up in search within about that interval and a
//! flood is indexed in large, cheap commits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::feedback::Analysis;
use crate::index::{FeedbackIndex, IndexError};
use crate::nlp::{Analyser, AnalysisInput};
use crate::store::{Store, StoreError, StoredFeedback};

use super::projections::Projections;
use super::Wakeup;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// Items are re-read from the database to pick up work written by other
/// processes (`xinsheng import`) even without a wake-up.
const IDLE_POLL: Duration = Duration::from_secs(1);
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(2);

pub struct Pipeline {
    pub store: Arc<Store>,
    pub index: Arc<FeedbackIndex>,
    pub analyser: Arc<Analyser>,
    pub batch_size: usize,
    pub commit_interval: Duration,
    /// Derived views brought up to date after every commit.
    pub projections: Projections,
    /// The service runs the projections on their own thread
    /// ([`Projections::run`]), woken after each commit, so that updating
    /// consumer profiles and the follow-up queue overlaps the analysis of
    /// the next batch; without one (the CLI) they run inline.
    pub projection_wakeup: Option<Arc<Wakeup>>,
}

/// Items analysed and staged in the index but not yet committed.
#[derive(Default)]
struct Staged {
    items: Vec<(StoredFeedback, Analysis)>,
    oldest: Option<Instant>,
}

impl Pipeline {
    fn analyse(&self, items: &[StoredFeedback]) -> Vec<Analysis> {
        let inputs: Vec<AnalysisInput<'_>> = items
            .iter()
            .map(|item| AnalysisInput {
                text: &item.item.text,
                rating: item.item.rating,
                reason_code: item.item.reason_code.as_deref(),
            })
            .collect();
        let mut analyses = self.analyser.analyse_batch(&inputs);
        for (item, analysis) in items.iter().zip(analyses.iter_mut()) {
            analysis.locate_segments(&item.item);
        }
        analyses
    }

    fn stage(&self, items: Vec<StoredFeedback>, staged: &mut Staged) -> Result<(), WorkerError> {
        tracing::debug!(
            items = items.len(),
            first_id = items.first().map_or(0, |item| item.id),
            "analysing a batch"
        );
        crate::index::fault_hook::pause(crate::index::fault_hook::CommitPoint::Analysing);
        let analyses = self.analyse(&items);
        let pairs: Vec<(&StoredFeedback, &Analysis)> = items.iter().zip(analyses.iter()).collect();
        self.index.add(&pairs)?;
        staged.oldest.get_or_insert_with(Instant::now);
        staged.items.extend(items.into_iter().zip(analyses));
        Ok(())
    }

    fn commit(&self, staged: &mut Staged) -> Result<usize, WorkerError> {
        if staged.items.is_empty() {
            return Ok(0);
        }
        self.index.commit()?;
        crate::index::fault_hook::pause(crate::index::fault_hook::CommitPoint::IndexCommitted);
        let analysed: Vec<(i64, i64, &Analysis)> = staged
            .items
            .iter()
            .map(|(item, analysis)| (item.id, item.revision, analysis))
            .collect();
        self.store
            .mark_indexed(&analysed, crate::time::now_unix())?;
        let count = staged.items.len();
        *staged = Staged::default();
        self.update_projections();
        Ok(count)
    }

    fn update_projections(&self) {
        match &self.projection_wakeup {
            Some(wakeup) => wakeup.notify(),
            None => {
                self.projections.catch_up(&self.store);
            }
        }
    }

    /// Processes everything pending now, committing per batch. Used by the
    /// CLI (`import`, `reindex --reanalyse`) when no service runs.
    pub fn drain(&self, mut on_progress: impl FnMut(usize)) -> Result<usize, WorkerError> {
        let mut total = 0;
        let mut last_claimed = 0;
        loop {
            let items = self.store.pending_after(last_claimed, self.batch_size)?;
            let Some(last) = items.last() else { break };
            last_claimed = last.id;
            let mut staged = Staged::default();
            self.stage(items, &mut staged)?;
            let committed = self.commit(&mut staged)?;
            total += committed;
            on_progress(committed);
        }
        Ok(total)
    }

    /// The service's worker loop; returns when `shutdown` is set, after
    /// committing what it staged.
    pub fn run(&self, wakeup: &Wakeup, shutdown: &AtomicBool) {
        let mut staged = Staged::default();
        let mut last_claimed = 0;
        while !shutdown.load(Ordering::Relaxed) {
            match self.round(&mut staged, &mut last_claimed) {
                Ok(true) => {}
                Ok(false) => {
                    // Also retries a projection that failed, and lets one
                    // added since the last run catch up on the log.
                    if staged.items.is_empty() {
                        self.update_projections();
                    }
                    wakeup.wait(self.idle_wait(&staged))
                }
                Err(error) => {
                    tracing::error!(%error, "analysis round failed; pending items will be retried");
                    // Staged documents may or may not be in the index; the
                    // items are still pending, and re-adding deletes by id first.
                    staged = Staged::default();
                    last_claimed = 0;
                    std::thread::sleep(RETRY_AFTER_ERROR);
                }
            }
        }
        if let Err(error) = self.commit(&mut staged) {
            tracing::error!(%error, "final commit failed; items stay pending and are redone at next start");
        }
    }

    fn idle_wait(&self, staged: &Staged) -> Duration {
        match staged.oldest {
            Some(oldest) => self
                .commit_interval
                .saturating_sub(oldest.elapsed())
                .max(Duration::from_millis(1)),
            None => IDLE_POLL,
        }
    }

    /// One step; returns whether there was work.
    fn round(&self, staged: &mut Staged, last_claimed: &mut i64) -> Result<bool, WorkerError> {
        let room = self.batch_size.saturating_sub(staged.items.len()).max(1);
        let items = self.store.pending_after(*last_claimed, room)?;
        let found_work = !items.is_empty();
        if let Some(last) = items.last() {
            *last_claimed = last.id;
            self.stage(items, staged)?;
        }
        let batch_full = staged.items.len() >= self.batch_size;
        let waited_enough = staged
            .oldest
            .is_some_and(|oldest| oldest.elapsed() >= self.commit_interval);
        if batch_full || waited_enough || (!found_work && !staged.items.is_empty()) {
            let committed = self.commit(staged)?;
            tracing::debug!(committed, "index batch committed");
        }
        if !found_work && staged.items.is_empty() {
            // Start over from the lowest pending id next time: items may have
            // been re-queued (reanalysis) below the last claimed id.
            *last_claimed = 0;
        }
        Ok(found_work)
    }
}
