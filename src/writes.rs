//! Write requests: the body limit, write permission, and which resource handles a
//! POST, PATCH or DELETE (the rest answer 405).

use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, Code};
use crate::resources::routes::method_not_allowed;
use crate::AppState;

/// The request body, at most `max_body_bytes` long (`413` beyond), received within
/// `body_read_timeout_ms` (`408` after, and the connection closed).
pub async fn body(mut payload: web::Payload, state: &AppState) -> ApiResult<web::Bytes> {
    let limit = state.settings.max_body_bytes;
    let ms = state.settings.body_read_timeout_ms;
    if ms == 0 {
        return read_body(&mut payload, limit).await;
    }
    let within = Duration::from_millis(ms);
    match actix_web::rt::time::timeout(within, read_body(&mut payload, limit)).await {
        Ok(read) => read,
        Err(_) => {
            // Held past the answer: actix closes a connection whose body is still unread,
            // but would drain a dropped chunked body first, which may never end.
            actix_web::rt::spawn(async move {
                actix_web::rt::time::sleep(Duration::from_secs(5)).await;
                drop(payload);
            });
            Err(ApiError::new(
                Code::RequestTimeout,
                format!("The request body was not received within {ms} ms"),
            ))
        }
    }
}

async fn read_body(payload: &mut web::Payload, limit: usize) -> ApiResult<web::Bytes> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = std::future::poll_fn(|cx| Pin::new(&mut *payload).poll_next(cx)).await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                Code::InvalidDataFormat,
                format!("The body could not be read: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(
                Code::PayloadTooLarge,
                format!("Request bodies are limited to {limit} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Writes need an admin integration or webapp token (`401` otherwise, as the contract says).
pub fn require_write(auth: &Auth) -> ApiResult<()> {
    if auth.can_write() {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::Unauthorized,
            "This token may only read",
        ))
    }
}

/// `POST /api/{type}`.
pub async fn create(
    req: HttpRequest,
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    match path.as_str() {
        "refunds" => crate::ledger::routes::create(req, auth, state, payload).await,
        "orders" => crate::payments::orders::create(req, auth, state, payload).await,
        "authorizations" => {
            crate::payments::authorizations::create(req, auth, state, payload).await
        }
        "captures" => crate::payments::captures::create(req, auth, state, payload).await,
        "attachments" => crate::resources::attachments::create(req, auth, state, payload).await,
        _ => method_not_allowed(req).await,
    }
}

/// `PATCH /api/{type}/{id}`.
pub async fn update(
    req: HttpRequest,
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let (type_name, id) = path.into_inner();
    match type_name.as_str() {
        "refunds" => crate::ledger::routes::update(req, auth, state, id, payload).await,
        "orders" => crate::payments::orders::update(req, auth, state, id, payload).await,
        "authorizations" => {
            crate::payments::authorizations::update(req, auth, state, id, payload).await
        }
        "captures" => crate::payments::captures::update(req, auth, state, id, payload).await,
        "attachments" => crate::resources::attachments::update(req, auth, state, id, payload).await,
        _ => method_not_allowed(req).await,
    }
}

/// `DELETE /api/{type}/{id}`: money that moved stays on record, so refunds answer 405.
pub async fn destroy(
    req: HttpRequest,
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (type_name, id) = path.into_inner();
    match type_name.as_str() {
        "attachments" => crate::resources::attachments::destroy(auth, state, id).await,
        _ => method_not_allowed(req).await,
    }
}
