//! A Stripe emulator per test: the PyPI package `localstripe` (1.15.10), started on a free
//! port with its own state and killed when the test ends.
//!
//! What it does differently from Stripe, as far as these tests care: it ignores
//! `Idempotency-Key` (so a lookup by metadata is what prevents a second refund), accepts
//! any `Bearer sk_…` key, makes every refund `succeeded` at once and lists 10 refunds a
//! page unless asked for more. It writes its store to a fixed file in /tmp on every change
//! but never reads it back with `--from-scratch`, so parallel instances do not share state.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

const VERSION: &str = "1.15.10";

/// The `localstripe` executable: `LOCALSTRIPE`, else one on `PATH`, else a virtualenv under
/// the target directory, installed on first use (once per test process).
fn executable() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(locate).clone()
}

fn locate() -> PathBuf {
    if let Some(path) = std::env::var_os("LOCALSTRIPE").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "LOCALSTRIPE={} is not a file",
            path.display()
        );
        return path;
    }
    if let Some(found) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("localstripe"))
            .find(|exe| exe.is_file())
    }) {
        return found;
    }
    let venv = target_dir().join("localstripe-venv");
    let exe = venv.join("bin").join("localstripe");
    if !exe.is_file() {
        install(&venv);
    }
    assert!(
        exe.is_file(),
        "localstripe was installed into {} but {} is missing",
        venv.display(),
        exe.display()
    );
    exe
}

/// `CARGO_TARGET_DIR` (relative to the package when relative) or `target`.
fn target_dir() -> PathBuf {
    let package = Path::new(env!("CARGO_MANIFEST_DIR"));
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => package.join(dir),
        None => package.join("target"),
    }
}

fn install(venv: &Path) {
    let run = |program: &Path, args: &[&str]| {
        let out = Command::new(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        assert!(
            out.status.success(),
            "installing localstripe {VERSION} failed: {} {args:?} ({}):\n{}{}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let venv_arg = venv.to_str().expect("a UTF-8 target directory");
    run(Path::new("python3"), &["-m", "venv", venv_arg]);
    run(
        &venv.join("bin").join("pip"),
        &[
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("localstripe=={VERSION}"),
        ],
    );
}

/// A running emulator, killed on drop.
pub struct LocalStripe {
    child: Child,
    port: u16,
    log: tempfile::NamedTempFile,
    agent: ureq::Agent,
}

impl Drop for LocalStripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LocalStripe {
    /// Starts an emulator with an empty store and waits until it answers.
    pub fn start() -> Self {
        let exe = executable();
        let mut last = String::new();
        // A free port can be taken by another test between the probe and the bind.
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let log = tempfile::NamedTempFile::new().expect("a log file");
            let child = Command::new(&exe)
                .args(["--port", &port.to_string(), "--from-scratch"])
                .stdin(Stdio::null())
                .stdout(log.reopen().expect("log"))
                .stderr(log.reopen().expect("log"))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
            let agent = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(10)))
                .http_status_as_error(false)
                .build()
                .into();
            let mut stripe = LocalStripe {
                child,
                port,
                log,
                agent,
            };
            if stripe.wait_ready() {
                return stripe;
            }
            last = stripe.log_text();
        }
        panic!("localstripe did not start:\n{last}");
    }

    /// True once it answers; false when it exited first.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let probe = self
                .agent
                .get(format!("{}/v1/charges", self.url()))
                .config()
                .timeout_global(Some(Duration::from_secs(1)))
                .build()
                .header("Authorization", format!("Bearer {}", self.secret_key()))
                .call();
            if probe.is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "localstripe did not answer within 30 s:\n{}",
            self.log_text()
        );
    }

    fn log_text(&self) -> String {
        let mut text = String::new();
        let _ = self
            .log
            .reopen()
            .and_then(|mut f| f.read_to_string(&mut text));
        text
    }

    /// The API base, without `/v1`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Any `sk_` key is accepted.
    pub fn secret_key(&self) -> String {
        "sk_test_localstripe".into()
    }

    fn call(&self, method: &str, path: &str, form: &[(&str, &str)]) -> Value {
        let url = format!("{}{path}", self.url());
        let auth = format!("Bearer {}", self.secret_key());
        let answer = match method {
            "GET" => self.agent.get(&url).header("Authorization", &auth).call(),
            _ => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .send_form(form.iter().copied()),
        };
        let mut resp = answer.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().expect("a body");
        assert!(
            (200..300).contains(&status),
            "{method} {path} {form:?}: {status} {text}"
        );
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
    }

    pub fn get(&self, path: &str) -> Value {
        self.call("GET", path, &[])
    }

    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        self.call("POST", path, form)
    }

    /// A test card as a PaymentMethod.
    fn card(&self) -> String {
        let pm = self.post(
            "/v1/payment_methods",
            &[
                ("type", "card"),
                ("card[number]", "4242424242424242"),
                ("card[exp_month]", "12"),
                ("card[exp_year]", "2040"),
                ("card[cvc]", "123"),
            ],
        );
        id(&pm)
    }

    /// A captured charge of `amount` minor units; its `ch_…` id.
    pub fn charge(&self, amount: i64, currency: &str) -> String {
        let charge = self.paid("/v1/charges", amount, currency, "source", &[]);
        assert_eq!(charge["captured"], true, "{charge}");
        id(&charge)
    }

    /// A confirmed and captured PaymentIntent of `amount` minor units; its `pi_…` id.
    pub fn payment_intent(&self, amount: i64, currency: &str) -> String {
        let intent = self.paid(
            "/v1/payment_intents",
            amount,
            currency,
            "payment_method",
            &[("confirm", "true")],
        );
        id(&intent)
    }

    /// Posts a payment of `amount` to `path` with a test card as `card_field` (and `extra`);
    /// the object, checked `succeeded`.
    fn paid(
        &self,
        path: &str,
        amount: i64,
        currency: &str,
        card_field: &str,
        extra: &[(&str, &str)],
    ) -> Value {
        let card = self.card();
        let amount = amount.to_string();
        let mut form = vec![
            ("amount", amount.as_str()),
            ("currency", currency),
            (card_field, card.as_str()),
        ];
        form.extend_from_slice(extra);
        let paid = self.post(path, &form);
        assert_eq!(paid["status"], "succeeded", "{paid}");
        paid
    }

    /// The charge a PaymentIntent made.
    pub fn charge_of(&self, payment_intent: &str) -> String {
        let intent = self.get(&format!("/v1/payment_intents/{payment_intent}"));
        intent["latest_charge"]
            .as_str()
            .or_else(|| intent["charges"]["data"][0]["id"].as_str())
            .unwrap_or_else(|| panic!("no charge: {intent}"))
            .to_owned()
    }

    pub fn amount_refunded(&self, charge_id: &str) -> i64 {
        let charge = self.get(&format!("/v1/charges/{charge_id}"));
        charge["amount_refunded"]
            .as_i64()
            .unwrap_or_else(|| panic!("no amount_refunded: {charge}"))
    }

    /// Every refund of a charge, newest first, all pages read.
    pub fn refunds_of_charge(&self, charge_id: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after = String::new();
        loop {
            let page = self.get(&format!("/v1/refunds?charge={charge_id}&limit=100{after}"));
            let data = page["data"].as_array().expect("data").clone();
            let more = page["has_more"] == true;
            if let Some(last) = data.last() {
                after = format!("&starting_after={}", id(last));
            }
            all.extend(data);
            if !more {
                return all;
            }
        }
    }
}

fn id(object: &Value) -> String {
    object["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id: {object}"))
        .to_owned()
}
