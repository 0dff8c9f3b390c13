//! `GET /api/refunds` and `GET /api/refunds/{id}`: documents, paging, sort, include, fields.

use actix_web::http::StatusCode;
use insta::assert_json_snapshot;
use serde_json::Value;

use crate::common::{redact, token, TestApp};

async fn first_id(app: &TestApp, tok: &str) -> String {
    let (_, body) = app.get("/api/refunds?page[size]=1", tok).await;
    body["data"][0]["id"].as_str().expect("a refund").to_owned()
}

async fn list_default_page(app: TestApp) {
    app.seed("acme", 6, 7);
    let (status, body) = app.get("/api/refunds?page[size]=3", &token("acme")).await;
    assert_eq!(status, StatusCode::OK);
    assert_json_snapshot!("list_page_of_three", redact(&body));
}

async fn list_meta_and_links(app: TestApp) {
    app.seed("acme", 8, 3);
    let tok = token("acme");
    let all = app.all("/api/refunds?page[size]=25", &tok).await;
    let (_, body) = app
        .get(
            "/api/refunds?page%5Bnumber%5D=2&page%5Bsize%5D=3&sort=number",
            &tok,
        )
        .await;
    let count = all.len() as i64;
    assert_eq!(body["meta"]["record_count"], count);
    assert_eq!(body["meta"]["page_count"], (count + 2) / 3);
    let links = &body["links"];
    let base = "http://refunds.test/api/refunds?sort=number&page%5Bnumber%5D=";
    assert_eq!(links["first"], format!("{base}1&page%5Bsize%5D=3"));
    assert_eq!(links["prev"], format!("{base}1&page%5Bsize%5D=3"));
    assert_eq!(links["next"], format!("{base}3&page%5Bsize%5D=3"));
    assert_eq!(
        links["last"],
        format!("{base}{}&page%5Bsize%5D=3", (count + 2) / 3)
    );
    // The first page has no prev; the last has no next; past the end is empty.
    let (_, first) = app.get("/api/refunds?page[size]=3", &tok).await;
    assert!(first["links"].get("prev").is_none());
    let last_page = (count + 2) / 3;
    let (_, last) = app
        .get(
            &format!("/api/refunds?page[size]=3&page[number]={last_page}"),
            &tok,
        )
        .await;
    assert!(last["links"].get("next").is_none());
    let (status, past) = app.get("/api/refunds?page[number]=999", &tok).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(past["data"], Value::Array(vec![]));
    assert_eq!(past["meta"]["record_count"], count);
}

async fn default_order_is_newest_first_then_id(app: TestApp) {
    app.seed("acme", 10, 5);
    let items = app.all("/api/refunds?page[size]=7", &token("acme")).await;
    let keys: Vec<(String, String)> = items
        .iter()
        .map(|r| {
            (
                r["attributes"]["created_at"].as_str().unwrap().to_owned(),
                r["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut expected = keys.clone();
    expected.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    assert_eq!(keys, expected);
    assert!(keys.len() > 7, "several pages were read");
}

async fn retrieve_one(app: TestApp) {
    app.seed("acme", 3, 11);
    let tok = token("acme");
    let id = first_id(&app, &tok).await;
    let (status, body) = app.get(&format!("/api/refunds/{id}"), &tok).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["id"], id.as_str());
    assert_json_snapshot!("retrieve", redact(&body));
}

async fn include_nested_paths(app: TestApp) {
    app.seed("acme", 3, 11);
    let tok = token("acme");
    let id = first_id(&app, &tok).await;
    let (status, body) = app
        .get(
            &format!(
                "/api/refunds/{id}?include=order,reference_capture.authorization,refund_captures"
            ),
            &tok,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let included = body["included"].as_array().expect("included");
    let mut seen: Vec<(String, String)> = included
        .iter()
        .map(|r| {
            (
                r["type"].as_str().unwrap().to_owned(),
                r["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let n = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), n, "each included resource appears once");
    let data = &body["data"]["relationships"];
    assert_eq!(data["order"]["data"]["type"], "orders");
    assert!(
        data["authorization"].get("data").is_none(),
        "not included, no linkage"
    );
    assert_json_snapshot!("retrieve_with_includes", redact(&body));
}

async fn sparse_fieldsets(app: TestApp) {
    app.seed("acme", 3, 11);
    let (status, body) = app
        .get("/api/refunds?page[size]=2&include=order&fields[refunds]=number,amount_cents,order&fields[orders]=number", &token("acme"))
        .await;
    assert_eq!(status, StatusCode::OK);
    for r in body["data"].as_array().unwrap() {
        let attrs = r["attributes"].as_object().unwrap();
        assert_eq!(attrs.keys().collect::<Vec<_>>(), ["amount_cents", "number"]);
        assert_eq!(
            r["relationships"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["order"]
        );
    }
    assert_json_snapshot!("sparse_fieldsets", redact(&body));
}

async fn sort_by_amount_descending(app: TestApp) {
    app.seed("acme", 12, 2);
    let items = app
        .all("/api/refunds?sort=-amount_cents,number", &token("acme"))
        .await;
    let amounts: Vec<i64> = items
        .iter()
        .map(|r| r["attributes"]["amount_cents"].as_i64().unwrap())
        .collect();
    let mut sorted = amounts.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(amounts, sorted);
}

async fn money_is_presented_per_currency(app: TestApp) {
    app.seed("acme", 30, 9);
    let tok = token("acme");
    for (currency, sample) in [("EUR", "€"), ("USD", "$"), ("JPY", "¥")] {
        let items = app
            .all(
                &format!("/api/refunds?filter[q][currency_code_eq]={currency}"),
                &tok,
            )
            .await;
        assert!(!items.is_empty(), "seed makes {currency} refunds");
        for r in items {
            let a = &r["attributes"];
            let cents = a["amount_cents"].as_i64().unwrap();
            let formatted = a["formatted_amount"].as_str().unwrap();
            assert!(formatted.starts_with(sample), "{formatted}");
            let exponent = if currency == "JPY" { 0 } else { 2 };
            assert_eq!(
                a["amount_float"].as_f64().unwrap(),
                cents as f64 / 10f64.powi(exponent)
            );
        }
    }
}

async fn look_up_by_key(app: TestApp) {
    app.seed("acme", 3, 11);
    let tok = token("acme");
    let (_, first) = app.get("/api/refunds?page[size]=1", &tok).await;
    let key = first["data"][0]["attributes"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = app
        .get(&format!("/api/refunds/by_key/{key}?include=order"), &tok)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["id"], first["data"][0]["id"]);
    assert_eq!(body["included"][0]["type"], "orders");
    let (status, body) = app.get("/api/refunds/by_key/ref-unknown", &tok).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["errors"][0]["code"], "RECORD_NOT_FOUND");
    // Another tenant's key is as unknown as a missing one.
    app.seed("globex", 2, 12);
    let (status, _) = app
        .get(&format!("/api/refunds/by_key/{key}"), &token("globex"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

crate::on_both_backends!(
    look_up_by_key,
    list_default_page,
    list_meta_and_links,
    default_order_is_newest_first_then_id,
    retrieve_one,
    include_nested_paths,
    sparse_fieldsets,
    sort_by_amount_descending,
    money_is_presented_per_currency,
);

#[derive(diesel::QueryableByName, Debug)]
struct Prepared {
    #[diesel(sql_type = diesel::sql_types::Text)]
    statement: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    generic_plans: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    custom_plans: i64,
}

/// PostgreSQL plans a prepared statement once for all when its generic plan costs no more
/// than a custom one. A bound `LIMIT` (costed as a tenth of the table) or `id = ANY($n)`
/// for one id never does, so each request was planned again: at a million rows, planning
/// took twice as long as running a first page.
#[actix_web::test]
async fn postgres_plans_first_pages_and_retrieves_once() {
    use diesel::RunQueryDsl;
    // One connection: every request's statements are prepared on it.
    let app = TestApp::with(crate::common::Backend::Postgres, |s| s.pool_size = 1).await;
    // Enough rows (some 4,500) that a tenth of them costs more than planning: on a few
    // hundred, even a bound `LIMIT` gets its generic plan, and this test could not fail.
    app.seed("acme", 3000, 5);
    let mut conn = app.state.pool.get().unwrap();
    diesel::sql_query("ANALYZE").execute(&mut **conn).unwrap();
    drop(conn);
    let tok = token("acme");
    let id = first_id(&app, &tok).await;
    let page = "/api/refunds?sort=-created_at&page[size]=25";
    for _ in 0..8 {
        assert_eq!(app.get(page, &tok).await.0, StatusCode::OK);
        let (status, body) = app.get(&format!("/api/refunds/{id}"), &tok).await;
        assert_eq!(
            (status, body["data"]["id"].as_str()),
            (StatusCode::OK, Some(&*id))
        );
    }
    let mut conn = app.state.pool.get().unwrap();
    let prepared: Vec<Prepared> = diesel::sql_query(
        "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements",
    )
    .load(&mut **conn)
    .unwrap();
    let plans = |what: &str, is: &dyn Fn(&str) -> bool| {
        let p = prepared
            .iter()
            .find(|p| p.statement.starts_with("SELECT \"refunds\".\"id\",") && is(&p.statement))
            .unwrap_or_else(|| panic!("no {what} statement in {prepared:#?}"));
        (p.generic_plans, p.custom_plans)
    };
    let first = plans("first page", &|s| {
        s.contains("\"created_at\" DESC") && s.ends_with("LIMIT 25")
    });
    let one = plans("retrieve", &|s| {
        s.contains("\"refunds\".\"id\" = $") && !s.contains("LIMIT")
    });
    // Nine executions each: PostgreSQL tries five custom plans, then keeps the generic one.
    for (what, (generic, custom)) in [("first page", first), ("retrieve", one)] {
        assert!(
            generic >= 3 && custom <= 5,
            "{what}: {generic} generic, {custom} custom plans"
        );
    }
}
