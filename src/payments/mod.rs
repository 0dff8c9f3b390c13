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
pub mod webhooks;

use crate::db::DbConnection;
use crate::error::{ApiError, ApiResult, Code, Source};
use crate::jsonapi::request::Attrs;
use crate::ledger::{self, NewRefund, Target};

// The order bookkeeping every payment shares with refunds is the ledger's.
pub(crate) use crate::ledger::orders::{
    lock_order, payment_status, refresh_status, transaction_number, validation, visible_order,
};

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
    form: &ledger::Form,
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
    match ledger::create(conn, form.auth, form.gateways, form.reserved, new) {
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
