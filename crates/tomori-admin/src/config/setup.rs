//! `setup`, the guided first run: a main persona if there is none, then what answers here (the
//! instance's own providers, no key needed; one of the server's custom endpoints; or a known
//! provider, whose key form the front door shows next).

use tomori_store::credentials::KeyOwner;
use tomori_store::endpoints::{self, CustomEndpoint};
use tomori_store::models::{self, ServerModel};
use tomori_store::personas::{self, NewPersona};
use tomori_store::{Scope, Store};

use crate::access::{AdminError, Need, authorize, tenant};
use crate::answer::Answer;
use crate::caller::Caller;

/// What `setup`'s provider names for the instance's own providers.
pub const INSTANCE: &str = "instance";

/// Discord's most autocomplete choices, and its longest choice name (the dashboard offers the
/// same list).
const MAX_CHOICES: usize = 25;
const MAX_CHOICE_NAME: usize = 100;

/// A provider of the operator's `tomori.toml` (`[providers.<name>]`): it answers every server
/// that has no model of its own, with the operator's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceProvider {
    /// Its name in the config file.
    pub name: String,
    /// The model it asks for.
    pub model: String,
}

/// What `setup` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    /// [`INSTANCE`], `custom:<label>`, or a known provider's name.
    pub provider: String,
    /// The model id (needed for a known provider).
    pub model: Option<String>,
    /// The main persona's name, when the server has none yet.
    pub persona: String,
    /// The model sees images.
    pub vision: bool,
}

/// How `setup` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupOutcome {
    /// Done; tell the caller.
    Done(Answer),
    /// The model is chosen; the front door asks for this known provider's key next.
    NeedsKey {
        /// The provider's name.
        provider: &'static str,
    },
}

/// What `setup` was asked to make answer.
enum Answerer {
    Instance,
    Custom(CustomEndpoint),
    Known(&'static str),
}

/// What `setup` offers, as (name shown, value), filtered by what was typed: the instance's
/// providers first (no key needed), then the server's custom endpoints (only to a caller who
/// may manage the server), then the known providers.
///
/// # Errors
/// The store failing.
pub async fn choices(
    store: &Store,
    caller: &Caller,
    instance: &[InstanceProvider],
    typed: &str,
) -> Result<Vec<(String, String)>, AdminError> {
    let mut offered = Vec::new();
    if !instance.is_empty() {
        let models: Vec<String> =
            instance.iter().map(|p| format!("{} · {}", p.name, p.model)).collect();
        let name = format!("This instance's model, no key needed ({})", models.join(", "));
        offered.push((name, INSTANCE.to_owned()));
    }
    // Security: endpoint labels and models can be private to a server's managers (as
    // `/provider endpoint list` is).
    if authorize(store, caller, Need::Manager, true).await.is_ok() {
        let scope = tenant(store, caller).await?;
        for endpoint in endpoints::list(store, scope, KeyOwner::Server).await? {
            let value = format!("custom:{}", endpoint.label);
            offered.push((format!("{value} · {} (custom endpoint)", endpoint.model), value));
        }
    }
    for known in tomori_llm::KNOWN_PROVIDERS {
        offered.push((format!("{} (needs an API key)", known.name), known.name.to_owned()));
    }
    let typed = typed.trim().to_lowercase();
    Ok(offered
        .into_iter()
        .filter(|(name, value)| {
            typed.is_empty() || name.to_lowercase().contains(&typed) || value.contains(&typed)
        })
        .take(MAX_CHOICES)
        .map(|(name, value)| (name.chars().take(MAX_CHOICE_NAME).collect(), value))
        .collect())
}

/// Finds what `raw` names; the refusal lists what may be named when it names nothing.
async fn answerer(
    store: &Store,
    caller: &Caller,
    instance: &[InstanceProvider],
    raw: &str,
) -> Result<Answerer, AdminError> {
    if raw.eq_ignore_ascii_case(INSTANCE) && !instance.is_empty() {
        return Ok(Answerer::Instance);
    }
    if let Some(label) = raw.strip_prefix("custom:") {
        let scope = tenant(store, caller).await?;
        if let Some((endpoint, _)) = endpoints::get(store, scope, KeyOwner::Server, label).await? {
            return Ok(Answerer::Custom(endpoint));
        }
    }
    if let Some(known) = tomori_llm::known_provider(&raw.to_ascii_lowercase()) {
        return Ok(Answerer::Known(known.name));
    }
    let names: Vec<String> = choices(store, caller, instance, "")
        .await?
        .into_iter()
        .map(|(_, value)| format!("`{value}`"))
        .collect();
    Err(AdminError::BadInput(format!(
        "`{raw}` is not something that can answer here; choose one of {}. Nothing was changed.",
        names.join(", ")
    )))
}

/// `setup`: makes the persona named the main persona when the tenant has none, then makes the
/// provider answer: the instance's providers (the tenant's own model choice is removed), a
/// custom endpoint, or a known provider with the model named (keeping any sampling choices and
/// fallbacks), whose key the front door asks for next. Nothing is written when the choice is
/// refused.
///
/// # Errors
/// A refusal, a choice that names nothing or no model, or the store failing.
pub async fn setup(
    store: &Store,
    caller: &Caller,
    instance: &[InstanceProvider],
    asked: &Setup,
) -> Result<SetupOutcome, AdminError> {
    authorize(store, caller, Need::Manager, true).await?;
    let answerer = answerer(store, caller, instance, &asked.provider).await?;
    let model = asked.model.as_deref();
    if let (Answerer::Known(_), None) = (&answerer, model) {
        return Err(AdminError::BadInput(format!(
            "Name the model `{}` should use (the `model` option); nothing was changed.",
            asked.provider
        )));
    }
    if let Some(model) = model {
        models::check_model(model).map_err(|_| {
            AdminError::BadInput(format!("`{model}` is not a model id; nothing was changed."))
        })?;
    }
    let scope = tenant(store, caller).await?;
    let made = main_persona(store, scope, caller, &asked.persona).await?;
    let text = match answerer {
        Answerer::Known(name) => {
            let chosen = (name, model.unwrap_or_default(), asked.vision, true);
            choose_model(store, scope, caller, chosen).await?;
            return Ok(SetupOutcome::NeedsKey { provider: name });
        }
        Answerer::Custom(endpoint) => {
            let model = model.unwrap_or(&endpoint.model);
            let provider = format!("custom:{}", endpoint.label);
            let chosen = (provider.as_str(), model, endpoint.has_vision, endpoint.has_tools);
            choose_model(store, scope, caller, chosen).await?;
            format!(
                "{made}The custom endpoint `{}` answers here now ({model}). If it needs a key, \
                 add one with /provider key add provider:{provider}.",
                endpoint.label
            )
        }
        Answerer::Instance => {
            let removed = models::clear(store, scope, caller.actor()).await?;
            let names: Vec<&str> = instance.iter().map(|p| p.name.as_str()).collect();
            format!(
                "{made}This instance's model answers here now ({}); it needs no key.{}",
                names.join(", then "),
                if removed { " The model chosen here before was removed." } else { "" }
            )
        }
    };
    Ok(SetupOutcome::Done(Answer::text(text)))
}

/// Chooses the tenant's model (provider, model, vision, tools), keeping any sampling choices and
/// fallbacks.
async fn choose_model(
    store: &Store,
    scope: Scope,
    caller: &Caller,
    (provider, model, vision, tools): (&str, &str, bool, bool),
) -> Result<(), AdminError> {
    let mut chosen =
        models::get(store, scope).await?.unwrap_or_else(|| ServerModel::new(provider, model));
    provider.clone_into(&mut chosen.provider);
    model.clone_into(&mut chosen.model);
    chosen.vision = vision;
    chosen.tools = tools;
    Ok(models::set(store, scope, caller.actor(), &chosen).await?)
}

/// Makes `name` the main persona when the tenant has none; says so, or says nothing.
async fn main_persona(
    store: &Store,
    scope: Scope,
    caller: &Caller,
    name: &str,
) -> Result<String, AdminError> {
    if !personas::list(store, scope).await?.is_empty() {
        return Ok(String::new());
    }
    let nickname = tomori_core::persona::validate_nickname(name)
        .map_err(|e| AdminError::BadInput(format!("That persona name won't do: {e}.")))?;
    let new = NewPersona { nickname: nickname.to_owned(), ..NewPersona::default() };
    let persona = personas::create(store, scope, caller.actor(), new).await?;
    Ok(format!("**{}** is the main persona. ", persona.nickname))
}
