//! The chat platform as the tools see it: the facts they need about channels, members and
//! messages, and the actions they take, with platform-neutral ids ([`Snowflake`]) and
//! permissions ([`Perms`]).
//!
//! tomori-discord implements [`Platform`] over Discord's REST API; the engine's live state reads
//! its facts through it (so the gate judges calls against what Discord says now), and the Discord
//! tools act through it. Nothing here trusts the model: tools call these methods only with
//! targets the gate resolved (`ref_N` handles, channels checked for visibility), and an
//! implementation re-checks what it can at the moment it acts (a message edit or deletion checks
//! the message's author again, whatever the gate found).

use futures_util::future::BoxFuture;
use tomori_core::id::Snowflake;

use crate::context::Author;
use crate::perm::Perms;

/// What kind of channel a channel is, as far as the tools care.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    /// A guild text channel.
    Text,
    /// An announcement (news) channel.
    Announcement,
    /// A forum channel (its posts are threads).
    Forum,
    /// A media channel (its posts are threads).
    Media,
    /// A voice channel.
    Voice,
    /// A stage channel.
    Stage,
    /// A category.
    Category,
    /// A thread, public or private, or a forum post.
    Thread,
    /// A direct message.
    Direct,
    /// Anything else.
    Other,
}

impl ChannelKind {
    /// A short name for messages to the model.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Text => "text channel",
            Self::Announcement => "announcement channel",
            Self::Forum => "forum",
            Self::Media => "media channel",
            Self::Voice => "voice channel",
            Self::Stage => "stage channel",
            Self::Category => "category",
            Self::Thread => "thread",
            Self::Direct => "direct message",
            Self::Other => "channel",
        }
    }
}

/// A channel of a guild.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelFacts {
    /// Its id.
    pub id: Snowflake,
    /// Its name, as the platform shows it (without `#`).
    pub name: String,
    /// Its kind.
    pub kind: ChannelKind,
    /// The category of a channel, or the channel (or forum) of a thread.
    pub parent: Option<Snowflake>,
    /// The parent's name, when the platform told it.
    pub parent_name: Option<String>,
}

/// What the bot and one member may do in a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelAccess {
    /// The bot's permissions there.
    pub bot: Perms,
    /// The member's permissions there (the invoker's, in a turn).
    pub invoker: Perms,
}

/// A file attached to a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentFacts {
    /// File name.
    pub filename: String,
    /// Where the platform serves it.
    pub url: String,
    /// MIME type, when the platform says.
    pub content_type: Option<String>,
    /// Size in bytes as the platform claims it (a first check only; downloads are capped).
    pub size: u64,
}

/// A message, read from the platform when asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageFacts {
    /// Who wrote it.
    pub author: Author,
    /// Its attachments.
    pub attachments: Vec<AttachmentFacts>,
}

/// A sticker of the guild.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StickerFacts {
    /// Its id (never shown to the model; stickers are named).
    pub id: Snowflake,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its tags (an emoji or words).
    pub tags: String,
}

/// Why the platform did not answer or act.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// The message was not written by the bot or one of its persona webhooks.
    #[error("the message was not written by this bot or its personas")]
    NotOwned,
    /// The bot lacks a permission.
    #[error("missing permission: {0}")]
    Forbidden(&'static str),
    /// The channel, message or sticker is gone.
    #[error("not found")]
    NotFound,
    /// The platform refused the request's content (an unknown emoji, a name too long).
    #[error("refused: {0}")]
    Rejected(String),
    /// The platform is unreachable or failing.
    #[error("platform unavailable: {0}")]
    Unavailable(String),
}

impl PlatformError {
    /// The failure the model reads.
    pub fn for_model(&self) -> String {
        match self {
            Self::NotOwned => format!("target_not_owned: {self}"),
            Self::Forbidden(permission) => {
                format!("bot_permission: the bot lacks {permission} there")
            }
            Self::NotFound => "not_found: the channel or message no longer exists".to_owned(),
            Self::Rejected(reason) => format!("rejected: {reason}"),
            // The details (status codes, transport errors) stay in the log.
            Self::Unavailable(_) => "platform_unavailable: try again later".to_owned(),
        }
    }
}

/// A platform's facts and actions; see the module documentation. Ids are the platform's.
pub trait Platform: Send + Sync {
    /// What the bot and `user` may do in `channel` (in a direct message, what its two
    /// participants may do).
    fn access(
        &self,
        channel: Snowflake,
        user: Snowflake,
    ) -> BoxFuture<'_, Result<ChannelAccess, PlatformError>>;

    /// The channels and active threads of a guild.
    fn guild_channels(
        &self,
        guild: Snowflake,
    ) -> BoxFuture<'_, Result<Vec<ChannelFacts>, PlatformError>>;

    /// A message's author and attachments, as the platform says now.
    fn message(
        &self,
        channel: Snowflake,
        message: Snowflake,
    ) -> BoxFuture<'_, Result<MessageFacts, PlatformError>>;

    /// Sends a message as the bot, pinging no one; returns its id.
    fn send_message<'a>(
        &'a self,
        channel: Snowflake,
        content: &'a str,
        reply_to: Option<Snowflake>,
    ) -> BoxFuture<'a, Result<Snowflake, PlatformError>>;

    /// Replaces a message's text. Only the bot's own messages and its persona webhooks' messages
    /// can be edited; anything else is [`PlatformError::NotOwned`].
    fn edit_message<'a>(
        &'a self,
        channel: Snowflake,
        message: Snowflake,
        content: &'a str,
    ) -> BoxFuture<'a, Result<(), PlatformError>>;

    /// Deletes a message, under the same rule as [`Platform::edit_message`].
    fn delete_message(
        &self,
        channel: Snowflake,
        message: Snowflake,
    ) -> BoxFuture<'_, Result<(), PlatformError>>;

    /// Pins a message.
    fn pin_message(
        &self,
        channel: Snowflake,
        message: Snowflake,
    ) -> BoxFuture<'_, Result<(), PlatformError>>;

    /// Adds the bot's reaction (a Unicode emoji) to a message.
    fn react<'a>(
        &'a self,
        channel: Snowflake,
        message: Snowflake,
        emoji: &'a str,
    ) -> BoxFuture<'a, Result<(), PlatformError>>;

    /// Creates a public thread in `channel` and posts `starter` in it; returns the thread's id.
    fn create_thread<'a>(
        &'a self,
        channel: Snowflake,
        name: &'a str,
        starter: &'a str,
    ) -> BoxFuture<'a, Result<Snowflake, PlatformError>>;

    /// The guild's own stickers.
    fn guild_stickers(
        &self,
        guild: Snowflake,
    ) -> BoxFuture<'_, Result<Vec<StickerFacts>, PlatformError>>;

    /// Sends a sticker as the bot; returns the message's id.
    fn send_sticker(
        &self,
        channel: Snowflake,
        sticker: Snowflake,
    ) -> BoxFuture<'_, Result<Snowflake, PlatformError>>;

    /// Where the platform serves the profile picture of a message's author (a still image).
    ///
    /// The default knows none: a platform without profile pictures refuses every peek.
    fn author_avatar(
        &self,
        _channel: Snowflake,
        _message: Snowflake,
    ) -> BoxFuture<'_, Result<String, PlatformError>> {
        Box::pin(async {
            Err(PlatformError::Unavailable("profile pictures are not known here".to_owned()))
        })
    }
}
