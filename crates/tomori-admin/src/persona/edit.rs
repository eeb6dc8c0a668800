//! Editing one persona in place (`/persona prompt|attribute|sample-dialogue|trigger|avatar|swap|
//! show` on Discord): the same limits as creating and importing one, checked by the store.
//! Changing needs Manage Server (in a direct message the member manages their own DM tenant).

use tomori_core::trigger::{normalize_trigger_word, parse_trigger_words};
use tomori_net::{Policy, Scope as NetScope};
use tomori_store::personas::{self, Persona, SampleDialogue};
use tomori_store::{Store, StoreError};

use super::named;
use crate::access::{AdminError, Need, authorize, tenant};
use crate::answer::Answer;
use crate::caller::Caller;

/// One change to one persona.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    Prompt(String),
    AddAttribute(String),
    /// 1-based, as `list` numbers them.
    RemoveAttribute(i64),
    AddDialogue {
        user: String,
        bot: String,
    },
    RemoveDialogue(i64),
    /// Stored forms (`tomori_core::trigger::parse_trigger_words`), at least one.
    AddTrigger(Vec<String>),
    /// Stored forms, at least one.
    RemoveTrigger(Vec<String>),
    /// `None` removes it.
    Avatar(Option<String>),
    Swap,
    /// Changes nothing: shows the persona with its numbered attributes and dialogues.
    Show,
}

/// Removes the `number`th (1-based) item, or says there is none.
fn remove_nth<T>(items: &mut Vec<T>, number: i64, what: &'static str) -> Result<(), StoreError> {
    let index =
        usize::try_from(number).ok().and_then(|n| n.checked_sub(1)).filter(|i| *i < items.len());
    let Some(index) = index else { return Err(StoreError::NotFound(what)) };
    items.remove(index);
    Ok(())
}

fn apply(persona: &mut Persona, edit: &Edit) -> Result<(), StoreError> {
    let empty =
        |field: &'static str| StoreError::Invalid { field, reason: "it is empty".to_owned() };
    match edit {
        Edit::Prompt(text) => persona.prompt = text.trim().to_owned(),
        Edit::AddAttribute(text) => {
            if text.trim().is_empty() {
                return Err(empty("attribute"));
            }
            persona.attributes.push(text.trim().to_owned());
        }
        Edit::RemoveAttribute(n) => remove_nth(&mut persona.attributes, *n, "attribute")?,
        Edit::AddDialogue { user, bot } => {
            if user.trim().is_empty() || bot.trim().is_empty() {
                return Err(empty("sample dialogue"));
            }
            persona
                .sample_dialogues
                .push(SampleDialogue { user: user.trim().to_owned(), bot: bot.trim().to_owned() });
        }
        Edit::RemoveDialogue(n) => {
            remove_nth(&mut persona.sample_dialogues, *n, "sample dialogue")?
        }
        Edit::AddTrigger(words) => {
            if words.is_empty() {
                return Err(empty("trigger word"));
            }
            // Words stored before normalisation (quoted, capitalised) count as what they say.
            let mut stored = parse_trigger_words(&persona.trigger_words);
            for word in words {
                if !stored.contains(word) {
                    stored.push(word.clone());
                }
            }
            persona.trigger_words = stored;
        }
        Edit::RemoveTrigger(words) => {
            let before = persona.trigger_words.len();
            persona.trigger_words.retain(|w| !words.contains(&normalize_trigger_word(w)));
            if persona.trigger_words.len() == before {
                return Err(StoreError::NotFound("trigger word"));
            }
        }
        Edit::Avatar(url) => persona.avatar_url.clone_from(url),
        Edit::Swap | Edit::Show => {}
    }
    Ok(())
}

/// Applies `edit` to the persona called `name` of the tenant `caller` asked in.
///
/// # Errors
/// A refusal, input refused (nothing changes then), or the store failing.
pub async fn edit(
    store: &Store,
    caller: &Caller,
    name: &str,
    edit: &Edit,
) -> Result<Answer, AdminError> {
    authorize(store, caller, Need::Manager, true).await?;
    let scope = tenant(store, caller).await?;
    let persona = named(store, scope, name).await?;
    if let Edit::Avatar(Some(url)) = edit {
        // Security: SSRF and tracking through avatar URLs. Discord fetches the avatar when an
        // alter speaks; only https URLs of public hosts, as the media policy judges them, are kept.
        if let Err(refusal) = Policy::new(NetScope::Media).parse_url(url) {
            return Err(AdminError::BadInput(format!("That avatar URL can't be used: {refusal}.")));
        }
    }
    if *edit == Edit::Show {
        return Ok(Answer::text(describe(&persona)));
    }
    if *edit == Edit::Swap {
        personas::swap(store, scope, caller.actor(), persona.id).await?;
        return Ok(Answer::text(format!("**{}** is now the main persona.", persona.nickname)));
    }
    let edited =
        personas::edit(store, scope, caller.actor(), persona.id, |p| apply(p, edit)).await?;
    let name = &edited.nickname;
    Ok(Answer::text(match edit {
        Edit::Prompt(_) => format!("**{name}** has a new prompt."),
        Edit::AddAttribute(_) => format!("**{name}** has {} attributes.", edited.attributes.len()),
        Edit::RemoveAttribute(n) => format!("Removed attribute {n} of **{name}**."),
        Edit::AddDialogue { .. } => {
            format!("**{name}** has {} sample dialogues.", edited.sample_dialogues.len())
        }
        Edit::RemoveDialogue(n) => format!("Removed sample dialogue {n} of **{name}**."),
        Edit::AddTrigger(_) | Edit::RemoveTrigger(_) => format!(
            "**{name}** answers to: {}",
            if edited.trigger_words.is_empty() {
                "its name only".to_owned()
            } else {
                edited.trigger_words.join(", ")
            }
        ),
        Edit::Avatar(Some(_)) => format!("**{name}** has a new avatar."),
        Edit::Avatar(None) => format!("**{name}** has no avatar now."),
        Edit::Swap => format!("**{name}** is now the main persona."),
        Edit::Show => describe(&edited),
    }))
}

/// A persona as `/persona show` prints it, numbered for `remove`.
fn describe(persona: &Persona) -> String {
    let mut lines = vec![format!(
        "**{}** ({})",
        persona.nickname,
        if persona.is_main { "main persona" } else { "alter" }
    )];
    lines.push(format!(
        "Prompt: {}",
        if persona.prompt.is_empty() { "(none)" } else { &persona.prompt }
    ));
    for (n, attribute) in persona.attributes.iter().enumerate() {
        lines.push(format!("Attribute {}: {attribute}", n + 1));
    }
    for (n, dialogue) in persona.sample_dialogues.iter().enumerate() {
        lines.push(format!("Dialogue {}: «{}» → «{}»", n + 1, dialogue.user, dialogue.bot));
    }
    if !persona.trigger_words.is_empty() {
        lines.push(format!("Trigger words: {}", persona.trigger_words.join(", ")));
    }
    lines.join("\n")
}
