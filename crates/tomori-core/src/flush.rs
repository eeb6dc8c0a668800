//! When streamed text may become a Discord message.
//!
//! The engine keeps the visible text it has not sent yet (what [`crate::output::AnswerFilter`]
//! released) and asks [`take_message`] after each delta, and once more with `end` when the
//! answer is complete:
//!
//! ```text
//! unsent.push_str(filter.push_text(delta));
//! while let Some(message) = flush::take_message(&mut unsent, degree, false) { send(message) }
//! // at the end:
//! unsent.push_str(&finished.rest);
//! while let Some(message) = flush::take_message(&mut unsent, degree, true) { send(message) }
//! ```
//!
//! A message ends at the earliest boundary the humanizer [`Degree`] allows: before a code block
//! opens and after it closes, at a line break (degrees 1 to 3), at the end of a sentence
//! (degree 3 only). A sentence ends at `.`, `!` or `?` followed by a space and a word that
//! does not start in lower case, or at `。`, `！` or `？`; never after an abbreviation ("Dr.", "e.g.", "U.S."), an initial, a list number at
//! the start of a line, or inside a number ("3.14"), a URL, a markdown link, or code. While a
//! parenthesis, a quotation (`"`, `“”`, `「」`, `『』`) or a link is open, or a markdown table
//! goes on, nothing is cut; a line break that is the last character waits for what follows,
//! and punctuation that a model put on the next line (other than `:`, which may start an
//! `:emoji:`) stays with the line before. Text that grows past [`OVERFLOW_CHARS`] (degree 0:
//! past what one message holds) without such a boundary is cut at the sentence end or line
//! break nearest after that point, else the last one before it, else at a space, else hard; a
//! code block cut that way is closed at the end of the message and opened again, with its
//! language, at the start of the next. Every message has at most
//! [`crate::chunk::MAX_MESSAGE_CHARS`] characters.

pub(crate) mod scan;

use crate::chunk::MAX_MESSAGE_CHARS;

/// How an answer is paced (the server's humanizer degree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Degree {
    /// 0: one message for the whole answer (cut only where Discord's limit forces it).
    Whole,
    /// 1: a message per line, sent at once.
    Lines,
    /// 2: a message per line, with typing between them (the pacing is the engine's).
    TypedLines,
    /// 3: a message per sentence, with typing between them.
    Sentences,
}

impl Degree {
    /// The degree a stored setting names (0 to 3; anything else is clamped).
    pub fn from_setting(degree: i16) -> Self {
        match degree {
            i16::MIN..=0 => Self::Whole,
            1 => Self::Lines,
            2 => Self::TypedLines,
            _ => Self::Sentences,
        }
    }
}

impl Degree {
    /// How long the typing indicator shows before a later message of the answer: about as long
    /// as a quick typist needs (25 ms a character), between half a second and three seconds, at
    /// degrees 2 and 3; nothing at 0 and 1, which send as soon as a message is ready.
    pub fn typing_pause(self, chars: usize) -> std::time::Duration {
        match self {
            Self::Whole | Self::Lines => std::time::Duration::ZERO,
            Self::TypedLines | Self::Sentences => {
                let millis = u64::try_from(chars).unwrap_or(u64::MAX).saturating_mul(25);
                std::time::Duration::from_millis(millis.clamp(500, 3_000))
            }
        }
    }
}

/// Unsent text past this many characters is cut even without a boundary (degrees 1 to 3).
pub const OVERFLOW_CHARS: usize = 1_000;

/// The most characters a cut leaves in one message, with room for a closing fence.
pub(crate) const LIMIT_CHARS: usize = MAX_MESSAGE_CHARS - 4;

/// Where the next message ends: a byte index into `unsent` (at a character boundary), or `None`
/// while it should wait for more text. `end`: the answer is complete, so nothing waits.
pub fn next_cut(unsent: &str, degree: Degree, end: bool) -> Option<usize> {
    if unsent.trim().is_empty() {
        return None;
    }
    // Degree 0 cuts only where one message is full: no need to look before then.
    if degree == Degree::Whole && !end && unsent.len() <= LIMIT_CHARS {
        return None;
    }
    if let Some(cut) = scan::first_boundary(unsent, degree, end) {
        return Some(cut);
    }
    let chars = unsent.chars().count();
    let threshold = match degree {
        Degree::Whole => LIMIT_CHARS,
        _ => OVERFLOW_CHARS,
    };
    if chars > LIMIT_CHARS || (chars >= threshold && !end) {
        return Some(scan::overflow_cut(unsent, threshold));
    }
    end.then_some(unsent.len())
}

/// Takes the next message off the front of `unsent`, or `None` while it should wait (see the
/// module documentation). A code block cut in two is closed in the message and opened again at
/// the front of what stays. Messages are trimmed and never empty.
pub fn take_message(unsent: &mut String, degree: Degree, end: bool) -> Option<String> {
    loop {
        let cut = next_cut(unsent, degree, end)?;
        let head = unsent.get(..cut).unwrap_or_default();
        let content = head.trim();
        let open_fence = scan::open_fence(head);
        // Every pass takes at least one character, so this loop ends; a piece that holds
        // nothing (or only a fence's opening line) is dropped rather than sent.
        if content.is_empty() || (open_fence.is_some() && !content.contains('\n')) {
            unsent.drain(..cut.max(1).min(unsent.len()));
            continue;
        }
        let mut message = content.to_owned();
        let mut reopen = String::new();
        if let Some(language) = open_fence {
            message.push_str("\n```");
            if cut < unsent.len() {
                reopen = format!("```{language}\n");
            }
        }
        let rest = unsent.get(cut..).unwrap_or_default();
        let rest = if reopen.is_empty() { rest } else { rest.trim_start_matches('\n') };
        *unsent = format!("{reopen}{rest}");
        return Some(message);
    }
}

#[cfg(test)]
mod tests;
