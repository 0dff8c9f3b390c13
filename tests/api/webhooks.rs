//! `webhooks` and `event_callbacks`: the resources (admin integration tokens only,
//! validation, triggers, tenancy) and the transactional outbox that queues deliveries.

use actix_web::http::StatusCode;
use actix_web::test as atest;
use diesel::prelude::*;
use insta::assert_json_snapshot;
use serde_json::{json, Value};

use crate::common::{redact, refund_body, token, TestApp, TokenSpec};

fn body(attributes: Value) -> Value {
    json!({"data": {"type": "webhooks", "attributes": attributes}})
}

fn patch_body(id: &str, attributes: Value) -> Value {
    json!({"data": {"type": "webhooks", "id": id, "attributes": attributes}})
}

/// The document with ids and timestamps redacted, the random secrets checked and hidden,
/// and `disabled_at` hidden.
fn scrub(doc: &Value) -> Value {
    fn hide(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    match (k.as_str(), &v) {
                        ("shared_secret", Value::String(s)) => {
                            assert_eq!(s.len(), 64, "{s}");
                            assert!(s.bytes().all(|b| b.is_ascii_hexdigit()), "{s}");
                            *v = json!("[secret]");
                        }
                        ("disabled_at", Value::String(_)) => *v = json!("[timestamp]"),
                        _ => hide(v),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(hide),
            _ => {}
        }
    }
    let mut doc = redact(doc);
    hide(&mut doc);
    doc
}

/// [`scrub`], with `id` replaced wherever it appears (query strings of links).
fn scrub_id(doc: &Value, id: &str) -> Value {
    serde_json::from_str(&scrub(doc).to_string().replace(id, "[id]")).expect("JSON")
}

async fn create(app: &TestApp, tok: &str, attributes: Value) -> String {
    let (status, doc) = app.post("/api/webhooks", tok, &body(attributes)).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    doc["data"]["id"].as_str().unwrap().to_owned()
}

async fn delete(app: &TestApp, uri: &str, tok: &str) -> StatusCode {
    let service = atest::init_service(refunds::app(app.state.clone())).await;
    let req = atest::TestRequest::delete()
        .uri(uri)
        .insert_header(("Authorization", format!("Bearer {tok}")))
        .to_request();
    atest::call_service(&service, req).await.status()
}

/// The outbox rows of a webhook: (topic, resource_type, resource_id, status).
fn deliveries(app: &TestApp, webhook_id: &str) -> Vec<(String, String, String, String)> {
    use refunds::db::schema::webhook_deliveries as d;
    let mut conn = app.state.pool.get().expect("connection");
    d::table
        .filter(d::webhook_id.eq(webhook_id))
        .order((d::created_at, d::id))
        .select((d::topic, d::resource_type, d::resource_id, d::status))
        .load(&mut **conn)
        .expect("deliveries")
}

async fn crud(app: TestApp) {
    let tok = token("acme");
    let (status, doc) = app
        .post(
            "/api/webhooks",
            &tok,
            &body(json!({
                "name": "ERP",
                "topic": "refunds.create",
                "callback_url": "https://erp.example.com/hooks?src=refunds",
                "include_resources": ["order", "reference_capture"],
                "reference": "WH-1",
                "metadata": {"team": "finance"}
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    assert_json_snapshot!("created", scrub(&doc));
    let id = doc["data"]["id"].as_str().unwrap().to_owned();
    let secret = doc["data"]["attributes"]["shared_secret"].clone();
    let other = create(
        &app,
        &tok,
        json!({"topic": "captures.refund", "callback_url": "http://127.0.0.1:9/x"}),
    )
    .await;

    // Reads: list, filters, sort, retrieve.
    let (status, doc) = app.get("/api/webhooks?sort=topic", &tok).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["meta"]["record_count"], 2);
    assert_eq!(doc["data"][0]["id"], json!(other));
    assert_eq!(doc["data"][1]["id"], json!(id));
    let (_, doc) = app
        .get("/api/webhooks?filter[q][topic_eq]=refunds.create", &tok)
        .await;
    assert_eq!(doc["meta"]["record_count"], 1);
    assert_eq!(doc["data"][0]["id"], json!(id));
    let (status, doc) = app.get(&format!("/api/webhooks/{id}"), &tok).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["data"]["attributes"]["shared_secret"], secret);

    // Update and the triggers.
    let (status, doc) = app
        .patch(
            &format!("/api/webhooks/{id}"),
            &tok,
            &patch_body(
                &id,
                json!({"name": "ERP v2", "include_resources": ["order"], "_disable": true}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_json_snapshot!("disabled", scrub(&doc));
    let (_, doc) = app
        .get("/api/webhooks?filter[q][disabled_at_null]=true", &tok)
        .await;
    assert_eq!(doc["meta"]["record_count"], 1);
    assert_eq!(doc["data"][0]["id"], json!(other));
    let (status, doc) = app
        .patch(
            &format!("/api/webhooks/{id}"),
            &tok,
            &patch_body(&id, json!({"_enable": true, "_reset_circuit": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["data"]["attributes"]["disabled_at"], Value::Null);
    assert_eq!(doc["data"]["attributes"]["circuit_state"], "closed");
    assert_eq!(doc["data"]["attributes"]["name"], "ERP v2");

    // Delete.
    assert_eq!(
        delete(&app, &format!("/api/webhooks/{id}"), &tok).await,
        StatusCode::NO_CONTENT
    );
    let (status, _) = app.get(&format!("/api/webhooks/{id}"), &tok).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, doc) = app.get("/api/webhooks", &tok).await;
    assert_eq!(doc["meta"]["record_count"], 1);
}

async fn invalid_requests(app: TestApp) {
    let tok = token("acme");
    let hook = json!({"topic": "refunds.create", "callback_url": "https://x.example.com/h"});
    let with = |k: &str, v: Value| {
        let mut a = hook.clone();
        a[k] = v;
        a
    };
    let without = |k: &str| {
        let mut a = hook.clone();
        a.as_object_mut().unwrap().remove(k);
        a
    };
    let cases = [
        ("unknown topic", with("topic", json!("refunds.explode"))),
        ("topic not a string", with("topic", json!(7))),
        ("missing topic", without("topic")),
        ("missing url", without("callback_url")),
        ("relative url", with("callback_url", json!("/hooks"))),
        (
            "ftp url",
            with("callback_url", json!("ftp://x.example.com/h")),
        ),
        (
            "url without host",
            with("callback_url", json!("https:///h")),
        ),
        (
            "url with a space",
            with("callback_url", json!("https://x.example.com/a b")),
        ),
        (
            "bad port",
            with("callback_url", json!("https://x.example.com:http/h")),
        ),
        (
            "unknown include",
            with("include_resources", json!(["order", "nope"])),
        ),
        (
            "include of another type",
            with("include_resources", json!(["attachable"])),
        ),
        (
            "include not a list",
            with("include_resources", json!("order")),
        ),
        ("unknown attribute", with("shared_secret", json!("mine"))),
    ];
    let mut answers = serde_json::Map::new();
    for (name, attributes) in cases {
        let (status, doc) = app.post("/api/webhooks", &tok, &body(attributes)).await;
        answers.insert(
            name.into(),
            json!({"status": status.as_u16(), "errors": doc["errors"]}),
        );
    }
    // A topic change is checked against the includes already set.
    let id = create(
        &app,
        &tok,
        with("include_resources", json!(["reference_capture"])),
    )
    .await;
    let (status, doc) = app
        .patch(
            &format!("/api/webhooks/{id}"),
            &tok,
            &patch_body(&id, json!({"topic": "orders.create"})),
        )
        .await;
    answers.insert(
        "topic change against the includes".into(),
        json!({"status": status.as_u16(), "errors": doc["errors"]}),
    );
    assert_json_snapshot!("invalid_requests", Value::Object(answers));
}

async fn admin_integration_tokens_only(app: TestApp) {
    let admin = token("acme");
    let id = create(
        &app,
        &admin,
        json!({"topic": "orders.create", "callback_url": "https://x.example.com/h"}),
    )
    .await;
    let others = [
        TokenSpec {
            kind: "webapp",
            ..TokenSpec::new("acme")
        }
        .sign(),
        TokenSpec {
            kind: "sales_channel",
            owner: Some("cust000001".into()),
            ..TokenSpec::new("acme")
        }
        .sign(),
        TokenSpec {
            role: Some("read_only"),
            ..TokenSpec::new("acme")
        }
        .sign(),
    ];
    for tok in &others {
        for uri in [
            "/api/webhooks".to_owned(),
            format!("/api/webhooks/{id}"),
            format!("/api/webhooks/{id}/last_event_callbacks"),
            format!("/api/webhooks/{id}/relationships/last_event_callbacks"),
            "/api/event_callbacks".to_owned(),
        ] {
            let (status, doc) = app.get(&uri, tok).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}: {doc}");
        }
        let (status, _) = app
            .post(
                "/api/webhooks",
                tok,
                &body(json!({"topic": "orders.create", "callback_url": "https://x.example.com/h"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = app
            .patch(
                &format!("/api/webhooks/{id}"),
                tok,
                &patch_body(&id, json!({"name": "mine"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            delete(&app, &format!("/api/webhooks/{id}"), tok).await,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, doc) = app.get("/api/webhooks", &others[0]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_json_snapshot!("unauthorized", doc);
}

async fn tenants_are_isolated(app: TestApp) {
    let acme = token("acme");
    let globex = token("globex");
    let id = create(
        &app,
        &acme,
        json!({"topic": "refunds.create", "callback_url": "https://x.example.com/h"}),
    )
    .await;
    let (status, _) = app.get(&format!("/api/webhooks/{id}"), &globex).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, doc) = app.get("/api/webhooks", &globex).await;
    assert_eq!(doc["meta"]["record_count"], 0);
    let (status, _) = app
        .patch(
            &format!("/api/webhooks/{id}"),
            &globex,
            &patch_body(&id, json!({"name": "hijacked"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        delete(&app, &format!("/api/webhooks/{id}"), &globex).await,
        StatusCode::NOT_FOUND
    );
    let live = TokenSpec {
        test: false,
        ..TokenSpec::new("acme")
    }
    .sign();
    let (status, _) = app.get(&format!("/api/webhooks/{id}"), &live).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Another tenant's refunds queue nothing for it.
    let p = app.payments("globex", "7001", "EUR", &[5000]);
    let req = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        json!({"amount_cents": 100, "currency_code": "EUR"}),
    );
    let (status, doc) = app.post("/api/refunds", &globex, &req).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    assert!(deliveries(&app, &id).is_empty());
}

/// Every committed event with a subscribed topic is queued once per enabled webhook;
/// refused requests, disabled webhooks and other topics queue nothing.
async fn outbox_follows_the_events(app: TestApp) {
    let tok = token("acme");
    let url = "https://x.example.com/h";
    let on_refunds = create(
        &app,
        &tok,
        json!({"topic": "refunds.create", "callback_url": url}),
    )
    .await;
    let also = create(
        &app,
        &tok,
        json!({"topic": "refunds.create", "callback_url": url}),
    )
    .await;
    let disabled = create(
        &app,
        &tok,
        json!({"topic": "refunds.create", "callback_url": url}),
    )
    .await;
    let on_updates = create(
        &app,
        &tok,
        json!({"topic": "refunds.update", "callback_url": url}),
    )
    .await;
    let (status, _) = app
        .patch(
            &format!("/api/webhooks/{disabled}"),
            &tok,
            &patch_body(&disabled, json!({"_disable": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let p = app.payments("acme", "7002", "EUR", &[5000]);
    let req = |amount: i64| {
        refund_body(
            "reference_capture",
            "captures",
            &p.capture_ids[0],
            json!({"amount_cents": amount, "currency_code": "EUR"}),
        )
    };
    let (status, doc) = app.post("/api/refunds", &tok, &req(1000)).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    let refund = doc["data"]["id"].as_str().unwrap().to_owned();
    // Refused: more than the balance. No event, no delivery.
    let (status, doc) = app.post("/api/refunds", &tok, &req(999_999)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{doc}");
    // Declined by the gateway (an amount ending in 13): still a refunds.create.
    let (status, doc) = app.post("/api/refunds", &tok, &req(113)).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    assert_eq!(doc["data"]["attributes"]["succeeded"], false);
    let declined = doc["data"]["id"].as_str().unwrap().to_owned();
    let want: Vec<_> = [&refund, &declined]
        .into_iter()
        .map(|id| {
            (
                "refunds.create".to_owned(),
                "refunds".to_owned(),
                id.clone(),
                "pending".to_owned(),
            )
        })
        .collect();
    assert_eq!(deliveries(&app, &on_refunds), want);
    assert_eq!(deliveries(&app, &also), want);
    assert!(deliveries(&app, &disabled).is_empty());
    assert!(deliveries(&app, &on_updates).is_empty());
    // A deleted webhook's deliveries go with it.
    assert_eq!(
        delete(&app, &format!("/api/webhooks/{also}"), &tok).await,
        StatusCode::NO_CONTENT
    );
    assert!(deliveries(&app, &also).is_empty());
}

/// The journal writes the deliveries in the change's transaction: a rollback leaves none.
async fn rolled_back_changes_queue_nothing(app: TestApp) {
    let tok = token("acme");
    let id = create(
        &app,
        &tok,
        json!({"topic": "orders.update", "callback_url": "https://x.example.com/h"}),
    )
    .await;
    let scope = refunds::auth::Scope {
        organization_id: refunds::ids::organization_id("acme"),
        mode: "test",
        customer_id: None,
        market_ids: None,
        admin: true,
    };
    let after = refunds::jsonapi::document::Attributes::default();
    let record = |conn: &mut refunds::db::DbConnection| {
        refunds::journal::record(
            conn,
            &scope,
            &json!({}),
            refunds::journal::Change {
                resource_type: "orders",
                resource_id: "order00001",
                order_id: "order00001",
                event: "update",
                before: None,
                after: &after,
                name: "orders.update",
            },
        )
    };
    {
        let mut conn = app.state.pool.get().expect("connection");
        let rolled_back = refunds::db::write_transaction(&mut conn, |conn| {
            record(conn)?;
            Err::<(), _>(diesel::result::Error::RollbackTransaction)
        });
        assert!(rolled_back.is_err());
    }
    assert!(deliveries(&app, &id).is_empty());
    {
        let mut conn = app.state.pool.get().expect("connection");
        refunds::db::write_transaction(&mut conn, record).expect("committed");
    }
    assert_eq!(deliveries(&app, &id).len(), 1);
}

/// `event_callbacks`: listed newest first, filtered by webhook and response code, with
/// the webhook to-one and the webhook's `last_event_callbacks`.
async fn event_callbacks_are_read_through_the_engine(app: TestApp) {
    use refunds::db::schema::event_callbacks as ec;
    let tok = token("acme");
    let id = create(
        &app,
        &tok,
        json!({"topic": "orders.create", "callback_url": "https://x.example.com/h"}),
    )
    .await;
    let t0 = chrono::NaiveDate::from_ymd_opt(2026, 3, 1)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    {
        let mut conn = app.state.pool.get().expect("connection");
        for (attempt, code) in [(1i64, Some(500i64)), (2, None), (3, Some(204))] {
            let message = match code {
                Some(500) => Some("Internal Server Error"),
                None => Some("timed out"),
                _ => None,
            };
            diesel::insert_into(ec::table)
                .values((
                    ec::id.eq(refunds::ids::new_id()),
                    ec::organization_id.eq(refunds::ids::organization_id("acme")),
                    ec::mode.eq("test"),
                    ec::webhook_id.eq(&id),
                    ec::callback_url.eq("https://x.example.com/h"),
                    ec::payload.eq(json!({"meta": {"attempt": attempt}}).to_string()),
                    ec::response_code.eq(code),
                    ec::response_message.eq(message),
                    ec::attempt.eq(attempt),
                    ec::created_at.eq(t0 + chrono::Duration::seconds(attempt)),
                ))
                .execute(&mut **conn)
                .expect("callback");
        }
    }
    let (status, doc) = app
        .get(&format!("/api/webhooks/{id}/last_event_callbacks"), &tok)
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    let attempts: Vec<&Value> = doc["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["attributes"]["attempt"])
        .collect();
    assert_eq!(attempts, [&json!(3), &json!(2), &json!(1)]);
    let (_, doc) = app
        .get(
            &format!("/api/event_callbacks?filter[q][webhook_id_eq]={id}&filter[q][response_code_gteq]=500&include=webhook"),
            &tok,
        )
        .await;
    assert_json_snapshot!("callbacks_filtered", scrub_id(&doc, &id));
    let (_, doc) = app
        .get(
            "/api/event_callbacks?filter[q][response_code_null]=true",
            &tok,
        )
        .await;
    assert_eq!(doc["meta"]["record_count"], 1);
    assert_eq!(
        doc["data"][0]["attributes"]["response_message"],
        "timed out"
    );
}

/// Webhook changes are journaled like every resource's, without the secret, and only
/// admin integration tokens read those versions and events.
async fn versions_without_the_secret(app: TestApp) {
    let tok = token("acme");
    let id = create(
        &app,
        &tok,
        json!({"topic": "refunds.create", "callback_url": "https://erp.example.com/hooks"}),
    )
    .await;
    let (_, shown) = app.get(&format!("/api/webhooks/{id}"), &tok).await;
    let secret = shown["data"]["attributes"]["shared_secret"]
        .as_str()
        .expect("a secret")
        .to_owned();
    let patch = json!({"data": {"type": "webhooks", "id": id, "attributes": {"name": "ERP"}}});
    let (status, doc) = app
        .patch(&format!("/api/webhooks/{id}"), &tok, &patch)
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    let (status, versions) = app.get(&format!("/api/webhooks/{id}/versions"), &tok).await;
    assert_eq!(status, StatusCode::OK, "{versions}");
    let events: Vec<&str> = versions["data"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["attributes"]["event"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(events, ["create", "update"], "{versions}");
    assert_eq!(
        versions["data"][1]["attributes"]["changes"]["name"],
        json!([null, "ERP"])
    );
    let filter = "filter[q][resource_type_eq]=webhooks";
    let (_, journal) = app.get(&format!("/api/events?{filter}"), &tok).await;
    assert_eq!(journal["meta"]["record_count"], 2, "{journal}");
    for doc in [&versions, &journal] {
        assert!(
            !doc.to_string().contains(&secret),
            "the secret is journaled"
        );
    }
    let read_only = TokenSpec {
        role: Some("read_only"),
        ..TokenSpec::new("acme")
    }
    .sign();
    let webapp = TokenSpec {
        kind: "webapp",
        ..TokenSpec::new("acme")
    }
    .sign();
    for other in [&read_only, &webapp] {
        for uri in [
            format!("/api/versions?{filter}"),
            format!("/api/events?{filter}"),
        ] {
            let (status, doc) = app.get(&uri, other).await;
            assert_eq!(status, StatusCode::OK, "{uri}: {doc}");
            assert_eq!(doc["meta"]["record_count"], 0, "{uri}: {doc}");
        }
    }
    let status = delete(&app, &format!("/api/webhooks/{id}"), &tok).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, after) = app.get(&format!("/api/versions?{filter}"), &tok).await;
    assert_eq!(
        after["meta"]["record_count"], 3,
        "the destroy is journaled too"
    );
}

crate::on_both_backends!(
    versions_without_the_secret,
    crud,
    invalid_requests,
    admin_integration_tokens_only,
    tenants_are_isolated,
    outbox_follows_the_events,
    rolled_back_changes_queue_nothing,
    event_callbacks_are_read_through_the_engine,
);
