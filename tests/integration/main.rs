//! Integration tests against the real `xinsheng` binary: real HTTP on
//! loopback, a real SQLite database and tantivy index in a temp directory.
//! One test binary, one module per feature.

mod alerts;
mod boards_ui;
mod cli;
mod consumers;
mod crash;
mod faults;
mod feedback_api;
mod followups;
mod hostile;
mod hostile_input;
mod load;
mod loadgen;
mod privacy;
mod server;
mod sources;
mod tenants;
