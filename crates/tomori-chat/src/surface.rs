//! The boundary between the engine and a chat platform: what comes in ([`Inbound`]) and what the
//! engine asks the platform to do ([`ChatSurface`]), including the [`Platform`] through which the
//! tools read live facts and act.
//!
//! Ids are [`Snowflake`]s because Discord is the first platform; another platform maps its ids
//! onto 64-bit numbers in its adapter.

use std::future::Future;
use std::sync::Arc;

use tomori_core::emoji::ServerEmoji;
use tomori_core::id::Snowflake;
use tomori_tools::{OutFile, Platform};

/// A message as the engine sees it, already mapped from the platform's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The guild, or `None` in a direct message.
    pub guild: Option<Snowflake>,
    /// The guild's name, when the platform has told it (shown to the model).
    pub guild_name: Option<String>,
    /// The channel (or thread).
    pub channel: Snowflake,
    /// The parent channel when `channel` is a thread (whitelists and sets apply through it).
    pub parent_channel: Option<Snowflake>,
    /// The category the channel (or the thread's parent) sits in, when the platform knows it:
    /// a channel's own prompt and model may be set on it (`/server channel-prompt`).
    pub category: Option<Snowflake>,
    /// The message id.
    pub message: Snowflake,
    /// Who wrote it.
    pub author: InboundAuthor,
    /// The text, with the platform's mention syntax left as it is.
    pub content: String,
    /// The bot user is mentioned.
    pub mentions_bot: bool,
    /// Users mentioned, in order.
    pub mentions: Vec<Snowflake>,
    /// The message it replies to, if any.
    pub reply_to: Option<InboundReply>,
    /// The author's roles in the guild (for the role whitelist).
    pub author_roles: Vec<Snowflake>,
    /// The author may manage the guild (cooldown exemption; never a reason to obey the model).
    pub author_is_admin: bool,
    /// Attachments (URLs are checked by tomori-net's media scope before any download).
    pub attachments: Vec<Attachment>,
}

/// The author of an inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundAuthor {
    /// User id (for a webhook message, the webhook's id).
    pub id: Snowflake,
    /// Display name.
    pub name: String,
    /// A bot account (the bot itself included).
    pub is_bot: bool,
    /// Set when a webhook posted the message.
    pub webhook: Option<Snowflake>,
}

/// The message an inbound message replies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundReply {
    /// Its id.
    pub message: Snowflake,
    /// Its author.
    pub author: Snowflake,
    /// Set when a webhook posted it.
    pub webhook: Option<Snowflake>,
    /// The webhook username it was posted under (a persona's name, for managed webhooks).
    pub webhook_name: Option<String>,
}

/// A file attached to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Where the platform serves it.
    pub url: String,
    /// File name.
    pub filename: String,
    /// MIME type, when the platform says.
    pub content_type: Option<String>,
    /// Size in bytes, as the platform claims (never trusted for limits).
    pub size: u64,
}

/// Who speaks an outgoing message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Speaker {
    /// The bot account itself (the main persona).
    Bot,
    /// An alter, through the channel's managed webhook.
    Persona {
        /// Webhook username.
        name: String,
        /// Webhook avatar.
        avatar_url: Option<String>,
    },
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// At most 2,000 characters; the engine splits at 1,950.
    pub content: String,
    /// Who speaks it.
    pub speaker: Speaker,
    /// Reply to this message (the first message of a turn replies to the trigger).
    pub reply_to: Option<Snowflake>,
    /// The only users this message may ping. `@everyone`, `@here` and roles never ping.
    pub ping_users: Vec<Snowflake>,
    /// Files to attach (pictures the turn's tools made; at most [`tomori_tools::MAX_OUT_FILES`]).
    /// A message with files may have no text.
    pub files: Vec<OutFile>,
}

/// A reaction added to or taken off a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    /// The channel.
    pub channel: Snowflake,
    /// The message reacted to.
    pub message: Snowflake,
    /// Who reacted (`None` when reactions were cleared).
    pub user: Option<Snowflake>,
    /// The emoji: itself when it is Unicode, `:name:` when it is a custom one; `None` when every
    /// reaction was cleared.
    pub emoji: Option<String>,
    /// What happened.
    pub change: ReactionChange,
}

/// What happened to a reaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReactionChange {
    /// Someone added it.
    Added,
    /// Someone took theirs off.
    Removed,
    /// A moderator cleared it (every reaction when no emoji is named).
    Cleared,
}

/// What went wrong on the platform side.
#[derive(Debug, thiserror::Error)]
pub enum SurfaceError {
    /// The bot lacks a permission in that channel.
    #[error("missing permission: {0}")]
    Forbidden(&'static str),
    /// The channel or message is gone.
    #[error("not found")]
    NotFound,
    /// The platform is unreachable or failing; the message was not delivered.
    #[error("platform unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A message of the bot's that marks where a channel's history starts (`/tool refresh`,
/// `/tool compact`). Only the bot posts markers, in a form model output cannot take (on Discord
/// an embed; the engine sends only text for the model), so a model cannot forge one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    /// History starts after the marker.
    Refresh,
    /// History starts at the marker, which carries a summary of what came before.
    Compact {
        /// The summary (model output about the channel's own messages; shown as history).
        summary: String,
    },
}

/// A message read back from the platform (the history backfill), oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Past {
    /// A message of the conversation.
    Message(Box<Inbound>),
    /// One of the bot's markers.
    Marker {
        /// Its id.
        id: Snowflake,
        /// What it marks.
        marker: Marker,
    },
}

/// What the engine asks of a chat platform.
pub trait ChatSurface: Send + Sync + 'static {
    /// Sends one message and returns its id.
    fn send(
        &self,
        channel: Snowflake,
        message: Outgoing,
    ) -> impl Future<Output = Result<Snowflake, SurfaceError>> + Send;

    /// Shows the typing indicator (Discord keeps it for about 10 seconds).
    fn typing(&self, channel: Snowflake) -> impl Future<Output = Result<(), SurfaceError>> + Send;

    /// The platform's live facts and actions for tools: permissions, channels, message authors.
    /// A surface without one (the terminal) answers `None`, and the engine's live state then knows
    /// only what it can be sure of and refuses the rest.
    fn platform(&self) -> Option<Arc<dyn Platform>> {
        None
    }

    /// At most `limit` messages of `channel` from before `before`, oldest first (the history
    /// backfill: one request per channel per process). A surface without a history of its own
    /// (the terminal) has none.
    fn recent_messages(
        &self,
        channel: Snowflake,
        before: Snowflake,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Past>, SurfaceError>> + Send {
        let _ = (channel, before, limit);
        async { Ok(Vec::new()) }
    }

    /// Posts a history marker and returns its id. A surface that cannot tell a marker from a
    /// message has none to post (its history lives only in the process anyway).
    fn send_marker(
        &self,
        channel: Snowflake,
        marker: &Marker,
    ) -> impl Future<Output = Result<Option<Snowflake>, SurfaceError>> + Send {
        let _ = (channel, marker);
        async { Ok(None) }
    }

    /// The custom emoji of `guild` the platform knows (empty when it knows none).
    fn server_emoji(&self, guild: Snowflake) -> Vec<ServerEmoji> {
        let _ = guild;
        Vec::new()
    }
}
