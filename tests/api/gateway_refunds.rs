//! Refunds in three steps with the built-in `test` gateway: parts and their statuses, the
//! reserved balance, reconciliation of pending parts, forwarding, and capture gateways.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use refunds::gateways::Gateways;
use refunds::ledger::reconcile::{self, Config};
use serde_json::{json, Value};

use crate::common::{refund_body, token, Backend, TestApp};

async fn attributes(app: &TestApp, uri: &str) -> Value {
    let (status, doc) = app.get(uri, &token("acme")).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    doc["data"]["attributes"].clone()
}

/// The order's `payment_status`.
async fn payment_status(app: &TestApp, order: &str) -> Value {
    attributes(app, &format!("/api/orders/{order}")).await["payment_status"].clone()
}

async fn parts(app: &TestApp, refund: &str) -> Vec<Value> {
    app.all(
        &format!("/api/refunds/{refund}/refund_captures"),
        &token("acme"),
    )
    .await
}

async fn event_names(app: &TestApp, refund: &str) -> Vec<String> {
    let mut names: Vec<String> = app
        .all(&format!("/api/refunds/{refund}/events"), &token("acme"))
        .await
        .iter()
        .map(|e| e["attributes"]["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn refund(app: &TestApp, rel: &str, ty: &str, id: &str, amount: i64) -> (StatusCode, Value) {
    let body = refund_body(
        rel,
        ty,
        id,
        json!({"amount_cents": amount, "currency_code": "EUR"}),
    );
    app.post("/api/refunds", &token("acme"), &body).await
}

/// A refund that is `201 Created`: its id and document.
async fn created_refund(
    app: &TestApp,
    rel: &str,
    ty: &str,
    id: &str,
    amount: i64,
) -> (String, Value) {
    let (status, doc) = refund(app, rel, ty, id, amount).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    let id = doc["data"]["id"].as_str().unwrap().to_owned();
    (id, doc)
}

/// `created_refund` of `amount` from one capture.
async fn created_capture_refund(app: &TestApp, capture: &str, amount: i64) -> (String, Value) {
    created_refund(app, "reference_capture", "captures", capture, amount).await
}

/// A reconciliation pass that takes every pending part, however young.
fn reconcile_now(app: &TestApp) -> Vec<(String, String)> {
    // `claim` takes parts created strictly before now less `after`.
    std::thread::sleep(Duration::from_millis(5));
    let cfg = Config {
        after: Duration::ZERO,
        ..Config::from_settings(&app.state.settings)
    };
    reconcile::run_once(&app.state.pool, &Gateways::test_only(), &cfg).expect("reconcile")
}

async fn pending_parts_settle_at_reconciliation(app: TestApp) {
    let p = app.payments("acme", "2001", "EUR", &[5000]);
    let (id, doc) = created_capture_refund(&app, &p.capture_ids[0], 1014).await;
    let a = &doc["data"]["attributes"];
    assert_eq!(
        (&a["status"], &a["succeeded"], &a["refunded_amount_cents"]),
        (&json!("pending"), &json!(false), &json!(0))
    );
    let part = &parts(&app, &id).await[0]["attributes"];
    assert_eq!(part["status"], "pending");
    assert_eq!(part["gateway"], "test");
    // The pending amount is reserved: the capture cannot be refunded past it meanwhile.
    let cap = attributes(&app, &format!("/api/captures/{}", p.capture_ids[0])).await;
    assert_eq!(cap["refund_balance_cents"], 3986);
    let (status, doc) = refund(
        &app,
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        3987,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(doc["errors"][0]["code"], "INSUFFICIENT_FUNDS");
    // Nothing is refunded yet as far as the order is concerned.
    assert_eq!(payment_status(&app, &p.order_id).await, "paid");

    // A pass with the default delay leaves the young part alone.
    let cfg = Config::from_settings(&app.state.settings);
    let none = reconcile::run_once(&app.state.pool, &Gateways::test_only(), &cfg).unwrap();
    assert!(none.is_empty(), "{none:?}");
    assert_eq!(reconcile_now(&app).len(), 1);

    let a = attributes(&app, &format!("/api/refunds/{id}")).await;
    assert_eq!(
        (&a["status"], &a["succeeded"], &a["refunded_amount_cents"]),
        (&json!("succeeded"), &json!(true), &json!(1014))
    );
    assert_eq!(a["formatted_refunded_amount"], "€10,14");
    let part = &parts(&app, &id).await[0]["attributes"];
    assert_eq!(part["status"], "succeeded");
    assert!(part["gateway_transaction_id"]
        .as_str()
        .unwrap()
        .starts_with("gw_"));
    assert_eq!(
        event_names(&app, &id).await,
        vec!["refunds.create", "refunds.succeed"]
    );
    assert_eq!(
        payment_status(&app, &p.order_id).await,
        "partially_refunded"
    );
    // Settled parts are not taken again.
    assert!(reconcile_now(&app).is_empty());
}

async fn a_declined_part_gives_its_amount_back(app: TestApp) {
    let p = app.payments("acme", "2002", "EUR", &[5000]);
    let (id, doc) = created_capture_refund(&app, &p.capture_ids[0], 1013).await;
    let a = &doc["data"]["attributes"];
    assert_eq!(
        (&a["status"], &a["error_code"]),
        (&json!("failed"), &json!("card_declined"))
    );
    let part = &parts(&app, &id).await[0]["attributes"];
    assert_eq!(
        (&part["status"], &part["error_code"]),
        (&json!("failed"), &json!("card_declined"))
    );
    let cap = attributes(&app, &format!("/api/captures/{}", p.capture_ids[0])).await;
    assert_eq!(
        (&cap["refund_amount_cents"], &cap["refund_balance_cents"]),
        (&json!(0), &json!(5000))
    );
    assert_eq!(
        event_names(&app, &id).await,
        vec!["refunds.create", "refunds.fail"]
    );
}

async fn some_parts_succeed(app: TestApp) {
    // 2013 by authorization: 1013 from the older capture (declined), 1000 from the newer.
    let p = app.payments("acme", "2003", "EUR", &[1013, 3000]);
    let (id, doc) = created_refund(
        &app,
        "authorization",
        "authorizations",
        &p.authorization_id,
        2013,
    )
    .await;
    let a = &doc["data"]["attributes"];
    assert_eq!(
        (
            &a["status"],
            &a["succeeded"],
            &a["refunded_amount_cents"],
            &a["amount_cents"]
        ),
        (
            &json!("partially_succeeded"),
            &json!(false),
            &json!(1000),
            &json!(2013)
        )
    );
    let mut statuses: Vec<String> = parts(&app, &id)
        .await
        .iter()
        .map(|p| p["attributes"]["status"].as_str().unwrap().to_owned())
        .collect();
    statuses.sort();
    assert_eq!(statuses, vec!["failed", "succeeded"]);
    assert_eq!(
        event_names(&app, &id).await,
        vec!["refunds.create", "refunds.succeed"]
    );
    // Filterable and sortable by status.
    let tok = token("acme");
    let found = app
        .all(
            "/api/refunds?filter[q][status_eq]=partially_succeeded&sort=status",
            &tok,
        )
        .await;
    assert_eq!(found.len(), 1);
    let failed_parts = app
        .all("/api/refund_captures?filter[q][status_eq]=failed", &tok)
        .await;
    assert_eq!(failed_parts.len(), 1);
    // Flow has no partial success: succeeded, with what was refunded and what was asked.
    let key = a["key"].as_str().unwrap();
    let svc = atest::init_service(refunds::app(app.state.clone())).await;
    let req = atest::TestRequest::get()
        .uri(&format!("/flow/acme/refunds/{key}"))
        .insert_header(("Authorization", format!("Bearer {tok}")))
        .to_request();
    let flow: Value = atest::call_and_read_body_json(&svc, req).await;
    assert_eq!(flow["status"], "succeeded");
    assert_eq!(flow["amount"], json!(10.00));
    assert_eq!(flow["requested"]["amount"], json!(20.13));
    assert_eq!(flow["captures"].as_array().unwrap().len(), 1);
}

async fn forwarding_settles_pending_and_failed_parts(app: TestApp) {
    let p = app.payments("acme", "2004", "EUR", &[1014, 1013]);
    let tok = token("acme");
    let (_, doc) = refund(&app, "order", "orders", &p.order_id, 2027).await;
    let id = doc["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(doc["data"]["attributes"]["status"], "pending");
    let patch = json!({"data": {"type": "refunds", "id": id, "attributes": {"succeeded": false}}});
    let (status, body) = app.patch(&format!("/api/refunds/{id}"), &tok, &patch).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let patch = json!({"data": {"type": "refunds", "id": id, "attributes": {"_forward": true}}});
    let (status, body) = app.patch(&format!("/api/refunds/{id}"), &tok, &patch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let a = &body["data"]["attributes"];
    assert_eq!(
        (&a["status"], &a["refunded_amount_cents"], &a["message"]),
        (&json!("succeeded"), &json!(2027), &json!("Forwarded"))
    );
    for id in &p.capture_ids {
        let cap = attributes(&app, &format!("/api/captures/{id}")).await;
        assert_eq!(cap["refund_balance_cents"], 0, "{cap}");
    }
    assert_eq!(payment_status(&app, &p.order_id).await, "refunded");
    // The reconciler finds nothing left to do.
    assert!(reconcile_now(&app).is_empty());
}

fn capture_doc(authorization: &str, attributes: Value) -> Value {
    json!({"data": {"type": "captures", "attributes": attributes, "relationships": {
        "authorization": {"data": {"type": "authorizations", "id": authorization}}}}})
}

/// A new order of 1000 with an authorization of 1000 and nothing captured yet.
async fn open_authorization(app: &TestApp, number: &str) -> String {
    let tok = token("acme");
    let doc = json!({"data": {"type": "orders",
        "attributes": {"number": number, "currency_code": "EUR", "total_amount_cents": 1000}}});
    let (status, order) = app.post("/api/orders", &tok, &doc).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let doc = json!({"data": {"type": "authorizations",
        "attributes": {"amount_cents": 1000, "currency_code": "EUR"},
        "relationships": {"order": {"data": {"type": "orders", "id": order["data"]["id"]}}}}});
    let (status, body) = app.post("/api/authorizations", &tok, &doc).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["id"].as_str().unwrap().to_owned()
}

async fn captures_name_a_gateway(app: TestApp) {
    let authorization = open_authorization(&app, "2005").await;
    let tok = token("acme");
    let post = |attributes: Value| {
        let doc = capture_doc(&authorization, attributes);
        let app = &app;
        let tok = tok.clone();
        async move { app.post("/api/captures", &tok, &doc).await }
    };
    let (status, doc) =
        post(json!({"amount_cents": 100, "currency_code": "EUR", "gateway": "paypal"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        doc["errors"][0]["source"]["pointer"],
        "/data/attributes/gateway"
    );
    // No Stripe key on this app: `stripe` captures are refused.
    let (status, doc) = post(
        json!({"amount_cents": 100, "currency_code": "EUR", "gateway": "stripe",
        "gateway_transaction_id": "ch_1"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(doc["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("not configured"));
    let (status, doc) = post(json!({"amount_cents": 100, "currency_code": "EUR"})).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    assert_eq!(doc["data"]["attributes"]["gateway"], "test");
    let listed = app
        .all("/api/captures?filter[q][gateway_eq]=test", &tok)
        .await;
    assert_eq!(listed.len(), 1);
    assert!(app
        .all("/api/captures?filter[q][gateway_eq]=stripe", &tok)
        .await
        .is_empty());
}

async fn stripe_captures_name_the_payment(app: TestApp) {
    let authorization = open_authorization(&app, "2006").await;
    let tok = token("acme");
    for bad in [json!(null), json!("gw_123")] {
        let doc = capture_doc(
            &authorization,
            json!({"amount_cents": 100, "currency_code": "EUR", "gateway": "stripe", "gateway_transaction_id": bad}),
        );
        let (status, body) = app.post("/api/captures", &tok, &doc).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            body["errors"][0]["source"]["pointer"],
            "/data/attributes/gateway_transaction_id"
        );
    }
    let doc = capture_doc(
        &authorization,
        json!({"amount_cents": 100, "currency_code": "EUR", "gateway": "stripe", "gateway_transaction_id": "pi_123"}),
    );
    let (status, body) = app.post("/api/captures", &tok, &doc).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["attributes"]["gateway"], "stripe");
}

async fn stripe_app(backend: Backend) -> TestApp {
    TestApp::with(backend, |s| {
        s.stripe_secret_key = "sk_test_configured".into()
    })
    .await
}

crate::on_both_backends!(
    pending_parts_settle_at_reconciliation,
    a_declined_part_gives_its_amount_back,
    some_parts_succeed,
    forwarding_settles_pending_and_failed_parts,
    captures_name_a_gateway,
);

mod stripe_configured {
    use super::*;

    #[actix_web::test]
    async fn sqlite() {
        stripe_captures_name_the_payment(stripe_app(Backend::Sqlite).await).await;
    }

    #[actix_web::test]
    async fn postgres() {
        stripe_captures_name_the_payment(stripe_app(Backend::Postgres).await).await;
    }
}

/// Several instances share the reconciliation without overlap: rows another instance's
/// claim holds are skipped (`FOR UPDATE SKIP LOCKED`), and a claimed part is stamped so that
/// no instance takes it again before `reconcile_after_ms`.
#[actix_web::test]
async fn instances_never_take_the_same_parts() {
    use diesel::RunQueryDsl;
    use refunds::db::DbConnection;
    let app = TestApp::new(Backend::Postgres).await;
    let p = app.payments("acme", "2008", "EUR", &[5000]);
    for amount in [1014, 2014] {
        let (status, doc) = refund(
            &app,
            "reference_capture",
            "captures",
            &p.capture_ids[0],
            amount,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{doc}");
        assert_eq!(doc["data"]["attributes"]["status"], "pending");
    }
    let (mut a, mut b) = (app.state.pool.get().unwrap(), app.state.pool.get().unwrap());
    let (a, b): (&mut DbConnection, &mut DbConnection) = (&mut a, &mut b);
    // Old enough to be due with an hour's delay; stamped, they are not due for an hour.
    diesel::sql_query("UPDATE refund_captures SET created_at = created_at - interval '2 hours'")
        .execute(&mut *a)
        .unwrap();
    let cfg = Config {
        after: Duration::from_secs(3600),
        ..Config::from_settings(&app.state.settings)
    };
    // Instance A is in the middle of its claim: its transaction holds the rows.
    diesel::sql_query("BEGIN").execute(&mut *a).unwrap();
    diesel::sql_query("SELECT id FROM refund_captures WHERE status = 'pending' FOR UPDATE")
        .execute(&mut *a)
        .unwrap();
    // Instance B skips them rather than waiting for them or taking them too.
    assert!(reconcile::claim(&mut *b, &cfg).unwrap().is_empty());
    diesel::sql_query("ROLLBACK").execute(&mut *a).unwrap();
    assert_eq!(reconcile::claim(&mut *b, &cfg).unwrap().len(), 2);
    assert!(reconcile::claim(&mut *a, &cfg).unwrap().is_empty());
}
