//! `events`: what happened to a resource (`refunds.create`, `captures.refund`, …).

use diesel::prelude::*;
use serde_json::Value;

use crate::db::schema::events;
use crate::db::Backend;
use crate::engine::sql::{self, text, typed, Cond, OrderBy};
use crate::engine::{time, Resource};
use crate::error::ApiResult;
use crate::jsonapi::document::{Attributes, Record};
use crate::jsonapi::filter::Target;
use crate::jsonapi::query::SortKey;
use crate::jsonapi::resource::{AttrDef, AttrKind::*, RelDef, ResourceDef};

/// The types an event's `resource` may be.
pub const RESOURCE_TYPES: &[&str] = &[
    "refunds",
    "captures",
    "orders",
    "authorizations",
    "refund_captures",
    "attachments",
];

pub static DEF: ResourceDef = ResourceDef {
    type_name: "events",
    attributes: &[
        AttrDef::new("name", Text).filter().sort(),
        AttrDef::shown("payload"),
        AttrDef::new("created_at", Time).filter().sort(),
        AttrDef::new("resource_type", Text).filter().hidden(),
        AttrDef::new("resource_id", Text).filter().hidden(),
        AttrDef::new("order_id", Text).filter().hidden(),
    ],
    relationships: &[RelDef::poly("resource", RESOURCE_TYPES)],
    default_sort: "-created_at",
};

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

/// The SQL condition of one filter target on `events`.
pub fn cond(t: &Target, _backend: Backend) -> ApiResult<Cond<events::table>> {
    use events as e;
    if !t.path.is_empty() {
        return Err(sql::unsupported(t));
    }
    Ok(match t.attr.name {
        "id" => text!(e::id, t),
        "name" => text!(e::name, t),
        "created_at" => typed!(e::created_at, t, Time),
        "resource_type" => text!(e::resource_type, t),
        "resource_id" => text!(e::resource_id, t),
        "order_id" => text!(e::order_id, t),
        _ => return Err(sql::unsupported(t)),
    })
}

crate::engine::child_scope!(events);

/// Adds `key` to the order; `false` for a field this table has no column for.
fn sort(o: &mut OrderBy, key: &SortKey, _backend: Backend) -> bool {
    match key.attr.name {
        "name" => o.by(events::name, key),
        "created_at" => o.by(events::created_at, key),
        _ => return false,
    }
    true
}

pub struct Events;

impl Resource for Events {
    fn def(&self) -> &'static ResourceDef {
        &DEF
    }

    crate::engine::list_impl!(events, Row, view, cond, sort, scope);
}
