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
//! - Built-in tools: [`CreateMemory`], [`UpdateMemory`], [`FetchUrl`], [`WebSearch`].
//! - [`ToolSource`]s the gate layers under the built-ins, for tools that come and go: the MCP
//!   servers of [`mcp`] (the operator's stdio servers and each guild's remote servers).

mod args;
mod context;
mod fetch;
mod gate;
pub mod mcp;
mod memory;
mod perm;
mod policy;
mod run;
mod search;

pub use context::{
    Author, Features, LiveError, LiveState, MemoryScope, Place, Snapshot, TurnContext, Visibility,
};
pub use fetch::{FETCH_MAX_BYTES, FETCH_PAGE_CHARS, FETCH_TIMEOUT, FetchUrl};
pub use gate::{
    Authorized, DEFAULT_TOOL_TIMEOUT, Gate, Refusal, RefusalReason, Registry, RegistryError,
    Target, Tool, ToolOutcome, ToolSource,
};
pub use memory::{CreateMemory, UpdateMemory};
pub use perm::{Perm, Perms};
pub use policy::{Contexts, Effect, PolicyError, QuotaKind, TargetRule, ToolPolicy};
pub use run::{
    LoopAbort, LoopLimits, LoopState, LoopStep, failure_json, fence, results_message,
    run_tool_calls,
};
pub use search::{
    DUCKDUCKGO_HTML, MAX_RESULTS, SearchConfig, SearchResult, WebSearch, parse_duckduckgo,
    parse_searxng,
};
use tomori_net::Client;
use tomori_store::Store;

/// The built-in tools, registered: memories over `store`, `fetch_url` over `tool_client` (a
/// tool-scope client), `web_search` over `operator_client` with the operator's `search` config.
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
    registry.register(FetchUrl::new(tool_client))?;
    registry.register(WebSearch::new(operator_client, search))?;
    Ok(registry)
}
