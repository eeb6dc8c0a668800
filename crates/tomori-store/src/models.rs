//! The model a server talks through (`/model text`): a provider and model id, what the model can
//! do, its temperature and a fallback chain. No row means the instance providers.
//! Also the model a server embeds documents with (`/model embedding`); no row, no retrieval.

use serde::Serialize;

use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::{Scope, Store, StoreError};

/// The most fallback entries.
pub const MAX_FALLBACK: usize = 5;

/// A server's model choice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerModel {
    /// A known provider (`openrouter`) or a custom endpoint (`custom:<label>`).
    pub provider: String,
    /// The provider's model id.
    pub model: String,
    /// The model sees images.
    pub vision: bool,
    /// The model calls tools.
    pub tools: bool,
    /// Sampling temperature, 0 to 2; the provider's default when `None`.
    pub temperature: Option<f32>,
    /// `provider/model` entries tried in order after the primary.
    pub fallback: Vec<String>,
}

fn invalid(field: &'static str, reason: &str) -> StoreError {
    StoreError::Invalid { field, reason: reason.to_owned() }
}

/// Checks a provider name: a known provider's name or `custom:<label>`, lower-case.
///
/// # Errors
/// Anything else.
pub fn check_provider(provider: &str) -> Result<(), StoreError> {
    let name = provider.strip_prefix("custom:").unwrap_or(provider);
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(invalid("provider", "a provider name or custom:<label>")) }
}

/// Checks a model id: 1 to 200 characters of letters, digits and `._:/@+-`.
///
/// # Errors
/// Anything else.
pub fn check_model(model: &str) -> Result<(), StoreError> {
    let ok = (1..=200).contains(&model.len())
        && model.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:/@+-".contains(&b));
    if ok { Ok(()) } else { Err(invalid("model", "1 to 200 letters, digits or . _ : / @ + -")) }
}

impl ServerModel {
    fn validate(&self) -> Result<(), StoreError> {
        check_provider(&self.provider)?;
        check_model(&self.model)?;
        if let Some(t) = self.temperature
            && !(t.is_finite() && (0.0..=2.0).contains(&t))
        {
            return Err(invalid("temperature", "between 0 and 2"));
        }
        if self.fallback.len() > MAX_FALLBACK {
            return Err(StoreError::LimitReached { what: "fallback models", limit: 5 });
        }
        for entry in &self.fallback {
            let (provider, model) = entry
                .split_once('/')
                .ok_or_else(|| invalid("fallback", "each entry is provider/model"))?;
            check_provider(provider)?;
            check_model(model)?;
        }
        Ok(())
    }
}

/// The server's model, if it chose one.
///
/// # Errors
/// An unavailable database.
pub async fn get(store: &Store, scope: Scope) -> Result<Option<ServerModel>, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let row = sqlx::query!(
        "SELECT provider, model, vision, tools, temperature, fallback
         FROM server_models WHERE server_id = $1",
        server
    )
    .fetch_optional(tx.conn())
    .await
    .about("model")?;
    tx.commit().await?;
    Ok(row.map(|r| ServerModel {
        provider: r.provider,
        model: r.model,
        vision: r.vision,
        tools: r.tools,
        temperature: r.temperature,
        fallback: r.fallback,
    }))
}

/// Sets the server's model, with an audit row of before and after.
///
/// # Errors
/// An invalid provider, model, temperature or fallback entry, or an unavailable database.
pub async fn set(
    store: &Store,
    scope: Scope,
    actor: Actor,
    model: &ServerModel,
) -> Result<(), StoreError> {
    model.validate()?;
    let before = get(store, scope).await?;
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    sqlx::query!(
        "INSERT INTO server_models (server_id, provider, model, vision, tools, temperature, fallback)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (server_id) DO UPDATE SET provider = EXCLUDED.provider,
             model = EXCLUDED.model, vision = EXCLUDED.vision, tools = EXCLUDED.tools,
             temperature = EXCLUDED.temperature, fallback = EXCLUDED.fallback, updated_at = now()",
        server,
        model.provider,
        model.model,
        model.vision,
        model.tools,
        model.temperature,
        &model.fallback
    )
    .execute(tx.conn())
    .await
    .about("model")?;
    let before = before.map(|b| serde_json::to_value(b).expect("model serialises"));
    let after = serde_json::to_value(model).expect("model serialises");
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "model.set",
            target: "model:text".to_owned(),
            before: before.as_ref(),
            after: Some(&after),
        },
    )
    .await?;
    tx.commit().await
}

/// Forgets the server's model (the instance providers answer again). False when none was set.
///
/// # Errors
/// An unavailable database.
pub async fn clear(store: &Store, scope: Scope, actor: Actor) -> Result<bool, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let removed = sqlx::query!(
        "DELETE FROM server_models WHERE server_id = $1
         RETURNING provider, model, vision, tools, temperature, fallback",
        server
    )
    .fetch_optional(tx.conn())
    .await
    .about("model")?;
    let Some(r) = removed else {
        tx.commit().await?;
        return Ok(false);
    };
    let before = ServerModel {
        provider: r.provider,
        model: r.model,
        vision: r.vision,
        tools: r.tools,
        temperature: r.temperature,
        fallback: r.fallback,
    };
    let before = serde_json::to_value(before).expect("model serialises");
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "model.clear",
            target: "model:text".to_owned(),
            before: Some(&before),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The model a server embeds documents and retrieval queries with (`/model embedding`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmbeddingModel {
    /// A known provider (`openai`) or a custom endpoint (`custom:<label>`).
    pub provider: String,
    /// The provider's embedding model id.
    pub model: String,
}

impl EmbeddingModel {
    fn validate(&self) -> Result<(), StoreError> {
        check_provider(&self.provider)?;
        check_model(&self.model)
    }
}

/// The server's embedding model, if it chose one.
///
/// # Errors
/// An unavailable database.
pub async fn get_embedding(
    store: &Store,
    scope: Scope,
) -> Result<Option<EmbeddingModel>, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let row = sqlx::query_as!(
        EmbeddingModel,
        "SELECT provider, model FROM server_embedding_models WHERE server_id = $1",
        server
    )
    .fetch_optional(tx.conn())
    .await
    .about("embedding model")?;
    tx.commit().await?;
    Ok(row)
}

/// Sets the server's embedding model, with an audit row of before and after. Documents embedded
/// with another model stay stored but are no longer searched (see `documents`).
///
/// # Errors
/// An invalid provider or model, or an unavailable database.
pub async fn set_embedding(
    store: &Store,
    scope: Scope,
    actor: Actor,
    model: &EmbeddingModel,
) -> Result<(), StoreError> {
    model.validate()?;
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let before = sqlx::query_as!(
        EmbeddingModel,
        "SELECT provider, model FROM server_embedding_models WHERE server_id = $1 FOR UPDATE",
        server
    )
    .fetch_optional(tx.conn())
    .await
    .about("embedding model")?;
    sqlx::query!(
        "INSERT INTO server_embedding_models (server_id, provider, model) VALUES ($1, $2, $3)
         ON CONFLICT (server_id) DO UPDATE SET provider = EXCLUDED.provider,
             model = EXCLUDED.model, updated_at = now()",
        server,
        model.provider,
        model.model
    )
    .execute(tx.conn())
    .await
    .about("embedding model")?;
    let before = before.map(|b| serde_json::to_value(b).expect("model serialises"));
    let after = serde_json::to_value(model).expect("model serialises");
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "model.embedding.set",
            target: "model:embedding".to_owned(),
            before: before.as_ref(),
            after: Some(&after),
        },
    )
    .await?;
    tx.commit().await
}

/// Forgets the server's embedding model (retrieval stops). False when none was set.
///
/// # Errors
/// An unavailable database.
pub async fn clear_embedding(
    store: &Store,
    scope: Scope,
    actor: Actor,
) -> Result<bool, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let removed = sqlx::query_as!(
        EmbeddingModel,
        "DELETE FROM server_embedding_models WHERE server_id = $1 RETURNING provider, model",
        server
    )
    .fetch_optional(tx.conn())
    .await
    .about("embedding model")?;
    let Some(before) = removed else {
        tx.commit().await?;
        return Ok(false);
    };
    let before = serde_json::to_value(before).expect("model serialises");
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "model.embedding.clear",
            target: "model:embedding".to_owned(),
            before: Some(&before),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
