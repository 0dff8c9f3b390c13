//! Maintained record counts of each tenant's unfiltered collections.
//!
//! An exact `record_count` would otherwise cost a count over every row of the tenant on
//! every plain list request. Every insert or delete calls [`add`] in its own transaction,
//! so counts are exact at every commit. Inside [`super::write_transaction`] the changes are
//! collected and written just before the commit, all on one shard chosen for the
//! transaction, in one fixed order: counter rows are then locked briefly, and never in an
//! order that could deadlock with another transaction. Writes spread over [`SHARDS`] rows
//! per tenant and type, so concurrent writes of one tenant rarely wait on one row.

use std::cell::RefCell;
use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::upsert::excluded;
use rand::Rng;

use super::schema::record_counts as rc;
use super::DbConnection;

/// Counter rows per tenant and type.
pub const SHARDS: i32 = 16;

type Key = (String, String, String);

thread_local! {
    /// Count changes of the write transaction running on this thread, if any.
    static PENDING: RefCell<Option<BTreeMap<Key, i64>>> = const { RefCell::new(None) };
}

/// Starts collecting this thread's count changes (an outermost write transaction began).
pub(crate) fn defer() {
    PENDING.with(|p| *p.borrow_mut() = Some(BTreeMap::new()));
}

/// The changes collected so far, to restore when a savepoint rolls back.
pub(crate) fn checkpoint() -> Option<BTreeMap<Key, i64>> {
    PENDING.with(|p| p.borrow().clone())
}

pub(crate) fn restore(saved: Option<BTreeMap<Key, i64>>) {
    PENDING.with(|p| *p.borrow_mut() = saved);
}

/// Stops collecting and forgets the changes (the transaction rolled back).
pub(crate) fn discard() {
    PENDING.with(|p| *p.borrow_mut() = None);
}

/// Stops collecting and writes the changes, in key order, on one random shard.
pub(crate) fn flush(conn: &mut DbConnection) -> QueryResult<()> {
    let pending = PENDING.with(|p| p.borrow_mut().take()).unwrap_or_default();
    let shard = rand::rng().random_range(0..SHARDS);
    for ((org, mode, kind), delta) in pending {
        if delta != 0 {
            write(conn, &org, &mode, &kind, shard, delta)?;
        }
    }
    Ok(())
}

/// Adds `delta` to the count of `resource_type` for the tenant: at the commit of the
/// running write transaction, or now.
pub fn add(
    conn: &mut DbConnection,
    organization_id: &str,
    mode: &str,
    resource_type: &str,
    delta: i64,
) -> QueryResult<()> {
    let deferred = PENDING.with(|p| match p.borrow_mut().as_mut() {
        Some(pending) => {
            let key = (
                organization_id.to_owned(),
                mode.to_owned(),
                resource_type.to_owned(),
            );
            *pending.entry(key).or_default() += delta;
            true
        }
        None => false,
    });
    if deferred {
        return Ok(());
    }
    let shard = rand::rng().random_range(0..SHARDS);
    write(conn, organization_id, mode, resource_type, shard, delta)
}

fn write(
    conn: &mut DbConnection,
    organization_id: &str,
    mode: &str,
    resource_type: &str,
    shard: i32,
    delta: i64,
) -> QueryResult<()> {
    let row = (
        rc::organization_id.eq(organization_id),
        rc::mode.eq(mode),
        rc::resource_type.eq(resource_type),
        rc::shard.eq(shard),
        rc::record_count.eq(delta),
    );
    // Upserts only compile on the concrete connections; the SQL is the same on both.
    macro_rules! upsert {
        ($c:expr) => {
            diesel::insert_into(rc::table)
                .values(row)
                .on_conflict((rc::organization_id, rc::mode, rc::resource_type, rc::shard))
                .do_update()
                .set(rc::record_count.eq(rc::record_count + excluded(rc::record_count)))
                .execute($c)
                .map(|_| ())
        };
    }
    match conn {
        DbConnection::Postgresql(c) => upsert!(c),
        DbConnection::Sqlite(c) => upsert!(c),
    }
}

/// The maintained count as a scalar subquery, to select beside a page of rows (`NULL` when
/// the tenant has never had a row of that type).
pub fn total(organization_id: &str, mode: &str, resource_type: &str) -> Total {
    Total {
        organization_id: organization_id.to_owned(),
        mode: mode.to_owned(),
        resource_type: resource_type.to_owned(),
    }
}

/// See [`total`]. A query node of its own rather than `sql()`: diesel never caches the
/// prepared statement of a query holding a SQL literal, and re-preparing the page query
/// costs a round trip and a plan per request.
pub struct Total {
    organization_id: String,
    mode: String,
    resource_type: String,
}

impl Expression for Total {
    type SqlType = Nullable<BigInt>;
}

impl<QS> AppearsOnTable<QS> for Total {}

impl<QS> SelectableExpression<QS> for Total {}

impl diesel::expression::ValidGrouping<()> for Total {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl diesel::query_builder::QueryId for Total {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

// Any backend: the stack-floor benchmark selects it over a plain PgConnection.
impl<DB> diesel::query_builder::QueryFragment<DB> for Total
where
    DB: diesel::backend::Backend + diesel::sql_types::HasSqlType<Text>,
    String: diesel::serialize::ToSql<Text, DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        out.push_sql(
            "(SELECT CAST(SUM(\"record_counts\".\"record_count\") AS BIGINT) \
             FROM \"record_counts\" WHERE \"record_counts\".\"organization_id\" = ",
        );
        out.push_bind_param::<Text, _>(&self.organization_id)?;
        out.push_sql(" AND \"record_counts\".\"mode\" = ");
        out.push_bind_param::<Text, _>(&self.mode)?;
        out.push_sql(" AND \"record_counts\".\"resource_type\" = ");
        out.push_bind_param::<Text, _>(&self.resource_type)?;
        out.push_sql(")");
        Ok(())
    }
}

/// The maintained count, or `None` when the tenant has never had a row of that type.
pub fn get(
    conn: &mut DbConnection,
    organization_id: &str,
    mode: &str,
    resource_type: &str,
) -> QueryResult<Option<i64>> {
    diesel::select(total(organization_id, mode, resource_type)).get_result(conn)
}
