//! Tomori's own prompt layout, written as a preset: what a turn uses when the server has not
//! switched to an imported one (`/preset switch`). Its markers are filled with Tomori's headed
//! sections ("## Who you are", ...), so an imported preset places the same material its own way.

use super::{Block, Formats, Injection, Preset, Samplers};
use crate::lorebook::Role;

fn marker(identifier: &str, name: &str) -> Block {
    Block {
        identifier: identifier.to_owned(),
        name: name.to_owned(),
        role: Role::System,
        content: String::new(),
        marker: true,
        system_prompt: true,
        injection: Injection::Relative,
        enabled: true,
    }
}

/// Tomori's built-in preset: who the persona is, the lore before its description, the
/// description, its attributes, how it talks, the lore after, then the conversation. The
/// samplers are left to the server's `/model` settings.
#[must_use]
pub fn builtin() -> Preset {
    let main = Block {
        content: "You are {{char}}, taking part in a group chat.".to_owned(),
        marker: false,
        ..marker("main", "Main Prompt")
    };
    Preset {
        blocks: vec![
            main,
            marker("worldInfoBefore", "World Info (before)"),
            marker("charDescription", "Char Description"),
            marker("charPersonality", "Char Personality"),
            marker("dialogueExamples", "Chat Examples"),
            marker("worldInfoAfter", "World Info (after)"),
            marker("chatHistory", "Chat History"),
        ],
        formats: Formats::default(),
        samplers: Samplers::default(),
    }
}
