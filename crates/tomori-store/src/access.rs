//! Who may talk to Tomori in a server: the role whitelist (when it has roles, only members with
//! one of them trigger answers) and the user blacklist (never answered). Both are admin
//! settings, changed with an audit row.

use tomori_core::id::Snowflake;

use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::{Scope, Store, StoreError};

/// Which list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessList {
    /// Roles whose members may trigger answers (empty: everyone).
    RoleWhitelist,
    /// Users who are never answered.
    UserBlacklist,
}

impl AccessList {
    fn name(self) -> &'static str {
        match self {
            Self::RoleWhitelist => "role_whitelist",
            Self::UserBlacklist => "user_blacklist",
        }
    }
}

/// Adds `id` to the list; false when it was there already (nothing changes).
///
/// # Errors
/// An unavailable database.
pub async fn add(
    store: &Store,
    scope: Scope,
    actor: Actor,
    list: AccessList,
    id: Snowflake,
) -> Result<bool, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let inserted = match list {
        AccessList::RoleWhitelist => {
            sqlx::query!(
                "INSERT INTO server_role_whitelist (server_id, role_id) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
                server,
                id.to_db()
            )
            .execute(tx.conn())
            .await
        }
        AccessList::UserBlacklist => {
            sqlx::query!(
                "INSERT INTO server_user_blacklist (server_id, user_discord_id) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
                server,
                id.to_db()
            )
            .execute(tx.conn())
            .await
        }
    }
    .about("access entry")?
    .rows_affected()
        > 0;
    if inserted {
        let after = serde_json::json!({ "list": list.name(), "id": id });
        audit::record(
            &mut tx,
            Change {
                actor,
                action: "settings.access.add",
                target: format!("{}:{id}", list.name()),
                before: None,
                after: Some(&after),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(inserted)
}

/// Removes `id` from the list.
///
/// # Errors
/// `id` is not on the list, or an unavailable database.
pub async fn remove(
    store: &Store,
    scope: Scope,
    actor: Actor,
    list: AccessList,
    id: Snowflake,
) -> Result<(), StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let removed =
        match list {
            AccessList::RoleWhitelist => {
                sqlx::query!(
                    "DELETE FROM server_role_whitelist WHERE server_id = $1 AND role_id = $2",
                    server,
                    id.to_db()
                )
                .execute(tx.conn())
                .await
            }
            AccessList::UserBlacklist => sqlx::query!(
                "DELETE FROM server_user_blacklist WHERE server_id = $1 AND user_discord_id = $2",
                server,
                id.to_db()
            )
            .execute(tx.conn())
            .await,
        }
        .about("access entry")?
        .rows_affected();
    if removed == 0 {
        return Err(StoreError::NotFound(match list {
            AccessList::RoleWhitelist => "whitelisted role",
            AccessList::UserBlacklist => "blacklisted user",
        }));
    }
    let before = serde_json::json!({ "list": list.name(), "id": id });
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "settings.access.remove",
            target: format!("{}:{id}", list.name()),
            before: Some(&before),
            after: None,
        },
    )
    .await?;
    tx.commit().await
}

/// The list's entries.
///
/// # Errors
/// An unavailable database.
pub async fn list(
    store: &Store,
    scope: Scope,
    list: AccessList,
) -> Result<Vec<Snowflake>, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let ids =
        match list {
            AccessList::RoleWhitelist => sqlx::query_scalar!(
                "SELECT role_id FROM server_role_whitelist WHERE server_id = $1 ORDER BY role_id",
                server
            )
            .fetch_all(tx.conn())
            .await,
            AccessList::UserBlacklist => {
                sqlx::query_scalar!(
                    "SELECT user_discord_id FROM server_user_blacklist WHERE server_id = $1
             ORDER BY user_discord_id",
                    server
                )
                .fetch_all(tx.conn())
                .await
            }
        }
        .about("access entry")?;
    tx.commit().await?;
    ids.into_iter()
        .map(|raw| {
            Snowflake::from_db(raw)
                .map_err(|e| StoreError::Invalid { field: "id", reason: e.to_string() })
        })
        .collect()
}
