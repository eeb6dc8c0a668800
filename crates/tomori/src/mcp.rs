//! MCP wiring: the operator's stdio servers from `[mcp.*]` and the guilds' remote servers, as
//! tool sources under the built-in tools of the gate.
//!
//! Security: MCP servers have host trust. Only the config file names stdio servers, and each
//! starts with an empty environment plus PATH and its own `env` (see tomori-tools' `mcp`), so the
//! Discord token, `TOMORI_SECRET_V*`, `DATABASE_URL` and `DATABASE_APP_URL` never reach them.

use std::sync::Arc;

use anyhow::Context as _;
use tomori_net::Policy;
use tomori_store::Store;
use tomori_tools::Gate;
use tomori_tools::mcp::{CONNECT_TIMEOUT, GuildMcp, McpTimeouts, OperatorMcp, StdioConfig};

use crate::config::Config;

/// The MCP tool sources of one bot process.
pub(crate) struct McpSources {
    /// The operator's stdio servers.
    pub(crate) operator: OperatorMcp,
    /// The guilds' remote servers (`/mcp`).
    pub(crate) guild: GuildMcp,
}

/// Starts the enabled `[mcp.*]` servers and waits (at most the connect timeout) until each has
/// listed its tools or failed, logging how each one stands; `path` is the bot's own PATH, the one
/// variable of its environment the servers get.
///
/// # Errors
/// The guild servers' HTTP client cannot be built.
pub(crate) async fn start(
    config: &Config,
    path: Option<&str>,
    store: &Store,
) -> anyhow::Result<McpSources> {
    let stdio: Vec<StdioConfig> = config
        .mcp
        .iter()
        .filter(|(_, server)| server.enabled)
        .map(|(name, server)| StdioConfig {
            name: name.clone(),
            command: server.command.clone(),
            args: server.args.clone(),
            path: path.map(str::to_owned),
            env: server.env.clone(),
        })
        .collect();
    let count = stdio.len();
    let operator = OperatorMcp::start(stdio, McpTimeouts::default());
    if count > 0 {
        operator.ready(CONNECT_TIMEOUT + std::time::Duration::from_secs(1)).await;
        for (name, status) in operator.statuses() {
            tracing::info!(server = %name, ?status, "mcp: operator server");
        }
    }
    // Security: SSRF through guild MCP URLs. The server scope under the operator's [net]
    // settings: https and public addresses in production.
    let net = tomori_net::Client::new(Policy::from_config(
        tomori_net::Scope::Server,
        &config.net.to_net(),
    ))
    .context("building the guild MCP client")?;
    let guild = GuildMcp::new(store.clone(), net, McpTimeouts::default());
    Ok(McpSources { operator, guild })
}

impl McpSources {
    /// `gate` with the operator's tools, then the guild's, layered under its own.
    pub(crate) fn layer(&self, gate: Gate) -> Gate {
        gate.with_source(Arc::new(self.operator.clone())).with_source(Arc::new(self.guild.clone()))
    }
}
