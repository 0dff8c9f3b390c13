//! `events`: what happened to a resource (`refunds.create`, `captures.refund`, …).

use diesel::prelude::*;
use serde_json::Value;

use crate::db::schema::events;
use crate::engine::{time, Resource};
use crate::jsonapi::document::{Attributes, Record};
use crate::jsonapi::resource::ResourceDef;

/// The types an event's `resource` may be.
pub const RESOURCE_TYPES: &[&str] = &[
    "refunds",
    "captures",
    "orders",
    "authorizations",
    "refund_captures",
    "attachments",
];

crate::engine::describe! {
    type_name: events,
    default_sort: "-created_at",
    attributes {
        name: Text [filter, sort],
        payload: shown,
        created_at: Time [filter, sort],
        resource_type: Text [filter, hidden],
        resource_id: Text [filter, hidden],
        order_id: Text [filter, hidden],
    }
    relationships {
        resource: poly RESOURCE_TYPES,
    }
}

/// A row of `events`, in column order.
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = events)]
pub struct Row {
    pub id: String,
    pub organization_id: String,
    pub mode: String,
    pub order_id: String,
    pub name: String,
    pub resource_type: String,
    pub resource_id: String,
    pub payload: String,
    pub created_at: chrono::NaiveDateTime,
}

/// The `'static` name of a stored resource type, if the relationship allows it.
pub fn known_type(types: &'static [&'static str], stored: &str) -> Option<&'static str> {
    types.iter().copied().find(|t| *t == stored)
}

pub fn view(r: Row) -> Record {
    let mut a = Attributes::with_capacity(DEF.attributes.len());
    a.push("name", Value::from(r.name));
    a.push_json("payload", r.payload);
    a.push("created_at", time(&r.created_at));
    let (to_one, to_one_types) = match known_type(RESOURCE_TYPES, &r.resource_type) {
        Some(t) => (
            vec![("resource", Some(r.resource_id))],
            vec![("resource", t)],
        ),
        None => (vec![("resource", None)], vec![]),
    };
    Record {
        def: &DEF,
        id: r.id,
        attributes: a,
        to_one,
        to_one_types,
        organization_id: r.organization_id,
        mode: r.mode,
    }
}

crate::engine::child_scope!(events, journal);

pub struct Events;

impl Resource for Events {
    fn def(&self) -> &'static ResourceDef {
        &DEF
    }

    crate::engine::list_impl!(events, Row, view, cond, sort, scope);
}
