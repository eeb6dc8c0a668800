//! One MCP session over any rmcp transport: the handshake as Tomori, the tool list, and calls
//! under a time limit.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    JsonObject,
};
use rmcp::service::{NotificationContext, Peer, RunningService};
use rmcp::transport::IntoTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};

use super::McpError;

/// A running client session. Dropping it ends the session (and, for stdio, the process).
pub(crate) type Running = RunningService<RoleClient, Client>;

/// What to do when a server says its tool list changed.
pub(crate) type OnToolsChanged = Arc<dyn Fn() + Send + Sync>;

/// Tomori as an MCP client: no capabilities, so a server cannot ask for sampling (the model),
/// elicitation (the user) or roots (the file system). It listens to one notification,
/// `notifications/tools/list_changed`, and hands it to the owner of the session, which lists the
/// tools again.
pub(crate) struct Client {
    on_tools_changed: OnToolsChanged,
}

impl ClientHandler for Client {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("tomori", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        (self.on_tools_changed)();
    }
}

/// Opens a session over `transport` and lists the server's tools, all within `limit`; a later
/// change of the server's tool list calls `on_tools_changed`.
pub(crate) async fn open<T, E, A>(
    transport: T,
    limit: Duration,
    on_tools_changed: OnToolsChanged,
) -> Result<(Running, Vec<rmcp::model::Tool>), McpError>
where
    T: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let work = async {
        let client = Client { on_tools_changed };
        let running = client.serve(transport).await.map_err(|e| {
            blocked(&e)
                .unwrap_or_else(|| McpError::Handshake(super::neutralise(&e.to_string(), 300)))
        })?;
        let tools = list(running.peer(), limit).await?;
        Ok((running, tools))
    };
    tokio::time::timeout(limit, work).await.map_err(|_| McpError::Timeout(limit))?
}

/// Lists the server's tools (every page) within `limit`.
pub(crate) async fn list(
    peer: &Peer<RoleClient>,
    limit: Duration,
) -> Result<Vec<rmcp::model::Tool>, McpError> {
    match tokio::time::timeout(limit, peer.list_all_tools()).await {
        Err(_) => Err(McpError::Timeout(limit)),
        Ok(Ok(tools)) => Ok(tools),
        Ok(Err(e)) => {
            Err(blocked(&e)
                .unwrap_or_else(|| McpError::List(super::neutralise(&e.to_string(), 300))))
        }
    }
}

/// A network-policy refusal anywhere in an error's sources.
fn blocked(error: &(dyn std::error::Error + 'static)) -> Option<McpError> {
    tomori_net::find_refusal(error).map(|refusal| McpError::Blocked(refusal.clone()))
}

/// Why a call did not return a result, for the model and for deciding what to do next.
#[derive(Debug)]
pub(crate) enum CallError {
    /// No answer in time.
    Timeout(Duration),
    /// The session is gone (the process exited, the connection closed).
    Closed,
    /// The server answered with a protocol error (unknown tool, invalid arguments...).
    Protocol(String),
    /// The transport failed (including a network-policy refusal).
    Transport(String),
}

impl CallError {
    /// Whether the server itself is at fault (as opposed to this one call).
    pub(crate) fn is_server_failure(&self) -> bool {
        !matches!(self, Self::Protocol(_))
    }

    /// The sentence the model reads.
    pub(crate) fn for_model(&self, server: &str) -> String {
        match self {
            Self::Timeout(limit) => {
                format!("timed out: the MCP server {server} did not answer within {limit:?}")
            }
            Self::Closed => format!("unavailable: the MCP server {server} is not running"),
            Self::Protocol(reason) => format!(
                "the MCP server {server} refused the call; its words, untrusted: \u{ab}{reason}\u{bb}"
            ),
            Self::Transport(reason) => {
                format!("unavailable: the MCP server {server} could not be reached ({reason})")
            }
        }
    }
}

/// Calls `tool` through `peer` within `limit`.
pub(crate) async fn call(
    peer: &Peer<RoleClient>,
    tool: String,
    arguments: JsonObject,
    limit: Duration,
) -> Result<CallToolResult, CallError> {
    let params = CallToolRequestParams::new(tool).with_arguments(arguments);
    match tokio::time::timeout(limit, peer.call_tool(params)).await {
        Err(_) => Err(CallError::Timeout(limit)),
        Ok(Ok(result)) => Ok(result),
        Ok(Err(rmcp::ServiceError::McpError(error))) => {
            Err(CallError::Protocol(super::neutralise(&error.message, 300)))
        }
        Ok(Err(rmcp::ServiceError::TransportClosed)) => Err(CallError::Closed),
        Ok(Err(error)) => Err(CallError::Transport(match tomori_net::find_refusal(&error) {
            Some(refusal) => format!("blocked_by_policy: {refusal}"),
            None => super::neutralise(&error.to_string(), 300),
        })),
    }
}
