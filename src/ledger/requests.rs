//! Writes as the domain receives them (`Form`) and what they did (`Saved`), and the
//! refund forms: a create against one target, a PATCH of its details.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{NewRefund, Outcome, RefundPatch, Reserved, Target};
use crate::auth::Auth;
use crate::db::DbConnection;
use crate::error::{ApiError, ApiResult, Code};
use crate::forms;
use crate::gateways::Gateways;
use crate::jsonapi::request::Input;

/// A write request: who asks, the document they sent, the `Idempotency-Key` they sent
/// with it (as sent: only writes that refund read it), where money moves, and the refunds
/// the write reserves (executed by the caller once the write has committed).
pub struct Form<'a> {
    pub auth: &'a Auth,
    pub input: &'a Input,
    pub idempotency_header: Option<&'a [u8]>,
    pub gateways: &'a Gateways,
    pub reserved: &'a Reserved,
    /// The gateway of a capture that names none.
    pub default_gateway: &'a str,
}

impl Form<'_> {
    /// The `Idempotency-Key` header, if sent: 1 to 255 visible characters.
    pub fn idempotency_key(&self) -> ApiResult<Option<String>> {
        match self.idempotency_header {
            None => Ok(None),
            // Visible ASCII, as HTTP header text is.
            Some(v) if v.iter().all(|b| *b == b'\t' || (32..127).contains(b)) => {
                match String::from_utf8_lossy(v).trim() {
                    k if !k.is_empty() && k.len() <= 255 => Ok(Some(k.to_owned())),
                    _ => Err(invalid_key()),
                }
            }
            Some(_) => Err(invalid_key()),
        }
    }
}

fn invalid_key() -> ApiError {
    ApiError::new(
        Code::ValidationError,
        "The Idempotency-Key header must be 1 to 255 visible characters",
    )
}

/// What a write did, for the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    /// A new resource with this id (`201`).
    Created(String),
    /// The resource a replayed request made before, or one changed in place (`200`).
    Existing(String),
}

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

fn idempotency_key(form: &Form) -> ApiResult<Option<String>> {
    match form.input.attributes.required_text("key")? {
        Some(key) => Ok(Some(key)),
        None => form.idempotency_key(),
    }
}

/// `POST /api/refunds`.
pub fn create(conn: &mut DbConnection, form: &Form) -> ApiResult<Saved> {
    let input = form.input;
    let a = &input.attributes;
    a.only(forms::REFUND_CREATE.names())?;
    let new = NewRefund {
        target: target(input)?,
        amount_cents: a.int("amount_cents")?,
        currency_code: crate::money::currency_code(a, "currency_code")?,
        key: idempotency_key(form)?,
        reference: a.text("reference")?.flatten(),
        reference_origin: a.text("reference_origin")?.flatten(),
        metadata: a.object("metadata")?,
        request_hash: digest(input),
    };
    Ok(
        match super::create(conn, form.auth, form.gateways, form.reserved, new)? {
            Outcome::Created(id) => Saved::Created(id),
            Outcome::Replayed(id) => Saved::Existing(id),
        },
    )
}

/// `PATCH /api/refunds/{id}`.
pub fn update(conn: &mut DbConnection, id: &str, form: &Form) -> ApiResult<Saved> {
    let input = form.input;
    input.no_relationships()?;
    let a = &input.attributes;
    a.only(forms::REFUND_UPDATE.names())?;
    let succeeded = a.bool("succeeded")?;
    let patch = RefundPatch {
        reference: a.text("reference")?,
        reference_origin: a.text("reference_origin")?,
        metadata: a.object("metadata")?,
        forward: a.bool("_forward")? == Some(true) || succeeded == Some(true),
        unforward: succeeded == Some(false),
    };
    super::update(conn, form.auth, id, patch)?;
    Ok(Saved::Existing(id.to_owned()))
}
