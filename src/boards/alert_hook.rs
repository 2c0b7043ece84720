//! Where boards get the alert history (`alerts` widget).
//!
//! Alerts live in [`crate::alerts`]; boards reach them only through
//! [`AlertSource`], which that module implements (`alerts::BoardAlerts`)
//! and `app.rs` hands to the service, so board code never depends on the
//! alert store.

pub type AlertSourceError = Box<dyn std::error::Error + Send + Sync>;

pub use crate::alerts::{AlertRow, AlertsWidget};

pub trait AlertSource: Send + Sync {
    /// The newest `limit` alerts fired in `[from, to)` (Unix seconds).
    fn recent(&self, from: i64, to: i64, limit: usize) -> Result<AlertsWidget, AlertSourceError>;
}
