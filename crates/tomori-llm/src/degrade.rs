//! The degradation ladder: when an endpoint answers 400 (or a 404 naming a parameter), the
//! request is simplified one rung at a time and sent again.
//!
//! The rungs, in order: drop exactly the parameter the endpoint named, if it named one; else
//! drop `stream_options`; then each optional sampler or thinking parameter; then the images
//! (with a notice to the user); then the tools (tool history becomes text); then a minimal
//! request (system text folded into the first user turn). The model and the messages are never
//! dropped, so a ladder that runs out returns the endpoint's error instead of answering a
//! different question. Pure: no IO, so the ladder is tested as a table.

use crate::endpoint::Wire;
use crate::event::Notice;
use crate::history::flatten_tools;
use crate::request::{ChatRequest, Message, Param, Part, Role, ThinkingLevel};
use crate::{anthropic, gemini, openai};

/// What is placed where an image was removed, so the model knows something was there.
pub(crate) const IMAGE_PLACEHOLDER: &str =
    "[an image was attached here, but this model cannot see images]";

/// How far down the ladder a request has gone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Degradation {
    dropped: Vec<Param>,
    images_removed: bool,
    tools_removed: bool,
    minimal: bool,
}

impl Degradation {
    /// Whether nothing has been dropped.
    pub fn is_none(&self) -> bool {
        *self == Degradation::default()
    }

    /// Whether `stream_options` is still sent.
    pub(crate) fn stream_options(&self) -> bool {
        !self.minimal && !self.dropped.contains(&Param::StreamOptions)
    }

    /// The request with this degradation applied.
    pub fn apply(&self, request: &ChatRequest) -> ChatRequest {
        let mut request = request.clone();
        let minimal = self.minimal;
        let sampler = &mut request.sampler;
        for param in &self.dropped {
            match param {
                Param::Temperature => sampler.temperature = None,
                Param::TopP => sampler.top_p = None,
                Param::TopK => sampler.top_k = None,
                Param::MinP => sampler.min_p = None,
                Param::FrequencyPenalty => sampler.frequency_penalty = None,
                Param::PresencePenalty => sampler.presence_penalty = None,
                Param::MaxOutputTokens => sampler.max_output_tokens = None,
                Param::Stop => sampler.stop.clear(),
                Param::LogitBias => sampler.logit_bias.clear(),
                Param::Thinking => request.thinking = ThinkingLevel::Auto,
                Param::StreamOptions | Param::Tools => {}
            }
        }
        if minimal {
            request.sampler = Default::default();
            request.thinking = ThinkingLevel::Auto;
        }
        if self.images_removed || minimal {
            request.videos_as_captions();
            for message in &mut request.messages {
                for part in &mut message.parts {
                    if matches!(part, Part::Image(_)) {
                        *part = Part::Text(IMAGE_PLACEHOLDER.to_owned());
                    }
                }
            }
        }
        if self.tools_removed || minimal || self.dropped.contains(&Param::Tools) {
            request.tools.clear();
            request.messages = flatten_tools(std::mem::take(&mut request.messages));
        }
        if minimal && !request.system.is_empty() {
            let system = request.system.join("\n\n");
            request.system.clear();
            match request.messages.iter_mut().find(|m| m.role == Role::User) {
                Some(first_user) => first_user.parts.insert(0, Part::Text(system)),
                None => request.messages.insert(0, Message::user(system)),
            }
        }
        request
    }

    /// Optional parameters still present in `request` once this degradation is applied.
    pub(crate) fn present(&self, request: &ChatRequest, wire: Wire) -> Vec<Param> {
        let applied = self.apply(request);
        let sampler = &applied.sampler;
        let mut present = Vec::new();
        if wire == Wire::OpenAiCompatible && self.stream_options() {
            present.push(Param::StreamOptions);
        }
        let candidates = [
            (Param::Temperature, sampler.temperature.is_some()),
            (Param::TopP, sampler.top_p.is_some()),
            (Param::TopK, sampler.top_k.is_some()),
            (Param::MinP, sampler.min_p.is_some() && wire == Wire::OpenAiCompatible),
            (
                Param::FrequencyPenalty,
                sampler.frequency_penalty.is_some() && wire != Wire::Anthropic,
            ),
            (Param::PresencePenalty, sampler.presence_penalty.is_some() && wire != Wire::Anthropic),
            // Anthropic requires max_tokens, so it is never a rung there.
            (
                Param::MaxOutputTokens,
                sampler.max_output_tokens.is_some() && wire != Wire::Anthropic,
            ),
            (Param::Stop, !sampler.stop.is_empty()),
            (
                Param::LogitBias,
                wire == Wire::OpenAiCompatible && !sampler.logit_bias.wire().is_empty(),
            ),
            (Param::Thinking, applied.thinking != ThinkingLevel::Auto),
        ];
        present.extend(candidates.into_iter().filter(|(_, on)| *on).map(|(param, _)| param));
        present
    }

    /// The next rung for a request the endpoint rejected, or `None` when nothing is left to
    /// drop. `rejected` is the parameter the endpoint named, if any.
    pub fn next(&self, request: &ChatRequest, wire: Wire, rejected: Option<Param>) -> Option<Self> {
        let present = self.present(request, wire);
        let applied = self.apply(request);
        let mut next = self.clone();
        match rejected {
            Some(Param::Tools) if !applied.tools.is_empty() => {
                next.tools_removed = true;
                return Some(next);
            }
            Some(param) if present.contains(&param) => {
                next.dropped.push(param);
                return Some(next);
            }
            _ => {}
        }
        if let Some(param) = present.first() {
            next.dropped.push(*param);
        } else if applied.has_images() {
            next.images_removed = true;
        } else if !applied.tools.is_empty() || has_tool_turns(&applied) {
            next.tools_removed = true;
        } else if !self.minimal {
            next.minimal = true;
        } else {
            return None;
        }
        Some(next)
    }

    /// What the user should be told about this degradation.
    pub fn notices(&self) -> Vec<Notice> {
        let mut notices: Vec<Notice> = self
            .dropped
            .iter()
            .filter(|param| !matches!(param, Param::StreamOptions | Param::Tools))
            .map(|param| Notice::ParameterDropped(*param))
            .collect();
        if self.images_removed {
            notices.push(Notice::ImagesRemoved);
        }
        if self.tools_removed || self.dropped.contains(&Param::Tools) {
            notices.push(Notice::ToolsRemoved);
        }
        if self.minimal {
            notices.push(Notice::MinimalRequest);
        }
        notices
    }
}

fn has_tool_turns(request: &ChatRequest) -> bool {
    request.messages.iter().any(|m| {
        m.role == Role::Tool
            || m.parts.iter().any(|p| matches!(p, Part::ToolCall(_) | Part::ToolResult(_)))
    })
}

/// The wire names a parameter is sent under, for matching an endpoint's error message.
pub(crate) fn wire_names(wire: Wire, param: Param) -> &'static [&'static str] {
    match wire {
        Wire::OpenAiCompatible => openai::param_names(param),
        Wire::Anthropic => anthropic::param_names(param),
        Wire::Gemini => gemini::param_names(param),
    }
}

/// Which of the `present` parameters an endpoint's 400 names, with the wire name it used: its
/// `param` field when it has one, else a wire name standing as a whole word in the message.
pub(crate) fn rejected_param(
    wire: Wire,
    param_field: Option<&str>,
    message: &str,
    present: &[Param],
) -> Option<(Param, &'static str)> {
    let mut candidates: Vec<Param> = present.to_vec();
    candidates.push(Param::Tools);
    if let Some(field) = param_field {
        // `param` may be a path such as `messages[0].content` or `generation_config.top_k`.
        let last = field.rsplit(['.', '/']).next().unwrap_or(field);
        let named = candidates.iter().find_map(|param| {
            let names = wire_names(wire, *param);
            names.iter().find(|name| **name == field || **name == last).map(|name| (*param, *name))
        });
        if named.is_some() {
            return named;
        }
    }
    candidates.into_iter().find_map(|param| {
        let names = wire_names(wire, param);
        names.iter().find(|name| contains_word(message, name)).map(|name| (param, *name))
    })
}

/// Whether `word` occurs in `text` with no identifier character on either side.
fn contains_word(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(start, _)| {
        let before = text.get(..start).and_then(|s| s.chars().next_back());
        let after = text.get(start + word.len()..).and_then(|s| s.chars().next());
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

#[cfg(test)]
mod tests;
