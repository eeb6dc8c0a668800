//! The OpenAI-compatible chat completions adapter (OpenAI, OpenRouter, DeepSeek, Ollama,
//! LM Studio, vLLM, KoboldCPP) and its embeddings.
//!
//! Wire types live here and nowhere else. Streams are `data: {chunk}` lines ending with
//! `data: [DONE]`; tool calls arrive as deltas keyed by `index` and are assembled here; reasoning
//! comes as `reasoning_content` (DeepSeek, vLLM) or `reasoning` (OpenRouter); usage comes in a
//! last chunk with no choices when `stream_options.include_usage` was asked for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::decode::{PartialCall, count, error_object, parse_json};
use crate::error::LlmError;
use crate::event::{FinishReason, StreamEvent, Usage};
use crate::history::{alternate, joined_text, named_text};
use crate::request::{ChatRequest, EmbeddingRequest, ImageSource, Param, Part, Role};
use crate::sse::SseItem;

/// The most stop strings the wire takes: OpenAI's documented limit (OpenAI-compatible servers
/// take at least as many). The rest are enforced on the stream (`tomori_core::stops`).
const WIRE_STOPS: usize = 4;

/// Wire names of each optional parameter, for reading which one an endpoint rejected.
pub(crate) fn param_names(param: Param) -> &'static [&'static str] {
    match param {
        Param::StreamOptions => &["stream_options", "include_usage"],
        Param::Temperature => &["temperature"],
        Param::TopP => &["top_p"],
        Param::TopK => &["top_k"],
        Param::MinP => &["min_p"],
        Param::FrequencyPenalty => &["frequency_penalty"],
        Param::PresencePenalty => &["presence_penalty"],
        Param::MaxOutputTokens => &["max_tokens", "max_completion_tokens"],
        Param::Stop => &["stop"],
        Param::LogitBias => &["logit_bias"],
        Param::Thinking => &["reasoning_effort", "reasoning"],
        Param::Tools => &["tools", "tool_choice", "tool_calls"],
    }
}

#[derive(Serialize)]
struct ChatBody<'a> {
    model: &'a str,
    messages: Vec<WireMessage>,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    logit_bias: BTreeMap<u32, i8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct WireMessage {
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Content>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireToolCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContentPart {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
}

#[derive(Serialize)]
struct ImageUrl {
    url: String,
}

#[derive(Serialize)]
struct WireToolCall {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunctionCall,
}

#[derive(Serialize)]
struct WireFunctionCall {
    name: String,
    arguments: String,
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a Value,
}

/// The chat completions body for `request` (already degraded as needed).
pub(crate) fn chat_body(
    request: &ChatRequest,
    model: &str,
    stream_options: bool,
    strict_alternation: bool,
) -> Result<Vec<u8>, LlmError> {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if !request.system.is_empty() {
        // One consolidated system message: several are refused by some compatible servers.
        messages.push(WireMessage {
            role: "system",
            content: Some(Content::Text(request.system.join("\n\n"))),
            tool_calls: Vec::new(),
            tool_call_id: None,
            reasoning_content: None,
        });
    }
    let history = if strict_alternation {
        alternate(request.messages.clone(), false)
    } else {
        request.messages.clone()
    };
    for message in &history {
        wire_messages(message.role, message.name.as_deref(), &message.parts, &mut messages);
    }
    let sampler = &request.sampler;
    let body = ChatBody {
        model,
        messages,
        stream: true,
        stream_options: stream_options.then_some(StreamOptions { include_usage: true }),
        temperature: sampler.temperature,
        top_p: sampler.top_p,
        top_k: sampler.top_k,
        min_p: sampler.min_p,
        frequency_penalty: sampler.frequency_penalty,
        presence_penalty: sampler.presence_penalty,
        max_tokens: sampler.max_output_tokens,
        stop: sampler.stop.get(..WIRE_STOPS).unwrap_or(&sampler.stop),
        logit_bias: sampler.logit_bias.wire(),
        reasoning_effort: request.thinking.effort(),
        tools: request
            .tools
            .iter()
            .map(|tool| WireTool {
                kind: "function",
                function: WireFunction {
                    name: &tool.name,
                    description: &tool.description,
                    parameters: &tool.parameters,
                },
            })
            .collect(),
    };
    serde_json::to_vec(&body).map_err(|error| LlmError::invalid(format!("request body: {error}")))
}

fn wire_messages(role: Role, name: Option<&str>, parts: &[Part], out: &mut Vec<WireMessage>) {
    match role {
        Role::Tool => {
            for part in parts {
                if let Part::ToolResult(result) = part {
                    out.push(WireMessage {
                        role: "tool",
                        content: Some(Content::Text(result.content.clone())),
                        tool_calls: Vec::new(),
                        tool_call_id: Some(result.call_id.clone()),
                        reasoning_content: None,
                    });
                }
            }
        }
        Role::Assistant => {
            let text = joined_text(parts);
            let tool_calls: Vec<WireToolCall> = parts
                .iter()
                .filter_map(|part| match part {
                    Part::ToolCall(call) => Some(WireToolCall {
                        id: call.id.clone(),
                        kind: "function",
                        function: WireFunctionCall {
                            name: call.name.clone(),
                            arguments: call.echoed_arguments().to_string(),
                        },
                    }),
                    _ => None,
                })
                .collect();
            // DeepSeek needs its reasoning back across tool turns; elsewhere it is not sent, as
            // strict servers refuse the unknown field.
            let reasoning_content = if tool_calls.is_empty() {
                None
            } else {
                parts.iter().find_map(|part| match part {
                    Part::Reasoning(reasoning) if !reasoning.text.is_empty() => {
                        Some(reasoning.text.clone())
                    }
                    _ => None,
                })
            };
            let content = if text.is_empty() && !tool_calls.is_empty() {
                None
            } else {
                Some(Content::Text(named_text(name, &text)))
            };
            out.push(WireMessage {
                role: "assistant",
                content,
                tool_calls,
                tool_call_id: None,
                reasoning_content,
            });
        }
        Role::User => {
            let has_images = parts.iter().any(|part| matches!(part, Part::Image(_)));
            let content = if has_images {
                let mut named = false;
                let items = parts
                    .iter()
                    .filter_map(|part| match part {
                        Part::Text(text) => {
                            let text = if named { text.clone() } else { named_text(name, text) };
                            named = true;
                            Some(ContentPart::Text { text })
                        }
                        // Only Gemini's models watch videos; `Llm` sends the caption already.
                        Part::Video(video) => {
                            Some(ContentPart::Text { text: video.caption.clone() })
                        }
                        Part::Image(image) => Some(ContentPart::ImageUrl {
                            image_url: ImageUrl {
                                url: match &image.source {
                                    ImageSource::Base64(data) => {
                                        format!("data:{};base64,{data}", image.media_type)
                                    }
                                    ImageSource::Url(url) => url.clone(),
                                },
                            },
                        }),
                        _ => None,
                    })
                    .collect();
                Content::Parts(items)
            } else {
                Content::Text(named_text(name, &joined_text(parts)))
            };
            out.push(WireMessage {
                role: "user",
                content: Some(content),
                tool_calls: Vec::new(),
                tool_call_id: None,
                reasoning_content: None,
            });
            // Tool results that ended up in a user turn (merged history) still go as tool turns.
            wire_messages(Role::Tool, None, parts, out);
        }
    }
}

#[derive(Deserialize)]
struct Chunk {
    choices: Option<Vec<Choice>>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    index: Option<u32>,
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    content: Option<String>,
    reasoning_content: Option<String>,
    reasoning: Option<String>,
    refusal: Option<String>,
    tool_calls: Option<Vec<DeltaToolCall>>,
}

#[derive(Deserialize)]
struct DeltaToolCall {
    index: Option<usize>,
    id: Option<String>,
    function: Option<DeltaFunction>,
}

#[derive(Deserialize)]
struct DeltaFunction {
    name: Option<String>,
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    completion_tokens_details: Option<CompletionDetails>,
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct CompletionDetails {
    reasoning_tokens: Option<i64>,
}

#[derive(Deserialize)]
struct PromptDetails {
    cached_tokens: Option<i64>,
}

/// Decoder state for one stream.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    calls: BTreeMap<usize, PartialCall>,
    finish: Option<FinishReason>,
    refused: bool,
    emitted_calls: bool,
    usage: Option<Usage>,
    done: bool,
}

impl Decoder {
    pub(crate) fn item(
        &mut self,
        item: SseItem,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), LlmError> {
        let data = match item {
            SseItem::Event(event) => event.data,
            // A bare JSON error body written into the stream by some servers.
            SseItem::Stray(text) => {
                return match serde_json::from_str::<Value>(&text)
                    .ok()
                    .as_ref()
                    .and_then(error_object)
                {
                    Some(error) => Err(error),
                    None => Ok(()),
                };
            }
        };
        if self.done {
            return Ok(());
        }
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return self.end(out);
        }
        if data.is_empty() {
            return Ok(());
        }
        // An error object mid-stream (OpenRouter, vLLM) instead of a chunk.
        if data.contains("\"error\"") {
            let value: Value = parse_json(data, "a stream event")?;
            if let Some(error) = error_object(&value) {
                return Err(error);
            }
        }
        let chunk: Chunk = parse_json(data, "a chat completion chunk")?;
        if let Some(usage) = chunk.usage {
            self.usage = Some(Usage {
                input_tokens: count(usage.prompt_tokens),
                output_tokens: count(usage.completion_tokens),
                reasoning_tokens: count(
                    usage.completion_tokens_details.and_then(|d| d.reasoning_tokens),
                ),
                cached_input_tokens: count(
                    usage.prompt_tokens_details.and_then(|d| d.cached_tokens),
                ),
            });
        }
        // Only the first choice: we never ask for more than one.
        for choice in
            chunk.choices.unwrap_or_default().into_iter().filter(|c| c.index.unwrap_or(0) == 0)
        {
            if let Some(delta) = choice.delta {
                self.delta(delta, out);
            }
            if let Some(reason) = choice.finish_reason {
                self.finish = Some(match reason.as_str() {
                    "length" => FinishReason::Length,
                    "tool_calls" | "function_call" => FinishReason::ToolCalls,
                    "content_filter" => FinishReason::ContentFilter,
                    _ => FinishReason::Stop,
                });
                self.flush_calls(out)?;
            }
        }
        Ok(())
    }

    fn delta(&mut self, delta: Delta, out: &mut Vec<StreamEvent>) {
        if let Some(text) = delta.reasoning_content.or(delta.reasoning).filter(|t| !t.is_empty()) {
            out.push(StreamEvent::Reasoning(text));
        }
        if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
            out.push(StreamEvent::Text(text));
        }
        if let Some(text) = delta.refusal.filter(|t| !t.is_empty()) {
            self.refused = true;
            out.push(StreamEvent::Refusal(text));
        }
        for (position, call) in delta.tool_calls.unwrap_or_default().into_iter().enumerate() {
            let index = match call.index {
                Some(index) => index,
                // Servers that send whole calls without an index: a new id is a new call.
                None => match &call.id {
                    Some(id) => self
                        .calls
                        .iter()
                        .find(|(_, partial)| partial.id.as_ref() == Some(id))
                        .map_or(self.calls.len() + position, |(index, _)| *index),
                    None => self.calls.keys().next_back().copied().unwrap_or(position),
                },
            };
            let partial = self.calls.entry(index).or_default();
            if let Some(id) = call.id.filter(|id| !id.is_empty()) {
                partial.id = Some(id);
            }
            if let Some(function) = call.function {
                if let Some(name) = function.name {
                    partial.name.push_str(&name);
                }
                if let Some(arguments) = function.arguments {
                    partial.arguments.push_str(&arguments);
                }
            }
        }
    }

    fn flush_calls(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        let truncated = self.finish == Some(FinishReason::Length);
        for (index, call) in std::mem::take(&mut self.calls) {
            let event = call.finish(index, truncated)?;
            self.emitted_calls |= matches!(event, StreamEvent::ToolCall(_));
            out.push(event);
        }
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        let Some(mut finish) = self.finish else {
            return Err(LlmError::malformed("the stream ended before the answer finished"));
        };
        self.flush_calls(out)?;
        if self.refused {
            finish = FinishReason::ContentFilter;
        } else if self.emitted_calls && finish == FinishReason::Stop {
            // Some servers say "stop" after tool calls; the calls are what matters.
            finish = FinishReason::ToolCalls;
        }
        if let Some(usage) = self.usage.take() {
            out.push(StreamEvent::Usage(usage));
        }
        out.push(StreamEvent::Finish(finish));
        Ok(())
    }

    pub(crate) fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        if self.done {
            return Ok(());
        }
        // No `[DONE]` (some servers omit it): fine if a finish reason came.
        self.done = true;
        self.end(out)
    }
}

#[derive(Serialize)]
struct EmbeddingBody<'a> {
    model: &'a str,
    input: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<u32>,
    encoding_format: &'static str,
}

#[derive(Deserialize)]
struct EmbeddingAnswer {
    data: Vec<EmbeddingItem>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    index: Option<usize>,
    embedding: Vec<f32>,
}

pub(crate) fn embedding_body(request: &EmbeddingRequest, model: &str) -> Result<Vec<u8>, LlmError> {
    let body = EmbeddingBody {
        model,
        input: &request.inputs,
        dimensions: request.dimensions,
        encoding_format: "float",
    };
    serde_json::to_vec(&body).map_err(|error| LlmError::invalid(format!("request body: {error}")))
}

/// The vectors in input order, and the prompt token count.
pub(crate) fn parse_embeddings(
    body: &[u8],
    expected: usize,
) -> Result<(Vec<Vec<f32>>, u64), LlmError> {
    let answer: EmbeddingAnswer = serde_json::from_slice(body)
        .map_err(|error| LlmError::malformed(format!("embeddings answer: {error}")))?;
    let mut vectors: Vec<Option<Vec<f32>>> = vec![None; expected];
    for (position, item) in answer.data.into_iter().enumerate() {
        let index = item.index.unwrap_or(position);
        let slot = vectors
            .get_mut(index)
            .ok_or_else(|| LlmError::malformed("an embedding index is out of range"))?;
        *slot = Some(item.embedding);
    }
    let vectors = vectors
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| LlmError::malformed("the answer lacks an embedding for some input"))?;
    let tokens = answer.usage.map(|usage| count(usage.prompt_tokens)).unwrap_or(0);
    Ok((vectors, tokens))
}
