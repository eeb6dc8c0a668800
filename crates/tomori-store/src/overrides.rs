//! Per-channel and per-persona control: a channel's own system prompt (`/server channel-prompt`)
//! and model (`/server channel-model`), and a persona's own model (`/persona model`).
//!
//! A channel here is a text channel, a forum or a category; the chat layer looks a thread up
//! under its parent and a channel under its category when they have no row of their own. In a
//! channel with a prompt, it replaces the server's system prompt; a channel's model answers for
//! every persona there, a persona's model for it everywhere else, and both keep the server's
//! fallbacks, sampler choices and vision model. Removing a persona removes its model (the
//! foreign key cascades).

use serde::Serialize;
use tomori_core::id::{PersonaId, Snowflake};

use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::models::{check_model, check_provider};
use crate::{Scope, Store, StoreError};

/// The most channels of one server with a prompt or model of their own.
pub const MAX_CHANNEL_OVERRIDES: i64 = 200;

/// The most characters of a channel's prompt (as the server's system prompt).
pub const MAX_PROMPT_CHARS: usize = 8_000;

/// A model chosen for a channel or a persona.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ModelChoice {
    /// A known provider (`openrouter`) or a custom endpoint (`custom:<label>`).
    pub provider: String,
    /// The provider's model id.
    pub model: String,
    /// The model sees images.
    pub vision: bool,
    /// The model calls tools.
    pub tools: bool,
}

impl ModelChoice {
    fn validate(&self) -> Result<(), StoreError> {
        check_provider(&self.provider)?;
        check_model(&self.model)
    }
}

/// What one channel has of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelOverride {
    /// The channel, forum or category.
    pub channel: Snowflake,
    /// Replaces the server's system prompt there.
    pub system_prompt: Option<String>,
    /// Answers there in place of the server's and the personas' models.
    pub model: Option<ModelChoice>,
}

/// Checks a channel's prompt: visible text of at most [`MAX_PROMPT_CHARS`] characters.
///
/// # Errors
/// Anything else.
pub fn check_prompt(prompt: &str) -> Result<(), StoreError> {
    if prompt.trim().is_empty() || prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(StoreError::Invalid {
            field: "channel prompt",
            reason: "1 to 8000 characters, not only spaces".to_owned(),
        });
    }
    Ok(())
}

/// Every channel of the server with something of its own.
///
/// # Errors
/// An unavailable database.
pub async fn channels(store: &Store, scope: Scope) -> Result<Vec<ChannelOverride>, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let rows = sqlx::query!(
        "SELECT channel_id, system_prompt, provider, model, vision, tools
         FROM channel_overrides WHERE server_id = $1 ORDER BY channel_id",
        server
    )
    .fetch_all(tx.conn())
    .await
    .about("channel override")?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let model = match (r.provider, r.model) {
                (Some(provider), Some(model)) => {
                    Some(ModelChoice { provider, model, vision: r.vision, tools: r.tools })
                }
                _ => None,
            };
            Some(ChannelOverride {
                channel: Snowflake::from_db(r.channel_id).ok()?,
                system_prompt: r.system_prompt,
                model,
            })
        })
        .collect())
}

/// What one change to a channel's row is.
enum ChannelChange<'a> {
    Prompt(Option<&'a str>),
    Model(Option<&'a ModelChoice>),
}

/// Sets (or with `None`, clears) the channel's prompt. False when a clear found nothing to clear.
///
/// # Errors
/// An invalid prompt, the limit, or an unavailable database.
pub async fn set_prompt(
    store: &Store,
    scope: Scope,
    actor: Actor,
    channel: Snowflake,
    prompt: Option<&str>,
) -> Result<bool, StoreError> {
    if let Some(prompt) = prompt {
        check_prompt(prompt)?;
    }
    change_channel(store, scope, actor, channel, ChannelChange::Prompt(prompt)).await
}

/// Sets (or with `None`, clears) the channel's model. False when a clear found nothing to clear.
///
/// # Errors
/// An invalid provider or model, the limit, or an unavailable database.
pub async fn set_channel_model(
    store: &Store,
    scope: Scope,
    actor: Actor,
    channel: Snowflake,
    model: Option<&ModelChoice>,
) -> Result<bool, StoreError> {
    if let Some(model) = model {
        model.validate()?;
    }
    change_channel(store, scope, actor, channel, ChannelChange::Model(model)).await
}

async fn change_channel(
    store: &Store,
    scope: Scope,
    actor: Actor,
    channel: Snowflake,
    change: ChannelChange<'_>,
) -> Result<bool, StoreError> {
    let server = scope.require_server()?.get();
    let before = channels(store, scope).await?.into_iter().find(|c| c.channel == channel);
    let mut after =
        before.clone().unwrap_or(ChannelOverride { channel, system_prompt: None, model: None });
    let action = match change {
        ChannelChange::Prompt(prompt) => {
            after.system_prompt = prompt.map(str::to_owned);
            if prompt.is_some() { "channel_prompt.set" } else { "channel_prompt.clear" }
        }
        ChannelChange::Model(model) => {
            after.model = model.cloned();
            if model.is_some() { "channel_model.set" } else { "channel_model.clear" }
        }
    };
    if before.as_ref() == Some(&after) || (before.is_none() && action.ends_with(".clear")) {
        return Ok(false);
    }
    let mut tx = store.begin(scope).await?;
    if before.is_none() {
        let count = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM channel_overrides WHERE server_id = $1"#,
            server
        )
        .fetch_one(tx.conn())
        .await
        .about("channel override")?;
        if count >= MAX_CHANNEL_OVERRIDES {
            return Err(StoreError::LimitReached { what: "channels with overrides", limit: 200 });
        }
    }
    if after.system_prompt.is_none() && after.model.is_none() {
        sqlx::query!(
            "DELETE FROM channel_overrides WHERE server_id = $1 AND channel_id = $2",
            server,
            channel.to_db()
        )
        .execute(tx.conn())
        .await
        .about("channel override")?;
    } else {
        let model = after.model.as_ref();
        sqlx::query!(
            "INSERT INTO channel_overrides
                 (server_id, channel_id, system_prompt, provider, model, vision, tools)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (server_id, channel_id) DO UPDATE SET
                 system_prompt = EXCLUDED.system_prompt, provider = EXCLUDED.provider,
                 model = EXCLUDED.model, vision = EXCLUDED.vision, tools = EXCLUDED.tools,
                 updated_at = now()",
            server,
            channel.to_db(),
            after.system_prompt.as_deref(),
            model.map(|m| m.provider.as_str()),
            model.map(|m| m.model.as_str()),
            model.is_some_and(|m| m.vision),
            model.is_none_or(|m| m.tools)
        )
        .execute(tx.conn())
        .await
        .about("channel override")?;
    }
    let json = |c: &ChannelOverride| serde_json::to_value(c).expect("override serialises");
    let (before, after) = (before.as_ref().map(json), json(&after));
    audit::record(
        &mut tx,
        Change {
            actor,
            action,
            target: format!("channel:{channel}"),
            before: before.as_ref(),
            after: Some(&after),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Every persona of the server with a model of its own.
///
/// # Errors
/// An unavailable database.
pub async fn persona_models(
    store: &Store,
    scope: Scope,
) -> Result<Vec<(PersonaId, ModelChoice)>, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let rows = sqlx::query!(
        "SELECT persona_id, provider, model, vision, tools
         FROM persona_models WHERE server_id = $1 ORDER BY persona_id",
        server
    )
    .fetch_all(tx.conn())
    .await
    .about("persona model")?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let choice = ModelChoice {
                provider: r.provider,
                model: r.model,
                vision: r.vision,
                tools: r.tools,
            };
            (PersonaId::from_db(r.persona_id), choice)
        })
        .collect())
}

/// Sets (or with `None`, clears) the persona's model. False when a clear found nothing to clear.
///
/// # Errors
/// A persona of another server (refused by the foreign key), an invalid provider or model, or
/// an unavailable database.
pub async fn set_persona_model(
    store: &Store,
    scope: Scope,
    actor: Actor,
    persona: PersonaId,
    model: Option<&ModelChoice>,
) -> Result<bool, StoreError> {
    if let Some(model) = model {
        model.validate()?;
    }
    let server = scope.require_server()?.get();
    let before =
        persona_models(store, scope).await?.into_iter().find(|(p, _)| *p == persona).map(|m| m.1);
    if before.as_ref() == model || (before.is_none() && model.is_none()) {
        return Ok(false);
    }
    let mut tx = store.begin(scope).await?;
    match model {
        None => {
            sqlx::query!(
                "DELETE FROM persona_models WHERE server_id = $1 AND persona_id = $2",
                server,
                persona.get()
            )
            .execute(tx.conn())
            .await
            .about("persona model")?;
        }
        // Security: cross-tenant references. The foreign key covers (server_id, persona_id), so
        // a persona id from another server fails here rather than being stored.
        Some(model) => {
            sqlx::query!(
                "INSERT INTO persona_models (server_id, persona_id, provider, model, vision, tools)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (server_id, persona_id) DO UPDATE SET provider = EXCLUDED.provider,
                     model = EXCLUDED.model, vision = EXCLUDED.vision, tools = EXCLUDED.tools,
                     updated_at = now()",
                server,
                persona.get(),
                model.provider,
                model.model,
                model.vision,
                model.tools
            )
            .execute(tx.conn())
            .await
            .map_err(|err| match &err {
                sqlx::Error::Database(db) if db.code().as_deref() == Some("23503") => {
                    StoreError::NotFound("persona")
                }
                _ => StoreError::from_sqlx(err, "persona model"),
            })?;
        }
    }
    let json = |m: &ModelChoice| serde_json::to_value(m).expect("model serialises");
    let (before, after) = (before.as_ref().map(json), model.map(json));
    audit::record(
        &mut tx,
        Change {
            actor,
            action: if model.is_some() { "persona_model.set" } else { "persona_model.clear" },
            target: format!("persona:{persona}"),
            before: before.as_ref(),
            after: after.as_ref(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
