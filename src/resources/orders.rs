//! `orders`: the service's copy of the orders refunds belong to.

use diesel::prelude::*;
use serde_json::Value;

use crate::auth::Scope;
use crate::db::schema::{authorizations, captures, orders, refunds};
use crate::db::Backend;
use crate::engine::sql::{self, json_contains, text, typed, Cond, OrderBy};
use crate::engine::{time, Resource};
use crate::error::ApiResult;
use crate::jsonapi::document::{Attributes, Record};
use crate::jsonapi::filter::Target;
use crate::jsonapi::query::SortKey;
use crate::jsonapi::resource::{AttrDef, AttrKind::*, RelDef, ResourceDef};

pub static DEF: ResourceDef = ResourceDef {
    type_name: "orders",
    attributes: &[
        AttrDef::new("number", Text).filter().sort(),
        AttrDef::new("currency_code", Text).filter(),
        AttrDef::new("customer_email", Text).filter().sort(),
        AttrDef::new("customer_id", Text).filter(),
        AttrDef::new("market_id", Text).filter(),
        AttrDef::new("total_amount_cents", Int).filter().sort(),
        AttrDef::shown("total_amount_float"),
        AttrDef::shown("formatted_total_amount"),
        AttrDef::new("shipping_amount_cents", Int).filter().sort(),
        AttrDef::shown("shipping_amount_float"),
        AttrDef::shown("formatted_shipping_amount"),
        AttrDef::new("payment_status", Text).filter().sort(),
        AttrDef::new("created_at", Time).filter().sort(),
        AttrDef::new("updated_at", Time).filter().sort(),
        AttrDef::new("reference", Text).filter().sort(),
        AttrDef::new("reference_origin", Text).filter().sort(),
        AttrDef::new("metadata", Json).filter(),
    ],
    relationships: &[
        RelDef::many("authorizations", "authorizations", "order_id"),
        RelDef::many("captures", "captures", "order_id"),
        RelDef::many("refunds", "refunds", "order_id"),
    ],
    default_sort: "-created_at",
};

/// A row of `orders`, in column order.
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = orders)]
pub struct Row {
    pub id: String,
    pub organization_id: String,
    pub mode: String,
    pub number: String,
    pub currency_code: String,
    pub customer_email: Option<String>,
    pub customer_id: Option<String>,
    pub market_id: Option<String>,
    pub total_amount_cents: i64,
    pub shipping_amount_cents: i64,
    pub payment_status: String,
    pub transactions_count: i32,
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
    a.push("customer_email", Value::from(r.customer_email));
    a.push("customer_id", Value::from(r.customer_id));
    a.push("market_id", Value::from(r.market_id));
    crate::money::insert(
        &mut a,
        crate::money::names!("total_amount"),
        r.total_amount_cents,
        &r.currency_code,
    );
    crate::money::insert(
        &mut a,
        crate::money::names!("shipping_amount"),
        r.shipping_amount_cents,
        &r.currency_code,
    );
    a.push("payment_status", Value::from(r.payment_status));
    a.push("created_at", time(&r.created_at));
    a.push("updated_at", time(&r.updated_at));
    a.push("reference", Value::from(r.reference));
    a.push("reference_origin", Value::from(r.reference_origin));
    a.push_json("metadata", r.metadata);
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

/// The SQL condition of one filter target on `orders`.
pub fn cond(t: &Target, backend: Backend) -> ApiResult<Cond<orders::table>> {
    use orders as o;
    if let Some(rel) = t.path.first() {
        let inner = t.inner();
        return Ok(match rel.name {
            "authorizations" => Box::new(
                sql::in_query(
                    o::id,
                    authorizations::table
                        .select(authorizations::order_id)
                        .into_boxed::<crate::db::MultiBackend>()
                        .filter(super::authorizations::cond(&inner, backend)?),
                )
                .nullable(),
            ),
            "captures" => Box::new(
                sql::in_query(
                    o::id,
                    captures::table
                        .select(captures::order_id)
                        .into_boxed::<crate::db::MultiBackend>()
                        .filter(super::captures::cond(&inner, backend)?),
                )
                .nullable(),
            ),
            "refunds" => Box::new(
                sql::in_query(
                    o::id,
                    refunds::table
                        .select(refunds::order_id)
                        .into_boxed::<crate::db::MultiBackend>()
                        .filter(super::refunds::cond(&inner, backend)?),
                )
                .nullable(),
            ),
            _ => return Err(sql::unsupported(t)),
        });
    }
    Ok(match t.attr.name {
        "id" => text!(o::id, t),
        "number" => text!(o::number, t),
        "currency_code" => text!(o::currency_code, t),
        "customer_email" => text!(o::customer_email, t),
        "customer_id" => text!(o::customer_id, t),
        "market_id" => text!(o::market_id, t),
        "total_amount_cents" => typed!(o::total_amount_cents, t, Int),
        "shipping_amount_cents" => typed!(o::shipping_amount_cents, t, Int),
        "payment_status" => text!(o::payment_status, t),
        "created_at" => typed!(o::created_at, t, Time),
        "updated_at" => typed!(o::updated_at, t, Time),
        "reference" => text!(o::reference, t),
        "reference_origin" => text!(o::reference_origin, t),
        "metadata" => json_contains!("orders", t, backend),
        _ => return Err(sql::unsupported(t)),
    })
}

/// The orders a customer- or market-limited token may see (`None`: no limit beyond the tenant).
pub fn restriction(scope: &Scope) -> Option<Cond<orders::table>> {
    if scope.customer_id.is_none() && scope.market_ids.is_none() {
        return None;
    }
    let mut c: Cond<orders::table> = Box::new(
        orders::organization_id
            .eq(scope.organization_id.clone())
            .and(orders::mode.eq(scope.mode))
            .nullable(),
    );
    if let Some(customer) = &scope.customer_id {
        c = Box::new(c.and(orders::customer_id.eq(customer.clone())));
    }
    if let Some(markets) = &scope.market_ids {
        c = Box::new(c.and(orders::market_id.eq_any(markets.clone())));
    }
    Some(c)
}

pub fn scope(scope: &Scope) -> Cond<orders::table> {
    restriction(scope).unwrap_or_else(|| {
        Box::new(
            orders::organization_id
                .eq(scope.organization_id.clone())
                .and(orders::mode.eq(scope.mode))
                .nullable(),
        )
    })
}

/// Adds `key` to the order; `false` for a field this table has no column for.
fn sort(o: &mut OrderBy, key: &SortKey, backend: Backend) -> bool {
    match key.attr.name {
        "number" => o.by(orders::number, key),
        "customer_email" => o.by_nullable(orders::customer_email, key, backend),
        "total_amount_cents" => o.by(orders::total_amount_cents, key),
        "shipping_amount_cents" => o.by(orders::shipping_amount_cents, key),
        "payment_status" => o.by(orders::payment_status, key),
        "created_at" => o.by(orders::created_at, key),
        "updated_at" => o.by(orders::updated_at, key),
        "reference" => o.by_nullable(orders::reference, key, backend),
        "reference_origin" => o.by_nullable(orders::reference_origin, key, backend),
        _ => return false,
    }
    true
}

pub struct Orders;

impl Resource for Orders {
    fn def(&self) -> &'static ResourceDef {
        &DEF
    }

    crate::engine::list_impl!(orders, Row, view, cond, sort, scope);
}
