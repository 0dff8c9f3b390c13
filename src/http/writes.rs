//! Write requests: which resource types take which writes (`TABLE`), and the one way every
//! write is handled: permission, the body (bounded in size and time), the request
//! document, one domain function on a pooled connection, the answer.

use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;

use actix_web::{web, HttpRequest, HttpResponse};

use actix_web::http::StatusCode;

use super::reads::{method_not_allowed, respond_with, with_conn};
use super::AppState;
use crate::auth::Auth;
use crate::db::DbConnection;
use crate::error::{ApiError, ApiResult, Code};
use crate::jsonapi::request;
use crate::ledger::{self, Form, Reserved, Saved};
use crate::{forms, payments};

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

type Create = fn(&mut DbConnection, &Form) -> ApiResult<Saved>;
type Change = fn(&mut DbConnection, &str, &Form) -> ApiResult<Saved>;
type Remove = fn(&mut DbConnection, &str, &Auth) -> ApiResult<()>;

/// One write: the body it accepts (for the document) and the domain function that runs it.
pub struct Op<F> {
    pub form: &'static forms::Form,
    pub run: F,
}

/// The writes of one resource type; `None` answers 405.
pub struct Writes {
    pub type_name: &'static str,
    pub create: Option<Op<Create>>,
    pub update: Option<Op<Change>>,
    pub destroy: Option<Remove>,
}

/// Every write of the API. Refunds are never deleted: money that moved stays on record.
pub static TABLE: &[Writes] = &[
    Writes {
        type_name: "refunds",
        create: Some(Op {
            form: &forms::REFUND_CREATE,
            run: ledger::requests::create,
        }),
        update: Some(Op {
            form: &forms::REFUND_UPDATE,
            run: ledger::requests::update,
        }),
        destroy: None,
    },
    Writes {
        type_name: "orders",
        create: Some(Op {
            form: &forms::ORDER_CREATE,
            run: payments::orders::create,
        }),
        update: Some(Op {
            form: &forms::ORDER_UPDATE,
            run: payments::orders::update,
        }),
        destroy: None,
    },
    Writes {
        type_name: "authorizations",
        create: Some(Op {
            form: &forms::AUTHORIZATION_CREATE,
            run: payments::authorizations::create,
        }),
        update: Some(Op {
            form: &forms::AUTHORIZATION_UPDATE,
            run: payments::authorizations::update,
        }),
        destroy: None,
    },
    Writes {
        type_name: "captures",
        create: Some(Op {
            form: &forms::CAPTURE_CREATE,
            run: payments::captures::create,
        }),
        update: Some(Op {
            form: &forms::CAPTURE_UPDATE,
            run: payments::captures::update,
        }),
        destroy: None,
    },
    Writes {
        type_name: "attachments",
        create: Some(Op {
            form: &forms::ATTACHMENT_CREATE,
            run: payments::attachments::create,
        }),
        update: Some(Op {
            form: &forms::ATTACHMENT_UPDATE,
            run: payments::attachments::update,
        }),
        destroy: Some(payments::attachments::destroy),
    },
    Writes {
        type_name: "webhooks",
        create: Some(Op {
            form: &forms::WEBHOOK_CREATE,
            run: payments::webhooks::create,
        }),
        update: Some(Op {
            form: &forms::WEBHOOK_UPDATE,
            run: payments::webhooks::update,
        }),
        destroy: Some(payments::webhooks::destroy),
    },
];

/// The writes of `type_name`, if it takes any.
pub fn writes_of(type_name: &str) -> Option<&'static Writes> {
    TABLE.iter().find(|w| w.type_name == type_name)
}

/// `POST /api/{type}`.
pub async fn create(
    req: HttpRequest,
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let type_name = path.into_inner();
    let Some(run) = writes_of(&type_name)
        .and_then(|w| w.create.as_ref())
        .map(|o| o.run)
    else {
        return method_not_allowed(req).await;
    };
    write(req, auth, state, payload, type_name, None, run).await
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
    let Some(run) = writes_of(&type_name)
        .and_then(|w| w.update.as_ref())
        .map(|o| o.run)
    else {
        return method_not_allowed(req).await;
    };
    let target = id.clone();
    let work = move |conn: &mut DbConnection, form: &Form| run(conn, &target, form);
    write(req, auth, state, payload, type_name, Some(id), work).await
}

/// `DELETE /api/{type}/{id}`: `204 No Content`.
pub async fn destroy(
    req: HttpRequest,
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (type_name, id) = path.into_inner();
    let Some(run) = writes_of(&type_name).and_then(|w| w.destroy) else {
        return method_not_allowed(req).await;
    };
    require_write(&auth)?;
    with_conn(&state, move |conn| run(conn, &id, &auth)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// What every POST and PATCH does around its domain function.
async fn write(
    req: HttpRequest,
    auth: Auth,
    state: web::Data<AppState>,
    payload: web::Payload,
    type_name: String,
    url_id: Option<String>,
    run: impl FnOnce(&mut DbConnection, &Form) -> ApiResult<Saved> + Send + 'static,
) -> ApiResult<HttpResponse> {
    require_write(&auth)?;
    let bytes = body(payload, &state).await?;
    let input = request::parse(&bytes, &type_name, url_id.as_deref())?;
    let header = req
        .headers()
        .get("Idempotency-Key")
        .map(|v| v.as_bytes().to_vec());
    let gateways = state.gateways.clone();
    let default_gateway = state.settings.default_gateway.clone();
    let who = auth.clone();
    let (saved, reserved) = with_conn(&state, move |conn| {
        let reserved = Reserved::default();
        let form = Form {
            auth: &who,
            input: &input,
            idempotency_header: header.as_deref(),
            gateways: &gateways,
            reserved: &reserved,
            default_gateway: &default_gateway,
        };
        let saved = run(conn, &form)?;
        Ok((saved, reserved.into_ids()))
    })
    .await?;
    execute_refunds(&state, &auth, reserved).await;
    let (id, status) = match saved {
        Saved::Created(id) => (id, StatusCode::CREATED),
        Saved::Existing(id) => (id, StatusCode::OK),
    };
    respond_with(&req, &state, auth, &type_name, id, status).await
}

/// Steps 2 and 3 of the refunds a committed write reserved, waited for up to the gateway
/// time-out. They run on a thread of their own: the blocking pool's threads each stand for
/// a database connection, and a PSP call holds none. A failure here leaves the refund
/// `pending` for the reconciler; the request still answers with the refund as it stands.
pub async fn execute_refunds(state: &AppState, auth: &Auth, refunds: Vec<String>) {
    if refunds.is_empty() {
        return;
    }
    let (pool, gateways) = (state.pool.clone(), state.gateways.clone());
    let who = crate::journal::who(auth);
    let deadline =
        std::time::Instant::now() + Duration::from_millis(state.settings.gateway_timeout_ms);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("refund".into())
        .spawn(move || {
            let _ = tx.send(ledger::settle::execute(
                &pool, &gateways, &refunds, &who, deadline,
            ));
        });
    let result = match spawned {
        Ok(_) => rx
            .await
            .unwrap_or_else(|_| Err(ApiError::internal("refund", "the gateway thread stopped"))),
        Err(e) => Err(ApiError::internal("refund", e.to_string())),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "refund left pending for reconciliation");
    }
}
