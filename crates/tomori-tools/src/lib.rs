//! tomori-tools: what the model can do, and the one fail-closed gate every call goes through.
//!
//! Architecture invariant: a tool runs only with an [`Authorized`] call, and only
//! [`Gate::authorize`] makes one, after checking the tool's [`ToolPolicy`] against live state
//! ([`TurnContext`], [`LiveState`]) for that very call. Policies are data, declared by each tool
//! and validated when it is registered; a tool without one cannot be written. The crate knows no
//! Discord types: permissions are its own [`Perm`]s, messages are `ref_N` handles.
//!
//! The layers:
//! - [`ToolPolicy`] (feature, effect, permissions, contexts, quota, [`TargetRule`]) and
//!   [`Perms`].
//! - [`Registry`] and [`Gate`]: registration, the per-turn advertised list, authorisation.
//! - [`run_tool_calls`], [`fence`], [`LoopState`]: what the engine's tool loop calls.
//! - Built-in tools: [`CreateMemory`], [`UpdateMemory`], [`UpdateShortTermMemory`], [`FetchUrl`], [`WebSearch`],
//!   [`CreateTask`], [`UpdateTask`], [`ListTasks`], [`RevealMessageMetadata`], [`ReviewCapabilities`].
//! - [`Platform`]: the chat platform's facts and actions, and the tools that need one
//!   ([`platform_tools`]): [`ManageMessage`], [`InteractWithMessage`], [`CreateThread`],
//!   [`CrossChannelMessage`], [`SelectSticker`], [`ReadFile`].
//! - [`GenerateImage`] and [`PeekProfilePicture`], registered by the binary where pictures can
//!   be posted and fetched; [`run_member_call`] runs a tool a member asked for directly
//!   (`/generate image`) through the same gate and quota.
//! - [`pdf`]: PDFs read in a child process under OS limits ([`PdfExtractor`]), for `read_file`
//!   and the documents of `/memory`.
//! - [`ToolSource`]s the gate layers under the built-ins, for tools that come and go: the MCP
//!   servers of [`mcp`] (the operator's stdio servers and each guild's remote servers).

mod analyze;
mod args;
mod capabilities;
mod channels;
mod context;
mod fetch;
#[cfg(any(test, fuzzing))]
pub mod fuzz;
mod gate;
mod image;
pub mod mcp;
mod memory;
mod messages;
pub mod pdf;
mod peek;
mod perm;
mod platform;
mod policy;
mod read_file;
mod reminder;
mod reminder_time;
mod run;
mod search;
mod short_term;
mod stickers;
mod video;
mod youtube;

use std::sync::Arc;

pub use analyze::{ANALYZE_IMAGE, AnalyzeImage, ImageAnalyst, MAX_QUESTION_CHARS, SharedAnalyst};
pub use capabilities::ReviewCapabilities;
pub use channels::{CreateThread, CrossChannelMessage, MAX_THREAD_NAME_CHARS};
pub use context::{
    Author, Features, LiveError, LiveState, MAX_OUT_FILES, MemoryScope, OutFile, Outbox, Place,
    Snapshot, TurnContext, Visibility,
};
pub use fetch::{FETCH_MAX_BYTES, FETCH_PAGE_CHARS, FETCH_TIMEOUT, FetchUrl};
pub use gate::{
    Authorized, DEFAULT_TOOL_TIMEOUT, Gate, Refusal, RefusalReason, Registry, RegistryError,
    Target, Tool, ToolOutcome, ToolSource,
};
pub use image::{GenerateImage, ImageAsk, ImageFailure, ImageMaker, MadeImage, failure_for_member};
pub use memory::{CreateMemory, UpdateMemory};
pub use messages::{
    InteractWithMessage, MAX_CONTENT_CHARS, MAX_MESSAGE_RANGE, ManageMessage,
    RevealMessageMetadata, ago, sent_at,
};
pub use pdf::{PdfError, PdfExtractor};
pub use peek::{
    MAX_SHOWN_IMAGES, MAX_SHOWN_VIDEOS, PEEK_PROFILE_PICTURE, PeekProfilePicture, PictureLoader,
    ShownImages,
};
pub use perm::{Perm, Perms};
pub use platform::{
    AttachmentFacts, ChannelAccess, ChannelFacts, ChannelKind, MessageFacts, Platform,
    PlatformError, StickerFacts,
};
pub use policy::{Contexts, Effect, PolicyError, QuotaKind, TargetRule, ToolPolicy};
pub use read_file::{
    FileKind, READ_FILE_DOWNLOAD_TIMEOUT, READ_FILE_MAX_BYTES, READ_FILE_MAX_CHARS,
    READ_FILE_PAGE_CHARS, ReadFile, classify, decode_text,
};
pub use reminder::{Clock, CreateTask, ListTasks, UpdateTask};
pub use reminder_time::MAX_AHEAD_DAYS;
pub use run::{
    LoopAbort, LoopLimits, LoopState, LoopStep, MemberCallError, failed_result, failure_json,
    fence, results_message, run_member_call, run_tool_calls,
};
pub use search::{
    BRAVE_PROVIDER, BRAVE_WEB_SEARCH, DUCKDUCKGO_HTML, MAX_RESULTS, SearchConfig, SearchResult,
    WebSearch, parse_brave, parse_duckduckgo, parse_searxng,
};
pub use short_term::UpdateShortTermMemory;
pub use stickers::SelectSticker;
use tomori_net::Client;
use tomori_store::Store;
pub use video::{GenerateVideo, MadeVideo, VideoAsk, VideoFailure, VideoMaker};
pub use youtube::{PROCESS_YOUTUBE_VIDEO, ProcessYoutubeVideo};

/// The built-in tools, registered: memories and reminders over `store`, `fetch_url` over
/// `tool_client` (a tool-scope client), `web_search` over `operator_client` with the operator's
/// `search` config (and each server's Brave key from `store`), its redirects followed through
/// `tool_client`, and the platform-free diagnostics.
///
/// # Errors
/// A built-in breaks a registration rule (a bug, caught by the tests).
pub fn builtins(
    store: &Store,
    tool_client: Client,
    operator_client: Client,
    search: SearchConfig,
) -> Result<Registry, RegistryError> {
    let mut registry = Registry::new();
    registry.register(CreateMemory::new(store.clone()))?;
    registry.register(UpdateMemory::new(store.clone()))?;
    registry.register(FetchUrl::new(tool_client.clone()))?;
    registry
        .register(WebSearch::new(operator_client, tool_client, search).with_keys(store.clone()))?;
    registry.register(RevealMessageMetadata)?;
    registry.register(ReviewCapabilities::new(store.clone()))?;
    registry.register(CreateTask::new(store.clone()))?;
    registry.register(UpdateTask::new(store.clone()))?;
    registry.register(ListTasks::new(store.clone()))?;
    registry.register(UpdateShortTermMemory::new(store.clone()))?;
    // Offered by the engine only when the chat model is blind and a vision model describes.
    registry.register(AnalyzeImage)?;
    registry.register(ProcessYoutubeVideo)?;
    Ok(registry)
}

/// Registers the tools that act through a chat platform: message management, reactions and
/// replies, threads, cross-channel messages, stickers, and `read_file` (downloading with
/// `media_client`, a media-scope client, and reading PDFs with `pdf`).
///
/// # Errors
/// A tool breaks a registration rule (a bug, caught by the tests), or a name is taken.
pub fn platform_tools(
    registry: &mut Registry,
    store: &Store,
    platform: Arc<dyn Platform>,
    media_client: Client,
    pdf: PdfExtractor,
) -> Result<(), RegistryError> {
    registry.register(ManageMessage::new(Arc::clone(&platform)))?;
    registry.register(InteractWithMessage::new(Arc::clone(&platform)))?;
    registry.register(CreateThread::new(Arc::clone(&platform)))?;
    registry.register(CrossChannelMessage::new(Arc::clone(&platform), store.clone()))?;
    registry.register(SelectSticker::new(Arc::clone(&platform)))?;
    registry.register(ReadFile::new(platform, media_client, pdf))?;
    Ok(())
}
