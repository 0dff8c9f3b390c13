//! `POST /api/authorizations` and `PATCH /api/authorizations/{id}`.

use diesel::prelude::*;

use super::{missing, missing_relationship, validation, Common, GatewayFields};
use crate::auth::Auth;
use crate::db::schema::authorizations;
use crate::db::{counts, DbConnection, MultiBackend};
use crate::error::{ApiError, ApiResult};
use crate::forms;
use crate::ids::new_id;
use crate::journal::{self, Change};
use crate::ledger::{Form, Saved};
use crate::resources::authorizations::{scope, view, Row};

const ORDER: &str = "/data/relationships/order/data/id";

/// An authorization to create, validated but for what needs the order's lock.
struct New {
    order_id: String,
    amount_cents: i64,
    currency_code: String,
    succeeded: bool,
    gateway: GatewayFields,
    common: Common,
}

/// `POST /api/authorizations`.
pub fn create(conn: &mut DbConnection, form: &Form) -> ApiResult<Saved> {
    let (auth, input) = (form.auth, form.input);
    let a = &input.attributes;
    a.only(forms::AUTHORIZATION_CREATE.names())?;
    super::only_relationships(input, forms::AUTHORIZATION_CREATE.exactly_one_of)?;
    let order_id = input
        .to_one("order", "orders")?
        .ok_or_else(|| missing_relationship("order"))?;
    let new = New {
        order_id,
        amount_cents: super::positive(a, "amount_cents")?.ok_or_else(|| missing("amount_cents"))?,
        currency_code: crate::money::currency_code(a, "currency_code")?
            .ok_or_else(|| missing("currency_code"))?,
        succeeded: a.bool("succeeded")?.unwrap_or(true),
        gateway: GatewayFields::read(a)?,
        common: Common::read(a)?,
    };
    let who = auth.clone();
    let id = {
        // Visibility first, outside the transaction: an order never changes tenant.
        super::visible_order(conn, &who, &new.order_id)?
            .ok_or_else(|| validation(ORDER, "No such order of this organization"))?;
        crate::db::write_transaction(conn, |conn| insert(conn, &who, new))
    }?;
    Ok(Saved::Created(id))
}

fn insert(conn: &mut DbConnection, auth: &Auth, new: New) -> ApiResult<String> {
    // The lock, and the authorization's transaction number.
    let order = super::lock_order(conn, &new.order_id, true)?;
    if new.currency_code != order.currency_code {
        return Err(validation(
            "/data/attributes/currency_code",
            format!(
                "`currency_code` must be {}, the currency of the order",
                order.currency_code
            ),
        ));
    }
    let authorized: i64 = authorizations::table
        .filter(authorizations::order_id.eq(&order.id))
        .filter(authorizations::succeeded.eq(true))
        .select(authorizations::amount_cents)
        .load::<i64>(conn)?
        .iter()
        .sum();
    let open = order.total_amount_cents - authorized;
    if new.amount_cents > open {
        return Err(validation(
            "/data/attributes/amount_cents",
            format!(
                "`amount_cents` ({}) exceeds what is left to authorize on the order ({open})",
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
        number: super::transaction_number(&order),
        currency_code: new.currency_code,
        amount_cents: new.amount_cents,
        succeeded: new.succeeded,
        payment_method_type: new.gateway.payment_method_type,
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
    };
    diesel::insert_into(authorizations::table)
        .values(&row)
        .execute(conn)?;
    counts::add(conn, &row.organization_id, &row.mode, "authorizations", 1)?;
    let who = journal::who(auth);
    let v = view(row.clone());
    journal::record(
        conn,
        &auth.scope,
        &who,
        Change {
            resource_type: "authorizations",
            resource_id: &row.id,
            order_id: &order.id,
            event: "create",
            before: None,
            after: &v.attributes,
            name: "authorizations.create",
        },
    )?;
    super::refresh_status(conn, &auth.scope, &who, &order, crate::clock::now())?;
    Ok(row.id)
}

/// `PATCH /api/authorizations/{id}`.
pub fn update(conn: &mut DbConnection, id: &str, form: &Form) -> ApiResult<Saved> {
    let (auth, input) = (form.auth, form.input);
    input.no_relationships()?;
    let a = &input.attributes;
    a.only(forms::AUTHORIZATION_UPDATE.names())?;
    let patch = Common::read(a)?;
    let who = auth.clone();
    let target = id.to_owned();
    {
        let order_id: String = authorizations::table
            .into_boxed::<MultiBackend>()
            .filter(scope(&who.scope))
            .filter(authorizations::id.eq(target.clone()))
            .select(authorizations::order_id)
            .first(conn)
            .optional()?
            .ok_or_else(|| ApiError::not_found("authorizations"))?;
        crate::db::write_transaction(conn, |conn| apply(conn, &who, &order_id, &target, patch))
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
    let row: Row = authorizations::table.find(id).first(conn)?;
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
    diesel::update(authorizations::table.find(id))
        .set((
            authorizations::reference.eq(&after.reference),
            authorizations::reference_origin.eq(&after.reference_origin),
            authorizations::metadata.eq(&after.metadata),
            authorizations::updated_at.eq(after.updated_at),
        ))
        .execute(conn)?;
    let a = view(after);
    journal::record(
        conn,
        &auth.scope,
        &journal::who(auth),
        Change {
            resource_type: "authorizations",
            resource_id: id,
            order_id,
            event: "update",
            before: Some(&b.attributes),
            after: &a.attributes,
            name: "authorizations.update",
        },
    )?;
    Ok(())
}
