//! Operator MCP servers: child processes speaking MCP on stdin/stdout, from `[mcp.<name>]` in the
//! config file.
//!
//! Each server has a supervisor task: start the process, open the session and list its tools
//! (within [`McpTimeouts::connect`]), publish the tools, wait for the process to end, then start
//! it again after a pause that doubles from [`RESTART_MIN`] up to [`RESTART_MAX`] (and falls back
//! to the minimum once a run lasted [`RESTART_STABLE`]). While a server is down its last listed
//! tools stay offered, and a call fails with a reason the model can read. When a server says its
//! tool list changed (`notifications/tools/list_changed`), its tools are listed again.
//!
//! Security: MCP servers have host trust (TomoriBot's threat model: "A local MCP server runs
//! malicious code on the host"). Only the operator's config file names these commands, and each
//! starts with an empty environment plus `PATH` and the variables the operator listed for it,
//! so the bot's own secrets (Discord token, key ring, database URL) are never inherited. The
//! process leads its own process group, which is killed when the server is dropped.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use futures_util::stream::StreamExt;
use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
use rmcp::RoleClient;
use rmcp::model::{CallToolResult, JsonObject};
use rmcp::service::Peer;
use rmcp::transport::TokioChildProcess;
use secrecy::{ExposeSecret, SecretString};
use tokio::process::ChildStderr;
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, LinesCodec};
use tokio_util::sync::CancellationToken;
use tomori_core::id::ServerId;

use super::session::{self, Running};
use super::{Connection, McpError, McpTimeouts, McpTool, Origin, TOOLS_PER_SERVER};
use crate::gate::{Registry, ToolSource, WarnedOnce};

/// The first pause before a restart.
pub const RESTART_MIN: Duration = Duration::from_secs(1);
/// The longest pause before a restart.
pub const RESTART_MAX: Duration = Duration::from_secs(60);
/// A run this long resets the pause to [`RESTART_MIN`].
pub const RESTART_STABLE: Duration = Duration::from_secs(60);
/// Characters of one stderr line logged.
const STDERR_LINE_CHARS: usize = 2_000;

/// One operator server, as `[mcp.<name>]` describes it.
#[derive(Clone, Debug)]
pub struct StdioConfig {
    /// The server's name (in logs and in the model's tool descriptions).
    pub name: String,
    /// The program to run.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// `PATH` for the process (the bot's own, read by the config loader), if any.
    pub path: Option<String>,
    /// The only other variables the process gets.
    pub env: BTreeMap<String, SecretString>,
}

/// Where a server stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerStatus {
    /// The first start is under way.
    Starting,
    /// Running, with this many tools.
    Running {
        /// Tools listed.
        tools: usize,
        /// Restarts so far.
        restarts: u32,
    },
    /// Down; it starts again after a pause.
    Restarting {
        /// Restarts so far, this one included.
        restarts: u32,
        /// Why the last run ended or did not start.
        reason: String,
    },
}

/// The operator's stdio servers, as a [`ToolSource`] for the gate.
#[derive(Clone)]
pub struct OperatorMcp {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for OperatorMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.inner.servers.iter().map(|s| s.config.name.as_str()).collect();
        f.debug_struct("OperatorMcp").field("servers", &names).finish_non_exhaustive()
    }
}

struct Inner {
    servers: Vec<Arc<StdioServer>>,
    registry: Mutex<Arc<Registry>>,
    stop: CancellationToken,
    /// Skipped tools already logged.
    warned: WarnedOnce,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The supervisors end, and with them the sessions and the processes.
        self.stop.cancel();
    }
}

struct StdioServer {
    config: StdioConfig,
    timeouts: McpTimeouts,
    /// The session's peer while the process runs.
    peer: Mutex<Option<Peer<RoleClient>>>,
    /// The tools of the last successful listing.
    tools: Mutex<Vec<rmcp::model::Tool>>,
    status: tokio::sync::watch::Sender<ServerStatus>,
    /// Woken when the running session says its tool list changed.
    tools_changed: Arc<tokio::sync::Notify>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing here can leave the data half-changed, so a poisoned lock is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl OperatorMcp {
    /// Starts a supervisor for each server (on the current Tokio runtime) and returns at once;
    /// see [`OperatorMcp::ready`].
    pub fn start(configs: Vec<StdioConfig>, timeouts: McpTimeouts) -> Self {
        let servers: Vec<Arc<StdioServer>> = configs
            .into_iter()
            .map(|config| {
                Arc::new(StdioServer {
                    config,
                    timeouts,
                    peer: Mutex::new(None),
                    tools: Mutex::new(Vec::new()),
                    status: tokio::sync::watch::Sender::new(ServerStatus::Starting),
                    tools_changed: Arc::new(tokio::sync::Notify::new()),
                })
            })
            .collect();
        let inner = Arc::new(Inner {
            servers,
            registry: Mutex::new(Arc::new(Registry::new())),
            stop: CancellationToken::new(),
            warned: WarnedOnce::default(),
        });
        for server in &inner.servers {
            let task = supervise(Arc::clone(server), Arc::downgrade(&inner), inner.stop.clone());
            tokio::spawn(task);
        }
        Self { inner }
    }

    /// Waits until every server has finished its first start, well or badly, or `limit` passed.
    pub async fn ready(&self, limit: Duration) {
        let wait = async {
            for server in &self.inner.servers {
                let mut status = server.status.subscribe();
                // An error means the supervisor ended: nothing more to wait for.
                let _ = status.wait_for(|s| *s != ServerStatus::Starting).await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }

    /// Each server's name and status, in config order.
    pub fn statuses(&self) -> Vec<(String, ServerStatus)> {
        self.inner
            .servers
            .iter()
            .map(|s| (s.config.name.clone(), s.status.borrow().clone()))
            .collect()
    }

    /// Waits until server `name`'s status satisfies `done`, or `limit` passed; the status then.
    pub async fn wait_for(
        &self,
        name: &str,
        limit: Duration,
        done: impl Fn(&ServerStatus) -> bool,
    ) -> Option<ServerStatus> {
        let server = self.inner.servers.iter().find(|s| s.config.name == name)?;
        let mut status = server.status.subscribe();
        let _ = tokio::time::timeout(limit, status.wait_for(|s| done(s))).await;
        let now = status.borrow().clone();
        Some(now)
    }

    /// Stops every server.
    pub fn stop(&self) {
        self.inner.stop.cancel();
    }
}

impl Inner {
    /// Rebuilds the offered tools from every server's last listing, in config order; a tool
    /// that cannot be registered (bad name, bad schema, a name another server took) is skipped.
    fn rebuild(&self) {
        let mut registry = Registry::new();
        for server in &self.servers {
            let tools = lock(&server.tools).clone();
            for tool in tools.iter().take(TOOLS_PER_SERVER) {
                let connection: Arc<dyn Connection> = Arc::clone(server) as Arc<dyn Connection>;
                let registered =
                    McpTool::new(&server.config.name, tool, Origin::Operator, connection)
                        .and_then(|tool| registry.register(tool).map_err(|e| e.to_string()));
                if let Err(reason) = registered
                    && self.warned.first(format!("{}/{}: {reason}", server.config.name, tool.name))
                {
                    tracing::warn!(server = %server.config.name, tool = %tool.name, %reason, "mcp: tool skipped");
                }
            }
        }
        *lock(&self.registry) = Arc::new(registry);
    }
}

impl ToolSource for OperatorMcp {
    fn tools(&self, _server: ServerId) -> BoxFuture<'_, Arc<Registry>> {
        let registry = Arc::clone(&lock(&self.inner.registry));
        async move { registry }.boxed()
    }
}

impl Connection for StdioServer {
    fn call(
        &self,
        tool: String,
        arguments: JsonObject,
    ) -> BoxFuture<'_, Result<CallToolResult, String>> {
        let peer = lock(&self.peer).clone();
        async move {
            let name = &self.config.name;
            let Some(peer) = peer else {
                return Err(format!("unavailable: the MCP server {name} is restarting"));
            };
            let result = session::call(&peer, tool, arguments, self.timeouts.call)
                .await
                .map_err(|error| error.for_model(name))?;
            super::too_large(name, &result).map_or(Ok(result), Err)
        }
        .boxed()
    }
}

/// The process for `config`: its own process group, killed on drop, stdout and stdin for MCP,
/// stderr to the log.
fn spawn(config: &StdioConfig) -> Result<(TokioChildProcess, Option<ChildStderr>), McpError> {
    let mut command = tokio::process::Command::new(&config.command);
    command.args(&config.args);
    // Security: secrets inherited by MCP servers. Nothing of the bot's environment passes but
    // PATH; the operator lists everything else the server needs.
    command.env_clear();
    if let Some(path) = &config.path {
        command.env("PATH", path);
    }
    for (key, value) in &config.env {
        command.env(key, value.expose_secret());
    }
    command.kill_on_drop(true);
    let mut wrapped = CommandWrap::from(command);
    wrapped.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
    TokioChildProcess::builder(wrapped)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| McpError::Spawn(format!("{}: {e}", config.command)))
}

/// Logs what a server writes on stderr, line by line.
async fn log_stderr(name: String, stderr: ChildStderr) {
    let mut lines = FramedRead::new(stderr, LinesCodec::new_with_max_length(STDERR_LINE_CHARS));
    while let Some(line) = lines.next().await {
        match line {
            Ok(line) => tracing::info!(server = %name, "mcp stderr: {line}"),
            // A line too long is dropped; the codec resumes at the next one.
            Err(tokio_util::codec::LinesCodecError::MaxLineLengthExceeded) => {}
            Err(tokio_util::codec::LinesCodecError::Io(_)) => return,
        }
    }
}

/// Starts the process and opens its session.
async fn start(server: &StdioServer) -> Result<(Running, Vec<rmcp::model::Tool>), McpError> {
    let (transport, stderr) = spawn(&server.config)?;
    if let Some(stderr) = stderr {
        tokio::spawn(log_stderr(server.config.name.clone(), stderr));
    }
    let changed = Arc::clone(&server.tools_changed);
    session::open(transport, server.timeouts.connect, Arc::new(move || changed.notify_one())).await
}

/// Lists a running server's tools again after it said they changed, and offers the new list;
/// when that fails the last list stays.
async fn relist(server: &StdioServer, owner: &Weak<Inner>, peer: &Peer<RoleClient>, restarts: u32) {
    let name = &server.config.name;
    match session::list(peer, server.timeouts.connect).await {
        Ok(tools) => {
            tracing::info!(server = %name, tools = tools.len(), "mcp: the server's tools changed; listed again");
            let count = tools.len();
            *lock(&server.tools) = tools;
            if let Some(inner) = owner.upgrade() {
                inner.rebuild();
            }
            server.status.send_replace(ServerStatus::Running { tools: count, restarts });
        }
        Err(error) => {
            tracing::warn!(server = %name, %error, "mcp: listing the changed tools failed; the last list stays");
        }
    }
}

/// Keeps one server running until `stop` is cancelled or the source is dropped.
async fn supervise(server: Arc<StdioServer>, owner: Weak<Inner>, stop: CancellationToken) {
    let name = server.config.name.clone();
    let mut pause = RESTART_MIN;
    let mut restarts = 0_u32;
    loop {
        let started = Instant::now();
        let reason = match start(&server).await {
            Ok((running, tools)) => {
                tracing::info!(server = %name, tools = tools.len(), restarts, "mcp: server running");
                let count = tools.len();
                *lock(&server.tools) = tools;
                *lock(&server.peer) = Some(running.peer().clone());
                let Some(inner) = owner.upgrade() else { return };
                inner.rebuild();
                drop(inner);
                // Published last: whoever sees `Running` can call the new tools.
                server.status.send_replace(ServerStatus::Running { tools: count, restarts });
                let peer = running.peer().clone();
                let mut waiting = std::pin::pin!(running.waiting());
                let ended = loop {
                    tokio::select! {
                        ended = &mut waiting => break ended,
                        () = server.tools_changed.notified() => {
                            relist(&server, &owner, &peer, restarts).await;
                        }
                        () = stop.cancelled() => {
                            *lock(&server.peer) = None;
                            return;
                        }
                    }
                };
                *lock(&server.peer) = None;
                if started.elapsed() >= RESTART_STABLE {
                    pause = RESTART_MIN;
                }
                match ended {
                    Ok(quit) => format!("the session ended ({quit:?})"),
                    Err(error) => format!("the session task failed ({error})"),
                }
            }
            Err(error) => error.to_string(),
        };
        restarts = restarts.saturating_add(1);
        tracing::warn!(server = %name, %reason, pause = ?pause, "mcp: server down; restarting after a pause");
        server.status.send_replace(ServerStatus::Restarting { restarts, reason });
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = stop.cancelled() => return,
        }
        pause = (pause * 2).min(RESTART_MAX);
    }
}
