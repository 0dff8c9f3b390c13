//! `attachments`: files or links attached to a refund, a capture or an order, and their
//! writes (`POST`, `PATCH`, `DELETE`), each journaled in its transaction.

use diesel::prelude::*;
use serde_json::Value;

use super::sql::{self, json_contains, text, typed, Cond, OrderBy};
use super::{time, Resource};
use crate::db::schema::attachments;
use crate::db::Backend;
use crate::error::ApiResult;
use crate::jsonapi::document::{Attributes, Record};
use crate::jsonapi::filter::Target;
use crate::jsonapi::query::SortKey;
use crate::jsonapi::resource::{AttrDef, AttrKind::*, RelDef, ResourceDef};

/// What an attachment may be attached to.
pub const ATTACHABLE_TYPES: &[&str] = &["refunds", "captures", "orders"];

pub static DEF: ResourceDef = ResourceDef {
    type_name: "attachments",
    attributes: &[
        AttrDef::new("name", Text, true, true),
        AttrDef::new("description", Text, true, false),
        AttrDef::new("url", Text, true, false),
        AttrDef::new("reference", Text, true, true),
        AttrDef::new("reference_origin", Text, true, true),
        AttrDef::new("metadata", Json, true, false),
        AttrDef::new("created_at", Time, true, true),
        AttrDef::new("updated_at", Time, true, true),
        AttrDef::hidden("attachable_type", Text),
        AttrDef::hidden("attachable_id", Text),
        AttrDef::hidden("order_id", Text),
    ],
    relationships: &[RelDef::poly("attachable", ATTACHABLE_TYPES)],
    default_sort: "-created_at",
};

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

/// The SQL condition of one filter target on `attachments`.
pub fn cond(t: &Target, backend: Backend) -> ApiResult<Cond<attachments::table>> {
    use attachments as at;
    if !t.path.is_empty() {
        return Err(sql::unsupported(t));
    }
    Ok(match t.attr.name {
        "id" => text!(at::id, t),
        "name" => text!(at::name, t),
        "description" => text!(at::description, t),
        "url" => text!(at::url, t),
        "reference" => text!(at::reference, t),
        "reference_origin" => text!(at::reference_origin, t),
        "metadata" => json_contains!("attachments", t, backend),
        "created_at" => typed!(at::created_at, t, Time),
        "updated_at" => typed!(at::updated_at, t, Time),
        "attachable_type" => text!(at::attachable_type, t),
        "attachable_id" => text!(at::attachable_id, t),
        "order_id" => text!(at::order_id, t),
        _ => return Err(sql::unsupported(t)),
    })
}

super::child_scope!(attachments);

/// Adds `key` to the order; `false` for a field this table has no column for.
fn sort(o: &mut OrderBy, key: &SortKey, backend: Backend) -> bool {
    match key.attr.name {
        "name" => o.by(attachments::name, key),
        "created_at" => o.by(attachments::created_at, key),
        "updated_at" => o.by(attachments::updated_at, key),
        "reference" => o.by_nullable(attachments::reference, key, backend),
        "reference_origin" => o.by_nullable(attachments::reference_origin, key, backend),
        _ => return false,
    }
    true
}

pub struct Attachments;

impl Resource for Attachments {
    fn def(&self) -> &'static ResourceDef {
        &DEF
    }

    super::list_impl!(attachments, Row, view, cond, sort, scope);
}
