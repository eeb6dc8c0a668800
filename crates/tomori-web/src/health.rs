//! `GET /health/live` and `GET /health/ready`.
//!
//! Live means the process answers. Ready means every [`Check`] passes: the database answers a
//! ping through the application pool, its schema has every migration of this build, and every
//! gateway shard has a session. Not ready is 503 with a JSON body naming each failing check and
//! why, in fixed words: the body is seen by whoever reaches the listener, so it never carries a
//! driver's error text (which may name hosts or users).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use tomori_store::db::Pool;

/// What a check returns: `Err` carries why it is not ready, in a few fixed words.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// One condition of readiness.
pub trait Check: Send + Sync + 'static {
    /// Its name in the JSON body (`database`, `migrations`, `gateway`).
    fn name(&self) -> &'static str;
    /// Whether it holds now.
    fn check(&self) -> CheckFuture<'_>;
}

/// Longest a check may take before it counts as not ready: a load balancer's probe should get
/// an answer well within its own timeout.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The checks `/health/ready` runs.
#[derive(Default)]
pub struct Readiness {
    checks: Vec<Box<dyn Check>>,
    timeout: Option<Duration>,
}

impl Readiness {
    /// No checks yet (ready).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a check.
    #[must_use]
    pub fn with(mut self, check: impl Check) -> Self {
        self.checks.push(Box::new(check));
        self
    }

    /// Another limit than [`CHECK_TIMEOUT`] for each check.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Runs every check at once; the failing ones, by name.
    pub async fn not_ready(&self) -> (Vec<&'static str>, BTreeMap<&'static str, String>) {
        let limit = self.timeout.unwrap_or(CHECK_TIMEOUT);
        let runs = self.checks.iter().map(|check| async move {
            let outcome = match tokio::time::timeout(limit, check.check()).await {
                Ok(outcome) => outcome,
                Err(_) => Err(format!("no answer within {} s", limit.as_secs_f64())),
            };
            (check.name(), outcome)
        });
        let mut names = Vec::new();
        let mut failing = BTreeMap::new();
        for (name, outcome) in futures_util::future::join_all(runs).await {
            names.push(name);
            if let Err(reason) = outcome {
                failing.insert(name, reason);
            }
        }
        (names, failing)
    }
}

pub(crate) async fn live() -> Json<Value> {
    Json(json!({ "status": "live" }))
}

pub(crate) async fn ready(State(readiness): State<Arc<Readiness>>) -> (StatusCode, Json<Value>) {
    let (names, failing) = readiness.not_ready().await;
    let checks: BTreeMap<&str, &str> = names
        .iter()
        .map(|name| (*name, if failing.contains_key(name) { "not_ready" } else { "ok" }))
        .collect();
    if failing.is_empty() {
        (StatusCode::OK, Json(json!({ "status": "ready", "checks": checks })))
    } else {
        let body = json!({ "status": "not_ready", "checks": checks, "not_ready": failing });
        (StatusCode::SERVICE_UNAVAILABLE, Json(body))
    }
}

/// The database answers through the application pool.
#[derive(Debug, Clone)]
pub struct DatabaseCheck {
    app: Pool,
}

impl DatabaseCheck {
    /// Pings through `app`, the pool the bot's turns use.
    pub fn new(app: Pool) -> Self {
        Self { app }
    }
}

impl Check for DatabaseCheck {
    fn name(&self) -> &'static str {
        "database"
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            tomori_store::db::ping(&self.app).await.map_err(|_| "unreachable".to_owned())
        })
    }
}

/// Every migration of this build is applied. Reads the migrations table, which only the owner
/// of the schema may read.
#[derive(Debug, Clone)]
pub struct MigrationsCheck {
    owner: Pool,
}

impl MigrationsCheck {
    /// Checks through `owner`, the schema owner's pool.
    pub fn new(owner: Pool) -> Self {
        Self { owner }
    }
}

impl Check for MigrationsCheck {
    fn name(&self) -> &'static str {
        "migrations"
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            match tomori_store::db::pending_migrations(&self.owner).await {
                Ok(0) => Ok(()),
                Ok(n) => Err(format!("{n} migration(s) pending")),
                Err(_) => Err("cannot read the schema version".to_owned()),
            }
        })
    }
}

/// One gateway shard's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardState {
    /// Its number.
    pub id: u32,
    /// Whether it has a session (identified or resumed, and not closed since).
    pub connected: bool,
}

/// The shards of a chat platform's gateway, whatever the platform.
pub trait ShardStates: Send + Sync + 'static {
    /// Every shard this process runs, or `None` while the gateway is not started yet.
    fn shards(&self) -> Option<Vec<ShardState>>;
}

/// Every shard has a session.
#[derive(Clone)]
pub struct GatewayCheck {
    states: Arc<dyn ShardStates>,
}

impl GatewayCheck {
    /// Checks `states`.
    pub fn new(states: Arc<dyn ShardStates>) -> Self {
        Self { states }
    }
}

impl Check for GatewayCheck {
    fn name(&self) -> &'static str {
        "gateway"
    }

    fn check(&self) -> CheckFuture<'_> {
        let verdict = match self.states.shards() {
            None => Err("not started".to_owned()),
            Some(shards) if shards.is_empty() => Err("no shards".to_owned()),
            Some(shards) => {
                let down: Vec<String> =
                    shards.iter().filter(|s| !s.connected).map(|s| s.id.to_string()).collect();
                if down.is_empty() {
                    Ok(())
                } else {
                    Err(format!("shard(s) {} not connected", down.join(", ")))
                }
            }
        };
        Box::pin(std::future::ready(verdict))
    }
}
