//! Connection hardening of the real server: a body that never arrives is answered 408 and
//! its connection closed (`body_read_timeout_ms`); connections beyond `max_connections`
//! wait unserved until one closes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::{token, Backend, TestApp};
use crate::concurrency::{http, Server};

/// Sends `head` to a server whose body timeout is 500 ms, then `trickle` one byte every
/// 200 ms (never completing the body); returns the whole answer, read until the server
/// closes the connection, and how long that took.
fn stalled_body(server: &Server, head: &str, trickle: bool) -> (String, Duration) {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    // Far beyond the 500 ms timeout: a server that hangs fails here, not in CI's patience.
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let started = Instant::now();
    if trickle {
        let mut writer = stream.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..60 {
                if writer.write_all(b"x").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
    }
    let mut answer = Vec::new();
    if let Err(e) = stream.read_to_end(&mut answer) {
        panic!(
            "not answered and closed ({e}); got: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

fn assert_timed_out(answer: &str, took: Duration) {
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"REQUEST_TIMEOUT\""), "{answer}");
    assert!(took < Duration::from_secs(10), "answered after {took:?}");
}

async fn slow_bodies_are_answered_408_and_closed(backend: Backend) {
    let app = TestApp::new(backend).await;
    let server = Server::start_with(
        &app.database_url,
        &[("REFUNDS_BODY_READ_TIMEOUT_MS", "500")],
    );
    let head = |framing: &str| {
        format!(
            "POST /api/refunds HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/vnd.api+json\r\n{framing}\r\n\r\n",
            token("acme")
        )
    };
    // A declared length and then nothing.
    let (answer, took) = stalled_body(&server, &head("Content-Length: 100"), false);
    assert_timed_out(&answer, took);
    // A declared length the body never reaches, one byte at a time.
    let (answer, took) = stalled_body(&server, &head("Content-Length: 100"), true);
    assert_timed_out(&answer, took);
    // A chunk of the largest size a u64 holds, whose data never comes.
    let chunked = head("Transfer-Encoding: chunked") + "FFFFFFFFFFFFFFFF\r\n";
    let (answer, took) = stalled_body(&server, &chunked, true);
    assert_timed_out(&answer, took);
    // The server still serves others.
    assert_eq!(
        http(server.port, "GET", "/health", "", None).map(|(s, _)| s),
        Some(200)
    );
}

#[actix_web::test]
async fn slow_bodies_are_answered_408_and_closed_sqlite() {
    slow_bodies_are_answered_408_and_closed(Backend::Sqlite).await
}

#[actix_web::test]
async fn slow_bodies_are_answered_408_and_closed_postgres() {
    slow_bodies_are_answered_408_and_closed(Backend::Postgres).await
}

/// A kept-alive connection that has been answered once.
fn served_connection(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 512];
    let n = stream.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    stream
}

#[actix_web::test]
async fn connections_beyond_max_connections_wait_until_one_closes() {
    let app = TestApp::new(Backend::Sqlite).await;
    let server = Server::start_with(
        &app.database_url,
        &[("REFUNDS_WORKERS", "1"), ("REFUNDS_MAX_CONNECTIONS", "2")],
    );
    let first = served_connection(server.port);
    let _second = served_connection(server.port);
    // The kernel completes the handshake, but the server takes no third connection.
    let mut third = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    third
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(1000)))
        .unwrap();
    let mut buf = [0u8; 512];
    let waited = third.read(&mut buf);
    assert!(
        waited.is_err(),
        "a third connection was served: {:?}",
        waited.map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
    );
    // Once one closes, the waiting connection is served.
    drop(first);
    third
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut answer = String::new();
    third.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
