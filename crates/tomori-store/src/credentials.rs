//! Provider credentials: sealed API keys of a server or a user, several per provider forming a
//! key pool.

use secrecy::SecretString;
use serde::Serialize;
use tomori_core::id::{ServerId, UserId};

use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::secrets::{Owner, SealContext};
use crate::{Scope, Store, StoreError};

/// Whose key it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOwner {
    /// The server's key, set by an admin.
    Server,
    /// The scope user's personal key.
    Personal,
}

/// A key's metadata; the key itself is only handed out by [`reveal`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// Row id.
    pub id: i64,
    /// Provider name, e.g. `openrouter`.
    pub provider: String,
    /// The owner's label for this key.
    pub label: String,
    /// Whether the pool may use it.
    pub enabled: bool,
    /// Successful uses.
    pub usage_count: i64,
    /// Failed uses.
    pub error_count: i64,
}

pub(crate) fn seal_context(server_id: Option<i64>, user_id: Option<i64>) -> SealContext {
    let owner = match (server_id, user_id) {
        (Some(server), _) => Owner::Server(ServerId::from_db(server)),
        (None, Some(user)) => Owner::User(UserId::from_db(user)),
        (None, None) => Owner::Instance,
    };
    SealContext { table: "provider_credentials", column: "secret", owner }
}

fn owner_ids(scope: Scope, owner: KeyOwner) -> Result<(Option<i64>, Option<i64>), StoreError> {
    Ok(match owner {
        KeyOwner::Server => (Some(scope.require_server()?.get()), None),
        KeyOwner::Personal => (None, Some(scope.require_user()?.get())),
    })
}

/// Stores a key, sealed under the current key version.
///
/// # Errors
/// An empty or over-long key or label, the pool limit, a label already used for that provider,
/// or an unavailable database.
pub async fn add(
    store: &Store,
    scope: Scope,
    actor: Actor,
    owner: KeyOwner,
    provider: &str,
    label: &str,
    key: &SecretString,
) -> Result<KeyInfo, StoreError> {
    use secrecy::ExposeSecret;
    let key = key.expose_secret().trim();
    if key.is_empty() || key.len() > 4096 {
        return Err(StoreError::Invalid {
            field: "API key",
            reason: "1 to 4096 characters".to_owned(),
        });
    }
    let (server_id, user_id) = owner_ids(scope, owner)?;
    let mut tx = store.begin(scope).await?;
    let count = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM provider_credentials
           WHERE server_id IS NOT DISTINCT FROM $1 AND user_id IS NOT DISTINCT FROM $2 AND provider = $3"#,
        server_id,
        user_id,
        provider
    )
    .fetch_one(tx.conn())
    .await
    .about("key")?;
    let limit = store.limits().keys_per_provider;
    if count >= i64::from(limit) {
        return Err(StoreError::LimitReached { what: "keys for this provider", limit });
    }
    // Security: keys leak from a DB dump. Only the sealed blob reaches PostgreSQL.
    let sealed = store.keys().seal(key, &seal_context(server_id, user_id));
    let id = sqlx::query_scalar!(
        "INSERT INTO provider_credentials (server_id, user_id, provider, label, secret, key_version)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        server_id,
        user_id,
        provider,
        label,
        sealed.blob,
        sealed.key_version
    )
    .fetch_one(tx.conn())
    .await
    .about("key with that label")?;
    let info = KeyInfo {
        id,
        provider: provider.to_owned(),
        label: label.to_owned(),
        enabled: true,
        usage_count: 0,
        error_count: 0,
    };
    let after = serde_json::to_value(&info).expect("key info serialises");
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "key.add",
            target: format!("key:{id}"),
            before: None,
            after: Some(&after),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(info)
}

/// The keys of one owner, without their secrets.
///
/// # Errors
/// An unavailable database.
pub async fn list(
    store: &Store,
    scope: Scope,
    owner: KeyOwner,
) -> Result<Vec<KeyInfo>, StoreError> {
    let (server_id, user_id) = owner_ids(scope, owner)?;
    let mut tx = store.begin(scope).await?;
    let rows = sqlx::query_as!(
        KeyInfo,
        "SELECT id, provider, label, enabled, usage_count, error_count FROM provider_credentials
         WHERE server_id IS NOT DISTINCT FROM $1 AND user_id IS NOT DISTINCT FROM $2
         ORDER BY provider, id",
        server_id,
        user_id
    )
    .fetch_all(tx.conn())
    .await
    .about("key")?;
    tx.commit().await?;
    Ok(rows)
}

/// Removes the owner's whole pool of keys for `provider` in one transaction, with one audit row
/// naming every key removed. The number removed (0 when there were none).
///
/// # Errors
/// An unavailable database.
pub async fn purge(
    store: &Store,
    scope: Scope,
    actor: Actor,
    owner: KeyOwner,
    provider: &str,
) -> Result<usize, StoreError> {
    let (server_id, user_id) = owner_ids(scope, owner)?;
    let mut tx = store.begin(scope).await?;
    let removed = sqlx::query_as!(
        KeyInfo,
        "DELETE FROM provider_credentials
         WHERE server_id IS NOT DISTINCT FROM $1 AND user_id IS NOT DISTINCT FROM $2
           AND provider = $3
         RETURNING id, provider, label, enabled, usage_count, error_count",
        server_id,
        user_id,
        provider
    )
    .fetch_all(tx.conn())
    .await
    .about("key")?;
    if removed.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let before = serde_json::to_value(&removed).expect("key info serialises");
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "key.purge",
            target: format!("provider:{provider}"),
            before: Some(&before),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(removed.len())
}

/// Opens one key for a provider call.
///
/// # Errors
/// An unknown key, a key that does not open with the ring, or an unavailable database.
pub async fn reveal(store: &Store, scope: Scope, id: i64) -> Result<SecretString, StoreError> {
    let mut tx = store.begin(scope).await?;
    let row = sqlx::query!(
        "SELECT server_id, user_id, secret FROM provider_credentials WHERE id = $1",
        id
    )
    .fetch_optional(tx.conn())
    .await
    .about("key")?
    .ok_or(StoreError::NotFound("key"))?;
    tx.commit().await?;
    Ok(store.keys().open(&row.secret, &seal_context(row.server_id, row.user_id))?)
}

/// Removes a key.
///
/// # Errors
/// An unknown key, or an unavailable database.
pub async fn remove(store: &Store, scope: Scope, actor: Actor, id: i64) -> Result<(), StoreError> {
    let mut tx = store.begin(scope).await?;
    let before = sqlx::query_as!(
        KeyInfo,
        "DELETE FROM provider_credentials WHERE id = $1
         RETURNING id, provider, label, enabled, usage_count, error_count",
        id
    )
    .fetch_optional(tx.conn())
    .await
    .about("key")?
    .ok_or(StoreError::NotFound("key"))?;
    let before = serde_json::to_value(&before).expect("key info serialises");
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "key.remove",
            target: format!("key:{id}"),
            before: Some(&before),
            after: None,
        },
    )
    .await?;
    tx.commit().await
}
