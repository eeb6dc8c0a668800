//! The server's SillyTavern chat-completion presets (`/preset …` on Discord): import one from its
//! JSON, list them, show one's blocks, switch the prompt's layout to one (or back to Tomori's
//! own), turn single blocks on or off, and remove one. A preset decides what the model is told and
//! in what order, so all of it needs Manage Server; in a direct message it acts on the caller's
//! own DM tenant.

use std::fmt::Write as _;

use tomori_core::lorebook::Role;
use tomori_core::preset::{Block, Injection, Preset, PresetBounds};
use tomori_store::presets::{self, StoredPreset};
use tomori_store::{Scope, Store, StoreError};

use crate::access::{AdminError, Need, authorize, tenant};
use crate::answer::Answer;
use crate::caller::Caller;

/// The largest preset file taken, in bytes (as the preset parser bounds it).
pub const MAX_PRESET_FILE_BYTES: usize = 1024 * 1024;

/// The most characters of a preset's name.
pub const MAX_NAME_CHARS: usize = presets::MAX_NAME_CHARS;

/// What `switch` takes to go back to Tomori's own layout.
pub const BUILTIN: &str = "tomori";

/// One `/preset` action besides `import`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresetAction {
    /// The server's presets, the active one marked.
    List,
    /// One preset's blocks in order (the active one without a name).
    Show {
        /// The preset.
        name: Option<String>,
    },
    /// Lays the prompt out with the named preset; [`BUILTIN`] goes back to Tomori's own.
    Switch {
        /// The preset.
        name: String,
    },
    /// Turns a block on or off.
    Toggle {
        /// The block's identifier, name or number as `show` lists it.
        block: String,
        /// On or off.
        on: bool,
        /// The preset (the active one without a name).
        name: Option<String>,
    },
    /// Removes a preset.
    Remove {
        /// The preset.
        name: String,
    },
}

/// Imports the preset file `bytes` under `name` (the file's name without `.json` when empty).
///
/// # Errors
/// A refusal, a file that is not a chat-completion preset within the bounds (the reason names
/// the field), a bad name, too many presets, or the store failing; nothing changes then.
pub async fn import(
    store: &Store,
    caller: &Caller,
    name: Option<&str>,
    filename: &str,
    bytes: &[u8],
) -> Result<Answer, AdminError> {
    authorize(store, caller, Need::Manager, true).await?;
    let scope = tenant(store, caller).await?;
    let refused = |reason: String| {
        AdminError::BadInput(format!(
            "`{filename}` cannot be imported: {reason}. Nothing was changed."
        ))
    };
    // Security: hostile preset files. tomori-core's parser bounds the file, its blocks, orders,
    // texts and numbers, and names the field it refuses, before anything is stored.
    let preset =
        Preset::from_json(bytes, &PresetBounds::default()).map_err(|e| refused(e.to_string()))?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| refused(e.to_string()))?;
    let name = match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => name.to_owned(),
        None => filename.trim_end_matches(".json").chars().take(presets::MAX_NAME_CHARS).collect(),
    };
    if name.eq_ignore_ascii_case(BUILTIN) {
        return Err(AdminError::BadInput(format!(
            "`{BUILTIN}` is the name of Tomori's own layout; choose another. Nothing was changed."
        )));
    }
    presets::check_name(&name).map_err(|e| refused(e.to_string()))?;
    let replaced = presets::import(store, scope, caller.actor(), &name, &value).await?;
    let active = presets::active(store, scope).await?.is_some_and(|p| p.name == name);
    let on = preset.blocks.iter().filter(|b| b.enabled).count();
    let mut text = format!(
        "Preset **{name}** {}: {} blocks in its order, {on} on.",
        if replaced { "replaced" } else { "imported" },
        preset.blocks.len()
    );
    if active {
        text.push_str(" It is the active preset: the next answer is laid out with it.");
    } else {
        let _ = write!(text, " `/preset switch {name}` lays the prompt out with it.");
    }
    Ok(Answer::text(text))
}

/// Runs `action` on the server's presets.
///
/// # Errors
/// A refusal, an unknown preset or block, or the store failing; nothing changes then.
pub async fn run(
    store: &Store,
    caller: &Caller,
    action: &PresetAction,
) -> Result<Answer, AdminError> {
    authorize(store, caller, Need::Manager, true).await?;
    let scope = tenant(store, caller).await?;
    let text = match action {
        PresetAction::List => listing(&presets::list(store, scope).await?),
        PresetAction::Show { name } => {
            let stored = chosen(store, scope, name.as_deref()).await?;
            shown(&stored.name, &parsed(&stored)?)
        }
        PresetAction::Switch { name } => switch(store, caller, scope, name.trim()).await?,
        PresetAction::Toggle { block, on, name } => {
            let stored = chosen(store, scope, name.as_deref()).await?;
            let preset = parsed(&stored)?;
            let found = find_block(&preset, block).ok_or_else(|| {
                AdminError::BadInput(format!(
                    "Preset **{}** has no block `{block}`; /preset show lists them. Nothing was \
                     changed.",
                    stored.name
                ))
            })?;
            let identifier = found.identifier.clone();
            presets::toggle(store, scope, caller.actor(), &stored.name, &identifier, *on).await?;
            format!(
                "Block {} of preset **{}** is {}.",
                label(found),
                stored.name,
                if *on { "on" } else { "off" }
            )
        }
        PresetAction::Remove { name } => {
            let name = name.trim();
            if presets::remove(store, scope, caller.actor(), name).await? {
                format!("Preset **{name}** is removed.")
            } else {
                format!("There is no preset called **{name}**; /preset list shows them.")
            }
        }
    };
    Ok(Answer::text(text))
}

async fn switch(
    store: &Store,
    caller: &Caller,
    scope: Scope,
    name: &str,
) -> Result<String, AdminError> {
    if name.eq_ignore_ascii_case(BUILTIN) {
        presets::switch(store, scope, caller.actor(), None).await?;
        return Ok("The prompt is laid out by Tomori's own preset again.".to_owned());
    }
    let stored = chosen(store, scope, Some(name)).await?;
    // A preset that no longer parses (bounds lowered since) is refused here, not at every turn.
    let preset = parsed(&stored)?;
    presets::switch(store, scope, caller.actor(), Some(&stored.name)).await?;
    let on = preset.blocks.iter().filter(|b| b.enabled).count();
    Ok(format!(
        "The prompt is laid out by preset **{}** ({on} blocks on) from the next answer on.",
        stored.name
    ))
}

/// The preset called `name`, or the active one without a name.
async fn chosen(
    store: &Store,
    scope: Scope,
    name: Option<&str>,
) -> Result<StoredPreset, AdminError> {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    let found = match name {
        Some(name) => presets::list(store, scope)
            .await?
            .into_iter()
            .find(|p| p.name.eq_ignore_ascii_case(name)),
        None => presets::active(store, scope).await?,
    };
    found.ok_or_else(|| match name {
        Some(name) => AdminError::BadInput(format!(
            "There is no preset called **{name}**; /preset list shows them."
        )),
        None => AdminError::BadInput(
            "No preset is active (Tomori's own layout is used); name one, or /preset switch to \
             one first."
                .to_owned(),
        ),
    })
}

fn parsed(stored: &StoredPreset) -> Result<Preset, AdminError> {
    let json = stored.preset.to_string();
    let preset = Preset::from_json(json.as_bytes(), &PresetBounds::default()).map_err(|e| {
        AdminError::Store(StoreError::Invalid { field: "stored preset", reason: e.to_string() })
    })?;
    Ok(preset.with_toggles(stored.toggles.iter().map(|(id, on)| (id.as_str(), *on))))
}

/// The block `wanted` names: its number as `show` lists it, its identifier or its name.
fn find_block<'p>(preset: &'p Preset, wanted: &str) -> Option<&'p Block> {
    if let Ok(number) = wanted.trim().parse::<usize>() {
        return number.checked_sub(1).and_then(|i| preset.blocks.get(i));
    }
    preset.find(wanted)
}

fn label(block: &Block) -> String {
    let name: String = block.name.chars().take(60).collect();
    if name.trim().is_empty() || name == block.identifier {
        format!("`{}`", block.identifier)
    } else {
        format!("`{}` ({name})", block.identifier)
    }
}

fn listing(stored: &[StoredPreset]) -> String {
    if stored.is_empty() {
        return "This server has no presets; the prompt is laid out by Tomori's own. /preset \
                import adds a SillyTavern chat-completion preset."
            .to_owned();
    }
    let mut text = String::from("Presets:");
    for preset in stored {
        let blocks = preset.preset["prompts"].as_array().map_or(0, Vec::len);
        let active = if preset.active { " · **active**" } else { "" };
        let _ = write!(text, "\n- **{}** · {blocks} blocks{active}", preset.name);
    }
    if !stored.iter().any(|p| p.active) {
        text.push_str("\nNone is active: the prompt is laid out by Tomori's own.");
    }
    text
}

fn shown(name: &str, preset: &Preset) -> String {
    let mut text = format!("Preset **{name}**, in prompt order:");
    for (number, block) in preset.blocks.iter().enumerate() {
        let role = match block.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        let place = match block.injection {
            Injection::Relative if block.marker => "filled by Tomori".to_owned(),
            Injection::Relative => format!("{} characters", block.content.chars().count()),
            Injection::InChat { depth, .. } => format!("in the chat at depth {depth}"),
        };
        let on = if block.enabled { "on" } else { "off" };
        let _ = write!(text, "\n{}. {} · {role} · {place} · {on}", number + 1, label(block));
    }
    let s = &preset.samplers;
    let samplers: Vec<String> = [
        ("temperature", s.temperature),
        ("top_p", s.top_p),
        ("min_p", s.min_p),
        ("frequency_penalty", s.frequency_penalty),
        ("presence_penalty", s.presence_penalty),
    ]
    .iter()
    .filter_map(|(k, v)| v.map(|v| format!("{k} {v}")))
    .collect();
    if !samplers.is_empty() {
        let _ = write!(text, "\nSamplers, where /model sets none: {}.", samplers.join(", "));
    }
    text
}
