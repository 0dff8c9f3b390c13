//! Serving HTTP: migrate, then run the app on the configured address until SIGTERM/SIGINT.

use actix_web::{web, HttpServer};

use crate::config::{Settings, DEV_JWT_SECRET};
use crate::AppState;

pub fn serve(settings: Settings) -> Result<(), String> {
    if settings.jwt_secret == DEV_JWT_SECRET {
        tracing::warn!(
            "REFUNDS_JWT_SECRET is the development default: set a real secret in production"
        );
    }
    let bind = settings.bind.clone();
    let workers = settings.workers;
    let pool_size = settings.pool_size as usize;
    let shutdown = settings.shutdown_timeout_seconds;
    let state = web::Data::new(AppState::new(settings)?);
    let applied = state.migrate()?;
    tracing::info!(applied, "migrations applied");
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let mut server =
            HttpServer::new(move || crate::app(state.clone())).shutdown_timeout(shutdown);
        if workers > 0 {
            server = server.workers(workers);
        }
        // Database work runs on blocking threads, one connection each: more threads than
        // pooled connections would only sleep on the pool, so a request beyond them waits
        // as a queued task instead.
        let workers = if workers > 0 {
            workers
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        };
        server = server.worker_max_blocking_threads(pool_size.div_ceil(workers).max(1));
        let server = server
            .bind(&bind)
            .map_err(|e| format!("cannot bind {bind}: {e}"))?;
        tracing::info!(%bind, "listening");
        // actix handles SIGTERM/SIGINT: stop accepting, finish in-flight requests.
        server.run().await.map_err(|e| e.to_string())
    })
}
