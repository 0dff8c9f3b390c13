//! Refunds executed at Stripe (the localstripe emulator, one per test), end to end over
//! HTTP: captures recorded with a real charge or PaymentIntent id, refunds by capture,
//! authorization and order, over-refunds and concurrent refunds, PSPs that time out,
//! fail or cannot be reached (left `pending`, then settled by a reconciliation), refusals
//! (a 4xx fails the part), and Stripe's signed notifications.
//!
//! Choices pinned here where the contract is silent:
//! - A notification's answer is plain JSON (`{"received": true, "settled": <bool>}`), not
//!   a JSON:API document; its errors are JSON:API documents.
//! - A refund left `pending` counts against the capture's balance but not yet in the
//!   order's `payment_status`.

use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use actix_web::test as atest;
use futures_util::future::join_all;
use hmac::{Hmac, Mac};
use insta::assert_json_snapshot;
use refunds::config::Settings;
use refunds::gateways::Gateways;
use refunds::ledger::reconcile::{self, Config};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::broken_psp::{closed_port, failing_psp, psp_answering, silent_psp};
use crate::common::{redact, refund_body, token, Backend, TestApp};
use crate::localstripe::LocalStripe;

const WEBHOOK_SECRET: &str = "whsec_stripe_refunds_test";

/// Runs each named `fn(Backend)` test once on SQLite and once on PostgreSQL.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

/// Points `settings` at Stripe at `base` with the emulator's key.
fn stripe_settings(settings: &mut Settings, ls: &LocalStripe, base: &str) {
    settings.stripe_secret_key = ls.secret_key().into();
    settings.stripe_api_base = base.to_owned();
    settings.stripe_webhook_secret = WEBHOOK_SECRET.into();
}

/// An app whose Stripe gateway is the emulator.
async fn app_at(backend: Backend, ls: &LocalStripe) -> TestApp {
    TestApp::with(backend, |s| stripe_settings(s, ls, &ls.url())).await
}

/// An app whose Stripe gateway is `base` (a broken PSP), answering within 300 ms.
async fn app_broken(backend: Backend, ls: &LocalStripe, base: &str) -> TestApp {
    TestApp::with(backend, |s| {
        stripe_settings(s, ls, base);
        s.gateway_timeout_ms = 300;
        s.reconcile_after_ms = 60_000;
    })
    .await
}

/// The gateways of a process that reaches the emulator, for a reconciliation.
fn gateways_at(app: &TestApp, ls: &LocalStripe) -> Gateways {
    let mut settings = app.state.settings.clone();
    settings.stripe_api_base = ls.url();
    Gateways::from_settings(&settings).expect("gateways")
}

/// One reconciliation pass taking every pending part (none is too young).
async fn reconcile(app: &TestApp, gateways: &Gateways) -> Vec<(String, String)> {
    reconcile_within(app, gateways, Duration::from_secs(10)).await
}

/// One reconciliation pass taking every pending part, each PSP call within `timeout`.
async fn reconcile_within(
    app: &TestApp,
    gateways: &Gateways,
    timeout: Duration,
) -> Vec<(String, String)> {
    // `claim` takes parts created strictly before now (milliseconds).
    actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    let cfg = Config {
        interval: Duration::from_secs(60),
        after: Duration::ZERO,
        batch: 100,
        timeout,
    };
    reconcile::run_once(&app.state.pool, gateways, &cfg).expect("reconciliation")
}

fn id_of(doc: &Value) -> String {
    doc["data"]["id"].as_str().expect("an id").to_owned()
}

/// An order of the captures' total, one authorization of it, and one `stripe` capture
/// per `(amount, payment id)`, made over HTTP.
struct Payments {
    order: String,
    authorization: String,
    captures: Vec<String>,
}

async fn payments(app: &TestApp, number: &str, captures: &[(i64, &str)]) -> Payments {
    let tok = token("acme");
    let total: i64 = captures.iter().map(|(a, _)| a).sum();
    let order = json!({"data": {"type": "orders", "attributes": {
        "number": number, "currency_code": "EUR", "customer_email": "ada@example.com",
        "total_amount_cents": total, "shipping_amount_cents": 0,
    }}});
    let (status, doc) = app.post("/api/orders", &tok, &order).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    let order = id_of(&doc);
    let body = refund_like(
        "authorizations",
        "order",
        "orders",
        &order,
        json!({"amount_cents": total, "currency_code": "EUR", "payment_method_type": "credit card"}),
    );
    let (status, doc) = app.post("/api/authorizations", &tok, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    let authorization = id_of(&doc);
    let mut ids = Vec::new();
    for (amount, payment) in captures {
        let body = refund_like(
            "captures",
            "authorization",
            "authorizations",
            &authorization,
            json!({"amount_cents": amount, "currency_code": "EUR", "gateway": "stripe",
                   "gateway_transaction_id": payment}),
        );
        let (status, doc) = app.post("/api/captures", &tok, &body).await;
        assert_eq!(status, StatusCode::CREATED, "{doc}");
        assert_eq!(doc["data"]["attributes"]["gateway"], "stripe", "{doc}");
        ids.push(id_of(&doc));
    }
    Payments {
        order,
        authorization,
        captures: ids,
    }
}

fn refund_like(type_name: &str, rel: &str, rel_type: &str, id: &str, attrs: Value) -> Value {
    json!({"data": {
        "type": type_name,
        "attributes": attrs,
        "relationships": { rel: { "data": { "type": rel_type, "id": id } } }
    }})
}

/// `POST /api/refunds?include=refund_captures`.
async fn refund(
    app: &TestApp,
    rel: &str,
    type_name: &str,
    id: &str,
    attrs: Value,
) -> (StatusCode, Value) {
    app.post(
        "/api/refunds?include=refund_captures",
        &token("acme"),
        &refund_body(rel, type_name, id, attrs),
    )
    .await
}

/// The refund as it stands now, with its parts.
async fn refund_now(app: &TestApp, id: &str) -> Value {
    get_ok(app, &format!("/api/refunds/{id}?include=refund_captures")).await
}

/// `GET uri`, checked `200`; the document.
async fn get_ok(app: &TestApp, uri: &str) -> Value {
    let (status, doc) = app.get(uri, &token("acme")).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    doc
}

/// The refund_captures included in a refund document.
fn parts(doc: &Value) -> Vec<Value> {
    doc["included"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|r| r["type"] == "refund_captures")
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

async fn attributes(app: &TestApp, type_name: &str, id: &str) -> Value {
    get_ok(app, &format!("/api/{type_name}/{id}")).await["data"]["attributes"].clone()
}

/// `(refund_amount_cents, refund_balance_cents)` of a capture.
async fn balances(app: &TestApp, capture: &str) -> (i64, i64) {
    let a = attributes(app, "captures", capture).await;
    (
        a["refund_amount_cents"]
            .as_i64()
            .expect("refund_amount_cents"),
        a["refund_balance_cents"]
            .as_i64()
            .expect("refund_balance_cents"),
    )
}

/// The sum of a capture's succeeded parts, as the service records them.
async fn succeeded_on(app: &TestApp, capture: &str) -> i64 {
    app.all(
        &format!(
            "/api/refund_captures?filter[q][capture_id_eq]={capture}&filter[q][status_eq]=succeeded"
        ),
        &token("acme"),
    )
    .await
    .iter()
    .map(|p| p["attributes"]["amount_cents"].as_i64().expect("amount"))
    .sum()
}

/// The names of a refund's events.
async fn event_names(app: &TestApp, refund: &str) -> Vec<String> {
    app.all(&format!("/api/refunds/{refund}/events"), &token("acme"))
        .await
        .iter()
        .map(|e| e["attributes"]["name"].as_str().expect("name").to_owned())
        .collect()
}

/// Checks a succeeded part and the emulator's refund made for it; returns its `re_` id.
fn assert_part_refunded_at(
    ls: &LocalStripe,
    charge: &str,
    part: &Value,
    refund_id: &str,
) -> String {
    let a = &part["attributes"];
    assert_eq!(a["status"], "succeeded", "{part}");
    assert_eq!(a["gateway"], "stripe", "{part}");
    let re = a["gateway_transaction_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no PSP id: {part}"))
        .to_owned();
    assert!(re.starts_with("re_"), "{re}");
    let part_id = part["id"].as_str().expect("part id");
    let at_psp: Vec<Value> = ls
        .refunds_of_charge(charge)
        .into_iter()
        .filter(|r| r["metadata"]["refund_capture_id"] == part_id)
        .collect();
    assert_eq!(
        at_psp.len(),
        1,
        "one refund per part at the PSP: {at_psp:?}"
    );
    assert_eq!(at_psp[0]["id"], re.as_str());
    assert_eq!(at_psp[0]["amount"], a["amount_cents"]);
    assert_eq!(at_psp[0]["metadata"]["refund_id"], refund_id);
    re
}

fn assert_succeeded(doc: &Value, amount: i64) {
    let a = &doc["data"]["attributes"];
    assert_eq!(a["status"], "succeeded", "{doc}");
    assert_eq!(a["succeeded"], true, "{doc}");
    assert_eq!(a["amount_cents"], amount, "{doc}");
    assert_eq!(a["refunded_amount_cents"], amount, "{doc}");
}

/// A refund document with nothing refunded (yet), in `status`.
fn assert_nothing_refunded(doc: &Value, status: &str) {
    let a = &doc["data"]["attributes"];
    assert_eq!(a["status"], status, "{doc}");
    assert_eq!(a["succeeded"], false, "{doc}");
    assert_eq!(a["refunded_amount_cents"], 0, "{doc}");
}

/// The refund's events include `name`.
async fn assert_event(app: &TestApp, refund: &str, name: &str) {
    let events = event_names(app, refund).await;
    assert!(events.contains(&name.to_owned()), "{events:?}");
}

/// The order's `payment_status`.
async fn payment_status(app: &TestApp, order: &str) -> Value {
    attributes(app, "orders", order).await["payment_status"].clone()
}

/// `refund` against one capture.
async fn refund_capture(app: &TestApp, capture: &str, attrs: Value) -> (StatusCode, Value) {
    refund(app, "reference_capture", "captures", capture, attrs).await
}

/// A refund of `amount` from one capture, checked `201` and succeeded; its document.
async fn refund_succeeded(app: &TestApp, capture: &str, amount: i64) -> Value {
    let (status, doc) = refund_capture(
        app,
        capture,
        json!({"amount_cents": amount, "currency_code": "EUR"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    assert_succeeded(&doc, amount);
    doc
}

/// An emulator, an app at it and one `stripe` capture of a new charge of `amount`.
async fn one_charge(
    backend: Backend,
    number: &str,
    amount: i64,
) -> (LocalStripe, TestApp, String, Payments) {
    let ls = LocalStripe::start();
    let app = app_at(backend, &ls).await;
    let charge = ls.charge(amount, "eur");
    let p = payments(&app, number, &[(amount, &charge)]).await;
    (ls, app, charge, p)
}

// ---------------------------------------------------------------------------------------
// 1. Refunds by capture, authorization and order, executed at the emulator.

async fn refund_by_capture(backend: Backend) {
    let (ls, app, charge, p) = one_charge(backend, "S-101", 5000).await;
    let doc = refund_succeeded(&app, &p.captures[0], 2000).await;
    let refund_id = id_of(&doc);
    let parts = parts(&doc);
    assert_eq!(parts.len(), 1, "{doc}");
    let re = assert_part_refunded_at(&ls, &charge, &parts[0], &refund_id);
    assert_eq!(
        doc["data"]["attributes"]["gateway_transaction_id"],
        re.as_str()
    );
    assert_eq!(ls.amount_refunded(&charge), 2000);
    assert_eq!(succeeded_on(&app, &p.captures[0]).await, 2000);
    assert_eq!(balances(&app, &p.captures[0]).await, (2000, 3000));
    assert_eq!(payment_status(&app, &p.order).await, "partially_refunded");
    assert_event(&app, &refund_id, "refunds.succeed").await;
}

async fn refund_by_authorization_over_two_charges_then_by_order(backend: Backend) {
    let ls = LocalStripe::start();
    let app = app_at(backend, &ls).await;
    let (first, second) = (ls.charge(3000, "eur"), ls.charge(4000, "eur"));
    let p = payments(&app, "S-102", &[(3000, &first), (4000, &second)]).await;
    // More than the first capture: split oldest first.
    let (status, doc) = refund(
        &app,
        "authorization",
        "authorizations",
        &p.authorization,
        json!({"amount_cents": 5000, "currency_code": "EUR"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    assert_succeeded(&doc, 5000);
    let refund_id = id_of(&doc);
    let mut split = parts(&doc);
    assert_eq!(split.len(), 2, "{doc}");
    split.sort_by_key(|p| p["attributes"]["amount_cents"].as_i64());
    assert_eq!(split[0]["attributes"]["amount_cents"], 2000);
    assert_eq!(split[1]["attributes"]["amount_cents"], 3000);
    assert_part_refunded_at(&ls, &second, &split[0], &refund_id);
    assert_part_refunded_at(&ls, &first, &split[1], &refund_id);
    assert_eq!(ls.amount_refunded(&first), 3000);
    assert_eq!(ls.amount_refunded(&second), 2000);

    // The rest, by order.
    let (status, doc) = refund(&app, "order", "orders", &p.order, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    assert_succeeded(&doc, 2000);
    let rest = parts(&doc);
    assert_eq!(rest.len(), 1, "{doc}");
    assert_part_refunded_at(&ls, &second, &rest[0], &id_of(&doc));

    for (capture, charge, amount) in [
        (&p.captures[0], &first, 3000),
        (&p.captures[1], &second, 4000),
    ] {
        assert_eq!(ls.amount_refunded(charge), amount);
        assert_eq!(succeeded_on(&app, capture).await, amount);
        assert_eq!(balances(&app, capture).await, (amount, 0));
    }
    assert_eq!(ls.refunds_of_charge(&first).len(), 1);
    assert_eq!(ls.refunds_of_charge(&second).len(), 2);
    assert_eq!(payment_status(&app, &p.order).await, "refunded");
}

async fn refund_by_order_over_a_charge_and_a_payment_intent(backend: Backend) {
    let ls = LocalStripe::start();
    let app = app_at(backend, &ls).await;
    let charge = ls.charge(1500, "eur");
    let intent = ls.payment_intent(2500, "eur");
    let p = payments(&app, "S-103", &[(1500, &charge), (2500, &intent)]).await;
    let (status, doc) = refund(&app, "order", "orders", &p.order, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    assert_succeeded(&doc, 4000);
    let refund_id = id_of(&doc);
    let mut split = parts(&doc);
    split.sort_by_key(|p| p["attributes"]["amount_cents"].as_i64());
    assert_eq!(split.len(), 2, "{doc}");
    let intent_charge = ls.charge_of(&intent);
    assert_part_refunded_at(&ls, &charge, &split[0], &refund_id);
    assert_part_refunded_at(&ls, &intent_charge, &split[1], &refund_id);
    assert_eq!(ls.amount_refunded(&charge), 1500);
    assert_eq!(ls.amount_refunded(&intent_charge), 2500);
    assert_eq!(succeeded_on(&app, &p.captures[0]).await, 1500);
    assert_eq!(succeeded_on(&app, &p.captures[1]).await, 2500);
}

/// A capture's `_refund` trigger (`PATCH /api/captures/{id}`) executes at Stripe too.
async fn capture_refund_trigger_refunds_at_stripe(backend: Backend) {
    let (ls, app, charge, p) = one_charge(backend, "S-104", 4000).await;
    let cap = &p.captures[0];
    let body = json!({"data": {"type": "captures", "id": cap,
        "attributes": {"_refund": true, "_refund_amount_cents": 1500}}});
    let (status, doc) = app
        .patch(&format!("/api/captures/{cap}"), &token("acme"), &body)
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    let refunds = get_ok(
        &app,
        &format!("/api/captures/{cap}/refunds?include=refund_captures"),
    )
    .await;
    let refund = &refunds["data"][0];
    assert_eq!(refund["attributes"]["status"], "succeeded", "{refunds}");
    assert_eq!(
        refund["attributes"]["refunded_amount_cents"], 1500,
        "{refunds}"
    );
    let refund_id = refund["id"].as_str().expect("id");
    let parts = parts(&refunds);
    assert_eq!(parts.len(), 1, "{refunds}");
    assert_part_refunded_at(&ls, &charge, &parts[0], refund_id);
    assert_eq!(ls.amount_refunded(&charge), 1500);
    assert_eq!(balances(&app, cap).await, (1500, 2500));
}

// ---------------------------------------------------------------------------------------
// 2. Over-refunds are refused before any PSP call.

async fn over_refund_is_refused_before_the_psp(backend: Backend) {
    let (ls, app, charge, p) = one_charge(backend, "S-201", 5000).await;
    refund_succeeded(&app, &p.captures[0], 3000).await;
    for (rel, type_name, id) in [
        ("reference_capture", "captures", &p.captures[0]),
        ("authorization", "authorizations", &p.authorization),
        ("order", "orders", &p.order),
    ] {
        let (status, doc) = refund(
            &app,
            rel,
            type_name,
            id,
            json!({"amount_cents": 2001, "currency_code": "EUR"}),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{rel}: {doc}");
        assert_eq!(doc["errors"][0]["code"], "INSUFFICIENT_FUNDS", "{doc}");
    }
    assert_eq!(ls.refunds_of_charge(&charge).len(), 1);
    assert_eq!(ls.amount_refunded(&charge), 3000);
    assert_eq!(balances(&app, &p.captures[0]).await, (3000, 2000));
}

// ---------------------------------------------------------------------------------------
// 3. Concurrent refunds of one charge never over-refund at the PSP.

async fn concurrent_refunds_never_over_refund(backend: Backend) {
    const N: usize = 8;
    let (ls, app, charge, p) = one_charge(backend, "S-301", 10_000).await;
    let tok = token("acme");
    let body = refund_body(
        "reference_capture",
        "captures",
        &p.captures[0],
        json!({"amount_cents": 3000, "currency_code": "EUR"}),
    );
    let answers = join_all((0..N).map(|_| app.post("/api/refunds", &tok, &body))).await;
    let mut refunded = 0;
    let mut created = 0;
    for (status, doc) in &answers {
        match *status {
            StatusCode::CREATED => {
                created += 1;
                assert_eq!(doc["data"]["attributes"]["status"], "succeeded", "{doc}");
                refunded += doc["data"]["attributes"]["refunded_amount_cents"]
                    .as_i64()
                    .expect("refunded_amount_cents");
            }
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_eq!(doc["errors"][0]["code"], "INSUFFICIENT_FUNDS", "{doc}");
            }
            other => panic!("{other}: {doc}"),
        }
    }
    // 3 × 3000 fit in 10 000; a fourth would not.
    assert_eq!(created, 3, "{answers:?}");
    assert!(refunded <= 10_000);
    assert_eq!(ls.amount_refunded(&charge), refunded);
    assert_eq!(ls.refunds_of_charge(&charge).len(), created);
    assert_eq!(succeeded_on(&app, &p.captures[0]).await, refunded);
    assert_eq!(balances(&app, &p.captures[0]).await, (9000, 1000));
}

// ---------------------------------------------------------------------------------------
// 4. A broken PSP leaves the refund pending (reserved); a reconciliation settles it.

/// A refund of 2000 on a 5000 charge made while Stripe is at `base`: checked pending and
/// reserved. Returns the app, the charge, the capture, the refund and its part.
struct Pending {
    app: TestApp,
    charge: String,
    capture: String,
    order: String,
    refund: String,
    part: String,
}

fn key_of(number: &str) -> String {
    format!("key-{number}")
}

/// Replays the refund request of `pending_refund`: `200` and the refund as it stands.
async fn replay(p: &Pending, number: &str) -> Value {
    let (status, doc) = refund_capture(
        &p.app,
        &p.capture,
        json!({"amount_cents": 2000, "currency_code": "EUR", "key": key_of(number)}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(id_of(&doc), p.refund);
    doc
}

async fn pending_refund(backend: Backend, ls: &LocalStripe, base: &str, number: &str) -> Pending {
    let app = app_broken(backend, ls, base).await;
    let charge = ls.charge(5000, "eur");
    let p = payments(&app, number, &[(5000, &charge)]).await;
    let (status, doc) = refund_capture(
        &app,
        &p.captures[0],
        json!({"amount_cents": 2000, "currency_code": "EUR", "key": key_of(number)}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{base}: {doc}");
    assert_nothing_refunded(&doc, "pending");
    let parts = parts(&doc);
    assert_eq!(parts.len(), 1, "{doc}");
    assert_eq!(parts[0]["attributes"]["status"], "pending", "{doc}");
    // Reserved: the balance is taken at once, the order's status waits for the PSP.
    assert_eq!(balances(&app, &p.captures[0]).await, (2000, 3000));
    assert_eq!(payment_status(&app, &p.order).await, "paid");
    assert!(ls.refunds_of_charge(&charge).is_empty());
    Pending {
        app,
        charge,
        capture: p.captures[0].clone(),
        order: p.order,
        refund: id_of(&doc),
        part: parts[0]["id"].as_str().expect("part id").to_owned(),
    }
}

/// The refund Stripe makes for the pending part when its answer never reaches the
/// service (made at the emulator by hand, with the part's metadata).
fn refund_made_at_psp(ls: &LocalStripe, p: &Pending) -> Value {
    ls.post(
        "/v1/refunds",
        &[
            ("charge", &p.charge),
            ("amount", "2000"),
            ("metadata[refund_id]", &p.refund),
            ("metadata[refund_capture_id]", &p.part),
        ],
    )
}

/// No lock is held while a PSP is called: with the PSP silent for the whole gateway
/// time-out, an order and a refund of another order are written and answered before the
/// refund waiting on the PSP answers (on SQLite the database write lock is free).
async fn writes_go_on_during_a_psp_call(backend: Backend) {
    use futures_util::future::{select, Either};
    let ls = LocalStripe::start();
    let app = TestApp::with(backend, |s| {
        stripe_settings(s, &ls, &silent_psp());
        s.gateway_timeout_ms = 3000;
        s.reconcile_after_ms = 60_000;
    })
    .await;
    let charge = ls.charge(5000, "eur");
    let p = payments(&app, "9101", &[(5000, &charge)]).await;
    let other = app.payments("acme", "9102", "EUR", &[4000]);
    let waiting = Box::pin(refund_capture(
        &app,
        &p.captures[0],
        json!({"amount_cents": 1000, "currency_code": "EUR"}),
    ));
    let others = Box::pin(async {
        let order = json!({"data": {"type": "orders", "attributes": {
            "number": "9103", "currency_code": "EUR", "total_amount_cents": 100}}});
        let (status, doc) = app.post("/api/orders", &token("acme"), &order).await;
        assert_eq!(status, StatusCode::CREATED, "{doc}");
        let (status, doc) = refund_capture(
            &app,
            &other.capture_ids[0],
            json!({"amount_cents": 1500, "currency_code": "EUR"}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{doc}");
        assert_eq!(doc["data"]["attributes"]["status"], "succeeded", "{doc}");
    });
    match select(waiting, others).await {
        Either::Right(((), waiting)) => {
            let (status, doc) = waiting.await;
            assert_eq!(status, StatusCode::CREATED, "{doc}");
            assert_eq!(doc["data"]["attributes"]["status"], "pending", "{doc}");
        }
        Either::Left(((status, doc), _)) => {
            panic!("the refund waiting on the PSP answered first ({status}: {doc})")
        }
    };
}

async fn broken_psp_then_reconciled(backend: Backend, base: String) {
    let ls = LocalStripe::start();
    let p = pending_refund(backend, &ls, &base, "S-401").await;
    let app = &p.app;
    // A replay neither calls the PSP nor reserves again.
    let doc = replay(&p, "S-401").await;
    assert_eq!(doc["data"]["attributes"]["status"], "pending", "{doc}");
    assert_eq!(
        parts(&doc)[0]["attributes"]["gateway_transaction_id"],
        Value::Null
    );
    assert_eq!(balances(app, &p.capture).await, (2000, 3000));

    // Still broken: the reconciler leaves it pending.
    let broken = Gateways::from_settings(&app.state.settings).expect("gateways");
    let report = reconcile_within(app, &broken, Duration::from_millis(300)).await;
    assert_eq!(report, [(p.part.clone(), "pending".to_owned())]);
    assert_eq!(
        refund_now(app, &p.refund).await["data"]["attributes"]["status"],
        "pending"
    );
    assert!(ls.refunds_of_charge(&p.charge).is_empty());

    // The PSP is back.
    let report = reconcile(app, &gateways_at(app, &ls)).await;
    assert_eq!(report, [(p.part.clone(), "succeeded".to_owned())]);
    let doc = refund_now(app, &p.refund).await;
    assert_succeeded(&doc, 2000);
    let parts = parts(&doc);
    assert_part_refunded_at(&ls, &p.charge, &parts[0], &p.refund);
    assert_eq!(ls.refunds_of_charge(&p.charge).len(), 1);
    assert_eq!(ls.amount_refunded(&p.charge), 2000);
    assert_eq!(balances(app, &p.capture).await, (2000, 3000));
    assert_eq!(payment_status(app, &p.order).await, "partially_refunded");
    assert_event(app, &p.refund, "refunds.succeed").await;
    assert_succeeded(&replay(&p, "S-401").await, 2000);
    // Nothing is left to do.
    assert!(reconcile(app, &gateways_at(app, &ls)).await.is_empty());
    assert_eq!(ls.refunds_of_charge(&p.charge).len(), 1);
}

async fn silent_psp_then_reconciled(backend: Backend) {
    broken_psp_then_reconciled(backend, silent_psp()).await
}

async fn failing_psp_then_reconciled(backend: Backend) {
    broken_psp_then_reconciled(backend, failing_psp()).await
}

async fn closed_port_then_reconciled(backend: Backend) {
    broken_psp_then_reconciled(backend, closed_port()).await
}

/// The PSP refunded but the answer was lost (here: the refund made at the emulator by
/// hand, with the part's metadata): the reconciler finds it and does not refund again.
async fn reconciler_finds_a_refund_the_psp_made(backend: Backend) {
    let ls = LocalStripe::start();
    let p = pending_refund(backend, &ls, &closed_port(), "S-402").await;
    let made = refund_made_at_psp(&ls, &p);
    let report = reconcile(&p.app, &gateways_at(&p.app, &ls)).await;
    assert_eq!(report, [(p.part.clone(), "succeeded".to_owned())]);
    let doc = refund_now(&p.app, &p.refund).await;
    assert_succeeded(&doc, 2000);
    assert_eq!(
        parts(&doc)[0]["attributes"]["gateway_transaction_id"],
        made["id"]
    );
    assert_eq!(ls.refunds_of_charge(&p.charge).len(), 1);
    assert_eq!(ls.amount_refunded(&p.charge), 2000);
}

// ---------------------------------------------------------------------------------------
// 5. A PSP refusal (4xx) fails the part and gives the balance back.

async fn psp_refusal_fails_the_part(backend: Backend) {
    let ls = LocalStripe::start();
    let app = app_at(backend, &ls).await;
    // A charge the emulator does not know: it answers 404.
    let p = payments(&app, "S-501", &[(5000, "ch_unknown_to_the_psp")]).await;
    let (status, doc) = refund_capture(
        &app,
        &p.captures[0],
        json!({"amount_cents": 2000, "currency_code": "EUR"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    assert_nothing_refunded(&doc, "failed");
    assert_eq!(
        doc["data"]["attributes"]["error_code"], "invalid_request_error",
        "{doc}"
    );
    let parts = parts(&doc);
    assert_eq!(parts.len(), 1, "{doc}");
    let pa = &parts[0]["attributes"];
    assert_eq!(pa["status"], "failed", "{doc}");
    assert_eq!(pa["error_code"], "invalid_request_error", "{doc}");
    assert!(
        pa["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{doc}"
    );
    assert_eq!(balances(&app, &p.captures[0]).await, (0, 5000));
    assert_eq!(payment_status(&app, &p.order).await, "paid");
    let refund_id = id_of(&doc);
    assert_event(&app, &refund_id, "refunds.fail").await;
    let all = app.all("/api/events", &token("acme")).await;
    assert!(
        all.iter()
            .any(|e| e["attributes"]["name"] == "refunds.fail"),
        "{all:?}"
    );
    // Nothing pending is left for the reconciler.
    assert!(reconcile(&app, &gateways_at(&app, &ls)).await.is_empty());
}

/// One part refused (its charge is unknown to the PSP), the other refunded: the refund is
/// `partially_succeeded`, and only the refused part's amount goes back to its capture.
async fn psp_refusal_of_one_part_of_two(backend: Backend) {
    let ls = LocalStripe::start();
    let app = app_at(backend, &ls).await;
    let big = ls.charge(3000, "eur");
    let small = "ch_unknown_to_the_psp";
    let p = payments(&app, "S-502", &[(3000, small), (3000, &big)]).await;
    let (status, doc) = refund(&app, "order", "orders", &p.order, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    let a = &doc["data"]["attributes"];
    assert_eq!(a["status"], "partially_succeeded", "{doc}");
    assert_eq!(a["succeeded"], false, "{doc}");
    assert_eq!(a["amount_cents"], 6000, "{doc}");
    assert_eq!(a["refunded_amount_cents"], 3000, "{doc}");
    let refund_id = id_of(&doc);
    let parts = parts(&doc);
    assert_eq!(parts.len(), 2, "{doc}");
    let failed: Vec<&Value> = parts
        .iter()
        .filter(|p| p["attributes"]["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{doc}");
    assert!(failed[0]["attributes"]["error_code"].is_string(), "{doc}");
    let ok = parts
        .iter()
        .find(|p| p["attributes"]["status"] == "succeeded")
        .expect("a succeeded part");
    assert_part_refunded_at(&ls, &big, ok, &refund_id);
    assert_eq!(ls.amount_refunded(&big), 3000);
    assert_eq!(balances(&app, &p.captures[0]).await, (0, 3000));
    assert_eq!(balances(&app, &p.captures[1]).await, (3000, 0));
    assert_eq!(succeeded_on(&app, &p.captures[1]).await, 3000);
    assert_event(&app, &refund_id, "refunds.succeed").await;
}

// ---------------------------------------------------------------------------------------
// 7. The document of a succeeded Stripe refund.

/// Stripe's ids (`re_…`, `ch_…`, `pi_…`) replaced after checking their shape.
fn redact_stripe(doc: &Value) -> Value {
    match doc {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), redact_stripe(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact_stripe).collect()),
        Value::String(s) => match ["re_", "ch_", "pi_"].into_iter().find(|p| s.starts_with(p)) {
            Some(prefix) => {
                assert!(
                    s.len() > prefix.len()
                        && s[prefix.len()..].chars().all(|c| c.is_ascii_alphanumeric()),
                    "not a Stripe id: {s}"
                );
                Value::String(format!("{prefix}[id]"))
            }
            None => doc.clone(),
        },
        other => other.clone(),
    }
}

async fn succeeded_stripe_refund_document(backend: Backend) {
    // `_ls`, not `_`: the emulator runs until the test ends.
    let (_ls, app, _, p) = one_charge(backend, "S-701", 5000).await;
    let (status, doc) = refund_capture(
        &app,
        &p.captures[0],
        json!({"amount_cents": 1250, "currency_code": "EUR", "reference": "RMA-S7"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    assert_succeeded(&doc, 1250);
    let doc = refund_now(&app, &id_of(&doc)).await;
    assert_json_snapshot!("succeeded_stripe_refund", redact_stripe(&redact(&doc)));
}

on_both!(
    refund_by_capture,
    refund_by_authorization_over_two_charges_then_by_order,
    refund_by_order_over_a_charge_and_a_payment_intent,
    capture_refund_trigger_refunds_at_stripe,
    over_refund_is_refused_before_the_psp,
    concurrent_refunds_never_over_refund,
    silent_psp_then_reconciled,
    failing_psp_then_reconciled,
    closed_port_then_reconciled,
    writes_go_on_during_a_psp_call,
    reconciler_finds_a_refund_the_psp_made,
    psp_refusal_fails_the_part,
    psp_refusal_of_one_part_of_two,
    succeeded_stripe_refund_document,
);

// 6. Stripe's notifications.
mod notifications;
