//! `refund_captures`: how a refund's amount was split over the captures it drew on.

use diesel::prelude::*;
use serde_json::Value;

use crate::db::schema::{captures, refund_captures, refunds};
use crate::db::Backend;
use crate::engine::sql::{self, text, typed, Cond, OrderBy};
use crate::engine::{time, Resource};
use crate::error::ApiResult;
use crate::jsonapi::document::{Attributes, Record};
use crate::jsonapi::filter::Target;
use crate::jsonapi::query::SortKey;
use crate::jsonapi::resource::{AttrDef, AttrKind::*, RelDef, ResourceDef};

pub static DEF: ResourceDef = ResourceDef {
    type_name: "refund_captures",
    attributes: &[
        AttrDef::new("currency_code", Text).filter(),
        AttrDef::new("amount_cents", Int).filter().sort(),
        AttrDef::shown("amount_float"),
        AttrDef::shown("formatted_amount"),
        AttrDef::new("created_at", Time).filter().sort(),
        AttrDef::new("updated_at", Time).filter().sort(),
        AttrDef::new("refund_id", Text).filter().hidden(),
        AttrDef::new("capture_id", Text).filter().hidden(),
        AttrDef::new("order_id", Text).filter().hidden(),
    ],
    relationships: &[
        RelDef::one("refund", "refunds"),
        RelDef::one("capture", "captures"),
    ],
    default_sort: "-created_at",
};

/// A row of `refund_captures`, in column order.
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = refund_captures)]
pub struct Row {
    pub id: String,
    pub organization_id: String,
    pub mode: String,
    pub order_id: String,
    pub refund_id: String,
    pub capture_id: String,
    pub currency_code: String,
    pub amount_cents: i64,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

pub fn view(r: Row) -> Record {
    let mut a = Attributes::with_capacity(DEF.attributes.len());
    a.push("currency_code", Value::from(r.currency_code.as_str()));
    crate::money::insert(
        &mut a,
        crate::money::names!("amount"),
        r.amount_cents,
        &r.currency_code,
    );
    a.push("created_at", time(&r.created_at));
    a.push("updated_at", time(&r.updated_at));
    Record {
        def: &DEF,
        id: r.id,
        attributes: a,
        to_one: vec![
            ("refund", Some(r.refund_id)),
            ("capture", Some(r.capture_id)),
        ],
        to_one_types: vec![],
        organization_id: r.organization_id,
        mode: r.mode,
    }
}

/// The SQL condition of one filter target on `refund_captures`.
pub fn cond(t: &Target, backend: Backend) -> ApiResult<Cond<refund_captures::table>> {
    use refund_captures as rc;
    if let Some(rel) = t.path.first() {
        let inner = t.inner();
        return Ok(match rel.name {
            "refund" => Box::new(
                sql::in_query(
                    rc::refund_id,
                    refunds::table
                        .select(refunds::id)
                        .into_boxed::<crate::db::MultiBackend>()
                        .filter(super::refunds::cond(&inner, backend)?),
                )
                .nullable(),
            ),
            "capture" => Box::new(
                sql::in_query(
                    rc::capture_id,
                    captures::table
                        .select(captures::id)
                        .into_boxed::<crate::db::MultiBackend>()
                        .filter(super::captures::cond(&inner, backend)?),
                )
                .nullable(),
            ),
            _ => return Err(sql::unsupported(t)),
        });
    }
    Ok(match t.attr.name {
        "id" => text!(rc::id, t),
        "currency_code" => text!(rc::currency_code, t),
        "amount_cents" => typed!(rc::amount_cents, t, Int),
        "created_at" => typed!(rc::created_at, t, Time),
        "updated_at" => typed!(rc::updated_at, t, Time),
        "refund_id" => text!(rc::refund_id, t),
        "capture_id" => text!(rc::capture_id, t),
        "order_id" => text!(rc::order_id, t),
        _ => return Err(sql::unsupported(t)),
    })
}

crate::engine::child_scope!(refund_captures);

/// Adds `key` to the order; `false` for a field this table has no column for.
fn sort(o: &mut OrderBy, key: &SortKey, _backend: Backend) -> bool {
    match key.attr.name {
        "amount_cents" => o.by(refund_captures::amount_cents, key),
        "created_at" => o.by(refund_captures::created_at, key),
        "updated_at" => o.by(refund_captures::updated_at, key),
        _ => return false,
    }
    true
}

pub struct RefundCaptures;

impl Resource for RefundCaptures {
    fn def(&self) -> &'static ResourceDef {
        &DEF
    }

    crate::engine::list_impl!(refund_captures, Row, view, cond, sort, scope);
}
