//! The transactional outbox: one `webhook_deliveries` row per event and enabled webhook
//! of the event's tenant subscribed to its name, written by the event's own transaction,
//! so a change that commits always has its deliveries and one that rolls back has none.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::auth::Scope;
use crate::db::schema::{webhook_deliveries as d, webhooks as w};
use crate::db::DbConnection;
use crate::ids::new_id;

/// The event an outbox row is queued for.
pub struct Event<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub resource_type: &'a str,
    pub resource_id: &'a str,
    pub created_at: NaiveDateTime,
}

/// Queues `event` for every enabled webhook of the tenant whose topic is its name; the
/// number queued.
pub fn enqueue(conn: &mut DbConnection, scope: &Scope, event: &Event) -> QueryResult<usize> {
    let subscribed: Vec<String> = w::table
        .filter(w::organization_id.eq(&scope.organization_id))
        .filter(w::mode.eq(scope.mode))
        .filter(w::topic.eq(event.name))
        .filter(w::disabled_at.is_null())
        .select(w::id)
        .order(w::id)
        .load(conn)?;
    for webhook_id in &subscribed {
        diesel::insert_into(d::table)
            .values((
                d::id.eq(new_id()),
                d::organization_id.eq(&scope.organization_id),
                d::mode.eq(scope.mode),
                d::webhook_id.eq(webhook_id),
                d::event_id.eq(event.id),
                d::topic.eq(event.name),
                d::resource_type.eq(event.resource_type),
                d::resource_id.eq(event.resource_id),
                d::status.eq("pending"),
                d::attempts.eq(0i64),
                d::next_attempt_at.eq(event.created_at),
                d::created_at.eq(event.created_at),
                d::updated_at.eq(event.created_at),
            ))
            .execute(conn)?;
    }
    Ok(subscribed.len())
}
