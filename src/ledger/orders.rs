//! The order bookkeeping every payment and refund shares: who may see an order, its lock,
//! transaction numbers, and the payment status its payments imply.

use diesel::prelude::*;
use serde_json::Value;

use crate::auth::Auth;
use crate::db::schema::{
    authorizations as auth_t, captures as cap_t, orders as ord_t, refund_captures as rc_t,
};
use crate::db::{DbConnection, MultiBackend};
use crate::error::{ApiError, Code};
use crate::journal::{self, Change};
use crate::resources::orders as order_res;

/// `422 VALIDATION_ERROR` at `pointer`.
pub fn validation(pointer: &str, detail: impl Into<String>) -> ApiError {
    ApiError::pointer(Code::ValidationError, pointer, detail)
}

/// The order `id` if the token may see it (tenant, mode, market and customer limits).
pub fn visible_order(
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

/// Takes the order's lock before anything is read under it, and on PostgreSQL the locks
/// of its captures; `bump` reserves the next transaction number.
pub fn lock_order(
    conn: &mut DbConnection,
    order_id: &str,
    bump: bool,
) -> QueryResult<order_res::Row> {
    // A write first: on SQLite it takes the database write lock before any read.
    let step = i32::from(bump);
    diesel::update(ord_t::table.find(order_id))
        .set(ord_t::transactions_count.eq(ord_t::transactions_count + step))
        .execute(conn)?;
    if let DbConnection::Postgresql(pg) = conn {
        cap_t::table
            .filter(cap_t::order_id.eq(order_id))
            .select(cap_t::id)
            .for_update()
            .load::<String>(pg)?;
    }
    ord_t::table.find(order_id).first(conn)
}

/// `<order number>/T/<3-digit sequence>`.
pub fn transaction_number(order: &order_res::Row) -> String {
    format!("{}/T/{:03}", order.number, order.transactions_count)
}

/// The payment status the order's payments imply.
///
/// `unpaid` without a succeeded authorization, then `authorized`, `partially_paid`,
/// `paid` once succeeded captures cover the total; once anything is refunded,
/// `partially_refunded` or `refunded` (the rule the ledger applies).
pub fn payment_status(total: i64, authorized: i64, captured: i64, refunded: i64) -> &'static str {
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
pub fn refresh_status(
    conn: &mut DbConnection,
    scope: &crate::auth::Scope,
    who: &Value,
    order: &order_res::Row,
    now: chrono::NaiveDateTime,
) -> QueryResult<()> {
    let authorized: Vec<i64> = auth_t::table
        .filter(auth_t::order_id.eq(&order.id))
        .filter(auth_t::succeeded.eq(true))
        .select(auth_t::amount_cents)
        .load(conn)?;
    let captured: Vec<(String, i64)> = cap_t::table
        .filter(cap_t::order_id.eq(&order.id))
        .filter(cap_t::succeeded.eq(true))
        .select((cap_t::id, cap_t::amount_cents))
        .load(conn)?;
    // Only money given back counts: a capture's refund amount includes reserved parts.
    // Found through the captures (refund_captures is indexed by capture, not by order).
    let ids: Vec<&String> = captured.iter().map(|(id, _)| id).collect();
    let refunded: Vec<i64> = rc_t::table
        .filter(rc_t::capture_id.eq_any(ids))
        .filter(rc_t::status.eq(super::status::SUCCEEDED))
        .select(rc_t::amount_cents)
        .load(conn)?;
    let status = payment_status(
        order.total_amount_cents,
        authorized.iter().sum(),
        captured.iter().map(|(_, a)| a).sum(),
        refunded.iter().sum(),
    );
    if status == order.payment_status {
        return Ok(());
    }
    let mut after = order.clone();
    after.payment_status = status.into();
    after.updated_at = now;
    diesel::update(ord_t::table.find(&order.id))
        .set((ord_t::payment_status.eq(status), ord_t::updated_at.eq(now)))
        .execute(conn)?;
    let (b, a) = (order_res::view(order.clone()), order_res::view(after));
    journal::record(
        conn,
        scope,
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
