//! Two service processes on one database, hammered with concurrent refunds of one capture:
//! refunded never exceeds captured, every answer is 201 or 422 (200 for a replayed key).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{refund_body, token, Backend, TestApp};

/// A `refunds serve` process on a free local port.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Server {
    pub fn start(database_url: &str) -> Self {
        Self::start_with(database_url, &[])
    }

    /// Starts the service with extra environment variables.
    pub fn start_with(database_url: &str, env: &[(&str, &str)]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_refunds"))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("REFUNDS_BIND", format!("127.0.0.1:{port}"))
            .env("REFUNDS_WORKERS", "2")
            .env("REFUNDS_POOL_SIZE", "6")
            .env("REFUNDS_LOG_LEVEL", "error")
            // These tests send many requests with one token; limits have their own tests.
            .env("REFUNDS_RATE_LIMIT_ENABLED", "false")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(if env.iter().any(|(k, _)| *k == "REFUNDS_LOG_FORMAT") {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .spawn()
            .expect("start the service");
        let server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http(port, "GET", "/health", "", None).map(|(s, _)| s) != Some(200) {
            assert!(Instant::now() < deadline, "the service did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on its own connection: status and JSON body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> Option<(u16, Value)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let payload = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/vnd.api+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or("");
    Some((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

async fn two_processes_never_over_refund(backend: Backend) {
    let app = TestApp::new(backend).await;
    let p = app.payments("acme", "7001", "EUR", &[10_000, 5_000]);
    let servers = [
        Server::start(&app.database_url),
        Server::start(&app.database_url),
    ];
    let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
    let tok = token("acme");
    let hammer = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[0],
        json!({"amount_cents": 300, "currency_code": "EUR"}),
    );
    let duplicate = refund_body(
        "reference_capture",
        "captures",
        &p.capture_ids[1],
        json!({"amount_cents": 100, "currency_code": "EUR", "key": "same-key"}),
    );
    let threads: Vec<_> = (0..12)
        .map(|i| {
            let (port, tok) = (ports[i % 2], tok.clone());
            let (hammer, duplicate) = (hammer.clone(), duplicate.clone());
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                for n in 0..6 {
                    let body = if n == 0 { &duplicate } else { &hammer };
                    let (status, doc) =
                        http(port, "POST", "/api/refunds", &tok, Some(body)).expect("an answer");
                    statuses.push((n == 0, status, doc));
                }
                statuses
            })
        })
        .collect();
    let answers: Vec<(bool, u16, Value)> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect();
    let hammered: Vec<u16> = answers.iter().filter(|a| !a.0).map(|a| a.1).collect();
    assert!(
        hammered.iter().all(|s| *s == 201 || *s == 422),
        "{hammered:?}"
    );
    let created = hammered.iter().filter(|s| **s == 201).count() as i64;
    assert_eq!(
        created, 33,
        "10000 / 300 refunds fit, and all of them were made"
    );
    for (_, status, doc) in answers.iter().filter(|a| !a.0 && a.1 == 422) {
        assert_eq!(doc["errors"][0]["code"], "INSUFFICIENT_FUNDS", "{status}");
    }
    let dups: Vec<u16> = answers.iter().filter(|a| a.0).map(|a| a.1).collect();
    assert_eq!(dups.iter().filter(|s| **s == 201).count(), 1, "{dups:?}");
    assert!(dups.iter().all(|s| *s == 201 || *s == 200), "{dups:?}");
    drop(servers);

    let (_, first) = app
        .get(&format!("/api/captures/{}", p.capture_ids[0]), &tok)
        .await;
    assert_eq!(
        first["data"]["attributes"]["refund_amount_cents"],
        created * 300
    );
    assert_eq!(
        first["data"]["attributes"]["refund_balance_cents"],
        10_000 - created * 300
    );
    let (_, second) = app
        .get(&format!("/api/captures/{}", p.capture_ids[1]), &tok)
        .await;
    assert_eq!(second["data"]["attributes"]["refund_amount_cents"], 100);
    let splits = app
        .all(
            &format!(
                "/api/refund_captures?filter[q][capture_id_eq]={}",
                p.capture_ids[0]
            ),
            &tok,
        )
        .await;
    let split_total: i64 = splits
        .iter()
        .map(|s| s["attributes"]["amount_cents"].as_i64().unwrap())
        .sum();
    assert_eq!(split_total, created * 300);
    let (_, refunds) = app.get("/api/refunds", &tok).await;
    assert_eq!(refunds["meta"]["record_count"], created + 1);
}

#[actix_web::test]
async fn postgres_two_processes_never_over_refund() {
    two_processes_never_over_refund(Backend::Postgres).await
}

#[actix_web::test]
async fn sqlite_two_processes_never_over_refund() {
    two_processes_never_over_refund(Backend::Sqlite).await
}
