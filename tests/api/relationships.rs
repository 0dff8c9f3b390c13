//! `GET /api/refunds/{id}/{rel}` and `/api/refunds/{id}/relationships/{rel}`.

use actix_web::http::StatusCode;
use insta::assert_json_snapshot;
use serde_json::Value;

use crate::common::{redact, token, TestApp};

/// A refund that has every to-one relationship and at least one refund_capture.
async fn a_settled_refund(app: &TestApp, tok: &str) -> Value {
    let items = app
        .all(
            "/api/refunds?filter[q][succeeded_true]=1&include=refund_captures",
            tok,
        )
        .await;
    items.into_iter().next().expect("a succeeded refund")
}

async fn to_one_related_documents(app: TestApp) {
    app.seed("acme", 4, 21);
    let tok = token("acme");
    let refund = a_settled_refund(&app, &tok).await;
    let id = refund["id"].as_str().unwrap();
    for (rel, kind) in [
        ("order", "orders"),
        ("reference_capture", "captures"),
        ("authorization", "authorizations"),
    ] {
        let (status, body) = app.get(&format!("/api/refunds/{id}/{rel}"), &tok).await;
        assert_eq!(status, StatusCode::OK, "{rel}: {body}");
        assert_eq!(body["data"]["type"], kind);
        let (_, linkage) = app
            .get(&format!("/api/refunds/{id}/relationships/{rel}"), &tok)
            .await;
        assert_eq!(linkage["data"]["id"], body["data"]["id"], "{rel}");
        assert_eq!(linkage["data"]["type"], kind);
        assert_json_snapshot!(format!("related_{rel}"), redact(&body));
        assert_json_snapshot!(format!("linkage_{rel}"), redact(&linkage));
    }
}

async fn to_many_related_collection(app: TestApp) {
    app.seed("acme", 4, 21);
    let tok = token("acme");
    let refund = a_settled_refund(&app, &tok).await;
    let id = refund["id"].as_str().unwrap();
    let (status, body) = app
        .get(
            &format!("/api/refunds/{id}/refund_captures?include=capture"),
            &tok,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let total: i64 = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rc| rc["attributes"]["amount_cents"].as_i64().unwrap())
        .sum();
    assert_eq!(
        total,
        refund["attributes"]["amount_cents"].as_i64().unwrap()
    );
    assert_eq!(
        body["meta"]["record_count"],
        body["data"].as_array().unwrap().len()
    );
    assert_json_snapshot!("related_refund_captures", redact(&body));
    let (_, linkage) = app
        .get(
            &format!("/api/refunds/{id}/relationships/refund_captures"),
            &tok,
        )
        .await;
    let ids = |doc: &Value| -> Vec<Value> {
        doc["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].clone())
            .collect()
    };
    assert_eq!(ids(&linkage), ids(&body));
    assert_json_snapshot!("linkage_refund_captures", redact(&linkage));
}

async fn unknown_parent_or_relationship_is_404(app: TestApp) {
    app.seed("acme", 2, 21);
    let tok = token("acme");
    let (status, body) = app.get("/api/refunds/AAAAAAAAAA/order", &tok).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["errors"][0]["code"], "RECORD_NOT_FOUND");
    let refund = a_settled_refund(&app, &tok).await;
    let id = refund["id"].as_str().unwrap();
    let (status, _) = app.get(&format!("/api/refunds/{id}/nope"), &tok).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .get(&format!("/api/refunds/{id}/relationships/nope"), &tok)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

crate::on_both_backends!(
    to_one_related_documents,
    to_many_related_collection,
    unknown_parent_or_relationship_is_404,
);
