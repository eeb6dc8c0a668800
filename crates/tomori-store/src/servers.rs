//! Tenants: turning Discord ids into the internal ids that scopes are made of.
//!
//! These are the only store functions that take no [`crate::Scope`]: they are how a scope comes
//! to exist. They run through `SECURITY DEFINER` database functions that create or find exactly
//! one row and return its id, so the application role still reads no tenant's rows here.

use tomori_core::id::{ServerId, Snowflake, UserId};

use crate::error::SqlxResultExt;
use crate::{Store, StoreError};

impl Store {
    /// The tenant of a guild, created on first contact.
    ///
    /// # Errors
    /// The database is unavailable.
    pub async fn resolve_guild(&self, guild: Snowflake) -> Result<ServerId, StoreError> {
        resolve_server(self, "guild", guild).await
    }

    /// The pseudo-server that holds one user's direct messages, created on first contact.
    ///
    /// # Errors
    /// The database is unavailable.
    pub async fn resolve_dm(&self, user: Snowflake) -> Result<ServerId, StoreError> {
        resolve_server(self, "dm", user).await
    }

    /// The internal id of a Discord user, created on first contact.
    ///
    /// # Errors
    /// The database is unavailable.
    pub async fn resolve_user(&self, user: Snowflake) -> Result<UserId, StoreError> {
        let id = sqlx::query_scalar!(r#"SELECT tomori_resolve_user($1) AS "id!""#, user.to_db())
            .fetch_one(&self.pool)
            .await
            .about("user")?;
        Ok(UserId::from_db(id))
    }

    /// The tenant a message belongs to and, when `author` is named, its author, each created on
    /// first contact, with their revisions: one round trip, made once per message, that tells
    /// whether a [`crate::cache::RevisionCache`] entry is still current.
    ///
    /// # Errors
    /// The database is unavailable.
    pub async fn revisions(
        &self,
        home: Home,
        author: Option<Snowflake>,
    ) -> Result<Revisions, StoreError> {
        let (kind, discord_id) = match home {
            Home::Guild(guild) => ("guild", guild),
            Home::Dm(user) => ("dm", user),
        };
        let row = sqlx::query!(
            r#"SELECT server_id AS "server_id!", server_revision AS "server_revision!",
                      user_id, user_revision
               FROM tomori_revisions($1, $2, $3)"#,
            kind,
            discord_id.to_db(),
            author.map(Snowflake::to_db)
        )
        .fetch_one(&self.pool)
        .await
        .about("revisions")?;
        Ok(Revisions {
            server: ServerId::from_db(row.server_id),
            server_revision: row.server_revision,
            user: row.user_id.map(UserId::from_db).zip(row.user_revision),
        })
    }
}

/// Where a message was written: the tenant it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Home {
    /// A guild channel or thread.
    Guild(Snowflake),
    /// A direct message with this user.
    Dm(Snowflake),
}

/// What [`Store::revisions`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revisions {
    /// The tenant.
    pub server: ServerId,
    /// Moves forward with every committed change to the server's settings, channel sets, access
    /// lists, personas, server memories, model and keys (see migration `0007_revisions.sql`).
    pub server_revision: i64,
    /// The author and their revision (privacy, language, nickname, personal memories and keys),
    /// when one was named.
    pub user: Option<(UserId, i64)>,
}

async fn resolve_server(
    store: &Store,
    kind: &str,
    discord_id: Snowflake,
) -> Result<ServerId, StoreError> {
    let id = sqlx::query_scalar!(
        r#"SELECT tomori_resolve_server($1, $2) AS "id!""#,
        kind,
        discord_id.to_db()
    )
    .fetch_one(&store.pool)
    .await
    .about("server")?;
    Ok(ServerId::from_db(id))
}
