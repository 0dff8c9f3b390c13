//! `attachments`: `POST`, `PATCH` and `DELETE /api/attachments`, the polymorphic
//! `attachable`, journaling and tenancy.

use actix_web::http::{Method, StatusCode};
use actix_web::test as atest;
use insta::assert_json_snapshot;
use serde_json::{json, Value};

use crate::common::{refund_body, token, TestApp, TokenSpec};
use crate::journal::scrub;

fn body(attributes: Value, attachable: Option<(&str, &str)>) -> Value {
    let mut data = json!({"type": "attachments", "attributes": attributes});
    if let Some((t, id)) = attachable {
        data["relationships"] = json!({"attachable": {"data": {"type": t, "id": id}}});
    }
    json!({ "data": data })
}

async fn a_refund(app: &TestApp, number: &str) -> (crate::common::Payments, String) {
    let p = app.payments("acme", number, "EUR", &[5000]);
    let req = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        json!({"amount_cents": 1200, "currency_code": "EUR"}),
    );
    let (status, doc) = app.post("/api/refunds", &token("acme"), &req).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    let id = doc["data"]["id"].as_str().unwrap().to_owned();
    (p, id)
}

/// `DELETE`: the status and the raw body (empty on `204`).
async fn delete(app: &TestApp, uri: &str, tok: &str) -> (StatusCode, Vec<u8>) {
    let service = atest::init_service(refunds::app(app.state.clone())).await;
    let req = atest::TestRequest::delete()
        .uri(uri)
        .insert_header(("Authorization", format!("Bearer {tok}")))
        .to_request();
    let resp = atest::call_service(&service, req).await;
    let status = resp.status();
    (status, atest::read_body(resp).await.to_vec())
}

async fn count(app: &TestApp, uri: &str) -> i64 {
    let (status, doc) = app.get(uri, &token("acme")).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    doc["meta"]["record_count"].as_i64().expect("record_count")
}

async fn crud_on_a_refund(app: TestApp) {
    let (_, refund) = a_refund(&app, "5001").await;
    let tok = token("acme");
    let versions_before = count(&app, "/api/versions").await;
    let new = body(
        json!({
            "name": "Return label",
            "description": "Carrier label",
            "url": "https://files.example.com/label.pdf",
            "reference": "DOC-1",
            "reference_origin": "DMS",
            "metadata": {"pages": 1}
        }),
        Some(("refunds", &refund)),
    );
    let (status, headers, doc) = app
        .send(
            Method::POST,
            "/api/attachments?include=attachable",
            &tok,
            &new,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    let id = doc["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("http://refunds.test/api/attachments/{id}").as_str())
    );
    assert_eq!(
        doc["data"]["relationships"]["attachable"]["data"],
        json!({"type": "refunds", "id": refund})
    );
    assert_eq!(doc["included"][0]["type"], "refunds");
    assert_json_snapshot!("created", scrub(&doc));
    assert_eq!(count(&app, "/api/attachments").await, 1);
    assert_eq!(count(&app, "/api/versions").await, versions_before + 1);

    // Listed under the refund; reachable back through `attachable`.
    let (_, listed) = app
        .get(&format!("/api/refunds/{refund}/attachments"), &tok)
        .await;
    assert_eq!(listed["meta"]["record_count"], 1);
    assert_eq!(listed["data"][0]["id"], id.as_str());
    let (status, related) = app
        .get(&format!("/api/attachments/{id}/attachable"), &tok)
        .await;
    assert_eq!(status, StatusCode::OK, "{related}");
    assert_eq!(related["data"]["id"], refund.as_str());
    let (_, linkage) = app
        .get(
            &format!("/api/attachments/{id}/relationships/attachable"),
            &tok,
        )
        .await;
    assert_eq!(linkage["data"], json!({"type": "refunds", "id": refund}));
    let (_, filtered) = app
        .get("/api/refunds?filter[q][attachments_name_cont]=label", &tok)
        .await;
    assert_eq!(filtered["data"][0]["id"], refund.as_str());
    let (_, by_type) = app
        .get(
            "/api/attachments?filter[q][attachable_type_eq]=refunds&filter[q][metadata_jcont]=%7B%22pages%22%3A1%7D",
            &tok,
        )
        .await;
    assert_eq!(by_type["meta"]["record_count"], 1);

    // PATCH: attributes only.
    let patch = json!({"data": {"type": "attachments", "id": id,
        "attributes": {"name": "Label (signed)", "description": null}}});
    let (status, doc) = app
        .patch(&format!("/api/attachments/{id}"), &tok, &patch)
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["data"]["attributes"]["name"], "Label (signed)");
    assert_eq!(doc["data"]["attributes"]["description"], Value::Null);
    assert_eq!(
        doc["data"]["attributes"]["url"],
        "https://files.example.com/label.pdf"
    );
    let moving = json!({"data": {"type": "attachments", "id": id,
        "relationships": {"attachable": {"data": {"type": "orders", "id": "abcdefghij"}}}}});
    let (status, err) = app
        .patch(&format!("/api/attachments/{id}"), &tok, &moving)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["errors"][0]["code"], "PARAM_NOT_ALLOWED");
    // An unchanged PATCH journals nothing.
    let same =
        json!({"data": {"type": "attachments", "id": id, "attributes": {"reference": "DOC-1"}}});
    let (status, _) = app
        .patch(&format!("/api/attachments/{id}"), &tok, &same)
        .await;
    assert_eq!(status, StatusCode::OK);

    // DELETE: 204, gone, counted, journaled.
    let (status, bytes) = delete(&app, &format!("/api/attachments/{id}"), &tok).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(bytes.is_empty());
    let (status, _) = app.get(&format!("/api/attachments/{id}"), &tok).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = delete(&app, &format!("/api/attachments/{id}"), &tok).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(count(&app, "/api/attachments").await, 0);
    assert_eq!(
        count(&app, "/api/attachments?filter[q][name_present]=1").await,
        0
    );
    assert_eq!(count(&app, "/api/versions").await, versions_before + 3);

    let (_, versions) = app
        .get(
            &format!("/api/versions?filter[q][resource_id_eq]={id}"),
            &tok,
        )
        .await;
    let events: Vec<&str> = versions["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["attributes"]["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["create", "update", "destroy"]);
    assert_eq!(
        versions["data"][1]["attributes"]["changes"],
        json!({"name": ["Return label", "Label (signed)"], "description": ["Carrier label", null]})
    );
    assert_eq!(
        versions["data"][2]["attributes"]["snapshot"]["name"],
        "Label (signed)"
    );
    assert_json_snapshot!("versions", scrub(&versions["data"]));
    let (_, events) = app
        .get(
            "/api/events?filter[q][resource_type_eq]=attachments&include=resource&sort=created_at",
            &tok,
        )
        .await;
    let names: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["attributes"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "attachments.create",
            "attachments.update",
            "attachments.destroy"
        ]
    );
    // The attachment is gone, so the events' resource is empty.
    assert_eq!(
        events["data"][2]["relationships"]["resource"]["data"],
        Value::Null
    );
    assert!(events.get("included").is_none());
}

async fn captures_and_orders_take_attachments(app: TestApp) {
    let (p, _) = a_refund(&app, "5002").await;
    let tok = token("acme");
    for (t, id) in [("captures", &p.capture_ids[0]), ("orders", &p.order_id)] {
        let (status, doc) = app
            .post(
                "/api/attachments",
                &tok,
                &body(json!({"name": format!("on {t}")}), Some((t, id))),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{doc}");
        let aid = doc["data"]["id"].as_str().unwrap();
        let (_, related) = app
            .get(&format!("/api/attachments/{aid}/attachable"), &tok)
            .await;
        assert_eq!(
            (
                related["data"]["type"].as_str(),
                related["data"]["id"].as_str()
            ),
            (Some(t), Some(id.as_str()))
        );
        assert_eq!(doc["data"]["attributes"]["metadata"], json!({}));
    }
    let (_, all) = app
        .get("/api/attachments?include=attachable&sort=name", &tok)
        .await;
    let types: Vec<&str> = all["included"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["captures", "orders"]);
    let (_, orders) = app
        .get(
            "/api/attachments?filter[q][attachable_type_eq]=orders",
            &tok,
        )
        .await;
    assert_eq!(orders["meta"]["record_count"], 1);
    // The order's journal holds the attachment's version.
    let (_, versions) = app
        .get(
            &format!(
                "/api/versions?filter[q][resource_type_eq]=attachments&filter[q][order_id_eq]={}",
                p.order_id
            ),
            &tok,
        )
        .await;
    assert_eq!(versions["meta"]["record_count"], 2);
}

async fn invalid_requests(app: TestApp) {
    let (_, refund) = a_refund(&app, "5003").await;
    let other = app.payments("globex", "5003", "EUR", &[100]);
    let tok = token("acme");
    let cases = [
        ("no name", body(json!({}), Some(("refunds", &refund)))),
        (
            "empty name",
            body(json!({"name": " "}), Some(("refunds", &refund))),
        ),
        (
            "null name",
            body(json!({"name": null}), Some(("refunds", &refund))),
        ),
        ("no attachable", body(json!({"name": "x"}), None)),
        (
            "wrong type",
            body(
                json!({"name": "x"}),
                Some(("authorizations", &other.authorization_id)),
            ),
        ),
        (
            "unknown id",
            body(json!({"name": "x"}), Some(("refunds", "abcdefghij"))),
        ),
        (
            "another tenant's",
            body(json!({"name": "x"}), Some(("orders", &other.order_id))),
        ),
        (
            "another tenant's capture",
            body(
                json!({"name": "x"}),
                Some(("captures", &other.capture_ids[0])),
            ),
        ),
        (
            "metadata not an object",
            body(
                json!({"name": "x", "metadata": [1]}),
                Some(("refunds", &refund)),
            ),
        ),
        (
            "unknown attribute",
            body(json!({"name": "x", "size": 3}), Some(("refunds", &refund))),
        ),
        (
            "url not a string",
            body(json!({"name": "x", "url": 3}), Some(("refunds", &refund))),
        ),
        (
            "other relationship",
            json!({"data": {"type": "attachments", "attributes": {"name": "x"},
                "relationships": {"order": {"data": {"type": "orders", "id": "abcdefghij"}}}}}),
        ),
        (
            "wrong resource type",
            json!({"data": {"type": "refunds", "attributes": {"name": "x"}}}),
        ),
    ];
    let mut out = Vec::new();
    for (case, req) in cases {
        let (status, doc) = app.post("/api/attachments", &tok, &req).await;
        assert!(status.is_client_error(), "{case}: {status} {doc}");
        out.push(json!({"case": case, "status": status.as_u16(), "errors": doc["errors"]}));
    }
    assert_json_snapshot!("invalid_requests", out);
    assert_eq!(count(&app, "/api/attachments").await, 0);

    let read_only = TokenSpec {
        role: Some("read_only"),
        ..TokenSpec::new("acme")
    }
    .sign();
    let ok = body(json!({"name": "x"}), Some(("refunds", &refund)));
    let (status, _) = app.post("/api/attachments", &read_only, &ok).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, doc) = app.post("/api/attachments", &tok, &ok).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    let id = doc["data"]["id"].as_str().unwrap();
    let (status, _) = delete(&app, &format!("/api/attachments/{id}"), &read_only).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let wrong_id =
        json!({"data": {"type": "attachments", "id": "zzzzzzzzzz", "attributes": {"name": "y"}}});
    let (status, doc) = app
        .patch(&format!("/api/attachments/{id}"), &tok, &wrong_id)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(doc["errors"][0]["code"], "KEY_NOT_INCLUDED_IN_URL");
    let empty = json!({"data": {"type": "attachments", "id": id, "attributes": {"name": ""}}});
    let (status, doc) = app
        .patch(&format!("/api/attachments/{id}"), &tok, &empty)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        doc["errors"][0]["source"]["pointer"],
        "/data/attributes/name"
    );
}

async fn tenants_are_isolated(app: TestApp) {
    let (_, refund) = a_refund(&app, "5004").await;
    let acme = token("acme");
    let globex = token("globex");
    let (status, doc) = app
        .post(
            "/api/attachments",
            &acme,
            &body(json!({"name": "mine"}), Some(("refunds", &refund))),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    let id = doc["data"]["id"].as_str().unwrap();
    // Another organization's refund cannot be attached to.
    let (status, doc) = app
        .post(
            "/api/attachments",
            &globex,
            &body(json!({"name": "theirs"}), Some(("refunds", &refund))),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(doc["errors"][0]["code"], "VALIDATION_ERROR");
    assert_eq!(
        doc["errors"][0]["source"]["pointer"],
        "/data/relationships/attachable/data/id"
    );
    // Nor can another organization's attachment be seen, changed or removed.
    for uri in [
        format!("/api/attachments/{id}"),
        format!("/api/attachments/{id}/attachable"),
        format!("/api/attachments/{id}/relationships/attachable"),
        format!("/api/refunds/{refund}/attachments"),
    ] {
        let (status, _) = app.get(&uri, &globex).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
    }
    let patch =
        json!({"data": {"type": "attachments", "id": id, "attributes": {"name": "hijacked"}}});
    let (status, doc) = app
        .patch(&format!("/api/attachments/{id}"), &globex, &patch)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{doc}");
    assert_eq!(doc["errors"][0]["code"], "RECORD_NOT_FOUND");
    let (status, _) = delete(&app, &format!("/api/attachments/{id}"), &globex).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = app.get("/api/attachments", &globex).await;
    assert_eq!(listed["meta"]["record_count"], 0);
    // Live mode is another tenant too.
    let live = TokenSpec {
        test: false,
        ..TokenSpec::new("acme")
    }
    .sign();
    let (status, _) = app.get(&format!("/api/attachments/{id}"), &live).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, mine) = app.get(&format!("/api/attachments/{id}"), &acme).await;
    assert_eq!(mine["data"]["attributes"]["name"], "mine");
}

crate::on_both_backends!(
    crud_on_a_refund,
    captures_and_orders_take_attachments,
    invalid_requests,
    tenants_are_isolated,
);
