//! `captures`: captured payments, the money a refund can give back.

use diesel::prelude::*;
use serde_json::Value;

use crate::db::schema::{authorizations, captures, orders as orders_t, refund_captures};
use crate::db::{Backend, MultiBackend};
use crate::engine::sql::{self, json_contains, text, typed, Cond, OrderBy};
use crate::engine::{time, Resource};
use crate::error::ApiResult;
use crate::jsonapi::document::{Attributes, Record};
use crate::jsonapi::filter::Target;
use crate::jsonapi::query::SortKey;
use crate::jsonapi::resource::{AttrDef, AttrKind::*, RelDef, ResourceDef};

pub static DEF: ResourceDef = ResourceDef {
    type_name: "captures",
    attributes: &[
        AttrDef::new("number", Text).filter().sort(),
        AttrDef::new("currency_code", Text).filter(),
        AttrDef::new("amount_cents", Int).filter().sort(),
        AttrDef::shown("amount_float"),
        AttrDef::shown("formatted_amount"),
        AttrDef::new("refund_amount_cents", Int).filter().sort(),
        AttrDef::shown("refund_amount_float"),
        AttrDef::shown("formatted_refund_amount"),
        AttrDef::new("refund_balance_cents", Int).filter().sort(),
        AttrDef::shown("refund_balance_float"),
        AttrDef::shown("formatted_refund_balance"),
        AttrDef::new("succeeded", Bool).filter(),
        AttrDef::new("payment_method_type", Text).filter(),
        AttrDef::new("message", Text).filter(),
        AttrDef::new("error_code", Text).filter(),
        AttrDef::new("error_detail", Text).filter(),
        AttrDef::new("token", Text).filter(),
        AttrDef::new("gateway_transaction_id", Text).filter(),
        AttrDef::new("created_at", Time).filter().sort(),
        AttrDef::new("updated_at", Time).filter().sort(),
        AttrDef::new("reference", Text).filter().sort(),
        AttrDef::new("reference_origin", Text).filter().sort(),
        AttrDef::new("metadata", Json).filter(),
        AttrDef::new("order_id", Text).filter().hidden(),
        AttrDef::new("authorization_id", Text).filter().hidden(),
    ],
    relationships: &[
        RelDef::one("order", "orders"),
        RelDef::one("authorization", "authorizations"),
        RelDef::many("refunds", "refunds", "capture_id"),
    ],
    default_sort: "-created_at",
};

/// A row of `captures`, in column order.
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = captures)]
pub struct Row {
    pub id: String,
    pub organization_id: String,
    pub mode: String,
    pub order_id: String,
    pub authorization_id: String,
    pub number: String,
    pub currency_code: String,
    pub amount_cents: i64,
    pub refund_amount_cents: i64,
    pub refund_balance_cents: i64,
    pub succeeded: bool,
    pub payment_method_type: Option<String>,
    pub message: Option<String>,
    pub error_code: Option<String>,
    pub error_detail: Option<String>,
    pub token: Option<String>,
    pub gateway_transaction_id: Option<String>,
    pub reference: Option<String>,
    pub reference_origin: Option<String>,
    pub metadata: String,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

pub fn view(r: Row) -> Record {
    let mut a = Attributes::with_capacity(DEF.attributes.len());
    let cur = r.currency_code.as_str();
    a.push("number", Value::from(r.number));
    a.push("currency_code", Value::from(cur));
    crate::money::insert(&mut a, crate::money::names!("amount"), r.amount_cents, cur);
    crate::money::insert(
        &mut a,
        crate::money::names!("refund_amount"),
        r.refund_amount_cents,
        cur,
    );
    crate::money::insert(
        &mut a,
        crate::money::names!("refund_balance"),
        r.refund_balance_cents,
        cur,
    );
    a.push("succeeded", Value::from(r.succeeded));
    a.push("payment_method_type", Value::from(r.payment_method_type));
    a.push("message", Value::from(r.message));
    a.push("error_code", Value::from(r.error_code));
    a.push("error_detail", Value::from(r.error_detail));
    a.push("token", Value::from(r.token));
    a.push(
        "gateway_transaction_id",
        Value::from(r.gateway_transaction_id),
    );
    a.push("created_at", time(&r.created_at));
    a.push("updated_at", time(&r.updated_at));
    a.push("reference", Value::from(r.reference));
    a.push("reference_origin", Value::from(r.reference_origin));
    a.push_json("metadata", r.metadata);
    Record {
        def: &DEF,
        id: r.id,
        attributes: a,
        to_one: vec![
            ("order", Some(r.order_id)),
            ("authorization", Some(r.authorization_id)),
        ],
        to_one_types: vec![],
        organization_id: r.organization_id,
        mode: r.mode,
    }
}

/// The SQL condition of one filter target on `captures`.
pub fn cond(t: &Target, backend: Backend) -> ApiResult<Cond<captures::table>> {
    use captures as c;
    if let Some(rel) = t.path.first() {
        let inner = t.inner();
        return Ok(match rel.name {
            "order" => Box::new(
                sql::in_query(
                    c::order_id,
                    orders_t::table
                        .select(orders_t::id)
                        .into_boxed::<crate::db::MultiBackend>()
                        .filter(super::orders::cond(&inner, backend)?),
                )
                .nullable(),
            ),
            "authorization" => Box::new(
                sql::in_query(
                    c::authorization_id,
                    authorizations::table
                        .select(authorizations::id)
                        .into_boxed::<crate::db::MultiBackend>()
                        .filter(super::authorizations::cond(&inner, backend)?),
                )
                .nullable(),
            ),
            "refunds" => {
                use crate::db::schema::refunds;
                let refunds = refunds::table
                    .select(refunds::id)
                    .into_boxed::<MultiBackend>()
                    .filter(super::refunds::cond(&inner, backend)?);
                let links = refund_captures::table
                    .select(refund_captures::capture_id)
                    .into_boxed::<MultiBackend>()
                    .filter(sql::in_query(refund_captures::refund_id, refunds));
                Box::new(sql::in_query(c::id, links).nullable())
            }
            _ => return Err(sql::unsupported(t)),
        });
    }
    Ok(match t.attr.name {
        "id" => text!(c::id, t),
        "number" => text!(c::number, t),
        "currency_code" => text!(c::currency_code, t),
        "amount_cents" => typed!(c::amount_cents, t, Int),
        "refund_amount_cents" => typed!(c::refund_amount_cents, t, Int),
        "refund_balance_cents" => typed!(c::refund_balance_cents, t, Int),
        "succeeded" => typed!(c::succeeded, t, Bool),
        "payment_method_type" => text!(c::payment_method_type, t),
        "message" => text!(c::message, t),
        "error_code" => text!(c::error_code, t),
        "error_detail" => text!(c::error_detail, t),
        "token" => text!(c::token, t),
        "gateway_transaction_id" => text!(c::gateway_transaction_id, t),
        "created_at" => typed!(c::created_at, t, Time),
        "updated_at" => typed!(c::updated_at, t, Time),
        "reference" => text!(c::reference, t),
        "reference_origin" => text!(c::reference_origin, t),
        "metadata" => json_contains!("captures", t, backend),
        "order_id" => text!(c::order_id, t),
        "authorization_id" => text!(c::authorization_id, t),
        _ => return Err(sql::unsupported(t)),
    })
}

crate::engine::child_scope!(captures);

/// Adds `key` to the order; `false` for a field this table has no column for.
fn sort(o: &mut OrderBy, key: &SortKey, backend: Backend) -> bool {
    match key.attr.name {
        "number" => o.by(captures::number, key),
        "amount_cents" => o.by(captures::amount_cents, key),
        "refund_amount_cents" => o.by(captures::refund_amount_cents, key),
        "refund_balance_cents" => o.by(captures::refund_balance_cents, key),
        "created_at" => o.by(captures::created_at, key),
        "updated_at" => o.by(captures::updated_at, key),
        "reference" => o.by_nullable(captures::reference, key, backend),
        "reference_origin" => o.by_nullable(captures::reference_origin, key, backend),
        _ => return false,
    }
    true
}

pub struct Captures;

impl Resource for Captures {
    fn def(&self) -> &'static ResourceDef {
        &DEF
    }

    crate::engine::list_impl!(captures, Row, view, cond, sort, scope);
}
