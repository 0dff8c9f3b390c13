//! `refunds seed`: deterministic demo data (orders, authorizations, captures, refunds).
//!
//! The same organization, mode, order count and seed always give the same rows, ids
//! included, so demos and benchmarks are repeatable.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::db::schema::{authorizations, captures, orders, refund_captures, refunds};
use crate::db::{counts, DbConnection};
use crate::ids::{organization_id, ID_LEN};
use crate::resources::{
    authorizations::Row as Authorization, captures::Row as Capture, orders::Row as Order,
    refund_captures::Row as RefundCapture, refunds::Row as Refund,
    refunds::ShownRow as ShownRefund,
};

/// Orders written per transaction.
const BATCH: u64 = 500;

#[derive(Default)]
struct Batch {
    orders: Vec<Order>,
    authorizations: Vec<Authorization>,
    captures: Vec<Capture>,
    refunds: Vec<Refund>,
    refund_captures: Vec<RefundCapture>,
}

/// Inserts `orders` orders with their payments for the organization `slug`.
pub fn seed(
    conn: &mut DbConnection,
    slug: &str,
    live: bool,
    orders: u64,
    seed: u64,
) -> Result<String, String> {
    let org = organization_id(slug);
    let mode = if live { "live" } else { "test" };
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let salt = salt(&org, mode);
    let mut totals = (0usize, 0usize);
    let mut start = 0;
    while start < orders {
        let end = (start + BATCH).min(orders);
        let mut batch = Batch::default();
        for i in start..end {
            make_order(&mut rng, &salt, &mut batch, &org, mode, seed, i);
        }
        totals.0 += batch.orders.len();
        totals.1 += batch.refunds.len();
        conn.transaction(|c| {
            insert(c, &batch)?;
            for (kind, n) in [
                ("orders", batch.orders.len()),
                ("authorizations", batch.authorizations.len()),
                ("captures", batch.captures.len()),
                ("refunds", batch.refunds.len()),
                ("refund_captures", batch.refund_captures.len()),
            ] {
                counts::add(c, &org, mode, kind, n as i64)?;
            }
            Ok::<_, diesel::result::Error>(())
        })
        .map_err(|e| format!("seed failed: {e}"))?;
        start = end;
    }
    // A bulk load leaves the planner without statistics until autovacuum (when it is on
    // at all) gets to the tables. Only the tables written: a bare ANALYZE on PostgreSQL
    // visits every table of the database, other tenants' schemas included.
    // SQLite's ANALYZE takes one name at most; its database is this one alone anyway.
    let analyze = match conn.backend() {
        crate::db::Backend::Postgres => {
            "ANALYZE orders, authorizations, captures, refunds, refund_captures"
        }
        crate::db::Backend::Sqlite => "ANALYZE",
    };
    diesel::sql_query(analyze)
        .execute(conn)
        .map_err(|e| format!("analyze failed: {e}"))?;
    Ok(format!(
        "seeded {} orders and {} refunds for organization {slug} ({org}), mode {mode}",
        totals.0, totals.1
    ))
}

fn insert(conn: &mut DbConnection, b: &Batch) -> QueryResult<()> {
    // Multi-row inserts only compile on the concrete connections; the caller holds the transaction.
    macro_rules! all {
        ($c:expr) => {{
            let c = $c;
            for chunk in b.orders.chunks(1000) {
                diesel::insert_into(orders::table)
                    .values(chunk)
                    .execute(c)?;
            }
            for chunk in b.authorizations.chunks(1000) {
                diesel::insert_into(authorizations::table)
                    .values(chunk)
                    .execute(c)?;
            }
            for chunk in b.captures.chunks(1000) {
                diesel::insert_into(captures::table)
                    .values(chunk)
                    .execute(c)?;
            }
            for chunk in b.refunds.chunks(1000) {
                diesel::insert_into(refunds::table)
                    .values(chunk)
                    .execute(c)?;
            }
            for chunk in b.refund_captures.chunks(1000) {
                diesel::insert_into(refund_captures::table)
                    .values(chunk)
                    .execute(c)?;
            }
            Ok(())
        }};
    }
    match conn {
        DbConnection::Postgresql(c) => all!(c),
        DbConnection::Sqlite(c) => all!(c),
    }
}

/// Per tenant: the same draws give every organization and mode ids of its own, so any
/// number of tenants can be seeded into one database, each still deterministically.
type Salt = [u8; ID_LEN];

fn salt(org: &str, mode: &str) -> Salt {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(org)
        .chain_update([0])
        .chain_update(mode)
        .finalize();
    std::array::from_fn(|k| digest[k % digest.len()] % 62)
}

fn id(rng: &mut StdRng, salt: &Salt) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    salt.iter()
        .map(|s| ALPHABET[(rng.random_range(0..62) + usize::from(*s)) % 62] as char)
        .collect()
}

/// Millisecond precision, like every timestamp the service writes.
fn base_time() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 1, 1)
        .and_then(|d| d.and_hms_opt(8, 0, 0))
        .unwrap_or_default()
}

fn make_order(
    rng: &mut StdRng,
    salt: &Salt,
    b: &mut Batch,
    org: &str,
    mode: &str,
    seed: u64,
    i: u64,
) {
    let (currency, market, scale) = match rng.random_range(0..10) {
        0..=3 => ("EUR", "mkt-eu", 100),
        4..=6 => ("USD", "mkt-us", 100),
        7..=8 => ("JPY", "mkt-jp", 1),
        _ => ("GBP", "mkt-uk", 100),
    };
    let number = format!("{}", 10_000 + seed * 10_000_000 + i);
    // Roughly six months of history, a few minutes to hours apart.
    let created = base_time()
        + Duration::seconds((i as i64) * 97 % (180 * 86_400))
        + Duration::milliseconds(rng.random_range(0..1000));
    let total: i64 = rng.random_range(20..2_000) * scale;
    let shipping: i64 = rng.random_range(0..15) * scale;
    let customer = format!("cust-{}", i % (i / 3 + 7));
    let metadata = |rng: &mut StdRng| -> String {
        if rng.random_bool(0.8) {
            let channel = ["web", "store", "phone"][rng.random_range(0..3)];
            let tags: &[&str] =
                [&["gift"][..], &["vip"], &["gift", "vip"], &[]][rng.random_range(0..4)];
            json!({ "channel": channel, "priority": rng.random_bool(0.3), "tags": tags })
                .to_string()
        } else {
            "{}".into()
        }
    };
    let reference = |rng: &mut StdRng, n: u64| -> (Option<String>, Option<String>) {
        if rng.random_bool(0.35) {
            (
                Some(format!("ERP-{n}")),
                Some(["erp", "pos", "crm"][rng.random_range(0..3)].into()),
            )
        } else {
            (None, None)
        }
    };
    let order_id = id(rng, salt);
    let mut seq = 0;
    let next_number = |seq: &mut u32| {
        *seq += 1;
        format!("{number}/T/{:03}", seq)
    };
    let method = ["credit card", "paypal", "klarna"][rng.random_range(0..3)];

    let auth_id = id(rng, salt);
    let (auth_ref, auth_origin) = reference(rng, i);
    b.authorizations.push(Authorization {
        id: auth_id.clone(),
        organization_id: org.into(),
        mode: mode.into(),
        order_id: order_id.clone(),
        number: next_number(&mut seq),
        currency_code: currency.into(),
        amount_cents: total,
        succeeded: true,
        payment_method_type: Some(method.into()),
        message: Some("Accepted".into()),
        error_code: None,
        error_detail: None,
        token: Some(format!("tok_{}", id(rng, salt))),
        gateway_transaction_id: Some(format!("gw_{}", id(rng, salt))),
        reference: auth_ref,
        reference_origin: auth_origin,
        metadata: metadata(rng),
        created_at: created,
        updated_at: created,
    });

    // One capture, or two splitting the total.
    let split = if rng.random_bool(0.3) {
        total / 2
    } else {
        total
    };
    let mut captures = vec![split];
    if split < total {
        captures.push(total - split);
    }
    let mut capture_rows = Vec::new();
    for (k, amount) in captures.into_iter().enumerate() {
        let at = created + Duration::hours(1 + k as i64 * 24);
        capture_rows.push(Capture {
            id: id(rng, salt),
            organization_id: org.into(),
            mode: mode.into(),
            order_id: order_id.clone(),
            authorization_id: auth_id.clone(),
            number: next_number(&mut seq),
            currency_code: currency.into(),
            amount_cents: amount,
            refund_amount_cents: 0,
            refund_balance_cents: amount,
            succeeded: true,
            payment_method_type: Some(method.into()),
            message: Some("Captured".into()),
            error_code: None,
            error_detail: None,
            token: None,
            gateway_transaction_id: Some(format!("gw_{}", id(rng, salt))),
            reference: None,
            reference_origin: None,
            metadata: "{}".into(),
            created_at: at,
            updated_at: at,
            gateway: "test".into(),
        });
    }

    let refunds = rng.random_range(0..4);
    for r in 0..refunds {
        let k = rng.random_range(0..capture_rows.len());
        let balance = capture_rows[k].refund_balance_cents;
        if balance == 0 {
            continue;
        }
        let amount = rng.random_range(1..=balance.min(50_000 * scale).max(1));
        let declined = amount % 100 == 13 || rng.random_bool(0.1);
        let at = created
            + Duration::days(3 + r * 11)
            + Duration::milliseconds(rng.random_range(0..86_400_000));
        let refund_id = id(rng, salt);
        let (reference_, origin) = reference(rng, i * 10 + r as u64);
        b.refunds.push(Refund {
            organization_id: org.into(),
            mode: mode.into(),
            shown: ShownRefund {
                id: refund_id.clone(),
                order_id: order_id.clone(),
                reference_capture_id: Some(capture_rows[k].id.clone()),
                authorization_id: Some(auth_id.clone()),
                number: next_number(&mut seq),
                key: format!("ref-{}", id(rng, salt)),
                currency_code: currency.into(),
                amount_cents: amount,
                status: if declined { "failed" } else { "succeeded" }.into(),
                refunded_amount_cents: if declined { 0 } else { amount },
                succeeded: !declined,
                payment_method_type: Some(method.into()),
                message: Some(if declined { "Declined" } else { "Refunded" }.into()),
                error_code: declined.then(|| "card_declined".into()),
                error_detail: declined.then(|| "The issuer declined the refund".into()),
                token: None,
                gateway_transaction_id: (!declined).then(|| format!("gw_{}", id(rng, salt))),
                reference: reference_,
                reference_origin: origin,
                metadata: metadata(rng),
                created_at: at,
                updated_at: at,
            },
            target_type: "capture".into(),
            request_hash: String::new(),
        });
        if !declined {
            capture_rows[k].refund_amount_cents += amount;
            capture_rows[k].refund_balance_cents -= amount;
        }
        // A declined part's id is derived, not drawn, so the random sequence (and every
        // id after it) stays what it was before declined refunds had parts.
        let part_id = if declined {
            refund_id.chars().rev().collect()
        } else {
            id(rng, salt)
        };
        {
            b.refund_captures.push(RefundCapture {
                id: part_id,
                organization_id: org.into(),
                mode: mode.into(),
                order_id: order_id.clone(),
                refund_id,
                capture_id: capture_rows[k].id.clone(),
                currency_code: currency.into(),
                amount_cents: amount,
                created_at: at,
                updated_at: at,
                status: if declined { "failed" } else { "succeeded" }.into(),
                gateway: "test".into(),
                gateway_transaction_id: b
                    .refunds
                    .last()
                    .and_then(|r| r.shown.gateway_transaction_id.clone()),
                error_code: declined.then(|| "card_declined".into()),
                message: Some(if declined { "Declined" } else { "Refunded" }.into()),
                checked_at: None,
            });
        }
    }
    let refunded: i64 = capture_rows.iter().map(|c| c.refund_amount_cents).sum();
    let payment_status = match refunded {
        0 => "paid",
        r if r >= total => "refunded",
        _ => "partially_refunded",
    };
    let (order_ref, order_origin) = reference(rng, i);
    b.orders.push(Order {
        id: order_id,
        organization_id: org.into(),
        mode: mode.into(),
        number,
        currency_code: currency.into(),
        customer_email: Some(format!("{customer}@example.com")),
        customer_id: Some(customer),
        market_id: Some(market.into()),
        total_amount_cents: total,
        shipping_amount_cents: shipping.min(total),
        payment_status: payment_status.into(),
        transactions_count: seq as i32,
        reference: order_ref,
        reference_origin: order_origin,
        metadata: metadata(rng),
        created_at: created,
        updated_at: created,
    });
    b.captures.extend(capture_rows);
}
