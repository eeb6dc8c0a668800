//! A server's own phrases for deliberate tool mode (`/server tool-trigger`), beside the built-in
//! keywords: a phrase or a regular expression that, found in a message, asks for one family of
//! tools.
//!
//! - A phrase is matched lower-cased with its spaces collapsed, starting at a word start, as the
//!   built-in keywords are. `*` in it stands for any run of characters (`draw * for me`), and a
//!   leading `^` ties it to the start of the message (`^pic`).
//! - A regular expression is matched case-insensitively anywhere, with the `regex` crate (no
//!   look-around or back-references, linear time) and a compiled-size limit.
//!
//! TomoriBot keeps up to 16 per tool target, with literal phrases of up to 40 characters and
//! expressions of up to 120; the same bounds hold here, with 50 in all per server.

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use super::{Families, ToolFamily, starts_word};

/// The most triggers of one server.
pub const MAX_TRIGGERS: usize = 50;

/// The most triggers of one family.
pub const MAX_PER_FAMILY: usize = 16;

/// The most characters of a phrase.
pub const MAX_PHRASE_CHARS: usize = 40;

/// The most characters of a regular expression.
pub const MAX_REGEX_CHARS: usize = 120;

/// Bytes one compiled expression may take.
const REGEX_SIZE_LIMIT: usize = 64 * 1024;

/// How a trigger is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// A phrase, with `*` and a leading `^`.
    Phrase,
    /// A regular expression.
    Regex,
}

impl TriggerKind {
    /// The stored and shown name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Phrase => "phrase",
            Self::Regex => "regex",
        }
    }

    /// The kind named `name`.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "phrase" => Some(Self::Phrase),
            "regex" => Some(Self::Regex),
            _ => None,
        }
    }
}

/// One trigger as a server keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TriggerSpec {
    /// The family it asks for.
    pub family: ToolFamily,
    /// Phrase or expression.
    pub kind: TriggerKind,
    /// The phrase (normalised) or the expression (trimmed).
    pub pattern: String,
}

/// The stored form of what an admin wrote: a phrase lower-cased with its spaces collapsed, an
/// expression trimmed, each checked (an expression must compile within the limits).
///
/// # Errors
/// A sentence for the admin.
pub fn normalize(kind: TriggerKind, written: &str) -> Result<String, String> {
    if written.chars().any(char::is_control) {
        return Err("a trigger has no control characters".to_owned());
    }
    match kind {
        TriggerKind::Phrase => {
            let phrase = written.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
            let words = phrase.trim_start_matches('^').replace('*', "");
            if words.trim().is_empty() || phrase.chars().count() > MAX_PHRASE_CHARS {
                return Err(format!(
                    "a phrase is 1 to {MAX_PHRASE_CHARS} characters with at least one letter or digit"
                ));
            }
            Ok(phrase)
        }
        TriggerKind::Regex => {
            let pattern = written.trim();
            if pattern.is_empty() || pattern.chars().count() > MAX_REGEX_CHARS {
                return Err(format!("an expression is 1 to {MAX_REGEX_CHARS} characters"));
            }
            compile(pattern).map_err(|e| format!("the expression does not compile: {e}"))?;
            Ok(pattern.to_owned())
        }
    }
}

fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    // Security: denial of service through admin-written expressions. The regex crate runs in
    // linear time, and the compiled program is bounded.
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
}

enum Matcher {
    /// The phrase's pieces between `*`s, and whether it must open the message.
    Phrase {
        pieces: Vec<String>,
        anchored: bool,
    },
    Regex(Regex),
}

impl Matcher {
    fn new(spec: &TriggerSpec) -> Option<Self> {
        match spec.kind {
            TriggerKind::Phrase => {
                let anchored = spec.pattern.starts_with('^');
                let body = spec.pattern.trim_start_matches('^');
                let pieces: Vec<String> = body
                    .split('*')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect();
                (!pieces.is_empty()).then_some(Self::Phrase { pieces, anchored })
            }
            TriggerKind::Regex => compile(&spec.pattern).ok().map(Self::Regex),
        }
    }

    /// Whether the trigger is in `text` (`folded`: lower-cased with spaces collapsed).
    fn is_in(&self, text: &str, folded: &str) -> bool {
        match self {
            Self::Regex(regex) => regex.is_match(text),
            Self::Phrase { pieces, anchored } => {
                let Some((first, rest)) = pieces.split_first() else { return false };
                let starts: Vec<usize> = if *anchored {
                    if folded.starts_with(first.as_str()) { vec![0] } else { Vec::new() }
                } else {
                    folded
                        .match_indices(first.as_str())
                        .map(|(at, _)| at)
                        .filter(|at| starts_word(folded, *at))
                        .collect()
                };
                starts.into_iter().any(|at| {
                    let mut from = at + first.len();
                    rest.iter().all(|piece| {
                        match folded.get(from..).and_then(|t| t.find(piece.as_str())) {
                            Some(found) => {
                                from += found + piece.len();
                                true
                            }
                            None => false,
                        }
                    })
                })
            }
        }
    }
}

/// A server's triggers, ready to match; built once per server revision.
#[derive(Default)]
pub struct CustomTriggers {
    matchers: Vec<(ToolFamily, Matcher)>,
}

impl std::fmt::Debug for CustomTriggers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomTriggers").field("count", &self.matchers.len()).finish()
    }
}

impl CustomTriggers {
    /// The matchers of `specs`; one that no longer compiles (checked when it was added) is left
    /// out rather than failing the server's turns.
    #[must_use]
    pub fn compile(specs: &[TriggerSpec]) -> Self {
        let matchers = specs
            .iter()
            .take(MAX_TRIGGERS)
            .filter_map(|spec| Matcher::new(spec).map(|m| (spec.family, m)))
            .collect();
        Self { matchers }
    }

    /// The families `text` asks for through these triggers.
    #[must_use]
    pub fn asked_for(&self, text: &str) -> Families {
        if self.matchers.is_empty() {
            return Families::NONE;
        }
        let folded = text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
        self.matchers.iter().fold(Families::NONE, |set, (family, matcher)| {
            if !set.contains(*family) && matcher.is_in(text, &folded) {
                set.with(*family)
            } else {
                set
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(family: ToolFamily, kind: TriggerKind, written: &str) -> TriggerSpec {
        TriggerSpec { family, kind, pattern: normalize(kind, written).unwrap() }
    }

    #[test]
    fn phrases_and_expressions_are_normalised_and_checked() {
        use TriggerKind::*;
        let ok = [
            (Phrase, "  Draw   It  ", "draw it"),
            (Phrase, "^PIC", "^pic"),
            (Phrase, "draw * for me", "draw * for me"),
            (Regex, "  \\bpaint(ing)?\\b ", "\\bpaint(ing)?\\b"),
        ];
        for (kind, written, stored) in ok {
            assert_eq!(normalize(kind, written).as_deref(), Ok(stored), "{written:?}");
        }
        let long = "x".repeat(MAX_PHRASE_CHARS + 1);
        let huge = format!("{}{{1000}}", "\\w".repeat(20));
        for (kind, bad) in [
            (Phrase, ""),
            (Phrase, "  *  "),
            (Phrase, "^"),
            (Phrase, long.as_str()),
            (Phrase, "a\u{7}"),
            (Regex, "("),
            (Regex, "(?=look)"),
            (Regex, huge.as_str()),
        ] {
            assert!(normalize(kind, bad).is_err(), "{kind:?} {bad:?}");
        }
    }

    #[test]
    fn triggers_ask_for_their_family_where_they_match() {
        use ToolFamily::*;
        use TriggerKind::*;
        let triggers = CustomTriggers::compile(&[
            spec(Pictures, Phrase, "Make Art"),
            spec(Pictures, Phrase, "^pic"),
            spec(Web, Phrase, "what's * on"),
            spec(Reminders, Regex, r"\bnudge\s+me\b"),
            spec(Server, Phrase, "roll"),
        ]);
        let cases: &[(&str, &[ToolFamily])] = &[
            ("could you make   ART of a fox", &[Pictures]),
            ("pic of a cat please", &[Pictures]),
            ("a pic of a cat please", &[]),
            ("what's the weather on friday", &[Web]),
            ("what's new", &[]),
            ("NUDGE me at five", &[Reminders]),
            ("nudgeme", &[]),
            ("roll a d20", &[Server]),
            ("a scroll", &[]),
            ("hello", &[]),
        ];
        for (text, families) in cases {
            let expected = families.iter().fold(Families::NONE, |s, f| s.with(*f));
            assert_eq!(triggers.asked_for(text), expected, "{text}");
        }
        assert!(CustomTriggers::compile(&[]).asked_for("make art").is_empty());
    }
}
