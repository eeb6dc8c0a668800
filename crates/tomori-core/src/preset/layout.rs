//! Which text goes where: a preset's enabled blocks in order, markers filled from the card, the
//! lore and the persona, and in-chat blocks set apart with their depth.

use super::{Block, Injection, Preset};
use crate::lorebook::Role;

/// The texts that fill a preset's markers; empty ones leave their block out.
#[derive(Debug, Clone, Copy, Default)]
pub struct PromptSources<'a> {
    /// `charDescription`.
    pub char_description: &'a str,
    /// `charPersonality`, wrapped in the personality format.
    pub char_personality: &'a str,
    /// `scenario`, wrapped in the scenario format.
    pub scenario: &'a str,
    /// `personaDescription`: the member's persona.
    pub persona_description: &'a str,
    /// `dialogueExamples`.
    pub dialogue_examples: &'a str,
    /// `worldInfoBefore`, wrapped in the World Info format.
    pub world_info_before: &'a str,
    /// `worldInfoAfter`, wrapped in the World Info format.
    pub world_info_after: &'a str,
    /// A card's `system_prompt`: replaces `main`'s text; `{{original}}` in it is `main`'s text.
    pub main_override: Option<&'a str>,
    /// A card's `post_history_instructions`: replaces `jailbreak`'s text the same way.
    pub post_history_override: Option<&'a str>,
}

/// One piece of the prompt, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text from a block.
    Text {
        /// The block's identifier.
        identifier: String,
        /// Who says it.
        role: Role,
        /// The text, macros not yet expanded.
        content: String,
    },
    /// Where the chat history goes.
    ChatHistory,
}

/// A block that goes inside the chat history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InChat {
    /// The block's identifier.
    pub identifier: String,
    /// Who says it.
    pub role: Role,
    /// Messages from the end of the chat (0 is after the last).
    pub depth: u32,
    /// Among blocks at the same depth, lower goes first.
    pub order: i32,
    /// The text, macros not yet expanded.
    pub content: String,
}

/// A prompt's layout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// The pieces in order, the chat history among them.
    pub parts: Vec<Part>,
    /// Blocks to place inside the chat history: by depth, then order, then place.
    pub in_chat: Vec<InChat>,
}

/// `text` with `{{original}}` filled in, or the block's own text without an override.
fn overridden(block: &Block, replacement: Option<&str>) -> String {
    match replacement.filter(|r| !r.trim().is_empty()) {
        Some(replacement) => replacement.replace("{{original}}", &block.content),
        None => block.content.clone(),
    }
}

fn wrap(format: &str, placeholder: &str, text: &str) -> String {
    if text.trim().is_empty() { String::new() } else { format.replace(placeholder, text) }
}

/// The text of one block.
fn content(preset: &Preset, block: &Block, sources: &PromptSources<'_>) -> String {
    let formats = &preset.formats;
    match block.identifier.as_str() {
        "main" => overridden(block, sources.main_override),
        "jailbreak" => overridden(block, sources.post_history_override),
        "worldInfoBefore" => wrap(&formats.world_info, "{0}", sources.world_info_before),
        "worldInfoAfter" => wrap(&formats.world_info, "{0}", sources.world_info_after),
        "charDescription" => sources.char_description.to_owned(),
        "charPersonality" => {
            wrap(&formats.personality, "{{personality}}", sources.char_personality)
        }
        "scenario" => wrap(&formats.scenario, "{{scenario}}", sources.scenario),
        "personaDescription" => sources.persona_description.to_owned(),
        "dialogueExamples" => sources.dialogue_examples.to_owned(),
        // A marker this layout does not know (an extension's) has nothing to show.
        _ if block.marker => String::new(),
        _ => block.content.clone(),
    }
}

/// Lays out `preset`'s enabled blocks with `sources`: disabled blocks and empty texts are left
/// out, markers are filled, and in-chat blocks are listed apart.
#[must_use]
pub fn layout(preset: &Preset, sources: &PromptSources<'_>) -> Layout {
    let mut out = Layout::default();
    for block in preset.blocks.iter().filter(|b| b.enabled) {
        if block.identifier == "chatHistory" {
            out.parts.push(Part::ChatHistory);
            continue;
        }
        let content = content(preset, block, sources);
        if content.trim().is_empty() {
            continue;
        }
        match block.injection {
            Injection::InChat { depth, order } if !block.marker => out.in_chat.push(InChat {
                identifier: block.identifier.clone(),
                role: block.role,
                depth,
                order,
                content,
            }),
            _ => out.parts.push(Part::Text {
                identifier: block.identifier.clone(),
                role: block.role,
                content,
            }),
        }
    }
    out.in_chat.sort_by_key(|chat| (chat.depth, chat.order));
    out
}
