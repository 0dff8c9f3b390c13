//! Operations: rate limits, CORS, request ids, health, readiness, metrics, an unreachable
//! database, recovery, logs and graceful shutdown.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use insta::assert_json_snapshot;
use serde_json::json;

use crate::common::{refund_body, token, Backend, TestApp, TokenSpec};
use crate::concurrency::{http, Server};

fn header(h: &actix_web::http::header::HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn rate_limits(backend: Backend) {
    let app = TestApp::with(backend, |s| {
        s.rate_limit_enabled = true;
        s.rate_limit_reads_burst = 4;
        s.rate_limit_reads_per_minute = 100;
        s.rate_limit_writes_burst = 2;
    })
    .await;
    let test_mode = token("acme");
    let get = |tok: String| {
        atest::TestRequest::get()
            .uri("/api/refunds")
            .insert_header(("Authorization", format!("Bearer {tok}")))
    };
    // Test mode: half of 4 per 10 s.
    let (s1, h1, _) = app.raw(get(test_mode.clone()), None).await;
    assert_eq!(s1, StatusCode::OK);
    assert_eq!(header(&h1, "x-ratelimit-limit").as_deref(), Some("2"));
    assert_eq!(header(&h1, "x-ratelimit-interval").as_deref(), Some("10"));
    assert_eq!(header(&h1, "x-ratelimit-remaining").as_deref(), Some("1"));
    let (s2, h2, _) = app.raw(get(test_mode.clone()), None).await;
    assert_eq!(
        (s2, header(&h2, "x-ratelimit-remaining").as_deref()),
        (StatusCode::OK, Some("0"))
    );
    let (s3, h3, body) = app.raw(get(test_mode.clone()), None).await;
    assert_eq!(s3, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["errors"][0]["code"], "TOO_MANY_REQUESTS");
    let retry: u64 = header(&h3, "retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    assert_json_snapshot!("too_many_requests", body, { ".errors[0].detail" => "[detail]", ".errors[0].meta.retry_after" => "[seconds]" });
    // The scheme is case-insensitive: `bearer` spends the same token's budget, not the
    // client address's.
    let lower = atest::TestRequest::get()
        .uri("/api/refunds")
        .insert_header(("Authorization", format!("bearer {test_mode}")));
    assert_eq!(app.raw(lower, None).await.0, StatusCode::TOO_MANY_REQUESTS);
    // Live mode has the full limit; other clients and writes have their own budgets.
    let live = TokenSpec {
        test: false,
        ..TokenSpec::new("acme")
    }
    .sign();
    for _ in 0..4 {
        assert_eq!(app.raw(get(live.clone()), None).await.0, StatusCode::OK);
    }
    assert_eq!(
        app.raw(get(live), None).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(app.raw(get(token("globex")), None).await.0, StatusCode::OK);
    let p = app.payments("acme", "5001", "EUR", &[1000]);
    let body = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        json!({"amount_cents": 100, "currency_code": "EUR"}),
    );
    assert_eq!(
        app.post("/api/refunds", &test_mode, &body).await.0,
        StatusCode::CREATED,
        "writes are counted apart"
    );
    // Requests without a token are limited per client address.
    let anonymous = atest::TestRequest::get()
        .uri("/api/refunds")
        .peer_addr("10.0.0.1:5000".parse().unwrap());
    let (status, h, _) = app.raw(anonymous, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(header(&h, "x-ratelimit-limit").is_some());
}

async fn cors_for_storefronts(app: TestApp) {
    let app = TestApp::with(app.backend, |s| {
        s.cors_allowed_origins = "https://shop.example.com, https://m.example.com".into()
    })
    .await;
    let preflight = atest::TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/api/refunds")
        .insert_header(("Origin", "https://shop.example.com"))
        .insert_header(("Access-Control-Request-Method", "GET"))
        .insert_header(("Access-Control-Request-Headers", "authorization"))
        .to_request();
    let svc = atest::init_service(refunds::app(app.state.clone())).await;
    let res = atest::call_service(&svc, preflight).await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(
        header(res.headers(), "access-control-allow-origin").as_deref(),
        Some("https://shop.example.com")
    );
    let get = atest::TestRequest::get()
        .uri("/api/refunds")
        .insert_header(("Origin", "https://m.example.com"))
        .insert_header(("Authorization", format!("Bearer {}", token("acme"))))
        .to_request();
    let res = atest::call_service(&svc, get).await;
    assert_eq!(res.status(), StatusCode::OK);
    let exposed = header(res.headers(), "access-control-expose-headers")
        .unwrap_or_default()
        .to_lowercase();
    for h in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-interval",
        "x-request-id",
    ] {
        assert!(exposed.contains(h), "{h} in {exposed}");
    }
    let foreign = atest::TestRequest::get()
        .uri("/api/refunds")
        .insert_header(("Origin", "https://evil.example.com"))
        .insert_header(("Authorization", format!("Bearer {}", token("acme"))))
        .to_request();
    let res = atest::call_service(&svc, foreign).await;
    assert!(header(res.headers(), "access-control-allow-origin").is_none());
}

async fn request_ids_and_health(app: TestApp) {
    let (status, h, body) = app
        .raw(atest::TestRequest::get().uri("/health"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["meta"]["status"], "ok");
    let id = header(&h, "x-request-id").expect("a request id");
    assert!(refunds::ids::is_id(&id), "{id}");
    let (_, h, _) = app
        .raw(
            atest::TestRequest::get()
                .uri("/api/refunds")
                .insert_header(("X-Request-Id", "trace-abc-123")),
            Some(&token("acme")),
        )
        .await;
    assert_eq!(header(&h, "x-request-id").as_deref(), Some("trace-abc-123"));
    let (status, _, body) = app.raw(atest::TestRequest::get().uri("/ready"), None).await;
    assert_eq!(
        (status, &body["meta"]["migrations"]),
        (StatusCode::OK, &json!("current"))
    );
    // Pending migrations: not ready.
    let mut conn = app.state.pool.get().unwrap();
    refunds::db::revert_all(&mut conn).unwrap();
    drop(conn);
    let (status, _, body) = app.raw(atest::TestRequest::get().uri("/ready"), None).await;
    assert_eq!(
        (status, body["errors"][0]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("SERVICE_UNAVAILABLE"))
    );
}

async fn metrics_are_exposed(app: TestApp) {
    let p = app.payments("acme", "5002", "EUR", &[1000]);
    let body = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        json!({"amount_cents": 113, "currency_code": "EUR"}),
    );
    assert_eq!(
        app.post("/api/refunds", &token("acme"), &body).await.0,
        StatusCode::CREATED
    );
    app.get("/api/refunds", &token("acme")).await;
    let svc = atest::init_service(refunds::app(app.state.clone())).await;
    let res =
        atest::call_service(&svc, atest::TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = String::from_utf8(atest::read_body(res).await.to_vec()).unwrap();
    for needle in [
        "refunds_http_requests_total{method=\"GET\",route=\"/api/refunds\",status=\"200\"}",
        "refunds_http_requests_total{method=\"POST\",route=\"/api/refunds\",status=\"201\"}",
        "refunds_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/refunds\"",
        "refunds_db_pool_connections{state=\"max\"} 4",
        "refunds_settled_total{status=\"failed\"}",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
}

crate::on_both_backends!(
    cors_for_storefronts,
    request_ids_and_health,
    metrics_are_exposed
);

#[actix_web::test]
async fn rate_limits_sqlite() {
    rate_limits(Backend::Sqlite).await
}

#[actix_web::test]
async fn rate_limits_postgres() {
    rate_limits(Backend::Postgres).await
}

/// A TCP relay to PostgreSQL that can be cut and restored, to play a database outage.
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(target: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (up2, open2) = (up.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                for s in [&client, &server] {
                    open2.lock().unwrap().push(s.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Relay { port, up, open }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[actix_web::test]
async fn unreachable_database_is_503_and_recovers() {
    let app = TestApp::new(Backend::Postgres).await;
    app.payments("acme", "5003", "EUR", &[1000]);
    let relay = Relay::start("127.0.0.1:5432");
    let mut settings = app.state.settings.clone();
    settings.database_url = app
        .database_url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", relay.port));
    settings.pool_timeout_ms = 700;
    let state = actix_web::web::Data::new(refunds::AppState::new(settings).unwrap());
    let svc = atest::init_service(refunds::app(state.clone())).await;
    let get = |uri: &str| {
        atest::TestRequest::get()
            .uri(uri)
            .insert_header(("Authorization", format!("Bearer {}", token("acme"))))
            .to_request()
    };
    let res = atest::call_service(&svc, get("/api/orders")).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Three idle connections, handed back a moment ago: reused without a check until a
    // request fails on one of them.
    let held: Vec<_> = (0..3).map(|_| state.pool.get().unwrap()).collect();
    drop(held);
    assert_eq!(state.pool.state().idle_connections, 3);
    relay.cut();
    for uri in ["/api/orders", "/ready"] {
        let res = atest::call_service(&svc, get(uri)).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        let body: serde_json::Value = atest::read_body_json(res).await;
        assert_eq!(body["errors"][0]["code"], "SERVICE_UNAVAILABLE");
        assert!(
            !body.to_string().contains("5432"),
            "no internals leak: {body}"
        );
    }
    relay.restore();
    // The dead connections left in the pool are checked (and replaced), not handed out.
    for attempt in 0..4 {
        let res = atest::call_service(&svc, get("/api/orders")).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "recovers once the database is back (request {attempt})"
        );
    }
}

/// What a server started with log `format` at info level writes to its (piped) stderr
/// while it answers one `GET /api/refunds` with `tok`.
fn logs_of_one_request(app: &TestApp, format: &str, tok: &str) -> String {
    let mut server = Server::start_with(
        &app.database_url,
        &[
            ("REFUNDS_LOG_FORMAT", format),
            ("REFUNDS_LOG_LEVEL", "info"),
        ],
    );
    let (status, _) = http(server.port, "GET", "/api/refunds", tok, None).expect("answer");
    assert_eq!(status, 200);
    let _ = server.child.kill();
    let mut logs = String::new();
    server
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    logs
}

#[actix_web::test]
async fn json_logs_carry_request_ids_and_no_tokens() {
    let app = TestApp::new(Backend::Sqlite).await;
    let tok = token("acme");
    let logs = logs_of_one_request(&app, "json", &tok);
    assert!(!logs.contains(&tok), "the token is never logged");
    let line = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["message"] == "answered")
        .unwrap_or_else(|| panic!("no JSON log line for the request in\n{logs}"));
    assert_eq!(line["fields"]["status"], 200);
    assert!(
        line["span"]["request_id"]
            .as_str()
            .is_some_and(refunds::ids::is_id),
        "{line}"
    );
}

#[actix_web::test]
async fn text_logs_written_to_a_pipe_carry_no_colour_codes() {
    let app = TestApp::new(Backend::Sqlite).await;
    let logs = logs_of_one_request(&app, "text", &token("acme"));
    let line = logs
        .lines()
        .find(|l| l.contains("answered"))
        .unwrap_or_else(|| panic!("no log line for the request in\n{logs}"));
    assert!(line.contains("status=200"), "{line}");
    assert!(!logs.contains('\u{1b}'), "escape codes in\n{logs}");
}

#[actix_web::test]
async fn sigterm_finishes_in_flight_requests() {
    let app = TestApp::new(Backend::Sqlite).await;
    let p = app.payments("acme", "5004", "EUR", &[1000]);
    let server = Server::start(&app.database_url);
    let body = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        json!({"amount_cents": 100, "currency_code": "EUR"}),
    )
    .to_string();
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let head = format!(
        "POST /api/refunds HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/vnd.api+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        token("acme"),
        body.len()
    );
    let (first, rest) = body.split_at(body.len() / 2);
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(first.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(rest.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 201"),
        "the request in flight completes: {response}"
    );
    // No new connections are taken once shutdown began.
    std::thread::sleep(Duration::from_millis(500));
    assert!(http(server.port, "GET", "/health", "", None).is_none());
}

/// A request stuck behind a lock is cancelled by the statement timeout (`request_timeout_ms`),
/// rolled back and answered 503 — and only then, so a 503 never hides a refund that was
/// made after all. The service answers normally once the lock is gone.
#[actix_web::test]
async fn requests_time_out_with_503() {
    use diesel::{Connection, RunQueryDsl};
    let app = TestApp::with(Backend::Postgres, |s| s.request_timeout_ms = 1_000).await;
    let p = app.payments("acme", "5005", "EUR", &[1000]);
    let body = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        json!({"amount_cents": 100, "currency_code": "EUR"}),
    );
    let mut blocker = diesel::PgConnection::establish(&app.database_url).unwrap();
    diesel::sql_query("BEGIN").execute(&mut blocker).unwrap();
    diesel::sql_query(format!(
        "SELECT id FROM orders WHERE id = '{}' FOR UPDATE",
        p.order_id
    ))
    .execute(&mut blocker)
    .unwrap();
    let started = std::time::Instant::now();
    let (status, doc) = app.post("/api/refunds", &token("acme"), &body).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{doc}");
    assert_eq!(doc["errors"][0]["code"], "SERVICE_UNAVAILABLE");
    assert_eq!(
        doc["errors"][0]["detail"],
        "The database did not answer within the request timeout; retry later",
        "a timeout is not reported as an unreachable database"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered at the timeout, not after the lock"
    );
    diesel::sql_query("ROLLBACK").execute(&mut blocker).unwrap();
    let (status, _) = app
        .get(
            &format!("/api/captures/{}", p.capture_ids[0]),
            &token("acme"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.post("/api/refunds", &token("acme"), &body).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, refunds) = app.get("/api/refunds", &token("acme")).await;
    assert_eq!(
        refunds["meta"]["record_count"], 1,
        "the timed-out refund was not written"
    );
}

/// A request that waits longer than `pool_timeout_ms` for the database (here: for the one
/// connection, busy behind a lock) is answered 503, never served late; the one holding the
/// connection completes, and the service answers normally afterwards.
#[actix_web::test]
async fn waiting_for_a_connection_is_bounded() {
    use diesel::{Connection, RunQueryDsl};
    let app = TestApp::new(Backend::Postgres).await;
    let p = app.payments("acme", "5006", "EUR", &[1000]);
    let server = Server::start_with(
        &app.database_url,
        &[
            ("REFUNDS_WORKERS", "1"),
            ("REFUNDS_POOL_SIZE", "1"),
            ("REFUNDS_POOL_TIMEOUT_MS", "400"),
        ],
    );
    let mut blocker = diesel::PgConnection::establish(&app.database_url).unwrap();
    diesel::sql_query("BEGIN").execute(&mut blocker).unwrap();
    diesel::sql_query(format!(
        "SELECT id FROM orders WHERE id = '{}' FOR UPDATE",
        p.order_id
    ))
    .execute(&mut blocker)
    .unwrap();
    let body = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        json!({"amount_cents": 100, "currency_code": "EUR"}),
    );
    let port = server.port;
    let tok = token("acme");
    let writer = {
        let tok = tok.clone();
        std::thread::spawn(move || http(port, "POST", "/api/refunds", &tok, Some(&body)))
    };
    std::thread::sleep(Duration::from_millis(300));
    let reader = {
        let tok = tok.clone();
        std::thread::spawn(move || http(port, "GET", "/api/refunds", &tok, None))
    };
    std::thread::sleep(Duration::from_millis(1_000));
    diesel::sql_query("ROLLBACK").execute(&mut blocker).unwrap();
    let (status, doc) = reader.join().unwrap().expect("an answer");
    assert_eq!(status, 503, "{doc}");
    assert_eq!(doc["errors"][0]["code"], "SERVICE_UNAVAILABLE");
    let (status, doc) = writer.join().unwrap().expect("an answer");
    assert_eq!(
        status, 201,
        "the request holding the connection completes: {doc}"
    );
    let (status, doc) = http(port, "GET", "/api/refunds", &tok, None).expect("an answer");
    assert_eq!(status, 200);
    assert_eq!(doc["meta"]["record_count"], 1);
}
