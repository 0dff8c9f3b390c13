//! Webhooks: create, change (with the `_reset_circuit`, `_disable` and `_enable`
//! triggers) and delete the callback URLs subscribed to a topic. Admin integration tokens
//! only: a webhook holds the secret its calls are signed with.

use diesel::prelude::*;
use serde_json::Value;

use crate::auth::Auth;
use crate::db::schema::{event_callbacks, webhook_deliveries, webhooks};
use crate::db::{counts, DbConnection, MultiBackend};
use crate::error::{ApiError, ApiResult, Code};
use crate::forms;
use crate::journal::{self, Change};
use crate::jsonapi::document::Attributes;
use crate::jsonapi::request::Attrs;
use crate::ledger::{Form, Saved};
use crate::resources::webhooks::{readable_by, scope, topic_resource, view, Row, TOPICS};

/// The longest callback URL accepted.
pub const MAX_URL_BYTES: usize = 2048;

fn admin_only(auth: &Auth) -> ApiResult<()> {
    let c = &auth.claims;
    if readable_by("webhooks", &c.application.kind, c.role.as_deref()) {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::Unauthorized,
            "Only admin integration tokens may access webhooks",
        ))
    }
}

fn invalid(name: &str, detail: impl Into<String>) -> ApiError {
    ApiError::pointer(
        Code::ValidationError,
        format!("/data/attributes/{name}"),
        detail,
    )
}

/// The `topic`, if given: one of [`TOPICS`].
fn topic(a: &Attrs) -> ApiResult<Option<String>> {
    match a.0.get("topic") {
        None => Ok(None),
        Some(Value::String(t)) if TOPICS.contains(&t.as_str()) => Ok(Some(t.clone())),
        Some(_) => Err(invalid(
            "topic",
            format!("`topic` must be one of {}", TOPICS.join(", ")),
        )),
    }
}

/// Whether `url` is an absolute `http` or `https` URL with a host, free of spaces and
/// control characters.
pub fn is_callback_url(url: &str) -> bool {
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => rest,
        _ => return false,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    let port_ok = match host_port.rsplit_once("]:").map(|(_, p)| p).or_else(|| {
        (!host_port.starts_with('['))
            .then(|| host_port.split_once(':').map(|(_, p)| p))
            .flatten()
    }) {
        None => true,
        Some(p) => !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()),
    };
    url.len() <= MAX_URL_BYTES
        && !host.is_empty()
        && port_ok
        && url.bytes().all(|b| b.is_ascii_graphic())
}

fn callback_url(a: &Attrs) -> ApiResult<Option<String>> {
    match a.0.get("callback_url") {
        None => Ok(None),
        Some(Value::String(u)) if is_callback_url(u) => Ok(Some(u.clone())),
        Some(_) => Err(invalid(
            "callback_url",
            "`callback_url` must be an absolute http or https URL",
        )),
    }
}

/// `include_resources`, if given: an array of strings (stored as JSON text).
fn include_resources(a: &Attrs) -> ApiResult<Option<Vec<String>>> {
    match a.0.get("include_resources") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(Vec::new())),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| {
                invalid(
                    "include_resources",
                    "`include_resources` must be an array of strings",
                )
            }),
        Some(_) => Err(invalid(
            "include_resources",
            "`include_resources` must be an array of strings",
        )),
    }
}

/// Checks include paths against the topic's resource, as `include` is checked.
fn check_includes(topic: &str, paths: &[String]) -> ApiResult<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let def = topic_resource(topic)
        .and_then(crate::resources::lookup)
        .ok_or_else(|| ApiError::internal("webhooks", format!("no resource for {topic}")))?;
    for (i, path) in paths.iter().enumerate() {
        if path.is_empty()
            || path.contains(',')
            || crate::jsonapi::query::include(def, crate::resources::lookup, "include", path)
                .is_err()
        {
            return Err(invalid(
                &format!("include_resources/{i}"),
                format!(
                    "`{path}` is not an includable relationship of {}",
                    def.type_name
                ),
            ));
        }
    }
    Ok(())
}

/// 32 random bytes, hex.
fn new_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text_or(a: &Attrs, name: &str, current: Option<String>) -> ApiResult<Option<String>> {
    Ok(a.text(name)?.unwrap_or(current))
}

fn required(name: &str) -> ApiError {
    invalid(name, format!("`{name}` is required"))
}

/// Journals one change of a webhook. The secret stays out: versions and events outlive the
/// webhook, and the journal's readers are only ever admin tokens (see `child_scope!`).
fn journal_change(
    conn: &mut DbConnection,
    auth: &Auth,
    row: &Row,
    event: &'static str,
    before: Option<&Row>,
) -> ApiResult<()> {
    let shown = |r: &Row| {
        let record = view(r.clone());
        let mut attributes = Attributes::with_capacity(record.attributes.iter().count());
        for (name, value) in record.attributes.iter() {
            if name != "shared_secret" {
                attributes.push(name, value.clone());
            }
        }
        attributes
    };
    let (after, before) = (shown(row), before.map(shown));
    let name = format!("webhooks.{event}");
    journal::record(
        conn,
        &auth.scope,
        &journal::who(auth),
        Change {
            resource_type: "webhooks",
            resource_id: &row.id,
            // Webhooks belong to no order.
            order_id: "",
            event,
            before: before.as_ref(),
            after: &after,
            name: &name,
        },
    )?;
    Ok(())
}

/// `POST /api/webhooks`.
pub fn create(conn: &mut DbConnection, form: &Form) -> ApiResult<Saved> {
    let (who, input) = (form.auth, form.input);
    admin_only(who)?;
    input.no_relationships()?;
    let a = &input.attributes;
    a.only(forms::WEBHOOK_CREATE.names())?;
    let topic = topic(a)?.ok_or_else(|| required("topic"))?;
    let callback_url = callback_url(a)?.ok_or_else(|| required("callback_url"))?;
    let includes = include_resources(a)?.unwrap_or_default();
    check_includes(&topic, &includes)?;
    let now = crate::clock::now();
    let row = Row {
        id: crate::ids::new_id(),
        organization_id: who.scope.organization_id.clone(),
        mode: who.scope.mode.into(),
        name: text_or(a, "name", None)?,
        topic,
        callback_url,
        include_resources: Value::from(includes).to_string(),
        shared_secret: new_secret(),
        circuit_state: "closed".into(),
        circuit_failure_count: 0,
        disabled_at: None,
        reference: text_or(a, "reference", None)?,
        reference_origin: text_or(a, "reference_origin", None)?,
        metadata: a.object("metadata")?.unwrap_or_else(|| "{}".into()),
        created_at: now,
        updated_at: now,
    };
    crate::db::write_transaction(conn, |conn| -> ApiResult<()> {
        diesel::insert_into(webhooks::table)
            .values(&row)
            .execute(conn)?;
        counts::add(conn, &row.organization_id, &row.mode, "webhooks", 1)?;
        journal_change(conn, who, &row, "create", None)
    })?;
    Ok(Saved::Created(row.id))
}

/// The visible webhook `id`, locked for the rest of the transaction.
fn locked(conn: &mut DbConnection, auth: &Auth, id: &str) -> ApiResult<Row> {
    let gone = || ApiError::not_found("webhooks");
    webhooks::table
        .into_boxed::<MultiBackend>()
        .filter(scope(&auth.scope))
        .filter(webhooks::id.eq(id.to_owned()))
        .select(webhooks::id)
        .first::<String>(conn)
        .optional()?
        .ok_or_else(gone)?;
    // A no-op update takes the row lock on PostgreSQL (SQLite holds the database's).
    let touched = diesel::update(webhooks::table.find(id))
        .set(webhooks::id.eq(webhooks::id))
        .execute(conn)?;
    if touched == 0 {
        return Err(gone());
    }
    Ok(webhooks::table.find(id).first::<Row>(conn)?)
}

/// `PATCH /api/webhooks/{id}`: the attributes and the triggers.
pub fn update(conn: &mut DbConnection, id: &str, form: &Form) -> ApiResult<Saved> {
    let (who, input) = (form.auth, form.input);
    admin_only(who)?;
    input.no_relationships()?;
    let a = &input.attributes;
    a.only(forms::WEBHOOK_UPDATE.names())?;
    let topic = topic(a)?;
    let callback_url = callback_url(a)?;
    let includes = include_resources(a)?;
    let metadata = a.object("metadata")?;
    for field in ["name", "reference", "reference_origin"] {
        a.text(field)?;
    }
    let reset = a.bool("_reset_circuit")?.unwrap_or(false);
    let disable = a.bool("_disable")?.unwrap_or(false);
    let enable = a.bool("_enable")?.unwrap_or(false);
    if disable && enable {
        return Err(invalid(
            "_enable",
            "`_disable` and `_enable` cannot both be set",
        ));
    }
    crate::db::write_transaction(conn, |conn| -> ApiResult<()> {
        let row = locked(conn, who, id)?;
        let mut after = row.clone();
        after.name = text_or(a, "name", row.name.clone())?;
        after.reference = text_or(a, "reference", row.reference.clone())?;
        after.reference_origin = text_or(a, "reference_origin", row.reference_origin.clone())?;
        if let Some(t) = topic {
            after.topic = t;
        }
        if let Some(u) = callback_url {
            after.callback_url = u;
        }
        if let Some(m) = metadata {
            after.metadata = m;
        }
        let paths = match includes {
            Some(paths) => paths,
            None => serde_json::from_str(&row.include_resources).unwrap_or_default(),
        };
        check_includes(&after.topic, &paths)?;
        after.include_resources = Value::from(paths).to_string();
        let now = crate::clock::now();
        if reset {
            after.circuit_state = "closed".into();
            after.circuit_failure_count = 0;
        }
        if disable && after.disabled_at.is_none() {
            after.disabled_at = Some(now);
        }
        if enable {
            after.disabled_at = None;
        }
        after.updated_at = now;
        diesel::update(webhooks::table.find(&after.id))
            .set((
                webhooks::name.eq(&after.name),
                webhooks::topic.eq(&after.topic),
                webhooks::callback_url.eq(&after.callback_url),
                webhooks::include_resources.eq(&after.include_resources),
                webhooks::circuit_state.eq(&after.circuit_state),
                webhooks::circuit_failure_count.eq(after.circuit_failure_count),
                webhooks::disabled_at.eq(after.disabled_at),
                webhooks::reference.eq(&after.reference),
                webhooks::reference_origin.eq(&after.reference_origin),
                webhooks::metadata.eq(&after.metadata),
                webhooks::updated_at.eq(after.updated_at),
            ))
            .execute(conn)?;
        journal_change(conn, who, &after, "update", Some(&row))
    })?;
    Ok(Saved::Existing(id.to_owned()))
}

/// `DELETE /api/webhooks/{id}`: the webhook, its deliveries (sent, pending or failed) and
/// its recorded callbacks.
pub fn destroy(conn: &mut DbConnection, id: &str, auth: &Auth) -> ApiResult<()> {
    admin_only(auth)?;
    crate::db::write_transaction(conn, |conn| -> ApiResult<()> {
        let row = locked(conn, auth, id)?;
        diesel::delete(
            webhook_deliveries::table.filter(webhook_deliveries::webhook_id.eq(&row.id)),
        )
        .execute(conn)?;
        let callbacks =
            diesel::delete(event_callbacks::table.filter(event_callbacks::webhook_id.eq(&row.id)))
                .execute(conn)?;
        diesel::delete(webhooks::table.find(&row.id)).execute(conn)?;
        let (org, mode) = (&row.organization_id, &row.mode);
        counts::add(conn, org, mode, "webhooks", -1)?;
        counts::add(conn, org, mode, "event_callbacks", -(callbacks as i64))?;
        journal_change(conn, auth, &row, "destroy", None)
    })
}
