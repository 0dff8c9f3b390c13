//! Flow's models (`refund`, `refund_order_summary`, `refund_version`) built from the
//! engine's records, and amounts in major units as exact JSON numbers.

use std::collections::{BTreeMap, HashMap};

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::auth::Scope;
use crate::db::DbConnection;
use crate::engine::Resource;
use crate::error::{ApiError, ApiResult};
use crate::jsonapi::document::Record;
use crate::resources::resource;

/// An amount in major units, written as a JSON number with the currency's number of minor
/// digits (`25.00`, `1500`), from integers only: never through binary floating point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amount(String);

impl Amount {
    pub fn new(cents: i64, currency: &str) -> Self {
        Self(major(cents, currency))
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RawValue::from_string(self.0.clone())
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}

/// The number of minor digits of a currency (2 for a code this service does not know).
pub fn exponent(currency: &str) -> u32 {
    crate::money::currency(currency).map_or(2, |c| c.exponent)
}

/// `cents` in major units with the currency's minor digits: `2500` EUR is `25.00`.
pub fn major(cents: i64, currency: &str) -> String {
    let exp = exponent(currency) as usize;
    let sign = if cents < 0 { "-" } else { "" };
    let digits = cents.unsigned_abs().to_string();
    if exp == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = exp + 1);
    let (int, frac) = padded.split_at(padded.len() - exp);
    format!("{sign}{int}.{frac}")
}

/// A decimal amount in major units (`25`, `25.5`, `-1`, `2.5e1`) in minor units of a
/// currency with `exp` minor digits, exactly; an error names what is wrong.
pub fn minor(text: &str, exp: u32) -> Result<i64, String> {
    let bad = || format!("`{text}` is not a decimal number");
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, power) = match rest.find(['e', 'E']) {
        Some(at) => {
            let p: i32 = rest[at + 1..].parse().map_err(|_| bad())?;
            (&rest[..at], p)
        }
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        || !(-64..=64).contains(&power)
    {
        return Err(bad());
    }
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    // value = digits × 10^(power - frac.len()); in minor units, × 10^exp more.
    let shift = power + exp as i32 - frac.len() as i32;
    let (kept, dropped) = if shift >= 0 {
        (digits.to_owned() + &"0".repeat(shift as usize), "")
    } else {
        let cut = digits.len().saturating_sub(shift.unsigned_abs() as usize);
        (digits[..cut].to_owned(), &digits[cut..])
    };
    if dropped.bytes().any(|b| b != b'0') {
        return Err(format!(
            "`{text}` has more decimals than the currency's {exp}"
        ));
    }
    let too_large = || format!("`{text}` is too large");
    if kept.len() > 19 {
        return Err(too_large());
    }
    let value: i64 = if kept.is_empty() {
        0
    } else {
        kept.parse().map_err(|_| too_large())?
    };
    Ok(if negative { -value } else { value })
}

#[derive(Debug, Serialize)]
pub struct OrderReference {
    pub discriminator: &'static str,
    pub number: String,
}

#[derive(Debug, Serialize)]
pub struct AuthorizationReference {
    pub id: String,
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderReference>,
}

#[derive(Debug, Serialize)]
pub struct Capture {
    pub id: String,
    pub key: String,
    pub authorization: AuthorizationReference,
    pub amount: Amount,
    pub currency: String,
    pub created_at: Value,
    pub status: &'static str,
}

#[derive(Debug, Serialize)]
pub struct RefundCapture {
    pub capture: Capture,
    pub amount: Amount,
}

#[derive(Debug, Serialize)]
pub struct Money {
    pub amount: Amount,
    pub currency: String,
}

/// Flow's `refund`.
#[derive(Debug, Serialize)]
pub struct Refund {
    pub id: String,
    pub key: String,
    pub authorization: Option<AuthorizationReference>,
    pub amount: Amount,
    pub currency: String,
    pub requested: Money,
    pub captures: Vec<RefundCapture>,
    pub created_at: Value,
    pub attributes: BTreeMap<String, String>,
    pub status: &'static str,
}

/// Flow's `refund_order_summary`.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub order_number: String,
    pub currency: String,
    pub captured: Amount,
    pub refunded: Amount,
    pub amounts: SummaryAmounts,
}

#[derive(Debug, Serialize)]
pub struct SummaryAmounts {
    pub balance: Amount,
    pub balance_excluding_shipping: Amount,
    pub shipping: Amount,
}

/// Flow's `refund_version`.
#[derive(Debug, Serialize)]
pub struct Version {
    pub id: String,
    pub timestamp: Value,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub refund: Refund,
}

fn text(attrs: &Map<String, Value>, name: &str) -> String {
    attrs
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn cents(attrs: &Map<String, Value>, name: &str) -> i64 {
    attrs.get(name).and_then(Value::as_i64).unwrap_or_default()
}

/// A record's attributes as a JSON object.
pub fn attributes(record: &Record) -> Map<String, Value> {
    record
        .attributes
        .iter()
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect()
}

/// An authorization's or capture's key: its `reference` when it has one, else its id.
fn key_of(record: &Record) -> String {
    match record.attributes.get("reference").and_then(Value::as_str) {
        Some(r) if !r.is_empty() => r.to_owned(),
        _ => record.id.clone(),
    }
}

/// The records behind a set of refunds: the captures they took money from (with the parts),
/// their authorizations and orders.
#[derive(Default)]
pub struct Related {
    parts: HashMap<String, Vec<(String, i64)>>,
    captures: HashMap<String, Record>,
    authorizations: HashMap<String, Record>,
    orders: HashMap<String, Record>,
}

fn by_ids(
    conn: &mut DbConnection,
    scope: &Scope,
    type_name: &str,
    ids: Vec<String>,
) -> ApiResult<HashMap<String, Record>> {
    let kind = registered(type_name)?;
    let mut ids = ids;
    ids.sort();
    ids.dedup();
    Ok(kind
        .find(conn, scope, ids)?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect())
}

pub fn registered(type_name: &str) -> ApiResult<&'static dyn Resource> {
    resource(type_name).ok_or_else(|| ApiError::internal("flow", format!("no {type_name}")))
}

impl Related {
    pub fn load(conn: &mut DbConnection, scope: &Scope, refunds: &[Record]) -> ApiResult<Self> {
        if refunds.is_empty() {
            return Ok(Self::default());
        }
        let rows = registered("refund_captures")?.find_by(
            conn,
            scope,
            "refund_id",
            refunds.iter().map(|r| r.id.clone()).collect(),
        )?;
        let mut parts: HashMap<String, Vec<(String, i64)>> = HashMap::new();
        // A failed part took nothing from its capture.
        let taken = rows
            .iter()
            .filter(|r| r.attributes.get("status").and_then(Value::as_str) != Some("failed"));
        for row in taken {
            if let (Some(refund), Some(capture)) = (row.to_one("refund"), row.to_one("capture")) {
                let amount = row
                    .attributes
                    .get("amount_cents")
                    .and_then(Value::as_i64)
                    .unwrap_or_default();
                parts
                    .entry(refund.to_owned())
                    .or_default()
                    .push((capture.to_owned(), amount));
            }
        }
        let capture_ids = parts.values().flatten().map(|(c, _)| c.clone()).collect();
        let captures = by_ids(conn, scope, "captures", capture_ids)?;
        let authorization_ids = refunds
            .iter()
            .chain(captures.values())
            .filter_map(|r| r.to_one("authorization").map(str::to_owned))
            .collect();
        let authorizations = by_ids(conn, scope, "authorizations", authorization_ids)?;
        let order_ids = authorizations
            .values()
            .filter_map(|r| r.to_one("order").map(str::to_owned))
            .collect();
        let orders = by_ids(conn, scope, "orders", order_ids)?;
        // Oldest capture first; `id` breaks ties, as the ledger splits.
        for list in parts.values_mut() {
            list.sort_by_key(|(id, _)| {
                let at = captures
                    .get(id)
                    .and_then(|c| c.attributes.get("created_at"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                (at, id.clone())
            });
        }
        Ok(Self {
            parts,
            captures,
            authorizations,
            orders,
        })
    }

    fn authorization(&self, id: Option<&str>, with_order: bool) -> Option<AuthorizationReference> {
        let id = id?;
        let found = self.authorizations.get(id);
        let order = found
            .filter(|_| with_order)
            .and_then(|a| a.to_one("order"))
            .and_then(|o| self.orders.get(o))
            .map(|o| OrderReference {
                discriminator: "flow_order",
                number: o
                    .attributes
                    .get("number")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            });
        Some(AuthorizationReference {
            id: id.to_owned(),
            key: found.map_or_else(|| id.to_owned(), key_of),
            order,
        })
    }

    fn capture(&self, id: &str) -> Option<Capture> {
        let c = self.captures.get(id)?;
        let a = attributes(c);
        let currency = text(&a, "currency_code");
        Some(Capture {
            id: c.id.clone(),
            key: key_of(c),
            authorization: self.authorization(c.to_one("authorization"), false)?,
            amount: Amount::new(cents(&a, "amount_cents"), &currency),
            currency,
            created_at: a.get("created_at").cloned().unwrap_or(Value::Null),
            status: if a.get("succeeded") == Some(&Value::Bool(true)) {
                "succeeded"
            } else {
                "failed"
            },
        })
    }

    /// Flow's refund of record `refund`, with `attrs` as its attributes (the record's own,
    /// or a version's snapshot of them).
    pub fn refund(&self, refund: &Record, attrs: &Map<String, Value>) -> Refund {
        let currency = text(attrs, "currency_code");
        let requested = cents(attrs, "amount_cents");
        let succeeded = attrs.get("succeeded") == Some(&Value::Bool(true));
        // Flow knows no partial success: a refund that gave some money back succeeded,
        // with `amount` what it gave back (snapshots from before statuses have none).
        let status = match attrs.get("status").and_then(Value::as_str) {
            Some("failed") => "failed",
            Some("pending") => "pending",
            Some(_) => "succeeded",
            None if succeeded => "succeeded",
            None => "failed",
        };
        let captures: Vec<RefundCapture> = if status != "failed" {
            self.parts
                .get(&refund.id)
                .map(|parts| {
                    parts
                        .iter()
                        .filter_map(|(id, cents)| {
                            Some(RefundCapture {
                                capture: self.capture(id)?,
                                amount: Amount::new(*cents, &currency),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let amount = match attrs.get("refunded_amount_cents").and_then(Value::as_i64) {
            Some(refunded) if status == "succeeded" => refunded,
            _ => requested,
        };
        let attributes = match attrs.get("metadata") {
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        Refund {
            id: refund.id.clone(),
            key: text(attrs, "key"),
            authorization: self.authorization(refund.to_one("authorization"), true),
            amount: Amount::new(amount, &currency),
            currency: currency.clone(),
            requested: Money {
                amount: Amount::new(requested, &currency),
                currency: currency.clone(),
            },
            captures,
            created_at: attrs.get("created_at").cloned().unwrap_or(Value::Null),
            attributes,
            status,
        }
    }
}

/// Flow's refund of the one record in `records`; `404` when there is none.
pub fn refund(conn: &mut DbConnection, scope: &Scope, records: &[Record]) -> ApiResult<Refund> {
    refunds(conn, scope, records)?
        .pop()
        .ok_or_else(|| ApiError::not_found("refunds"))
}

/// Flow's refunds of `records`, in their order.
pub fn refunds(
    conn: &mut DbConnection,
    scope: &Scope,
    records: &[Record],
) -> ApiResult<Vec<Refund>> {
    let related = Related::load(conn, scope, records)?;
    Ok(records
        .iter()
        .map(|r| related.refund(r, &attributes(r)))
        .collect())
}

/// Flow's summary of a `refund_summaries` record.
pub fn summary(record: &Record) -> Summary {
    let a = attributes(record);
    let currency = text(&a, "currency_code");
    let amount = |name| Amount::new(cents(&a, name), &currency);
    Summary {
        order_number: text(&a, "order_number"),
        captured: amount("captured_amount_cents"),
        refunded: amount("refunded_amount_cents"),
        amounts: SummaryAmounts {
            balance: amount("balance_cents"),
            balance_excluding_shipping: amount("balance_excluding_shipping_cents"),
            shipping: amount("shipping_cents"),
        },
        currency,
    }
}

/// Flow's name of a journal event.
pub fn version_type(event: &str) -> &'static str {
    match event {
        "create" => "insert",
        "destroy" => "delete",
        _ => "update",
    }
}

#[cfg(test)]
mod tests {
    use super::{major, minor};

    #[test]
    fn amounts_are_written_with_the_currency_digits() {
        for (cents, code, text) in [
            (2500, "EUR", "25.00"),
            (10, "USD", "0.10"),
            (5, "GBP", "0.05"),
            (100_000_000, "EUR", "1000000.00"),
            (1500, "JPY", "1500"),
            (0, "EUR", "0.00"),
            (-7, "EUR", "-0.07"),
            (i64::MAX, "EUR", "92233720368547758.07"),
            (i64::MAX, "JPY", "9223372036854775807"),
        ] {
            assert_eq!(major(cents, code), text);
        }
    }

    #[test]
    fn amounts_are_read_exactly() {
        for (text, exp, cents) in [
            ("25", 2, Ok(2500)),
            ("25.5", 2, Ok(2550)),
            ("0.10", 2, Ok(10)),
            ("1000000.00", 2, Ok(100_000_000)),
            ("2.5e1", 2, Ok(2500)),
            ("25.000", 2, Ok(2500)),
            ("-1", 2, Ok(-100)),
            ("1500", 0, Ok(1500)),
            ("92233720368547758.07", 2, Ok(i64::MAX)),
        ] {
            assert_eq!(minor(text, exp), cents, "{text}");
        }
        for (text, exp) in [
            ("0.001", 2),
            ("15.5", 0),
            ("92233720368547758.08", 2),
            ("abc", 2),
            ("", 2),
            (".", 2),
            ("1e999", 2),
            ("1,5", 2),
        ] {
            assert!(minor(text, exp).is_err(), "{text}");
        }
    }
}
