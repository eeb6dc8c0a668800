//! The connection to Discord: the REST client, the gateway shards, and the loop that turns
//! gateway events into calls on the engine's [`InboundHandler`].
//!
//! [`Discord::connect`] checks the token (`GET /users/@me`), learns the gateway URL and the
//! session limits (`GET /gateway/bot`, unless both the URL and the shards are configured) and
//! prepares the shards; [`Discord::run`] drives them until the shutdown future completes.
//! Reconnecting and resuming are twilight's, after the wait [`crate::reconnect::Backoff`] sets
//! on every close. Each MESSAGE_CREATE (and, when
//! [`Discord::with_commands`] installed the slash commands, each INTERACTION_CREATE) is handled in
//! its own task, so the shard keeps reading (and heartbeating) whatever the handler does.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tomori_chat::surface::{Inbound, Marker, Reaction, ReactionChange};
use tomori_core::id::Snowflake;
use tomori_store::Store;
use twilight_gateway::error::ReceiveMessageErrorType;
use twilight_gateway::queue::InMemoryQueue;
use twilight_gateway::{
    CloseFrame, ConfigBuilder, Event, EventTypeFlags, Intents, Shard, ShardId, StreamExt as _,
};
use twilight_http::error::ErrorType;
use twilight_model::channel::message::EmojiReactionType;
use twilight_model::channel::{ChannelType, Message};
use twilight_model::gateway::payload::incoming::{GuildCreate, MessageCreate, Ready};
use twilight_model::gateway::{GatewayReaction, SessionStartLimit};
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, MessageMarker, UserMarker};
use url::Url;

use crate::commands::{BotControl, Commands};
use crate::config::{ConfigError, DiscordConfig, gateway_base, http_client};
use crate::directory::{Directory, Place};
use crate::id::snowflake;
use crate::inbound::map_message;
use crate::marker;
use crate::reconnect::{Backoff, Wait, close_reason, describe, resume_url_allowed};
use crate::status::ShardStatus;
use crate::surface::DiscordSurface;
use crate::task::spawn_logged;
use crate::welcome::{self, KnownGuilds, invite_url};

/// The gateway intents Tomori asks for: guilds (channels, threads, roles and owners for the
/// directory), guild and direct messages (created, edited and deleted), message content, and
/// the guilds' emoji changes. Members (with their roles) arrive inside MESSAGE_CREATE, so the
/// privileged GUILD_MEMBERS intent is not needed.
pub const INTENTS: Intents = Intents::GUILDS
    .union(Intents::GUILD_MESSAGES)
    .union(Intents::GUILD_EMOJIS_AND_STICKERS)
    .union(Intents::MESSAGE_CONTENT)
    .union(Intents::DIRECT_MESSAGES)
    .union(Intents::GUILD_MESSAGE_REACTIONS)
    .union(Intents::DIRECT_MESSAGE_REACTIONS);

/// The events the shards deserialize; everything else is skipped unparsed.
const EVENTS: EventTypeFlags = EventTypeFlags::READY
    .union(EventTypeFlags::RESUMED)
    .union(EventTypeFlags::MESSAGE_CREATE)
    .union(EventTypeFlags::MESSAGE_UPDATE)
    .union(EventTypeFlags::MESSAGE_DELETE)
    .union(EventTypeFlags::MESSAGE_DELETE_BULK)
    .union(EventTypeFlags::REACTION_ADD)
    .union(EventTypeFlags::REACTION_REMOVE)
    .union(EventTypeFlags::REACTION_REMOVE_ALL)
    .union(EventTypeFlags::REACTION_REMOVE_EMOJI)
    .union(EventTypeFlags::GUILD_EMOJIS_UPDATE)
    .union(EventTypeFlags::INTERACTION_CREATE)
    .union(EventTypeFlags::GUILD_CREATE)
    .union(EventTypeFlags::GUILD_UPDATE)
    .union(EventTypeFlags::GUILD_DELETE)
    .union(EventTypeFlags::ROLE_CREATE)
    .union(EventTypeFlags::ROLE_UPDATE)
    .union(EventTypeFlags::ROLE_DELETE)
    .union(EventTypeFlags::CHANNEL_CREATE)
    .union(EventTypeFlags::CHANNEL_UPDATE)
    .union(EventTypeFlags::CHANNEL_DELETE)
    .union(EventTypeFlags::THREAD_CREATE)
    .union(EventTypeFlags::THREAD_UPDATE)
    .union(EventTypeFlags::THREAD_DELETE)
    .union(EventTypeFlags::THREAD_LIST_SYNC);

/// How long a shard waits for the gateway to acknowledge its close at shutdown.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// What the engine does with an inbound message and the changes to the channel's history.
pub trait InboundHandler: Send + Sync + 'static {
    /// Handles one message. Runs in its own task; a panic is logged with the event name.
    fn on_message(&self, message: Inbound) -> impl Future<Output = ()> + Send;

    /// A message was edited (MESSAGE_UPDATE), mapped as a new one would be.
    fn on_edit(&self, message: Inbound) {
        let _ = message;
    }

    /// Messages of a channel were deleted (MESSAGE_DELETE, MESSAGE_DELETE_BULK).
    fn on_delete(&self, channel: Snowflake, messages: Vec<Snowflake>) {
        let _ = (channel, messages);
    }

    /// The bot posted one of its history markers (see `/tool refresh` and `/tool compact`).
    fn on_marker(&self, channel: Snowflake, message: Snowflake, marker: Marker) {
        let _ = (channel, message, marker);
    }

    /// A reaction was added or removed (MESSAGE_REACTION_ADD, _REMOVE, _REMOVE_ALL,
    /// _REMOVE_EMOJI).
    fn on_reaction(&self, reaction: Reaction) {
        let _ = reaction;
    }
}

/// Why [`Discord::connect`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Discord refused the token.
    #[error(
        "Discord refused the bot token (401); reset it in the developer portal and set it again"
    )]
    Unauthorized,
    /// A REST request failed.
    #[error("{what} failed")]
    Rest {
        /// Which request.
        what: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Discord's answer made no sense.
    #[error("{what}: {reason}")]
    Invalid {
        /// Which request.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
}

/// Why [`Discord::run`] stopped other than by shutdown.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Discord closed a shard for good (an invalid token, disallowed intents, an invalid shard).
    #[error("the gateway closed shard {shard} for good ({})", describe(*code))]
    Closed {
        /// The shard id.
        shard: u32,
        /// The last close code Discord sent, when it sent one.
        code: Option<u16>,
    },
    /// A shard's task panicked.
    #[error("a shard task panicked")]
    Panicked,
}

/// The bot's own user id, learned from `GET /users/@me` and READY. Zero until known.
#[derive(Debug, Clone, Default)]
pub(crate) struct BotUser(Arc<AtomicU64>);

impl BotUser {
    pub(crate) fn get(&self) -> Option<Id<UserMarker>> {
        Id::new_checked(self.0.load(Ordering::Relaxed))
    }

    pub(crate) fn set(&self, id: Id<UserMarker>) {
        self.0.store(id.get(), Ordering::Relaxed);
    }
}

/// A prepared connection to Discord; see the module documentation.
#[derive(Debug)]
pub struct Discord {
    http: Arc<twilight_http::Client>,
    shards: Vec<Shard>,
    bot: BotUser,
    directory: Arc<Directory>,
    commands: Option<Arc<Commands>>,
    status: ShardStatus,
}

fn rest_error(what: &'static str) -> impl FnOnce(twilight_http::Error) -> ConnectError {
    move |source| match source.kind() {
        ErrorType::Response { status, .. } if status.get() == 401 => ConnectError::Unauthorized,
        ErrorType::Unauthorized => ConnectError::Unauthorized,
        _ => ConnectError::Rest { what, source: Box::new(source) },
    }
}

fn body_error(
    what: &'static str,
) -> impl FnOnce(twilight_http::response::DeserializeBodyError) -> ConnectError {
    move |source| ConnectError::Rest { what, source: Box::new(source) }
}

/// The identify queue for Discord's session limits. Twilight's queue asserts
/// `remaining <= total`; a server that says otherwise gets clamped instead of a panic.
fn identify_queue(limit: &SessionStartLimit) -> InMemoryQueue {
    InMemoryQueue::new(
        limit.max_concurrency,
        limit.remaining.min(limit.total),
        Duration::from_millis(limit.reset_after),
        limit.total,
    )
}

impl Discord {
    /// Checks the token, learns where and how to connect, and prepares the shards (they connect
    /// when [`Self::run`] polls them).
    ///
    /// Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// A bad configuration, a refused token, or Discord unreachable.
    pub async fn connect(config: &DiscordConfig) -> Result<Self, ConnectError> {
        let http = Arc::new(http_client(config)?);
        let me = http
            .current_user()
            .await
            .map_err(rest_error("GET /users/@me"))?
            .model()
            .await
            .map_err(body_error("GET /users/@me"))?;
        let bot = BotUser::default();
        bot.set(me.id);
        let info = if config.gateway_url.is_none() || config.shards.is_none() {
            let what = "GET /gateway/bot";
            Some(
                http.gateway()
                    .authed()
                    .await
                    .map_err(rest_error(what))?
                    .model()
                    .await
                    .map_err(body_error(what))?,
            )
        } else {
            None
        };
        let gateway = match (&config.gateway_url, &info) {
            (Some(url), _) => gateway_base(url)?,
            (None, Some(info)) => {
                let url = Url::parse(&info.url).map_err(|e| ConnectError::Invalid {
                    what: "GET /gateway/bot",
                    reason: format!("the gateway URL does not parse: {e}"),
                })?;
                // The URL came from the REST server: it passes the same clear-text check.
                gateway_base(&url)?
            }
            (None, None) => {
                return Err(ConnectError::Invalid {
                    what: "the configuration",
                    reason: "no gateway URL".to_owned(),
                });
            }
        };
        let ids: Vec<ShardId> = match (config.shards, &info) {
            (Some(range), _) => range.ids().collect(),
            (None, Some(info)) if info.shards > 0 => {
                (0..info.shards).map(|id| ShardId::new(id, info.shards)).collect()
            }
            (None, _) => {
                return Err(ConnectError::Invalid {
                    what: "GET /gateway/bot",
                    reason: "it recommends zero shards".to_owned(),
                });
            }
        };
        let queue = info
            .as_ref()
            .map_or_else(InMemoryQueue::default, |i| identify_queue(&i.session_start_limit));
        let shard_config = ConfigBuilder::new(config_token(config), INTENTS)
            .proxy_url(gateway)
            .queue(queue)
            .build();
        let status = ShardStatus::new(ids.iter().map(|id| id.number()));
        let shards =
            ids.into_iter().map(|id| Shard::with_config(id, shard_config.clone())).collect();
        Ok(Self { http, shards, bot, directory: Arc::default(), commands: None, status })
    }

    /// The REST client (for slash-command registration and other calls the surface does not make).
    pub fn http(&self) -> &Arc<twilight_http::Client> {
        &self.http
    }

    /// The bot's own user id.
    pub fn bot_user(&self) -> Option<Id<UserMarker>> {
        self.bot.get()
    }

    /// The shards this process runs, as `(id, total)`.
    pub fn shards(&self) -> Vec<(u32, u32)> {
        self.shards.iter().map(|s| (s.id().number(), s.id().total())).collect()
    }

    /// Whether each shard has a session, for the readiness probe; shared, so it stays current
    /// while [`Self::run`] drives the shards.
    pub fn shard_status(&self) -> ShardStatus {
        self.status.clone()
    }

    /// The engine's surface on this connection; it shares the REST client and what the shards
    /// learn about channels.
    pub fn surface(&self, store: Store) -> DiscordSurface {
        DiscordSurface::with_parts(
            Arc::clone(&self.http),
            store,
            Arc::clone(&self.directory),
            self.bot.clone(),
        )
    }

    /// The slash commands on this connection's REST client; register them with
    /// [`Commands::register`] and install them with [`Self::with_commands`].
    pub fn commands(&self, store: Store, control: Arc<dyn BotControl>) -> Commands {
        Commands::new(Arc::clone(&self.http), store, control)
    }

    /// Routes INTERACTION_CREATE to `commands` (without them, interactions are ignored).
    #[must_use]
    pub fn with_commands(mut self, commands: Commands) -> Self {
        self.commands = Some(Arc::new(commands));
        self
    }

    /// Runs every shard until `shutdown` completes, then closes them with a normal close (the bot
    /// goes offline at once) and returns. Handler tasks still running are left to finish.
    ///
    /// # Errors
    /// Discord closed a shard for good (the others are closed too), or a shard task panicked.
    pub async fn run<H: InboundHandler>(
        self,
        handler: Arc<H>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), GatewayError> {
        let (stop, stopped) = watch::channel(false);
        let dispatcher = Arc::new(Dispatcher {
            handler,
            http: Arc::clone(&self.http),
            known_guilds: KnownGuilds::default(),
            bot: self.bot,
            directory: self.directory,
            commands: self.commands,
            status: self.status,
        });
        let mut shards = JoinSet::new();
        for shard in self.shards {
            shards.spawn(run_shard(shard, Arc::clone(&dispatcher), stopped.clone()));
        }
        tokio::pin!(shutdown);
        let mut shutting_down = false;
        let mut failure = None;
        loop {
            tokio::select! {
                () = &mut shutdown, if !shutting_down => {
                    tracing::info!("closing the gateway shards");
                    shutting_down = true;
                    stop.send_replace(true);
                }
                joined = shards.join_next() => match joined {
                    None => break,
                    Some(Ok(Ok(()))) => {}
                    Some(Ok(Err(error))) => {
                        tracing::error!(%error, "gateway shard stopped");
                        failure.get_or_insert(error);
                        stop.send_replace(true);
                    }
                    Some(Err(join)) => {
                        tracing::error!(error = %join, "gateway shard task failed");
                        failure.get_or_insert(GatewayError::Panicked);
                        stop.send_replace(true);
                    }
                },
            }
        }
        failure.map_or(Ok(()), Err)
    }
}

fn config_token(config: &DiscordConfig) -> String {
    use secrecy::ExposeSecret as _;
    config.token.expose_secret().to_owned()
}

/// What the shards share: the handler and what they learn.
struct Dispatcher<H> {
    handler: Arc<H>,
    http: Arc<twilight_http::Client>,
    known_guilds: KnownGuilds,
    bot: BotUser,
    directory: Arc<Directory>,
    commands: Option<Arc<Commands>>,
    status: ShardStatus,
}

impl<H: InboundHandler> Dispatcher<H> {
    fn ready(&self, shard: ShardId, ready: &Ready) {
        self.status.record_session(shard.number(), false);
        self.bot.set(ready.user.id);
        self.known_guilds.ready(ready.guilds.iter().map(|g| g.id));
        tracing::info!(shard = shard.number(), guilds = ready.guilds.len(), "gateway ready");
        if shard.number() == 0 {
            let invite = invite_url(ready.application.id);
            tracing::info!(%invite, "add the bot to a server with this link");
        }
    }

    /// Learns the guild; greets it when the bot has just joined.
    fn guild_created(&self, guild: GuildCreate) {
        match guild {
            GuildCreate::Available(guild) => {
                self.directory.learn_guild_name(guild.id, &guild.name);
                self.directory.learn_roles(guild.id, guild.owner_id, &guild.roles);
                self.directory.learn_emoji(guild.id, &guild.emojis);
                for channel in guild.channels.iter().chain(&guild.threads) {
                    self.directory.learn_channel(channel);
                }
                if self.known_guilds.created(guild.id) {
                    let http = Arc::clone(&self.http);
                    let bot = self.bot.get();
                    spawn_logged("GUILD_CREATE", async move {
                        welcome::greet(&http, &guild, bot).await;
                    });
                }
            }
            GuildCreate::Unavailable(guild) => {
                self.known_guilds.created(guild.id);
            }
        }
    }

    /// Maps a message for the engine, learning where its channel sits (`channel_type` is what
    /// MESSAGE_CREATE says of the channel).
    fn inbound(
        &self,
        message: &Message,
        channel_type: Option<ChannelType>,
        event: &str,
    ) -> Option<Inbound> {
        let channel = message.channel_id;
        let thread = channel_type.is_some_and(|kind| kind.is_thread());
        if message.guild_id.is_none() || (channel_type.is_some() && !thread) {
            // A direct message, or a guild channel Discord says is not a thread: its place is
            // known without asking.
            // A category learned from the guild's channel list is kept.
            let category = self.directory.get(channel).and_then(|place| place.category);
            let place = Place { guild: message.guild_id, parent: None, category };
            self.directory.learn(channel, place);
        }
        let parent = self.directory.get(channel).and_then(|place| place.parent);
        match map_message(message, self.bot.get(), parent, &self.directory) {
            Ok(mut inbound) => {
                inbound.guild_name = message.guild_id.and_then(|g| self.directory.guild_name(g));
                Some(inbound)
            }
            Err(error) => {
                tracing::warn!(event, %error, "message skipped");
                None
            }
        }
    }

    fn message_created(&self, created: &MessageCreate) {
        let message = &created.message;
        if let Some(marker) = marker::read(message, self.bot.get()) {
            if let (Ok(channel), Ok(id)) = (snowflake(message.channel_id), snowflake(message.id)) {
                self.handler.on_marker(channel, id, marker);
            }
            return;
        }
        if let Some(inbound) = self.inbound(message, created.channel_type, "MESSAGE_CREATE") {
            let handler = Arc::clone(&self.handler);
            spawn_logged("MESSAGE_CREATE", async move { handler.on_message(inbound).await });
        }
    }

    fn message_updated(&self, message: &Message) {
        if marker::read(message, self.bot.get()).is_some() {
            return;
        }
        if let Some(inbound) = self.inbound(message, None, "MESSAGE_UPDATE") {
            self.handler.on_edit(inbound);
        }
    }

    fn messages_deleted(&self, channel: Id<ChannelMarker>, ids: &[Id<MessageMarker>]) {
        let Ok(channel) = snowflake(channel) else { return };
        let ids: Vec<Snowflake> = ids.iter().filter_map(|id| snowflake(*id).ok()).collect();
        self.handler.on_delete(channel, ids);
    }

    fn reacted(&self, reaction: &GatewayReaction, added: bool) {
        let (Ok(channel), Ok(message), Ok(user)) = (
            snowflake(reaction.channel_id),
            snowflake(reaction.message_id),
            snowflake(reaction.user_id),
        ) else {
            return;
        };
        let Some(emoji) = emoji_text(&reaction.emoji) else { return };
        let change = if added { ReactionChange::Added } else { ReactionChange::Removed };
        let reaction = Reaction { channel, message, user: Some(user), emoji: Some(emoji), change };
        self.handler.on_reaction(reaction);
    }

    fn reactions_cleared(
        &self,
        channel: Id<ChannelMarker>,
        message: Id<MessageMarker>,
        emoji: Option<&EmojiReactionType>,
    ) {
        let (Ok(channel), Ok(message)) = (snowflake(channel), snowflake(message)) else { return };
        let emoji = match emoji {
            Some(emoji) => match emoji_text(emoji) {
                Some(text) => Some(text),
                None => return,
            },
            None => None,
        };
        let change = ReactionChange::Cleared;
        self.handler.on_reaction(Reaction { channel, message, user: None, emoji, change });
    }

    fn dispatch(&self, shard: ShardId, event: Event) {
        match event {
            Event::Ready(ready) => self.ready(shard, &ready),
            Event::GuildCreate(guild) => self.guild_created(*guild),
            Event::GuildUpdate(guild) => {
                self.directory.learn_guild_name(guild.id, &guild.name);
                self.directory.learn_roles(guild.id, guild.owner_id, &guild.roles);
            }
            Event::RoleCreate(created) => {
                self.directory.learn_role(created.guild_id, &created.role)
            }
            Event::RoleUpdate(updated) => {
                self.directory.learn_role(updated.guild_id, &updated.role)
            }
            Event::RoleDelete(deleted) => {
                self.directory.forget_role(deleted.guild_id, deleted.role_id)
            }
            Event::GuildDelete(guild) => {
                self.known_guilds.deleted(guild.id, guild.unavailable.unwrap_or(false));
                self.directory.forget_guild(guild.id);
            }
            Event::Resumed => self.status.record_session(shard.number(), true),
            Event::ChannelCreate(channel) => self.directory.learn_channel(&channel.0),
            Event::ChannelUpdate(channel) => self.directory.learn_channel(&channel.0),
            Event::ThreadCreate(thread) => self.directory.learn_channel(&thread.0),
            Event::ThreadUpdate(thread) => self.directory.learn_channel(&thread.0),
            Event::ThreadListSync(sync) => {
                for thread in &sync.threads {
                    self.directory.learn_channel(thread);
                }
            }
            Event::InteractionCreate(interaction) => match &self.commands {
                Some(commands) => {
                    let commands = Arc::clone(commands);
                    spawn_logged("INTERACTION_CREATE", async move {
                        Box::pin(commands.handle(interaction.0)).await;
                    });
                }
                None => tracing::debug!("interaction ignored: no commands installed"),
            },
            Event::ChannelDelete(channel) => self.directory.forget(channel.0.id),
            Event::ThreadDelete(thread) => self.directory.forget(thread.id),
            Event::MessageCreate(message) => self.message_created(&message),
            Event::MessageUpdate(message) => self.message_updated(&message),
            Event::MessageDelete(deleted) => {
                self.messages_deleted(deleted.channel_id, &[deleted.id])
            }
            Event::MessageDeleteBulk(deleted) => {
                self.messages_deleted(deleted.channel_id, &deleted.ids);
            }
            Event::ReactionAdd(added) => self.reacted(&added.0, true),
            Event::ReactionRemove(removed) => self.reacted(&removed.0, false),
            Event::ReactionRemoveAll(cleared) => {
                self.reactions_cleared(cleared.channel_id, cleared.message_id, None);
            }
            Event::ReactionRemoveEmoji(cleared) => {
                self.reactions_cleared(
                    cleared.channel_id,
                    cleared.message_id,
                    Some(&cleared.emoji),
                );
            }
            Event::GuildEmojisUpdate(update) => {
                self.directory.learn_emoji(update.guild_id, &update.emojis);
            }
            _ => {}
        }
    }
}

/// Waits as the backoff says after a close, logging once per step; false when the bot stops
/// meanwhile.
async fn wait_after_close(
    id: ShardId,
    backoff: &mut Backoff,
    code: Option<u16>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let Wait { wait, new_step } = backoff.after_close();
    let reason = describe(code);
    let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
    // One line per backoff step; repeats at the longest wait are debug.
    if new_step {
        tracing::warn!(shard = id.number(), %reason, wait_ms, "gateway connection closed; reconnecting");
    } else {
        tracing::debug!(shard = id.number(), %reason, wait_ms, "gateway connection closed; reconnecting");
    }
    tokio::select! {
        biased;
        () = stopped(stop) => false,
        () = tokio::time::sleep(wait) => true,
    }
}

/// Logs a receive error; true when the connection is gone (the shard reconnects after a wait).
fn receive_error(id: ShardId, error: &twilight_gateway::error::ReceiveMessageError) -> bool {
    match error.kind() {
        ReceiveMessageErrorType::Deserializing { event } => {
            // The raw event holds message text: only its name and the field are logged.
            let why = std::error::Error::source(error).map(|e| scrub(&e.to_string()));
            tracing::warn!(
                shard = id.number(),
                event = %event_name(event),
                error = why.as_deref().unwrap_or("unknown"),
                "an event did not deserialize; skipped"
            );
            false
        }
        // Twilight waits between failed connection attempts itself.
        ReceiveMessageErrorType::Reconnect => {
            tracing::warn!(shard = id.number(), "connecting to the gateway failed");
            false
        }
        _ => {
            tracing::warn!(shard = id.number(), "a gateway message could not be received");
            true
        }
    }
}

/// The `t` (event name) of a raw gateway payload.
fn event_name(raw: &str) -> String {
    serde_json::from_str::<serde_json::Value>(raw)
        .ok()
        .and_then(|v| v.get("t")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| "an unnamed payload".to_owned())
}

/// A deserialisation error without the values it quotes (they may be message text): the field
/// names (in backticks) and positions stay.
fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quoted = false;
    for c in text.chars() {
        if c == '"' {
            if !quoted {
                out.push_str("\"…\"");
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

/// The same shard and session, to resume at the configured gateway rather than the URL READY
/// named.
fn without_resume_url(shard: &Shard) -> Shard {
    let mut config = ConfigBuilder::from(shard.config().clone());
    if let Some(session) = shard.session() {
        config = config.session(session.clone());
    }
    Shard::with_config(shard.id(), config.build())
}

/// Resolves when the stop flag is set (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn run_shard<H: InboundHandler>(
    mut shard: Shard,
    dispatcher: Arc<Dispatcher<H>>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), GatewayError> {
    let id = shard.id();
    let mut last_close = None;
    let mut backoff = Backoff::default();
    loop {
        let next = tokio::select! {
            biased;
            () = stopped(&mut stop) => break,
            next = shard.next_event(EVENTS) => next,
        };
        let closed = match next {
            None => return Err(GatewayError::Closed { shard: id.number(), code: last_close }),
            Some(Err(error)) => {
                let gone = receive_error(id, &error);
                if gone {
                    last_close = None;
                }
                gone
            }
            Some(Ok(Event::GatewayClose(frame))) => {
                last_close = frame.as_ref().map(|f| f.code);
                // A fatal close ends the stream next; nothing to wait for.
                !last_close.is_some_and(|code| close_reason(code).1)
            }
            Some(Ok(Event::Ready(ready))) => {
                backoff.connected();
                let refused = !resume_url_allowed(&ready.resume_gateway_url);
                dispatcher.dispatch(id, Event::Ready(ready));
                if refused {
                    tracing::warn!(
                        shard = id.number(),
                        "the gateway's resume URL is not allowed (clear text off this machine, \
                         or not a WebSocket URL); the session resumes at the configured gateway"
                    );
                    // Twilight would reconnect there on its own; a fresh shard with the session
                    // and without the URL resumes at the configured gateway instead.
                    shard = without_resume_url(&shard);
                }
                false
            }
            Some(Ok(Event::Resumed)) => {
                backoff.connected();
                dispatcher.dispatch(id, Event::Resumed);
                false
            }
            Some(Ok(event)) => {
                dispatcher.dispatch(id, event);
                false
            }
        };
        // Readiness follows every event: a session after READY or RESUMED, none after a close.
        dispatcher.status.set(id.number(), shard.state().is_identified());
        if !closed {
            continue;
        }
        if !wait_after_close(id, &mut backoff, last_close, &mut stop).await {
            break;
        }
    }
    shard.close(CloseFrame::NORMAL);
    // Read until the gateway acknowledges the close, so the session ends cleanly.
    let acknowledged = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(item) = shard.next_event(EventTypeFlags::empty()).await {
            if matches!(item, Ok(Event::GatewayClose(_))) {
                break;
            }
        }
    })
    .await;
    if acknowledged.is_err() {
        tracing::warn!(shard = id.number(), "the gateway did not acknowledge the close in time");
    }
    Ok(())
}

/// A reaction's emoji as the model reads it: Unicode as it is, a custom one as `:name:`; a
/// custom emoji whose name Discord no longer has is left out.
fn emoji_text(emoji: &EmojiReactionType) -> Option<String> {
    match emoji {
        EmojiReactionType::Unicode { name } => Some(name.chars().take(16).collect()),
        EmojiReactionType::Custom { name: Some(name), .. }
            if tomori_core::emoji::valid_name(name) =>
        {
            Some(format!(":{name}:"))
        }
        EmojiReactionType::Custom { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{event_name, scrub};

    #[test]
    fn a_failed_event_is_named_with_its_field_and_without_the_text_it_carried() {
        let raw = r#"{"op":0,"t":"MESSAGE_CREATE","s":3,"d":{"content":"my secret plans"}}"#;
        assert_eq!(event_name(raw), "MESSAGE_CREATE");
        assert_eq!(event_name("not json"), "an unnamed payload");
        let error = r#"invalid type: string "my secret plans", expected u64 at line 1 column 60"#;
        assert_eq!(scrub(error), "invalid type: string \"…\", expected u64 at line 1 column 60");
        let missing = "missing field `channel_id` at line 1 column 80";
        assert_eq!(scrub(missing), missing, "field names stay");
    }
}
