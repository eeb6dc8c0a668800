//! Test harness (a dev-dependency only): a fresh PostgreSQL database per test, cloned from a
//! migrated template.
//!
//! `DATABASE_URL` names the server (any database on it; the harness connects to its `postgres`
//! database to create others). `cargo xtask test` starts a private throwaway cluster and sets it;
//! a developer may point it at any PostgreSQL 15+ server where the user may create databases and
//! roles. Tests never share a database, so they run in parallel and need no ordering.
//!
//! Beside the database: the fake Discord ([`fake_discord`]), the fake model servers
//! ([`fake_llm`]), and the load harness ([`load`], with its `loadgen` binary) that runs the real
//! bot against both.

use std::process;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use tomori_core::limits::Limits;
use tomori_store::Store;
use tomori_store::embedded::with_database;
use tomori_store::secrets::KeyRing;

pub mod fake_comfy;
pub mod fake_discord;
pub mod fake_llm;
pub mod fake_mcp;
pub mod http;
pub mod load;
pub mod pdf;
pub mod webdriver;

pub use pdf::pdf_with;

/// A master secret for tests (version 1).
pub const TEST_SECRET_V1: &str = "test-secret-version-one-0123456789abcdef";
/// A second master secret for rotation tests (version 2).
pub const TEST_SECRET_V2: &str = "test-secret-version-two-0123456789abcdef";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Installs the rustls crypto provider once; every test harness entry calls it first.
pub fn init() {
    // A second install returns Err, which is fine: the provider is then already the same one.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The server's URL from `DATABASE_URL`.
///
/// # Panics
/// When `DATABASE_URL` is unset: tests must not silently skip the database.
pub fn server_url() -> SecretString {
    #[expect(
        clippy::disallowed_methods,
        reason = "the test harness reads its one setting from the environment"
    )]
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => SecretString::from(url),
        _ => panic!(
            "DATABASE_URL is not set: run the tests with `cargo xtask test`, which starts a private PostgreSQL"
        ),
    }
}

/// A test's own database, dropped when the value is dropped.
pub struct TestDb {
    name: String,
    url: SecretString,
    server: PgConnectOptions,
    owner: PgPool,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb").field("name", &self.name).finish_non_exhaustive()
    }
}

fn migrations_hash() -> String {
    let mut hasher = Sha256::new();
    for migration in tomori_store::db::MIGRATOR.iter() {
        hasher.update(migration.version.to_be_bytes());
        hasher.update(&migration.checksum);
    }
    hasher.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
}

impl TestDb {
    /// Creates `test_<pid>_<n>` from the migrated template (building the template first if this
    /// migration set has none yet).
    ///
    /// # Panics
    /// When the server cannot be reached or refuses; a test cannot go on without its database.
    pub async fn new() -> Self {
        init();
        let server = PgConnectOptions::from_str(server_url().expose_secret())
            .expect("DATABASE_URL is a postgres:// URL")
            .database("postgres");
        let mut admin = PgConnection::connect_with(&server).await.expect("connect to DATABASE_URL");
        let template = format!("tomori_tpl_{}", migrations_hash());
        // Parallel test processes agree on who builds the template through an advisory lock.
        sqlx::query("SELECT pg_advisory_lock(7283945)").execute(&mut admin).await.expect("lock");
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&template)
                .fetch_one(&mut admin)
                .await
                .expect("look up template");
        if !exists {
            build_template(&mut admin, &server, &template).await;
        }
        drop_stale(&mut admin).await;
        sqlx::query("SELECT pg_advisory_unlock(7283945)")
            .execute(&mut admin)
            .await
            .expect("unlock");

        let name = format!("test_{}_{}", process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name} TEMPLATE {template}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        admin.close().await.ok();
        let options = server.clone().database(&name);
        let owner = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .expect("connect test db");
        let url = SecretString::from(with_database(server_url().expose_secret(), &name));
        Self { name, url, server, owner }
    }

    /// The database's URL, as the owner.
    pub fn url(&self) -> &SecretString {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A pool connected as the owner (migrations, maintenance, and tampering in tests).
    pub fn owner(&self) -> &PgPool {
        &self.owner
    }

    /// A test key ring: version 1 only, or versions 1 and 2 with `current` chosen.
    pub fn key_ring(versions: &[u32], current: Option<u32>) -> Arc<KeyRing> {
        let masters = versions.iter().map(|v| {
            let secret = if *v == 1 { TEST_SECRET_V1 } else { TEST_SECRET_V2 };
            (*v, SecretString::from(secret.to_owned()))
        });
        Arc::new(KeyRing::new(masters, current).expect("test key ring"))
    }

    /// A store on this database with the application role, test key version 1 and default limits.
    pub async fn store(&self) -> Store {
        self.store_with(Self::key_ring(&[1], None), Limits::default()).await
    }

    /// A store with a given key ring and limits.
    pub async fn store_with(&self, keys: Arc<KeyRing>, limits: Limits) -> Store {
        let login = tomori_store::db::AppLogin::Derived {
            owner: self.owner.clone(),
            owner_url: self.url.clone(),
            password: keys.app_password(),
        };
        let pool = tomori_store::db::connect_app(&login, 4).await.expect("application pool");
        Store::new(pool, keys, limits)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let server = self.server.clone();
        // Drop runs inside the test's runtime, which cannot block on itself: use a thread with its
        // own. The pools' connections belong to the test's runtime, so they are not closed from
        // here; WITH (FORCE) ends them on the server side.
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                if let Ok(mut admin) = PgConnection::connect_with(&server).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await;
                }
            });
        });
        let _ = dropper.join();
    }
}

async fn build_template(admin: &mut PgConnection, server: &PgConnectOptions, template: &str) {
    let building = format!("{template}_building");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)")))
        .execute(&mut *admin)
        .await
        .expect("drop half-built template");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {building}")))
        .execute(&mut *admin)
        .await
        .expect("create template");
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(server.clone().database(&building))
        .await
        .expect("connect template");
    tomori_store::db::migrate(&pool).await.expect("migrate template");
    pool.close().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("ALTER DATABASE {building} RENAME TO {template}")))
        .execute(&mut *admin)
        .await
        .expect("publish template");
}

/// Drops databases of test processes that no longer exist (a crashed or killed run).
async fn drop_stale(admin: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'test\\_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for name in names {
        let pid = name.split('_').nth(1).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut *admin)
            .await;
        }
    }
}

/// Edits the newest audit row behind the application's back, as an attacker with database access
/// would (for tests of `tomori audit verify`).
pub async fn tamper_audit_row(db: &TestDb) {
    sqlx::query(
        "UPDATE audit_log SET action = 'tampered' WHERE id = (SELECT max(id) FROM audit_log)",
    )
    .execute(db.owner())
    .await
    .expect("tamper with the audit log");
}

/// Records a migration this build does not know, as a newer Tomori would have.
pub async fn pretend_newer_schema(db: &TestDb) {
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99999999, 'from the future', true, '\\x00', 0)",
    )
    .execute(db.owner())
    .await
    .expect("record a future migration");
}

/// Takes from the application role the right to read quota counters, so that every quota check
/// fails as it would with a broken database: a fault a test causes on purpose.
pub async fn break_quota_reads(db: &TestDb) {
    sqlx::query("REVOKE SELECT ON quota_counters FROM tomori_app")
        .execute(db.owner())
        .await
        .expect("revoke reading quota counters");
}

/// Every audit row's action, oldest first, across all chains (read as the owner, for tests that
/// check what a command recorded, or that it recorded nothing).
pub async fn audit_actions(db: &TestDb) -> Vec<String> {
    sqlx::query_scalar("SELECT action FROM audit_log ORDER BY id")
        .fetch_all(db.owner())
        .await
        .expect("read the audit log")
}
