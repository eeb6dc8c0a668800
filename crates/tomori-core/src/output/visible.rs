//! The streaming stage that sees the text after reasoning is gone: speaker labels, macros, tool
//! calls written as text, and surrounding whitespace, each only outside code.
//!
//! It reads its input in pieces and releases what is decided. It holds back only what could
//! still change: the start of a line until it is known whether a label begins there (at most a
//! name and its decoration), a space followed by what could become the persona's own label, a
//! half macro, a run of backticks that may grow, a line that may be a tool call until the call
//! ends (at most [`tool_text::MAX_CALL_BYTES`]), and trailing whitespace.

use crate::macros::{MacroAt, MacroNames, macro_at};
use crate::output::code::backtick_run;
use crate::output::labels::{Label, Speakers};
use crate::output::tool_text::{self, Candidate, KnownTool, TextToolCall};

/// Names that `{{user}}` and `{{char}}` stand for in output, owned.
#[derive(Debug, Clone)]
pub(crate) struct OwnedNames {
    pub(crate) user: String,
    pub(crate) persona: String,
}

#[derive(Debug, Clone)]
pub(crate) struct VisibleStage {
    speakers: Speakers,
    macros: Option<OwnedNames>,
    tools: Vec<KnownTool>,
    /// Input not yet decided.
    pending: String,
    /// Decided text not yet taken.
    out: String,
    /// Whitespace that goes out only when something visible follows it.
    held_space: String,
    /// The next character starts a line.
    line_start: bool,
    /// The next character may start a tool call.
    check_tool: bool,
    /// Inside a fenced code block.
    fence: bool,
    /// The length of the backtick run that opened inline code, 0 outside it.
    inline: usize,
    /// The last visible character ended a sentence (closing quotes after it allowed).
    sentence: bool,
    /// ... with CJK punctuation, after which a label may follow without a space.
    cjk_sentence: bool,
    /// Something visible went out.
    started: bool,
    /// Another speaker's label started a line: the answer ended there.
    ended: Option<String>,
    tool_calls: Vec<TextToolCall>,
}

fn is_sentence_end(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…')
}

fn is_cjk_sentence_end(c: char) -> bool {
    matches!(c, '。' | '！' | '？')
}

/// Characters the stage must look at one by one (in code, only what ends code or a line).
fn is_special(c: char, code: bool) -> bool {
    if c.is_whitespace() || c == '`' {
        return true;
    }
    !code
        && (matches!(c, '{' | '<') || is_sentence_end(c) || is_cjk_sentence_end(c) || is_closer(c))
}

fn is_closer(c: char) -> bool {
    matches!(c, '"' | '\'' | '”' | '’' | ')' | '」' | '』' | '*' | '_' | '~')
}

impl VisibleStage {
    pub(crate) fn new(
        speakers: Speakers,
        macros: Option<OwnedNames>,
        tools: Vec<KnownTool>,
    ) -> Self {
        Self {
            speakers,
            macros,
            tools,
            pending: String::new(),
            out: String::new(),
            held_space: String::new(),
            line_start: true,
            check_tool: true,
            fence: false,
            inline: 0,
            sentence: false,
            cjk_sentence: false,
            started: false,
            ended: None,
            tool_calls: Vec::new(),
        }
    }

    pub(crate) fn speakers(&self) -> &Speakers {
        &self.speakers
    }

    /// The other speaker whose label ended the answer.
    pub(crate) fn ended(&self) -> Option<&str> {
        self.ended.as_deref()
    }

    pub(crate) fn take_tool_calls(&mut self) -> Vec<TextToolCall> {
        std::mem::take(&mut self.tool_calls)
    }

    pub(crate) fn push(&mut self, text: &str) {
        if self.ended.is_none() {
            self.pending.push_str(text);
            self.run(false);
        }
    }

    /// No more text will come: decides everything held.
    pub(crate) fn finish(&mut self) {
        self.run(true);
        self.pending.clear();
        self.held_space.clear();
    }

    /// Moves the decided text to `into`.
    pub(crate) fn drain_into(&mut self, into: &mut String) {
        into.push_str(&self.out);
        self.out.clear();
    }

    fn run(&mut self, end: bool) {
        let mut pending = std::mem::take(&mut self.pending);
        let mut at = 0;
        while at < pending.len() && self.ended.is_none() {
            let rest = pending.get(at..).unwrap_or_default();
            match self.step(rest, end) {
                Some(used) => at += used,
                None => break,
            }
        }
        if self.ended.is_some() {
            at = pending.len();
        }
        pending.drain(..at);
        self.pending = pending;
    }

    /// Decides the start of `rest`: the bytes it used, or `None` to wait for more text.
    fn step(&mut self, rest: &str, end: bool) -> Option<usize> {
        if self.line_start {
            self.line_start = false;
            if !self.fence {
                match self.speakers.at_line_start(rest, end) {
                    Label::More => {
                        self.line_start = true;
                        return None;
                    }
                    Label::Own(used) => {
                        self.sentence = false;
                        return Some(used);
                    }
                    Label::Other(name) => {
                        self.ended = Some(name);
                        return Some(rest.len());
                    }
                    Label::No => {}
                }
            }
        }
        if self.check_tool {
            match self.tool_call(rest, end) {
                Some(Some(used)) => return Some(used),
                Some(None) => {}
                None => return None,
            }
        }
        // Most text is plain: a run without spaces, backticks, macros or punctuation goes out
        // whole.
        if !self.cjk_sentence {
            let code = self.fence || self.inline > 0;
            let plain = rest.find(|c| is_special(c, code)).unwrap_or(rest.len());
            if plain > 0 {
                let run = rest.get(..plain).unwrap_or_default();
                self.out.push_str(&self.held_space);
                self.held_space.clear();
                self.out.push_str(run);
                self.started = true;
                self.sentence = false;
                return Some(plain);
            }
        }
        let c = rest.chars().next()?;
        if c == '`' {
            return self.backticks(rest, end);
        }
        if c == '\n' {
            self.emit('\n');
            self.inline = 0;
            self.line_start = true;
            self.check_tool = true;
            self.sentence = false;
            self.cjk_sentence = false;
            return Some(1);
        }
        if !self.fence && self.inline == 0 {
            if c == ' ' || c == '\t' {
                return self.space(rest, end);
            }
            if self.cjk_sentence {
                self.cjk_sentence = false;
                match self.speakers.own_within_line(rest, end) {
                    Label::More => {
                        self.cjk_sentence = true;
                        return None;
                    }
                    Label::Own(used) => {
                        self.emit('\n');
                        self.sentence = false;
                        return Some(used);
                    }
                    Label::Other(_) | Label::No => {}
                }
            }
            if c == '{' || c == '<' {
                match self.macro_here(rest, end) {
                    Some(Some(used)) => return Some(used),
                    Some(None) => {}
                    None => return None,
                }
            }
            if is_sentence_end(c) {
                self.sentence = true;
            } else if is_cjk_sentence_end(c) {
                self.sentence = true;
                self.cjk_sentence = true;
            } else if !is_closer(c) {
                self.sentence = false;
            }
        }
        self.emit(c);
        Some(c.len_utf8())
    }

    /// A macro at this position: `Some(Some(used))` when one was replaced, `Some(None)` when
    /// there is none, `None` to wait.
    fn macro_here(&mut self, rest: &str, end: bool) -> Option<Option<usize>> {
        let Some(names) = &self.macros else { return Some(None) };
        match macro_at(rest) {
            MacroAt::Partial if !end => None,
            MacroAt::Found(which, used) => {
                let names = MacroNames { user: &names.user, persona: &names.persona };
                let name = names.name(which).to_owned();
                name.chars().for_each(|c| self.emit(c));
                self.sentence = false;
                Some(Some(used))
            }
            MacroAt::Partial | MacroAt::No => Some(None),
        }
    }

    /// A tool call written as text at this position: `Some(Some(used))` when one was taken,
    /// `Some(None)` when there is none, `None` to wait.
    fn tool_call(&mut self, rest: &str, end: bool) -> Option<Option<usize>> {
        self.check_tool = false;
        let full = self.tool_calls.len() >= tool_text::MAX_CALLS;
        if self.tools.is_empty() || self.fence || self.inline > 0 || full {
            return Some(None);
        }
        match tool_text::candidate(rest, &self.tools, end) {
            Candidate::More => {
                self.check_tool = true;
                None
            }
            Candidate::No => Some(None),
            Candidate::Complete(used) => {
                let text = rest.get(..used).unwrap_or_default();
                let Some(calls) = tool_text::parse_candidate(text, &self.tools) else {
                    return Some(None);
                };
                let room = tool_text::MAX_CALLS - self.tool_calls.len();
                self.tool_calls.extend(calls.into_iter().take(room));
                // The call took its whole line: what follows starts a new one.
                self.line_start = true;
                self.check_tool = true;
                Some(Some(used))
            }
        }
    }

    fn backticks(&mut self, rest: &str, end: bool) -> Option<usize> {
        let run = backtick_run(rest.as_bytes(), 0);
        if run == rest.len() && !end {
            // The run may grow: "``" and "```" mean different things.
            return None;
        }
        if self.fence {
            self.fence = run < 3;
        } else if self.inline == run {
            self.inline = 0;
        } else if self.inline == 0 {
            if run >= 3 {
                self.fence = true;
            } else {
                self.inline = run;
            }
        }
        (0..run).for_each(|_| self.emit('`'));
        self.sentence = false;
        Some(run)
    }

    /// Spaces within a line outside code: the persona's own label may follow, repeated after a
    /// sentence (it becomes a line break) or trailing at the very end (it goes).
    fn space(&mut self, rest: &str, end: bool) -> Option<usize> {
        let blank = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        let after = rest.get(blank..).unwrap_or_default();
        if after.is_empty() {
            return end.then_some(blank);
        }
        match self.speakers.own_within_line(after, end) {
            Label::More => return None,
            Label::Own(used) => {
                if self.sentence {
                    self.emit('\n');
                    self.sentence = false;
                    return Some(blank + used);
                }
                let tail = after.get(used..).unwrap_or_default();
                if tail.trim().is_empty() {
                    return end.then_some(blank + used + tail.len());
                }
            }
            Label::Other(_) | Label::No => {}
        }
        rest.get(..blank).unwrap_or_default().chars().for_each(|c| self.emit(c));
        Some(blank)
    }

    fn emit(&mut self, c: char) {
        if c.is_whitespace() {
            if self.started {
                self.held_space.push(c);
            }
            return;
        }
        self.out.push_str(&self.held_space);
        self.held_space.clear();
        self.out.push(c);
        self.started = true;
    }
}
