//! A server's remote MCP servers (`/mcp …` on Discord), whose tools the model may then call in
//! that server. Everything here needs Manage Server: a registered server's tools run for every
//! member, and the list shows URLs.
//!
//! A new server's URL is judged by the server-scope network policy, then the server is connected
//! to and its tools listed through the MCP manager the front door hands over (within its time
//! limit) before anything is stored, so a server that cannot be used is never saved; its token
//! is sealed by the store. Every change drops the server's cached tool list, so the next turn
//! sees it.

use secrecy::SecretString;
use tomori_core::id::ServerId;
use tomori_net::Policy;
pub use tomori_store::mcp::MAX_URL_CHARS;
use tomori_store::mcp::{self as stored, MAX_SERVERS};
use tomori_store::{Scope, Store, StoreError};
pub use tomori_tools::mcp::GuildMcp;

use crate::access::{AdminError, Need, authorize, tenant};
use crate::answer::Answer;
use crate::caller::Caller;

/// Tool names an answer shows before it says how many more there are.
const SHOWN_TOOLS: usize = 20;

/// One action on the server's MCP servers (adding one is [`check_new`] then [`add`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The servers, with their state.
    List,
    /// Removes one.
    Remove {
        /// Its name.
        name: String,
    },
    /// Turns one off, or on again.
    Toggle {
        /// Its name.
        name: String,
    },
}

/// A name from a server, quoted as code in an answer: no backtick can end the quote early, no
/// line break, at most 64 characters. (Answers ping nobody whatever they say.)
fn quoted(text: &str) -> String {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '`' { '\'' } else { c })
        .take(64)
        .collect();
    format!("`{clean}`")
}

/// The server asked in, as a tenant and as the MCP manager's key.
async fn server_of(store: &Store, caller: &Caller) -> Result<(Scope, ServerId), AdminError> {
    authorize(store, caller, Need::Manager, false).await?;
    let scope = tenant(store, caller).await?;
    let server = scope.server_id().ok_or(AdminError::ServerOnly)?;
    Ok((scope, server))
}

/// Runs `action` on the MCP servers of the server `caller` asked in.
///
/// # Errors
/// A refusal, no such server, or the store failing.
pub async fn run(
    store: &Store,
    caller: &Caller,
    mcp: &GuildMcp,
    action: &Action,
) -> Result<Answer, AdminError> {
    let (scope, server) = server_of(store, caller).await?;
    let actor = caller.actor();
    let text = match action {
        Action::List => list(mcp, server).await?,
        Action::Remove { name } => {
            let removed = stored::remove(store, scope, actor, name).await?;
            mcp.forget(server, &[removed.id]);
            format!("Removed MCP server {}; its tools are gone.", removed.name)
        }
        Action::Toggle { name } => {
            let current = stored::list(store, scope)
                .await?
                .into_iter()
                .find(|s| &s.name == name)
                .ok_or(StoreError::NotFound("MCP server"))?;
            let changed = stored::set_enabled(store, scope, actor, name, !current.enabled).await?;
            mcp.forget(server, &[changed.id]);
            if changed.enabled {
                format!("MCP server {} is on again; its tools come back.", changed.name)
            } else {
                format!("MCP server {} is off; its tools are not offered.", changed.name)
            }
        }
    };
    Ok(Answer::text(text))
}

async fn list(mcp: &GuildMcp, server: ServerId) -> Result<String, AdminError> {
    let servers = mcp.list(server).await?;
    if servers.is_empty() {
        return Ok("This server has no MCP servers. Add one with /mcp add.".to_owned());
    }
    let lines: Vec<String> = servers
        .iter()
        .map(|entry| {
            let s = &entry.server;
            let mut line = format!(
                "{} — <{}> — {}{}",
                s.name,
                s.url,
                if s.enabled { "on" } else { "off" },
                if s.has_token { ", with a token" } else { "" }
            );
            if let Some(left) = entry.quarantined_for {
                line.push_str(&format!(" — paused for {}s after a failure", left.as_secs().max(1)));
            }
            line
        })
        .collect();
    Ok(format!("MCP servers ({}/{MAX_SERVERS}):\n{}", servers.len(), lines.join("\n")))
}

/// What adding a server checks before its token form and again when the form comes back: a
/// valid name not yet used, room for one more server, and a URL the server-scope `policy`
/// admits.
///
/// # Errors
/// A refusal, input refused, or the store failing.
pub async fn check_new(
    store: &Store,
    caller: &Caller,
    policy: &Policy,
    name: &str,
    url: &str,
) -> Result<(), AdminError> {
    let (scope, _) = server_of(store, caller).await?;
    let name = name.trim();
    if name.is_empty() {
        return Err(AdminError::BadInput("The server name is empty.".to_owned()));
    }
    stored::check_name(name)?;
    let existing = stored::list(store, scope).await?;
    if existing.iter().any(|s| s.name == name) {
        return Err(AdminError::BadInput(format!(
            "This server already has an MCP server named {name}; nothing was changed."
        )));
    }
    if existing.len() >= usize::try_from(MAX_SERVERS).unwrap_or(usize::MAX) {
        return Err(AdminError::BadInput(format!(
            "Limit reached: at most {MAX_SERVERS} MCP servers; nothing was changed."
        )));
    }
    // Security: SSRF through guild MCP URLs. Judged (without resolving) before the form, so a
    // refused URL asks for no token; the probe judges it again with its DNS answers.
    if let Err(refusal) = policy.parse_url(url) {
        return Err(AdminError::BadInput(format!(
            "I could not use that MCP server ({refusal}); nothing was saved."
        )));
    }
    Ok(())
}

/// Adds a server once its form came back: checked again (the server may have changed while
/// the form was open), connected to and its tools listed, then stored.
///
/// # Errors
/// As [`check_new`], or a server that cannot be used; nothing is stored then.
pub async fn add(
    store: &Store,
    caller: &Caller,
    (mcp, policy): (&GuildMcp, &Policy),
    (name, url): (&str, &str),
    token: Option<&SecretString>,
) -> Result<Answer, AdminError> {
    check_new(store, caller, policy, name, url).await?;
    let (scope, server) = server_of(store, caller).await?;
    // Security: SSRF through guild MCP URLs. The server-scope policy judges the URL, its DNS
    // answers and the peer before anything is stored; redirects are not followed.
    let tools = mcp.probe(url, token).await.map_err(|error| {
        AdminError::BadInput(format!(
            "I could not use that MCP server ({error}); nothing was saved."
        ))
    })?;
    let added = stored::add(store, scope, caller.actor(), name, url, token).await?;
    mcp.forget(server, &[added.id]);
    let shown: Vec<String> = tools.iter().take(SHOWN_TOOLS).map(|t| quoted(t)).collect();
    let more = tools.len().saturating_sub(SHOWN_TOOLS);
    let mut text = format!(
        "Added MCP server {name} with {} tool{}",
        tools.len(),
        if tools.len() == 1 { "" } else { "s" }
    );
    if !shown.is_empty() {
        text.push_str(": ");
        text.push_str(&shown.join(", "));
        if more > 0 {
            text.push_str(&format!(" and {more} more"));
        }
    }
    text.push_str(
        ". Tools whose names a built-in or the operator's tools already use are skipped.",
    );
    Ok(Answer::text(text))
}
