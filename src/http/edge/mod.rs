//! The edge of the service: request ids and logs, metrics, rate limits, timeouts, CORS,
//! and the operational endpoints (`/health`, `/ready`, `/metrics`).

pub mod ratelimit;

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use serde_json::json;
use tracing::Instrument;

use crate::error::{ApiError, Code};
use crate::http::AppState;
use crate::jsonapi::MEDIA_TYPE;
use crate::telemetry::metrics;
use ratelimit::Class;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A request id from the client when it is a sane token, else a new one.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(crate::ids::new_id)
}

/// Gives each request an id (echoed as `X-Request-Id`), a log span and a log line, and
/// counts it. Headers are never logged, so tokens stay out of the logs.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = request_id(&req);
    let method = req.method().to_string();
    let span =
        tracing::info_span!("request", request_id = %id, method = %method, path = %req.path());
    let started = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    let route = route_label(res.request());
    metrics::observe_request(&route, &method, status, elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(status, route = %route, elapsed_ms = elapsed.as_secs_f64() * 1000.0, "answered")
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    Ok(res)
}

/// `400` for a NUL character (`%00`) in an `/api` path: no id or key holds one, and
/// PostgreSQL refuses it in any text it is compared with.
pub async fn reject_nul_in_path(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let segments: Vec<&str> = req.path().split('/').skip(2).collect();
    let Some(at) = segments.iter().position(|s| s.contains("%00")) else {
        return next.call(req).await.map(|r| r.map_into_left_body());
    };
    let name = match (at, segments.get(1)) {
        (0, _) => "type",
        (1, _) => "id",
        (2, Some(&"by_key")) => "key",
        _ => "relationship",
    };
    let e = ApiError::param(
        Code::InvalidDataFormat,
        name,
        format!("The `{name}` in the path holds a NUL character"),
    );
    Ok(req.error_response(e).map_into_right_body())
}

/// The matched route with a known `{type}` filled in: few, stable label values.
fn route_label(req: &actix_web::HttpRequest) -> String {
    let Some(pattern) = req.match_pattern() else {
        return "unmatched".into();
    };
    match req.match_info().get("type") {
        Some(t) if crate::resources::lookup(t).is_some() => pattern.replace("{type}", t),
        _ => pattern,
    }
}

/// The rate-limit client: the bearer token (hashed, never kept) or the peer address, and
/// whether the token is in test mode: remembered from its verification, else read without
/// verifying (only the limits depend on it; decoding took a sixth of a retrieve's work).
fn client_of(req: &ServiceRequest, keys: &crate::auth::Keys) -> (String, bool) {
    use std::hash::{Hash, Hasher};
    match crate::auth::bearer_token(req.headers()) {
        Some(token) => {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            token.hash(&mut h);
            let test = keys.remembered_test_mode(token).unwrap_or_else(|| {
                jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(token)
                    .ok()
                    .and_then(|d| d.claims.get("test").and_then(serde_json::Value::as_bool))
                    .unwrap_or(false)
            });
            (format!("token:{:x}", h.finish()), test)
        }
        None => {
            let ip = req
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default();
            (format!("ip:{ip}"), false)
        }
    }
}

/// Applies the rate limits and sets `X-Ratelimit-*` on every answer; `429` over the limit.
pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await.map(|r| r.map_into_left_body());
    };
    if !state.settings.rate_limit_enabled {
        return next.call(req).await.map(|r| r.map_into_left_body());
    }
    let class = if matches!(req.method().as_str(), "GET" | "HEAD") {
        Class::Read
    } else {
        Class::Write
    };
    let (client, test_mode) = client_of(&req, &state.keys);
    let verdict = state
        .limiter
        .check(&client, class, test_mode, Instant::now());
    let mut res = if verdict.allowed {
        next.call(req).await?.map_into_left_body()
    } else {
        let secs = verdict.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        let mut e = ApiError::new(
            Code::TooManyRequests,
            format!(
                "Rate limit of {} requests per {} s exceeded; retry in {secs} s",
                verdict.window.limit,
                verdict.window.interval.as_secs()
            ),
        );
        e.meta = Some(serde_json::Map::from_iter([(
            "retry_after".to_owned(),
            json!(secs),
        )]));
        let mut res = req.error_response(e);
        res.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            HeaderValue::from(secs),
        );
        res.map_into_right_body()
    };
    let headers = res.headers_mut();
    headers.insert(
        HeaderName::from_static("x-ratelimit-limit"),
        HeaderValue::from(verdict.window.limit),
    );
    headers.insert(
        HeaderName::from_static("x-ratelimit-interval"),
        HeaderValue::from(verdict.window.interval.as_secs()),
    );
    headers.insert(
        HeaderName::from_static("x-ratelimit-remaining"),
        HeaderValue::from(verdict.remaining),
    );
    Ok(res)
}

/// CORS for the configured storefront origins, exposing the rate-limit headers.
pub fn cors(settings: &crate::config::Settings) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "DELETE", "OPTIONS"])
        .allowed_headers([
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::CONTENT_TYPE,
            actix_web::http::header::ACCEPT,
            HeaderName::from_static("idempotency-key"),
            REQUEST_ID,
        ])
        .expose_headers([
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderName::from_static("x-ratelimit-interval"),
            HeaderName::from_static("x-ratelimit-remaining"),
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::LOCATION,
            REQUEST_ID,
        ])
        .max_age(600);
    for origin in settings
        .cors_allowed_origins
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// `GET /health`: the process is up.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(MEDIA_TYPE)
        .json(json!({ "meta": { "status": "ok" } }))
}

/// `GET /ready`: the database answers and every migration is applied; `503` otherwise.
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let migrated = crate::http::reads::with_conn(&state, |conn| {
        crate::db::is_migrated(conn).map_err(ApiError::unavailable)
    })
    .await?;
    if !migrated {
        return Err(ApiError::new(
            Code::ServiceUnavailable,
            "Database migrations are pending",
        ));
    }
    Ok(HttpResponse::Ok()
        .content_type(MEDIA_TYPE)
        .json(json!({ "meta": { "status": "ready", "database": "ok", "migrations": "current" } })))
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics::render(&state.pool))
}
