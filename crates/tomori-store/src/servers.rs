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
