//! Stripe's notifications at `POST /gateways/stripe/events`: signatures (valid, wrong,
//! stale, missing), events that settle or fail a pending part, and those acknowledged and
//! ignored.

use super::*;

fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `POST /gateways/stripe/events` with no bearer token; status and JSON body.
async fn notify(app: &TestApp, body: &[u8], signature: Option<&str>) -> (StatusCode, Value) {
    let mut req = atest::TestRequest::default()
        .method(Method::POST)
        .uri("/gateways/stripe/events")
        .insert_header(("Content-Type", "application/json"))
        .set_payload(body.to_vec());
    if let Some(sig) = signature {
        req = req.insert_header(("Stripe-Signature", sig));
    }
    let service = atest::init_service(refunds::app(app.state.clone())).await;
    let resp = atest::call_service(&service, req.to_request()).await;
    let status = resp.status();
    let bytes = atest::read_body(resp).await;
    let body: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, body)
}

/// `notify` with a valid signature, as Stripe makes it.
async fn notify_signed(app: &TestApp, body: &[u8]) -> (StatusCode, Value) {
    notify(app, body, Some(&sign(WEBHOOK_SECRET, now_unix(), body))).await
}

fn event(kind: &str, object: &Value) -> Vec<u8> {
    json!({
        "id": "evt_1",
        "object": "event",
        "type": kind,
        "created": now_unix(),
        "data": { "object": object },
    })
    .to_string()
    .into_bytes()
}

/// A notification's answer: `200`, and whether it settled a part.
fn assert_acknowledged(status: StatusCode, answer: &Value, settled: bool) {
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["settled"], settled, "{answer}");
}

fn assert_invalid_signature(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["code"], "INVALID_SIGNATURE", "{body}");
}

async fn notifications_settle_pending_parts(backend: Backend) {
    let ls = LocalStripe::start();
    let p = pending_refund(backend, &ls, &closed_port(), "S-601").await;
    let app = &p.app;
    // The refund Stripe made for the part (its answer never reached the service).
    let made = refund_made_at_psp(&ls, &p);
    assert_eq!(made["status"], "succeeded", "{made}");
    let body = event("refund.updated", &made);

    // Refused: nothing changes.
    let stale = now_unix() - 600;
    for signature in [
        Some(sign("whsec_someone_else", now_unix(), &body)),
        Some(sign(WEBHOOK_SECRET, stale, &body)),
        Some(format!("t={}", now_unix())),
        Some(sign(WEBHOOK_SECRET, now_unix(), b"{}")),
        None,
    ] {
        let (status, answer) = notify(app, &body, signature.as_deref()).await;
        assert_invalid_signature(status, &answer);
        let doc = refund_now(app, &p.refund).await;
        assert_eq!(
            doc["data"]["attributes"]["status"], "pending",
            "{signature:?}"
        );
    }
    // A bearer token is no signature.
    let service = atest::init_service(refunds::app(app.state.clone())).await;
    let req = atest::TestRequest::post()
        .uri("/gateways/stripe/events")
        .insert_header(("Authorization", format!("Bearer {}", token("acme"))))
        .set_payload(body.clone())
        .to_request();
    let resp = atest::call_service(&service, req).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Another type of event is acknowledged and ignored.
    let charge = ls.get(&format!("/v1/charges/{}", p.charge));
    let other = event("charge.succeeded", &charge);
    let (status, answer) = notify_signed(app, &other).await;
    assert_acknowledged(status, &answer, false);

    // A refund this service did not make is acknowledged and ignored.
    let unknown = json!({"id": "re_not_ours", "object": "refund", "status": "succeeded",
                         "amount": 2000, "metadata": {"refund_capture_id": "not_a_part"}});
    let unknown = event("refund.updated", &unknown);
    let (status, answer) = notify_signed(app, &unknown).await;
    assert_acknowledged(status, &answer, false);
    assert_eq!(
        refund_now(app, &p.refund).await["data"]["attributes"]["status"],
        "pending"
    );

    // Signed as Stripe does, with an older v0 beside it: settled.
    let signature = format!("{},v0=deadbeef", sign(WEBHOOK_SECRET, now_unix(), &body));
    let (status, answer) = notify(app, &body, Some(&signature)).await;
    assert_acknowledged(status, &answer, true);
    let doc = refund_now(app, &p.refund).await;
    assert_succeeded(&doc, 2000);
    assert_eq!(
        parts(&doc)[0]["attributes"]["gateway_transaction_id"],
        made["id"]
    );
    assert_eq!(balances(app, &p.capture).await, (2000, 3000));
    assert_eq!(payment_status(app, &p.order).await, "partially_refunded");

    // A later contrary event does not undo a settled part; the reconciler has nothing to do.
    let mut failed = made.clone();
    failed["status"] = json!("failed");
    failed["failure_reason"] = json!("lost_or_stolen_card");
    let failed = event("refund.failed", &failed);
    let (status, answer) = notify_signed(app, &failed).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_succeeded(&refund_now(app, &p.refund).await, 2000);
    assert!(reconcile(app, &gateways_at(app, &ls)).await.is_empty());
    assert_eq!(ls.refunds_of_charge(&p.charge).len(), 1);
}

/// A hand-built refund object naming the part, and a `refund.failed` event: the part fails
/// and its amount goes back to the capture.
async fn notification_of_a_failed_refund(backend: Backend) {
    let ls = LocalStripe::start();
    let p = pending_refund(backend, &ls, &failing_psp(), "S-602").await;
    let object = json!({
        "id": "re_handmade1", "object": "refund", "status": "failed", "amount": 2000,
        "failure_reason": "expired_or_canceled_card",
        "metadata": {"refund_id": p.refund, "refund_capture_id": p.part},
    });
    let body = event("refund.failed", &object);
    let (status, answer) = notify_signed(&p.app, &body).await;
    assert_acknowledged(status, &answer, true);
    let doc = refund_now(&p.app, &p.refund).await;
    let a = &doc["data"]["attributes"];
    assert_eq!(a["status"], "failed", "{doc}");
    assert_eq!(a["error_code"], "expired_or_canceled_card", "{doc}");
    assert_eq!(parts(&doc)[0]["attributes"]["status"], "failed", "{doc}");
    assert_eq!(balances(&p.app, &p.capture).await, (0, 5000));
    assert_event(&p.app, &p.refund, "refunds.fail").await;
}

/// Stripe answers that the refund is `pending`: its id is recorded on the part, and a
/// later notification naming only that id (no metadata) settles it.
async fn notification_found_by_the_psp_refund_id(backend: Backend) {
    let ls = LocalStripe::start();
    let base = psp_answering(
        "200 OK",
        r#"{"id":"re_pendingAtPsp1","object":"refund","status":"pending","metadata":{}}"#,
    );
    let p = pending_refund(backend, &ls, &base, "S-603").await;
    let doc = refund_now(&p.app, &p.refund).await;
    assert_eq!(
        parts(&doc)[0]["attributes"]["gateway_transaction_id"],
        "re_pendingAtPsp1",
        "{doc}"
    );
    let object = json!({"id": "re_pendingAtPsp1", "object": "refund", "status": "succeeded",
                        "amount": 2000, "metadata": {}});
    let body = event("charge.refund.updated", &object);
    let (status, answer) = notify_signed(&p.app, &body).await;
    assert_acknowledged(status, &answer, true);
    let doc = refund_now(&p.app, &p.refund).await;
    assert_succeeded(&doc, 2000);
    assert_eq!(
        parts(&doc)[0]["attributes"]["gateway_transaction_id"],
        "re_pendingAtPsp1"
    );
}

/// Without a webhook secret nothing is accepted, however it is signed.
async fn notifications_need_a_secret(backend: Backend) {
    let ls = LocalStripe::start();
    let app = TestApp::with(backend, |s| {
        stripe_settings(s, &ls, &ls.url());
        s.stripe_webhook_secret = String::new().into();
    })
    .await;
    let body = event(
        "charge.succeeded",
        &json!({"id": "ch_1", "object": "charge"}),
    );
    let (status, answer) = notify(&app, &body, Some(&sign("", now_unix(), &body))).await;
    assert_invalid_signature(status, &answer);
}

on_both!(
    notifications_settle_pending_parts,
    notification_of_a_failed_refund,
    notification_found_by_the_psp_refund_id,
    notifications_need_a_secret,
);
