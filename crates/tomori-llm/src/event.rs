//! The streaming event model every adapter produces, and [`Completion`], which folds a stream
//! into the finished answer.
//!
//! Tool calls are only ever delivered whole: adapters assemble them from their deltas and emit a
//! [`StreamEvent::ToolCall`] once the call is complete, so a caller cannot run a tool with half
//! its arguments (a call the output cap cut off becomes a notice; arguments that are not a JSON
//! object come with `ToolCall::arguments_problem`, for an error result).

use crate::request::{Message, Param, Part, Reasoning, Role, ToolCall};

/// One thing that happened in a stream.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    /// Visible answer text.
    Text(String),
    /// Reasoning text (Anthropic thinking, Gemini thought parts, `reasoning_content`). Never
    /// shown as the reply.
    Reasoning(String),
    /// The signature that closes a reasoning block; send it back with the reasoning next turn.
    ReasoningSignature(String),
    /// Refusal text (OpenAI's `refusal` deltas): the model declined, in its own words.
    Refusal(String),
    /// A complete tool call.
    ToolCall(ToolCall),
    /// Token counts, once per stream, before [`StreamEvent::Finish`].
    Usage(Usage),
    /// Something the user may want to know about how the answer was produced.
    Notice(Notice),
    /// The last event of a successful stream.
    Finish(FinishReason),
}

/// Why the model stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FinishReason {
    /// A natural end or a stop string.
    Stop,
    /// The output token cap.
    Length,
    /// It wants tool results.
    ToolCalls,
    /// It refused, or the provider's safety filter blocked the prompt or the answer.
    ContentFilter,
}

impl FinishReason {
    /// Stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
        }
    }
}

/// Token counts as the provider reported them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Answer tokens (reasoning included where the provider counts it there).
    pub output_tokens: u64,
    /// Reasoning tokens, when reported separately.
    pub reasoning_tokens: u64,
    /// Prompt tokens served from the provider's cache.
    pub cached_input_tokens: u64,
}

/// Things the user may want to know about how an answer was produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The primary model failed and a fallback answered.
    FallbackUsed {
        /// Label of the target that failed first.
        primary: String,
        /// Label of the target that answered.
        answered_by: String,
        /// Error code of the primary's failure.
        reason: &'static str,
    },
    /// Images were removed because the endpoint or model rejected them.
    ImagesRemoved,
    /// Tools were removed because the endpoint or model rejected them.
    ToolsRemoved,
    /// A parameter was dropped because the endpoint rejected it.
    ParameterDropped(Param),
    /// Only model, messages and streaming were sent: the endpoint rejected everything else.
    MinimalRequest,
    /// A tool call was cut off (output cap reached) and will not be run.
    ToolCallTruncated {
        /// The tool's name.
        name: String,
    },
}

/// A stream folded into its result.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Completion {
    /// Visible text.
    pub text: String,
    /// Reasoning text.
    pub reasoning: String,
    /// Reasoning signature, if the provider sent one.
    pub reasoning_signature: Option<String>,
    /// Refusal text, if the model refused in words.
    pub refusal: String,
    /// Complete tool calls, in order.
    pub tool_calls: Vec<ToolCall>,
    /// Token counts, if reported.
    pub usage: Option<Usage>,
    /// Notices, in order.
    pub notices: Vec<Notice>,
    /// Why it stopped; `None` until the stream finished.
    pub finish: Option<FinishReason>,
}

impl Completion {
    /// Adds one event.
    pub fn push(&mut self, event: StreamEvent) {
        match event {
            StreamEvent::Text(text) => self.text.push_str(&text),
            StreamEvent::Reasoning(text) => self.reasoning.push_str(&text),
            StreamEvent::ReasoningSignature(signature) => {
                self.reasoning_signature = Some(signature);
            }
            StreamEvent::Refusal(text) => self.refusal.push_str(&text),
            StreamEvent::ToolCall(call) => self.tool_calls.push(call),
            StreamEvent::Usage(usage) => self.usage = Some(usage),
            StreamEvent::Notice(notice) => self.notices.push(notice),
            StreamEvent::Finish(reason) => self.finish = Some(reason),
        }
    }

    /// The assistant message to put in the history for the next turn: reasoning (when it must be
    /// sent back), text and tool calls.
    pub fn to_message(&self) -> Message {
        let mut parts = Vec::new();
        if !self.reasoning.is_empty() || self.reasoning_signature.is_some() {
            parts.push(Part::Reasoning(Reasoning {
                text: self.reasoning.clone(),
                signature: self.reasoning_signature.clone(),
            }));
        }
        if !self.text.is_empty() {
            parts.push(Part::Text(self.text.clone()));
        }
        parts.extend(self.tool_calls.iter().cloned().map(Part::ToolCall));
        Message { role: Role::Assistant, name: None, parts }
    }
}
