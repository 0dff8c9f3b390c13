//! The API contract, driven through the real app on SQLite and on PostgreSQL.
//! Files mirror the routes; every case runs on both backends with shared snapshots.

mod common;

mod attachments;
mod auth;
mod broken_psp;
mod concurrency;
mod connections;
mod crashes;
mod errors;
mod evaluate;
mod filters;
mod flow;
mod gateway_refunds;
mod hardening;
mod journal;
mod localstripe;
mod migrations;
mod openapi;
mod operations;
mod payments;
mod refund_writes;
mod refunds;
mod registry;
mod relationships;
mod resources;
mod stripe_gateway;
mod stripe_refunds;
mod webhook_delivery;
mod webhook_processes;
mod webhooks;
