//! `webhooks`: callback URLs subscribed to one event name (a topic) of their tenant.
//! Read and written by admin integration tokens only (see [`readable_by`]): a webhook
//! holds its shared secret.

use diesel::prelude::*;
use serde_json::Value;

use crate::db::schema::webhooks;
use crate::engine::{time, Resource};
use crate::jsonapi::document::{Attributes, Record};
use crate::jsonapi::resource::ResourceDef;

/// The event names the service writes, which webhooks may subscribe to.
pub const TOPICS: &[&str] = &[
    "refunds.create",
    "refunds.update",
    "refunds.forward",
    "refunds.succeed",
    "refunds.fail",
    "captures.create",
    "captures.update",
    "captures.refund",
    "orders.create",
    "orders.update",
    "authorizations.create",
    "authorizations.update",
    "attachments.create",
    "attachments.update",
    "attachments.destroy",
];

/// The resource type whose document a topic's deliveries carry (`refunds.create`: `refunds`).
pub fn topic_resource(topic: &str) -> Option<&'static str> {
    TOPICS
        .iter()
        .find(|t| **t == topic)
        .and_then(|t| t.split_once('.'))
        .map(|(r, _)| r)
}

/// Types only an admin integration token may read or write.
pub const ADMIN_ONLY: &[&str] = &["webhooks", "event_callbacks"];

/// Whether a token of application `kind` and `role` may read `type_name`.
pub fn readable_by(type_name: &str, kind: &str, role: Option<&str>) -> bool {
    !ADMIN_ONLY.contains(&type_name)
        || (kind == "integration" && role.unwrap_or("admin") == "admin")
}

crate::engine::describe! {
    type_name: webhooks,
    default_sort: "-created_at",
    attributes {
        name: Text [filter, sort],
        topic: Text [filter, sort],
        callback_url: Text [filter],
        include_resources: Json [],
        shared_secret: shown,
        circuit_state: Text [filter],
        circuit_failure_count: Int [filter, sort],
        disabled_at: Time [filter, sort],
        reference: Text [filter, sort],
        reference_origin: Text [filter, sort],
        metadata: Json [filter],
        created_at: Time [filter, sort],
        updated_at: Time [filter, sort],
    }
    relationships {
        last_event_callbacks: many event_callbacks via webhook_id,
        versions: many versions via resource_id,
    }
}

/// A row of `webhooks`, in column order.
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = webhooks)]
pub struct Row {
    pub id: String,
    pub organization_id: String,
    pub mode: String,
    pub name: Option<String>,
    pub topic: String,
    pub callback_url: String,
    /// A JSON array of include paths.
    pub include_resources: String,
    pub shared_secret: String,
    pub circuit_state: String,
    pub circuit_failure_count: i64,
    pub disabled_at: Option<chrono::NaiveDateTime>,
    pub reference: Option<String>,
    pub reference_origin: Option<String>,
    pub metadata: String,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

pub fn view(r: Row) -> Record {
    let mut a = Attributes::with_capacity(DEF.attributes.len());
    a.push("name", Value::from(r.name));
    a.push("topic", Value::from(r.topic));
    a.push("callback_url", Value::from(r.callback_url));
    a.push_json("include_resources", r.include_resources);
    a.push("shared_secret", Value::from(r.shared_secret));
    a.push("circuit_state", Value::from(r.circuit_state));
    a.push(
        "circuit_failure_count",
        Value::from(r.circuit_failure_count),
    );
    a.push(
        "disabled_at",
        r.disabled_at.as_ref().map_or(Value::Null, time),
    );
    a.push("reference", Value::from(r.reference));
    a.push("reference_origin", Value::from(r.reference_origin));
    a.push_json("metadata", r.metadata);
    a.push("created_at", time(&r.created_at));
    a.push("updated_at", time(&r.updated_at));
    Record {
        def: &DEF,
        id: r.id,
        attributes: a,
        to_one: vec![],
        to_one_types: vec![],
        organization_id: r.organization_id,
        mode: r.mode,
    }
}

/// The tenant's webhooks (they belong to no order: a restricted token sees them all, but
/// only admin integration tokens read them at all).
pub fn scope(scope: &crate::auth::Scope) -> crate::engine::sql::Cond<webhooks::table> {
    Box::new(crate::engine::tenant!(webhooks, scope))
}

pub struct Webhooks;

impl Resource for Webhooks {
    fn def(&self) -> &'static ResourceDef {
        &DEF
    }

    crate::engine::list_impl!(webhooks, Row, view, cond, sort, scope);
}
