//! Which entries fire for one prompt; see the module documentation of `lorebook` for the rules.

use super::key::{Haystack, Matching, key_matches};
use super::{DEFAULT_SCAN_DEPTH, Key, LoreEntry, Lorebook, MAX_RECURSION_PASSES, Position};
use super::{SelectiveLogic, one_line};
use crate::macros::MacroNames;

/// Characters of chat scanned for keys, newest first, whatever the scan depth.
pub const MAX_SCAN_CHARS: usize = 32 * 1024;
/// Characters of fired entries' content scanned by recursion, all passes together.
pub const MAX_RECURSION_CHARS: usize = 32 * 1024;

/// One message of the conversation, as scanned.
#[derive(Debug, Clone, Copy)]
pub struct ScanMessage<'a> {
    /// Who wrote it; scanned as `name: text` when given.
    pub name: Option<&'a str>,
    /// What it says.
    pub text: &'a str,
}

/// What one activation scans.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanInput<'a> {
    /// Recent messages, newest first.
    pub messages: &'a [ScanMessage<'a>],
    /// Text scanned whatever the depth (an author's note, a command's sample text).
    pub extra: &'a [&'a str],
    /// Fills in `{{user}}` and `{{char}}` in plain keys.
    pub names: Option<MacroNames<'a>>,
    /// The caller's token budget for lore; the smaller of this and the book's applies.
    pub token_budget: Option<usize>,
}

/// Why an entry fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// It is constant.
    Constant,
    /// A key matched.
    Key {
        /// The primary key that matched, as written.
        key: String,
        /// The secondary key that matched (AND ANY and AND ALL), as written.
        secondary: Option<String>,
    },
}

/// An entry that fired (or would have, for [`Activation::left_out`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// Its index in [`Lorebook::entries`].
    pub index: usize,
    /// Its uid.
    pub uid: u32,
    /// Its label.
    pub name: String,
    /// Where it goes.
    pub position: Position,
    /// Its insertion order.
    pub order: i32,
    /// Its content as it enters the prompt (decorator lines removed).
    pub content: String,
    /// Its tokens, as the caller counts them.
    pub tokens: usize,
    /// Why it fired.
    pub reason: Reason,
    /// 0 when found in the chat, `n` when found in the content of entries in recursion pass `n`.
    pub pass: u32,
}

/// The outcome of [`activate`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activation {
    /// Entries in the prompt, grouped by position (in [`Position`]'s order) and ordered by
    /// insertion order within a group (ties: book order).
    pub fired: Vec<Fired>,
    /// Entries that fired but did not fit the token budget, in priority order.
    pub left_out: Vec<Fired>,
    /// Indices of entries whose keys matched but whose probability roll failed.
    pub rolled_out: Vec<usize>,
    /// Tokens of the entries in `fired`.
    pub tokens: usize,
}

impl Activation {
    /// The fired entries at `position`, in order.
    pub fn at(&self, position: Position) -> impl Iterator<Item = &Fired> {
        self.fired.iter().filter(move |fired| fired.position == position)
    }

    /// The text for `position`: its entries' content, one after another on separate lines.
    #[must_use]
    pub fn text(&self, position: Position) -> String {
        let parts: Vec<&str> = self.at(position).map(|fired| fired.content.as_str()).collect();
        parts.join("\n")
    }

    /// The distinct positions that have entries, in order.
    #[must_use]
    pub fn positions(&self) -> Vec<Position> {
        let mut positions: Vec<Position> = self.fired.iter().map(|f| f.position).collect();
        positions.dedup();
        positions
    }
}

/// Where each entry stands during an activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Done,
}

/// Up to `max` characters of `text`, from its start.
fn prefix(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => text.get(..at).unwrap_or(text),
        None => text,
    }
}

/// The chat text within `depth` messages, plus the extra text and (in recursion passes) the
/// fired entries' content.
fn haystack(scan: &ScanInput<'_>, depth: u32, recursion: &str) -> Haystack {
    let mut text = String::new();
    let depth = usize::try_from(depth).unwrap_or(usize::MAX);
    for message in scan.messages.iter().take(depth) {
        // Security: member-written text; the chat scanned is bounded whatever the depth, so a
        // deep scan of long messages cannot multiply into unbounded key searches.
        let room = MAX_SCAN_CHARS.saturating_sub(text.chars().count());
        if room == 0 {
            break;
        }
        let line = match message.name {
            Some(name) => format!("{name}: {}\n", message.text),
            None => format!("{}\n", message.text),
        };
        text.push_str(prefix(&line, room));
    }
    for extra in scan.extra {
        text.push_str(extra);
        text.push('\n');
    }
    text.push_str(recursion);
    Haystack::new(text)
}

/// The first key of `keys` that matches, as written.
fn first_match(
    keys: &[Key],
    hay: &Haystack,
    how: Matching,
    names: Option<MacroNames<'_>>,
) -> Option<String> {
    keys.iter().find(|key| key_matches(key, hay, how, names)).map(|key| key.written().into_owned())
}

/// Why `entry` fires on `hay`, if it does.
fn reason(entry: &LoreEntry, hay: &Haystack, names: Option<MacroNames<'_>>) -> Option<Reason> {
    if entry.constant {
        return Some(Reason::Constant);
    }
    let how = Matching {
        case_sensitive: entry.case_sensitive.unwrap_or(false),
        whole_words: entry.match_whole_words.unwrap_or(true),
    };
    let key = first_match(&entry.keys, hay, how, names)?;
    if !entry.selective || entry.secondary_keys.is_empty() {
        return Some(Reason::Key { key, secondary: None });
    }
    let secondary = &entry.secondary_keys;
    let matched = |k: &Key| key_matches(k, hay, how, names);
    let (holds, secondary) = match entry.logic {
        SelectiveLogic::AndAny => {
            let found = first_match(secondary, hay, how, names);
            (found.is_some(), found)
        }
        SelectiveLogic::AndAll => {
            (secondary.iter().all(matched), secondary.first().map(|k| k.written().into_owned()))
        }
        SelectiveLogic::NotAny => (!secondary.iter().any(matched), None),
        SelectiveLogic::NotAll => (!secondary.iter().all(matched), None),
    };
    holds.then_some(Reason::Key { key, secondary })
}

/// Whether a fired entry passes its probability roll.
fn rolls_in(entry: &LoreEntry, rng: &mut impl FnMut() -> u64) -> bool {
    if !entry.use_probability || entry.probability >= 100 {
        return true;
    }
    rng() % 100 < u64::from(entry.probability)
}

/// Content as it enters a prompt: V3 decorator lines (`@@name value`) are instructions to a
/// lorebook engine, not text.
fn without_decorators(content: &str) -> String {
    if !content.contains("@@") {
        return content.to_owned();
    }
    let lines: Vec<&str> =
        content.lines().filter(|line| !line.trim_start().starts_with("@@")).collect();
    lines.join("\n").trim().to_owned()
}

/// One activation in progress.
struct Run<'a, 's> {
    book: &'a Lorebook,
    scan: &'a ScanInput<'s>,
    names: Option<MacroNames<'s>>,
    budget: Option<usize>,
    state: Vec<State>,
    recursion: String,
    full: bool,
    out: Activation,
}

impl Run<'_, '_> {
    /// The entries that match in `pass` and pass their roll.
    fn scan_pass(&mut self, pass: u32, rng: &mut impl FnMut() -> u64) -> Vec<(usize, Reason)> {
        let book_depth = self.book.scan_depth.unwrap_or(DEFAULT_SCAN_DEPTH);
        // One haystack per distinct scan depth in this pass.
        let mut haystacks: Vec<(u32, Haystack)> = Vec::new();
        let mut found = Vec::new();
        for (index, entry) in self.book.entries.iter().enumerate() {
            let waiting = self.state.get(index) == Some(&State::Waiting);
            let recursion_only = entry.exclude_recursion || entry.constant;
            if !waiting || !entry.enabled || (pass > 0 && recursion_only) {
                continue;
            }
            let depth = entry.scan_depth.unwrap_or(book_depth);
            let at = haystacks.iter().position(|(d, _)| *d == depth).unwrap_or_else(|| {
                haystacks.push((depth, haystack(self.scan, depth, &self.recursion)));
                haystacks.len() - 1
            });
            let Some((_, hay)) = haystacks.get(at) else { continue };
            let Some(why) = reason(entry, hay, self.names) else { continue };
            // A failed roll stands for the whole activation: the entry is not tried again.
            if let Some(slot) = self.state.get_mut(index) {
                *slot = State::Done;
            }
            if rolls_in(entry, rng) {
                found.push((index, why));
            } else {
                self.out.rolled_out.push(index);
            }
        }
        found
    }

    /// Takes a pass's entries in priority order while they fit the budget.
    fn admit(
        &mut self,
        pass: u32,
        mut found: Vec<(usize, Reason)>,
        count: &impl Fn(&str) -> usize,
    ) {
        let entries = &self.book.entries;
        found.sort_by_key(|(index, _)| {
            let entry = entries.get(*index);
            let constant = entry.is_some_and(|e| e.constant);
            (!constant, std::cmp::Reverse(entry.map_or(0, |e| e.order)), *index)
        });
        for (index, reason) in found {
            let Some(entry) = entries.get(index) else { continue };
            let content = without_decorators(&entry.content);
            let tokens = count(&content);
            let fired = Fired {
                index,
                uid: entry.uid,
                name: entry.name.clone(),
                position: entry.position,
                order: entry.order,
                content,
                tokens,
                reason,
                pass,
            };
            let over = self.budget.is_some_and(|b| self.out.tokens.saturating_add(tokens) > b);
            if self.full || over {
                self.full = true;
                self.out.left_out.push(fired);
                continue;
            }
            self.out.tokens += tokens;
            if !entry.prevent_recursion {
                // Security: card content feeds further scans; what recursion scans is bounded.
                let room = MAX_RECURSION_CHARS.saturating_sub(self.recursion.chars().count());
                self.recursion.push_str(prefix(&fired.content, room));
                self.recursion.push('\n');
            }
            self.out.fired.push(fired);
        }
    }
}

/// The entries of `book` that fire for `scan`.
///
/// `rng` is asked for one number per probability roll (an entry with `use_probability` and a
/// probability below 100 whose keys matched); `count_tokens` measures each fired entry's
/// content for the budget. The result depends on nothing else.
pub fn activate(
    book: &Lorebook,
    scan: &ScanInput<'_>,
    rng: &mut impl FnMut() -> u64,
    count_tokens: impl Fn(&str) -> usize,
) -> Activation {
    let book_budget = book.token_budget.and_then(|b| usize::try_from(b).ok());
    let budget = match (book_budget, scan.token_budget) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let mut run = Run {
        book,
        scan,
        names: scan.names,
        budget,
        state: vec![State::Waiting; book.entries.len()],
        recursion: String::new(),
        full: false,
        out: Activation::default(),
    };
    let passes = if book.recursive { 1 + MAX_RECURSION_PASSES } else { 1 };
    for pass in 0..passes {
        let found = run.scan_pass(pass, rng);
        if found.is_empty() {
            break;
        }
        run.admit(pass, found, &count_tokens);
        if run.full {
            break;
        }
    }
    let mut out = run.out;
    out.fired.sort_by_key(|fired| (fired.position, fired.order, fired.index));
    out
}

impl std::fmt::Display for Fired {
    /// One line for a "which entries fire?" report.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let label = if self.name.is_empty() { format!("#{}", self.uid) } else { self.name.clone() };
        write!(f, "{} ({:?}, order {}): ", one_line(&label, 60), self.position, self.order)?;
        match &self.reason {
            Reason::Constant => write!(f, "constant")?,
            Reason::Key { key, secondary } => {
                write!(f, "key {:?}", one_line(key, 60))?;
                if let Some(secondary) = secondary {
                    write!(f, " with {:?}", one_line(secondary, 60))?;
                }
            }
        }
        if self.pass > 0 {
            write!(f, ", through recursion (pass {})", self.pass)?;
        }
        Ok(())
    }
}
