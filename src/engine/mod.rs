//! The generic database engine behind every resource: what a collection query asks
//! (`ListQuery`), the `Resource` trait, the list implementation every table shares
//! (`list_impl!`), filter and sort SQL (`sql`), the declaration that generates a resource's
//! description and SQL from one line per field (`describe!`) and compound documents
//! (`includes`).

pub mod describe;
pub mod includes;
pub mod sql;

pub(crate) use describe::describe;

use chrono::NaiveDateTime;
use serde_json::Value;

use crate::auth::Scope;
use crate::db::DbConnection;
use crate::error::ApiResult;
use crate::jsonapi::document::Record;
use crate::jsonapi::filter::{Combine, Condition, Op, Target, Values};
use crate::jsonapi::query::SortKey;
use crate::jsonapi::resource::{ResourceDef, ID};

/// Finds a resource type's storage by its name (the registry is the caller's).
pub type Registry = fn(&str) -> Option<&'static dyn Resource>;

/// What a collection query asks of one resource type.
pub struct ListQuery<'a> {
    pub scope: &'a Scope,
    pub filters: &'a [Condition],
    pub sort: &'a [SortKey],
    /// `None`: every matching record (included resources).
    pub page: Option<crate::jsonapi::query::Page>,
    pub count: bool,
}

/// One resource type's storage, behind the generic engine.
pub trait Resource: Sync {
    fn def(&self) -> &'static ResourceDef;

    /// Matching records in order, and their total count when asked.
    fn list(&self, conn: &mut DbConnection, q: &ListQuery)
        -> ApiResult<(Vec<Record>, Option<i64>)>;

    /// The visible records among `ids`.
    fn find(
        &self,
        conn: &mut DbConnection,
        scope: &Scope,
        ids: Vec<String>,
    ) -> ApiResult<Vec<Record>> {
        self.find_by(conn, scope, "id", ids)
    }

    /// The visible records whose `field` is one of `values`, in the default order.
    fn find_by(
        &self,
        conn: &mut DbConnection,
        scope: &Scope,
        field: &str,
        values: Vec<String>,
    ) -> ApiResult<Vec<Record>> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let filter = field_in(self.def(), field, values);
        let (records, _) = self.list(
            conn,
            &ListQuery {
                scope,
                filters: &[filter],
                sort: &[],
                page: None,
                count: false,
            },
        )?;
        Ok(records)
    }
}

/// A condition `<field> IN ids`, built by the server rather than parsed.
pub fn field_in(def: &'static ResourceDef, field: &str, ids: Vec<String>) -> Condition {
    Condition {
        parameter: String::new(),
        alternatives: vec![Target {
            path: vec![],
            attr: def.attr(field).unwrap_or(&ID),
            op: Op::In,
            combine: Combine::One,
            values: Values::Text(ids),
        }],
    }
}

/// Whether the maintained count answers for this list: the tenant's whole, unfiltered
/// collection.
pub fn is_whole(q: &ListQuery) -> bool {
    q.filters.is_empty() && !q.scope.is_restricted()
}

/// The maintained count, for a whole collection (see [`is_whole`]).
pub fn maintained_count(
    conn: &mut DbConnection,
    q: &ListQuery,
    type_name: &str,
) -> ApiResult<Option<i64>> {
    if !is_whole(q) {
        return Ok(None);
    }
    Ok(crate::db::counts::get(
        conn,
        &q.scope.organization_id,
        q.scope.mode,
        type_name,
    )?)
}

/// Timestamps are rendered in UTC with milliseconds and `Z`.
pub fn time(t: &NaiveDateTime) -> Value {
    use chrono::{Datelike, Timelike};
    // `%Y-%m-%dT%H:%M:%S%.3fZ` by hand: strftime parses its pattern on every call, and a
    // page renders fifty of these.
    fn digits(out: &mut String, n: u32, width: u32) {
        for place in (0..width).rev() {
            out.push(char::from(b'0' + (n / 10u32.pow(place) % 10) as u8));
        }
    }
    let mut s = String::with_capacity(24);
    match u32::try_from(t.year()) {
        Ok(year) if year < 10_000 => digits(&mut s, year, 4),
        // Outside 0000-9999 strftime adds a sign: rare enough to ask it.
        _ => s.push_str(&t.format("%Y").to_string()),
    }
    s.push('-');
    digits(&mut s, t.month(), 2);
    s.push('-');
    digits(&mut s, t.day(), 2);
    s.push('T');
    digits(&mut s, t.hour(), 2);
    s.push(':');
    digits(&mut s, t.minute(), 2);
    s.push(':');
    digits(&mut s, t.second(), 2);
    s.push('.');
    digits(&mut s, t.nanosecond() / 1_000_000 % 1000, 3);
    s.push('Z');
    Value::String(s)
}

/// The last sort key of every list: `id` is unique, so equal keys still give stable pages.
pub const ID_ASC: SortKey = SortKey {
    attr: &ID,
    desc: false,
};

/// Implements [`Resource::list`] for a table: scope, filters, sort, `id` tie-breaker, page, count.
macro_rules! list_impl {
    ($table:ident, $row:ty, $view:path, $cond:path, $sort:path, $scope:path) => {
        $crate::engine::list_impl!(
            $table,
            $table::all_columns,
            $row,
            |row, _| $view(row),
            $cond,
            $sort,
            $scope
        );
    };
    // `$columns`: the tuple the rows are read from; `$view`: (row, scope) to record.
    ($table:ident, $columns:expr, $row:ty, $view:expr, $cond:path, $sort:path, $scope:path) => {
        fn list(
            &self,
            conn: &mut $crate::db::DbConnection,
            q: &$crate::engine::ListQuery,
        ) -> $crate::error::ApiResult<(Vec<$crate::jsonapi::document::Record>, Option<i64>)> {
            use diesel::prelude::*;
            let backend = conn.backend();
            let base = || -> $crate::error::ApiResult<_> {
                let mut query = $table::table
                    .into_boxed::<$crate::db::MultiBackend>()
                    .filter($scope(q.scope));
                for c in q.filters {
                    query = query.filter($crate::engine::sql::condition(c, backend, $cond)?);
                }
                Ok(query)
            };
            let order = || -> $crate::error::ApiResult<$crate::engine::sql::OrderBy> {
                let mut order = $crate::engine::sql::OrderBy::default();
                for key in q.sort {
                    // `id` sorts every table; the other fields are the resource's own.
                    if key.attr.name == "id" {
                        order.by($table::id, key);
                    } else if !$sort(&mut order, key, backend) {
                        return Err($crate::error::ApiError::internal(
                            stringify!($table),
                            format!("no sort for `{}`", key.attr.name),
                        ));
                    }
                }
                // `id` is unique, so equal sort keys still give stable pages.
                if !q.sort.iter().any(|k| k.attr.name == "id") {
                    order.by($table::id, &$crate::engine::ID_ASC);
                }
                Ok(order)
            };
            let sorted = |query: $table::BoxedQuery<'static, $crate::db::MultiBackend>| {
                order().map(|o| query.order_by(o))
            };
            let mut query = sorted(base()?)?;
            // A first page's size goes into the statement itself (see `sql::Limited`).
            let mut limit = None;
            match q.page {
                Some(page) if page.offset() > 0 => {
                    // A later page: its ids first, where an index-only scan steps over the
                    // earlier rows without reading them, then just those rows.
                    let ids = query
                        .select($table::id)
                        .limit(i64::from(page.size))
                        .offset(page.offset());
                    query = sorted(
                        $table::table
                            .into_boxed::<$crate::db::MultiBackend>()
                            .filter($scope(q.scope))
                            .filter($crate::engine::sql::in_query_once($table::id, ids, backend)),
                    )?;
                }
                Some(page) => limit = Some(page.size),
                None => {}
            }
            // The columns, as one piece of SQL made once (see `db::columns`).
            static COLUMNS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            let columns = || {
                $crate::db::columns::Columns::new(
                    COLUMNS.get_or_init(|| $crate::db::columns::column_list($columns)),
                    $columns,
                )
            };
            let view = $view;
            // Rows go straight into their views, in a list sized for the page: no vector
            // of rows beside the records, and no regrowth.
            let mut records = Vec::with_capacity(q.page.map_or(0, |p| p.size as usize));
            // A whole collection's maintained count comes with its page, in the same
            // statement (one round trip less); an empty page has to ask for it on its own.
            let mut count = None;
            if q.count && $crate::engine::is_whole(q) {
                let total = $crate::db::counts::total(
                    &q.scope.organization_id,
                    q.scope.mode,
                    stringify!($table),
                );
                for item in $crate::engine::sql::limited(query.select((columns(), total)), limit)
                    .load_iter::<($row, Option<i64>), diesel::connection::DefaultLoadingMode>(
                    conn,
                )? {
                    let (row, n) = item?;
                    count = n;
                    records.push(view(row, q.scope));
                }
            } else {
                for row in $crate::engine::sql::limited(query.select(columns()), limit)
                    .load_iter::<$row, diesel::connection::DefaultLoadingMode>(conn)?
                {
                    records.push(view(row?, q.scope));
                }
            }
            let count = match count {
                _ if !q.count => None,
                Some(n) => Some(n),
                None => match $crate::engine::maintained_count(conn, q, stringify!($table))? {
                    Some(n) => Some(n),
                    None => Some(base()?.count().get_result::<i64>(conn)?),
                },
            };
            Ok((records, count))
        }
    };
}

/// `pub fn scope`: the tenant's rows of a table with `order_id`, narrowed to the visible
/// orders when the token is limited to a customer or markets.
/// `<table>.organization_id = … AND <table>.mode = …` for `scope`'s tenant, nullable like
/// every filter condition.
macro_rules! tenant {
    ($table:ident, $scope:expr) => {{
        use diesel::prelude::*;
        $table::organization_id
            .eq($scope.organization_id.clone())
            .and($table::mode.eq($scope.mode))
            .nullable()
    }};
}

macro_rules! child_scope {
    // The journal's tables: rows about the admin-only types only for admin tokens.
    ($table:ident, journal) => {
        $crate::engine::child_scope!(@scope tenant_scope, $table);

        pub fn scope(scope: &$crate::auth::Scope) -> $crate::engine::sql::Cond<$table::table> {
            use diesel::prelude::*;
            let visible = tenant_scope(scope);
            if scope.admin {
                return visible;
            }
            let others = $table::resource_type
                .ne_all($crate::resources::webhooks::ADMIN_ONLY.to_vec())
                .nullable();
            Box::new(visible.and(others))
        }
    };
    ($table:ident) => {
        $crate::engine::child_scope!(@scope scope, $table);
    };
    (@scope $name:ident, $table:ident) => {
        pub fn $name(scope: &$crate::auth::Scope) -> $crate::engine::sql::Cond<$table::table> {
            use diesel::prelude::*;
            use $crate::db::schema::orders as orders_t;
            let tenant = $crate::engine::tenant!($table, scope);
            match $crate::resources::orders::restriction(scope) {
                None => Box::new(tenant),
                Some(visible) => Box::new(
                    tenant.and(
                        $crate::engine::sql::in_query(
                            $table::order_id,
                            orders_t::table
                                .select(orders_t::id)
                                .into_boxed::<crate::db::MultiBackend>()
                                .filter(visible),
                        )
                        .nullable(),
                    ),
                ),
            }
        }
    };
}

pub(crate) use {child_scope, list_impl, tenant};

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, NaiveDateTime};

    #[test]
    fn time_matches_the_strftime_pattern() {
        let days = [
            (1970, 1, 1),
            (1999, 12, 31),
            (2024, 2, 29),
            (2026, 11, 23),
            (1, 1, 1),
            (9999, 12, 31),
            (10_000, 1, 1),
            (-1, 6, 15),
        ];
        for (y, m, d) in days {
            for (h, min, s, milli) in [(0, 0, 0, 0), (9, 5, 7, 1), (23, 59, 59, 999)] {
                let t: NaiveDateTime = NaiveDate::from_ymd_opt(y, m, d)
                    .unwrap()
                    .and_hms_nano_opt(h, min, s, milli * 1_000_000 + 654_321)
                    .unwrap();
                let want = t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
                assert_eq!(super::time(&t), serde_json::Value::String(want));
            }
        }
    }
}
