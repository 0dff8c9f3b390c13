//! What an attacker, a second tenant and a long day of traffic found: sorts that grew
//! exponentially, input that reached the database as a 500, links written by headers,
//! ambiguous credentials, tenants that could not be seeded side by side, page queries
//! at the mercy of table statistics, unbounded filter lists and lenient parsing.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use diesel::RunQueryDsl;
use insta::assert_json_snapshot;
use serde_json::{json, Value};

use crate::common::{redact, refund_body, token, Backend, TestApp};

/// Sends `req` and checks one error of `status` and `code` with `source` (parameter or
/// pointer); returns the redacted document.
async fn fails(
    app: &TestApp,
    req: TestRequest,
    status: StatusCode,
    code: &str,
    source: Value,
) -> Value {
    let (got, body) = app.request(req, Some(&token("acme"))).await;
    assert_eq!(got, status, "{body}");
    let e = &body["errors"][0];
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(e["code"], code, "{body}");
    assert_eq!(e["source"], source, "{body}");
    redact(&body)
}

async fn get_fails(app: &TestApp, uri: &str, code: &str, parameter: &str) -> Value {
    let req = TestRequest::get().uri(uri);
    let source = json!({ "parameter": parameter });
    fails(app, req, StatusCode::BAD_REQUEST, code, source).await
}

/// The fields `sort` takes on `type_name` (ascending forms), from its description.
fn sortable(type_name: &str) -> Vec<String> {
    let def = refunds::resources::lookup(type_name).expect("a resource type");
    refunds::jsonapi::query::sortable_fields(def)
        .map(|a| a.name.to_owned())
        .collect()
}

async fn sort_keys_are_unique_and_bounded(app: TestApp) {
    app.seed("acme", 20, 3);
    let fields = sortable("refunds");
    for f in [
        "number",
        "amount_cents",
        "id",
        "created_at",
        "updated_at",
        "reference",
    ] {
        assert!(fields.contains(&f.to_owned()), "{f} in {fields:?}");
    }
    // Every sortable field once, descending: one request, all of them honoured.
    let all: Vec<String> = fields.iter().map(|f| format!("-{f}")).collect();
    let (status, body) = app
        .get(
            &format!("/api/refunds?sort={}", all.join(",")),
            &token("acme"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut docs = vec![
        get_fails(
            &app,
            "/api/refunds?sort=amount_cents,-amount_cents",
            "INVALID_SORT_CRITERIA",
            "sort",
        )
        .await,
        get_fails(
            &app,
            "/api/refunds?sort=id,number,id",
            "INVALID_SORT_CRITERIA",
            "sort",
        )
        .await,
    ];
    // One more key than there are fields, each named twice at most: refused before any work.
    let too_many: Vec<&str> = fields
        .iter()
        .chain(fields.iter())
        .take(fields.len() + 1)
        .map(String::as_str)
        .collect();
    docs.push(
        get_fails(
            &app,
            &format!("/api/refunds?sort={}", too_many.join(",")),
            "INVALID_SORT_CRITERIA",
            "sort",
        )
        .await,
    );
    // What used to take minutes: 64 keys.
    let long = vec!["-created_at"; 64].join(",");
    get_fails(
        &app,
        &format!("/api/refunds?sort={long}"),
        "INVALID_SORT_CRITERIA",
        "sort",
    )
    .await;
    assert_json_snapshot!("sort_keys_unique_and_bounded", docs);
}

/// `sort=id` and `sort=-id` order every collection by id, and every declared sortable
/// field of every collection sorts.
async fn every_collection_sorts_by_every_sortable_field(app: TestApp) {
    app.seed("acme", 12, 5);
    let tok = token("acme");
    for type_name in [
        "refunds",
        "orders",
        "authorizations",
        "captures",
        "refund_captures",
        "events",
        "versions",
        "attachments",
        "refund_summaries",
    ] {
        for field in sortable(type_name) {
            for dir in ["", "-"] {
                let uri = format!("/api/{type_name}?sort={dir}{field}&page[size]=25");
                let (status, body) = app.get(&uri, &tok).await;
                assert_eq!(status, StatusCode::OK, "{uri}: {body}");
            }
        }
        let ids = |body: &Value| -> Vec<String> {
            body["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|r| r["id"].as_str().expect("id").to_owned())
                .collect()
        };
        let (status, asc) = app
            .get(&format!("/api/{type_name}?sort=id&page[size]=25"), &tok)
            .await;
        assert_eq!(status, StatusCode::OK, "{type_name}: {asc}");
        let (_, desc) = app
            .get(&format!("/api/{type_name}?sort=-id&page[size]=25"), &tok)
            .await;
        let (asc, desc) = (ids(&asc), ids(&desc));
        let mut sorted = asc.clone();
        sorted.sort();
        assert_eq!(asc, sorted, "{type_name} ascending by id");
        let mut reversed = desc.clone();
        reversed.sort_by(|a, b| b.cmp(a));
        assert_eq!(desc, reversed, "{type_name} descending by id");
    }
}

async fn nul_in_paths_and_bodies_is_a_400(app: TestApp) {
    app.seed("acme", 3, 7);
    let tok = token("acme");
    let mut docs = Vec::new();
    for (uri, parameter) in [
        ("/api/refunds/%00%00", "id"),
        ("/api/refunds/by_key/a%00b", "key"),
        ("/api/refund_summaries/%00", "id"),
        ("/api/refunds/a%00/order", "id"),
    ] {
        docs.push(json!({
            "request": format!("GET {uri}"),
            "response": get_fails(&app, uri, "INVALID_DATA_FORMAT", parameter).await,
        }));
    }
    let patch = TestRequest::patch()
        .uri("/api/refunds/%00%00")
        .insert_header(("Content-Type", "application/vnd.api+json"))
        .set_payload(json!({"data": {"type": "refunds", "id": "\u{0}\u{0}"}}).to_string());
    fails(
        &app,
        patch,
        StatusCode::BAD_REQUEST,
        "INVALID_DATA_FORMAT",
        json!({"parameter": "id"}),
    )
    .await;
    // A relationship id and an attribute holding NUL, pointed at.
    let (_, before) = app.get("/api/refunds?page[size]=1", &tok).await;
    let (_, first) = app.get("/api/captures?page[size]=1", &tok).await;
    let capture = first["data"][0]["id"].as_str().expect("a capture");
    let mut body = refund_body(
        "reference_capture",
        "captures",
        "\u{0}x",
        json!({"amount_cents": 1}),
    );
    let (status, doc) = app.post("/api/refunds", &tok, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{doc}");
    assert_eq!(
        doc["errors"][0]["source"]["pointer"],
        "/data/relationships/reference_capture/data/id"
    );
    docs.push(
        json!({ "request": "POST /api/refunds (NUL relationship id)", "response": redact(&doc) }),
    );
    body = refund_body(
        "reference_capture",
        "captures",
        capture,
        json!({"amount_cents": 1, "metadata": {"note\u{0}": "x"}}),
    );
    let (status, doc) = app.post("/api/refunds", &tok, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{doc}");
    assert_eq!(
        doc["errors"][0]["source"]["pointer"],
        "/data/attributes/metadata/note\u{0}"
    );
    let (_, after) = app.get("/api/refunds?page[size]=1", &tok).await;
    assert_eq!(
        after["meta"]["record_count"], before["meta"]["record_count"],
        "nothing written"
    );
    assert_json_snapshot!("nul_in_paths_and_bodies", docs);
}

async fn hostile_filter_values_are_400(app: TestApp) {
    app.seed("acme", 3, 7);
    let long = "a".repeat(65_000);
    let jcont: String = form_urlencoded::byte_serialize(br#"{"a":"\u0000"}"#).collect();
    let mut docs = Vec::new();
    for (query, parameter) in [
        (
            "filter[q][reference_matches]=%5C".to_owned(),
            "filter[q][reference_matches]",
        ),
        (
            "filter[q][number_matches]=ab%5C".to_owned(),
            "filter[q][number_matches]",
        ),
        (
            "filter[q][number_does_not_match]=%5C".to_owned(),
            "filter[q][number_does_not_match]",
        ),
        (
            "filter[q][number_matches_any]=a,b%5C".to_owned(),
            "filter[q][number_matches_any]",
        ),
        (
            format!("filter[q][metadata_jcont]={jcont}"),
            "filter[q][metadata_jcont]",
        ),
        (
            format!("filter[q][reference_cont]={long}"),
            "filter[q][reference_cont]",
        ),
    ] {
        let uri = format!("/api/refunds?{query}");
        let doc = get_fails(&app, &uri, "INVALID_FILTER_VALUE", parameter).await;
        docs.push(json!({ "parameter": parameter, "response": doc }));
    }
    // An escaped backslash is a complete pattern: it matches a literal `\`.
    let (status, body) = app
        .get(
            "/api/refunds?filter[q][reference_matches]=%5C%5C",
            &token("acme"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_json_snapshot!("hostile_filter_values", docs);
}

/// Generated strings (control and escape characters, quotes, very long values, lists)
/// through every predicate of every filterable field of every resource: never a 5xx,
/// always a valid document (the harness checks both on every response).
async fn fuzz_every_filter_predicate(app: TestApp) {
    app.seed("acme", 4, 9);
    let tok = token("acme");
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let pool = |n: u64| -> String {
        match n % 16 {
            0 => "\\".into(),
            1 => "%_\\%".into(),
            2 => "'; DROP TABLE refunds; --".into(),
            3 => "\u{1}\u{7}\u{1b}[31m\u{1f}".into(),
            4 => "a\\".into(),
            5 => "x".repeat(20_000),
            6 => "😀\u{200b}\u{feff}".into(),
            7 => ",,".into(),
            8 => "a,b,\\,%".into(),
            9 => "-9223372036854775809".into(),
            10 => "2024-13-45T25:61:61Z".into(),
            11 => r#"{"a":{"b":[1,"\u0000"]}}"#.into(),
            12 => "true,false,null".into(),
            13 => vec!["v"; 150].join(","),
            14 => "\"]}[{".into(),
            _ => " ".into(),
        }
    };
    let mut requests = 0;
    for resource in refunds::resources::all() {
        let def = resource.def();
        let fields = def
            .attributes
            .iter()
            .filter(|a| a.filterable)
            .map(|a| a.name)
            .chain(["id"]);
        for field in fields {
            for predicate in refunds::jsonapi::filter::predicate_names() {
                let value = pool(next());
                let encoded: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
                let uri = format!(
                    "/api/{}?filter[q][{field}_{predicate}]={encoded}",
                    def.type_name
                );
                let (status, body) = app.get(&uri, &tok).await;
                assert!(
                    status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
                    "{status} for {}: {body}",
                    &uri[..uri.len().min(200)]
                );
                requests += 1;
            }
        }
    }
    assert!(requests > 500, "{requests} requests");
}

/// Without a proxy setting, `X-Forwarded-*` never reach a link; with it, only http/https
/// and a plain host do.
async fn forwarded_headers_need_a_setting(app: TestApp) {
    let backend = app.backend;
    drop(app);
    for trust in [false, true] {
        let app = TestApp::with(backend, |s| {
            s.public_url = String::new();
            s.trust_forwarded_headers = trust;
        })
        .await;
        app.seed("acme", 2, 1);
        let first = |headers: &[(&str, &str)]| {
            let mut req = TestRequest::get().uri("/api/refunds?page[size]=1");
            for (k, v) in headers {
                req = req.insert_header((*k, *v));
            }
            req
        };
        let link = |body: &Value| body["links"]["first"].as_str().expect("first").to_owned();
        let (status, body) = app
            .request(
                first(&[
                    ("Host", "refunds.internal:8080"),
                    ("X-Forwarded-Host", "evil.example"),
                    ("X-Forwarded-Proto", "javascript"),
                ]),
                Some(&token("acme")),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let want = if trust {
            "http://evil.example/api/refunds"
        } else {
            "http://refunds.internal:8080/api/refunds"
        };
        assert!(link(&body).starts_with(want), "{trust}: {}", link(&body));
        // Trusted or not, nothing but a host reaches a link.
        let (_, body) = app
            .request(
                first(&[
                    ("Host", "refunds.internal"),
                    ("X-Forwarded-Host", "evil.example/x?y=@z"),
                    ("X-Forwarded-Proto", "https"),
                ]),
                Some(&token("acme")),
            )
            .await;
        let want = if trust {
            "https://refunds.internal/api/refunds"
        } else {
            "http://refunds.internal/api/refunds"
        };
        assert!(link(&body).starts_with(want), "{trust}: {}", link(&body));
        let (_, body) = app
            .request(first(&[("Host", "a b@evil")]), Some(&token("acme")))
            .await;
        assert!(
            link(&body).starts_with("http://127.0.0.1:8080/api/refunds"),
            "{}",
            link(&body)
        );
    }
}

async fn two_authorization_headers_are_401(app: TestApp) {
    app.seed("acme", 2, 1);
    let good = format!("Bearer {}", token("acme"));
    for second in ["Bearer garbage", good.as_str(), "Basic Zm9vOmJhcg=="] {
        let req = TestRequest::get()
            .uri("/api/refunds")
            .append_header(("Authorization", good.as_str()))
            .append_header(("Authorization", second));
        let (status, body) = app.request(req, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{second}: {body}");
        assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");
    }
}

/// Any number of tenants seed into one database, and a tenant's rows are the same in
/// every database it is seeded into.
async fn tenants_seed_side_by_side(app: TestApp) {
    app.seed("acme", 15, 4);
    app.seed("globex", 15, 4);
    app.seed_mode("acme", true, 15, 4);
    let acme = refund_ids(&app, "acme").await;
    let globex = refund_ids(&app, "globex").await;
    assert!(!acme.is_empty() && !globex.is_empty());
    assert!(acme.iter().all(|id| !globex.contains(id)));
    let other = TestApp::new(app.backend).await;
    other.seed("acme", 15, 4);
    assert_eq!(
        refund_ids(&other, "acme").await,
        acme,
        "deterministic per tenant"
    );
}

async fn refund_ids(app: &TestApp, slug: &str) -> Vec<String> {
    app.all("/api/refunds?sort=id", &token(slug))
        .await
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A deep page of a table the planner has no statistics for answers well within the
/// statement time-out (the old `IN (subquery)` shape took seconds here on PostgreSQL).
async fn deep_pages_do_not_depend_on_statistics(app: TestApp) {
    let backend = app.backend;
    drop(app);
    let app = TestApp::with(backend, |s| s.request_timeout_ms = 3_000).await;
    app.seed("acme", 2_500, 6);
    if backend == Backend::Postgres {
        // As after a bulk load with autovacuum off: no statistics, no row estimates.
        let mut pooled = app.state.pool.get().expect("connection");
        let conn: &mut refunds::db::DbConnection = &mut pooled;
        for sql in [
            "DELETE FROM pg_statistic WHERE starelid IN (SELECT c.oid FROM pg_class c \
             WHERE c.relnamespace = current_schema()::regnamespace)",
            "UPDATE pg_class SET reltuples = -1, relpages = 0 \
             WHERE relnamespace = current_schema()::regnamespace",
        ] {
            diesel::sql_query(sql).execute(conn).expect(sql);
        }
    }
    let tok = token("acme");
    let (_, first) = app.get("/api/refunds?page[size]=1", &tok).await;
    let total = first["meta"]["record_count"].as_u64().expect("count");
    assert!(total > 2_000, "{total} refunds");
    let last = total.div_ceil(25);
    let mut seen = Vec::new();
    for page in [2, last / 2, last - 1, last] {
        let uri = format!("/api/refunds?page[size]=25&page[number]={page}");
        let (status, body) = app.get(&uri, &tok).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        let n = body["data"].as_array().map_or(0, Vec::len) as u64;
        let want = if page == last {
            total - 25 * (last - 1)
        } else {
            25
        };
        assert_eq!(n, want, "{uri}");
        seen.push(body["data"][0]["id"].clone());
    }
    seen.dedup();
    assert_eq!(seen.len(), 4);
}

async fn filter_lists_are_capped(app: TestApp) {
    app.seed("acme", 3, 2);
    let list = |n: usize| {
        (0..n)
            .map(|i| format!("n{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    for filter in [
        "number_in",
        "reference_cont_any",
        "key_eq_any",
        "number_not_in",
    ] {
        let (status, body) = app
            .get(
                &format!("/api/refunds?filter[q][{filter}]={}", list(100)),
                &token("acme"),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{filter}: {body}");
        get_fails(
            &app,
            &format!("/api/refunds?filter[q][{filter}]={}", list(101)),
            "INVALID_FILTER_VALUE",
            &format!("filter[q][{filter}]"),
        )
        .await;
    }
    // A single value may hold commas: only the list forms count them.
    let (status, body) = app
        .get(
            &format!("/api/refunds?filter[q][reference_cont]={}", list(500)),
            &token("acme"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The cap is a setting.
    let backend = app.backend;
    let small = TestApp::with(backend, |s| s.filter_values_max = 3).await;
    small.seed("acme", 3, 2);
    let (status, _) = small
        .get(
            &format!("/api/refunds?filter[q][number_in]={}", list(3)),
            &token("acme"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let doc = get_fails(
        &small,
        &format!("/api/refunds?filter[q][number_in]={}", list(4)),
        "INVALID_FILTER_VALUE",
        "filter[q][number_in]",
    )
    .await;
    assert_json_snapshot!("filter_list_capped", doc);
}

async fn strict_parsing(app: TestApp) {
    app.seed("acme", 3, 2);
    let mut docs = Vec::new();
    for (query, code, parameter) in [
        ("page[size]=+5", "INVALID_PAGE_VALUE", "page[size]"),
        ("page[number]=+1", "INVALID_PAGE_VALUE", "page[number]"),
        ("page[size]=%2B5", "INVALID_PAGE_VALUE", "page[size]"),
        ("page[size]=%G1", "INVALID_PAGE_VALUE", "page[size]"),
        (
            "filter[q][number_eq]=%G1",
            "INVALID_FILTER_VALUE",
            "filter[q][number_eq]",
        ),
        (
            "filter[q][number_eq]=%FF",
            "INVALID_FILTER_VALUE",
            "filter[q][number_eq]",
        ),
        (
            "filter[q][number_eq]=%",
            "INVALID_FILTER_VALUE",
            "filter[q][number_eq]",
        ),
        (
            "filter[q][reference_cont]=100%",
            "INVALID_FILTER_VALUE",
            "filter[q][reference_cont]",
        ),
        ("sort=%E9", "INVALID_SORT_CRITERIA", "sort"),
        ("include=%C3%28", "INVALID_INCLUDE", "include"),
        ("fields[refunds]=%FF", "INVALID_FIELD", "fields[refunds]"),
        ("%ZZ=1", "PARAM_NOT_ALLOWED", "%ZZ"),
    ] {
        let doc = get_fails(&app, &format!("/api/refunds?{query}"), code, parameter).await;
        docs.push(json!({ "query": query, "response": doc }));
    }
    // Well-formed escapes still decode.
    let (status, body) = app
        .get(
            "/api/refunds?page%5Bsize%5D=%32&filter[q][reference_cont]=100%25",
            &token("acme"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_json_snapshot!("strict_parsing", docs);
}

crate::on_both_backends!(
    sort_keys_are_unique_and_bounded,
    every_collection_sorts_by_every_sortable_field,
    nul_in_paths_and_bodies_is_a_400,
    hostile_filter_values_are_400,
    fuzz_every_filter_predicate,
    forwarded_headers_need_a_setting,
    two_authorization_headers_are_401,
    tenants_seed_side_by_side,
    deep_pages_do_not_depend_on_statistics,
    filter_lists_are_capped,
    strict_parsing,
);
