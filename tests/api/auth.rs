//! Bearer tokens (§6): forged, tampered, expired and foreign-algorithm tokens are refused;
//! RS256/RS512 with a configured public key; tenancy by organization, mode, customer and market.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use insta::assert_json_snapshot;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::common::{redact, token, TestApp, TokenSpec};

/// Test-only RSA key pair (never used outside these tests) and a second, unrelated private key.
const RSA_PRIVATE: &[u8] = include_bytes!("../fixtures/test-only-jwt-rs256-private.pem");
const RSA_OTHER_PRIVATE: &[u8] =
    include_bytes!("../fixtures/test-only-jwt-rs256-other-private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("../fixtures/test-only-jwt-rs256-public.pem");
const RSA_PUBLIC_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/test-only-jwt-rs256-public.pem"
);

fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The claims of an integration token for `slug` in test mode, as JSON.
fn claims(slug: &str) -> Value {
    serde_json::to_value(TokenSpec::new(slug).claims()).expect("claims")
}

fn encode(alg: Algorithm, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, key).expect("sign")
}

/// Signs with the development secret, like the service's own tokens.
fn hs256(claims: &Value) -> String {
    encode(
        Algorithm::HS256,
        claims,
        &EncodingKey::from_secret(refunds::config::DEV_JWT_SECRET.as_bytes()),
    )
}

fn rsa(alg: Algorithm, claims: &Value, pem: &[u8]) -> String {
    encode(
        alg,
        claims,
        &EncodingKey::from_rsa_pem(pem).expect("RSA private key"),
    )
}

/// `claims` with `f` applied.
fn with(mut claims: Value, f: impl FnOnce(&mut Value)) -> Value {
    f(&mut claims);
    claims
}

/// A hand-built token: `base64url(header).base64url(claims).signature`.
fn raw_token(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    )
}

/// `GET /api/refunds` with `tok` fails with 401 and `code`; returns the error document.
async fn refused(app: &TestApp, tok: &str, code: &str) -> Value {
    let (status, body) = app.get("/api/refunds", tok).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["errors"][0]["code"], code, "{body}");
    assert_eq!(body["errors"][0]["status"], "401", "{body}");
    assert!(body.get("data").is_none(), "{body}");
    redact(&body)
}

/// `GET /api/refunds` with `tok` answers 200 with the organization's refunds.
async fn accepted(app: &TestApp, tok: &str) -> i64 {
    let (status, body) = app.get("/api/refunds", tok).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let count = body["meta"]["record_count"].as_i64().expect("record_count");
    assert!(count > 0, "{body}");
    count
}

/// Runs `(case, token, code)` and snapshots the documents as `name`.
async fn refused_table(app: &TestApp, name: &str, cases: Vec<(&str, String, &str)>) {
    let mut docs = Vec::new();
    for (case, tok, code) in cases {
        let doc = refused(app, &tok, code).await;
        docs.push(json!({ "case": case, "response": doc }));
    }
    assert_json_snapshot!(name, docs);
}

async fn forged_tokens(app: TestApp) {
    app.seed("acme", 3, 1);
    let good = claims("acme");
    accepted(&app, &hs256(&good)).await;

    // Unsigned tokens (`alg: none` with an empty signature, or a stripped signature): refused.
    // The contract allows either 401 code here (malformed or invalid), so both are accepted.
    let none = json!({ "alg": "none", "typ": "JWT" });
    let genuine = hs256(&good);
    let stripped = format!("{}.", genuine.rsplit_once('.').unwrap().0);
    for unsigned in [raw_token(&none, &good, ""), stripped] {
        let (status, body) = app.get("/api/refunds", &unsigned).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        let code = body["errors"][0]["code"].as_str().unwrap_or_default();
        assert!(["UNAUTHORIZED", "INVALID_TOKEN"].contains(&code), "{body}");
        assert!(body.get("data").is_none());
    }

    // Tampering: the payload of a genuine acme token replaced after signing.
    let parts: Vec<&str> = genuine.split('.').collect();
    let forged_org = with(good.clone(), |c| {
        c["organization"] =
            json!({ "id": refunds::ids::organization_id("globex"), "slug": "globex" });
    });
    let tampered_org = format!(
        "{}.{}.{}",
        parts[0],
        b64url(forged_org.to_string().as_bytes()),
        parts[2]
    );
    let live = with(good.clone(), |c| c["test"] = json!(false));
    let tampered_mode = format!(
        "{}.{}.{}",
        parts[0],
        b64url(live.to_string().as_bytes()),
        parts[2]
    );
    let longer = with(good.clone(), |c| {
        c["exp"] = json!(now() + 10 * 365 * 86_400)
    });
    let tampered_exp = format!(
        "{}.{}.{}",
        parts[0],
        b64url(longer.to_string().as_bytes()),
        parts[2]
    );
    let hs256_header = b64url(
        json!({ "alg": "HS256", "typ": "JWT" })
            .to_string()
            .as_bytes(),
    );
    let other_header = b64url(
        json!({ "alg": "HS256", "typ": "JWT", "kid": "x" })
            .to_string()
            .as_bytes(),
    );
    assert_ne!(hs256_header, other_header);
    let tampered_header = format!("{other_header}.{}.{}", parts[1], parts[2]);

    let cases = vec![
        (
            "alg none, with a signature",
            raw_token(&none, &good, "c2ln"),
            "INVALID_TOKEN",
        ),
        (
            "alg None",
            raw_token(&json!({ "alg": "None", "typ": "JWT" }), &good, "c2ln"),
            "INVALID_TOKEN",
        ),
        (
            "alg NONE",
            raw_token(&json!({ "alg": "NONE" }), &good, "c2ln"),
            "INVALID_TOKEN",
        ),
        (
            "header not JSON",
            format!("{}.{}.c2ln", b64url(b"not json"), parts[1]),
            "INVALID_TOKEN",
        ),
        (
            "header not base64",
            format!("!!!.{}.{}", parts[1], parts[2]),
            "INVALID_TOKEN",
        ),
        (
            "HS256 with a wrong secret",
            encode(
                Algorithm::HS256,
                &good,
                &EncodingKey::from_secret(b"not-the-secret"),
            ),
            "INVALID_TOKEN",
        ),
        (
            "HS256 with an empty secret",
            encode(Algorithm::HS256, &good, &EncodingKey::from_secret(b"")),
            "INVALID_TOKEN",
        ),
        (
            "payload swapped: other organization",
            tampered_org,
            "INVALID_TOKEN",
        ),
        ("payload swapped: live mode", tampered_mode, "INVALID_TOKEN"),
        ("payload swapped: later exp", tampered_exp, "INVALID_TOKEN"),
        ("header swapped", tampered_header, "INVALID_TOKEN"),
        (
            "signature of another token",
            format!(
                "{}.{}.{}",
                parts[0],
                parts[1],
                hs256(&claims("globex")).split('.').nth(2).unwrap()
            ),
            "INVALID_TOKEN",
        ),
        (
            "HS384 with the secret",
            encode(
                Algorithm::HS384,
                &good,
                &EncodingKey::from_secret(refunds::config::DEV_JWT_SECRET.as_bytes()),
            ),
            "INVALID_TOKEN",
        ),
        (
            "HS512 with the secret",
            encode(
                Algorithm::HS512,
                &good,
                &EncodingKey::from_secret(refunds::config::DEV_JWT_SECRET.as_bytes()),
            ),
            "INVALID_TOKEN",
        ),
        (
            "RS256 without a configured public key",
            rsa(Algorithm::RS256, &good, RSA_PRIVATE),
            "INVALID_TOKEN",
        ),
        (
            "RS512 without a configured public key",
            rsa(Algorithm::RS512, &good, RSA_PRIVATE),
            "INVALID_TOKEN",
        ),
    ];
    refused_table(&app, "forged_tokens", cases).await;
}

async fn token_lifetime(app: TestApp) {
    app.seed("acme", 3, 1);
    let good = claims("acme");
    // Within the 30 s leeway either way: accepted.
    accepted(
        &app,
        &hs256(&with(good.clone(), |c| c["exp"] = json!(now() - 10))),
    )
    .await;
    accepted(
        &app,
        &hs256(&with(good.clone(), |c| c["nbf"] = json!(now() + 10))),
    )
    .await;
    accepted(
        &app,
        &hs256(&with(good.clone(), |c| c["nbf"] = json!(now() - 60))),
    )
    .await;
    let expired = TokenSpec {
        exp_in: -120,
        ..TokenSpec::new("acme")
    };
    let cases = vec![
        ("expired 2 minutes ago", expired.sign(), "INVALID_TOKEN"),
        (
            "expired an hour ago",
            hs256(&with(good.clone(), |c| c["exp"] = json!(now() - 3600))),
            "INVALID_TOKEN",
        ),
        (
            "expired at the epoch",
            hs256(&with(good.clone(), |c| c["exp"] = json!(0))),
            "INVALID_TOKEN",
        ),
        (
            "not valid for an hour (nbf)",
            hs256(&with(good.clone(), |c| c["nbf"] = json!(now() + 3600))),
            "INVALID_TOKEN",
        ),
        (
            "not valid for 2 minutes (nbf)",
            hs256(&with(good.clone(), |c| c["nbf"] = json!(now() + 120))),
            "INVALID_TOKEN",
        ),
    ];
    refused_table(&app, "token_lifetime", cases).await;
}

async fn claims_are_checked(app: TestApp) {
    app.seed("acme", 3, 1);
    let good = claims("acme");
    let without = |key: &'static str| {
        hs256(&with(good.clone(), |c| {
            c.as_object_mut().unwrap().remove(key);
        }))
    };
    let cases = vec![
        (
            "unknown application kind",
            hs256(&with(good.clone(), |c| {
                c["application"]["kind"] = json!("robot")
            })),
            "INVALID_TOKEN",
        ),
        (
            "unknown role",
            hs256(&with(good.clone(), |c| c["role"] = json!("superuser"))),
            "INVALID_TOKEN",
        ),
        ("no organization", without("organization"), "INVALID_TOKEN"),
        ("no application", without("application"), "INVALID_TOKEN"),
        ("no test flag", without("test"), "INVALID_TOKEN"),
        ("no exp", without("exp"), "INVALID_TOKEN"),
        (
            "organization without id",
            hs256(&with(good.clone(), |c| {
                drop(c["organization"].as_object_mut().unwrap().remove("id"))
            })),
            "INVALID_TOKEN",
        ),
        (
            "application without kind",
            hs256(&with(good.clone(), |c| {
                drop(c["application"].as_object_mut().unwrap().remove("kind"))
            })),
            "INVALID_TOKEN",
        ),
        (
            "test is a string",
            hs256(&with(good.clone(), |c| c["test"] = json!("yes"))),
            "INVALID_TOKEN",
        ),
        (
            "exp is a string",
            hs256(&with(good.clone(), |c| c["exp"] = json!("tomorrow"))),
            "INVALID_TOKEN",
        ),
        (
            "claims are an array",
            hs256(&json!([1, 2, 3])),
            "INVALID_TOKEN",
        ),
        ("claims are empty", hs256(&json!({})), "INVALID_TOKEN"),
        (
            "sales channel without owner",
            hs256(&with(good.clone(), |c| {
                c["application"]["kind"] = json!("sales_channel")
            })),
            "UNAUTHORIZED",
        ),
        (
            "sales channel with a User owner",
            hs256(&with(good.clone(), |c| {
                c["application"]["kind"] = json!("sales_channel");
                c["owner"] = json!({ "id": "cust-1", "type": "User" });
            })),
            "UNAUTHORIZED",
        ),
    ];
    refused_table(&app, "claims_are_checked", cases).await;
}

async fn rsa_public_key(app: TestApp) {
    let app = TestApp::with(app.backend, |s| {
        s.jwt_public_key_path = RSA_PUBLIC_PATH.into()
    })
    .await;
    app.seed("acme", 3, 1);
    let good = claims("acme");
    let hs = accepted(&app, &hs256(&good)).await;
    assert_eq!(
        accepted(&app, &rsa(Algorithm::RS256, &good, RSA_PRIVATE)).await,
        hs
    );
    assert_eq!(
        accepted(&app, &rsa(Algorithm::RS512, &good, RSA_PRIVATE)).await,
        hs
    );
    // An RS256 token of another organization sees nothing of acme.
    let (status, body) = app
        .get(
            "/api/refunds",
            &rsa(Algorithm::RS256, &claims("globex"), RSA_PRIVATE),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["meta"]["record_count"], 0);
    let cases = vec![
        (
            "RS256 signed by another key",
            rsa(Algorithm::RS256, &good, RSA_OTHER_PRIVATE),
            "INVALID_TOKEN",
        ),
        (
            "RS512 signed by another key",
            rsa(Algorithm::RS512, &good, RSA_OTHER_PRIVATE),
            "INVALID_TOKEN",
        ),
        (
            "RS384 with the right key",
            rsa(Algorithm::RS384, &good, RSA_PRIVATE),
            "INVALID_TOKEN",
        ),
        (
            "PS256 with the right key",
            rsa(Algorithm::PS256, &good, RSA_PRIVATE),
            "INVALID_TOKEN",
        ),
        (
            "HS256 keyed with the public key (algorithm confusion)",
            encode(
                Algorithm::HS256,
                &good,
                &EncodingKey::from_secret(RSA_PUBLIC),
            ),
            "INVALID_TOKEN",
        ),
        (
            "RS256 header on an HS256 signature",
            {
                let t = hs256(&good);
                let rest = t.split_once('.').unwrap().1.to_owned();
                format!(
                    "{}.{rest}",
                    b64url(
                        json!({ "alg": "RS256", "typ": "JWT" })
                            .to_string()
                            .as_bytes()
                    )
                )
            },
            "INVALID_TOKEN",
        ),
        (
            "RS256, expired",
            rsa(
                Algorithm::RS256,
                &with(good.clone(), |c| c["exp"] = json!(now() - 3600)),
                RSA_PRIVATE,
            ),
            "INVALID_TOKEN",
        ),
    ];
    refused_table(&app, "rsa_public_key", cases).await;
}

/// Three tenants in one database: acme test, globex test, acme live.
fn seed_tenants(app: &TestApp, orders: u64) -> Vec<(&'static str, bool, String)> {
    app.seed("acme", orders, 1);
    app.seed("globex", orders, 2);
    app.seed_mode("acme", true, orders, 3);
    vec![
        ("acme", true, token("acme")),
        ("globex", true, token("globex")),
        (
            "acme",
            false,
            TokenSpec {
                test: false,
                ..TokenSpec::new("acme")
            }
            .sign(),
        ),
    ]
}

fn ids(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Each item belongs to `slug` in mode `test` / `live`.
fn assert_tenant(items: &[Value], slug: &str, test: bool) {
    let org = refunds::ids::organization_id(slug);
    let mode = if test { "test" } else { "live" };
    for r in items {
        assert_eq!(r["meta"]["organization_id"], org.as_str(), "{r}");
        assert_eq!(r["meta"]["mode"], mode, "{r}");
    }
}

async fn tenants_see_only_their_own(app: TestApp) {
    let tenants = seed_tenants(&app, 10);
    for kind in [
        "refunds",
        "orders",
        "captures",
        "authorizations",
        "refund_captures",
    ] {
        let mut seen: Vec<BTreeSet<String>> = Vec::new();
        for (slug, test, tok) in &tenants {
            let items = app.all(&format!("/api/{kind}?page[size]=25"), tok).await;
            assert!(!items.is_empty(), "{kind} of {slug}");
            assert_tenant(&items, slug, *test);
            let (_, first) = app.get(&format!("/api/{kind}?page[size]=1"), tok).await;
            assert_eq!(
                first["meta"]["record_count"],
                items.len() as i64,
                "{kind} of {slug}"
            );
            seen.push(ids(&items));
        }
        for (i, a) in seen.iter().enumerate() {
            for b in &seen[i + 1..] {
                assert!(a.is_disjoint(b), "{kind}: tenants share records");
            }
        }
    }
}

async fn foreign_ids_are_not_found(app: TestApp) {
    let tenants = seed_tenants(&app, 6);
    let acme = &tenants[0].2;
    let own = app.all("/api/refunds?page[size]=25", acme).await;
    let own_id = own[0]["id"].as_str().unwrap().to_owned();
    for (_, _, other) in &tenants[1..] {
        let (_, body) = app
            .get("/api/refunds?page[size]=1&include=order", other)
            .await;
        let refund = body["data"][0]["id"].as_str().unwrap().to_owned();
        let order = body["data"][0]["relationships"]["order"]["data"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let order_number = body["included"][0]["attributes"]["number"]
            .as_str()
            .unwrap()
            .to_owned();
        for uri in [
            format!("/api/refunds/{refund}"),
            format!("/api/refunds/{refund}?include=order"),
            format!("/api/refunds/{refund}/order"),
            format!("/api/refunds/{refund}/reference_capture"),
            format!("/api/refunds/{refund}/refund_captures"),
            format!("/api/refunds/{refund}/relationships/order"),
            format!("/api/refunds/{refund}/relationships/refund_captures"),
            format!("/api/orders/{order}"),
            format!("/api/orders/{order}/refunds"),
            format!("/api/orders/{order}/relationships/refunds"),
        ] {
            let (status, body) = app.get(&uri, acme).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {body}");
            assert_eq!(body["errors"][0]["code"], "RECORD_NOT_FOUND", "{uri}");
        }
        for q in [
            format!("filter[q][id_eq]={refund}"),
            format!("filter[q][id_in]={refund}"),
            format!("filter[q][order_id_eq]={order}"),
            format!("filter[q][order_number_eq]={order_number}"),
        ] {
            let (status, body) = app.get(&format!("/api/refunds?{q}"), acme).await;
            assert_eq!(status, StatusCode::OK, "{q}: {body}");
            assert_eq!(body["data"], json!([]), "{q}");
            assert_eq!(body["meta"]["record_count"], 0, "{q}");
        }
        let (_, mixed) = app
            .get(
                &format!("/api/refunds?filter[q][id_in]={refund},{own_id}"),
                acme,
            )
            .await;
        assert_eq!(
            ids(mixed["data"].as_array().unwrap()),
            BTreeSet::from([own_id.clone()])
        );
        let (_, not_eq) = app
            .get(
                &format!("/api/refunds?filter[q][id_not_eq]={refund}&page[size]=1"),
                acme,
            )
            .await;
        assert_eq!(not_eq["meta"]["record_count"], own.len() as i64);
    }
}

async fn includes_never_leak(app: TestApp) {
    let tenants = seed_tenants(&app, 8);
    let uris = [
        "/api/refunds?page[size]=25&include=order,reference_capture.authorization,authorization,refund_captures.capture",
        "/api/orders?page[size]=25&include=refunds.refund_captures,captures,authorizations.captures",
        "/api/captures?page[size]=25&include=order.refunds,authorization,refunds",
    ];
    for (slug, test, tok) in &tenants {
        for uri in uris {
            let mut next = Some(uri.to_owned());
            let mut included = 0;
            while let Some(uri) = next {
                let (status, body) = app.get(&uri, tok).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                assert_tenant(body["data"].as_array().unwrap(), slug, *test);
                let inc = body["included"].as_array().cloned().unwrap_or_default();
                assert_tenant(&inc, slug, *test);
                included += inc.len();
                next = body["links"]["next"]
                    .as_str()
                    .map(|n| n.trim_start_matches(crate::common::PUBLIC_URL).to_owned());
            }
            assert!(included > 0, "{uri} includes something");
        }
        // A single resource with includes too.
        let (_, one) = app.get("/api/refunds?page[size]=1", tok).await;
        let id = one["data"][0]["id"].as_str().unwrap();
        let (_, body) = app
            .get(
                &format!("/api/refunds/{id}?include=order.refunds,refund_captures.capture.refunds"),
                tok,
            )
            .await;
        assert_tenant(body["included"].as_array().unwrap(), slug, *test);
    }
}

/// Orders of acme (test) by customer id, read with an integration token: `(order id, market)`.
async fn orders_by_customer(app: &TestApp) -> BTreeMap<String, Vec<(String, String)>> {
    let mut map: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for o in app.all("/api/orders?page[size]=25", &token("acme")).await {
        let a = &o["attributes"];
        map.entry(a["customer_id"].as_str().unwrap().to_owned())
            .or_default()
            .push((
                o["id"].as_str().unwrap().to_owned(),
                a["market_id"].as_str().unwrap_or_default().to_owned(),
            ));
    }
    map
}

/// Refund ids of these orders, read with an integration token.
async fn refunds_of(app: &TestApp, orders: &[&str]) -> BTreeSet<String> {
    if orders.is_empty() {
        return BTreeSet::new();
    }
    let uri = format!(
        "/api/refunds?page[size]=25&filter[q][order_id_in]={}",
        orders.join(",")
    );
    ids(&app.all(&uri, &token("acme")).await)
}

fn sales_channel(customer: &str, scope: &str) -> String {
    TokenSpec {
        kind: "sales_channel",
        owner: Some(customer.into()),
        scope: scope.into(),
        ..TokenSpec::new("acme")
    }
    .sign()
}

async fn sales_channel_sees_its_customer(app: TestApp) {
    app.seed("acme", 40, 1);
    app.seed("globex", 40, 2);
    let by_customer = orders_by_customer(&app).await;
    let (customer, orders) = by_customer.iter().max_by_key(|(_, o)| o.len()).unwrap();
    assert!(orders.len() > 1, "a customer with several orders");
    let order_ids: Vec<&str> = orders.iter().map(|(id, _)| id.as_str()).collect();
    let expected = refunds_of(&app, &order_ids).await;
    assert!(!expected.is_empty());
    let tok = sales_channel(customer, "market:all");
    let seen = app.all("/api/refunds?page[size]=25", &tok).await;
    assert_tenant(&seen, "acme", true);
    assert_eq!(ids(&seen), expected);
    let (_, first) = app.get("/api/refunds?page[size]=1", &tok).await;
    assert_eq!(first["meta"]["record_count"], expected.len() as i64);
    // Its orders are the customer's own.
    let seen_orders = app.all("/api/orders?page[size]=25", &tok).await;
    assert_eq!(
        ids(&seen_orders),
        order_ids.iter().map(|s| s.to_string()).collect()
    );
    // Own refund: visible; another customer's: not found, also through filters and relationships.
    let own = expected.iter().next().unwrap();
    let (status, _) = app.get(&format!("/api/refunds/{own}"), &tok).await;
    assert_eq!(status, StatusCode::OK);
    let (other_customer, other_orders) = by_customer.iter().find(|(c, _)| *c != customer).unwrap();
    let foreign = refunds_of(
        &app,
        &other_orders
            .iter()
            .map(|(id, _)| id.as_str())
            .collect::<Vec<_>>(),
    )
    .await;
    let foreign = foreign
        .iter()
        .next()
        .unwrap_or_else(|| panic!("{other_customer} has refunds"));
    for uri in [
        format!("/api/refunds/{foreign}"),
        format!("/api/refunds/{foreign}/order"),
        format!("/api/orders/{}", other_orders[0].0),
    ] {
        let (status, body) = app.get(&uri, &tok).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {body}");
        assert_eq!(body["errors"][0]["code"], "RECORD_NOT_FOUND");
    }
    let (_, filtered) = app
        .get(&format!("/api/refunds?filter[q][id_eq]={foreign}"), &tok)
        .await;
    assert_eq!(filtered["data"], json!([]));
    // Includes stay within the customer's orders.
    let (_, body) = app
        .get("/api/refunds?page[size]=25&include=order", &tok)
        .await;
    for o in body["included"].as_array().unwrap() {
        assert_eq!(o["attributes"]["customer_id"], customer.as_str(), "{o}");
    }
    // A customer without orders sees nothing.
    let (status, body) = app
        .get("/api/refunds", &sales_channel("cust-nobody", "market:all"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["meta"]["record_count"], 0);
    // Without an owner: 401.
    let ownerless = TokenSpec {
        kind: "sales_channel",
        ..TokenSpec::new("acme")
    };
    refused(&app, &ownerless.sign(), "UNAUTHORIZED").await;
}

async fn market_scope(app: TestApp) {
    app.seed("acme", 40, 1);
    let by_customer = orders_by_customer(&app).await;
    // A customer with orders in the EU market and elsewhere.
    let (customer, orders) = by_customer
        .iter()
        .find(|(_, o)| o.iter().any(|(_, m)| m == "mkt-eu") && o.iter().any(|(_, m)| m != "mkt-eu"))
        .expect("a customer with EU and other orders");
    let eu: Vec<&str> = orders
        .iter()
        .filter(|(_, m)| m == "mkt-eu")
        .map(|(id, _)| id.as_str())
        .collect();
    let expected = refunds_of(&app, &eu).await;
    let everything = refunds_of(
        &app,
        &orders.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
    )
    .await;
    assert!(
        expected.len() < everything.len(),
        "the scope makes a difference"
    );
    let tok = sales_channel(customer, "market:id:mkt-eu");
    let seen = app.all("/api/refunds?page[size]=25", &tok).await;
    assert_eq!(ids(&seen), expected);
    for r in &seen {
        assert_eq!(r["attributes"]["currency_code"], "EUR", "{r}");
    }
    let hidden = everything.difference(&expected).next().unwrap();
    let (status, _) = app.get(&format!("/api/refunds/{hidden}"), &tok).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An integration token scoped to markets sees those markets' refunds only.
    let integration = |scope: &str| {
        TokenSpec {
            scope: scope.into(),
            ..TokenSpec::new("acme")
        }
        .sign()
    };
    let all = app.all("/api/refunds?page[size]=25", &token("acme")).await;
    for scope in ["market:id:mkt-eu", "market:id:mkt-eu market:id:mkt-us"] {
        let markets: Vec<&str> = scope
            .split(' ')
            .map(|s| s.trim_start_matches("market:id:"))
            .collect();
        let (_, orders) = app
            .get(
                &format!(
                    "/api/orders?page[size]=1&filter[q][market_id_in]={}",
                    markets.join(",")
                ),
                &token("acme"),
            )
            .await;
        let uri = format!(
            "/api/refunds?page[size]=25&filter[q][order_market_id_in]={}",
            markets.join(",")
        );
        let want = ids(&app.all(&uri, &token("acme")).await);
        let got = app
            .all("/api/refunds?page[size]=25", &integration(scope))
            .await;
        assert_eq!(ids(&got), want, "{scope}");
        assert!(!want.is_empty() && want.len() < all.len(), "{scope}");
        let (_, scoped_orders) = app
            .get("/api/orders?page[size]=1", &integration(scope))
            .await;
        assert_eq!(
            scoped_orders["meta"]["record_count"], orders["meta"]["record_count"],
            "{scope}"
        );
    }
    // `market:all` wins over market ids.
    let got = app
        .all(
            "/api/refunds?page[size]=25",
            &integration("market:all market:id:mkt-eu"),
        )
        .await;
    assert_eq!(got.len(), all.len());
}

async fn read_only_and_webapp_can_read(app: TestApp) {
    app.seed("acme", 6, 1);
    let admin = app.all("/api/refunds?page[size]=25", &token("acme")).await;
    for (kind, role) in [
        ("integration", Some("read_only")),
        ("integration", Some("admin")),
        ("webapp", None),
        ("webapp", Some("read_only")),
    ] {
        let tok = TokenSpec {
            kind,
            role,
            ..TokenSpec::new("acme")
        }
        .sign();
        let items = app.all("/api/refunds?page[size]=25", &tok).await;
        assert_eq!(ids(&items), ids(&admin), "{kind} {role:?}");
        let id = admin[0]["id"].as_str().unwrap();
        let (status, body) = app
            .request(
                TestRequest::get().uri(&format!("/api/refunds/{id}?include=order")),
                Some(&tok),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

crate::on_both_backends!(
    forged_tokens,
    token_lifetime,
    claims_are_checked,
    rsa_public_key,
    tenants_see_only_their_own,
    foreign_ids_are_not_found,
    includes_never_leak,
    sales_channel_sees_its_customer,
    market_scope,
    read_only_and_webapp_can_read,
);
