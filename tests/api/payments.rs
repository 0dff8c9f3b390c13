//! Writes of orders, authorizations and captures, and the Commerce Layer `_refund` triggers.
//!
//! Choices where the contract is silent, pinned here:
//! - An order's `payment_status` starts `unpaid`, becomes `authorized` with a succeeded
//!   authorization, `partially_paid`/`paid` as succeeded captures cover the total, and
//!   `partially_refunded`/`refunded` once the ledger refunds.
//! - `number`, `currency_code` and the amounts of an order may change until it has a
//!   payment; afterwards a different value is `422 VALIDATION_ERROR` (the same value is
//!   accepted, as clients send whole resources back). Unknown attributes are `400`.
//! - `currency_code` is required on authorizations and captures and must equal the
//!   order's (the authorization's).
//! - A trigger's refund errors point at `_refund_amount_cents` or `_refund`.

use actix_web::http::{Method, StatusCode};
use diesel::prelude::*;
use insta::assert_json_snapshot;
use serde_json::{json, Value};

use crate::common::{redact, token, TestApp, TokenSpec};

const JSONAPI: &str = "application/vnd.api+json";

fn order_doc(number: &str, extra: Value) -> Value {
    let mut attrs = json!({
        "number": number,
        "currency_code": "EUR",
        "customer_email": "ada@example.com",
        "customer_id": "cust-ada",
        "market_id": "mkt-eu",
        "total_amount_cents": 10000,
        "shipping_amount_cents": 500,
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        attrs[k] = v;
    }
    json!({ "data": { "type": "orders", "attributes": attrs } })
}

fn child_doc(type_name: &str, rel: &str, rel_type: &str, id: &str, attrs: Value) -> Value {
    json!({
        "data": {
            "type": type_name,
            "attributes": attrs,
            "relationships": { rel: { "data": { "type": rel_type, "id": id } } }
        }
    })
}

fn patch_doc(type_name: &str, id: &str, attrs: Value) -> Value {
    json!({ "data": { "type": type_name, "id": id, "attributes": attrs } })
}

async fn create_order(app: &TestApp, tok: &str, number: &str, total: i64) -> String {
    let (status, doc) = app
        .post(
            "/api/orders",
            tok,
            &order_doc(
                number,
                json!({"total_amount_cents": total, "shipping_amount_cents": 0}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    doc["data"]["id"].as_str().unwrap().to_owned()
}

async fn authorize(app: &TestApp, tok: &str, order: &str, amount: i64) -> String {
    let body = child_doc(
        "authorizations",
        "order",
        "orders",
        order,
        json!({"amount_cents": amount, "currency_code": "EUR", "payment_method_type": "credit card"}),
    );
    let (status, doc) = app.post("/api/authorizations", tok, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    doc["data"]["id"].as_str().unwrap().to_owned()
}

async fn capture(app: &TestApp, tok: &str, authorization: &str, amount: i64) -> String {
    let (status, doc) = app
        .post("/api/captures", tok, &capture_doc(authorization, amount))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    doc["data"]["id"].as_str().unwrap().to_owned()
}

fn capture_doc(authorization: &str, amount: i64) -> Value {
    child_doc(
        "captures",
        "authorization",
        "authorizations",
        authorization,
        json!({"amount_cents": amount, "currency_code": "EUR"}),
    )
}

/// An order of `total`, one authorization of `total`, and one capture per amount.
struct Flow {
    order: String,
    authorization: String,
    captures: Vec<String>,
}

async fn flow(app: &TestApp, tok: &str, number: &str, captures: &[i64]) -> Flow {
    let total = captures.iter().sum();
    let order = create_order(app, tok, number, total).await;
    let authorization = authorize(app, tok, &order, total).await;
    let mut ids = Vec::new();
    for amount in captures {
        ids.push(capture(app, tok, &authorization, *amount).await);
    }
    Flow {
        order,
        authorization,
        captures: ids,
    }
}

async fn attributes(app: &TestApp, type_name: &str, id: &str) -> Value {
    let (status, doc) = app
        .get(&format!("/api/{type_name}/{id}"), &token("acme"))
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    doc["data"]["attributes"].clone()
}

/// `(event, name)` of the versions and events rows of a resource, sorted.
fn journal(app: &TestApp, resource_id: &str) -> (Vec<String>, Vec<String>) {
    use refunds::db::schema::{events, versions};
    let mut conn = app.state.pool.get().expect("connection");
    let mut v: Vec<String> = versions::table
        .filter(versions::resource_id.eq(resource_id))
        .select(versions::event)
        .load(&mut **conn)
        .expect("versions");
    let mut e: Vec<String> = events::table
        .filter(events::resource_id.eq(resource_id))
        .select(events::name)
        .load(&mut **conn)
        .expect("events");
    v.sort();
    e.sort();
    (v, e)
}

/// The `changes` of every `update` version of a resource, as JSON, sorted.
fn changes(app: &TestApp, resource_id: &str) -> Vec<Value> {
    use refunds::db::schema::versions;
    let mut conn = app.state.pool.get().expect("connection");
    let rows: Vec<String> = versions::table
        .filter(versions::resource_id.eq(resource_id))
        .filter(versions::event.eq("update"))
        .select(versions::changes)
        .load(&mut **conn)
        .expect("versions");
    let mut out: Vec<Value> = rows
        .iter()
        .map(|c| serde_json::from_str(c).unwrap())
        .collect();
    out.sort_by_key(|v| v.to_string());
    out
}

fn table_count(app: &TestApp, table: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.state.pool.get().expect("connection");
    diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
        .get_result::<N>(&mut **conn)
        .expect("count")
        .n
}

/// Rows of every table the writes touch, to check that a refused write wrote nothing.
fn footprint(app: &TestApp) -> Vec<i64> {
    [
        "orders",
        "authorizations",
        "captures",
        "refunds",
        "refund_captures",
        "versions",
        "events",
    ]
    .iter()
    .map(|t| table_count(app, t))
    .collect()
}

/// `(status, code, pointer)` of an error response.
fn error(status: StatusCode, doc: &Value) -> Value {
    assert_eq!(doc["errors"].as_array().map(Vec::len), Some(1), "{doc}");
    let e = &doc["errors"][0];
    assert_eq!(e["status"], status.as_str(), "{doc}");
    json!([status.as_u16(), e["code"], e["source"]["pointer"]])
}

async fn create_authorize_capture_and_list(app: TestApp) {
    let tok = token("acme");
    let (status, headers, order) = app
        .send(
            Method::POST,
            "/api/orders",
            &tok,
            &order_doc(
                "1001",
                json!({"reference": "ERP-1", "reference_origin": "erp", "metadata": {"channel": "web"}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let order_id = order["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("http://refunds.test/api/orders/{order_id}").as_str())
    );
    assert_eq!(order["data"]["attributes"]["payment_status"], "unpaid");
    assert_json_snapshot!("order_created", redact(&order));

    let body = child_doc(
        "authorizations",
        "order",
        "orders",
        &order_id,
        json!({
            "amount_cents": 10000, "currency_code": "EUR", "payment_method_type": "credit card",
            "message": "Accepted", "token": "tok_visa", "gateway_transaction_id": "gw-1"
        }),
    );
    let (status, authorization) = app
        .post("/api/authorizations?include=order", &tok, &body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{authorization}");
    let auth_id = authorization["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(authorization["data"]["attributes"]["number"], "1001/T/001");
    assert_eq!(authorization["data"]["attributes"]["succeeded"], true);
    assert_eq!(
        authorization["included"][0]["attributes"]["payment_status"],
        "authorized"
    );
    assert_json_snapshot!("authorization_created", redact(&authorization));

    let first = capture(&app, &tok, &auth_id, 6000).await;
    assert_eq!(
        attributes(&app, "orders", &order_id).await["payment_status"],
        "partially_paid"
    );
    let (status, second) = app
        .post(
            "/api/captures?include=authorization",
            &tok,
            &capture_doc(&auth_id, 4000),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let second_id = second["data"]["id"].as_str().unwrap().to_owned();
    let a = &second["data"]["attributes"];
    assert_eq!(a["number"], "1001/T/003");
    assert_eq!(
        a["payment_method_type"], "credit card",
        "taken from the authorization"
    );
    assert_eq!(
        (
            a["refund_amount_cents"].as_i64(),
            a["refund_balance_cents"].as_i64()
        ),
        (Some(0), Some(4000))
    );
    assert_json_snapshot!("capture_created", redact(&second));
    assert_eq!(
        attributes(&app, "orders", &order_id).await["payment_status"],
        "paid"
    );

    let (status, list) = app
        .get(
            &format!("/api/orders/{order_id}/captures?sort=number"),
            &tok,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [first.as_str(), second_id.as_str()]);
    assert_eq!(list["meta"]["record_count"], 2);
    assert_json_snapshot!("captures_of_the_order", redact(&list));
    let (_, all) = app.get("/api/captures", &tok).await;
    assert_eq!(all["meta"]["record_count"], 2, "maintained count");
    let (_, all) = app.get("/api/authorizations", &tok).await;
    assert_eq!(all["meta"]["record_count"], 1);
    let (_, all) = app.get("/api/orders", &tok).await;
    assert_eq!(all["meta"]["record_count"], 1);

    // A version and an event per change, in the same transactions.
    assert_eq!(
        journal(&app, &order_id),
        (
            vec![
                "create".into(),
                "update".into(),
                "update".into(),
                "update".into()
            ],
            vec![
                "orders.create".into(),
                "orders.update".into(),
                "orders.update".into(),
                "orders.update".into()
            ],
        )
    );
    assert_eq!(
        changes(&app, &order_id),
        vec![
            json!({"payment_status": ["authorized", "partially_paid"]}),
            json!({"payment_status": ["partially_paid", "paid"]}),
            json!({"payment_status": ["unpaid", "authorized"]}),
        ]
    );
    assert_eq!(
        journal(&app, &auth_id),
        (vec!["create".into()], vec!["authorizations.create".into()])
    );
    for id in [&first, &second_id] {
        assert_eq!(
            journal(&app, id),
            (vec!["create".into()], vec!["captures.create".into()])
        );
    }
}

async fn order_validation(app: TestApp) {
    let tok = token("acme");
    let cases: Vec<(&str, Value)> = vec![
        ("number missing", order_doc("x", json!({"number": null}))),
        ("number empty", order_doc(" ", json!({}))),
        ("number with a slash", order_doc("10/1", json!({}))),
        (
            "number not a string",
            order_doc("x", json!({"number": 1001})),
        ),
        (
            "currency missing",
            order_doc("1", json!({"currency_code": null})),
        ),
        (
            "currency unknown",
            order_doc("1", json!({"currency_code": "EURO"})),
        ),
        (
            "total missing",
            order_doc("1", json!({"total_amount_cents": null})),
        ),
        (
            "total negative",
            order_doc("1", json!({"total_amount_cents": -1})),
        ),
        (
            "total a float",
            order_doc("1", json!({"total_amount_cents": 10.5})),
        ),
        (
            "total a string",
            order_doc("1", json!({"total_amount_cents": "100"})),
        ),
        (
            "shipping negative",
            order_doc("1", json!({"shipping_amount_cents": -5})),
        ),
        (
            "shipping over total",
            order_doc("1", json!({"shipping_amount_cents": 10001})),
        ),
        (
            "email invalid",
            order_doc("1", json!({"customer_email": "ada.example.com"})),
        ),
        (
            "metadata not an object",
            order_doc("1", json!({"metadata": [1]})),
        ),
        (
            "reference not a string",
            order_doc("1", json!({"reference": 7})),
        ),
        (
            "read-only attribute",
            order_doc("1", json!({"payment_status": "paid"})),
        ),
        (
            "unknown attribute",
            order_doc("1", json!({"colour": "red"})),
        ),
        (
            "relationship",
            json!({"data": {"type": "orders", "attributes": {}, "relationships": {"refunds": {"data": []}}}}),
        ),
        (
            "wrong type",
            json!({"data": {"type": "refunds", "attributes": {}}}),
        ),
        (
            "client id",
            json!({"data": {"type": "orders", "id": "abcdefghij", "attributes": {}}}),
        ),
    ];
    let before = footprint(&app);
    let mut seen = serde_json::Map::new();
    for (label, body) in cases {
        let body = if let Some(attrs) = body["data"]["attributes"].as_object() {
            // `null` in the template means "leave it out".
            let mut body = body.clone();
            body["data"]["attributes"] = Value::Object(
                attrs
                    .iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            );
            body
        } else {
            body
        };
        let (status, doc) = app.post("/api/orders", &tok, &body).await;
        seen.insert(label.into(), error(status, &doc));
    }
    assert_eq!(footprint(&app), before, "nothing written");
    assert_json_snapshot!("order_validation_errors", Value::Object(seen));
}

async fn order_numbers_are_unique_per_organization_and_mode(app: TestApp) {
    let tok = token("acme");
    let first = create_order(&app, &tok, "2001", 5000).await;
    let (status, doc) = app
        .post("/api/orders", &tok, &order_doc("2001", json!({})))
        .await;
    assert_eq!(
        error(status, &doc),
        json!([422, "VALIDATION_ERROR", "/data/attributes/number"])
    );
    assert_json_snapshot!("order_number_taken", redact(&doc));
    // Another organization, or live mode, has numbers of its own.
    create_order(&app, &token("globex"), "2001", 5000).await;
    let live = TokenSpec {
        test: false,
        ..TokenSpec::new("acme")
    }
    .sign();
    create_order(&app, &live, "2001", 5000).await;
    // Renaming onto a taken number is refused as well (the unique index decides).
    let second = create_order(&app, &tok, "2002", 5000).await;
    let (status, doc) = app
        .patch(
            &format!("/api/orders/{second}"),
            &tok,
            &patch_doc("orders", &second, json!({"number": "2001"})),
        )
        .await;
    assert_eq!(
        error(status, &doc),
        json!([422, "VALIDATION_ERROR", "/data/attributes/number"])
    );
    assert_eq!(attributes(&app, "orders", &second).await["number"], "2002");
    assert_eq!(attributes(&app, "orders", &first).await["number"], "2001");
}

async fn concurrent_orders_with_one_number(app: TestApp) {
    let tok = token("acme");
    let mut handles = Vec::new();
    for _ in 0..6 {
        let state = app.state.clone();
        let tok = tok.clone();
        handles.push(actix_web::rt::spawn(async move {
            let svc = actix_web::test::init_service(refunds::app(state)).await;
            let req = actix_web::test::TestRequest::post()
                .uri("/api/orders")
                .insert_header(("Content-Type", JSONAPI))
                .insert_header(("Authorization", format!("Bearer {tok}")))
                .set_payload(order_doc("3001", json!({})).to_string())
                .to_request();
            actix_web::test::call_service(&svc, req).await.status()
        }));
    }
    let mut statuses = Vec::new();
    for h in handles {
        statuses.push(h.await.unwrap());
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::UNPROCESSABLE_ENTITY),
        "{statuses:?}"
    );
    assert_eq!(table_count(&app, "orders"), 1);
    let (_, all) = app.get("/api/orders", &tok).await;
    assert_eq!(
        all["meta"]["record_count"], 1,
        "the count is not bumped by refused inserts"
    );
}

async fn order_patch(app: TestApp) {
    let tok = token("acme");
    let id = create_order(&app, &tok, "4001", 8000).await;
    let uri = format!("/api/orders/{id}");
    // Before any payment, amounts may still be corrected.
    let (status, doc) = app
        .patch(
            &uri,
            &tok,
            &patch_doc(
                "orders",
                &id,
                json!({"total_amount_cents": 9000, "shipping_amount_cents": 900}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    let (status, doc) = app
        .patch(
            &uri,
            &tok,
            &patch_doc(
                "orders",
                &id,
                json!({
                    "customer_email": "grace@example.com", "customer_id": "cust-grace", "market_id": null,
                    "reference": "ERP-9", "reference_origin": "erp", "metadata": {"vip": true}
                }),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_json_snapshot!("order_updated", redact(&doc));
    authorize(&app, &tok, &id, 9000).await;
    let mut seen = serde_json::Map::new();
    let cases = [
        ("total after payments", json!({"total_amount_cents": 9500})),
        (
            "shipping after payments",
            json!({"shipping_amount_cents": 100}),
        ),
        ("currency after payments", json!({"currency_code": "USD"})),
        ("number after payments", json!({"number": "4002"})),
        ("payment_status", json!({"payment_status": "paid"})),
        ("transactions_count", json!({"transactions_count": 0})),
        (
            "_refund_amount_cents",
            json!({"_refund": true, "_refund_amount_cents": 10}),
        ),
        ("_refund not a boolean", json!({"_refund": "yes"})),
        ("email", json!({"customer_email": "nope"})),
    ];
    let before = footprint(&app);
    for (label, attrs) in cases {
        let (status, doc) = app
            .patch(&uri, &tok, &patch_doc("orders", &id, attrs))
            .await;
        seen.insert(label.into(), error(status, &doc));
    }
    let (status, doc) = app
        .patch(&uri, &tok, &patch_doc("orders", "zzzzzzzzzz", json!({})))
        .await;
    seen.insert("id mismatch".into(), error(status, &doc));
    let (status, doc) = app
        .patch(
            &uri,
            &tok,
            &json!({"data": {"type": "orders", "attributes": {}}}),
        )
        .await;
    seen.insert("id missing".into(), error(status, &doc));
    let (status, doc) = app
        .patch(&uri, &tok, &patch_doc("captures", &id, json!({})))
        .await;
    seen.insert("wrong type".into(), error(status, &doc));
    let (status, doc) = app
        .patch(
            &uri,
            &tok,
            &json!({"data": {"type": "orders", "id": id, "relationships": {"authorizations": {"data": []}}}}),
        )
        .await;
    seen.insert("relationship".into(), error(status, &doc));
    assert_eq!(footprint(&app), before, "nothing written");
    assert_json_snapshot!("order_patch_errors", Value::Object(seen));
    // The same values are accepted (clients send resources back whole); nothing changes.
    let (status, doc) = app
        .patch(
            &uri,
            &tok,
            &patch_doc(
                "orders",
                &id,
                json!({"total_amount_cents": 9000, "currency_code": "EUR", "number": "4001"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(
        footprint(&app),
        before,
        "no version for a change of nothing"
    );
    assert_eq!(
        journal(&app, &id).1,
        [
            "orders.create",
            "orders.update",
            "orders.update",
            "orders.update"
        ],
        "two patches and the authorization"
    );
}

async fn authorization_validation(app: TestApp) {
    let tok = token("acme");
    let order = create_order(&app, &tok, "5001", 10000).await;
    let other = create_order(&app, &token("globex"), "5001", 10000).await;
    let doc =
        |order: &str, attrs: Value| child_doc("authorizations", "order", "orders", order, attrs);
    let ok = json!({"amount_cents": 4000, "currency_code": "EUR"});
    let cases: Vec<(&str, Value)> = vec![
        (
            "order missing",
            json!({"data": {"type": "authorizations", "attributes": ok}}),
        ),
        ("order of another organization", doc(&other, ok.clone())),
        ("order unknown", doc("unknown123", ok.clone())),
        (
            "order of the wrong type",
            child_doc("authorizations", "order", "captures", &order, ok.clone()),
        ),
        (
            "other relationship",
            child_doc("authorizations", "captures", "captures", &order, ok.clone()),
        ),
        (
            "amount missing",
            doc(&order, json!({"currency_code": "EUR"})),
        ),
        (
            "amount zero",
            doc(&order, json!({"amount_cents": 0, "currency_code": "EUR"})),
        ),
        (
            "amount over the total",
            doc(
                &order,
                json!({"amount_cents": 10001, "currency_code": "EUR"}),
            ),
        ),
        (
            "currency missing",
            doc(&order, json!({"amount_cents": 100})),
        ),
        (
            "currency of another order",
            doc(&order, json!({"amount_cents": 100, "currency_code": "USD"})),
        ),
        (
            "succeeded not a boolean",
            doc(
                &order,
                json!({"amount_cents": 100, "currency_code": "EUR", "succeeded": "yes"}),
            ),
        ),
        (
            "number is generated",
            doc(
                &order,
                json!({"amount_cents": 100, "currency_code": "EUR", "number": "x"}),
            ),
        ),
    ];
    let before = footprint(&app);
    let mut seen = serde_json::Map::new();
    for (label, body) in cases {
        let (status, body) = app.post("/api/authorizations", &tok, &body).await;
        seen.insert(label.into(), error(status, &body));
    }
    assert_eq!(footprint(&app), before, "nothing written");
    assert_json_snapshot!("authorization_validation_errors", Value::Object(seen));

    // Declined authorizations do not use up the order's total.
    let (status, declined) = app
        .post(
            "/api/authorizations",
            &tok,
            &doc(&order, json!({"amount_cents": 10000, "currency_code": "EUR", "succeeded": false, "error_code": "card_declined"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{declined}");
    assert_eq!(
        attributes(&app, "orders", &order).await["payment_status"],
        "unpaid"
    );
    authorize(&app, &tok, &order, 7000).await;
    let (status, body) = app
        .post(
            "/api/authorizations",
            &tok,
            &doc(
                &order,
                json!({"amount_cents": 3001, "currency_code": "EUR"}),
            ),
        )
        .await;
    assert_eq!(
        error(status, &body),
        json!([422, "VALIDATION_ERROR", "/data/attributes/amount_cents"])
    );
    let last = authorize(&app, &tok, &order, 3000).await;
    assert_eq!(
        attributes(&app, "authorizations", &last).await["number"],
        "5001/T/003"
    );

    // PATCH: reference, reference_origin and metadata only.
    let uri = format!("/api/authorizations/{last}");
    let (status, body) = app
        .patch(
            &uri,
            &tok,
            &patch_doc(
                "authorizations",
                &last,
                json!({"reference": "PSP-1", "metadata": {"a": 1}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["attributes"]["reference"], "PSP-1");
    assert_eq!(
        changes(&app, &last),
        vec![json!({"metadata": [{}, {"a": 1}], "reference": [null, "PSP-1"]})]
    );
    assert_eq!(
        journal(&app, &last).1,
        ["authorizations.create", "authorizations.update"]
    );
    let (status, body) = app
        .patch(
            &uri,
            &tok,
            &patch_doc("authorizations", &last, json!({"amount_cents": 1})),
        )
        .await;
    assert_eq!(
        error(status, &body),
        json!([400, "PARAM_NOT_ALLOWED", "/data/attributes/amount_cents"])
    );
    let (status, body) = app
        .patch(
            &uri,
            &tok,
            &patch_doc("authorizations", "zzzzzzzzzz", json!({})),
        )
        .await;
    assert_eq!(
        error(status, &body),
        json!([400, "KEY_NOT_INCLUDED_IN_URL", "/data/id"])
    );
}

async fn capture_validation(app: TestApp) {
    let tok = token("acme");
    let order = create_order(&app, &tok, "6001", 10000).await;
    let authorization = authorize(&app, &tok, &order, 6000).await;
    let declined = {
        let body = child_doc(
            "authorizations",
            "order",
            "orders",
            &order,
            json!({"amount_cents": 4000, "currency_code": "EUR", "succeeded": false}),
        );
        let (status, doc) = app.post("/api/authorizations", &tok, &body).await;
        assert_eq!(status, StatusCode::CREATED, "{doc}");
        doc["data"]["id"].as_str().unwrap().to_owned()
    };
    let foreign = flow(&app, &token("globex"), "6001", &[100]).await;
    let doc = |authorization: &str, attrs: Value| {
        child_doc(
            "captures",
            "authorization",
            "authorizations",
            authorization,
            attrs,
        )
    };
    let ok = json!({"amount_cents": 100, "currency_code": "EUR"});
    let cases: Vec<(&str, Value)> = vec![
        (
            "authorization missing",
            json!({"data": {"type": "captures", "attributes": ok}}),
        ),
        (
            "authorization of another organization",
            doc(&foreign.authorization, ok.clone()),
        ),
        ("authorization unknown", doc("unknown123", ok.clone())),
        ("authorization declined", doc(&declined, ok.clone())),
        (
            "authorization of the wrong type",
            child_doc("captures", "authorization", "orders", &order, ok.clone()),
        ),
        (
            "order relationship",
            child_doc("captures", "order", "orders", &order, ok.clone()),
        ),
        (
            "amount negative",
            doc(
                &authorization,
                json!({"amount_cents": -100, "currency_code": "EUR"}),
            ),
        ),
        (
            "amount over the authorization",
            doc(
                &authorization,
                json!({"amount_cents": 6001, "currency_code": "EUR"}),
            ),
        ),
        (
            "currency of another authorization",
            doc(
                &authorization,
                json!({"amount_cents": 100, "currency_code": "JPY"}),
            ),
        ),
        (
            "refund_amount_cents is derived",
            doc(
                &authorization,
                json!({"amount_cents": 100, "currency_code": "EUR", "refund_amount_cents": 5}),
            ),
        ),
    ];
    let before = footprint(&app);
    let mut seen = serde_json::Map::new();
    for (label, body) in cases {
        let (status, body) = app.post("/api/captures", &tok, &body).await;
        seen.insert(label.into(), error(status, &body));
    }
    assert_eq!(footprint(&app), before, "nothing written");
    assert_json_snapshot!("capture_validation_errors", Value::Object(seen));

    // The captures of an authorization never exceed it; declined captures take nothing.
    capture(&app, &tok, &authorization, 5000).await;
    let (status, body) = app
        .post(
            "/api/captures",
            &tok,
            &doc(
                &authorization,
                json!({"amount_cents": 1000, "currency_code": "EUR", "succeeded": false}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["attributes"]["refund_balance_cents"], 1000);
    let (status, body) = app
        .post("/api/captures", &tok, &capture_doc(&authorization, 1001))
        .await;
    assert_eq!(
        error(status, &body),
        json!([422, "VALIDATION_ERROR", "/data/attributes/amount_cents"])
    );
    assert_json_snapshot!("capture_over_the_authorization", redact(&body));
    capture(&app, &tok, &authorization, 1000).await;
    let (status, body) = app
        .post("/api/captures", &tok, &capture_doc(&authorization, 1))
        .await;
    assert_eq!(
        error(status, &body),
        json!([422, "VALIDATION_ERROR", "/data/attributes/amount_cents"])
    );
    // 6000 of 10000 captured.
    assert_eq!(
        attributes(&app, "orders", &order).await["payment_status"],
        "partially_paid"
    );
}

async fn concurrent_captures_cannot_exceed_the_authorization(app: TestApp) {
    let tok = token("acme");
    let order = create_order(&app, &tok, "7001", 5000).await;
    let authorization = authorize(&app, &tok, &order, 5000).await;
    let mut handles = Vec::new();
    for _ in 0..8 {
        let state = app.state.clone();
        let tok = tok.clone();
        let body = capture_doc(&authorization, 1000).to_string();
        handles.push(actix_web::rt::spawn(async move {
            let svc = actix_web::test::init_service(refunds::app(state)).await;
            let req = actix_web::test::TestRequest::post()
                .uri("/api/captures")
                .insert_header(("Content-Type", JSONAPI))
                .insert_header(("Authorization", format!("Bearer {tok}")))
                .set_payload(body)
                .to_request();
            actix_web::test::call_service(&svc, req).await.status()
        }));
    }
    let mut statuses = Vec::new();
    for h in handles {
        statuses.push(h.await.unwrap());
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY)
            .count(),
        3,
        "{statuses:?}"
    );
    let (_, list) = app
        .get(
            &format!("/api/authorizations/{authorization}/captures?page[size]=25"),
            &tok,
        )
        .await;
    let total: i64 = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["attributes"]["amount_cents"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 5000);
    let mut numbers: Vec<String> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["attributes"]["number"].as_str().unwrap().to_owned())
        .collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 5, "distinct transaction numbers");
    assert_eq!(
        attributes(&app, "orders", &order).await["payment_status"],
        "paid"
    );
}

async fn refund_trigger_on_a_capture_with_an_amount(app: TestApp) {
    let tok = token("acme");
    let f = flow(&app, &tok, "8001", &[6000, 4000]).await;
    let cap = &f.captures[0];
    let uri = format!("/api/captures/{cap}");
    let body = patch_doc(
        "captures",
        cap,
        json!({"_refund": true, "_refund_amount_cents": 2500, "reference": "RMA-1"}),
    );
    let (status, _, doc) = app.send(Method::PATCH, &uri, &tok, &body).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["data"]["type"], "captures");
    let a = &doc["data"]["attributes"];
    assert_eq!(
        (
            a["refund_amount_cents"].as_i64(),
            a["refund_balance_cents"].as_i64()
        ),
        (Some(2500), Some(3500))
    );
    assert_eq!(a["reference"], "RMA-1");
    assert_json_snapshot!("capture_refunded_in_part", redact(&doc));
    assert_eq!(
        attributes(&app, "captures", &f.captures[1]).await["refund_balance_cents"],
        4000
    );
    assert_eq!(
        attributes(&app, "orders", &f.order).await["payment_status"],
        "partially_refunded"
    );
    // The refund went through the ledger: a refund on this capture, split in one row.
    let (_, refunds) = app
        .get(
            &format!("/api/captures/{cap}/refunds?include=refund_captures"),
            &tok,
        )
        .await;
    assert_eq!(refunds["meta"]["record_count"], 1, "{refunds}");
    let refund = &refunds["data"][0];
    assert_eq!(refund["attributes"]["amount_cents"], 2500);
    assert_eq!(refund["attributes"]["currency_code"], "EUR");
    assert_eq!(refund["attributes"]["number"], "8001/T/004");
    assert_eq!(refunds["included"][0]["type"], "refund_captures");
    assert_eq!(refunds["included"][0]["attributes"]["amount_cents"], 2500);
    let refund_id = refund["id"].as_str().unwrap();
    assert_eq!(
        journal(&app, refund_id),
        (
            vec!["create".into(), "update".into()],
            vec!["refunds.create".into(), "refunds.succeed".into()]
        )
    );
    assert_eq!(
        journal(&app, cap),
        (
            vec!["create".into(), "update".into(), "update".into()],
            vec![
                "captures.create".into(),
                "captures.refund".into(),
                "captures.update".into()
            ],
        )
    );

    // An Idempotency-Key makes a retry move no more money.
    let retry = patch_doc(
        "captures",
        cap,
        json!({"_refund": true, "_refund_amount_cents": 1000}),
    );
    for _ in 0..2 {
        let req = actix_web::test::TestRequest::patch()
            .uri(&uri)
            .insert_header(("Content-Type", JSONAPI))
            .insert_header(("Idempotency-Key", "rma-2"))
            .set_payload(retry.to_string());
        let (status, doc) = app.request(req, Some(&tok)).await;
        assert_eq!(status, StatusCode::OK, "{doc}");
        assert_eq!(doc["data"]["attributes"]["refund_balance_cents"], 2500);
    }
    let (_, by_key) = app.get("/api/refunds/by_key/rma-2", &tok).await;
    assert_eq!(by_key["data"]["attributes"]["amount_cents"], 1000);
    // The same key for another amount is a different request.
    let req = actix_web::test::TestRequest::patch()
        .uri(&uri)
        .insert_header(("Content-Type", JSONAPI))
        .insert_header(("Idempotency-Key", "rma-2"))
        .set_payload(
            patch_doc(
                "captures",
                cap,
                json!({"_refund": true, "_refund_amount_cents": 999}),
            )
            .to_string(),
        );
    let (status, doc) = app.request(req, Some(&tok)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(doc["errors"][0]["code"], "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(
        attributes(&app, "captures", cap).await["refund_balance_cents"],
        2500
    );
}

async fn refund_trigger_on_a_capture_without_an_amount(app: TestApp) {
    let tok = token("acme");
    let f = flow(&app, &tok, "8002", &[3000, 2000]).await;
    let cap = &f.captures[1];
    let uri = format!("/api/captures/{cap}");
    let (status, doc) = app
        .patch(
            &uri,
            &tok,
            &patch_doc("captures", cap, json!({"_refund": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    let a = &doc["data"]["attributes"];
    assert_eq!(
        (
            a["refund_amount_cents"].as_i64(),
            a["refund_balance_cents"].as_i64()
        ),
        (Some(2000), Some(0))
    );
    assert_json_snapshot!("capture_refunded_whole", redact(&doc));
    assert_eq!(
        attributes(&app, "captures", &f.captures[0]).await["refund_balance_cents"],
        3000
    );
    assert_eq!(
        attributes(&app, "orders", &f.order).await["payment_status"],
        "partially_refunded"
    );
    assert_eq!(table_count(&app, "refund_captures"), 1);
    // Nothing is left: the trigger fails and writes nothing.
    let before = footprint(&app);
    let (status, doc) = app
        .patch(
            &uri,
            &tok,
            &patch_doc(
                "captures",
                cap,
                json!({"_refund": true, "reference": "again"}),
            ),
        )
        .await;
    assert_eq!(
        error(status, &doc),
        json!([422, "INSUFFICIENT_FUNDS", "/data/attributes/_refund"])
    );
    assert_eq!(footprint(&app), before);
    assert_eq!(
        attributes(&app, "captures", cap).await["reference"],
        Value::Null,
        "no partial write"
    );
    // `_refund: false` is no trigger.
    let (status, doc) = app
        .patch(
            &uri,
            &tok,
            &patch_doc("captures", cap, json!({"_refund": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(footprint(&app), before);
}

async fn refund_trigger_on_an_order(app: TestApp) {
    let tok = token("acme");
    let f = flow(&app, &tok, "8003", &[6000, 4000]).await;
    // Some of it was refunded already.
    let (status, doc) = app
        .patch(
            &format!("/api/captures/{}", f.captures[0]),
            &tok,
            &patch_doc(
                "captures",
                &f.captures[0],
                json!({"_refund": true, "_refund_amount_cents": 1000}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    let uri = format!("/api/orders/{}", f.order);
    let (status, doc) = app
        .patch(
            &format!("{uri}?include=captures"),
            &tok,
            &patch_doc(
                "orders",
                &f.order,
                json!({"_refund": true, "reference": "RMA-ALL"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["data"]["type"], "orders");
    assert_eq!(doc["data"]["attributes"]["payment_status"], "refunded");
    assert_eq!(doc["data"]["attributes"]["reference"], "RMA-ALL");
    for cap in &f.captures {
        let a = attributes(&app, "captures", cap).await;
        assert_eq!(a["refund_balance_cents"], 0);
        assert_eq!(a["refund_amount_cents"], a["amount_cents"]);
    }
    // Included captures in number order: their creation instants may tie.
    let mut doc = doc;
    if let Some(included) = doc["included"].as_array_mut() {
        included.sort_by_key(|r| {
            r["attributes"]["number"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        });
    }
    assert_json_snapshot!("order_refunded", redact(&doc));
    // The order refund took 5000 + 4000 over both captures, oldest first.
    let (_, refunds) = app
        .get(
            &format!("{uri}/refunds?sort=number&include=refund_captures"),
            &tok,
        )
        .await;
    assert_eq!(refunds["meta"]["record_count"], 2);
    assert_eq!(refunds["data"][1]["attributes"]["amount_cents"], 9000);
    assert_eq!(refunds["data"][1]["attributes"]["number"], "8003/T/005");
    let mut splits: Vec<i64> = refunds["included"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["attributes"]["amount_cents"].as_i64().unwrap())
        .collect();
    splits.sort();
    assert_eq!(splits, [1000, 4000, 5000]);
    assert_eq!(table_count(&app, "refund_captures"), 3);
    // Journal: create, authorized, partially_paid, paid, partially_refunded, refunded, patch.
    let (versions, events) = journal(&app, &f.order);
    assert_eq!(versions.len(), 7, "{versions:?}");
    assert_eq!(events.iter().filter(|e| *e == "orders.update").count(), 6);
    assert!(changes(&app, &f.order)
        .contains(&json!({"payment_status": ["partially_refunded", "refunded"]})));
    assert!(changes(&app, &f.order).contains(&json!({"reference": [null, "RMA-ALL"]})));
    // Nothing left to refund.
    let (status, doc) = app
        .patch(
            &uri,
            &tok,
            &patch_doc("orders", &f.order, json!({"_refund": true})),
        )
        .await;
    assert_eq!(
        error(status, &doc),
        json!([422, "INSUFFICIENT_FUNDS", "/data/attributes/_refund"])
    );
}

async fn refund_trigger_errors(app: TestApp) {
    let tok = token("acme");
    let f = flow(&app, &tok, "8004", &[3000]).await;
    let cap = &f.captures[0];
    let uri = format!("/api/captures/{cap}");
    let before = footprint(&app);
    let mut seen = serde_json::Map::new();
    let cases = [
        (
            "over the balance",
            json!({"_refund": true, "_refund_amount_cents": 3001}),
        ),
        ("zero", json!({"_refund": true, "_refund_amount_cents": 0})),
        (
            "not an integer",
            json!({"_refund": true, "_refund_amount_cents": "10"}),
        ),
        (
            "amount without _refund",
            json!({"_refund_amount_cents": 10}),
        ),
        ("_refund not a boolean", json!({"_refund": 1})),
        ("amount_cents", json!({"amount_cents": 1})),
        ("succeeded", json!({"succeeded": false})),
    ];
    for (label, attrs) in cases {
        let (status, doc) = app
            .patch(&uri, &tok, &patch_doc("captures", cap, attrs))
            .await;
        seen.insert(label.into(), error(status, &doc));
    }
    let (status, doc) = app
        .patch(&uri, &tok, &json!({"data": {"type": "captures", "id": cap, "relationships": {"order": {"data": null}}}}))
        .await;
    seen.insert("relationship".into(), error(status, &doc));
    assert_eq!(footprint(&app), before, "nothing written");
    assert_json_snapshot!("refund_trigger_errors", Value::Object(seen));
    // Over the balance carries the balance, as POST /api/refunds does.
    let (_, doc) = app
        .patch(
            &uri,
            &tok,
            &patch_doc(
                "captures",
                cap,
                json!({"_refund": true, "_refund_amount_cents": 3001}),
            ),
        )
        .await;
    assert_eq!(doc["errors"][0]["meta"]["balance_cents"], 3000);
    // A declined refund (amounts ending in 13) moves nothing but is recorded.
    let (status, doc) = app
        .patch(
            &uri,
            &tok,
            &patch_doc(
                "captures",
                cap,
                json!({"_refund": true, "_refund_amount_cents": 113}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["data"]["attributes"]["refund_balance_cents"], 3000);
    // (It is no refund of the capture's `refunds`, which lists money taken from it.)
    let (_, refunds) = app
        .get(
            &format!("/api/refunds?filter[q][reference_capture_id_eq]={cap}"),
            &tok,
        )
        .await;
    assert_eq!(refunds["meta"]["record_count"], 1, "{refunds}");
    assert_eq!(refunds["data"][0]["attributes"]["succeeded"], false);
    assert_eq!(
        refunds["data"][0]["attributes"]["error_code"],
        "card_declined"
    );
}

async fn write_permissions_and_tenancy(app: TestApp) {
    let tok = token("acme");
    let f = flow(&app, &tok, "9001", &[1000]).await;
    let read_only = TokenSpec {
        role: Some("read_only"),
        ..TokenSpec::new("acme")
    }
    .sign();
    let storefront = TokenSpec {
        kind: "sales_channel",
        owner: Some("cust-ada".into()),
        ..TokenSpec::new("acme")
    }
    .sign();
    let webapp = TokenSpec {
        kind: "webapp",
        ..TokenSpec::new("acme")
    }
    .sign();
    let other = token("globex");
    let before = footprint(&app);
    let mut seen = serde_json::Map::new();
    let posts = [
        ("orders", order_doc("9002", json!({}))),
        (
            "authorizations",
            child_doc(
                "authorizations",
                "order",
                "orders",
                &f.order,
                json!({"amount_cents": 1, "currency_code": "EUR"}),
            ),
        ),
        ("captures", capture_doc(&f.authorization, 1)),
    ];
    for (name, tok_) in [("read_only", &read_only), ("sales_channel", &storefront)] {
        for (type_name, body) in &posts {
            let (status, doc) = app.post(&format!("/api/{type_name}"), tok_, body).await;
            seen.insert(format!("POST {type_name} {name}"), error(status, &doc));
        }
    }
    for (type_name, id) in [
        ("orders", &f.order),
        ("authorizations", &f.authorization),
        ("captures", &f.captures[0]),
    ] {
        let body = patch_doc(type_name, id, json!({"reference": "x"}));
        for (name, tok_) in [
            ("read_only", &read_only),
            ("sales_channel", &storefront),
            ("other tenant", &other),
        ] {
            let (status, doc) = app
                .patch(&format!("/api/{type_name}/{id}"), tok_, &body)
                .await;
            seen.insert(format!("PATCH {type_name} {name}"), error(status, &doc));
        }
    }
    let (status, doc) = app
        .patch(
            &format!("/api/captures/{}", f.captures[0]),
            &other,
            &patch_doc("captures", &f.captures[0], json!({"_refund": true})),
        )
        .await;
    seen.insert(
        "PATCH captures _refund other tenant".into(),
        error(status, &doc),
    );
    assert_eq!(footprint(&app), before, "nothing written");
    assert_json_snapshot!("write_permission_errors", Value::Object(seen));
    // A webapp token writes like an integration token; DELETE stays 405.
    let (status, doc) = app
        .patch(
            &format!("/api/orders/{}", f.order),
            &webapp,
            &patch_doc("orders", &f.order, json!({"reference": "web"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    let who: Vec<String> = {
        use refunds::db::schema::versions;
        let mut conn = app.state.pool.get().unwrap();
        versions::table
            .filter(versions::resource_id.eq(&f.order))
            .filter(versions::event.eq("update"))
            .select(versions::who)
            .load(&mut **conn)
            .unwrap()
    };
    assert!(who
        .iter()
        .any(|w| serde_json::from_str::<Value>(w).unwrap()["application"]["kind"] == "webapp"));
    let (status, _) = app
        .request(
            actix_web::test::TestRequest::delete().uri(&format!("/api/captures/{}", f.captures[0])),
            Some(&tok),
        )
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

async fn market_scoped_tokens(app: TestApp) {
    let eu = TokenSpec {
        scope: "market:id:mkt-eu".into(),
        ..TokenSpec::new("acme")
    }
    .sign();
    let (status, doc) = app
        .post(
            "/api/orders",
            &eu,
            &order_doc("9101", json!({"market_id": "mkt-us"})),
        )
        .await;
    assert_eq!(
        error(status, &doc),
        json!([422, "VALIDATION_ERROR", "/data/attributes/market_id"])
    );
    let (status, doc) = app
        .post("/api/orders", &eu, &order_doc("9101", json!({})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    let id = doc["data"]["id"].as_str().unwrap().to_owned();
    let (status, doc) = app
        .patch(
            &format!("/api/orders/{id}"),
            &eu,
            &patch_doc("orders", &id, json!({"market_id": "mkt-us"})),
        )
        .await;
    assert_eq!(
        error(status, &doc),
        json!([422, "VALIDATION_ERROR", "/data/attributes/market_id"])
    );
    // An order of another market is invisible to the token, so 404 on PATCH and 422 as a target.
    // (create_order uses market mkt-eu; move it away first.)
    let us = create_order(&app, &token("acme"), "9102", 1000).await;
    let (status, _) = app
        .patch(
            &format!("/api/orders/{us}"),
            &token("acme"),
            &patch_doc("orders", &us, json!({"market_id": "mkt-us"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, doc) = app
        .patch(
            &format!("/api/orders/{us}"),
            &eu,
            &patch_doc("orders", &us, json!({"reference": "x"})),
        )
        .await;
    assert_eq!(error(status, &doc), json!([404, "RECORD_NOT_FOUND", null]));
    let body = child_doc(
        "authorizations",
        "order",
        "orders",
        &us,
        json!({"amount_cents": 1, "currency_code": "EUR"}),
    );
    let (status, doc) = app.post("/api/authorizations", &eu, &body).await;
    assert_eq!(
        error(status, &doc),
        json!([422, "VALIDATION_ERROR", "/data/relationships/order/data/id"])
    );
}

crate::on_both_backends!(
    create_authorize_capture_and_list,
    order_validation,
    order_numbers_are_unique_per_organization_and_mode,
    concurrent_orders_with_one_number,
    order_patch,
    authorization_validation,
    capture_validation,
    concurrent_captures_cannot_exceed_the_authorization,
    refund_trigger_on_a_capture_with_an_amount,
    refund_trigger_on_a_capture_without_an_amount,
    refund_trigger_on_an_order,
    refund_trigger_errors,
    write_permissions_and_tenancy,
    market_scoped_tokens,
);
