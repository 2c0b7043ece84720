//! A test hook, inert unless `XINSHENG_FAULT_COMMIT_DELAY_MS` is set.
//!
//! The fault tests (`tests/integration/faults.rs`) SIGKILL the service at a
//! known point *inside* an index commit, a window that is otherwise a few
//! microseconds wide, or while a batch is being analysed, a window that
//! shrinks as analysis gets faster (a kill timed by a sleep after the
//! worker's log line landed in the commit once the models got faster). With
//! the variable set, the analysis worker logs the point it reached (warn
//! level, `fault hook` + the point's name) and pauses that many milliseconds
//! there, at three points of every batch:
//! - [`CommitPoint::Analysing`]: the worker has taken the batch and not
//!   staged any of it;
//! - [`CommitPoint::SegmentsWritten`]: the new segment files are on disk,
//!   the index's `meta.json` does not list them yet;
//! - [`CommitPoint::IndexCommitted`]: the index commit is durable, the
//!   database has not marked its items indexed yet.
//!
//! Unset (as in any real deployment) it reads one cached value per point
//! and changes nothing. It is read once, from the environment only: it is
//! not a setting and has no place in the configuration file.

use std::sync::OnceLock;
use std::time::Duration;

pub const ENV_VAR: &str = "XINSHENG_FAULT_COMMIT_DELAY_MS";

#[derive(Debug, Clone, Copy)]
pub enum CommitPoint {
    Analysing,
    SegmentsWritten,
    IndexCommitted,
}

impl CommitPoint {
    pub fn as_str(self) -> &'static str {
        match self {
            CommitPoint::Analysing => "analysing",
            CommitPoint::SegmentsWritten => "segments_written",
            CommitPoint::IndexCommitted => "index_committed",
        }
    }
}

fn configured_delay() -> Option<Duration> {
    static DELAY: OnceLock<Option<Duration>> = OnceLock::new();
    *DELAY.get_or_init(|| {
        let value = std::env::var(ENV_VAR).ok()?;
        let millis: u64 = value.trim().parse().ok()?;
        (millis > 0).then(|| Duration::from_millis(millis))
    })
}

/// Pauses at `point` when the hook is set; returns at once otherwise.
pub fn pause(point: CommitPoint) {
    let Some(delay) = configured_delay() else {
        return;
    };
    tracing::warn!(
        point = point.as_str(),
        delay_ms = delay.as_millis() as u64,
        "fault hook: pausing"
    );
    std::thread::sleep(delay);
}
