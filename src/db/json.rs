//! JSON containment (`metadata_jcont`) with PostgreSQL's `@>` semantics on both backends.

use diesel::sql_types::*;
use diesel::sqlite::SqliteConnection;
use diesel::QueryResult;
use serde_json::Value;

#[diesel::declare_sql_function]
extern "SQL" {
    /// SQLite's stand-in for jsonb `@>`: `json_contains(target, candidate)`.
    fn json_contains(target: Text, candidate: Text) -> Bool;
}

/// Registers `json_contains` on a SQLite connection.
pub fn register_sqlite(conn: &mut SqliteConnection) -> QueryResult<()> {
    json_contains_utils::register_impl(conn, |target: String, candidate: String| {
        match (
            serde_json::from_str::<Value>(&target),
            serde_json::from_str::<Value>(&candidate),
        ) {
            (Ok(t), Ok(c)) => contains_top(&t, &c),
            _ => false,
        }
    })
}

/// PostgreSQL's containment, including its one top-level exception: an array
/// contains a bare scalar that is one of its elements.
pub fn contains_top(target: &Value, candidate: &Value) -> bool {
    match (target, candidate) {
        (Value::Array(items), c) if !c.is_array() && !c.is_object() => {
            items.iter().any(|i| scalar_eq(i, c))
        }
        _ => contains(target, candidate),
    }
}

fn contains(target: &Value, candidate: &Value) -> bool {
    match (target, candidate) {
        (Value::Object(t), Value::Object(c)) => c
            .iter()
            .all(|(k, cv)| t.get(k).is_some_and(|tv| contains(tv, cv))),
        (Value::Array(t), Value::Array(c)) => {
            c.iter().all(|cv| t.iter().any(|tv| contains(tv, cv)))
        }
        (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => false,
        (t, c) => scalar_eq(t, c),
    }
}

fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::contains_top;
    use serde_json::json;

    #[test]
    fn follows_jsonb_containment() {
        let doc = json!({"a": 1, "tags": ["x", "y"], "n": {"b": true, "c": [1, 2]}});
        assert!(contains_top(&doc, &json!({})));
        assert!(contains_top(&doc, &json!({"a": 1})));
        assert!(contains_top(&doc, &json!({"a": 1.0})));
        assert!(contains_top(&doc, &json!({"tags": ["y"]})));
        assert!(contains_top(&doc, &json!({"n": {"c": [2]}})));
        assert!(!contains_top(&doc, &json!({"a": "1"})));
        assert!(!contains_top(&doc, &json!({"tags": "x"})));
        assert!(!contains_top(&doc, &json!({"missing": null})));
        assert!(contains_top(&json!(["a", "b"]), &json!("a")));
        assert!(!contains_top(
            &json!({"a": ["x"]}),
            &json!({"a": ["x", "z"]})
        ));
    }
}
