//! A guild's remote MCP servers (`/mcp add|list|remove|toggle`): name, URL, an optional auth
//! token sealed like a provider key, and whether the server is in use.
//!
//! The URL is judged by tomori-net before it is stored and before every request; this module
//! only keeps it. The token is opened only by [`enabled`], for the connection itself.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::secrets::{Owner, SealContext};
use crate::{Scope, Store, StoreError};

/// Servers one guild may register.
pub const MAX_SERVERS: u32 = 5;
/// Characters of a URL (the table's CHECK constraint).
pub const MAX_URL_CHARS: usize = 2_048;
/// Characters of an auth token.
pub const MAX_TOKEN_CHARS: usize = 4_096;

/// A registered server, without its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct McpServer {
    /// Row id.
    pub id: i64,
    /// The guild's name for it: 1 to 32 of `a-z`, `0-9`, `_`, `-`.
    pub name: String,
    /// Its streamable-HTTP endpoint.
    pub url: String,
    /// Whether its tools are offered.
    pub enabled: bool,
    /// Whether an auth token is stored.
    pub has_token: bool,
}

/// An enabled server with its opened token, to connect to.
#[derive(Debug, Clone)]
pub struct McpEndpoint {
    /// Row id.
    pub id: i64,
    /// The guild's name for it.
    pub name: String,
    /// Its streamable-HTTP endpoint.
    pub url: String,
    /// The bearer token, if one is stored.
    pub token: Option<SecretString>,
}

fn context(scope: Scope) -> Result<SealContext, StoreError> {
    Ok(SealContext {
        table: "mcp_servers",
        column: "auth_token",
        owner: Owner::Server(scope.require_server()?),
    })
}

/// Checks a server name: 1 to 32 of `a-z`, `0-9`, `_` and `-`.
///
/// # Errors
/// `Invalid` naming the rule.
pub fn check_name(name: &str) -> Result<(), StoreError> {
    let valid = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field: "server name",
            reason: "1 to 32 of a-z, 0-9, '_' and '-'".to_owned(),
        })
    }
}

fn info_json(info: &McpServer) -> serde_json::Value {
    serde_json::to_value(info).expect("server info serialises")
}

/// Registers a server, its token sealed under the current key version.
///
/// # Errors
/// An invalid name, URL or token, [`MAX_SERVERS`] reached, a name already used in this guild,
/// or an unavailable database.
pub async fn add(
    store: &Store,
    scope: Scope,
    actor: Actor,
    name: &str,
    url: &str,
    token: Option<&SecretString>,
) -> Result<McpServer, StoreError> {
    check_name(name)?;
    if url.is_empty() || url.chars().count() > MAX_URL_CHARS {
        return Err(StoreError::Invalid {
            field: "URL",
            reason: format!("1 to {MAX_URL_CHARS} characters"),
        });
    }
    let token = token.map(|t| t.expose_secret().trim()).filter(|t| !t.is_empty());
    if token.is_some_and(|t| t.chars().count() > MAX_TOKEN_CHARS) {
        return Err(StoreError::Invalid {
            field: "auth token",
            reason: format!("at most {MAX_TOKEN_CHARS} characters"),
        });
    }
    let server = scope.require_server()?;
    // Security: MCP tokens leaking from a DB dump. Only the sealed blob reaches PostgreSQL.
    let ctx = context(scope)?;
    let sealed = token.map(|t| store.keys().seal(t, &ctx));
    let mut tx = store.begin(scope).await?;
    let count = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM mcp_servers WHERE server_id = $1"#,
        server.get()
    )
    .fetch_one(tx.conn())
    .await
    .about("MCP server")?;
    if count >= i64::from(MAX_SERVERS) {
        return Err(StoreError::LimitReached { what: "MCP servers", limit: MAX_SERVERS });
    }
    let (blob, key_version) = match sealed {
        Some(sealed) => (Some(sealed.blob), Some(sealed.key_version)),
        None => (None, None),
    };
    let id = sqlx::query_scalar!(
        "INSERT INTO mcp_servers (server_id, name, url, auth_token, key_version)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
        server.get(),
        name,
        url,
        blob,
        key_version
    )
    .fetch_one(tx.conn())
    .await
    .about("MCP server with that name")?;
    let info = McpServer {
        id,
        name: name.to_owned(),
        url: url.to_owned(),
        enabled: true,
        has_token: token.is_some(),
    };
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "mcp.add",
            target: format!("mcp:{id}"),
            before: None,
            after: Some(&info_json(&info)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(info)
}

/// The guild's servers, by name, without tokens.
///
/// # Errors
/// An unavailable database.
pub async fn list(store: &Store, scope: Scope) -> Result<Vec<McpServer>, StoreError> {
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    let rows = sqlx::query_as!(
        McpServer,
        r#"SELECT id, name, url, enabled, auth_token IS NOT NULL AS "has_token!"
           FROM mcp_servers WHERE server_id = $1 ORDER BY name"#,
        server.get()
    )
    .fetch_all(tx.conn())
    .await
    .about("MCP server")?;
    tx.commit().await?;
    Ok(rows)
}

/// The guild's enabled servers with their opened tokens, by name.
///
/// # Errors
/// A token that does not open with the ring, or an unavailable database.
pub async fn enabled(store: &Store, scope: Scope) -> Result<Vec<McpEndpoint>, StoreError> {
    let server = scope.require_server()?;
    let ctx = context(scope)?;
    let mut tx = store.begin(scope).await?;
    let rows = sqlx::query!(
        "SELECT id, name, url, auth_token FROM mcp_servers
         WHERE server_id = $1 AND enabled ORDER BY name",
        server.get()
    )
    .fetch_all(tx.conn())
    .await
    .about("MCP server")?;
    tx.commit().await?;
    rows.into_iter()
        .map(|row| {
            let token = row.auth_token.map(|blob| store.keys().open(&blob, &ctx)).transpose()?;
            Ok(McpEndpoint { id: row.id, name: row.name, url: row.url, token })
        })
        .collect()
}

/// Turns a server on or off.
///
/// # Errors
/// An unknown name, or an unavailable database.
pub async fn set_enabled(
    store: &Store,
    scope: Scope,
    actor: Actor,
    name: &str,
    enabled: bool,
) -> Result<McpServer, StoreError> {
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    let before = sqlx::query_as!(
        McpServer,
        r#"SELECT id, name, url, enabled, auth_token IS NOT NULL AS "has_token!"
           FROM mcp_servers WHERE server_id = $1 AND name = $2 FOR UPDATE"#,
        server.get(),
        name
    )
    .fetch_optional(tx.conn())
    .await
    .about("MCP server")?
    .ok_or(StoreError::NotFound("MCP server"))?;
    sqlx::query!("UPDATE mcp_servers SET enabled = $2 WHERE id = $1", before.id, enabled)
        .execute(tx.conn())
        .await
        .about("MCP server")?;
    let after = McpServer { enabled, ..before.clone() };
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "mcp.toggle",
            target: format!("mcp:{}", before.id),
            before: Some(&info_json(&before)),
            after: Some(&info_json(&after)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Removes a server (and its token).
///
/// # Errors
/// An unknown name, or an unavailable database.
pub async fn remove(
    store: &Store,
    scope: Scope,
    actor: Actor,
    name: &str,
) -> Result<McpServer, StoreError> {
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    let before = sqlx::query_as!(
        McpServer,
        r#"DELETE FROM mcp_servers WHERE server_id = $1 AND name = $2
           RETURNING id, name, url, enabled, auth_token IS NOT NULL AS "has_token!""#,
        server.get(),
        name
    )
    .fetch_optional(tx.conn())
    .await
    .about("MCP server")?
    .ok_or(StoreError::NotFound("MCP server"))?;
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "mcp.remove",
            target: format!("mcp:{}", before.id),
            before: Some(&info_json(&before)),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(before)
}
