//! `PATCH /api/refunds/{id}`: its details, and forwarding a stuck refund to `succeeded`
//! (the money was given back some other way, or the gateway's answer was lost).

use diesel::prelude::*;
use serde_json::{json, Map};

use super::{captures_of, orders, reserve, settle, split, status, Target, TxError};
use crate::auth::Auth;
use crate::db::schema::{captures, refund_captures, refunds};
use crate::db::DbConnection;
use crate::error::{ApiError, ApiResult, Code};
use crate::journal::{self, Change};
use crate::resources::{
    captures as capture_res, refund_captures as part_res, refunds as refund_res,
};
use orders::validation;

/// The changes `PATCH /api/refunds/{id}` may make.
#[derive(Debug, Default, Clone)]
pub struct RefundPatch {
    pub reference: Option<Option<String>>,
    pub reference_origin: Option<Option<String>>,
    pub metadata: Option<String>,
    /// `succeeded: true` or `_forward: true`.
    pub forward: bool,
    /// `succeeded: false`.
    pub unforward: bool,
}

/// Updates a refund; forwarding marks every part that did not succeed as succeeded,
/// taking a failed part's amount from its capture's balance again.
pub fn update(conn: &mut DbConnection, auth: &Auth, id: &str, patch: RefundPatch) -> ApiResult<()> {
    let result = crate::db::write_transaction(conn, |conn| -> Result<(), TxError> {
        let scope = &auth.scope;
        let order_id: String = refunds::table
            .filter(refunds::id.eq(id))
            .filter(refunds::organization_id.eq(&scope.organization_id))
            .filter(refunds::mode.eq(scope.mode))
            .select(refunds::order_id)
            .first(conn)
            .optional()?
            .ok_or_else(|| ApiError::not_found("refunds"))?;
        let order = orders::lock_order(conn, &order_id, false)?;
        let row = refunds::table
            .find(id)
            .select(refund_res::Row::as_select())
            .first(conn)?;
        let mut after = row.clone();
        if let Some(r) = patch.reference {
            after.shown.reference = r;
        }
        if let Some(r) = patch.reference_origin {
            after.shown.reference_origin = r;
        }
        if let Some(m) = patch.metadata {
            after.shown.metadata = m;
        }
        if patch.unforward && row.shown.status != status::FAILED {
            return Err(validation(
                "/data/attributes/succeeded",
                "Only a failed refund can be marked failed: this one moved money or awaits its gateway",
            )
            .into());
        }
        let forwarding = patch.forward && !row.shown.succeeded;
        let now = crate::clock::now();
        if forwarding {
            let who = journal::who(auth);
            let parts = forward_parts(conn, auth, &who, &row)?;
            let derived = settle::derived(&after, &parts, now);
            after.shown = refund_res::ShownRow {
                reference: after.shown.reference,
                reference_origin: after.shown.reference_origin,
                metadata: after.shown.metadata,
                message: Some("Forwarded".into()),
                ..derived.shown
            };
            orders::refresh_status(conn, scope, &who, &order, now)?;
        }
        let (b, mut a) = (
            refund_res::view(row.clone()),
            refund_res::view(after.clone()),
        );
        if journal::changes(Some(&b.attributes), &a.attributes).is_empty() {
            return Ok(());
        }
        after.shown.updated_at = now;
        a = refund_res::view(after.clone());
        settle::write_refund(conn, &after)?;
        journal::record(
            conn,
            scope,
            &journal::who(auth),
            Change {
                resource_type: "refunds",
                resource_id: id,
                order_id: &order_id,
                event: "update",
                before: Some(&b.attributes),
                after: &a.attributes,
                name: if forwarding {
                    "refunds.forward"
                } else {
                    "refunds.update"
                },
            },
        )?;
        Ok(())
    });
    match result {
        Ok(()) => Ok(()),
        Err(TxError::Api(e)) => Err(e),
        Err(TxError::Db(e)) => Err(e.into()),
        Err(TxError::Replay(_)) => Err(ApiError::internal("refund update", "unexpected replay")),
    }
}

/// Marks every part of `refund` that did not succeed as succeeded; returns all its parts.
/// A failed part's amount is taken from its capture again (`422` if the balance no longer
/// holds it); a refund from before parts were recorded for failures gets its parts now.
fn forward_parts(
    conn: &mut DbConnection,
    auth: &Auth,
    who: &serde_json::Value,
    refund: &refund_res::Row,
) -> Result<Vec<part_res::Row>, TxError> {
    let mut parts = parts_of(conn, &refund.shown.id)?;
    if parts.is_empty() {
        let target = match refund.target_type.as_str() {
            "authorization" => {
                Target::Authorization(refund.shown.authorization_id.clone().unwrap_or_default())
            }
            "order" => Target::Order(refund.shown.order_id.clone()),
            _ => Target::Capture(
                refund
                    .shown
                    .reference_capture_id
                    .clone()
                    .unwrap_or_default(),
            ),
        };
        let captures = captures_of(conn, &target, &refund.shown.order_id)?;
        let splits = split(&captures, refund.shown.amount_cents)?;
        reserve(conn, &auth.scope, who, refund, &captures, &splits)?;
        parts = parts_of(conn, &refund.shown.id)?;
    }
    let now = crate::clock::now();
    for part in parts.iter_mut().filter(|p| p.status != status::SUCCEEDED) {
        // A pending part's amount is reserved already; a failed one's is taken again.
        if part.status == status::FAILED {
            let capture: capture_res::Row = captures::table.find(&part.capture_id).first(conn)?;
            let mut after = capture.clone();
            if capture.refund_balance_cents < part.amount_cents {
                let mut e = ApiError::pointer(
                    Code::InsufficientFunds,
                    "/data/attributes/_forward",
                    format!(
                        "Capture {} has {} left to refund, less than the part of {} to forward",
                        capture.id, capture.refund_balance_cents, part.amount_cents
                    ),
                );
                e.meta = Some(Map::from_iter([(
                    "balance_cents".to_owned(),
                    json!(capture.refund_balance_cents),
                )]));
                return Err(e.into());
            }
            after.refund_balance_cents -= part.amount_cents;
            after.refund_amount_cents += part.amount_cents;
            after.updated_at = now;
            settle::write_capture(conn, &auth.scope, who, &capture, &after)?;
        }
        part.status = status::SUCCEEDED.into();
        part.error_code = None;
        part.message = Some("Forwarded".into());
        part.updated_at = now;
        diesel::update(refund_captures::table.find(&part.id))
            .set((
                refund_captures::status.eq(&part.status),
                refund_captures::error_code.eq(&part.error_code),
                refund_captures::message.eq(&part.message),
                refund_captures::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(parts)
}

fn parts_of(conn: &mut DbConnection, refund_id: &str) -> QueryResult<Vec<part_res::Row>> {
    refund_captures::table
        .filter(refund_captures::refund_id.eq(refund_id))
        .order((refund_captures::created_at.asc(), refund_captures::id.asc()))
        .load(conn)
}
