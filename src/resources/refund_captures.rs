//! `refund_captures`: how a refund's amount was split over the captures it drew on.

use diesel::prelude::*;
use serde_json::Value;

use crate::db::schema::refund_captures;
use crate::engine::{time, Resource};
use crate::jsonapi::document::{Attributes, Record};
use crate::jsonapi::resource::ResourceDef;

crate::engine::describe! {
    type_name: refund_captures,
    default_sort: "-created_at",
    attributes {
        currency_code: Text [filter],
        amount_cents: Int [filter, sort],
        amount_float: shown,
        formatted_amount: shown,
        status: Text [filter, sort],
        gateway: Text [filter],
        gateway_transaction_id: Text [filter],
        error_code: Text [filter],
        message: Text [filter],
        created_at: Time [filter, sort],
        updated_at: Time [filter, sort],
        refund_id: Text [filter, hidden],
        capture_id: Text [filter, hidden],
        order_id: Text [filter, hidden],
    }
    relationships {
        refund: one refunds via refund_id,
        capture: one captures via capture_id,
    }
}

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
    /// `pending` until its gateway answers, then `succeeded` or `failed`.
    pub status: String,
    /// The gateway of its capture.
    pub gateway: String,
    /// The PSP's id of this part's refund.
    pub gateway_transaction_id: Option<String>,
    pub error_code: Option<String>,
    pub message: Option<String>,
    /// When the reconciler last took it (not shown).
    pub checked_at: Option<chrono::NaiveDateTime>,
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
    a.push("status", Value::from(r.status));
    a.push("gateway", Value::from(r.gateway));
    a.push(
        "gateway_transaction_id",
        Value::from(r.gateway_transaction_id),
    );
    a.push("error_code", Value::from(r.error_code));
    a.push("message", Value::from(r.message));
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

crate::engine::child_scope!(refund_captures);

pub struct RefundCaptures;

impl Resource for RefundCaptures {
    fn def(&self) -> &'static ResourceDef {
        &DEF
    }

    crate::engine::list_impl!(refund_captures, Row, view, cond, sort, scope);
}
