//! A member's own settings and data (`/personal …` on Discord): privacy level, language,
//! nickname, their API keys and endpoint, an export of everything that is theirs, and deleting
//! it. Anyone may change their own, in a server or a direct message; nobody can change anyone
//! else's: every call works in the caller's own user scope.
//!
//! A member's own endpoint is judged by the personal-scope policy the front door passes in,
//! which is production-strict whatever the operator's `[net]` settings say (https to public
//! addresses only), before its token form, when the form comes back, and on every call.

use secrecy::SecretString;
use tomori_core::privacy::PrivacyLevel;
use tomori_llm::{Endpoint, Wire};
use tomori_net::Policy;
use tomori_store::credentials::{self, KeyOwner};
use tomori_store::endpoints::{self, MEMBER_ENDPOINT, NewEndpoint};
use tomori_store::memories::Memory;
use tomori_store::{Scope, Store, StoreError, memories, models, users};

use crate::access::AdminError;
use crate::answer::{Answer, AnswerFile};
use crate::caller::Caller;

/// What `/personal delete` must be given, so a slip cannot erase anyone's data.
pub const DELETE_PHRASE: &str = "delete my data";

/// Where a member's endpoint answers them (it receives the whole prompt, so only where they may
/// see it; see `tomori_chat::providers::Invoker`).
const WHERE_USED: &str = "It answers your direct messages, and your messages in servers you \
    manage or that turned prompt_snapshot on (it receives the whole prompt); elsewhere the \
    server's models answer you. Remove it with /personal custom-endpoint remove.";

/// One action on the caller's own data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// What Tomori may do with their data.
    Privacy {
        /// The new level.
        level: PrivacyLevel,
    },
    /// The language personas answer them in.
    Language {
        /// A language code.
        code: String,
    },
    /// What personas call them; `None` clears it.
    Nickname {
        /// The nickname.
        name: Option<String>,
    },
    /// Deletes everything that is theirs alone; needs the confirmation phrase.
    Delete {
        /// They typed [`DELETE_PHRASE`].
        confirmed: bool,
    },
    /// Everything that is theirs, as a JSON file (keys by label only).
    Export,
    /// Their API keys, by label.
    KeyList,
    /// Removes one of their API keys.
    KeyRemove {
        /// The key's id, as the list shows it.
        id: i64,
    },
    /// Their own endpoint.
    EndpointShow,
    /// Removes their own endpoint.
    EndpointRemove,
    /// Their own model, paid with their own keys for its provider.
    ModelSet {
        /// A known provider's name.
        provider: String,
        /// The model id.
        model: String,
        /// The server's models may answer them when theirs fails.
        fallback: bool,
    },
    /// The server's models answer them again.
    ModelClear,
    /// Their own model, if they chose one.
    ModelShow,
    /// Their own choice of deliberate tool mode; `None` follows the server's.
    DeliberateTools {
        /// On, off, or the server's.
        mode: Option<bool>,
    },
}

/// What an action amounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// What the member is told (and any file for them).
    pub answer: Answer,
    /// They chose privacy level 2: the front door tells the engine to forget their messages
    /// now, not at their next message.
    pub withhold: bool,
}

impl From<Answer> for Outcome {
    fn from(answer: Answer) -> Self {
        Self { answer, withhold: false }
    }
}

/// Runs `action` on the caller's own data.
///
/// # Errors
/// Input refused (an unconfirmed delete), or the store refusing or failing; nothing changes then.
pub async fn run(store: &Store, caller: &Caller, action: &Action) -> Result<Outcome, AdminError> {
    // Security: cross-user tampering. Everything below works in the caller's own user scope,
    // keyed by the user id the platform reported, so another member's ids find nothing.
    let me = Scope::user(store.resolve_user(caller.user).await?);
    let actor = caller.actor();
    let text = match action {
        Action::Privacy { level } => {
            users::set_privacy(store, me, actor, *level).await?;
            let meaning = match level {
                PrivacyLevel::Minimal => "personas may use everything you share with them",
                PrivacyLevel::Partial => {
                    "personas no longer use your personal memories, roles or status"
                }
                PrivacyLevel::Full => "I will not answer you or use your messages",
            };
            // Security: privacy level 2. Their messages already in the history leave it now.
            return Ok(Outcome {
                answer: Answer::text(format!("Your privacy level is now {level}: {meaning}.")),
                withhold: *level == PrivacyLevel::Full,
            });
        }
        Action::Language { code } => {
            let now = users::set_profile(store, me, actor, Some(code), None).await?;
            format!("Personas will answer you in `{}` when they can.", now.language)
        }
        Action::Nickname { name } => {
            let now = users::set_profile(store, me, actor, None, Some(name.as_deref())).await?;
            match now.nickname {
                Some(name) => format!("Personas will call you {name}."),
                None => "Personas will call you by your name.".to_owned(),
            }
        }
        Action::KeyList => key_list(store, me).await?,
        Action::KeyRemove { id } => {
            credentials::remove(store, me, actor, *id).await?;
            format!("Removed your key {id}.")
        }
        Action::EndpointShow => endpoint_show(store, me).await?,
        Action::ModelSet { provider, model, fallback } => {
            model_set(store, me, actor, provider, model, *fallback).await?
        }
        Action::DeliberateTools { mode } => {
            users::set_deliberate_tools(store, me, actor, *mode).await?;
            match mode {
                Some(true) => "Deliberate tool mode is on for you: tools are offered only when \
                               your message asks for what they do."
                    .to_owned(),
                Some(false) => "Deliberate tool mode is off for you: every allowed tool is \
                                offered on your turns."
                    .to_owned(),
                None => "Your turns follow each server's deliberate tool mode again.".to_owned(),
            }
        }
        Action::ModelClear => {
            users::set_model(store, me, actor, None).await?;
            "Your turns go to the servers' models again.".to_owned()
        }
        Action::ModelShow => match users::get(store, me).await?.model {
            Some(m) => format!(
                "Your turns go to `{}/{}` with your own key{}.",
                m.provider,
                m.model,
                if m.fallback { ", then the server's models if it fails" } else { " only" }
            ),
            None => "You chose no model of your own; the servers' models answer you.".to_owned(),
        },
        Action::EndpointRemove => {
            endpoints::remove(store, me, actor, KeyOwner::Personal, MEMBER_ENDPOINT).await?;
            "Removed your endpoint; the servers' models answer you again.".to_owned()
        }
        Action::Export => return Ok(export(store, caller, me).await?.into()),
        Action::Delete { confirmed: false } => {
            return Err(AdminError::BadInput(format!(
                "To delete all your data, type `{DELETE_PHRASE}` as the confirmation; nothing \
                 was deleted."
            )));
        }
        Action::Delete { confirmed: true } => {
            users::delete(store, me, actor).await?;
            "Deleted your settings, personal memories, keys and endpoints. Memories you taught a \
             server belong to that server; its admins can remove them."
                .to_owned()
        }
    };
    Ok(Answer::text(text).into())
}

/// Chooses the member's own model: a known provider, for which they added a key.
async fn model_set(
    store: &Store,
    me: Scope,
    actor: tomori_store::audit::Actor,
    provider: &str,
    model: &str,
    fallback: bool,
) -> Result<String, AdminError> {
    let provider = provider.trim().to_lowercase();
    if tomori_llm::known_provider(&provider).is_none() {
        return Err(AdminError::BadInput(format!(
            "Unknown provider `{provider}`: use a provider name from /personal key add; nothing \
             was changed."
        )));
    }
    models::check_model(model.trim()).map_err(|_| {
        AdminError::BadInput(format!(
            "`{model}` is not a model id: use letters, digits and . _ : / @ + - only."
        ))
    })?;
    let keys = credentials::list(store, me, KeyOwner::Personal).await?;
    let has_key = keys.iter().any(|k| k.provider == provider);
    let choice =
        users::MemberModel { provider: provider.clone(), model: model.trim().to_owned(), fallback };
    users::set_model(store, me, actor, Some(&choice)).await?;
    let mut text = format!("Your turns now go to `{provider}/{}` with your own key", choice.model);
    text.push_str(if fallback {
        ", then the server's models if it fails (never where a server requires your own key)."
    } else {
        " only."
    });
    if !has_key {
        text.push_str(&format!(
            " You have no key for `{provider}` yet: add one with /personal key add, or the \
             servers' models keep answering you."
        ));
    }
    Ok(text)
}

async fn key_list(store: &Store, me: Scope) -> Result<String, AdminError> {
    let keys = credentials::list(store, me, KeyOwner::Personal).await?;
    if keys.is_empty() {
        return Ok("You have no keys; add one with /personal key add.".to_owned());
    }
    Ok(keys
        .iter()
        .map(|k| format!("`{}` {} · {} · used {} times", k.id, k.provider, k.label, k.usage_count))
        .collect::<Vec<_>>()
        .join("\n"))
}

async fn endpoint_show(store: &Store, me: Scope) -> Result<String, AdminError> {
    let mine = endpoints::get(store, me, KeyOwner::Personal, MEMBER_ENDPOINT).await?;
    Ok(match mine {
        Some((e, _)) => format!(
            "Your endpoint: <{}> · {}{}{}{}. {WHERE_USED}",
            e.base_url,
            e.model,
            if e.has_tools { " · tools" } else { "" },
            if e.has_vision { " · vision" } else { "" },
            if e.has_key { " · with a token" } else { "" }
        ),
        None => "You have no endpoint of your own; the servers' models answer you.".to_owned(),
    })
}

async fn export(store: &Store, caller: &Caller, me: Scope) -> Result<Answer, AdminError> {
    let settings = users::get(store, me).await?;
    let memories = memories::list_all_personal(store, me).await?;
    // Security: keys leak through an export. Keys appear by provider and label only.
    let keys = credentials::list(store, me, KeyOwner::Personal).await?;
    let endpoints = endpoints::list(store, me, KeyOwner::Personal).await?;
    let file = serde_json::json!({
        "user": caller.user,
        "privacy_level": settings.privacy.as_number(),
        "language": settings.language,
        "nickname": settings.nickname,
        "personal_memories": memories_json(&memories),
        "api_keys": keys
            .iter()
            .map(|k| serde_json::json!({"provider": k.provider, "label": k.label}))
            .collect::<Vec<_>>(),
        "custom_endpoints": endpoints,
    });
    Ok(Answer {
        text: "Everything Tomori keeps about you, as JSON (API keys by label only).".to_owned(),
        files: vec![AnswerFile {
            name: "tomori-my-data.json".to_owned(),
            bytes: serde_json::to_vec_pretty(&file).unwrap_or_default(),
        }],
    })
}

/// Personal memories as exports write them: content, and the persona lineage they belong to
/// (0: every persona).
pub fn memories_json(memories: &[Memory]) -> serde_json::Value {
    serde_json::Value::Array(
        memories
            .iter()
            .map(|m| serde_json::json!({ "id": m.id, "content": m.content, "lineage": m.lineage.get() }))
            .collect(),
    )
}

/// The URL and model of a member's endpoint, as the personal-scope `policy` and the model rules
/// see them.
///
/// # Errors
/// A URL the policy refuses, or a model id that is not one.
pub fn check_endpoint(policy: &Policy, url: &str, model: &str) -> Result<(), AdminError> {
    // Security: SSRF through a member's endpoint, judged before anything is stored.
    if let Err(err) = Endpoint::new(Wire::OpenAiCompatible, url, policy) {
        return Err(AdminError::BadInput(format!(
            "That URL can't be used: {err}; nothing was saved."
        )));
    }
    models::check_model(model).map_err(|_| {
        AdminError::BadInput(format!(
            "`{model}` is not a model id: use letters, digits and . _ : / @ + - only."
        ))
    })
}

/// The refusal when the member has an endpoint already.
fn already() -> AdminError {
    AdminError::BadInput(
        "You already have an endpoint; remove it first with /personal custom-endpoint remove."
            .to_owned(),
    )
}

/// Before the token form: the URL and model check out and the member has no endpoint yet.
///
/// # Errors
/// As [`check_endpoint`], an endpoint already there, or the store failing.
pub async fn endpoint_precheck(
    store: &Store,
    caller: &Caller,
    policy: &Policy,
    url: &str,
    model: &str,
) -> Result<(), AdminError> {
    check_endpoint(policy, url, model)?;
    let me = Scope::user(store.resolve_user(caller.user).await?);
    if endpoints::get(store, me, KeyOwner::Personal, MEMBER_ENDPOINT).await?.is_some() {
        return Err(already());
    }
    Ok(())
}

/// A member's endpoint as their form brought it back.
#[derive(Debug)]
pub struct MemberEndpoint {
    /// Base URL.
    pub url: String,
    /// The model id to request.
    pub model: String,
    /// The model calls tools.
    pub tools: bool,
    /// The model sees images.
    pub vision: bool,
    /// Its token, if it needs one (sealed at once).
    pub token: Option<SecretString>,
}

/// Stores the member's endpoint in their own scope, after judging it again.
///
/// # Errors
/// As [`endpoint_precheck`].
pub async fn add_endpoint(
    store: &Store,
    caller: &Caller,
    policy: &Policy,
    endpoint: MemberEndpoint,
) -> Result<Answer, AdminError> {
    check_endpoint(policy, &endpoint.url, &endpoint.model)?;
    let me = Scope::user(store.resolve_user(caller.user).await?);
    let model = endpoint.model.clone();
    let new = NewEndpoint {
        label: MEMBER_ENDPOINT.to_owned(),
        base_url: endpoint.url,
        model: endpoint.model,
        context_length: None,
        has_tools: endpoint.tools,
        has_vision: endpoint.vision,
        api_key: endpoint.token,
    };
    let saved = endpoints::add(store, me, caller.actor(), KeyOwner::Personal, &new).await.map_err(
        |err| match err {
            StoreError::Conflict(_) => already(),
            other => AdminError::Store(other),
        },
    )?;
    Ok(Answer::text(format!(
        "Saved your endpoint ({model}{}). {WHERE_USED}",
        if saved.has_key { ", with a token stored encrypted" } else { "" }
    )))
}
