//! Mentions in model output: mass and role mentions defused, `@name` resolved to a participant.

use crate::output::code::map_outside_code;

/// A participant the model may mention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// Display names the model may use for them (compared ignoring case).
    pub names: Vec<String>,
    /// The Discord user id for the mention.
    pub user_id: u64,
}

/// The longest name inside `@{...}`, `@(...)` or `@[...]`, in characters.
const MAX_BRACKETED_CHARS: usize = 80;

/// Defuses mass and role mentions everywhere, and outside code resolves `@name`, `@{name}`,
/// `@(name)` and `@[name]` to a mention of the one participant with that name; a name that
/// several participants share, or nobody has, stays text.
///
/// Security: mention abuse through model output. `@everyone`, `@here` and `<@&role>` get a
/// zero-width space after the `@` even inside code (where it costs nothing), and sending lists
/// only the resolved users in `allowed_mentions`, so a ping reaches only people already in the
/// conversation.
pub fn resolve_mentions(text: &str, participants: &[Participant]) -> String {
    // A zero-width space after "@" keeps the text readable and makes Discord ignore it.
    let defused = text
        .replace("@everyone", "@\u{200b}everyone")
        .replace("@here", "@\u{200b}here")
        .replace("<@&", "<@\u{200b}&");
    if !defused.contains('@') || participants.is_empty() {
        return defused;
    }
    map_outside_code(&defused, |segment, out| resolve_segment(segment, participants, out))
}

fn unique(participants: &[Participant], name: &str) -> Option<u64> {
    if name.is_empty() {
        return None;
    }
    let lower = name.to_lowercase();
    let mut found = participants.iter().filter(|p| {
        p.names.iter().any(|n| n.eq_ignore_ascii_case(name) || n.to_lowercase() == lower)
    });
    let first = found.next()?;
    found.next().is_none().then_some(first.user_id)
}

fn resolve_segment(text: &str, participants: &[Participant], out: &mut String) {
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        out.push_str(rest.get(..at).unwrap_or_default());
        let after = rest.get(at + 1..).unwrap_or_default();
        let preceded_by_word = out.chars().last().is_some_and(|c| c.is_alphanumeric() || c == '<');
        if !preceded_by_word
            && let Some((name, used)) = bracketed(after)
            && let Some(user_id) = unique(participants, name.trim())
        {
            out.push_str(&format!("<@{user_id}>"));
            rest = after.get(used..).unwrap_or_default();
            continue;
        }
        let end = after
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '.'))
            .map_or(after.len(), |(i, _)| i);
        let word = after.get(..end).unwrap_or_default().trim_end_matches('.');
        match unique(participants, word) {
            Some(user_id) if !preceded_by_word => {
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
}

/// `{name}`, `(name)` or `[name]` at the start of `text` (`{name|anything}` too): the name and
/// the bytes the brackets take.
fn bracketed(text: &str) -> Option<(&str, usize)> {
    let close = match text.chars().next()? {
        '{' => '}',
        '(' => ')',
        '[' => ']',
        _ => return None,
    };
    let inner = text.get(1..)?;
    let (end, _) = inner
        .char_indices()
        .take(MAX_BRACKETED_CHARS + 1)
        .find(|(_, c)| *c == close || *c == '\n')?;
    if inner.get(end..)?.starts_with('\n') {
        return None;
    }
    let name = inner.get(..end)?;
    let name = name.split_once('|').map_or(name, |(name, _)| name);
    Some((name, end + 2))
}
