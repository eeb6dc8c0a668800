//! [`AnswerFilter`]: model output as it streams in, turned into what the persona meant to say.
//!
//! # How the engine uses it
//!
//! One filter per generation attempt (a retry gets a new one):
//!
//! 1. `AnswerFilter::new(&FilterSetup { .. })` with the speaking persona, the server's other
//!    personas, the member the turn answers (for `{{user}}`), what is known about the model's
//!    reasoning blocks ([`Thinking`]) and the tools offered this turn ([`KnownTool`]).
//! 2. For each `StreamEvent::Reasoning(delta)`: [`AnswerFilter::push_reasoning`].
//! 3. For each `StreamEvent::Text(delta)`: [`AnswerFilter::push_text`] returns the visible text
//!    it releases now (often empty); append it to the unsent buffer and let
//!    [`crate::flush::take_message`] say what may be sent. When [`AnswerFilter::ended`] turns
//!    true, another speaker has taken over: stop the generation (cancel the stream) and go on
//!    as if it had finished.
//! 4. At the end of the stream: [`AnswerFilter::finish`]. Append [`Finished::rest`] to the
//!    unsent buffer and flush it to the end. Then act on [`Finished::tool_calls`] (calls the
//!    model wrote as text: run them through the gate like structured calls) and on
//!    [`Finished::verdict`]: `Answer` is delivered; `Empty`, `OnlyReasoning` and
//!    `OtherSpeaker` mean nothing was said, so retry the generation once (for `OtherSpeaker`
//!    with a note to speak only as the persona), then tell the addressed member that no answer
//!    came, and count no quota for it. Send [`Finished::reasoning`] to the thought log. When
//!    [`Finished::lone_close`] is true, remember for this model that its template opens the
//!    block and pass [`Thinking::TemplateOpens`] from then on.
//!
//! # What is held back, and the latency it costs
//!
//! Nothing visible is released from inside a `<think>` block, and never half a tag (`<thi`).
//! Models whose chat template writes the opening `<think>` itself (DeepSeek-R1 and its
//! distillations) send only the closing tag, so until a tag or the provider's reasoning channel
//! settles it, the text so far may be reasoning:
//!
//! - With [`Thinking::TemplateOpens`], the filter holds everything until the first closing
//!   tag (then what came before it is reasoning), an opening tag, or the end. The cost is the
//!   whole reasoning's duration, which is spent anyway since none of it is shown, plus, for an
//!   answer with no tag at all, the whole answer: it goes out at the end.
//! - With [`Thinking::Unknown`], it holds at most [`UNDECIDED_HOLD_CHARS`] characters (about
//!   a second of streaming at usual speeds, roughly two sentences; the first message of a
//!   humanized answer waits that long), then releases. A closing tag that comes later still
//!   ends the block (what is still unreleased before it goes to reasoning), and the finish
//!   reports `lone_close` so the engine can switch this model to `TemplateOpens`.
//! - As soon as the provider streams reasoning separately, nothing is held for this.
//!
//! Reasoning spill (content that starts by repeating the streamed reasoning) is held only
//! while the content keeps repeating it, so an ordinary answer is delayed by a few characters.

use crate::output::labels::Speakers;
use crate::output::reasoning::{SpillStage, TagStage};
use crate::output::tool_text::{KnownTool, TextToolCall};
use crate::output::visible::{OwnedNames, VisibleStage};

/// Characters of visible text held, with [`Thinking::Unknown`], before deciding that the model's
/// template did not open a reasoning block.
pub const UNDECIDED_HOLD_CHARS: usize = 240;

/// What is known about the model's reasoning blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Thinking {
    /// Nothing known: text is held until a tag decides or [`UNDECIDED_HOLD_CHARS`] arrived.
    #[default]
    Unknown,
    /// The model's template opens the block itself (it was seen sending a closing tag with no
    /// opening one): text is held until a tag or the end.
    TemplateOpens,
}

/// What a filter needs to know about the turn.
#[derive(Debug, Clone, Copy)]
pub struct FilterSetup<'a> {
    /// The persona speaking.
    pub persona: &'a str,
    /// The server's other personas (their labels end the answer).
    pub other_personas: &'a [&'a str],
    /// The member the turn answers (what `{{user}}` in the output becomes).
    pub member: &'a str,
    /// What is known about the model's reasoning blocks.
    pub thinking: Thinking,
    /// The tools offered this turn, for calls the model writes as text.
    pub tools: &'a [KnownTool],
}

/// What a finished answer amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Something visible to send.
    Answer,
    /// Nothing at all.
    Empty,
    /// The model thought but said nothing.
    OnlyReasoning,
    /// The answer opened as another speaker (this one), so nothing of it is the persona's.
    OtherSpeaker(String),
}

/// The end of a filtered answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// Visible text released only now.
    pub rest: String,
    /// The whole visible answer: everything released, then `rest`.
    pub visible: String,
    /// The reasoning: the provider's, then the blocks found in the text.
    pub reasoning: String,
    /// What the answer amounts to.
    pub verdict: Verdict,
    /// A closing tag came with no opening one: this model's template opens the block.
    pub lone_close: bool,
    /// The streamed reasoning was repeated at the start of the content and removed.
    pub spill_removed: bool,
    /// Tool calls the model wrote as text (taken out of the visible text).
    pub tool_calls: Vec<TextToolCall>,
}

/// Model output in, visible text out; see the module documentation.
#[derive(Debug, Clone)]
pub struct AnswerFilter {
    tags: TagStage,
    spill: SpillStage,
    visible: VisibleStage,
    provider_reasoning: String,
    released: String,
    scratch: String,
    spilled: String,
}

impl AnswerFilter {
    /// A filter for one generation.
    pub fn new(setup: &FilterSetup<'_>) -> Self {
        let hold_limit = match setup.thinking {
            Thinking::Unknown => UNDECIDED_HOLD_CHARS,
            Thinking::TemplateOpens => usize::MAX,
        };
        let names = OwnedNames { user: setup.member.to_owned(), persona: setup.persona.to_owned() };
        Self {
            tags: TagStage::new(hold_limit),
            spill: SpillStage::Waiting,
            visible: VisibleStage::new(
                Speakers::new(setup.persona, setup.other_personas),
                Some(names),
                setup.tools.to_vec(),
            ),
            provider_reasoning: String::new(),
            released: String::new(),
            scratch: String::new(),
            spilled: String::new(),
        }
    }

    /// Adds reasoning the provider streamed separately.
    pub fn push_reasoning(&mut self, delta: &str) {
        self.provider_reasoning.push_str(delta);
    }

    /// Adds answer text; returns the visible text released by it (possibly empty).
    pub fn push_text(&mut self, delta: &str) -> &str {
        let start = self.released.len();
        self.scratch.clear();
        if !self.provider_reasoning.trim().is_empty() {
            self.tags.decide(&mut self.scratch);
        }
        self.tags.push(delta, &mut self.scratch);
        self.spilled.clear();
        self.spill.push(&self.scratch, &self.provider_reasoning, &mut self.spilled);
        self.visible.push(&self.spilled);
        self.visible.drain_into(&mut self.released);
        self.released.get(start..).unwrap_or_default()
    }

    /// Another speaker's label started a line: nothing more of this generation will be shown,
    /// so it may be stopped.
    pub fn ended(&self) -> bool {
        self.visible.ended().is_some()
    }

    /// Visible text released so far.
    pub fn released(&self) -> &str {
        &self.released
    }

    /// Ends the answer: releases what was held and says what the answer amounts to.
    pub fn finish(mut self) -> Finished {
        self.scratch.clear();
        self.tags.finish(self.visible.speakers(), &mut self.scratch);
        self.spilled.clear();
        self.spill.push(&self.scratch, &self.provider_reasoning, &mut self.spilled);
        self.spill.finish(&mut self.spilled);
        self.visible.push(&self.spilled);
        self.visible.finish();
        let mut rest = String::new();
        self.visible.drain_into(&mut rest);
        let mut visible = std::mem::take(&mut self.released);
        visible.push_str(&rest);
        let mut reasoning = self.provider_reasoning.trim().to_owned();
        if !self.tags.reasoning.is_empty() {
            if !reasoning.is_empty() {
                reasoning.push_str("\n\n");
            }
            reasoning.push_str(&self.tags.reasoning);
        }
        let verdict = if !visible.trim().is_empty() {
            Verdict::Answer
        } else if let Some(other) = self.visible.ended() {
            Verdict::OtherSpeaker(other.to_owned())
        } else if !reasoning.is_empty() {
            Verdict::OnlyReasoning
        } else {
            Verdict::Empty
        };
        let spill_removed = matches!(self.spill, SpillStage::Done { removed: true });
        Finished {
            rest,
            visible,
            reasoning,
            verdict,
            lone_close: self.tags.lone_close,
            spill_removed,
            tool_calls: self.visible.take_tool_calls(),
        }
    }
}

#[cfg(test)]
mod tests;
