//! Filter conditions as diesel expressions: the per-column building blocks every resource uses.

use diesel::expression::BoxableExpression;
use diesel::sql_types::{Bool, Nullable, SingleValue};

use crate::db::{Backend, MultiBackend};
use crate::error::{ApiError, ApiResult, Code};
use crate::jsonapi::filter::{Combine, Condition, Target, Values};

/// A boolean SQL condition on table `T`; nullable so SQL's three-valued logic
/// (`NOT (NULL LIKE x)` is not true) is kept rather than papered over.
pub type Cond<T> = Box<dyn BoxableExpression<T, MultiBackend, SqlType = Nullable<Bool>>>;

#[diesel::declare_sql_function]
extern "SQL" {
    /// SQL `lower()`. Text columns use bytewise ("C") collation on PostgreSQL, where
    /// `lower` folds ASCII only, exactly as SQLite's built-in does.
    fn lower<ST: SingleValue>(x: ST) -> ST;
}

/// The error for a predicate a field's type has no SQL for.
pub fn unsupported(t: &Target) -> ApiError {
    ApiError::new(
        Code::FilterNotAllowed,
        format!("`{}` cannot be filtered with {:?}", t.attr.name, t.op),
    )
}

/// Builds the condition of one filter parameter, given the per-resource builder for one
/// target and one value list. `_or_` alternatives are ORed; `_any`/`_all` expand per value.
pub fn condition<T: 'static>(
    c: &Condition,
    backend: Backend,
    one: impl Fn(&Target, Backend) -> ApiResult<Cond<T>>,
) -> ApiResult<Cond<T>>
where
    diesel::dsl::Or<Cond<T>, Cond<T>>: BoxableExpression<T, MultiBackend, SqlType = Nullable<Bool>>,
    diesel::dsl::And<Cond<T>, Cond<T>>:
        BoxableExpression<T, MultiBackend, SqlType = Nullable<Bool>>,
{
    let mut alternatives = Vec::new();
    for t in &c.alternatives {
        let cond = match t.combine {
            Combine::One => one(t, backend),
            Combine::Any | Combine::All => {
                let parts = split_values(&t.values)
                    .into_iter()
                    .map(|values| {
                        one(
                            &Target {
                                values,
                                combine: Combine::One,
                                ..t.clone()
                            },
                            backend,
                        )
                    })
                    .collect::<ApiResult<Vec<_>>>()?;
                fold(parts, t.combine == Combine::Any).ok_or_else(|| unsupported(t))
            }
        }
        .map_err(|e| e.with_source(crate::error::Source::Parameter(c.parameter.clone())))?;
        alternatives.push(cond);
    }
    fold(alternatives, true).ok_or_else(|| ApiError::new(Code::FilterNotAllowed, "empty filter"))
}

/// ORs (`any`) or ANDs the conditions together, as a balanced tree: a chain of a few
/// thousand `OR`s would pass SQLite's expression depth limit (1000).
pub fn fold<T: 'static>(mut parts: Vec<Cond<T>>, any: bool) -> Option<Cond<T>>
where
    diesel::dsl::Or<Cond<T>, Cond<T>>: BoxableExpression<T, MultiBackend, SqlType = Nullable<Bool>>,
    diesel::dsl::And<Cond<T>, Cond<T>>:
        BoxableExpression<T, MultiBackend, SqlType = Nullable<Bool>>,
{
    use diesel::BoolExpressionMethods;
    if parts.len() <= 1 {
        return parts.pop();
    }
    let right = parts.split_off(parts.len() / 2);
    let (a, b) = (fold(parts, any)?, fold(right, any)?);
    Some(if any {
        Box::new(a.or(b))
    } else {
        Box::new(a.and(b))
    })
}

fn split_values(values: &Values) -> Vec<Values> {
    match values {
        Values::Text(v) => v.iter().map(|x| Values::Text(vec![x.clone()])).collect(),
        Values::Int(v) => v.iter().map(|x| Values::Int(vec![*x])).collect(),
        Values::Bool(v) => v.iter().map(|x| Values::Bool(vec![*x])).collect(),
        Values::Time(v) => v.iter().map(|x| Values::Time(vec![*x])).collect(),
        other => vec![other.clone()],
    }
}

/// The SQL before and after the bound JSON value of a containment test of
/// `<table>.<column>`, per backend. Only fixed names enter the SQL.
pub fn json_contains_sql(table: &str, column: &str, backend: Backend) -> (String, &'static str) {
    match backend {
        Backend::Postgres => (format!("(\"{table}\".\"{column}\"::jsonb) @> "), "::jsonb"),
        Backend::Sqlite => (format!("json_contains(\"{table}\".\"{column}\", "), ")"),
    }
}

/// `<column>_jcont`: JSON containment with jsonb semantics on both backends.
macro_rules! json_contains {
    ($table:expr, $column:expr, $t:expr, $backend:expr) => {{
        use $crate::jsonapi::filter::Values;
        let Values::Json(v) = &$t.values else {
            return Err($crate::engine::sql::unsupported($t));
        };
        let (open, close) = $crate::engine::sql::json_contains_sql($table, $column, $backend);
        let cond: $crate::engine::sql::Cond<_> = Box::new(
            diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Bool>>(&open)
                .bind::<diesel::sql_types::Text, _>(v.clone())
                .sql(close),
        );
        cond
    }};
}

/// Comparison predicates on any column type; `$vals` is the typed value list.
macro_rules! compare {
    ($col:expr, $t:expr, $vals:expr) => {{
        #[allow(unused_imports)]
        use diesel::{BoolExpressionMethods, ExpressionMethods, NullableExpressionMethods};
        use $crate::jsonapi::filter::Op;
        let vals = $vals;
        let first = vals.first().cloned();
        let cond: $crate::engine::sql::Cond<_> = match ($t.op, first) {
            (Op::Eq, Some(v)) => Box::new($col.eq(v).nullable()),
            (Op::NotEq, Some(v)) => Box::new($col.ne(v).nullable()),
            (Op::EqOrNull, Some(v)) => {
                Box::new($col.eq(v).nullable().or($col.is_null().nullable()))
            }
            (Op::NotEqOrNull, Some(v)) => {
                Box::new($col.ne(v).nullable().or($col.is_null().nullable()))
            }
            (Op::Lt, Some(v)) => Box::new($col.lt(v).nullable()),
            (Op::Lteq, Some(v)) => Box::new($col.le(v).nullable()),
            (Op::Gt, Some(v)) => Box::new($col.gt(v).nullable()),
            (Op::Gteq, Some(v)) => Box::new($col.ge(v).nullable()),
            // One value (a retrieve by id, a to-one include): `=` rather than `= ANY(array)`,
            // whose generic plan PostgreSQL never trusts, so it would plan every execution
            // again (a quarter of the throughput of the same statement with `=`).
            (Op::In, Some(v)) if vals.len() == 1 => Box::new($col.eq(v).nullable()),
            (Op::In, _) => Box::new($col.eq_any(vals).nullable()),
            (Op::NotIn, _) => Box::new($col.ne_all(vals).nullable()),
            (Op::NotInOrNull, _) => {
                Box::new($col.ne_all(vals).nullable().or($col.is_null().nullable()))
            }
            (Op::Null, _) => Box::new($col.is_null().nullable()),
            (Op::NotNull, _) => Box::new($col.is_not_null().nullable()),
            _ => return Err($crate::engine::sql::unsupported($t)),
        };
        cond
    }};
}

/// Text predicates: comparisons plus case-insensitive LIKE forms and present/blank.
macro_rules! text {
    ($col:expr, $t:expr) => {{
        #[allow(unused_imports)]
        use diesel::{
            BoolExpressionMethods, EscapeExpressionMethods, ExpressionMethods,
            NullableExpressionMethods, TextExpressionMethods,
        };
        use $crate::engine::sql::lower;
        use $crate::jsonapi::filter::{like_pattern, Op, Values};
        let first = match &$t.values {
            Values::Text(vals) => vals
                .first()
                .map(|v| like_pattern($t.op, v))
                .unwrap_or_default(),
            _ => String::new(),
        };
        let cond: $crate::engine::sql::Cond<_> = match (&$t.values, $t.op) {
            (Values::None, Op::Null | Op::NotNull) => $crate::engine::sql::nullness!($col, $t),
            (Values::Text(_), Op::Cont | Op::Start | Op::End | Op::Matches) => {
                Box::new(lower($col).like(first).escape('\\').nullable())
            }
            (Values::Text(_), Op::NotCont | Op::NotStart | Op::NotEnd | Op::DoesNotMatch) => {
                Box::new(lower($col).not_like(first).escape('\\').nullable())
            }
            (Values::None, Op::Present) => {
                Box::new($col.is_not_null().nullable().and($col.ne("").nullable()))
            }
            (Values::None, Op::Blank) => {
                Box::new($col.is_null().nullable().or($col.eq("").nullable()))
            }
            (Values::Text(vals), _) => $crate::engine::sql::compare!($col, $t, vals.clone()),
            _ => return Err($crate::engine::sql::unsupported($t)),
        };
        cond
    }};
}

/// Integer, boolean and time predicates.
macro_rules! typed {
    ($col:expr, $t:expr, $variant:ident) => {{
        use $crate::jsonapi::filter::Values;
        match &$t.values {
            Values::$variant(vals) => $crate::engine::sql::compare!($col, $t, vals.clone()),
            Values::None => $crate::engine::sql::nullness!($col, $t),
            _ => return Err($crate::engine::sql::unsupported($t)),
        }
    }};
}

/// `null` / `not_null`, the predicates without an operand.
macro_rules! nullness {
    ($col:expr, $t:expr) => {{
        use diesel::{ExpressionMethods, NullableExpressionMethods};
        use $crate::jsonapi::filter::Op;
        let cond: $crate::engine::sql::Cond<_> = match $t.op {
            Op::Null => Box::new($col.is_null().nullable()),
            Op::NotNull => Box::new($col.is_not_null().nullable()),
            _ => return Err($crate::engine::sql::unsupported($t)),
        };
        cond
    }};
}

pub(crate) use {compare, json_contains, nullness, text, typed};

/// `<column> IN (<subquery>)` for the multi-backend connection. Diesel's own `eq_any`
/// with a subquery needs the subquery to render on every concrete backend, which a boxed
/// query does not; this node renders through the multi backend like the rest of the query.
#[derive(Debug, Clone)]
pub struct InQuery<C, Q> {
    column: C,
    query: Q,
    once: bool,
}

/// `column IN (query)`, where `query` is a boxed select of one column.
pub fn in_query<C, Q>(column: C, query: Q) -> InQuery<C, Q> {
    InQuery {
        column,
        query,
        once: false,
    }
}

/// The same test with `query` run once, whatever the planner thinks of the tables:
/// `= ANY(ARRAY(query))` on PostgreSQL, an init plan. As `IN`, a table never analysed
/// (autovacuum off, or just after a bulk load) got a nested loop that ran a page's
/// LIMIT/OFFSET subquery again for every row: 7.9 s for page 200 of 6k rows instead of
/// 6 ms. SQLite runs an `IN` subquery once anyway.
pub fn in_query_once<C, Q>(column: C, query: Q, backend: Backend) -> InQuery<C, Q> {
    InQuery {
        column,
        query,
        once: backend == Backend::Postgres,
    }
}

impl<C, Q> diesel::Expression for InQuery<C, Q> {
    type SqlType = Bool;
}

impl<C: diesel::AppearsOnTable<QS>, Q, QS> diesel::AppearsOnTable<QS> for InQuery<C, Q> {}

impl<C: diesel::SelectableExpression<QS>, Q, QS> diesel::SelectableExpression<QS>
    for InQuery<C, Q>
{
}

impl<C: diesel::expression::ValidGrouping<()>, Q> diesel::expression::ValidGrouping<()>
    for InQuery<C, Q>
{
    type IsAggregate = C::IsAggregate;
}

impl<C, Q> diesel::query_builder::QueryId for InQuery<C, Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<C, Q> diesel::query_builder::QueryFragment<MultiBackend> for InQuery<C, Q>
where
    C: diesel::query_builder::QueryFragment<MultiBackend>,
    Q: diesel::query_builder::QueryFragment<MultiBackend>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, MultiBackend>,
    ) -> diesel::QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(if self.once { " = ANY(ARRAY(" } else { " IN (" });
        self.query.walk_ast(out.reborrow())?;
        out.push_sql(if self.once { "))" } else { ")" });
        Ok(())
    }
}

/// `<query> LIMIT <n>`, the page size written into the statement instead of bound.
///
/// PostgreSQL plans a prepared statement with a bound `LIMIT` for a tenth of the table, so
/// its generic plan always looks worse than a custom one and every execution is planned
/// again: at a million rows that planning took twice as long as running the first page
/// (6,000 statements per second bound, 15,000 written in). A page size is a number the
/// query parser checked against `page_size_max`, so there are at most that many such
/// statements per query shape, and no text from the request enters the SQL.
#[derive(Debug, Clone)]
pub struct Limited<Q> {
    query: Q,
    limit: Option<u32>,
}

/// `query`, limited to `limit` rows when it is given.
pub fn limited<Q>(query: Q, limit: Option<u32>) -> Limited<Q> {
    Limited { query, limit }
}

impl<Q: diesel::query_builder::Query> diesel::query_builder::Query for Limited<Q> {
    type SqlType = Q::SqlType;
}

impl<Q> diesel::query_builder::QueryId for Limited<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q, Conn> diesel::RunQueryDsl<Conn> for Limited<Q> {}

// Any backend: the stack-floor benchmark sends the same first page over a plain PgConnection.
impl<Q, DB: diesel::backend::Backend> diesel::query_builder::QueryFragment<DB> for Limited<Q>
where
    Q: diesel::query_builder::QueryFragment<DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> diesel::QueryResult<()> {
        self.query.walk_ast(out.reborrow())?;
        if let Some(limit) = self.limit {
            out.push_sql(" LIMIT ");
            out.push_sql(itoa::Buffer::new().format(limit));
        }
        Ok(())
    }
}

/// An `ORDER BY` list as one flat node. Diesel's boxed `then_order_by` nests each key in a
/// pair with the ones before it, and rendering a pair walks its first half twice (once to
/// ask whether it is empty), so rendering took time doubling with each key: 24 keys 2.8 s.
#[derive(Default)]
pub struct OrderBy(Vec<Box<dyn diesel::query_builder::QueryFragment<MultiBackend> + Send>>);

impl OrderBy {
    /// `column ASC` or `column DESC`.
    pub fn by<C>(&mut self, column: C, key: &crate::jsonapi::query::SortKey)
    where
        C: diesel::ExpressionMethods + diesel::query_builder::QueryFragment<MultiBackend>,
        C: Send + 'static,
    {
        if key.desc {
            self.0.push(Box::new(column.desc()));
        } else {
            self.0.push(Box::new(column.asc()));
        }
    }

    /// A nullable column: NULLs last ascending and first descending on both backends
    /// (PostgreSQL's default, emulated on SQLite).
    pub fn by_nullable<C>(
        &mut self,
        column: C,
        key: &crate::jsonapi::query::SortKey,
        backend: Backend,
    ) where
        C: diesel::ExpressionMethods + diesel::query_builder::QueryFragment<MultiBackend>,
        C: Copy + Send + 'static,
    {
        if backend == Backend::Sqlite {
            self.by(column.is_null(), key);
        }
        self.by(column, key);
    }
}

/// Whether a column's SQL type admits NULL, which decides how it sorts.
pub trait NullOrder {
    const NULLABLE: bool;
}

impl NullOrder for diesel::sql_types::is_nullable::NotNull {
    const NULLABLE: bool = false;
}

impl NullOrder for diesel::sql_types::is_nullable::IsNullable {
    const NULLABLE: bool = true;
}

impl OrderBy {
    /// A column, with NULLs placed as [`by_nullable`](Self::by_nullable) places them
    /// when its type admits NULL.
    pub fn column<C>(&mut self, column: C, key: &crate::jsonapi::query::SortKey, backend: Backend)
    where
        C: diesel::ExpressionMethods + diesel::query_builder::QueryFragment<MultiBackend>,
        C: Copy + Send + 'static,
        C::SqlType: diesel::sql_types::SqlType,
        <C::SqlType as diesel::sql_types::SqlType>::IsNull: NullOrder,
    {
        if <<C::SqlType as diesel::sql_types::SqlType>::IsNull as NullOrder>::NULLABLE {
            self.by_nullable(column, key, backend);
        } else {
            self.by(column, key);
        }
    }
}

impl diesel::Expression for OrderBy {
    type SqlType = diesel::sql_types::Untyped;
}

// Only the resource's own `sort` adds columns, each of its own table.
impl<QS> diesel::AppearsOnTable<QS> for OrderBy {}

impl diesel::query_builder::QueryFragment<MultiBackend> for OrderBy {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, MultiBackend>,
    ) -> diesel::QueryResult<()> {
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            item.walk_ast(out.reborrow())?;
        }
        Ok(())
    }
}
