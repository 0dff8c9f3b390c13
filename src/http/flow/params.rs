//! What Flow's requests ask: the query parameters of the lists and the `refund_form`,
//! read into the engine's conditions, sorts and pages and the ledger's `NewRefund`.

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::models::{exponent, minor, registered};
use crate::auth::Auth;
use crate::db::DbConnection;
use crate::engine::{field_in, ListQuery};
use crate::error::{ApiError, ApiResult, Code};
use crate::jsonapi::document::Record;
use crate::jsonapi::filter::{Combine, Condition, Op, Target as FilterTarget, Values};
use crate::jsonapi::query::{Page, SortKey};
use crate::jsonapi::resource::{ResourceDef, ID};
use crate::ledger::{NewRefund, Target};

/// Values of one repeatable parameter, at most this many.
pub const MAX_VALUES: usize = 100;
pub const MAX_LIMIT: u32 = 100;
pub const DEFAULT_LIMIT: u32 = 25;

pub fn invalid(field: &str, detail: impl Into<String>) -> ApiError {
    ApiError::param(Code::ValidationError, field, detail)
}

/// The decoded query parameters, by name, in order of appearance.
pub struct Query(BTreeMap<String, Vec<String>>);

impl Query {
    pub fn parse(raw: &str) -> ApiResult<Self> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in crate::jsonapi::query::pairs(raw)? {
            if v.contains('\0') {
                return Err(invalid(&k, format!("{k} must not contain NUL")));
            }
            map.entry(k).or_default().push(v);
        }
        Ok(Self(map))
    }

    /// Every value of `name` (`?id=a&id=b`; empty values dropped), at most [`MAX_VALUES`].
    pub fn values(&self, name: &str) -> ApiResult<Option<Vec<String>>> {
        let Some(all) = self.0.get(name) else {
            return Ok(None);
        };
        let values: Vec<String> = all.iter().filter(|v| !v.is_empty()).cloned().collect();
        if values.len() > MAX_VALUES {
            return Err(invalid(
                name,
                format!("{name} takes at most {MAX_VALUES} values"),
            ));
        }
        Ok((!values.is_empty()).then_some(values))
    }

    fn one(&self, name: &str) -> ApiResult<Option<&str>> {
        match self.0.get(name).map(Vec::as_slice) {
            None => Ok(None),
            Some([v]) => Ok(Some(v.as_str())),
            Some(_) => Err(invalid(name, format!("{name} may be given once"))),
        }
    }

    fn number(&self, name: &str, min: i64, max: i64) -> ApiResult<Option<i64>> {
        let Some(v) = self.one(name)? else {
            return Ok(None);
        };
        match v.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(invalid(
                name,
                format!("{name} must be an integer from {min} to {max}, not `{v}`"),
            )),
        }
    }

    /// `limit` (1 to 100, default 25) and `offset` (0 or more, default 0).
    pub fn page(&self) -> ApiResult<Page> {
        let limit = self
            .number("limit", 1, i64::from(MAX_LIMIT))?
            .unwrap_or(i64::from(DEFAULT_LIMIT));
        let offset = self.number("offset", 0, i64::MAX / 2)?.unwrap_or(0);
        Ok(Page::window(
            offset,
            u32::try_from(limit).unwrap_or(DEFAULT_LIMIT),
        ))
    }

    /// `sort`: comma-separated terms, each from `terms` (Flow name, attribute), optionally
    /// prefixed `-` (descending) or `+`.
    pub fn sort(
        &self,
        def: &'static ResourceDef,
        terms: &[(&str, &str)],
        default: &str,
    ) -> ApiResult<Vec<SortKey>> {
        let raw = self.one("sort")?.unwrap_or(default);
        raw.split(',')
            .map(|term| {
                let term = term.trim();
                let (desc, name) = match term.as_bytes().first() {
                    Some(b'-') => (true, &term[1..]),
                    Some(b'+') => (false, &term[1..]),
                    _ => (false, term),
                };
                let attr = terms
                    .iter()
                    .find(|(flow, _)| *flow == name)
                    .and_then(|(_, attr)| match *attr {
                        "id" => Some(&ID),
                        attr => def.attr(attr),
                    })
                    .ok_or_else(|| {
                        let known: Vec<&str> = terms.iter().map(|(t, _)| *t).collect();
                        invalid(
                            "sort",
                            format!("sort term `{term}` is not one of {}", known.join(", ")),
                        )
                    })?;
                Ok(SortKey { attr, desc })
            })
            .collect()
    }
}

/// `attr IS NULL` on a resource's own attribute.
fn is_null(def: &'static ResourceDef, attr: &str) -> ApiResult<Condition> {
    let attr = def
        .attr(attr)
        .ok_or_else(|| ApiError::internal("flow", format!("no {attr}")))?;
    Ok(Condition {
        parameter: String::new(),
        alternatives: vec![FilterTarget {
            path: vec![],
            attr,
            op: Op::Null,
            combine: Combine::One,
            values: Values::None,
        }],
    })
}

/// The ids of the `type_name` records (authorizations, captures) whose Flow key is one of
/// `keys`: their `reference`, or their id when they have none.
pub fn ids_of_keys(
    conn: &mut DbConnection,
    auth: &Auth,
    type_name: &str,
    keys: Vec<String>,
) -> ApiResult<Vec<String>> {
    let kind = registered(type_name)?;
    let def = kind.def();
    let list = |conn: &mut DbConnection, filters: &[Condition]| {
        kind.list(
            conn,
            &ListQuery {
                scope: &auth.scope,
                filters,
                sort: &[],
                page: None,
                count: false,
            },
        )
        .map(|(records, _)| records)
    };
    let mut found = list(conn, &[field_in(def, "reference", keys.clone())])?;
    found.extend(list(
        conn,
        &[field_in(def, "id", keys), is_null(def, "reference")?],
    )?);
    Ok(found.into_iter().map(|r| r.id).collect())
}

/// What `POST /flow/{org}/refunds` sent, checked for shape; targets are resolved later.
#[derive(Debug, Default)]
pub struct Form {
    pub capture_id: Option<String>,
    pub authorization_id: Option<String>,
    pub order_number: Option<String>,
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub key: Option<String>,
    pub attributes: Option<BTreeMap<String, String>>,
}

fn string(name: &str, raw: &RawValue) -> ApiResult<Option<String>> {
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(Value::Null) => Ok(None),
        Ok(Value::String(s)) if s.trim().is_empty() => {
            Err(invalid(name, format!("{name} must not be empty")))
        }
        Ok(Value::String(s)) if s.contains('\0') || s.len() > 255 => Err(invalid(
            name,
            format!("{name} must be at most 255 characters, without NUL"),
        )),
        Ok(Value::String(s)) => Ok(Some(s)),
        _ => Err(invalid(name, format!("{name} must be a string"))),
    }
}

impl Form {
    pub fn parse(body: &[u8]) -> ApiResult<Self> {
        let fields: BTreeMap<String, Box<RawValue>> = serde_json::from_slice(body)
            .map_err(|e| invalid("body", format!("the body is not a JSON object: {e}")))?;
        let mut form = Form::default();
        let mut rma_key = None;
        for (name, raw) in &fields {
            match name.as_str() {
                "capture_id" => form.capture_id = string(name, raw)?,
                "authorization_id" => form.authorization_id = string(name, raw)?,
                "order_number" => form.order_number = string(name, raw)?,
                "currency" => form.currency = string(name, raw)?.map(|c| c.to_uppercase()),
                "key" => form.key = string(name, raw)?,
                "rma_key" => rma_key = string(name, raw)?,
                "amount" => {
                    form.amount = match serde_json::from_str::<Value>(raw.get()) {
                        Ok(Value::Null) => None,
                        Ok(Value::Number(_)) => Some(raw.get().to_owned()),
                        Ok(Value::String(s)) => Some(s.trim().to_owned()),
                        _ => return Err(invalid("amount", "amount must be a number")),
                    }
                }
                "attributes" => {
                    form.attributes = match serde_json::from_str::<Value>(raw.get()) {
                        Ok(Value::Null) => None,
                        Ok(Value::Object(m)) => Some(
                            m.into_iter()
                                .map(|(k, v)| match v {
                                    Value::String(s) => Ok((k, s)),
                                    _ => Err(invalid(
                                        "attributes",
                                        format!("attributes.{k} must be a string"),
                                    )),
                                })
                                .collect::<ApiResult<_>>()?,
                        ),
                        _ => {
                            return Err(invalid(
                                "attributes",
                                "attributes must be an object of strings",
                            ))
                        }
                    }
                }
                // Flow ignores what it does not know.
                _ => {}
            }
        }
        if let Some(rma) = rma_key {
            form.attributes
                .get_or_insert_with(BTreeMap::new)
                .insert("rma_key".into(), rma);
        }
        Ok(form)
    }

    /// The amount in minor units of the form's currency, if one was sent.
    fn amount_cents(&self) -> ApiResult<Option<i64>> {
        let Some(amount) = &self.amount else {
            return Ok(None);
        };
        let currency = self
            .currency
            .as_deref()
            .ok_or_else(|| invalid("currency", "currency is required with amount"))?;
        if crate::money::currency(currency).is_none() {
            return Err(invalid(
                "currency",
                format!("currency `{currency}` is not an ISO 4217 code"),
            ));
        }
        minor(amount, exponent(currency))
            .map(Some)
            .map_err(|why| invalid("amount", format!("amount {why}")))
    }

    /// The refund to ask the ledger for.
    pub fn new_refund(&self, conn: &mut DbConnection, auth: &Auth) -> ApiResult<NewRefund> {
        let amount_cents = self.amount_cents()?;
        let target = self.target(conn, auth)?;
        let metadata = self.attributes.as_ref().map(|a| json!(a).to_string());
        // Equal digests mean the same request: the form as the ledger will read it.
        let canonical = json!({"flow": {
            "capture_id": self.capture_id,
            "authorization_id": self.authorization_id,
            "order_number": self.order_number,
            "amount_cents": amount_cents,
            "currency": self.currency,
            "attributes": self.attributes,
        }});
        Ok(NewRefund {
            target,
            amount_cents,
            currency_code: self.currency.clone(),
            key: self.key.clone(),
            reference: None,
            reference_origin: None,
            metadata,
            request_hash: crate::ledger::requests::request_hash(&canonical.to_string()),
        })
    }

    /// The one payment the form names: its capture, else its authorization, else its order;
    /// every other target given must be the same payment's.
    fn target(&self, conn: &mut DbConnection, auth: &Auth) -> ApiResult<Target> {
        let order = match &self.order_number {
            None => None,
            Some(number) => {
                let mut found = registered("orders")?.find_by(
                    conn,
                    &auth.scope,
                    "number",
                    vec![number.clone()],
                )?;
                Some(found.pop().ok_or_else(|| {
                    invalid(
                        "order_number",
                        format!("order_number `{number}` is not an order of this organization"),
                    )
                })?)
            }
        };
        let find =
            |conn: &mut DbConnection, type_name: &str, id: &str| -> ApiResult<Option<Record>> {
                Ok(registered(type_name)?
                    .find(conn, &auth.scope, vec![id.to_owned()])?
                    .pop())
            };
        let disagree =
            |a: &str, b: &str| invalid(a, format!("{a} and {b} name different payments"));
        if let Some(capture_id) = &self.capture_id {
            if let Some(capture) = find(conn, "captures", capture_id)? {
                if let Some(a) = &self.authorization_id {
                    if capture.to_one("authorization") != Some(a.as_str()) {
                        return Err(disagree("capture_id", "authorization_id"));
                    }
                }
                if let Some(o) = &order {
                    if capture.to_one("order") != Some(o.id.as_str()) {
                        return Err(disagree("capture_id", "order_number"));
                    }
                }
            }
            return Ok(Target::Capture(capture_id.clone()));
        }
        if let Some(authorization_id) = &self.authorization_id {
            if let (Some(a), Some(o)) = (find(conn, "authorizations", authorization_id)?, &order) {
                if a.to_one("order") != Some(o.id.as_str()) {
                    return Err(disagree("authorization_id", "order_number"));
                }
            }
            return Ok(Target::Authorization(authorization_id.clone()));
        }
        match order {
            Some(o) => Ok(Target::Order(o.id)),
            None => Err(invalid(
                "capture_id",
                "one of capture_id, authorization_id or order_number is required",
            )),
        }
    }
}
