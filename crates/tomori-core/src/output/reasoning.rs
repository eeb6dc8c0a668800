//! Reasoning in the text: `<think>`/`<thinking>` blocks (any case), a closing tag whose opening
//! tag the model's template wrote, and reasoning the provider streamed separately that the
//! content then repeats.

use crate::output::labels::{Label, Speakers};

const OPEN_TAGS: [&str; 2] = ["<think>", "<thinking>"];
const CLOSE_TAGS: [&str; 2] = ["</think>", "</thinking>"];

enum Tag {
    Open(usize),
    Close(usize),
    /// The text could still become a tag.
    Partial,
    None,
}

/// The tag `text` (starting with `<`) starts with.
fn tag_at(text: &str) -> Tag {
    let bytes = text.as_bytes();
    let mut partial = false;
    for (tags, open) in [(OPEN_TAGS, true), (CLOSE_TAGS, false)] {
        for tag in tags {
            let tag = tag.as_bytes();
            let n = bytes.len().min(tag.len());
            let head = bytes.get(..n).unwrap_or_default();
            if !head.eq_ignore_ascii_case(tag.get(..n).unwrap_or_default()) {
                continue;
            }
            if n < tag.len() {
                partial = true;
            } else if open {
                return Tag::Open(n);
            } else {
                return Tag::Close(n);
            }
        }
    }
    if partial { Tag::Partial } else { Tag::None }
}

/// Separates reasoning blocks from visible text, in pieces.
#[derive(Debug, Clone)]
pub(crate) struct TagStage {
    /// Input that may be the start of a tag.
    pending: String,
    /// Inside a block.
    inside: bool,
    /// The open block's text.
    block: String,
    /// Whether a closing tag with no opening one can still turn the text so far into reasoning.
    decided: bool,
    /// Visible text held while that is undecided.
    hold: String,
    hold_chars: usize,
    /// How much text may be held before deciding that no block was opened by the template.
    hold_limit: usize,
    /// Reasoning found in the text, blocks separated by a blank line.
    pub(crate) reasoning: String,
    /// A closing tag came with no opening tag.
    pub(crate) lone_close: bool,
}

impl TagStage {
    pub(crate) fn new(hold_limit: usize) -> Self {
        Self {
            pending: String::new(),
            inside: false,
            block: String::new(),
            decided: hold_limit == 0,
            hold: String::new(),
            hold_chars: 0,
            hold_limit,
            reasoning: String::new(),
            lone_close: false,
        }
    }

    /// The provider streams reasoning separately, so the template did not open a block in the
    /// text: nothing is held any more.
    pub(crate) fn decide(&mut self, out: &mut String) {
        if !self.decided {
            self.decided = true;
            out.push_str(&self.hold);
            self.hold.clear();
        }
    }

    /// Adds text; visible text that is decided goes to `out`.
    pub(crate) fn push(&mut self, delta: &str, out: &mut String) {
        self.pending.push_str(delta);
        let pending = std::mem::take(&mut self.pending);
        let mut at = 0;
        while let Some(offset) = pending.get(at..).and_then(|rest| rest.find('<')) {
            let lt = at + offset;
            self.text(pending.get(at..lt).unwrap_or_default(), out);
            match tag_at(pending.get(lt..).unwrap_or_default()) {
                Tag::Partial => {
                    self.pending = pending.get(lt..).unwrap_or_default().to_owned();
                    return;
                }
                Tag::Open(len) => {
                    self.open(out);
                    at = lt + len;
                }
                Tag::Close(len) => {
                    self.close();
                    at = lt + len;
                }
                Tag::None => {
                    self.text("<", out);
                    at = lt + 1;
                }
            }
        }
        self.text(pending.get(at..).unwrap_or_default(), out);
    }

    /// No more text: a half tag at the end is text; an unclosed block ends where the persona's
    /// own label starts a line (the model forgot to close it and answered), else it is all
    /// reasoning; held text was visible after all.
    pub(crate) fn finish(&mut self, speakers: &Speakers, out: &mut String) {
        let half = std::mem::take(&mut self.pending);
        self.text(&half, out);
        if self.inside {
            self.inside = false;
            let block = std::mem::take(&mut self.block);
            let answer_at = block.match_indices('\n').map(|(i, _)| i + 1).find(|&start| {
                matches!(
                    speakers.at_line_start(block.get(start..).unwrap_or_default(), true),
                    Label::Own(_)
                )
            });
            match answer_at {
                Some(start) => {
                    push_block(&mut self.reasoning, block.get(..start).unwrap_or_default());
                    self.decide(out);
                    out.push_str(block.get(start..).unwrap_or_default());
                }
                None => push_block(&mut self.reasoning, &block),
            }
        }
        self.decide(out);
    }

    fn text(&mut self, text: &str, out: &mut String) {
        if text.is_empty() {
            return;
        }
        if self.inside {
            self.block.push_str(text);
        } else if self.decided {
            out.push_str(text);
        } else {
            self.hold.push_str(text);
            self.hold_chars += text.chars().count();
            if self.hold_chars >= self.hold_limit {
                self.decide(out);
            }
        }
    }

    fn open(&mut self, out: &mut String) {
        if self.inside {
            // Blocks do not nest: an opening tag inside one is dropped.
            return;
        }
        self.decide(out);
        self.inside = true;
    }

    fn close(&mut self) {
        if self.inside {
            self.inside = false;
            let block = std::mem::take(&mut self.block);
            push_block(&mut self.reasoning, &block);
            return;
        }
        // The template opened the block: everything before the closing tag was reasoning,
        // as far as it is still held.
        self.lone_close = true;
        if !self.decided {
            self.decided = true;
            let held = std::mem::take(&mut self.hold);
            push_block(&mut self.reasoning, &held);
        }
    }
}

fn push_block(into: &mut String, text: &str) {
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    if !into.is_empty() {
        into.push_str("\n\n");
    }
    into.push_str(text);
}

/// The fewest characters (whitespace collapsed) of streamed reasoning that content must repeat
/// before the repeat counts as a spill; shorter reasoning is never looked for, so an answer
/// that happens to start like a short thought is left alone.
pub(crate) const MIN_SPILL_CHARS: usize = 24;

/// Removes reasoning that the content repeats at its start.
#[derive(Debug, Clone)]
pub(crate) enum SpillStage {
    /// No content yet.
    Waiting,
    /// The content so far repeats the reasoning.
    Watching {
        /// The reasoning, whitespace collapsed to single spaces and trimmed.
        target: Vec<char>,
        /// How much of it the content repeated.
        matched: usize,
        /// Whitespace seen since the last matched character.
        space: bool,
        /// The content held meanwhile.
        held: String,
    },
    /// Decided: content passes through.
    Done {
        /// An echo was removed.
        removed: bool,
    },
}

fn collapse(text: &str) -> Vec<char> {
    let mut out = Vec::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars());
    }
    out
}

impl SpillStage {
    /// Adds content; `reasoning` is what the provider streamed separately so far.
    pub(crate) fn push(&mut self, text: &str, reasoning: &str, out: &mut String) {
        if text.is_empty() {
            return;
        }
        if let Self::Waiting = self {
            let target = collapse(reasoning);
            *self = if target.len() >= MIN_SPILL_CHARS {
                Self::Watching { target, matched: 0, space: false, held: String::new() }
            } else {
                Self::Done { removed: false }
            };
        }
        let Self::Watching { target, matched, space, held } = self else {
            out.push_str(text);
            return;
        };
        for (idx, c) in text.char_indices() {
            held.push(c);
            if c.is_whitespace() {
                *space |= *matched > 0;
                continue;
            }
            let mut fits = true;
            if std::mem::take(space) {
                fits = target.get(*matched) == Some(&' ');
                *matched += 1;
            }
            fits &= target.get(*matched) == Some(&c);
            *matched += 1;
            if !fits {
                out.push_str(held);
                out.push_str(text.get(idx + c.len_utf8()..).unwrap_or_default());
                *self = Self::Done { removed: false };
                return;
            }
            if *matched == target.len() {
                out.push_str(text.get(idx + c.len_utf8()..).unwrap_or_default());
                *self = Self::Done { removed: true };
                return;
            }
        }
    }

    /// No more content: a long partial repeat is an echo too; a short one was content.
    pub(crate) fn finish(&mut self, out: &mut String) {
        if let Self::Watching { matched, held, .. } = self {
            let removed = *matched >= MIN_SPILL_CHARS;
            if !removed {
                out.push_str(held);
            }
            *self = Self::Done { removed };
        }
    }
}
