//! [`DiscordSurface`]: the engine's [`ChatSurface`] on Discord.
//!
//! The main persona speaks as the bot (`POST /channels/{id}/messages`); an alter speaks through
//! the channel's managed webhook, named "Tomori", with the persona's username and avatar. The
//! webhook's token is kept sealed in the store ([`tomori_store::webhooks`]); a webhook Discord
//! reports gone is forgotten, recreated once and the message retried. Direct messages have no
//! webhooks, and neither do channels where the bot may not manage them: there an alter's message
//! goes out as the bot, labelled "**Name**:". Webhook messages cannot be replies, so an alter's
//! `reply_to` is not sent.
//!
//! Rate limits are twilight's: its rate limiter waits out a 429 and retries the request.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tomori_chat::surface::{ChatSurface, Marker, Outgoing, Past, Speaker, SurfaceError};
use tomori_core::emoji::ServerEmoji;
use tomori_core::id::Snowflake;
use tomori_store::webhooks::{self, ManagedWebhook};
use tomori_store::{Scope, Store};
use tomori_tools::Platform;
use twilight_http::api_error::ApiError;
use twilight_http::error::ErrorType;
use twilight_model::channel::Message;
use twilight_model::channel::message::AllowedMentions;
use twilight_model::channel::webhook::WebhookType;
use twilight_model::http::attachment::Attachment;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, UserMarker};

use crate::directory::{Directory, Place};
use crate::gateway::BotUser;
use crate::id::{snowflake, twilight};
use crate::inbound::map_message;
use crate::marker;
use crate::platform::DiscordPlatform;

/// The name of the webhook Tomori creates in each channel where an alter speaks.
pub const WEBHOOK_NAME: &str = "Tomori";

/// Discord's limit on a message's content, in characters.
const MESSAGE_LIMIT: usize = 2000;

/// The engine's surface on Discord; see the module documentation. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct DiscordSurface {
    http: Arc<twilight_http::Client>,
    store: Store,
    directory: Arc<Directory>,
    bot: BotUser,
    /// Held while a webhook is looked up or created, so that two alters speaking at once in a
    /// channel without one do not create two.
    provisioning: Mutex<()>,
    /// The tools' platform on the same client, directory and bot user.
    platform: Arc<DiscordPlatform>,
}

/// Why an alter could not speak through a webhook.
enum PersonaError {
    /// The bot may not manage webhooks in the channel.
    CannotManageWebhooks,
    /// Anything else.
    Surface(SurfaceError),
}

impl From<SurfaceError> for PersonaError {
    fn from(error: SurfaceError) -> Self {
        Self::Surface(error)
    }
}

/// Why a webhook execution failed.
enum ExecuteError {
    /// Discord says the webhook (or its token) no longer exists.
    Gone,
    /// Anything else.
    Surface(SurfaceError),
}

fn unavailable(error: impl std::error::Error + Send + Sync + 'static) -> SurfaceError {
    SurfaceError::Unavailable(Box::new(error))
}

/// Why posting a message as the bot failed.
pub(crate) enum PostError {
    /// Discord refused or could not be reached.
    Http(twilight_http::Error),
    /// Discord's answer did not parse.
    Body(Box<dyn std::error::Error + Send + Sync>),
}

/// Posts `content` as the bot in `channel`, pinging only what `mentions` allows, as a reply to
/// `reply_to` when given (a reply to a message deleted meanwhile goes out as a plain message).
/// The one way the engine's surface and the tools' platform post bot messages.
pub(crate) async fn post_as_bot(
    http: &twilight_http::Client,
    channel: Id<ChannelMarker>,
    content: &str,
    mentions: &AllowedMentions,
    reply_to: Option<Snowflake>,
    files: &[Attachment],
) -> Result<Snowflake, PostError> {
    let mut request =
        http.create_message(channel).content(content).allowed_mentions(Some(mentions));
    if !files.is_empty() {
        request = request.attachments(files);
    }
    if let Some(reply_to) = reply_to {
        request = request.reply(twilight(reply_to)).fail_if_not_exists(false);
    }
    let sent = request
        .await
        .map_err(PostError::Http)?
        .model()
        .await
        .map_err(|e| PostError::Body(Box::new(e)))?;
    snowflake(sent.id).map_err(|e| PostError::Body(Box::new(e)))
}

/// The files of an outgoing message as Discord attachments (their ids are their positions).
fn attachments(message: &Outgoing) -> Vec<Attachment> {
    message
        .files
        .iter()
        .zip(0_u64..)
        .map(|(file, id)| {
            let mut attachment =
                Attachment::from_bytes(file.filename.clone(), file.bytes.clone(), id);
            attachment.description.clone_from(&file.description);
            attachment
        })
        .collect()
}

/// 403 is a missing permission, 404 a missing channel or message; anything else (5xx, transport,
/// timeouts) means the platform is unavailable and the message was not delivered.
fn surface_error(error: twilight_http::Error, permission: &'static str) -> SurfaceError {
    let status = match error.kind() {
        ErrorType::Response { status, .. } => Some(status.get()),
        _ => None,
    };
    match status {
        Some(403) => SurfaceError::Forbidden(permission),
        Some(404) => SurfaceError::NotFound,
        _ => unavailable(error),
    }
}

/// Discord's answer for a deleted webhook (404, code 10015 Unknown Webhook) or a token that no
/// longer matches (401, code 50027 Invalid Webhook Token).
fn is_gone(error: &twilight_http::Error) -> bool {
    match error.kind() {
        ErrorType::Response { status, error: ApiError::General(api), .. } => {
            matches!((status.get(), api.code), (404, 10_015) | (401, 50_027))
        }
        _ => false,
    }
}

/// Security: prompt injection. Model output is data: nothing is parsed for pings, so
/// `@everyone`, `@here`, role mentions and any `<@id>` the model writes stay silent; only the
/// users the engine resolved and listed may be pinged, and a reply does not ping the replied-to
/// author unless the engine listed them.
fn allowed_mentions(ping_users: &[Snowflake]) -> AllowedMentions {
    AllowedMentions {
        parse: Vec::new(),
        replied_user: false,
        roles: Vec::new(),
        users: ping_users.iter().map(|user| twilight(*user)).collect(),
    }
}

/// Escapes the characters that would end or change bold text around a persona's name.
fn escape_markdown(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '*' | '_' | '~' | '`' | '|') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

impl DiscordSurface {
    /// A surface on its own REST client; it learns where channels sit over REST. Inside a running
    /// bot use [`crate::Discord::surface`], which shares what the shards learn.
    pub fn new(http: Arc<twilight_http::Client>, store: Store) -> Self {
        Self::with_parts(http, store, Arc::default(), BotUser::default())
    }

    /// The same surface with profile pictures (`peek_profile_picture`) served from `cdn`
    /// instead of Discord's CDN (tests: the fake's).
    #[must_use]
    pub fn with_cdn_base(mut self, cdn: url::Url) -> Self {
        let platform = DiscordPlatform::new(
            Arc::clone(&self.http),
            self.store.clone(),
            Arc::clone(&self.directory),
            self.bot.clone(),
        );
        self.platform = Arc::new(platform.with_cdn(cdn));
        self
    }

    pub(crate) fn with_parts(
        http: Arc<twilight_http::Client>,
        store: Store,
        directory: Arc<Directory>,
        bot: BotUser,
    ) -> Self {
        let platform = Arc::new(DiscordPlatform::new(
            Arc::clone(&http),
            store.clone(),
            Arc::clone(&directory),
            bot.clone(),
        ));
        Self { http, store, directory, bot, provisioning: Mutex::new(()), platform }
    }

    /// Where a channel sits, from the directory or else `GET /channels/{id}`.
    async fn place(&self, channel: Id<ChannelMarker>) -> Result<Place, SurfaceError> {
        if let Some(place) = self.directory.get(channel) {
            return Ok(place);
        }
        let found = self
            .http
            .channel(channel)
            .await
            .map_err(|e| surface_error(e, "View Channel"))?
            .model()
            .await
            .map_err(unavailable)?;
        let place = Place::of(&found);
        self.directory.learn(channel, place);
        Ok(place)
    }

    async fn bot_id(&self) -> Result<Id<UserMarker>, SurfaceError> {
        if let Some(id) = self.bot.get() {
            return Ok(id);
        }
        let me = self
            .http
            .current_user()
            .await
            .map_err(unavailable)?
            .model()
            .await
            .map_err(unavailable)?;
        self.bot.set(me.id);
        Ok(me.id)
    }

    async fn send_as_bot(
        &self,
        channel: Id<ChannelMarker>,
        content: &str,
        reply_to: Option<Snowflake>,
        ping_users: &[Snowflake],
        files: &[Attachment],
    ) -> Result<Snowflake, SurfaceError> {
        let mentions = allowed_mentions(ping_users);
        let posted = post_as_bot(&self.http, channel, content, &mentions, reply_to, files).await;
        posted.map_err(|e| match e {
            PostError::Http(e) => surface_error(e, "Send Messages"),
            PostError::Body(e) => SurfaceError::Unavailable(e),
        })
    }

    /// An alter's message sent by the bot: "**Name**: text", or the label and the text as two
    /// messages when together they exceed Discord's limit.
    async fn send_labelled(
        &self,
        channel: Id<ChannelMarker>,
        name: &str,
        message: &Outgoing,
    ) -> Result<Snowflake, SurfaceError> {
        let label = format!("**{}**:", escape_markdown(name));
        let combined = format!("{label} {}", message.content);
        let files = attachments(message);
        if combined.chars().count() <= MESSAGE_LIMIT {
            return self
                .send_as_bot(channel, &combined, message.reply_to, &message.ping_users, &files)
                .await;
        }
        self.send_as_bot(channel, &label, message.reply_to, &[], &[]).await?;
        self.send_as_bot(channel, &message.content, None, &message.ping_users, &files).await
    }

    /// The channel's managed webhook: an existing one of the bot's own in the channel, or a new
    /// one; saved (sealed) in the store either way.
    async fn provision(
        &self,
        scope: Scope,
        channel: Id<ChannelMarker>,
    ) -> Result<ManagedWebhook, PersonaError> {
        let _held = self.provisioning.lock().await;
        let key = snowflake(channel).map_err(unavailable)?;
        // Another task may have provisioned it while this one waited.
        if let Some(hook) = webhooks::get(&self.store, scope, key).await.map_err(unavailable)? {
            return Ok(hook);
        }
        let forbidden = |e: twilight_http::Error| match surface_error(e, "Manage Webhooks") {
            SurfaceError::Forbidden(_) => PersonaError::CannotManageWebhooks,
            other => PersonaError::Surface(other),
        };
        let bot = self.bot_id().await?;
        let existing = self
            .http
            .channel_webhooks(channel)
            .await
            .map_err(forbidden)?
            .models()
            .await
            .map_err(unavailable)?;
        // Security: untrusted webhooks. Only a webhook the bot itself created is adopted; one made
        // by a member or another bot could be read or deleted by them.
        let adopted = existing.into_iter().find_map(|hook| {
            let ours = hook.kind == WebhookType::Incoming
                && hook.user.as_ref().is_some_and(|user| user.id == bot)
                && hook.name.as_deref() == Some(WEBHOOK_NAME);
            ours.then_some(hook.token.map(|token| (hook.id, token))).flatten()
        });
        let (id, token) = match adopted {
            Some(found) => found,
            None => {
                let created = self
                    .http
                    .create_webhook(channel, WEBHOOK_NAME)
                    .await
                    .map_err(forbidden)?
                    .model()
                    .await
                    .map_err(unavailable)?;
                tracing::info!(channel = channel.get(), "created the channel's managed webhook");
                let token = created.token.ok_or_else(|| {
                    unavailable(std::io::Error::other("Discord returned a webhook without a token"))
                })?;
                (created.id, token)
            }
        };
        let hook = ManagedWebhook {
            webhook_id: snowflake(id).map_err(unavailable)?,
            token: SecretString::from(token),
        };
        webhooks::save(&self.store, scope, key, hook.webhook_id, &hook.token)
            .await
            .map_err(unavailable)?;
        Ok(hook)
    }

    async fn execute(
        &self,
        hook: &ManagedWebhook,
        thread: Option<Id<ChannelMarker>>,
        name: &str,
        avatar_url: Option<&str>,
        message: &Outgoing,
    ) -> Result<Snowflake, ExecuteError> {
        let mentions = allowed_mentions(&message.ping_users);
        // Security: webhook token theft. The token goes only into the request path, which is
        // sent without the bot's Authorization header and never logged by this crate (see
        // `LOG_DIRECTIVES` for twilight's own spans).
        let mut request = self
            .http
            .execute_webhook(twilight(hook.webhook_id), hook.token.expose_secret())
            .content(&message.content)
            .username(name)
            .allowed_mentions(Some(&mentions));
        let files = attachments(message);
        if !files.is_empty() {
            request = request.attachments(&files);
        }
        if let Some(avatar_url) = avatar_url {
            request = request.avatar_url(avatar_url);
        }
        if let Some(thread) = thread {
            request = request.thread_id(thread);
        }
        match request.wait().await {
            Ok(response) => {
                let sent =
                    response.model().await.map_err(|e| ExecuteError::Surface(unavailable(e)))?;
                snowflake(sent.id).map_err(|e| ExecuteError::Surface(unavailable(e)))
            }
            Err(error) if is_gone(&error) => Err(ExecuteError::Gone),
            Err(error) => Err(ExecuteError::Surface(surface_error(error, "Manage Webhooks"))),
        }
    }

    async fn send_as_persona(
        &self,
        channel: Id<ChannelMarker>,
        place: Place,
        guild: Id<GuildMarker>,
        name: &str,
        avatar_url: Option<&str>,
        message: &Outgoing,
    ) -> Result<Snowflake, PersonaError> {
        // Webhooks belong to a thread's parent channel and post into the thread by id.
        let (hook_channel, thread) = match place.parent {
            Some(parent) => (parent, Some(channel)),
            None => (channel, None),
        };
        let guild = snowflake(guild).map_err(unavailable)?;
        let scope = Scope::server(self.store.resolve_guild(guild).await.map_err(unavailable)?);
        let key = snowflake(hook_channel).map_err(unavailable)?;
        let hook = match webhooks::get(&self.store, scope, key).await.map_err(unavailable)? {
            Some(hook) => hook,
            None => self.provision(scope, hook_channel).await?,
        };
        match self.execute(&hook, thread, name, avatar_url, message).await {
            Ok(id) => return Ok(id),
            Err(ExecuteError::Surface(error)) => return Err(error.into()),
            Err(ExecuteError::Gone) => {}
        }
        tracing::info!(channel = hook_channel.get(), "the managed webhook is gone; recreating it");
        webhooks::forget(&self.store, scope, key).await.map_err(unavailable)?;
        let hook = self.provision(scope, hook_channel).await?;
        match self.execute(&hook, thread, name, avatar_url, message).await {
            Ok(id) => Ok(id),
            Err(ExecuteError::Gone) => Err(SurfaceError::NotFound.into()),
            Err(ExecuteError::Surface(error)) => Err(error.into()),
        }
    }
}

impl ChatSurface for DiscordSurface {
    async fn send(&self, channel: Snowflake, message: Outgoing) -> Result<Snowflake, SurfaceError> {
        let channel: Id<ChannelMarker> = twilight(channel);
        let (name, avatar_url) = match &message.speaker {
            Speaker::Bot => {
                let files = attachments(&message);
                let (content, reply_to) = (&message.content, message.reply_to);
                return self
                    .send_as_bot(channel, content, reply_to, &message.ping_users, &files)
                    .await;
            }
            Speaker::Persona { name, avatar_url } => (name, avatar_url.as_deref()),
        };
        let place = self.place(channel).await?;
        let Some(guild) = place.guild else {
            // Direct messages have no webhooks.
            return self.send_labelled(channel, name, &message).await;
        };
        match self.send_as_persona(channel, place, guild, name, avatar_url, &message).await {
            Ok(id) => Ok(id),
            Err(PersonaError::Surface(error)) => Err(error),
            Err(PersonaError::CannotManageWebhooks) => {
                tracing::warn!(
                    channel = channel.get(),
                    "missing the Manage Webhooks permission; an alter speaks as the bot"
                );
                self.send_labelled(channel, name, &message).await
            }
        }
    }

    async fn typing(&self, channel: Snowflake) -> Result<(), SurfaceError> {
        self.http
            .create_typing_trigger(twilight(channel))
            .await
            .map(drop)
            .map_err(|e| surface_error(e, "Send Messages"))
    }

    fn platform(&self) -> Option<Arc<dyn Platform>> {
        Some(Arc::clone(&self.platform) as Arc<dyn Platform>)
    }

    /// One `GET /channels/{id}/messages` (Discord serves at most 100, newest first).
    async fn recent_messages(
        &self,
        channel: Snowflake,
        before: Snowflake,
        limit: usize,
    ) -> Result<Vec<Past>, SurfaceError> {
        let id: Id<ChannelMarker> = twilight(channel);
        let limit = u16::try_from(limit.clamp(1, 100)).unwrap_or(100);
        let messages = self
            .http
            .channel_messages(id)
            .limit(limit)
            .before(twilight(before))
            .await
            .map_err(|e| surface_error(e, "Read Message History"))?
            .model()
            .await
            .map_err(unavailable)?;
        let bot = self.bot.get();
        let parent = self.place(id).await.ok().and_then(|place| place.parent);
        let guild_name = |m: &Message| m.guild_id.and_then(|g| self.directory.guild_name(g));
        let mut past = Vec::with_capacity(messages.len());
        for message in messages.iter().rev() {
            if let Some(marker) = marker::read(message, bot) {
                if let Ok(id) = snowflake(message.id) {
                    past.push(Past::Marker { id, marker });
                }
                continue;
            }
            match map_message(message, bot, parent, &self.directory) {
                Ok(mut inbound) => {
                    inbound.guild_name = guild_name(message);
                    past.push(Past::Message(Box::new(inbound)));
                }
                Err(error) => tracing::warn!(%error, "a message read back was skipped"),
            }
        }
        Ok(past)
    }

    async fn send_marker(
        &self,
        channel: Snowflake,
        marker: &Marker,
    ) -> Result<Option<Snowflake>, SurfaceError> {
        let none = AllowedMentions::default();
        let sent = self
            .http
            .create_message(twilight(channel))
            .embeds(&[marker::embed(marker)])
            .allowed_mentions(Some(&none))
            .await
            .map_err(|e| surface_error(e, "Embed Links"))?
            .model()
            .await
            .map_err(unavailable)?;
        snowflake(sent.id).map(Some).map_err(unavailable)
    }

    fn server_emoji(&self, guild: Snowflake) -> Vec<ServerEmoji> {
        self.directory.emoji(twilight(guild))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tomori_core::id::Snowflake;

    use super::{allowed_mentions, escape_markdown};

    #[test]
    fn allowed_mentions_parse_nothing_and_list_only_the_engines_users() {
        let none = serde_json::to_value(allowed_mentions(&[])).unwrap();
        assert_eq!(none, json!({ "parse": [] }));
        let one = serde_json::to_value(allowed_mentions(&[Snowflake::new(42).unwrap()])).unwrap();
        assert_eq!(one, json!({ "parse": [], "users": ["42"] }));
    }

    #[test]
    fn persona_labels_escape_markdown() {
        assert_eq!(escape_markdown("Yui"), "Yui");
        assert_eq!(escape_markdown("*Star*_x"), r"\*Star\*\_x");
    }
}
