//! What the filters mean, evaluated in memory: the contract the filter and registry tests
//! hold the SQL to.

use std::cmp::Ordering;

use chrono::NaiveDateTime;
use serde_json::Value;

/// A field's value as the contract compares it.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Null,
    Text(String),
    Int(i64),
    Bool(bool),
    Time(NaiveDateTime),
    Json(Value),
}

pub fn order(x: &V, y: &V) -> Ordering {
    match (x, y) {
        (V::Text(a), V::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
        (V::Int(a), V::Int(b)) => a.cmp(b),
        (V::Bool(a), V::Bool(b)) => a.cmp(b),
        (V::Time(a), V::Time(b)) => a.cmp(b),
        _ => panic!("cannot order {x:?} and {y:?}"),
    }
}

/// One predicate against one value; nulls never match.
pub fn compare(pred: &str, x: &V, v: &V) -> bool {
    let null = *x == V::Null;
    match pred {
        "eq" => !null && x == v,
        "not_eq" => !null && x != v,
        "eq_or_null" => null || x == v,
        "not_eq_or_null" => null || x != v,
        "lt" => !null && order(x, v) == Ordering::Less,
        "lteq" => !null && order(x, v) != Ordering::Greater,
        "gt" => !null && order(x, v) == Ordering::Greater,
        "gteq" => !null && order(x, v) != Ordering::Less,
        _ => {
            let (V::Text(s), V::Text(p)) = (x, v) else {
                return false;
            };
            // Case-insensitive for ASCII letters, on the value and the pattern alike.
            let (s, p) = (s.to_ascii_lowercase(), p.to_ascii_lowercase());
            match pred {
                "cont" => s.contains(&p),
                "not_cont" => !s.contains(&p),
                "start" => s.starts_with(&p),
                "not_start" => !s.starts_with(&p),
                "end" => s.ends_with(&p),
                "not_end" => !s.ends_with(&p),
                "matches" => like(&s, &p),
                "does_not_match" => !like(&s, &p),
                _ => panic!("unknown predicate {pred}"),
            }
        }
    }
}

/// SQL `LIKE`: `%` any run, `_` one character, `\` escapes.
pub fn like(s: &str, p: &str) -> bool {
    fn go(s: &[char], p: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('%') => (0..=s.len()).any(|i| go(&s[i..], &p[1..])),
            Some('_') => !s.is_empty() && go(&s[1..], &p[1..]),
            Some('\\') if p.len() > 1 => s.first() == Some(&p[1]) && go(&s[1..], &p[2..]),
            Some(c) => s.first() == Some(c) && go(&s[1..], &p[1..]),
        }
    }
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = p.chars().collect();
    go(&s, &p)
}

/// PostgreSQL's `jsonb @>`.
pub fn jsonb_contains(target: &Value, candidate: &Value, top: bool) -> bool {
    match (target, candidate) {
        (Value::Object(t), Value::Object(c)) => c
            .iter()
            .all(|(k, cv)| t.get(k).is_some_and(|tv| jsonb_contains(tv, cv, false))),
        (Value::Array(t), Value::Array(c)) => c
            .iter()
            .all(|cv| t.iter().any(|tv| jsonb_contains(tv, cv, false))),
        // The top-level exception: an array contains a scalar among its elements.
        (Value::Array(t), c) if top && !c.is_object() => t.iter().any(|tv| scalar_eq(tv, c)),
        (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => false,
        (t, c) => scalar_eq(t, c),
    }
}

fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}
