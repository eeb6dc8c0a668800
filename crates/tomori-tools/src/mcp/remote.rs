//! Guild MCP servers: remote servers a guild's admins registered, over streamable HTTP.
//!
//! A guild's tools are built when a turn first needs them: its enabled servers are read from the
//! store, connected to and listed in parallel (each within [`McpTimeouts::connect`]), and the
//! result is kept for [`McpTimeouts::guild_cache`] or until `/mcp` changes something
//! ([`GuildMcp::forget`]). A server that fails to connect, to list or to answer a call (a
//! timeout, a transport error) is quarantined for [`McpTimeouts::quarantine`]: its tools leave the
//! guild's list and its calls fail at once.
//!
//! Every request goes through [`GuardedHttp`] over a tomori-net client of the server scope; see
//! that module for the SSRF guarantees.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, join_all};
use rmcp::RoleClient;
use rmcp::model::{CallToolResult, JsonObject};
use rmcp::service::Peer;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;
use tomori_core::id::ServerId;
use tomori_store::mcp::McpEndpoint;
use tomori_store::{Scope, Store};

use super::http::GuardedHttp;
use super::session::{self, OnToolsChanged, Running};
use super::{Connection, McpError, McpTimeouts, McpTool, Origin, TOOLS_PER_SERVER};
use crate::gate::{Registry, ToolSource, WarnedOnce};

/// Bytes of one JSON response or SSE event a guild server's connection carries: room for a
/// result over [`super::RESULT_BYTES`] to arrive and be refused as too large, rather than break
/// the connection and count as the server's failure.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// A registered server as `/mcp list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuildServer {
    /// The stored row.
    pub server: tomori_store::mcp::McpServer,
    /// Time left in quarantine, when it is in quarantine.
    pub quarantined_for: Option<Duration>,
}

/// The guilds' remote MCP servers, as a [`ToolSource`] for the gate.
#[derive(Clone)]
pub struct GuildMcp {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GuildMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuildMcp").field("timeouts", &self.inner.timeouts).finish_non_exhaustive()
    }
}

struct Inner {
    store: Store,
    net: tomori_net::Client,
    timeouts: McpTimeouts,
    /// Each guild's tools; the async lock makes concurrent turns of one guild build them once.
    guilds: Mutex<HashMap<ServerId, Arc<tokio::sync::Mutex<Option<Cached>>>>>,
    /// Servers out of use, by row id, until the instant given.
    quarantine: Mutex<HashMap<i64, Instant>>,
    /// Skipped tools already logged.
    warned: WarnedOnce,
}

struct Cached {
    registry: Arc<Registry>,
    /// When the list must be built again: after the cache time, or when a server left out for
    /// its quarantine may come back, whichever is first.
    expires: Instant,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing here can leave the data half-changed, so a poisoned lock is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Connects to `url` (with `token`) through `net` and lists the tools, within `limit`; a later
/// change of the server's tool list calls `on_tools_changed`.
async fn connect(
    net: &tomori_net::Client,
    url: &str,
    token: Option<&SecretString>,
    limit: Duration,
    on_tools_changed: OnToolsChanged,
) -> Result<Connected, McpError> {
    // Judged here too, so that a refused URL gets the policy's own words and costs no session.
    net.policy().parse_url(url).map_err(McpError::Blocked)?;
    let mut config = StreamableHttpClientTransportConfig::with_uri(url)
        .max_json_response_size(MAX_RESPONSE_BYTES)
        .max_sse_event_size(MAX_RESPONSE_BYTES);
    if let Some(token) = token {
        let token = token.expose_secret();
        if http::HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
            return Err(McpError::InvalidToken);
        }
        config = config.auth_header(token);
    }
    let http = GuardedHttp::new(net);
    let transport = StreamableHttpClientTransport::with_client(http.clone(), config);
    match session::open(transport, limit, on_tools_changed).await {
        Ok((running, tools)) => Ok(Connected { running, tools, http }),
        // The policy's own words, when it was the policy that refused (a DNS answer, a peer).
        Err(error) => Err(http.take_refusal().map_or(error, McpError::Blocked)),
    }
}

/// An open session with its tools and the client it runs over.
struct Connected {
    running: Running,
    tools: Vec<rmcp::model::Tool>,
    http: GuardedHttp,
}

impl GuildMcp {
    /// Guild servers read from `store`, reached through `net`, which must be a client of
    /// [`tomori_net::Scope::Server`] under the operator's `[net]` settings.
    pub fn new(store: Store, net: tomori_net::Client, timeouts: McpTimeouts) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                net,
                timeouts,
                guilds: Mutex::new(HashMap::new()),
                quarantine: Mutex::new(HashMap::new()),
                warned: WarnedOnce::default(),
            }),
        }
    }

    /// Connects to a server and lists its tools, as `/mcp add` does before storing it; the
    /// session is closed again. Returns the tool names.
    ///
    /// # Errors
    /// A URL the policy refuses, a server that does not answer in time, fails the handshake or
    /// does not list its tools.
    pub async fn probe(
        &self,
        url: &str,
        token: Option<&SecretString>,
    ) -> Result<Vec<String>, McpError> {
        // The probe's session closes at once; a change of its tools concerns nobody.
        let ignore: OnToolsChanged = Arc::new(|| {});
        let limit = self.inner.timeouts.connect;
        let connected = connect(&self.inner.net, url, token, limit, ignore).await?;
        Ok(connected.tools.into_iter().map(|t| t.name.into_owned()).collect())
    }

    /// Drops what is known about `server`'s tools, so the next turn reads its servers again
    /// (after `/mcp add`, `remove` or `toggle`). Quarantines are cleared for the servers named.
    pub fn forget(&self, server: ServerId, released: &[i64]) {
        lock(&self.inner.guilds).remove(&server);
        let mut quarantine = lock(&self.inner.quarantine);
        for id in released {
            quarantine.remove(id);
        }
    }

    /// The guild's servers with their quarantine state.
    ///
    /// # Errors
    /// The store's.
    pub async fn list(
        &self,
        server: ServerId,
    ) -> Result<Vec<GuildServer>, tomori_store::StoreError> {
        let rows = tomori_store::mcp::list(&self.inner.store, Scope::server(server)).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let quarantined_for = self.inner.quarantined_for(row.id);
                GuildServer { server: row, quarantined_for }
            })
            .collect())
    }
}

impl Inner {
    fn quarantined_for(&self, id: i64) -> Option<Duration> {
        let mut quarantine = lock(&self.quarantine);
        let until = *quarantine.get(&id)?;
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            quarantine.remove(&id);
            return None;
        }
        Some(left)
    }

    /// Puts a server out of use for the quarantine time.
    fn quarantine(&self, id: i64, name: &str, reason: &str) {
        tracing::warn!(server = %name, %reason, quarantine = ?self.timeouts.quarantine, "mcp: guild server quarantined");
        lock(&self.quarantine).insert(id, Instant::now() + self.timeouts.quarantine);
    }

    fn slot(&self, guild: ServerId) -> Arc<tokio::sync::Mutex<Option<Cached>>> {
        Arc::clone(lock(&self.guilds).entry(guild).or_default())
    }

    /// Connects to the guild's enabled servers that are not in quarantine and registers their
    /// tools; a server that fails is quarantined, a tool that cannot be registered is skipped.
    async fn build(self: &Arc<Self>, guild: ServerId) -> Result<Cached, tomori_store::StoreError> {
        let endpoints = tomori_store::mcp::enabled(&self.store, Scope::server(guild)).await?;
        let mut expires = Instant::now() + self.timeouts.guild_cache;
        let mut usable: Vec<McpEndpoint> = Vec::new();
        for endpoint in endpoints {
            match self.quarantined_for(endpoint.id) {
                Some(left) => expires = expires.min(Instant::now() + left),
                None => usable.push(endpoint),
            }
        }
        let connections = join_all(usable.iter().map(|endpoint| {
            let owner = Arc::downgrade(self);
            let name = endpoint.name.clone();
            // A server whose tools changed is listed again: the guild's list is dropped, and the
            // next turn connects and lists anew.
            let on_tools_changed: OnToolsChanged = Arc::new(move || {
                if let Some(owner) = owner.upgrade() {
                    tracing::info!(server = %name, "mcp: a guild server's tools changed; listing them again at the next turn");
                    lock(&owner.guilds).remove(&guild);
                }
            });
            let (url, token) = (&endpoint.url, endpoint.token.as_ref());
            connect(&self.net, url, token, self.timeouts.connect, on_tools_changed)
        }))
        .await;
        let mut registry = Registry::new();
        for (endpoint, connected) in usable.into_iter().zip(connections) {
            let connected = match connected {
                Ok(connected) => connected,
                Err(error) => {
                    self.quarantine(endpoint.id, &endpoint.name, &error.to_string());
                    expires = expires.min(Instant::now() + self.timeouts.quarantine);
                    continue;
                }
            };
            let remote = Arc::new(RemoteServer {
                id: endpoint.id,
                name: endpoint.name,
                guild,
                peer: connected.running.peer().clone(),
                http: connected.http,
                _running: connected.running,
                owner: Arc::downgrade(self),
            });
            for tool in connected.tools.iter().take(TOOLS_PER_SERVER) {
                let connection: Arc<dyn Connection> = Arc::clone(&remote) as Arc<dyn Connection>;
                let registered = McpTool::new(&remote.name, tool, Origin::Guild, connection)
                    .and_then(|tool| registry.register(tool).map_err(|e| e.to_string()));
                if let Err(reason) = registered
                    && self.warned.first(format!("{guild}/{}/{}: {reason}", remote.name, tool.name))
                {
                    tracing::warn!(server = %remote.name, tool = %tool.name, %reason, "mcp: guild tool skipped");
                }
            }
        }
        Ok(Cached { registry: Arc::new(registry), expires })
    }
}

impl ToolSource for GuildMcp {
    fn tools(&self, server: ServerId) -> BoxFuture<'_, Arc<Registry>> {
        async move {
            let slot = self.inner.slot(server);
            let mut cached = slot.lock().await;
            if let Some(entry) = cached.as_ref()
                && Instant::now() < entry.expires
            {
                return Arc::clone(&entry.registry);
            }
            match self.inner.build(server).await {
                Ok(built) => {
                    let registry = Arc::clone(&built.registry);
                    *cached = Some(built);
                    registry
                }
                Err(error) => {
                    // Fails closed: no guild tools this turn; the next turn tries again.
                    tracing::warn!(%error, "mcp: reading the guild's servers failed");
                    Arc::new(Registry::new())
                }
            }
        }
        .boxed()
    }
}

/// One connected guild server; the session ends when the last of its tools is dropped.
struct RemoteServer {
    id: i64,
    name: String,
    guild: ServerId,
    peer: Peer<RoleClient>,
    http: GuardedHttp,
    _running: Running,
    owner: Weak<Inner>,
}

impl Connection for RemoteServer {
    fn call(
        &self,
        tool: String,
        arguments: JsonObject,
    ) -> BoxFuture<'_, Result<CallToolResult, String>> {
        async move {
            let Some(owner) = self.owner.upgrade() else {
                return Err(format!("unavailable: the MCP server {} is shut down", self.name));
            };
            if let Some(left) = owner.quarantined_for(self.id) {
                return Err(format!(
                    "unavailable: the MCP server {} failed recently and is paused for {}s",
                    self.name,
                    left.as_secs()
                ));
            }
            match session::call(&self.peer, tool, arguments, owner.timeouts.call).await {
                Ok(result) => super::too_large(&self.name, &result).map_or(Ok(result), Err),
                Err(error) => {
                    if error.is_server_failure() {
                        owner.quarantine(self.id, &self.name, &format!("{error:?}"));
                        // The guild's list is built again without this server at the next turn.
                        lock(&owner.guilds).remove(&self.guild);
                    }
                    Err(match self.http.take_refusal() {
                        Some(refusal) => format!(
                            "unavailable: the MCP server {} is at an address the network policy refuses ({refusal})",
                            self.name
                        ),
                        None => error.for_model(&self.name),
                    })
                }
            }
        }
        .boxed()
    }
}
