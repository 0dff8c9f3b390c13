//! Steps 2 and 3 of a refund: executing its parts at their gateways with no transaction
//! open, then settling what the gateways said in one short transaction per refund.

use std::collections::BTreeMap;
use std::time::Instant;

use diesel::prelude::*;
use serde_json::Value;

use super::{orders, status};
use crate::auth::Scope;
use crate::db::schema::{captures, refund_captures, refunds};
use crate::db::{DbConnection, MultiBackend, Pool};
use crate::error::ApiResult;
use crate::gateways::{Gateways, Outcome, Part};
use crate::journal::{self, Change};
use crate::resources::{
    captures as capture_res, refund_captures as part_res, refunds as refund_res,
};

/// What a gateway said of one part (with the refund and order it belongs to).
#[derive(Debug, Clone)]
pub struct Settlement {
    pub part_id: String,
    pub refund_id: String,
    pub order_id: String,
    pub outcome: Outcome,
}

/// A pending part and the PSP id of the payment it refunds (its capture's).
#[derive(Debug, Clone)]
pub struct Due {
    pub part: part_res::Row,
    pub payment_id: Option<String>,
}

impl Due {
    /// What `outcome` says of this part.
    pub fn settled(&self, outcome: Outcome) -> Settlement {
        Settlement {
            part_id: self.part.id.clone(),
            refund_id: self.part.refund_id.clone(),
            order_id: self.part.order_id.clone(),
            outcome,
        }
    }

    pub fn as_part(&self) -> Part<'_> {
        Part {
            refund_id: &self.part.refund_id,
            refund_capture_id: &self.part.id,
            amount_cents: self.part.amount_cents,
            currency_code: &self.part.currency_code,
            payment_id: self.payment_id.as_deref(),
            psp_refund_id: self.part.gateway_transaction_id.as_deref(),
        }
    }
}

/// The pending parts among `part_ids`, oldest first, with their payments' PSP ids.
pub fn due(conn: &mut DbConnection, part_ids: &[String]) -> QueryResult<Vec<Due>> {
    load_due(conn, Of::Parts(part_ids))
}

/// Which parts `load_due` reads: these, or those of these refunds.
enum Of<'a> {
    Parts(&'a [String]),
    Refunds(&'a [String]),
}

fn load_due(conn: &mut DbConnection, of: Of) -> QueryResult<Vec<Due>> {
    let q = refund_captures::table
        .inner_join(captures::table.on(captures::id.eq(refund_captures::capture_id)))
        .filter(refund_captures::status.eq(status::PENDING))
        .select((
            refund_captures::all_columns,
            captures::gateway_transaction_id,
        ))
        .order((refund_captures::created_at.asc(), refund_captures::id.asc()))
        .into_boxed::<MultiBackend>();
    let q = match of {
        Of::Parts(ids) => q.filter(refund_captures::id.eq_any(ids)),
        Of::Refunds(ids) => q.filter(refund_captures::refund_id.eq_any(ids)),
    };
    let rows: Vec<(part_res::Row, Option<String>)> = q.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(part, payment_id)| Due { part, payment_id })
        .collect())
}

/// Steps 2 and 3 for refunds a committed write has just reserved: each pending part is
/// called at its gateway with what is left until `deadline`, then the answers are settled.
/// Parts not called in time stay `pending`; the reconciler takes them later.
pub fn execute(
    pool: &Pool,
    gateways: &Gateways,
    refund_ids: &[String],
    who: &Value,
    deadline: Instant,
) -> ApiResult<()> {
    let due = {
        // Within the request's deadline: parts not read in time are the reconciler's.
        let wait = deadline.saturating_duration_since(Instant::now());
        let mut conn = pool.get_timeout(wait)?;
        load_due(&mut conn, Of::Refunds(refund_ids))?
    };
    #[cfg(feature = "failpoints")]
    fail::fail_point!("refund-after-reserve", |_| std::process::abort());
    let mut settled = Vec::with_capacity(due.len());
    for d in &due {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(gateway) = gateways.get(&d.part.gateway) else {
            continue;
        };
        if left.is_zero() {
            break;
        }
        settled.push(d.settled(gateway.refund(&d.as_part(), left)));
    }
    #[cfg(feature = "failpoints")]
    fail::fail_point!("refund-before-settle", |_| std::process::abort());
    let mut conn = pool.get()?;
    settle(&mut conn, &settled, who)?;
    Ok(())
}

/// Step 3: records `settled` (parts no longer pending are left as they are), one short
/// transaction per refund, with the refund's derived status, versions, events and the
/// order's payment status. Returns how many parts left `pending`.
pub fn settle(conn: &mut DbConnection, settled: &[Settlement], who: &Value) -> ApiResult<usize> {
    let mut by_refund: BTreeMap<(&str, &str), Vec<&Settlement>> = BTreeMap::new();
    for s in settled {
        by_refund
            .entry((s.order_id.as_str(), s.refund_id.as_str()))
            .or_default()
            .push(s);
    }
    let mut done = 0;
    for ((order_id, refund_id), outcomes) in by_refund {
        done += crate::db::write_transaction(conn, |conn| {
            settle_refund(conn, order_id, refund_id, &outcomes, who)
        })?;
    }
    Ok(done)
}

fn settle_refund(
    conn: &mut DbConnection,
    order_id: &str,
    refund_id: &str,
    outcomes: &[&Settlement],
    who: &Value,
) -> ApiResult<usize> {
    let order = orders::lock_order(conn, order_id, false)?;
    let refund: refund_res::Row = refunds::table
        .find(refund_id)
        .select(refund_res::Row::as_select())
        .first(conn)?;
    let scope = Scope::system(&refund.organization_id, &refund.mode);
    let mut parts: Vec<part_res::Row> = refund_captures::table
        .filter(refund_captures::refund_id.eq(refund_id))
        .order((refund_captures::created_at.asc(), refund_captures::id.asc()))
        .load(conn)?;
    let now = crate::clock::now();
    let (mut done, mut moved) = (0, false);
    for s in outcomes {
        let Some(part) = parts.iter_mut().find(|p| p.id == s.part_id) else {
            continue;
        };
        // Settled already (by the request, the reconciler or a notification): the first
        // answer recorded stands.
        if part.status != status::PENDING {
            continue;
        }
        // A failure of another PSP refund than the one this part is known by (a second
        // attempt at a PSP that ignored the idempotency key) says nothing about this part.
        if let Outcome::Failed {
            psp_refund_id: Some(failed),
            ..
        } = &s.outcome
        {
            if part
                .gateway_transaction_id
                .as_ref()
                .is_some_and(|known| known != failed)
            {
                continue;
            }
        }
        let mut released = false;
        match &s.outcome {
            Outcome::Succeeded { psp_refund_id } => {
                part.status = status::SUCCEEDED.into();
                part.gateway_transaction_id = Some(psp_refund_id.clone());
                part.error_code = None;
                part.message = Some("Refunded".into());
                moved = true;
            }
            Outcome::Failed {
                psp_refund_id,
                code,
                message,
            } => {
                part.status = status::FAILED.into();
                if psp_refund_id.is_some() {
                    part.gateway_transaction_id = psp_refund_id.clone();
                }
                part.error_code = Some(code.clone());
                part.message = Some(message.clone());
                released = true;
            }
            Outcome::Pending {
                psp_refund_id,
                reason,
            } => {
                if psp_refund_id.is_some() {
                    part.gateway_transaction_id = psp_refund_id.clone();
                }
                part.message = Some(reason.clone());
            }
        }
        part.updated_at = now;
        diesel::update(refund_captures::table.find(&part.id))
            .set((
                refund_captures::status.eq(&part.status),
                refund_captures::gateway_transaction_id.eq(&part.gateway_transaction_id),
                refund_captures::error_code.eq(&part.error_code),
                refund_captures::message.eq(&part.message),
                refund_captures::updated_at.eq(now),
            ))
            .execute(conn)?;
        if part.status != status::PENDING {
            done += 1;
        }
        if released {
            // Nothing moved: the reserved amount is the capture's to refund again.
            let capture: capture_res::Row = captures::table.find(&part.capture_id).first(conn)?;
            let mut after = capture.clone();
            after.refund_amount_cents -= part.amount_cents;
            after.refund_balance_cents += part.amount_cents;
            after.updated_at = now;
            write_capture(conn, &scope, who, &capture, &after)?;
        }
    }
    let after = derived(&refund, &parts, now);
    let (b, a) = (
        refund_res::view(refund.clone()),
        refund_res::view(after.clone()),
    );
    if journal::changes(Some(&b.attributes), &a.attributes).is_empty() {
        return Ok(done);
    }
    write_refund(conn, &after)?;
    let s = &after.shown;
    let name = match s.status.as_str() {
        status::SUCCEEDED | status::PARTIALLY_SUCCEEDED => "refunds.succeed",
        status::FAILED => "refunds.fail",
        _ => "refunds.update",
    };
    journal::record(
        conn,
        &scope,
        who,
        Change {
            resource_type: "refunds",
            resource_id: refund_id,
            order_id,
            event: "update",
            before: Some(&b.attributes),
            after: &a.attributes,
            name,
        },
    )?;
    if s.status != status::PENDING {
        crate::telemetry::metrics::refund_settled(&s.status);
    }
    if moved {
        orders::refresh_status(conn, &scope, who, &order, now)?;
    }
    Ok(done)
}

/// The refund as its parts make it: status, amount refunded and the gateway's words.
pub(crate) fn derived(
    refund: &refund_res::Row,
    parts: &[part_res::Row],
    now: chrono::NaiveDateTime,
) -> refund_res::Row {
    let mut after = refund.clone();
    let s = &mut after.shown;
    s.status = status::of_refund(parts.iter().map(|p| p.status.as_str())).into();
    s.refunded_amount_cents = parts
        .iter()
        .filter(|p| p.status == status::SUCCEEDED)
        .map(|p| p.amount_cents)
        .sum();
    s.succeeded = s.status == status::SUCCEEDED;
    let first_failed = parts.iter().find(|p| p.status == status::FAILED);
    s.message = Some(
        match s.status.as_str() {
            status::SUCCEEDED => "Refunded",
            status::FAILED => "Declined",
            status::PARTIALLY_SUCCEEDED => "Partially refunded",
            _ => "Pending",
        }
        .into(),
    );
    s.error_code = first_failed.and_then(|p| p.error_code.clone());
    s.error_detail = first_failed.and_then(|p| p.message.clone());
    s.gateway_transaction_id = parts
        .iter()
        .find(|p| p.status == status::SUCCEEDED)
        .and_then(|p| p.gateway_transaction_id.clone());
    s.updated_at = now;
    after
}

/// Writes what a refund's update may change: its details and what its parts made of it.
pub(crate) fn write_refund(conn: &mut DbConnection, after: &refund_res::Row) -> QueryResult<()> {
    let s = &after.shown;
    diesel::update(refunds::table.find(&s.id))
        .set((
            refunds::reference.eq(&s.reference),
            refunds::reference_origin.eq(&s.reference_origin),
            refunds::metadata.eq(&s.metadata),
            refunds::status.eq(&s.status),
            refunds::refunded_amount_cents.eq(s.refunded_amount_cents),
            refunds::succeeded.eq(s.succeeded),
            refunds::message.eq(&s.message),
            refunds::error_code.eq(&s.error_code),
            refunds::error_detail.eq(&s.error_detail),
            refunds::gateway_transaction_id.eq(&s.gateway_transaction_id),
            refunds::updated_at.eq(s.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Writes a capture's new balances and journals the change (`captures.refund`).
pub(crate) fn write_capture(
    conn: &mut DbConnection,
    scope: &Scope,
    who: &Value,
    before: &capture_res::Row,
    after: &capture_res::Row,
) -> QueryResult<()> {
    diesel::update(captures::table.find(&after.id))
        .set((
            captures::refund_amount_cents.eq(after.refund_amount_cents),
            captures::refund_balance_cents.eq(after.refund_balance_cents),
            captures::updated_at.eq(after.updated_at),
        ))
        .execute(conn)?;
    let (b, a) = (
        capture_res::view(before.clone()),
        capture_res::view(after.clone()),
    );
    journal::record(
        conn,
        scope,
        who,
        Change {
            resource_type: "captures",
            resource_id: &after.id,
            order_id: &after.order_id,
            event: "update",
            before: Some(&b.attributes),
            after: &a.attributes,
            name: "captures.refund",
        },
    )
}

/// Settles the part a PSP's notification is about: found by our id (the PSP refund's
/// metadata) or by the PSP's refund id. `true` when it changed a pending part; `false` for
/// unknown parts and parts settled already (the first answer recorded stands).
pub fn notified(
    conn: &mut DbConnection,
    gateway: &str,
    part_id: Option<&str>,
    psp_refund_id: &str,
    outcome: Outcome,
) -> ApiResult<bool> {
    let owner = (
        refund_captures::id,
        refund_captures::refund_id,
        refund_captures::order_id,
    );
    let mut found: Option<(String, String, String)> = None;
    if let Some(id) = part_id {
        found = refund_captures::table
            .filter(refund_captures::id.eq(id))
            .filter(refund_captures::gateway.eq(gateway))
            .select(owner)
            .first(conn)
            .optional()?;
    }
    if found.is_none() {
        found = refund_captures::table
            .filter(refund_captures::gateway_transaction_id.eq(psp_refund_id))
            .filter(refund_captures::gateway.eq(gateway))
            .select(owner)
            .first(conn)
            .optional()?;
    }
    let Some((part_id, refund_id, order_id)) = found else {
        return Ok(false);
    };
    let who = journal::system(&format!("{gateway}_notification"));
    let pending = matches!(outcome, Outcome::Pending { .. });
    let settled = settle(
        conn,
        &[Settlement {
            part_id: part_id.clone(),
            refund_id,
            order_id,
            outcome,
        }],
        &who,
    )?;
    if settled == 0 && !pending {
        tracing::warn!(part = %part_id, "PSP notification about a part settled already: ignored");
    }
    Ok(settled > 0)
}
