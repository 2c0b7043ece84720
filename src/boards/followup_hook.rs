//! Where boards get the follow-up queue's numbers (`followup_stats` and
//! `followup_queue` widgets).
//!
//! The queue lives in [`crate::followups`]; boards reach it only through
//! [`FollowupSource`], which that module implements
//! (`followups::BoardFollowups`) and `app.rs` hands to the service, so board
//! code never depends on the queue's storage.

use serde::Serialize;

pub type FollowupSourceError = Box<dyn std::error::Error + Send + Sync>;

pub use crate::followups::FollowupStats;

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
