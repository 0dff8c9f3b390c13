//! A select list of plain columns as one piece of SQL.
//!
//! diesel's MultiConnection serializes a query again on each of its passes (cache key,
//! cacheability, binds): with 24 columns, walking the select list dominated them. The
//! list is fixed per query shape, so it is written once, from diesel's own rendering of
//! the column tuple (`all_columns` or a subset), and pushed as a single string (a node of
//! its own rather than `sql()`, which would keep the statement out of the
//! prepared-statement cache).

use std::marker::PhantomData;

use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::pg::{Pg, PgQueryBuilder};
use diesel::query_builder::{AstPass, QueryBuilder, QueryFragment, QueryId};
use diesel::QueryResult;

use super::MultiBackend;

/// `"t"."a", "t"."b", …`: the columns of tuple `C` (e.g. a table's `all_columns`), in order.
pub struct Columns<C> {
    sql: &'static str,
    columns: PhantomData<C>,
}

impl<C> Columns<C> {
    /// The node for the SQL made once by [`column_list`] from the same tuple.
    pub fn new(sql: &'static str, _columns: C) -> Self {
        Self {
            sql,
            columns: PhantomData,
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

impl<C: Expression> Expression for Columns<C> {
    type SqlType = C::SqlType;
}

impl<C: AppearsOnTable<QS>, QS> AppearsOnTable<QS> for Columns<C> {}

impl<C: SelectableExpression<QS>, QS> SelectableExpression<QS> for Columns<C> {}

impl<C: ValidGrouping<()>> ValidGrouping<()> for Columns<C> {
    type IsAggregate = C::IsAggregate;
}

impl<C: 'static> QueryId for Columns<C> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<C> QueryFragment<MultiBackend> for Columns<C> {
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
        assert!(sql.ends_with(r#""refunds"."status", "refunds"."refunded_amount_cents""#));
        assert_eq!(sql.matches(", ").count() + 1, 26);
    }
}
