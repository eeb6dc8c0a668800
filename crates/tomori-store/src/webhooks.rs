//! Managed webhooks: one per channel, through which alters speak. The token is a bearer
//! credential for posting as the persona, so it is sealed like a provider key.

use secrecy::{ExposeSecret, SecretString};
use tomori_core::id::Snowflake;

use crate::error::SqlxResultExt;
use crate::secrets::{Owner, SealContext};
use crate::{Scope, Store, StoreError};

/// A channel's managed webhook with its opened token.
#[derive(Debug, Clone)]
pub struct ManagedWebhook {
    /// Discord's webhook id.
    pub webhook_id: Snowflake,
    /// The webhook token.
    pub token: SecretString,
}

fn context(scope: Scope) -> Result<SealContext, StoreError> {
    Ok(SealContext {
        table: "managed_webhooks",
        column: "token",
        owner: Owner::Server(scope.require_server()?),
    })
}

/// Records the webhook Tomori created in a channel, replacing an earlier one.
///
/// # Errors
/// An unavailable database.
pub async fn save(
    store: &Store,
    scope: Scope,
    channel: Snowflake,
    webhook_id: Snowflake,
    token: &SecretString,
) -> Result<(), StoreError> {
    let ctx = context(scope)?;
    // Security: webhook token theft. Sealed before it leaves the process.
    let sealed = store.keys().seal(token.expose_secret(), &ctx);
    let mut tx = store.begin(scope).await?;
    sqlx::query!(
        "INSERT INTO managed_webhooks (server_id, channel_id, webhook_id, token, key_version)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (server_id, channel_id) DO UPDATE
         SET webhook_id = EXCLUDED.webhook_id, token = EXCLUDED.token, key_version = EXCLUDED.key_version",
        scope.require_server()?.get(),
        channel.to_db(),
        webhook_id.to_db(),
        sealed.blob,
        sealed.key_version
    )
    .execute(tx.conn())
    .await
    .about("webhook")?;
    tx.commit().await
}

/// The channel's managed webhook, if there is one.
///
/// # Errors
/// A token that does not open, or an unavailable database.
pub async fn get(
    store: &Store,
    scope: Scope,
    channel: Snowflake,
) -> Result<Option<ManagedWebhook>, StoreError> {
    let ctx = context(scope)?;
    let mut tx = store.begin(scope).await?;
    let row = sqlx::query!(
        "SELECT webhook_id, token FROM managed_webhooks WHERE server_id = $1 AND channel_id = $2",
        scope.require_server()?.get(),
        channel.to_db()
    )
    .fetch_optional(tx.conn())
    .await
    .about("webhook")?;
    tx.commit().await?;
    let Some(row) = row else { return Ok(None) };
    let webhook_id = Snowflake::from_db(row.webhook_id)
        .map_err(|e| StoreError::Invalid { field: "webhook id", reason: e.to_string() })?;
    Ok(Some(ManagedWebhook { webhook_id, token: store.keys().open(&row.token, &ctx)? }))
}

/// Forgets a channel's webhook (Discord reported it gone).
///
/// # Errors
/// An unavailable database.
pub async fn forget(store: &Store, scope: Scope, channel: Snowflake) -> Result<(), StoreError> {
    let mut tx = store.begin(scope).await?;
    sqlx::query!(
        "DELETE FROM managed_webhooks WHERE server_id = $1 AND channel_id = $2",
        scope.require_server()?.get(),
        channel.to_db()
    )
    .execute(tx.conn())
    .await
    .about("webhook")?;
    tx.commit().await
}
