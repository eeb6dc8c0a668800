//! Long-term memories: server memories (per server and persona lineage, teacher recorded) and
//! personal memories (per user and lineage; lineage 0 applies to every persona).

use serde::Serialize;
use tomori_core::id::{LineageId, Snowflake};

use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::{Scope, Store, StoreError};

/// One memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Memory {
    /// Row id, shown to admins as `[id:N]`.
    pub id: i64,
    /// The persona lineage it belongs to.
    pub lineage: LineageId,
    /// What is remembered.
    pub content: String,
    /// Who taught it (server memories only).
    pub teacher: Option<Snowflake>,
}

/// Trims a memory and checks it against the configured length; shared with `memory_edits`.
pub(crate) fn check_content(store: &Store, content: &str) -> Result<String, StoreError> {
    let content = content.trim();
    let limit = store.limits().memory_chars;
    if content.is_empty() {
        return Err(StoreError::Invalid {
            field: "memory",
            reason: "the memory is empty".to_owned(),
        });
    }
    if content.chars().count() > usize::try_from(limit).unwrap_or(usize::MAX) {
        return Err(StoreError::Invalid {
            field: "memory",
            reason: format!("at most {limit} characters"),
        });
    }
    Ok(content.to_owned())
}

/// Adds a server memory for a persona lineage.
///
/// # Errors
/// Empty or over-long content, lineage 0, the per-scope limit, or an unavailable database.
pub async fn add_server(
    store: &Store,
    scope: Scope,
    actor: Actor,
    lineage: LineageId,
    teacher: Option<Snowflake>,
    content: &str,
) -> Result<Memory, StoreError> {
    let mut added = add_server_many(store, scope, actor, lineage, teacher, &[content]).await?;
    added.pop().ok_or(StoreError::NotFound("memory"))
}

/// Adds several server memories for a persona lineage in one transaction (`/memory server
/// import`): all of them, or none when any is invalid or they would pass the limit.
///
/// # Errors
/// As [`add_server`], for any of them.
pub async fn add_server_many(
    store: &Store,
    scope: Scope,
    actor: Actor,
    lineage: LineageId,
    teacher: Option<Snowflake>,
    contents: &[&str],
) -> Result<Vec<Memory>, StoreError> {
    let contents =
        contents.iter().map(|c| check_content(store, c)).collect::<Result<Vec<_>, _>>()?;
    if lineage == LineageId::EVERY_PERSONA {
        return Err(StoreError::Invalid {
            field: "lineage",
            reason: "server memories belong to one persona".to_owned(),
        });
    }
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    let count = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM server_memories WHERE server_id = $1 AND lineage_id = $2"#,
        server.get(),
        lineage.get()
    )
    .fetch_one(tx.conn())
    .await
    .about("memory")?;
    let limit = store.limits().server_memories_per_scope;
    if count.saturating_add(i64::try_from(contents.len()).unwrap_or(i64::MAX)) > i64::from(limit) {
        return Err(StoreError::LimitReached { what: "server memories for this persona", limit });
    }
    let mut added = Vec::with_capacity(contents.len());
    for content in contents {
        let id = sqlx::query_scalar!(
            "INSERT INTO server_memories (server_id, lineage_id, content, teacher_discord_id)
             VALUES ($1, $2, $3, $4) RETURNING id",
            server.get(),
            lineage.get(),
            content,
            teacher.map(Snowflake::to_db)
        )
        .fetch_one(tx.conn())
        .await
        .about("memory")?;
        let memory = Memory { id, lineage, content, teacher };
        let after = serde_json::to_value(&memory).expect("memory serialises");
        audit::record(
            &mut tx,
            Change {
                actor,
                action: "memory.server.add",
                target: format!("server_memory:{id}"),
                before: None,
                after: Some(&after),
            },
        )
        .await?;
        added.push(memory);
    }
    tx.commit().await?;
    Ok(added)
}

/// Server memories of a lineage, newest first.
///
/// # Errors
/// An unavailable database.
pub async fn list_server(
    store: &Store,
    scope: Scope,
    lineage: LineageId,
) -> Result<Vec<Memory>, StoreError> {
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    let rows = sqlx::query!(
        "SELECT id, content, teacher_discord_id FROM server_memories
         WHERE server_id = $1 AND lineage_id = $2 ORDER BY created_at DESC, id DESC",
        server.get(),
        lineage.get()
    )
    .fetch_all(tx.conn())
    .await
    .about("memory")?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|r| Memory {
            id: r.id,
            lineage,
            content: r.content,
            teacher: r.teacher_discord_id.and_then(|t| Snowflake::from_db(t).ok()),
        })
        .collect())
}

/// Every server memory, for every persona lineage, newest first (the engine's cached copy of a
/// server, filtered per persona when a turn is built).
///
/// # Errors
/// An unavailable database.
pub async fn list_all_server(store: &Store, scope: Scope) -> Result<Vec<Memory>, StoreError> {
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    let rows = sqlx::query!(
        "SELECT id, lineage_id, content, teacher_discord_id FROM server_memories
         WHERE server_id = $1 ORDER BY created_at DESC, id DESC",
        server.get()
    )
    .fetch_all(tx.conn())
    .await
    .about("memory")?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|r| Memory {
            id: r.id,
            lineage: LineageId::from_db(r.lineage_id),
            content: r.content,
            teacher: r.teacher_discord_id.and_then(|t| Snowflake::from_db(t).ok()),
        })
        .collect())
}

/// Removes a server memory.
///
/// # Errors
/// An unknown memory, or an unavailable database.
pub async fn remove_server(
    store: &Store,
    scope: Scope,
    actor: Actor,
    id: i64,
) -> Result<(), StoreError> {
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    let before = sqlx::query!(
        "DELETE FROM server_memories WHERE server_id = $1 AND id = $2 RETURNING lineage_id, content",
        server.get(),
        id
    )
    .fetch_optional(tx.conn())
    .await
    .about("memory")?
    .ok_or(StoreError::NotFound("memory"))?;
    let before = serde_json::json!({ "lineage": before.lineage_id, "content": before.content });
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "memory.server.remove",
            target: format!("server_memory:{id}"),
            before: Some(&before),
            after: None,
        },
    )
    .await?;
    tx.commit().await
}

/// Adds a personal memory of the scope user for a lineage (0: every persona).
///
/// # Errors
/// Empty or over-long content, the per-scope limit, or an unavailable database.
pub async fn add_personal(
    store: &Store,
    scope: Scope,
    actor: Actor,
    lineage: LineageId,
    content: &str,
) -> Result<Memory, StoreError> {
    let mut added = add_personal_many(store, scope, actor, lineage, &[content]).await?;
    added.pop().ok_or(StoreError::NotFound("memory"))
}

/// Adds several personal memories in one transaction (`/memory personal import`): all of them,
/// or none when any is invalid or they would pass the limit.
///
/// # Errors
/// As [`add_personal`], for any of them.
pub async fn add_personal_many(
    store: &Store,
    scope: Scope,
    actor: Actor,
    lineage: LineageId,
    contents: &[&str],
) -> Result<Vec<Memory>, StoreError> {
    let contents =
        contents.iter().map(|c| check_content(store, c)).collect::<Result<Vec<_>, _>>()?;
    let user = scope.require_user()?;
    // Personal data goes in the user's own chain, whatever server the change came from.
    let mut tx = store.begin(Scope::user(user)).await?;
    let count = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM personal_memories WHERE user_id = $1 AND lineage_id = $2"#,
        user.get(),
        lineage.get()
    )
    .fetch_one(tx.conn())
    .await
    .about("memory")?;
    let limit = store.limits().personal_memories_per_scope;
    if count.saturating_add(i64::try_from(contents.len()).unwrap_or(i64::MAX)) > i64::from(limit) {
        return Err(StoreError::LimitReached { what: "personal memories for this persona", limit });
    }
    let mut added = Vec::with_capacity(contents.len());
    for content in contents {
        let id = sqlx::query_scalar!(
            "INSERT INTO personal_memories (user_id, lineage_id, content) VALUES ($1, $2, $3) RETURNING id",
            user.get(),
            lineage.get(),
            content
        )
        .fetch_one(tx.conn())
        .await
        .about("memory")?;
        let memory = Memory { id, lineage, content, teacher: None };
        let after = serde_json::to_value(&memory).expect("memory serialises");
        audit::record(
            &mut tx,
            Change {
                actor,
                action: "memory.personal.add",
                target: format!("personal_memory:{id}"),
                before: None,
                after: Some(&after),
            },
        )
        .await?;
        added.push(memory);
    }
    tx.commit().await?;
    Ok(added)
}

/// The scope user's personal memories that apply to a lineage (its own and lineage 0), newest first.
///
/// # Errors
/// An unavailable database.
pub async fn list_personal(
    store: &Store,
    scope: Scope,
    lineage: LineageId,
) -> Result<Vec<Memory>, StoreError> {
    let user = scope.require_user()?;
    let mut tx = store.begin(Scope::user(user)).await?;
    let rows = sqlx::query!(
        "SELECT id, lineage_id, content FROM personal_memories
         WHERE user_id = $1 AND lineage_id IN ($2, 0) ORDER BY created_at DESC, id DESC",
        user.get(),
        lineage.get()
    )
    .fetch_all(tx.conn())
    .await
    .about("memory")?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|r| Memory {
            id: r.id,
            lineage: LineageId::from_db(r.lineage_id),
            content: r.content,
            teacher: None,
        })
        .collect())
}

/// Removes one of the scope user's personal memories.
///
/// # Errors
/// An unknown memory, or an unavailable database.
pub async fn remove_personal(
    store: &Store,
    scope: Scope,
    actor: Actor,
    id: i64,
) -> Result<(), StoreError> {
    let user = scope.require_user()?;
    let mut tx = store.begin(Scope::user(user)).await?;
    let before = sqlx::query!(
        "DELETE FROM personal_memories WHERE user_id = $1 AND id = $2 RETURNING lineage_id, content",
        user.get(),
        id
    )
    .fetch_optional(tx.conn())
    .await
    .about("memory")?
    .ok_or(StoreError::NotFound("memory"))?;
    let before = serde_json::json!({ "lineage": before.lineage_id, "content": before.content });
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "memory.personal.remove",
            target: format!("personal_memory:{id}"),
            before: Some(&before),
            after: None,
        },
    )
    .await?;
    tx.commit().await
}

/// Every personal memory of the scope user, for every persona, newest first (`/personal
/// export`, `/memory personal export`).
///
/// # Errors
/// An unavailable database.
pub async fn list_all_personal(store: &Store, scope: Scope) -> Result<Vec<Memory>, StoreError> {
    let user = scope.require_user()?;
    let mut tx = store.begin(Scope::user(user)).await?;
    let rows = sqlx::query!(
        "SELECT id, lineage_id, content FROM personal_memories
         WHERE user_id = $1 ORDER BY created_at DESC, id DESC",
        user.get()
    )
    .fetch_all(tx.conn())
    .await
    .about("memory")?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|r| Memory {
            id: r.id,
            lineage: LineageId::from_db(r.lineage_id),
            content: r.content,
            teacher: None,
        })
        .collect())
}
