//! The test harness: a real app per test on its own database, requests, schema checks, redaction.

use std::sync::OnceLock;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use actix_web::web;
use diesel::{Connection, RunQueryDsl};
use refunds::auth::{sign, Application, Claims, Organization, Owner};
use refunds::config::Settings;
use refunds::AppState;
use serde_json::Value;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// `TEST_DATABASE_URL` or the local server; PostgreSQL tests fail (never skip) without it.
fn pg_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Removes the test's database when the test ends.
enum Guard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(String),
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Guard::Postgres(schema) = self {
            if let Ok(mut c) = diesel::PgConnection::establish(&pg_url()) {
                let _ = diesel::sql_query(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&mut c);
            }
        }
    }
}

/// One test's application and database.
pub struct TestApp {
    pub backend: Backend,
    pub state: web::Data<AppState>,
    /// The test's own database, for other processes of the service.
    pub database_url: String,
    _guard: Guard,
}

pub const PUBLIC_URL: &str = "http://refunds.test";

impl TestApp {
    pub async fn new(backend: Backend) -> Self {
        Self::with(backend, |_| {}).await
    }

    /// A migrated app whose settings `tweak` may adjust.
    pub async fn with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Self {
        // Server-side errors (logged, never sent) show in a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter("warn")
            .with_test_writer()
            .try_init();
        let (url, guard) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/test.db", dir.path().display());
                (url, Guard::Sqlite(dir))
            }
            Backend::Postgres => {
                let schema = format!("t_{}", refunds::ids::new_id().to_lowercase());
                let mut c = diesel::PgConnection::establish(&pg_url())
                    .unwrap_or_else(|e| panic!("PostgreSQL tests need {}: {e}", pg_url()));
                diesel::sql_query(format!("CREATE SCHEMA {schema}"))
                    .execute(&mut c)
                    .expect("create schema");
                let sep = if pg_url().contains('?') { '&' } else { '?' };
                let url = format!("{}{sep}options=-csearch_path%3D{schema}", pg_url());
                (url, Guard::Postgres(schema))
            }
        };
        let mut settings = Settings::defaults();
        settings.database_url = url.clone();
        settings.public_url = PUBLIC_URL.into();
        settings.pool_size = 4;
        settings.pool_timeout_ms = 10_000;
        // Tests send many requests with one token; the limits have their own tests.
        settings.rate_limit_enabled = false;
        tweak(&mut settings);
        let state = AppState::new(settings).expect("app state");
        state.migrate().expect("migrations");
        Self {
            backend,
            state: web::Data::new(state),
            database_url: url,
            _guard: guard,
        }
    }

    /// Seeds `orders` demo orders for organization `slug` (test mode).
    pub fn seed(&self, slug: &str, orders: u64, seed: u64) {
        self.seed_mode(slug, false, orders, seed)
    }

    pub fn seed_mode(&self, slug: &str, live: bool, orders: u64, seed: u64) {
        let mut conn = self.state.pool.get().expect("connection");
        refunds::seed::seed(&mut conn, slug, live, orders, seed).expect("seed");
    }

    /// Sends a GET with a bearer token; returns status and body (checked as JSON:API).
    pub async fn get(&self, uri: &str, token: &str) -> (StatusCode, Value) {
        self.request(atest::TestRequest::get().uri(uri), Some(token))
            .await
    }

    /// Sends any request; every body is validated against the JSON:API schema.
    pub async fn request(
        &self,
        req: atest::TestRequest,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let (status, _, body) = self.raw(req, token).await;
        (status, body)
    }

    /// Like [`Self::request`], with the response headers.
    pub async fn raw(
        &self,
        mut req: atest::TestRequest,
        token: Option<&str>,
    ) -> (StatusCode, actix_web::http::header::HeaderMap, Value) {
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        let app = atest::init_service(refunds::app(self.state.clone())).await;
        let resp = atest::call_service(&app, req.to_request()).await;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = atest::read_body(resp).await;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/vnd.api+json"),
            "content type of {status}"
        );
        assert_valid_jsonapi(&body);
        assert!(status != StatusCode::INTERNAL_SERVER_ERROR, "500: {body}");
        (status, headers, body)
    }

    /// Sends a JSON:API body with `method` (`POST`, `PATCH`, ...).
    pub async fn send(
        &self,
        method: actix_web::http::Method,
        uri: &str,
        token: &str,
        body: &Value,
    ) -> (StatusCode, actix_web::http::header::HeaderMap, Value) {
        let req = atest::TestRequest::default()
            .method(method)
            .uri(uri)
            .insert_header(("Content-Type", "application/vnd.api+json"))
            .set_payload(body.to_string());
        self.raw(req, Some(token)).await
    }

    pub async fn post(&self, uri: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        let (status, _, body) = self
            .send(actix_web::http::Method::POST, uri, token, body)
            .await;
        (status, body)
    }

    pub async fn patch(&self, uri: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        let (status, _, body) = self
            .send(actix_web::http::Method::PATCH, uri, token, body)
            .await;
        (status, body)
    }

    /// Every item of a collection, following `links.next`.
    pub async fn all(&self, uri: &str, token: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut next = Some(uri.to_owned());
        while let Some(uri) = next {
            let (status, body) = self.get(&uri, token).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            out.extend(body["data"].as_array().expect("data array").iter().cloned());
            next = body["links"]["next"]
                .as_str()
                .map(|n| n.trim_start_matches(PUBLIC_URL).to_owned());
        }
        out
    }
}

/// Rows made by [`TestApp::payments`].
#[derive(Debug, Clone)]
pub struct Payments {
    pub order_id: String,
    pub order_number: String,
    pub authorization_id: String,
    pub capture_ids: Vec<String>,
}

impl TestApp {
    /// An order of `slug` (test mode) with one authorization of `sum(captures)` and one
    /// succeeded capture per amount, a minute apart (oldest first), written directly.
    pub fn payments(&self, slug: &str, number: &str, currency: &str, captures: &[i64]) -> Payments {
        self.payments_with(slug, number, currency, captures, true)
    }

    pub fn payments_with(
        &self,
        slug: &str,
        number: &str,
        currency: &str,
        captures: &[i64],
        succeeded: bool,
    ) -> Payments {
        use refunds::db::schema::{authorizations as a, captures as c, orders as o};
        use refunds::resources::{
            authorizations::Row as Auth, captures::Row as Capture, orders::Row as Order,
        };
        let mut conn = self.state.pool.get().expect("connection");
        let org = refunds::ids::organization_id(slug);
        let t0 = chrono::NaiveDate::from_ymd_opt(2026, 3, 1)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        let total: i64 = captures.iter().sum();
        let order = Order {
            id: refunds::ids::new_id(),
            organization_id: org.clone(),
            mode: "test".into(),
            number: number.into(),
            currency_code: currency.into(),
            customer_email: Some("ada@example.com".into()),
            customer_id: Some("cust-ada".into()),
            market_id: Some("mkt-eu".into()),
            total_amount_cents: total,
            shipping_amount_cents: 0,
            payment_status: "paid".into(),
            transactions_count: 1 + captures.len() as i32,
            reference: None,
            reference_origin: None,
            metadata: "{}".into(),
            created_at: t0,
            updated_at: t0,
        };
        let auth = Auth {
            id: refunds::ids::new_id(),
            organization_id: org.clone(),
            mode: "test".into(),
            order_id: order.id.clone(),
            number: format!("{number}/T/001"),
            currency_code: currency.into(),
            amount_cents: total,
            succeeded: true,
            payment_method_type: Some("credit card".into()),
            message: None,
            error_code: None,
            error_detail: None,
            token: None,
            gateway_transaction_id: None,
            reference: None,
            reference_origin: None,
            metadata: "{}".into(),
            created_at: t0,
            updated_at: t0,
        };
        let caps: Vec<Capture> = captures
            .iter()
            .enumerate()
            .map(|(i, amount)| {
                let at = t0 + chrono::Duration::minutes(1 + i as i64);
                Capture {
                    id: refunds::ids::new_id(),
                    organization_id: org.clone(),
                    mode: "test".into(),
                    order_id: order.id.clone(),
                    authorization_id: auth.id.clone(),
                    number: format!("{number}/T/{:03}", i + 2),
                    currency_code: currency.into(),
                    amount_cents: *amount,
                    refund_amount_cents: 0,
                    refund_balance_cents: *amount,
                    succeeded,
                    payment_method_type: Some("credit card".into()),
                    message: None,
                    error_code: None,
                    error_detail: None,
                    token: None,
                    gateway_transaction_id: None,
                    reference: None,
                    reference_origin: None,
                    metadata: "{}".into(),
                    created_at: at,
                    updated_at: at,
                    gateway: "test".into(),
                }
            })
            .collect();
        diesel::insert_into(o::table)
            .values(&order)
            .execute(&mut **conn)
            .expect("order");
        diesel::insert_into(a::table)
            .values(&auth)
            .execute(&mut **conn)
            .expect("authorization");
        for cap in &caps {
            diesel::insert_into(c::table)
                .values(cap)
                .execute(&mut **conn)
                .expect("capture");
        }
        for (kind, n) in [
            ("orders", 1),
            ("authorizations", 1),
            ("captures", caps.len() as i64),
        ] {
            refunds::db::counts::add(&mut conn, &org, "test", kind, n).expect("counts");
        }
        Payments {
            order_id: order.id,
            order_number: number.into(),
            authorization_id: auth.id,
            capture_ids: caps.into_iter().map(|c| c.id).collect(),
        }
    }
}

/// A `POST /api/refunds` body against one target.
pub fn refund_body(rel: &str, type_name: &str, id: &str, attributes: Value) -> Value {
    serde_json::json!({
        "data": {
            "type": "refunds",
            "attributes": attributes,
            "relationships": { rel: { "data": { "type": type_name, "id": id } } }
        }
    })
}

/// Token options.
#[derive(Clone)]
pub struct TokenSpec {
    pub slug: String,
    pub test: bool,
    pub kind: &'static str,
    pub owner: Option<String>,
    pub role: Option<&'static str>,
    pub scope: String,
    pub exp_in: i64,
}

impl TokenSpec {
    pub fn new(slug: &str) -> Self {
        Self {
            slug: slug.into(),
            test: true,
            kind: "integration",
            owner: None,
            role: None,
            scope: "market:all".into(),
            exp_in: 3600,
        }
    }

    pub fn claims(&self) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            organization: Organization {
                id: refunds::ids::organization_id(&self.slug),
                slug: self.slug.clone(),
            },
            application: Application {
                id: "app0000001".into(),
                kind: self.kind.into(),
            },
            scope: self.scope.clone(),
            test: self.test,
            owner: self.owner.clone().map(|id| Owner {
                id,
                kind: "Customer".into(),
            }),
            role: self.role.map(Into::into),
            exp: now + self.exp_in,
            iat: now,
            iss: None,
        }
    }

    pub fn sign(&self) -> String {
        sign(&self.claims(), refunds::config::DEV_JWT_SECRET).expect("sign")
    }
}

/// An integration token for `slug` in test mode.
pub fn token(slug: &str) -> String {
    TokenSpec::new(slug).sign()
}

fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let text = include_str!("../fixtures/jsonapi-schema-1.0.json");
        let schema: Value = serde_json::from_str(text).expect("schema JSON");
        jsonschema::draft7::new(&schema).expect("schema compiles")
    })
}

/// Fails unless `doc` is a valid JSON:API 1.0 document.
pub fn assert_valid_jsonapi(doc: &Value) {
    let errors: Vec<String> = validator()
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "not a JSON:API document: {errors:?}\n{doc:#}"
    );
}

fn is_id(s: &str) -> bool {
    refunds::ids::is_id(s)
}

fn is_timestamp(s: &str) -> bool {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3fZ").is_ok() && s.len() == 24
}

/// Replaces generated ids and timestamps after checking their shape: `[id]`, `[timestamp]`.
/// Ids inside URLs are replaced too, so links stay comparable.
pub fn redact(doc: &Value) -> Value {
    match doc {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("id" | "organization_id", Value::String(s)) if is_id(s) => {
                            Value::String("[id]".into())
                        }
                        ("id" | "organization_id", Value::String(s)) => {
                            panic!("`{k}` is not an id: {s}")
                        }
                        ("created_at" | "updated_at", Value::String(s)) => {
                            assert!(
                                is_timestamp(s),
                                "`{k}` is not a UTC millisecond timestamp: {s}"
                            );
                            Value::String("[timestamp]".into())
                        }
                        _ => redact(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        Value::String(s) if s.starts_with(PUBLIC_URL) => Value::String(redact_url(s)),
        Value::String(s) if generated_reference(s).is_some() => Value::String(format!(
            "{}[id]",
            generated_reference(s).unwrap_or_default()
        )),
        other => other.clone(),
    }
}

/// `tok_<id>`, `gw_<id>` and `ref-<id>`: gateway identifiers and generated keys.
fn generated_reference(s: &str) -> Option<&str> {
    ["tok_", "gw_", "ref-"]
        .into_iter()
        .find(|p| s.strip_prefix(p).is_some_and(is_id))
}

fn redact_url(url: &str) -> String {
    let (path, query) = url
        .split_once('?')
        .map_or((url, None), |(p, q)| (p, Some(q)));
    let path = path
        .split('/')
        .map(|seg| if is_id(seg) { "[id]" } else { seg })
        .collect::<Vec<_>>()
        .join("/");
    match query {
        Some(q) => format!("{path}?{q}"),
        None => path,
    }
}

/// Runs each named `async fn(TestApp)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name($crate::common::TestApp::new($crate::common::Backend::Sqlite).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name($crate::common::TestApp::new($crate::common::Backend::Postgres).await).await
                }
            )*
        }
    };
}
