//! A table's whole column list as one piece of SQL.
//!
//! diesel's MultiConnection serializes a query again on each of its passes (cache key,
//! cacheability, binds): with 24 columns, walking the select list dominated them. The
//! list is fixed per table, so it is written once, from diesel's own rendering of
//! `all_columns`, and pushed as a single string (a node of its own rather than `sql()`,
//! which would keep the statement out of the prepared-statement cache).

use std::marker::PhantomData;

use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::pg::{Pg, PgQueryBuilder};
use diesel::query_builder::{AstPass, QueryBuilder, QueryFragment, QueryId};
use diesel::{QueryResult, Table};

use super::MultiBackend;

/// `"t"."a", "t"."b", …`: every column of `T`, in `all_columns` order.
pub struct AllColumns<T> {
    sql: &'static str,
    table: PhantomData<T>,
}

impl<T> AllColumns<T> {
    /// The node for the SQL made once by [`column_list`].
    pub fn new(sql: &'static str) -> Self {
        Self {
            sql,
            table: PhantomData,
        }
    }
}

/// diesel's rendering of a column list (identifiers in double quotes, which SQLite takes
/// as well as PostgreSQL).
pub fn column_list(columns: impl QueryFragment<Pg>) -> String {
    let mut out = PgQueryBuilder::default();
    columns
        .to_sql(&mut out, &Pg)
        .expect("a table's columns render without binds");
    out.finish()
}

impl<T> Expression for AllColumns<T>
where
    T: Table,
    T::AllColumns: Expression,
{
    type SqlType = <T::AllColumns as Expression>::SqlType;
}

impl<T, QS> AppearsOnTable<QS> for AllColumns<T>
where
    T: Table,
    T::AllColumns: AppearsOnTable<QS>,
{
}

impl<T, QS> SelectableExpression<QS> for AllColumns<T>
where
    T: Table,
    T::AllColumns: SelectableExpression<QS>,
{
}

impl<T> ValidGrouping<()> for AllColumns<T>
where
    T: Table,
    T::AllColumns: ValidGrouping<()>,
{
    type IsAggregate = <T::AllColumns as ValidGrouping<()>>::IsAggregate;
}

impl<T: 'static> QueryId for AllColumns<T> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<T> QueryFragment<MultiBackend> for AllColumns<T> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, MultiBackend>) -> QueryResult<()> {
        out.push_sql(self.sql);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::column_list;
    use crate::db::schema::refunds;

    #[test]
    fn the_list_is_diesels_own_in_column_order() {
        let sql = column_list(refunds::all_columns);
        assert!(sql.starts_with(r#""refunds"."id", "refunds"."organization_id", "refunds"."mode""#));
        assert!(sql.ends_with(r#""refunds"."target_type", "refunds"."request_hash""#));
        assert_eq!(sql.matches(", ").count() + 1, 24);
    }
}
