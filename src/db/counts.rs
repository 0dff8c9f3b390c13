//! Maintained record counts of each tenant's unfiltered collections.
//!
//! An exact `record_count` would otherwise cost a count over every row of the tenant on
//! every plain list request. Every insert or delete calls [`add`] in its own transaction,
//! so counts are exact at every commit. Writes spread over [`SHARDS`] rows per tenant and
//! type, so concurrent writes of one tenant rarely wait on the same counter row.

use diesel::prelude::*;
use diesel::upsert::excluded;
use rand::Rng;

use super::schema::record_counts as rc;
use super::DbConnection;

/// Counter rows per tenant and type.
pub const SHARDS: i32 = 16;

/// Adds `delta` to the count of `resource_type` for the tenant.
pub fn add(
    conn: &mut DbConnection,
    organization_id: &str,
    mode: &str,
    resource_type: &str,
    delta: i64,
) -> QueryResult<()> {
    let row = (
        rc::organization_id.eq(organization_id),
        rc::mode.eq(mode),
        rc::resource_type.eq(resource_type),
        rc::shard.eq(rand::rng().random_range(0..SHARDS)),
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

/// The maintained count, or `None` when the tenant has never had a row of that type.
pub fn get(
    conn: &mut DbConnection,
    organization_id: &str,
    mode: &str,
    resource_type: &str,
) -> QueryResult<Option<i64>> {
    let shards: Vec<i64> = rc::table
        .filter(rc::organization_id.eq(organization_id))
        .filter(rc::mode.eq(mode))
        .filter(rc::resource_type.eq(resource_type))
        .select(rc::record_count)
        .load(conn)?;
    Ok((!shards.is_empty()).then(|| shards.iter().sum()))
}
