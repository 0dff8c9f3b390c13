//! Database access: one connection type over PostgreSQL and SQLite, its pool and migrations.

pub mod counts;
pub mod json;
pub mod schema;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError, RunQueryDsl};
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

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConnection = r2d2::PooledConnection<Manager>;

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Picks the backend from the URL scheme, so a bad URL or a stopped server
/// reports its own error rather than a generic one.
#[derive(Debug, Clone)]
pub struct Manager {
    url: DbUrl,
    busy_timeout_ms: u64,
    /// PostgreSQL's `statement_timeout` for every connection (0: none).
    statement_timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DbUrl {
    Postgres(String),
    Sqlite(String),
}

impl Manager {
    pub fn new(url: &str, busy_timeout_ms: u64) -> Result<Self, String> {
        let url = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            DbUrl::Postgres(url.to_owned())
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            DbUrl::Sqlite(path.to_owned())
        } else if let Some(path) = url.strip_prefix("sqlite:") {
            DbUrl::Sqlite(path.to_owned())
        } else {
            return Err(format!(
                "unsupported database URL (expected sqlite://<path> or postgres://...): {}",
                redact(url)
            ));
        };
        if let DbUrl::Sqlite(path) = &url {
            if path.is_empty() || path.contains(":memory:") {
                return Err(
                    "SQLite needs a file path: an in-memory database is not shared by a pool"
                        .into(),
                );
            }
        }
        Ok(Self {
            url,
            busy_timeout_ms,
            statement_timeout_ms: 0,
        })
    }

    /// Bounds every statement on PostgreSQL, so a slow query cannot outlive its request.
    pub fn with_statement_timeout(mut self, ms: u64) -> Self {
        self.statement_timeout_ms = ms;
        self
    }

    /// Creates the folder of a SQLite file, so the first start needs no set-up.
    pub fn prepare(&self) -> std::io::Result<()> {
        if let DbUrl::Sqlite(path) = &self.url {
            if let Some(dir) = std::path::Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)?;
                }
            }
        }
        Ok(())
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***{}", &url[..s], &url[at..]),
        _ => url.to_owned(),
    }
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.url {
            DbUrl::Postgres(url) => {
                let mut conn =
                    PgConnection::establish(url).map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(&format!(
                    "SET statement_timeout = {}",
                    self.statement_timeout_ms
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Postgresql(conn))
            }
            DbUrl::Sqlite(path) => {
                let mut conn =
                    SqliteConnection::establish(path).map_err(r2d2::Error::ConnectionError)?;
                // busy_timeout first: switching to WAL can itself meet a lock.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                    self.busy_timeout_ms
                ))
                .map_err(r2d2::Error::QueryError)?;
                json::register_sqlite(&mut conn).map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        diesel::sql_query("SELECT 1")
            .execute(conn)
            .map(|_| ())
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
    }
}

/// A pool of `size` connections that waits at most `timeout` for one.
pub fn pool(manager: Manager, size: u32, timeout: Duration) -> Result<Pool, String> {
    manager
        .prepare()
        .map_err(|e| format!("cannot create the database folder: {e}"))?;
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(0))
        .connection_timeout(timeout)
        .test_on_check_out(true)
        .build(manager)
        .map_err(|e| e.to_string())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_picks_the_backend() {
        assert!(
            matches!(Manager::new("sqlite://x.db", 1).unwrap().url, DbUrl::Sqlite(p) if p == "x.db")
        );
        assert!(matches!(
            Manager::new("postgres://u@h/db", 1).unwrap().url,
            DbUrl::Postgres(_)
        ));
        assert!(Manager::new("mysql://x", 1).is_err());
        assert!(Manager::new("sqlite://:memory:", 1).is_err());
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://***@h/db");
    }
}
