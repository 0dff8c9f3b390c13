//! `attachments`: files or links attached to a refund, a capture or an order, and their
//! writes (`POST`, `PATCH`, `DELETE`), each journaled in its transaction.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use serde_json::Value;

use crate::auth::Auth;
use crate::db::schema::attachments;
use crate::db::{counts, DbConnection, MultiBackend};
use crate::engine::{time, Resource};
use crate::error::{ApiError, ApiResult, Code};
use crate::journal::{self, Change};
use crate::jsonapi::document::{Attributes, Record};
use crate::jsonapi::request::{self, Attrs, Input};
use crate::jsonapi::resource::ResourceDef;
use crate::resources::routes::{respond_with, with_conn};
use crate::writes::{body, require_write};
use crate::AppState;

/// What an attachment may be attached to.
pub const ATTACHABLE_TYPES: &[&str] = &["refunds", "captures", "orders"];

crate::engine::describe! {
    type_name: attachments,
    default_sort: "-created_at",
    attributes {
        name: Text [filter, sort],
        description: Text [filter],
        url: Text [filter],
        reference: Text [filter, sort],
        reference_origin: Text [filter, sort],
        metadata: Json [filter],
        created_at: Time [filter, sort],
        updated_at: Time [filter, sort],
        attachable_type: Text [filter, hidden],
        attachable_id: Text [filter, hidden],
        order_id: Text [filter, hidden],
    }
    relationships {
        attachable: poly ATTACHABLE_TYPES,
    }
}

/// A row of `attachments`, in column order.
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = attachments)]
pub struct Row {
    pub id: String,
    pub organization_id: String,
    pub mode: String,
    pub order_id: String,
    pub attachable_type: String,
    pub attachable_id: String,
    pub name: String,
    pub description: Option<String>,
    pub url: Option<String>,
    pub reference: Option<String>,
    pub reference_origin: Option<String>,
    pub metadata: String,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

pub fn view(r: Row) -> Record {
    let mut a = Attributes::with_capacity(DEF.attributes.len());
    a.push("name", Value::from(r.name));
    a.push("description", Value::from(r.description));
    a.push("url", Value::from(r.url));
    a.push("reference", Value::from(r.reference));
    a.push("reference_origin", Value::from(r.reference_origin));
    a.push_json("metadata", r.metadata);
    a.push("created_at", time(&r.created_at));
    a.push("updated_at", time(&r.updated_at));
    let (to_one, to_one_types) =
        match super::events::known_type(ATTACHABLE_TYPES, &r.attachable_type) {
            Some(t) => (
                vec![("attachable", Some(r.attachable_id))],
                vec![("attachable", t)],
            ),
            None => (vec![("attachable", None)], vec![]),
        };
    Record {
        def: &DEF,
        id: r.id,
        attributes: a,
        to_one,
        to_one_types,
        organization_id: r.organization_id,
        mode: r.mode,
    }
}

crate::engine::child_scope!(attachments);

pub struct Attachments;

impl Resource for Attachments {
    fn def(&self) -> &'static ResourceDef {
        &DEF
    }

    crate::engine::list_impl!(attachments, Row, view, cond, sort, scope);
}

// ---------------------------------------------------------------------------------------
// Writes

const ATTRIBUTES: [&str; 6] = [
    "name",
    "description",
    "url",
    "reference",
    "reference_origin",
    "metadata",
];

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
    let Some(type_name) = given.and_then(|t| super::events::known_type(ATTACHABLE_TYPES, t)) else {
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
    let kind = super::resource(type_name).ok_or_else(not_found)?;
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
pub async fn create(
    req: HttpRequest,
    auth: Auth,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    require_write(&auth)?;
    let bytes = body(payload, &state).await?;
    let input = request::parse(&bytes, "attachments", None)?;
    let a = &input.attributes;
    a.only(&ATTRIBUTES)?;
    let name = required_name(a)?.ok_or_else(|| {
        ApiError::pointer(
            Code::ValidationError,
            "/data/attributes/name",
            "`name` is required",
        )
    })?;
    let (attachable_type, attachable_id) = attachable(&input)?;
    let description = text_or(a, "description", None)?;
    let url = text_or(a, "url", None)?;
    let reference = text_or(a, "reference", None)?;
    let reference_origin = text_or(a, "reference_origin", None)?;
    let metadata = a.object("metadata")?.unwrap_or_else(|| "{}".into());
    let who = auth.clone();
    let id = with_conn(&state, move |conn| {
        crate::db::write_transaction(conn, |conn| -> ApiResult<String> {
            let order_id = order_of(conn, &who, attachable_type, &attachable_id)?;
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
            journal(conn, &who, &row, "create", None, &after)?;
            Ok(row.id)
        })
    })
    .await?;
    respond_with(&req, &state, auth, "attachments", id, StatusCode::CREATED).await
}

/// `PATCH /api/attachments/{id}`: the attributes; `attachable` stays.
pub async fn update(
    req: HttpRequest,
    auth: Auth,
    state: web::Data<AppState>,
    id: String,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    require_write(&auth)?;
    let bytes = body(payload, &state).await?;
    let input = request::parse(&bytes, "attachments", Some(&id))?;
    input.no_relationships()?;
    let a = input.attributes;
    a.only(&ATTRIBUTES)?;
    let name = required_name(&a)?;
    let metadata = a.object("metadata")?;
    // Types are checked before the transaction; values are applied inside it.
    for field in ["description", "url", "reference", "reference_origin"] {
        a.text(field)?;
    }
    let who = auth.clone();
    let target = id.clone();
    with_conn(&state, move |conn| {
        crate::db::write_transaction(conn, |conn| -> ApiResult<()> {
            let row = locked(conn, &who, &target)?;
            let mut after = row.clone();
            if let Some(n) = name {
                after.name = n;
            }
            after.description = text_or(&a, "description", row.description.clone())?;
            after.url = text_or(&a, "url", row.url.clone())?;
            after.reference = text_or(&a, "reference", row.reference.clone())?;
            after.reference_origin = text_or(&a, "reference_origin", row.reference_origin.clone())?;
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
            journal(conn, &who, &after, "update", Some(&before), &attrs)
        })
    })
    .await?;
    respond_with(&req, &state, auth, "attachments", id, StatusCode::OK).await
}

/// `DELETE /api/attachments/{id}`: `204 No Content`.
pub async fn destroy(
    auth: Auth,
    state: web::Data<AppState>,
    id: String,
) -> ApiResult<HttpResponse> {
    require_write(&auth)?;
    with_conn(&state, move |conn| {
        crate::db::write_transaction(conn, |conn| -> ApiResult<()> {
            let row = locked(conn, &auth, &id)?;
            diesel::delete(attachments::table.find(&row.id)).execute(conn)?;
            counts::add(
                conn,
                &auth.scope.organization_id,
                auth.scope.mode,
                "attachments",
                -1,
            )?;
            let last = view(row.clone()).attributes;
            journal(conn, &auth, &row, "destroy", None, &last)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
