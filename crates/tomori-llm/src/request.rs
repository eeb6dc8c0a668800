//! The provider-neutral chat request: system blocks, messages with roles and speaker names, media,
//! tools, sampler parameters and the thinking level.
//!
//! Adapters translate this into their wire format; nothing here knows a wire format. Tool schemas
//! are checked when a [`ToolSpec`] is made (JSON Schema draft-07, inlined, no `$ref`), so every
//! adapter can pass them through unchanged.

use serde_json::Value;
use tomori_core::logit_bias::{BiasEntry, Vocabulary};

use crate::error::LlmError;

/// One generation request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatRequest {
    /// System blocks, in order (persona, rules, memories...). Adapters join or list them as their
    /// wire format wants.
    pub system: Vec<String>,
    /// The conversation, oldest first.
    pub messages: Vec<Message>,
    /// Tools the model may call.
    pub tools: Vec<ToolSpec>,
    /// Sampler parameters; unset ones are not sent.
    pub sampler: Sampler,
    /// How much the model should think before answering.
    pub thinking: ThinkingLevel,
}

impl ChatRequest {
    /// Whether any message carries an image.
    pub fn has_images(&self) -> bool {
        self.messages.iter().any(|m| m.parts.iter().any(|p| matches!(p, Part::Image(_))))
    }

    /// Replaces every video with its caption, for a model that cannot watch it; whether any
    /// was replaced.
    pub fn videos_as_captions(&mut self) -> bool {
        let mut replaced = false;
        for part in self.messages.iter_mut().flat_map(|m| m.parts.iter_mut()) {
            if let Part::Video(video) = part {
                *part = Part::Text(std::mem::take(&mut video.caption));
                replaced = true;
            }
        }
        replaced
    }

    /// Checks what every adapter relies on: at least one message, and tool names unique.
    ///
    /// # Errors
    ///
    /// `InvalidRequest` naming the problem.
    pub fn validate(&self) -> Result<(), LlmError> {
        if self.messages.is_empty() {
            return Err(LlmError::invalid("a chat request needs at least one message"));
        }
        let mut names: Vec<&str> = self.tools.iter().map(|t| t.name.as_str()).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(LlmError::invalid(format!("tool {} is declared twice", pair[0])));
        }
        Ok(())
    }
}

/// Who wrote a message. System text lives in [`ChatRequest::system`]; tool results are messages
/// of their own so that every wire format can place them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// A person in the channel (or the engine speaking for them).
    User,
    /// The model (one of our personas).
    Assistant,
    /// Results of tool calls the assistant made in the previous message.
    Tool,
}

/// One message of the conversation.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Speaker's display name, for group chats where several people talk.
    pub name: Option<String>,
    /// Content, in order.
    pub parts: Vec<Part>,
}

impl Message {
    /// A user message with one text part.
    pub fn user(text: impl Into<String>) -> Self {
        Message { role: Role::User, name: None, parts: vec![Part::Text(text.into())] }
    }

    /// An assistant message with one text part.
    pub fn assistant(text: impl Into<String>) -> Self {
        Message { role: Role::Assistant, name: None, parts: vec![Part::Text(text.into())] }
    }

    /// Sets the speaker name.
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Adds a part.
    #[must_use]
    pub fn with(mut self, part: Part) -> Self {
        self.parts.push(part);
        self
    }
}

/// A piece of message content.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    /// Plain text.
    Text(String),
    /// An image the model should see.
    Image(Image),
    /// A video the model should watch (Gemini's models only; every other model gets its
    /// caption, see [`ChatRequest::videos_as_captions`]).
    Video(Video),
    /// A tool call the assistant made (assistant messages only).
    ToolCall(ToolCall),
    /// The result of a tool call (tool messages only).
    ToolResult(ToolResult),
    /// The assistant's earlier reasoning, sent back where the provider needs it (Anthropic
    /// thinking blocks with signatures, DeepSeek `reasoning_content` across tool turns).
    Reasoning(Reasoning),
}

/// Image content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Media type, e.g. `image/png`.
    pub media_type: String,
    /// Where the bytes are.
    pub source: ImageSource,
}

/// Where an image's bytes are. The engine downloads attachments itself (through tomori-net's
/// `safe_download`) and passes base64, so providers never fetch user-supplied URLs for us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageSource {
    /// Base64 data (no `data:` prefix).
    Base64(String),
    /// An https URL the provider fetches itself.
    Url(String),
}

/// Video content.
#[derive(Clone, PartialEq, Eq)]
pub struct Video {
    /// Media type, e.g. `video/mp4` (for a YouTube link, `video/*`).
    pub media_type: String,
    /// Where the video is.
    pub source: VideoSource,
    /// What a model that cannot watch it reads in its place.
    pub caption: String,
}

impl std::fmt::Debug for Video {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.source {
            VideoSource::Base64(data) => format!("Base64({} chars)", data.len()),
            VideoSource::YouTube(url) => format!("YouTube({url})"),
        };
        f.debug_struct("Video")
            .field("media_type", &self.media_type)
            .field("source", &source)
            .field("caption", &self.caption)
            .finish()
    }
}

/// Where a video's bytes are. Attachments are downloaded by the engine and sent inline; a
/// YouTube video is named by its canonical watch URL, which Google's API fetches itself (it
/// takes no other video URL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VideoSource {
    /// Base64 data (no `data:` prefix).
    Base64(String),
    /// `https://www.youtube.com/watch?v={id}`.
    YouTube(String),
}

/// A tool call, as the model made it.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    /// Provider's id for the call, echoed with the result (generated when the provider has none).
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments: a JSON object; or, when what the model sent is not one (not JSON, or JSON of
    /// another kind), that text as a JSON string. Such a call is never run: it is answered with
    /// [`ToolCall::arguments_problem`], which the model can correct.
    pub arguments: Value,
    /// Opaque signature to send back with the call (Gemini `thoughtSignature`).
    pub signature: Option<String>,
}

impl ToolCall {
    /// Why the arguments cannot be used, when they are not a JSON object.
    pub fn arguments_problem(&self) -> Option<String> {
        match &self.arguments {
            Value::Object(_) => None,
            Value::String(sent) => Some(match serde_json::from_str::<Value>(sent) {
                Ok(_) => "the arguments are JSON but not an object".to_owned(),
                Err(error) => format!("the arguments are not valid JSON ({error})"),
            }),
            _ => Some("the arguments are not a JSON object".to_owned()),
        }
    }

    /// The arguments to send back to the provider with the call in the history: as the model
    /// sent them when they are an object, else `{}` (providers refuse anything else there; the
    /// call's result says what was wrong).
    pub fn echoed_arguments(&self) -> Value {
        match &self.arguments {
            arguments @ Value::Object(_) => arguments.clone(),
            _ => Value::Object(serde_json::Map::new()),
        }
    }
}

/// The result of one tool call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolResult {
    /// The call's id.
    pub call_id: String,
    /// The tool's name (Gemini matches results by name).
    pub name: String,
    /// What the tool returned, as text.
    pub content: String,
    /// Whether the tool failed.
    pub is_error: bool,
}

/// Earlier reasoning of the assistant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reasoning {
    /// Reasoning text.
    pub text: String,
    /// Provider signature that authenticates it (Anthropic thinking, Gemini thought parts).
    pub signature: Option<String>,
}

/// A tool the model may call.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    /// Name: ASCII letters, digits, `_` and `-`, 1 to 64 characters (the strictest provider rule).
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema draft-07 for the arguments: an object schema, inlined.
    pub parameters: Value,
}

impl ToolSpec {
    /// Makes a tool spec, checking the name and the schema.
    ///
    /// # Errors
    ///
    /// `InvalidRequest` when the name has characters providers refuse, or the schema is not an
    /// object schema, or uses `$ref` / `$defs` / `definitions` (draft-07 inlined is the one shape
    /// all three providers accept). A top-level `$schema` is removed rather than refused.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        mut parameters: Value,
    ) -> Result<Self, LlmError> {
        let name = name.into();
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid_name {
            return Err(LlmError::invalid(format!(
                "tool name {name:?} must be 1 to 64 ASCII letters, digits, '_' or '-'"
            )));
        }
        let Some(root) = parameters.as_object_mut() else {
            return Err(LlmError::invalid(format!(
                "tool {name}: the schema must be a JSON object"
            )));
        };
        root.remove("$schema");
        if root.get("type").and_then(Value::as_str) != Some("object") {
            return Err(LlmError::invalid(format!(
                "tool {name}: the schema must have \"type\": \"object\""
            )));
        }
        if let Some(keyword) = find_reference(&parameters) {
            return Err(LlmError::invalid(format!(
                "tool {name}: the schema uses {keyword}; inline it (draft-07, no references)"
            )));
        }
        Ok(ToolSpec { name, description: description.into(), parameters })
    }
}

/// The first reference keyword anywhere in a schema. Property *names* may be anything, so only
/// keys of schema objects are looked at, but a property literally named `$ref` is still refused:
/// some providers choke on it either way.
fn find_reference(value: &Value) -> Option<&'static str> {
    match value {
        Value::Object(map) => {
            for keyword in ["$ref", "$defs", "definitions", "$dynamicRef"] {
                if map.contains_key(keyword) {
                    return Some(keyword);
                }
            }
            map.values().find_map(find_reference)
        }
        Value::Array(items) => items.iter().find_map(find_reference),
        _ => None,
    }
}

/// Sampler parameters. `None` means "not sent": the provider's default applies.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sampler {
    /// 0 to 2.
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    pub top_p: Option<f32>,
    /// Top-k sampling (not OpenAI proper; OpenRouter, vLLM, Ollama and the others take it).
    pub top_k: Option<u32>,
    /// Min-p sampling (OpenAI-compatible local servers and OpenRouter).
    pub min_p: Option<f32>,
    /// Frequency penalty.
    pub frequency_penalty: Option<f32>,
    /// Presence penalty.
    pub presence_penalty: Option<f32>,
    /// Output token cap.
    pub max_output_tokens: Option<u32>,
    /// Stop strings. The wire formats receive as many as they take (OpenAI-compatible 4, Gemini
    /// 5, Anthropic all); every answer is scanned for all of them as it streams in.
    pub stop: Vec<String>,
    /// The speaker pattern, on when it names the persona answering: the answer also ends at a line
    /// that opens with anyone else's `Name:` label. Enforced on the stream; never sent.
    pub speaker: Option<String>,
    /// The server's logit bias, sent as the ids of the answering model's vocabulary.
    pub logit_bias: LogitBias,
}

/// A server's logit bias entries and the vocabulary of the model a request goes to, set for each
/// model of the chain (`tomori_core::logit_bias` says which models take which ids).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogitBias {
    entries: std::sync::Arc<[BiasEntry]>,
    vocabulary: Option<Vocabulary>,
}

impl LogitBias {
    /// The server's entries, for no model yet.
    pub fn new(entries: Vec<BiasEntry>) -> Self {
        Self { entries: entries.into(), vocabulary: None }
    }

    /// The entries as sent to `model` of `provider`.
    pub(crate) fn for_model(&self, provider: &str, model: &str) -> Self {
        Self {
            entries: self.entries.clone(),
            vocabulary: tomori_core::logit_bias::vocabulary(provider, model),
        }
    }

    /// The `logit_bias` field for the model: id to bias, empty when the model takes none.
    pub(crate) fn wire(&self) -> std::collections::BTreeMap<u32, i8> {
        match self.vocabulary {
            Some(vocabulary) => tomori_core::logit_bias::wire_map(&self.entries, vocabulary),
            None => std::collections::BTreeMap::new(),
        }
    }

    /// Drops the entries (the degradation ladder's rung).
    pub(crate) fn clear(&mut self) {
        self.entries = std::sync::Arc::from([]);
    }
}

/// How much the model should reason before answering (defined in tomori-core, where the server's
/// setting is stored).
pub use tomori_core::thinking::ThinkingLevel;

/// Optional request parameters, as the degradation ladder drops them one by one. The model and
/// the messages are not here: they are never dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Param {
    /// `stream_options` (OpenAI-compatible only).
    StreamOptions,
    /// Temperature.
    Temperature,
    /// Top-p.
    TopP,
    /// Top-k.
    TopK,
    /// Min-p.
    MinP,
    /// Frequency penalty.
    FrequencyPenalty,
    /// Presence penalty.
    PresencePenalty,
    /// Output token cap (never dropped where the provider requires it: Anthropic).
    MaxOutputTokens,
    /// Stop strings.
    Stop,
    /// Logit bias (OpenAI-compatible only).
    LogitBias,
    /// Thinking / reasoning effort.
    Thinking,
    /// The tool list (dropped by name when an endpoint names it; otherwise a later rung).
    Tools,
}

impl Param {
    /// Stable snake_case name, for logs and notices.
    pub fn code(self) -> &'static str {
        match self {
            Param::StreamOptions => "stream_options",
            Param::Temperature => "temperature",
            Param::TopP => "top_p",
            Param::TopK => "top_k",
            Param::MinP => "min_p",
            Param::FrequencyPenalty => "frequency_penalty",
            Param::PresencePenalty => "presence_penalty",
            Param::MaxOutputTokens => "max_output_tokens",
            Param::Stop => "stop",
            Param::LogitBias => "logit_bias",
            Param::Thinking => "thinking",
            Param::Tools => "tools",
        }
    }
}

/// A request to embed texts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EmbeddingRequest {
    /// The texts, each embedded separately.
    pub inputs: Vec<String>,
    /// Output dimensions, where the model can shorten its vectors.
    pub dimensions: Option<u32>,
}

#[cfg(test)]
mod tests;
