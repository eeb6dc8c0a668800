//! Turning model output into what may be posted: reasoning removed, the persona's own label
//! removed, another persona's lines cut off, and mentions made safe.
//!
//! Model output is data, never authority: `@everyone`, `@here` and role mentions are defused here
//! and again by `allowed_mentions` when sending, and an `@name` becomes a real mention only when it
//! names exactly one known participant.

/// Visible text and reasoning, separated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Separated {
    /// What may be posted.
    pub visible: String,
    /// `<think>` content, for the thought-log channel.
    pub reasoning: String,
}

/// Removes `<think>...</think>` blocks (also `<thinking>`); an unclosed block hides everything
/// after it, since the model was still thinking when it stopped.
pub fn strip_reasoning(text: &str) -> Separated {
    let mut out = Separated::default();
    let mut rest = text;
    loop {
        let lower = rest.to_ascii_lowercase();
        let open = ["<think>", "<thinking>"]
            .iter()
            .filter_map(|tag| lower.find(tag).map(|i| (i, tag.len())))
            .min();
        let Some((start, tag_len)) = open else {
            out.visible.push_str(rest);
            break;
        };
        out.visible.push_str(rest.get(..start).unwrap_or_default());
        let inner = rest.get(start + tag_len..).unwrap_or_default();
        let inner_lower = inner.to_ascii_lowercase();
        let close = ["</think>", "</thinking>"]
            .iter()
            .filter_map(|tag| inner_lower.find(tag).map(|i| (i, tag.len())))
            .min();
        match close {
            Some((end, close_len)) => {
                push_reasoning(&mut out.reasoning, inner.get(..end).unwrap_or_default());
                rest = inner.get(end + close_len..).unwrap_or_default();
            }
            None => {
                push_reasoning(&mut out.reasoning, inner);
                break;
            }
        }
    }
    out.visible = out.visible.trim().to_owned();
    out
}

fn push_reasoning(into: &mut String, text: &str) {
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    if !into.is_empty() {
        into.push_str("\n\n");
    }
    into.push_str(text);
}

/// Strips the persona's own `Name:` label from the start, and cuts the text where the model
/// starts writing another persona's (or anyone's) lines: a line starting with `Other:`.
pub fn strip_labels(text: &str, own_name: &str, other_names: &[&str]) -> String {
    let mut text = text.trim_start();
    let own_label = format!("{}:", own_name.to_lowercase());
    if text.to_lowercase().starts_with(&own_label) {
        text = text.get(own_label.len()..).unwrap_or_default().trim_start();
    }
    let mut kept = Vec::new();
    for (idx, line) in text.lines().enumerate() {
        let lower = line.trim_start().to_lowercase();
        let is_other =
            other_names.iter().any(|name| lower.starts_with(&format!("{}:", name.to_lowercase())));
        if idx > 0 && is_other {
            break;
        }
        let is_own = lower.starts_with(&own_label);
        kept.push(if is_own {
            line.trim_start().get(own_label.len()..).unwrap_or_default().trim_start()
        } else {
            line
        });
    }
    kept.join("\n").trim_end().to_owned()
}

/// A participant the model may mention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// Display names the model may use for them (compared ignoring case).
    pub names: Vec<String>,
    /// The Discord user id for the mention.
    pub user_id: u64,
}

/// Defuses mass and role mentions and resolves `@name` to a mention of a unique participant.
pub fn resolve_mentions(text: &str, participants: &[Participant]) -> String {
    // A zero-width space after "@" keeps the text readable and makes Discord ignore it.
    let defused = text
        .replace("@everyone", "@\u{200b}everyone")
        .replace("@here", "@\u{200b}here")
        .replace("<@&", "<@\u{200b}&");
    let mut out = String::with_capacity(defused.len());
    let mut rest = defused.as_str();
    while let Some(at) = rest.find('@') {
        out.push_str(rest.get(..at).unwrap_or_default());
        let after = rest.get(at + 1..).unwrap_or_default();
        let word: String =
            after.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.').collect();
        let word = word.trim_end_matches('.');
        let preceded_by_word = out.chars().last().is_some_and(|c| c.is_alphanumeric() || c == '<');
        let matches: Vec<u64> = participants
            .iter()
            .filter(|p| {
                !word.is_empty()
                    && p.names.iter().any(|n| {
                        n.eq_ignore_ascii_case(word) || n.to_lowercase() == word.to_lowercase()
                    })
            })
            .map(|p| p.user_id)
            .collect();
        match matches.as_slice() {
            [user_id] if !preceded_by_word => {
                out.push_str(&format!("<@{user_id}>"));
                rest = after.get(word.len()..).unwrap_or_default();
            }
            _ => {
                out.push('@');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
