//! One code path over SQLite and PostgreSQL: a `MultiConnection`, a pool whose
//! manager picks the backend from the URL scheme (a PostgreSQL URL never falls
//! through to a SQLite file), embedded migrations, and the two helpers every
//! caller uses: `run` (from async code, on the blocking pool) and `write_txn`
//! (a read-then-write transaction; `BEGIN IMMEDIATE` on SQLite).
//!
//! Queries live in one file per table and are plain sync functions.

pub mod audit;
pub mod clients;
pub mod failures;
pub mod keys;
pub mod leases;
pub mod schema;
pub mod sessions;
pub mod users;

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::R2D2Connection;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::DatabaseUrl;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

pub type DbPool = r2d2::Pool<Manager>;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// Serialises migrations of several instances starting at once on one PostgreSQL database.
const MIGRATION_LOCK: i64 = 0x7465_7373_6572_6101;
/// How long a request waits for a pooled connection before it answers 503.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("the blocking thread pool is gone")]
    Blocking,
}

impl DbError {
    /// A unique constraint said no (same kind on both backends).
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            Self::Query(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _))
        )
    }
}

/// Opens one connection of the backend the URL names.
pub fn establish(url: &DatabaseUrl) -> Result<DbConnection, DbError> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            let shown = path.display();
            create_private_file(path)
                .map_err(|e| DbError::Connect(format!("cannot create the SQLite database {shown}: {e}")))?;
            let text =
                path.to_str().ok_or_else(|| DbError::Connect(format!("the SQLite path {shown} is not UTF-8")))?;
            let mut conn = SqliteConnection::establish(text).map_err(|e| {
                DbError::Connect(format!("cannot open the SQLite database {shown}: {}", e.to_string().trim()))
            })?;
            // busy_timeout first: switching to WAL needs a lock that another connection may hold.
            conn.batch_execute(
                "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
            )
            .map_err(|e| DbError::Connect(format!("{shown} is not a usable SQLite database: {e}")))?;
            Ok(DbConnection::Sqlite(conn))
        }
        DatabaseUrl::Postgres(url) => {
            // libpq waits forever for an unreachable host unless told otherwise.
            let url = if url.contains("connect_timeout=") {
                url.clone()
            } else {
                format!("{url}{}connect_timeout=5", if url.contains('?') { '&' } else { '?' })
            };
            Ok(DbConnection::Postgres(PgConnection::establish(&url).map_err(connect_error)?))
        }
    }
}

/// Creates the database file (and its folder) readable by its owner only: it
/// holds password hashes and encrypted keys. An existing file is left as it is.
fn create_private_file(path: &std::path::Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn connect_error(e: ConnectionError) -> DbError {
    DbError::Connect(e.to_string().trim().to_owned())
}

/// r2d2 manager that connects with `establish`, never by trying each backend in turn.
#[derive(Debug)]
pub struct Manager {
    url: DatabaseUrl,
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = DbError;

    fn connect(&self) -> Result<DbConnection, DbError> {
        establish(&self.url)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        Ok(conn.ping()?)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// Connects once (so the real cause of a failure is reported at once, not
/// after r2d2's retries), runs pending migrations, and builds the pool.
pub fn connect(url: &DatabaseUrl, size: u32) -> Result<DbPool, DbError> {
    let mut first = establish(url)?;
    run_migrations(&mut first)?;
    drop(first);
    Ok(r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(CHECKOUT_TIMEOUT)
        .error_handler(Box::new(r2d2::LoggingErrorHandler))
        .build_unchecked(Manager { url: url.clone() }))
}

/// Applies every pending migration; returns the versions applied.
pub fn run_migrations(conn: &mut DbConnection) -> Result<Vec<String>, DbError> {
    let applied = match conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(versions),
        DbConnection::Postgres(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
            let result = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(versions);
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
            result
        }
    };
    applied.map_err(|e| DbError::Migration(e.to_string()))
}

fn versions(vs: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    vs.into_iter().map(|v| v.to_string()).collect()
}

/// Serialises transactions that check a condition over many rows and then
/// write (the "last enabled admin" rule): on PostgreSQL a transaction-scoped
/// advisory lock; SQLite's `BEGIN IMMEDIATE` already serialises every writer.
pub fn lock_for_update(conn: &mut DbConnection, lock: i64) -> diesel::QueryResult<()> {
    match conn {
        DbConnection::Postgres(c) => c.batch_execute(&format!("SELECT pg_advisory_xact_lock({lock})")),
        DbConnection::Sqlite(_) => Ok(()),
    }
}

/// The advisory lock of changes to roles and enabled state.
pub const USERS_LOCK: i64 = 0x7465_7373_6572_6102;

/// Runs `f` with a pooled connection on actix's blocking thread pool.
pub async fn run<T, F>(pool: &DbPool, f: F) -> Result<T, DbError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(move || {
        let mut conn = pool.get()?;
        f(&mut conn)
    })
    .await
    .map_err(|_| DbError::Blocking)?
}

/// Runs `f` in a transaction that may read and then write. On SQLite it is
/// `BEGIN IMMEDIATE`: a deferred transaction that upgrades its read lock fails
/// with "database is locked" under concurrency, busy_timeout or not.
pub fn write_txn<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        DbConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConnection::Postgres(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    // The multi-connection's transaction manager delegates to the inner one,
    // so commit and rollback see the transaction begun above.
    match f(conn) {
        Ok(value) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = <DbConnection as Connection>::TransactionManager::rollback_transaction(conn) {
                log::error!("rollback failed: {rollback}");
            }
            Err(e)
        }
    }
}
