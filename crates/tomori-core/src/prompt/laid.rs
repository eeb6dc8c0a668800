//! The persona's part of a prompt laid out by a preset ([`crate::preset`]): Tomori's own
//! sections fill the preset's markers, the blocks before the conversation become the head of
//! the system text (or leading messages, for user and assistant blocks), and the blocks inside
//! and after it become messages placed by depth.
//!
//! Where this differs from SillyTavern: one system text is sent (every wire takes one), so
//! system blocks inside or after the conversation are sent as user messages marked `[system]`;
//! an assistant block after the conversation, or at depth 0, goes one message earlier, so a
//! prompt always ends with what it answers (not every wire takes a prefilled answer).

use std::fmt::Write as _;

use super::{Filler, PromptInput, PromptMessage, PromptRole};
use crate::lorebook::Role;
use crate::preset::{self, Part, Preset, PromptSources};

/// Tomori's headed sections, which fill a preset's markers.
struct Sections {
    description: String,
    personality: String,
    examples: String,
    world_before: String,
    world_after: String,
    main_override: Option<String>,
}

fn headed(title: &str, lines: impl IntoIterator<Item = String>) -> String {
    let mut out = String::new();
    for line in lines {
        let line = line.trim().to_owned();
        if !line.is_empty() {
            let _ = write!(out, "\n{line}");
        }
    }
    if out.is_empty() { out } else { format!("{title}{out}") }
}

impl Sections {
    fn render(input: &PromptInput<'_>) -> Self {
        let persona = input.persona;
        let description = headed("## Who you are", [persona.prompt.to_owned()]);
        let personality =
            headed("## About you", persona.attributes.iter().map(|a| format!("- {}", a.trim())));
        let examples = headed(
            "## How you talk",
            persona.sample_dialogues.iter().map(|(user, bot)| {
                format!("User: {}\n{}: {}", user.trim(), persona.name, bot.trim())
            }),
        );
        let world_before = headed("## The world", input.lore.before.iter().cloned());
        let world_after = headed("## More about the world", input.lore.after.iter().cloned());
        // The server's system prompt follows the main prompt, and goes where it goes.
        let main_override = input
            .system_prompt
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|extra| format!("{{{{original}}}}\n\n{extra}"));
        Self { description, personality, examples, world_before, world_after, main_override }
    }

    fn sources(&self) -> PromptSources<'_> {
        PromptSources {
            char_description: &self.description,
            char_personality: &self.personality,
            scenario: "",
            persona_description: "",
            dialogue_examples: &self.examples,
            world_info_before: &self.world_before,
            world_info_after: &self.world_after,
            main_override: self.main_override.as_deref(),
            post_history_override: None,
        }
    }
}

/// The persona's part of the prompt, laid out.
pub(super) struct Laid {
    /// System texts before the conversation, in order.
    pub(super) head: Vec<String>,
    /// User and assistant blocks before the conversation.
    pub(super) lead: Vec<PromptMessage>,
    /// Blocks inside the conversation (and after it), with their depth from its end.
    pub(super) in_chat: Vec<(u32, PromptMessage)>,
    /// Blocks after the conversation.
    pub(super) tail: Vec<PromptMessage>,
}

fn message(role: Role, content: String) -> PromptMessage {
    match role {
        Role::System => {
            PromptMessage { role: PromptRole::User, content: format!("[system] {content}") }
        }
        Role::User => PromptMessage { role: PromptRole::User, content },
        Role::Assistant => PromptMessage { role: PromptRole::Assistant, content },
    }
}

/// Lays out `preset` (Tomori's own without one) with the persona's material, macros filled.
pub(super) fn lay_out(input: &PromptInput<'_>, fill: &Filler<'_>) -> Laid {
    let builtin;
    let preset: &Preset = match input.preset {
        Some(preset) => preset,
        None => {
            builtin = preset::builtin();
            &builtin
        }
    };
    let sections = Sections::render(input);
    let layout = preset::layout(preset, &sections.sources());
    let mut laid =
        Laid { head: Vec::new(), lead: Vec::new(), in_chat: Vec::new(), tail: Vec::new() };
    let mut after_history = false;
    for part in layout.parts {
        let (role, content) = match part {
            Part::ChatHistory => {
                after_history = true;
                continue;
            }
            Part::Text { role, content, .. } => (role, fill.text(content.trim())),
        };
        if content.trim().is_empty() {
            continue;
        }
        match (after_history, role) {
            (false, Role::System) => laid.head.push(content),
            (false, role) => laid.lead.push(message(role, content)),
            (true, Role::Assistant) => laid.in_chat.push((1, message(role, content))),
            (true, role) => laid.tail.push(message(role, content)),
        }
    }
    for block in layout.in_chat {
        let content = fill.text(block.content.trim());
        if content.trim().is_empty() {
            continue;
        }
        let depth = if block.role == Role::Assistant { block.depth.max(1) } else { block.depth };
        laid.in_chat.push((depth, message(block.role, content)));
    }
    laid
}

/// Places each `(depth, message)` that many messages before the end of `kept` (further back than
/// its start: at its start); messages of one depth keep their order.
pub(super) fn insert_at_depth(
    kept: Vec<PromptMessage>,
    mut placed: Vec<(u32, PromptMessage)>,
) -> Vec<PromptMessage> {
    let n = kept.len();
    let at = |depth: u32| n.saturating_sub(usize::try_from(depth).unwrap_or(usize::MAX));
    // Stable: equal places keep the order they were given in.
    placed.sort_by_key(|(depth, _)| at(*depth));
    let mut placed = placed.into_iter().peekable();
    let mut out = Vec::with_capacity(n + placed.len());
    for (index, message) in kept.into_iter().enumerate() {
        while let Some((_, item)) = placed.next_if(|(depth, _)| at(*depth) <= index) {
            out.push(item);
        }
        out.push(message);
    }
    out.extend(placed.map(|(_, item)| item));
    out
}
