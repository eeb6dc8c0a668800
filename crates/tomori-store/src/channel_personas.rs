//! The persona that speaks by default in a channel (`/server channel-persona`): in that channel it
//! answers in place of the main persona when the bot is addressed without a persona's name.
//! A thread without a choice of its own follows its parent channel. Removing the persona removes
//! its channels' choices (the foreign key cascades).

use serde::Serialize;
use tomori_core::id::{PersonaId, Snowflake};

use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::{Scope, Store, StoreError};

/// The most channels of one server with a persona of their own.
pub const MAX_CHANNEL_PERSONAS: i64 = 200;

/// A channel's persona.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelPersona {
    /// The channel (or thread).
    pub channel: Snowflake,
    /// The persona.
    pub persona: PersonaId,
    /// Its name, for listing.
    pub nickname: String,
}

/// Makes `persona` (one of this server's) the channel's default voice, replacing any earlier
/// choice.
///
/// # Errors
/// A persona of another server (refused by the foreign key), the limit, or an unavailable
/// database.
pub async fn set(
    store: &Store,
    scope: Scope,
    actor: Actor,
    channel: Snowflake,
    persona: PersonaId,
) -> Result<(), StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let before = sqlx::query_scalar!(
        "SELECT persona_id FROM channel_personas WHERE server_id = $1 AND channel_id = $2",
        server,
        channel.to_db()
    )
    .fetch_optional(tx.conn())
    .await
    .about("channel persona")?;
    if before.is_none() {
        let count = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM channel_personas WHERE server_id = $1"#,
            server
        )
        .fetch_one(tx.conn())
        .await
        .about("channel persona")?;
        if count >= MAX_CHANNEL_PERSONAS {
            return Err(StoreError::LimitReached { what: "channels with a persona", limit: 200 });
        }
    }
    // Security: cross-tenant references. The foreign key covers (server_id, persona_id), so a
    // persona id from another server fails here rather than being stored.
    sqlx::query!(
        "INSERT INTO channel_personas (server_id, channel_id, persona_id) VALUES ($1, $2, $3)
         ON CONFLICT (server_id, channel_id) DO UPDATE SET persona_id = EXCLUDED.persona_id",
        server,
        channel.to_db(),
        persona.get()
    )
    .execute(tx.conn())
    .await
    .map_err(|err| match &err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23503") => {
            StoreError::NotFound("persona")
        }
        _ => StoreError::from_sqlx(err, "channel persona"),
    })?;
    let before = before.map(|id| serde_json::json!({ "channel": channel, "persona": id }));
    let after = serde_json::json!({ "channel": channel, "persona": persona });
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "channel_persona.set",
            target: format!("channel:{channel}"),
            before: before.as_ref(),
            after: Some(&after),
        },
    )
    .await?;
    tx.commit().await
}

/// Removes the channel's choice (the main persona speaks there again).
///
/// # Errors
/// A channel without a persona of its own, or an unavailable database.
pub async fn clear(
    store: &Store,
    scope: Scope,
    actor: Actor,
    channel: Snowflake,
) -> Result<(), StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let removed = sqlx::query_scalar!(
        "DELETE FROM channel_personas WHERE server_id = $1 AND channel_id = $2
         RETURNING persona_id",
        server,
        channel.to_db()
    )
    .fetch_optional(tx.conn())
    .await
    .about("channel persona")?
    .ok_or(StoreError::NotFound("persona choice for that channel"))?;
    let before = serde_json::json!({ "channel": channel, "persona": removed });
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "channel_persona.clear",
            target: format!("channel:{channel}"),
            before: Some(&before),
            after: None,
        },
    )
    .await?;
    tx.commit().await
}

/// Every channel of the server with a persona of its own.
///
/// # Errors
/// An unavailable database.
pub async fn list(store: &Store, scope: Scope) -> Result<Vec<ChannelPersona>, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let rows = sqlx::query!(
        "SELECT c.channel_id, c.persona_id, p.nickname
         FROM channel_personas c JOIN personas p ON p.server_id = c.server_id AND p.id = c.persona_id
         WHERE c.server_id = $1 ORDER BY c.channel_id",
        server
    )
    .fetch_all(tx.conn())
    .await
    .about("channel persona")?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(ChannelPersona {
                channel: Snowflake::from_db(r.channel_id).ok()?,
                persona: PersonaId::from_db(r.persona_id),
                nickname: r.nickname,
            })
        })
        .collect())
}
