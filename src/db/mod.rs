//! Database access: one connection type over PostgreSQL and SQLite, its pool and migrations.

pub mod columns;
pub mod counts;
pub mod json;
mod pool;
pub mod schema;

pub use pool::{pool, Manager, Pool, PooledConnection};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;

use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

/// A connection to either backend; queries written once run on both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which database a connection talks to, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl DbConnection {
    pub fn backend(&self) -> Backend {
        match self {
            DbConnection::Postgresql(_) => Backend::Postgres,
            DbConnection::Sqlite(_) => Backend::Sqlite,
        }
    }
}

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Applies the pending migrations of the connection's backend.
pub fn migrate(conn: &mut DbConnection) -> Result<usize, String> {
    let applied = match conn {
        DbConnection::Postgresql(c) => c.run_pending_migrations(PG_MIGRATIONS).map(|v| v.len()),
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    };
    applied.map_err(|e| e.to_string())
}

/// Whether every migration shipped with this binary has been applied.
pub fn is_migrated(conn: &mut DbConnection) -> Result<bool, String> {
    let pending = match conn {
        DbConnection::Postgresql(c) => c.has_pending_migration(PG_MIGRATIONS),
        DbConnection::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
    };
    pending.map(|p| !p).map_err(|e| e.to_string())
}

/// Reverts every migration of the connection's backend (used by tests of `down.sql`).
pub fn revert_all(conn: &mut DbConnection) -> Result<usize, String> {
    let reverted = match conn {
        DbConnection::Postgresql(c) => c.revert_all_migrations(PG_MIGRATIONS).map(|v| v.len()),
        DbConnection::Sqlite(c) => c.revert_all_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    };
    reverted.map_err(|e| e.to_string())
}

/// A transaction for a unit of work that writes. On SQLite it starts with
/// `BEGIN IMMEDIATE`, taking the write lock before the first read: a deferred transaction
/// that reads and then writes fails at once with SQLITE_BUSY when another writer commits
/// in between, whatever the busy timeout. On PostgreSQL it is a plain transaction; row
/// locks are taken by the work itself. Inside an open transaction it is a savepoint.
pub fn write_transaction<T, E>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let nested =
        <DbConnection as Connection>::TransactionManager::transaction_manager_status_mut(conn)
            .transaction_depth()
            .is_ok_and(|d| d.is_some());
    if nested {
        // A savepoint: its count changes go if it rolls back.
        let saved = counts::checkpoint();
        let result = conn.transaction(work);
        if result.is_err() {
            counts::restore(saved);
        }
        return result;
    }
    match conn {
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
        }
        DbConnection::Postgresql(_) => {
            <DbConnection as Connection>::TransactionManager::begin_transaction(conn)?
        }
    }
    counts::defer();
    let result = work(conn).and_then(|value| {
        counts::flush(conn)?;
        Ok(value)
    });
    counts::discard();
    match result {
        Ok(value) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            <DbConnection as Connection>::TransactionManager::rollback_transaction(conn)?;
            Err(e)
        }
    }
}

/// Whether a connection error means "the server is not there".
pub fn is_unreachable(err: &ConnectionError) -> bool {
    matches!(err, ConnectionError::BadConnection(_))
}
