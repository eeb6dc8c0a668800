//! The Google Gemini adapter (`streamGenerateContent` with `alt=sse`) and its embeddings
//! (`batchEmbedContents`).
//!
//! Wire types live here and nowhere else. Each SSE event is a whole `GenerateContentResponse`:
//! text parts, thought parts (`"thought": true`, reasoning that is never shown), function calls
//! that arrive whole (with a `thoughtSignature` that must be sent back next turn), a prompt
//! block (`promptFeedback.blockReason`) or a safety finish. Errors can arrive mid-stream as a
//! bare JSON object outside any `data:` line; the SSE parser hands those on as stray text and
//! they end the stream with a classified error instead of a clean finish.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::decode::{count, error_object, parse_json};
use crate::error::LlmError;
use crate::event::{FinishReason, StreamEvent, Usage};
use crate::history::alternate;
use crate::request::{
    ChatRequest, EmbeddingRequest, ImageSource, Param, Part, Role, ThinkingLevel, ToolCall,
    VideoSource,
};
use crate::sse::SseItem;

/// The most stop strings the wire takes: Gemini's documented limit for `stopSequences`. The
/// rest are enforced on the stream (`tomori_core::stops`).
const WIRE_STOPS: usize = 5;

/// Wire names of each optional parameter, for reading which one an endpoint rejected. Gemini's
/// errors use either the JSON (camelCase) or the proto (snake_case) spelling.
pub(crate) fn param_names(param: Param) -> &'static [&'static str] {
    match param {
        Param::StreamOptions | Param::MinP | Param::LogitBias => &[],
        Param::Temperature => &["temperature"],
        Param::TopP => &["topP", "top_p"],
        Param::TopK => &["topK", "top_k"],
        Param::FrequencyPenalty => &["frequencyPenalty", "frequency_penalty"],
        Param::PresencePenalty => &["presencePenalty", "presence_penalty"],
        Param::MaxOutputTokens => &["maxOutputTokens", "max_output_tokens"],
        Param::Stop => &["stopSequences", "stop_sequences"],
        Param::Thinking => {
            &["thinkingConfig", "thinking_config", "thinkingBudget", "thinking_budget"]
        }
        Param::Tools => &["tools", "functionDeclarations", "function_declarations"],
    }
}

/// The model as a URL path segment.
///
/// Security: path injection. The model name comes from admins and users and is placed in the
/// URL path, so only the characters model names use are accepted (no `/`, `?`, `#`, `..`).
pub(crate) fn model_segment(model: &str) -> Result<&str, LlmError> {
    let model = model.strip_prefix("models/").unwrap_or(model);
    let valid = !model.is_empty()
        && !model.contains("..")
        && model.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(model)
    } else {
        Err(LlmError::invalid(format!("{model:?} is not a valid Gemini model name")))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerateBody<'a> {
    contents: Vec<WireContent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<WireContent>,
    #[serde(skip_serializing_if = "GenerationConfig::is_empty")]
    generation_config: GenerationConfig<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTools<'a>>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct GenerationConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_config: Option<ThinkingConfig>,
}

impl GenerationConfig<'_> {
    fn is_empty(&self) -> bool {
        self.temperature.is_none()
            && self.top_p.is_none()
            && self.top_k.is_none()
            && self.frequency_penalty.is_none()
            && self.presence_penalty.is_none()
            && self.max_output_tokens.is_none()
            && self.stop_sequences.is_empty()
            && self.thinking_config.is_none()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ThinkingConfig {
    thinking_budget: u32,
    include_thoughts: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireTools<'a> {
    function_declarations: Vec<FunctionDeclaration<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FunctionDeclaration<'a> {
    name: &'a str,
    description: &'a str,
    // Full JSON Schema; the older `parameters` field takes only an OpenAPI subset.
    parameters_json_schema: &'a Value,
}

#[derive(Serialize)]
struct WireContent {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    parts: Vec<WirePartOut>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct WirePartOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thought: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thought_signature: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inline_data: Option<InlineData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_data: Option<FileData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_call: Option<FunctionCallOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_response: Option<FunctionResponse>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InlineData {
    mime_type: String,
    data: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileData {
    #[serde(skip_serializing_if = "Option::is_none")]
    mime_type: Option<String>,
    file_uri: String,
}

#[derive(Serialize)]
struct FunctionCallOut {
    name: String,
    args: Value,
}

#[derive(Serialize)]
struct FunctionResponse {
    name: String,
    response: Value,
}

/// The `streamGenerateContent` body for `request` (already degraded as needed).
pub(crate) fn chat_body(request: &ChatRequest) -> Result<Vec<u8>, LlmError> {
    let sampler = &request.sampler;
    let thinking_config = match request.thinking {
        ThinkingLevel::Auto => None,
        ThinkingLevel::None => Some(ThinkingConfig { thinking_budget: 0, include_thoughts: false }),
        level => level
            .budget_tokens()
            .map(|thinking_budget| ThinkingConfig { thinking_budget, include_thoughts: true }),
    };
    let contents = alternate(request.messages.clone(), true)
        .into_iter()
        .map(|message| {
            let role = if message.role == Role::Assistant { "model" } else { "user" };
            let mut parts: Vec<WirePartOut> =
                message.parts.into_iter().filter_map(part_out).collect();
            if parts.is_empty() {
                parts.push(WirePartOut { text: Some("…".to_owned()), ..WirePartOut::default() });
            }
            WireContent { role: Some(role), parts }
        })
        .collect();
    let system_instruction = (!request.system.is_empty()).then(|| WireContent {
        role: None,
        parts: vec![WirePartOut {
            text: Some(request.system.join("\n\n")),
            ..WirePartOut::default()
        }],
    });
    let body = GenerateBody {
        contents,
        system_instruction,
        generation_config: GenerationConfig {
            temperature: sampler.temperature,
            top_p: sampler.top_p,
            top_k: sampler.top_k,
            frequency_penalty: sampler.frequency_penalty,
            presence_penalty: sampler.presence_penalty,
            max_output_tokens: sampler.max_output_tokens,
            stop_sequences: sampler.stop.get(..WIRE_STOPS).unwrap_or(&sampler.stop),
            thinking_config,
        },
        tools: if request.tools.is_empty() {
            Vec::new()
        } else {
            vec![WireTools {
                function_declarations: request
                    .tools
                    .iter()
                    .map(|tool| FunctionDeclaration {
                        name: &tool.name,
                        description: &tool.description,
                        parameters_json_schema: &tool.parameters,
                    })
                    .collect(),
            }]
        },
    };
    serde_json::to_vec(&body).map_err(|error| LlmError::invalid(format!("request body: {error}")))
}

fn part_out(part: Part) -> Option<WirePartOut> {
    let out = match part {
        Part::Text(text) if text.is_empty() => return None,
        Part::Text(text) => WirePartOut { text: Some(text), ..WirePartOut::default() },
        Part::Image(image) => match image.source {
            ImageSource::Base64(data) => WirePartOut {
                inline_data: Some(InlineData { mime_type: image.media_type, data }),
                ..WirePartOut::default()
            },
            ImageSource::Url(file_uri) => WirePartOut {
                file_data: Some(FileData { mime_type: Some(image.media_type), file_uri }),
                ..WirePartOut::default()
            },
        },
        Part::Video(video) => match video.source {
            VideoSource::Base64(data) => WirePartOut {
                inline_data: Some(InlineData { mime_type: video.media_type, data }),
                ..WirePartOut::default()
            },
            // Google's documented form for YouTube: the watch URL alone, no media type.
            VideoSource::YouTube(file_uri) => WirePartOut {
                file_data: Some(FileData { mime_type: None, file_uri }),
                ..WirePartOut::default()
            },
        },
        Part::ToolCall(call) => WirePartOut {
            function_call: Some(FunctionCallOut { args: call.echoed_arguments(), name: call.name }),
            thought_signature: call.signature,
            ..WirePartOut::default()
        },
        Part::ToolResult(result) => {
            let key = if result.is_error { "error" } else { "content" };
            WirePartOut {
                function_response: Some(FunctionResponse {
                    name: result.name,
                    response: serde_json::json!({ key: result.content }),
                }),
                ..WirePartOut::default()
            }
        }
        // Thought parts go back only with their signature; unsigned ones carry nothing the
        // model needs.
        Part::Reasoning(reasoning) => {
            let signature = reasoning.signature?;
            WirePartOut {
                text: Some(reasoning.text),
                thought: Some(true),
                thought_signature: Some(signature),
                ..WirePartOut::default()
            }
        }
    };
    Some(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Chunk {
    candidates: Option<Vec<Candidate>>,
    prompt_feedback: Option<PromptFeedback>,
    usage_metadata: Option<UsageMetadata>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    index: Option<u32>,
    content: Option<ContentIn>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ContentIn {
    parts: Option<Vec<PartIn>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PartIn {
    text: Option<String>,
    thought: Option<bool>,
    thought_signature: Option<String>,
    function_call: Option<FunctionCallIn>,
}

#[derive(Deserialize)]
struct FunctionCallIn {
    id: Option<String>,
    name: Option<String>,
    args: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    prompt_token_count: Option<i64>,
    candidates_token_count: Option<i64>,
    thoughts_token_count: Option<i64>,
    cached_content_token_count: Option<i64>,
}

/// Decoder state for one stream.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    finish: Option<FinishReason>,
    blocked: bool,
    calls: usize,
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
            SseItem::Stray(text) => {
                // A bare error object written into the stream ends it with that error.
                let value: Option<Value> = serde_json::from_str(&text).ok();
                return match value.as_ref().and_then(error_object) {
                    Some(error) => Err(error),
                    None => Err(LlmError::malformed("the stream has lines that are not SSE")),
                };
            }
        };
        if self.done {
            return Ok(());
        }
        let value: Value = parse_json(&data, "a Gemini stream event")?;
        if let Some(error) = error_object(&value) {
            return Err(error);
        }
        let has_shape = ["candidates", "promptFeedback", "usageMetadata"]
            .iter()
            .any(|key| value.get(key).is_some());
        if !has_shape {
            return Err(LlmError::malformed("a Gemini stream event has an unexpected shape"));
        }
        let chunk: Chunk = serde_json::from_value(value)
            .map_err(|error| LlmError::malformed(format!("a Gemini stream event: {error}")))?;
        if let Some(usage) = chunk.usage_metadata {
            self.usage = Some(Usage {
                input_tokens: count(usage.prompt_token_count),
                output_tokens: count(usage.candidates_token_count),
                reasoning_tokens: count(usage.thoughts_token_count),
                cached_input_tokens: count(usage.cached_content_token_count),
            });
        }
        if chunk.prompt_feedback.and_then(|f| f.block_reason).is_some() {
            self.blocked = true;
        }
        for candidate in
            chunk.candidates.unwrap_or_default().into_iter().filter(|c| c.index.unwrap_or(0) == 0)
        {
            for part in candidate.content.and_then(|c| c.parts).unwrap_or_default() {
                self.part(part, out)?;
            }
            if let Some(reason) = candidate.finish_reason {
                let reason = match reason.as_str() {
                    "STOP" | "FINISH_REASON_UNSPECIFIED" | "OTHER" | "LANGUAGE" => {
                        FinishReason::Stop
                    }
                    "MAX_TOKENS" => FinishReason::Length,
                    "MALFORMED_FUNCTION_CALL" | "UNEXPECTED_TOOL_CALL" => {
                        return Err(LlmError::malformed(
                            "the model made a malformed function call",
                        ));
                    }
                    // SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, IMAGE_SAFETY...
                    _ => FinishReason::ContentFilter,
                };
                // A safety stop sticks even if a later chunk says STOP.
                if self.finish != Some(FinishReason::ContentFilter) {
                    self.finish = Some(reason);
                }
            }
        }
        Ok(())
    }

    fn part(&mut self, part: PartIn, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        if let Some(call) = part.function_call {
            let name = call
                .name
                .filter(|n| !n.is_empty())
                .ok_or_else(|| LlmError::malformed("a function call has no name"))?;
            let arguments = match call.args {
                None | Some(Value::Null) => Value::Object(serde_json::Map::new()),
                Some(args @ Value::Object(_)) => args,
                // Answered with an error the model can correct (see `ToolCall::arguments`).
                Some(other) => Value::String(other.to_string()),
            };
            let id = call
                .id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| format!("call_{}", self.calls));
            self.calls += 1;
            out.push(StreamEvent::ToolCall(ToolCall {
                id,
                name,
                arguments,
                signature: part.thought_signature,
            }));
            return Ok(());
        }
        let signature = part.thought_signature;
        match part.text {
            Some(text) if part.thought == Some(true) => {
                if !text.is_empty() {
                    out.push(StreamEvent::Reasoning(text));
                }
                if let Some(signature) = signature {
                    out.push(StreamEvent::ReasoningSignature(signature));
                }
            }
            Some(text) => {
                if !text.is_empty() {
                    out.push(StreamEvent::Text(text));
                }
                if let Some(signature) = signature {
                    out.push(StreamEvent::ReasoningSignature(signature));
                }
            }
            // Inline data, code execution and parts we do not use.
            None => {}
        }
        Ok(())
    }

    pub(crate) fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        let finish = if self.blocked {
            FinishReason::ContentFilter
        } else {
            match self.finish {
                Some(FinishReason::Stop) if self.calls > 0 => FinishReason::ToolCalls,
                Some(finish) => finish,
                None => {
                    return Err(LlmError::malformed("the stream ended before the answer finished"));
                }
            }
        };
        if let Some(usage) = self.usage.take() {
            out.push(StreamEvent::Usage(usage));
        }
        out.push(StreamEvent::Finish(finish));
        Ok(())
    }
}

#[derive(Serialize)]
struct BatchEmbedBody {
    requests: Vec<EmbedContentRequest>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EmbedContentRequest {
    model: String,
    content: WireContent,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_dimensionality: Option<u32>,
}

#[derive(Deserialize)]
struct BatchEmbedAnswer {
    embeddings: Vec<EmbeddingValues>,
}

#[derive(Deserialize)]
struct EmbeddingValues {
    values: Vec<f32>,
}

pub(crate) fn embedding_body(request: &EmbeddingRequest, model: &str) -> Result<Vec<u8>, LlmError> {
    let model = format!("models/{}", model_segment(model)?);
    let body = BatchEmbedBody {
        requests: request
            .inputs
            .iter()
            .map(|text| EmbedContentRequest {
                model: model.clone(),
                content: WireContent {
                    role: None,
                    parts: vec![WirePartOut { text: Some(text.clone()), ..WirePartOut::default() }],
                },
                output_dimensionality: request.dimensions,
            })
            .collect(),
    };
    serde_json::to_vec(&body).map_err(|error| LlmError::invalid(format!("request body: {error}")))
}

/// The vectors in input order.
pub(crate) fn parse_embeddings(body: &[u8], expected: usize) -> Result<Vec<Vec<f32>>, LlmError> {
    let answer: BatchEmbedAnswer = serde_json::from_slice(body)
        .map_err(|error| LlmError::malformed(format!("embeddings answer: {error}")))?;
    if answer.embeddings.len() != expected {
        return Err(LlmError::malformed("the answer has a different number of embeddings"));
    }
    Ok(answer.embeddings.into_iter().map(|e| e.values).collect())
}
