//! Maintained record counts of each tenant's unfiltered collections.
//!
//! An exact `record_count` would otherwise cost a count over every row of the tenant on
//! every plain list request. Every insert or delete must call [`add`] in its transaction.

use diesel::prelude::*;
use diesel::upsert::excluded;

use super::schema::collection_counts as cc;
use super::DbConnection;

/// Adds `delta` to the count of `resource_type` for the tenant.
pub fn add(
    conn: &mut DbConnection,
    organization_id: &str,
    mode: &str,
    resource_type: &str,
    delta: i64,
) -> QueryResult<()> {
    let row = (
        cc::organization_id.eq(organization_id),
        cc::mode.eq(mode),
        cc::resource_type.eq(resource_type),
        cc::record_count.eq(delta),
    );
    // Upserts only compile on the concrete connections; the SQL is the same on both.
    macro_rules! upsert {
        ($c:expr) => {
            diesel::insert_into(cc::table)
                .values(row)
                .on_conflict((cc::organization_id, cc::mode, cc::resource_type))
                .do_update()
                .set(cc::record_count.eq(cc::record_count + excluded(cc::record_count)))
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
    cc::table
        .find((organization_id, mode, resource_type))
        .select(cc::record_count)
        .first(conn)
        .optional()
}
