//! Turning model output into what may be posted: reasoning removed, the persona's own label
//! removed, another speaker's lines cut off, macros substituted, tool calls written as text
//! taken out, and mentions made safe.
//!
//! Model output is data, never authority: `@everyone`, `@here` and role mentions are defused here
//! and again by `allowed_mentions` when sending, and an `@name` becomes a real mention only when it
//! names exactly one known participant. None of the rules here changes text inside inline code
//! or fenced code blocks.
//!
//! The streaming entry point is [`AnswerFilter`] (see its module for how the engine uses it);
//! [`strip_reasoning`] and [`strip_labels`] apply the same rules to a whole text.

pub mod code;
mod filter;
mod labels;
mod mentions;
mod reasoning;
pub mod tool_text;
mod visible;

pub use filter::{AnswerFilter, FilterSetup, Finished, Thinking, UNDECIDED_HOLD_CHARS, Verdict};
pub use mentions::{Participant, resolve_mentions};

use labels::Speakers;
use reasoning::TagStage;
use visible::VisibleStage;

/// Visible text and reasoning, separated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Separated {
    /// What may be posted.
    pub visible: String,
    /// `<think>` content, for the thought-log channel.
    pub reasoning: String,
}

/// Removes `<think>...</think>` blocks (also `<thinking>`, any case) from a whole text. A closing
/// tag with no opening one makes everything before it reasoning (the model's template opened the
/// block); an unclosed block hides everything after it, since the model was still thinking when
/// it stopped.
pub fn strip_reasoning(text: &str) -> Separated {
    let mut stage = TagStage::new(usize::MAX);
    let mut visible = String::new();
    stage.push(text, &mut visible);
    stage.finish(&Speakers::default(), &mut visible);
    Separated { visible: visible.trim().to_owned(), reasoning: stage.reasoning }
}

/// Strips the persona's own label wherever models put it (start of the text or of a line, after
/// a sentence, at the very end; bold, decorated, full-width or transcript forms) and cuts the
/// text where another persona's (or `Assistant:`) label starts a line; code is left alone.
pub fn strip_labels(text: &str, own_name: &str, other_names: &[&str]) -> String {
    let mut stage = VisibleStage::new(Speakers::new(own_name, other_names), None, Vec::new());
    stage.push(text);
    stage.finish();
    let mut out = String::new();
    stage.drain_into(&mut out);
    out
}

#[cfg(test)]
mod tests;
