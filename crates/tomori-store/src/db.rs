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
    migrate_with_progress(owner, |_, _, _| {}).await
}

/// [`migrate`], one migration at a time, calling `on_applied` with the migrations applied so
/// far, how many were pending, and the one just applied.
///
/// # Errors
/// As [`migrate`].
pub async fn migrate_with_progress(
    owner: &PgPool,
    mut on_applied: impl FnMut(u64, u64, &sqlx::migrate::Migration) + Send,
) -> Result<MigrationReport, StoreError> {
    let known = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let found = applied_version(owner).await?;
    if let Some(found) = found
        && found > known
    {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    let from = found.unwrap_or(0);
    let pending: Vec<&sqlx::migrate::Migration> = MIGRATOR
        .iter()
        .filter(|m| m.version > from && !m.migration_type.is_down_migration())
        .collect();
    let total = u64::try_from(pending.len()).unwrap_or(u64::MAX);
    for (done, migration) in (1_u64..).zip(pending) {
        MIGRATOR.run_to(migration.version, owner).await.map_err(|err| match err {
            sqlx::migrate::MigrateError::Execute(inner) => {
                StoreError::from_sqlx(inner, "migration")
            }
            other => StoreError::Migration(other),
        })?;
        on_applied(done, total, migration);
    }
    Ok(MigrationReport { from, to: known })
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

/// Whether `pool` reaches the database: one connection taken (an idle one is checked first) and
/// pinged, a round trip that reads nothing. For the readiness probe.
///
/// # Errors
/// The database is unavailable.
pub async fn ping(pool: &PgPool) -> Result<(), StoreError> {
    use sqlx::Connection as _;
    let mut connection = pool.acquire().await.about("database")?;
    connection.ping().await.about("database")
}

/// The role the application pool logs in as.
pub const APP_ROLE: &str = "tomori_app";

/// How the application pool logs in as [`APP_ROLE`].
pub enum AppLogin {
    /// A URL that already names `tomori_app` and its credentials (`[database] app_url`).
    Url(SecretString),
    /// The owner's URL with the user replaced by `tomori_app` and this password, which
    /// [`connect_app`] sets through the owner pool when the role does not accept it yet
    /// (see [`crate::secrets::KeyRing::app_password`]).
    Derived {
        /// The owner pool, which may set the role's password.
        owner: PgPool,
        /// The owner's URL (host, port, database and TLS options are kept).
        owner_url: SecretString,
        /// The password the role is given.
        password: SecretString,
    },
}

impl std::fmt::Debug for AppLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Url(_) => "AppLogin::Url",
            Self::Derived { .. } => "AppLogin::Derived",
        })
    }
}

/// PostgreSQL's SQLSTATEs for a refused login: wrong password, or no such / no login role.
fn is_login_refused(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == "28P01" || code == "28000")
}

/// Connects the application pool as [`APP_ROLE`] itself and refuses to use it if the session
/// could bypass row-level security.
///
/// # Errors
/// A malformed URL, an unreachable database, a login refused (for a derived login: even after
/// setting the password), a session that is not `tomori_app`, or a role with superuser or
/// BYPASSRLS rights.
pub async fn connect_app(login: &AppLogin, max_connections: u32) -> Result<PgPool, StoreError> {
    let pool_options =
        || PgPoolOptions::new().max_connections(max_connections).acquire_timeout(ACQUIRE_TIMEOUT);
    let pool = match login {
        AppLogin::Url(url) => pool_options().connect_with(options(url)?).await.about("database")?,
        AppLogin::Derived { owner, owner_url, password } => {
            let options = options(owner_url)?.username(APP_ROLE).password(password.expose_secret());
            match pool_options().connect_with(options.clone()).await {
                Ok(pool) => pool,
                Err(err) if is_login_refused(&err) => {
                    set_app_password(owner, password).await?;
                    pool_options().connect_with(options).await.about("database (as tomori_app)")?
                }
                Err(err) => return Err(StoreError::from_sqlx(err, "database (as tomori_app)")),
            }
        }
    };
    if let Err(err) = check_app_session(&pool).await {
        pool.close().await;
        return Err(err);
    }
    Ok(pool)
}

/// Sets the application role's password (and LOGIN) through the owner pool.
async fn set_app_password(owner: &PgPool, password: &SecretString) -> Result<(), StoreError> {
    sqlx::query!("SELECT tomori_set_app_password($1)", password.expose_secret())
        .execute(owner)
        .await
        .map_err(|err| {
            if err.as_database_error().and_then(|db| db.code()).is_some_and(|c| c == "42501") {
                StoreError::Invalid {
                    field: "database role",
                    reason: "the owner may not set tomori_app's password: grant it CREATEROLE, or \
                             set [database] app_url with tomori_app's own credentials"
                        .to_owned(),
                }
            } else {
                StoreError::from_sqlx(err, "tomori_app password")
            }
        })?;
    tracing::info!("database: tomori_app's login password set from the key ring");
    Ok(())
}

/// Security: cross-tenant leakage. The session itself must be `tomori_app`: a pool that logged
/// in as the owner and switched roles could `RESET ROLE` back to rights that row-level security
/// does not restrict.
async fn check_app_session(pool: &PgPool) -> Result<(), StoreError> {
    let row = sqlx::query!(
        r#"SELECT session_user::text AS "session!", rolsuper AS "superuser!",
                  rolbypassrls AS "bypass!"
           FROM pg_roles WHERE rolname = session_user"#
    )
    .fetch_one(pool)
    .await
    .about("database role")?;
    if row.session != APP_ROLE {
        return Err(StoreError::Invalid {
            field: "database role",
            reason: format!(
                "the application pool logged in as {:?}, not tomori_app: [database] app_url must name tomori_app",
                row.session
            ),
        });
    }
    if row.superuser || row.bypass {
        return Err(StoreError::Invalid {
            field: "database role",
            reason: "tomori_app must not be a superuser or have BYPASSRLS".to_owned(),
        });
    }
    Ok(())
}

/// Creates the application role if this server lacks it, as the first migration does: a dump
/// restored into a new server brings the grants to `tomori_app` but not the role, which is
/// global to the server.
///
/// # Errors
/// The owner may not create roles, or the database is unavailable.
pub async fn ensure_app_role(owner: &PgPool) -> Result<(), StoreError> {
    sqlx::raw_sql(
        "DO $$
         BEGIN
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tomori_app') THEN
                 CREATE ROLE tomori_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
             END IF;
         END
         $$",
    )
    .execute(owner)
    .await
    .about("tomori_app role")?;
    Ok(())
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
