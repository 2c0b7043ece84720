//! Xinsheng (心声): a voice-of-customer engine for Chinese commerce.
//!
//! Pipeline: [`ingest`] (durable, idempotent) → [`nlp`] (normalise, detect,
//! segment, clauses, tag, keywords) → [`store`] (system of record) and
//! [`index`] (search, facets, aggregations) → [`boards`] and [`api`].

pub mod alerts;
pub mod api;
pub mod app;
pub mod auth;
pub mod boards;
pub mod config;
pub mod consumers;
pub mod delivery;
pub mod feedback;
pub mod followups;
pub mod index;
pub mod ingest;
pub mod nlp;
pub mod store;
pub mod tenants;
pub mod time;
pub mod web_ui;
pub mod webhooks;
