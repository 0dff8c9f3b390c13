//! Reconciliation: nothing stays `pending` by accident. Parts pending for longer than
//! `reconcile_after_ms` are taken (PostgreSQL `FOR UPDATE SKIP LOCKED`, so instances never
//! take the same part), looked up at their gateway, called again only if the PSP made no
//! refund for them, and settled. The lease is committed before any PSP call.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;

use super::settle;
use super::status;
use crate::config::Settings;
use crate::db::schema::refund_captures;
use crate::db::{DbConnection, Pool};
use crate::error::ApiResult;
use crate::gateways::{Gateways, Outcome};
use crate::journal;
use crate::worker::Worker;

/// How the reconciler runs.
#[derive(Debug, Clone)]
pub struct Config {
    pub interval: Duration,
    /// Parts younger than this, or taken less than this long ago, are left alone.
    pub after: Duration,
    pub batch: i64,
    /// Each PSP call's time-out.
    pub timeout: Duration,
}

impl Config {
    pub fn from_settings(s: &Settings) -> Self {
        Self {
            interval: Duration::from_millis(s.reconcile_interval_ms),
            after: Duration::from_millis(s.reconcile_after_ms),
            batch: i64::from(s.reconcile_batch.max(1)),
            timeout: Duration::from_millis(s.gateway_timeout_ms),
        }
    }
}

/// Takes up to `batch` parts due for a look-up and stamps them, in one short transaction.
pub fn claim(conn: &mut DbConnection, cfg: &Config) -> ApiResult<Vec<String>> {
    let now = crate::clock::now();
    let cutoff = now - chrono::Duration::from_std(cfg.after).unwrap_or_default();
    let due = refund_captures::status.eq(status::PENDING).and(
        refund_captures::checked_at
            .is_null()
            .and(refund_captures::created_at.lt(cutoff))
            .or(refund_captures::checked_at.lt(cutoff)),
    );
    crate::db::write_transaction(conn, |conn| -> ApiResult<Vec<String>> {
        let ids: Vec<String> = match conn {
            DbConnection::Postgresql(pg) => refund_captures::table
                .filter(due)
                .order(refund_captures::created_at.asc())
                .limit(cfg.batch)
                .select(refund_captures::id)
                .for_update()
                .skip_locked()
                .load(pg)?,
            // SQLite: the transaction holds the database write lock already.
            DbConnection::Sqlite(_) => refund_captures::table
                .filter(due)
                .order(refund_captures::created_at.asc())
                .limit(cfg.batch)
                .select(refund_captures::id)
                .load(conn)?,
        };
        diesel::update(refund_captures::table.filter(refund_captures::id.eq_any(&ids)))
            .set(refund_captures::checked_at.eq(now))
            .execute(conn)?;
        Ok(ids)
    })
}

/// One pass: what was looked up, as `(part id, status after the pass)`.
pub fn run_once(
    pool: &Pool,
    gateways: &Gateways,
    cfg: &Config,
) -> ApiResult<Vec<(String, String)>> {
    let due = {
        let mut conn = pool.get()?;
        let ids = claim(&mut conn, cfg)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        settle::due(&mut conn, &ids)?
    };
    let mut settled = Vec::with_capacity(due.len());
    for d in &due {
        let Some(gateway) = gateways.get(&d.part.gateway) else {
            tracing::warn!(part = %d.part.id, gateway = %d.part.gateway, "gateway not configured");
            continue;
        };
        let part = d.as_part();
        // Look first: a process killed after the PSP refunded and before it settled must
        // not refund twice, even at a PSP that ignores idempotency keys.
        let outcome = match gateway.find(&part, cfg.timeout) {
            Ok(Some(found)) => found,
            Ok(None) => gateway.refund(&part, cfg.timeout),
            Err(reason) => Outcome::Pending {
                psp_refund_id: None,
                reason,
            },
        };
        settled.push(d.settled(outcome));
    }
    let mut conn = pool.get()?;
    settle::settle(&mut conn, &settled, &journal::system("reconciler"))?;
    let report = settled
        .iter()
        .map(|s| {
            let state = match &s.outcome {
                Outcome::Succeeded { .. } => status::SUCCEEDED,
                Outcome::Failed { .. } => status::FAILED,
                Outcome::Pending { .. } => status::PENDING,
            };
            (s.part_id.clone(), state.to_owned())
        })
        .collect();
    crate::telemetry::metrics::parts_reconciled(settled.len());
    Ok(report)
}

/// Starts the reconciler of `refunds serve`: a pass at start-up, then one every `interval`.
pub fn spawn(pool: Pool, gateways: Arc<Gateways>, cfg: Config) -> Result<Worker, String> {
    let pause = cfg.interval;
    Worker::spawn("reconciler", pause, move || {
        match run_once(&pool, &gateways, &cfg) {
            Ok(done) if !done.is_empty() => {
                tracing::info!(parts = done.len(), "reconciled refund parts");
                // A full batch may have left more behind.
                done.len() as i64 >= cfg.batch
            }
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(error = %e, "reconciliation pass failed");
                false
            }
        }
    })
}
