//! Property tests of `filter[q][...]` and `sort` on `GET /api/refunds` (contract §4).
//!
//! Each test reads a seeded organization's refunds once, then generates many filters (or sort
//! lists) from a fixed-seed RNG, evaluates them in Rust with the contract's semantics and
//! compares with what the service answers (every page, following `links.next`). Failing cases
//! are collected and reported together, each with its query string.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use actix_web::http::StatusCode;
use chrono::{Duration, FixedOffset, NaiveDateTime, Timelike};
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::common::{token, TestApp, PUBLIC_URL};
use crate::evaluate::{compare, jsonb_contains, like, order, V};

const SLUG: &str = "acme";
const ORDERS: u64 = 25;
const SEED: u64 = 42;

// ---------------------------------------------------------------------------------------------
// The held collection
// ---------------------------------------------------------------------------------------------

/// A typed field value, as the contract compares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Int,
    Bool,
    Time,
    Json,
}

/// Filterable text attributes of refunds.
const TEXT_FIELDS: &[&str] = &[
    "number",
    "key",
    "currency_code",
    "message",
    "error_code",
    "error_detail",
    "token",
    "gateway_transaction_id",
    "reference",
    "reference_origin",
];

/// The ones worth most of the cases (varied, nullable or both).
const MAIN_TEXT_FIELDS: &[&str] = &[
    "number",
    "key",
    "currency_code",
    "message",
    "error_code",
    "reference",
    "reference_origin",
];

const SORTABLE: &[&str] = &[
    "number",
    "key",
    "amount_cents",
    "created_at",
    "updated_at",
    "reference",
    "reference_origin",
];

fn kind(field: &str) -> Kind {
    match field {
        "amount_cents" => Kind::Int,
        "succeeded" => Kind::Bool,
        "created_at" | "updated_at" => Kind::Time,
        "metadata" => Kind::Json,
        _ => Kind::Text,
    }
}

/// One refund as the API showed it, with the relationship data the filters reach.
#[derive(Debug, Clone)]
struct Refund {
    id: String,
    attributes: Value,
    order_number: String,
    reference_capture_id: Option<String>,
    authorization_id: Option<String>,
    /// Through `refund_captures` (to-many).
    capture_ids: Vec<String>,
}

fn parse_time(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3fZ")
        .unwrap_or_else(|e| panic!("bad timestamp {s}: {e}"))
}

impl Refund {
    /// The values of `field` (a to-many field may have none or several).
    fn values(&self, field: &str) -> Vec<V> {
        let opt = |s: &Option<String>| s.clone().map_or(V::Null, V::Text);
        match field {
            "order_number" => vec![V::Text(self.order_number.clone())],
            "reference_capture_id" => vec![opt(&self.reference_capture_id)],
            "authorization_id" => vec![opt(&self.authorization_id)],
            "capture_id" => self.capture_ids.iter().cloned().map(V::Text).collect(),
            _ => vec![self.attr(field)],
        }
    }

    fn attr(&self, field: &str) -> V {
        let a = &self.attributes[field];
        if a.is_null() {
            return V::Null;
        }
        match kind(field) {
            Kind::Text => V::Text(a.as_str().expect("text").to_owned()),
            Kind::Int => V::Int(a.as_i64().expect("integer")),
            Kind::Bool => V::Bool(a.as_bool().expect("boolean")),
            Kind::Time => V::Time(parse_time(a.as_str().expect("time"))),
            Kind::Json => V::Json(a.clone()),
        }
    }
}

/// Sends a GET, logging it first so a panic (a 500) still shows its query.
async fn get(app: &TestApp, uri: &str, tok: &str) -> (StatusCode, Value) {
    println!("GET {uri}");
    app.get(uri, tok).await
}

/// Every page of a collection: the data and the included resources by (type, id).
async fn fetch(
    app: &TestApp,
    uri: &str,
    tok: &str,
) -> Result<(Vec<Value>, BTreeMap<(String, String), Value>), String> {
    let mut data = Vec::new();
    let mut included = BTreeMap::new();
    let mut next = Some(uri.to_owned());
    let mut pages = 0;
    let mut record_count = None;
    while let Some(uri) = next {
        pages += 1;
        if pages > 50 {
            return Err("more than 50 pages".into());
        }
        let (status, body) = get(app, &uri, tok).await;
        if status != StatusCode::OK {
            return Err(format!("{status} on {uri}: {body}"));
        }
        record_count = record_count.or(body["meta"]["record_count"].as_u64());
        data.extend(body["data"].as_array().expect("data array").iter().cloned());
        for r in body["included"].as_array().into_iter().flatten() {
            let key = (
                r["type"].as_str().unwrap().to_owned(),
                r["id"].as_str().unwrap().to_owned(),
            );
            included.insert(key, r.clone());
        }
        next = body["links"]["next"]
            .as_str()
            .map(|n| n.trim_start_matches(PUBLIC_URL).to_owned());
    }
    if record_count != Some(data.len() as u64) {
        return Err(format!(
            "meta.record_count is {record_count:?} but the pages hold {} refunds",
            data.len()
        ));
    }
    Ok((data, included))
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Seeds the organization, adds edge cases the seed never makes, and reads it all back.
async fn load(app: &TestApp, tok: &str) -> Vec<Refund> {
    app.seed(SLUG, ORDERS, SEED);
    let plain = app.all("/api/refunds?page[size]=25", tok).await;
    let mut seeded = ids(&plain);
    seeded.sort();
    assert!(
        seeded.len() >= 20,
        "the seed makes enough refunds: {}",
        seeded.len()
    );
    add_edge_cases(app, &seeded);

    let uri = "/api/refunds?page[size]=25&include=order,reference_capture,authorization,refund_captures.capture";
    let (data, included) = fetch(app, uri, tok).await.expect("full collection");
    let mut all = ids(&data);
    all.sort();
    assert_eq!(all, seeded, "the same refunds with and without include");
    let linkage = |r: &Value, rel: &str| {
        r["relationships"][rel]["data"]["id"]
            .as_str()
            .map(str::to_owned)
    };
    let refunds: Vec<Refund> = data
        .iter()
        .map(|r| {
            let order_id = linkage(r, "order").expect("order linkage");
            let order = &included[&("orders".to_owned(), order_id)];
            let capture_ids = r["relationships"]["refund_captures"]["data"]
                .as_array()
                .expect("refund_captures linkage")
                .iter()
                .map(|rc| {
                    let rc = &included[&(
                        "refund_captures".to_owned(),
                        rc["id"].as_str().unwrap().to_owned(),
                    )];
                    linkage(rc, "capture").expect("capture linkage")
                })
                .collect();
            Refund {
                id: r["id"].as_str().unwrap().to_owned(),
                attributes: r["attributes"].clone(),
                order_number: order["attributes"]["number"].as_str().unwrap().to_owned(),
                reference_capture_id: linkage(r, "reference_capture"),
                authorization_id: linkage(r, "authorization"),
                capture_ids,
            }
        })
        .collect();
    assert!(refunds.iter().any(|r| !r.capture_ids.is_empty()));
    assert!(refunds.iter().any(|r| r.attr("reference") == V::Null));
    assert!(refunds.iter().any(|r| r.attr("error_code") == V::Null));
    assert!(refunds.iter().any(|r| r.attr("error_code") != V::Null));
    refunds
}

/// Values the seed never writes: empty strings, LIKE wildcards, mixed and non-ASCII case,
/// characters that need escaping in URLs, a comma, nested metadata, equal sort keys and
/// whole-second timestamps.
fn add_edge_cases(app: &TestApp, ids: &[String]) {
    use refunds::db::schema::refunds as r;
    let mut conn = app.state.pool.get().expect("connection");
    let texts: [(Option<&str>, Option<&str>); 8] = [
        (Some(""), Some("erp")),
        (Some("50%_off"), Some("")),
        (Some("Mixed_CASE-Ref"), Some("CRM")),
        (Some("ÉCLAIR-Größe"), Some("pos")),
        (Some("x,y"), Some("ERP")),
        (Some("A&B+C#1=2 ok"), Some("erp")),
        (Some("erp-12"), None),
        (Some("ERP-12"), Some("erp")),
    ];
    for (i, (reference, origin)) in texts.iter().enumerate() {
        diesel::update(r::table.filter(r::id.eq(&ids[i])))
            .set((r::reference.eq(*reference), r::reference_origin.eq(*origin)))
            .execute(&mut **conn)
            .expect("update reference");
    }
    diesel::update(r::table.filter(r::id.eq(&ids[8])))
        .set((r::message.eq(Some("")), r::token.eq(Some("tok_Z"))))
        .execute(&mut **conn)
        .expect("update message");
    diesel::update(r::table.filter(r::id.eq(&ids[9])))
        .set(r::message.eq(Some("Declined, retry: 100% sure")))
        .execute(&mut **conn)
        .expect("update message");
    let nested = json!({"channel": "web", "priority": true, "tags": ["gift", "vip"], "n": 2,
        "nested": {"a": [1, 2], "b": null}});
    diesel::update(r::table.filter(r::id.eq(&ids[10])))
        .set(r::metadata.eq(nested.to_string()))
        .execute(&mut **conn)
        .expect("update metadata");
    // ids[11] and ids[12] tie on amount and creation time; updated_at on whole seconds.
    let (created, amount): (NaiveDateTime, i64) = r::table
        .filter(r::id.eq(&ids[12]))
        .select((r::created_at, r::amount_cents))
        .first(&mut **conn)
        .expect("read refund");
    let whole = created.with_nanosecond(0).unwrap() + Duration::days(1);
    diesel::update(r::table.filter(r::id.eq(&ids[11])))
        .set((
            r::created_at.eq(created),
            r::amount_cents.eq(amount),
            r::updated_at.eq(whole),
        ))
        .execute(&mut **conn)
        .expect("update tie");
    diesel::update(r::table.filter(r::id.eq(&ids[13])))
        .set(r::updated_at.eq(whole.date().and_hms_opt(0, 0, 0).unwrap()))
        .execute(&mut **conn)
        .expect("update midnight");
}

// ---------------------------------------------------------------------------------------------
// The contract's semantics, in Rust
// ---------------------------------------------------------------------------------------------

/// What a filter parameter compares with.
#[derive(Debug, Clone)]
enum Operand {
    /// `null`, `present`, `true`, ...: the parsed boolean value.
    Flag(bool),
    /// One value, or the comma-separated list of `in` and the `_any`/`_all` forms.
    Values(Vec<V>),
    Json(Value),
}

/// One `filter[q][<fields joined by _or_>_<pred>]=<raw>` parameter.
#[derive(Debug, Clone)]
struct Param {
    fields: Vec<&'static str>,
    pred: &'static str,
    raw: String,
    operand: Operand,
}

impl Param {
    fn name(&self) -> String {
        format!("{}_{}", self.fields.join("_or_"), self.pred)
    }

    fn holds(&self, r: &Refund) -> bool {
        self.fields.iter().any(|f| {
            let values = r.values(f);
            if *f == "capture_id" {
                // Through a to-many relationship: some related row matches.
                values.iter().any(|v| holds(self.pred, v, &self.operand))
            } else {
                holds(self.pred, &values[0], &self.operand)
            }
        })
    }
}

fn holds(pred: &str, x: &V, operand: &Operand) -> bool {
    let null = *x == V::Null;
    match operand {
        Operand::Flag(b) => match (pred, *b) {
            ("null", true) | ("not_null", false) => null,
            ("null", false) | ("not_null", true) => !null,
            ("present", true) | ("blank", false) => present(x),
            ("present", false) | ("blank", true) => !present(x),
            ("true", true) => *x == V::Bool(true),
            ("true", false) => !null && *x != V::Bool(true),
            ("false", true) => *x == V::Bool(false),
            ("false", false) => !null && *x != V::Bool(false),
            _ => unreachable!("{pred}"),
        },
        Operand::Json(candidate) => match x {
            V::Json(target) => jsonb_contains(target, candidate, true),
            _ => false,
        },
        Operand::Values(vs) => {
            if let Some(base) = pred.strip_suffix("_any") {
                return vs.iter().any(|v| compare(base, x, v));
            }
            if let Some(base) = pred.strip_suffix("_all") {
                return vs.iter().all(|v| compare(base, x, v));
            }
            match pred {
                "in" => !null && vs.contains(x),
                "not_in" => !null && !vs.contains(x),
                "not_in_or_null" => null || !vs.contains(x),
                _ => compare(pred, x, &vs[0]),
            }
        }
    }
}

fn present(x: &V) -> bool {
    match x {
        V::Null => false,
        V::Text(s) => !s.is_empty(),
        _ => true,
    }
}

/// The contract's order: the keys, NULLs last ascending and first descending, then `id`.
fn sort_cmp(keys: &[(&str, bool)], a: &Refund, b: &Refund) -> Ordering {
    for (field, desc) in keys {
        let (x, y) = (a.attr(field), b.attr(field));
        let o = match (x == V::Null, y == V::Null) {
            (true, true) => Ordering::Equal,
            (true, false) if *desc => Ordering::Less,
            (true, false) => Ordering::Greater,
            (false, true) if *desc => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) if *desc => order(&x, &y).reverse(),
            (false, false) => order(&x, &y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.id.as_bytes().cmp(b.id.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

const TEXT_PREDS: &[&str] = &[
    "eq",
    "not_eq",
    "eq_or_null",
    "not_eq_or_null",
    "lt",
    "lteq",
    "gt",
    "gteq",
    "in",
    "not_in",
    "not_in_or_null",
    "cont",
    "not_cont",
    "start",
    "not_start",
    "end",
    "not_end",
    "matches",
    "does_not_match",
    "null",
    "not_null",
    "present",
    "blank",
    "eq_any",
    "eq_all",
    "lt_any",
    "lt_all",
    "lteq_any",
    "lteq_all",
    "gt_any",
    "gt_all",
    "gteq_any",
    "gteq_all",
    "start_any",
    "start_all",
    "end_any",
    "end_all",
    "cont_any",
    "cont_all",
    "matches_any",
    "matches_all",
    // The most varied ones twice as often.
    "eq",
    "cont",
    "start",
    "end",
    "matches",
    "in",
    "not_cont",
    "not_eq",
];

const ORDERED_PREDS: &[&str] = &[
    "eq",
    "not_eq",
    "eq_or_null",
    "not_eq_or_null",
    "lt",
    "lteq",
    "gt",
    "gteq",
    "in",
    "not_in",
    "not_in_or_null",
    "null",
    "not_null",
    "eq_any",
    "eq_all",
    "lt_any",
    "lt_all",
    "lteq_any",
    "lteq_all",
    "gt_any",
    "gt_all",
    "gteq_any",
    "gteq_all",
    "lt",
    "gt",
    "lteq",
    "gteq",
];

const BOOL_PREDS: &[&str] = &[
    "eq",
    "not_eq",
    "eq_or_null",
    "not_eq_or_null",
    "in",
    "not_in",
    "not_in_or_null",
    "null",
    "not_null",
    "true",
    "false",
    "eq_any",
    "eq_all",
    "true",
    "false",
];

const FLAG_PREDS: &[&str] = &["null", "not_null", "present", "blank", "true", "false"];

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn is_list(pred: &str) -> bool {
    matches!(pred, "in" | "not_in" | "not_in_or_null")
        || pred.ends_with("_any")
        || pred.ends_with("_all")
}

/// What the held data offers to draw values from.
struct Pools {
    text: BTreeMap<&'static str, Vec<String>>,
    ints: Vec<i64>,
    times: Vec<NaiveDateTime>,
    metadata: Vec<Value>,
}

impl Pools {
    fn new(refunds: &[Refund]) -> Self {
        let mut text = BTreeMap::new();
        for f in TEXT_FIELDS.iter().chain(&[
            "order_number",
            "reference_capture_id",
            "authorization_id",
            "capture_id",
        ]) {
            let set: BTreeSet<String> = refunds
                .iter()
                .flat_map(|r| r.values(f))
                .filter_map(|v| match v {
                    V::Text(s) => Some(s),
                    _ => None,
                })
                .collect();
            text.insert(*f, set.into_iter().collect());
        }
        let ints: BTreeSet<i64> = refunds
            .iter()
            .map(|r| r.attributes["amount_cents"].as_i64().unwrap())
            .collect();
        let mut times: Vec<NaiveDateTime> = refunds
            .iter()
            .flat_map(|r| {
                ["created_at", "updated_at"].map(|f| parse_time(r.attributes[f].as_str().unwrap()))
            })
            .collect();
        times.sort();
        times.dedup();
        Self {
            text,
            ints: ints.into_iter().collect(),
            times,
            metadata: refunds
                .iter()
                .map(|r| r.attributes["metadata"].clone())
                .collect(),
        }
    }

    /// A text value for `fields`: mostly from the data (whole, a piece, another case),
    /// sometimes absent from it.
    fn text(&self, rng: &mut StdRng, fields: &[&str]) -> String {
        const ABSENT: &[&str] = &[
            "zz-nothing",
            "ERP-999999",
            "eur ",
            "%_",
            "%",
            "_",
            "/T/",
            "-",
            "ref-",
            "é",
            "ü",
            "declined",
            "/t/00",
        ];
        let pool: Vec<&String> = fields
            .iter()
            .flat_map(|f| &self.text[f])
            .filter(|s| !s.is_empty())
            .collect();
        if pool.is_empty() || rng.random_bool(0.12) {
            return pick(rng, ABSENT).to_string();
        }
        let base: Vec<char> = pick(rng, &pool).chars().collect();
        let piece = |rng: &mut StdRng, from: usize, to: usize| -> String {
            let (a, b) = (rng.random_range(from..=to), rng.random_range(from..=to));
            let (a, b) = (a.min(b), a.max(b) + 1);
            base[a.min(base.len() - 1)..b.min(base.len())]
                .iter()
                .collect()
        };
        let n = base.len() - 1;
        let value: String = match rng.random_range(0..10) {
            0..=3 => base.iter().collect(),
            4 | 5 => piece(rng, 0, n),
            6 => base[..rng.random_range(1..=base.len())].iter().collect(),
            7 => base[rng.random_range(0..base.len())..].iter().collect(),
            _ => {
                let s = if rng.random_bool(0.5) {
                    base.iter().collect()
                } else {
                    piece(rng, 0, n)
                };
                mixed_case(rng, &s)
            }
        };
        if value.is_empty() {
            "zz".into()
        } else {
            value
        }
    }

    /// A LIKE pattern built from a value in the data.
    fn pattern(&self, rng: &mut StdRng, fields: &[&str]) -> String {
        let value = self.text(rng, fields);
        let mut p = String::new();
        if rng.random_bool(0.5) {
            p.push('%');
        }
        for c in value.chars() {
            match rng.random_range(0..20) {
                0..=1 => p.push('_'),
                2 => p.push('%'),
                _ => p.push(c),
            }
        }
        if rng.random_bool(0.5) {
            p.push('%');
        }
        if rng.random_bool(0.3) {
            p = mixed_case(rng, &p);
        }
        p
    }

    fn int(&self, rng: &mut StdRng) -> i64 {
        let v = *pick(rng, &self.ints);
        match rng.random_range(0..12) {
            0..=5 => v,
            6 => v - 1,
            7 => v + 1,
            8 => self.ints[0] - 1,
            9 => self.ints[self.ints.len() - 1] + 1,
            10 => 0,
            _ => *pick(
                rng,
                &[
                    -1,
                    1_000_000_000_000,
                    self.ints[0],
                    self.ints[self.ints.len() - 1],
                ],
            ),
        }
    }

    fn time(&self, rng: &mut StdRng) -> NaiveDateTime {
        let t = *pick(rng, &self.times);
        match rng.random_range(0..12) {
            0..=4 => t,
            5 => t - Duration::milliseconds(1),
            6 => t + Duration::milliseconds(1),
            7 => t - Duration::microseconds(1),
            8 => t + Duration::microseconds(1),
            9 => t.date().and_hms_opt(0, 0, 0).unwrap(),
            10 => self.times[0] - Duration::seconds(1),
            _ => self.times[self.times.len() - 1] + Duration::milliseconds(1),
        }
    }

    fn json(&self, rng: &mut StdRng) -> Value {
        match rng.random_range(0..10) {
            0 | 1 => pick(rng, &self.metadata).clone(),
            2 | 3 => {
                // One key of a real document.
                let doc = pick(rng, &self.metadata);
                match doc.as_object().and_then(|o| {
                    let keys: Vec<_> = o.keys().collect();
                    (!keys.is_empty()).then(|| keys[rng.random_range(0..keys.len())].clone())
                }) {
                    Some(k) => json!({ k.clone(): doc[&k].clone() }),
                    None => json!({}),
                }
            }
            _ => pick(
                rng,
                &[
                    json!({"channel": "web"}),
                    json!({"channel": "WEB"}),
                    json!({"priority": true}),
                    json!({"priority": false}),
                    json!({"tags": ["gift"]}),
                    json!({"tags": ["vip", "gift"]}),
                    json!({"tags": []}),
                    json!({"tags": "gift"}),
                    json!({}),
                    json!({"channel": "store", "priority": false}),
                    json!({"missing": null}),
                    json!({"nested": {"a": [2]}}),
                    json!({"nested": {"b": null}}),
                    json!({"n": 2.0}),
                    json!({"n": "2"}),
                    json!(["gift"]),
                    json!("web"),
                ],
            )
            .clone(),
        }
    }
}

fn mixed_case(rng: &mut StdRng, s: &str) -> String {
    s.chars()
        .map(|c| {
            if rng.random_bool(0.5) {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

fn format_time(rng: &mut StdRng, t: NaiveDateTime) -> String {
    let midnight = t.num_seconds_from_midnight() == 0 && t.nanosecond() == 0;
    if midnight && rng.random_bool(0.5) {
        return t.format("%Y-%m-%d").to_string();
    }
    match rng.random_range(0..6) {
        0 | 1 => t.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string(),
        2 => t.format("%Y-%m-%dT%H:%M:%S%.f+00:00").to_string(),
        3 => {
            let offset = *pick(rng, &[2 * 3600, -(5 * 3600 + 1800), 9 * 3600]);
            let tz = FixedOffset::east_opt(offset).unwrap();
            t.and_utc()
                .with_timezone(&tz)
                .format("%Y-%m-%dT%H:%M:%S%.f%:z")
                .to_string()
        }
        4 => t.format("%Y-%m-%dT%H:%M:%S%.f").to_string(),
        _ => t.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
    }
}

/// A value of the field's kind, with its text as sent.
fn gen_value(rng: &mut StdRng, pools: &Pools, fields: &[&str], pred: &str) -> (V, String) {
    match kind(fields[0]) {
        Kind::Int => {
            let v = pools.int(rng);
            (V::Int(v), v.to_string())
        }
        Kind::Bool => {
            let b = rng.random_bool(0.5);
            let raw = if rng.random_bool(0.5) {
                b.to_string()
            } else {
                u8::from(b).to_string()
            };
            (V::Bool(b), raw)
        }
        Kind::Time => {
            let t = pools.time(rng);
            (V::Time(t), format_time(rng, t))
        }
        Kind::Text => {
            let base = pred.trim_end_matches("_any").trim_end_matches("_all");
            let mut s = if matches!(base, "matches" | "does_not_match") {
                pools.pattern(rng, fields)
            } else {
                pools.text(rng, fields)
            };
            if is_list(pred) {
                s = s.replace(',', "");
                if s.is_empty() {
                    s = "zz".into();
                }
            }
            (V::Text(s.clone()), s)
        }
        Kind::Json => unreachable!(),
    }
}

/// A whole parameter on `fields` (all of one kind) with a predicate that applies to them.
fn gen_param_on(
    rng: &mut StdRng,
    pools: &Pools,
    fields: Vec<&'static str>,
    preds: &[&'static str],
) -> Param {
    let pred = *pick(rng, preds);
    if kind(fields[0]) == Kind::Json {
        let candidate = pools.json(rng);
        let raw = if rng.random_bool(0.3) {
            serde_json::to_string_pretty(&candidate).unwrap()
        } else {
            candidate.to_string()
        };
        return Param {
            fields,
            pred: "jcont",
            raw,
            operand: Operand::Json(candidate),
        };
    }
    if FLAG_PREDS.contains(&pred) {
        let b = rng.random_bool(0.6);
        let raw = pick(rng, if b { &["true", "1"] } else { &["false", "0"] }).to_string();
        return Param {
            fields,
            pred,
            raw,
            operand: Operand::Flag(b),
        };
    }
    let n = if is_list(pred) {
        rng.random_range(1..=4)
    } else {
        1
    };
    let (values, raws): (Vec<V>, Vec<String>) =
        (0..n).map(|_| gen_value(rng, pools, &fields, pred)).unzip();
    Param {
        fields,
        pred,
        raw: raws.join(","),
        operand: Operand::Values(values),
    }
}

/// A parameter on a random filterable attribute (or an `_or_` group of text attributes).
fn gen_param(rng: &mut StdRng, pools: &Pools) -> Param {
    match rng.random_range(0..20) {
        0..=7 => {
            let f = if rng.random_bool(0.85) {
                *pick(rng, MAIN_TEXT_FIELDS)
            } else {
                *pick(rng, TEXT_FIELDS)
            };
            gen_param_on(rng, pools, vec![f], TEXT_PREDS)
        }
        8..=9 => {
            let n = if rng.random_bool(0.8) { 2 } else { 3 };
            let mut fields: Vec<&'static str> = Vec::new();
            while fields.len() < n {
                let f = *pick(rng, MAIN_TEXT_FIELDS);
                if !fields.contains(&f) {
                    fields.push(f);
                }
            }
            gen_param_on(rng, pools, fields, TEXT_PREDS)
        }
        10..=12 => gen_param_on(rng, pools, vec!["amount_cents"], ORDERED_PREDS),
        13..=15 => {
            let f = *pick(rng, &["created_at", "updated_at"]);
            gen_param_on(rng, pools, vec![f], ORDERED_PREDS)
        }
        16..=17 => gen_param_on(rng, pools, vec!["succeeded"], BOOL_PREDS),
        _ => gen_param_on(rng, pools, vec!["metadata"], &["jcont"]),
    }
}

/// A parameter on a field reached through a relationship.
fn gen_rel_param(rng: &mut StdRng, pools: &Pools) -> Param {
    match rng.random_range(0..4) {
        0 => gen_param_on(
            rng,
            pools,
            vec!["order_number"],
            &[
                "eq", "eq", "not_eq", "in", "not_in", "start", "cont", "end", "eq_any", "lt",
                "gteq", "matches",
            ],
        ),
        1 => gen_param_on(
            rng,
            pools,
            vec!["reference_capture_id"],
            &[
                "eq",
                "eq",
                "in",
                "not_eq",
                "not_in",
                "null",
                "not_null",
                "eq_or_null",
            ],
        ),
        2 => gen_param_on(
            rng,
            pools,
            vec!["capture_id"],
            &["eq", "eq", "in", "eq_any", "not_eq"],
        ),
        _ => gen_param_on(
            rng,
            pools,
            vec!["authorization_id"],
            &["eq", "in", "not_eq", "not_in_or_null"],
        ),
    }
}

/// Percent-encodes all but unreserved characters (and, in `loose` mode, `,` `:` `/`).
fn encode(s: &str, loose: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (loose && matches!(b, b',' | b':' | b'/'));
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The request for `params` (plus other pairs), brackets and commas encoded or not at random.
fn uri(rng: &mut StdRng, params: &[Param], extra: &[(&str, String)]) -> String {
    let mut pairs: Vec<String> = params
        .iter()
        .map(|p| {
            let key = if rng.random_bool(0.5) {
                format!("filter[q][{}]", p.name())
            } else {
                format!("filter%5Bq%5D%5B{}%5D", p.name())
            };
            format!("{key}={}", encode(&p.raw, rng.random_bool(0.5)))
        })
        .collect();
    for (k, v) in extra {
        pairs.push(format!("{k}={}", encode(v, rng.random_bool(0.5))));
    }
    let size = *pick(rng, &[7u32, 13, 25, 25, 25]);
    pairs.push(if rng.random_bool(0.5) {
        format!("page[size]={size}")
    } else {
        format!("page%5Bsize%5D={size}")
    });
    format!("/api/refunds?{}", pairs.join("&"))
}

// ---------------------------------------------------------------------------------------------
// Running cases
// ---------------------------------------------------------------------------------------------

fn describe(refunds: &[Refund], ids: &BTreeSet<String>, params: &[Param]) -> String {
    ids.iter()
        .take(4)
        .map(|id| {
            let r = refunds.iter().find(|r| &r.id == id);
            let fields: Vec<String> = params
                .iter()
                .flat_map(|p| p.fields.iter())
                .map(|f| format!("{f}={:?}", r.map(|r| r.values(f))))
                .collect();
            format!("{id} {{{}}}", fields.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Runs one filter case; a mismatch is returned as a report line.
async fn check_filter(
    app: &TestApp,
    tok: &str,
    refunds: &[Refund],
    params: &[Param],
    uri: &str,
) -> Option<String> {
    let expected: BTreeSet<String> = refunds
        .iter()
        .filter(|r| params.iter().all(|p| p.holds(r)))
        .map(|r| r.id.clone())
        .collect();
    let actual = match fetch(app, uri, tok).await {
        Ok((data, _)) => {
            let list = ids(&data);
            let set: BTreeSet<String> = list.iter().cloned().collect();
            if set.len() != list.len() {
                return Some(format!("{uri}\n    a refund appears twice: {list:?}"));
            }
            set
        }
        Err(e) => return Some(format!("{uri}\n    {e}")),
    };
    if actual == expected {
        return None;
    }
    let missing: BTreeSet<String> = expected.difference(&actual).cloned().collect();
    let extra: BTreeSet<String> = actual.difference(&expected).cloned().collect();
    Some(format!(
        "{uri}\n    decoded: {}\n    expected {} got {}; missing: {}\n    unexpected: {}",
        params
            .iter()
            .map(|p| format!("{}={}", p.name(), p.raw))
            .collect::<Vec<_>>()
            .join(" & "),
        expected.len(),
        actual.len(),
        describe(refunds, &missing, params),
        describe(refunds, &extra, params),
    ))
}

fn report(what: &str, cases: usize, failures: &[String], started: Instant) {
    println!("{what}: {cases} cases in {:?}", started.elapsed());
    assert!(
        failures.is_empty(),
        "{} of {cases} {what} cases disagree with the contract:\n{}",
        failures.len(),
        failures
            .iter()
            .take(25)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Fixed text cases on the data [`add_edge_cases`] writes.
const FIXED: &[(&str, &str, &str)] = &[
    // Case-insensitive LIKE forms still match a value with itself, whatever its letters.
    ("reference", "start", "ÉCLAIR-Größe"),
    ("reference", "cont", "éclair"),
    ("reference", "eq", "ÉCLAIR-Größe"),
    // `%` and `_` are literal in cont/start/end, wildcards in matches.
    ("reference", "cont", "%_"),
    ("reference", "end", "_off"),
    ("reference", "matches", "mixed_case%"),
    ("reference", "matches", "50__off"),
    ("message", "cont", "100% sure"),
    // eq is exact and case-sensitive; a comma is part of an eq value but splits in.
    ("reference", "eq", "ERP-12"),
    ("reference", "eq", "x,y"),
    ("reference", "in", "x,y"),
    ("reference", "eq_any", "x,ERP-12"),
    // present/blank treat the empty string as blank; not_eq excludes null.
    ("reference", "present", "1"),
    ("reference", "blank", "true"),
    ("reference_origin", "present", "0"),
    ("message", "blank", "1"),
    ("reference_origin", "not_eq", "erp"),
    ("reference_origin", "not_in", "erp,pos"),
    ("reference_origin", "not_eq_or_null", "erp"),
    ("reference", "lt", "ERP-2"),
    ("reference", "gteq", "a"),
];

/// A text (or flag) parameter from its name parts and raw value.
fn text_param(field: &'static str, pred: &'static str, raw: &str) -> Param {
    let operand = if FLAG_PREDS.contains(&pred) {
        Operand::Flag(matches!(raw, "1" | "true"))
    } else if is_list(pred) {
        Operand::Values(raw.split(',').map(|v| V::Text(v.to_owned())).collect())
    } else {
        Operand::Values(vec![V::Text(raw.to_owned())])
    };
    Param {
        fields: vec![field],
        pred,
        raw: raw.to_owned(),
        operand,
    }
}

/// Property: for generated filters (one or two ANDed parameters), the service returns
/// exactly the refunds the contract's semantics select.
async fn filters_select_what_the_contract_says(app: TestApp) {
    let tok = token(SLUG);
    let refunds = load(&app, &tok).await;
    let pools = Pools::new(&refunds);
    let mut rng = StdRng::seed_from_u64(0xf117e5);
    let started = Instant::now();
    let mut failures = Vec::new();
    // Hand-picked cases on the edge data first: each names one rule of the contract.
    for (field, pred, raw) in FIXED {
        let p = text_param(field, pred, raw);
        let uri = format!(
            "/api/refunds?filter[q][{}]={}",
            p.name(),
            encode(raw, false)
        );
        failures.extend(check_filter(&app, &tok, &refunds, &[p], &uri).await);
    }
    let mut matched = 0usize;
    let mut selective = 0usize;
    const CASES: usize = 320;
    for _ in 0..CASES {
        let n = if rng.random_bool(0.3) { 2 } else { 1 };
        let mut params: Vec<Param> = Vec::new();
        while params.len() < n {
            let p = gen_param(&mut rng, &pools);
            // A parameter may appear once per request.
            if !params.iter().any(|q| q.name() == p.name()) {
                params.push(p);
            }
        }
        let uri = uri(&mut rng, &params, &[]);
        let hits = refunds
            .iter()
            .filter(|r| params.iter().all(|p| p.holds(r)))
            .count();
        matched += usize::from(hits > 0);
        selective += usize::from(hits > 0 && hits < refunds.len());
        failures.extend(check_filter(&app, &tok, &refunds, &params, &uri).await);
    }
    // The generator must not degenerate into filters that match nothing.
    assert!(
        matched > CASES / 3,
        "only {matched} of {CASES} filters match anything"
    );
    println!("{selective} of {CASES} generated filters select some but not all refunds");
    report("filter", CASES + FIXED.len(), &failures, started);
}

/// Property: filters through relationships (`order_number_*`, `reference_capture_id_*`,
/// `capture_id_*` over refund_captures, `authorization_id_*`), alone or with an attribute filter.
async fn relationship_filters_select_what_the_contract_says(app: TestApp) {
    let tok = token(SLUG);
    let refunds = load(&app, &tok).await;
    let pools = Pools::new(&refunds);
    let mut rng = StdRng::seed_from_u64(0x5e1a7);
    let started = Instant::now();
    let mut failures = Vec::new();
    const CASES: usize = 80;
    // Every order number and capture id picks out exactly its refunds.
    for number in pools.text["order_number"].iter().take(10) {
        let p = Param {
            fields: vec!["order_number"],
            pred: "eq",
            raw: number.clone(),
            operand: Operand::Values(vec![V::Text(number.clone())]),
        };
        let uri = format!(
            "/api/refunds?filter[q][order_number_eq]={}",
            encode(number, false)
        );
        failures.extend(check_filter(&app, &tok, &refunds, &[p], &uri).await);
    }
    for _ in 0..CASES {
        let mut params = vec![gen_rel_param(&mut rng, &pools)];
        if rng.random_bool(0.4) {
            params.push(gen_param(&mut rng, &pools));
        }
        let uri = uri(&mut rng, &params, &[]);
        failures.extend(check_filter(&app, &tok, &refunds, &params, &uri).await);
    }
    report("relationship filter", CASES + 10, &failures, started);
}

/// Property: `sort` orders by the given keys (strings bytewise, NULLs last ascending and
/// first descending), then by `id`, across pages, with or without a filter.
async fn sort_orders_by_keys_then_id(app: TestApp) {
    let tok = token(SLUG);
    let refunds = load(&app, &tok).await;
    let pools = Pools::new(&refunds);
    let mut rng = StdRng::seed_from_u64(0x50e7);
    let started = Instant::now();
    let mut failures = Vec::new();
    const CASES: usize = 60;
    for case in 0..CASES {
        let n = rng.random_range(1..=3);
        let mut keys: Vec<(&str, bool)> = Vec::new();
        while keys.len() < n {
            let f = *pick(&mut rng, SORTABLE);
            if !keys.iter().any(|(k, _)| *k == f) {
                keys.push((f, rng.random_bool(0.5)));
            }
        }
        let sort = keys
            .iter()
            .map(|(k, desc)| format!("{}{k}", if *desc { "-" } else { "" }))
            .collect::<Vec<_>>()
            .join(",");
        let params: Vec<Param> = if case % 3 == 2 {
            vec![gen_param(&mut rng, &pools)]
        } else {
            vec![]
        };
        let uri = uri(&mut rng, &params, &[("sort", sort)]);
        let mut expected: Vec<&Refund> = refunds
            .iter()
            .filter(|r| params.iter().all(|p| p.holds(r)))
            .collect();
        expected.sort_by(|a, b| sort_cmp(&keys, a, b));
        let expected: Vec<String> = expected.iter().map(|r| r.id.clone()).collect();
        match fetch(&app, &uri, &tok).await {
            Ok((data, _)) => {
                let actual = ids(&data);
                if actual != expected {
                    let show = |list: &[String]| {
                        list.iter()
                            .map(|id| {
                                let r = refunds.iter().find(|r| &r.id == id).unwrap();
                                let vals: Vec<String> = keys
                                    .iter()
                                    .map(|(k, _)| format!("{:?}", r.attr(k)))
                                    .collect();
                                format!("{id}({})", vals.join(","))
                            })
                            .collect::<Vec<_>>()
                            .join(" ")
                    };
                    failures.push(format!(
                        "{uri}\n    expected: {}\n    actual:   {}",
                        show(&expected),
                        show(&actual)
                    ));
                }
            }
            Err(e) => failures.push(format!("{uri}\n    {e}")),
        }
    }
    report("sort", CASES, &failures, started);
}

crate::on_both_backends!(
    filters_select_what_the_contract_says,
    relationship_filters_select_what_the_contract_says,
    sort_orders_by_keys_then_id,
);

#[test]
fn evaluator_follows_the_contract() {
    assert!(like("50%_off", "50\\%\\_off"));
    assert!(like("abc", "a_c") && like("abc", "%") && !like("abc", "a_"));
    assert!(like("éclair", "_clair"));
    let doc = json!({"tags": ["gift", "vip"], "n": 2, "nested": {"a": [1, 2]}});
    assert!(jsonb_contains(&doc, &json!({"tags": ["vip"]}), true));
    assert!(jsonb_contains(&doc, &json!({"n": 2.0}), true));
    assert!(!jsonb_contains(&doc, &json!({"tags": "vip"}), true));
    assert!(jsonb_contains(&json!(["a"]), &json!("a"), true));
    assert!(!jsonb_contains(&doc, &json!("gift"), true));
    assert!(holds(
        "not_in",
        &V::Int(1),
        &Operand::Values(vec![V::Int(2)])
    ));
    assert!(!holds(
        "not_in",
        &V::Null,
        &Operand::Values(vec![V::Int(2)])
    ));
    assert!(holds(
        "not_in_or_null",
        &V::Null,
        &Operand::Values(vec![V::Int(2)])
    ));
    assert!(!holds(
        "not_eq",
        &V::Null,
        &Operand::Values(vec![V::Int(2)])
    ));
    assert!(holds("true", &V::Bool(false), &Operand::Flag(false)));
    assert!(!holds(
        "present",
        &V::Text(String::new()),
        &Operand::Flag(true)
    ));
    assert!(holds("blank", &V::Null, &Operand::Flag(true)));
}
