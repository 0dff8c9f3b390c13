//! `POST /api/refunds` and `PATCH /api/refunds/{id}`: moving money, idempotency, the rules.

use actix_web::http::{Method, StatusCode};
use futures_util::future::join_all;
use insta::assert_json_snapshot;
use serde_json::{json, Value};

use crate::common::{redact, refund_body, token, Backend, TestApp, TokenSpec};

async fn capture(app: &TestApp, id: &str) -> Value {
    let (status, body) = app
        .get(&format!("/api/captures/{id}"), &token("acme"))
        .await;
    assert_eq!(status, StatusCode::OK);
    body["data"]["attributes"].clone()
}

async fn count(app: &TestApp, uri: &str) -> i64 {
    let (_, body) = app.get(uri, &token("acme")).await;
    body["meta"]["record_count"].as_i64().expect("record_count")
}

async fn create_against_a_capture(app: TestApp) {
    let p = app.payments("acme", "1001", "EUR", &[6000, 4000]);
    let tok = token("acme");
    let body = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        json!({"amount_cents": 2500, "currency_code": "EUR", "reference": "RMA-7", "metadata": {"reason": "damaged"}}),
    );
    let (status, headers, doc) = app
        .send(
            Method::POST,
            "/api/refunds?include=refund_captures",
            &tok,
            &body,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    let id = doc["data"]["id"].as_str().unwrap();
    assert_eq!(
        headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("http://refunds.test/api/refunds/{id}").as_str())
    );
    let a = &doc["data"]["attributes"];
    assert_eq!(
        a["number"],
        format!("{}/T/004", p.order_number),
        "continues the order's transaction sequence"
    );
    assert_eq!(a["formatted_amount"], "€25,00");
    assert_eq!(a["succeeded"], true);
    assert!(a["key"].as_str().unwrap().starts_with("ref-"));
    let cap = capture(&app, &p.capture_ids[0]).await;
    assert_eq!(
        (
            cap["refund_amount_cents"].as_i64(),
            cap["refund_balance_cents"].as_i64()
        ),
        (Some(2500), Some(3500))
    );
    assert_eq!(
        capture(&app, &p.capture_ids[1]).await["refund_balance_cents"],
        4000
    );
    let (_, order) = app.get(&format!("/api/orders/{}", p.order_id), &tok).await;
    assert_eq!(
        order["data"]["attributes"]["payment_status"],
        "partially_refunded"
    );
    assert_json_snapshot!("created_against_capture", redact(&doc));
}

async fn default_amount_is_the_whole_balance(app: TestApp) {
    let p = app.payments("acme", "1002", "USD", &[4000]);
    let tok = token("acme");
    let body = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        json!({}),
    );
    let (status, doc) = app.post("/api/refunds", &tok, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    assert_eq!(doc["data"]["attributes"]["amount_cents"], 4000);
    assert_eq!(
        capture(&app, &p.capture_ids[0]).await["refund_balance_cents"],
        0
    );
    let (status, doc) = app.post("/api/refunds", &tok, &body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(doc["errors"][0]["code"], "INSUFFICIENT_FUNDS");
    let (_, order) = app.get(&format!("/api/orders/{}", p.order_id), &tok).await;
    assert_eq!(order["data"]["attributes"]["payment_status"], "refunded");
}

async fn authorization_spans_captures_oldest_first(app: TestApp) {
    let p = app.payments("acme", "1003", "EUR", &[6000, 4000, 3000]);
    let tok = token("acme");
    let body = refund_body(
        "authorization",
        "authorizations",
        &p.authorization_id,
        json!({"amount_cents": 8000, "currency_code": "EUR"}),
    );
    let (status, doc) = app
        .post("/api/refunds?include=refund_captures.capture", &tok, &body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    let balances: Vec<i64> = join_all(p.capture_ids.iter().map(|id| capture(&app, id)))
        .await
        .iter()
        .map(|c| c["refund_balance_cents"].as_i64().unwrap())
        .collect();
    assert_eq!(balances, [0, 2000, 3000]);
    let rel = &doc["data"]["relationships"];
    assert_eq!(
        rel["reference_capture"]["links"]["related"]
            .as_str()
            .map(|s| s.ends_with("/reference_capture")),
        Some(true)
    );
    let splits: Vec<i64> = doc["included"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "refund_captures")
        .map(|r| r["attributes"]["amount_cents"].as_i64().unwrap())
        .collect();
    let mut sorted = splits.clone();
    sorted.sort();
    assert_eq!(sorted, [2000, 6000]);
    // Both splits share a timestamp, so their order is that of their random ids.
    let mut doc = doc;
    if let Some(included) = doc["included"].as_array_mut() {
        included.sort_by_key(|r| {
            (
                r["type"].to_string(),
                r["attributes"]["amount_cents"].as_i64(),
            )
        });
    }
    assert_json_snapshot!("created_against_authorization", redact(&doc));
    // The rest of the authorization, then nothing.
    let rest = refund_body(
        "authorization",
        "authorizations",
        &p.authorization_id,
        json!({}),
    );
    let (status, doc) = app.post("/api/refunds", &tok, &rest).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(doc["data"]["attributes"]["amount_cents"], 5000);
}

async fn order_target_refunds_everything(app: TestApp) {
    let p = app.payments("acme", "1004", "JPY", &[1500, 2500]);
    let tok = token("acme");
    let body = refund_body("order", "orders", &p.order_id, json!({}));
    let (status, doc) = app.post("/api/refunds", &tok, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    assert_eq!(doc["data"]["attributes"]["formatted_amount"], "¥4,000");
    assert_eq!(doc["data"]["attributes"]["amount_float"], 4000.0);
    let (_, order) = app.get(&format!("/api/orders/{}", p.order_id), &tok).await;
    assert_eq!(order["data"]["attributes"]["payment_status"], "refunded");
    assert_eq!(
        count(
            &app,
            &format!(
                "/api/refunds/{}/refund_captures",
                doc["data"]["id"].as_str().unwrap()
            )
        )
        .await,
        2
    );
}

async fn declined_refunds_move_nothing_until_forwarded(app: TestApp) {
    let p = app.payments("acme", "1005", "EUR", &[5000]);
    let tok = token("acme");
    let body = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        json!({"amount_cents": 1013, "currency_code": "EUR"}),
    );
    let (status, doc) = app.post("/api/refunds", &tok, &body).await;
    assert_eq!(status, StatusCode::CREATED);
    let a = &doc["data"]["attributes"];
    assert_eq!(a["succeeded"], false);
    assert_eq!(a["error_code"], "card_declined");
    assert_eq!(a["message"], "Declined");
    assert_json_snapshot!("declined", redact(&doc));
    let id = doc["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        capture(&app, &p.capture_ids[0]).await["refund_balance_cents"],
        5000
    );
    // Its one part failed: nothing was taken from the capture.
    assert_eq!(
        count(
            &app,
            &format!("/api/refunds/{id}/refund_captures?filter[q][status_eq]=failed")
        )
        .await,
        1
    );
    // Forwarding marks it succeeded and takes the money now.
    let patch = json!({"data": {"type": "refunds", "id": id, "attributes": {"_forward": true}}});
    let (status, doc) = app.patch(&format!("/api/refunds/{id}"), &tok, &patch).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["data"]["attributes"]["succeeded"], true);
    assert_eq!(doc["data"]["attributes"]["error_code"], Value::Null);
    assert_eq!(
        capture(&app, &p.capture_ids[0]).await["refund_balance_cents"],
        3987
    );
    assert_eq!(
        count(
            &app,
            &format!("/api/refunds/{id}/refund_captures?filter[q][status_eq]=succeeded")
        )
        .await,
        1
    );
    // Forwarding again changes nothing.
    let (status, _) = app.patch(&format!("/api/refunds/{id}"), &tok, &patch).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        capture(&app, &p.capture_ids[0]).await["refund_balance_cents"],
        3987
    );
}

async fn forwarding_needs_the_balance(app: TestApp) {
    let p = app.payments("acme", "1006", "EUR", &[2000]);
    let tok = token("acme");
    let declined = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        json!({"amount_cents": 1513, "currency_code": "EUR"}),
    );
    let (_, doc) = app.post("/api/refunds", &tok, &declined).await;
    let id = doc["data"]["id"].as_str().unwrap().to_owned();
    let rest = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        json!({"amount_cents": 1000, "currency_code": "EUR"}),
    );
    assert_eq!(
        app.post("/api/refunds", &tok, &rest).await.0,
        StatusCode::CREATED
    );
    let patch = json!({"data": {"type": "refunds", "id": id, "attributes": {"succeeded": true}}});
    let (status, doc) = app.patch(&format!("/api/refunds/{id}"), &tok, &patch).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(doc["errors"][0]["code"], "INSUFFICIENT_FUNDS");
    assert_eq!(
        capture(&app, &p.capture_ids[0]).await["refund_balance_cents"],
        1000
    );
}

async fn invalid_refunds_write_nothing(app: TestApp) {
    let p = app.payments("acme", "1007", "EUR", &[3000]);
    let other = app.payments("globex", "1007", "EUR", &[3000]);
    let failed = app.payments_with("acme", "1008", "EUR", &[3000], false);
    let tok = token("acme");
    let cap = p.capture_ids[0].as_str();
    let on = |attrs: Value| refund_body("reference_capture", "captures", cap, attrs);
    let cases: Vec<(&str, Value, StatusCode, &str, &str)> = vec![
        (
            "zero",
            on(json!({"amount_cents": 0, "currency_code": "EUR"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            "/data/attributes/amount_cents",
        ),
        (
            "negative",
            on(json!({"amount_cents": -5, "currency_code": "EUR"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            "/data/attributes/amount_cents",
        ),
        (
            "amount_as_text",
            on(json!({"amount_cents": "100", "currency_code": "EUR"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            "/data/attributes/amount_cents",
        ),
        (
            "float_amount",
            on(json!({"amount_cents": 10.5, "currency_code": "EUR"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            "/data/attributes/amount_cents",
        ),
        (
            "no_currency",
            on(json!({"amount_cents": 100})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            "/data/attributes/currency_code",
        ),
        (
            "other_currency",
            on(json!({"amount_cents": 100, "currency_code": "USD"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            "/data/attributes/currency_code",
        ),
        (
            "not_a_currency",
            on(json!({"amount_cents": 100, "currency_code": "EURO"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            "/data/attributes/currency_code",
        ),
        (
            "too_much",
            on(json!({"amount_cents": 3001, "currency_code": "EUR"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INSUFFICIENT_FUNDS",
            "/data/attributes/amount_cents",
        ),
        (
            "unknown_capture",
            refund_body("reference_capture", "captures", "AAAAAAAAAA", json!({})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            "/data/relationships/reference_capture/data/id",
        ),
        (
            "foreign_capture",
            refund_body(
                "reference_capture",
                "captures",
                &other.capture_ids[0],
                json!({}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            "/data/relationships/reference_capture/data/id",
        ),
        (
            "failed_capture",
            refund_body(
                "reference_capture",
                "captures",
                &failed.capture_ids[0],
                json!({}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            "/data/relationships/reference_capture/data/id",
        ),
        (
            "no_target",
            json!({"data": {"type": "refunds", "attributes": {}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            "/data/relationships",
        ),
        (
            "two_targets",
            json!({"data": {"type": "refunds", "relationships": {
            "order": {"data": {"type": "orders", "id": p.order_id}},
            "authorization": {"data": {"type": "authorizations", "id": p.authorization_id}}}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            "/data/relationships",
        ),
        (
            "target_of_wrong_type",
            refund_body("reference_capture", "orders", &p.order_id, json!({})),
            StatusCode::CONFLICT,
            "TYPE_MISMATCH",
            "/data/relationships/reference_capture/data/type",
        ),
        (
            "unknown_relationship",
            refund_body("versions", "versions", "AAAAAAAAAA", json!({})),
            StatusCode::BAD_REQUEST,
            "PARAM_NOT_ALLOWED",
            "/data/relationships/versions",
        ),
        (
            "unknown_attribute",
            on(json!({"succeeded": true})),
            StatusCode::BAD_REQUEST,
            "PARAM_NOT_ALLOWED",
            "/data/attributes/succeeded",
        ),
        (
            "metadata_not_object",
            on(json!({"metadata": [1]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            "/data/attributes/metadata",
        ),
        (
            "wrong_type",
            json!({"data": {"type": "captures"}}),
            StatusCode::CONFLICT,
            "TYPE_MISMATCH",
            "/data/type",
        ),
        (
            "client_id",
            json!({"data": {"type": "refunds", "id": "AAAAAAAAAA"}}),
            StatusCode::BAD_REQUEST,
            "PARAM_NOT_ALLOWED",
            "/data/id",
        ),
        (
            "no_data",
            json!({"meta": {}}),
            StatusCode::BAD_REQUEST,
            "INVALID_DATA_FORMAT",
            "/data",
        ),
    ];
    for (name, body, status, code, pointer) in cases {
        let (got, doc) = app.post("/api/refunds", &tok, &body).await;
        assert_eq!(got, status, "{name}: {doc}");
        assert_eq!(doc["errors"][0]["code"], code, "{name}");
        assert_eq!(doc["errors"][0]["source"]["pointer"], pointer, "{name}");
        assert_json_snapshot!(format!("invalid_{name}"), doc);
    }
    assert_eq!(count(&app, "/api/refunds").await, 0, "nothing was written");
    assert_eq!(capture(&app, cap).await["refund_balance_cents"], 3000);
    let (_, order) = app.get(&format!("/api/orders/{}", p.order_id), &tok).await;
    assert_eq!(order["data"]["attributes"]["payment_status"], "paid");
}

async fn bodies_and_permissions(app: TestApp) {
    let p = app.payments("acme", "1009", "EUR", &[3000]);
    let body = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        json!({}),
    );
    let req = |ct: &str, payload: &str| {
        actix_web::test::TestRequest::post()
            .uri("/api/refunds")
            .insert_header(("Content-Type", ct.to_owned()))
            .set_payload(payload.to_owned())
    };
    let tok = token("acme");
    let (status, doc) = app
        .request(req("application/vnd.api+json", "{nope"), Some(&tok))
        .await;
    assert_eq!(
        (status, doc["errors"][0]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_DATA_FORMAT"))
    );
    let (status, doc) = app
        .request(req("application/json", &body.to_string()), Some(&tok))
        .await;
    assert_eq!(
        (status, doc["errors"][0]["code"].as_str()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("UNSUPPORTED_MEDIA_TYPE")
        )
    );
    for spec in [
        TokenSpec {
            role: Some("read_only"),
            ..TokenSpec::new("acme")
        },
        TokenSpec {
            kind: "sales_channel",
            owner: Some("cust-ada".into()),
            ..TokenSpec::new("acme")
        },
    ] {
        let (status, doc) = app.post("/api/refunds", &spec.sign(), &body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(doc["errors"][0]["code"], "UNAUTHORIZED");
    }
    assert_eq!(count(&app, "/api/refunds").await, 0);
}

/// `max_body_bytes` is a setting: a body one byte over it is 413, at it is read.
async fn body_limit_is_a_setting(backend: Backend) {
    let app = TestApp::with(backend, |s| s.max_body_bytes = 300).await;
    let p = app.payments("acme", "1014", "EUR", &[3000]);
    let mut body = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        json!({"reference": ""}),
    );
    let len = body.to_string().len();
    body["data"]["attributes"]["reference"] = json!("x".repeat(300 - len));
    assert_eq!(body.to_string().len(), 300);
    assert_eq!(
        app.post("/api/refunds", &token("acme"), &body).await.0,
        StatusCode::CREATED
    );
    body["data"]["attributes"]["reference"] = json!("x".repeat(301 - len));
    let (status, doc) = app.post("/api/refunds", &token("acme"), &body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(doc["errors"][0]["code"], "PAYLOAD_TOO_LARGE");
}

#[actix_web::test]
async fn body_limit_sqlite() {
    body_limit_is_a_setting(Backend::Sqlite).await
}

#[actix_web::test]
async fn body_limit_postgres() {
    body_limit_is_a_setting(Backend::Postgres).await
}

async fn idempotent_by_key_and_header(app: TestApp) {
    let p = app.payments("acme", "1010", "EUR", &[9000]);
    let tok = token("acme");
    let attrs = json!({"amount_cents": 1000, "currency_code": "EUR", "key": "rma-42"});
    let body = refund_body("reference_capture", "captures", &p.capture_ids[0], attrs);
    let (first, doc1) = app.post("/api/refunds", &tok, &body).await;
    let (again, doc2) = app.post("/api/refunds", &tok, &body).await;
    assert_eq!((first, again), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(doc1["data"], doc2["data"]);
    assert_eq!(
        capture(&app, &p.capture_ids[0]).await["refund_balance_cents"],
        8000,
        "money moved once"
    );
    let changed = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        json!({"amount_cents": 2000, "currency_code": "EUR", "key": "rma-42"}),
    );
    let (status, doc) = app.post("/api/refunds", &tok, &changed).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(doc["errors"][0]["code"], "IDEMPOTENCY_KEY_REUSED");
    assert_json_snapshot!("key_reused", doc);
    // The header works the same way; the attribute wins when both are sent.
    let plain = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        json!({"amount_cents": 500, "currency_code": "EUR"}),
    );
    let with_header = |b: &Value| {
        actix_web::test::TestRequest::post()
            .uri("/api/refunds")
            .insert_header(("Content-Type", "application/vnd.api+json"))
            .insert_header(("Idempotency-Key", "hdr-1"))
            .set_payload(b.to_string())
    };
    let (s1, d1) = app.request(with_header(&plain), Some(&tok)).await;
    let (s2, d2) = app.request(with_header(&plain), Some(&tok)).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(d1["data"]["attributes"]["key"], "hdr-1");
    assert_eq!(d1["data"]["id"], d2["data"]["id"]);
    let (status, by_key) = app.get("/api/refunds/by_key/hdr-1", &tok).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_key["data"]["id"], d1["data"]["id"]);
    assert_eq!(
        capture(&app, &p.capture_ids[0]).await["refund_balance_cents"],
        7500
    );
    // Keys are per tenant: another organization may use the same one.
    let q = app.payments("globex", "2010", "EUR", &[9000]);
    let theirs = refund_body(
        "reference_capture",
        "captures",
        &q.capture_ids[0],
        json!({"key": "rma-42"}),
    );
    assert_eq!(
        app.post("/api/refunds", &token("globex"), &theirs).await.0,
        StatusCode::CREATED
    );
}

async fn concurrent_duplicates_make_one_refund(app: TestApp) {
    let p = app.payments("acme", "1011", "EUR", &[9000]);
    let tok = token("acme");
    let body = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        json!({"amount_cents": 700, "currency_code": "EUR", "key": "dup"}),
    );
    let answers = join_all((0..8).map(|_| app.post("/api/refunds", &tok, &body))).await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let replayed = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(
        (created, replayed),
        (1, 7),
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    let ids: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|(_, d)| d["data"]["id"].to_string())
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(
        capture(&app, &p.capture_ids[0]).await["refund_balance_cents"],
        8300
    );
    assert_eq!(count(&app, "/api/refunds").await, 1);
}

async fn concurrent_refunds_never_exceed_the_capture(app: TestApp) {
    let p = app.payments("acme", "1012", "EUR", &[5000]);
    let tok = token("acme");
    let body = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        json!({"amount_cents": 700, "currency_code": "EUR"}),
    );
    let answers = join_all((0..12).map(|_| app.post("/api/refunds", &tok, &body))).await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count() as i64;
    assert!(answers
        .iter()
        .all(|(s, _)| *s == StatusCode::CREATED || *s == StatusCode::UNPROCESSABLE_ENTITY));
    assert_eq!(created, 7, "5000 / 700");
    let cap = capture(&app, &p.capture_ids[0]).await;
    assert_eq!(cap["refund_amount_cents"], created * 700);
    assert_eq!(cap["refund_balance_cents"], 5000 - created * 700);
}

async fn patch_rules(app: TestApp) {
    let p = app.payments("acme", "1013", "EUR", &[5000]);
    let tok = token("acme");
    let body = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        json!({"amount_cents": 900, "currency_code": "EUR"}),
    );
    let (_, doc) = app.post("/api/refunds", &tok, &body).await;
    let id = doc["data"]["id"].as_str().unwrap().to_owned();
    let uri = format!("/api/refunds/{id}");
    let patch = |attrs: Value| json!({"data": {"type": "refunds", "id": id, "attributes": attrs, "relationships": {}}});
    let (status, doc) = app
        .patch(
            &uri,
            &tok,
            &patch(json!({"reference": "ERP-1", "reference_origin": "erp", "metadata": {"a": 1}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["data"]["attributes"]["metadata"], json!({"a": 1}));
    assert_json_snapshot!("patched", redact(&doc));
    let (status, doc) = app.patch(&uri, &tok, &patch(json!({"metadata": {}}))).await;
    assert_eq!(
        (status, &doc["data"]["attributes"]["metadata"]),
        (StatusCode::OK, &json!({})),
        "metadata is replaced whole"
    );
    let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        (
            "amount",
            patch(json!({"amount_cents": 1})),
            StatusCode::BAD_REQUEST,
            "PARAM_NOT_ALLOWED",
        ),
        (
            "unforward",
            patch(json!({"succeeded": false})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        ),
        (
            "relationship",
            json!({"data": {"type": "refunds", "id": id, "relationships": {"order": {"data": {"type": "orders", "id": p.order_id}}}}}),
            StatusCode::BAD_REQUEST,
            "PARAM_NOT_ALLOWED",
        ),
        (
            "other_id",
            json!({"data": {"type": "refunds", "id": "AAAAAAAAAA", "attributes": {}}}),
            StatusCode::BAD_REQUEST,
            "KEY_NOT_INCLUDED_IN_URL",
        ),
        (
            "no_id",
            json!({"data": {"type": "refunds", "attributes": {}}}),
            StatusCode::BAD_REQUEST,
            "KEY_NOT_INCLUDED_IN_URL",
        ),
        (
            "other_type",
            json!({"data": {"type": "orders", "id": id}}),
            StatusCode::CONFLICT,
            "TYPE_MISMATCH",
        ),
        (
            "forward_not_bool",
            patch(json!({"_forward": "yes"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        ),
    ];
    for (name, body, status, code) in cases {
        let (got, doc) = app.patch(&uri, &tok, &body).await;
        assert_eq!(
            (got, doc["errors"][0]["code"].as_str()),
            (status, Some(code)),
            "{name}: {doc}"
        );
        assert_json_snapshot!(format!("patch_{name}"), doc);
    }
    let (status, _) = app
        .patch(
            "/api/refunds/AAAAAAAAAA",
            &tok,
            &json!({"data": {"type": "refunds", "id": "AAAAAAAAAA"}}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, doc) = app.send(Method::DELETE, &uri, &tok, &json!({})).await;
    assert_eq!(
        (status, doc["errors"][0]["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("METHOD_NOT_ALLOWED"))
    );
    // Another tenant cannot touch it.
    app.payments("globex", "9", "EUR", &[1]);
    let (status, _) = app
        .patch(&uri, &token("globex"), &patch(json!({"reference": "x"})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Maintained counts equal the counted rows after writes, failed writes and a failed
/// trigger whose refund ran in a savepoint that was rolled back.
async fn counts_stay_exact_across_failures(app: TestApp) {
    let p = app.payments("acme", "1015", "EUR", &[3000, 2000]);
    let tok = token("acme");
    let body = |amount: i64| {
        refund_body(
            "reference_capture",
            "captures",
            &p.capture_ids[0],
            json!({"amount_cents": amount, "currency_code": "EUR"}),
        )
    };
    assert_eq!(
        app.post("/api/refunds", &tok, &body(1000)).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        app.post("/api/refunds", &tok, &body(9000)).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.post("/api/refunds", &tok, &body(1013)).await.0,
        StatusCode::CREATED
    );
    let trigger = json!({"data": {"type": "captures", "id": p.capture_ids[1],
        "attributes": {"_refund": true, "_refund_amount_cents": 5000, "reference": "x"}}});
    let (status, _) = app
        .patch(
            &format!("/api/captures/{}", p.capture_ids[1]),
            &tok,
            &trigger,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let trigger_ok = json!({"data": {"type": "captures", "id": p.capture_ids[1],
        "attributes": {"_refund": true, "_refund_amount_cents": 500, "reference": "y"}}});
    let (status, _) = app
        .patch(
            &format!("/api/captures/{}", p.capture_ids[1]),
            &tok,
            &trigger_ok,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for kind in ["refunds", "refund_captures", "versions", "events"] {
        let maintained = count(&app, &format!("/api/{kind}")).await;
        let counted = count(
            &app,
            &format!("/api/{kind}?filter[q][created_at_gt]=2000-01-01"),
        )
        .await;
        assert_eq!(maintained, counted, "{kind}");
        assert!(counted > 0, "{kind}");
    }
    assert_eq!(count(&app, "/api/refunds").await, 3);
}

crate::on_both_backends!(
    counts_stay_exact_across_failures,
    create_against_a_capture,
    default_amount_is_the_whole_balance,
    authorization_spans_captures_oldest_first,
    order_target_refunds_everything,
    declined_refunds_move_nothing_until_forwarded,
    forwarding_needs_the_balance,
    invalid_refunds_write_nothing,
    bodies_and_permissions,
    idempotent_by_key_and_header,
    concurrent_duplicates_make_one_refund,
    concurrent_refunds_never_exceed_the_capture,
    patch_rules,
);
