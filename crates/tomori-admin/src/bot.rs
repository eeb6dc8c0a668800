//! `/bot respond`: whether, and as whom, a member may have a persona answer now. The answer
//! itself is the engine's; this decides what the front door asks it for.

use tomori_core::privacy::PrivacyLevel;
use tomori_store::{Scope, Store, users};

use crate::access::{AdminError, Need, authorize, tenant};
use crate::answer::Answer;
use crate::caller::Caller;
use crate::persona::named;

/// What a front door does with a `/bot respond`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Respond {
    /// Ask the engine to answer as `persona` (without one, the engine chooses as for a
    /// message: the channel's persona, else the main one), and tell the member `answer`.
    Engine {
        /// The persona named, as the server spells it.
        persona: Option<String>,
        /// What the member is told.
        answer: Answer,
    },
    /// Ask nothing of the engine; tell the member why.
    Declined(Answer),
}

/// Decides a `/bot respond [persona]` by `caller`.
///
/// # Errors
/// A refusal (outside a server), a persona name the server does not have, or the store failing.
pub async fn respond(
    store: &Store,
    caller: &Caller,
    persona: Option<&str>,
) -> Result<Respond, AdminError> {
    authorize(store, caller, Need::Member, false).await?;
    let scope = tenant(store, caller).await?;
    let persona = match persona {
        Some(name) => Some(named(store, scope, name).await?.nickname),
        None => None,
    };
    let me = users::get(store, Scope::user(store.resolve_user(caller.user).await?)).await?;
    if me.privacy == PrivacyLevel::Full {
        return Ok(Respond::Declined(Answer::text(
            "Your privacy level is 2, so I don't answer you; /personal privacy changes it.",
        )));
    }
    let answer = match &persona {
        Some(name) => Answer::text(format!("**{name}** is answering.")),
        None => Answer::text("Answering now."),
    };
    Ok(Respond::Engine { persona, answer })
}
