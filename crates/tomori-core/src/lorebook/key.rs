//! Keys: plain text, or a regular expression written `/pattern/flags` as SillyTavern writes it,
//! and how each is found in scan text.

use std::borrow::Cow;
use std::fmt;

use regex::{Regex, RegexBuilder};

use crate::macros::{self, MacroNames};

use super::{LorebookBounds, LorebookError, one_line};

/// JavaScript's regex flags; a key ending in others is plain text (as in SillyTavern).
const JS_FLAGS: &str = "dgimsuvy";
/// Nesting a pattern may have.
const NEST_LIMIT: u32 = 32;

/// One key of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// Plain text, trimmed.
    Text(String),
    /// A regular expression.
    Regex(RegexKey),
}

/// A compiled regex key; equal when pattern and flags are.
#[derive(Clone)]
pub struct RegexKey {
    pattern: String,
    flags: String,
    regex: Regex,
}

impl fmt::Debug for RegexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}/{}", self.pattern, self.flags)
    }
}

impl PartialEq for RegexKey {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern && self.flags == other.flags
    }
}

impl Eq for RegexKey {}

impl RegexKey {
    /// The pattern, between the slashes.
    #[must_use]
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The flags after the closing slash.
    #[must_use]
    pub fn flags(&self) -> &str {
        &self.flags
    }
}

impl Key {
    /// Reads one key as SillyTavern writes it: `/pattern/flags` is a regex, anything else text.
    ///
    /// # Errors
    /// A key longer than `bounds` allow, or a pattern this engine cannot compile within them.
    pub fn parse(text: &str, bounds: &LorebookBounds) -> Result<Self, LorebookError> {
        parse(text, false, "key", bounds)
    }

    /// The key as written in a lorebook.
    #[must_use]
    pub fn written(&self) -> Cow<'_, str> {
        match self {
            Self::Text(text) => Cow::Borrowed(text),
            Self::Regex(key) => Cow::Owned(format!("/{}/{}", key.pattern, key.flags)),
        }
    }
}

/// `/pattern/flags`, split, if `text` has that form.
fn slash_form(text: &str) -> Option<(&str, &str)> {
    let (pattern, flags) = text.strip_prefix('/')?.rsplit_once('/')?;
    (!pattern.is_empty() && flags.chars().all(|c| JS_FLAGS.contains(c))).then_some((pattern, flags))
}

/// Reads a key (already trimmed, not empty); with `all_regex` (V3's `use_regex`) a key without
/// slashes is a pattern too.
pub(crate) fn parse(
    text: &str,
    all_regex: bool,
    path: &str,
    bounds: &LorebookBounds,
) -> Result<Key, LorebookError> {
    let (pattern, flags) = match slash_form(text) {
        Some(parts) => parts,
        None if all_regex => (text, ""),
        None => {
            // Security: untrusted card content; every key is scanned against every message, so
            // its length is bounded.
            let chars = text.chars().count();
            if chars > bounds.key_chars {
                return Err(LorebookError::TooLong {
                    path: path.to_owned(),
                    chars,
                    max: bounds.key_chars,
                });
            }
            return Ok(Key::Text(text.to_owned()));
        }
    };
    let regex = compile(pattern, flags, path, bounds)?;
    Ok(Key::Regex(RegexKey { pattern: pattern.to_owned(), flags: flags.to_owned(), regex }))
}

fn compile(
    pattern: &str,
    flags: &str,
    path: &str,
    bounds: &LorebookBounds,
) -> Result<Regex, LorebookError> {
    let refuse = |reason: String| LorebookError::Regex {
        path: path.to_owned(),
        pattern: one_line(&format!("/{pattern}/{flags}"), 60),
        reason,
    };
    // Security: untrusted card content; a regex key is bounded in length and compiled with size
    // limits (program and lazy DFA cache) and a nesting limit, so a hostile pattern cannot
    // exhaust memory or the stack; the engine runs in linear time (no backtracking), so no
    // pattern can make a scan take exponential time.
    let chars = pattern.chars().count();
    if chars > bounds.regex_chars {
        return Err(refuse(format!(
            "is {chars} characters long; at most {} are allowed",
            bounds.regex_chars
        )));
    }
    RegexBuilder::new(pattern)
        .case_insensitive(flags.contains('i'))
        .multi_line(flags.contains('m'))
        .dot_matches_new_line(flags.contains('s'))
        .size_limit(bounds.regex_bytes)
        .dfa_size_limit(bounds.regex_bytes)
        .nest_limit(NEST_LIMIT)
        .build()
        .map_err(|error| {
            refuse(match error {
                regex::Error::CompiledTooBig(limit) => {
                    format!("is too large: compiled, it would exceed {limit} bytes")
                }
                regex::Error::Syntax(message) => {
                    // The message quotes the pattern over several lines; its last line says why.
                    let why = message
                        .lines()
                        .rev()
                        .find_map(|line| line.strip_prefix("error: "))
                        .unwrap_or(&message);
                    format!("is not supported here: {}", one_line(why, 120))
                }
                other => format!("is not supported here: {}", one_line(&other.to_string(), 120)),
            })
        })
}

/// Scan text and its lowercase form (for keys that ignore case).
#[derive(Debug, Default)]
pub(crate) struct Haystack {
    pub(crate) raw: String,
    pub(crate) lower: String,
}

impl Haystack {
    pub(crate) fn new(raw: String) -> Self {
        let lower = raw.to_lowercase();
        Self { raw, lower }
    }
}

/// How plain keys are compared.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Matching {
    pub(crate) case_sensitive: bool,
    pub(crate) whole_words: bool,
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether plain `key` appears in `hay`.
pub(crate) fn text_matches(key: &str, hay: &Haystack, how: Matching) -> bool {
    let (needle, text) = if how.case_sensitive {
        (Cow::Borrowed(key), hay.raw.as_str())
    } else {
        (Cow::Owned(key.to_lowercase()), hay.lower.as_str())
    };
    let needle = needle.as_ref();
    if needle.is_empty() {
        return false;
    }
    if !how.whole_words || needle.split_whitespace().nth(1).is_some() {
        return text.contains(needle);
    }
    let mut from = 0;
    while let Some(found) = text.get(from..).and_then(|rest| rest.find(needle)) {
        let at = from + found;
        let before = text.get(..at).and_then(|s| s.chars().next_back());
        let after = text.get(at + needle.len()..).and_then(|s| s.chars().next());
        if !before.is_some_and(is_word) && !after.is_some_and(is_word) {
            return true;
        }
        // Overlapping occurrences are tried too: step one character, not the whole needle.
        from = at + text.get(at..).and_then(|s| s.chars().next()).map_or(1, char::len_utf8);
    }
    false
}

/// Whether `key` appears in `hay`; `names` fill in name macros of plain keys.
pub(crate) fn key_matches(
    key: &Key,
    hay: &Haystack,
    how: Matching,
    names: Option<MacroNames<'_>>,
) -> bool {
    match key {
        Key::Text(text) => match names {
            Some(names) if text.contains(['{', '<']) => {
                text_matches(&macros::substitute(text, names), hay, how)
            }
            _ => text_matches(text, hay, how),
        },
        Key::Regex(key) => key.regex.is_match(&hay.raw),
    }
}
