//! The resources a refund points to: orders, authorizations, captures, refund_captures.

use actix_web::http::StatusCode;
use insta::assert_json_snapshot;

use crate::common::{redact, token, TestApp};

async fn each_collection_lists_and_retrieves(app: TestApp) {
    app.seed("acme", 3, 4);
    let tok = token("acme");
    for kind in ["orders", "authorizations", "captures", "refund_captures"] {
        let (status, body) = app.get(&format!("/api/{kind}?page[size]=2"), &tok).await;
        assert_eq!(status, StatusCode::OK, "{kind}");
        let id = body["data"][0]["id"].as_str().expect("seeded").to_owned();
        let (status, one) = app.get(&format!("/api/{kind}/{id}"), &tok).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(one["data"]["type"], kind);
        assert_json_snapshot!(format!("{kind}_list"), redact(&body));
    }
}

async fn record_counts_are_exact_per_tenant(app: TestApp) {
    // The unfiltered count is maintained; filtered and restricted ones are counted.
    app.seed("acme", 7, 4);
    app.seed("globex", 3, 5);
    app.seed_mode("acme", true, 2, 6);
    let tok = token("acme");
    for kind in [
        "orders",
        "authorizations",
        "captures",
        "refunds",
        "refund_captures",
    ] {
        let all = app.all(&format!("/api/{kind}?page[size]=25"), &tok).await;
        let (_, body) = app.get(&format!("/api/{kind}"), &tok).await;
        assert_eq!(body["meta"]["record_count"], all.len(), "{kind}");
        let (_, filtered) = app
            .get(
                &format!("/api/{kind}?filter[q][created_at_lt]=2026-02-01"),
                &tok,
            )
            .await;
        let expected = all
            .iter()
            .filter(|r| r["attributes"]["created_at"].as_str().unwrap() < "2026-02-01")
            .count();
        assert_eq!(
            filtered["meta"]["record_count"], expected,
            "{kind} filtered"
        );
    }
}

async fn capture_balances_add_up(app: TestApp) {
    app.seed("acme", 12, 8);
    let tok = token("acme");
    for capture in app.all("/api/captures?include=refunds", &tok).await {
        let a = &capture["attributes"];
        let amount = a["amount_cents"].as_i64().unwrap();
        let refunded = a["refund_amount_cents"].as_i64().unwrap();
        assert_eq!(
            a["refund_balance_cents"].as_i64().unwrap(),
            amount - refunded
        );
        let id = capture["id"].as_str().unwrap();
        let splits = app
            .all(
                &format!("/api/refund_captures?filter[q][capture_id_eq]={id}"),
                &tok,
            )
            .await;
        // A failed part took nothing from its capture.
        let split_total: i64 = splits
            .iter()
            .filter(|s| s["attributes"]["status"] != "failed")
            .map(|s| s["attributes"]["amount_cents"].as_i64().unwrap())
            .sum();
        assert_eq!(split_total, refunded, "capture {id}");
    }
}

async fn order_relationships(app: TestApp) {
    app.seed("acme", 5, 6);
    let tok = token("acme");
    let orders = app.all("/api/orders", &tok).await;
    let refunds = app.all("/api/refunds?include=order", &tok).await;
    for order in orders {
        let id = order["id"].as_str().unwrap();
        let expected: Vec<&str> = refunds
            .iter()
            .filter(|r| r["relationships"]["order"]["data"]["id"] == id)
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        let mine = app.all(&format!("/api/orders/{id}/refunds"), &tok).await;
        let mut got: Vec<&str> = mine.iter().map(|r| r["id"].as_str().unwrap()).collect();
        let mut want = expected.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want, "refunds of order {id}");
        let (status, auths) = app
            .get(
                &format!("/api/orders/{id}/authorizations?include=captures"),
                &tok,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(auths["data"].as_array().unwrap().len(), 1);
    }
}

async fn filters_across_relationships(app: TestApp) {
    app.seed("acme", 6, 6);
    let tok = token("acme");
    let orders = app.all("/api/orders?include=refunds", &tok).await;
    let order = orders
        .iter()
        .find(|o| {
            !o["relationships"]["refunds"]["data"]
                .as_array()
                .unwrap()
                .is_empty()
        })
        .expect("an order with refunds");
    let number = order["attributes"]["number"].as_str().unwrap();
    let by_number = app
        .all(
            &format!("/api/refunds?filter[q][order_number_eq]={number}"),
            &tok,
        )
        .await;
    assert_eq!(
        by_number.len(),
        order["relationships"]["refunds"]["data"]
            .as_array()
            .unwrap()
            .len()
    );
    let with_refunds = app
        .all("/api/orders?filter[q][refunds_amount_cents_gt]=0", &tok)
        .await;
    let expected = orders
        .iter()
        .filter(|o| {
            !o["relationships"]["refunds"]["data"]
                .as_array()
                .unwrap()
                .is_empty()
        })
        .count();
    assert_eq!(with_refunds.len(), expected);
}

crate::on_both_backends!(
    each_collection_lists_and_retrieves,
    record_counts_are_exact_per_tenant,
    capture_balances_add_up,
    order_relationships,
    filters_across_relationships,
);
