//! `authorizations`: payments authorized on an order, which captures draw on.

use diesel::prelude::*;
use serde_json::Value;

use crate::db::schema::{authorizations, captures, orders as orders_t};
use crate::db::Backend;
use crate::engine::sql::{self, json_contains, text, typed, Cond, OrderBy};
use crate::engine::{time, Resource};
use crate::error::ApiResult;
use crate::jsonapi::document::{Attributes, Record};
use crate::jsonapi::filter::Target;
use crate::jsonapi::query::SortKey;
use crate::jsonapi::resource::{AttrDef, AttrKind::*, RelDef, ResourceDef};

pub static DEF: ResourceDef = ResourceDef {
    type_name: "authorizations",
    attributes: &[
        AttrDef::new("number", Text).filter().sort(),
        AttrDef::new("currency_code", Text).filter(),
        AttrDef::new("amount_cents", Int).filter().sort(),
        AttrDef::shown("amount_float"),
        AttrDef::shown("formatted_amount"),
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
    ],
    relationships: &[
        RelDef::one("order", "orders"),
        RelDef::many("captures", "captures", "authorization_id"),
    ],
    default_sort: "-created_at",
};

/// A row of `authorizations`, in column order.
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = authorizations)]
pub struct Row {
    pub id: String,
    pub organization_id: String,
    pub mode: String,
    pub order_id: String,
    pub number: String,
    pub currency_code: String,
    pub amount_cents: i64,
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
    a.push("number", Value::from(r.number));
    a.push("currency_code", Value::from(r.currency_code.as_str()));
    crate::money::insert(
        &mut a,
        crate::money::names!("amount"),
        r.amount_cents,
        &r.currency_code,
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
        to_one: vec![("order", Some(r.order_id))],
        to_one_types: vec![],
        organization_id: r.organization_id,
        mode: r.mode,
    }
}

/// The SQL condition of one filter target on `authorizations`.
pub fn cond(t: &Target, backend: Backend) -> ApiResult<Cond<authorizations::table>> {
    use authorizations as a;
    if let Some(rel) = t.path.first() {
        let inner = t.inner();
        return Ok(match rel.name {
            "order" => Box::new(
                sql::in_query(
                    a::order_id,
                    orders_t::table
                        .select(orders_t::id)
                        .into_boxed::<crate::db::MultiBackend>()
                        .filter(super::orders::cond(&inner, backend)?),
                )
                .nullable(),
            ),
            "captures" => Box::new(
                sql::in_query(
                    a::id,
                    captures::table
                        .select(captures::authorization_id)
                        .into_boxed::<crate::db::MultiBackend>()
                        .filter(super::captures::cond(&inner, backend)?),
                )
                .nullable(),
            ),
            _ => return Err(sql::unsupported(t)),
        });
    }
    Ok(match t.attr.name {
        "id" => text!(a::id, t),
        "number" => text!(a::number, t),
        "currency_code" => text!(a::currency_code, t),
        "amount_cents" => typed!(a::amount_cents, t, Int),
        "succeeded" => typed!(a::succeeded, t, Bool),
        "payment_method_type" => text!(a::payment_method_type, t),
        "message" => text!(a::message, t),
        "error_code" => text!(a::error_code, t),
        "error_detail" => text!(a::error_detail, t),
        "token" => text!(a::token, t),
        "gateway_transaction_id" => text!(a::gateway_transaction_id, t),
        "created_at" => typed!(a::created_at, t, Time),
        "updated_at" => typed!(a::updated_at, t, Time),
        "reference" => text!(a::reference, t),
        "reference_origin" => text!(a::reference_origin, t),
        "metadata" => json_contains!("authorizations", t, backend),
        "order_id" => text!(a::order_id, t),
        _ => return Err(sql::unsupported(t)),
    })
}

crate::engine::child_scope!(authorizations);

/// Adds `key` to the order; `false` for a field this table has no column for.
fn sort(o: &mut OrderBy, key: &SortKey, backend: Backend) -> bool {
    match key.attr.name {
        "number" => o.by(authorizations::number, key),
        "amount_cents" => o.by(authorizations::amount_cents, key),
        "created_at" => o.by(authorizations::created_at, key),
        "updated_at" => o.by(authorizations::updated_at, key),
        "reference" => o.by_nullable(authorizations::reference, key, backend),
        "reference_origin" => o.by_nullable(authorizations::reference_origin, key, backend),
        _ => return false,
    }
    true
}

pub struct Authorizations;

impl Resource for Authorizations {
    fn def(&self) -> &'static ResourceDef {
        &DEF
    }

    crate::engine::list_impl!(authorizations, Row, view, cond, sort, scope);
}
