//! The keys and custom endpoints a server's models are reached with (`/provider …` on Discord).
//! Keys and endpoints spend the server's money and reach its network: Manage Server only,
//! listing included, since labels and URLs can be private (in a direct message the member
//! manages their own DM tenant). Keys arrive through a form, are sealed at once and never shown
//! again; endpoint URLs are judged by the URL policy of the tenant's kind before they are stored.

pub mod workflow;

use secrecy::SecretString;
use tomori_llm::{Endpoint, KNOWN_PROVIDERS, Wire, known_provider};
use tomori_net::Policy;
use tomori_store::credentials;
pub use tomori_store::credentials::KeyOwner;
pub use tomori_store::endpoints::EndpointEdit;
use tomori_store::endpoints::{self, NewEndpoint};
use tomori_store::{Scope, Store};

use crate::access::{AdminError, Need, authorize, tenant};
use crate::answer::Answer;
use crate::caller::Caller;

/// The URL policies the front door was configured with: the server scope's (under the
/// operator's `[net]` settings) and the personal scope's (production-strict always).
#[derive(Debug, Clone, Copy)]
pub struct UrlPolicies<'a> {
    /// For servers' endpoints.
    pub server: &'a Policy,
    /// For members' own endpoints and DM tenants' endpoints.
    pub personal: &'a Policy,
}

impl<'a> UrlPolicies<'a> {
    /// The policy for an endpoint registered where `caller` asked: a server's, or in a direct
    /// message the personal one (any member manages their own DM tenant, so it gets no more
    /// reach than a member's own endpoint).
    pub fn for_tenant(&self, caller: &Caller) -> &'a Policy {
        if caller.guild.is_some() { self.server } else { self.personal }
    }
}

/// One action on the tenant's keys and endpoints (adding a key goes through [`add_key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The server's keys, by label.
    KeyList,
    /// Removes one key.
    KeyRemove {
        /// Its id, as the list shows it.
        id: i64,
    },
    /// Removes every server key of one provider.
    KeyPurge {
        /// The provider.
        provider: String,
    },
    /// Registers an OpenAI-compatible endpoint.
    EndpointAdd {
        /// Its label (`custom:<label>`).
        label: String,
        /// Base URL.
        url: String,
        /// The model id to request.
        model: String,
        /// The model calls tools.
        tools: bool,
        /// The model sees images.
        vision: bool,
        /// Its context length in tokens, when known.
        context_length: Option<i32>,
    },
    /// Changes the given fields of an endpoint.
    EndpointEdit {
        /// Its label.
        label: String,
        /// What changes.
        change: EndpointEdit,
    },
    /// The endpoints.
    EndpointList,
    /// Removes an endpoint and its keys.
    EndpointRemove {
        /// Its label.
        label: String,
    },
}

/// Checks a key's provider and label before its form is shown and again when it comes back:
/// a known provider, or for server keys one of the server's endpoints (a member's own keys are
/// for known providers).
///
/// # Errors
/// A refusal, an unknown provider or endpoint, a malformed label, or the store failing.
pub async fn check_key(
    store: &Store,
    caller: &Caller,
    owner: KeyOwner,
    provider: &str,
    label: &str,
) -> Result<(), AdminError> {
    let need = if owner == KeyOwner::Server { Need::Manager } else { Need::Anyone };
    authorize(store, caller, need, true).await?;
    check_label(label)?;
    if known_provider(provider).is_some() {
        return Ok(());
    }
    if let (KeyOwner::Server, Some(endpoint)) = (owner, provider.strip_prefix("custom:")) {
        let scope = tenant(store, caller).await?;
        if endpoints::get(store, scope, KeyOwner::Server, endpoint).await?.is_some() {
            return Ok(());
        }
        return Err(AdminError::BadInput(format!(
            "There is no endpoint `{endpoint}`; add it with /provider endpoint add first."
        )));
    }
    let known: Vec<&str> = KNOWN_PROVIDERS.iter().map(|p| p.name).collect();
    Err(AdminError::BadInput(format!(
        "Unknown provider `{provider}`: use {} or custom:<endpoint label>.",
        known.join(", ")
    )))
}

fn check_label(label: &str) -> Result<(), AdminError> {
    let ok = (1..=64).contains(&label.len())
        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(AdminError::BadInput("A label is 1 to 64 letters, digits, _ or -.".to_owned()))
    }
}

/// Stores a key from its form: the tenant's (`KeyOwner::Server`) or the caller's own.
///
/// # Errors
/// As [`check_key`], or limits the store refuses; nothing is stored then.
pub async fn add_key(
    store: &Store,
    caller: &Caller,
    owner: KeyOwner,
    provider: &str,
    label: &str,
    key: &SecretString,
) -> Result<Answer, AdminError> {
    // The form came back from the client: check it as if it were typed.
    check_key(store, caller, owner, provider, label).await?;
    let scope = match owner {
        KeyOwner::Server => tenant(store, caller).await?,
        KeyOwner::Personal => Scope::user(store.resolve_user(caller.user).await?),
    };
    let info = credentials::add(store, scope, caller.actor(), owner, provider, label, key).await?;
    let whose = if owner == KeyOwner::Personal { "your own " } else { "" };
    Ok(Answer::text(format!(
        "Saved {whose}key `{}` (id {}) for {provider}. It is stored encrypted and never shown again.",
        info.label, info.id
    )))
}

/// Runs `action` on the keys and endpoints of the tenant `caller` asked in.
///
/// # Errors
/// A refusal, input refused (nothing changes then), or the store failing.
pub async fn run(
    store: &Store,
    caller: &Caller,
    policies: UrlPolicies<'_>,
    action: &Action,
) -> Result<Answer, AdminError> {
    authorize(store, caller, Need::Manager, true).await?;
    let scope = tenant(store, caller).await?;
    let actor = caller.actor();
    let text = match action {
        Action::KeyList => key_list(store, scope).await?,
        Action::KeyRemove { id } => {
            credentials::remove(store, scope, actor, *id).await?;
            format!("Removed key {id}.")
        }
        Action::KeyPurge { provider } => {
            match credentials::purge(store, scope, actor, KeyOwner::Server, provider).await? {
                0 => {
                    return Err(AdminError::BadInput(format!(
                        "This server has no keys for `{provider}`; nothing was removed."
                    )));
                }
                1 => format!("Removed the one key for `{provider}`."),
                n => format!("Removed all {n} keys for `{provider}`."),
            }
        }
        Action::EndpointAdd { label, url, model, tools, vision, context_length } => {
            check_url(policies.for_tenant(caller), url)?;
            let new = NewEndpoint {
                label: label.clone(),
                base_url: url.clone(),
                model: model.clone(),
                context_length: *context_length,
                has_tools: *tools,
                has_vision: *vision,
                api_key: None,
            };
            endpoints::add(store, scope, actor, KeyOwner::Server, &new).await?;
            format!(
                "Registered endpoint `{label}` ({model}). Use it with /model text \
                 provider:custom:{label}; if it needs a key, add one with /provider key add \
                 provider:custom:{label}."
            )
        }
        Action::EndpointEdit { label, change } => {
            if *change == EndpointEdit::default() {
                return Err(AdminError::BadInput("Name at least one thing to change.".to_owned()));
            }
            if let Some(url) = &change.base_url {
                check_url(policies.for_tenant(caller), url)?;
            }
            let (after, keys_dropped) =
                endpoints::edit(store, scope, actor, KeyOwner::Server, label, change).await?;
            let keys = if keys_dropped {
                format!(
                    " It moved to another host, so its keys were removed: add the key for the new \
                     host with /provider key add provider:custom:{label}."
                )
            } else {
                String::new()
            };
            format!("Changed endpoint `{label}`: {} at {}.{keys}", after.model, after.base_url)
        }
        Action::EndpointList => endpoint_list(store, scope).await?,
        Action::EndpointRemove { label } => {
            endpoints::remove(store, scope, actor, KeyOwner::Server, label).await?;
            format!("Removed endpoint `{label}`.")
        }
    };
    Ok(Answer::text(text))
}

/// Security: SSRF through admin endpoints. The tenant's policy judges the URL when it is
/// registered or changed, and the client judges it again, with its DNS answers, on every call.
fn check_url(policy: &Policy, url: &str) -> Result<(), AdminError> {
    Endpoint::new(Wire::OpenAiCompatible, url, policy)
        .map(drop)
        .map_err(|err| AdminError::BadInput(format!("That URL can't be used: {err}.")))
}

async fn key_list(store: &Store, scope: Scope) -> Result<String, AdminError> {
    let keys = credentials::list(store, scope, KeyOwner::Server).await?;
    if keys.is_empty() {
        return Ok("No keys yet; add one with /provider key add.".to_owned());
    }
    Ok(keys
        .iter()
        .map(|k| {
            format!(
                "`{}` {} · {}{} · used {} times, {} errors",
                k.id,
                k.provider,
                k.label,
                if k.enabled { "" } else { " (disabled)" },
                k.usage_count,
                k.error_count
            )
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

async fn endpoint_list(store: &Store, scope: Scope) -> Result<String, AdminError> {
    let list = endpoints::list(store, scope, KeyOwner::Server).await?;
    if list.is_empty() {
        return Ok("No custom endpoints.".to_owned());
    }
    Ok(list
        .iter()
        .map(|e| {
            format!(
                "`custom:{}` · {} · <{}>{}{}",
                e.label,
                e.model,
                e.base_url,
                if e.has_tools { " · tools" } else { "" },
                if e.has_vision { " · vision" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join("\n"))
}
