//! `captures`: captured payments, the money a refund can give back.

use diesel::prelude::*;
use serde_json::Value;

use crate::db::schema::captures;
use crate::engine::{time, Resource};
use crate::jsonapi::document::{Attributes, Record};
use crate::jsonapi::resource::ResourceDef;

crate::engine::describe! {
    type_name: captures,
    default_sort: "-created_at",
    attributes {
        number: Text [filter, sort],
        currency_code: Text [filter],
        amount_cents: Int [filter, sort],
        amount_float: shown,
        formatted_amount: shown,
        refund_amount_cents: Int [filter, sort],
        refund_amount_float: shown,
        formatted_refund_amount: shown,
        refund_balance_cents: Int [filter, sort],
        refund_balance_float: shown,
        formatted_refund_balance: shown,
        succeeded: Bool [filter],
        payment_method_type: Text [filter],
        message: Text [filter],
        error_code: Text [filter],
        error_detail: Text [filter],
        token: Text [filter],
        gateway: Text [filter, sort],
        gateway_transaction_id: Text [filter],
        created_at: Time [filter, sort],
        updated_at: Time [filter, sort],
        reference: Text [filter, sort],
        reference_origin: Text [filter, sort],
        metadata: Json [filter],
        order_id: Text [filter, hidden],
        authorization_id: Text [filter, hidden],
    }
    relationships {
        order: one orders via order_id,
        authorization: one authorizations via authorization_id,
        refunds: many refunds through refund_captures(capture_id, refund_id),
    }
}

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
    /// `test` or `stripe`: where refunds of this capture are executed.
    pub gateway: String,
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
    a.push("gateway", Value::from(r.gateway));
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

crate::engine::child_scope!(captures);

pub struct Captures;

impl Resource for Captures {
    fn def(&self) -> &'static ResourceDef {
        &DEF
    }

    crate::engine::list_impl!(captures, Row, view, cond, sort, scope);
}
