//! [`DiscordPlatform`]: the tools' [`Platform`] on Discord's REST API.
//!
//! Facts are read when asked, never from a cache: a channel's overwrites, the guild's roles and
//! both members (`GET channels/{id}`, its parent's for a thread, `GET guilds/{id}`,
//! `GET guilds/{id}/members/{user}`) for permissions; the channel list and active threads for
//! names; the message itself for its author and attachments. A member Discord does not know is
//! an error, so a tool that needs their permissions is refused (fail closed).
//!
//! Actions re-check what they can at the moment they act. Editing or deleting reads the message
//! again and proceeds only for the bot's own messages (through the channel routes) or a message
//! of the channel's managed persona webhook (through that webhook, whose token proves it); any
//! other message is [`PlatformError::NotOwned`] and nothing is sent. Messages the tools send
//! ping no one.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use secrecy::ExposeSecret;
use tomori_core::id::Snowflake;
use tomori_store::webhooks::{self, ManagedWebhook};
use tomori_store::{Scope, Store};
use tomori_tools::{
    AttachmentFacts, Author, ChannelAccess, ChannelFacts, ChannelKind, MessageFacts, Platform,
    PlatformError, StickerFacts,
};
use twilight_http::api_error::ApiError;
use twilight_http::error::ErrorType;
use twilight_http::request::channel::reaction::RequestReactionType;
use twilight_model::channel::message::AllowedMentions;
use twilight_model::channel::{Channel, ChannelType};
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, UserMarker};

use crate::directory::{Directory, Place};
use crate::gateway::BotUser;
use crate::id::{snowflake, twilight};
use crate::permissions::{
    ChannelRules, GuildRoles, MemberRoles, in_channel, in_direct_message, in_guild, to_perms,
};
use crate::surface::PostError;

/// The tools' platform on Discord; see the module documentation. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct DiscordPlatform {
    http: Arc<twilight_http::Client>,
    store: Store,
    directory: Arc<Directory>,
    bot: BotUser,
    /// Where profile pictures are served (Discord's CDN; a test's fake elsewhere).
    cdn: url::Url,
}

/// 403 is a missing permission, 404 something gone, 400 a refused value (Discord's message says
/// which); anything else means Discord is unavailable. Details go to the log, not the model.
fn platform_error(error: twilight_http::Error, permission: &'static str) -> PlatformError {
    match error.kind() {
        ErrorType::Response { status, error: api, .. } => match status.get() {
            403 => PlatformError::Forbidden(permission),
            404 => PlatformError::NotFound,
            400 => PlatformError::Rejected(match api {
                ApiError::General(general) => general.message.clone(),
                _ => "Discord refused the request".to_owned(),
            }),
            other => {
                tracing::warn!(status = other, "a Discord request failed");
                PlatformError::Unavailable(format!("Discord answered {other}"))
            }
        },
        ErrorType::Validation => {
            PlatformError::Rejected("a value is out of Discord's limits".to_owned())
        }
        _ => {
            tracing::warn!(error = %error, "a Discord request failed");
            PlatformError::Unavailable("Discord could not be reached".to_owned())
        }
    }
}

fn body_error(error: impl std::fmt::Display) -> PlatformError {
    tracing::warn!(%error, "a Discord answer did not parse");
    PlatformError::Unavailable("Discord's answer did not parse".to_owned())
}

fn store_error(error: impl std::fmt::Display) -> PlatformError {
    tracing::warn!(%error, "the store failed while acting on Discord");
    PlatformError::Unavailable("the database is unavailable".to_owned())
}

/// Nobody is pinged by what a tool sends: no parsing of `@everyone`, roles or users, and no
/// reply ping.
fn no_pings() -> AllowedMentions {
    AllowedMentions { parse: Vec::new(), replied_user: false, roles: Vec::new(), users: Vec::new() }
}

/// The tools' kind of a Discord channel.
///
/// Security: cross-channel disclosure. A private thread is `Other`, so no tool ever targets one
/// by name: its members are not known from the permissions alone.
fn kind_of(kind: ChannelType) -> ChannelKind {
    match kind {
        ChannelType::GuildText => ChannelKind::Text,
        ChannelType::GuildAnnouncement => ChannelKind::Announcement,
        ChannelType::GuildForum => ChannelKind::Forum,
        ChannelType::GuildMedia => ChannelKind::Media,
        ChannelType::GuildVoice => ChannelKind::Voice,
        ChannelType::GuildStageVoice => ChannelKind::Stage,
        ChannelType::GuildCategory => ChannelKind::Category,
        ChannelType::PublicThread | ChannelType::AnnouncementThread => ChannelKind::Thread,
        ChannelType::Private | ChannelType::Group => ChannelKind::Direct,
        _ => ChannelKind::Other,
    }
}

fn now_secs() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_secs()).unwrap_or(i64::MAX)
}

impl DiscordPlatform {
    pub(crate) fn new(
        http: Arc<twilight_http::Client>,
        store: Store,
        directory: Arc<Directory>,
        bot: BotUser,
    ) -> Self {
        let cdn = url::Url::parse(crate::avatar::DISCORD_CDN).expect("a valid constant URL");
        Self { http, store, directory, bot, cdn }
    }

    /// The same platform with profile pictures served from `cdn`.
    pub(crate) fn with_cdn(mut self, cdn: url::Url) -> Self {
        self.cdn = cdn;
        self
    }

    /// Where the author of a message's profile picture is, from the message Discord has now.
    async fn avatar_now(
        &self,
        channel: Snowflake,
        message: Snowflake,
    ) -> Result<String, PlatformError> {
        let found = self.fetch_message(twilight(channel), message).await?;
        Ok(crate::avatar::avatar_url(
            &self.cdn,
            found.author.id.get(),
            found.author.avatar.as_ref(),
        ))
    }

    async fn channel(&self, id: Id<ChannelMarker>) -> Result<Channel, PlatformError> {
        let channel = self
            .http
            .channel(id)
            .await
            .map_err(|e| platform_error(e, "ViewChannel"))?
            .model()
            .await
            .map_err(body_error)?;
        self.directory.learn(id, Place::of(&channel));
        Ok(channel)
    }

    async fn place(&self, id: Id<ChannelMarker>) -> Result<Place, PlatformError> {
        match self.directory.get(id) {
            Some(place) => Ok(place),
            None => Ok(Place::of(&self.channel(id).await?)),
        }
    }

    async fn bot_id(&self) -> Result<Id<UserMarker>, PlatformError> {
        if let Some(id) = self.bot.get() {
            return Ok(id);
        }
        let me = self
            .http
            .current_user()
            .await
            .map_err(|e| platform_error(e, "the bot's own user"))?
            .model()
            .await
            .map_err(body_error)?;
        self.bot.set(me.id);
        Ok(me.id)
    }

    async fn guild_roles(&self, guild: Id<GuildMarker>) -> Result<GuildRoles, PlatformError> {
        let found = self
            .http
            .guild(guild)
            .await
            .map_err(|e| platform_error(e, "access to the server"))?
            .model()
            .await
            .map_err(body_error)?;
        let everyone = found
            .roles
            .iter()
            .find(|r| r.id.get() == guild.get())
            .map_or(Permissions::empty(), |r| r.permissions);
        let roles = found
            .roles
            .iter()
            .filter(|r| r.id.get() != guild.get())
            .map(|r| (r.id, r.permissions))
            .collect();
        Ok(GuildRoles { guild, owner: found.owner_id, everyone, roles })
    }

    async fn member(
        &self,
        guild: Id<GuildMarker>,
        user: Id<UserMarker>,
    ) -> Result<MemberRoles, PlatformError> {
        let member = self
            .http
            .guild_member(guild, user)
            .await
            .map_err(|e| platform_error(e, "access to the server's members"))?
            .model()
            .await
            .map_err(body_error)?;
        let timed_out =
            member.communication_disabled_until.is_some_and(|until| until.as_secs() > now_secs());
        Ok(MemberRoles { user, roles: member.roles, timed_out })
    }

    /// The managed persona webhook of a channel (its parent's, for a thread).
    async fn managed_webhook(
        &self,
        channel: Id<ChannelMarker>,
    ) -> Result<Option<(ManagedWebhook, Option<Id<ChannelMarker>>)>, PlatformError> {
        let place = self.place(channel).await?;
        let Some(guild) = place.guild else { return Ok(None) };
        let (home, thread) = match place.parent {
            Some(parent) => (parent, Some(channel)),
            None => (channel, None),
        };
        let guild = snowflake(guild).map_err(store_error)?;
        let scope = Scope::server(self.store.resolve_guild(guild).await.map_err(store_error)?);
        let key = snowflake(home).map_err(store_error)?;
        let hook = webhooks::get(&self.store, scope, key).await.map_err(store_error)?;
        Ok(hook.map(|hook| (hook, thread)))
    }

    async fn fetch_message(
        &self,
        channel: Id<ChannelMarker>,
        message: Snowflake,
    ) -> Result<twilight_model::channel::Message, PlatformError> {
        self.http
            .message(channel, twilight(message))
            .await
            .map_err(|e| platform_error(e, "ReadMessageHistory"))?
            .model()
            .await
            .map_err(body_error)
    }

    async fn author_of(
        &self,
        channel: Id<ChannelMarker>,
        message: &twilight_model::channel::Message,
    ) -> Result<Author, PlatformError> {
        if message.author.id == self.bot_id().await? && message.webhook_id.is_none() {
            return Ok(Author::Bot);
        }
        let Some(hook) = message.webhook_id else { return Ok(Author::Other) };
        // Security: untrusted webhooks. Only the channel's managed webhook speaks for a persona;
        // another webhook with a persona's name is someone else.
        match self.managed_webhook(channel).await? {
            Some((managed, _)) if managed.webhook_id.get() == hook.get() => {
                Ok(Author::PersonaWebhook)
            }
            _ => Ok(Author::Other),
        }
    }

    async fn access_now(
        &self,
        channel: Snowflake,
        user: Snowflake,
    ) -> Result<ChannelAccess, PlatformError> {
        let found = self.channel(twilight(channel)).await?;
        let Some(guild) = found.guild_id else {
            let both = in_direct_message();
            return Ok(ChannelAccess { bot: both, invoker: both });
        };
        // A thread takes its parent's overwrites and type.
        let rules_channel = match (found.kind.is_thread(), found.parent_id) {
            (true, Some(parent)) => self.channel(parent).await?,
            (true, None) => return Err(PlatformError::NotFound),
            (false, _) => found,
        };
        let overwrites = rules_channel.permission_overwrites.clone().unwrap_or_default();
        let rules = ChannelRules { kind: rules_channel.kind, overwrites: &overwrites };
        let bot = self.bot_id().await?;
        let user = twilight(user);
        let (roles, bot_member, member) = if user == bot {
            // The bot asking about itself: one member to read.
            let (roles, bot_member) =
                tokio::join!(self.guild_roles(guild), self.member(guild, bot));
            let bot_member = bot_member?;
            (roles?, bot_member.clone(), bot_member)
        } else {
            let (roles, bot_member, member) = tokio::join!(
                self.guild_roles(guild),
                self.member(guild, bot),
                self.member(guild, user),
            );
            (roles?, bot_member?, member?)
        };
        Ok(ChannelAccess {
            bot: to_perms(in_channel(&roles, &bot_member, &rules), in_guild(&roles, &bot_member)),
            invoker: to_perms(in_channel(&roles, &member, &rules), in_guild(&roles, &member)),
        })
    }

    async fn channels_now(&self, guild: Snowflake) -> Result<Vec<ChannelFacts>, PlatformError> {
        let guild: Id<GuildMarker> = twilight(guild);
        let channels = self
            .http
            .guild_channels(guild)
            .await
            .map_err(|e| platform_error(e, "ViewChannel"))?
            .models()
            .await
            .map_err(body_error)?;
        let threads = self
            .http
            .active_threads(guild)
            .await
            .map_err(|e| platform_error(e, "ViewChannel"))?
            .model()
            .await
            .map_err(body_error)?
            .threads;
        let name_of = |id: Id<ChannelMarker>| {
            channels.iter().find(|c| c.id == id).and_then(|c| c.name.clone())
        };
        let mut facts = Vec::with_capacity(channels.len() + threads.len());
        for channel in channels.iter().chain(&threads) {
            let Ok(id) = snowflake(channel.id) else { continue };
            let parent = channel.parent_id;
            facts.push(ChannelFacts {
                id,
                name: channel.name.clone().unwrap_or_default(),
                kind: kind_of(channel.kind),
                parent: parent.and_then(|p| snowflake(p).ok()),
                parent_name: parent.and_then(name_of),
            });
        }
        Ok(facts)
    }

    async fn message_now(
        &self,
        channel: Snowflake,
        message: Snowflake,
    ) -> Result<MessageFacts, PlatformError> {
        let channel = twilight(channel);
        let found = self.fetch_message(channel, message).await?;
        let author = self.author_of(channel, &found).await?;
        let attachments = found
            .attachments
            .iter()
            .map(|a| AttachmentFacts {
                filename: a.filename.clone(),
                url: a.url.clone(),
                content_type: a.content_type.clone(),
                size: a.size,
            })
            .collect();
        Ok(MessageFacts { author, attachments })
    }

    async fn send_now(
        &self,
        channel: Snowflake,
        content: &str,
        reply_to: Option<Snowflake>,
    ) -> Result<Snowflake, PlatformError> {
        crate::surface::post_as_bot(
            &self.http,
            twilight(channel),
            content,
            &no_pings(),
            reply_to,
            &[],
        )
        .await
        .map_err(|e| match e {
            PostError::Http(e) => platform_error(e, "SendMessages"),
            PostError::Body(e) => body_error(e),
        })
    }

    /// Edits (`Some(text)`) or deletes (`None`) one of the bot's own or its personas' messages.
    async fn change_own(
        &self,
        channel: Snowflake,
        message: Snowflake,
        content: Option<&str>,
    ) -> Result<(), PlatformError> {
        let channel = twilight(channel);
        let found = self.fetch_message(channel, message).await?;
        // Security: LLM-driven manage_message misuse. Authorship is checked again here, at the
        // moment of acting; a message someone else wrote is never edited or deleted, even with
        // Manage Messages.
        match self.author_of(channel, &found).await? {
            Author::Other => Err(PlatformError::NotOwned),
            Author::Bot => {
                let message = twilight(message);
                match content {
                    Some(text) => {
                        let mentions = no_pings();
                        self.http
                            .update_message(channel, message)
                            .content(Some(text))
                            .allowed_mentions(Some(&mentions))
                            .await
                            .map(drop)
                            .map_err(|e| platform_error(e, "SendMessages"))
                    }
                    None => self
                        .http
                        .delete_message(channel, message)
                        .await
                        .map(drop)
                        .map_err(|e| platform_error(e, "ManageMessages")),
                }
            }
            Author::PersonaWebhook => {
                let Some((hook, thread)) = self.managed_webhook(channel).await? else {
                    return Err(PlatformError::NotOwned);
                };
                let (id, message) = (twilight(hook.webhook_id), twilight(message));
                // Security: webhook token theft. The token goes only into the request path
                // (twilight's spans are kept out of the logs, see `LOG_DIRECTIVES`).
                let token = hook.token.expose_secret();
                match content {
                    Some(text) => {
                        let mentions = no_pings();
                        let mut request = self
                            .http
                            .update_webhook_message(id, token, message)
                            .content(Some(text))
                            .allowed_mentions(Some(&mentions));
                        if let Some(thread) = thread {
                            request = request.thread_id(thread);
                        }
                        request.await.map(drop).map_err(|e| platform_error(e, "ManageWebhooks"))
                    }
                    None => {
                        let mut request = self.http.delete_webhook_message(id, token, message);
                        if let Some(thread) = thread {
                            request = request.thread_id(thread);
                        }
                        request.await.map(drop).map_err(|e| platform_error(e, "ManageWebhooks"))
                    }
                }
            }
        }
    }

    async fn thread_now(
        &self,
        channel: Snowflake,
        name: &str,
        starter: &str,
    ) -> Result<Snowflake, PlatformError> {
        let parent = self.channel(twilight(channel)).await?;
        let kind = match parent.kind {
            ChannelType::GuildText => ChannelType::PublicThread,
            ChannelType::GuildAnnouncement => ChannelType::AnnouncementThread,
            other => {
                return Err(PlatformError::Rejected(format!(
                    "a {} cannot hold threads",
                    kind_of(other).name()
                )));
            }
        };
        let thread = self
            .http
            .create_thread(parent.id, name, kind)
            .await
            .map_err(|e| platform_error(e, "CreatePublicThreads"))?
            .model()
            .await
            .map_err(body_error)?;
        self.directory.learn(thread.id, Place::of(&thread));
        let thread = snowflake(thread.id).map_err(body_error)?;
        self.send_now(thread, starter, None).await?;
        Ok(thread)
    }

    async fn stickers_now(&self, guild: Snowflake) -> Result<Vec<StickerFacts>, PlatformError> {
        let stickers = self
            .http
            .guild_stickers(twilight(guild))
            .await
            .map_err(|e| platform_error(e, "access to the server's stickers"))?
            .models()
            .await
            .map_err(body_error)?;
        Ok(stickers
            .into_iter()
            .filter(|s| s.available)
            .filter_map(|s| {
                Some(StickerFacts {
                    id: snowflake(s.id).ok()?,
                    name: s.name,
                    description: s.description.unwrap_or_default(),
                    tags: s.tags,
                })
            })
            .collect())
    }

    async fn sticker_now(
        &self,
        channel: Snowflake,
        sticker: Snowflake,
    ) -> Result<Snowflake, PlatformError> {
        let ids = [twilight(sticker)];
        let mentions = no_pings();
        let sent = self
            .http
            .create_message(twilight(channel))
            .sticker_ids(&ids)
            .allowed_mentions(Some(&mentions))
            .await
            .map_err(|e| platform_error(e, "UseExternalStickers"))?
            .model()
            .await
            .map_err(body_error)?;
        snowflake(sent.id).map_err(body_error)
    }
}

impl Platform for DiscordPlatform {
    fn author_avatar(
        &self,
        channel: Snowflake,
        message: Snowflake,
    ) -> BoxFuture<'_, Result<String, PlatformError>> {
        self.avatar_now(channel, message).boxed()
    }

    fn access(
        &self,
        channel: Snowflake,
        user: Snowflake,
    ) -> BoxFuture<'_, Result<ChannelAccess, PlatformError>> {
        self.access_now(channel, user).boxed()
    }

    fn guild_channels(
        &self,
        guild: Snowflake,
    ) -> BoxFuture<'_, Result<Vec<ChannelFacts>, PlatformError>> {
        self.channels_now(guild).boxed()
    }

    fn message(
        &self,
        channel: Snowflake,
        message: Snowflake,
    ) -> BoxFuture<'_, Result<MessageFacts, PlatformError>> {
        self.message_now(channel, message).boxed()
    }

    fn send_message<'a>(
        &'a self,
        channel: Snowflake,
        content: &'a str,
        reply_to: Option<Snowflake>,
    ) -> BoxFuture<'a, Result<Snowflake, PlatformError>> {
        self.send_now(channel, content, reply_to).boxed()
    }

    fn edit_message<'a>(
        &'a self,
        channel: Snowflake,
        message: Snowflake,
        content: &'a str,
    ) -> BoxFuture<'a, Result<(), PlatformError>> {
        self.change_own(channel, message, Some(content)).boxed()
    }

    fn delete_message(
        &self,
        channel: Snowflake,
        message: Snowflake,
    ) -> BoxFuture<'_, Result<(), PlatformError>> {
        self.change_own(channel, message, None).boxed()
    }

    fn pin_message(
        &self,
        channel: Snowflake,
        message: Snowflake,
    ) -> BoxFuture<'_, Result<(), PlatformError>> {
        async move {
            self.http
                .create_pin(twilight(channel), twilight(message))
                .await
                .map(drop)
                .map_err(|e| platform_error(e, "ManageMessages"))
        }
        .boxed()
    }

    fn react<'a>(
        &'a self,
        channel: Snowflake,
        message: Snowflake,
        emoji: &'a str,
    ) -> BoxFuture<'a, Result<(), PlatformError>> {
        async move {
            let reaction = RequestReactionType::Unicode { name: emoji };
            self.http
                .create_reaction(twilight(channel), twilight(message), &reaction)
                .await
                .map(drop)
                .map_err(|e| platform_error(e, "AddReactions"))
        }
        .boxed()
    }

    fn create_thread<'a>(
        &'a self,
        channel: Snowflake,
        name: &'a str,
        starter: &'a str,
    ) -> BoxFuture<'a, Result<Snowflake, PlatformError>> {
        self.thread_now(channel, name, starter).boxed()
    }

    fn guild_stickers(
        &self,
        guild: Snowflake,
    ) -> BoxFuture<'_, Result<Vec<StickerFacts>, PlatformError>> {
        self.stickers_now(guild).boxed()
    }

    fn send_sticker(
        &self,
        channel: Snowflake,
        sticker: Snowflake,
    ) -> BoxFuture<'_, Result<Snowflake, PlatformError>> {
        self.sticker_now(channel, sticker).boxed()
    }
}
