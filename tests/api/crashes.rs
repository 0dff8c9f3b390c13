//! Crash drills (gateways contract, section 5): a `refunds serve` process aborted by a
//! failpoint after a refund's reserve transaction committed, or after its PSP call and
//! before its settle transaction. After a restart (its reconciler thread) or one
//! `refunds reconcile` pass, every refund is settled and the Stripe emulator, which
//! ignores `Idempotency-Key`, shows exactly one refund per refund_capture.
//!
//! The failpoints exist only with the `failpoints` cargo feature; without it these tests
//! are reported as ignored, never silently absent.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::common::{refund_body, token, Backend, TestApp};
use crate::concurrency::{http, Server};
use crate::localstripe::LocalStripe;

/// Generous upper bounds for things that happen on their own: a process starting or
/// exiting, a reconciler settling. Never asserted as durations, only as "it happened".
const PATIENCE: Duration = Duration::from_secs(60);

/// The gateway time-out of the process that crashes: long, so that its PSP calls are
/// made (and answered) before `refund-before-settle` aborts it.
const CRASHING_GATEWAY_TIMEOUT_MS: &str = "10000";
/// Reconciliation after the crash: parts pending for longer than `RECONCILE_AFTER_MS` are
/// taken (it must exceed the gateway time-out), looked up every `RECONCILE_INTERVAL_MS`.
const RECONCILE_GATEWAY_TIMEOUT_MS: &str = "2000";
const RECONCILE_AFTER_MS: &str = "2500";
const RECONCILE_INTERVAL_MS: &str = "200";

/// One drill's world: the test's database, a Stripe emulator and a token.
struct Drill {
    app: TestApp,
    ls: LocalStripe,
    tok: String,
    /// The working directory of every process started: a core file, if the system
    /// writes one despite the zero limit, lands here and goes with the test.
    cwd: tempfile::TempDir,
}

/// A part of a refund as the service shows it, and the emulator charge it refunds.
#[derive(Debug)]
struct Part {
    id: String,
    capture_id: String,
    amount_cents: i64,
    status: String,
    gateway_transaction_id: Option<String>,
}

impl Drill {
    async fn new(backend: Backend) -> Self {
        let ls = LocalStripe::start();
        let (url, key) = (ls.url(), ls.secret_key());
        let app = TestApp::with(backend, |s| {
            s.stripe_api_base = url;
            s.stripe_secret_key = key.into();
        })
        .await;
        Self {
            app,
            ls,
            tok: token("acme"),
            cwd: tempfile::tempdir().expect("a working directory"),
        }
    }

    /// The environment every process of the drill shares.
    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("DATABASE_URL".into(), self.app.database_url.clone()),
            ("REFUNDS_LOG_LEVEL".into(), "error".into()),
            ("REFUNDS_RATE_LIMIT_ENABLED".into(), "false".into()),
            ("REFUNDS_STRIPE_API_BASE".into(), self.ls.url()),
            ("REFUNDS_STRIPE_SECRET_KEY".into(), self.ls.secret_key()),
        ]
    }

    /// A `refunds <command>` process: the drill's environment plus `extra`, no core file,
    /// and `FAILPOINTS` only when `extra` names it.
    fn command(&self, command: &str, extra: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_refunds"));
        cmd.arg(command)
            .current_dir(self.cwd.path())
            .env_remove("FAILPOINTS")
            .envs(self.env())
            .envs(extra.iter().copied())
            .stdin(Stdio::null());
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let none = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if libc::setrlimit(libc::RLIMIT_CORE, &none) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }

    /// `refunds serve` on a free port, once it answers `/health`.
    fn serve(&self, extra: &[(&str, &str)]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let bind = format!("127.0.0.1:{port}");
        let child = self
            .command("serve", extra)
            .env("REFUNDS_BIND", &bind)
            .env("REFUNDS_WORKERS", "2")
            .env("REFUNDS_POOL_SIZE", "4")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start refunds serve");
        let mut server = Server { child, port };
        let deadline = Instant::now() + PATIENCE;
        while http(port, "GET", "/health", "", None).map(|(s, _)| s) != Some(200) {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("refunds serve exited at start-up: {status}");
            }
            assert!(Instant::now() < deadline, "refunds serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// A process armed with `failpoint=return` (an abort where it is reached).
    fn serve_crashing_at(&self, failpoint: &str) -> Server {
        let armed = format!("{failpoint}=return");
        self.serve(&[
            ("FAILPOINTS", armed.as_str()),
            ("REFUNDS_GATEWAY_TIMEOUT_MS", CRASHING_GATEWAY_TIMEOUT_MS),
        ])
    }

    /// A process without failpoints whose reconciler takes the parts the crash left.
    fn serve_reconciling(&self) -> Server {
        self.serve(&[
            ("REFUNDS_GATEWAY_TIMEOUT_MS", RECONCILE_GATEWAY_TIMEOUT_MS),
            ("REFUNDS_RECONCILE_AFTER_MS", RECONCILE_AFTER_MS),
            ("REFUNDS_RECONCILE_INTERVAL_MS", RECONCILE_INTERVAL_MS),
        ])
    }

    /// `refunds reconcile` once: its exit status and standard output.
    fn reconcile_once(&self) -> (ExitStatus, String) {
        let out = self
            .command(
                "reconcile",
                &[
                    ("REFUNDS_GATEWAY_TIMEOUT_MS", RECONCILE_GATEWAY_TIMEOUT_MS),
                    ("REFUNDS_RECONCILE_AFTER_MS", RECONCILE_AFTER_MS),
                ],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("run refunds reconcile");
        assert!(
            out.status.success(),
            "refunds reconcile: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// Runs `refunds reconcile` until a pass settles every one of `parts` (a pass before
    /// they are `RECONCILE_AFTER_MS` old takes none of them); that pass's output.
    fn reconcile_until_settled(&self, parts: &[Part]) -> String {
        let deadline = Instant::now() + PATIENCE;
        let mut outputs = Vec::new();
        loop {
            let (_, out) = self.reconcile_once();
            let settled = parts
                .iter()
                .all(|p| out.contains(&format!("refund_capture {}: succeeded", p.id)));
            if settled {
                return out;
            }
            outputs.push(out);
            assert!(
                Instant::now() < deadline,
                "refunds reconcile never settled {parts:?}; its passes printed {outputs:?}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// An order, an authorization of the charges' sum and one `stripe` capture per charge
    /// (each a localstripe charge of that amount), written over HTTP; the authorization's
    /// `(order id, authorization id, (capture id, charge id) per capture)`.
    async fn payments(
        &self,
        number: &str,
        charges: &[i64],
    ) -> (String, String, Vec<(String, String)>) {
        let total: i64 = charges.iter().sum();
        let order = json!({"data": {"type": "orders", "attributes": {
            "number": number, "currency_code": "EUR", "customer_email": "ada@example.com",
            "total_amount_cents": total, "shipping_amount_cents": 0}}});
        let order = self.created("/api/orders", &order).await;
        let authorization = json!({"data": {"type": "authorizations",
            "attributes": {"amount_cents": total, "currency_code": "EUR",
                "payment_method_type": "credit card"},
            "relationships": {"order": {"data": {"type": "orders", "id": order}}}}});
        let authorization = self.created("/api/authorizations", &authorization).await;
        let mut captures = Vec::new();
        for amount in charges {
            let charge = self.ls.charge(*amount, "eur");
            let capture = json!({"data": {"type": "captures",
                "attributes": {"amount_cents": amount, "currency_code": "EUR",
                    "gateway": "stripe", "gateway_transaction_id": charge},
                "relationships": {"authorization":
                    {"data": {"type": "authorizations", "id": authorization}}}}});
            captures.push((self.created("/api/captures", &capture).await, charge));
        }
        (order, authorization, captures)
    }

    /// The refund `succeeded` with `amount` refunded, its parts as the PSP holds them and
    /// the balances counting them (`assert_one_psp_refund_per_part`, `assert_balances`);
    /// its parts.
    async fn assert_settled(
        &self,
        refund: &Value,
        amount: i64,
        order: &str,
        captures: &[(String, String)],
    ) -> Vec<Part> {
        assert_eq!(refund["attributes"]["status"], "succeeded", "{refund}");
        assert_eq!(refund["attributes"]["refunded_amount_cents"], amount);
        let id = refund["id"].as_str().expect("id");
        let parts = self.parts(id).await;
        self.assert_one_psp_refund_per_part(&parts, captures);
        self.assert_balances(order, &parts, captures).await;
        parts
    }

    /// Each capture's refunded amount and balance count its parts, and the order is
    /// `partially_refunded` (every drill refunds less than was captured).
    async fn assert_balances(&self, order: &str, parts: &[Part], captures: &[(String, String)]) {
        for (capture, _) in captures {
            let (_, doc) = self
                .app
                .get(&format!("/api/captures/{capture}"), &self.tok)
                .await;
            let a = &doc["data"]["attributes"];
            let refunded: i64 = parts
                .iter()
                .filter(|p| p.capture_id == *capture)
                .map(|p| p.amount_cents)
                .sum();
            assert_eq!(a["refund_amount_cents"], refunded, "{doc}");
            assert_eq!(
                a["refund_balance_cents"],
                a["amount_cents"].as_i64().expect("amount") - refunded,
                "{doc}"
            );
        }
        let (_, doc) = self
            .app
            .get(&format!("/api/orders/{order}"), &self.tok)
            .await;
        assert_eq!(
            doc["data"]["attributes"]["payment_status"], "partially_refunded",
            "{doc}"
        );
    }

    async fn created(&self, uri: &str, body: &Value) -> String {
        let (status, doc) = self.app.post(uri, &self.tok, body).await;
        assert_eq!(status, StatusCode::CREATED, "{uri}: {doc}");
        doc["data"]["id"].as_str().expect("an id").to_owned()
    }

    /// POSTs the refund to a process armed with a failpoint: the connection drops without
    /// an answer, and the process dies of SIGABRT. The refund it reserved, found by its key.
    async fn crash(&self, server: Server, body: &Value) -> Value {
        let mut server = server;
        let answer = http(server.port, "POST", "/api/refunds", &self.tok, Some(body));
        assert_eq!(answer, None, "the process answered instead of aborting");
        let status = wait_exit(&mut server);
        assert_eq!(
            status.signal(),
            Some(libc::SIGABRT),
            "the process did not abort: {status}"
        );
        let key = body["data"]["attributes"]["key"].as_str().expect("a key");
        let (status, doc) = self
            .app
            .get(&format!("/api/refunds/by_key/{key}"), &self.tok)
            .await;
        assert_eq!(status, StatusCode::OK, "the reserved refund: {doc}");
        doc["data"].clone()
    }

    /// Crashes a process armed with `failpoint` with the refund (see `crash`): the reserved
    /// refund's id and the refund, checked `pending`.
    async fn crash_pending(&self, failpoint: &str, body: &Value) -> (String, Value) {
        let refund = self.crash(self.serve_crashing_at(failpoint), body).await;
        let id = refund["id"].as_str().expect("id").to_owned();
        assert_eq!(refund["attributes"]["status"], "pending", "{refund}");
        (id, refund)
    }

    async fn refund(&self, id: &str) -> Value {
        let (status, doc) = self.app.get(&format!("/api/refunds/{id}"), &self.tok).await;
        assert_eq!(status, StatusCode::OK, "{doc}");
        doc["data"].clone()
    }

    async fn parts(&self, refund_id: &str) -> Vec<Part> {
        let parts = self
            .app
            .all(
                &format!("/api/refunds/{refund_id}/refund_captures"),
                &self.tok,
            )
            .await;
        let mut out = Vec::new();
        for p in &parts {
            let id = p["id"].as_str().expect("id").to_owned();
            let (status, linkage) = self
                .app
                .get(
                    &format!("/api/refund_captures/{id}/relationships/capture"),
                    &self.tok,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{linkage}");
            let a = &p["attributes"];
            out.push(Part {
                id,
                capture_id: linkage["data"]["id"]
                    .as_str()
                    .expect("a capture")
                    .to_owned(),
                amount_cents: a["amount_cents"].as_i64().expect("amount"),
                status: a["status"].as_str().expect("status").to_owned(),
                gateway_transaction_id: a["gateway_transaction_id"].as_str().map(str::to_owned),
            });
        }
        out
    }

    /// Polls the refund until it is no longer `pending` (the reconciler thread of a
    /// running process settles it).
    async fn settled(&self, id: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let refund = self.refund(id).await;
            if refund["attributes"]["status"] != "pending" {
                return refund;
            }
            assert!(
                Instant::now() < deadline,
                "still pending after reconciliation: {refund}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The service's parts are all `succeeded`, each with its PSP refund; the emulator holds
    /// exactly one refund per part (by `metadata[refund_capture_id]`), of the part's amount,
    /// no other refund of any charge, and each charge's `amount_refunded` is the sum of the
    /// parts drawn on it.
    fn assert_one_psp_refund_per_part(&self, parts: &[Part], captures: &[(String, String)]) {
        for (capture, charge) in captures {
            let ours: Vec<&Part> = parts.iter().filter(|p| p.capture_id == *capture).collect();
            let theirs = self.ls.refunds_of_charge(charge);
            assert_eq!(
                theirs.len(),
                ours.len(),
                "refunds of {charge} at the PSP: {theirs:#?}, ours: {ours:?}"
            );
            for part in &ours {
                assert_eq!(part.status, "succeeded", "{part:?}");
                let made: Vec<&Value> = theirs
                    .iter()
                    .filter(|r| r["metadata"]["refund_capture_id"] == part.id.as_str())
                    .collect();
                assert_eq!(made.len(), 1, "PSP refunds for {part:?}: {theirs:#?}");
                assert_eq!(made[0]["amount"], part.amount_cents, "{:#}", made[0]);
                assert_eq!(made[0]["status"], "succeeded", "{:#}", made[0]);
                assert_eq!(
                    part.gateway_transaction_id.as_deref(),
                    made[0]["id"].as_str(),
                    "the part records the PSP's refund id"
                );
            }
            assert_eq!(
                self.ls.amount_refunded(charge),
                ours.iter().map(|p| p.amount_cents).sum::<i64>(),
                "amount_refunded of {charge}"
            );
        }
    }
}

/// Waits for the process to exit on its own (it aborts); its status.
fn wait_exit(server: &mut Server) -> ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = server.child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "the process is still running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn refund_by(rel: &str, type_name: &str, id: &str, amount: i64, key: &str) -> Value {
    refund_body(
        rel,
        type_name,
        id,
        json!({"amount_cents": amount, "currency_code": "EUR", "key": key}),
    )
}

/// `refund_by` from one capture.
fn capture_refund(capture: &str, amount: i64, key: &str) -> Value {
    refund_by("reference_capture", "captures", capture, amount, key)
}

/// Aborted after the reserve committed, before any PSP call: the refund is `pending`, its
/// amount reserved, nothing refunded at the PSP. A restarted process's reconciler refunds
/// it once; a replay of its key afterwards makes no second refund.
async fn aborted_after_reserve(backend: Backend) {
    let d = Drill::new(backend).await;
    let (order, _, captures) = d.payments("9101", &[2500]).await;
    let (capture, charge) = &captures[0];
    let body = capture_refund(capture, 1500, "drill-reserve");

    let (id, refund) = d.crash_pending("refund-after-reserve", &body).await;
    assert_eq!(refund["attributes"]["refunded_amount_cents"], 0, "{refund}");
    let parts = d.parts(&id).await;
    assert_eq!(parts.len(), 1, "{parts:?}");
    assert_eq!(parts[0].status, "pending");
    assert_eq!(parts[0].gateway_transaction_id, None);
    let (_, cap) = d.app.get(&format!("/api/captures/{capture}"), &d.tok).await;
    assert_eq!(
        cap["data"]["attributes"]["refund_balance_cents"], 1000,
        "the reserve holds the amount: {cap}"
    );
    assert!(d.ls.refunds_of_charge(charge).is_empty(), "no PSP call yet");
    assert_eq!(d.ls.amount_refunded(charge), 0);

    let server = d.serve_reconciling();
    let refund = d.settled(&id).await;
    d.assert_settled(&refund, 1500, &order, &captures).await;

    // The client retries the request that never got an answer: the same refund, no new one.
    let (status, doc) =
        http(server.port, "POST", "/api/refunds", &d.tok, Some(&body)).expect("an answer");
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["data"]["id"], id.as_str());
    assert_eq!(doc["data"]["attributes"]["status"], "succeeded", "{doc}");
    drop(server);
    d.assert_one_psp_refund_per_part(&d.parts(&id).await, &captures);
}

/// Aborted after the PSP refunded and before the settle transaction: the PSP holds the
/// refund, the service still says `pending`. One `refunds reconcile` pass finds the PSP's
/// refund by its metadata and settles it without calling again.
async fn aborted_before_settle(backend: Backend) {
    let d = Drill::new(backend).await;
    let (order, _, captures) = d.payments("9102", &[2500]).await;
    let (capture, charge) = &captures[0];
    let body = capture_refund(capture, 1200, "drill-settle");

    let (id, _) = d.crash_pending("refund-before-settle", &body).await;
    let parts = d.parts(&id).await;
    assert_eq!(parts.len(), 1, "{parts:?}");
    assert_eq!(parts[0].status, "pending");
    assert_eq!(parts[0].gateway_transaction_id, None, "never settled");
    let made = d.ls.refunds_of_charge(charge);
    assert_eq!(made.len(), 1, "the PSP call was made: {made:#?}");
    assert_eq!(
        made[0]["metadata"]["refund_capture_id"],
        parts[0].id.as_str()
    );
    assert_eq!(d.ls.amount_refunded(charge), 1200);

    let out = d.reconcile_until_settled(&parts);
    assert!(
        out.contains(&format!("refund_capture {}: succeeded\n", parts[0].id)),
        "{out}"
    );
    assert!(out.contains("reconciled 1 part(s)"), "{out}");
    let parts = d
        .assert_settled(&d.refund(&id).await, 1200, &order, &captures)
        .await;
    assert_eq!(
        parts[0].gateway_transaction_id.as_deref(),
        made[0]["id"].as_str(),
        "settled with the refund the crashed process made"
    );

    // Nothing is left for another pass.
    let (_, out) = d.reconcile_once();
    assert!(out.contains("reconciled 0 part(s)"), "{out}");
    d.assert_one_psp_refund_per_part(&parts, &captures);
}

/// A refund by authorization split over two charges, aborted before settle: both PSP
/// refunds exist, both parts `pending`. A restarted process's reconciler settles both
/// from what the PSP holds: one refund per part, each charge refunded by its part.
async fn split_aborted_before_settle(backend: Backend) {
    let d = Drill::new(backend).await;
    let (order, authorization, captures) = d.payments("9103", &[3000, 2000]).await;
    let body = refund_by(
        "authorization",
        "authorizations",
        &authorization,
        4000,
        "drill-split",
    );

    let (id, _) = d.crash_pending("refund-before-settle", &body).await;
    let parts = d.parts(&id).await;
    assert_eq!(parts.len(), 2, "one part per capture: {parts:?}");
    assert!(parts.iter().all(|p| p.status == "pending"), "{parts:?}");
    assert_eq!(parts.iter().map(|p| p.amount_cents).sum::<i64>(), 4000);
    for (capture, charge) in &captures {
        let part = parts
            .iter()
            .find(|p| p.capture_id == *capture)
            .unwrap_or_else(|| panic!("no part of {capture}: {parts:?}"));
        let made = d.ls.refunds_of_charge(charge);
        assert_eq!(made.len(), 1, "the PSP call was made: {made:#?}");
        assert_eq!(made[0]["metadata"]["refund_capture_id"], part.id.as_str());
        assert_eq!(made[0]["amount"], part.amount_cents);
    }

    let server = d.serve_reconciling();
    let refund = d.settled(&id).await;
    drop(server);
    d.assert_settled(&refund, 4000, &order, &captures).await;
}

macro_rules! drills {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[actix_web::test]
                #[cfg_attr(not(feature = "failpoints"), ignore = "needs --features failpoints")]
                async fn $name() {
                    super::$name(crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[actix_web::test]
                #[cfg_attr(not(feature = "failpoints"), ignore = "needs --features failpoints")]
                async fn $name() {
                    super::$name(crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

drills!(
    aborted_after_reserve,
    aborted_before_settle,
    split_aborted_before_settle
);
