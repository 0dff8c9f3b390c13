//! `versions`: the journal of every change, written with the change it records.

use diesel::prelude::*;
use serde_json::Value;

use crate::db::schema::versions;
use crate::db::Backend;
use crate::engine::sql::{self, text, typed, Cond, OrderBy};
use crate::engine::{time, Resource};
use crate::error::ApiResult;
use crate::jsonapi::document::{Attributes, Record};
use crate::jsonapi::filter::Target;
use crate::jsonapi::query::SortKey;
use crate::jsonapi::resource::{AttrDef, AttrKind::*, ResourceDef};

pub static DEF: ResourceDef = ResourceDef {
    type_name: "versions",
    attributes: &[
        AttrDef::new("resource_type", Text).filter(),
        AttrDef::new("resource_id", Text).filter(),
        AttrDef::new("event", Text).filter(),
        AttrDef::shown("changes"),
        AttrDef::shown("snapshot"),
        AttrDef::shown("who"),
        AttrDef::new("created_at", Time).filter().sort(),
        AttrDef::new("order_id", Text).filter().hidden(),
    ],
    relationships: &[],
    // A journal reads oldest first.
    default_sort: "created_at",
};

/// A row of `versions`, in column order.
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = versions)]
pub struct Row {
    pub id: String,
    pub organization_id: String,
    pub mode: String,
    pub order_id: String,
    pub resource_type: String,
    pub resource_id: String,
    pub event: String,
    pub changes: String,
    pub snapshot: String,
    pub who: String,
    pub created_at: chrono::NaiveDateTime,
}

pub fn view(r: Row) -> Record {
    let mut a = Attributes::with_capacity(DEF.attributes.len());
    a.push("resource_type", Value::from(r.resource_type));
    a.push("resource_id", Value::from(r.resource_id));
    a.push("event", Value::from(r.event));
    a.push_json("changes", r.changes);
    a.push_json("snapshot", r.snapshot);
    a.push_json("who", r.who);
    a.push("created_at", time(&r.created_at));
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

/// The SQL condition of one filter target on `versions`.
pub fn cond(t: &Target, _backend: Backend) -> ApiResult<Cond<versions::table>> {
    use versions as v;
    if !t.path.is_empty() {
        return Err(sql::unsupported(t));
    }
    Ok(match t.attr.name {
        "id" => text!(v::id, t),
        "resource_type" => text!(v::resource_type, t),
        "resource_id" => text!(v::resource_id, t),
        "event" => text!(v::event, t),
        "created_at" => typed!(v::created_at, t, Time),
        "order_id" => text!(v::order_id, t),
        _ => return Err(sql::unsupported(t)),
    })
}

crate::engine::child_scope!(versions);

/// Adds `key` to the order; `false` for a field this table has no column for.
fn sort(o: &mut OrderBy, key: &SortKey, _backend: Backend) -> bool {
    match key.attr.name {
        "created_at" => o.by(versions::created_at, key),
        _ => return false,
    }
    true
}

pub struct Versions;

impl Resource for Versions {
    fn def(&self) -> &'static ResourceDef {
        &DEF
    }

    crate::engine::list_impl!(versions, Row, view, cond, sort, scope);
}
