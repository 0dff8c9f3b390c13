//! Property test over the whole registry: for EVERY resource of `resources::all()`, every
//! declared filter with every predicate of the grammar, every sortable field both ways and
//! every filterable relationship path answer what the contract says, on both backends.
//!
//! The expectations come from the collection itself (read unfiltered and unsorted, with
//! hidden filter fields read from the database) and an evaluator of the contract's
//! semantics, so a missing or wrong SQL arm fails here whatever the resource.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::StatusCode;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use refunds::jsonapi::filter::predicate_names;
use refunds::jsonapi::query::sortable_fields;
use refunds::jsonapi::resource::{AttrDef, AttrKind, ResourceDef, ID};
use serde_json::{json, Value};

use crate::common::{refund_body, token, TestApp, PUBLIC_URL};
use crate::evaluate::{compare, jsonb_contains, order, V};

const SLUG: &str = "acme";

/// One record: its id, and the values of each filterable field (several for a field
/// reached through a to-many link, none when it has no link).
struct Item {
    id: String,
    doc: Value,
    fields: BTreeMap<&'static str, Vec<V>>,
}

fn parse_time(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3fZ")
        .unwrap_or_else(|e| panic!("bad timestamp {s}: {e}"))
}

fn typed(kind: AttrKind, v: &Value) -> V {
    match (kind, v) {
        (_, Value::Null) => V::Null,
        (AttrKind::Text, Value::String(s)) => V::Text(s.clone()),
        (AttrKind::Int, v) => V::Int(v.as_i64().expect("integer")),
        (AttrKind::Bool, v) => V::Bool(v.as_bool().expect("boolean")),
        (AttrKind::Time, v) => V::Time(parse_time(v.as_str().expect("time"))),
        (AttrKind::Json, v) => V::Json(v.clone()),
        (kind, v) => panic!("{v} is not a {kind:?}"),
    }
}

/// Every page of `uri`, or the first status other than 200 with its body.
async fn fetch(app: &TestApp, uri: &str) -> Result<Vec<Value>, (StatusCode, Value)> {
    let mut out = Vec::new();
    let mut next = Some(uri.to_owned());
    while let Some(uri) = next {
        let (status, body) = app.get(&uri, &token(SLUG)).await;
        if status != StatusCode::OK {
            return Err((status, body));
        }
        out.extend(body["data"].as_array().expect("data").iter().cloned());
        next = body["links"]["next"]
            .as_str()
            .map(|n| n.trim_start_matches(PUBLIC_URL).to_owned());
    }
    Ok(out)
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

#[derive(QueryableByName)]
struct Pair {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    v: Option<String>,
}

/// The values of a filter-only (unrendered) field, by record id, read from the database:
/// the column of that name, or the link table a field such as `refunds.capture_id` is
/// reached through.
fn hidden(app: &TestApp, def: &ResourceDef, attr: &AttrDef) -> BTreeMap<String, Vec<V>> {
    assert_eq!(attr.kind, AttrKind::Text, "{}.{}", def.type_name, attr.name);
    let (t, f) = (def.type_name, attr.name);
    let mut pooled = app.state.pool.get().expect("connection");
    let conn: &mut refunds::db::DbConnection = &mut pooled;
    let own = format!("SELECT id, {f} AS v FROM {t}");
    let rows = diesel::sql_query(own).load::<Pair>(conn).or_else(|_| {
        let link = match (t, f) {
            ("refunds", "capture_id") => {
                "SELECT refund_id AS id, capture_id AS v FROM refund_captures"
            }
            _ => panic!("no source for the hidden field {t}.{f}: teach this test where it lives"),
        };
        diesel::sql_query(link).load::<Pair>(conn)
    });
    let mut out: BTreeMap<String, Vec<V>> = BTreeMap::new();
    for p in rows.expect("hidden values") {
        out.entry(p.id)
            .or_default()
            .push(p.v.map_or(V::Null, V::Text));
    }
    out
}

/// The filterable fields of `def`: `id` and its filterable attributes.
fn filterable(def: &'static ResourceDef) -> Vec<&'static AttrDef> {
    std::iter::once(&ID)
        .chain(def.attributes.iter().filter(|a| a.filterable))
        .collect()
}

/// The whole collection of `def`, with the values of every filterable field.
async fn load(app: &TestApp, def: &'static ResourceDef) -> Vec<Item> {
    let docs = fetch(app, &format!("/api/{}?page[size]=25", def.type_name))
        .await
        .unwrap_or_else(|e| panic!("{}: {e:?}", def.type_name));
    assert!(
        docs.len() >= 3,
        "{} has {} records: the test needs data to tell filters apart",
        def.type_name,
        docs.len()
    );
    let mut items: Vec<Item> = docs
        .into_iter()
        .map(|doc| Item {
            id: doc["id"].as_str().expect("id").to_owned(),
            doc,
            fields: BTreeMap::new(),
        })
        .collect();
    for attr in filterable(def) {
        let stored = (!attr.rendered && attr.name != "id").then(|| hidden(app, def, attr));
        for item in &mut items {
            let values = match &stored {
                Some(by_id) => by_id.get(&item.id).cloned().unwrap_or_default(),
                None if attr.name == "id" => vec![V::Text(item.id.clone())],
                None => vec![typed(attr.kind, &item.doc["attributes"][attr.name])],
            };
            item.fields.insert(attr.name, values);
        }
    }
    items
}

// ---------------------------------------------------------------------------------------------
// The contract's semantics
// ---------------------------------------------------------------------------------------------

/// Whether predicate `pred` applies to a field of `kind` (otherwise: 400).
fn applies(kind: AttrKind, pred: &str) -> bool {
    let base = pred
        .strip_suffix("_any")
        .or_else(|| pred.strip_suffix("_all"))
        .unwrap_or(pred);
    let text_only = matches!(
        base,
        "matches"
            | "does_not_match"
            | "start"
            | "not_start"
            | "end"
            | "not_end"
            | "cont"
            | "not_cont"
            | "present"
            | "blank"
    );
    let ordering = matches!(base, "lt" | "lteq" | "gt" | "gteq");
    match kind {
        AttrKind::Json => pred == "jcont",
        _ if pred == "jcont" => false,
        _ if matches!(pred, "true" | "false") => kind == AttrKind::Bool,
        AttrKind::Text => true,
        AttrKind::Int | AttrKind::Time => !text_only,
        AttrKind::Bool => !text_only && !ordering,
        AttrKind::Derived => false,
    }
}

fn is_flag(pred: &str) -> bool {
    matches!(
        pred,
        "null" | "not_null" | "present" | "blank" | "true" | "false"
    )
}

fn is_list(pred: &str) -> bool {
    matches!(pred, "in" | "not_in" | "not_in_or_null")
        || pred.ends_with("_any")
        || pred.ends_with("_all")
}

/// What a parameter compares with.
enum Operand {
    Flag(bool),
    Values(Vec<V>),
    Json(Value),
}

/// Whether a record whose field holds `xs` (any of them, for a to-many link) is selected.
fn selects(pred: &str, xs: &[V], operand: &Operand) -> bool {
    let any = |f: &dyn Fn(&V) -> bool| xs.iter().any(f);
    match operand {
        Operand::Flag(b) => any(&|x| {
            let null = *x == V::Null;
            let present = !null && *x != V::Text(String::new());
            match (pred, *b) {
                ("null", true) | ("not_null", false) => null,
                ("null", false) | ("not_null", true) => !null,
                ("present", true) | ("blank", false) => present,
                ("present", false) | ("blank", true) => !present,
                ("true", true) => *x == V::Bool(true),
                ("true", false) => !null && *x != V::Bool(true),
                ("false", true) => *x == V::Bool(false),
                ("false", false) => !null && *x != V::Bool(false),
                _ => unreachable!("{pred}"),
            }
        }),
        Operand::Json(c) => any(&|x| matches!(x, V::Json(t) if jsonb_contains(t, c, true))),
        Operand::Values(vs) => {
            if let Some(base) = pred.strip_suffix("_any") {
                return vs.iter().any(|v| any(&|x| compare(base, x, v)));
            }
            if let Some(base) = pred.strip_suffix("_all") {
                return vs.iter().all(|v| any(&|x| compare(base, x, v)));
            }
            match pred {
                "in" => any(&|x| *x != V::Null && vs.contains(x)),
                "not_in" => any(&|x| *x != V::Null && !vs.contains(x)),
                "not_in_or_null" => any(&|x| *x == V::Null || !vs.contains(x)),
                _ => any(&|x| compare(pred, x, &vs[0])),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Operands drawn from the data
// ---------------------------------------------------------------------------------------------

fn format(v: &V) -> String {
    match v {
        V::Text(s) => s.clone(),
        V::Int(i) => i.to_string(),
        V::Bool(b) => b.to_string(),
        V::Time(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        V::Null | V::Json(_) => unreachable!(),
    }
}

/// Two values of the field (the median and the smallest), as the contract compares them.
fn samples(items: &[Item], field: &str, kind: AttrKind) -> (V, V) {
    let mut pool: Vec<V> = items
        .iter()
        .flat_map(|i| i.fields[field].iter().cloned())
        .filter(|v| match v {
            V::Null | V::Json(_) => false,
            V::Text(s) => !s.is_empty() && !s.contains(','),
            _ => true,
        })
        .collect();
    pool.sort_by(order);
    pool.dedup();
    match (kind, pool.len()) {
        (AttrKind::Bool, _) => (V::Bool(true), V::Bool(false)),
        (_, 0) => (V::Text("zz-absent".into()), V::Text("aa-absent".into())),
        (_, n) => (pool[n / 2].clone(), pool[0].clone()),
    }
}

/// The raw parameter value and operand of `pred` on a field with samples `v` and `w`.
fn operand(pred: &str, v: &V, w: &V, flag: bool, json: &Value) -> (String, Operand) {
    if is_flag(pred) {
        return (flag.to_string(), Operand::Flag(flag));
    }
    if pred == "jcont" {
        return (json.to_string(), Operand::Json(json.clone()));
    }
    let base = pred
        .strip_suffix("_any")
        .or_else(|| pred.strip_suffix("_all"))
        .unwrap_or(pred);
    let pattern = |x: &V| -> V {
        let V::Text(s) = x else { return x.clone() };
        let chars: Vec<char> = s.chars().collect();
        let n = chars.len();
        let piece = |a: usize, b: usize| chars[a.min(n)..b.min(n)].iter().collect::<String>();
        V::Text(match base {
            "cont" | "not_cont" if n >= 3 => piece(1, n - 1),
            "start" | "not_start" => piece(0, 2),
            "end" | "not_end" => piece(n.saturating_sub(2), n),
            "matches" | "does_not_match" => format!("{}%{}", piece(0, 1), piece(n - 1, n)),
            _ => s.clone(),
        })
    };
    let values = if is_list(pred) {
        vec![pattern(v), pattern(w)]
    } else {
        vec![pattern(v)]
    };
    let raw = values.iter().map(format).collect::<Vec<_>>().join(",");
    (raw, Operand::Values(values))
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A part of a JSON document of the collection, for `jcont`.
fn json_sample(items: &[Item], field: &str) -> Value {
    items
        .iter()
        .flat_map(|i| i.fields[field].iter())
        .find_map(|v| match v {
            V::Json(Value::Object(o)) => o.iter().next().map(|(k, x)| json!({ k: x })),
            _ => None,
        })
        .unwrap_or(json!({}))
}

// ---------------------------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------------------------

/// Every filter of `def`: each filterable field with each predicate of the grammar.
async fn check_filters(app: &TestApp, def: &'static ResourceDef, items: &[Item]) -> Vec<String> {
    let mut failures = Vec::new();
    for attr in filterable(def) {
        let (v, w) = samples(items, attr.name, attr.kind);
        let json = json_sample(items, attr.name);
        for pred in predicate_names() {
            let flags: &[bool] = if is_flag(pred) {
                &[true, false]
            } else {
                &[true]
            };
            for &flag in flags {
                let (raw, op) = operand(pred, &v, &w, flag, &json);
                let name = format!("{}_{pred}", attr.name);
                let uri = format!(
                    "/api/{}?page[size]=25&filter[q][{name}]={}",
                    def.type_name,
                    encode(&raw)
                );
                let got = fetch(app, &uri).await;
                if !applies(attr.kind, pred) {
                    match got {
                        Err((StatusCode::BAD_REQUEST, _)) => {}
                        other => failures.push(format!("{uri}: want 400, got {other:?}")),
                    }
                    continue;
                }
                let got = match got {
                    Ok(docs) => ids(&docs).into_iter().collect::<BTreeSet<_>>(),
                    Err(e) => {
                        failures.push(format!("{uri}: {e:?}"));
                        continue;
                    }
                };
                let want: BTreeSet<String> = items
                    .iter()
                    .filter(|i| selects(pred, &i.fields[attr.name], &op))
                    .map(|i| i.id.clone())
                    .collect();
                if got != want {
                    failures.push(format!(
                        "{uri}: missing {:?}, unexpected {:?}",
                        want.difference(&got).collect::<Vec<_>>(),
                        got.difference(&want).collect::<Vec<_>>()
                    ));
                }
            }
        }
    }
    failures
}

/// Every sortable field of `def`, ascending and descending: NULLs last ascending and first
/// descending, text bytewise, then `id` ascending.
async fn check_sorts(app: &TestApp, def: &'static ResourceDef, items: &[Item]) -> Vec<String> {
    let mut failures = Vec::new();
    for attr in sortable_fields(def) {
        for desc in [false, true] {
            let key = |i: &Item| -> V {
                if attr.name == "id" {
                    V::Text(i.id.clone())
                } else {
                    typed(attr.kind, &i.doc["attributes"][attr.name])
                }
            };
            let mut want: Vec<&Item> = items.iter().collect();
            want.sort_by(|a, b| {
                let (x, y) = (key(a), key(b));
                let o = match (x == V::Null, y == V::Null) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    (false, false) => order(&x, &y),
                };
                let o = if desc { o.reverse() } else { o };
                o.then_with(|| a.id.as_bytes().cmp(b.id.as_bytes()))
            });
            let want: Vec<String> = want.iter().map(|i| i.id.clone()).collect();
            let sign = if desc { "-" } else { "" };
            let uri = format!(
                "/api/{}?page[size]=7&sort={sign}{}",
                def.type_name, attr.name
            );
            match fetch(app, &uri).await {
                Ok(docs) if ids(&docs) == want => {}
                Ok(docs) => failures.push(format!("{uri}: {:?}, want {want:?}", ids(&docs))),
                Err(e) => failures.push(format!("{uri}: {e:?}")),
            }
        }
    }
    failures
}

/// Every relationship path: `<rel>_id_eq` selects the records linked to that id (the
/// linkage read through `include`). Polymorphic relationships are skipped (not filterable:
/// `<rel>_id` names their filter-only attribute); a computed resource (one without
/// filterable attributes) takes only `id` filters, so its paths must answer 400.
async fn check_paths(app: &TestApp, def: &'static ResourceDef) -> Vec<String> {
    let mut failures = Vec::new();
    let computed = def.attributes.iter().all(|a| !a.filterable);
    for rel in def.relationships {
        let probe = format!("/api/{}?filter[q][{}_id_eq]=x", def.type_name, rel.name);
        if rel.is_poly() {
            // `<rel>_id` would name the filter-only attribute (`resource_id`) instead.
            continue;
        }
        if computed {
            if let Ok(d) = fetch(app, &probe).await {
                failures.push(format!(
                    "{probe}: filterable polymorphic path ({})",
                    d.len()
                ));
            }
            continue;
        }
        let uri = format!("/api/{}?page[size]=25&include={}", def.type_name, rel.name);
        let docs = match fetch(app, &uri).await {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{uri}: {e:?}"));
                continue;
            }
        };
        let linked: Vec<(String, BTreeSet<String>)> = docs
            .iter()
            .map(|d| {
                let data = &d["relationships"][rel.name]["data"];
                let targets = match data {
                    Value::Array(a) => ids(a).into_iter().collect(),
                    Value::Null => BTreeSet::new(),
                    one => [one["id"].as_str().expect("id").to_owned()].into(),
                };
                (d["id"].as_str().unwrap().to_owned(), targets)
            })
            .collect();
        let all: BTreeSet<&String> = linked.iter().flat_map(|(_, t)| t).collect();
        let picks: Vec<&String> = [all.first(), all.last(), all.iter().nth(all.len() / 2)]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        if picks.is_empty() {
            failures.push(format!(
                "{uri}: no linked {}, nothing to filter by",
                rel.name
            ));
        }
        for target in picks {
            let uri = format!(
                "/api/{}?page[size]=25&filter[q][{}_id_eq]={}",
                def.type_name,
                rel.name,
                encode(target)
            );
            let want: BTreeSet<String> = linked
                .iter()
                .filter(|(_, t)| t.contains(target))
                .map(|(id, _)| id.clone())
                .collect();
            match fetch(app, &uri).await {
                Ok(d) if ids(&d).into_iter().collect::<BTreeSet<_>>() == want => {}
                other => failures.push(format!("{uri}: {other:?}, want {want:?}")),
            }
        }
    }
    failures
}

/// Seeded orders plus writes (refunds, attachments with references and metadata), so
/// every resource has records, versions and events included.
async fn populate(app: &TestApp) {
    app.seed(SLUG, 6, 11);
    let tok = token(SLUG);
    let p = app.payments(SLUG, "R-100", "EUR", &[5000, 3000]);
    let q = app.payments(SLUG, "R-101", "USD", &[900]);
    let bodies = [
        refund_body(
            "reference_capture",
            "captures",
            &p.capture_ids[0],
            json!({"amount_cents": 1200, "currency_code": "EUR", "reference": "ERP-1", "metadata": {"k": "a"}}),
        ),
        refund_body(
            "order",
            "orders",
            &p.order_id,
            json!({"reference_origin": "pos"}),
        ),
        refund_body(
            "authorization",
            "authorizations",
            &q.authorization_id,
            json!({}),
        ),
    ];
    let mut refund_ids = Vec::new();
    for body in bodies {
        let (status, doc) = app.post("/api/refunds", &tok, &body).await;
        assert_eq!(status, StatusCode::CREATED, "{doc}");
        refund_ids.push(doc["data"]["id"].as_str().expect("id").to_owned());
    }
    let targets = [
        ("orders", &p.order_id, "Invoice", None),
        ("captures", &p.capture_ids[1], "receipt", Some("REF-2")),
        ("orders", &q.order_id, "label", Some("REF-1")),
        ("refunds", &refund_ids[0], "note", Some("REF-3")),
    ];
    for (t, id, name, reference) in targets {
        let body = json!({"data": {
            "type": "attachments",
            "attributes": {
                "name": name,
                "description": format!("{name} of {t}"),
                "url": format!("https://files.test/{name}"),
                "reference": reference,
                "metadata": {"kind": name},
            },
            "relationships": {"attachable": {"data": {"type": t, "id": id}}},
        }});
        let (status, doc) = app.post("/api/attachments", &tok, &body).await;
        assert_eq!(status, StatusCode::CREATED, "{doc}");
    }
    let hooks = [
        (
            Some("ERP"),
            "refunds.create",
            "https://erp.test/h",
            json!(["order"]),
            Some("WH-1"),
        ),
        (
            None,
            "captures.refund",
            "http://127.0.0.1:9/x",
            json!([]),
            None,
        ),
        (
            Some("mailer"),
            "orders.update",
            "https://mail.test/in",
            json!([]),
            Some("WH-0"),
        ),
    ];
    let mut hook_ids = Vec::new();
    for (name, topic, url, includes, reference) in hooks {
        let body = json!({"data": {"type": "webhooks", "attributes": {
            "name": name, "topic": topic, "callback_url": url,
            "include_resources": includes, "reference": reference, "metadata": {"t": topic},
        }}});
        let (status, doc) = app.post("/api/webhooks", &tok, &body).await;
        assert_eq!(status, StatusCode::CREATED, "{doc}");
        hook_ids.push(doc["data"]["id"].as_str().expect("id").to_owned());
    }
    let disable = json!({"data": {"type": "webhooks", "id": hook_ids[1],
        "attributes": {"_disable": true}}});
    let (status, doc) = app
        .patch(&format!("/api/webhooks/{}", hook_ids[1]), &tok, &disable)
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    // Callbacks as the dispatcher records them: a failure, a time-out, a success.
    use refunds::db::schema::event_callbacks as ec;
    let mut pooled = app.state.pool.get().expect("connection");
    let conn: &mut refunds::db::DbConnection = &mut pooled;
    let t0 = chrono::NaiveDate::from_ymd_opt(2026, 4, 1)
        .unwrap()
        .and_hms_opt(8, 0, 0)
        .unwrap();
    let callbacks = [
        (0, Some(500i64), Some("Internal Server Error"), 1i64),
        (0, None, Some("timed out"), 2),
        (2, Some(200), Some("ok"), 1),
    ];
    for (n, (hook, code, message, attempt)) in callbacks.into_iter().enumerate() {
        diesel::insert_into(ec::table)
            .values((
                ec::id.eq(refunds::ids::new_id()),
                ec::organization_id.eq(refunds::ids::organization_id(SLUG)),
                ec::mode.eq("test"),
                ec::webhook_id.eq(&hook_ids[hook]),
                ec::callback_url.eq(format!("https://hook.test/{n}")),
                ec::payload.eq(json!({"meta": {"attempt": attempt}}).to_string()),
                ec::response_code.eq(code),
                ec::response_message.eq(message),
                ec::attempt.eq(attempt),
                ec::created_at.eq(t0 + chrono::Duration::minutes(n as i64)),
            ))
            .execute(conn)
            .expect("callback");
    }
}

/// Property: every resource's every declared filter, sort and relationship path.
async fn every_declared_filter_and_sort_works(app: TestApp) {
    populate(&app).await;
    let mut failures = Vec::new();
    let mut cases = 0;
    for resource in refunds::resources::all() {
        let def = resource.def();
        let items = load(&app, def).await;
        for part in [
            check_filters(&app, def, &items).await,
            check_sorts(&app, def, &items).await,
            check_paths(&app, def).await,
        ] {
            failures.extend(part);
        }
        cases += filterable(def).len() + sortable_fields(def).count() + def.relationships.len();
    }
    assert!(
        failures.is_empty(),
        "{} of the registry's filters, sorts and paths ({cases} fields) fail on {:?}:\n{}",
        failures.len(),
        app.backend,
        failures.join("\n")
    );
}

crate::on_both_backends!(every_declared_filter_and_sort_works);

#[test]
fn evaluator_follows_the_contract() {
    let t = |s: &str| V::Text(s.into());
    assert!(selects("eq", &[t("a")], &Operand::Values(vec![t("a")])));
    assert!(!selects("eq", &[V::Null], &Operand::Values(vec![t("a")])));
    assert!(selects("null", &[V::Null], &Operand::Flag(true)));
    assert!(!selects("null", &[t("a")], &Operand::Flag(true)));
    assert!(selects("null", &[t("a")], &Operand::Flag(false)));
    assert!(selects("not_null", &[V::Null], &Operand::Flag(false)));
    assert!(!selects("not_null", &[V::Null], &Operand::Flag(true)));
    assert!(selects("blank", &[t("")], &Operand::Flag(true)));
    assert!(!selects("false", &[V::Null], &Operand::Flag(false)));
    assert!(selects("false", &[V::Bool(true)], &Operand::Flag(false)));
    assert!(!selects("cont", &[], &Operand::Values(vec![t("a")])));
    let two = [t("x"), t("y")];
    assert!(selects(
        "eq_all",
        &two,
        &Operand::Values(vec![t("x"), t("y")])
    ));
    assert!(selects(
        "matches",
        &[t("Ab_c")],
        &Operand::Values(vec![t("a%C")])
    ));
    assert!(order(&t("B"), &t("a")).is_lt());
    assert!(applies(AttrKind::Bool, "true") && !applies(AttrKind::Bool, "lt"));
    assert!(!applies(AttrKind::Json, "null") && applies(AttrKind::Int, "gt_any"));
}
