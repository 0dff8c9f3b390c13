//! Migrations: reversible on both backends, and `schema.rs` matches what they create.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use refunds::db::{self, DbConnection};

use crate::common::{Backend, TestApp};

#[derive(QueryableByName, Debug)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Integer)]
    not_null: i32,
}

/// Tables and their columns as the database has them (without diesel's own table).
fn columns(conn: &mut DbConnection, backend: Backend) -> BTreeMap<String, Vec<(String, bool)>> {
    let rows: Vec<Column> = match backend {
        Backend::Postgres => diesel::sql_query(
            "SELECT table_name::text AS table_name, column_name::text AS column_name, \
             (is_nullable = 'NO')::int AS not_null FROM information_schema.columns \
             WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
        )
        .load(conn),
        Backend::Sqlite => diesel::sql_query(
            "SELECT m.name AS table_name, p.name AS column_name, \
             (p.\"notnull\" OR p.pk) AS not_null \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' ORDER BY m.name, p.cid",
        )
        .load(conn),
    }
    .expect("columns");
    let mut out: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
    for c in rows
        .into_iter()
        .filter(|c| !c.table_name.starts_with("__diesel"))
    {
        out.entry(c.table_name)
            .or_default()
            .push((c.column_name, c.not_null != 0));
    }
    out
}

/// What `src/db/schema.rs` declares, column by column in order, with nullability.
fn declared() -> BTreeMap<String, Vec<(String, bool)>> {
    let text = include_str!("../../src/db/schema.rs");
    let mut out: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
    let mut table = None;
    for line in text.lines().map(str::trim) {
        if let Some((name, _)) = line.strip_suffix(") {").and_then(|l| l.split_once(" (")) {
            table = Some(name.to_owned());
        } else if line == "}" {
            table = None;
        } else if let (Some(t), Some((col, ty))) = (&table, line.split_once(" -> ")) {
            out.entry(t.clone())
                .or_default()
                .push((col.to_owned(), !ty.starts_with("Nullable<")));
        }
    }
    out
}

async fn schema_rs_matches_the_migrations(app: TestApp) {
    let mut conn = app.state.pool.get().unwrap();
    let actual = columns(&mut conn, app.backend);
    assert!(!actual.is_empty());
    assert_eq!(
        actual,
        declared(),
        "src/db/schema.rs is out of date with the migrations"
    );
}

async fn migrations_run_up_down_up(app: TestApp) {
    let mut conn = app.state.pool.get().unwrap();
    assert!(db::is_migrated(&mut conn).unwrap());
    let before = columns(&mut conn, app.backend);
    let reverted = db::revert_all(&mut conn).unwrap();
    assert!(reverted >= 1);
    assert!(
        columns(&mut conn, app.backend).is_empty(),
        "down.sql drops every table"
    );
    assert!(!db::is_migrated(&mut conn).unwrap());
    assert_eq!(db::migrate(&mut conn).unwrap(), reverted);
    assert_eq!(columns(&mut conn, app.backend), before);
    drop(conn);
    // The app serves again after the round trip.
    app.seed("acme", 2, 1);
    let (status, _) = app.get("/api/refunds", &crate::common::token("acme")).await;
    assert_eq!(status, 200);
}

crate::on_both_backends!(schema_rs_matches_the_migrations, migrations_run_up_down_up);
