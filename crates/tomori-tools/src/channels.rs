//! The tools that reach a channel by name: `create_thread` (a public thread with a first message,
//! here or in a named channel) and `cross_channel_message` (a message to another channel).
//!
//! The gate resolves the name to one channel of the turn's guild (an ambiguous name comes back to
//! the model as a question), and refuses unless both the invoker and the bot can see it; the
//! permissions it read there come with the target, and these tools check what their action needs
//! against them before acting.

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};
use tomori_core::settings::{ChannelSet, Feature};
use tomori_store::{Scope, Store, settings};

use crate::context::TurnContext;
use crate::gate::{Authorized, Target, Tool, ToolOutcome};
use crate::messages::check_content;
use crate::perm::{Perm, Perms};
use crate::platform::{ChannelKind, Platform};
use crate::policy::{Contexts, Effect, TargetRule, ToolPolicy};

/// The longest thread name Discord accepts.
pub const MAX_THREAD_NAME_CHARS: usize = 100;

fn failure(text: impl Into<String>) -> ToolOutcome {
    ToolOutcome::Failure(text.into())
}

fn missing(perms: Perms, needed: &[Perm]) -> Option<String> {
    let missing: Vec<&str> =
        needed.iter().filter(|p| !perms.contains(**p)).map(|p| p.name()).collect();
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// The `create_thread` tool.
pub struct CreateThread {
    platform: Arc<dyn Platform>,
}

impl CreateThread {
    /// The tool acting through `platform`.
    pub fn new(platform: Arc<dyn Platform>) -> Self {
        Self { platform }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThreadArgs {
    name: String,
    message: String,
    #[serde(rename = "channel")]
    _channel: Option<String>,
}

impl CreateThread {
    async fn run(&self, call: &Authorized<'_>) -> ToolOutcome {
        let args: ThreadArgs = match call.parse() {
            Ok(args) => args,
            Err(failure) => return failure,
        };
        let Some(Target::Channel { id, access, .. }) = call.target() else {
            return failure("unknown_target: the channel could not be resolved");
        };
        let name = args.name.trim();
        let chars = name.chars().count();
        if chars == 0 || chars > MAX_THREAD_NAME_CHARS {
            return failure(format!(
                "malformed_arguments: a thread name has 1 to {MAX_THREAD_NAME_CHARS} characters"
            ));
        }
        if let Err(failure) = check_content("message", &args.message) {
            return failure;
        }
        let needed = [Perm::CreatePublicThreads, Perm::SendMessagesInThreads];
        if let Some(lacking) = missing(access.bot, &needed) {
            return failure(format!("bot_permission: the bot lacks {lacking} there"));
        }
        // Security: privilege escalation through the bot. A thread is started only where the
        // member who asked could start it themselves, as cross-channel posts are.
        if let Some(lacking) = missing(access.invoker, &needed) {
            return failure(format!(
                "invoker_permission: the member who asked lacks {lacking} there"
            ));
        }
        match self.platform.create_thread(id, name, &args.message).await {
            Ok(_) => ToolOutcome::Success(json!({"created_thread": name})),
            Err(e) => failure(e.for_model()),
        }
    }
}

impl Tool for CreateThread {
    fn name(&self) -> &'static str {
        "create_thread"
    }

    fn description(&self) -> &'static str {
        "Start a public thread with a first message, in this channel or in a named text or announcement channel of this server."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "The thread's name (at most 100 characters)."},
                "message": {"type": "string", "description": "The first message in the thread."},
                "channel": {"type": "string", "description": "The channel's name, like general or category/general; leave out for this channel."},
            },
            "required": ["name", "message"],
            "additionalProperties": false,
        })
    }

    fn policy(&self) -> ToolPolicy {
        ToolPolicy {
            feature: Some(Feature::ThreadCreation),
            effect: Effect::Creates,
            // The target channel's permissions are checked in `run`.
            bot_permissions: Perms::NONE,
            invoker_permissions: Perms::NONE,
            contexts: Contexts::GUILD,
            quota: None,
            target: TargetRule::Channel {
                arg: "channel",
                or_here: true,
                kinds: &[ChannelKind::Text, ChannelKind::Announcement],
            },
        }
    }

    fn execute<'a>(
        &'a self,
        call: Authorized<'a>,
        _ctx: &'a TurnContext,
    ) -> BoxFuture<'a, ToolOutcome> {
        async move { self.run(&call).await }.boxed()
    }
}

/// The `cross_channel_message` tool.
pub struct CrossChannelMessage {
    platform: Arc<dyn Platform>,
    store: Store,
}

impl CrossChannelMessage {
    /// The tool acting through `platform`, reading the server's blocklist from `store`.
    pub fn new(platform: Arc<dyn Platform>, store: Store) -> Self {
        Self { platform, store }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CrossArgs {
    channel: String,
    message: String,
}

impl CrossChannelMessage {
    async fn run(&self, call: &Authorized<'_>, ctx: &TurnContext) -> ToolOutcome {
        let args: CrossArgs = match call.parse() {
            Ok(args) => args,
            Err(failure) => return failure,
        };
        let Some(Target::Channel { id, kind, parent, access }) = call.target() else {
            return failure("unknown_target: the channel could not be resolved");
        };
        if id == ctx.channel {
            return failure("same_channel: that is this channel; answer here instead");
        }
        if let Err(failure) = check_content("message", &args.message) {
            return failure;
        }
        // Security: cross-channel disclosure. Channels on the server's blocklist are never
        // targets, and blocking a forum or a channel blocks its threads too. A blocklist that
        // cannot be read refuses.
        let blocked = match settings::channels(
            &self.store,
            Scope::server(ctx.server),
            ChannelSet::CrossChannelBlocklist,
        )
        .await
        {
            Ok(blocked) => blocked,
            Err(e) => {
                return failure(format!("state_unavailable: cannot read the blocklist ({e})"));
            }
        };
        if blocked.contains(&id) || parent.is_some_and(|p| blocked.contains(&p)) {
            return failure(format!(
                "blocked_channel: this server does not allow messages to {} from other channels",
                args.channel.trim()
            ));
        }
        // Security: privilege escalation through the bot. The bot posts only where the member
        // who asked could post themselves, and where it may post.
        let send = if kind == ChannelKind::Thread {
            Perm::SendMessagesInThreads
        } else {
            Perm::SendMessages
        };
        if let Some(lacking) = missing(access.bot, &[send]) {
            return failure(format!("bot_permission: the bot lacks {lacking} there"));
        }
        if let Some(lacking) = missing(access.invoker, &[send]) {
            return failure(format!(
                "invoker_permission: the member who asked lacks {lacking} there"
            ));
        }
        match self.platform.send_message(id, &args.message, None).await {
            Ok(_) => ToolOutcome::Success(json!({"sent_to": args.channel.trim()})),
            Err(e) => failure(e.for_model()),
        }
    }
}

impl Tool for CrossChannelMessage {
    fn name(&self) -> &'static str {
        "cross_channel_message"
    }

    fn description(&self) -> &'static str {
        "Post a message in another channel or thread of this server, named like general or category/general."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "channel": {"type": "string", "description": "The channel's or thread's name; category/name when names repeat."},
                "message": {"type": "string", "description": "What to post there."},
            },
            "required": ["channel", "message"],
            "additionalProperties": false,
        })
    }

    fn policy(&self) -> ToolPolicy {
        ToolPolicy {
            feature: Some(Feature::CrossChannel),
            effect: Effect::Creates,
            // The target channel's permissions are checked in `run`.
            bot_permissions: Perms::NONE,
            invoker_permissions: Perms::NONE,
            contexts: Contexts::GUILD,
            quota: None,
            target: TargetRule::Channel {
                arg: "channel",
                or_here: false,
                kinds: &[ChannelKind::Text, ChannelKind::Announcement, ChannelKind::Thread],
            },
        }
    }

    fn execute<'a>(
        &'a self,
        call: Authorized<'a>,
        ctx: &'a TurnContext,
    ) -> BoxFuture<'a, ToolOutcome> {
        async move { self.run(&call, ctx).await }.boxed()
    }
}
