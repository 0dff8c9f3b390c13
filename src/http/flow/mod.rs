//! The Flow-compatible refunds API under `/flow/{organization}/refunds`: Flow's plain JSON
//! shapes, authentication and status codes over the same ledger and engine reads as `/api`.
//! Nothing here decides about money: a create is `ledger::create`, a read is the engine's.

pub mod models;
pub mod params;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::json;

use super::reads::with_conn;
use super::writes::{body, execute_refunds, require_write};
use super::AppState;
use crate::auth::Auth;
use crate::engine::{field_in, ListQuery};
use crate::error::{ApiError, ApiResult, Code, Source};
use crate::jsonapi::filter::Condition;
use crate::ledger::{self, Outcome, Reserved};
use models::{attributes, registered, version_type, Related};
use params::{ids_of_keys, Form, Query};

/// Sort terms of the refund list: Flow's name and the attribute it sorts by.
const REFUND_SORTS: &[(&str, &str)] = &[
    ("id", "id"),
    ("key", "key"),
    ("created_at", "created_at"),
    ("amount", "amount_cents"),
];
const VERSION_SORTS: &[(&str, &str)] = &[("journal_timestamp", "created_at"), ("id", "id")];

/// An answer in Flow's terms: empty `401`/`404`/`405`, `generic_error` bodies otherwise.
#[derive(Debug)]
pub struct FlowError(ApiError);

impl From<ApiError> for FlowError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl std::fmt::Display for FlowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The Flow field a `/api` error is about (`amount_cents` is Flow's `amount`, ...).
fn flow_field(e: &ApiError) -> Option<&'static str> {
    let at = match &e.location {
        Some(Source::Pointer(p) | Source::Parameter(p)) => p.as_str(),
        None => return None,
    };
    [
        ("amount_cents", "amount"),
        ("currency_code", "currency"),
        ("/key", "key"),
        ("reference_capture", "capture_id"),
        ("authorization", "authorization_id"),
        ("order", "order_number"),
        ("/data/relationships", "capture_id"),
    ]
    .into_iter()
    .find(|(api, _)| at.contains(api))
    .map(|(_, flow)| flow)
}

/// What is wrong, in Flow's field names, naming the field.
fn message(e: &ApiError) -> String {
    let detail = e
        .detail
        .replace("`amount_cents`", "`amount`")
        .replace("`currency_code`", "`currency`");
    match flow_field(e) {
        Some(field) if !detail.contains(field) => format!("{field}: {detail}"),
        _ => detail,
    }
}

impl ResponseError for FlowError {
    fn status_code(&self) -> StatusCode {
        match self.0.code {
            Code::Unauthorized | Code::InvalidToken => StatusCode::UNAUTHORIZED,
            Code::RecordNotFound => StatusCode::NOT_FOUND,
            Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Code::UnsupportedMediaType
            | Code::PayloadTooLarge
            | Code::RequestTimeout
            | Code::TooManyRequests
            | Code::InternalServerError
            | Code::ServiceUnavailable => self.0.status(),
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if matches!(status.as_u16(), 401 | 404 | 405) {
            return HttpResponse::build(status).finish();
        }
        let mut body = json!({"code": "generic_error", "messages": [message(&self.0)]});
        if self.0.code == Code::InsufficientFunds {
            body["decline_code"] = json!("insufficient_funds");
        }
        let mut resp = HttpResponse::build(status);
        if let Some(after) = self
            .0
            .meta
            .as_ref()
            .and_then(|m| m.get("retry_after"))
            .and_then(|v| v.as_u64())
        {
            resp.insert_header((header::RETRY_AFTER, after.to_string()));
        }
        resp.content_type("application/json").body(body.to_string())
    }
}

type FlowResult = Result<HttpResponse, FlowError>;

fn ok<T: Serialize>(status: StatusCode, value: &T) -> FlowResult {
    let body = serde_json::to_vec(value).map_err(|e| ApiError::internal("flow", e))?;
    Ok(HttpResponse::build(status)
        .content_type("application/json")
        .body(body))
}

pub async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed().finish()
}

/// The request's token (Bearer, or Basic with the token as user name), verified as `/api`
/// verifies it, of the organization in the path.
fn authenticate(req: &HttpRequest, state: &AppState, organization: &str) -> ApiResult<Auth> {
    let unauthorized = || ApiError::new(Code::Unauthorized, "unauthorized");
    let token = crate::auth::bearer_or_basic_token(req.headers()).ok_or_else(unauthorized)?;
    let auth = state.keys.authenticate(&token)?;
    if auth.claims.organization.slug != organization
        || auth.scope.organization_id != crate::ids::organization_id(organization)
    {
        return Err(unauthorized());
    }
    Ok(auth)
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// `GET /flow/{org}/refunds`.
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> FlowResult {
    let auth = authenticate(&req, &state, &path)?;
    let query = Query::parse(req.query_string())?;
    let kind = registered("refunds")?;
    let def = kind.def();
    let sort = query.sort(def, REFUND_SORTS, "-created_at")?;
    let page = query.page()?;
    let refunds = with_conn(&state, move |conn| {
        let mut filters: Vec<Condition> = Vec::new();
        for (param, field) in [
            ("id", "id"),
            ("key", "key"),
            ("authorization_id", "authorization_id"),
            ("capture_id", "capture_id"),
        ] {
            if let Some(values) = query.values(param)? {
                filters.push(field_in(def, field, values));
            }
        }
        for (param, type_name, field) in [
            ("authorization_key", "authorizations", "authorization_id"),
            ("capture_key", "captures", "capture_id"),
        ] {
            if let Some(keys) = query.values(param)? {
                let ids = ids_of_keys(conn, &auth, type_name, keys)?;
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                filters.push(field_in(def, field, ids));
            }
        }
        let (records, _) = kind.list(
            conn,
            &ListQuery {
                scope: &auth.scope,
                filters: &filters,
                sort: &sort,
                page: Some(page),
                count: false,
            },
        )?;
        models::refunds(conn, &auth.scope, &records)
    })
    .await?;
    ok(StatusCode::OK, &refunds)
}

/// `GET /flow/{org}/refunds/{key}`.
pub async fn by_key(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> FlowResult {
    let (organization, key) = path.into_inner();
    let auth = authenticate(&req, &state, &organization)?;
    if key.contains('\0') {
        return Err(ApiError::not_found("refunds").into());
    }
    let refund = with_conn(&state, move |conn| {
        let records = registered("refunds")?.find_by(conn, &auth.scope, "key", vec![key])?;
        models::refund(conn, &auth.scope, &records)
    })
    .await?;
    ok(StatusCode::OK, &refund)
}

/// `POST /flow/{org}/refunds`: `201` with the refund, a new one or the one stored under
/// the same key for the same form.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> FlowResult {
    let auth = authenticate(&req, &state, &path)?;
    require_write(&auth)?;
    if !is_json(&req) {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            "content-type must be application/json",
        )
        .into());
    }
    let bytes = body(payload, &state).await?;
    let form = Form::parse(&bytes)?;
    let gateways = state.gateways.clone();
    let who = auth.clone();
    let (id, reserved) = with_conn(&state, move |conn| {
        let new = form.new_refund(conn, &who)?;
        let reserved = Reserved::default();
        let id = match ledger::create(conn, &who, &gateways, &reserved, new)? {
            Outcome::Created(id) | Outcome::Replayed(id) => id,
        };
        Ok((id, reserved.into_ids()))
    })
    .await?;
    execute_refunds(&state, &auth, reserved).await;
    let refund = with_conn(&state, move |conn| {
        let records = registered("refunds")?.find(conn, &auth.scope, vec![id])?;
        models::refund(conn, &auth.scope, &records)
    })
    .await?;
    ok(StatusCode::CREATED, &refund)
}

/// `GET /flow/{org}/refunds/summary/{order_number}`.
pub async fn summary(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> FlowResult {
    let (organization, number) = path.into_inner();
    let auth = authenticate(&req, &state, &organization)?;
    if number.contains('\0') {
        return Err(ApiError::not_found("refund_summaries").into());
    }
    let summary = with_conn(&state, move |conn| {
        registered("refund_summaries")?
            .find(conn, &auth.scope, vec![number])?
            .first()
            .map(models::summary)
            .ok_or_else(|| ApiError::not_found("refund_summaries"))
    })
    .await?;
    ok(StatusCode::OK, &summary)
}

/// `GET /flow/{org}/refunds/versions`: the journal of refunds, each with the refund as it
/// was right after the change.
pub async fn versions(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> FlowResult {
    let auth = authenticate(&req, &state, &path)?;
    let query = Query::parse(req.query_string())?;
    let kind = registered("versions")?;
    let def = kind.def();
    let sort = query.sort(def, VERSION_SORTS, "journal_timestamp")?;
    let page = query.page()?;
    let out = with_conn(&state, move |conn| {
        let mut filters = vec![field_in(def, "resource_type", vec!["refunds".into()])];
        for (param, field) in [("id", "id"), ("refund_id", "resource_id")] {
            if let Some(values) = query.values(param)? {
                filters.push(field_in(def, field, values));
            }
        }
        let (records, _) = kind.list(
            conn,
            &ListQuery {
                scope: &auth.scope,
                filters: &filters,
                sort: &sort,
                page: Some(page),
                count: false,
            },
        )?;
        let refund_ids = records
            .iter()
            .filter_map(|v| v.attributes.get("resource_id")?.as_str().map(str::to_owned))
            .collect();
        let refunds = registered("refunds")?.find(conn, &auth.scope, refund_ids)?;
        let related = Related::load(conn, &auth.scope, &refunds)?;
        Ok(records
            .iter()
            .filter_map(|v| {
                let a = attributes(v);
                let id = a.get("resource_id")?.as_str()?;
                let refund = refunds.iter().find(|r| r.id == id)?;
                let snapshot = match a.get("snapshot") {
                    Some(serde_json::Value::Object(s)) => s.clone(),
                    _ => attributes(refund),
                };
                Some(models::Version {
                    id: v.id.clone(),
                    timestamp: a.get("created_at").cloned().unwrap_or_default(),
                    kind: version_type(a.get("event")?.as_str()?),
                    refund: related.refund(refund, &snapshot),
                })
            })
            .collect::<Vec<_>>())
    })
    .await?;
    ok(StatusCode::OK, &out)
}
