//! Serving HTTP: migrate, then run the app on the configured address until SIGTERM/SIGINT.

use actix_web::{web, HttpServer};

use crate::config::{Settings, DEV_JWT_SECRET};
use crate::http::AppState;

pub fn serve(settings: Settings) -> Result<(), String> {
    if settings.jwt_secret == DEV_JWT_SECRET {
        tracing::warn!(
            "REFUNDS_JWT_SECRET is the development default: set a real secret in production"
        );
    }
    let bind = settings.bind.clone();
    let workers = if settings.workers > 0 {
        settings.workers
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    };
    let pool_size = settings.pool_size as usize;
    let shutdown = settings.shutdown_timeout_seconds;
    let fd_limit = raise_fd_limit();
    let per_worker = connections_per_worker(settings.max_connections, fd_limit, pool_size, workers);
    tracing::info!(
        fd_limit,
        max_connections = per_worker * workers,
        per_worker,
        "connection limit"
    );
    if settings.max_connections > per_worker * workers {
        tracing::warn!(
            configured = settings.max_connections,
            "REFUNDS_MAX_CONNECTIONS lowered to fit the open-files limit"
        );
    }
    let state = web::Data::new(AppState::new(settings)?);
    let applied = state.migrate()?;
    tracing::info!(applied, "migrations applied");
    // Webhook deliveries leave from a thread of their own, off the request path.
    let dispatcher = crate::webhooks::dispatcher::spawn(
        state.pool.clone(),
        crate::webhooks::dispatcher::Config::from_settings(&state.settings)?,
    )?;
    // Refund parts left pending are settled by a thread of their own, too.
    let reconciler = crate::ledger::reconcile::spawn(
        state.pool.clone(),
        state.gateways.clone(),
        crate::ledger::reconcile::Config::from_settings(&state.settings),
    )?;
    let system = actix_web::rt::System::new();
    let served = system.block_on(async move {
        let server = HttpServer::new(move || crate::http::app(state.clone()))
            .shutdown_timeout(shutdown)
            .workers(workers)
            .max_connections(per_worker)
            // Database work runs on blocking threads, one connection each: more threads than
            // pooled connections would only sleep on the pool, so a request beyond them waits
            // as a queued task instead.
            .worker_max_blocking_threads(pool_size.div_ceil(workers).max(1));
        let server = server
            .bind(&bind)
            .map_err(|e| format!("cannot bind {bind}: {e}"))?;
        tracing::info!(%bind, "listening");
        // actix handles SIGTERM/SIGINT: stop accepting, finish in-flight requests.
        server.run().await.map_err(|e| e.to_string())
    });
    dispatcher.stop();
    reconciler.stop();
    served
}

/// Descriptors kept free of connections: listener, epoll and wakers, logs, migrations.
const SPARE_FDS: u64 = 64;
/// Per pooled connection: a PostgreSQL socket, or SQLite's database, WAL and shm files.
const FDS_PER_POOLED: u64 = 3;
/// actix's own default per worker, kept as the ceiling of a derived limit.
const DEFAULT_PER_WORKER: usize = 25_000;

/// Connections each worker serves: `configured` (0: as many as fit) split over `workers`,
/// never more than `fd_limit` leaves once the pool and the process's own files are counted.
/// At the limit `accept` fails and stalls every new client, so stop short of it.
pub fn connections_per_worker(
    configured: usize,
    fd_limit: u64,
    pool_size: usize,
    workers: usize,
) -> usize {
    let workers = workers.max(1);
    let reserved = SPARE_FDS + FDS_PER_POOLED * pool_size as u64 + 2 * workers as u64;
    let fit = usize::try_from(fd_limit.saturating_sub(reserved) / workers as u64)
        .unwrap_or(usize::MAX)
        .min(DEFAULT_PER_WORKER);
    let wanted = match configured {
        0 => fit,
        n => n.div_ceil(workers).min(fit),
    };
    wanted.max(1)
}

/// Raises the soft open-files limit to the hard one; returns the soft limit in force.
#[cfg(unix)]
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return u64::MAX;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        } else {
            tracing::warn!(
                soft = lim.rlim_cur,
                hard = lim.rlim_max,
                "cannot raise the open-files limit"
            );
        }
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not on every unix
    let soft = lim.rlim_cur as u64;
    soft
}

#[cfg(not(unix))]
pub fn raise_fd_limit() -> u64 {
    u64::MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_connections_stay_below_the_fd_limit() {
        // 1024 descriptors, pool of 10, 2 workers: 1024 - 64 - 30 - 4 = 926, 463 each.
        assert_eq!(connections_per_worker(0, 1024, 10, 2), 463);
        let per_worker = connections_per_worker(0, 4096, 32, 4);
        assert!(per_worker * 4 + 64 + 3 * 32 <= 4096);
    }

    #[test]
    fn configured_connections_are_split_and_capped() {
        assert_eq!(connections_per_worker(100, 1 << 20, 10, 4), 25);
        assert_eq!(connections_per_worker(3, 1 << 20, 10, 2), 2);
        // More than fits is lowered to what fits.
        assert_eq!(connections_per_worker(10_000, 1024, 10, 2), 463);
    }

    #[test]
    fn extreme_limits_stay_sane() {
        // No limit at all: actix's default per worker.
        assert_eq!(
            connections_per_worker(0, u64::MAX, 10, 2),
            DEFAULT_PER_WORKER
        );
        // Too few descriptors for anything: still one connection each.
        assert_eq!(connections_per_worker(0, 16, 10, 2), 1);
        assert_eq!(connections_per_worker(0, 1024, 10, 0), 1024 - 64 - 30 - 2);
    }

    #[test]
    fn raising_the_limit_keeps_it_at_most_the_hard_one() {
        let soft = raise_fd_limit();
        assert!(soft >= 1);
        assert_eq!(raise_fd_limit(), soft, "raising twice changes nothing");
    }
}
