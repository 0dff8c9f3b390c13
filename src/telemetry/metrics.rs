//! Prometheus metrics: requests by route and status, latency, the pool, refunds created,
//! webhook attempts and the outbox.

use std::sync::LazyLock;

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
    refunds: IntCounterVec,
    reconciled: IntCounter,
    webhook_attempts: IntCounterVec,
    webhook_deliveries: IntGaugeVec,
    webhook_oldest: Gauge,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new();
    let requests = IntCounterVec::new(
        Opts::new(
            "refunds_http_requests_total",
            "HTTP requests by route, method and status",
        ),
        &["route", "method", "status"],
    )
    .expect("metric definition");
    let latency = HistogramVec::new(
        HistogramOpts::new(
            "refunds_http_request_duration_seconds",
            "HTTP request latency by route and method",
        )
        .buckets(vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]),
        &["route", "method"],
    )
    .expect("metric definition");
    let pool = IntGaugeVec::new(
        Opts::new(
            "refunds_db_pool_connections",
            "Database connections of this process by state",
        ),
        &["state"],
    )
    .expect("metric definition");
    let refunds = IntCounterVec::new(
        Opts::new(
            "refunds_settled_total",
            "Refunds that reached a final status, by status (succeeded, partially_succeeded, failed)",
        ),
        &["status"],
    )
    .expect("metric definition");
    let reconciled = IntCounter::new(
        "refunds_reconciled_parts_total",
        "Refund parts the reconciler looked up at their gateway",
    )
    .expect("metric definition");
    let webhook_attempts = IntCounterVec::new(
        Opts::new(
            "refunds_webhook_attempts_total",
            "Webhook calls made by this process, by outcome (sent: a 2xx answer)",
        ),
        &["outcome"],
    )
    .expect("metric definition");
    let webhook_deliveries = IntGaugeVec::new(
        Opts::new(
            "refunds_webhook_deliveries",
            "Webhook deliveries in the outbox by status (pending, failed), as of the dispatcher's last round",
        ),
        &["status"],
    )
    .expect("metric definition");
    let webhook_oldest = Gauge::new(
        "refunds_webhook_oldest_pending_seconds",
        "Age of the oldest pending webhook delivery (0: none), as of the dispatcher's last round",
    )
    .expect("metric definition");
    for m in [
        Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(latency.clone()),
        Box::new(pool.clone()),
        Box::new(refunds.clone()),
        Box::new(reconciled.clone()),
        Box::new(webhook_attempts.clone()),
        Box::new(webhook_deliveries.clone()),
        Box::new(webhook_oldest.clone()),
    ] {
        registry.register(m).expect("unique metric names");
    }
    Metrics {
        registry,
        requests,
        latency,
        pool,
        refunds,
        reconciled,
        webhook_attempts,
        webhook_deliveries,
        webhook_oldest,
    }
});

/// Counts one webhook call: `sent` (a 2xx answer) or `failed`.
pub fn webhook_attempt(sent: bool) {
    METRICS
        .webhook_attempts
        .with_label_values(&[if sent { "sent" } else { "failed" }])
        .inc();
}

/// The outbox as the dispatcher last saw it.
pub fn webhook_outbox(pending: i64, failed: i64, oldest_pending_seconds: f64) {
    let m = &*METRICS;
    m.webhook_deliveries
        .with_label_values(&["pending"])
        .set(pending);
    m.webhook_deliveries
        .with_label_values(&["failed"])
        .set(failed);
    m.webhook_oldest.set(oldest_pending_seconds);
}

/// Counts one answered request; `route` is the matched pattern, not the raw path.
pub fn observe_request(route: &str, method: &str, status: u16, seconds: f64) {
    let m = &*METRICS;
    m.requests
        .with_label_values(&[route, method, &status.to_string()])
        .inc();
    m.latency
        .with_label_values(&[route, method])
        .observe(seconds);
}

/// Counts a refund that reached its final `status`.
pub fn refund_settled(status: &str) {
    METRICS.refunds.with_label_values(&[status]).inc();
}

/// Counts parts the reconciler looked up.
pub fn parts_reconciled(n: usize) {
    METRICS.reconciled.inc_by(n as u64);
}

/// The text exposition, with the pool's state read now.
pub fn render(pool: &crate::db::Pool) -> String {
    let m = &*METRICS;
    let state = pool.state();
    m.pool
        .with_label_values(&["idle"])
        .set(i64::from(state.idle_connections));
    m.pool
        .with_label_values(&["in_use"])
        .set(i64::from(state.connections - state.idle_connections));
    m.pool
        .with_label_values(&["max"])
        .set(i64::from(pool.max_size()));
    let mut out = Vec::new();
    let _ = TextEncoder::new().encode(&m.registry.gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}
