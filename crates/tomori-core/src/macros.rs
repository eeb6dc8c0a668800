//! Name macros: `{{user}}` and `{{char}}` (SillyTavern; also its older `<USER>`, `<BOT>` and
//! `<CHAR>`) and `{user}`, `{bot}` and `{char}` (TomoriBot), in any case.
//!
//! Persona text keeps its macros as written (card import stores them, never a frozen name), and
//! they are substituted where a prompt is assembled and in the model's output: `{{user}}` becomes
//! the member the turn answers, `{{char}}` the persona speaking. Substitution is one pass, so a
//! name that itself contains a macro is never expanded again.
//!
//! [`expand`] adds SillyTavern's other prompt macros (time and date, `{{random}}`, `{{roll}}`,
//! `{{lastMessage}}`, `{{idle_duration}}`, ...); see the `expand` module.

mod expand;

pub use expand::{
    MAX_DICE, MAX_EXPANSION_BYTES, MAX_MODIFIER, MAX_SIDES, MacroContext, expand, humanize,
};

/// What the macros stand for in one turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacroNames<'a> {
    /// The member the turn answers (`{{user}}`).
    pub user: &'a str,
    /// The persona speaking (`{{char}}`).
    pub persona: &'a str,
}

/// Which name a macro stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Macro {
    /// `{{user}}` and its spellings.
    User,
    /// `{{char}}` and its spellings.
    Persona,
}

/// Every spelling, longest first where one is a prefix of another; ASCII, compared ignoring case.
const SPELLINGS: [(&str, Macro); 9] = [
    ("{{user}}", Macro::User),
    ("{{char}}", Macro::Persona),
    ("{user}", Macro::User),
    ("{bot}", Macro::Persona),
    ("{char}", Macro::Persona),
    ("<user>", Macro::User),
    ("<bot>", Macro::Persona),
    ("<char>", Macro::Persona),
    ("{{bot}}", Macro::Persona),
];

/// What a text starting at a `{` or `<` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MacroAt {
    /// A macro of this many bytes.
    Found(Macro, usize),
    /// The text so far could still become one.
    Partial,
    /// Not a macro.
    No,
}

/// The macro `text` starts with, if any.
pub(crate) fn macro_at(text: &str) -> MacroAt {
    let bytes = text.as_bytes();
    let mut partial = false;
    for (spelling, which) in SPELLINGS {
        let spelling = spelling.as_bytes();
        let n = bytes.len().min(spelling.len());
        let head = bytes.get(..n).unwrap_or_default();
        if !head.eq_ignore_ascii_case(spelling.get(..n).unwrap_or_default()) {
            continue;
        }
        if n == spelling.len() {
            return MacroAt::Found(which, n);
        }
        partial = true;
    }
    if partial { MacroAt::Partial } else { MacroAt::No }
}

impl MacroNames<'_> {
    pub(crate) fn name(&self, which: Macro) -> &str {
        match which {
            Macro::User => self.user,
            Macro::Persona => self.persona,
        }
    }
}

/// Replaces every macro in `text` with the name it stands for.
pub fn substitute(text: &str, names: MacroNames<'_>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['{', '<']) {
        out.push_str(rest.get(..at).unwrap_or_default());
        let from = rest.get(at..).unwrap_or_default();
        match macro_at(from) {
            MacroAt::Found(which, len) => {
                out.push_str(names.name(which));
                rest = from.get(len..).unwrap_or_default();
            }
            MacroAt::Partial | MacroAt::No => {
                out.push_str(from.get(..1).unwrap_or_default());
                rest = from.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

/// Rewrites the older spellings as `{{user}}` and `{{char}}`, so stored persona text reads the
/// same whatever tool wrote it and exports as SillyTavern expects.
pub fn canonical(text: &str) -> String {
    substitute(text, MacroNames { user: "{{user}}", persona: "{{char}}" })
}

#[cfg(test)]
mod tests;
