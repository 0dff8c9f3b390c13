//! `versions`: the journal of every change, written with the change it records.

use diesel::prelude::*;
use serde_json::Value;

use crate::db::schema::versions;
use crate::engine::{time, Resource};
use crate::jsonapi::document::{Attributes, Record};
use crate::jsonapi::resource::ResourceDef;

crate::engine::describe! {
    type_name: versions,
    // A journal reads oldest first.
    default_sort: "created_at",
    attributes {
        resource_type: Text [filter],
        resource_id: Text [filter],
        event: Text [filter],
        changes: shown,
        snapshot: shown,
        who: shown,
        created_at: Time [filter, sort],
        order_id: Text [filter, hidden],
    }
    relationships {}
}

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

crate::engine::child_scope!(versions, journal);

pub struct Versions;

impl Resource for Versions {
    fn def(&self) -> &'static ResourceDef {
        &DEF
    }

    crate::engine::list_impl!(versions, Row, view, cond, sort, scope);
}
