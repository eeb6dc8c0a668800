//! tomori-llm: the provider layer. One request model, one streaming event model, three wire
//! formats, and the reliability around them (timeouts, retries, key pools, degradation,
//! fallback).
//!
//! Invariant: provider wire types never leave their adapter module (`openai`, `anthropic`,
//! `gemini`); everything public is provider-neutral. Every call goes through a
//! [`tomori_net::Client`] whose policy belongs to whoever configured the endpoint (operator,
//! server or personal scope), so an admin's or a user's endpoint URL is judged like any other
//! user-supplied URL, DNS answers and redirects included. The crate knows nothing about Discord,
//! the database or personas: the engine hands it [`KeyCandidates`] and a [`ModelCatalogue`] it
//! built from tomori-store and the config.
//!
//! The layers, from data to IO:
//! - [`ChatRequest`] (system blocks, [`Message`]s with roles, speaker names and [`Part`]s,
//!   [`ToolSpec`]s in inlined draft-07 JSON Schema, [`Sampler`], [`ThinkingLevel`]) in;
//!   [`StreamEvent`]s (text, reasoning, whole tool calls, usage, notices, [`FinishReason`]) out,
//!   folded by [`Completion`].
//! - [`SseParser`] and [`StreamDecoder`]: bytes to events, pure and split-anywhere safe, with
//!   size caps; bad input is a classified [`LlmError`], never a panic.
//! - [`Degradation`]: the ladder for endpoints that reject a parameter.
//! - [`KeyCandidates`] and [`KeyPools`]: personal before server before instance keys; least
//!   used first; 60 s rest after a 429, 300 s after other failures; time injected ([`Clock`]).
//! - [`ModelCatalogue`]: capabilities from config data.
//! - [`Llm`]: retries, keys, ladder and the fallback chain of [`Target`]s, over tomori-net;
//!   images ([`Llm::generate_image`]) and videos ([`Llm::generate_video`], Veo and OpenRouter) over the same keys.
//!
//! Secrets: API keys are [`secrecy::SecretString`]s inside [`ApiKey`], whose `Debug` shows an id
//! only; they are sent only as secret headers, and provider messages quoting them are scrubbed
//! before they reach an error.

mod anthropic;
mod call;
mod catalogue;
mod comfy;
mod decode;
mod degrade;
mod endpoint;
mod error;
mod event;
#[cfg(any(test, fuzzing))]
pub mod fuzz;
mod gemini;
mod history;
mod image;
mod keys;
mod llm;
mod openai;
mod probe;
mod request;
mod sse;
mod video;

pub use call::{Answered, ChatStream};
pub use catalogue::{Capabilities, CatalogueError, ModelCatalogue, ModelEntry, shape_for};
pub use comfy::{
    COMFY_DENIED_WORDS, ComfyAsk, ComfyImage, ComfyOptions, ComfySize, ComfyWorkflow,
    MAX_COMFY_PROMPT_CHARS, MAX_COMFY_SIDE, MAX_WORKFLOW_BYTES, MAX_WORKFLOW_NESTING,
    MAX_WORKFLOW_NODES, MAX_WORKFLOW_OUTPUTS, MIN_COMFY_POLL, MIN_COMFY_SIDE, WorkflowError,
    generate as comfy_generate,
};
pub use decode::{StreamDecoder, decode_all};
pub use degrade::Degradation;
pub use endpoint::{
    Endpoint, EndpointOptions, ExtraHeader, KNOWN_PROVIDERS, KnownProvider, StreamLimits, Timeouts,
    Wire, client_for, known_provider,
};
pub use error::{
    LlmError, MAX_PROVIDER_MESSAGE, TimeoutPhase, TransportKind, cause_chain, transport_kind,
};
pub use event::{Completion, FinishReason, Notice, StreamEvent, Usage};
pub use image::{
    ImageData, ImageOutcome, ImageRequest, ImageShape, MAX_IMAGE_BYTES, MAX_IMAGE_PROMPT_CHARS,
};
pub use keys::{
    ApiKey, Clock, ERROR_COOLDOWN, KeyCandidates, KeyOutcome, KeyPools, KeySource, KeyStats,
    MAX_KEY_ATTEMPTS, ManualClock, RATE_LIMIT_COOLDOWN, SystemClock,
};
pub use llm::{Embeddings, GeneratedImage, Llm, RetryPolicy, Target};
pub use probe::probe;
pub use request::{
    ChatRequest, EmbeddingRequest, Image, ImageSource, LogitBias, Message, Param, Part, Reasoning,
    Role, Sampler, ThinkingLevel, ToolCall, ToolResult, ToolSpec, Video, VideoSource,
};
pub use sse::{SseEvent, SseItem, SseParser};
pub use video::{
    GeneratedVideo, MAX_VIDEO_BYTES, MAX_VIDEO_PROMPT_CHARS, MIN_VIDEO_POLL, Mp4Error, VideoData,
    VideoOptions, VideoOutcome, VideoRequest, VideoShape, check_mp4, has_video_api,
};
