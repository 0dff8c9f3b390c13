//! Webhooks across processes: deliveries pending or failing when a `refunds serve` is
//! killed (`kill -9`) all arrive after a restart, and two processes on one PostgreSQL
//! database deliver every event without sending one twice.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use serde_json::json;

use crate::common::{refund_body, token, Backend, TestApp};
use crate::concurrency::Server;
use crate::webhook_delivery::Receiver;

/// Short retries, a high circuit threshold, a quick poll.
const FAST: &[(&str, &str)] = &[
    ("REFUNDS_WEBHOOK_RETRY_BASE_MS", "20"),
    ("REFUNDS_WEBHOOK_RETRY_CAP_MS", "100"),
    ("REFUNDS_WEBHOOK_MAX_ATTEMPTS", "1000"),
    ("REFUNDS_WEBHOOK_CIRCUIT_FAILURE_THRESHOLD", "100000"),
    ("REFUNDS_WEBHOOK_POLL_MS", "20"),
    ("REFUNDS_WEBHOOK_TIMEOUT_MS", "500"),
];

async fn subscribe(app: &TestApp, url: &str) {
    let body = json!({"data": {"type": "webhooks", "attributes": {
        "topic": "refunds.create", "callback_url": url}}});
    let (status, doc) = app.post("/api/webhooks", &token("acme"), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
}

/// `n` refunds of one capture, written through the in-process app; their ids.
async fn refunds(app: &TestApp, number: &str, n: usize) -> BTreeSet<String> {
    let p = app.payments("acme", number, "EUR", &[100_000]);
    let mut ids = BTreeSet::new();
    for _ in 0..n {
        let req = refund_body(
            "reference_capture",
            "captures",
            &p.capture_ids[0],
            json!({"amount_cents": 100, "currency_code": "EUR"}),
        );
        let (status, doc) = app.post("/api/refunds", &token("acme"), &req).await;
        assert_eq!(status, StatusCode::CREATED, "{doc}");
        ids.insert(doc["data"]["id"].as_str().unwrap().to_owned());
    }
    ids
}

/// The refund ids the receiver answered 2xx, and how often each event was received.
fn delivered(rx: &Receiver) -> (BTreeSet<String>, BTreeMap<String, usize>) {
    let mut ok = BTreeSet::new();
    let mut seen = BTreeMap::new();
    for r in rx.received() {
        let doc = r.json();
        if r.answered < 300 {
            ok.insert(doc["data"]["id"].as_str().unwrap().to_owned());
        }
        *seen
            .entry(doc["meta"]["event_id"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    (ok, seen)
}

fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn killed_process_loses_nothing(backend: Backend) {
    let app = TestApp::new(backend).await;
    let rx = Receiver::start();
    rx.answer(&[503; 100_000]);
    subscribe(&app, &rx.url).await;
    let mut first = Server::start_with(&app.database_url, FAST);
    let ids = refunds(&app, "8001", 8).await;
    // Failing deliveries are being retried when the process dies.
    wait_for("failed attempts", Duration::from_secs(10), || {
        rx.received().len() >= 5
    });
    first.child.kill().expect("kill -9");
    first.child.wait().expect("reaped");
    // Written while no dispatcher runs: pending.
    let more = refunds(&app, "8002", 4).await;
    rx.heal();
    let _second = Server::start_with(&app.database_url, FAST);
    let want: BTreeSet<String> = ids.union(&more).cloned().collect();
    wait_for("every delivery", Duration::from_secs(30), || {
        delivered(&rx).0 == want
    });
}

async fn two_processes_share_the_outbox() {
    let app = TestApp::new(Backend::Postgres).await;
    let rx = Receiver::start();
    subscribe(&app, &rx.url).await;
    subscribe(&app, &format!("{}/second", rx.url)).await;
    let _servers = [
        Server::start_with(&app.database_url, FAST),
        Server::start_with(&app.database_url, FAST),
    ];
    let ids = refunds(&app, "8003", 20).await;
    wait_for("every delivery", Duration::from_secs(30), || {
        rx.received().len() >= 2 * ids.len()
    });
    // Give a duplicate the time to show.
    std::thread::sleep(Duration::from_millis(300));
    let (ok, seen) = delivered(&rx);
    assert_eq!(ok, ids);
    assert_eq!(rx.received().len(), 2 * ids.len());
    // Each event once per webhook: two calls, one to each URL.
    assert!(seen.values().all(|n| *n == 2), "{seen:?}");
    let per_url = |path: &str| rx.received().iter().filter(|r| r.path == path).count();
    assert_eq!(per_url("/"), ids.len());
    assert_eq!(per_url("/second"), ids.len());
}

#[actix_web::test]
async fn killed_process_loses_nothing_on_sqlite() {
    killed_process_loses_nothing(Backend::Sqlite).await
}

#[actix_web::test]
async fn killed_process_loses_nothing_on_postgres() {
    killed_process_loses_nothing(Backend::Postgres).await
}

#[actix_web::test]
async fn two_processes_on_one_postgres() {
    two_processes_share_the_outbox().await
}
