//! `refunds`: the resource description (with its filters and sort), its row and view.

use diesel::prelude::*;
use serde_json::Value;

use crate::db::schema::refunds;
use crate::db::MultiBackend;
use crate::engine::{time, Resource};
use crate::jsonapi::document::{Attributes, Record};
use crate::jsonapi::resource::ResourceDef;

crate::engine::describe! {
    type_name: refunds,
    default_sort: "-created_at",
    attributes {
        number: Text [filter, sort],
        key: Text [filter, sort],
        currency_code: Text [filter],
        amount_cents: Int [filter, sort],
        amount_float: shown,
        formatted_amount: shown,
        status: Text [filter, sort],
        refunded_amount_cents: Int [filter, sort],
        refunded_amount_float: shown,
        formatted_refunded_amount: shown,
        succeeded: Bool [filter],
        message: Text [filter],
        error_code: Text [filter],
        error_detail: Text [filter],
        token: Text [filter],
        gateway_transaction_id: Text [filter],
        payment_method_type: shown,
        created_at: Time [filter, sort],
        updated_at: Time [filter, sort],
        reference: Text [filter, sort],
        reference_origin: Text [filter, sort],
        metadata: Json [filter],
        order_id: Text [filter, hidden],
        reference_capture_id: Text [filter, hidden],
        authorization_id: Text [filter, hidden],
        capture_id: Text in refund_captures(refund_id) [filter, hidden],
    }
    relationships {
        order: one orders via order_id,
        reference_capture: one captures via reference_capture_id,
        authorization: one authorizations via authorization_id,
        refund_captures: many refund_captures via refund_id,
        versions: many versions via resource_id,
        events: many events via resource_id,
        attachments: many attachments via attachable_id,
    }
}

/// A row of `refunds`: what reads show, plus the tenant and the write side's bookkeeping.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refunds)]
pub struct Row {
    pub organization_id: String,
    pub mode: String,
    #[diesel(embed)]
    pub shown: ShownRow,
    /// `capture`, `authorization` or `order`: what the refund was asked against.
    pub target_type: String,
    /// Digest of the creating request, for idempotent replays.
    pub request_hash: String,
}

/// What a read shows of a row: all of it but its tenant (the scope's own) and the write
/// side's bookkeeping, a sixth fewer fields per page.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refunds)]
pub struct ShownRow {
    pub id: String,
    pub order_id: String,
    pub reference_capture_id: Option<String>,
    pub authorization_id: Option<String>,
    pub number: String,
    pub key: String,
    pub currency_code: String,
    pub amount_cents: i64,
    /// `pending`, `succeeded`, `partially_succeeded` or `failed`, from its parts.
    pub status: String,
    /// What its succeeded parts gave back.
    pub refunded_amount_cents: i64,
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
    render(r.shown, r.organization_id, r.mode)
}

/// The record of a row read in `scope`, which is the row's tenant.
fn shown_view(r: ShownRow, scope: &crate::auth::Scope) -> Record {
    render(r, scope.organization_id.clone(), scope.mode.to_owned())
}

fn render(r: ShownRow, organization_id: String, mode: String) -> Record {
    let mut a = Attributes::with_capacity(DEF.attributes.len());
    a.push("number", Value::from(r.number));
    a.push("key", Value::from(r.key));
    a.push("currency_code", Value::from(r.currency_code.as_str()));
    crate::money::insert(
        &mut a,
        crate::money::names!("amount"),
        r.amount_cents,
        &r.currency_code,
    );
    a.push("status", Value::from(r.status));
    crate::money::insert(
        &mut a,
        crate::money::names!("refunded_amount"),
        r.refunded_amount_cents,
        &r.currency_code,
    );
    a.push("succeeded", Value::from(r.succeeded));
    a.push("message", Value::from(r.message));
    a.push("error_code", Value::from(r.error_code));
    a.push("error_detail", Value::from(r.error_detail));
    a.push("token", Value::from(r.token));
    a.push(
        "gateway_transaction_id",
        Value::from(r.gateway_transaction_id),
    );
    a.push("payment_method_type", Value::from(r.payment_method_type));
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
            ("reference_capture", r.reference_capture_id),
            ("authorization", r.authorization_id),
        ],
        to_one_types: vec![],
        organization_id,
        mode,
    }
}

crate::engine::child_scope!(refunds);

pub struct Refunds;

impl Resource for Refunds {
    fn def(&self) -> &'static ResourceDef {
        &DEF
    }

    crate::engine::list_impl!(
        refunds,
        <ShownRow as Selectable<MultiBackend>>::construct_selection(),
        ShownRow,
        shown_view,
        cond,
        sort,
        scope
    );
}
