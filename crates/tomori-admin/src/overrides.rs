//! Per-channel and per-persona control (`/server channel-prompt`, `/server channel-model`,
//! `/server overrides`, `/persona model` on Discord): a channel's (or category's) own system
//! prompt, which replaces the server's there, a channel's own model, which answers for every
//! persona there, and a persona's own model, which answers for it elsewhere. Both models keep the
//! server's fallbacks and sampler choices. Listing is for members; the rest needs Manage Server.
//! Channel choices belong to a server; a persona's model works in a DM tenant too.

use tomori_core::id::Snowflake;
use tomori_store::overrides::{self, ModelChoice};
use tomori_store::{Scope, Store, StoreError, personas};

use crate::access::{AdminError, Need, authorize, tenant};
use crate::answer::Answer;
use crate::caller::Caller;
use crate::model::{Checked, check};

/// A model as a command names it; what it can do defaults to what is known of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// A provider name or `custom:<endpoint label>`.
    pub provider: String,
    /// The model id.
    pub model: String,
    /// It sees images (a custom endpoint's own flag, else no, when not given).
    pub vision: Option<bool>,
    /// It calls tools (yes when not given).
    pub tools: Option<bool>,
}

/// One action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The channel's (or category's) own system prompt, in place of the server's there.
    PromptSet {
        /// The channel or category.
        channel: Snowflake,
        /// The prompt.
        prompt: String,
    },
    /// The server's system prompt applies in the channel again.
    PromptClear {
        /// The channel or category.
        channel: Snowflake,
    },
    /// The channel's (or category's) own model, for every persona there.
    ModelSet {
        /// The channel or category.
        channel: Snowflake,
        /// The model.
        choice: Choice,
    },
    /// The server's (or the persona's) model answers in the channel again.
    ModelClear {
        /// The channel or category.
        channel: Snowflake,
    },
    /// Lists the channels' prompts and models and the personas' models.
    List,
    /// A persona's own model, wherever no channel has one.
    PersonaModelSet {
        /// The persona's name.
        persona: String,
        /// The model.
        choice: Choice,
    },
    /// The persona answers with the server's model again.
    PersonaModelClear {
        /// The persona's name.
        persona: String,
    },
}

impl Action {
    /// Who may run it.
    pub fn need(&self) -> Need {
        // Security: ManageGuild boundary. Every change here changes the server.
        match self {
            Self::List => Need::Member,
            _ => Need::Manager,
        }
    }

    /// Whether it also works in a direct message (on the caller's DM tenant).
    fn in_dm(&self) -> bool {
        matches!(self, Self::PersonaModelSet { .. } | Self::PersonaModelClear { .. } | Self::List)
    }
}

/// Runs `action` where `caller` asked, after checking they may.
///
/// # Errors
/// A refusal, input the store refuses (nothing changes then), or the store failing.
pub async fn run(store: &Store, caller: &Caller, action: &Action) -> Result<Answer, AdminError> {
    authorize(store, caller, action.need(), action.in_dm()).await?;
    let scope = tenant(store, caller).await?;
    let actor = caller.actor();
    let text = match action {
        Action::PromptSet { channel, prompt } => {
            overrides::set_prompt(store, scope, actor, *channel, Some(prompt.trim()))
                .await
                .map_err(refused)?;
            format!(
                "In <#{channel}> (and its threads or channels) this prompt replaces the server's system prompt."
            )
        }
        Action::PromptClear { channel } => {
            if overrides::set_prompt(store, scope, actor, *channel, None).await? {
                format!("<#{channel}> uses the server's system prompt again.")
            } else {
                format!("<#{channel}> has no prompt of its own; nothing was changed.")
            }
        }
        Action::ModelSet { channel, choice } => {
            let model = checked(store, scope, choice).await?;
            overrides::set_channel_model(store, scope, actor, *channel, Some(&model))
                .await
                .map_err(refused)?;
            format!(
                "In <#{channel}> every persona now answers through `{}/{}`, then the server's \
                 fallbacks.",
                model.provider, model.model
            )
        }
        Action::ModelClear { channel } => {
            if overrides::set_channel_model(store, scope, actor, *channel, None).await? {
                format!("<#{channel}> uses the server's models again.")
            } else {
                format!("<#{channel}> has no model of its own; nothing was changed.")
            }
        }
        Action::List => list(store, scope).await?,
        Action::PersonaModelSet { persona, choice } => {
            let found = crate::persona::named(store, scope, persona).await?;
            let model = checked(store, scope, choice).await?;
            overrides::set_persona_model(store, scope, actor, found.id, Some(&model)).await?;
            format!(
                "**{}** now answers through `{}/{}` wherever a channel has no model of its own.",
                found.nickname, model.provider, model.model
            )
        }
        Action::PersonaModelClear { persona } => {
            let found = crate::persona::named(store, scope, persona).await?;
            if overrides::set_persona_model(store, scope, actor, found.id, None).await? {
                format!("**{}** answers through the server's model again.", found.nickname)
            } else {
                format!("**{}** has no model of its own; nothing was changed.", found.nickname)
            }
        }
    };
    Ok(Answer::text(text))
}

/// The store's refusals, in the command's words.
fn refused(error: StoreError) -> AdminError {
    match error {
        StoreError::Invalid { field: "channel prompt", .. } => AdminError::BadInput(
            "A channel prompt is 1 to 8000 characters, not only spaces; nothing was changed."
                .to_owned(),
        ),
        StoreError::LimitReached { limit, .. } => AdminError::BadInput(format!(
            "At most {limit} channels have a prompt or model of their own; clear one first."
        )),
        other => AdminError::Store(other),
    }
}

/// The model, checked as `/model text` checks one: a known provider, or one of the server's
/// endpoints (whose vision flag is the default).
async fn checked(store: &Store, scope: Scope, choice: &Choice) -> Result<ModelChoice, AdminError> {
    let provider = choice.provider.trim().to_lowercase();
    let model = choice.model.trim().to_owned();
    let known = check(store, scope, &provider, &model).await?;
    let sees = matches!(known, Checked::Endpoint { vision: true });
    Ok(ModelChoice {
        provider,
        model,
        vision: choice.vision.unwrap_or(sees),
        tools: choice.tools.unwrap_or(true),
    })
}

/// What the server has per channel and per persona, within one Discord message.
async fn list(store: &Store, scope: Scope) -> Result<String, AdminError> {
    let channels = overrides::channels(store, scope).await?;
    let models = overrides::persona_models(store, scope).await?;
    let all = personas::list(store, scope).await?;
    if channels.is_empty() && models.is_empty() {
        return Ok("No channel or persona has a prompt or model of its own.".to_owned());
    }
    let mut lines = Vec::new();
    for channel in &channels {
        let mut parts = Vec::new();
        if let Some(prompt) = &channel.system_prompt {
            parts.push(format!("prompt \"{}\"", shortened(prompt, 80)));
        }
        if let Some(model) = &channel.model {
            parts.push(format!("model `{}/{}`", model.provider, model.model));
        }
        lines.push(format!("<#{}>: {}", channel.channel, parts.join(" · ")));
    }
    for (persona, model) in &models {
        let name = all.iter().find(|p| p.id == *persona).map_or("?", |p| p.nickname.as_str());
        lines.push(format!("**{name}**: model `{}/{}`", model.provider, model.model));
    }
    let mut text = String::new();
    for (shown, line) in lines.iter().enumerate() {
        if text.len() + line.len() > 1_800 {
            text.push_str(&format!("…and {} more.", lines.len() - shown));
            break;
        }
        text.push_str(line);
        text.push('\n');
    }
    Ok(text.trim_end().to_owned())
}

/// `text` on one line, cut to `max` characters.
fn shortened(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        line
    } else {
        format!("{}…", line.chars().take(max).collect::<String>())
    }
}
