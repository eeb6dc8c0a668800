//! A fake Discord for tests: the REST routes and the gateway WebSocket that Tomori uses, served on
//! 127.0.0.1 by one axum app, so that twilight's real clients can be pointed at it.
//!
//! It speaks raw JSON and knows no twilight types (the test kit must not depend on the Discord
//! adapter). It records every REST request and every gateway frame the client sends, injects
//! gateway events (routed to the shard Discord would pick), answers 429 with Discord's rate-limit
//! headers when a test scripts it, and makes webhooks disappear. Slash commands are injected as
//! INTERACTION_CREATE ([`SlashCommand`]); their callbacks and edits are checked and kept per
//! interaction ([`FakeInteraction`]), and command registrations per scope. Waiting helpers
//! ([`FakeDiscord::wait_for_request`] and friends) let tests wait for what they expect instead of
//! sleeping. Everything stops when the value is dropped.
//!
//! It also holds a guild model as data (channel names and categories, roles, members, permission
//! overwrites, stickers) and serves it, and records what was done to messages (edits, deletions,
//! pins, reactions: [`FakeDiscord::message_state`]).
//!
//! For load and fault runs it also keeps the time each dispatch was written to a gateway socket
//! ([`FakeDiscord::deliveries`]) and each message was created, counts answers by status
//! ([`FakeDiscord::status_count`], e.g. the 429s it sent), drops a shard's connection and refuses
//! reconnects for a while ([`FakeDiscord::drop_gateway`]), and announces guilds joined after the
//! session started ([`FakeDiscord::announce_guild`]).
//!
//! It refuses, as Discord does, bodies that break Discord's documented limits ([`validate`]):
//! command registrations (names, descriptions, option counts and lengths, nesting, total size;
//! one bad command refuses the whole bulk request), message bodies and webhook names, answering
//! 400 with Discord's `Invalid Form Body` error shape. Scripted 429s come with Discord's bucket
//! headers or, as a proxy sends them, without any scope ([`FakeDiscord::rate_limit_unscoped`]).
//!
//! What it deliberately is not: a judge of Discord's permissions (it serves roles and overwrites
//! and lets the client compute), a cache, or a model of rate-limit buckets. Routes it does not
//! know answer 404, and the request is still recorded.

mod gateway;
mod guild;
mod interaction;
mod multipart;
mod oauth;
mod payload;
mod records;
mod rest;
mod scripts;
mod setup;
mod validate;
mod wait;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use guild::{DEFAULT_EVERYONE_PERMISSIONS, MessageState, Overwrite};
pub use interaction::{FakeInteraction, SlashCommand};
pub use multipart::FakeFile;
pub use oauth::CLIENT_SECRET as OAUTH_CLIENT_SECRET;
pub use payload::{AttachmentSpec, MemberSpec, MessageCreate, Pings, ReferencedSpec, UserSpec};
use payload::{ChannelInfo, ChannelKind, WebhookInfo};
pub use records::{FakeWebhook, GatewayDelivery, GatewayFrame, RecordedRequest, SentMessage};

/// The token the fake accepts unless the builder sets another.
pub const DEFAULT_TOKEN: &str = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.fake00.fake-bot-token-for-tests-only";
/// The bot user's id unless the builder sets another.
pub const DEFAULT_BOT_ID: u64 = 1_100_000_000_000_000_001;

/// Discord's epoch (2015-01-01) in Unix milliseconds; snowflakes count from it.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
/// Records kept before the oldest are dropped, so a runaway client cannot grow the fake forever.
const MAX_RECORDS: usize = 50_000;
/// Dispatches a session keeps for RESUME.
const REPLAY_LOG: usize = 1_000;

/// Builds a [`FakeDiscord`] with non-default settings.
#[derive(Debug, Clone)]
pub struct FakeDiscordBuilder {
    settings: Settings,
}

#[derive(Debug, Clone)]
struct Settings {
    token: String,
    bot: UserSpec,
    application: u64,
    shards: u32,
    max_concurrency: u16,
    heartbeat_interval_ms: u64,
    echo: bool,
}

impl FakeDiscordBuilder {
    /// The bot token the fake accepts (REST `Authorization: Bot …` and gateway IDENTIFY).
    pub fn token(mut self, token: &str) -> Self {
        token.clone_into(&mut self.settings.token);
        self
    }

    /// The bot user's id and name.
    pub fn bot_user(mut self, id: u64, name: &str) -> Self {
        self.settings.bot =
            UserSpec { id, username: name.to_owned(), global_name: None, bot: true };
        self
    }

    /// The shard count `GET gateway/bot` recommends.
    pub fn shards(mut self, shards: u32) -> Self {
        self.settings.shards = shards;
        self
    }

    /// `session_start_limit.max_concurrency` in `GET gateway/bot`: how many shards may IDENTIFY
    /// at once (twilight waits 5 s between IDENTIFYs in one bucket).
    pub fn max_concurrency(mut self, max_concurrency: u16) -> Self {
        self.settings.max_concurrency = max_concurrency;
        self
    }

    /// The heartbeat interval HELLO announces.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.settings.heartbeat_interval_ms =
            u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Whether messages created through REST come back as MESSAGE_CREATE events, as Discord
    /// does (on by default).
    pub fn echo_messages(mut self, echo: bool) -> Self {
        self.settings.echo = echo;
        self
    }

    /// Binds 127.0.0.1 on a free port and starts serving.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(self) -> FakeDiscord {
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let addr = listener.local_addr().expect("a bound listener has an address");
        let (stop, stopped) = watch::channel(false);
        let (changed, _) = watch::channel(0_u64);
        let shared = Arc::new(Shared {
            settings: self.settings,
            addr,
            inner: Mutex::new(Inner::default()),
            changed,
            shutdown: stopped.clone(),
        });
        let app = axum::Router::new()
            .route("/", axum::routing::get(gateway::upgrade))
            .fallback(rest::handle)
            // Discord takes uploads up to 25 MiB (axum's default cap is 2 MB).
            .layer(axum::extract::DefaultBodyLimit::max(25 * 1024 * 1024))
            .with_state(Arc::clone(&shared));
        let mut until_stopped = stopped;
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = until_stopped.wait_for(|stop| *stop).await;
            };
            let _ = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
        });
        FakeDiscord { shared, stop, server }
    }
}

/// The fake Discord server; see the module documentation.
#[derive(Debug)]
pub struct FakeDiscord {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        // Gateway connections watch the same flag and close; the server task is aborted in case a
        // client holds a connection open.
        let _ = self.stop.send(true);
        self.server.abort();
    }
}

impl FakeDiscord {
    /// A fake with the default token, bot user, one shard and identify concurrency 1.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// A builder for other settings.
    pub fn builder() -> FakeDiscordBuilder {
        FakeDiscordBuilder {
            settings: Settings {
                token: DEFAULT_TOKEN.to_owned(),
                bot: UserSpec {
                    id: DEFAULT_BOT_ID,
                    username: "Tomori".to_owned(),
                    global_name: None,
                    bot: true,
                },
                application: DEFAULT_BOT_ID,
                shards: 1,
                max_concurrency: 1,
                heartbeat_interval_ms: 41_250,
                echo: true,
            },
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The REST base, `http://127.0.0.1:PORT/api/v10`.
    pub fn api_base(&self) -> String {
        format!("http://{}/api/v10", self.shared.addr)
    }

    /// The gateway URL, `ws://127.0.0.1:PORT`.
    pub fn gateway_url(&self) -> String {
        self.shared.gateway_url()
    }

    /// The bot token it accepts.
    pub fn token(&self) -> &str {
        &self.shared.settings.token
    }

    /// The bot user's id.
    pub fn bot_user_id(&self) -> u64 {
        self.shared.settings.bot.id
    }

    /// Makes a message known to the REST routes (as if it had been sent before the bot connected)
    /// without any gateway event, and returns its id.
    pub fn add_message(&self, message: MessageCreate) -> u64 {
        let mut inner = self.shared.lock();
        let id = message.id.unwrap_or_else(|| inner.next_id());
        let data = message.payload(id, &now_timestamp());
        inner.guild_state.stored.insert(id, data);
        id
    }

    /// What the REST routes did to a message (pins, edits, deletion, reactions).
    pub fn message_state(&self, message: u64) -> MessageState {
        self.shared.lock().guild_state.states.get(&message).cloned().unwrap_or_default()
    }

    /// Sends MESSAGE_CREATE to the shard Discord would route it to and returns the message id.
    /// The channel becomes known to the REST routes if it was not.
    ///
    /// # Panics
    /// When no gateway session serves that shard yet: wait with [`Self::wait_for_ready`] first.
    #[track_caller]
    pub fn inject_message(&self, message: MessageCreate) -> u64 {
        let guild = message.guild;
        let id = self.try_inject_message(message);
        assert!(
            id.is_some(),
            "no gateway session serves the shard of guild {guild:?}; wait_for_ready first"
        );
        id.unwrap_or_default()
    }

    /// [`Self::inject_message`] without the panic: `None` when no gateway session serves the
    /// shard (nothing is sent then). A session whose connection is down keeps the event for its
    /// RESUME, as Discord does.
    pub fn try_inject_message(&self, message: MessageCreate) -> Option<u64> {
        let mut inner = self.shared.lock();
        let id = message.id.unwrap_or_else(|| inner.next_id());
        inner.channels.entry(message.channel).or_insert(ChannelInfo {
            id: message.channel,
            guild: message.guild,
            kind: match message.guild {
                Some(_) => ChannelKind::Text,
                None => ChannelKind::Direct { recipient: message.author.id },
            },
        });
        if let Some(guild) = message.guild {
            inner.guilds.entry(guild).or_insert_with(|| format!("guild-{guild}"));
        }
        let mut data = message.payload(id, &now_timestamp());
        inner.guild_state.stored.insert(id, data.clone());
        // Discord adds the channel's type to MESSAGE_CREATE (0 text, 1 DM, 11 public thread).
        let channel_type = match inner.channels.get(&message.channel).map(|c| c.kind) {
            Some(ChannelKind::Thread { .. }) => 11,
            Some(ChannelKind::Direct { .. }) => 1,
            Some(ChannelKind::Text) | None => 0,
        };
        if let Some(object) = data.as_object_mut() {
            object.insert("channel_type".to_owned(), channel_type.into());
        }
        let delivered =
            gateway::dispatch_for_guild(&mut inner, message.guild, "MESSAGE_CREATE", data);
        drop(inner);
        self.shared.bump();
        delivered.then_some(id)
    }

    /// Edits a message injected or added before: its stored text becomes `content`, and
    /// MESSAGE_UPDATE (the whole message, as Discord sends it) goes to the guild's shard. False
    /// when the message is unknown or no session serves the shard.
    pub fn edit_message(&self, message: u64, content: &str) -> bool {
        let mut inner = self.shared.lock();
        let Some(data) = inner.guild_state.stored.get_mut(&message) else { return false };
        data["content"] = content.into();
        data["edited_timestamp"] = now_timestamp().into();
        let data = data.clone();
        let guild = data.get("guild_id").and_then(Value::as_str).and_then(|g| g.parse().ok());
        let sent = gateway::dispatch_for_guild(&mut inner, guild, "MESSAGE_UPDATE", data);
        drop(inner);
        self.shared.bump();
        sent
    }

    /// Deletes messages of a channel as a member or moderator would: the REST routes stop
    /// serving them, and MESSAGE_DELETE (one) or MESSAGE_DELETE_BULK (several) goes to the guild's
    /// shard. False when no session serves the shard.
    pub fn delete_messages(&self, guild: Option<u64>, channel: u64, messages: &[u64]) -> bool {
        let mut inner = self.shared.lock();
        for message in messages {
            inner.guild_state.states.entry(*message).or_default().deleted = true;
        }
        let mut data = match messages {
            [one] => json!({ "id": one.to_string(), "channel_id": channel.to_string() }),
            _ => json!({
                "ids": messages.iter().map(u64::to_string).collect::<Vec<_>>(),
                "channel_id": channel.to_string(),
            }),
        };
        if let Some(guild) = guild {
            data["guild_id"] = guild.to_string().into();
        }
        let event = if messages.len() == 1 { "MESSAGE_DELETE" } else { "MESSAGE_DELETE_BULK" };
        let sent = gateway::dispatch_for_guild(&mut inner, guild, event, data);
        drop(inner);
        self.shared.bump();
        sent
    }

    /// Sends GUILD_CREATE for a guild added with [`Self::add_guild`] or
    /// [`Self::add_text_channel`] after the session started, as Discord does when the bot joins
    /// a guild. False when the guild is unknown or no session serves its shard.
    pub fn announce_guild(&self, guild: u64) -> bool {
        let mut inner = self.shared.lock();
        let sent = gateway::announce_guild(&mut inner, &self.shared.settings.bot, guild);
        drop(inner);
        self.shared.bump();
        sent
    }

    /// Ends a shard's gateway connection without a close frame, as a network failure does, and
    /// answers new gateway connections with 503 for `refuse_for`. The session stays, so the
    /// client can RESUME and get what it missed. False when no connection serves the shard.
    pub fn drop_gateway(&self, shard: u32, refuse_for: Duration) -> bool {
        let mut inner = self.shared.lock();
        inner.refuse_until = Some(Instant::now() + refuse_for);
        let dropped = inner
            .shard_sessions
            .get(&shard)
            .and_then(|s| inner.sessions.get(s))
            .and_then(|s| s.connection)
            .and_then(|c| inner.connections.get(&c))
            .is_some_and(gateway::Connection::drop_abruptly);
        drop(inner);
        self.shared.bump();
        dropped
    }

    /// For the next `burst`, accepts each new gateway connection and closes it at once with
    /// `code` (before HELLO), as a misbehaving server does; [`Self::gateway_connections`] counts
    /// them.
    pub fn close_new_connections(&self, code: u16, burst: Duration) {
        self.shared.lock().close_on_connect = Some((Instant::now() + burst, code));
    }

    /// Makes READY name `url` as the `resume_gateway_url` (the fake's own URL otherwise).
    pub fn set_resume_url(&self, url: &str) {
        self.shared.lock().resume_url = Some(url.to_owned());
    }

    /// Gateway connections answered 503 while [`Self::drop_gateway`] refused them.
    pub fn refused_connections(&self) -> u64 {
        self.shared.lock().refused
    }

    /// Every dispatch written to a gateway socket so far (the newest 50,000), replays included.
    pub fn deliveries(&self) -> Vec<GatewayDelivery> {
        self.shared.lock().deliveries.iter().cloned().collect()
    }

    /// How many REST requests the fake answered with `status` (all of them, not just the
    /// recorded ones), e.g. the 429s it sent.
    pub fn status_count(&self, status: u16) -> u64 {
        self.shared.lock().statuses.get(&status).copied().unwrap_or(0)
    }

    /// Sends any dispatch event to one shard's session.
    ///
    /// # Panics
    /// When no gateway session serves that shard.
    #[track_caller]
    pub fn dispatch(&self, shard: u32, event: &str, data: Value) {
        let mut inner = self.shared.lock();
        let session = inner.shard_sessions.get(&shard).cloned();
        let delivered = session.is_some_and(|s| gateway::dispatch(&mut inner, &s, event, data));
        drop(inner);
        assert!(delivered, "no gateway session serves shard {shard}");
    }

    /// Sends INTERACTION_CREATE for a slash command to the shard Discord would route it to and
    /// returns the interaction id. The channel becomes known to the REST routes if it was not.
    ///
    /// # Panics
    /// When no gateway session serves that shard yet: wait with [`Self::wait_for_ready`] first.
    #[track_caller]
    pub fn inject_command(&self, command: SlashCommand) -> u64 {
        let mut inner = self.shared.lock();
        let id = command.id.unwrap_or_else(|| inner.next_id());
        let token = format!("fake-interaction-token-{}-{id:x}", inner.next_counter());
        let channel = *inner.channels.entry(command.channel).or_insert(ChannelInfo {
            id: command.channel,
            guild: command.guild,
            kind: match command.guild {
                Some(_) => ChannelKind::Text,
                None => ChannelKind::Direct { recipient: command.user.id },
            },
        });
        if let Some(guild) = command.guild {
            inner.guilds.entry(guild).or_insert_with(|| format!("guild-{guild}"));
        }
        inner.interactions.insert(
            id,
            FakeInteraction {
                id,
                channel: command.channel,
                token: token.clone(),
                callbacks: Vec::new(),
                content: None,
                ephemeral: false,
                allowed_mentions: None,
                edits: 0,
                edited_texts: Vec::new(),
                files: Vec::new(),
                modal: None,
                choices: None,
            },
        );
        let data = command.payload(
            id,
            &token,
            self.shared.settings.application,
            Some(&channel),
            &now_timestamp(),
        );
        let delivered =
            gateway::dispatch_for_guild(&mut inner, command.guild, "INTERACTION_CREATE", data);
        drop(inner);
        assert!(
            delivered,
            "no gateway session serves the shard of guild {:?}; wait_for_ready first",
            command.guild
        );
        self.shared.bump();
        id
    }

    /// Serves `bytes` as an attachment at `http://127.0.0.1:PORT/attachments/ID/FILENAME` (no
    /// authorization, as Discord's CDN) and returns its description, for
    /// [`SlashCommand::attachment_arg`] or a message's attachments.
    pub fn host_attachment(
        &self,
        filename: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> AttachmentSpec {
        let mut inner = self.shared.lock();
        let id = inner.next_id();
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        inner.hosted.insert(id, (content_type.to_owned(), bytes));
        AttachmentSpec {
            id,
            filename: filename.to_owned(),
            url: format!("http://{}/attachments/{id}/{filename}", self.shared.addr),
            content_type: Some(content_type.to_owned()),
            size,
        }
    }

    /// An injected interaction and how it was answered so far.
    pub fn interaction(&self, id: u64) -> Option<FakeInteraction> {
        self.shared.lock().interactions.get(&id).cloned()
    }

    /// Waits until an injected interaction matches `predicate` (e.g. [`FakeInteraction::answered`]).
    ///
    /// # Panics
    /// On timeout, listing the requests seen.
    pub async fn wait_for_interaction(
        &self,
        id: u64,
        predicate: impl Fn(&FakeInteraction) -> bool,
        timeout: Duration,
    ) -> FakeInteraction {
        self.wait_for("interaction answer", timeout, |inner| {
            inner.interactions.get(&id).filter(|i| predicate(i)).cloned()
        })
        .await
    }

    /// The commands registered last for the application (`guild: None`) or one guild, as sent.
    pub fn registered_commands(&self, guild: Option<u64>) -> Vec<Value> {
        self.shared.lock().commands.get(&guild).cloned().unwrap_or_default()
    }

    /// Asks a shard to reconnect (opcode 7); the client should come back with RESUME.
    ///
    /// # Panics
    /// When no gateway connection serves that shard.
    #[track_caller]
    pub fn request_reconnect(&self, shard: u32) {
        let inner = self.shared.lock();
        let sent = inner
            .shard_sessions
            .get(&shard)
            .and_then(|s| inner.sessions.get(s))
            .and_then(|s| s.connection)
            .and_then(|c| inner.connections.get(&c))
            .is_some_and(|c| c.send(r#"{"op":7,"d":null}"#.to_owned()));
        drop(inner);
        assert!(sent, "no gateway connection serves shard {shard}");
    }

    /// Deletes a webhook behind the bot's back: executing it now answers 404 Unknown Webhook
    /// (code 10015), as Discord does after someone deletes it in the channel settings.
    pub fn make_webhook_gone(&self, webhook: u64) {
        if let Some(hook) = self.shared.lock().webhooks.get_mut(&webhook) {
            hook.gone = true;
        }
    }

    /// Every webhook the fake created, gone ones included.
    pub fn webhooks(&self) -> Vec<FakeWebhook> {
        self.shared
            .lock()
            .webhooks
            .values()
            .map(|h| FakeWebhook {
                id: h.id,
                channel: h.channel,
                name: h.name.clone(),
                token: h.token.clone(),
                gone: h.gone,
            })
            .collect()
    }

    /// Every REST request so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.iter().cloned().collect()
    }

    /// Every gateway frame the client sent so far.
    pub fn frames(&self) -> Vec<GatewayFrame> {
        self.shared.lock().frames.iter().cloned().collect()
    }

    /// The query string of every gateway connection, in order.
    pub fn gateway_connections(&self) -> Vec<String> {
        self.shared.lock().connects.clone()
    }

    /// Every message created so far.
    pub fn messages(&self) -> Vec<SentMessage> {
        self.shared.lock().messages.clone()
    }
}

/// State shared by the REST handler, the gateway connections and the test.
#[derive(Debug)]
struct Shared {
    settings: Settings,
    addr: SocketAddr,
    inner: Mutex<Inner>,
    /// Bumped after every change a waiter may be waiting for.
    changed: watch::Sender<u64>,
    /// Becomes true when the test drops the fake.
    shutdown: watch::Receiver<bool>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test thread must not turn every later call into a second panic.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn bump(&self) {
        self.changed.send_modify(|version| *version = version.wrapping_add(1));
    }

    fn gateway_url(&self) -> String {
        format!("ws://{}", self.addr)
    }
}

#[derive(Debug, Default)]
struct Inner {
    requests: VecDeque<RecordedRequest>,
    /// Answers per status, over the fake's life.
    statuses: BTreeMap<u16, u64>,
    frames: VecDeque<GatewayFrame>,
    deliveries: VecDeque<GatewayDelivery>,
    /// New gateway connections are refused until then.
    refuse_until: Option<Instant>,
    /// New gateway connections are accepted and closed at once with this code until then.
    close_on_connect: Option<(Instant, u16)>,
    /// The `resume_gateway_url` READY names, when not the fake's own.
    resume_url: Option<String>,
    refused: u64,
    connects: Vec<String>,
    connections: HashMap<u64, gateway::Connection>,
    sessions: HashMap<String, gateway::Session>,
    /// The newest session of each shard id.
    shard_sessions: HashMap<u32, String>,
    channels: BTreeMap<u64, ChannelInfo>,
    guilds: BTreeMap<u64, String>,
    webhooks: BTreeMap<u64, WebhookInfo>,
    messages: Vec<SentMessage>,
    interactions: BTreeMap<u64, FakeInteraction>,
    /// Names, categories, roles, members, overwrites, stickers and message history.
    guild_state: guild::GuildState,
    /// Registered commands per scope (`None` for global).
    commands: BTreeMap<Option<u64>, Vec<Value>>,
    scripted: Vec<rest::Scripted>,
    /// Attachments served under `/attachments/ID/…`: content type and bytes.
    hosted: BTreeMap<u64, (String, Vec<u8>)>,
    /// The OAuth2 side: who is signed in, codes and tokens.
    oauth: oauth::OAuth,
    last_id: u64,
    counter: u64,
    /// Gateway connections opened so far (connection ids count from 1).
    opened: u64,
}

impl Inner {
    /// A fresh snowflake carrying the current time, as Discord's are.
    fn next_id(&mut self) -> u64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let millis = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
        let candidate = millis.saturating_sub(DISCORD_EPOCH_MS) << 22;
        self.last_id = candidate.max(self.last_id.saturating_add(1));
        self.last_id
    }

    /// A counter for names and tokens.
    fn next_counter(&mut self) -> u64 {
        self.counter = self.counter.saturating_add(1);
        self.counter
    }

    fn record_delivery(&mut self, delivery: GatewayDelivery) {
        if self.deliveries.len() >= MAX_RECORDS {
            self.deliveries.pop_front();
        }
        self.deliveries.push_back(delivery);
    }

    fn record_request(&mut self, request: RecordedRequest) {
        *self.statuses.entry(request.status).or_default() += 1;
        if self.requests.len() >= MAX_RECORDS {
            self.requests.pop_front();
        }
        self.requests.push_back(request);
    }

    fn record_frame(&mut self, frame: GatewayFrame) {
        if self.frames.len() >= MAX_RECORDS {
            self.frames.pop_front();
        }
        self.frames.push_back(frame);
    }
}

fn route_matches(pattern: &str, path: &str) -> bool {
    let (mut pattern, mut path) = (pattern.split('/'), path.split('/'));
    loop {
        match (pattern.next(), path.next()) {
            (None, None) => return true,
            (Some(p), Some(s)) if p == "*" || p == s => {}
            _ => return false,
        }
    }
}

fn now_timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

#[cfg(test)]
mod tests;
