//! The server's custom emoji: listed in the prompt by `:name:`, and `:name:` in the model's
//! output turned into Discord's `<:name:id>` (`<a:name:id>` when animated).
//!
//! Both are off when the server's `emoji_usage` setting is off, in role-play channels, and in
//! direct messages (which have no server emoji); see [`emoji_allowed`].

use std::fmt::Write as _;

use crate::output::code::map_outside_code;

/// A custom emoji of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEmoji {
    /// Its name (2 to 32 letters, digits or underscores, as Discord allows).
    pub name: String,
    /// Its id.
    pub id: u64,
    /// Animated (`<a:name:id>`).
    pub animated: bool,
}

/// The most emoji the prompt lists (a server can have several hundred; each costs tokens).
pub const MAX_PROMPT_EMOJI: usize = 100;

/// Whether the persona may use server emoji in this channel.
pub fn emoji_allowed(emoji_usage: bool, rp_channel: bool, is_dm: bool) -> bool {
    emoji_usage && !rp_channel && !is_dm
}

/// Whether `name` is a name Discord gives custom emoji.
pub fn valid_name(name: &str) -> bool {
    (2..=32).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The prompt block listing the emoji by `:name:`, or nothing when there are none.
///
/// Security: prompt injection through emoji names. Only names Discord could have given an emoji
/// are listed, so a name cannot carry instructions or break the block.
pub fn prompt_block(emojis: &[ServerEmoji]) -> String {
    let names: Vec<&str> = emojis
        .iter()
        .map(|e| e.name.as_str())
        .filter(|name| valid_name(name))
        .take(MAX_PROMPT_EMOJI)
        .collect();
    if names.is_empty() {
        return String::new();
    }
    let mut block = String::from(
        "\n## Server emoji\nYou may use these custom emoji by writing their code, sparingly:",
    );
    for name in names {
        let _ = write!(block, " :{name}:");
    }
    block.push('\n');
    block
}

/// Turns `:name:` outside code into the server emoji of that name (the exact name first, else
/// the one emoji whose name matches ignoring case); unknown shortcodes, and everything when
/// `enabled` is false, stay text. Existing `<:name:id>` tokens are left alone.
pub fn render_emoji(text: &str, emojis: &[ServerEmoji], enabled: bool) -> String {
    if !enabled || emojis.is_empty() || !text.contains(':') {
        return text.to_owned();
    }
    map_outside_code(text, |segment, out| render_segment(segment, emojis, out))
}

fn find<'a>(emojis: &'a [ServerEmoji], name: &str) -> Option<&'a ServerEmoji> {
    if let Some(exact) = emojis.iter().find(|e| e.name == name) {
        return Some(exact);
    }
    let mut folded = emojis.iter().filter(|e| e.name.eq_ignore_ascii_case(name));
    let first = folded.next()?;
    folded.next().is_none().then_some(first)
}

fn render_segment(text: &str, emojis: &[ServerEmoji], out: &mut String) {
    let mut rest = text;
    while let Some(at) = rest.find([':', '<']) {
        out.push_str(rest.get(..at).unwrap_or_default());
        let from = rest.get(at..).unwrap_or_default();
        if from.starts_with('<') {
            // A Discord token (`<:name:id>`, `<@id>`, `<t:...>`) is copied whole.
            let token = from.find('>').filter(|&end| {
                end < 100 && !from.get(..end).unwrap_or_default().contains(char::is_whitespace)
            });
            let used = token.map_or(1, |end| end + 1);
            out.push_str(from.get(..used).unwrap_or_default());
            rest = from.get(used..).unwrap_or_default();
            continue;
        }
        let after = from.get(1..).unwrap_or_default();
        let preceded_by_word = out.chars().last().is_some_and(char::is_alphanumeric);
        let name_len =
            after.bytes().take(33).take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
        let name = after.get(..name_len).unwrap_or_default();
        let closed = after.get(name_len..).is_some_and(|tail| tail.starts_with(':'));
        match find(emojis, name).filter(|_| closed && !preceded_by_word && valid_name(name)) {
            Some(emoji) => {
                let prefix = if emoji.animated { "a" } else { "" };
                let _ = write!(out, "<{prefix}:{}:{}>", emoji.name, emoji.id);
                rest = after.get(name_len + 1..).unwrap_or_default();
            }
            None => {
                out.push(':');
                rest = after;
            }
        }
    }
    out.push_str(rest);
}

/// Custom emoji as members write them (`<:name:id>`, `<a:name:id>`) turned into `:name:`, the
/// form the prompt lists them in: the model reads the emoji's name, not a markup of ids.
pub fn shortcodes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('<') {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        match custom_emoji(from) {
            Some((name, length)) => {
                out.push(':');
                out.push_str(name);
                out.push(':');
                rest = from.get(length..).unwrap_or_default();
            }
            None => {
                out.push('<');
                rest = from.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

/// `<:name:id>` or `<a:name:id>` at the start of `text`: the name and the markup's length.
fn custom_emoji(text: &str) -> Option<(&str, usize)> {
    let inner = text.strip_prefix("<a:").or_else(|| text.strip_prefix("<:"))?;
    let prefix = text.len() - inner.len();
    let (name, after) = inner.split_once(':')?;
    let (id, _) = after.split_once('>')?;
    let ok = valid_name(name)
        && !id.is_empty()
        && id.len() <= 20
        && id.bytes().all(|b| b.is_ascii_digit());
    ok.then_some((name, prefix + name.len() + 1 + id.len() + 1))
}

#[cfg(test)]
mod tests;
