//! The tools that act on recent messages of the turn's channel, named by `ref_N` handles:
//! `manage_message` (pin, edit, delete the bot's own and its personas' messages),
//! `interact_with_recent_message` (react, or reply) and `reveal_message_metadata` (when each
//! message was sent).
//!
//! The gate resolves the handle in the call and checks its rule (authorship for
//! `manage_message`, visibility for the others) right before the call runs; a range of messages
//! is checked here, message by message, with the same live state. The platform checks authorship
//! once more when it edits or deletes.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};
use tomori_core::id::Snowflake;
use tomori_core::settings::Feature;

use crate::context::{Author, TurnContext};
use crate::gate::{Authorized, Target, Tool, ToolOutcome};
use crate::perm::{Perm, Perms};
use crate::platform::Platform;
use crate::policy::{Contexts, Effect, TargetRule, ToolPolicy};

/// Messages one `manage_message` call may act on (a range included).
pub const MAX_MESSAGE_RANGE: usize = 20;

/// Discord's limit on a message's text, in characters.
pub const MAX_CONTENT_CHARS: usize = 2000;

/// Handles `reveal_message_metadata` lists at most (the newest ones).
const MAX_REVEALED: usize = 100;

/// Discord's epoch (2015-01-01) in Unix milliseconds.
const DISCORD_EPOCH_MS: i64 = 1_420_070_400_000;

fn failure(text: impl Into<String>) -> ToolOutcome {
    ToolOutcome::Failure(text.into())
}

/// The number of a `ref_N` handle this turn issued.
fn handle_number(ctx: &TurnContext, handle: &str) -> Option<usize> {
    ctx.handles.message(handle)?;
    handle.trim().strip_prefix("ref_")?.parse().ok()
}

/// Checks message text written by the model: not blank, within Discord's limit.
pub(crate) fn check_content(what: &str, text: &str) -> Result<(), ToolOutcome> {
    if text.trim().is_empty() {
        return Err(failure(format!("malformed_arguments: the {what} is empty")));
    }
    let chars = text.chars().count();
    if chars > MAX_CONTENT_CHARS {
        return Err(failure(format!(
            "malformed_arguments: the {what} has {chars} characters; at most {MAX_CONTENT_CHARS}"
        )));
    }
    Ok(())
}

/// The `manage_message` tool.
pub struct ManageMessage {
    platform: Arc<dyn Platform>,
}

impl ManageMessage {
    /// The tool acting through `platform`.
    pub fn new(platform: Arc<dyn Platform>) -> Self {
        Self { platform }
    }
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
enum ManageAction {
    Pin,
    Edit,
    Delete,
}

/// What one call does to each of its messages.
#[derive(Clone, Copy)]
enum Op<'t> {
    Pin,
    Edit(&'t str),
    Delete,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManageArgs {
    action: ManageAction,
    message_id: String,
    end_message_id: Option<String>,
    content: Option<String>,
}

impl ManageMessage {
    async fn run(&self, call: &Authorized<'_>, ctx: &TurnContext) -> ToolOutcome {
        let args: ManageArgs = match call.parse() {
            Ok(args) => args,
            Err(failure) => return failure,
        };
        let Some(Target::Message(first)) = call.target() else {
            return failure("unknown_target: the message could not be resolved");
        };
        // The range, oldest first; the gate checked `message_id` itself.
        let mut targets = vec![(args.message_id.trim().to_owned(), first)];
        if let Some(end) = args.end_message_id.as_deref() {
            let (Some(a), Some(b)) =
                (handle_number(ctx, &args.message_id), handle_number(ctx, end))
            else {
                return failure(format!(
                    "unknown_target: {end} is not a message this conversation showed"
                ));
            };
            let (low, high) = (a.min(b), a.max(b));
            if high - low + 1 > MAX_MESSAGE_RANGE {
                return failure(format!(
                    "malformed_arguments: a range may hold at most {MAX_MESSAGE_RANGE} messages"
                ));
            }
            if args.action == ManageAction::Edit && low != high {
                return failure("malformed_arguments: edit takes one message, not a range");
            }
            targets = (low..=high)
                .filter_map(|n| {
                    let handle = format!("ref_{n}");
                    ctx.handles.message(&handle).map(|id| (handle, id))
                })
                .collect();
        }
        let op = match (args.action, args.content.as_deref()) {
            (ManageAction::Edit, Some(text)) => {
                if let Err(failure) = check_content("content", text) {
                    return failure;
                }
                Op::Edit(text)
            }
            (ManageAction::Edit, None) => {
                return failure("malformed_arguments: edit needs the new content");
            }
            (ManageAction::Pin, _) => Op::Pin,
            (ManageAction::Delete, _) => Op::Delete,
        };
        // Pinning uses Manage Messages; editing and deleting its own messages needs nothing.
        if args.action == ManageAction::Pin && !call.snapshot().bot.contains(Perm::ManageMessages) {
            return failure("bot_permission: pinning needs the bot to have ManageMessages here");
        }
        let mut done = Vec::new();
        let mut skipped = Vec::new();
        for (handle, id) in targets {
            // Security: LLM-driven manage_message misuse. Every message of a range is checked
            // like the first: only the bot's own and its persona webhooks' messages are touched.
            if id != first {
                match ctx.live.message_author(id).await {
                    Ok(Author::Bot | Author::PersonaWebhook) => {}
                    Ok(Author::Other) => {
                        skipped.push(json!({"message": handle, "reason": "not written by this bot or its personas"}));
                        continue;
                    }
                    Err(e) => {
                        skipped.push(json!({"message": handle, "reason": format!("could not be checked ({e})")}));
                        continue;
                    }
                }
            }
            let result = match op {
                Op::Pin => self.platform.pin_message(ctx.channel, id).await,
                Op::Edit(text) => self.platform.edit_message(ctx.channel, id, text).await,
                Op::Delete => self.platform.delete_message(ctx.channel, id).await,
            };
            match result {
                Ok(()) => done.push(handle),
                Err(e) => skipped.push(json!({"message": handle, "reason": e.for_model()})),
            }
        }
        if done.is_empty() {
            return failure(format!("nothing was changed: {}", Value::Array(skipped)));
        }
        let action = match args.action {
            ManageAction::Pin => "pinned",
            ManageAction::Edit => "edited",
            ManageAction::Delete => "deleted",
        };
        ToolOutcome::Success(json!({ action: done, "skipped": skipped }))
    }
}

impl Tool for ManageMessage {
    fn name(&self) -> &'static str {
        "manage_message"
    }

    fn description(&self) -> &'static str {
        "Pin, edit or delete your own recent messages (or your personas'), named by their ref_N handle. A range from message_id to end_message_id (inclusive) works for pin and delete; messages others wrote are skipped."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "action": {"type": "string", "enum": ["pin", "edit", "delete"]},
                "message_id": {"type": "string", "description": "The ref_N handle of the message."},
                "end_message_id": {"type": "string", "description": "The ref_N handle ending a range (pin and delete)."},
                "content": {"type": "string", "description": "The new text, for edit."},
            },
            "required": ["action", "message_id"],
            "additionalProperties": false,
        })
    }

    fn policy(&self) -> ToolPolicy {
        ToolPolicy {
            feature: Some(Feature::ManageMessage),
            effect: Effect::Destructive,
            // Pinning's Manage Messages is checked per action, against the same snapshot.
            bot_permissions: Perms::of(&[Perm::ViewChannel, Perm::ReadMessageHistory]),
            invoker_permissions: Perms::NONE,
            contexts: Contexts::EVERYWHERE,
            quota: None,
            target: TargetRule::OwnMessage { arg: "message_id" },
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

/// The `interact_with_recent_message` tool.
pub struct InteractWithMessage {
    platform: Arc<dyn Platform>,
}

impl InteractWithMessage {
    /// The tool acting through `platform`.
    pub fn new(platform: Arc<dyn Platform>) -> Self {
        Self { platform }
    }
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Interaction {
    React,
    Reply,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InteractArgs {
    action: Interaction,
    #[serde(rename = "message_id")]
    _message_id: String,
    emoji: Option<String>,
    content: Option<String>,
}

/// A Unicode emoji as the model may name one: short, one "word", and no ASCII letters (custom
/// emoji and shortcodes like `:smile:` are not Unicode emoji).
fn is_unicode_emoji(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 32
        && !text.chars().any(|c| c.is_whitespace() || c.is_ascii_alphabetic() || c.is_control())
        && !text.chars().any(|c| matches!(c, ':' | '<' | '>' | '/' | '?' | '%' | '&'))
        && !text.is_ascii()
}

impl InteractWithMessage {
    async fn run(&self, call: &Authorized<'_>, ctx: &TurnContext) -> ToolOutcome {
        let args: InteractArgs = match call.parse() {
            Ok(args) => args,
            Err(failure) => return failure,
        };
        let Some(Target::Message(id)) = call.target() else {
            return failure("unknown_target: the message could not be resolved");
        };
        let bot = call.snapshot().bot;
        match args.action {
            Interaction::React => {
                let Some(emoji) = args.emoji.as_deref().map(str::trim) else {
                    return failure("malformed_arguments: react needs an emoji");
                };
                if !is_unicode_emoji(emoji) {
                    return failure(
                        "malformed_arguments: the emoji must be one Unicode emoji, like 👍",
                    );
                }
                if !bot.contains(Perm::AddReactions) {
                    return failure("bot_permission: the bot lacks AddReactions here");
                }
                match self.platform.react(ctx.channel, id, emoji).await {
                    Ok(()) => ToolOutcome::Success(json!({"reacted": emoji})),
                    Err(e) => failure(e.for_model()),
                }
            }
            Interaction::Reply => {
                let Some(text) = args.content.as_deref() else {
                    return failure("malformed_arguments: reply needs content");
                };
                if let Err(failure) = check_content("content", text) {
                    return failure;
                }
                if !bot.contains(Perm::SendMessages) {
                    return failure("bot_permission: the bot lacks SendMessages here");
                }
                match self.platform.send_message(ctx.channel, text, Some(id)).await {
                    Ok(_) => ToolOutcome::Success(json!({"replied": true})),
                    Err(e) => failure(e.for_model()),
                }
            }
        }
    }
}

impl Tool for InteractWithMessage {
    fn name(&self) -> &'static str {
        "interact_with_recent_message"
    }

    fn description(&self) -> &'static str {
        "React to a recent message with a Unicode emoji, or send a short reply to it, named by its ref_N handle."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "action": {"type": "string", "enum": ["react", "reply"]},
                "message_id": {"type": "string", "description": "The ref_N handle of the message."},
                "emoji": {"type": "string", "description": "One Unicode emoji, for react."},
                "content": {"type": "string", "description": "The reply's text, for reply."},
            },
            "required": ["action", "message_id"],
            "additionalProperties": false,
        })
    }

    fn policy(&self) -> ToolPolicy {
        ToolPolicy {
            feature: None,
            effect: Effect::Creates,
            // Reacting needs AddReactions and replying SendMessages: checked per action.
            bot_permissions: Perms::of(&[Perm::ViewChannel, Perm::ReadMessageHistory]),
            invoker_permissions: Perms::NONE,
            contexts: Contexts::EVERYWHERE,
            quota: None,
            target: TargetRule::VisibleToInvokerAndBot { arg: "message_id" },
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

/// The `reveal_message_metadata` tool: when each message of the turn was sent, read from the
/// handles' ids (a Discord id carries its creation time), so it needs no platform.
#[derive(Debug, Default)]
pub struct RevealMessageMetadata;

/// When a message with this id was created.
pub fn sent_at(id: Snowflake) -> Option<DateTime<Utc>> {
    let millis = i64::try_from(id.get() >> 22).ok()?.checked_add(DISCORD_EPOCH_MS)?;
    DateTime::from_timestamp_millis(millis)
}

/// "5 minutes ago", "just now", "2 days ago".
pub fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - then).num_seconds();
    if seconds < 0 {
        return "in the future".to_owned();
    }
    let (n, unit) = match seconds {
        0..60 => return "just now".to_owned(),
        60..3600 => (seconds / 60, "minute"),
        3600..86_400 => (seconds / 3600, "hour"),
        _ => (seconds / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

impl Tool for RevealMessageMetadata {
    fn name(&self) -> &'static str {
        "reveal_message_metadata"
    }

    fn description(&self) -> &'static str {
        "Show when each recent message (by ref_N handle) was sent: UTC time and how long ago."
    }

    fn parameters(&self) -> Value {
        json!({"type": "object", "properties": {}, "additionalProperties": false})
    }

    fn policy(&self) -> ToolPolicy {
        ToolPolicy::read_only()
    }

    fn execute<'a>(
        &'a self,
        _call: Authorized<'a>,
        ctx: &'a TurnContext,
    ) -> BoxFuture<'a, ToolOutcome> {
        async move {
            let now = Utc::now();
            let mut messages: Vec<Value> = (1..)
                .map_while(|n| {
                    let handle = format!("ref_{n}");
                    ctx.handles.message(&handle).map(|id| (handle, id))
                })
                .filter_map(|(handle, id)| {
                    let at = sent_at(id)?;
                    Some(json!({
                        "message": handle,
                        "sent_at": at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                        "ago": ago(at, now),
                    }))
                })
                .collect();
            let skip = messages.len().saturating_sub(MAX_REVEALED);
            messages.drain(..skip);
            ToolOutcome::Success(json!({
                "now": now.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                "messages": messages,
            }))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_are_unicode_only() {
        for ok in ["👍", "❤️", "1️⃣", "🇫🇷", "👩‍💻"] {
            assert!(is_unicode_emoji(ok), "{ok}");
        }
        for bad in ["", "smile", ":smile:", "<:x:1>", "👍 👍", "a👍", "x/../y", "12", "👍?a=b"]
        {
            assert!(!is_unicode_emoji(bad), "{bad}");
        }
    }

    #[test]
    fn snowflakes_carry_their_time() {
        // Discord's documentation example: 175928847299117063 is 2016-04-30 11:18:25.796 UTC.
        let id = Snowflake::new(175_928_847_299_117_063).expect("an id");
        let at = sent_at(id).expect("a time");
        assert_eq!(at.format("%Y-%m-%d %H:%M:%S%.3f").to_string(), "2016-04-30 11:18:25.796");
        let base = at;
        let check = |seconds: i64, expected: &str| {
            assert_eq!(ago(base, base + chrono::Duration::seconds(seconds)), expected);
        };
        check(0, "just now");
        check(59, "just now");
        check(60, "1 minute ago");
        check(3599, "59 minutes ago");
        check(7200, "2 hours ago");
        check(86_400 * 3, "3 days ago");
        check(-5, "in the future");
    }
}
