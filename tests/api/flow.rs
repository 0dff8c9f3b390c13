//! `/flow/{organization}/refunds`: Flow's plain-JSON refunds API over the same data as `/api`.

use actix_web::http::{Method, StatusCode};
use actix_web::test as atest;
use base64::Engine;
use insta::assert_json_snapshot;
use serde_json::{json, Value};

use crate::common::{redact, refund_body, token, Payments, TestApp, TokenSpec};

/// A Flow answer: status, content type and body (JSON, or `Null` when empty).
struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    text: String,
    body: Value,
}

enum Cred<'a> {
    None,
    Bearer(&'a str),
    /// `Basic base64(<token>:)`.
    Basic(&'a str),
    /// `Basic base64(<token>)`, as the SDK sends it.
    BasicNoColon(&'a str),
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn call(
    app: &TestApp,
    method: Method,
    uri: &str,
    cred: Cred<'_>,
    body: Option<(&str, String)>,
) -> Answer {
    let mut req = atest::TestRequest::default().method(method).uri(uri);
    req = match cred {
        Cred::None => req,
        Cred::Bearer(t) => req.insert_header(("Authorization", format!("Bearer {t}"))),
        Cred::Basic(t) => {
            req.insert_header(("Authorization", format!("Basic {}", b64(&format!("{t}:")))))
        }
        Cred::BasicNoColon(t) => req.insert_header(("Authorization", format!("Basic {}", b64(t)))),
    };
    if let Some((content_type, payload)) = body {
        req = req
            .insert_header(("Content-Type", content_type))
            .set_payload(payload);
    }
    let svc = atest::init_service(refunds::app(app.state.clone())).await;
    let resp = atest::call_service(&svc, req.to_request()).await;
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = atest::read_body(resp).await;
    let text = String::from_utf8(bytes.to_vec()).expect("UTF-8 body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        assert_eq!(content_type.as_deref(), Some("application/json"), "{text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    assert!(status != StatusCode::INTERNAL_SERVER_ERROR, "500: {text}");
    Answer {
        status,
        content_type,
        text,
        body,
    }
}

async fn get(app: &TestApp, uri: &str, tok: &str) -> Answer {
    call(app, Method::GET, uri, Cred::BasicNoColon(tok), None).await
}

async fn post(app: &TestApp, tok: &str, form: Value) -> Answer {
    call(
        app,
        Method::POST,
        "/flow/acme/refunds",
        Cred::BasicNoColon(tok),
        Some(("application/json", form.to_string())),
    )
    .await
}

/// Ids, keys and timestamps replaced after checking their shape.
fn scrub(v: &Value) -> Value {
    ids_and_times(&redact(v))
}

fn ids_and_times(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("timestamp", Value::String(_)) => Value::String("[timestamp]".into()),
                        _ => ids_and_times(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(ids_and_times).collect()),
        Value::String(s) if refunds::ids::is_id(s) => Value::String("[id]".into()),
        other => other.clone(),
    }
}

fn setup(app: &TestApp) -> (String, Payments) {
    let p = app.payments("acme", "1042", "EUR", &[10_000, 5_000]);
    (token("acme"), p)
}

fn ids(body: &Value) -> Vec<String> {
    body.as_array()
        .expect("an array")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn shapes(app: TestApp) {
    let (tok, p) = setup(&app);
    let made = post(
        &app,
        &tok,
        json!({"capture_id": p.capture_ids[0], "amount": 25.00, "currency": "eur",
               "key": "ref-shapes", "attributes": {"reason": "damaged"}, "rma_key": "rma-1"}),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    assert!(made.text.contains("\"amount\":25.00"), "{}", made.text);
    assert_json_snapshot!("flow_refund", scrub(&made.body));
    let by_key = get(&app, "/flow/acme/refunds/ref-shapes", &tok).await;
    assert_eq!(by_key.status, StatusCode::OK);
    assert_eq!(by_key.body, made.body);
    let list = get(&app, "/flow/acme/refunds", &tok).await;
    assert_eq!(list.body, json!([made.body]));
    let summary = get(&app, "/flow/acme/refunds/summary/1042", &tok).await;
    assert_eq!(summary.status, StatusCode::OK);
    assert!(
        summary.text.contains("\"balance\":125.00"),
        "{}",
        summary.text
    );
    assert_json_snapshot!("flow_summary", scrub(&summary.body));
    let versions = get(&app, "/flow/acme/refunds/versions", &tok).await;
    assert_eq!(versions.status, StatusCode::OK);
    assert_json_snapshot!("flow_versions", scrub(&versions.body));
}

async fn errors(app: TestApp) {
    let (tok, p) = setup(&app);
    let mut out = serde_json::Map::new();
    let mut note = |name: &str, a: &Answer| {
        out.insert(
            name.into(),
            json!({"status": a.status.as_u16(), "content_type": a.content_type, "body": a.body}),
        );
    };
    note(
        "no_token",
        &call(&app, Method::GET, "/flow/acme/refunds", Cred::None, None).await,
    );
    note("bad_token", &get(&app, "/flow/acme/refunds", "a.b.c").await);
    note("other_org", &get(&app, "/flow/other/refunds", &tok).await);
    note(
        "unknown_key",
        &get(&app, "/flow/acme/refunds/nope", &tok).await,
    );
    note(
        "unknown_order",
        &get(&app, "/flow/acme/refunds/summary/nope", &tok).await,
    );
    note(
        "delete",
        &call(
            &app,
            Method::DELETE,
            "/flow/acme/refunds/x",
            Cred::BasicNoColon(&tok),
            None,
        )
        .await,
    );
    note(
        "put_versions",
        &call(
            &app,
            Method::PUT,
            "/flow/acme/refunds/versions",
            Cred::BasicNoColon(&tok),
            None,
        )
        .await,
    );
    note(
        "form_as_text",
        &call(
            &app,
            Method::POST,
            "/flow/acme/refunds",
            Cred::BasicNoColon(&tok),
            Some(("text/plain", "{}".into())),
        )
        .await,
    );
    note(
        "not_json",
        &call(
            &app,
            Method::POST,
            "/flow/acme/refunds",
            Cred::BasicNoColon(&tok),
            Some(("application/json; charset=utf-8", "{nope".into())),
        )
        .await,
    );
    note(
        "bad_limit",
        &get(&app, "/flow/acme/refunds?limit=0", &tok).await,
    );
    note(
        "insufficient_funds",
        &post(
            &app,
            &tok,
            json!({"capture_id": p.capture_ids[0], "amount": "100.01", "currency": "EUR"}),
        )
        .await,
    );
    note(
        "too_many_decimals",
        &post(
            &app,
            &tok,
            json!({"capture_id": p.capture_ids[0], "amount": 1.001, "currency": "EUR"}),
        )
        .await,
    );
    assert_json_snapshot!("flow_errors", Value::Object(out));
}

async fn authentication(app: TestApp) {
    let (tok, p) = setup(&app);
    for cred in [
        Cred::Bearer(&tok),
        Cred::Basic(&tok),
        Cred::BasicNoColon(&tok),
    ] {
        let a = call(&app, Method::GET, "/flow/acme/refunds", cred, None).await;
        assert_eq!(a.status, StatusCode::OK);
    }
    let expired = TokenSpec {
        exp_in: -600,
        ..TokenSpec::new("acme")
    }
    .sign();
    let a = get(&app, "/flow/acme/refunds", &expired).await;
    assert_eq!((a.status, a.text.as_str()), (StatusCode::UNAUTHORIZED, ""));
    let a = call(
        &app,
        Method::GET,
        "/flow/acme/refunds",
        Cred::BasicNoColon(&format!("{tok}:password")),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let form = json!({"capture_id": p.capture_ids[0], "amount": 1, "currency": "EUR"});
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
        let reader = spec.sign();
        assert_eq!(
            get(&app, "/flow/acme/refunds", &reader).await.status,
            StatusCode::OK
        );
        let a = post(&app, &reader, form.clone()).await;
        assert_eq!((a.status, a.text.as_str()), (StatusCode::UNAUTHORIZED, ""));
    }
    // Another organization's token, on its own slug, sees none of acme's refunds.
    assert_eq!(post(&app, &tok, form).await.status, StatusCode::CREATED);
    let other = token("other");
    let a = call(
        &app,
        Method::GET,
        "/flow/other/refunds",
        Cred::BasicNoColon(&other),
        None,
    )
    .await;
    assert_eq!(a.body, json!([]));
}

/// Four refunds: 10.00 and 20.00 on the first capture, 30.00 and 40.00 (by authorization,
/// then by order: the rest of the first capture and the second) with keys k1..k4.
async fn four(app: &TestApp, tok: &str, p: &Payments) -> Vec<Value> {
    let forms = [
        json!({"capture_id": p.capture_ids[0], "amount": 10, "currency": "EUR", "key": "k1"}),
        json!({"capture_id": p.capture_ids[0], "amount": "20.00", "currency": "EUR", "key": "k2"}),
        json!({"authorization_id": p.authorization_id, "amount": 30, "currency": "EUR", "key": "k3"}),
        json!({"order_number": p.order_number, "amount": 80, "currency": "EUR", "key": "k4"}),
    ];
    let mut out = Vec::new();
    for f in forms {
        let a = post(app, tok, f).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        out.push(a.body);
    }
    out
}

async fn filters(app: TestApp) {
    let (tok, p) = setup(&app);
    let made = four(&app, &tok, &p).await;
    let id = |i: usize| made[i]["id"].as_str().unwrap().to_owned();
    let keys = |uri: &str| {
        let app = &app;
        let tok = tok.clone();
        let uri = uri.to_owned();
        async move {
            let a = get(app, &uri, &tok).await;
            assert_eq!(a.status, StatusCode::OK, "{uri}: {}", a.text);
            let mut k: Vec<String> = a
                .body
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["key"].as_str().unwrap().to_owned())
                .collect();
            k.sort();
            k
        }
    };
    assert_eq!(
        keys(&format!("/flow/acme/refunds?id={}&id={}", id(0), id(2))).await,
        ["k1", "k3"]
    );
    assert_eq!(
        keys("/flow/acme/refunds?key=k2&key=k4&key=nope").await,
        ["k2", "k4"]
    );
    let auth = &p.authorization_id;
    assert_eq!(
        keys(&format!("/flow/acme/refunds?authorization_id={auth}"))
            .await
            .len(),
        4
    );
    assert_eq!(
        keys("/flow/acme/refunds?authorization_id=nope").await.len(),
        0
    );
    // An authorization's and a capture's key is their id until they get a reference.
    assert_eq!(
        keys(&format!("/flow/acme/refunds?authorization_key={auth}"))
            .await
            .len(),
        4
    );
    let (c0, c1) = (&p.capture_ids[0], &p.capture_ids[1]);
    assert_eq!(
        keys(&format!("/flow/acme/refunds?capture_id={c1}")).await,
        ["k4"]
    );
    assert_eq!(
        keys(&format!("/flow/acme/refunds?capture_id={c0}")).await,
        ["k1", "k2", "k3", "k4"]
    );
    assert_eq!(
        keys(&format!("/flow/acme/refunds?capture_key={c1}")).await,
        ["k4"]
    );
    let patch = |type_name: &str, id: &str| json!({"data": {"type": type_name, "id": id, "attributes": {"reference": format!("ERP-{type_name}")}}});
    let (s, _) = app
        .patch(&format!("/api/captures/{c1}"), &tok, &patch("captures", c1))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .patch(
            &format!("/api/authorizations/{auth}"),
            &tok,
            &patch("authorizations", auth),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        keys("/flow/acme/refunds?capture_key=ERP-captures").await,
        ["k4"]
    );
    assert_eq!(
        keys(&format!("/flow/acme/refunds?capture_key={c1}"))
            .await
            .len(),
        0
    );
    assert_eq!(
        keys("/flow/acme/refunds?authorization_key=ERP-authorizations")
            .await
            .len(),
        4
    );
    assert_eq!(
        keys(&format!("/flow/acme/refunds?authorization_key={auth}"))
            .await
            .len(),
        0
    );
    let a = get(&app, "/flow/acme/refunds/k4", &tok).await;
    assert_eq!(a.body["authorization"]["key"], "ERP-authorizations");
    assert_eq!(a.body["captures"][1]["capture"]["key"], "ERP-captures");
    // Filters combine; unknown parameters are ignored; more than 100 values are refused.
    assert_eq!(
        keys(&format!(
            "/flow/acme/refunds?key=k1&key=k4&capture_id={c1}&expand=x"
        ))
        .await,
        ["k4"]
    );
    let many: String = (0..101).map(|i| format!("id=x{i}&")).collect();
    assert_eq!(
        get(&app, &format!("/flow/acme/refunds?{many}"), &tok)
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn sorting(app: TestApp) {
    let (tok, p) = setup(&app);
    four(&app, &tok, &p).await;
    let order = |uri: &str| {
        let app = &app;
        let tok = tok.clone();
        let uri = uri.to_owned();
        async move {
            let a = get(app, &uri, &tok).await;
            assert_eq!(a.status, StatusCode::OK, "{uri}: {}", a.text);
            a.body.as_array().unwrap().clone()
        }
    };
    let field = |rows: &[Value], f: &str| -> Vec<String> {
        rows.iter().map(|r| r[f].to_string()).collect()
    };
    let default = order("/flow/acme/refunds").await;
    let explicit = order("/flow/acme/refunds?sort=-created_at").await;
    assert_eq!(default, explicit);
    let mut by_time = field(&default, "created_at");
    let sorted = {
        let mut s = by_time.clone();
        s.sort();
        s.reverse();
        s
    };
    assert_eq!(by_time, sorted);
    by_time.reverse();
    assert_eq!(
        field(
            &order("/flow/acme/refunds?sort=created_at").await,
            "created_at"
        ),
        by_time
    );
    assert_eq!(
        field(&order("/flow/acme/refunds?sort=key").await, "key"),
        ["\"k1\"", "\"k2\"", "\"k3\"", "\"k4\""]
    );
    assert_eq!(
        field(&order("/flow/acme/refunds?sort=%2Bkey").await, "key"),
        ["\"k1\"", "\"k2\"", "\"k3\"", "\"k4\""]
    );
    assert_eq!(
        field(&order("/flow/acme/refunds?sort=-amount").await, "key"),
        ["\"k4\"", "\"k3\"", "\"k2\"", "\"k1\""]
    );
    assert_eq!(
        field(&order("/flow/acme/refunds?sort=amount").await, "key"),
        ["\"k1\"", "\"k2\"", "\"k3\"", "\"k4\""]
    );
    let ids = ids(&Value::Array(order("/flow/acme/refunds?sort=id").await));
    let mut sorted_ids = ids.clone();
    sorted_ids.sort();
    assert_eq!(ids, sorted_ids);
    let desc = self::ids(&Value::Array(order("/flow/acme/refunds?sort=-id").await));
    sorted_ids.reverse();
    assert_eq!(desc, sorted_ids);
    for bad in ["nope", "-number", "amount,", "amount_cents"] {
        let a = get(&app, &format!("/flow/acme/refunds?sort={bad}"), &tok).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(a.body["code"], "generic_error");
    }
}

async fn paging(app: TestApp) {
    let (tok, p) = setup(&app);
    for i in 0..7 {
        let a = post(
            &app,
            &tok,
            json!({"capture_id": p.capture_ids[0], "amount": 1 + i, "currency": "EUR"}),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED);
    }
    let all = ids(&get(&app, "/flow/acme/refunds?limit=100", &tok).await.body);
    assert_eq!(all.len(), 7);
    assert_eq!(
        ids(&get(&app, "/flow/acme/refunds", &tok).await.body),
        all,
        "default limit 25"
    );
    // A walk by raising offset ends on a short page.
    let mut walked = Vec::new();
    let mut offset = 0;
    loop {
        let page = ids(&get(
            &app,
            &format!("/flow/acme/refunds?limit=3&offset={offset}"),
            &tok,
        )
        .await
        .body);
        walked.extend(page.iter().cloned());
        if page.len() < 3 {
            break;
        }
        offset += 3;
    }
    assert_eq!(walked, all);
    // Offsets that are not a whole number of pages.
    assert_eq!(
        ids(&get(&app, "/flow/acme/refunds?limit=2&offset=3", &tok)
            .await
            .body),
        all[3..5]
    );
    assert_eq!(
        ids(&get(&app, "/flow/acme/refunds?limit=4&offset=5", &tok)
            .await
            .body),
        all[5..]
    );
    assert_eq!(
        ids(&get(&app, "/flow/acme/refunds?limit=1&offset=6", &tok)
            .await
            .body),
        all[6..]
    );
    assert!(ids(&get(&app, "/flow/acme/refunds?offset=7", &tok).await.body).is_empty());
    assert!(ids(&get(&app, "/flow/acme/refunds?offset=1000000", &tok)
        .await
        .body)
    .is_empty());
    assert_eq!(
        ids(&get(&app, "/flow/acme/refunds?limit=100&offset=0", &tok)
            .await
            .body),
        all
    );
    for bad in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=x",
        "limit=1.5",
        "offset=-1",
        "offset=x",
        "limit=",
        "limit=1&limit=2",
    ] {
        let a = get(&app, &format!("/flow/acme/refunds?{bad}"), &tok).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let v = get(&app, &format!("/flow/acme/refunds/versions?{bad}"), &tok).await;
        assert_eq!(v.status, StatusCode::UNPROCESSABLE_ENTITY, "versions {bad}");
    }
}

async fn refund_form(app: TestApp) {
    let (tok, p) = setup(&app);
    let (c0, c1, auth) = (&p.capture_ids[0], &p.capture_ids[1], &p.authorization_id);
    let ok = |a: &Answer| assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let refused = |a: &Answer, field: &str| {
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
        assert_eq!(a.body["code"], "generic_error");
        let m = a.body["messages"][0].as_str().unwrap();
        assert!(m.contains(field), "{m} names {field}");
    };
    // Targets that agree.
    let a = post(&app, &tok, json!({"capture_id": c1, "authorization_id": auth, "order_number": "1042", "amount": 1, "currency": "EUR"})).await;
    ok(&a);
    assert_eq!(a.body["captures"][0]["capture"]["id"], c1.as_str());
    ok(&post(
        &app,
        &tok,
        json!({"authorization_id": auth, "order_number": "1042", "amount": 1, "currency": "EUR"}),
    )
    .await);
    // Targets that disagree, or none, or unknown.
    let other = app.payments("acme", "2000", "EUR", &[1_000]);
    refused(
        &post(
            &app,
            &tok,
            json!({"capture_id": c0, "authorization_id": other.authorization_id}),
        )
        .await,
        "authorization_id",
    );
    refused(
        &post(
            &app,
            &tok,
            json!({"capture_id": c0, "order_number": "2000"}),
        )
        .await,
        "order_number",
    );
    refused(
        &post(
            &app,
            &tok,
            json!({"authorization_id": auth, "order_number": "2000"}),
        )
        .await,
        "order_number",
    );
    refused(
        &post(&app, &tok, json!({"amount": 1, "currency": "EUR"})).await,
        "capture_id",
    );
    refused(
        &post(&app, &tok, json!({"capture_id": "nope"})).await,
        "capture_id",
    );
    refused(
        &post(&app, &tok, json!({"authorization_id": "nope"})).await,
        "authorization_id",
    );
    refused(
        &post(&app, &tok, json!({"order_number": "nope"})).await,
        "order_number",
    );
    refused(
        &post(&app, &tok, json!({"capture_id": 12})).await,
        "capture_id",
    );
    // Amounts and currencies.
    refused(
        &post(&app, &tok, json!({"capture_id": c0, "amount": 1})).await,
        "currency",
    );
    refused(
        &post(
            &app,
            &tok,
            json!({"capture_id": c0, "amount": 1, "currency": "USD"}),
        )
        .await,
        "currency",
    );
    refused(
        &post(
            &app,
            &tok,
            json!({"capture_id": c0, "amount": 1, "currency": "XYZ"}),
        )
        .await,
        "currency",
    );
    refused(
        &post(
            &app,
            &tok,
            json!({"capture_id": c0, "amount": 0, "currency": "EUR"}),
        )
        .await,
        "amount",
    );
    refused(
        &post(
            &app,
            &tok,
            json!({"capture_id": c0, "amount": -5, "currency": "EUR"}),
        )
        .await,
        "amount",
    );
    refused(
        &post(
            &app,
            &tok,
            json!({"capture_id": c0, "amount": "0.001", "currency": "EUR"}),
        )
        .await,
        "amount",
    );
    refused(
        &post(
            &app,
            &tok,
            json!({"capture_id": c0, "amount": "ten", "currency": "EUR"}),
        )
        .await,
        "amount",
    );
    refused(
        &post(
            &app,
            &tok,
            json!({"capture_id": c0, "amount": true, "currency": "EUR"}),
        )
        .await,
        "amount",
    );
    refused(
        &post(
            &app,
            &tok,
            json!({"capture_id": c0, "attributes": {"n": 1}}),
        )
        .await,
        "attributes",
    );
    refused(&post(&app, &tok, json!([1])).await, "body");
    let a = post(
        &app,
        &tok,
        json!({"capture_id": c0, "amount": 10_000, "currency": "EUR"}),
    )
    .await;
    refused(&a, "amount");
    assert_eq!(a.body["decline_code"], "insufficient_funds");
    // A string amount, a lower-case currency, attributes with the RMA key.
    let a = post(&app, &tok, json!({"capture_id": c0, "amount": "12.50", "currency": "eur", "attributes": {"a": "b"}, "rma_key": "r-1", "unknown": 1})).await;
    ok(&a);
    assert!(a.text.contains("\"amount\":12.50"), "{}", a.text);
    assert_eq!(a.body["attributes"], json!({"a": "b", "rma_key": "r-1"}));
    assert!(a.body["key"].as_str().unwrap().starts_with("ref-"));
    // A declined refund is still created, failed, and takes nothing.
    let a = post(
        &app,
        &tok,
        json!({"capture_id": c0, "amount": "0.13", "currency": "EUR"}),
    )
    .await;
    ok(&a);
    assert_eq!(
        (
            a.body["status"].as_str(),
            a.body["captures"].as_array().map(Vec::len)
        ),
        (Some("failed"), Some(0))
    );
    // Replays: the same form again is the same refund and moves no money; another is refused.
    let form = json!({"order_number": "1042", "amount": 3, "currency": "EUR", "key": "again"});
    let first = post(&app, &tok, form.clone()).await;
    ok(&first);
    let before = get(&app, "/flow/acme/refunds/summary/1042", &tok)
        .await
        .body;
    let replay = post(
        &app,
        &tok,
        json!({"order_number": "1042", "amount": "3.00", "currency": "EUR", "key": "again"}),
    )
    .await;
    ok(&replay);
    assert_eq!(replay.body, first.body);
    assert_eq!(
        get(&app, "/flow/acme/refunds/summary/1042", &tok)
            .await
            .body,
        before
    );
    refused(
        &post(
            &app,
            &tok,
            json!({"order_number": "1042", "amount": 4, "currency": "EUR", "key": "again"}),
        )
        .await,
        "key",
    );
    // No amount: everything still refundable, then nothing is left.
    let a = post(&app, &tok, json!({"order_number": "1042"})).await;
    ok(&a);
    assert_eq!(
        get(&app, "/flow/acme/refunds/summary/1042", &tok)
            .await
            .body["amounts"]["balance"],
        json!(0.0)
    );
    let a = post(&app, &tok, json!({"order_number": "1042"})).await;
    assert_eq!(a.body["decline_code"], "insufficient_funds", "{}", a.text);
}

async fn both_ways(app: TestApp) {
    let (tok, p) = setup(&app);
    let made = post(
        &app,
        &tok,
        json!({"capture_id": p.capture_ids[0], "amount": 5, "currency": "EUR", "key": "shared"}),
    )
    .await;
    let id = made.body["id"].as_str().unwrap();
    let (s, doc) = app.get(&format!("/api/refunds/{id}"), &tok).await;
    assert_eq!(
        (s, doc["data"]["attributes"]["amount_cents"].clone()),
        (StatusCode::OK, json!(500))
    );
    let (_, doc) = app.get("/api/refunds/by_key/shared", &tok).await;
    assert_eq!(doc["data"]["id"], id);
    // Reserved, then settled.
    let (_, doc) = app.get(&format!("/api/refunds/{id}/versions"), &tok).await;
    assert_eq!(doc["data"].as_array().map(Vec::len), Some(2));
    let (_, doc) = app
        .get(&format!("/api/refunds/{id}/events?sort=name"), &tok)
        .await;
    assert_eq!(doc["data"][0]["attributes"]["name"], "refunds.create");
    assert_eq!(doc["data"][1]["attributes"]["name"], "refunds.succeed");
    // A key used on one side is taken on the other.
    let body = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        json!({"key": "shared", "amount_cents": 500, "currency_code": "EUR"}),
    );
    let (s, _) = app.post("/api/refunds", &tok, &body).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let body = refund_body(
        "authorization",
        "authorizations",
        &p.authorization_id,
        json!({"key": "from-api", "amount_cents": 700, "currency_code": "EUR", "metadata": {"n": 1}}),
    );
    let (s, doc) = app.post("/api/refunds", &tok, &body).await;
    assert_eq!(s, StatusCode::CREATED);
    let a = get(&app, "/flow/acme/refunds/from-api", &tok).await;
    assert_eq!(a.body["id"], doc["data"]["id"]);
    assert_eq!(a.body["attributes"], json!({"n": "1"}));
    assert!(a.text.contains("\"amount\":7.00"), "{}", a.text);
    let (_, doc) = app
        .patch(
            &format!("/api/refunds/{id}"),
            &tok,
            &json!({"data": {"type": "refunds", "id": id, "attributes": {"metadata": {"x": "y"}}}}),
        )
        .await;
    assert_eq!(doc["data"]["attributes"]["metadata"], json!({"x": "y"}));
    let v = get(
        &app,
        &format!("/flow/acme/refunds/versions?refund_id={id}"),
        &tok,
    )
    .await;
    let kinds: Vec<&str> = v
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["type"].as_str().unwrap())
        .collect();
    // Created, settled by its gateway, then patched.
    assert_eq!(kinds, ["insert", "update", "update"]);
    assert_eq!(v.body[0]["refund"]["attributes"], json!({}));
    assert_eq!(v.body[1]["refund"]["attributes"], json!({}));
    assert_eq!(v.body[2]["refund"]["attributes"], json!({"x": "y"}));
    let newest = get(
        &app,
        &format!("/flow/acme/refunds/versions?refund_id={id}&sort=-journal_timestamp"),
        &tok,
    )
    .await;
    assert_eq!(newest.body[0]["type"], "update");
    let vid = v.body[0]["id"].as_str().unwrap();
    let one = get(
        &app,
        &format!("/flow/acme/refunds/versions?id={vid}&sort=id"),
        &tok,
    )
    .await;
    assert_eq!(one.body.as_array().map(Vec::len), Some(1));
    let all = get(&app, "/flow/acme/refunds/versions?limit=1&offset=1", &tok).await;
    assert_eq!(all.body.as_array().map(Vec::len), Some(1));
    assert_eq!(
        get(&app, "/flow/acme/refunds/versions?sort=nope", &tok)
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn amounts(app: TestApp) {
    let tok = token("acme");
    for (currency, number, captured, asked, text) in [
        ("EUR", "e1", 1_000, json!(0.10), "0.10"),
        ("USD", "u1", 100_000_000, json!("1000000.00"), "1000000.00"),
        ("GBP", "g1", 100_000_000, json!(1000000), "1000000.00"),
        ("JPY", "j1", 1_500, json!(1500), "1500"),
        ("JPY", "j2", 100_000_000, json!("1000000"), "1000000"),
        (
            "EUR",
            "e2",
            i64::MAX,
            json!("92233720368547758.07"),
            "92233720368547758.07",
        ),
        (
            "JPY",
            "j3",
            i64::MAX,
            json!(9223372036854775807_i64),
            "9223372036854775807",
        ),
        ("GBP", "g2", 1_000, json!("0.1"), "0.10"),
    ] {
        app.payments("acme", number, currency, &[captured]);
        let a = post(
            &app,
            &tok,
            json!({"order_number": number, "amount": asked, "currency": currency}),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        assert!(
            a.text.contains(&format!("\"amount\":{text},")),
            "{currency} {text}: {}",
            a.text
        );
        assert!(
            a.text
                .contains(&format!("\"requested\":{{\"amount\":{text},")),
            "{}",
            a.text
        );
        let s = get(&app, &format!("/flow/acme/refunds/summary/{number}"), &tok).await;
        assert!(
            s.text.contains(&format!("\"refunded\":{text},")),
            "{}",
            s.text
        );
    }
    let a = post(
        &app,
        &tok,
        json!({"order_number": "j1", "amount": "1.5", "currency": "JPY"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    let a = post(
        &app,
        &tok,
        json!({"order_number": "e2", "amount": "92233720368547758.08", "currency": "EUR"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
}

crate::on_both_backends!(
    shapes,
    errors,
    authentication,
    filters,
    sorting,
    paging,
    refund_form,
    both_ways,
    amounts
);
