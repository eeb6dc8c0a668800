//! What a load run stands on: its database (a private embedded cluster, or a fresh database on
//! the server `--database-url` names) and the bot as a child process.
//!
//! The embedded cluster can be stopped and started again mid-run (the PostgreSQL-restart
//! scenario). The bot runs with a cleared environment: the database URL, the test key, and the
//! fakes' loopback URLs, exactly as the end-to-end tests start it. Its memory is read from
//! `/proc/<pid>/status`.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tokio::process::{Child, Command};
use tomori_core::id::Snowflake;
use tomori_core::limits::Limits;
use tomori_core::lorebook::{Lorebook, LorebookBounds};
use tomori_store::audit::Actor;
use tomori_store::embedded::{EmbeddedOptions, EmbeddedPostgres, with_database};
use tomori_store::memories;
use tomori_store::personas::{self, NewPersona};
use tomori_store::secrets::KeyRing;
use tomori_store::{Scope, Store};

use super::LoadError;
use crate::TEST_SECRET_V1;

/// The name of the persona every guild gets (also the word that triggers it).
pub(super) const PERSONA: &str = "Tomori";

/// The run's database.
pub(super) enum Database {
    /// A private cluster under a directory of the run's.
    Embedded {
        /// The running server; `None` while it is stopped.
        server: Option<EmbeddedPostgres>,
        options: EmbeddedOptions,
        url: SecretString,
    },
    /// A database created for the run on an existing server, dropped at the end.
    Server { admin: Box<PgConnectOptions>, name: String, url: SecretString },
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Embedded { options, .. } => {
                f.debug_struct("Embedded").field("root", &options.root).finish_non_exhaustive()
            }
            Database::Server { name, .. } => {
                f.debug_struct("Server").field("name", name).finish_non_exhaustive()
            }
        }
    }
}

fn database_error(what: &'static str) -> impl FnOnce(tomori_store::StoreError) -> LoadError {
    move |source| LoadError::Database { what, source: Box::new(source) }
}

impl Database {
    /// Starts a private cluster under `root`, or creates `name` on the server of `server_url`;
    /// then migrates it.
    pub(super) async fn open(
        server_url: Option<&SecretString>,
        root: &Path,
        name: &str,
    ) -> Result<Self, LoadError> {
        let database = match server_url {
            None => {
                let options =
                    EmbeddedOptions { root: root.to_owned(), bin_dir: None, throwaway: true };
                let server = EmbeddedPostgres::start(options.clone()).await.map_err(|source| {
                    LoadError::Database {
                        what: "starting the embedded PostgreSQL",
                        source: Box::new(source),
                    }
                })?;
                let url = server.database_url(name);
                let database = Database::Embedded { server: Some(server), options, url };
                database.create(&database.admin_url(), name).await?;
                database
            }
            Some(server) => {
                let admin = PgConnectOptions::from_str(server.expose_secret())
                    .map_err(|source| LoadError::Database {
                        what: "reading the database URL",
                        source: Box::new(source),
                    })?
                    .database("postgres");
                let url = SecretString::from(with_database(server.expose_secret(), name));
                let database =
                    Database::Server { admin: Box::new(admin), name: name.to_owned(), url };
                database.create(&database.admin_url(), name).await?;
                database
            }
        };
        let owner = tomori_store::db::connect_owner(database.url())
            .await
            .map_err(database_error("connecting"))?;
        let migrated = tomori_store::db::migrate(&owner).await;
        owner.close().await;
        migrated.map_err(database_error("migrating the database"))?;
        Ok(database)
    }

    fn admin_url(&self) -> SecretString {
        match self {
            Database::Embedded { url, .. } | Database::Server { url, .. } => {
                SecretString::from(with_database(url.expose_secret(), "postgres"))
            }
        }
    }

    async fn create(&self, admin_url: &SecretString, name: &str) -> Result<(), LoadError> {
        let admin = tomori_store::db::connect_owner(admin_url)
            .await
            .map_err(database_error("connecting to the server"))?;
        let created = tomori_store::db::ensure_database(&admin, name).await;
        admin.close().await;
        created.map_err(database_error("creating the run's database"))
    }

    /// The database's URL, as its owner (what the bot gets as `DATABASE_URL`).
    pub(super) fn url(&self) -> &SecretString {
        match self {
            Database::Embedded { url, .. } | Database::Server { url, .. } => url,
        }
    }

    /// Whether the server can be stopped and started (only the embedded one, which is ours).
    pub(super) fn can_restart(&self) -> bool {
        matches!(self, Database::Embedded { .. })
    }

    /// Stops the embedded server (`pg_ctl stop -m fast`).
    pub(super) async fn stop_server(&mut self) -> Result<(), LoadError> {
        if let Database::Embedded { server, .. } = self
            && let Some(running) = server.take()
        {
            running.stop().await.map_err(|source| LoadError::Database {
                what: "stopping the embedded PostgreSQL",
                source: Box::new(source),
            })?;
        }
        Ok(())
    }

    /// Starts the embedded server again.
    pub(super) async fn start_server(&mut self) -> Result<(), LoadError> {
        if let Database::Embedded { server, options, .. } = self
            && server.is_none()
        {
            let started = EmbeddedPostgres::start(options.clone()).await.map_err(|source| {
                LoadError::Database {
                    what: "starting the embedded PostgreSQL again",
                    source: Box::new(source),
                }
            })?;
            *server = Some(started);
        }
        Ok(())
    }

    /// Stops the embedded server and removes its directory, or drops the run's database.
    pub(super) async fn close(self) {
        match self {
            Database::Embedded { server, options, .. } => {
                if let Some(server) = server {
                    let _ = server.stop().await;
                }
                let _ = std::fs::remove_dir_all(&options.root);
            }
            Database::Server { admin, name, .. } => {
                if let Ok(mut connection) = PgConnection::connect_with(&admin).await {
                    // The name is ours (`loadgen_<pid>_<n>`), never input.
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut connection).await;
                    let _ = connection.close().await;
                }
            }
        }
    }
}

/// Gives every guild the persona [`PERSONA`] and `memories` server memories, as an operator
/// would before inviting the bot.
pub(super) async fn seed(
    url: &SecretString,
    guilds: &[u64],
    memories: u32,
    lorebook: u32,
) -> Result<(), LoadError> {
    let ring = KeyRing::new([(1, SecretString::from(TEST_SECRET_V1.to_owned()))], None).map_err(
        |source| LoadError::Database { what: "building the key ring", source: Box::new(source) },
    )?;
    let owner = tomori_store::db::connect_owner(url).await.map_err(database_error("connecting"))?;
    let login = tomori_store::db::AppLogin::Derived {
        owner: owner.clone(),
        owner_url: url.clone(),
        password: ring.app_password(),
    };
    let pool = tomori_store::db::connect_app(&login, 4).await;
    owner.close().await;
    let pool = pool.map_err(database_error("connecting"))?;
    let store = Store::new(pool, Arc::new(ring), Limits::default());
    let result = async {
        for guild in guilds {
            let snowflake = Snowflake::new(*guild).map_err(|source| LoadError::Database {
                what: "naming a guild",
                source: Box::new(source),
            })?;
            let server = store
                .resolve_guild(snowflake)
                .await
                .map_err(database_error("resolving a guild"))?;
            let persona = NewPersona {
                nickname: PERSONA.to_owned(),
                prompt: "You are Tomori, a calm tea-house keeper.".to_owned(),
                ..NewPersona::default()
            };
            let persona = personas::create(&store, Scope::server(server), Actor::Operator, persona)
                .await
                .map_err(database_error("creating a persona"))?;
            let taught: Vec<String> = (0..memories)
                .map(|n| {
                    format!("Guest note {n}: prefers sencha brewed at 70 degrees for two minutes.")
                })
                .collect();
            let taught: Vec<&str> = taught.iter().map(String::as_str).collect();
            memories::add_server_many(
                &store,
                Scope::server(server),
                Actor::Operator,
                persona.lineage,
                None,
                &taught,
            )
            .await
            .map_err(database_error("teaching memories"))?;
            if lorebook > 0 {
                let book = lorebook_json(lorebook);
                tomori_store::lorebooks::set(
                    &store,
                    Scope::server(server),
                    Actor::Operator,
                    persona.id,
                    Some(&book),
                )
                .await
                .map_err(database_error("storing a lorebook"))?;
            }
        }
        Ok(())
    }
    .await;
    store.close().await;
    result
}

/// A lorebook of `entries` entries, as card import stores it: entry 0 fires on every load
/// message (its key is "tea"), entry 1 is constant, a tenth of the rest have regular-expression
/// keys, and none of the rest ever matches, so every turn scans all of them.
fn lorebook_json(entries: u32) -> serde_json::Value {
    let entry = |n: u32| {
        let key = match n {
            0 => "tea".to_owned(),
            n if n % 10 == 5 => format!("/\\bkettle{n}s?\\b/i"),
            n => format!("lantern{n}"),
        };
        serde_json::json!({
            "id": n,
            "keys": [key],
            "content": format!("Lore {n}: the tea house keeps its lantern {n} lit after dark."),
            "constant": n == 1,
            "enabled": true,
            "insertion_order": 100,
            "position": if n.is_multiple_of(2) { "before_char" } else { "after_char" },
        })
    };
    let book = serde_json::json!({
        "name": "Tea house",
        "entries": (0..entries).map(entry).collect::<Vec<_>>(),
    });
    // Stored as tomori-core writes it, like a card's lorebook.
    Lorebook::from_character_book(&book, &LorebookBounds::default())
        .map(|book| book.to_character_book())
        .unwrap_or(book)
}

/// Where the bot connects.
#[derive(Debug, Clone)]
pub(super) struct BotSetup {
    pub(super) database_url: SecretString,
    pub(super) token: String,
    pub(super) api_base: String,
    pub(super) gateway_url: String,
    pub(super) llm_base_url: String,
}

/// The bot as a child process; killed if the value is dropped while it runs.
#[derive(Debug)]
pub(super) struct Bot {
    child: Child,
    pid: u32,
    log: PathBuf,
}

/// Memory of the bot process, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Memory {
    /// Resident set size now (`VmRSS`).
    pub(super) rss_kib: u64,
    /// Peak resident set size (`VmHWM`).
    pub(super) peak_kib: u64,
}

impl Bot {
    /// Starts `tomori run` in `dir`, logging to `dir/bot.log`.
    pub(super) fn spawn(binary: &Path, dir: &Path, setup: &BotSetup) -> Result<Self, LoadError> {
        let log = dir.join("bot.log");
        let log_file = std::fs::File::create(&log).map_err(|source| LoadError::Io {
            what: "creating the bot's log",
            path: log.clone(),
            source,
        })?;
        let mut command = Command::new(binary);
        command
            .arg("run")
            .current_dir(dir)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("DATABASE_URL", setup.database_url.expose_secret())
            .env("TOMORI_SECRET_V1", TEST_SECRET_V1)
            .env("TOMORI_LOG__LEVEL", "info")
            .env("TOMORI_LOG__FORMAT", "json")
            .env("TOMORI_DISCORD__TOKEN", &setup.token)
            .env("TOMORI_DISCORD__API_BASE", &setup.api_base)
            .env("TOMORI_DISCORD__GATEWAY_URL", &setup.gateway_url)
            .env("TOMORI_PROVIDERS__LOCAL__KIND", "openai-compatible")
            .env("TOMORI_PROVIDERS__LOCAL__BASE_URL", &setup.llm_base_url)
            .env("TOMORI_PROVIDERS__LOCAL__MODEL", "fake-model")
            .env("TOMORI_PROVIDERS__LOCAL__API_KEY", "sk-loadgen-fake")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true);
        let child = command.spawn().map_err(|source| LoadError::Io {
            what: "starting the bot",
            path: binary.to_owned(),
            source,
        })?;
        let pid = child.id().ok_or_else(|| LoadError::BotExited {
            status: "exited at once".to_owned(),
            log_tail: String::new(),
        })?;
        Ok(Self { child, pid, log })
    }

    /// Its log file.
    pub(super) fn log(&self) -> &Path {
        &self.log
    }

    /// The error to return when the bot is gone: its exit status and the end of its log.
    pub(super) fn check_alive(&mut self) -> Result<(), LoadError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(LoadError::BotExited {
                status: status.to_string(),
                log_tail: log_tail(&self.log, 15),
            }),
            Err(source) => Err(LoadError::Io {
                what: "watching the bot",
                path: PathBuf::from(format!("/proc/{}", self.pid)),
                source,
            }),
        }
    }

    /// Its memory now, from `/proc/<pid>/status`.
    pub(super) fn memory(&self) -> Option<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let field = |name: &str| {
            status.lines().find_map(|line| {
                let value = line.strip_prefix(name)?.trim().strip_suffix("kB")?;
                value.trim().parse::<u64>().ok()
            })
        };
        Some(Memory { rss_kib: field("VmRSS:")?, peak_kib: field("VmHWM:")? })
    }

    /// Asks it to stop (SIGTERM), then kills it after `grace`; returns how it ended.
    pub(super) async fn stop(mut self, grace: Duration) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(status)) => Some(status),
            _ => {
                let _ = self.child.kill().await;
                None
            }
        }
    }
}

/// The last `lines` lines of a log file.
pub(super) fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all.get(all.len().saturating_sub(lines)..).unwrap_or_default().join("\n")
}
