//! Where boards get the follow-up queue's numbers (`followup_stats` and
//! `followup_queue` widgets).
//!
//! The queue itself lives in its own module (built separately); boards reach
//! it only through [`FollowupSource`], which that module implements and
//! `app.rs` hands to the service. Until it exists the service runs with
//! [`NoFollowupQueue`], which answers zeros and an empty page: the widget
//! types stay defined and validated, and boards that show them still load.

use serde::Serialize;

pub type FollowupSourceError = Box<dyn std::error::Error + Send + Sync>;

/// The `followup_stats` widget and `GET /api/v1/followups/stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FollowupStats {
    pub open: u64,
    pub contacted: u64,
    pub resolved: u64,
    pub total: u64,
    /// resolved / total, 0 when there are none.
    pub resolution_rate: f64,
    pub median_minutes_to_contact: Option<f64>,
}

/// One page of follow-ups, as `GET /api/v1/followups` answers it; the items'
/// shape belongs to the follow-up module.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FollowupPage {
    pub total: u64,
    pub items: Vec<serde_json::Value>,
}

pub trait FollowupSource: Send + Sync {
    /// Counts of follow-ups created in `[from, to)` (Unix seconds).
    fn stats(&self, from: i64, to: i64) -> Result<FollowupStats, FollowupSourceError>;

    /// The first `limit` open follow-ups, by severity then newest.
    fn open_queue(&self, limit: usize) -> Result<FollowupPage, FollowupSourceError>;
}

/// PLACEHOLDER until the follow-up queue is built: every count is zero and
/// the queue is empty. Replace it in `app.rs` with the real source.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFollowupQueue;

impl FollowupSource for NoFollowupQueue {
    fn stats(&self, _from: i64, _to: i64) -> Result<FollowupStats, FollowupSourceError> {
        Ok(FollowupStats::default())
    }

    fn open_queue(&self, _limit: usize) -> Result<FollowupPage, FollowupSourceError> {
        Ok(FollowupPage::default())
    }
}
