//! `attachments`: files or links attached to a refund, a capture or an order, and their
//! writes (`POST`, `PATCH`, `DELETE`), each journaled in its transaction.

use diesel::prelude::*;
use serde_json::Value;

use crate::db::schema::attachments;
use crate::engine::{time, Resource};
use crate::jsonapi::document::{Attributes, Record};
use crate::jsonapi::resource::ResourceDef;

/// What an attachment may be attached to.
pub const ATTACHABLE_TYPES: &[&str] = &["refunds", "captures", "orders"];

crate::engine::describe! {
    type_name: attachments,
    default_sort: "-created_at",
    attributes {
        name: Text [filter, sort],
        description: Text [filter],
        url: Text [filter],
        reference: Text [filter, sort],
        reference_origin: Text [filter, sort],
        metadata: Json [filter],
        created_at: Time [filter, sort],
        updated_at: Time [filter, sort],
        attachable_type: Text [filter, hidden],
        attachable_id: Text [filter, hidden],
        order_id: Text [filter, hidden],
    }
    relationships {
        attachable: poly ATTACHABLE_TYPES,
    }
}

/// A row of `attachments`, in column order.
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = attachments)]
pub struct Row {
    pub id: String,
    pub organization_id: String,
    pub mode: String,
    pub order_id: String,
    pub attachable_type: String,
    pub attachable_id: String,
    pub name: String,
    pub description: Option<String>,
    pub url: Option<String>,
    pub reference: Option<String>,
    pub reference_origin: Option<String>,
    pub metadata: String,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

pub fn view(r: Row) -> Record {
    let mut a = Attributes::with_capacity(DEF.attributes.len());
    a.push("name", Value::from(r.name));
    a.push("description", Value::from(r.description));
    a.push("url", Value::from(r.url));
    a.push("reference", Value::from(r.reference));
    a.push("reference_origin", Value::from(r.reference_origin));
    a.push_json("metadata", r.metadata);
    a.push("created_at", time(&r.created_at));
    a.push("updated_at", time(&r.updated_at));
    let (to_one, to_one_types) =
        match super::events::known_type(ATTACHABLE_TYPES, &r.attachable_type) {
            Some(t) => (
                vec![("attachable", Some(r.attachable_id))],
                vec![("attachable", t)],
            ),
            None => (vec![("attachable", None)], vec![]),
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

crate::engine::child_scope!(attachments);

pub struct Attachments;

impl Resource for Attachments {
    fn def(&self) -> &'static ResourceDef {
        &DEF
    }

    crate::engine::list_impl!(attachments, Row, view, cond, sort, scope);
}
