//! Which model a server talks through and how (`/model …` on Discord): the chat model with its
//! sampling choices, stop strings and fallbacks, a vision model for images, the embedding model
//! of server documents, the image model that draws pictures and the video model that films.
//! Reading needs membership; changing needs Manage Server (in a
//! direct message, the member manages their own DM tenant).

use tomori_core::thinking::ThinkingLevel;
use tomori_llm::{Wire, known_provider};
use tomori_store::credentials::KeyOwner;
pub use tomori_store::models::VisionMode;
use tomori_store::models::{
    self, EmbeddingModel, ImageModel, MAX_FALLBACK, MAX_STOP, Params, ServerModel,
};
use tomori_store::{Scope, Store, documents, endpoints};

mod logit_bias;
mod video;

pub use logit_bias::{BiasChange, MAX_FILE_BYTES as MAX_LOGIT_BIAS_FILE_BYTES};

use crate::access::{AdminError, Need, authorize, tenant};
use crate::answer::Answer;
use crate::caller::Caller;

/// A `/model` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The model the server talks through.
    Text {
        /// Provider name, or `custom:<endpoint label>`.
        provider: String,
        /// Model id.
        model: String,
        /// It sees images.
        vision: bool,
        /// It calls tools.
        tools: bool,
    },
    /// The model for turns with images, when the text model does not see them.
    VisionSet {
        /// Provider name, or `custom:<endpoint label>`.
        provider: String,
        /// Model id.
        model: String,
    },
    /// No separate model for images.
    VisionClear,
    /// Temperature in hundredths (Discord integers), `None` for the provider's default.
    Temperature {
        /// In hundredths; `None` for the provider's default.
        hundredths: Option<i64>,
    },
    /// Sampler parameters; fractions in hundredths (Discord integers). Unset options keep their
    /// value; `reset` clears every parameter first.
    Parameters {
        /// Nucleus sampling, in hundredths.
        top_p: Option<i64>,
        /// Top-k sampling.
        top_k: Option<i64>,
        /// The longest answer, in tokens.
        max_tokens: Option<i64>,
        /// In hundredths.
        frequency_penalty: Option<i64>,
        /// In hundredths.
        presence_penalty: Option<i64>,
        /// Min-p sampling, in hundredths.
        min_p: Option<i64>,
        /// Clear every parameter first.
        reset: bool,
    },
    /// How much the model reasons before answering; each provider's own field carries it.
    Thinking {
        /// The level.
        level: ThinkingLevel,
    },
    /// A stop string, with `\n` typed as a line break.
    StopAdd {
        /// The stop string, line breaks as typed and unescaped.
        text: String,
    },
    /// Removes a stop string.
    StopRemove {
        /// The stop string, line breaks as typed and unescaped.
        text: String,
    },
    /// Lists the stop strings.
    StopList,
    /// Turns the speaker pattern on or off: an answer also ends at a line that opens with
    /// another speaker's `Name:` label.
    StopSpeaker {
        /// On.
        on: bool,
    },
    /// Adds a model tried when the chosen one fails.
    FallbackAdd {
        /// Provider name, or `custom:<endpoint label>`.
        provider: String,
        /// Model id.
        model: String,
    },
    /// No fallbacks.
    FallbackClear,
    /// How the vision model helps a chat model that cannot see.
    VisionMode {
        /// Answer in its place, or describe images it is asked about.
        mode: VisionMode,
    },
    /// Lists the logit bias entries.
    LogitBiasList,
    /// Changes the logit bias entries.
    LogitBias(BiasChange),
    /// The model that embeds server documents.
    Embedding {
        /// Provider name, or `custom:<endpoint label>`.
        provider: String,
        /// Model id.
        model: String,
    },
    /// No embedding model (documents are not searched).
    EmbeddingClear,
    /// The model that draws pictures (`generate_image`).
    ImageSet {
        /// Provider name, or `custom:<endpoint label>`.
        provider: String,
        /// Model id.
        model: String,
    },
    /// No image model (pictures are refused).
    ImageClear,
    /// The model that makes videos (`generate_video`).
    VideoSet {
        /// Provider name (`google` for Veo, or `openrouter`).
        provider: String,
        /// Model id.
        model: String,
    },
    /// No video model (videos are refused).
    VideoClear,
    /// What the server talks through.
    Show,
    /// Back to the instance's default model.
    Reset,
}

impl Action {
    /// Who may run it.
    pub fn need(&self) -> Need {
        match self {
            Self::Show | Self::StopList | Self::LogitBiasList => Need::Member,
            _ => Need::Manager,
        }
    }
}

/// What a checked provider is.
pub(crate) enum Checked {
    Known,
    /// One of the server's endpoints; whether it sees images.
    Endpoint {
        vision: bool,
    },
}

/// The provider must be known, or one of the server's endpoints.
pub(crate) async fn check(
    store: &Store,
    scope: Scope,
    provider: &str,
    model: &str,
) -> Result<Checked, AdminError> {
    models::check_model(model).map_err(|_| {
        AdminError::BadInput(format!(
            "`{model}` is not a model id: use letters, digits and . _ : / @ + - only."
        ))
    })?;
    if known_provider(provider).is_some() {
        return Ok(Checked::Known);
    }
    if let Some(label) = provider.strip_prefix("custom:")
        && let Some((endpoint, _)) = endpoints::get(store, scope, KeyOwner::Server, label).await?
    {
        return Ok(Checked::Endpoint { vision: endpoint.has_vision });
    }
    Err(AdminError::BadInput(format!(
        "Unknown provider `{provider}`: use a provider name from /provider key add or \
         custom:<endpoint label>; nothing was changed."
    )))
}

/// An embedding model must be reachable like a chat model and speak a wire with embeddings.
async fn check_embedding(
    store: &Store,
    scope: Scope,
    provider: &str,
    model: &str,
) -> Result<(), AdminError> {
    if known_provider(provider).is_some_and(|known| known.wire == Wire::Anthropic) {
        return Err(AdminError::BadInput(format!(
            "`{provider}` has no embeddings API; use openai, openrouter, google, nvidia or a \
             custom:<endpoint>. Nothing was changed."
        )));
    }
    check(store, scope, provider, model).await.map(|_| ())
}

/// What `/model show` says about documents.
fn describe_embedding(model: Option<&EmbeddingModel>) -> String {
    match model {
        Some(model) => {
            format!("Server documents are embedded with `{}/{}`.", model.provider, model.model)
        }
        None => "No embedding model: server documents are not searched.".to_owned(),
    }
}

fn describe(model: &ServerModel) -> String {
    let mut text = format!("`{}/{}`", model.provider, model.model);
    if model.vision {
        text.push_str(" · sees images");
    }
    if !model.tools {
        text.push_str(" · no tools");
    }
    if let Some(t) = model.temperature {
        text.push_str(&format!(" · temperature {t:.2}"));
    }
    let p = &model.params;
    if let Some(v) = p.top_p {
        text.push_str(&format!(" · top_p {v:.2}"));
    }
    if let Some(v) = p.top_k {
        text.push_str(&format!(" · top_k {v}"));
    }
    if let Some(v) = p.max_tokens {
        text.push_str(&format!(" · at most {v} tokens"));
    }
    if let Some(v) = p.frequency_penalty {
        text.push_str(&format!(" · frequency penalty {v:.2}"));
    }
    if let Some(v) = p.presence_penalty {
        text.push_str(&format!(" · presence penalty {v:.2}"));
    }
    if let Some(v) = p.min_p {
        text.push_str(&format!(" · min_p {v:.2}"));
    }
    if model.thinking != ThinkingLevel::Auto {
        text.push_str(&format!(" · thinking {}", model.thinking.name()));
    }
    match model.stop.len() {
        0 => {}
        1..=3 => text.push_str(&format!(" · stops at {}", shown_stops(&model.stop))),
        n => text.push_str(&format!(" · {n} stop strings")),
    }
    if model.stop_speaker {
        text.push_str(" · stops at other speakers' lines");
    }
    if !model.fallback.is_empty() {
        text.push_str(&format!(" · then {}", model.fallback.join(", ")));
    }
    if let Some(vision) = &model.vision_model {
        match model.vision_mode {
            VisionMode::Answer => text.push_str(&format!(" · images go to `{vision}`")),
            VisionMode::Describe => {
                text.push_str(&format!(" · `{vision}` describes images when asked"));
            }
        }
    }
    if !model.logit_bias.is_empty() {
        text.push_str(&format!(" · {} logit bias entries", model.logit_bias.len()));
    }
    text
}

/// Stop strings as typed (line breaks as `\n`), quoted.
/// The stop strings, quoted, within what one Discord message holds (40 of 200 characters would
/// not fit): the rest are counted.
fn shown_stops(stops: &[String]) -> String {
    const ROOM: usize = 1_500;
    let mut out = String::new();
    for (shown, stop) in stops.iter().enumerate() {
        let quoted = format!("{stop:?}");
        if out.len() + quoted.len() > ROOM {
            out.push_str(&format!(" and {} more", stops.len() - shown));
            break;
        }
        if shown > 0 {
            out.push_str(", ");
        }
        out.push_str(&quoted);
    }
    out
}

/// Hundredths (a Discord integer within the option's range) as a fraction.
fn fraction(hundredths: i64) -> f32 {
    // Options are bounded to ±200, so the conversion is exact.
    #[expect(clippy::cast_precision_loss, reason = "at most 200 in magnitude")]
    let value = hundredths as f32 / 100.0;
    value
}

/// Runs `action` on the model of the server `caller` asked in (their DM tenant in a direct
/// message), after checking they may.
///
/// # Errors
/// A refusal, input refused (nothing changes then), or the store failing.
pub async fn run(store: &Store, caller: &Caller, action: &Action) -> Result<Answer, AdminError> {
    authorize(store, caller, action.need(), true).await?;
    let scope = tenant(store, caller).await?;
    let text = match action {
        Action::Show => show(store, scope).await?,
        Action::Embedding { provider, model } => {
            embedding(store, scope, caller, provider, model).await?
        }
        Action::EmbeddingClear => {
            if models::clear_embedding(store, scope, caller.actor()).await? {
                "Server documents are no longer searched; they stay stored.".to_owned()
            } else {
                "This server has no embedding model.".to_owned()
            }
        }
        Action::ImageSet { provider, model } => {
            image(store, scope, caller, provider, model).await?
        }
        Action::ImageClear => {
            if models::set_image(store, scope, caller.actor(), None).await? {
                "This server no longer draws pictures (no image model).".to_owned()
            } else {
                "This server has no image model.".to_owned()
            }
        }
        Action::VideoSet { provider, model } => {
            video::set(store, scope, caller, provider, model).await?
        }
        Action::VideoClear => video::clear(store, scope, caller).await?,
        Action::LogitBiasList => logit_bias::listed(store, scope).await?,
        Action::LogitBias(change) => logit_bias::change(store, scope, caller, change).await?,
        Action::Reset => {
            if models::clear(store, scope, caller.actor()).await? {
                "This server uses the instance's default model again.".to_owned()
            } else {
                "This server already uses the instance's default model.".to_owned()
            }
        }
        Action::StopList => {
            let model = models::get(store, scope).await?;
            let speaker = model.as_ref().is_some_and(|m| m.stop_speaker);
            let stops = model.map(|m| m.stop).unwrap_or_default();
            let mut text = if stops.is_empty() {
                "No stop strings.".to_owned()
            } else {
                format!("Stop strings ({} of {MAX_STOP}): {}.", stops.len(), shown_stops(&stops))
            };
            if speaker {
                text.push_str(" Answers also end at another speaker's `Name:` line.");
            }
            text
        }
        change => {
            let current = models::get(store, scope).await?;
            let updated = changed(store, scope, current, change).await?;
            models::set(store, scope, caller.actor(), &updated).await?;
            format!("This server now talks through {}.", describe(&updated))
        }
    };
    Ok(Answer::text(text))
}

async fn show(store: &Store, scope: Scope) -> Result<String, AdminError> {
    let text = match models::get(store, scope).await? {
        Some(model) => format!("This server talks through {}.", describe(&model)),
        None => "This server uses the instance's default model.".to_owned(),
    };
    let embedding = models::get_embedding(store, scope).await?;
    let image = models::get_image(store, scope).await?;
    let video = models::get_video(store, scope).await?;
    Ok(format!(
        "{text}\n{}\n{}\n{}",
        describe_embedding(embedding.as_ref()),
        describe_image(image.as_ref()),
        video::describe(video.as_ref())
    ))
}

/// What `/model show` says about pictures.
fn describe_image(model: Option<&ImageModel>) -> String {
    match model {
        Some(model) => format!("Pictures are drawn by `{}/{}`.", model.provider, model.model),
        None => "No image model: pictures are not drawn.".to_owned(),
    }
}

/// An image model must be reachable like a chat model and speak a wire with an image API
/// (OpenAI-compatible `/images/generations`, OpenRouter's image output, Gemini's).
async fn image(
    store: &Store,
    scope: Scope,
    caller: &Caller,
    provider: &str,
    model: &str,
) -> Result<String, AdminError> {
    if known_provider(provider).is_some_and(|known| known.wire == Wire::Anthropic) {
        return Err(AdminError::BadInput(format!(
            "`{provider}` makes no images; use openai, openrouter, google or a \
             custom:<endpoint> with an images API. Nothing was changed."
        )));
    }
    check(store, scope, provider, model).await?;
    let chosen = ImageModel { provider: provider.to_owned(), model: model.to_owned() };
    models::set_image(store, scope, caller.actor(), Some(&chosen)).await?;
    Ok(format!(
        "{} Turn pictures on with /server feature flag:image_gen; the image quota (/server \
         quota) counts each one.",
        describe_image(Some(&chosen))
    ))
}

async fn embedding(
    store: &Store,
    scope: Scope,
    caller: &Caller,
    provider: &str,
    model: &str,
) -> Result<String, AdminError> {
    check_embedding(store, scope, provider, model).await?;
    let chosen = EmbeddingModel { provider: provider.to_owned(), model: model.to_owned() };
    models::set_embedding(store, scope, caller.actor(), &chosen).await?;
    let stale = documents::list(store, scope)
        .await?
        .iter()
        .filter(|d| !d.family.is_made_by(&chosen))
        .count();
    let mut text = describe_embedding(Some(&chosen));
    if stale > 0 {
        text.push_str(&format!(
            " {stale} document(s) were embedded with another model and are not searched until \
             added again (see /memory document list)."
        ));
    }
    Ok(text)
}

pub(crate) fn need_model() -> AdminError {
    AdminError::BadInput("Choose a model with /model text first; nothing was changed.".to_owned())
}

/// The server's model after a change to it; `current` is what it had.
async fn changed(
    store: &Store,
    scope: Scope,
    current: Option<ServerModel>,
    change: &Action,
) -> Result<ServerModel, AdminError> {
    match change {
        Action::Text { provider, model, vision, tools } => {
            check(store, scope, provider, model).await?;
            // Sampling choices and fallbacks stay when the model changes.
            let mut chosen =
                current.unwrap_or_else(|| ServerModel::new(provider.clone(), model.clone()));
            chosen.provider.clone_from(provider);
            chosen.model.clone_from(model);
            chosen.vision = *vision;
            chosen.tools = *tools;
            Ok(chosen)
        }
        Action::VisionSet { provider, model: id } => {
            if let Checked::Endpoint { vision: false } = check(store, scope, provider, id).await? {
                return Err(AdminError::BadInput(format!(
                    "The endpoint `{provider}` is not marked as seeing images; register it with \
                     vision:true. Nothing was changed."
                )));
            }
            let mut model = current.ok_or_else(need_model)?;
            model.vision_model = Some(format!("{provider}/{id}"));
            Ok(model)
        }
        Action::FallbackAdd { provider, model: id } => {
            check(store, scope, provider, id).await?;
            let mut model = current.ok_or_else(need_model)?;
            if model.fallback.len() >= MAX_FALLBACK {
                return Err(AdminError::BadInput(format!(
                    "At most {MAX_FALLBACK} fallbacks; clear them with /model fallback clear."
                )));
            }
            model.fallback.push(format!("{provider}/{id}"));
            Ok(model)
        }
        other => edited(current.ok_or_else(need_model)?, other),
    }
}

/// The server's model after a change that needs no lookup.
fn edited(mut model: ServerModel, change: &Action) -> Result<ServerModel, AdminError> {
    match change {
        Action::VisionClear => model.vision_model = None,
        // 0..=200 hundredths (the front door bounds it; the store checks it again).
        Action::Temperature { hundredths } => model.temperature = hundredths.map(fraction),
        Action::Parameters {
            top_p,
            top_k,
            max_tokens,
            frequency_penalty,
            presence_penalty,
            min_p,
            reset,
        } => {
            let given = [top_p, top_k, max_tokens, frequency_penalty, presence_penalty, min_p];
            if !reset && given.iter().all(|v| v.is_none()) {
                return Err(AdminError::BadInput(
                    "Give at least one parameter (or reset); /model show lists them.".to_owned(),
                ));
            }
            if *reset {
                model.params = Params::default();
            }
            // The store checks every value again; an integer that does not fit is refused
            // rather than wrapped.
            let whole = |v: i64, what: &str| {
                i32::try_from(v)
                    .map_err(|_| AdminError::BadInput(format!("The {what} is too large.")))
            };
            let p = &mut model.params;
            p.top_p = top_p.map(fraction).or(p.top_p);
            p.top_k = top_k.map(|v| whole(v, "top_k")).transpose()?.or(p.top_k);
            p.max_tokens = max_tokens.map(|v| whole(v, "max_tokens")).transpose()?.or(p.max_tokens);
            p.frequency_penalty = frequency_penalty.map(fraction).or(p.frequency_penalty);
            p.presence_penalty = presence_penalty.map(fraction).or(p.presence_penalty);
            p.min_p = min_p.map(fraction).or(p.min_p);
        }
        Action::Thinking { level } => model.thinking = *level,
        Action::VisionMode { mode } => model.vision_mode = *mode,
        Action::StopSpeaker { on } => model.stop_speaker = *on,
        Action::StopAdd { text } => {
            models::check_stop(text).map_err(|_| {
                AdminError::BadInput(
                    "A stop string is 1 to 200 characters (\\n for a line break), not only spaces; \
                     nothing was changed."
                        .to_owned(),
                )
            })?;
            if model.stop.contains(text) {
                return Err(AdminError::BadInput(format!(
                    "{text:?} is already a stop string; nothing was changed."
                )));
            }
            if model.stop.len() >= MAX_STOP {
                return Err(AdminError::BadInput(format!(
                    "At most {MAX_STOP} stop strings; remove one with /model stop remove."
                )));
            }
            model.stop.push(text.clone());
        }
        Action::StopRemove { text } => {
            let before = model.stop.len();
            model.stop.retain(|s| s != text);
            if model.stop.len() == before {
                return Err(AdminError::BadInput(format!(
                    "{text:?} is not a stop string; /model stop list shows them."
                )));
            }
        }
        Action::FallbackClear => model.fallback.clear(),
        // Handled by `run` and `changed`.
        Action::Show
        | Action::StopList
        | Action::Reset
        | Action::Embedding { .. }
        | Action::EmbeddingClear
        | Action::ImageSet { .. }
        | Action::ImageClear
        | Action::VideoSet { .. }
        | Action::VideoClear
        | Action::Text { .. }
        | Action::VisionSet { .. }
        | Action::LogitBiasList
        | Action::LogitBias(_)
        | Action::FallbackAdd { .. } => {}
    }
    Ok(model)
}
