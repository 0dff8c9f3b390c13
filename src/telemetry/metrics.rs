//! Prometheus metrics: requests by route and status, latency, the pool, refunds created.

use std::sync::LazyLock;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
    refunds: IntCounterVec,
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
            "refunds_created_total",
            "Refunds created, by gateway outcome",
        ),
        &["outcome"],
    )
    .expect("metric definition");
    for m in [
        Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(latency.clone()),
        Box::new(pool.clone()),
        Box::new(refunds.clone()),
    ] {
        registry.register(m).expect("unique metric names");
    }
    Metrics {
        registry,
        requests,
        latency,
        pool,
        refunds,
    }
});

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

/// Counts a created refund: `succeeded` or `declined`.
pub fn refund_created(succeeded: bool) {
    METRICS
        .refunds
        .with_label_values(&[if succeeded { "succeeded" } else { "declined" }])
        .inc();
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
