//! PSPs that do not work, for the `stripe` gateway: one answering what it is told (a 500
//! by default), one that takes connections and never answers, and a port with nothing
//! listening. Each returns its base URL.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

/// Reads one request (headers and a `Content-Length` body) from `stream`.
fn read_request(stream: &mut TcpStream) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).unwrap_or(0);
        if n == 0 {
            return;
        }
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if seen.len() >= end + 4 + length {
                return;
            }
        }
    }
}

/// A listener on a free local port, and its base URL.
fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    (listener, url)
}

/// A PSP that answers every request with a 500.
pub fn failing_psp() -> String {
    psp_answering(
        "500 Internal Server Error",
        r#"{"error":{"type":"api_error","message":"Something went wrong"}}"#,
    )
}

/// A PSP that answers every request with `status` and the JSON `body`.
pub fn psp_answering(status: &'static str, body: &'static str) -> String {
    let (listener, url) = listen();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            read_request(&mut stream);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// A PSP that takes connections and never answers.
pub fn silent_psp() -> String {
    let (listener, url) = listen();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    url
}

/// A port with nothing listening.
pub fn closed_port() -> String {
    listen().1
}
