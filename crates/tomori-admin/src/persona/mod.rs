//! A server's personas (`/persona …` on Discord): creating, listing, renaming and removing
//! them, editing one in place ([`edit`]), and SillyTavern cards in and out ([`card`]). Listing is
//! for every member; the rest changes the server, or shows a persona's whole prompt, and needs
//! Manage Server (in a direct message the member manages their own DM tenant).

pub mod avatar;
pub mod card;
mod edit;
pub mod lore;

use tomori_store::personas::{self, NewPersona, Persona};
use tomori_store::{Scope, Store};

pub use edit::{Edit, edit};

use crate::access::{AdminError, Need, authorize, tenant};
use crate::answer::Answer;
use crate::caller::Caller;

/// The persona called `name` (any case) in the tenant.
///
/// # Errors
/// An empty name or one the tenant does not have, or the store failing.
pub async fn named(store: &Store, scope: Scope, name: &str) -> Result<Persona, AdminError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AdminError::BadInput("The persona name is empty.".to_owned()));
    }
    personas::find(store, scope, name)
        .await?
        .ok_or_else(|| AdminError::BadInput(format!("This server has no persona named {name}.")))
}

/// One action on the tenant's personas (edits are [`Edit`]s, cards are [`card`]'s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A new persona; the first is the main persona.
    Create {
        /// Its name.
        name: String,
        /// Its personality prompt.
        prompt: Option<String>,
    },
    /// The personas, main first.
    List,
    /// A new name for one.
    Rename {
        /// Its name now.
        name: String,
        /// The new name.
        new_name: String,
    },
    /// Removes one.
    Remove {
        /// Its name.
        name: String,
    },
}

impl Action {
    /// Who may run it.
    pub fn need(&self) -> Need {
        match self {
            Self::List => Need::Member,
            Self::Create { .. } | Self::Rename { .. } | Self::Remove { .. } => Need::Manager,
        }
    }
}

/// Runs `action` on the personas of the tenant `caller` asked in.
///
/// # Errors
/// A refusal, input the store refuses (nothing changes then), or the store failing.
pub async fn run(store: &Store, caller: &Caller, action: &Action) -> Result<Answer, AdminError> {
    authorize(store, caller, action.need(), true).await?;
    let scope = tenant(store, caller).await?;
    let actor = caller.actor();
    let text = match action {
        Action::Create { name, prompt } => {
            let new = NewPersona {
                nickname: name.clone(),
                prompt: prompt.clone().unwrap_or_default(),
                ..NewPersona::default()
            };
            let persona = personas::create(store, scope, actor, new).await?;
            format!("Created **{}** as {}.", persona.nickname, role(&persona))
        }
        Action::List => {
            let all = personas::list(store, scope).await?;
            if all.is_empty() {
                "This server has no persona yet; create one with /persona create.".to_owned()
            } else {
                all.iter()
                    .map(|p| {
                        format!("- **{}**{}", p.nickname, if p.is_main { " (main)" } else { "" })
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
        Action::Rename { name, new_name } => {
            let persona = named(store, scope, name).await?;
            let renamed = personas::rename(store, scope, actor, persona.id, new_name).await?;
            format!("Renamed **{}** to **{}**.", persona.nickname, renamed.nickname)
        }
        Action::Remove { name } => {
            let persona = named(store, scope, name).await?;
            personas::remove(store, scope, actor, persona.id).await?;
            format!("Removed **{}**.", persona.nickname)
        }
    };
    Ok(Answer::text(text))
}

/// How answers name a persona's place.
fn role(persona: &Persona) -> &'static str {
    if persona.is_main { "the main persona" } else { "an alter" }
}
