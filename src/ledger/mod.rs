//! Moving money: refunds drawn on captures, idempotently, journaled, in three steps.
//!
//! 1. Reserve (`create`): one write transaction (`BEGIN IMMEDIATE` on SQLite: the database
//!    write lock before anything is read) that locks the order row and, on PostgreSQL, its
//!    captures `FOR UPDATE`. Balances are read only after the lock, and the refund's parts
//!    are written `pending` with their amounts taken off the balances at once, so two
//!    refunds of one capture, in one process or in several, can never take more than was
//!    captured, nor ask a PSP for it.
//! 2. Execute (`settle::execute`): one gateway call per part, outside any transaction.
//! 3. Settle (`settle::settle`): a second short transaction records what each gateway said.
//!
//! Parts left `pending` (a PSP that did not answer, a process that died between the steps)
//! are settled by the reconciler (`reconcile`).

mod forward;
pub mod orders;
pub mod reconcile;
pub mod requests;
pub mod settle;
pub mod status;

pub use forward::{update, RefundPatch};
pub use requests::{Form, Saved};

use diesel::prelude::*;
use serde_json::{json, Map, Value};

use crate::auth::{Auth, Scope};
use crate::db::schema::{captures, orders as orders_t, refund_captures, refunds};
use crate::db::{counts, DbConnection};
use crate::error::{ApiError, ApiResult, Code};
use crate::gateways::Gateways;
use crate::ids::new_id;
use crate::journal::{self, Change};
use crate::resources::{
    captures as capture_res, refund_captures as part_res, refunds as refund_res,
};
use orders::validation;

/// What a refund is asked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Only this capture.
    Capture(String),
    /// The captures of this authorization, oldest first.
    Authorization(String),
    /// The captures of every authorization of this order, oldest first.
    Order(String),
}

impl Target {
    fn kind(&self) -> &'static str {
        match self {
            Target::Capture(_) => "capture",
            Target::Authorization(_) => "authorization",
            Target::Order(_) => "order",
        }
    }

    /// Where the target sits in a `POST /api/refunds` document.
    pub fn pointer(&self) -> &'static str {
        match self {
            Target::Capture(_) => "/data/relationships/reference_capture/data/id",
            Target::Authorization(_) => "/data/relationships/authorization/data/id",
            Target::Order(_) => "/data/relationships/order/data/id",
        }
    }
}

/// A refund to create.
#[derive(Debug, Clone)]
pub struct NewRefund {
    pub target: Target,
    /// `None`: everything still refundable on the target.
    pub amount_cents: Option<i64>,
    pub currency_code: Option<String>,
    /// The client's idempotency key; generated when absent.
    pub key: Option<String>,
    pub reference: Option<String>,
    pub reference_origin: Option<String>,
    pub metadata: Option<String>,
    /// Digest of the request, to tell a replay from a reused key.
    pub request_hash: String,
}

/// The refunds a write reserved, for `settle::execute` once its transaction has committed
/// (a PATCH's `_refund` reserves inside the PATCH's own transaction).
#[derive(Debug, Default)]
pub struct Reserved(std::cell::RefCell<Vec<String>>);

impl Reserved {
    pub fn into_ids(self) -> Vec<String> {
        self.0.into_inner()
    }
}

/// What a create did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new refund (`201`).
    Created(String),
    /// The refund stored under the same key for the same request (`200`).
    Replayed(String),
}

/// Errors inside a refund transaction; a replay found under the lock rolls it back too.
pub(crate) enum TxError {
    Api(ApiError),
    Db(diesel::result::Error),
    Replay(Box<refund_res::Row>),
}

impl From<diesel::result::Error> for TxError {
    fn from(e: diesel::result::Error) -> Self {
        TxError::Db(e)
    }
}

impl From<ApiError> for TxError {
    fn from(e: ApiError) -> Self {
        TxError::Api(e)
    }
}

fn by_key(conn: &mut DbConnection, auth: &Auth, key: &str) -> QueryResult<Option<refund_res::Row>> {
    refunds::table
        .filter(refunds::organization_id.eq(&auth.scope.organization_id))
        .filter(refunds::mode.eq(auth.scope.mode))
        .filter(refunds::key.eq(key))
        .select(refund_res::Row::as_select())
        .first(conn)
        .optional()
}

fn replay(row: refund_res::Row, request_hash: &str) -> ApiResult<Outcome> {
    if row.request_hash == request_hash {
        Ok(Outcome::Replayed(row.shown.id))
    } else {
        Err(ApiError::pointer(
            Code::IdempotencyKeyReused,
            "/data/attributes/key",
            "This key was used for a different refund request",
        ))
    }
}

fn is_key_conflict(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            info.constraint_name() == Some("refunds_key") || info.message().contains("refunds.key")
        }
        _ => false,
    }
}

/// Reserves a refund (step 1 of 3), or returns the one stored under the same key for the
/// same request. A created refund is `pending` until `settle::execute` has called its
/// gateways, which the caller does once its own transaction has committed.
pub fn create(
    conn: &mut DbConnection,
    auth: &Auth,
    gateways: &Gateways,
    reserved: &Reserved,
    req: NewRefund,
) -> ApiResult<Outcome> {
    let key = req
        .key
        .clone()
        .unwrap_or_else(|| format!("ref-{}", new_id()));
    if let Some(found) = by_key(conn, auth, &key)? {
        return replay(found, &req.request_hash);
    }
    let result =
        crate::db::write_transaction(conn, |conn| create_locked(conn, auth, gateways, &req, &key));
    match result {
        Ok(id) => {
            reserved.0.borrow_mut().push(id.clone());
            Ok(Outcome::Created(id))
        }
        Err(TxError::Api(e)) => Err(e),
        Err(TxError::Replay(row)) => replay(*row, &req.request_hash),
        Err(TxError::Db(e)) if is_key_conflict(&e) => match by_key(conn, auth, &key)? {
            Some(row) => replay(row, &req.request_hash),
            None => Err(e.into()),
        },
        Err(TxError::Db(e)) => Err(e.into()),
    }
}

/// The order a target belongs to, checked to be the token's.
fn order_of(conn: &mut DbConnection, auth: &Auth, target: &Target) -> Result<String, TxError> {
    let s = &auth.scope;
    let found = match target {
        Target::Capture(id) => captures::table
            .filter(captures::id.eq(id))
            .filter(captures::organization_id.eq(&s.organization_id))
            .filter(captures::mode.eq(s.mode))
            .select(captures::order_id)
            .first::<String>(conn)
            .optional()?,
        Target::Authorization(id) => crate::db::schema::authorizations::table
            .filter(crate::db::schema::authorizations::id.eq(id))
            .filter(crate::db::schema::authorizations::organization_id.eq(&s.organization_id))
            .filter(crate::db::schema::authorizations::mode.eq(s.mode))
            .select(crate::db::schema::authorizations::order_id)
            .first::<String>(conn)
            .optional()?,
        Target::Order(id) => orders_t::table
            .filter(orders_t::id.eq(id))
            .filter(orders_t::organization_id.eq(&s.organization_id))
            .filter(orders_t::mode.eq(s.mode))
            .select(orders_t::id)
            .first::<String>(conn)
            .optional()?,
    };
    found.ok_or_else(|| {
        TxError::Api(validation(
            target.pointer(),
            format!("No such {} of this organization", target.kind()),
        ))
    })
}

/// The succeeded captures a target draws on, oldest first.
pub(crate) fn captures_of(
    conn: &mut DbConnection,
    target: &Target,
    order_id: &str,
) -> QueryResult<Vec<capture_res::Row>> {
    let mut q = captures::table
        .filter(captures::order_id.eq(order_id))
        .into_boxed::<crate::db::MultiBackend>();
    q = match target {
        Target::Capture(id) => q.filter(captures::id.eq(id.clone())),
        Target::Authorization(id) => q.filter(captures::authorization_id.eq(id.clone())),
        Target::Order(_) => q,
    };
    // Oldest first; `id` breaks ties so the split is deterministic.
    q.order((captures::created_at.asc(), captures::id.asc()))
        .load(conn)
}

/// How much to take from each capture: oldest first, each up to its balance.
pub fn plan(balances: &[(String, i64)], amount: i64) -> Vec<(String, i64)> {
    let mut left = amount;
    let mut out = Vec::new();
    for (id, balance) in balances {
        if left == 0 {
            break;
        }
        let take = left.min(*balance);
        if take > 0 {
            out.push((id.clone(), take));
            left -= take;
        }
    }
    out
}

/// The refundable balance of `captures`, checked against `amount`; returns the split.
pub(crate) fn split(captures: &[capture_res::Row], amount: i64) -> ApiResult<Vec<(String, i64)>> {
    let balances: Vec<(String, i64)> = captures
        .iter()
        .filter(|c| c.succeeded)
        .map(|c| (c.id.clone(), c.refund_balance_cents))
        .collect();
    let balance: i64 = balances.iter().map(|(_, b)| b).sum();
    if amount > balance {
        let mut e = ApiError::pointer(
            Code::InsufficientFunds,
            "/data/attributes/amount_cents",
            format!("The refund of {amount} exceeds the refundable balance of {balance}"),
        );
        e.meta = Some(Map::from_iter([(
            "balance_cents".to_owned(),
            json!(balance),
        )]));
        return Err(e);
    }
    Ok(plan(&balances, amount))
}

fn create_locked(
    conn: &mut DbConnection,
    auth: &Auth,
    gateways: &Gateways,
    req: &NewRefund,
    key: &str,
) -> Result<String, TxError> {
    let order_id = order_of(conn, auth, &req.target)?;
    let order = orders::lock_order(conn, &order_id, true)?;
    // A concurrent request with this key may have committed while we waited.
    if let Some(row) = by_key(conn, auth, key)? {
        return Err(TxError::Replay(Box::new(row)));
    }
    let captures = captures_of(conn, &req.target, &order_id)?;
    if let Target::Capture(_) = req.target {
        if captures.iter().any(|c| !c.succeeded) {
            return Err(validation(
                req.target.pointer(),
                "The capture did not succeed: nothing to refund",
            )
            .into());
        }
    }
    let currency = captures
        .first()
        .map_or(order.currency_code.clone(), |c| c.currency_code.clone());
    let balance: i64 = captures
        .iter()
        .filter(|c| c.succeeded)
        .map(|c| c.refund_balance_cents)
        .sum();
    let amount = amount_asked(req, &currency, balance)?;
    let splits = split(&captures, amount)?;
    let first = splits
        .first()
        .and_then(|(id, _)| captures.iter().find(|c| &c.id == id))
        .ok_or_else(|| ApiError::internal("refund", "empty split"))?;
    // Every part's gateway must be one this process can call, or nothing is reserved.
    for (id, _) in &splits {
        if let Some(c) = captures.iter().find(|c| &c.id == id) {
            if gateways.get(&c.gateway).is_none() {
                return Err(validation(
                    req.target.pointer(),
                    format!(
                        "Capture {} is refunded through the `{}` gateway, which is not configured",
                        c.id, c.gateway
                    ),
                )
                .into());
            }
        }
    }
    let now = crate::clock::now();
    let row = refund_res::Row {
        organization_id: auth.scope.organization_id.clone(),
        mode: auth.scope.mode.into(),
        shown: refund_res::ShownRow {
            id: new_id(),
            order_id: order_id.clone(),
            reference_capture_id: Some(first.id.clone()),
            authorization_id: Some(first.authorization_id.clone()),
            number: orders::transaction_number(&order),
            key: key.to_owned(),
            currency_code: currency.clone(),
            amount_cents: amount,
            status: status::PENDING.into(),
            refunded_amount_cents: 0,
            succeeded: false,
            payment_method_type: first.payment_method_type.clone(),
            message: Some("Pending".into()),
            error_code: None,
            error_detail: None,
            token: None,
            gateway_transaction_id: None,
            reference: req.reference.clone(),
            reference_origin: req.reference_origin.clone(),
            metadata: req.metadata.clone().unwrap_or_else(|| "{}".into()),
            created_at: now,
            updated_at: now,
        },
        target_type: req.target.kind().into(),
        request_hash: req.request_hash.clone(),
    };
    diesel::insert_into(refunds::table)
        .values(&row)
        .execute(conn)?;
    counts::add(
        conn,
        &auth.scope.organization_id,
        auth.scope.mode,
        "refunds",
        1,
    )?;
    let who = journal::who(auth);
    let view = refund_res::view(row.clone());
    journal::record(
        conn,
        &auth.scope,
        &who,
        Change {
            resource_type: "refunds",
            resource_id: &row.shown.id,
            order_id: &order_id,
            event: "create",
            before: None,
            after: &view.attributes,
            name: "refunds.create",
        },
    )?;
    reserve(conn, &auth.scope, &who, &row, &captures, &splits)?;
    Ok(row.shown.id)
}

/// The amount a request asks for, checked against the target's currency and balance.
fn amount_asked(req: &NewRefund, currency: &str, balance: i64) -> Result<i64, TxError> {
    let wrong_currency = || {
        validation(
            "/data/attributes/currency_code",
            format!("`currency_code` must be {currency}, the currency of the capture"),
        )
    };
    match req.amount_cents {
        Some(a) if a <= 0 => Err(validation(
            "/data/attributes/amount_cents",
            "`amount_cents` must be positive",
        )
        .into()),
        Some(a) => match &req.currency_code {
            None => Err(validation(
                "/data/attributes/currency_code",
                "`currency_code` is required with `amount_cents`",
            )
            .into()),
            Some(c) if c != currency => Err(wrong_currency().into()),
            Some(_) => Ok(a),
        },
        None => {
            if req.currency_code.as_deref().is_some_and(|c| c != currency) {
                return Err(wrong_currency().into());
            }
            if balance == 0 {
                return Err(ApiError::pointer(
                    Code::InsufficientFunds,
                    req.target.pointer(),
                    "Nothing is left to refund",
                )
                .into());
            }
            Ok(balance)
        }
    }
}

/// Writes a refund's parts as `pending` and takes their amounts off the captures'
/// balances at once, so no concurrent refund can be executed against the same money.
fn reserve(
    conn: &mut DbConnection,
    scope: &Scope,
    who: &Value,
    refund: &refund_res::Row,
    captures: &[capture_res::Row],
    splits: &[(String, i64)],
) -> Result<(), TxError> {
    let now = crate::clock::now();
    for (capture_id, amount) in splits {
        let before = captures
            .iter()
            .find(|c| &c.id == capture_id)
            .ok_or_else(|| ApiError::internal("refund", "split of an unknown capture"))?;
        diesel::insert_into(refund_captures::table)
            .values(&part_res::Row {
                id: new_id(),
                organization_id: refund.organization_id.clone(),
                mode: refund.mode.clone(),
                order_id: refund.shown.order_id.clone(),
                refund_id: refund.shown.id.clone(),
                capture_id: capture_id.clone(),
                currency_code: refund.shown.currency_code.clone(),
                amount_cents: *amount,
                created_at: now,
                updated_at: now,
                status: status::PENDING.into(),
                gateway: before.gateway.clone(),
                gateway_transaction_id: None,
                error_code: None,
                message: None,
                checked_at: None,
            })
            .execute(conn)?;
        // The capture's refund amount counts reserved parts (its CHECK keeps amount =
        // refunded + balance); a failed part gives its amount back when settled.
        let mut after = before.clone();
        after.refund_amount_cents += amount;
        after.refund_balance_cents -= amount;
        after.updated_at = now;
        settle::write_capture(conn, scope, who, before, &after)?;
    }
    counts::add(
        conn,
        &refund.organization_id,
        &refund.mode,
        "refund_captures",
        splits.len() as i64,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::plan;

    #[test]
    fn plans_oldest_first_up_to_each_balance() {
        let caps = vec![
            ("a".to_owned(), 300),
            ("b".to_owned(), 0),
            ("c".to_owned(), 500),
        ];
        assert_eq!(plan(&caps, 200), vec![("a".to_owned(), 200)]);
        assert_eq!(
            plan(&caps, 700),
            vec![("a".to_owned(), 300), ("c".to_owned(), 400)]
        );
        assert_eq!(plan(&caps, 800).iter().map(|(_, x)| x).sum::<i64>(), 800);
    }
}
