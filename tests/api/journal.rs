//! `versions` and `events`: the journal written with every change, and the computed
//! `refund_summaries` of an order.

use actix_web::http::StatusCode;
use insta::assert_json_snapshot;
use serde_json::{json, Value};

use crate::common::{redact, refund_body, token, TestApp};

/// [`redact`], then every id and timestamp inside values too (changes, snapshots, payloads).
pub fn scrub(doc: &Value) -> Value {
    fn walk(v: Value) -> Value {
        match v {
            Value::String(s) if refunds::ids::is_id(&s) => Value::String("[id]".into()),
            Value::String(s)
                if s.len() == 24
                    && chrono::NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%.3fZ")
                        .is_ok() =>
            {
                Value::String("[timestamp]".into())
            }
            Value::Array(items) => Value::Array(items.into_iter().map(walk).collect()),
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (k, walk(v))).collect())
            }
            other => other,
        }
    }
    walk(redact(doc))
}

/// Creates a refund against a capture; returns its document.
async fn refund(app: &TestApp, capture_id: &str, attributes: Value) -> Value {
    let body = refund_body("reference_capture", "captures", capture_id, attributes);
    let (status, doc) = app.post("/api/refunds", &token("acme"), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    doc["data"].clone()
}

fn ids(doc: &Value) -> Vec<String> {
    doc["data"]
        .as_array()
        .expect("data array")
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn refund_create_and_update_are_journaled(app: TestApp) {
    let p = app.payments("acme", "3001", "EUR", &[6000, 4000]);
    let tok = token("acme");
    let created = refund(
        &app,
        &p.capture_ids[0],
        json!({"amount_cents": 2500, "currency_code": "EUR", "reference": "RMA-1"}),
    )
    .await;
    let id = created["id"].as_str().unwrap();

    // Reserved (create), then settled (update) once the gateway answered.
    let (_, all) = app.get(&format!("/api/refunds/{id}/versions"), &tok).await;
    assert_eq!(all["meta"]["record_count"], 2);
    let (_, settled) = app
        .get(
            &format!("/api/refunds/{id}/versions?filter[q][event_eq]=update"),
            &tok,
        )
        .await;
    let changes = &settled["data"][0]["attributes"]["changes"];
    assert_eq!(changes["status"], json!(["pending", "succeeded"]));
    assert_eq!(changes["refunded_amount_cents"], json!([0, 2500]));
    assert_eq!(
        settled["data"][0]["attributes"]["snapshot"],
        created["attributes"]
    );
    let (status, doc) = app
        .get(
            &format!("/api/refunds/{id}/versions?filter[q][event_eq]=create"),
            &tok,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["meta"]["record_count"], 1);
    let v = &doc["data"][0]["attributes"];
    assert_eq!(v["event"], "create");
    assert_eq!(
        (v["resource_type"].as_str(), v["resource_id"].as_str()),
        (Some("refunds"), Some(id))
    );
    assert_eq!(v["changes"]["amount_cents"], json!([null, 2500]));
    assert_eq!(v["changes"]["reference"], json!([null, "RMA-1"]));
    assert_eq!(v["snapshot"]["status"], "pending");
    assert_eq!(v["snapshot"]["amount_cents"], 2500);
    assert_eq!(
        v["who"],
        json!({"application": {"id": "app0000001", "kind": "integration"}, "owner": null})
    );
    assert_json_snapshot!("refund_create_versions", scrub(&doc));

    // The capture the refund drew on is journaled in the same transaction.
    let (_, doc) = app
        .get(
            &format!(
                "/api/versions?filter[q][resource_type_eq]=captures&filter[q][resource_id_eq]={}",
                p.capture_ids[0]
            ),
            &tok,
        )
        .await;
    assert_eq!(doc["meta"]["record_count"], 1, "{doc}");
    let v = &doc["data"][0]["attributes"];
    assert_eq!(v["event"], "update");
    assert_eq!(v["changes"]["refund_balance_cents"], json!([6000, 3500]));
    assert_eq!(v["changes"]["refund_amount_cents"], json!([0, 2500]));
    assert_json_snapshot!("capture_refund_version", scrub(&doc["data"][0]));

    // The create event, with its resource included.
    let (status, doc) = app
        .get(
            "/api/events?filter[q][name_eq]=refunds.create&include=resource",
            &tok,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["meta"]["record_count"], 1);
    let event = &doc["data"][0];
    assert_eq!(
        event["relationships"]["resource"]["data"],
        json!({"type": "refunds", "id": id})
    );
    assert_eq!(doc["included"][0]["id"], id);
    assert_eq!(doc["included"][0]["type"], "refunds");
    assert_eq!(event["attributes"]["payload"]["status"], "pending");
    assert_eq!(
        event["attributes"]["payload"]["key"],
        created["attributes"]["key"]
    );
    assert_json_snapshot!("refund_create_event", scrub(&doc));
    let eid = event["id"].as_str().unwrap();

    // The polymorphic `resource`: related document and linkage.
    let (status, related) = app.get(&format!("/api/events/{eid}/resource"), &tok).await;
    assert_eq!(status, StatusCode::OK, "{related}");
    assert_eq!(
        (
            related["data"]["type"].as_str(),
            related["data"]["id"].as_str()
        ),
        (Some("refunds"), Some(id))
    );
    let (status, linkage) = app
        .get(&format!("/api/events/{eid}/relationships/resource"), &tok)
        .await;
    assert_eq!(status, StatusCode::OK, "{linkage}");
    assert_eq!(linkage["data"], json!({"type": "refunds", "id": id}));
    let (_, one) = app
        .get(
            &format!("/api/events/{eid}?include=resource&fields[refunds]=number"),
            &tok,
        )
        .await;
    assert_eq!(
        one["included"][0]["attributes"],
        json!({"number": "3001/T/004"})
    );
    let (status, deeper) = app
        .get(&format!("/api/events/{eid}/resource?include=order"), &tok)
        .await;
    assert_eq!(status, StatusCode::OK, "{deeper}");
    assert_eq!(deeper["included"][0]["type"], "orders");

    // An update: only what changed, oldest first.
    let (status, doc) = app
        .patch(
            &format!("/api/refunds/{id}"),
            &tok,
            &json!({"data": {"type": "refunds", "id": id, "attributes": {"reference": "X"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    let (_, doc) = app.get(&format!("/api/refunds/{id}/versions"), &tok).await;
    let events: Vec<&str> = doc["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["attributes"]["event"].as_str().unwrap())
        .collect();
    // Reserved, settled, patched.
    assert_eq!(events, ["create", "update", "update"]);
    assert_eq!(
        doc["data"][2]["attributes"]["changes"],
        json!({"reference": ["RMA-1", "X"]})
    );
    assert_eq!(doc["data"][2]["attributes"]["snapshot"]["reference"], "X");
    let (_, newest) = app
        .get(
            &format!("/api/refunds/{id}/versions?sort=-created_at&page[size]=1"),
            &tok,
        )
        .await;
    assert_eq!(newest["data"][0]["attributes"]["event"], "update");
    let (_, updates) = app
        .get(
            &format!("/api/refunds/{id}/events?filter[q][name_eq]=refunds.update"),
            &tok,
        )
        .await;
    assert_eq!(updates["meta"]["record_count"], 1, "{updates}");
    assert_json_snapshot!("refund_update_event", scrub(&updates["data"][0]));

    // Relationship filters and includes from the refund's side.
    let (_, updated) = app
        .get("/api/refunds?filter[q][versions_event_eq]=update", &tok)
        .await;
    assert_eq!(ids(&updated), [id]);
    let (_, with) = app
        .get(&format!("/api/refunds/{id}?include=versions,events"), &tok)
        .await;
    assert_eq!(
        with["data"]["relationships"]["versions"]["data"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        with["data"]["relationships"]["events"]["data"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(with["included"].as_array().unwrap().len(), 6);
}

async fn journal_collections(app: TestApp) {
    app.seed("acme", 3, 7);
    let tok = token("acme");
    let (_, caps) = app
        .get(
            "/api/captures?filter[q][refund_balance_cents_gt]=1000",
            &tok,
        )
        .await;
    let capture = caps["data"][0]["id"]
        .as_str()
        .expect("a capture with balance")
        .to_owned();
    let currency = caps["data"][0]["attributes"]["currency_code"].clone();
    let before = app.all("/api/versions?page[size]=25", &tok).await.len();
    let (_, counted) = app.get("/api/versions", &tok).await;
    assert_eq!(counted["meta"]["record_count"], before as i64);
    refund(
        &app,
        &capture,
        json!({"amount_cents": 1000, "currency_code": currency}),
    )
    .await;
    refund(
        &app,
        &capture,
        json!({"amount_cents": 13, "currency_code": currency}),
    )
    .await;

    // Oldest first by default; maintained counts stay exact.
    let all = app.all("/api/versions?page[size]=25", &tok).await;
    let times: Vec<&str> = all
        .iter()
        .map(|v| v["attributes"]["created_at"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "oldest first");
    let (_, counted) = app.get("/api/versions", &tok).await;
    assert_eq!(counted["meta"]["record_count"], all.len() as i64);
    assert!(
        all.len() >= before + 3,
        "two refund creates and a capture update"
    );
    let events = app.all("/api/events?page[size]=25", &tok).await;
    let (_, counted) = app.get("/api/events", &tok).await;
    assert_eq!(counted["meta"]["record_count"], events.len() as i64);
    let times: Vec<&str> = events
        .iter()
        .map(|v| v["attributes"]["created_at"].as_str().unwrap())
        .collect();
    let mut newest_first = times.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, newest_first, "events newest first");

    let (_, creates) = app
        .get("/api/versions?filter[q][event_eq]=create&filter[q][resource_type_eq]=refunds&page[size]=25", &tok)
        .await;
    assert!(creates["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["attributes"]["event"] == "create"));
    let (status, _) = app
        .get(
            "/api/events?filter[q][resource_type_eq]=refunds&filter[q][resource_id_eq]=nope000000",
            &tok,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // What the description does not allow.
    let mut errors = Vec::new();
    for uri in [
        "/api/versions?sort=event",
        "/api/versions?filter[q][snapshot_eq]=x",
        "/api/versions?filter[q][created_at_gt]=yesterday",
        "/api/events?include=resource.order",
        "/api/events?filter[q][resource_name_eq]=x",
        "/api/events?fields[events]=payload,nope",
    ] {
        let (status, body) = app.get(uri, &tok).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        errors.push(json!({"uri": uri, "errors": body["errors"]}));
    }
    assert_json_snapshot!("journal_query_errors", errors);
    for method in ["POST", "PATCH", "DELETE"] {
        let req = actix_web::test::TestRequest::default()
            .method(method.parse().unwrap())
            .uri("/api/versions/abcdefghij")
            .insert_header(("Content-Type", "application/vnd.api+json"))
            .set_payload("{}");
        let (status, _) = app.request(req, Some(&tok)).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
}

async fn journal_is_tenant_scoped(app: TestApp) {
    let p = app.payments("acme", "3101", "EUR", &[5000]);
    let created = refund(
        &app,
        &p.capture_ids[0],
        json!({"amount_cents": 100, "currency_code": "EUR"}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let acme = token("acme");
    let globex = token("globex");
    let (_, mine) = app.get("/api/events", &acme).await;
    let eid = mine["data"][0]["id"].as_str().unwrap();
    let (_, theirs) = app.get("/api/events", &globex).await;
    assert_eq!(theirs["meta"]["record_count"], 0);
    let (_, theirs) = app.get("/api/versions", &globex).await;
    assert_eq!(theirs["meta"]["record_count"], 0);
    for uri in [
        format!("/api/events/{eid}"),
        format!("/api/events/{eid}/resource"),
        format!("/api/events/{eid}/relationships/resource"),
        format!("/api/refunds/{id}/versions"),
        format!("/api/refunds/{id}/events"),
    ] {
        let (status, body) = app.get(&uri, &globex).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(body["errors"][0]["code"], "RECORD_NOT_FOUND");
    }
}

/// Sets an order's shipping amount directly (no write route owns it here).
fn set_shipping(app: &TestApp, order_id: &str, cents: i64) {
    use diesel::prelude::*;
    use refunds::db::schema::orders;
    let mut conn = app.state.pool.get().expect("connection");
    diesel::update(orders::table.find(order_id))
        .set(orders::shipping_amount_cents.eq(cents))
        .execute(&mut **conn)
        .expect("shipping");
}

/// [`scrub`] for a summary, whose id is the order number rather than a generated id.
fn scrub_summary(doc: &Value) -> Value {
    let mut doc = doc.clone();
    let data = doc["data"].as_object_mut().expect("a summary");
    let number = data.remove("id").expect("an id");
    data.insert("id (the order number)".into(), number);
    scrub(&doc)
}

fn money(doc: &Value) -> Value {
    let a = &doc["data"]["attributes"];
    json!([
        a["captured_amount_cents"],
        a["refunded_amount_cents"],
        a["balance_cents"],
        a["shipping_cents"],
        a["balance_excluding_shipping_cents"],
    ])
}

async fn refund_summary_in_euros(app: TestApp) {
    let p = app.payments("acme", "4001", "EUR", &[6000, 4000]);
    set_shipping(&app, &p.order_id, 500);
    let tok = token("acme");
    let uri = "/api/refund_summaries/4001";
    let (status, doc) = app.get(uri, &tok).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(money(&doc), json!([10000, 0, 10000, 500, 9500]));

    // Partial, then the rest of the first capture, then a declined one (ends in 13).
    refund(
        &app,
        &p.capture_ids[0],
        json!({"amount_cents": 2500, "currency_code": "EUR"}),
    )
    .await;
    refund(
        &app,
        &p.capture_ids[0],
        json!({"amount_cents": 3500, "currency_code": "EUR"}),
    )
    .await;
    let declined = refund(
        &app,
        &p.capture_ids[1],
        json!({"amount_cents": 1013, "currency_code": "EUR"}),
    )
    .await;
    assert_eq!(declined["attributes"]["succeeded"], false);
    let (_, doc) = app.get(&format!("{uri}?include=order"), &tok).await;
    assert_eq!(money(&doc), json!([10000, 6000, 4000, 500, 3500]));
    assert_eq!(doc["data"]["id"], "4001");
    assert_eq!(doc["data"]["attributes"]["formatted_balance"], "€40,00");
    assert_eq!(doc["data"]["attributes"]["balance_float"], 40.0);
    assert_eq!(
        doc["data"]["relationships"]["order"]["data"]["id"],
        p.order_id
    );
    assert_eq!(doc["included"][0]["id"], p.order_id);
    assert_json_snapshot!("summary_eur", scrub_summary(&doc));

    // The rest of the order: only shipping's worth would be left, so nothing excluding it.
    refund(
        &app,
        &p.capture_ids[1],
        json!({"amount_cents": 3700, "currency_code": "EUR"}),
    )
    .await;
    let (_, doc) = app.get(uri, &tok).await;
    assert_eq!(money(&doc), json!([10000, 9700, 300, 500, 0]));

    let (_, sparse) = app
        .get(
            &format!("{uri}?fields[refund_summaries]=balance_cents,order"),
            &tok,
        )
        .await;
    assert_eq!(sparse["data"]["attributes"], json!({"balance_cents": 300}));
    assert!(sparse["data"]["relationships"]["order"].is_object());
    let (status, order) = app.get(&format!("{uri}/order"), &tok).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["data"]["id"], p.order_id);
    let (_, linkage) = app.get(&format!("{uri}/relationships/order"), &tok).await;
    assert_eq!(linkage["data"], json!({"type": "orders", "id": p.order_id}));
}

async fn refund_summary_in_yen(app: TestApp) {
    let p = app.payments("acme", "4002", "JPY", &[1500, 700]);
    set_shipping(&app, &p.order_id, 1000);
    // A capture that did not succeed counts for nothing.
    app.payments_with("acme", "4003", "JPY", &[900], false);
    let tok = token("acme");
    refund(
        &app,
        &p.capture_ids[1],
        json!({"amount_cents": 700, "currency_code": "JPY"}),
    )
    .await;
    let declined = refund(
        &app,
        &p.capture_ids[0],
        json!({"amount_cents": 313, "currency_code": "JPY"}),
    )
    .await;
    assert_eq!(declined["attributes"]["succeeded"], false);
    let (status, doc) = app.get("/api/refund_summaries/4002", &tok).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(money(&doc), json!([2200, 700, 1500, 1000, 500]));
    let a = &doc["data"]["attributes"];
    assert_eq!(a["formatted_captured_amount"], "¥2,200");
    assert_eq!(a["balance_float"], 1500.0);
    assert_eq!(a["currency_code"], "JPY");
    assert_json_snapshot!("summary_jpy", scrub_summary(&doc));

    refund(
        &app,
        &p.capture_ids[0],
        json!({"amount_cents": 1000, "currency_code": "JPY"}),
    )
    .await;
    let (_, doc) = app.get("/api/refund_summaries/4002", &tok).await;
    assert_eq!(money(&doc), json!([2200, 1700, 500, 1000, 0]));

    let (_, none) = app.get("/api/refund_summaries/4003", &tok).await;
    assert_eq!(money(&none), json!([0, 0, 0, 0, 0]));
}

async fn refund_summary_not_found(app: TestApp) {
    app.payments("acme", "4004", "EUR", &[1000]);
    let mut errors = Vec::new();
    for (uri, tok) in [
        ("/api/refund_summaries/9999", token("acme")),
        ("/api/refund_summaries/4004", token("globex")),
        ("/api/refund_summaries/4004/order", token("globex")),
    ] {
        let (status, body) = app.get(uri, &tok).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {body}");
        errors.push(body);
    }
    assert_json_snapshot!("summary_not_found", errors);
    let (status, body) = app
        .get(
            "/api/refund_summaries/4004?fields[refund_summaries]=nope",
            &token("acme"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["code"], "INVALID_FIELD");
}

crate::on_both_backends!(
    refund_create_and_update_are_journaled,
    journal_collections,
    journal_is_tenant_scoped,
    refund_summary_in_euros,
    refund_summary_in_yen,
    refund_summary_not_found,
);
