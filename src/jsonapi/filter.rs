//! The Ransack-style filter grammar: `filter[q][<field>(_or_<field>)*_<predicate>]=<value>`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::resource::{AttrDef, AttrKind, RelDef, ResourceDef, ID};
use super::Lookup;
use crate::error::{ApiError, ApiResult, Code};

/// A comparison applied to one value (the `_any`/`_all` forms are expanded by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    NotEq,
    EqOrNull,
    NotEqOrNull,
    Lt,
    Lteq,
    Gt,
    Gteq,
    In,
    NotIn,
    NotInOrNull,
    Matches,
    DoesNotMatch,
    Start,
    NotStart,
    End,
    NotEnd,
    Cont,
    NotCont,
    Null,
    NotNull,
    Present,
    Blank,
    Jcont,
}

/// How the values of one parameter combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// One value (or one list, for `in`-like predicates).
    One,
    /// `_any`: any of the comma-separated values.
    Any,
    /// `_all`: all of them.
    All,
}

/// Predicate names, longest first so that a suffix match picks the most specific.
const PREDICATES: &[(&str, Pred)] = &[
    ("not_in_or_null", Pred::Op(Op::NotInOrNull)),
    ("not_eq_or_null", Pred::Op(Op::NotEqOrNull)),
    ("does_not_match", Pred::Op(Op::DoesNotMatch)),
    ("matches_any", Pred::List(Op::Matches, Combine::Any)),
    ("matches_all", Pred::List(Op::Matches, Combine::All)),
    ("eq_or_null", Pred::Op(Op::EqOrNull)),
    ("start_any", Pred::List(Op::Start, Combine::Any)),
    ("start_all", Pred::List(Op::Start, Combine::All)),
    ("lteq_any", Pred::List(Op::Lteq, Combine::Any)),
    ("lteq_all", Pred::List(Op::Lteq, Combine::All)),
    ("gteq_any", Pred::List(Op::Gteq, Combine::Any)),
    ("gteq_all", Pred::List(Op::Gteq, Combine::All)),
    ("cont_any", Pred::List(Op::Cont, Combine::Any)),
    ("cont_all", Pred::List(Op::Cont, Combine::All)),
    ("not_start", Pred::Op(Op::NotStart)),
    ("not_cont", Pred::Op(Op::NotCont)),
    ("not_null", Pred::Op(Op::NotNull)),
    ("end_any", Pred::List(Op::End, Combine::Any)),
    ("end_all", Pred::List(Op::End, Combine::All)),
    ("matches", Pred::Op(Op::Matches)),
    ("present", Pred::Op(Op::Present)),
    ("not_end", Pred::Op(Op::NotEnd)),
    ("not_eq", Pred::Op(Op::NotEq)),
    ("not_in", Pred::Op(Op::NotIn)),
    ("eq_any", Pred::List(Op::Eq, Combine::Any)),
    ("eq_all", Pred::List(Op::Eq, Combine::All)),
    ("lt_any", Pred::List(Op::Lt, Combine::Any)),
    ("lt_all", Pred::List(Op::Lt, Combine::All)),
    ("gt_any", Pred::List(Op::Gt, Combine::Any)),
    ("gt_all", Pred::List(Op::Gt, Combine::All)),
    ("jcont", Pred::Op(Op::Jcont)),
    ("start", Pred::Op(Op::Start)),
    ("blank", Pred::Op(Op::Blank)),
    ("false", Pred::Flag(false)),
    ("true", Pred::Flag(true)),
    ("null", Pred::Op(Op::Null)),
    ("lteq", Pred::Op(Op::Lteq)),
    ("gteq", Pred::Op(Op::Gteq)),
    ("cont", Pred::Op(Op::Cont)),
    ("end", Pred::Op(Op::End)),
    ("eq", Pred::Op(Op::Eq)),
    ("lt", Pred::Op(Op::Lt)),
    ("gt", Pred::Op(Op::Gt)),
    ("in", Pred::Op(Op::In)),
];

/// Every predicate name of the grammar (`eq`, `cont_any`, ...), for tests and documentation.
pub fn predicate_names() -> impl Iterator<Item = &'static str> {
    PREDICATES.iter().map(|(name, _)| *name)
}

#[derive(Debug, Clone, Copy)]
enum Pred {
    Op(Op),
    List(Op, Combine),
    /// `_true` / `_false` on booleans.
    Flag(bool),
}

/// Values typed by the attribute they are compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Text(Vec<String>),
    Int(Vec<i64>),
    Bool(Vec<bool>),
    Time(Vec<NaiveDateTime>),
    /// Canonical JSON text, for `jcont`.
    Json(String),
    /// Predicates that take no operand (`null`, `present`, ...).
    None,
}

/// One field a condition applies to: a path of relationships, then an attribute.
#[derive(Debug, Clone)]
pub struct Target {
    pub path: Vec<&'static RelDef>,
    pub attr: &'static AttrDef,
    pub op: Op,
    pub combine: Combine,
    pub values: Values,
}

impl Target {
    /// The same target with the first relationship of its path removed.
    pub fn inner(&self) -> Target {
        Target {
            path: self.path[1..].to_vec(),
            ..self.clone()
        }
    }
}

/// One filter parameter: its fields are ORed.
#[derive(Debug, Clone)]
pub struct Condition {
    pub parameter: String,
    pub alternatives: Vec<Target>,
}

/// How deep relationship paths in filter names may go (`order_authorizations_number_eq`).
const MAX_DEPTH: usize = 2;

/// Parses `name` (what stands inside `filter[q][...]`) with its raw value.
pub fn parse(
    def: &'static ResourceDef,
    lookup: Lookup,
    name: &str,
    raw: &str,
    parameter: &str,
    max_values: usize,
) -> ApiResult<Condition> {
    let not_allowed = || {
        ApiError::param(
            Code::FilterNotAllowed,
            parameter,
            format!("Filter `{name}` is not allowed on {}", def.type_name),
        )
    };
    for (pname, pred) in PREDICATES {
        let Some(fields) = name
            .strip_suffix(pname)
            .and_then(|s| s.strip_suffix('_'))
            .filter(|s| !s.is_empty())
        else {
            continue;
        };
        let Some(resolved) = resolve_fields(def, lookup, fields) else {
            continue;
        };
        let alternatives = resolved
            .into_iter()
            .map(|(path, attr)| typed(path, attr, *pred, raw, parameter, name, max_values))
            .collect::<ApiResult<Vec<_>>>()?;
        return Ok(Condition {
            parameter: parameter.to_owned(),
            alternatives,
        });
    }
    Err(not_allowed())
}

/// Splits `a_or_b` into fields and resolves each; `None` if any is unknown.
fn resolve_fields(
    def: &'static ResourceDef,
    lookup: Lookup,
    fields: &str,
) -> Option<Vec<(Vec<&'static RelDef>, &'static AttrDef)>> {
    if let Some(one) = resolve(def, lookup, fields, 0) {
        return Some(vec![one]);
    }
    fields
        .split("_or_")
        .map(|f| resolve(def, lookup, f, 0))
        .collect::<Option<Vec<_>>>()
        .filter(|v| v.len() > 1)
}

fn resolve(
    def: &'static ResourceDef,
    lookup: Lookup,
    field: &str,
    depth: usize,
) -> Option<(Vec<&'static RelDef>, &'static AttrDef)> {
    if field == "id" {
        return Some((vec![], &ID));
    }
    if let Some(attr) = def.attr(field).filter(|a| a.filterable) {
        return Some((vec![], attr));
    }
    if depth >= MAX_DEPTH {
        return None;
    }
    def.relationships.iter().find_map(|rel| {
        let rest = field.strip_prefix(rel.name)?.strip_prefix('_')?;
        let (mut path, attr) = resolve(lookup(rel.target)?, lookup, rest, depth + 1)?;
        path.insert(0, rel);
        Some((path, attr))
    })
}

fn typed(
    path: Vec<&'static RelDef>,
    attr: &'static AttrDef,
    pred: Pred,
    raw: &str,
    parameter: &str,
    name: &str,
    max_values: usize,
) -> ApiResult<Target> {
    let invalid = |why: &str| {
        ApiError::param(
            Code::InvalidFilterValue,
            parameter,
            format!("Invalid value for filter `{name}`: {why}"),
        )
    };
    let not_allowed = || {
        ApiError::param(
            Code::FilterNotAllowed,
            parameter,
            format!(
                "Predicate of `{name}` does not apply to a {:?} field",
                attr.kind
            ),
        )
    };
    if raw.is_empty() {
        return Err(invalid("the value is empty"));
    }
    if raw.contains('\0') {
        return Err(invalid("NUL characters are not allowed"));
    }
    let (op, combine, values) = match pred {
        Pred::Flag(want) => {
            if attr.kind != AttrKind::Bool {
                return Err(not_allowed());
            }
            let flag = parse_bool(raw).ok_or_else(|| invalid("expected true, false, 1 or 0"))?;
            // Ransack: `_true=0` means "not true", nulls excluded.
            let op = if flag { Op::Eq } else { Op::NotEq };
            (op, Combine::One, Values::Bool(vec![want]))
        }
        Pred::Op(op @ (Op::Null | Op::NotNull | Op::Present | Op::Blank)) => {
            if matches!(op, Op::Present | Op::Blank) && attr.kind != AttrKind::Text {
                return Err(not_allowed());
            }
            let flag = parse_bool(raw).ok_or_else(|| invalid("expected true, false, 1 or 0"))?;
            let op = match (op, flag) {
                (op, true) => op,
                (Op::Null, false) => Op::NotNull,
                (Op::NotNull, false) => Op::Null,
                (Op::Present, false) => Op::Blank,
                (_, false) => Op::Present,
            };
            (op, Combine::One, Values::None)
        }
        Pred::Op(Op::Jcont) => {
            if attr.kind != AttrKind::Json {
                return Err(not_allowed());
            }
            let value: serde_json::Value =
                serde_json::from_str(raw).map_err(|_| invalid("expected a JSON value"))?;
            // Escaped NULs pass the raw check above; PostgreSQL's jsonb cannot hold them.
            if super::request::nul_pointer(&value).is_some() {
                return Err(invalid("NUL characters are not allowed"));
            }
            (Op::Jcont, Combine::One, Values::Json(value.to_string()))
        }
        Pred::Op(op) => {
            check_applies(attr.kind, op).ok_or_else(not_allowed)?;
            if matches!(op, Op::Matches | Op::DoesNotMatch) && !escapes_complete(raw) {
                return Err(invalid(
                    "a `\\` must be followed by the character it escapes",
                ));
            }
            let list = matches!(op, Op::In | Op::NotIn | Op::NotInOrNull);
            (
                op,
                Combine::One,
                values(attr.kind, raw, list, max_values).map_err(|e| invalid(&e))?,
            )
        }
        Pred::List(op, combine) => {
            check_applies(attr.kind, op).ok_or_else(not_allowed)?;
            if op == Op::Matches && raw.split(',').any(|v| !escapes_complete(v)) {
                return Err(invalid(
                    "a `\\` must be followed by the character it escapes",
                ));
            }
            (
                op,
                combine,
                values(attr.kind, raw, true, max_values).map_err(|e| invalid(&e))?,
            )
        }
    };
    Ok(Target {
        path,
        attr,
        op,
        combine,
        values,
    })
}

/// Whether `op` makes sense for a field of `kind`.
fn check_applies(kind: AttrKind, op: Op) -> Option<()> {
    let text_only = matches!(
        op,
        Op::Matches
            | Op::DoesNotMatch
            | Op::Start
            | Op::NotStart
            | Op::End
            | Op::NotEnd
            | Op::Cont
            | Op::NotCont
    );
    let ordering = matches!(op, Op::Lt | Op::Lteq | Op::Gt | Op::Gteq);
    match kind {
        AttrKind::Text => Some(()),
        AttrKind::Int | AttrKind::Time if !text_only => Some(()),
        AttrKind::Bool if !text_only && !ordering => Some(()),
        _ => None,
    }
}

fn parse_bool(raw: &str) -> Option<bool> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "t" => Some(true),
        "false" | "0" | "f" => Some(false),
        _ => None,
    }
}

/// Parses an ISO 8601 timestamp (with offset, naive UTC, or a bare date).
pub fn parse_time(raw: &str) -> Option<NaiveDateTime> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc).naive_utc());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(raw, fmt) {
            return Some(t);
        }
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

fn values(kind: AttrKind, raw: &str, list: bool, max: usize) -> Result<Values, String> {
    let parts: Vec<&str> = if list {
        // Each value is a condition of its own: thousands of them took seconds to plan.
        if raw.split(',').nth(max).is_some() {
            return Err(format!("more than {max} comma-separated values"));
        }
        raw.split(',').collect()
    } else {
        vec![raw]
    };
    if parts.iter().any(|p| p.is_empty()) {
        return Err("empty list element".into());
    }
    Ok(match kind {
        AttrKind::Text => Values::Text(parts.iter().map(|p| p.to_string()).collect()),
        AttrKind::Int => Values::Int(
            parts
                .iter()
                .map(|p| {
                    p.trim()
                        .parse::<i64>()
                        .map_err(|_| format!("`{p}` is not an integer"))
                })
                .collect::<Result<_, _>>()?,
        ),
        AttrKind::Bool => Values::Bool(
            parts
                .iter()
                .map(|p| parse_bool(p).ok_or_else(|| format!("`{p}` is not a boolean")))
                .collect::<Result<_, _>>()?,
        ),
        AttrKind::Time => Values::Time(
            parts
                .iter()
                .map(|p| parse_time(p).ok_or_else(|| format!("`{p}` is not an ISO 8601 time")))
                .collect::<Result<_, _>>()?,
        ),
        AttrKind::Json | AttrKind::Derived => return Err("not comparable".into()),
    })
}

/// Whether a `matches` pattern (LIKE syntax, `\` escaping) ends outside an escape:
/// PostgreSQL refuses a pattern whose last character is a lone escape.
fn escapes_complete(pattern: &str) -> bool {
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.next().is_none() {
            return false;
        }
    }
    true
}

/// Escapes `%`, `_` and `\` so user text matches literally inside LIKE.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The lower-cased LIKE pattern for a text predicate and value.
/// ASCII folding only, exactly like SQL `lower()` on both backends here.
pub fn like_pattern(op: Op, value: &str) -> String {
    let v = value.to_ascii_lowercase();
    match op {
        Op::Start | Op::NotStart => format!("{}%", like_escape(&v)),
        Op::End | Op::NotEnd => format!("%{}", like_escape(&v)),
        Op::Cont | Op::NotCont => format!("%{}%", like_escape(&v)),
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_are_ordered_longest_suffix_first() {
        for (i, (a, _)) in PREDICATES.iter().enumerate() {
            for (b, _) in &PREDICATES[i + 1..] {
                assert!(
                    !b.ends_with(&format!("_{a}")) && b != a,
                    "{b} hides behind {a}"
                );
            }
        }
    }

    #[test]
    fn escapes_like_wildcards() {
        assert_eq!(like_pattern(Op::Cont, "50%_A\\"), "%50\\%\\_a\\\\%");
        assert_eq!(like_pattern(Op::Start, "ab"), "ab%");
    }

    #[test]
    fn parses_times() {
        assert!(parse_time("2024-01-02T03:04:05.123Z").is_some());
        assert!(parse_time("2024-01-02T03:04:05+02:00").is_some());
        assert!(parse_time("2024-01-02").is_some());
        assert!(parse_time("yesterday").is_none());
    }
}
