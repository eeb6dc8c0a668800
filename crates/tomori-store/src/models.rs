//! The model a server talks through (`/model text`): a provider and model id, what the model can
//! do, its sampler parameters and stop strings, a fallback chain, and a model for turns with
//! images. No row means the instance providers.
//! Also the model a server embeds documents with (`/model embedding`); no row, no retrieval.

use serde::Serialize;
use tomori_core::logit_bias::{self, BiasEntry};
use tomori_core::thinking::ThinkingLevel;

use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::{Scope, Store, StoreError};

/// The most fallback entries.
pub const MAX_FALLBACK: usize = 5;

/// The most stop strings. Every answer is scanned for all of them; each wire format receives only
/// as many as it takes (OpenAI 4, Gemini 5).
pub const MAX_STOP: usize = tomori_core::stops::MAX_STOPS;

/// The most characters of one stop string.
pub const MAX_STOP_CHARS: usize = tomori_core::stops::MAX_STOP_CHARS;

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
    /// Sampler parameters beyond temperature.
    pub params: Params,
    /// Strings that end the answer where the model writes them; at most [`MAX_STOP`].
    pub stop: Vec<String>,
    /// The speaker pattern: an answer also ends at a line that opens with another speaker's
    /// `Name:` label.
    pub stop_speaker: bool,
    /// `provider/model` of the model that answers turns with images in their context when this
    /// one does not see them.
    pub vision_model: Option<String>,
    /// How the vision model helps when this one does not see (`/model vision mode`).
    pub vision_mode: VisionMode,
    /// How much the model reasons before answering (`/model thinking`).
    #[serde(serialize_with = "thinking_name")]
    pub thinking: ThinkingLevel,
    /// Words made more or less likely (`/model logit-bias`); at most
    /// [`logit_bias::MAX_ENTRIES`].
    pub logit_bias: Vec<BiasEntry>,
}

/// How the vision model helps a chat model that cannot see images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VisionMode {
    /// It answers turns with images in the chat model's place.
    #[default]
    Answer,
    /// The chat model answers and asks it to describe an image (`analyze_image`).
    Describe,
}

impl VisionMode {
    /// The stored and shown name.
    pub fn name(self) -> &'static str {
        match self {
            VisionMode::Answer => "answer",
            VisionMode::Describe => "describe",
        }
    }

    /// The mode named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "answer" => Some(VisionMode::Answer),
            "describe" => Some(VisionMode::Describe),
            _ => None,
        }
    }
}

fn thinking_name<S: serde::Serializer>(level: &ThinkingLevel, out: S) -> Result<S::Ok, S::Error> {
    out.serialize_str(level.name())
}

/// Sampler parameters beyond temperature; `None` is "not sent" (the provider's default).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Params {
    /// Nucleus sampling, 0 to 1.
    pub top_p: Option<f32>,
    /// Top-k sampling, 1 to 1000.
    pub top_k: Option<i32>,
    /// Output token cap, 1 to 65,536.
    pub max_tokens: Option<i32>,
    /// Frequency penalty, -2 to 2 (not sent to Anthropic, which has none).
    pub frequency_penalty: Option<f32>,
    /// Presence penalty, -2 to 2 (not sent to Anthropic, which has none).
    pub presence_penalty: Option<f32>,
    /// Min-p sampling, 0 to 1 (OpenAI-compatible servers and OpenRouter take it).
    pub min_p: Option<f32>,
}

impl Params {
    fn validate(&self) -> Result<(), StoreError> {
        let within = |value: Option<f32>, low: f32, high: f32| {
            value.is_none_or(|v| v.is_finite() && (low..=high).contains(&v))
        };
        if !within(self.top_p, 0.0, 1.0) {
            return Err(invalid("top_p", "between 0 and 1"));
        }
        if self.top_k.is_some_and(|k| !(1..=1000).contains(&k)) {
            return Err(invalid("top_k", "between 1 and 1000"));
        }
        if self.max_tokens.is_some_and(|n| !(1..=65_536).contains(&n)) {
            return Err(invalid("max_tokens", "between 1 and 65536"));
        }
        if !within(self.frequency_penalty, -2.0, 2.0) {
            return Err(invalid("frequency_penalty", "between -2 and 2"));
        }
        if !within(self.presence_penalty, -2.0, 2.0) {
            return Err(invalid("presence_penalty", "between -2 and 2"));
        }
        if !within(self.min_p, 0.0, 1.0) {
            return Err(invalid("min_p", "between 0 and 1"));
        }
        Ok(())
    }
}

/// Checks a stop string: 1 to [`MAX_STOP_CHARS`] characters, not only spaces, and no control
/// characters but line breaks and tabs.
///
/// # Errors
/// Anything else.
pub fn check_stop(stop: &str) -> Result<(), StoreError> {
    let chars = stop.chars().count();
    if !(1..=MAX_STOP_CHARS).contains(&chars) || stop.chars().all(|c| c == ' ') {
        return Err(invalid("stop string", "1 to 200 characters, not only spaces"));
    }
    if stop.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(invalid("stop string", "no control characters but line breaks and tabs"));
    }
    Ok(())
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
    /// `model` of `provider`, seeing no images, calling tools, with the provider's defaults.
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            model: model.into(),
            vision: false,
            tools: true,
            temperature: None,
            fallback: Vec::new(),
            params: Params::default(),
            stop: Vec::new(),
            stop_speaker: false,
            vision_model: None,
            vision_mode: VisionMode::Answer,
            thinking: ThinkingLevel::Auto,
            logit_bias: Vec::new(),
        }
    }

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
        if let Some(entry) = &self.vision_model {
            let (provider, model) =
                entry.split_once('/').ok_or_else(|| invalid("vision model", "provider/model"))?;
            check_provider(provider)?;
            check_model(model)?;
        }
        self.params.validate()?;
        if self.stop.len() > MAX_STOP {
            return Err(StoreError::LimitReached { what: "stop strings", limit: 40 });
        }
        for stop in &self.stop {
            check_stop(stop)?;
        }
        if self.logit_bias.len() > logit_bias::MAX_ENTRIES {
            return Err(StoreError::LimitReached { what: "logit bias entries", limit: 50 });
        }
        for entry in &self.logit_bias {
            entry.check().map_err(|reason| StoreError::Invalid { field: "logit bias", reason })?;
        }
        Ok(())
    }
}

/// A `server_models` row.
struct Row {
    provider: String,
    model: String,
    vision: bool,
    tools: bool,
    temperature: Option<f32>,
    fallback: Vec<String>,
    top_p: Option<f32>,
    top_k: Option<i32>,
    max_tokens: Option<i32>,
    frequency_penalty: Option<f32>,
    presence_penalty: Option<f32>,
    stop: Vec<String>,
    vision_model: Option<String>,
    min_p: Option<f32>,
    thinking: String,
    stop_speaker: bool,
    logit_bias: serde_json::Value,
    vision_mode: String,
}

impl From<Row> for ServerModel {
    fn from(r: Row) -> Self {
        Self {
            provider: r.provider,
            model: r.model,
            vision: r.vision,
            tools: r.tools,
            temperature: r.temperature,
            fallback: r.fallback,
            params: Params {
                top_p: r.top_p,
                top_k: r.top_k,
                max_tokens: r.max_tokens,
                frequency_penalty: r.frequency_penalty,
                presence_penalty: r.presence_penalty,
                min_p: r.min_p,
            },
            stop: r.stop,
            stop_speaker: r.stop_speaker,
            vision_model: r.vision_model,
            // The table allows only the names.
            vision_mode: VisionMode::parse(&r.vision_mode).unwrap_or_default(),
            thinking: ThinkingLevel::parse(&r.thinking).unwrap_or_default(),
            // Written only after `ServerModel::validate`; a row that does not read is left
            // without a bias rather than failing every turn of the server.
            logit_bias: serde_json::from_value(r.logit_bias).unwrap_or_else(|error| {
                tracing::warn!(%error, "a stored logit bias does not read; none is sent");
                Vec::new()
            }),
        }
    }
}

/// The server's model, if it chose one.
///
/// # Errors
/// An unavailable database.
pub async fn get(store: &Store, scope: Scope) -> Result<Option<ServerModel>, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let row = sqlx::query_as!(
        Row,
        "SELECT provider, model, vision, tools, temperature, fallback, top_p, top_k, max_tokens,
                frequency_penalty, presence_penalty, stop, vision_model, min_p, thinking, stop_speaker,
                logit_bias, vision_mode
         FROM server_models WHERE server_id = $1",
        server
    )
    .fetch_optional(tx.conn())
    .await
    .about("model")?;
    tx.commit().await?;
    Ok(row.map(ServerModel::from))
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
        "INSERT INTO server_models (server_id, provider, model, vision, tools, temperature, fallback,
             top_p, top_k, max_tokens, frequency_penalty, presence_penalty, stop, vision_model,
             min_p, thinking, stop_speaker, logit_bias, vision_mode)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
             $18, $19)
         ON CONFLICT (server_id) DO UPDATE SET provider = EXCLUDED.provider,
             model = EXCLUDED.model, vision = EXCLUDED.vision, tools = EXCLUDED.tools,
             temperature = EXCLUDED.temperature, fallback = EXCLUDED.fallback,
             top_p = EXCLUDED.top_p, top_k = EXCLUDED.top_k, max_tokens = EXCLUDED.max_tokens,
             frequency_penalty = EXCLUDED.frequency_penalty,
             presence_penalty = EXCLUDED.presence_penalty, stop = EXCLUDED.stop,
             vision_model = EXCLUDED.vision_model, min_p = EXCLUDED.min_p,
             thinking = EXCLUDED.thinking, stop_speaker = EXCLUDED.stop_speaker,
             logit_bias = EXCLUDED.logit_bias, vision_mode = EXCLUDED.vision_mode,
             updated_at = now()",
        server,
        model.provider,
        model.model,
        model.vision,
        model.tools,
        model.temperature,
        &model.fallback,
        model.params.top_p,
        model.params.top_k,
        model.params.max_tokens,
        model.params.frequency_penalty,
        model.params.presence_penalty,
        &model.stop,
        model.vision_model,
        model.params.min_p,
        model.thinking.name(),
        model.stop_speaker,
        serde_json::to_value(&model.logit_bias).expect("entries serialise"),
        model.vision_mode.name()
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
    let removed = sqlx::query_as!(
        Row,
        "DELETE FROM server_models WHERE server_id = $1
         RETURNING provider, model, vision, tools, temperature, fallback, top_p, top_k,
             max_tokens, frequency_penalty, presence_penalty, stop, vision_model, min_p, thinking,
             stop_speaker, logit_bias, vision_mode",
        server
    )
    .fetch_optional(tx.conn())
    .await
    .about("model")?;
    let Some(row) = removed else {
        tx.commit().await?;
        return Ok(false);
    };
    let before = serde_json::to_value(ServerModel::from(row)).expect("model serialises");
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
mod image;
mod video;

pub use image::{Generated, ImageModel, get_image, record_generation, set_image};
pub use video::{VideoModel, get_video, set_video};

#[cfg(test)]
mod tests;
