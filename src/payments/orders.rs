//! `POST /api/orders` and `PATCH /api/orders/{id}` (with the `_refund` trigger).

use diesel::prelude::*;

use super::{missing, validation, Common, Trigger};
use crate::auth::Auth;
use crate::db::schema::orders;
use crate::db::{counts, DbConnection};
use crate::error::{ApiError, ApiResult};
use crate::forms;
use crate::ids::new_id;
use crate::journal::{self, Change};
use crate::jsonapi::request::Attrs;
use crate::ledger::Target;
use crate::ledger::{Form, Saved};
use crate::resources::orders::{view, Row};

const NUMBER: &str = "/data/attributes/number";

fn number_taken(number: &str) -> ApiError {
    validation(NUMBER, format!("Order number `{number}` is already taken"))
}

fn is_number_conflict(e: &diesel::result::Error) -> bool {
    super::is_unique_violation(e, "orders_number_key", "orders.number")
}

/// A non-empty order number without `/` (it prefixes transaction numbers).
fn number(a: &Attrs) -> ApiResult<Option<String>> {
    match a.required_text("number")? {
        Some(n) if n.contains('/') || n.trim() != n => Err(validation(
            NUMBER,
            "`number` may not contain `/` nor start or end with spaces",
        )),
        other => Ok(other),
    }
}

/// `customer_email`: null or a plausible address.
fn email(a: &Attrs) -> ApiResult<Option<Option<String>>> {
    let value = a.text("customer_email")?;
    if let Some(Some(e)) = &value {
        let ok = match e.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
                    && !e.chars().any(char::is_whitespace)
            }
            None => false,
        };
        if !ok {
            return Err(validation(
                "/data/attributes/customer_email",
                "`customer_email` must be an email address",
            ));
        }
    }
    Ok(value)
}

/// A non-negative amount in minor units.
fn amount(a: &Attrs, name: &str) -> ApiResult<Option<i64>> {
    match a.int(name)? {
        Some(n) if n < 0 => Err(validation(
            &format!("/data/attributes/{name}"),
            format!("`{name}` may not be negative"),
        )),
        other => Ok(other),
    }
}

/// A market-scoped token may only place orders in its markets (it could not see them else).
fn check_market(auth: &Auth, market_id: Option<&String>) -> ApiResult<()> {
    match (&auth.scope.market_ids, market_id) {
        (Some(markets), Some(m)) if markets.contains(m) => Ok(()),
        (Some(_), _) => Err(validation(
            "/data/attributes/market_id",
            "`market_id` must be one of the markets of this token",
        )),
        (None, _) => Ok(()),
    }
}

fn check_shipping(total: i64, shipping: i64) -> ApiResult<()> {
    if shipping > total {
        return Err(validation(
            "/data/attributes/shipping_amount_cents",
            "`shipping_amount_cents` may not exceed `total_amount_cents`",
        ));
    }
    Ok(())
}

/// `POST /api/orders`.
pub fn create(conn: &mut DbConnection, form: &Form) -> ApiResult<Saved> {
    let (auth, input) = (form.auth, form.input);
    input.no_relationships()?;
    let a = &input.attributes;
    a.only(forms::ORDER_CREATE.names())?;
    let number = number(a)?.ok_or_else(|| missing("number"))?;
    let currency_code =
        crate::money::currency_code(a, "currency_code")?.ok_or_else(|| missing("currency_code"))?;
    let customer_email = email(a)?.flatten();
    let customer_id = a.text("customer_id")?.flatten();
    let market_id = a.text("market_id")?.flatten();
    check_market(auth, market_id.as_ref())?;
    let total = amount(a, "total_amount_cents")?.ok_or_else(|| missing("total_amount_cents"))?;
    let shipping = amount(a, "shipping_amount_cents")?.unwrap_or(0);
    check_shipping(total, shipping)?;
    let common = Common::read(a)?;
    let now = crate::clock::now();
    let row = Row {
        id: new_id(),
        organization_id: auth.scope.organization_id.clone(),
        mode: auth.scope.mode.into(),
        number,
        currency_code,
        customer_email,
        customer_id,
        market_id,
        total_amount_cents: total,
        shipping_amount_cents: shipping,
        payment_status: super::payment_status(total, 0, 0, 0).into(),
        transactions_count: 0,
        reference: common.reference.flatten(),
        reference_origin: common.reference_origin.flatten(),
        metadata: common.metadata.unwrap_or_else(|| "{}".into()),
        created_at: now,
        updated_at: now,
    };
    let who = auth.clone();
    let id = { crate::db::write_transaction(conn, |conn| insert(conn, &who, row)) }?;
    Ok(Saved::Created(id))
}

/// Inserts first (the unique index decides whether the number is free, even under
/// concurrent creates), then counts and journals.
fn insert(conn: &mut DbConnection, auth: &Auth, row: Row) -> ApiResult<String> {
    diesel::insert_into(orders::table)
        .values(&row)
        .execute(conn)
        .map_err(|e| {
            if is_number_conflict(&e) {
                number_taken(&row.number)
            } else {
                e.into()
            }
        })?;
    counts::add(conn, &row.organization_id, &row.mode, "orders", 1)?;
    let v = view(row.clone());
    journal::record(
        conn,
        &auth.scope,
        &journal::who(auth),
        Change {
            resource_type: "orders",
            resource_id: &row.id,
            order_id: &row.id,
            event: "create",
            before: None,
            after: &v.attributes,
            name: "orders.create",
        },
    )?;
    Ok(row.id)
}

/// The changes a PATCH asks for (`None`: unchanged).
#[derive(Debug, Default, Clone)]
struct Patch {
    number: Option<String>,
    currency_code: Option<String>,
    total_amount_cents: Option<i64>,
    shipping_amount_cents: Option<i64>,
    customer_email: Option<Option<String>>,
    customer_id: Option<Option<String>>,
    market_id: Option<Option<String>>,
    common: Common,
    refund: Option<Trigger>,
}

/// `PATCH /api/orders/{id}`.
pub fn update(conn: &mut DbConnection, id: &str, form: &Form) -> ApiResult<Saved> {
    let (auth, input) = (form.auth, form.input);
    input.no_relationships()?;
    let a = &input.attributes;
    a.only(forms::ORDER_UPDATE.names())?;
    let market_id = a.text("market_id")?;
    if let Some(m) = &market_id {
        check_market(auth, m.as_ref())?;
    }
    let refund = match a.bool("_refund")? {
        Some(true) => Some(Trigger {
            amount_cents: None,
            key: form.idempotency_key()?,
        }),
        _ => None,
    };
    let patch = Patch {
        number: number(a)?,
        currency_code: if a.has("currency_code") {
            // `null` is not a currency either.
            Some(
                crate::money::currency_code(a, "currency_code")?
                    .ok_or_else(|| missing("currency_code"))?,
            )
        } else {
            None
        },
        total_amount_cents: amount(a, "total_amount_cents")?,
        shipping_amount_cents: amount(a, "shipping_amount_cents")?,
        customer_email: email(a)?,
        customer_id: a.text("customer_id")?,
        market_id,
        common: Common::read(a)?,
        refund,
    };
    let who = auth.clone();
    let target = id.to_owned();
    {
        // Visibility first, outside the transaction: an order never changes tenant.
        let row = super::visible_order(conn, &who, &target)?
            .ok_or_else(|| ApiError::not_found("orders"))?;
        // One transaction: the refund (a savepoint of the ledger's) and the attributes.
        crate::db::write_transaction(conn, |conn| {
            if let Some(trigger) = &patch.refund {
                plan(&row, &patch)?;
                let target = Target::Order(target.clone());
                super::refund(conn, form, target, &row.currency_code, trigger)?;
            }
            apply(conn, &who, &target, &patch)
        })
    }?;
    Ok(Saved::Existing(id.to_owned()))
}

/// The order after `patch`, or why the patch is refused.
fn plan(row: &Row, patch: &Patch) -> ApiResult<Row> {
    let mut after = row.clone();
    // Amounts, currency and number are fixed once the order has payments.
    let frozen = row.transactions_count > 0;
    let fixed = |name: &str| {
        validation(
            &format!("/data/attributes/{name}"),
            format!("`{name}` cannot change once the order has payments"),
        )
    };
    if let Some(n) = &patch.number {
        if frozen && *n != row.number {
            return Err(fixed("number"));
        }
        after.number = n.clone();
    }
    if let Some(c) = &patch.currency_code {
        if frozen && *c != row.currency_code {
            return Err(fixed("currency_code"));
        }
        after.currency_code = c.clone();
    }
    if let Some(t) = patch.total_amount_cents {
        if frozen && t != row.total_amount_cents {
            return Err(fixed("total_amount_cents"));
        }
        after.total_amount_cents = t;
    }
    if let Some(s) = patch.shipping_amount_cents {
        if frozen && s != row.shipping_amount_cents {
            return Err(fixed("shipping_amount_cents"));
        }
        after.shipping_amount_cents = s;
    }
    check_shipping(after.total_amount_cents, after.shipping_amount_cents)?;
    if let Some(v) = &patch.customer_email {
        after.customer_email = v.clone();
    }
    if let Some(v) = &patch.customer_id {
        after.customer_id = v.clone();
    }
    if let Some(v) = &patch.market_id {
        after.market_id = v.clone();
    }
    if let Some(v) = &patch.common.reference {
        after.reference = v.clone();
    }
    if let Some(v) = &patch.common.reference_origin {
        after.reference_origin = v.clone();
    }
    if let Some(v) = &patch.common.metadata {
        after.metadata = v.clone();
    }
    Ok(after)
}

/// Applies the attribute changes of `patch` under the order's lock, journaled.
fn apply(conn: &mut DbConnection, auth: &Auth, id: &str, patch: &Patch) -> ApiResult<()> {
    let row = super::lock_order(conn, id, false)?;
    let mut after = plan(&row, patch)?;
    let b = view(row);
    if journal::changes(Some(&b.attributes), &view(after.clone()).attributes).is_empty() {
        return Ok(());
    }
    after.updated_at = crate::clock::now();
    diesel::update(orders::table.find(id))
        .set((
            orders::number.eq(&after.number),
            orders::currency_code.eq(&after.currency_code),
            orders::total_amount_cents.eq(after.total_amount_cents),
            orders::shipping_amount_cents.eq(after.shipping_amount_cents),
            orders::customer_email.eq(&after.customer_email),
            orders::customer_id.eq(&after.customer_id),
            orders::market_id.eq(&after.market_id),
            orders::reference.eq(&after.reference),
            orders::reference_origin.eq(&after.reference_origin),
            orders::metadata.eq(&after.metadata),
            orders::updated_at.eq(after.updated_at),
        ))
        .execute(conn)
        .map_err(|e| {
            if is_number_conflict(&e) {
                number_taken(&after.number)
            } else {
                e.into()
            }
        })?;
    let a = view(after);
    journal::record(
        conn,
        &auth.scope,
        &journal::who(auth),
        Change {
            resource_type: "orders",
            resource_id: id,
            order_id: id,
            event: "update",
            before: Some(&b.attributes),
            after: &a.attributes,
            name: "orders.update",
        },
    )?;
    Ok(())
}
