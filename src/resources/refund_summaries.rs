//! `refund_summaries`: Flow's refund summary of an order, computed from its captures.
//! `id` is the order number, so `GET /api/refund_summaries/{order_number}` is the generic
//! retrieve; a collection pages over the tenant's orders by number.

use std::collections::HashMap;

use diesel::prelude::*;
use serde_json::json;

use super::orders::{self, Orders};
use crate::db::schema::captures;
use crate::db::DbConnection;
use crate::engine::{ListQuery, Resource};
use crate::error::{ApiError, ApiResult, Code};
use crate::jsonapi::document::{Attributes, Record};
use crate::jsonapi::filter::Condition;
use crate::jsonapi::query::SortKey;
use crate::jsonapi::resource::{AttrDef, RelDef, ResourceDef};

pub static DEF: ResourceDef = ResourceDef {
    type_name: "refund_summaries",
    attributes: &[
        AttrDef::shown("order_number"),
        AttrDef::shown("currency_code"),
        AttrDef::shown("captured_amount_cents"),
        AttrDef::shown("captured_amount_float"),
        AttrDef::shown("formatted_captured_amount"),
        AttrDef::shown("refunded_amount_cents"),
        AttrDef::shown("refunded_amount_float"),
        AttrDef::shown("formatted_refunded_amount"),
        AttrDef::shown("balance_cents"),
        AttrDef::shown("balance_float"),
        AttrDef::shown("formatted_balance"),
        AttrDef::shown("balance_excluding_shipping_cents"),
        AttrDef::shown("balance_excluding_shipping_float"),
        AttrDef::shown("formatted_balance_excluding_shipping"),
        AttrDef::shown("shipping_cents"),
        AttrDef::shown("shipping_float"),
        AttrDef::shown("formatted_shipping"),
    ],
    relationships: &[RelDef::one("order", "orders")],
    default_sort: "",
};

/// The amounts of one order's summary, in its currency's minor unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amounts {
    pub captured: i64,
    pub refunded: i64,
    pub shipping: i64,
}

impl Amounts {
    pub fn balance(&self) -> i64 {
        self.captured - self.refunded
    }

    pub fn balance_excluding_shipping(&self) -> i64 {
        (self.balance() - self.shipping).max(0)
    }
}

/// The summary of an order (an `orders` record) with its amounts.
pub fn view(order: Record, amounts: Amounts) -> Record {
    let number = order.attributes["number"].as_str().unwrap_or_default();
    let currency = order.attributes["currency_code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut a = Attributes::with_capacity(DEF.attributes.len());
    a.push("order_number", json!(number));
    a.push("currency_code", json!(currency));
    let money = [
        (crate::money::names!("captured_amount"), amounts.captured),
        (crate::money::names!("refunded_amount"), amounts.refunded),
        (crate::money::names!("balance"), amounts.balance()),
        (
            crate::money::names!("balance_excluding_shipping"),
            amounts.balance_excluding_shipping(),
        ),
        (crate::money::names!("shipping"), amounts.shipping),
    ];
    for (names, cents) in money {
        crate::money::insert(&mut a, names, cents, &currency);
    }
    Record {
        def: &DEF,
        id: number.to_owned(),
        attributes: a,
        to_one: vec![("order", Some(order.id))],
        to_one_types: vec![],
        organization_id: order.organization_id,
        mode: order.mode,
    }
}

/// Captured (succeeded captures) and refunded amounts per order id.
fn sums(conn: &mut DbConnection, order_ids: Vec<String>) -> ApiResult<HashMap<String, (i64, i64)>> {
    let rows: Vec<(String, i64, i64)> = captures::table
        .filter(captures::order_id.eq_any(order_ids))
        .filter(captures::succeeded.eq(true))
        .select((
            captures::order_id,
            captures::amount_cents,
            captures::refund_amount_cents,
        ))
        .load(conn)?;
    let mut out: HashMap<String, (i64, i64)> = HashMap::new();
    for (order_id, amount, refunded) in rows {
        let e = out.entry(order_id).or_default();
        e.0 += amount;
        e.1 += refunded;
    }
    Ok(out)
}

/// The filters on `id` as filters on the orders' `number`.
fn on_orders(filters: &[Condition]) -> ApiResult<Vec<Condition>> {
    let number = orders::DEF
        .attr("number")
        .ok_or_else(|| ApiError::internal("refund_summaries", "orders.number"))?;
    filters
        .iter()
        .map(|c| {
            let alternatives = c
                .alternatives
                .iter()
                .map(|t| match (t.path.is_empty(), t.attr.name) {
                    (true, "id") => Ok(crate::jsonapi::filter::Target {
                        attr: number,
                        ..t.clone()
                    }),
                    _ => Err(ApiError::new(
                        Code::FilterNotAllowed,
                        format!("`{}` cannot be filtered", t.attr.name),
                    )),
                })
                .collect::<ApiResult<Vec<_>>>()?;
            Ok(Condition {
                parameter: c.parameter.clone(),
                alternatives,
            })
        })
        .collect()
}

pub struct RefundSummaries;

impl Resource for RefundSummaries {
    fn def(&self) -> &'static ResourceDef {
        &DEF
    }

    fn list(
        &self,
        conn: &mut DbConnection,
        q: &ListQuery,
    ) -> ApiResult<(Vec<Record>, Option<i64>)> {
        let filters = on_orders(q.filters)?;
        // A summary's id is its order's number: by number, or `sort=-id` for the reverse.
        let by_number = [SortKey {
            attr: orders::DEF
                .attr("number")
                .ok_or_else(|| ApiError::internal("refund_summaries", "orders.number"))?,
            desc: q.sort.first().is_some_and(|k| k.desc),
        }];
        let sort = &by_number[..];
        let (orders, count) = Orders.list(
            conn,
            &ListQuery {
                scope: q.scope,
                filters: &filters,
                sort,
                page: q.page,
                count: q.count,
            },
        )?;
        let sums = sums(conn, orders.iter().map(|o| o.id.clone()).collect())?;
        let records = orders
            .into_iter()
            .map(|order| {
                let (captured, refunded) = sums.get(&order.id).copied().unwrap_or_default();
                let shipping = order.attributes["shipping_amount_cents"]
                    .as_i64()
                    .unwrap_or_default();
                view(
                    order,
                    Amounts {
                        captured,
                        refunded,
                        shipping,
                    },
                )
            })
            .collect();
        Ok((records, count))
    }
}

#[cfg(test)]
mod tests {
    use super::Amounts;

    #[test]
    fn balance_excluding_shipping_is_never_negative() {
        let a = Amounts {
            captured: 10_000,
            refunded: 9_500,
            shipping: 800,
        };
        assert_eq!((a.balance(), a.balance_excluding_shipping()), (500, 0));
        let b = Amounts {
            refunded: 2_000,
            ..a
        };
        assert_eq!(b.balance_excluding_shipping(), 7_200);
    }
}
