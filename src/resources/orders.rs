//! `orders`: the service's copy of the orders refunds belong to.

use diesel::prelude::*;
use serde_json::Value;

use crate::auth::Scope;
use crate::db::schema::orders;
use crate::engine::sql::Cond;
use crate::engine::{time, Resource};
use crate::jsonapi::document::{Attributes, Record};
use crate::jsonapi::resource::ResourceDef;

crate::engine::describe! {
    type_name: orders,
    default_sort: "-created_at",
    attributes {
        number: Text [filter, sort],
        currency_code: Text [filter],
        customer_email: Text [filter, sort],
        customer_id: Text [filter],
        market_id: Text [filter],
        total_amount_cents: Int [filter, sort],
        total_amount_float: shown,
        formatted_total_amount: shown,
        shipping_amount_cents: Int [filter, sort],
        shipping_amount_float: shown,
        formatted_shipping_amount: shown,
        payment_status: Text [filter, sort],
        created_at: Time [filter, sort],
        updated_at: Time [filter, sort],
        reference: Text [filter, sort],
        reference_origin: Text [filter, sort],
        metadata: Json [filter],
    }
    relationships {
        authorizations: many authorizations via order_id,
        captures: many captures via order_id,
        refunds: many refunds via order_id,
    }
}

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

/// The orders a customer- or market-limited token may see (`None`: no limit beyond the tenant).
pub fn restriction(scope: &Scope) -> Option<Cond<orders::table>> {
    if !scope.is_restricted() {
        return None;
    }
    let mut c: Cond<orders::table> = Box::new(crate::engine::tenant!(orders, scope));
    if let Some(customer) = &scope.customer_id {
        c = Box::new(c.and(orders::customer_id.eq(customer.clone())));
    }
    if let Some(markets) = &scope.market_ids {
        c = Box::new(c.and(orders::market_id.eq_any(markets.clone())));
    }
    Some(c)
}

pub fn scope(scope: &Scope) -> Cond<orders::table> {
    restriction(scope).unwrap_or_else(|| Box::new(crate::engine::tenant!(orders, scope)))
}

pub struct Orders;

impl Resource for Orders {
    fn def(&self) -> &'static ResourceDef {
        &DEF
    }

    crate::engine::list_impl!(orders, Row, view, cond, sort, scope);
}
