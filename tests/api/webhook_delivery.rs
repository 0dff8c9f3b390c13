//! Webhook delivery against a real receiver (an HTTP server on 127.0.0.1:0 run by the
//! test): signature, topic header and body per topic family, retries with back-off, the
//! circuit breaker and `_reset_circuit`, order per webhook, and the dispatcher thread.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use base64::Engine as _;
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use refunds::webhooks::dispatcher::{self, Config};
use serde_json::{json, Value};

use crate::common::{refund_body, token, TestApp};

/// One request the receiver got, and the status it answered.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub answered: u16,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// An HTTP/1.1 receiver answering the queued statuses in turn, then 200.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let r = Self {
            url,
            got: Arc::default(),
            answers: Arc::default(),
        };
        let (got, answers) = (r.got.clone(), r.answers.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
                let mut headers = HashMap::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = h.trim_end().split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    }
                }
                let len: usize = headers
                    .get("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let code = answers.lock().unwrap().pop_front().unwrap_or(200);
                got.lock().unwrap().push(Received {
                    path,
                    headers,
                    body,
                    answered: code,
                });
                let extra = if code == 302 {
                    "Location: http://127.0.0.1:9/elsewhere\r\n"
                } else {
                    ""
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {code} Status\r\n{extra}Content-Length: 8\r\nConnection: close\r\n\r\nanswered"
                );
            }
        });
        r
    }

    pub fn answer(&self, codes: &[u16]) {
        self.answers.lock().unwrap().extend(codes);
    }

    /// Answers 200 from now on.
    pub fn heal(&self) {
        self.answers.lock().unwrap().clear();
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

/// The signature a Commerce Layer receiver computes.
fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn config(app: &TestApp) -> Config {
    let mut c = Config::from_settings(&app.state.settings).expect("config");
    c.timeout = Duration::from_millis(2000);
    c.retry_base_ms = 1;
    c.retry_cap_ms = 5;
    c
}

/// Runs dispatch rounds until `done` holds (or fails after 10 s).
fn dispatch_until(app: &TestApp, cfg: &Config, mut done: impl FnMut() -> bool) {
    let agent = dispatcher::agent(cfg);
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out");
        dispatcher::run_once(&app.state.pool, &agent, cfg).expect("round");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// (webhook id, shared secret).
async fn hook(app: &TestApp, topic: &str, url: &str, includes: Value) -> (String, String) {
    let body = json!({"data": {"type": "webhooks", "attributes": {
        "topic": topic, "callback_url": url, "include_resources": includes}}});
    let (status, doc) = app.post("/api/webhooks", &token("acme"), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    let a = &doc["data"]["attributes"];
    (
        doc["data"]["id"].as_str().unwrap().to_owned(),
        a["shared_secret"].as_str().unwrap().to_owned(),
    )
}

/// (status, attempts) of a webhook's deliveries, oldest first.
fn deliveries(app: &TestApp, webhook_id: &str) -> Vec<(String, i64)> {
    use refunds::db::schema::webhook_deliveries as d;
    let mut conn = app.state.pool.get().expect("connection");
    d::table
        .filter(d::webhook_id.eq(webhook_id))
        .order((d::created_at, d::id))
        .select((d::status, d::attempts))
        .load(&mut **conn)
        .expect("deliveries")
}

async fn refund(app: &TestApp, capture: &str, cents: i64) -> String {
    let req = refund_body(
        "reference_capture",
        "captures",
        capture,
        json!({"amount_cents": cents, "currency_code": "EUR"}),
    );
    let (status, doc) = app.post("/api/refunds", &token("acme"), &req).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    doc["data"]["id"].as_str().unwrap().to_owned()
}

async fn signed_calls_for_each_topic_family(app: TestApp) {
    let rx = Receiver::start();
    let tok = token("acme");
    let (refunds_hook, refunds_secret) = hook(
        &app,
        "refunds.create",
        &format!("{}/refunds", rx.url),
        json!(["order", "reference_capture"]),
    )
    .await;
    let (_, orders_secret) = hook(
        &app,
        "orders.update",
        &format!("{}/orders", rx.url),
        json!([]),
    )
    .await;
    let (_, attachments_secret) = hook(
        &app,
        "attachments.create",
        &format!("{}/attachments", rx.url),
        json!(["attachable"]),
    )
    .await;
    let p = app.payments("acme", "9001", "EUR", &[5000]);
    let refund_id = refund(&app, &p.capture_ids[0], 1500).await;
    let patch = json!({"data": {"type": "orders", "id": p.order_id,
        "attributes": {"reference": "ERP-9"}}});
    let (status, doc) = app
        .patch(&format!("/api/orders/{}", p.order_id), &tok, &patch)
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    let attach = json!({"data": {"type": "attachments", "attributes": {"name": "label"},
        "relationships": {"attachable": {"data": {"type": "refunds", "id": refund_id}}}}});
    let (status, doc) = app.post("/api/attachments", &tok, &attach).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    let cfg = config(&app);
    dispatch_until(&app, &cfg, || rx.received().len() >= 3);
    let got = rx.received();
    assert_eq!(got.len(), 3);
    let by_path = |p: &str| got.iter().find(|r| r.path == p).expect(p).clone();
    for (path, topic, secret, type_name) in [
        ("/refunds", "refunds.create", &refunds_secret, "refunds"),
        ("/orders", "orders.update", &orders_secret, "orders"),
        (
            "/attachments",
            "attachments.create",
            &attachments_secret,
            "attachments",
        ),
    ] {
        let r = by_path(path);
        assert_eq!(r.headers["content-type"], "application/vnd.api+json");
        assert_eq!(r.headers["x-commercelayer-topic"], topic);
        assert_eq!(
            r.headers["x-commercelayer-signature"],
            signature(secret, &r.body),
            "{path}"
        );
        assert_ne!(
            r.headers["x-commercelayer-signature"],
            signature("another secret", &r.body)
        );
        let doc = r.json();
        crate::common::assert_valid_jsonapi(&doc);
        assert_eq!(doc["data"]["type"], type_name);
        assert_eq!(doc["meta"]["topic"], topic);
        assert_eq!(doc["meta"]["attempt"], 1);
        // The event the call is for.
        let event_id = doc["meta"]["event_id"].as_str().unwrap();
        let (status, event) = app.get(&format!("/api/events/{event_id}"), &tok).await;
        assert_eq!(status, StatusCode::OK, "{event}");
        assert_eq!(event["data"]["attributes"]["name"], topic);
    }
    let doc = by_path("/refunds").json();
    assert_eq!(doc["data"]["id"], json!(refund_id));
    assert_eq!(doc["data"]["attributes"]["amount_cents"], 1500);
    assert_eq!(
        doc["data"]["links"]["self"],
        json!(format!("http://refunds.test/api/refunds/{refund_id}"))
    );
    let mut included: Vec<&str> = doc["included"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    included.sort_unstable();
    assert_eq!(included, ["captures", "orders"]);
    assert_eq!(
        by_path("/orders").json()["data"]["attributes"]["reference"],
        "ERP-9"
    );
    assert_eq!(
        by_path("/attachments").json()["included"][0]["id"],
        json!(refund_id)
    );
    // Every attempt is on record, with what was sent.
    assert_eq!(deliveries(&app, &refunds_hook), [("sent".to_owned(), 1)]);
    let (status, doc) = app
        .get(
            &format!("/api/webhooks/{refunds_hook}/last_event_callbacks"),
            &tok,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    let cb = &doc["data"][0]["attributes"];
    assert_eq!(cb["response_code"], 200);
    assert_eq!(cb["response_message"], "answered");
    assert_eq!(cb["attempt"], 1);
    assert_eq!(cb["payload"], by_path("/refunds").json());
    let (_, doc) = app.get("/api/event_callbacks", &tok).await;
    assert_eq!(doc["meta"]["record_count"], 3);
}

/// Failed attempts (a 5xx, a redirect, nobody listening) are retried until the limit,
/// then the delivery is kept as failed.
async fn failures_are_retried_then_kept(app: TestApp) {
    let rx = Receiver::start();
    rx.answer(&[500, 302, 503]);
    let (id, _) = hook(&app, "refunds.create", &rx.url, json!([])).await;
    let p = app.payments("acme", "9002", "EUR", &[5000]);
    refund(&app, &p.capture_ids[0], 100).await;
    let mut cfg = config(&app);
    cfg.max_attempts = 3;
    dispatch_until(&app, &cfg, || {
        deliveries(&app, &id)
            .first()
            .is_some_and(|(s, _)| s != "pending")
    });
    assert_eq!(deliveries(&app, &id), [("failed".to_owned(), 3)]);
    let attempts: Vec<Value> = rx
        .received()
        .iter()
        .map(|r| r.json()["meta"]["attempt"].clone())
        .collect();
    assert_eq!(attempts, [json!(1), json!(2), json!(3)]);
    let (_, doc) = app
        .get(
            &format!("/api/event_callbacks?filter[q][webhook_id_eq]={id}&sort=attempt"),
            &token("acme"),
        )
        .await;
    let codes: Vec<&Value> = doc["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["attributes"]["response_code"])
        .collect();
    assert_eq!(codes, [&json!(500), &json!(302), &json!(503)]);
    // Nobody listening: no response code, the error as the message.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/gone", closed.local_addr().unwrap());
    drop(closed);
    let (dead_id, _) = hook(&app, "refunds.create", &dead, json!([])).await;
    refund(&app, &p.capture_ids[0], 100).await;
    cfg.max_attempts = 1;
    dispatch_until(&app, &cfg, || {
        deliveries(&app, &dead_id)
            .first()
            .is_some_and(|(s, _)| s != "pending")
    });
    let (_, doc) = app
        .get(
            &format!("/api/webhooks/{dead_id}/last_event_callbacks"),
            &token("acme"),
        )
        .await;
    assert_eq!(doc["data"][0]["attributes"]["response_code"], Value::Null);
    assert!(doc["data"][0]["attributes"]["response_message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

/// `/metrics` shows calls by outcome and the outbox (other tests share the process, so
/// only the series are checked, and the counters' floor).
async fn metrics_show_the_outbox(app: TestApp) {
    let rx = Receiver::start();
    rx.answer(&[500]);
    hook(&app, "refunds.create", &rx.url, json!([])).await;
    let p = app.payments("acme", "9005", "EUR", &[5000]);
    refund(&app, &p.capture_ids[0], 100).await;
    let cfg = config(&app);
    dispatch_until(&app, &cfg, || rx.received().len() >= 2);
    // One more round publishes the outbox as it stands.
    dispatcher::run_once(&app.state.pool, &dispatcher::agent(&cfg), &cfg).expect("round");
    let svc = actix_web::test::init_service(refunds::app(app.state.clone())).await;
    let req = actix_web::test::TestRequest::get()
        .uri("/metrics")
        .to_request();
    let res = actix_web::test::call_service(&svc, req).await;
    let text = String::from_utf8(actix_web::test::read_body(res).await.to_vec()).unwrap();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).map(|v| v.trim().parse().unwrap()))
            .unwrap_or_else(|| panic!("{series} missing from\n{text}"))
    };
    assert!(value("refunds_webhook_attempts_total{outcome=\"sent\"}") >= 1.0);
    assert!(value("refunds_webhook_attempts_total{outcome=\"failed\"}") >= 1.0);
    value("refunds_webhook_deliveries{status=\"pending\"}");
    value("refunds_webhook_deliveries{status=\"failed\"}");
    assert!(value("refunds_webhook_oldest_pending_seconds") >= 0.0);
}

/// The circuit opens after the threshold of consecutive failures and holds the webhook's
/// deliveries, in order, until `_reset_circuit`.
async fn circuit_holds_deliveries_until_reset(app: TestApp) {
    let rx = Receiver::start();
    rx.answer(&[500, 500]);
    let tok = token("acme");
    let (id, _) = hook(&app, "refunds.create", &rx.url, json!([])).await;
    let p = app.payments("acme", "9003", "EUR", &[5000]);
    let first = refund(&app, &p.capture_ids[0], 100).await;
    let second = refund(&app, &p.capture_ids[0], 200).await;
    let mut cfg = config(&app);
    cfg.circuit_threshold = 2;
    dispatch_until(&app, &cfg, || rx.received().len() >= 2);
    // Open: further rounds send nothing, and the second refund waits behind the first.
    let agent = dispatcher::agent(&cfg);
    for _ in 0..5 {
        dispatcher::run_once(&app.state.pool, &agent, &cfg).expect("round");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(rx.received().len(), 2);
    let (_, doc) = app.get(&format!("/api/webhooks/{id}"), &tok).await;
    assert_eq!(doc["data"]["attributes"]["circuit_state"], "open");
    assert_eq!(doc["data"]["attributes"]["circuit_failure_count"], 2);
    let reset =
        json!({"data": {"type": "webhooks", "id": id, "attributes": {"_reset_circuit": true}}});
    let (status, doc) = app
        .patch(&format!("/api/webhooks/{id}"), &tok, &reset)
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["data"]["attributes"]["circuit_state"], "closed");
    dispatch_until(&app, &cfg, || rx.received().len() >= 4);
    let sent: Vec<(Value, Value)> = rx
        .received()
        .iter()
        .map(|r| {
            let d = r.json();
            (d["data"]["id"].clone(), d["meta"]["attempt"].clone())
        })
        .collect();
    assert_eq!(
        sent,
        [
            (json!(first), json!(1)),
            (json!(first), json!(2)),
            (json!(first), json!(3)),
            (json!(second), json!(1)),
        ]
    );
    assert_eq!(
        deliveries(&app, &id),
        [("sent".to_owned(), 3), ("sent".to_owned(), 1)]
    );
    let (_, doc) = app.get(&format!("/api/webhooks/{id}"), &tok).await;
    assert_eq!(doc["data"]["attributes"]["circuit_failure_count"], 0);
}

/// The dispatcher thread `refunds serve` runs delivers within about a second of commit.
async fn the_dispatcher_thread_delivers(app: TestApp) {
    let rx = Receiver::start();
    hook(&app, "refunds.create", &rx.url, json!([])).await;
    let mut cfg = config(&app);
    cfg.poll = Duration::from_millis(50);
    let handle = dispatcher::spawn(app.state.pool.clone(), cfg).expect("spawn");
    let p = app.payments("acme", "9004", "EUR", &[5000]);
    let id = refund(&app, &p.capture_ids[0], 100).await;
    let start = Instant::now();
    while rx.received().is_empty() && start.elapsed() < Duration::from_secs(5) {
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    let took = start.elapsed();
    handle.stop();
    let got = rx.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["data"]["id"], json!(id));
    // About a second on a machine shared with other builds.
    assert!(took < Duration::from_secs(2), "{took:?}");
}

crate::on_both_backends!(
    signed_calls_for_each_topic_family,
    failures_are_retried_then_kept,
    circuit_holds_deliveries_until_reset,
    the_dispatcher_thread_delivers,
    metrics_show_the_outbox,
);
