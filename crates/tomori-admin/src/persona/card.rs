//! SillyTavern character cards in and out (`/persona import|export` on Discord). The front door
//! brings the card's bytes (downloaded through the media policy, at most
//! [`MAX_PNG_BYTES`](tomori_core::card::MAX_PNG_BYTES)) and, for an export, the avatar's; the
//! card is parsed by `tomori_core::card`, and a card that is malformed or too large is refused
//! with the reason and nothing written.

use tomori_core::card::{self, Dialogue, PersonaCard, SourceSpec};
use tomori_store::personas::{self, NewPersona, Persona, SampleDialogue};
use tomori_store::{Store, lorebooks};

use super::{named, role};
use crate::access::{AdminError, Need, authorize, tenant};
use crate::answer::{Answer, AnswerFile};
use crate::caller::Caller;

/// Imports the card `bytes` (a file called `filename`) as a new persona, named `name` when
/// given.
///
/// # Errors
/// A refusal, a card that cannot be imported, limits the store refuses, or the store failing;
/// nothing changes then.
pub async fn import(
    store: &Store,
    caller: &Caller,
    filename: &str,
    bytes: &[u8],
    name: Option<&str>,
) -> Result<Answer, AdminError> {
    authorize(store, caller, Need::Manager, true).await?;
    let scope = tenant(store, caller).await?;
    let limits = store.limits();
    // Security: hostile cards. The parser is tomori-core's own bounded walk; its refusal is
    // the whole answer.
    let imported = card::parse(bytes, limits, name).map_err(|error| {
        AdminError::BadInput(format!(
            "`{filename}` cannot be imported: {error}. Nothing was changed."
        ))
    })?;
    let card = imported.card;
    let sample_dialogues = card
        .stored_dialogues(limits)
        .into_iter()
        .map(|d| SampleDialogue { user: d.user, bot: d.bot })
        .collect();
    let new = NewPersona {
        nickname: card.name.clone(),
        prompt: card.prompt.clone(),
        attributes: card.attributes.clone(),
        sample_dialogues,
        trigger_words: card.trigger_words.clone(),
        avatar_url: None,
        lineage: None,
    };
    if let Some(book) = &card.character_book {
        // Refused before anything is written, so a card is imported whole or not at all.
        lorebooks::check(book)?;
    }
    let persona = personas::create(store, scope, caller.actor(), new).await?;
    if let Some(book) = &card.character_book {
        lorebooks::set(store, scope, caller.actor(), persona.id, Some(book)).await?;
    }
    let mut text = format!(
        "Imported **{}** as {} ({} attributes, {} sample dialogues, {} lorebook entries).",
        persona.nickname,
        role(&persona),
        persona.attributes.len(),
        persona.sample_dialogues.len(),
        card.lorebook_entries
    );
    for warning in &imported.warnings {
        text.push_str(&format!("\nLeft out: {warning}."));
    }
    Ok(Answer::text(text))
}

/// The persona `name` to export, once the caller may see its whole prompt; the front door then
/// fetches its avatar and calls [`export`].
///
/// # Errors
/// A refusal, no such persona, or the store failing.
pub async fn to_export(
    store: &Store,
    caller: &Caller,
    name: &str,
) -> Result<Exportable, AdminError> {
    // Export shows the whole prompt, which a server may keep to its managers.
    authorize(store, caller, Need::Manager, true).await?;
    let scope = tenant(store, caller).await?;
    let persona = named(store, scope, name).await?;
    let lorebook = lorebooks::get(store, scope, persona.id).await?;
    Ok(Exportable { persona, lorebook })
}

/// A persona to export, with its lorebook.
#[derive(Debug, Clone)]
pub struct Exportable {
    /// The persona.
    pub persona: Persona,
    /// Its lorebook as a V2 `character_book`, when it has one.
    pub lorebook: Option<serde_json::Value>,
}

/// The persona of `found` as a V2 card PNG (its lorebook as the card's `character_book`)
/// that SillyTavern imports, with `avatar` (PNG bytes) as its image
/// when it is a valid PNG, else a generated square.
///
/// # Errors
/// A persona that cannot be written as a card.
pub fn export(found: &Exportable, avatar: Option<&[u8]>) -> Result<Answer, AdminError> {
    let persona = &found.persona;
    let lorebook_entries = found
        .lorebook
        .as_ref()
        .and_then(|book| book["entries"].as_array())
        .map_or(0, |entries| u32::try_from(entries.len()).unwrap_or(u32::MAX));
    let card = PersonaCard {
        tomori_persona: card::FORMAT_VERSION,
        name: persona.nickname.clone(),
        source_spec: SourceSpec::Tomori,
        prompt: persona.prompt.clone(),
        greeting: String::new(),
        alternate_greetings: Vec::new(),
        attributes: persona.attributes.clone(),
        sample_dialogues: persona
            .sample_dialogues
            .iter()
            .map(|d| Dialogue { user: d.user.clone(), bot: d.bot.clone() })
            .collect(),
        trigger_words: persona.trigger_words.clone(),
        lorebook_entries,
        character_book: found.lorebook.clone(),
        tags: Vec::new(),
    };
    let png = match avatar.map(|image| card::export_png(&card, Some(image))) {
        Some(Ok(png)) => png,
        _ => card::export_png(&card, None).map_err(|error| {
            AdminError::BadInput(format!("**{}** cannot be exported: {error}.", persona.nickname))
        })?,
    };
    Ok(Answer {
        text: format!(
            "**{}** as a SillyTavern character card (V2 PNG); import it in SillyTavern, or here \
             with /persona import.",
            persona.nickname
        ),
        files: vec![AnswerFile { name: card_filename(&persona.nickname), bytes: png }],
    })
}

/// A file name for the card: the persona's name in letters, digits, `-` and `_`.
fn card_filename(nickname: &str) -> String {
    let stem: String = nickname
        .chars()
        .map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    let stem = stem.trim_matches('_');
    if stem.is_empty() { "persona.png".to_owned() } else { format!("{stem}.png") }
}
