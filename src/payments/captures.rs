//! `POST /api/captures` and `PATCH /api/captures/{id}` (with the `_refund` trigger).

use diesel::prelude::*;

use super::{missing, missing_relationship, validation, Common, GatewayFields, Trigger};
use crate::auth::Auth;
use crate::db::schema::{authorizations, captures};
use crate::db::{counts, DbConnection, MultiBackend};
use crate::error::{ApiError, ApiResult};
use crate::forms;
use crate::ids::new_id;
use crate::journal::{self, Change};
use crate::ledger::Target;
use crate::ledger::{Form, Saved};
use crate::resources::authorizations::{self as auth_res};
use crate::resources::captures::{scope, view, Row};

const AUTHORIZATION: &str = "/data/relationships/authorization/data/id";

/// A capture to create, validated but for what needs the order's lock.
struct New {
    authorization_id: String,
    amount_cents: i64,
    currency_code: String,
    succeeded: bool,
    /// Where its refunds are executed.
    gateway_name: String,
    gateway: GatewayFields,
    common: Common,
}

/// The capture's gateway: one this process can call.
fn gateway_name(form: &Form, asked: Option<String>) -> ApiResult<String> {
    let name = asked.unwrap_or_else(|| form.default_gateway.to_owned());
    if !crate::gateways::NAMES.contains(&name.as_str()) {
        return Err(validation(
            "/data/attributes/gateway",
            format!(
                "`gateway` must be one of {}",
                crate::gateways::NAMES.join(", ")
            ),
        ));
    }
    if form.gateways.get(&name).is_none() {
        return Err(validation(
            "/data/attributes/gateway",
            format!("The `{name}` gateway is not configured on this service"),
        ));
    }
    Ok(name)
}

/// A Stripe capture names the charge (`ch_…`) or PaymentIntent (`pi_…`) its refunds go to.
fn stripe_payment(id: Option<&str>) -> ApiResult<()> {
    match id {
        Some(id) if id.starts_with("ch_") || id.starts_with("pi_") => Ok(()),
        _ => Err(validation(
            "/data/attributes/gateway_transaction_id",
            "A `stripe` capture needs the Stripe charge (`ch_…`) or PaymentIntent (`pi_…`) id",
        )),
    }
}

/// `POST /api/captures`.
pub fn create(conn: &mut DbConnection, form: &Form) -> ApiResult<Saved> {
    let (auth, input) = (form.auth, form.input);
    let a = &input.attributes;
    a.only(forms::CAPTURE_CREATE.names())?;
    // The order is the authorization's.
    super::only_relationships(input, forms::CAPTURE_CREATE.exactly_one_of)?;
    let authorization_id = input
        .to_one("authorization", "authorizations")?
        .ok_or_else(|| missing_relationship("authorization"))?;
    let new = New {
        authorization_id,
        amount_cents: super::positive(a, "amount_cents")?.ok_or_else(|| missing("amount_cents"))?,
        currency_code: crate::money::currency_code(a, "currency_code")?
            .ok_or_else(|| missing("currency_code"))?,
        succeeded: a.bool("succeeded")?.unwrap_or(true),
        gateway_name: gateway_name(form, a.text("gateway")?.flatten())?,
        gateway: GatewayFields::read(a)?,
        common: Common::read(a)?,
    };
    if new.gateway_name == "stripe" {
        stripe_payment(new.gateway.gateway_transaction_id.as_deref())?;
    }
    let who = auth.clone();
    let id = {
        // Visibility first, outside the transaction: payments never change tenant.
        let order_id: String = authorizations::table
            .into_boxed::<MultiBackend>()
            .filter(auth_res::scope(&who.scope))
            .filter(authorizations::id.eq(new.authorization_id.clone()))
            .select(authorizations::order_id)
            .first(conn)
            .optional()?
            .ok_or_else(|| {
                validation(AUTHORIZATION, "No such authorization of this organization")
            })?;
        crate::db::write_transaction(conn, |conn| insert(conn, &who, &order_id, new))
    }?;
    Ok(Saved::Created(id))
}

fn insert(conn: &mut DbConnection, auth: &Auth, order_id: &str, new: New) -> ApiResult<String> {
    // The lock (concurrent captures of one authorization queue here), and the number.
    let order = super::lock_order(conn, order_id, true)?;
    let authorization: auth_res::Row = authorizations::table
        .find(&new.authorization_id)
        .first(conn)?;
    if !authorization.succeeded {
        return Err(validation(
            AUTHORIZATION,
            "The authorization did not succeed: nothing can be captured",
        ));
    }
    if new.currency_code != authorization.currency_code {
        return Err(validation(
            "/data/attributes/currency_code",
            format!(
                "`currency_code` must be {}, the currency of the authorization",
                authorization.currency_code
            ),
        ));
    }
    let captured: i64 = captures::table
        .filter(captures::authorization_id.eq(&authorization.id))
        .filter(captures::succeeded.eq(true))
        .select(captures::amount_cents)
        .load::<i64>(conn)?
        .iter()
        .sum();
    // A declined capture takes nothing, but can still not be for more than was authorized.
    let open = if new.succeeded {
        authorization.amount_cents - captured
    } else {
        authorization.amount_cents
    };
    if new.amount_cents > open {
        return Err(validation(
            "/data/attributes/amount_cents",
            format!(
                "`amount_cents` ({}) exceeds what is left to capture on the authorization ({open})",
                new.amount_cents
            ),
        ));
    }
    let now = crate::clock::now();
    let row = Row {
        id: new_id(),
        organization_id: auth.scope.organization_id.clone(),
        mode: auth.scope.mode.into(),
        order_id: order.id.clone(),
        authorization_id: authorization.id.clone(),
        number: super::transaction_number(&order),
        currency_code: new.currency_code,
        amount_cents: new.amount_cents,
        refund_amount_cents: 0,
        refund_balance_cents: new.amount_cents,
        succeeded: new.succeeded,
        payment_method_type: new
            .gateway
            .payment_method_type
            .or(authorization.payment_method_type),
        message: new.gateway.message,
        error_code: new.gateway.error_code,
        error_detail: new.gateway.error_detail,
        token: new.gateway.token,
        gateway_transaction_id: new.gateway.gateway_transaction_id,
        reference: new.common.reference.flatten(),
        reference_origin: new.common.reference_origin.flatten(),
        metadata: new.common.metadata.unwrap_or_else(|| "{}".into()),
        created_at: now,
        updated_at: now,
        gateway: new.gateway_name,
    };
    diesel::insert_into(captures::table)
        .values(&row)
        .execute(conn)?;
    counts::add(conn, &row.organization_id, &row.mode, "captures", 1)?;
    let who = journal::who(auth);
    let v = view(row.clone());
    journal::record(
        conn,
        &auth.scope,
        &who,
        Change {
            resource_type: "captures",
            resource_id: &row.id,
            order_id: &order.id,
            event: "create",
            before: None,
            after: &v.attributes,
            name: "captures.create",
        },
    )?;
    super::refresh_status(conn, &auth.scope, &who, &order, crate::clock::now())?;
    Ok(row.id)
}

/// The changes a PATCH asks for.
struct Patch {
    common: Common,
    refund: Option<Trigger>,
}

/// `PATCH /api/captures/{id}`.
pub fn update(conn: &mut DbConnection, id: &str, form: &Form) -> ApiResult<Saved> {
    let (auth, input) = (form.auth, form.input);
    input.no_relationships()?;
    let a = &input.attributes;
    a.only(forms::CAPTURE_UPDATE.names())?;
    let amount_cents = a.int("_refund_amount_cents")?;
    let refund = match a.bool("_refund")? {
        Some(true) => Some(Trigger {
            amount_cents,
            key: form.idempotency_key()?,
        }),
        _ if amount_cents.is_some() => {
            return Err(validation(
                "/data/attributes/_refund_amount_cents",
                "`_refund_amount_cents` goes with `_refund: true`",
            ))
        }
        _ => None,
    };
    let patch = Patch {
        common: Common::read(a)?,
        refund,
    };
    let who = auth.clone();
    let target = id.to_owned();
    {
        let order_id: String = captures::table
            .into_boxed::<MultiBackend>()
            .filter(scope(&who.scope))
            .filter(captures::id.eq(target.clone()))
            .select(captures::order_id)
            .first(conn)
            .optional()?
            .ok_or_else(|| ApiError::not_found("captures"))?;
        // One transaction: the refund (a savepoint of the ledger's) and the attributes.
        crate::db::write_transaction(conn, |conn| {
            if let Some(trigger) = &patch.refund {
                let currency: String = captures::table
                    .find(&target)
                    .select(captures::currency_code)
                    .first(conn)?;
                let capture = Target::Capture(target.clone());
                super::refund(conn, form, capture, &currency, trigger)?;
            }
            apply(conn, &who, &order_id, &target, patch.common)
        })
    }?;
    Ok(Saved::Existing(id.to_owned()))
}

fn apply(
    conn: &mut DbConnection,
    auth: &Auth,
    order_id: &str,
    id: &str,
    patch: Common,
) -> ApiResult<()> {
    super::lock_order(conn, order_id, false)?;
    let row: Row = captures::table.find(id).first(conn)?;
    let mut after = row.clone();
    if let Some(v) = patch.reference {
        after.reference = v;
    }
    if let Some(v) = patch.reference_origin {
        after.reference_origin = v;
    }
    if let Some(v) = patch.metadata {
        after.metadata = v;
    }
    let b = view(row);
    if journal::changes(Some(&b.attributes), &view(after.clone()).attributes).is_empty() {
        return Ok(());
    }
    after.updated_at = crate::clock::now();
    diesel::update(captures::table.find(id))
        .set((
            captures::reference.eq(&after.reference),
            captures::reference_origin.eq(&after.reference_origin),
            captures::metadata.eq(&after.metadata),
            captures::updated_at.eq(after.updated_at),
        ))
        .execute(conn)?;
    let a = view(after);
    journal::record(
        conn,
        &auth.scope,
        &journal::who(auth),
        Change {
            resource_type: "captures",
            resource_id: id,
            order_id,
            event: "update",
            before: Some(&b.attributes),
            after: &a.attributes,
            name: "captures.update",
        },
    )?;
    Ok(())
}
