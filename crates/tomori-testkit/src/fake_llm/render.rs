//! Provider-neutral scripted turns, rendered as each wire format's event stream.
//!
//! A [`Turn`] lists what the model "says" (text, reasoning, tool calls) and how the stream ends
//! (a finish reason, an error event, a stall, broken JSON, or nothing at all). Rendering follows
//! each API's shape closely enough that a client which parses it parses the real thing: OpenAI
//! tool-call arguments split across chunks by index, Anthropic typed events with
//! `input_json_delta` pieces and signed thinking, Gemini whole function calls with a
//! `thoughtSignature` and a bare JSON error object written outside any `data:` line.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Step, WireFormat};

/// The signature fakes attach to reasoning and Gemini function calls.
pub const FAKE_SIGNATURE: &str = "fake-signature";

/// How a turn ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// A natural end.
    Stop,
    /// The output cap.
    Length,
    /// Tool calls.
    ToolCalls,
    /// A safety block (OpenAI `content_filter`, Anthropic `refusal`, Gemini `SAFETY`).
    Safety,
    /// No finish at all: the stream just ends.
    Truncated,
}

#[derive(Clone, Debug, PartialEq)]
enum Item {
    Text(String),
    Reasoning(String),
    /// A tool call; `arguments` is the text the model writes (JSON, unless a test says not).
    ToolCall {
        id: String,
        name: String,
        arguments: String,
    },
    Error {
        status: u16,
        message: String,
    },
    Malformed,
    Pause(Duration),
    Stall,
}

/// A scripted model turn.
#[derive(Clone, Debug, PartialEq)]
pub struct Turn {
    items: Vec<Item>,
    finish: Finish,
    usage: (u64, u64),
    piece: usize,
}

impl Default for Turn {
    fn default() -> Self {
        Turn { items: Vec::new(), finish: Finish::Stop, usage: (12, 7), piece: 5 }
    }
}

impl Turn {
    /// An empty turn that finishes with `stop`.
    pub fn new() -> Self {
        Turn::default()
    }

    /// Visible text (one delta).
    #[must_use]
    pub fn text(mut self, text: &str) -> Self {
        self.items.push(Item::Text(text.to_owned()));
        self
    }

    /// Reasoning text (one delta).
    #[must_use]
    pub fn reasoning(mut self, text: &str) -> Self {
        self.items.push(Item::Reasoning(text.to_owned()));
        self
    }

    /// A tool call; its arguments are streamed in small pieces where the format streams them.
    #[must_use]
    pub fn tool_call(self, id: &str, name: &str, arguments: Value) -> Self {
        self.tool_call_text(id, name, &arguments.to_string())
    }

    /// A tool call whose arguments are `text` as the model writes it, valid JSON or not (Gemini,
    /// whose arguments are JSON on the wire, gets `text` parsed, or as a JSON string).
    #[must_use]
    pub fn tool_call_text(mut self, id: &str, name: &str, text: &str) -> Self {
        let (id, name, arguments) = (id.to_owned(), name.to_owned(), text.to_owned());
        self.items.push(Item::ToolCall { id, name, arguments });
        self.finish = Finish::ToolCalls;
        self
    }

    /// Token counts reported at the end.
    #[must_use]
    pub fn usage(mut self, input: u64, output: u64) -> Self {
        self.usage = (input, output);
        self
    }

    /// How it ends.
    #[must_use]
    pub fn finish(mut self, finish: Finish) -> Self {
        self.finish = finish;
        self
    }

    /// An error event (with this HTTP-like status) after what came so far; the stream ends there.
    #[must_use]
    pub fn error(mut self, status: u16, message: &str) -> Self {
        self.items.push(Item::Error { status, message: message.to_owned() });
        self
    }

    /// A `data:` line whose JSON is cut off.
    #[must_use]
    pub fn malformed(mut self) -> Self {
        self.items.push(Item::Malformed);
        self
    }

    /// A pause between events.
    #[must_use]
    pub fn pause(mut self, pause: Duration) -> Self {
        self.items.push(Item::Pause(pause));
        self
    }

    /// Stop sending after what came so far, holding the connection open.
    #[must_use]
    pub fn stall(mut self) -> Self {
        self.items.push(Item::Stall);
        self
    }

    /// The turn as stream steps for `wire`; `request` is what the client sent (usage is only
    /// sent to OpenAI-compatible clients that asked for it).
    pub fn render(&self, wire: WireFormat, request: Option<&Value>) -> Vec<Step> {
        let mut out = Vec::new();
        let ended = match wire {
            WireFormat::OpenAi => self.openai(request, &mut out),
            WireFormat::Anthropic => self.anthropic(&mut out),
            WireFormat::Gemini => self.gemini(&mut out),
        };
        if let Some(step) = ended {
            out.push(step);
        }
        out
    }

    fn pieces(&self, text: &str) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        chars.chunks(self.piece.max(1)).map(|c| c.iter().collect()).collect()
    }

    /// Renders the items into `out`; returns the step that ends the stream early (a stall).
    fn openai(&self, request: Option<&Value>, out: &mut Vec<Step>) -> Option<Step> {
        let chunk = |delta: Value, finish: Value| {
            data(&json!({
                "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
            }))
        };
        out.push(chunk(json!({"role": "assistant", "content": ""}), Value::Null));
        let mut call_index = 0;
        for item in &self.items {
            match item {
                Item::Text(text) => out.push(chunk(json!({"content": text}), Value::Null)),
                Item::Reasoning(text) => {
                    out.push(chunk(json!({"reasoning_content": text}), Value::Null));
                }
                Item::ToolCall { id, name, arguments } => {
                    out.push(chunk(
                        json!({"tool_calls": [{"index": call_index, "id": id, "type": "function",
                            "function": {"name": name, "arguments": ""}}]}),
                        Value::Null,
                    ));
                    for piece in self.pieces(arguments) {
                        out.push(chunk(
                            json!({"tool_calls": [{"index": call_index, "function": {"arguments": piece}}]}),
                            Value::Null,
                        ));
                    }
                    call_index += 1;
                }
                Item::Error { status, message } => {
                    out.push(data(&json!({"error": {"message": message, "code": status}})));
                    return None;
                }
                Item::Malformed => out.push(Step::Bytes(
                    b"data: {\"choices\": [{\"delta\": {\"content\": \"br\n\n".to_vec(),
                )),
                Item::Pause(pause) => out.push(Step::Pause(*pause)),
                Item::Stall => return Some(Step::Stall),
            }
        }
        let reason = match self.finish {
            Finish::Stop => "stop",
            Finish::Length => "length",
            Finish::ToolCalls => "tool_calls",
            Finish::Safety => "content_filter",
            Finish::Truncated => return None,
        };
        out.push(chunk(json!({}), json!(reason)));
        let wants_usage = request
            .and_then(|r| r.pointer("/stream_options/include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if wants_usage {
            let (input, output) = self.usage;
            out.push(data(&json!({
                "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                "choices": [],
                "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output}
            })));
        }
        out.push(Step::Bytes(b"data: [DONE]\n\n".to_vec()));
        None
    }

    fn anthropic(&self, out: &mut Vec<Step>) -> Option<Step> {
        let (input, output) = self.usage;
        out.push(event("message_start", &json!({"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": "fake", "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": input, "output_tokens": 1}}})));
        out.push(event("ping", &json!({"type": "ping"})));
        let mut index = 0;
        for item in &self.items {
            let block = |out: &mut Vec<Step>, start: Value, deltas: Vec<Value>, index: usize| {
                out.push(event(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": index, "content_block": start}),
                ));
                for delta in deltas {
                    out.push(event(
                        "content_block_delta",
                        &json!({"type": "content_block_delta", "index": index, "delta": delta}),
                    ));
                }
                out.push(event(
                    "content_block_stop",
                    &json!({"type": "content_block_stop", "index": index}),
                ));
            };
            match item {
                Item::Text(text) => {
                    block(out, json!({"type": "text", "text": ""}), vec![json!({"type": "text_delta", "text": text})], index);
                    index += 1;
                }
                Item::Reasoning(text) => {
                    block(
                        out,
                        json!({"type": "thinking", "thinking": ""}),
                        vec![
                            json!({"type": "thinking_delta", "thinking": text}),
                            json!({"type": "signature_delta", "signature": FAKE_SIGNATURE}),
                        ],
                        index,
                    );
                    index += 1;
                }
                Item::ToolCall { id, name, arguments } => {
                    let deltas = self
                        .pieces(arguments)
                        .into_iter()
                        .map(|piece| json!({"type": "input_json_delta", "partial_json": piece}))
                        .collect();
                    block(out, json!({"type": "tool_use", "id": id, "name": name, "input": {}}), deltas, index);
                    index += 1;
                }
                Item::Error { status, message } => {
                    out.push(event("error", &error_body(WireFormat::Anthropic, *status, message)));
                    return None;
                }
                Item::Malformed => out.push(Step::Bytes(b"event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"index\n\n".to_vec())),
                Item::Pause(pause) => out.push(Step::Pause(*pause)),
                Item::Stall => return Some(Step::Stall),
            }
        }
        let reason = match self.finish {
            Finish::Stop => "end_turn",
            Finish::Length => "max_tokens",
            Finish::ToolCalls => "tool_use",
            Finish::Safety => "refusal",
            Finish::Truncated => return None,
        };
        out.push(event("message_delta", &json!({"type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": null}, "usage": {"output_tokens": output}})));
        out.push(event("message_stop", &json!({"type": "message_stop"})));
        None
    }

    fn gemini(&self, out: &mut Vec<Step>) -> Option<Step> {
        let chunk = |part: Value| {
            data(
                &json!({"candidates": [{"content": {"role": "model", "parts": [part]}, "index": 0}],
                "modelVersion": "fake"}),
            )
        };
        for item in &self.items {
            match item {
                Item::Text(text) => out.push(chunk(json!({"text": text}))),
                Item::Reasoning(text) => out.push(chunk(json!({"text": text, "thought": true}))),
                Item::ToolCall { name, arguments, .. } => {
                    let args = serde_json::from_str::<Value>(arguments)
                        .unwrap_or_else(|_| Value::String(arguments.clone()));
                    out.push(chunk(
                        json!({"functionCall": {"name": name, "args": args}, "thoughtSignature": FAKE_SIGNATURE}),
                    ));
                }
                Item::Error { status, message } => {
                    // As Gemini does: a pretty-printed error object outside any `data:` line.
                    let body = error_body(WireFormat::Gemini, *status, message);
                    let text = serde_json::to_string_pretty(&body).unwrap_or_default();
                    out.push(Step::Bytes(format!("{text}\n").into_bytes()));
                    return None;
                }
                Item::Malformed => {
                    out.push(Step::Bytes(b"data: {\"candidates\": [{\"content\n\n".to_vec()))
                }
                Item::Pause(pause) => out.push(Step::Pause(*pause)),
                Item::Stall => return Some(Step::Stall),
            }
        }
        let reason = match self.finish {
            Finish::Stop | Finish::ToolCalls => "STOP",
            Finish::Length => "MAX_TOKENS",
            Finish::Safety => "SAFETY",
            Finish::Truncated => return None,
        };
        let (input, output) = self.usage;
        out.push(data(&json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": reason, "index": 0}],
            "usageMetadata": {"promptTokenCount": input, "candidatesTokenCount": output, "totalTokenCount": input + output},
            "modelVersion": "fake"
        })));
        None
    }
}

fn data(value: &Value) -> Step {
    Step::Bytes(format!("data: {value}\n\n").into_bytes())
}

fn event(name: &str, value: &Value) -> Step {
    Step::Bytes(format!("event: {name}\ndata: {value}\n\n").into_bytes())
}

/// The error body each wire format sends with `status`.
pub(crate) fn error_body(wire: WireFormat, status: u16, message: &str) -> Value {
    match wire {
        WireFormat::OpenAi => {
            let kind = match status {
                429 => "rate_limit_error",
                401 | 403 => "authentication_error",
                400..=499 => "invalid_request_error",
                _ => "server_error",
            };
            json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
        }
        WireFormat::Anthropic => {
            let kind = match status {
                429 => "rate_limit_error",
                401 => "authentication_error",
                403 => "permission_error",
                400..=499 => "invalid_request_error",
                529 => "overloaded_error",
                _ => "api_error",
            };
            json!({"type": "error", "error": {"type": kind, "message": message}})
        }
        WireFormat::Gemini => {
            let kind = match status {
                429 => "RESOURCE_EXHAUSTED",
                401 => "UNAUTHENTICATED",
                403 => "PERMISSION_DENIED",
                499 => "CANCELLED",
                400..=498 => "INVALID_ARGUMENT",
                _ => "INTERNAL",
            };
            json!({"error": {"code": status, "message": message, "status": kind}})
        }
    }
}
