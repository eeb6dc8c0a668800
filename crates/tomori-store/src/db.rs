//! Connecting, migrating and confining connections to the application role.

use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
/// The pool type, so callers need not depend on sqlx.
pub use sqlx::PgPool as Pool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::StoreError;
use crate::error::SqlxResultExt;

/// The migrations of this build, embedded at compile time. Forward-only: a released migration is
/// never edited, a change is a new file.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// How long to wait for a connection before calling the database unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

fn options(url: &SecretString) -> Result<PgConnectOptions, StoreError> {
    let options =
        PgConnectOptions::from_str(url.expose_secret()).map_err(|_| StoreError::Invalid {
            field: "database URL",
            // The URL may hold a password: never echo it.
            reason: "not a postgres:// URL".to_owned(),
        })?;
    Ok(options.application_name("tomori"))
}

/// Connects with the credentials in `url`, as the owner of the schema. Used for migrations and the
/// maintenance commands only.
///
/// # Errors
/// A malformed URL, or a database that cannot be reached.
pub async fn connect_owner(url: &SecretString) -> Result<PgPool, StoreError> {
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options(url)?)
        .await
        .about("database")
}

/// Applies the migrations this build has and the database lacks. Each migration runs in its own
/// transaction, so a failure leaves the schema at the previous version.
///
/// # Errors
/// A schema newer than this build ([`StoreError::SchemaTooNew`]), or a failing migration.
pub async fn migrate(owner: &PgPool) -> Result<MigrationReport, StoreError> {
    let known = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let found = applied_version(owner).await?;
    if let Some(found) = found
        && found > known
    {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    MIGRATOR.run(owner).await.map_err(|err| match err {
        sqlx::migrate::MigrateError::Execute(inner) => StoreError::from_sqlx(inner, "migration"),
        other => StoreError::Migration(other),
    })?;
    Ok(MigrationReport { from: found.unwrap_or(0), to: known })
}

/// What [`migrate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationReport {
    /// Schema version before (0 for an empty database).
    pub from: i64,
    /// Schema version after.
    pub to: i64,
}

/// The highest migration applied, or `None` for a database never migrated.
///
/// # Errors
/// The database is unavailable.
pub async fn applied_version(owner: &PgPool) -> Result<Option<i64>, StoreError> {
    let table_exists = sqlx::query_scalar!(
        r#"SELECT to_regclass('public._sqlx_migrations') IS NOT NULL AS "exists!""#
    )
    .fetch_one(owner)
    .await
    .about("migrations")?;
    if !table_exists {
        return Ok(None);
    }
    sqlx::query_scalar!("SELECT max(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(owner)
        .await
        .about("migrations")
}

/// Whether every migration of this build is applied (for `tomori doctor`).
///
/// # Errors
/// The database is unavailable.
pub async fn pending_migrations(owner: &PgPool) -> Result<usize, StoreError> {
    let applied = applied_version(owner).await?.unwrap_or(0);
    Ok(MIGRATOR.iter().filter(|m| m.version > applied).count())
}

/// Connects the application pool: every connection switches to the `tomori_app` role and
/// refuses to be used if that role could bypass row-level security.
///
/// # Errors
/// A malformed URL, an unreachable database, a missing `tomori_app` role (run the migrations
/// first), or a role with superuser or BYPASSRLS rights.
pub async fn connect_app(url: &SecretString, max_connections: u32) -> Result<PgPool, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // Security: cross-tenant leakage. The bot's queries run as a role that row-level
                // security applies to, whatever role the operator's DATABASE_URL logs in as.
                sqlx::query!("SET ROLE tomori_app").execute(&mut *conn).await?;
                Ok(())
            })
        })
        .connect_with(options(url)?)
        .await
        .about("database")?;
    let row = sqlx::query!(
        r#"SELECT rolsuper AS "superuser!", rolbypassrls AS "bypass!"
           FROM pg_roles WHERE rolname = current_user"#
    )
    .fetch_one(&pool)
    .await
    .about("database role")?;
    if row.superuser || row.bypass {
        pool.close().await;
        return Err(StoreError::Invalid {
            field: "database role",
            reason: "tomori_app must not be a superuser or have BYPASSRLS".to_owned(),
        });
    }
    Ok(pool)
}

/// Creates a database if it does not exist (the embedded cluster's `tomori` database).
///
/// # Errors
/// The name is not a plain identifier, or the server refused.
pub async fn ensure_database(admin: &PgPool, name: &str) -> Result<(), StoreError> {
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS "exists!""#,
        name
    )
    .fetch_one(admin)
    .await
    .about("database")?;
    if exists {
        return Ok(());
    }
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return Err(StoreError::Invalid {
            field: "database name",
            reason: "lower-case letters and _ only".to_owned(),
        });
    }
    // CREATE DATABASE takes no bind parameters; the name was checked to be a plain identifier.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin)
        .await
        .about("database")?;
    Ok(())
}
