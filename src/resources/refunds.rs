//! `refunds`: the resource description, its row, filters, sort and view.

use diesel::prelude::*;
use serde_json::Value;

use super::orders;
use crate::db::schema::{
    attachments, authorizations, captures, events, orders as orders_t, refund_captures, refunds,
    versions,
};
use crate::db::{Backend, MultiBackend};
use crate::engine::sql::{self, json_contains, text, typed, Cond, OrderBy};
use crate::engine::{time, Resource};
use crate::error::ApiResult;
use crate::jsonapi::document::{Attributes, Record};
use crate::jsonapi::filter::Target;
use crate::jsonapi::query::SortKey;
use crate::jsonapi::resource::{AttrDef, AttrKind::*, RelDef, ResourceDef};

pub static DEF: ResourceDef = ResourceDef {
    type_name: "refunds",
    attributes: &[
        AttrDef::new("number", Text).filter().sort(),
        AttrDef::new("key", Text).filter().sort(),
        AttrDef::new("currency_code", Text).filter(),
        AttrDef::new("amount_cents", Int).filter().sort(),
        AttrDef::shown("amount_float"),
        AttrDef::shown("formatted_amount"),
        AttrDef::new("succeeded", Bool).filter(),
        AttrDef::new("message", Text).filter(),
        AttrDef::new("error_code", Text).filter(),
        AttrDef::new("error_detail", Text).filter(),
        AttrDef::new("token", Text).filter(),
        AttrDef::new("gateway_transaction_id", Text).filter(),
        AttrDef::shown("payment_method_type"),
        AttrDef::new("created_at", Time).filter().sort(),
        AttrDef::new("updated_at", Time).filter().sort(),
        AttrDef::new("reference", Text).filter().sort(),
        AttrDef::new("reference_origin", Text).filter().sort(),
        AttrDef::new("metadata", Json).filter(),
        AttrDef::new("order_id", Text).filter().hidden(),
        AttrDef::new("reference_capture_id", Text).filter().hidden(),
        AttrDef::new("authorization_id", Text).filter().hidden(),
        AttrDef::new("capture_id", Text).filter().hidden(),
    ],
    relationships: &[
        RelDef::one("order", "orders"),
        RelDef::one("reference_capture", "captures"),
        RelDef::one("authorization", "authorizations"),
        RelDef::many("refund_captures", "refund_captures", "refund_id"),
        RelDef::many("versions", "versions", "resource_id"),
        RelDef::many("events", "events", "resource_id"),
        RelDef::many("attachments", "attachments", "attachable_id"),
    ],
    default_sort: "-created_at",
};

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

/// The SQL condition of one filter target on `refunds`.
pub fn cond(t: &Target, backend: Backend) -> ApiResult<Cond<refunds::table>> {
    use refunds as r;
    if let Some(rel) = t.path.first() {
        let inner = t.inner();
        return Ok(match rel.name {
            "order" => Box::new(
                sql::in_query(
                    r::order_id,
                    orders_t::table
                        .select(orders_t::id)
                        .into_boxed::<crate::db::MultiBackend>()
                        .filter(orders::cond(&inner, backend)?),
                )
                .nullable(),
            ),
            "reference_capture" => Box::new(
                sql::in_query(
                    r::reference_capture_id,
                    captures::table
                        .select(captures::id.nullable())
                        .into_boxed::<crate::db::MultiBackend>()
                        .filter(super::captures::cond(&inner, backend)?),
                )
                .nullable(),
            ),
            "authorization" => Box::new(
                sql::in_query(
                    r::authorization_id,
                    authorizations::table
                        .select(authorizations::id.nullable())
                        .into_boxed::<crate::db::MultiBackend>()
                        .filter(super::authorizations::cond(&inner, backend)?),
                )
                .nullable(),
            ),
            "refund_captures" => Box::new(
                sql::in_query(
                    r::id,
                    refund_captures::table
                        .select(refund_captures::refund_id)
                        .into_boxed::<crate::db::MultiBackend>()
                        .filter(super::refund_captures::cond(&inner, backend)?),
                )
                .nullable(),
            ),
            "versions" => Box::new(
                sql::in_query(
                    r::id,
                    versions::table
                        .select(versions::resource_id)
                        .into_boxed::<crate::db::MultiBackend>()
                        .filter(super::versions::cond(&inner, backend)?),
                )
                .nullable(),
            ),
            "events" => Box::new(
                sql::in_query(
                    r::id,
                    events::table
                        .select(events::resource_id)
                        .into_boxed::<crate::db::MultiBackend>()
                        .filter(super::events::cond(&inner, backend)?),
                )
                .nullable(),
            ),
            "attachments" => Box::new(
                sql::in_query(
                    r::id,
                    attachments::table
                        .select(attachments::attachable_id)
                        .into_boxed::<crate::db::MultiBackend>()
                        .filter(super::attachments::cond(&inner, backend)?),
                )
                .nullable(),
            ),
            _ => return Err(sql::unsupported(t)),
        });
    }
    Ok(match t.attr.name {
        "id" => text!(r::id, t),
        "number" => text!(r::number, t),
        "key" => text!(r::key, t),
        "currency_code" => text!(r::currency_code, t),
        "amount_cents" => typed!(r::amount_cents, t, Int),
        "succeeded" => typed!(r::succeeded, t, Bool),
        "message" => text!(r::message, t),
        "error_code" => text!(r::error_code, t),
        "error_detail" => text!(r::error_detail, t),
        "token" => text!(r::token, t),
        "gateway_transaction_id" => text!(r::gateway_transaction_id, t),
        "created_at" => typed!(r::created_at, t, Time),
        "updated_at" => typed!(r::updated_at, t, Time),
        "reference" => text!(r::reference, t),
        "reference_origin" => text!(r::reference_origin, t),
        "metadata" => json_contains!("refunds", t, backend),
        "order_id" => text!(r::order_id, t),
        "reference_capture_id" => text!(r::reference_capture_id, t),
        "authorization_id" => text!(r::authorization_id, t),
        "capture_id" => {
            let inner = text!(refund_captures::capture_id, t);
            Box::new(
                sql::in_query(
                    r::id,
                    refund_captures::table
                        .select(refund_captures::refund_id)
                        .into_boxed::<crate::db::MultiBackend>()
                        .filter(inner),
                )
                .nullable(),
            )
        }
        _ => return Err(sql::unsupported(t)),
    })
}

crate::engine::child_scope!(refunds);

/// Adds `key` to the order; `false` for a field this table has no column for.
fn sort(o: &mut OrderBy, key: &SortKey, backend: Backend) -> bool {
    match key.attr.name {
        "number" => o.by(refunds::number, key),
        "key" => o.by(refunds::key, key),
        "amount_cents" => o.by(refunds::amount_cents, key),
        "created_at" => o.by(refunds::created_at, key),
        "updated_at" => o.by(refunds::updated_at, key),
        "reference" => o.by_nullable(refunds::reference, key, backend),
        "reference_origin" => o.by_nullable(refunds::reference_origin, key, backend),
        _ => return false,
    }
    true
}

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
