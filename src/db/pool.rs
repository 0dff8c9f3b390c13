//! The connection pool: a manager that picks the backend by URL scheme and checks idle
//! connections before reuse.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, Once, Weak};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};

use super::{json, DbConnection};

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConnection = r2d2::PooledConnection<Manager>;

/// Picks the backend from the URL scheme, so a bad URL or a stopped server
/// reports its own error rather than a generic one.
#[derive(Debug, Clone)]
pub struct Manager {
    url: DbUrl,
    busy_timeout_ms: u64,
    /// PostgreSQL's `statement_timeout` for every connection (0: none).
    statement_timeout_ms: u64,
    /// A connection idle for longer is checked with `SELECT 1` before it is handed out.
    check_idle: Duration,
    /// When a unit of work last failed on a connection (see [`Pooled::suspect`]).
    last_failure: Arc<Mutex<Option<Instant>>>,
    /// SQLite's page cache per connection, in KiB (its default is 2000 per connection).
    sqlite_cache_kib: u64,
    /// How often the WAL is checkpointed and truncated on SQLite (zero: never).
    checkpoint_every: Duration,
    checkpointer: Arc<Once>,
    /// Held by the pool's managers only: the checkpointer stops once the pool is gone.
    alive: Arc<()>,
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
            check_idle: Duration::ZERO,
            last_failure: Arc::default(),
            sqlite_cache_kib: 2000,
            checkpoint_every: Duration::ZERO,
            checkpointer: Arc::new(Once::new()),
            alive: Arc::default(),
        })
    }

    /// Bounds SQLite's memory: `cache_kib` of page cache per connection, and a WAL
    /// checkpointed and truncated every `checkpoint_ms` (0: only SQLite's own checkpoints,
    /// which never shrink a WAL that always has a reader).
    pub fn with_sqlite_memory(mut self, cache_kib: u64, checkpoint_ms: u64) -> Self {
        self.sqlite_cache_kib = cache_kib.max(1);
        self.checkpoint_every = Duration::from_millis(checkpoint_ms);
        self
    }

    /// Bounds every statement on PostgreSQL, so a slow query cannot outlive its request.
    pub fn with_statement_timeout(mut self, ms: u64) -> Self {
        self.statement_timeout_ms = ms;
        self
    }

    /// Skips the `SELECT 1` check for connections handed back less than `ms` ago (0: check
    /// every checkout).
    pub fn with_check_idle(mut self, ms: u64) -> Self {
        self.check_idle = Duration::from_millis(ms);
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
    type Connection = Pooled;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Pooled, r2d2::Error> {
        let conn = match &self.url {
            DbUrl::Postgres(url) => {
                let mut conn =
                    PgConnection::establish(url).map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(&format!(
                    "SET statement_timeout = {}",
                    self.statement_timeout_ms
                ))
                .map_err(r2d2::Error::QueryError)?;
                DbConnection::Postgresql(conn)
            }
            DbUrl::Sqlite(path) => {
                let mut conn =
                    SqliteConnection::establish(path).map_err(r2d2::Error::ConnectionError)?;
                // busy_timeout first: switching to WAL can itself meet a lock.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA cache_size = -{};",
                    self.busy_timeout_ms, self.sqlite_cache_kib
                ))
                .map_err(r2d2::Error::QueryError)?;
                if !self.checkpoint_every.is_zero() {
                    self.checkpointer.call_once(|| {
                        let (path, every) = (path.clone(), self.checkpoint_every);
                        let (busy, alive) = (self.busy_timeout_ms, Arc::downgrade(&self.alive));
                        std::thread::spawn(move || checkpoint(&path, every, busy, alive));
                    });
                }
                json::register_sqlite(&mut conn).map_err(r2d2::Error::QueryError)?;
                DbConnection::Sqlite(conn)
            }
        };
        Ok(Pooled {
            conn,
            returned_at: Instant::now(),
            suspect: false,
        })
    }

    /// `SELECT 1`, unless the connection came back a moment ago and no unit of work has
    /// failed since: the check is a round trip, as costly as a whole retrieve.
    fn is_valid(&self, conn: &mut Pooled) -> Result<(), r2d2::Error> {
        let idle = conn.returned_at.elapsed();
        let failed_since = self
            .last_failure
            .lock()
            .ok()
            .and_then(|at| *at)
            .is_some_and(|at| at >= conn.returned_at);
        if idle < self.check_idle && !failed_since {
            return Ok(());
        }
        diesel::sql_query("SELECT 1")
            .execute(&mut conn.conn)
            .map(|_| ())
            .map_err(r2d2::Error::QueryError)
    }

    /// Called when a connection comes back: one whose work failed is dropped, and every
    /// other idle connection is checked before its next use.
    fn has_broken(&self, conn: &mut Pooled) -> bool {
        conn.returned_at = Instant::now();
        if conn.suspect {
            if let Ok(mut at) = self.last_failure.lock() {
                *at = Some(conn.returned_at);
            }
        }
        conn.suspect
    }
}

/// Checkpoints the WAL into the database and truncates it, every `every` while the pool
/// lives. SQLite's automatic checkpoints copy pages but restart the WAL only in a moment
/// without readers, which steady reads never leave: the WAL grew by gigabytes a minute
/// and its index, mapped by every connection, with it. TRUNCATE waits (at most a second,
/// holding writers back) for the readers of the old WAL to finish.
fn checkpoint(path: &str, every: Duration, busy_timeout_ms: u64, alive: Weak<()>) {
    let Ok(mut conn) = SqliteConnection::establish(path) else {
        return;
    };
    let wait = busy_timeout_ms.min(1000);
    if conn
        .batch_execute(&format!("PRAGMA busy_timeout = {wait}"))
        .is_err()
    {
        return;
    }
    loop {
        std::thread::sleep(every);
        if alive.upgrade().is_none() {
            return;
        }
        if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)") {
            tracing::debug!(error = %e, "WAL checkpoint put off");
        }
    }
}

/// A pooled connection with what the pool needs to know about its last use.
pub struct Pooled {
    conn: DbConnection,
    returned_at: Instant,
    /// Set when a unit of work failed on this connection with a server-side error (a lost
    /// server, a timeout): the connection is then not reused.
    pub suspect: bool,
}

impl Deref for Pooled {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
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
    fn sqlite_memory_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let manager = Manager::new(&format!("sqlite://{}", path.display()), 1000)
            .unwrap()
            .with_sqlite_memory(256, 20);
        let pool = pool(manager, 2, Duration::from_secs(5)).unwrap();
        let mut conn = pool.get().unwrap();
        let DbConnection::Sqlite(sqlite) = &mut **conn else {
            panic!("a SQLite connection");
        };
        #[derive(diesel::QueryableByName)]
        struct CacheSize {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            cache_size: i64,
        }
        let size: CacheSize = diesel::sql_query("PRAGMA cache_size")
            .get_result(sqlite)
            .unwrap();
        assert_eq!(size.cache_size, -256, "KiB per connection");
        // Writes leave a WAL; the checkpointer empties it while a reader stays connected.
        sqlite
            .batch_execute(
                "CREATE TABLE t (x BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL \
                 SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO t SELECT randomblob(500) FROM n;",
            )
            .unwrap();
        let wal = dir.path().join("t.db-wal");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::fs::metadata(&wal).map_or(0, |m| m.len()) > 0 {
            assert!(Instant::now() < deadline, "the WAL was never truncated");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://***@h/db");
    }
}
