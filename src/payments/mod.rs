//! Writes of the supporting payment resources: `orders`, `authorizations`, `captures`.
//!
//! Integration and webapp tokens create and update the service's copy of the payments a
//! refund draws on. Every write runs in one transaction that journals it (a `versions`
//! and an `events` row) and keeps `record_counts` current. Writes that touch an
//! order's payments first write the order row (`transactions_count`), which is the lock
//! the ledger takes too: on PostgreSQL a row lock, on SQLite the database write lock.
//!
//! The Commerce Layer refund triggers (`_refund` on a capture or an order) create their
//! refund through [`crate::ledger::create`], the code path of `POST /api/refunds`.

pub mod attachments;
pub mod authorizations;
pub mod captures;
pub mod orders;

use diesel::prelude::*;
use serde_json::Value;

use crate::auth::Auth;
use crate::db::schema::{authorizations as auth_t, captures as cap_t, orders as ord_t};
use crate::db::{DbConnection, MultiBackend};
use crate::error::{ApiError, ApiResult, Code, Source};
use crate::journal::{self, Change};
use crate::jsonapi::request::Attrs;
use crate::ledger::{self, NewRefund, Target};
use crate::resources::orders as order_res;

/// `422 VALIDATION_ERROR` at `pointer`.
pub(crate) fn validation(pointer: &str, detail: impl Into<String>) -> ApiError {
    ApiError::pointer(Code::ValidationError, pointer, detail)
}

/// The order `id` if the token may see it (tenant, mode, market and customer limits).
pub(crate) fn visible_order(
    conn: &mut DbConnection,
    auth: &Auth,
    id: &str,
) -> QueryResult<Option<order_res::Row>> {
    ord_t::table
        .into_boxed::<MultiBackend>()
        .filter(order_res::scope(&auth.scope))
        .filter(ord_t::id.eq(id.to_owned()))
        .first(conn)
        .optional()
}

/// Writes the order row first, so that everything read afterwards is read under its lock
/// (the same lock the ledger takes); `bump` reserves the next transaction number.
pub(crate) fn lock_order(
    conn: &mut DbConnection,
    order_id: &str,
    bump: bool,
) -> QueryResult<order_res::Row> {
    let step = i32::from(bump);
    diesel::update(ord_t::table.find(order_id))
        .set(ord_t::transactions_count.eq(ord_t::transactions_count + step))
        .execute(conn)?;
    ord_t::table.find(order_id).first(conn)
}

/// `<order number>/T/<3-digit sequence>`.
pub(crate) fn transaction_number(order: &order_res::Row) -> String {
    format!("{}/T/{:03}", order.number, order.transactions_count)
}

/// The payment status the order's payments imply.
///
/// `unpaid` without a succeeded authorization, then `authorized`, `partially_paid`,
/// `paid` once succeeded captures cover the total; once anything is refunded,
/// `partially_refunded` or `refunded` (the rule the ledger applies).
pub(crate) fn payment_status(
    total: i64,
    authorized: i64,
    captured: i64,
    refunded: i64,
) -> &'static str {
    if refunded > 0 {
        if refunded >= captured {
            "refunded"
        } else {
            "partially_refunded"
        }
    } else if captured > 0 {
        if captured >= total {
            "paid"
        } else {
            "partially_paid"
        }
    } else if authorized > 0 {
        "authorized"
    } else {
        "unpaid"
    }
}

/// Recomputes the order's `payment_status` from its payments; journals a change.
pub(crate) fn refresh_status(
    conn: &mut DbConnection,
    auth: &Auth,
    who: &Value,
    order: &order_res::Row,
) -> QueryResult<()> {
    let authorized: Vec<i64> = auth_t::table
        .filter(auth_t::order_id.eq(&order.id))
        .filter(auth_t::succeeded.eq(true))
        .select(auth_t::amount_cents)
        .load(conn)?;
    let captures: Vec<(i64, i64)> = cap_t::table
        .filter(cap_t::order_id.eq(&order.id))
        .filter(cap_t::succeeded.eq(true))
        .select((cap_t::amount_cents, cap_t::refund_amount_cents))
        .load(conn)?;
    let status = payment_status(
        order.total_amount_cents,
        authorized.iter().sum(),
        captures.iter().map(|(c, _)| c).sum(),
        captures.iter().map(|(_, r)| r).sum(),
    );
    if status == order.payment_status {
        return Ok(());
    }
    let now = crate::clock::now();
    let mut after = order.clone();
    after.payment_status = status.into();
    after.updated_at = now;
    diesel::update(ord_t::table.find(&order.id))
        .set((ord_t::payment_status.eq(status), ord_t::updated_at.eq(now)))
        .execute(conn)?;
    let (b, a) = (order_res::view(order.clone()), order_res::view(after));
    journal::record(
        conn,
        &auth.scope,
        who,
        Change {
            resource_type: "orders",
            resource_id: &order.id,
            order_id: &order.id,
            event: "update",
            before: Some(&b.attributes),
            after: &a.attributes,
            name: "orders.update",
        },
    )
}

/// `reference`, `reference_origin`, `metadata` of a PATCH (`None`: unchanged).
#[derive(Debug, Default, Clone)]
pub(crate) struct Common {
    pub reference: Option<Option<String>>,
    pub reference_origin: Option<Option<String>>,
    pub metadata: Option<String>,
}

impl Common {
    pub fn read(a: &Attrs) -> ApiResult<Self> {
        Ok(Self {
            reference: a.text("reference")?,
            reference_origin: a.text("reference_origin")?,
            metadata: a.object("metadata")?,
        })
    }
}

/// What a gateway answered about an authorization or a capture, as the client reports it.
#[derive(Debug, Default, Clone)]
pub(crate) struct GatewayFields {
    pub payment_method_type: Option<String>,
    pub message: Option<String>,
    pub error_code: Option<String>,
    pub error_detail: Option<String>,
    pub token: Option<String>,
    pub gateway_transaction_id: Option<String>,
}

impl GatewayFields {
    pub fn read(a: &Attrs) -> ApiResult<Self> {
        let t = |name| a.text(name).map(Option::flatten);
        Ok(Self {
            payment_method_type: t("payment_method_type")?,
            message: t("message")?,
            error_code: t("error_code")?,
            error_detail: t("error_detail")?,
            token: t("token")?,
            gateway_transaction_id: t("gateway_transaction_id")?,
        })
    }
}

/// A positive amount in minor units (`422` at the attribute otherwise).
pub(crate) fn positive(a: &Attrs, name: &str) -> ApiResult<Option<i64>> {
    match a.int(name)? {
        Some(n) if n <= 0 => Err(validation(
            &format!("/data/attributes/{name}"),
            format!("`{name}` must be a positive integer"),
        )),
        other => Ok(other),
    }
}

/// A required attribute that is absent.
pub(crate) fn missing(name: &str) -> ApiError {
    validation(
        &format!("/data/attributes/{name}"),
        format!("`{name}` is required"),
    )
}

/// A required to-one relationship that is absent.
pub(crate) fn missing_relationship(name: &str) -> ApiError {
    validation(
        &format!("/data/relationships/{name}"),
        format!("The `{name}` relationship is required"),
    )
}

/// Rejects every relationship except `allowed`.
pub(crate) fn only_relationships(
    input: &crate::jsonapi::request::Input,
    allowed: &[&str],
) -> ApiResult<()> {
    match input
        .relationships
        .keys()
        .find(|k| !allowed.contains(&k.as_str()))
    {
        None => Ok(()),
        Some(name) => Err(ApiError::pointer(
            Code::ParamNotAllowed,
            format!("/data/relationships/{name}"),
            format!("Relationship `{name}` cannot be set here"),
        )),
    }
}

/// A refund trigger (`_refund` on a capture or an order).
#[derive(Debug, Clone)]
pub(crate) struct Trigger {
    pub amount_cents: Option<i64>,
    pub key: Option<String>,
}

/// Runs a trigger through the ledger; inside the caller's write transaction the ledger's
/// own transaction is a savepoint, so the refund and the PATCH's attributes commit together.
///
/// Ledger errors point into a `POST /api/refunds` document; they are moved to the
/// trigger's attributes here.
pub(crate) fn refund(
    conn: &mut DbConnection,
    auth: &Auth,
    gateway: &dyn ledger::gateway::Gateway,
    target: Target,
    currency_code: &str,
    trigger: &Trigger,
) -> ApiResult<()> {
    let (kind, id) = match &target {
        Target::Capture(id) => ("captures", id.clone()),
        Target::Authorization(id) => ("authorizations", id.clone()),
        Target::Order(id) => ("orders", id.clone()),
    };
    let amount = trigger
        .amount_cents
        .map_or_else(|| "all".to_owned(), |n| n.to_string());
    let canonical = format!("PATCH /api/{kind}/{id} _refund {amount}");
    let request_hash = ledger::requests::request_hash(&canonical);
    let target_pointer = target.pointer();
    let new = NewRefund {
        target,
        amount_cents: trigger.amount_cents,
        currency_code: trigger.amount_cents.map(|_| currency_code.to_owned()),
        key: trigger.key.clone(),
        reference: None,
        reference_origin: None,
        metadata: None,
        request_hash,
    };
    match ledger::create(conn, auth, gateway, new) {
        Ok(_) => Ok(()),
        Err(mut e) => {
            if let Some(Source::Pointer(p)) = &e.location {
                let moved = if p == "/data/attributes/amount_cents" {
                    Some("/data/attributes/_refund_amount_cents")
                } else if p == target_pointer || p == "/data/attributes/currency_code" {
                    Some("/data/attributes/_refund")
                } else if p == "/data/attributes/key" {
                    // The key came from the `Idempotency-Key` header, not the document.
                    None
                } else {
                    Some(p.as_str())
                };
                e.location = moved.map(|p| Source::Pointer(p.to_owned()));
            }
            Err(e)
        }
    }
}

/// Whether `e` is the unique violation of index `name` (PostgreSQL names it; SQLite
/// lists its columns).
pub(crate) fn is_unique_violation(e: &diesel::result::Error, name: &str, columns: &str) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            info.constraint_name() == Some(name) || info.message().contains(columns)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::payment_status;

    #[test]
    fn status_follows_the_payments() {
        assert_eq!(payment_status(1000, 0, 0, 0), "unpaid");
        assert_eq!(payment_status(1000, 1000, 0, 0), "authorized");
        assert_eq!(payment_status(1000, 1000, 400, 0), "partially_paid");
        assert_eq!(payment_status(1000, 1000, 1000, 0), "paid");
        assert_eq!(payment_status(1000, 1000, 1000, 10), "partially_refunded");
        assert_eq!(payment_status(1000, 1000, 1000, 1000), "refunded");
    }
}
