//! The HTTP layer, the only place that knows actix: the application and its shared state,
//! the route table (`routes`), the handlers of reads and writes, and the edge middleware.
//! Handlers extract, call one domain or engine function, and respond.

pub mod edge;
pub mod flow;
pub mod notifications;
pub mod openapi;
pub mod reads;
pub mod routes;
pub mod writes;

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{http::header, web, App, HttpResponse};

use crate::config::Settings;
use crate::error::{ApiError, Code};
use crate::jsonapi::negotiation;
use crate::{auth, db, gateways};

/// What every request handler shares.
pub struct AppState {
    pub pool: db::Pool,
    pub settings: Settings,
    /// Shared with the `Auth` extractor, which reads it as `web::Data<Keys>`.
    pub keys: web::Data<auth::Keys>,
    /// Where refunds are executed: the built-in `test` gateway, and Stripe when configured.
    pub gateways: std::sync::Arc<gateways::Gateways>,
    /// Request counts per client, for the rate limits.
    pub limiter: edge::ratelimit::RateLimiter,
}

impl AppState {
    /// Connects the pool and loads the token keys described by `settings`.
    pub fn new(settings: Settings) -> Result<Self, String> {
        let manager = db::Manager::new(&settings.database_url, settings.sqlite_busy_timeout_ms)?
            .with_statement_timeout(settings.request_timeout_ms)
            .with_check_idle(settings.pool_check_idle_ms)
            .with_sqlite_memory(
                settings.sqlite_cache_kib / u64::from(settings.pool_size.max(1)),
                settings.sqlite_checkpoint_ms,
            );
        let pool = db::pool(
            manager,
            settings.pool_size,
            Duration::from_millis(settings.pool_timeout_ms),
        )?;
        let pem = if settings.jwt_public_key_path.is_empty() {
            None
        } else {
            Some(
                std::fs::read(&settings.jwt_public_key_path)
                    .map_err(|e| format!("cannot read {}: {e}", settings.jwt_public_key_path))?,
            )
        };
        let keys = web::Data::new(auth::Keys::new(
            &settings.jwt_secret,
            pem.as_deref(),
            settings.jwt_leeway_seconds,
            settings.jwt_cache_size,
        )?);
        Ok(Self {
            pool,
            keys,
            gateways: std::sync::Arc::new(gateways::Gateways::from_settings(&settings)?),
            limiter: edge::ratelimit::RateLimiter::new(&settings),
            settings,
        })
    }

    /// Applies pending migrations.
    pub fn migrate(&self) -> Result<usize, String> {
        let mut conn = self.pool.get().map_err(|e| e.to_string())?;
        db::migrate(&mut conn)
    }
}

/// The application: `/health` and the `/api` scope with content negotiation.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let cors = edge::cors(&state.settings);
    App::new()
        .app_data(state.keys.clone())
        .app_data(state)
        .app_data(
            web::QueryConfig::default().error_handler(|err, _| {
                ApiError::new(Code::InvalidDataFormat, err.to_string()).into()
            }),
        )
        .configure(routes::configure)
        .default_service(web::to(not_found))
        .wrap(cors)
        .wrap(from_fn(edge::request_context))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        Code::RecordNotFound,
        "No route matches this path",
    ))
}

/// 406/415 before anything else runs, so every route negotiates the same way.
pub(crate) async fn negotiate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let header_str = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let mut check = negotiation::check_accept(header_str(header::ACCEPT));
    let has_body = matches!(req.method().as_str(), "POST" | "PATCH" | "PUT");
    if check.is_ok() && has_body {
        check = negotiation::check_content_type(header_str(header::CONTENT_TYPE));
    }
    match check {
        Err(e) => Ok(req.error_response(e).map_into_right_body()),
        Ok(()) => next.call(req).await.map(|r| r.map_into_left_body()),
    }
}
