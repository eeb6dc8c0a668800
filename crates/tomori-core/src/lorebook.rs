//! Lorebooks (SillyTavern's World Info): entries of lore that enter the prompt when their keys
//! appear in the recent conversation.
//!
//! A [`Lorebook`] comes from a standalone World Info file
//! ([`Lorebook::from_world_info_json`], `{"entries": {"0": {...}}}` with SillyTavern's field
//! names) or from a card's `character_book` ([`Lorebook::from_character_book`], the V2 spec's
//! fields plus SillyTavern's extras under each entry's `extensions`), and goes back out as a
//! `character_book` ([`Lorebook::to_character_book`]) that SillyTavern reads. [`activate`] decides
//! which entries enter one prompt, where, and why.
//!
//! Activation follows SillyTavern's World Info documentation:
//! - An entry fires when it is enabled and either constant, or one of its keys appears in the
//!   newest `scan_depth` messages (the entry's own depth, else the book's, else
//!   [`DEFAULT_SCAN_DEPTH`]) or in the extra scan text, and its optional filter holds: with
//!   `selective` on and secondary keys present, AND ANY (one of them appears), AND ALL (all do),
//!   NOT ANY (none does) or NOT ALL (not all do). Then, with `use_probability` on, it passes a
//!   roll of `probability` percent (0 never, 100 always).
//! - Keys ignore case unless the entry (`case_sensitive`) says otherwise. A key of one word
//!   matches whole words only unless the entry turns `match_whole_words` off (SillyTavern's
//!   default is on); a key containing whitespace matches anywhere. Word characters are ASCII
//!   letters, digits and `_`, as in SillyTavern (so a key in Japanese matches inside Japanese
//!   text). A key written `/pattern/flags` is a regular expression and follows only its own
//!   flags (`i`, `m`, `s`; `g`, `y`, `u`, `d`, `v` are accepted and change nothing).
//! - Recursion (on unless the book turns it off): the content of each entry that fired, unless
//!   it has `prevent_recursion`, is scanned in a further pass for entries that have not fired,
//!   skipping those with `exclude_recursion`; at most [`MAX_RECURSION_PASSES`] such passes.
//! - Budget: the entries of each pass are taken constant first, then by higher `order`, while
//!   their tokens fit the budget; the first that does not fit ends the activation, and it and
//!   every later one are reported as left out. Entries found in the chat therefore come before
//!   those found through recursion.
//! - Output: the entries that fired, grouped by [`Position`] and ordered by `order` within a
//!   group (a higher order is closer to the end of the prompt), each with the reason it fired.
//!
//! Where Tomori differs from SillyTavern:
//! - Regular expressions use the `regex` crate's syntax, which has no look-around and no
//!   back-references, and name macros inside a pattern (`{{char}}`) are not expanded; such a
//!   pattern is refused when the book is read, with the key's path, rather than silently never
//!   matching. Plain keys do expand `{{user}}` and `{{char}}` when [`ScanInput::names`] is given.
//! - The scan text is each message as `name: text`, newest first, one per line (SillyTavern also
//!   puts a `\x01` before each message).
//! - Recursion stops after [`MAX_RECURSION_PASSES`] passes (SillyTavern's default has no step
//!   limit, only the budget).
//! - Not supported, ignored on import and not written on export: inclusion groups and group
//!   scoring, sticky, cooldown and delay, "delay until recursion", minimum activations,
//!   character and generation-type filters, vector matching, automation ids, and the V2 `priority`
//!   field. The outlet position (7) is refused. Unknown keys under a `character_book`'s
//!   `extensions` (book or entry) are kept and written back.
//! - V3 decorators (`@@name` lines) are kept in the stored content and left out of the text that
//!   enters a prompt.
//!
//! Security: lorebooks arrive inside character cards that strangers publish. Everything is
//! bounded ([`LorebookBounds`]): the JSON's size, the number of entries and keys, every text's
//! length, each regex's length and compiled size, the number of regex keys, the scan window and
//! the recursion depth; bad input of every kind is a [`LorebookError`] naming the field, and
//! nothing panics.

mod activate;
mod export;
mod key;
mod parse;

use serde_json::{Map, Value};

pub use activate::{
    Activation, Fired, MAX_RECURSION_CHARS, MAX_SCAN_CHARS, Reason, ScanInput, ScanMessage,
    activate,
};
pub use key::{Key, RegexKey};

/// Messages scanned when neither the entry nor the book says (SillyTavern's default).
pub const DEFAULT_SCAN_DEPTH: u32 = 2;
/// The depth of an `@ D` entry that does not say (SillyTavern's default).
pub const DEFAULT_DEPTH: u32 = 4;
/// The insertion order of an entry that does not say (SillyTavern's default).
pub const DEFAULT_ORDER: i32 = 100;
/// The largest scan depth or insertion depth accepted (SillyTavern's own maximum).
pub const MAX_DEPTH: u32 = 1_000;
/// Passes over fired entries' content after the scan of the chat.
pub const MAX_RECURSION_PASSES: u32 = 3;

/// How much of a lorebook is accepted; see the module's security note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LorebookBounds {
    /// Largest standalone World Info JSON, in bytes.
    pub json_bytes: usize,
    /// Entries in one book.
    pub entries: usize,
    /// Primary keys, and separately secondary keys, on one entry.
    pub keys_per_entry: usize,
    /// Keys of all entries together.
    pub keys_total: usize,
    /// Regex keys of all entries together (each holds a compiled program).
    pub regex_keys: usize,
    /// Characters in one plain key.
    pub key_chars: usize,
    /// Characters in one regex pattern (between the slashes).
    pub regex_chars: usize,
    /// Bytes one compiled regex may take (`regex::RegexBuilder::size_limit`, and the same again
    /// for its lazy DFA cache).
    pub regex_bytes: usize,
    /// Characters in one entry's content.
    pub content_chars: usize,
    /// Characters in a book's or an entry's name.
    pub name_chars: usize,
}

impl Default for LorebookBounds {
    fn default() -> Self {
        Self {
            json_bytes: 2 * 1024 * 1024,
            entries: 1_000,
            keys_per_entry: 64,
            keys_total: 4_000,
            regex_keys: 100,
            key_chars: 200,
            regex_chars: 200,
            regex_bytes: 64 * 1024,
            content_chars: 16_000,
            name_chars: 500,
        }
    }
}

/// A lorebook: settings and entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lorebook {
    /// The book's name (may be empty).
    pub name: String,
    /// Messages scanned for keys, unless an entry says otherwise; `None` is
    /// [`DEFAULT_SCAN_DEPTH`].
    pub scan_depth: Option<u32>,
    /// Tokens all fired entries may take together; `None` is no limit of the book's own.
    pub token_budget: Option<u32>,
    /// Whether fired entries' content can make others fire.
    pub recursive: bool,
    /// The entries, in the order they were read (World Info files: by uid).
    pub entries: Vec<LoreEntry>,
    /// Keys under the book's `extensions` that Tomori does not use, kept for export.
    pub extensions: Map<String, Value>,
}

/// How secondary keys (SillyTavern's optional filter) combine with the primary match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SelectiveLogic {
    /// At least one secondary key appears (`selectiveLogic` 0).
    #[default]
    AndAny,
    /// Not every secondary key appears (1).
    NotAll,
    /// No secondary key appears (2).
    NotAny,
    /// Every secondary key appears (3).
    AndAll,
}

/// Who an `@ D` entry speaks as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Role {
    /// A system message (`role` 0).
    #[default]
    System,
    /// A user message (1).
    User,
    /// An assistant message (2).
    Assistant,
}

/// Where an entry's content goes in the prompt. The derived order is the order groups are
/// listed in an [`Activation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Position {
    /// Before the character's definitions (`position` 0, `before_char`).
    BeforeChar,
    /// After the character's definitions (1, `after_char`).
    AfterChar,
    /// Before the example messages (5).
    BeforeExamples,
    /// After the example messages (6).
    AfterExamples,
    /// At the top of the author's note (2).
    AuthorsNoteTop,
    /// At the bottom of the author's note (3).
    AuthorsNoteBottom,
    /// Inside the chat, `depth` messages from its end (0 is after the last), as `role` (4).
    AtDepth {
        /// Messages from the end.
        depth: u32,
        /// Who it speaks as.
        role: Role,
    },
}

/// One lorebook entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoreEntry {
    /// Its id in the book (`uid` or `id`).
    pub uid: u32,
    /// Its label (`comment`, else `name`); never part of a prompt.
    pub name: String,
    /// Primary keys: one must appear for the entry to fire.
    pub keys: Vec<Key>,
    /// Secondary keys (the optional filter), used when `selective` is on.
    pub secondary_keys: Vec<Key>,
    /// Whether the secondary keys count.
    pub selective: bool,
    /// How the secondary keys count.
    pub logic: SelectiveLogic,
    /// Fires without a key.
    pub constant: bool,
    /// Fires at all.
    pub enabled: bool,
    /// Keys match case; `None` is no (the default).
    pub case_sensitive: Option<bool>,
    /// One-word keys match whole words only; `None` is yes (the default).
    pub match_whole_words: Option<bool>,
    /// Messages scanned for this entry's keys; `None` is the book's depth.
    pub scan_depth: Option<u32>,
    /// Insertion order: within a position, higher goes closer to the end.
    pub order: i32,
    /// Where the content goes.
    pub position: Position,
    /// Chance in percent (0 to 100) that a fired entry is inserted, when `use_probability`.
    pub probability: u8,
    /// Whether `probability` applies.
    pub use_probability: bool,
    /// Never fired by another entry's content.
    pub exclude_recursion: bool,
    /// Its content never fires other entries.
    pub prevent_recursion: bool,
    /// The text inserted into the prompt.
    pub content: String,
    /// Keys under the entry's `extensions` that Tomori does not use, kept for export.
    pub extensions: Map<String, Value>,
}

impl Default for LoreEntry {
    fn default() -> Self {
        Self {
            uid: 0,
            name: String::new(),
            keys: Vec::new(),
            secondary_keys: Vec::new(),
            selective: false,
            logic: SelectiveLogic::AndAny,
            constant: false,
            enabled: true,
            case_sensitive: None,
            match_whole_words: None,
            scan_depth: None,
            order: DEFAULT_ORDER,
            position: Position::BeforeChar,
            probability: 100,
            use_probability: false,
            exclude_recursion: false,
            prevent_recursion: false,
            content: String::new(),
            extensions: Map::new(),
        }
    }
}

/// Why a lorebook was refused; the message names the field in one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LorebookError {
    /// The JSON is larger than accepted.
    #[error("the lorebook is {size} bytes; at most {max} bytes are accepted")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The cap.
        max: usize,
    },
    /// Not UTF-8 or not JSON.
    #[error("the lorebook is not valid JSON: {0}")]
    Json(String),
    /// A field with the wrong type or value.
    #[error("{path} {reason}")]
    Field {
        /// Where, e.g. `entries[3].keys`.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// More items than allowed.
    #[error("{path} has {count} items; at most {max} are allowed")]
    TooMany {
        /// Which list (or `keys of all entries`).
        path: String,
        /// How many.
        count: usize,
        /// The cap.
        max: usize,
    },
    /// A text longer than allowed.
    #[error("{path} is {chars} characters long; at most {max} are allowed")]
    TooLong {
        /// Which text.
        path: String,
        /// Its length.
        chars: usize,
        /// The cap.
        max: usize,
    },
    /// A regex key that cannot be used.
    #[error("{path}: the regex {pattern} {reason}")]
    Regex {
        /// Which key.
        path: String,
        /// The key as written (shortened).
        pattern: String,
        /// Why.
        reason: String,
    },
}

impl Lorebook {
    /// Reads a standalone SillyTavern World Info file.
    ///
    /// # Errors
    /// See [`LorebookError`]: too large, not JSON, a field of the wrong type or value, or more
    /// or longer than `bounds` allow.
    pub fn from_world_info_json(
        bytes: &[u8],
        bounds: &LorebookBounds,
    ) -> Result<Self, LorebookError> {
        parse::world_info(bytes, bounds)
    }

    /// Reads a card's `character_book` object (V2, with SillyTavern's extensions; V3's
    /// `use_regex` makes every key a pattern).
    ///
    /// # Errors
    /// As [`Lorebook::from_world_info_json`].
    pub fn from_character_book(
        book: &Value,
        bounds: &LorebookBounds,
    ) -> Result<Self, LorebookError> {
        parse::character_book(book, bounds)
    }

    /// The book as a V2 `character_book`, with SillyTavern's extras under each entry's
    /// `extensions` so that SillyTavern reads every setting back.
    #[must_use]
    pub fn to_character_book(&self) -> Value {
        export::character_book(self)
    }
}

/// A message that quotes input, made one short line: control characters become spaces.
fn one_line(message: &str, max_chars: usize) -> String {
    let mut out: String =
        message.chars().take(max_chars).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if message.chars().nth(max_chars).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests;
