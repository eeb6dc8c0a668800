//! The one execution gate: the registry of tools with their policies, the per-turn list of
//! advertised tools, and the authorisation of every call against live state.
//!
//! Security: unauthorised tool calls (TomoriBot's threat model: "there is not one universal
//! execution-layer gate"). A tool runs only through [`Tool::execute`], which takes an
//! [`Authorized`] call, and only [`Gate::authorize`] can make one: its fields are private to this
//! module and it has no public constructor. Authorisation re-reads live state for every call
//! (feature flags, permissions, context, quota, target ownership and visibility), so what was
//! advertised at the start of a turn grants nothing. Anything unknown, missing or failing while
//! checking is a refusal.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::Value;
use tomori_core::id::{ServerId, Snowflake};
use tomori_core::quota::QuotaVerdict;
use tomori_core::settings::Feature;
use tomori_llm::{ToolCall, ToolSpec};

use crate::args::{check_shape, find_raw_id};
use crate::context::{Author, MemoryScope, Place, Snapshot, TurnContext};
use crate::perm::Perm;
use crate::platform::{ChannelAccess, ChannelFacts, ChannelKind};
use crate::policy::{PolicyError, TargetRule, ToolPolicy};

/// The per-tool timeout when none is configured.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(300);

/// What a tool returns.
#[derive(Clone, Debug, PartialEq)]
pub enum ToolOutcome {
    /// The result, shown to the model as untrusted content.
    Success(Value),
    /// Why it failed, in words the model can act on (never a raw error chain).
    Failure(String),
}

/// A tool the model can call.
///
/// There is no default for [`Tool::policy`]: a tool cannot be written without one, and the
/// registry validates it before the tool is accepted.
pub trait Tool: Send + Sync {
    /// The name the model calls it by.
    fn name(&self) -> &str;
    /// What it does, for the model.
    fn description(&self) -> &str;
    /// JSON Schema (draft-07, inlined) of its arguments.
    fn parameters(&self) -> Value;
    /// What must hold before a call runs.
    fn policy(&self) -> ToolPolicy;
    /// Runs an authorised call.
    fn execute<'a>(
        &'a self,
        call: Authorized<'a>,
        ctx: &'a TurnContext,
    ) -> BoxFuture<'a, ToolOutcome>;
}

/// Why the registry refused a tool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The name or schema is not one every provider accepts.
    #[error("tool {tool}: {reason}")]
    InvalidSpec {
        /// The tool.
        tool: String,
        /// What is wrong.
        reason: String,
    },
    /// The policy breaks a rule.
    #[error("tool {tool}: {error}")]
    InvalidPolicy {
        /// The tool.
        tool: String,
        /// The rule.
        error: PolicyError,
    },
    /// Another tool already has the name.
    #[error("tool {0} is registered twice")]
    Duplicate(String),
}

#[derive(Clone)]
struct Registered {
    tool: Arc<dyn Tool>,
    spec: ToolSpec,
    policy: ToolPolicy,
}

/// The tools of an instance, each with its validated policy.
#[derive(Default)]
pub struct Registry {
    tools: Vec<Registered>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.tools.iter().map(|t| t.spec.name.as_str())).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tool after checking its spec and policy.
    ///
    /// # Errors
    /// An invalid name or schema, a policy that breaks a rule, or a name already taken.
    pub fn register(&mut self, tool: impl Tool + 'static) -> Result<(), RegistryError> {
        let name = tool.name();
        let spec = ToolSpec::new(name, tool.description(), tool.parameters()).map_err(|e| {
            RegistryError::InvalidSpec { tool: name.to_owned(), reason: e.to_string() }
        })?;
        let policy = tool.policy();
        policy
            .validate(&spec)
            .map_err(|error| RegistryError::InvalidPolicy { tool: name.to_owned(), error })?;
        if self.get(name).is_some() {
            return Err(RegistryError::Duplicate(name.to_owned()));
        }
        self.tools.push(Registered { tool: Arc::new(tool), spec, policy });
        Ok(())
    }

    /// The registered names, in registration order.
    pub fn names(&self) -> Vec<&str> {
        self.tools.iter().map(|t| t.spec.name.as_str()).collect()
    }

    /// A tool's validated policy.
    pub fn policy(&self, name: &str) -> Option<ToolPolicy> {
        self.get(name).map(|t| t.policy)
    }

    fn get(&self, name: &str) -> Option<&Registered> {
        self.tools.iter().find(|t| t.spec.name == name)
    }
}

/// Tools that come and go while the bot runs (MCP servers), asked for on every advertisement and
/// every call, for the turn's server.
///
/// A source hands back a [`Registry`], so its tools passed the same registration checks as the
/// built-ins. The gate layers sources under its own registry: a name already taken by a built-in
/// or by an earlier source is skipped, whether or not that tool is offered this turn, so a source
/// can never shadow another tool.
pub trait ToolSource: Send + Sync {
    /// The tools offered in `server` now.
    fn tools(&self, server: ServerId) -> BoxFuture<'_, Arc<Registry>>;
}

/// Why the gate refused a call; each has a stable code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalReason {
    /// No tool of that name.
    UnknownTool,
    /// The arguments do not fit the schema.
    MalformedArguments,
    /// An argument carries a raw Discord id instead of a handle.
    RawId,
    /// The server's `tool_use` switch is off.
    ToolUseOff,
    /// The tool's feature flag is off.
    FeatureOff,
    /// The bot lacks a permission in the channel.
    BotPermission,
    /// The invoker lacks a permission in the channel.
    InvokerPermission,
    /// The tool does not run here (DM, guild, rp channel).
    WrongContext,
    /// The quota is used up.
    QuotaExhausted,
    /// The target handle or id is not one this turn issued, or no channel has that name.
    UnknownTarget,
    /// A channel name fits several channels; the detail lists them.
    AmbiguousTarget,
    /// The target message is not the bot's or its personas'.
    TargetNotOwned,
    /// The invoker or the bot cannot see the target.
    TargetNotVisible,
    /// Live state could not be read.
    StateUnavailable,
}

impl RefusalReason {
    /// Stable snake_case code.
    pub const fn code(self) -> &'static str {
        match self {
            Self::UnknownTool => "unknown_tool",
            Self::MalformedArguments => "malformed_arguments",
            Self::RawId => "raw_id",
            Self::ToolUseOff => "tool_use_off",
            Self::FeatureOff => "feature_off",
            Self::BotPermission => "bot_permission",
            Self::InvokerPermission => "invoker_permission",
            Self::WrongContext => "wrong_context",
            Self::QuotaExhausted => "quota_exhausted",
            Self::UnknownTarget => "unknown_target",
            Self::AmbiguousTarget => "ambiguous_target",
            Self::TargetNotOwned => "target_not_owned",
            Self::TargetNotVisible => "target_not_visible",
            Self::StateUnavailable => "state_unavailable",
        }
    }
}

/// A refused call: the reason and a sentence the model can read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("refused ({}): {detail}", reason.code())]
pub struct Refusal {
    /// Why.
    pub reason: RefusalReason,
    /// Details for the model.
    pub detail: String,
}

fn refuse(reason: RefusalReason, detail: impl Into<String>) -> Refusal {
    Refusal { reason, detail: detail.into() }
}

/// What an authorised call acts on, resolved by the gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A message, from a `ref_N` handle.
    Message(Snowflake),
    /// A channel of the turn's guild, from its name (or the turn's own channel).
    Channel {
        /// Its id.
        id: Snowflake,
        /// Its kind.
        kind: ChannelKind,
        /// Its parent (a thread's channel or forum, a channel's category).
        parent: Option<Snowflake>,
        /// What the bot and the invoker may do there, read as the call was authorised.
        access: ChannelAccess,
    },
    /// A memory this turn showed.
    Memory {
        /// Its table.
        scope: MemoryScope,
        /// Its id.
        id: i64,
    },
    /// A record whose ownership the tool's store call checks (see
    /// [`TargetRule::OwnedByInvoker`]).
    Record(i64),
}

/// A call the gate authorised, with what it found. Only this module can make one.
#[derive(Debug)]
pub struct Authorized<'a> {
    call: &'a ToolCall,
    snapshot: Snapshot,
    target: Option<Target>,
    policy: ToolPolicy,
}

impl Authorized<'_> {
    /// The call's arguments (already checked against the schema).
    pub fn arguments(&self) -> &Value {
        &self.call.arguments
    }

    /// The arguments as the tool's own type; a mismatch becomes the failure the model sees.
    ///
    /// # Errors
    /// `malformed_arguments`, naming what did not fit.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ToolOutcome> {
        serde_json::from_value(self.call.arguments.clone())
            .map_err(|e| ToolOutcome::Failure(format!("malformed_arguments: {e}")))
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.call.name
    }

    /// The live state the call was authorised against.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The resolved target, for tools with a target rule.
    pub fn target(&self) -> Option<Target> {
        self.target
    }

    /// The policy the call was authorised under.
    pub fn policy(&self) -> ToolPolicy {
        self.policy
    }
}

/// The gate: a registry, the sources layered under it, and the per-tool timeout.
pub struct Gate {
    registry: Registry,
    sources: Vec<Arc<dyn ToolSource>>,
    tool_timeout: Duration,
    /// Names already logged as taken, so a collision is logged once, not at every turn.
    warned: WarnedOnce,
}

/// What was already logged at WARN, so that a fact found again at every turn or listing (a tool
/// skipped because of its name) is logged once per process. At most [`WarnedOnce::MAX`] facts
/// are kept; later ones are not logged at WARN.
#[derive(Debug, Default)]
pub(crate) struct WarnedOnce(std::sync::Mutex<std::collections::HashSet<String>>);

impl WarnedOnce {
    const MAX: usize = 4_096;

    /// Whether `fact` is new, remembering it.
    pub(crate) fn first(&self, fact: String) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.len() < Self::MAX && seen.insert(fact)
    }
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("registry", &self.registry)
            .field("sources", &self.sources.len())
            .field("tool_timeout", &self.tool_timeout)
            .finish()
    }
}

impl Gate {
    /// A gate over `registry` with the default timeout.
    pub fn new(registry: Registry) -> Self {
        Self {
            registry,
            sources: Vec::new(),
            tool_timeout: DEFAULT_TOOL_TIMEOUT,
            warned: WarnedOnce::default(),
        }
    }

    /// Layers `source` under the registry and the sources added before it.
    #[must_use]
    pub fn with_source(mut self, source: Arc<dyn ToolSource>) -> Self {
        self.sources.push(source);
        self
    }

    /// Sets the per-tool timeout.
    #[must_use]
    pub fn with_tool_timeout(mut self, timeout: Duration) -> Self {
        self.tool_timeout = timeout;
        self
    }

    /// The per-tool timeout.
    pub fn tool_timeout(&self) -> Duration {
        self.tool_timeout
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The tools to offer the model this turn: those whose flags, permissions, context and quota
    /// allow them now. Live state that cannot be read offers nothing.
    pub async fn advertise(&self, ctx: &TurnContext) -> Vec<ToolSpec> {
        let Ok(snapshot) = ctx.live.snapshot().await else {
            tracing::warn!("live state unavailable; no tools offered this turn");
            return Vec::new();
        };
        let mut specs = Vec::new();
        for entry in self.layered(ctx.server).await {
            if check_static(&entry.policy, &snapshot, ctx, CalledBy::Model).is_ok()
                && check_quota(&entry.policy, ctx).await.is_ok()
            {
                specs.push(entry.spec);
            }
        }
        specs
    }

    /// Every tool of the registry and the sources for `server`, first name first: a later tool
    /// with a name already taken is skipped.
    async fn layered(&self, server: ServerId) -> Vec<Registered> {
        let mut entries = self.registry.tools.clone();
        for source in &self.sources {
            let layer = source.tools(server).await;
            for entry in &layer.tools {
                // Security: MCP tool names shadowing built-ins. A name that is taken stays with
                // the tool that took it first, even when that tool is not offered this turn.
                if entries.iter().any(|e| e.spec.name == entry.spec.name) {
                    if self.warned.first(entry.spec.name.clone()) {
                        tracing::warn!(tool = %entry.spec.name, "a tool name is taken by another tool; skipped");
                    }
                    continue;
                }
                entries.push(entry.clone());
            }
        }
        entries
    }

    /// Whether `name` is one of the gate's own (built-in) tools rather than an MCP server's.
    pub fn is_built_in(&self, name: &str) -> bool {
        self.registry.get(name).is_some()
    }

    /// The tool called `name` in `server`, looked up the way [`Gate::layered`] orders them.
    async fn find(&self, name: &str, server: ServerId) -> Option<Registered> {
        if let Some(entry) = self.registry.get(name) {
            return Some(entry.clone());
        }
        for source in &self.sources {
            if let Some(entry) = source.tools(server).await.get(name) {
                return Some(entry.clone());
            }
        }
        None
    }

    /// Authorises one call against live state, returning the tool to run it with.
    ///
    /// # Errors
    /// The first requirement that does not hold, or live state that cannot be read.
    pub async fn authorize<'a>(
        &'a self,
        call: &'a ToolCall,
        ctx: &TurnContext,
    ) -> Result<(Authorized<'a>, Arc<dyn Tool>), Refusal> {
        self.authorize_as(call, ctx, CalledBy::Model).await
    }

    /// Authorises a call a member asked for themselves (a slash command such as `/generate
    /// image`): every check of [`Gate::authorize`] except the two that guard against the model,
    /// the `tool_use` switch (it turns the model's tools off, not members' commands) and raw ids
    /// in the arguments (the member typed them). Only tools without a target rule run this way.
    ///
    /// # Errors
    /// As [`Gate::authorize`]; a tool with a target rule is refused.
    pub async fn authorize_member<'a>(
        &'a self,
        call: &'a ToolCall,
        ctx: &TurnContext,
    ) -> Result<(Authorized<'a>, Arc<dyn Tool>), Refusal> {
        self.authorize_as(call, ctx, CalledBy::Member).await
    }

    async fn authorize_as<'a>(
        &'a self,
        call: &'a ToolCall,
        ctx: &TurnContext,
        by: CalledBy,
    ) -> Result<(Authorized<'a>, Arc<dyn Tool>), Refusal> {
        let Some(entry) = self.find(&call.name, ctx.server).await else {
            return Err(refuse(
                RefusalReason::UnknownTool,
                format!("there is no tool named {:?}", call.name),
            ));
        };
        // Security: targets chosen outside a turn. Handles and channel names are resolved
        // against what a turn showed the model; a member's own request has no such turn.
        if by == CalledBy::Member && entry.policy.target != TargetRule::None {
            return Err(refuse(
                RefusalReason::WrongContext,
                "this tool cannot be asked for directly",
            ));
        }
        // Arguments that are not a JSON object (the model's text, when it did not parse) are
        // refused with the parser's reason, so the model can call again with what it meant.
        if let Some(problem) = call.arguments_problem() {
            let detail = format!("{problem}; call again with a JSON object of its parameters");
            return Err(refuse(RefusalReason::MalformedArguments, detail));
        }
        check_shape(&entry.spec.parameters, &call.arguments)
            .map_err(|detail| refuse(RefusalReason::MalformedArguments, detail))?;
        // Security: raw ids reused by the model. The prompt shows only handles; an id the model
        // copied from text (or was told by a user) names something this turn did not show.
        if let Some(path) = find_raw_id(&call.arguments, "").filter(|_| by == CalledBy::Model) {
            return Err(refuse(
                RefusalReason::RawId,
                format!(
                    "argument {path:?} holds a raw Discord id; use the ref_N or media_N handle"
                ),
            ));
        }
        let snapshot = ctx.live.snapshot().await.map_err(|e| {
            refuse(RefusalReason::StateUnavailable, format!("cannot check permissions now ({e})"))
        })?;
        check_static(&entry.policy, &snapshot, ctx, by)?;
        check_quota(&entry.policy, ctx).await?;
        let target = resolve_target(entry.policy.target, &call.arguments, ctx).await?;
        let authorized = Authorized { call, snapshot, target, policy: entry.policy };
        Ok((authorized, entry.tool))
    }
}

/// Who asked for a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CalledBy {
    /// The model, in a turn's tool loop.
    Model,
    /// A member, directly (a slash command).
    Member,
}

/// Flags, context and permissions: the checks that need no further IO.
fn check_static(
    policy: &ToolPolicy,
    live: &Snapshot,
    ctx: &TurnContext,
    by: CalledBy,
) -> Result<(), Refusal> {
    if by == CalledBy::Model && !live.features.is_on(Feature::ToolUse) {
        return Err(refuse(RefusalReason::ToolUseOff, "tools are turned off in this server"));
    }
    if let Some(feature) = policy.feature
        && !live.features.is_on(feature)
    {
        return Err(refuse(
            RefusalReason::FeatureOff,
            format!("the {} feature is off in this server", feature.name()),
        ));
    }
    let allowed = match ctx.place {
        Place::Dm => policy.contexts.dm,
        Place::Guild { rp: true } => policy.contexts.guild && policy.contexts.rp_channel,
        Place::Guild { rp: false } => policy.contexts.guild,
    };
    if !allowed {
        return Err(refuse(RefusalReason::WrongContext, "this tool is not available here"));
    }
    let names = |perms: Vec<Perm>| perms.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ");
    let bot_missing = live.bot.missing(policy.bot_permissions);
    if !bot_missing.is_empty() {
        return Err(refuse(
            RefusalReason::BotPermission,
            format!("the bot lacks {} here", names(bot_missing)),
        ));
    }
    let invoker_missing = live.invoker.missing(policy.invoker_permissions);
    if !invoker_missing.is_empty() {
        return Err(refuse(
            RefusalReason::InvokerPermission,
            format!("the member who asked lacks {} here", names(invoker_missing)),
        ));
    }
    Ok(())
}

async fn check_quota(policy: &ToolPolicy, ctx: &TurnContext) -> Result<(), Refusal> {
    let Some(kind) = policy.quota else { return Ok(()) };
    // Security: spend abuse. The quota fails closed: an error reading it refuses the call.
    match ctx.live.quota(kind).await {
        Ok(QuotaVerdict::Allowed) => Ok(()),
        Ok(
            QuotaVerdict::UserExhausted { resets_on } | QuotaVerdict::PoolExhausted { resets_on },
        ) => Err(refuse(
            RefusalReason::QuotaExhausted,
            format!("the quota is used up until {resets_on}"),
        )),
        Err(e) => Err(refuse(
            RefusalReason::StateUnavailable,
            format!("cannot check the quota now ({e})"),
        )),
    }
}

fn handle_arg<'v>(args: &'v Value, arg: &str) -> Result<&'v str, Refusal> {
    args.get(arg).and_then(Value::as_str).ok_or_else(|| {
        refuse(
            RefusalReason::MalformedArguments,
            format!("argument {arg:?} must be a ref_N handle"),
        )
    })
}

async fn resolve_target(
    rule: TargetRule,
    args: &Value,
    ctx: &TurnContext,
) -> Result<Option<Target>, Refusal> {
    let unknown = |what: &str| {
        refuse(RefusalReason::UnknownTarget, format!("{what} is not one this conversation showed"))
    };
    let unavailable =
        |e| refuse(RefusalReason::StateUnavailable, format!("cannot check the target now ({e})"));
    match rule {
        TargetRule::None => Ok(None),
        TargetRule::OwnMessage { arg } => {
            let handle = handle_arg(args, arg)?;
            let id = ctx.handles.message(handle).ok_or_else(|| unknown(handle))?;
            // Security: LLM-driven manage_message misuse. Only the bot's own messages and its
            // managed persona webhooks' messages may be edited, deleted or pinned.
            match ctx.live.message_author(id).await.map_err(unavailable)? {
                Author::Bot | Author::PersonaWebhook => Ok(Some(Target::Message(id))),
                Author::Other => Err(refuse(
                    RefusalReason::TargetNotOwned,
                    format!("{handle} was not written by this bot or its personas"),
                )),
            }
        }
        TargetRule::VisibleToInvokerAndBot { arg } => {
            let handle = handle_arg(args, arg)?;
            let id = ctx.handles.message(handle).ok_or_else(|| unknown(handle))?;
            // Security: cross-channel disclosure. The model acts for the invoker, so it may only
            // reach what the invoker can see, and only what the bot can see too.
            let seen = ctx.live.message_visibility(id).await.map_err(unavailable)?;
            if seen.invoker && seen.bot {
                Ok(Some(Target::Message(id)))
            } else {
                Err(refuse(
                    RefusalReason::TargetNotVisible,
                    format!(
                        "{handle} is in a channel that the member who asked or the bot cannot see"
                    ),
                ))
            }
        }
        TargetRule::Channel { arg, or_here, kinds } => {
            resolve_channel(arg, or_here, kinds, args, ctx).await.map(Some)
        }
        TargetRule::ShownMemory { id_arg, scope_arg } => {
            let id = args.get(id_arg).and_then(Value::as_i64).ok_or_else(|| {
                refuse(
                    RefusalReason::MalformedArguments,
                    format!("argument {id_arg:?} must be an integer"),
                )
            })?;
            let scope: MemoryScope = args
                .get(scope_arg)
                .cloned()
                .and_then(|v| serde_json::from_value(v).ok())
                .ok_or_else(|| {
                    refuse(
                        RefusalReason::MalformedArguments,
                        format!("argument {scope_arg:?} must be \"server\" or \"personal\""),
                    )
                })?;
            // Security: memory tampering across scopes. Only memories this turn showed (the
            // persona's server memories, the invoker's own personal memories) can be changed.
            if ctx.shown_memories.contains(&(scope, id)) {
                Ok(Some(Target::Memory { scope, id }))
            } else {
                Err(unknown(&format!("memory {id}")))
            }
        }
        TargetRule::OwnedByInvoker { id_arg } => {
            let id =
                args.get(id_arg).and_then(Value::as_i64).filter(|id| *id > 0).ok_or_else(|| {
                    refuse(
                        RefusalReason::MalformedArguments,
                        format!("argument {id_arg:?} must be a positive integer id"),
                    )
                })?;
            // Security: tampering with other members' data. Ownership is checked by the store in
            // the transaction that makes the change (the invoker's own, or Manage Server).
            Ok(Some(Target::Record(id)))
        }
    }
}

/// A channel name as the model may write it: `general`, `#general`, `Category/general`.
fn normalize(name: &str) -> String {
    name.trim().trim_start_matches('#').trim().to_lowercase()
}

/// The label that tells channels of one name apart: `parent/name`.
fn qualified(channel: &ChannelFacts) -> String {
    match &channel.parent_name {
        Some(parent) => format!("{parent}/{}", channel.name),
        None => channel.name.clone(),
    }
}

/// The channels of `kinds` that `wanted` names. `wanted` is a name, or `parent/name` where the
/// parent is the category (or a thread's channel); names compare without case.
pub(crate) fn channels_named<'c>(
    channels: &'c [ChannelFacts],
    wanted: &str,
    kinds: &[ChannelKind],
) -> Vec<&'c ChannelFacts> {
    let wanted = normalize(wanted);
    let by_name = |c: &&ChannelFacts, name: &str| normalize(&c.name) == name;
    let fitting = channels.iter().filter(|c| kinds.contains(&c.kind));
    let exact: Vec<&ChannelFacts> = fitting.clone().filter(|c| by_name(c, &wanted)).collect();
    if !exact.is_empty() {
        return exact;
    }
    // Only when no channel has the whole text as its name is it read as `parent/name`.
    let Some((parent, name)) = wanted.rsplit_once('/') else { return Vec::new() };
    let (parent, name) = (normalize(parent), normalize(name));
    fitting
        .filter(|c| by_name(c, &name))
        .filter(|c| c.parent_name.as_deref().is_some_and(|p| normalize(p) == parent))
        .collect()
}

async fn resolve_channel(
    arg: &str,
    or_here: bool,
    kinds: &[ChannelKind],
    args: &Value,
    ctx: &TurnContext,
) -> Result<Target, Refusal> {
    let unavailable =
        |e| refuse(RefusalReason::StateUnavailable, format!("cannot check the channel now ({e})"));
    let wanted = match args.get(arg) {
        None | Some(Value::Null) if or_here => None,
        Some(Value::String(name)) if !name.trim().is_empty() => Some(name.as_str()),
        _ => {
            return Err(refuse(
                RefusalReason::MalformedArguments,
                format!("argument {arg:?} must be a channel name"),
            ));
        }
    };
    let channels = ctx.live.guild_channels().await.map_err(unavailable)?;
    let channel = match wanted {
        None => {
            let here = channels.iter().find(|c| c.id == ctx.channel).ok_or_else(|| {
                refuse(RefusalReason::WrongContext, "this channel is not one this tool acts on")
            })?;
            if !kinds.contains(&here.kind) {
                return Err(refuse(
                    RefusalReason::WrongContext,
                    format!("this tool does not act on a {} like this one", here.kind.name()),
                ));
            }
            here
        }
        Some(name) => {
            let found = channels_named(&channels, name, kinds);
            match found.as_slice() {
                [] => {
                    let kinds: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
                    return Err(refuse(
                        RefusalReason::UnknownTarget,
                        format!("no {} named {name:?} in this server", kinds.join(" or "),),
                    ));
                }
                [one] => *one,
                several => {
                    let labels: Vec<String> =
                        several.iter().map(|c| format!("#{}", qualified(c))).collect();
                    return Err(refuse(
                        RefusalReason::AmbiguousTarget,
                        format!(
                            "{name:?} fits several channels: {}; ask which one is meant and call again with category/name",
                            labels.join(", ")
                        ),
                    ));
                }
            }
        }
    };
    // Security: cross-channel disclosure. The model acts for the invoker: it may reach a channel
    // only when the invoker can see it too, and only when the bot can. A member whose permissions
    // cannot be read fails closed (the live state's error refuses the call).
    let access = ctx.live.channel_access(channel.id).await.map_err(unavailable)?;
    let seen = access.visibility();
    if !(seen.invoker && seen.bot) {
        return Err(refuse(
            RefusalReason::TargetNotVisible,
            format!(
                "#{} is a channel that the member who asked or the bot cannot see",
                channel.name
            ),
        ));
    }
    Ok(Target::Channel { id: channel.id, kind: channel.kind, parent: channel.parent, access })
}

#[cfg(test)]
mod tests;
