//! A persona's lorebook (`/persona lorebook …` on Discord): list its entries, test which would
//! fire for a text, turn one on or off, replace the book with a SillyTavern World Info file, or
//! remove it. A card's lorebook arrives with `/persona import` ([`super::card`]). All of it shows
//! or changes the persona's prompt material, so it needs Manage Server.

use std::fmt::Write as _;

use tomori_core::lorebook::{self, Key, Lorebook, LorebookBounds, ScanInput, ScanMessage};
use tomori_core::macros::MacroNames;
use tomori_core::prompt::estimate_tokens;
use tomori_store::lorebooks;
use tomori_store::{Scope, Store};

use super::named;
use crate::access::{AdminError, Need, authorize, tenant};
use crate::answer::Answer;
use crate::caller::Caller;

/// The largest World Info file taken, in bytes (as the lorebook parser bounds it).
pub const MAX_WORLD_INFO_BYTES: usize = 2 * 1024 * 1024;

/// Entries listed in one answer; the rest are counted.
const LISTED: usize = 40;

/// One `/persona lorebook` action on a persona's book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoreAction {
    /// The entries: uid, label, keys, where they go, whether they are on.
    List,
    /// Which entries would fire if `text` were the newest message (probability rolls pass).
    Test {
        /// The text scanned.
        text: String,
    },
    /// Turns one entry on or off.
    Toggle {
        /// The entry's uid, as listed.
        entry: u32,
        /// On or off.
        on: bool,
    },
    /// Removes the book.
    Clear,
}

/// Runs `action` on the lorebook of the persona called `name`.
///
/// # Errors
/// A refusal, an unknown persona or entry, or the store failing; nothing changes then.
pub async fn run(
    store: &Store,
    caller: &Caller,
    name: &str,
    action: &LoreAction,
) -> Result<Answer, AdminError> {
    authorize(store, caller, Need::Manager, true).await?;
    let scope = tenant(store, caller).await?;
    let persona = named(store, scope, name).await?;
    let nickname = persona.nickname.clone();
    if *action == LoreAction::Clear {
        let removed = lorebooks::set(store, scope, caller.actor(), persona.id, None).await?;
        let text = if removed {
            format!("**{nickname}** has no lorebook any more.")
        } else {
            format!("**{nickname}** has no lorebook.")
        };
        return Ok(Answer::text(text));
    }
    let Some(mut book) = stored(store, scope, persona.id).await? else {
        return Ok(Answer::text(format!(
            "**{nickname}** has no lorebook; import a card with one (/persona import) or a World \
             Info file (/persona lorebook import)."
        )));
    };
    let text = match action {
        // `Clear` was answered above.
        LoreAction::List | LoreAction::Clear => listing(&nickname, &book),
        LoreAction::Test { text } => tested(&nickname, &book, text),
        LoreAction::Toggle { entry, on } => {
            let Some(found) = book.entries.iter_mut().find(|e| e.uid == *entry) else {
                return Err(AdminError::BadInput(format!(
                    "**{nickname}**'s lorebook has no entry {entry}; /persona lorebook list \
                     shows them. Nothing was changed."
                )));
            };
            found.enabled = *on;
            let label = label(found);
            let value = book.to_character_book();
            lorebooks::set(store, scope, caller.actor(), persona.id, Some(&value)).await?;
            format!("Entry {entry} ({label}) of **{nickname}**'s lorebook is {}.", on_off(*on))
        }
    };
    Ok(Answer::text(text))
}

/// Replaces the lorebook of the persona called `name` with a SillyTavern World Info file.
///
/// # Errors
/// A refusal, a file that is not a World Info file within the bounds (the reason names the
/// field), an unknown persona, or the store failing; nothing changes then.
pub async fn import(
    store: &Store,
    caller: &Caller,
    name: &str,
    filename: &str,
    bytes: &[u8],
) -> Result<Answer, AdminError> {
    authorize(store, caller, Need::Manager, true).await?;
    let scope = tenant(store, caller).await?;
    let persona = named(store, scope, name).await?;
    // Security: hostile World Info files. tomori-core's parser bounds the file, its entries,
    // keys, regexes and texts, and names the field it refuses.
    let book = Lorebook::from_world_info_json(bytes, &LorebookBounds::default()).map_err(|e| {
        AdminError::BadInput(format!("`{filename}` cannot be imported: {e}. Nothing was changed."))
    })?;
    let entries = book.entries.len();
    let value = book.to_character_book();
    lorebooks::check(&value)?;
    lorebooks::set(store, scope, caller.actor(), persona.id, Some(&value)).await?;
    Ok(Answer::text(format!(
        "**{}**'s lorebook is now `{filename}` ({entries} entries); /persona lorebook test shows \
         which fire for a text.",
        persona.nickname
    )))
}

async fn stored(
    store: &Store,
    scope: Scope,
    persona: tomori_core::id::PersonaId,
) -> Result<Option<Lorebook>, AdminError> {
    let Some(value) = lorebooks::get(store, scope, persona).await? else { return Ok(None) };
    Lorebook::from_character_book(&value, &LorebookBounds::default())
        .map(Some)
        .map_err(|e| AdminError::BadInput(format!("The stored lorebook cannot be read ({e}).")))
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

fn label(entry: &lorebook::LoreEntry) -> String {
    let name: String = entry.name.chars().take(60).collect();
    if name.trim().is_empty() { "no name".to_owned() } else { name }
}

fn keys(keys: &[Key]) -> String {
    let shown: Vec<String> = keys.iter().take(5).map(|k| format!("`{}`", k.written())).collect();
    match keys.len() {
        0 => "no keys".to_owned(),
        n if n > 5 => format!("{} and {} more", shown.join(", "), n - 5),
        _ => shown.join(", "),
    }
}

fn listing(nickname: &str, book: &Lorebook) -> String {
    let mut text = format!("**{nickname}**'s lorebook, {} entries:", book.entries.len());
    for entry in book.entries.iter().take(LISTED) {
        let when = if entry.constant { "always".to_owned() } else { keys(&entry.keys) };
        let _ = write!(
            text,
            "\n{}. {} · {} · {:?} · {}",
            entry.uid,
            label(entry),
            when,
            entry.position,
            on_off(entry.enabled)
        );
    }
    if book.entries.len() > LISTED {
        let _ = write!(text, "\n… and {} more.", book.entries.len() - LISTED);
    }
    text
}

fn tested(nickname: &str, book: &Lorebook, text: &str) -> String {
    let messages = [ScanMessage { name: None, text }];
    let scan = ScanInput {
        messages: &messages,
        extra: &[],
        names: Some(MacroNames { user: "{{user}}", persona: nickname }),
        token_budget: None,
    };
    // Every probability roll passes here: the test says what could fire.
    let mut rng = || 0;
    let activation = lorebook::activate(book, &scan, &mut rng, estimate_tokens);
    if activation.fired.is_empty() {
        return format!("No entry of **{nickname}**'s lorebook fires for that text.");
    }
    let mut answer = format!("For that text, **{nickname}**'s lorebook adds:");
    for fired in activation.fired.iter().take(LISTED) {
        let _ = write!(answer, "\n- {fired}");
    }
    for fired in &activation.left_out {
        let _ = write!(answer, "\n- left out, over the token budget: {fired}");
    }
    answer
}
