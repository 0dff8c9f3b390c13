//! The refunds service: a JSON:API refunds resource over SQLite or PostgreSQL.
//!
//! `app` builds the real router, so the binary and the tests drive the same code.

pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod engine;
pub mod error;
pub mod forms;
pub mod gateways;
pub mod http;
pub mod ids;
pub mod journal;
pub mod jsonapi;
pub mod ledger;
pub mod money;
pub mod payments;
pub mod resources;
pub mod seed;
pub mod server;
pub mod telemetry;
pub mod webhooks;
pub mod worker;

pub use http::{app, AppState};
