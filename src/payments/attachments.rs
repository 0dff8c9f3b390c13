//! Attachments: files and notes on a refund, a capture or an order.

use diesel::prelude::*;
use serde_json::Value;

use crate::auth::Auth;
use crate::db::schema::attachments;
use crate::db::{counts, DbConnection, MultiBackend};
use crate::error::{ApiError, ApiResult, Code};
use crate::forms;
use crate::journal::{self, Change};
use crate::jsonapi::document::Attributes;
use crate::jsonapi::request::{Attrs, Input};
use crate::ledger::{Form, Saved};
use crate::resources::attachments::{scope, view, Row, ATTACHABLE_TYPES};

const ATTACHABLE: &str = "/data/relationships/attachable";

/// The `{type, id}` of the required `attachable` relationship; no other relationship.
fn attachable(input: &Input) -> ApiResult<(&'static str, String)> {
    if let Some(name) = input.relationships.keys().find(|k| *k != "attachable") {
        return Err(ApiError::pointer(
            Code::ParamNotAllowed,
            format!("/data/relationships/{name}"),
            format!("Relationship `{name}` cannot be set on an attachment"),
        ));
    }
    let Some(rel) = input.relationships.get("attachable") else {
        return Err(ApiError::pointer(
            Code::ValidationError,
            ATTACHABLE,
            "`attachable` (a refund, capture or order) is required",
        ));
    };
    let given = rel
        .get("data")
        .and_then(|d| d.get("type"))
        .and_then(Value::as_str);
    let Some(type_name) =
        given.and_then(|t| crate::resources::events::known_type(ATTACHABLE_TYPES, t))
    else {
        return Err(ApiError::pointer(
            Code::ValidationError,
            format!("{ATTACHABLE}/data/type"),
            "`attachable` must be of type refunds, captures or orders",
        ));
    };
    let id = input
        .to_one("attachable", type_name)?
        .ok_or_else(|| ApiError::internal("attachable", "relationship vanished"))?;
    Ok((type_name, id))
}

/// The order behind a visible refund, capture or order of the token's tenant.
fn order_of(
    conn: &mut DbConnection,
    auth: &Auth,
    type_name: &'static str,
    id: &str,
) -> ApiResult<String> {
    let not_found = || {
        ApiError::pointer(
            Code::ValidationError,
            format!("{ATTACHABLE}/data/id"),
            format!("`attachable` is none of this organization's {type_name}"),
        )
    };
    let kind = crate::resources::resource(type_name).ok_or_else(not_found)?;
    let record = kind
        .find(conn, &auth.scope, vec![id.to_owned()])?
        .pop()
        .ok_or_else(not_found)?;
    Ok(match record.to_one("order") {
        Some(order_id) => order_id.to_owned(),
        None => record.id,
    })
}

/// The visible attachment `id`, locked for the rest of the transaction.
fn locked(conn: &mut DbConnection, auth: &Auth, id: &str) -> ApiResult<Row> {
    let visible = attachments::table
        .into_boxed::<MultiBackend>()
        .filter(scope(&auth.scope))
        .filter(attachments::id.eq(id.to_owned()))
        .select(attachments::id)
        .first::<String>(conn)
        .optional()?;
    let gone = || ApiError::not_found("attachments");
    visible.ok_or_else(gone)?;
    // A no-op update takes the row lock on PostgreSQL (SQLite holds the database's).
    let touched = diesel::update(attachments::table.find(id))
        .set(attachments::id.eq(attachments::id))
        .execute(conn)?;
    if touched == 0 {
        return Err(gone());
    }
    Ok(attachments::table.find(id).first::<Row>(conn)?)
}

/// Journals one change of an attachment.
fn journal(
    conn: &mut DbConnection,
    auth: &Auth,
    row: &Row,
    event: &'static str,
    before: Option<&Attributes>,
    after: &Attributes,
) -> ApiResult<()> {
    let name = format!("attachments.{event}");
    journal::record(
        conn,
        &auth.scope,
        &journal::who(auth),
        Change {
            resource_type: "attachments",
            resource_id: &row.id,
            order_id: &row.order_id,
            event,
            before,
            after,
            name: &name,
        },
    )?;
    Ok(())
}

/// Text attribute changes: absent keeps `current`, `null` clears it.
fn text_or(a: &Attrs, name: &str, current: Option<String>) -> ApiResult<Option<String>> {
    Ok(a.text(name)?.unwrap_or(current))
}

fn required_name(a: &Attrs) -> ApiResult<Option<String>> {
    if matches!(a.0.get("name"), Some(Value::Null)) {
        return Err(ApiError::pointer(
            Code::ValidationError,
            "/data/attributes/name",
            "`name` must be a non-empty string",
        ));
    }
    a.required_text("name")
}

/// `POST /api/attachments`.
pub fn create(conn: &mut DbConnection, form: &Form) -> ApiResult<Saved> {
    let (who, input) = (form.auth, form.input);
    let a = &input.attributes;
    a.only(forms::ATTACHMENT_CREATE.names())?;
    let name = required_name(a)?.ok_or_else(|| {
        ApiError::pointer(
            Code::ValidationError,
            "/data/attributes/name",
            "`name` is required",
        )
    })?;
    let (attachable_type, attachable_id) = attachable(input)?;
    let description = text_or(a, "description", None)?;
    let url = text_or(a, "url", None)?;
    let reference = text_or(a, "reference", None)?;
    let reference_origin = text_or(a, "reference_origin", None)?;
    let metadata = a.object("metadata")?.unwrap_or_else(|| "{}".into());
    let id = {
        crate::db::write_transaction(conn, |conn| -> ApiResult<String> {
            let order_id = order_of(conn, who, attachable_type, &attachable_id)?;
            let now = crate::clock::now();
            let row = Row {
                id: crate::ids::new_id(),
                organization_id: who.scope.organization_id.clone(),
                mode: who.scope.mode.into(),
                order_id,
                attachable_type: attachable_type.into(),
                attachable_id,
                name,
                description,
                url,
                reference,
                reference_origin,
                metadata,
                created_at: now,
                updated_at: now,
            };
            diesel::insert_into(attachments::table)
                .values(&row)
                .execute(conn)?;
            counts::add(
                conn,
                &who.scope.organization_id,
                who.scope.mode,
                "attachments",
                1,
            )?;
            let after = view(row.clone()).attributes;
            journal(conn, who, &row, "create", None, &after)?;
            Ok(row.id)
        })
    }?;
    Ok(Saved::Created(id))
}

/// `PATCH /api/attachments/{id}`: the attributes; `attachable` stays.
pub fn update(conn: &mut DbConnection, id: &str, form: &Form) -> ApiResult<Saved> {
    let (who, input) = (form.auth, form.input);
    input.no_relationships()?;
    let a = &input.attributes;
    a.only(forms::ATTACHMENT_UPDATE.names())?;
    let name = required_name(a)?;
    let metadata = a.object("metadata")?;
    // Types are checked before the transaction; values are applied inside it.
    for field in ["description", "url", "reference", "reference_origin"] {
        a.text(field)?;
    }
    let target = id.to_owned();
    {
        crate::db::write_transaction(conn, |conn| -> ApiResult<()> {
            let row = locked(conn, who, &target)?;
            let mut after = row.clone();
            if let Some(n) = name {
                after.name = n;
            }
            after.description = text_or(a, "description", row.description.clone())?;
            after.url = text_or(a, "url", row.url.clone())?;
            after.reference = text_or(a, "reference", row.reference.clone())?;
            after.reference_origin = text_or(a, "reference_origin", row.reference_origin.clone())?;
            if let Some(m) = metadata {
                after.metadata = m;
            }
            let before = view(row).attributes;
            if journal::changes(Some(&before), &view(after.clone()).attributes).is_empty() {
                return Ok(());
            }
            after.updated_at = crate::clock::now();
            diesel::update(attachments::table.find(&after.id))
                .set((
                    attachments::name.eq(&after.name),
                    attachments::description.eq(&after.description),
                    attachments::url.eq(&after.url),
                    attachments::reference.eq(&after.reference),
                    attachments::reference_origin.eq(&after.reference_origin),
                    attachments::metadata.eq(&after.metadata),
                    attachments::updated_at.eq(after.updated_at),
                ))
                .execute(conn)?;
            let attrs = view(after.clone()).attributes;
            journal(conn, who, &after, "update", Some(&before), &attrs)
        })
    }?;
    Ok(Saved::Existing(id.to_owned()))
}

/// `DELETE /api/attachments/{id}`: `204 No Content`.
pub fn destroy(conn: &mut DbConnection, id: &str, auth: &Auth) -> ApiResult<()> {
    crate::db::write_transaction(conn, |conn| -> ApiResult<()> {
        let row = locked(conn, auth, id)?;
        diesel::delete(attachments::table.find(&row.id)).execute(conn)?;
        counts::add(
            conn,
            &auth.scope.organization_id,
            auth.scope.mode,
            "attachments",
            -1,
        )?;
        let last = view(row.clone()).attributes;
        journal(conn, auth, &row, "destroy", None, &last)
    })
}
