//! Splitting a reply into Discord messages.
//!
//! Discord refuses messages over 2,000 characters; Tomori sends at most [`MAX_MESSAGE_CHARS`]
//! (1,950), leaving room for a fence it has to close or re-open. A cut prefers a paragraph break,
//! then a line break, then the end of a sentence, then a space; it never falls inside a URL, a
//! custom emoji, a mention or a timestamp (`<...>`); a code block cut in two is closed at the end
//! of one message and re-opened with its language at the start of the next.

/// The longest message Tomori sends.
pub const MAX_MESSAGE_CHARS: usize = 1950;

/// The longest message Discord accepts.
pub const PLATFORM_MESSAGE_CHARS: usize = 2000;

const FENCE: &str = "```";

/// Splits `text` into messages of at most `max_chars` characters each (at least 16).
pub fn split_message(text: &str, max_chars: usize) -> Vec<String> {
    let max_chars = max_chars.max(16);
    let chars: Vec<char> = text.trim().chars().collect();
    let mut messages = Vec::new();
    let mut start = 0;
    // The language of a code block left open by the previous message, if any.
    let mut open_fence: Option<String> = None;
    while start < chars.len() {
        let prefix = open_fence.as_ref().map(|lang| format!("{FENCE}{lang}\n")).unwrap_or_default();
        let prefix_len = prefix.chars().count();
        let rest = chars.get(start..).unwrap_or_default();
        // Room for the prefix and for a closing fence ("\n```") this message may need.
        let budget = max_chars.saturating_sub(prefix_len + 4).max(1);
        let fits_whole =
            prefix_len + rest.len() <= max_chars && fence_state(rest, open_fence.clone()).is_none();
        let end =
            if fits_whole || rest.len() <= budget { rest.len() } else { cut_point(rest, budget) };
        let piece: String = rest.get(..end).unwrap_or_default().iter().collect();
        let piece_trimmed = piece.trim_end();
        let still_open = fence_state(rest.get(..end).unwrap_or_default(), open_fence.clone());
        let mut message = prefix;
        message.push_str(piece_trimmed);
        // A code block open at the end of a message is closed there, also when the text
        // itself never closed it.
        if still_open.is_some() {
            message.push('\n');
            message.push_str(FENCE);
        }
        if !message.trim().is_empty() {
            messages.push(message);
        }
        open_fence = if end < rest.len() { still_open } else { None };
        start += end;
        // The next message starts at the next visible character.
        while chars.get(start).is_some_and(|c| c.is_whitespace()) && open_fence.is_none() {
            start += 1;
        }
        if open_fence.is_some() && chars.get(start) == Some(&'\n') {
            start += 1;
        }
    }
    messages
}

/// Whether a code block is open after `chars`, given the state before; returns its language.
fn fence_state(chars: &[char], mut open: Option<String>) -> Option<String> {
    let text: String = chars.iter().collect();
    let mut rest = text.as_str();
    while let Some(idx) = rest.find(FENCE) {
        let after = rest.get(idx + FENCE.len()..).unwrap_or_default();
        open = match open {
            Some(_) => None,
            None => Some(
                after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '+' || *c == '-' || *c == '_')
                    .collect(),
            ),
        };
        rest = after;
    }
    open
}

/// Spans that a cut must not fall inside: URLs and `<...>` tokens (emoji, mentions, timestamps).
fn protected(chars: &[char]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut idx = 0;
    while idx < chars.len() {
        // Only an `h` can start a URL; checking that first keeps the scan linear and cheap.
        let starts_url = chars.get(idx).is_some_and(|c| c.eq_ignore_ascii_case(&'h'))
            && ["https://", "http://"].iter().any(|scheme| {
                chars.get(idx..idx + scheme.len()).is_some_and(|window| {
                    window.iter().zip(scheme.chars()).all(|(c, s)| c.to_ascii_lowercase() == s)
                })
            });
        if starts_url {
            let end = (idx..chars.len())
                .find(|&i| chars.get(i).is_some_and(|c| c.is_whitespace()))
                .unwrap_or(chars.len());
            spans.push((idx, end));
            idx = end;
            continue;
        }
        if chars.get(idx) == Some(&'<') {
            let close = (idx + 1..chars.len().min(idx + 102)).find(|&i| {
                chars.get(i).is_some_and(|c| *c == '>' || *c == '<' || c.is_whitespace())
            });
            if let Some(close) = close
                && chars.get(close) == Some(&'>')
                && close > idx + 1
            {
                spans.push((idx, close + 1));
                idx = close + 1;
                continue;
            }
        }
        idx += 1;
    }
    spans
}

/// Whether a sentence ends just before `pos`: sentence punctuation followed by a space (or by
/// anything, for CJK punctuation), and a period not belonging to an abbreviation, an initial or
/// a list number ("Dr.", "U.S.", "e.g.", "1.").
fn ends_sentence(chars: &[char], pos: usize) -> bool {
    let Some(&c) = pos.checked_sub(1).and_then(|i| chars.get(i)) else { return false };
    if !".!?。！？".contains(c) {
        return false;
    }
    if !chars.get(pos).is_none_or(|next| next.is_whitespace() || !next.is_ascii()) {
        return false;
    }
    if c != '.' {
        return true;
    }
    let before = chars.get(..pos - 1).unwrap_or_default();
    let word_len = before.iter().rev().take_while(|c| !c.is_whitespace()).count();
    let word: String = before.get(before.len() - word_len..).unwrap_or_default().iter().collect();
    let lead = before.get(..before.len() - word_len).unwrap_or_default();
    let first_on_line = lead.iter().rev().take_while(|c| **c != '\n').all(|c| c.is_whitespace());
    !crate::flush::scan::is_abbreviation(&word, first_on_line)
}

/// The best place to end a message within the first `budget` characters of `chars`.
fn cut_point(chars: &[char], budget: usize) -> usize {
    let spans = protected(chars);
    // One pass marks the positions inside a protected span, so each candidate is checked in O(1).
    let mut blocked = vec![false; budget.min(chars.len()) + 1];
    for &(start, end) in &spans {
        for slot in blocked.iter_mut().take(end.min(budget + 1)).skip(start + 1) {
            *slot = true;
        }
    }
    let inside = |pos: usize| blocked.get(pos).copied().unwrap_or(false);
    let window = chars.get(..budget).unwrap_or(chars);
    let last = |pred: &dyn Fn(usize) -> bool| {
        (1..=window.len()).rev().find(|&pos| pred(pos) && !inside(pos))
    };
    let at = |pos: usize, c: char| chars.get(pos) == Some(&c);
    let min = budget / 3;
    let candidates: [&dyn Fn(usize) -> bool; 4] = [
        &|pos| pos > min && at(pos, '\n') && pos > 0 && at(pos - 1, '\n'),
        &|pos| pos > min && at(pos, '\n'),
        &|pos| pos > min && pos > 0 && ends_sentence(chars, pos),
        &|pos| pos > 0 && chars.get(pos).is_some_and(|c| c.is_whitespace()),
    ];
    for candidate in candidates {
        if let Some(pos) = last(candidate) {
            return pos;
        }
    }
    // No boundary: cut before a protected span that crosses the budget, else hard at the budget.
    match spans.iter().find(|&&(s, e)| s < budget && budget < e) {
        Some(&(s, _)) if s > 0 => s,
        _ => budget,
    }
}

#[cfg(test)]
mod tests;
