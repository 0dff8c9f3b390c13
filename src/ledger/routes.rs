//! `POST /api/refunds` and `PATCH /api/refunds/{id}`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{NewRefund, Outcome, RefundPatch, Target};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, Code};
use crate::jsonapi::request::{self, Input};
use crate::resources::routes::{respond_with, with_conn};
use crate::writes::{body, require_write};
use crate::AppState;

const TARGETS: [(&str, &str); 3] = [
    ("reference_capture", "captures"),
    ("authorization", "authorizations"),
    ("order", "orders"),
];

/// Exactly one of the three targets.
fn target(input: &Input) -> ApiResult<Target> {
    if let Some(name) = input
        .relationships
        .keys()
        .find(|k| !TARGETS.iter().any(|(t, _)| t == k))
    {
        return Err(ApiError::pointer(
            Code::ParamNotAllowed,
            format!("/data/relationships/{name}"),
            format!("Relationship `{name}` cannot be set on a refund"),
        ));
    }
    let mut found = Vec::new();
    for (name, type_name) in TARGETS {
        if let Some(id) = input.to_one(name, type_name)? {
            found.push(match name {
                "reference_capture" => Target::Capture(id),
                "authorization" => Target::Authorization(id),
                _ => Target::Order(id),
            });
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        _ => Err(ApiError::pointer(
            Code::ValidationError,
            "/data/relationships",
            "Exactly one of reference_capture, authorization or order is required",
        )),
    }
}

/// The request without its key: equal digests mean "the same refund request".
fn digest(input: &Input) -> String {
    let mut attributes = input.attributes.0.clone();
    attributes.remove("key");
    let canonical: Value =
        json!({ "attributes": attributes, "relationships": input.relationships });
    request_hash(&canonical.to_string())
}

/// Hex SHA-256 of a request in canonical form, stored with the refund it made.
pub(crate) fn request_hash(canonical: &str) -> String {
    Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn idempotency_key(req: &HttpRequest, input: &Input) -> ApiResult<Option<String>> {
    match input.attributes.required_text("key")? {
        Some(key) => Ok(Some(key)),
        None => idempotency_header(req),
    }
}

/// The `Idempotency-Key` header, if sent.
pub(crate) fn idempotency_header(req: &HttpRequest) -> ApiResult<Option<String>> {
    match req.headers().get("Idempotency-Key") {
        None => Ok(None),
        Some(v) => match v.to_str().map(str::trim) {
            Ok(k) if !k.is_empty() && k.len() <= 255 => Ok(Some(k.to_owned())),
            _ => Err(ApiError::new(
                Code::ValidationError,
                "The Idempotency-Key header must be 1 to 255 visible characters",
            )),
        },
    }
}

pub async fn create(
    req: HttpRequest,
    auth: Auth,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    require_write(&auth)?;
    let bytes = body(payload, &state).await?;
    let input = request::parse(&bytes, "refunds", None)?;
    let a = &input.attributes;
    a.only(&[
        "amount_cents",
        "currency_code",
        "key",
        "reference",
        "reference_origin",
        "metadata",
    ])?;
    let new = NewRefund {
        target: target(&input)?,
        amount_cents: a.int("amount_cents")?,
        currency_code: crate::money::currency_code(a, "currency_code")?,
        key: idempotency_key(&req, &input)?,
        reference: a.text("reference")?.flatten(),
        reference_origin: a.text("reference_origin")?.flatten(),
        metadata: a.object("metadata")?,
        request_hash: digest(&input),
    };
    let gateway = state.gateway.clone();
    let who = auth.clone();
    let outcome = with_conn(&state, move |conn| {
        super::create(conn, &who, gateway.as_ref(), new)
    })
    .await?;
    match outcome {
        Outcome::Created(id) => {
            respond_with(&req, &state, auth, "refunds", id, StatusCode::CREATED).await
        }
        Outcome::Replayed(id) => {
            respond_with(&req, &state, auth, "refunds", id, StatusCode::OK).await
        }
    }
}

pub async fn update(
    req: HttpRequest,
    auth: Auth,
    state: web::Data<AppState>,
    id: String,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    require_write(&auth)?;
    let bytes = body(payload, &state).await?;
    let input = request::parse(&bytes, "refunds", Some(&id))?;
    input.no_relationships()?;
    let a = &input.attributes;
    a.only(&[
        "reference",
        "reference_origin",
        "metadata",
        "succeeded",
        "_forward",
    ])?;
    let succeeded = a.bool("succeeded")?;
    let patch = RefundPatch {
        reference: a.text("reference")?,
        reference_origin: a.text("reference_origin")?,
        metadata: a.object("metadata")?,
        forward: a.bool("_forward")? == Some(true) || succeeded == Some(true),
        unforward: succeeded == Some(false),
    };
    let who = auth.clone();
    let target = id.clone();
    with_conn(&state, move |conn| {
        super::update(conn, &who, &target, patch)
    })
    .await?;
    respond_with(&req, &state, auth, "refunds", id, StatusCode::OK).await
}
