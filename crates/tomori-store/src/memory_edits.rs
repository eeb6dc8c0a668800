//! Editing long-term memories in place: the model's `update_long_term_memory` tool (and later
//! `/memory server|personal edit`) replaces a memory's text without changing its id, so the
//! `[id:N]` the model was shown keeps pointing at the same row.
//!
//! The same rules as [`crate::memories`] apply: content is trimmed, non-empty and within the
//! configured length; every change is recorded in the tenant's audit chain in the same transaction.

use tomori_core::id::{LineageId, Snowflake};

use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::memories::{Memory, check_content};
use crate::{Scope, Store, StoreError};

/// Replaces the text of a server memory of the scope's server.
///
/// # Errors
/// Empty or over-long content, an unknown memory (in this tenant), or an unavailable database.
pub async fn update_server(
    store: &Store,
    scope: Scope,
    actor: Actor,
    id: i64,
    content: &str,
) -> Result<Memory, StoreError> {
    let content = check_content(store, content)?;
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    let before = sqlx::query!(
        "SELECT lineage_id, content, teacher_discord_id FROM server_memories
         WHERE server_id = $1 AND id = $2 FOR UPDATE",
        server.get(),
        id
    )
    .fetch_optional(tx.conn())
    .await
    .about("memory")?
    .ok_or(StoreError::NotFound("memory"))?;
    sqlx::query!(
        "UPDATE server_memories SET content = $3 WHERE server_id = $1 AND id = $2",
        server.get(),
        id,
        content
    )
    .execute(tx.conn())
    .await
    .about("memory")?;
    let memory = Memory {
        id,
        lineage: LineageId::from_db(before.lineage_id),
        content,
        teacher: before.teacher_discord_id.and_then(|t| Snowflake::from_db(t).ok()),
    };
    let before = serde_json::json!({ "lineage": before.lineage_id, "content": before.content });
    let after = serde_json::json!({ "lineage": memory.lineage, "content": memory.content });
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "memory.server.update",
            target: format!("server_memory:{id}"),
            before: Some(&before),
            after: Some(&after),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(memory)
}

/// Replaces the text of one of the scope user's personal memories.
///
/// # Errors
/// Empty or over-long content, an unknown memory (of this user), or an unavailable database.
pub async fn update_personal(
    store: &Store,
    scope: Scope,
    actor: Actor,
    id: i64,
    content: &str,
) -> Result<Memory, StoreError> {
    let content = check_content(store, content)?;
    let user = scope.require_user()?;
    // Personal data goes in the user's own chain, whatever server the change came from.
    let mut tx = store.begin(Scope::user(user)).await?;
    let before = sqlx::query!(
        "SELECT lineage_id, content FROM personal_memories WHERE user_id = $1 AND id = $2 FOR UPDATE",
        user.get(),
        id
    )
    .fetch_optional(tx.conn())
    .await
    .about("memory")?
    .ok_or(StoreError::NotFound("memory"))?;
    sqlx::query!(
        "UPDATE personal_memories SET content = $3 WHERE user_id = $1 AND id = $2",
        user.get(),
        id,
        content
    )
    .execute(tx.conn())
    .await
    .about("memory")?;
    let memory =
        Memory { id, lineage: LineageId::from_db(before.lineage_id), content, teacher: None };
    let before = serde_json::json!({ "lineage": before.lineage_id, "content": before.content });
    let after = serde_json::json!({ "lineage": memory.lineage, "content": memory.content });
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "memory.personal.update",
            target: format!("personal_memory:{id}"),
            before: Some(&before),
            after: Some(&after),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(memory)
}
