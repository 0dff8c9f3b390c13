//! Every error the read side can produce, as error documents (§1, §4, §6, §7), and robustness
//! against hostile or odd input: no 500, the right 4xx, injection-shaped strings as plain data.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use insta::assert_json_snapshot;
use serde_json::{json, Value};

use crate::common::{redact, token, TestApp};

/// Percent-encodes a query value (`+` for spaces, like a browser form).
fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The id of some visible refund.
async fn some_refund(app: &TestApp, tok: &str) -> String {
    let (status, body) = app.get("/api/refunds?page[size]=1", tok).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"][0]["id"]
        .as_str()
        .expect("a seeded refund")
        .to_owned()
}

/// Sends `req` and checks that it fails with one error of `code`, `status` and
/// `source.parameter`; returns the error document with `id` replaced by `[id]`.
async fn fails(
    app: &TestApp,
    req: TestRequest,
    tok: Option<&str>,
    status: StatusCode,
    code: &str,
    parameter: Option<&str>,
    id: Option<&str>,
) -> Value {
    let (got, body) = app.request(req, tok).await;
    assert_eq!(got, status, "{body}");
    let errors = body["errors"].as_array().expect("an error document");
    assert_eq!(errors.len(), 1, "{body}");
    let e = &errors[0];
    assert_eq!(e["code"], code, "{body}");
    assert_eq!(e["status"], status.as_str(), "{body}");
    assert_eq!(e["source"]["parameter"].as_str(), parameter, "{body}");
    assert!(body.get("data").is_none(), "{body}");
    let mut text = body.to_string();
    if let Some(id) = id {
        text = text.replace(id, "[id]");
    }
    redact(&serde_json::from_str(&text).expect("JSON"))
}

/// A GET that fails with a parameter error; `(uri, parameter)` and the document for a snapshot.
async fn get_fails(
    app: &TestApp,
    uri: &str,
    status: StatusCode,
    code: &str,
    parameter: Option<&str>,
) -> Value {
    let tok = token("acme");
    fails(
        app,
        TestRequest::get().uri(uri),
        Some(&tok),
        status,
        code,
        parameter,
        None,
    )
    .await
}

/// Runs a table of `(uri, parameter)` that all fail with `code` (400) and snapshots them as `name`.
async fn table(
    app: &TestApp,
    name: &str,
    code: &str,
    cases: &[(&str, Option<&str>)],
    id: Option<&str>,
) {
    let tok = token("acme");
    let mut docs = Vec::new();
    for (uri, parameter) in cases {
        let doc = fails(
            app,
            TestRequest::get().uri(uri),
            Some(&tok),
            StatusCode::BAD_REQUEST,
            code,
            *parameter,
            id,
        )
        .await;
        let label = match id {
            Some(id) => uri.replace(id, "[id]"),
            None => (*uri).to_owned(),
        };
        docs.push(json!({ "request": format!("GET {label}"), "response": doc }));
    }
    assert_json_snapshot!(name, docs);
}

/// A `200` collection with no data.
async fn empty(app: &TestApp, uri: &str) {
    let (status, body) = app.get(uri, &token("acme")).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    assert_eq!(body["meta"]["record_count"], 0, "{uri} {}", body["meta"]);
    assert_eq!(body["data"], json!([]), "{uri}");
    assert_eq!(body["meta"]["record_count"], 0, "{uri}");
}

/// The number of visible refunds.
async fn count(app: &TestApp) -> i64 {
    let (status, body) = app.get("/api/refunds?page[size]=1", &token("acme")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["meta"]["record_count"].as_i64().expect("record_count")
}

async fn param_not_allowed(app: TestApp) {
    app.seed("acme", 3, 11);
    let id = some_refund(&app, &token("acme")).await;
    let single = |q: &str| format!("/api/refunds/{id}?{q}");
    let cases = [
        ("/api/refunds?foo=1".to_owned(), Some("foo")),
        (
            "/api/refunds?filter[number_eq]=1".to_owned(),
            Some("filter[number_eq]"),
        ),
        ("/api/refunds?filter[q]=1".to_owned(), Some("filter[q]")),
        ("/api/refunds?filter[q][]=1".to_owned(), Some("filter[q][]")),
        ("/api/refunds?sort=number&sort=key".to_owned(), Some("sort")),
        (
            "/api/refunds?page[size]=2&page[size]=3".to_owned(),
            Some("page[size]"),
        ),
        (
            "/api/refunds?page[offset]=2".to_owned(),
            Some("page[offset]"),
        ),
        ("/api/refunds?=x".to_owned(), Some("")),
        (single("sort=number"), Some("sort")),
        (single("page[size]=1"), Some("page[size]")),
        (single("page[number]=1"), Some("page[number]")),
        (
            single("filter[q][number_eq]=x"),
            Some("filter[q][number_eq]"),
        ),
        (
            format!("/api/refunds/{id}/order?page[size]=1"),
            Some("page[size]"),
        ),
        (
            format!("/api/refunds/{id}/relationships/order?sort=number"),
            Some("sort"),
        ),
    ];
    let cases: Vec<(&str, Option<&str>)> = cases.iter().map(|(u, p)| (u.as_str(), *p)).collect();
    table(
        &app,
        "param_not_allowed",
        "PARAM_NOT_ALLOWED",
        &cases,
        Some(&id),
    )
    .await;
}

async fn invalid_page_value(app: TestApp) {
    table(
        &app,
        "invalid_page_value",
        "INVALID_PAGE_VALUE",
        &[
            ("/api/refunds?page[number]=0", Some("page[number]")),
            ("/api/refunds?page[number]=-1", Some("page[number]")),
            ("/api/refunds?page[number]=1.5", Some("page[number]")),
            ("/api/refunds?page[number]=abc", Some("page[number]")),
            ("/api/refunds?page[number]=", Some("page[number]")),
            (
                "/api/refunds?page[number]=99999999999999999999",
                Some("page[number]"),
            ),
            ("/api/refunds?page[size]=0", Some("page[size]")),
            ("/api/refunds?page[size]=-1", Some("page[size]")),
            ("/api/refunds?page[size]=26", Some("page[size]")),
            ("/api/refunds?page[size]=", Some("page[size]")),
            ("/api/refunds?page[size]", Some("page[size]")),
            ("/api/refunds?page[size]=%201", Some("page[size]")),
            (
                "/api/refunds?page[size]=99999999999999999999",
                Some("page[size]"),
            ),
        ],
        None,
    )
    .await;
    // The limits themselves are fine.
    for uri in [
        "/api/refunds?page[size]=25",
        "/api/refunds?page[size]=1&page[number]=4294967295",
    ] {
        let (status, body) = app.get(uri, &token("acme")).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    }
}

async fn invalid_sort_criteria(app: TestApp) {
    table(
        &app,
        "invalid_sort_criteria",
        "INVALID_SORT_CRITERIA",
        &[
            ("/api/refunds?sort=nope", Some("sort")),
            ("/api/refunds?sort=-nope", Some("sort")),
            ("/api/refunds?sort=currency_code", Some("sort")),
            ("/api/refunds?sort=amount_float", Some("sort")),
            ("/api/refunds?sort=metadata", Some("sort")),
            ("/api/refunds?sort=order_id", Some("sort")),
            ("/api/refunds?sort=number,,key", Some("sort")),
            ("/api/refunds?sort=", Some("sort")),
            ("/api/refunds?sort=-", Some("sort")),
            ("/api/refunds?sort=--number", Some("sort")),
            ("/api/refunds?sort=order.number", Some("sort")),
        ],
        None,
    )
    .await;
}

async fn filter_not_allowed(app: TestApp) {
    table(
        &app,
        "filter_not_allowed",
        "FILTER_NOT_ALLOWED",
        &[
            (
                "/api/refunds?filter[q][nope_eq]=1",
                Some("filter[q][nope_eq]"),
            ),
            (
                "/api/refunds?filter[q][number]=1",
                Some("filter[q][number]"),
            ),
            (
                "/api/refunds?filter[q][number_nope]=1",
                Some("filter[q][number_nope]"),
            ),
            (
                "/api/refunds?filter[q][amount_float_eq]=1",
                Some("filter[q][amount_float_eq]"),
            ),
            (
                "/api/refunds?filter[q][formatted_amount_eq]=1",
                Some("filter[q][formatted_amount_eq]"),
            ),
            (
                "/api/refunds?filter[q][amount_cents_cont]=1",
                Some("filter[q][amount_cents_cont]"),
            ),
            (
                "/api/refunds?filter[q][succeeded_gt]=true",
                Some("filter[q][succeeded_gt]"),
            ),
            (
                "/api/refunds?filter[q][amount_cents_true]=1",
                Some("filter[q][amount_cents_true]"),
            ),
            (
                "/api/refunds?filter[q][amount_cents_present]=1",
                Some("filter[q][amount_cents_present]"),
            ),
            (
                "/api/refunds?filter[q][number_jcont]=%7B%7D",
                Some("filter[q][number_jcont]"),
            ),
            (
                "/api/refunds?filter[q][metadata_eq]=x",
                Some("filter[q][metadata_eq]"),
            ),
            (
                "/api/refunds?filter[q][number_or_nope_eq]=1",
                Some("filter[q][number_or_nope_eq]"),
            ),
            (
                "/api/refunds?filter[q][order_nope_eq]=1",
                Some("filter[q][order_nope_eq]"),
            ),
        ],
        None,
    )
    .await;
}

async fn invalid_filter_value(app: TestApp) {
    table(
        &app,
        "invalid_filter_value",
        "INVALID_FILTER_VALUE",
        &[
            (
                "/api/refunds?filter[q][amount_cents_eq]=abc",
                Some("filter[q][amount_cents_eq]"),
            ),
            (
                "/api/refunds?filter[q][amount_cents_eq]=1.5",
                Some("filter[q][amount_cents_eq]"),
            ),
            (
                "/api/refunds?filter[q][amount_cents_eq]=99999999999999999999",
                Some("filter[q][amount_cents_eq]"),
            ),
            (
                "/api/refunds?filter[q][amount_cents_in]=1,x",
                Some("filter[q][amount_cents_in]"),
            ),
            (
                "/api/refunds?filter[q][amount_cents_in]=1,,2",
                Some("filter[q][amount_cents_in]"),
            ),
            (
                "/api/refunds?filter[q][succeeded_true]=maybe",
                Some("filter[q][succeeded_true]"),
            ),
            (
                "/api/refunds?filter[q][succeeded_eq]=yes",
                Some("filter[q][succeeded_eq]"),
            ),
            (
                "/api/refunds?filter[q][reference_null]=maybe",
                Some("filter[q][reference_null]"),
            ),
            (
                "/api/refunds?filter[q][created_at_gt]=yesterday",
                Some("filter[q][created_at_gt]"),
            ),
            (
                "/api/refunds?filter[q][created_at_gt]=2026-13-45",
                Some("filter[q][created_at_gt]"),
            ),
            (
                "/api/refunds?filter[q][number_eq]=",
                Some("filter[q][number_eq]"),
            ),
            (
                "/api/refunds?filter[q][amount_cents_eq]=",
                Some("filter[q][amount_cents_eq]"),
            ),
            (
                "/api/refunds?filter[q][metadata_jcont]=not-json",
                Some("filter[q][metadata_jcont]"),
            ),
            (
                "/api/refunds?filter[q][metadata_jcont]=%7B%22a%22",
                Some("filter[q][metadata_jcont]"),
            ),
        ],
        None,
    )
    .await;
}

async fn invalid_include(app: TestApp) {
    table(
        &app,
        "invalid_include",
        "INVALID_INCLUDE",
        &[
            ("/api/refunds?include=nope", Some("include")),
            ("/api/refunds?include=order.nope", Some("include")),
            ("/api/refunds?include=order,nope", Some("include")),
            (
                "/api/refunds?include=order.refunds.order.refunds",
                Some("include"),
            ),
            ("/api/refunds?include=", Some("include")),
            ("/api/refunds?include=order,", Some("include")),
            ("/api/refunds?include=order..refunds", Some("include")),
            ("/api/refunds?include=amount_cents", Some("include")),
        ],
        None,
    )
    .await;
    // Three levels is the limit, and it is allowed.
    let (status, body) = app
        .get("/api/refunds?include=order.refunds.order", &token("acme"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn invalid_field(app: TestApp) {
    table(
        &app,
        "invalid_field",
        "INVALID_FIELD",
        &[
            ("/api/refunds?fields[nope]=number", Some("fields[nope]")),
            ("/api/refunds?fields[refund]=number", Some("fields[refund]")),
            ("/api/refunds?fields[refunds]=nope", Some("fields[refunds]")),
            (
                "/api/refunds?fields[refunds]=number,nope",
                Some("fields[refunds]"),
            ),
            (
                "/api/refunds?fields[refunds]=order_id",
                Some("fields[refunds]"),
            ),
            (
                "/api/refunds?fields[orders]=amount_cents",
                Some("fields[orders]"),
            ),
        ],
        None,
    )
    .await;
}

async fn record_not_found(app: TestApp) {
    app.seed("acme", 3, 11);
    let tok = token("acme");
    let id = some_refund(&app, &tok).await;
    let cases = [
        "/api/refunds/AAAAAAAAAA".to_owned(),
        "/api/refunds/AAAAAAAAAA/order".to_owned(),
        "/api/refunds/AAAAAAAAAA/relationships/order".to_owned(),
        "/api/refunds/AAAAAAAAAA/refund_captures".to_owned(),
        format!("/api/refunds/{id}/nope"),
        format!("/api/refunds/{id}/relationships/nope"),
        format!("/api/refunds/{id}/amount_cents"),
        "/api/nope".to_owned(),
        "/api/nope/AAAAAAAAAA".to_owned(),
        "/api/refunds/AAAAAAAAAA/relationships/order/extra".to_owned(),
        "/api".to_owned(),
        "/nope".to_owned(),
        "/".to_owned(),
    ];
    let mut docs = Vec::new();
    for uri in &cases {
        let doc = fails(
            &app,
            TestRequest::get().uri(uri),
            Some(&tok),
            StatusCode::NOT_FOUND,
            "RECORD_NOT_FOUND",
            None,
            Some(&id),
        )
        .await;
        docs.push(
            json!({ "request": format!("GET {}", uri.replace(&id, "[id]")), "response": doc }),
        );
    }
    assert_json_snapshot!("record_not_found", docs);
}

async fn method_not_allowed(app: TestApp) {
    app.seed("acme", 3, 11);
    let tok = token("acme");
    let id = some_refund(&app, &tok).await;
    let jsonapi = ("Content-Type", "application/vnd.api+json");
    let body = json!({ "data": { "type": "refunds", "attributes": {} } }).to_string();
    let cases = [
        (
            "DELETE /api/refunds/[id]",
            TestRequest::delete().uri(&format!("/api/refunds/{id}")),
        ),
        (
            "DELETE /api/refunds",
            TestRequest::delete().uri("/api/refunds"),
        ),
        (
            "PUT /api/refunds",
            TestRequest::put()
                .uri("/api/refunds")
                .insert_header(jsonapi)
                .set_payload(body.clone()),
        ),
        (
            "PUT /api/refunds/[id]",
            TestRequest::put()
                .uri(&format!("/api/refunds/{id}"))
                .insert_header(jsonapi)
                .set_payload(body.clone()),
        ),
        (
            "POST /api/refunds/[id]/relationships/order",
            TestRequest::post()
                .uri(&format!("/api/refunds/{id}/relationships/order"))
                .insert_header(jsonapi)
                .set_payload(body.clone()),
        ),
        (
            "DELETE /api/refunds/[id]/relationships/refund_captures",
            TestRequest::delete().uri(&format!("/api/refunds/{id}/relationships/refund_captures")),
        ),
    ];
    let mut docs = Vec::new();
    for (label, req) in cases {
        let doc = fails(
            &app,
            req,
            Some(&tok),
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            None,
            Some(&id),
        )
        .await;
        docs.push(json!({ "request": label, "response": doc }));
    }
    assert_json_snapshot!("method_not_allowed", docs);
    // The refund is still there.
    let (status, _) = app.get(&format!("/api/refunds/{id}"), &tok).await;
    assert_eq!(status, StatusCode::OK);
}

async fn not_acceptable(app: TestApp) {
    let tok = token("acme");
    let mut docs = Vec::new();
    for accept in [
        "application/vnd.api+json; charset=utf-8",
        "application/vnd.api+json;charset=utf-8",
        "application/vnd.api+json; charset=utf-8, application/vnd.api+json; foo=bar",
    ] {
        let req = TestRequest::get()
            .uri("/api/refunds")
            .insert_header(("Accept", accept));
        let doc = fails(
            &app,
            req,
            Some(&tok),
            StatusCode::NOT_ACCEPTABLE,
            "NOT_ACCEPTABLE",
            None,
            None,
        )
        .await;
        docs.push(
            json!({ "request": format!("GET /api/refunds, Accept: {accept}"), "response": doc }),
        );
    }
    assert_json_snapshot!("not_acceptable", docs);
}

async fn unsupported_media_type(app: TestApp) {
    let tok = token("acme");
    let body =
        json!({ "data": { "type": "refunds", "attributes": { "amount_cents": 100 } } }).to_string();
    let mut docs = Vec::new();
    for content_type in [
        Some("application/json"),
        Some("application/vnd.api+json; charset=utf-8"),
        Some("text/plain"),
        None,
    ] {
        let mut req = TestRequest::post()
            .uri("/api/refunds")
            .set_payload(body.clone());
        if let Some(ct) = content_type {
            req = req.insert_header(("Content-Type", ct));
        }
        let doc = fails(
            &app,
            req,
            Some(&tok),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            None,
            None,
        )
        .await;
        let label = format!(
            "POST /api/refunds, Content-Type: {}",
            content_type.unwrap_or("(none)")
        );
        docs.push(json!({ "request": label, "response": doc }));
    }
    assert_json_snapshot!("unsupported_media_type", docs);
    // Nothing was written.
    assert_eq!(count(&app).await, 0);
}

async fn unauthorized(app: TestApp) {
    app.seed("acme", 3, 11);
    let mut docs = Vec::new();
    for auth in [
        None,
        Some("Basic x"),
        Some("Basic YWNtZTpzZWNyZXQ="),
        Some("Bearer"),
        Some("Bearer "),
        Some("Bearer garbage"),
        Some("Bearer a.b"),
        Some("Bearer a..c"),
        Some("Bearer a.b.c.d"),
        Some("Token abc.def.ghi"),
    ] {
        let mut req = TestRequest::get().uri("/api/refunds");
        if let Some(a) = auth {
            req = req.insert_header(("Authorization", a));
        }
        let doc = fails(
            &app,
            req,
            None,
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            None,
            None,
        )
        .await;
        docs.push(json!({ "authorization": auth, "response": doc }));
    }
    assert_json_snapshot!("unauthorized", docs);
    // Every route asks for a token, not only the collection.
    for uri in [
        "/api/refunds/AAAAAAAAAA",
        "/api/refunds/AAAAAAAAAA/order",
        "/api/orders",
        "/api/nope",
    ] {
        let (status, body) = app.request(TestRequest::get().uri(uri), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}: {body}");
        assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED", "{uri}");
    }
}

async fn unicode_input(app: TestApp) {
    app.seed("acme", 3, 11);
    for value in ["日本語", "🦀", "Ünïcödé ß", "\u{202e}evil"] {
        let v = enc(value);
        empty(&app, &format!("/api/refunds?filter[q][number_eq]={v}")).await;
        empty(&app, &format!("/api/refunds?filter[q][reference_cont]={v}")).await;
        empty(&app, &format!("/api/refunds?filter[q][number_in]={v},{v}x")).await;
        empty(&app, &format!("/api/refunds?filter[q][key_start]={v}")).await;
    }
    let jcont = enc(r#"{"ключ":"値 🦀"}"#);
    empty(
        &app,
        &format!("/api/refunds?filter[q][metadata_jcont]={jcont}"),
    )
    .await;
    let cases: &[(String, &str, &str)] = &[
        (format!("{}=1", enc("ключ")), "PARAM_NOT_ALLOWED", "ключ"),
        (
            format!("{}=1", enc("filter[q][número_eq]")),
            "FILTER_NOT_ALLOWED",
            "filter[q][número_eq]",
        ),
        (
            format!("sort={}", enc("número")),
            "INVALID_SORT_CRITERIA",
            "sort",
        ),
        (
            format!("include={}", enc("ордер")),
            "INVALID_INCLUDE",
            "include",
        ),
        (
            format!("fields[refunds]={}", enc("número")),
            "INVALID_FIELD",
            "fields[refunds]",
        ),
        (
            format!("{}=1", enc("fields[réfunds]")),
            "INVALID_FIELD",
            "fields[réfunds]",
        ),
        (
            format!("page[size]={}", enc("５")),
            "INVALID_PAGE_VALUE",
            "page[size]",
        ),
        (
            format!("filter[q][amount_cents_eq]={}", enc("１２")),
            "INVALID_FILTER_VALUE",
            "filter[q][amount_cents_eq]",
        ),
    ];
    for (query, code, parameter) in cases {
        get_fails(
            &app,
            &format!("/api/refunds?{query}"),
            StatusCode::BAD_REQUEST,
            code,
            Some(parameter),
        )
        .await;
    }
    let id = enc("日本語");
    get_fails(
        &app,
        &format!("/api/refunds/{id}"),
        StatusCode::NOT_FOUND,
        "RECORD_NOT_FOUND",
        None,
    )
    .await;
    assert!(count(&app).await > 0);
}

const INJECTIONS: &[&str] = &[
    "'; DROP TABLE refunds; --",
    "%' OR 1=1 --",
    "' OR '1'='1",
    "\" OR \"\"=\"",
    "1; DELETE FROM refunds",
    "') OR ('a'='a",
    "\\'; DROP TABLE refunds; --",
    "%",
    "_",
    "*",
];

async fn injection_is_plain_data(app: TestApp) {
    app.seed("acme", 6, 11);
    let before = count(&app).await;
    assert!(before > 0);
    for raw in INJECTIONS {
        let v = enc(raw);
        for field in [
            "number_eq",
            "number_cont",
            "number_start",
            "number_end",
            "number_matches",
            "reference_cont",
            "key_not_eq_or_null",
            "order_number_eq",
            "order_customer_email_cont",
        ] {
            let uri = format!("/api/refunds?filter[q][{field}]={v}");
            if field == "number_matches" && *raw == "%" {
                // `matches` takes a LIKE pattern by design (Ransack): `%` is every record.
                continue;
            } else if field.contains("not_eq") {
                // The negation sees every record: the value still is only data.
                let (status, body) = app.get(&uri, &token("acme")).await;
                assert_eq!(status, StatusCode::OK, "{uri}: {body}");
                assert_eq!(body["meta"]["record_count"], before, "{uri}");
            } else {
                empty(&app, &uri).await;
            }
        }
        empty(&app, &format!("/api/refunds?filter[q][number_in]={v},{v}")).await;
        empty(
            &app,
            &format!("/api/refunds?filter[q][number_or_reference_cont]={v}"),
        )
        .await;
        empty(&app, &format!("/api/refunds?filter[q][id_eq]={v}")).await;
        let jcont = enc(&json!({ "channel": raw }).to_string());
        empty(
            &app,
            &format!("/api/refunds?filter[q][metadata_jcont]={jcont}"),
        )
        .await;
        get_fails(
            &app,
            &format!("/api/refunds?filter[q][amount_cents_eq]={v}"),
            StatusCode::BAD_REQUEST,
            "INVALID_FILTER_VALUE",
            Some("filter[q][amount_cents_eq]"),
        )
        .await;
        get_fails(
            &app,
            &format!("/api/refunds?filter[q][created_at_lt]={v}"),
            StatusCode::BAD_REQUEST,
            "INVALID_FILTER_VALUE",
            Some("filter[q][created_at_lt]"),
        )
        .await;
        get_fails(
            &app,
            &format!("/api/refunds?sort={v}"),
            StatusCode::BAD_REQUEST,
            "INVALID_SORT_CRITERIA",
            Some("sort"),
        )
        .await;
        get_fails(
            &app,
            &format!("/api/refunds?sort=number,-{v}"),
            StatusCode::BAD_REQUEST,
            "INVALID_SORT_CRITERIA",
            Some("sort"),
        )
        .await;
        get_fails(
            &app,
            &format!("/api/refunds?include={v}"),
            StatusCode::BAD_REQUEST,
            "INVALID_INCLUDE",
            Some("include"),
        )
        .await;
        get_fails(
            &app,
            &format!("/api/refunds?fields[refunds]={v}"),
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
            Some("fields[refunds]"),
        )
        .await;
        let key = format!("filter[q][{raw}_eq]");
        get_fails(
            &app,
            &format!("/api/refunds?{}=1", enc(&key)),
            StatusCode::BAD_REQUEST,
            "FILTER_NOT_ALLOWED",
            Some(&key),
        )
        .await;
        get_fails(
            &app,
            &format!("/api/refunds/{v}"),
            StatusCode::NOT_FOUND,
            "RECORD_NOT_FOUND",
            None,
        )
        .await;
    }
    // The table is intact and still answers the same.
    assert_eq!(count(&app).await, before);
    let (status, body) = app
        .get("/api/refunds?include=order&page[size]=25", &token("acme"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"].as_array().map(Vec::len),
        Some(before.min(25) as usize)
    );
}

/// A NUL byte is data like any other character: it matches nothing and fails nothing.
/// No stored text can hold a NUL (PostgreSQL refuses it), so a filter value with one is
/// rejected the same way on both backends rather than half-matched.
async fn nul_bytes_are_plain_data(app: TestApp) {
    app.seed("acme", 3, 11);
    for v in ["%00", "a%00b", "%00%25"] {
        for field in ["number_eq", "reference_cont", "key_start", "number_in"] {
            let uri = format!("/api/refunds?filter[q][{field}]={v}");
            let (status, body) = app.get(&uri, &token("acme")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
            assert_eq!(body["errors"][0]["code"], "INVALID_FILTER_VALUE", "{uri}");
            assert_eq!(
                body["errors"][0]["source"]["parameter"],
                format!("filter[q][{field}]")
            );
        }
    }
}

/// The `_any`/`_all` list forms take as many values as `_in` does (`filter_values_max`).
async fn long_any_list(app: TestApp) {
    app.seed("acme", 3, 11);
    let list: Vec<String> = (0..100).map(|i| format!("number-{i:05}")).collect();
    let list = list.join(",");
    assert!(list.len() >= 1024);
    empty(&app, &format!("/api/refunds?filter[q][number_in]={list}")).await;
    empty(&app, &format!("/api/refunds?filter[q][key_eq_any]={list}")).await;
    empty(
        &app,
        &format!("/api/refunds?filter[q][reference_cont_any]={list}"),
    )
    .await;
}

async fn very_long_values(app: TestApp) {
    app.seed("acme", 3, 11);
    let before = count(&app).await;
    let long = "a".repeat(10 * 1024);
    empty(&app, &format!("/api/refunds?filter[q][number_eq]={long}")).await;
    empty(
        &app,
        &format!("/api/refunds?filter[q][reference_cont]={long}"),
    )
    .await;
    empty(
        &app,
        &format!("/api/refunds?filter[q][number_not_in]={long}&filter[q][number_eq]=x"),
    )
    .await;
    let many: Vec<String> = (0..100).map(|i| format!("{i:0>90}")).collect();
    let list = many.join(",");
    assert!(list.len() >= 8 * 1024);
    empty(&app, &format!("/api/refunds?filter[q][number_in]={list}")).await;
    let jcont = enc(&json!({ "channel": long }).to_string());
    empty(
        &app,
        &format!("/api/refunds?filter[q][metadata_jcont]={jcont}"),
    )
    .await;
    let digits = "9".repeat(10 * 1024);
    let cases = [
        (
            format!("sort={long}"),
            "INVALID_SORT_CRITERIA",
            "sort".to_owned(),
        ),
        (format!("{long}=1"), "PARAM_NOT_ALLOWED", long.clone()),
        (
            format!("page[size]={digits}"),
            "INVALID_PAGE_VALUE",
            "page[size]".to_owned(),
        ),
        (
            format!("include={long}"),
            "INVALID_INCLUDE",
            "include".to_owned(),
        ),
        (
            format!("fields[refunds]={long}"),
            "INVALID_FIELD",
            "fields[refunds]".to_owned(),
        ),
        (
            format!("filter[q][{long}_eq]=1"),
            "FILTER_NOT_ALLOWED",
            format!("filter[q][{long}_eq]"),
        ),
        (
            format!("filter[q][amount_cents_eq]={digits}"),
            "INVALID_FILTER_VALUE",
            "filter[q][amount_cents_eq]".to_owned(),
        ),
    ];
    for (query, code, parameter) in &cases {
        get_fails(
            &app,
            &format!("/api/refunds?{query}"),
            StatusCode::BAD_REQUEST,
            code,
            Some(parameter),
        )
        .await;
    }
    get_fails(
        &app,
        &format!("/api/refunds/{long}"),
        StatusCode::NOT_FOUND,
        "RECORD_NOT_FOUND",
        None,
    )
    .await;
    assert_eq!(count(&app).await, before);
}

async fn encoding_variants(app: TestApp) {
    app.seed("acme", 30, 11);
    let tok = token("acme");
    let (_, first) = app.get("/api/refunds?page[size]=1", &tok).await;
    let number = first["data"][0]["attributes"]["number"]
        .as_str()
        .unwrap()
        .to_owned();
    // Percent-encoded brackets and values mean the same as plain ones.
    let (_, plain) = app
        .get(&format!("/api/refunds?filter[q][number_eq]={number}"), &tok)
        .await;
    let (status, encoded) = app
        .get(
            &format!("/api/refunds?filter%5Bq%5D%5Bnumber_eq%5D={}", enc(&number)),
            &tok,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{encoded}");
    assert_eq!(encoded["meta"]["record_count"], 1);
    assert_eq!(encoded["data"], plain["data"]);
    let (_, listed) = app
        .get(
            &format!(
                "/api/refunds?filter%5Bq%5D%5Bnumber_in%5D={}%2Cnope",
                enc(&number)
            ),
            &tok,
        )
        .await;
    assert_eq!(listed["data"], plain["data"]);
    let (status, one) = app.get("/api/refunds?page%5Bsize%5D=%31", &tok).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["data"].as_array().map(Vec::len), Some(1));
    get_fails(
        &app,
        "/api/refunds?page%5Bsize%5D=0",
        StatusCode::BAD_REQUEST,
        "INVALID_PAGE_VALUE",
        Some("page[size]"),
    )
    .await;
    get_fails(
        &app,
        "/api/refunds?filter%5Bq%5D%5Bnope_eq%5D=1",
        StatusCode::BAD_REQUEST,
        "FILTER_NOT_ALLOWED",
        Some("filter[q][nope_eq]"),
    )
    .await;
    // `+` is a space, like `%20`.
    let declined = app
        .all("/api/refunds?filter[q][error_code_eq]=card_declined", &tok)
        .await;
    assert!(!declined.is_empty(), "the seed has declined refunds");
    for q in [
        "filter[q][error_detail_eq]=The+issuer+declined+the+refund",
        "filter[q][error_detail_eq]=The%20issuer%20declined%20the%20refund",
        "filter[q][error_detail_cont]=issuer+declined",
    ] {
        let items = app.all(&format!("/api/refunds?{q}"), &tok).await;
        assert_eq!(items, declined, "{q}");
    }
    get_fails(
        &app,
        "/api/refunds?sort=+number",
        StatusCode::BAD_REQUEST,
        "INVALID_SORT_CRITERIA",
        Some("sort"),
    )
    .await;
    get_fails(
        &app,
        "/api/refunds?page+size=1",
        StatusCode::BAD_REQUEST,
        "PARAM_NOT_ALLOWED",
        Some("page size"),
    )
    .await;
    // Invalid percent-encoding is the client's mistake: 400, never taken literally.
    for v in ["%ZZ", "%", "%E9", "%C3%28", "%FF%FE", "100%"] {
        for field in ["number_eq", "reference_cont"] {
            let (status, body) = app
                .get(&format!("/api/refunds?filter[q][{field}]={v}"), &tok)
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{v}: {body}");
            assert_eq!(body["errors"][0]["code"], "INVALID_FILTER_VALUE");
        }
        let (status, body) = app.get(&format!("/api/refunds?page[size]={v}"), &tok).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}: {body}");
        assert_eq!(body["errors"][0]["code"], "INVALID_PAGE_VALUE");
    }
    get_fails(
        &app,
        "/api/refunds?%ZZ=1",
        StatusCode::BAD_REQUEST,
        "PARAM_NOT_ALLOWED",
        Some("%ZZ"),
    )
    .await;
    get_fails(
        &app,
        "/api/refunds/%ZZ",
        StatusCode::NOT_FOUND,
        "RECORD_NOT_FOUND",
        None,
    )
    .await;
    get_fails(
        &app,
        "/api/refunds/%E9",
        StatusCode::NOT_FOUND,
        "RECORD_NOT_FOUND",
        None,
    )
    .await;
    // Empty pieces of the query string are ignored.
    let (status, body) = app.get("/api/refunds?&&page[size]=2&", &tok).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"].as_array().map(Vec::len), Some(2));
}

async fn tolerant_headers(app: TestApp) {
    app.seed("acme", 3, 11);
    let tok = token("acme");
    let id = some_refund(&app, &tok).await;
    let headers: &[(&str, &str)] = &[
        ("Content-Type", "application/vnd.api+json"),
        ("Content-Type", "application/json"),
        ("Accept", "*/*"),
        ("Accept", "application/json"),
        ("Accept", "application/vnd.api+json"),
        ("Accept", "application/*"),
        (
            "Accept",
            "application/vnd.api+json; ext=\"https://jsonapi.org/ext/atomic\"",
        ),
        (
            "Accept",
            "application/vnd.api+json; profile=\"https://example.com/p\"",
        ),
        (
            "Accept",
            "application/vnd.api+json; charset=utf-8, application/vnd.api+json",
        ),
        (
            "Accept",
            "application/vnd.api+json; charset=utf-8, */*;q=0.1",
        ),
        ("Accept", "text/html, application/xhtml+xml, */*;q=0.8"),
        ("Accept", ""),
    ];
    for uri in [
        "/api/refunds".to_owned(),
        format!("/api/refunds/{id}"),
        format!("/api/refunds/{id}/order"),
    ] {
        for header in headers {
            let req = TestRequest::get().uri(&uri).insert_header(*header);
            let (status, body) = app.request(req, Some(&tok)).await;
            assert_eq!(status, StatusCode::OK, "{uri} with {header:?}: {body}");
            assert!(body.get("data").is_some(), "{body}");
        }
    }
}

crate::on_both_backends!(
    param_not_allowed,
    invalid_page_value,
    invalid_sort_criteria,
    filter_not_allowed,
    invalid_filter_value,
    invalid_include,
    invalid_field,
    record_not_found,
    method_not_allowed,
    not_acceptable,
    unsupported_media_type,
    unauthorized,
    unicode_input,
    injection_is_plain_data,
    very_long_values,
    nul_bytes_are_plain_data,
    long_any_list,
    encoding_variants,
    tolerant_headers,
);
