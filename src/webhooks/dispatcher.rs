//! The dispatcher: a background thread of `refunds serve` that sends the outbox.
//!
//! Each round leases due deliveries in a short transaction (PostgreSQL
//! `FOR UPDATE SKIP LOCKED`, so several instances share the work and never hold one
//! delivery at once; SQLite's write lock with one dispatcher per database), commits the
//! lease, then sends each with no transaction open: the resource's document as a `GET`
//! with the webhook's includes would show it, plus `meta`, signed. Every attempt is
//! recorded as an `event_callbacks` row with the delivery's new state in one transaction.
//! A failed attempt is retried after an exponential back-off with jitter; the webhook's
//! circuit opens after its threshold of consecutive failures and holds its deliveries
//! until `_reset_circuit`. Only the oldest pending delivery of a webhook is ever due, so
//! a webhook receives its events in order.

use std::net::IpAddr;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use rand::Rng;
use serde_json::{json, Value};

use crate::auth::Scope;
use crate::config::Settings;
use crate::db::schema::{event_callbacks as ec, webhook_deliveries as d, webhooks as w};
use crate::db::{counts, Backend, DbConnection, Pool};
use crate::error::{ApiError, ApiResult};
use crate::jsonapi::document::Renderer;
use crate::resources::webhooks::Row as Webhook;
use crate::worker::Worker;

use super::signing::sign;

/// How the dispatcher sends, from the `webhook_*` settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Scheme, host and `/api` of the links in the documents sent.
    pub api_base: String,
    pub timeout: Duration,
    pub retry_base_ms: u64,
    pub retry_cap_ms: u64,
    pub max_attempts: u32,
    pub circuit_threshold: u32,
    pub blocked: Vec<Blocked>,
    pub poll: Duration,
    /// Deliveries leased per round.
    pub batch: i64,
}

impl Config {
    pub fn from_settings(s: &Settings) -> Result<Self, String> {
        let base = if s.public_url.is_empty() {
            format!("http://{}", s.bind)
        } else {
            s.public_url.trim_end_matches('/').to_owned()
        };
        Ok(Self {
            api_base: format!("{base}/api"),
            timeout: Duration::from_millis(s.webhook_timeout_ms.max(1)),
            retry_base_ms: s.webhook_retry_base_ms,
            retry_cap_ms: s.webhook_retry_cap_ms,
            max_attempts: s.webhook_max_attempts.max(1),
            circuit_threshold: s.webhook_circuit_failure_threshold.max(1),
            blocked: parse_blocked(&s.webhook_blocked_hosts)?,
            poll: Duration::from_millis(s.webhook_poll_ms.max(10)),
            batch: 20,
        })
    }

    /// How long a lease lasts: a send and its record, with room to spare. An instance
    /// that dies while sending leaves the delivery to another once it runs out.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.timeout.as_millis() as i64 * 2 + 10_000)
    }

    /// The wait before the attempt after `attempts` failed ones: base * 2^(attempts - 1),
    /// at most the cap, of which a random part (up to half) is jitter.
    pub fn backoff_ms(&self, attempts: u32) -> u64 {
        let exp = attempts.saturating_sub(1).min(40);
        let full = self
            .retry_base_ms
            .saturating_mul(1u64 << exp)
            .min(self.retry_cap_ms);
        let half = full / 2;
        full - half + rand::rng().random_range(0..=half)
    }
}

/// A host name or an address range that callbacks may not reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    Host(String),
    Net(IpAddr, u8),
}

fn parse_blocked(list: &str) -> Result<Vec<Blocked>, String> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let bad = || format!("webhook_blocked_hosts: `{item}` is neither a host nor a CIDR");
        out.push(match item.split_once('/') {
            Some((ip, bits)) => {
                let ip: IpAddr = ip.parse().map_err(|_| bad())?;
                let bits: u8 = bits.parse().map_err(|_| bad())?;
                let max = if ip.is_ipv4() { 32 } else { 128 };
                if bits > max {
                    return Err(bad());
                }
                Blocked::Net(ip, bits)
            }
            None => match item.parse::<IpAddr>() {
                Ok(ip) => Blocked::Net(ip, if ip.is_ipv4() { 32 } else { 128 }),
                Err(_) => Blocked::Host(item.to_ascii_lowercase()),
            },
        });
    }
    Ok(out)
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// Why `url` may not be called, if it may not: its host is listed, or resolves into a
/// listed range.
pub fn blocked_reason(blocked: &[Blocked], url: &str) -> Option<String> {
    if blocked.is_empty() {
        return None;
    }
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => {
            let (h, p) = v6.split_once(']').unwrap_or((v6, ""));
            (h.to_owned(), p.trim_start_matches(':').parse().unwrap_or(0))
        }
        None => match host_port.split_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().unwrap_or(0)),
            None => (host_port.to_owned(), 0u16),
        },
    };
    let host = host.to_ascii_lowercase();
    if blocked.contains(&Blocked::Host(host.clone())) {
        return Some(format!("the host {host} is blocked"));
    }
    let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
            .map(|a| a.map(|s| s.ip()).collect())
            .unwrap_or_default(),
    };
    addresses.into_iter().find_map(|ip| {
        blocked.iter().find_map(|b| match b {
            Blocked::Net(net, bits) if in_net(ip, *net, *bits) => {
                Some(format!("{host} ({ip}) is in a blocked range"))
            }
            _ => None,
        })
    })
}

/// A row of `webhook_deliveries`, in column order.
#[derive(Debug, Clone, Queryable)]
pub struct Delivery {
    pub id: String,
    pub organization_id: String,
    pub mode: String,
    pub webhook_id: String,
    pub event_id: String,
    pub topic: String,
    pub resource_type: String,
    pub resource_id: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: NaiveDateTime,
    pub leased_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = Text)]
    id: String,
}

/// Due: pending, its time come, not leased, its webhook's circuit closed, and no older
/// pending delivery of the same webhook (order per webhook).
const DUE: &str = "SELECT d.id FROM webhook_deliveries d \
     JOIN webhooks w ON w.id = d.webhook_id \
     WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
     AND (d.leased_until IS NULL OR d.leased_until < $1) \
     AND w.circuit_state = 'closed' \
     AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e \
         WHERE e.webhook_id = d.webhook_id AND e.status = 'pending' \
         AND (e.created_at < d.created_at OR (e.created_at = d.created_at AND e.id < d.id))) \
     ORDER BY d.next_attempt_at, d.id LIMIT $2";

/// Leases up to `cfg.batch` due deliveries to this process and commits the lease.
pub fn lease(conn: &mut DbConnection, cfg: &Config) -> ApiResult<Vec<Delivery>> {
    let now = crate::clock::now();
    let until = now + cfg.lease();
    crate::db::write_transaction(conn, |conn| -> ApiResult<Vec<Delivery>> {
        let sql = match conn.backend() {
            Backend::Postgres => format!("{DUE} FOR UPDATE OF d SKIP LOCKED"),
            Backend::Sqlite => DUE.replace("$1", "?1").replace("$2", "?2"),
        };
        let due: Vec<Due> = diesel::sql_query(sql)
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(cfg.batch)
            .load(conn)?;
        let mut leased = Vec::with_capacity(due.len());
        for Due { id } in due {
            diesel::update(d::table.find(&id))
                .set(d::leased_until.eq(Some(until)))
                .execute(conn)?;
            leased.push(d::table.find(&id).first::<Delivery>(conn)?);
        }
        Ok(leased)
    })
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The HTTP status, `None` for a network error, a time-out or a blocked host.
    pub code: Option<u16>,
    pub message: String,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.code.is_some_and(|c| (200..300).contains(&c))
    }
}

/// The body of attempt `attempt` of `delivery`: the resource's document with the
/// webhook's includes, and `meta`.
pub fn payload(
    conn: &mut DbConnection,
    cfg: &Config,
    delivery: &Delivery,
    webhook: &Webhook,
    attempt: i64,
) -> ApiResult<Vec<u8>> {
    let scope = Scope::system(&delivery.organization_id, &delivery.mode);
    let kind = crate::resources::resource(&delivery.resource_type).ok_or_else(|| {
        ApiError::internal("webhooks", format!("no type {}", delivery.resource_type))
    })?;
    let paths: Vec<String> = serde_json::from_str(&webhook.include_resources).unwrap_or_default();
    let tree = if paths.is_empty() {
        Default::default()
    } else {
        crate::jsonapi::query::include(
            kind.def(),
            crate::resources::lookup,
            "include",
            &paths.join(","),
        )?
    };
    let records = kind.find(conn, &scope, vec![delivery.resource_id.clone()])?;
    let (primary, included) =
        crate::engine::includes::load(conn, &scope, records, &tree, crate::resources::resource)?;
    let fields = Default::default();
    let renderer = Renderer {
        api_base: &cfg.api_base,
        fields: &fields,
    };
    let self_link = renderer.self_url(&delivery.resource_type, &delivery.resource_id);
    let doc = renderer.single(primary.first(), &included, &self_link);
    let mut doc: Value =
        serde_json::from_slice(&doc).map_err(|e| ApiError::internal("webhooks", e.to_string()))?;
    doc["meta"] = json!({
        "event_id": delivery.event_id,
        "topic": delivery.topic,
        "attempt": attempt,
    });
    serde_json::to_vec(&doc).map_err(|e| ApiError::internal("webhooks", e.to_string()))
}

/// The client: a time-out on every call, no redirects followed, any status an answer.
pub fn agent(cfg: &Config) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(cfg.timeout))
        .max_redirects(0)
        .http_status_as_error(false)
        .user_agent("refunds-webhooks")
        .build()
        .into()
}

/// One signed `POST`.
pub fn send(
    agent: &ureq::Agent,
    cfg: &Config,
    webhook: &Webhook,
    topic: &str,
    body: &[u8],
) -> Outcome {
    if let Some(reason) = blocked_reason(&cfg.blocked, &webhook.callback_url) {
        return Outcome {
            code: None,
            message: reason,
        };
    }
    let sent = agent
        .post(&webhook.callback_url)
        .header("Content-Type", "application/vnd.api+json")
        .header("X-CommerceLayer-Topic", topic)
        .header(
            "X-CommerceLayer-Signature",
            sign(&webhook.shared_secret, body),
        )
        .send(body);
    match sent {
        Ok(mut resp) => {
            let code = resp.status().as_u16();
            let text = resp
                .body_mut()
                .with_config()
                .limit(64 * 1024)
                .lossy_utf8(true)
                .read_to_string()
                .unwrap_or_default();
            Outcome {
                code: Some(code),
                message: text,
            }
        }
        Err(e) => Outcome {
            code: None,
            message: e.to_string(),
        },
    }
}

/// Records attempt `attempt` of `delivery`: its callback, the delivery's new state and
/// the webhook's circuit, in one transaction.
pub fn record(
    conn: &mut DbConnection,
    cfg: &Config,
    delivery: &Delivery,
    webhook: &Webhook,
    attempt: i64,
    payload: &[u8],
    outcome: &Outcome,
) -> ApiResult<()> {
    let now = crate::clock::now();
    let message: String = outcome.message.chars().take(1000).collect();
    crate::db::write_transaction(conn, |conn| -> ApiResult<()> {
        // Deleted meanwhile, with its webhook: nothing to record.
        if d::table
            .find(&delivery.id)
            .select(d::id)
            .first::<String>(conn)
            .optional()?
            .is_none()
        {
            return Ok(());
        }
        diesel::insert_into(ec::table)
            .values((
                ec::id.eq(crate::ids::new_id()),
                ec::organization_id.eq(&delivery.organization_id),
                ec::mode.eq(&delivery.mode),
                ec::webhook_id.eq(&delivery.webhook_id),
                ec::callback_url.eq(&webhook.callback_url),
                ec::payload.eq(String::from_utf8_lossy(payload).into_owned()),
                ec::response_code.eq(outcome.code.map(i64::from)),
                ec::response_message.eq(Some(message)),
                ec::attempt.eq(attempt),
                ec::created_at.eq(now),
            ))
            .execute(conn)?;
        counts::add(
            conn,
            &delivery.organization_id,
            &delivery.mode,
            "event_callbacks",
            1,
        )?;
        if outcome.succeeded() {
            diesel::update(d::table.find(&delivery.id))
                .set((
                    d::status.eq("sent"),
                    d::attempts.eq(attempt),
                    d::leased_until.eq(None::<NaiveDateTime>),
                    d::updated_at.eq(now),
                ))
                .execute(conn)?;
            diesel::update(w::table.find(&delivery.webhook_id))
                .set(w::circuit_failure_count.eq(0i64))
                .execute(conn)?;
            return Ok(());
        }
        let last = attempt >= i64::from(cfg.max_attempts);
        let wait = chrono::Duration::milliseconds(
            i64::try_from(cfg.backoff_ms(attempt as u32)).unwrap_or(i64::MAX / 4),
        );
        diesel::update(d::table.find(&delivery.id))
            .set((
                d::status.eq(if last { "failed" } else { "pending" }),
                d::attempts.eq(attempt),
                d::next_attempt_at.eq(now + wait),
                d::leased_until.eq(None::<NaiveDateTime>),
                d::updated_at.eq(now),
            ))
            .execute(conn)?;
        diesel::update(w::table.find(&delivery.webhook_id))
            .set(w::circuit_failure_count.eq(w::circuit_failure_count + 1i64))
            .execute(conn)?;
        diesel::update(w::table.find(&delivery.webhook_id))
            .filter(w::circuit_failure_count.ge(i64::from(cfg.circuit_threshold)))
            .set(w::circuit_state.eq("open"))
            .execute(conn)?;
        Ok(())
    })
}

/// Gives a lease back untried (its webhook's circuit opened meanwhile).
fn release(conn: &mut DbConnection, delivery: &Delivery) -> ApiResult<()> {
    diesel::update(d::table.find(&delivery.id))
        .set(d::leased_until.eq(None::<NaiveDateTime>))
        .execute(conn)?;
    Ok(())
}

/// Publishes the outbox's pending and failed counts and oldest pending age to `/metrics`.
pub fn observe_outbox(conn: &mut DbConnection) -> ApiResult<()> {
    let count = |conn: &mut DbConnection, status: &str| -> QueryResult<i64> {
        d::table
            .filter(d::status.eq(status))
            .count()
            .get_result(conn)
    };
    let pending = count(conn, "pending")?;
    let failed = count(conn, "failed")?;
    let oldest: Option<NaiveDateTime> = d::table
        .filter(d::status.eq("pending"))
        .select(diesel::dsl::min(d::created_at))
        .first(conn)?;
    let age = oldest.map_or(0.0, |t| {
        (crate::clock::now() - t).num_milliseconds().max(0) as f64 / 1000.0
    });
    crate::telemetry::metrics::webhook_outbox(pending, failed, age);
    Ok(())
}

/// One round: lease, then send and record each delivery. The number attempted.
pub fn run_once(pool: &Pool, agent: &ureq::Agent, cfg: &Config) -> ApiResult<usize> {
    let leased = {
        let mut conn = pool.get()?;
        observe_outbox(&mut conn)?;
        lease(&mut conn, cfg)?
    };
    let mut attempted = 0;
    for delivery in leased {
        // One delivery that cannot be prepared or recorded (its lease then runs out and
        // it is tried again) does not hold up the others.
        match deliver(pool, agent, cfg, &delivery) {
            Ok(true) => attempted += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(delivery = %delivery.id, error = %e, "webhook delivery failed")
            }
        }
    }
    Ok(attempted)
}

/// Sends and records one leased delivery; `false` when there was nothing to send (its
/// webhook was deleted, or its circuit opened meanwhile).
fn deliver(pool: &Pool, agent: &ureq::Agent, cfg: &Config, delivery: &Delivery) -> ApiResult<bool> {
    let attempt = delivery.attempts + 1;
    // Read what to send, then give the connection back before the call.
    let prepared = {
        let mut conn = pool.get()?;
        let webhook = w::table
            .find(&delivery.webhook_id)
            .first::<Webhook>(&mut **conn)
            .optional()?;
        match webhook {
            None => None,
            Some(hook) if hook.circuit_state != "closed" => {
                release(&mut conn, delivery)?;
                None
            }
            Some(hook) => {
                let body = payload(&mut conn, cfg, delivery, &hook, attempt)?;
                Some((hook, body))
            }
        }
    };
    let Some((webhook, body)) = prepared else {
        return Ok(false);
    };
    let outcome = send(agent, cfg, &webhook, &delivery.topic, &body);
    crate::telemetry::metrics::webhook_attempt(outcome.succeeded());
    let mut conn = pool.get()?;
    record(&mut conn, cfg, delivery, &webhook, attempt, &body, &outcome)?;
    Ok(true)
}

/// Starts the dispatcher on its own thread.
pub fn spawn(pool: Pool, cfg: Config) -> Result<Worker, String> {
    let agent = agent(&cfg);
    let pause = cfg.poll;
    Worker::spawn("webhooks", pause, move || {
        match run_once(&pool, &agent, &cfg) {
            Ok(n) => n > 0,
            Err(e) => {
                tracing::warn!(error = %e, "webhook dispatch round failed");
                false
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        let mut s = Settings::defaults();
        s.webhook_blocked_hosts = "10.0.0.0/8, localhost ,::1".into();
        Config::from_settings(&s).expect("config")
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let c = cfg();
        for attempt in 1..=12u32 {
            let full = (1000u64 << (attempt - 1)).min(3_600_000);
            for _ in 0..20 {
                let b = c.backoff_ms(attempt);
                assert!(b >= full - full / 2 && b <= full, "{attempt}: {b}");
            }
        }
        assert!(c.backoff_ms(100) <= 3_600_000);
    }

    #[test]
    fn blocked_hosts_and_ranges() {
        let c = cfg();
        assert!(blocked_reason(&c.blocked, "http://10.1.2.3:8080/x").is_some());
        assert!(blocked_reason(&c.blocked, "http://LOCALHOST/x").is_some());
        assert!(blocked_reason(&c.blocked, "http://[::1]:9/x").is_some());
        assert!(blocked_reason(&c.blocked, "http://11.1.2.3/x").is_none());
        assert!(blocked_reason(&[], "http://10.1.2.3/x").is_none());
        assert!(parse_blocked("10.0.0.0/33").is_err());
        assert!(parse_blocked("nonsense/8").is_err());
    }
}
