//! Webhooks as a side effect of every change: the transactional outbox ([`outbox`]),
//! filled by the journal in the transaction of each event.
//!
//! The `webhooks` and `event_callbacks` resources are described in `crate::resources`
//! and written in `crate::payments::webhooks`; this module knows no HTTP framework.

pub mod dispatcher;
pub mod outbox;
pub mod signing;
