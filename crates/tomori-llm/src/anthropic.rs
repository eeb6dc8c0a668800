//! The Anthropic Messages adapter.
//!
//! Wire types live here and nowhere else. Requests follow the format's rules: strict role
//! alternation starting with a user turn (tool results are user turns), system text in its own
//! field, thinking blocks sent back only with their signature, `max_tokens` always present and
//! above the thinking budget, and never both temperature and top_p. Streams are typed SSE events
//! (`message_start`, `content_block_start`/`_delta`/`_stop`, `message_delta`, `message_stop`,
//! `ping`, `error`); unknown event, block and delta types are skipped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::decode::{PartialCall, count, event_error, parse_json};
use crate::error::LlmError;
use crate::event::{FinishReason, StreamEvent, Usage};
use crate::history::alternate;
use crate::request::{ChatRequest, ImageSource, Param, Part, Role};
use crate::sse::SseItem;

/// The API version header value this adapter speaks.
pub(crate) const API_VERSION: &str = "2023-06-01";

/// `max_tokens` when the request sets none: the format requires one.
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Wire names of each optional parameter, for reading which one an endpoint rejected.
pub(crate) fn param_names(param: Param) -> &'static [&'static str] {
    match param {
        Param::StreamOptions
        | Param::MinP
        | Param::FrequencyPenalty
        | Param::PresencePenalty
        | Param::LogitBias => &[],
        Param::Temperature => &["temperature"],
        Param::TopP => &["top_p"],
        Param::TopK => &["top_k"],
        Param::MaxOutputTokens => &["max_tokens"],
        Param::Stop => &["stop_sequences"],
        Param::Thinking => &["thinking", "budget_tokens"],
        Param::Tools => &["tools", "tool_choice"],
    }
}

/// The messages path under a base URL that may or may not already end in `/v1`.
pub(crate) fn messages_path(base_path: &str) -> &'static str {
    if base_path.trim_end_matches('/').ends_with("/v1") { "/messages" } else { "/v1/messages" }
}

#[derive(Serialize)]
struct MessagesBody<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<Block>,
    messages: Vec<WireMessage>,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Thinking>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
}

#[derive(Serialize)]
struct Thinking {
    #[serde(rename = "type")]
    kind: &'static str,
    budget_tokens: u32,
}

#[derive(Serialize)]
struct WireTool<'a> {
    name: &'a str,
    description: &'a str,
    input_schema: &'a Value,
}

#[derive(Serialize)]
struct WireMessage {
    role: &'static str,
    content: Vec<Block>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text { text: String },
    Image { source: ImageWire },
    ToolUse { id: String, name: String, input: Value },
    ToolResult { tool_use_id: String, content: String, is_error: bool },
    Thinking { thinking: String, signature: String },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ImageWire {
    Base64 { media_type: String, data: String },
    Url { url: String },
}

/// The Messages body for `request` (already degraded as needed).
pub(crate) fn chat_body(request: &ChatRequest, model: &str) -> Result<Vec<u8>, LlmError> {
    let sampler = &request.sampler;
    let budget = request.thinking.budget_tokens();
    let mut max_tokens = sampler.max_output_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if let Some(budget) = budget {
        // The budget counts inside max_tokens, which must stay above it.
        max_tokens = max_tokens.max(budget.saturating_add(DEFAULT_MAX_TOKENS));
    }
    // With thinking on, the API refuses temperature, top_k and a narrowed top_p; without it,
    // newer models refuse temperature and top_p together, so temperature wins.
    let (temperature, top_p, top_k) = if budget.is_some() {
        (None, None, None)
    } else {
        (
            sampler.temperature,
            sampler.top_p.filter(|_| sampler.temperature.is_none()),
            sampler.top_k,
        )
    };
    let messages = alternate(request.messages.clone(), true)
        .into_iter()
        .map(|message| {
            let role = if message.role == Role::Assistant { "assistant" } else { "user" };
            let mut content: Vec<Block> = message.parts.into_iter().filter_map(block).collect();
            if content.is_empty() {
                content.push(Block::Text { text: "…".to_owned() });
            }
            WireMessage { role, content }
        })
        .collect();
    let body = MessagesBody {
        model,
        max_tokens,
        system: request
            .system
            .iter()
            .filter(|text| !text.is_empty())
            .map(|text| Block::Text { text: text.clone() })
            .collect(),
        messages,
        stream: true,
        temperature,
        top_p,
        top_k,
        stop_sequences: &sampler.stop,
        thinking: budget.map(|budget_tokens| Thinking { kind: "enabled", budget_tokens }),
        tools: request
            .tools
            .iter()
            .map(|tool| WireTool {
                name: &tool.name,
                description: &tool.description,
                input_schema: &tool.parameters,
            })
            .collect(),
    };
    serde_json::to_vec(&body).map_err(|error| LlmError::invalid(format!("request body: {error}")))
}

fn block(part: Part) -> Option<Block> {
    match part {
        // The API refuses empty text blocks.
        Part::Text(text) if text.is_empty() => None,
        Part::Text(text) => Some(Block::Text { text }),
        Part::Image(image) => Some(Block::Image {
            source: match image.source {
                ImageSource::Base64(data) => {
                    ImageWire::Base64 { media_type: image.media_type, data }
                }
                ImageSource::Url(url) => ImageWire::Url { url },
            },
        }),
        // Only Gemini's models watch videos; `Llm` sends others the caption already.
        Part::Video(video) => Some(Block::Text { text: video.caption }),
        Part::ToolCall(call) => {
            let input = call.echoed_arguments();
            Some(Block::ToolUse { id: call.id, name: call.name, input })
        }
        Part::ToolResult(result) => Some(Block::ToolResult {
            tool_use_id: result.call_id,
            content: result.content,
            is_error: result.is_error,
        }),
        // Unsigned thinking is refused, so only signed blocks go back.
        Part::Reasoning(reasoning) => reasoning
            .signature
            .map(|signature| Block::Thinking { thinking: reasoning.text, signature }),
    }
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    index: Option<usize>,
    message: Option<MessageStart>,
    content_block: Option<Value>,
    delta: Option<Value>,
    usage: Option<WireUsage>,
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct MessageStart {
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireUsage {
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cache_read_input_tokens: Option<i64>,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<String>,
}

#[derive(Debug)]
enum Open {
    Text,
    Thinking,
    ToolUse(PartialCall),
    Other,
}

/// Decoder state for one stream.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    blocks: BTreeMap<usize, Open>,
    usage: Usage,
    finish: Option<FinishReason>,
    emitted_calls: usize,
    done: bool,
}

fn text_of<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

impl Decoder {
    pub(crate) fn item(
        &mut self,
        item: SseItem,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), LlmError> {
        let SseItem::Event(event) = item else {
            // Anthropic writes only SSE; stray lines are noise from a proxy.
            return Ok(());
        };
        if self.done {
            return Ok(());
        }
        let event: Event = parse_json(&event.data, "a Messages stream event")?;
        match event.kind.as_str() {
            "message_start" => {
                if let Some(usage) = event.message.and_then(|m| m.usage) {
                    self.usage.input_tokens = count(usage.input_tokens);
                    self.usage.cached_input_tokens = count(usage.cache_read_input_tokens);
                    self.usage.output_tokens = count(usage.output_tokens);
                }
            }
            "content_block_start" => {
                let index = event.index.unwrap_or(0);
                let block = event.content_block.unwrap_or(Value::Null);
                let open = match text_of(&block, "type") {
                    Some("text") => {
                        if let Some(text) = text_of(&block, "text").filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::Text(text.to_owned()));
                        }
                        Open::Text
                    }
                    Some("thinking") => {
                        if let Some(text) = text_of(&block, "thinking").filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::Reasoning(text.to_owned()));
                        }
                        Open::Thinking
                    }
                    Some("tool_use") => Open::ToolUse(PartialCall {
                        id: text_of(&block, "id").map(str::to_owned),
                        name: text_of(&block, "name").unwrap_or_default().to_owned(),
                        arguments: String::new(),
                        signature: None,
                    }),
                    // redacted_thinking, server tools, model fallbacks and future types.
                    _ => Open::Other,
                };
                self.blocks.insert(index, open);
            }
            "content_block_delta" => {
                let index = event.index.unwrap_or(0);
                let delta = event.delta.unwrap_or(Value::Null);
                let block = self.blocks.get_mut(&index);
                match (text_of(&delta, "type"), block) {
                    (Some("text_delta"), _) => {
                        if let Some(text) = text_of(&delta, "text").filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::Text(text.to_owned()));
                        }
                    }
                    (Some("thinking_delta"), _) => {
                        if let Some(text) = text_of(&delta, "thinking").filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::Reasoning(text.to_owned()));
                        }
                    }
                    (Some("signature_delta"), _) => {
                        if let Some(signature) = text_of(&delta, "signature") {
                            out.push(StreamEvent::ReasoningSignature(signature.to_owned()));
                        }
                    }
                    (Some("input_json_delta"), Some(Open::ToolUse(call))) => {
                        if let Some(json) = text_of(&delta, "partial_json") {
                            call.arguments.push_str(json);
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                if let Some(Open::ToolUse(call)) = self.blocks.remove(&event.index.unwrap_or(0)) {
                    self.emit_call(call, false, out)?;
                }
            }
            "message_delta" => {
                if let Some(reason) = event.delta.as_ref().and_then(|d| text_of(d, "stop_reason")) {
                    self.finish = Some(match reason {
                        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
                        "tool_use" => FinishReason::ToolCalls,
                        "refusal" => FinishReason::ContentFilter,
                        _ => FinishReason::Stop,
                    });
                }
                if let Some(usage) = event.usage {
                    // Cumulative counts: the latest wins.
                    if let Some(output) = usage.output_tokens {
                        self.usage.output_tokens = count(Some(output));
                    }
                    if let Some(input) = usage.input_tokens {
                        self.usage.input_tokens = count(Some(input));
                    }
                }
            }
            "message_stop" => {
                self.done = true;
                self.end(out)?;
            }
            "error" => {
                let error = event.error.unwrap_or(WireError { kind: None, message: None });
                return Err(event_error(
                    error.kind.as_deref(),
                    None,
                    error.message.as_deref().unwrap_or("unknown error"),
                ));
            }
            _ => {}
        }
        Ok(())
    }

    fn emit_call(
        &mut self,
        call: PartialCall,
        truncated: bool,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), LlmError> {
        let event = call.finish(self.emitted_calls, truncated)?;
        self.emitted_calls += usize::from(matches!(event, StreamEvent::ToolCall(_)));
        out.push(event);
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        let Some(finish) = self.finish else {
            return Err(LlmError::malformed("the stream ended before the answer finished"));
        };
        // Tool blocks never closed were cut off by the output cap.
        let truncated = finish == FinishReason::Length;
        for (_, open) in std::mem::take(&mut self.blocks) {
            if let Open::ToolUse(call) = open {
                self.emit_call(call, truncated, out)?;
            }
        }
        out.push(StreamEvent::Usage(self.usage));
        out.push(StreamEvent::Finish(finish));
        Ok(())
    }

    pub(crate) fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        if self.finish.is_none() {
            return Err(LlmError::malformed("the stream ended before the answer finished"));
        }
        self.end(out)
    }
}
