//! Test fixtures: a recording fake of live state, a recording fake platform, probe tools that
//! need every kind of requirement, a loopback web server that records what it was asked, and a
//! turn set up against a fresh database with a server memory and a personal memory the turn
//! "showed".

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::DateTime;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tomori_core::handles::Handles;
use tomori_core::id::{LineageId, PersonaId, ServerId, Snowflake, UserId};
use tomori_core::privacy::PrivacyLevel;
use tomori_core::quota::QuotaVerdict;
use tomori_core::settings::Feature;
use tomori_net::{Client, Policy, Scope as NetScope};
use tomori_store::audit::Actor;
use tomori_store::personas::{self, NewPersona};
use tomori_store::reminders::{self, NewReminder};
use tomori_store::{Scope, Store, memories};
use tomori_testkit::TestDb;
use tomori_tools::pdf::{PdfExtractor, ReaderLimits};
use tomori_tools::{
    AttachmentFacts, Author, Authorized, ChannelAccess, ChannelFacts, ChannelKind, Contexts,
    Effect, Features, GenerateImage, ImageAsk, ImageFailure, ImageMaker, LiveError, LiveState,
    MadeImage, MemoryScope, MessageFacts, OutFile, PeekProfilePicture, Perm, Perms, PictureLoader,
    Place, Platform, PlatformError, QuotaKind, Registry, SearchConfig, Snapshot, StickerFacts,
    Target, TargetRule, Tool, ToolOutcome, ToolPolicy, TurnContext, Visibility, builtins,
    platform_tools,
};

/// The loopback address test servers listen on; test policies allow exactly this one.
pub(crate) const SERVER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

pub(crate) fn snowflake(n: u64) -> Snowflake {
    Snowflake::new(n).expect("a valid test snowflake")
}

/// The facts the fake returns; tests change them between calls.
#[derive(Clone, Debug)]
pub(crate) struct Facts {
    pub(crate) snapshot: Result<Snapshot, LiveError>,
    pub(crate) quota: Result<QuotaVerdict, LiveError>,
    pub(crate) authors: HashMap<Snowflake, Author>,
    pub(crate) visibility: HashMap<Snowflake, Visibility>,
    pub(crate) channels: Result<Vec<ChannelFacts>, LiveError>,
    pub(crate) access: HashMap<Snowflake, ChannelAccess>,
}

pub(crate) const HERE: u64 = 700_000_000_000_000_001;
pub(crate) const GENERAL: u64 = 700_000_000_000_000_002;
pub(crate) const RANDOM_GAMES: u64 = 700_000_000_000_000_003;
pub(crate) const RANDOM_WORK: u64 = 700_000_000_000_000_004;
pub(crate) const PLANS_THREAD: u64 = 700_000_000_000_000_005;
pub(crate) const GENERAL_VOICE: u64 = 700_000_000_000_000_006;

fn channel(id: u64, name: &str, kind: ChannelKind, parent: Option<(u64, &str)>) -> ChannelFacts {
    ChannelFacts {
        id: snowflake(id),
        name: name.to_owned(),
        kind,
        parent: parent.map(|(p, _)| snowflake(p)),
        parent_name: parent.map(|(_, n)| n.to_owned()),
    }
}

/// The guild's channels: the turn's own (`chat`), `general` with a thread `plans`, two
/// `random`s in different categories, and a voice channel also named `general`.
pub(crate) fn guild_channels() -> Vec<ChannelFacts> {
    let text = Some((800_000_000_000_000_001, "Text"));
    vec![
        channel(HERE, "chat", ChannelKind::Text, text),
        channel(GENERAL, "general", ChannelKind::Text, text),
        channel(
            RANDOM_GAMES,
            "random",
            ChannelKind::Text,
            Some((800_000_000_000_000_002, "Games")),
        ),
        channel(RANDOM_WORK, "random", ChannelKind::Text, Some((800_000_000_000_000_003, "Work"))),
        channel(PLANS_THREAD, "plans", ChannelKind::Thread, Some((GENERAL, "general"))),
        channel(
            GENERAL_VOICE,
            "general",
            ChannelKind::Voice,
            Some((800_000_000_000_000_004, "Voice")),
        ),
    ]
}

impl Facts {
    /// Everything allowed.
    pub(crate) fn permissive() -> Self {
        let channels = guild_channels();
        let all = ChannelAccess { bot: Perms::all(), invoker: Perms::all() };
        Facts {
            snapshot: Ok(Snapshot {
                features: Features::all(),
                privacy: PrivacyLevel::Minimal,
                bot: Perms::all(),
                invoker: Perms::all(),
                member_teaching: false,
            }),
            quota: Ok(QuotaVerdict::Allowed),
            authors: HashMap::new(),
            visibility: HashMap::new(),
            access: channels.iter().map(|c| (c.id, all)).collect(),
            channels: Ok(channels),
        }
    }

    /// Changes what the bot and the invoker may do in a channel.
    pub(crate) fn access_mut(&mut self, channel: u64) -> &mut ChannelAccess {
        self.access.get_mut(&snowflake(channel)).expect("a known channel")
    }

    pub(crate) fn snapshot_mut(&mut self) -> &mut Snapshot {
        self.snapshot.as_mut().expect("the snapshot is set")
    }
}

/// Live state from a table, recording quota usage.
#[derive(Debug)]
pub(crate) struct FakeLive {
    pub(crate) facts: Mutex<Facts>,
    pub(crate) quota_recorded: Mutex<Vec<QuotaKind>>,
}

impl FakeLive {
    pub(crate) fn new(facts: Facts) -> Arc<Self> {
        Arc::new(FakeLive { facts: Mutex::new(facts), quota_recorded: Mutex::new(Vec::new()) })
    }

    pub(crate) fn set(&self, change: impl FnOnce(&mut Facts)) {
        change(&mut self.facts.lock().expect("facts lock"));
    }

    fn facts(&self) -> Facts {
        self.facts.lock().expect("facts lock").clone()
    }
}

impl LiveState for FakeLive {
    fn snapshot(&self) -> BoxFuture<'_, Result<Snapshot, LiveError>> {
        let answer = self.facts().snapshot;
        async move { answer }.boxed()
    }

    fn quota(&self, _kind: QuotaKind) -> BoxFuture<'_, Result<QuotaVerdict, LiveError>> {
        let answer = self.facts().quota;
        async move { answer }.boxed()
    }

    fn record_quota(&self, kind: QuotaKind) -> BoxFuture<'_, Result<(), LiveError>> {
        self.quota_recorded.lock().expect("quota lock").push(kind);
        async { Ok(()) }.boxed()
    }

    fn message_author(&self, message: Snowflake) -> BoxFuture<'_, Result<Author, LiveError>> {
        let answer = self
            .facts()
            .authors
            .get(&message)
            .copied()
            .ok_or_else(|| LiveError("unknown message".into()));
        async move { answer }.boxed()
    }

    fn message_visibility(
        &self,
        message: Snowflake,
    ) -> BoxFuture<'_, Result<Visibility, LiveError>> {
        let answer = self
            .facts()
            .visibility
            .get(&message)
            .copied()
            .ok_or_else(|| LiveError("unknown message".into()));
        async move { answer }.boxed()
    }

    fn guild_channels(&self) -> BoxFuture<'_, Result<Vec<ChannelFacts>, LiveError>> {
        let answer = self.facts().channels;
        async move { answer }.boxed()
    }

    fn channel_access(
        &self,
        channel: Snowflake,
    ) -> BoxFuture<'_, Result<ChannelAccess, LiveError>> {
        let answer = self
            .facts()
            .access
            .get(&channel)
            .copied()
            .ok_or_else(|| LiveError("unknown channel".into()));
        async move { answer }.boxed()
    }
}

/// What a tool asked the platform to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Pin(u64),
    Edit(u64, String),
    Delete(u64),
    React(u64, String),
    Send { channel: u64, content: String, reply_to: Option<u64> },
    Thread { channel: u64, name: String, starter: String },
    Sticker { channel: u64, sticker: u64 },
}

/// A platform that records every action and answers facts from tables.
#[derive(Debug, Default)]
pub(crate) struct FakePlatform {
    pub(crate) actions: Mutex<Vec<Action>>,
    pub(crate) messages: Mutex<HashMap<Snowflake, MessageFacts>>,
    pub(crate) stickers: Vec<StickerFacts>,
    /// Answers the next action with this error instead of doing it.
    pub(crate) fail_next: Mutex<Option<PlatformError>>,
}

pub(crate) const WAVE_STICKER: u64 = 900_000_000_000_000_001;

impl FakePlatform {
    /// A platform whose guild has the `wave` and `party` stickers and whose messages are those
    /// of [`World::turn`], the bot's own carrying a text file served by `web`.
    pub(crate) fn new(web: &WebServer) -> Arc<Self> {
        let notes = AttachmentFacts {
            filename: "notes.txt".into(),
            url: web.url("/notes.txt"),
            content_type: Some("text/plain; charset=utf-8".into()),
            size: 15,
        };
        let messages = HashMap::from([
            (
                snowflake(OWN_MESSAGE),
                MessageFacts { author: Author::Bot, attachments: vec![notes] },
            ),
            (
                snowflake(OTHER_MESSAGE),
                MessageFacts { author: Author::Other, attachments: Vec::new() },
            ),
        ]);
        let sticker = |id: u64, name: &str| StickerFacts {
            id: snowflake(id),
            name: name.into(),
            description: format!("a {name}"),
            tags: "🙂".into(),
        };
        Arc::new(FakePlatform {
            actions: Mutex::new(Vec::new()),
            messages: Mutex::new(messages),
            stickers: vec![
                sticker(WAVE_STICKER, "wave"),
                sticker(900_000_000_000_000_002, "party"),
            ],
            fail_next: Mutex::new(None),
        })
    }

    pub(crate) fn actions(&self) -> Vec<Action> {
        self.actions.lock().expect("actions lock").clone()
    }

    fn act(&self, action: Action) -> Result<(), PlatformError> {
        if let Some(error) = self.fail_next.lock().expect("fail lock").take() {
            return Err(error);
        }
        self.actions.lock().expect("actions lock").push(action);
        Ok(())
    }

    fn new_id(&self) -> Snowflake {
        let n = self.actions.lock().expect("actions lock").len() as u64;
        snowflake(990_000_000_000_000_000 + n)
    }
}

impl Platform for FakePlatform {
    fn access(
        &self,
        channel: Snowflake,
        _user: Snowflake,
    ) -> BoxFuture<'_, Result<ChannelAccess, PlatformError>> {
        let known = guild_channels().iter().any(|c| c.id == channel);
        let answer = if known {
            Ok(ChannelAccess { bot: Perms::all(), invoker: Perms::all() })
        } else {
            Err(PlatformError::NotFound)
        };
        async move { answer }.boxed()
    }

    fn guild_channels(
        &self,
        _guild: Snowflake,
    ) -> BoxFuture<'_, Result<Vec<ChannelFacts>, PlatformError>> {
        async { Ok(guild_channels()) }.boxed()
    }

    fn message(
        &self,
        _channel: Snowflake,
        message: Snowflake,
    ) -> BoxFuture<'_, Result<MessageFacts, PlatformError>> {
        let answer = self
            .messages
            .lock()
            .expect("messages lock")
            .get(&message)
            .cloned()
            .ok_or(PlatformError::NotFound);
        async move { answer }.boxed()
    }

    fn send_message<'a>(
        &'a self,
        channel: Snowflake,
        content: &'a str,
        reply_to: Option<Snowflake>,
    ) -> BoxFuture<'a, Result<Snowflake, PlatformError>> {
        let id = self.new_id();
        let answer = self
            .act(Action::Send {
                channel: channel.get(),
                content: content.to_owned(),
                reply_to: reply_to.map(Snowflake::get),
            })
            .map(|()| id);
        async move { answer }.boxed()
    }

    fn edit_message<'a>(
        &'a self,
        _channel: Snowflake,
        message: Snowflake,
        content: &'a str,
    ) -> BoxFuture<'a, Result<(), PlatformError>> {
        let answer = self.act(Action::Edit(message.get(), content.to_owned()));
        async move { answer }.boxed()
    }

    fn delete_message(
        &self,
        _channel: Snowflake,
        message: Snowflake,
    ) -> BoxFuture<'_, Result<(), PlatformError>> {
        let answer = self.act(Action::Delete(message.get()));
        async move { answer }.boxed()
    }

    fn pin_message(
        &self,
        _channel: Snowflake,
        message: Snowflake,
    ) -> BoxFuture<'_, Result<(), PlatformError>> {
        let answer = self.act(Action::Pin(message.get()));
        async move { answer }.boxed()
    }

    fn react<'a>(
        &'a self,
        _channel: Snowflake,
        message: Snowflake,
        emoji: &'a str,
    ) -> BoxFuture<'a, Result<(), PlatformError>> {
        let answer = self.act(Action::React(message.get(), emoji.to_owned()));
        async move { answer }.boxed()
    }

    fn create_thread<'a>(
        &'a self,
        channel: Snowflake,
        name: &'a str,
        starter: &'a str,
    ) -> BoxFuture<'a, Result<Snowflake, PlatformError>> {
        let id = self.new_id();
        let answer = self
            .act(Action::Thread {
                channel: channel.get(),
                name: name.to_owned(),
                starter: starter.to_owned(),
            })
            .map(|()| id);
        async move { answer }.boxed()
    }

    fn guild_stickers(
        &self,
        _guild: Snowflake,
    ) -> BoxFuture<'_, Result<Vec<StickerFacts>, PlatformError>> {
        let answer = Ok(self.stickers.clone());
        async move { answer }.boxed()
    }

    fn send_sticker(
        &self,
        channel: Snowflake,
        sticker: Snowflake,
    ) -> BoxFuture<'_, Result<Snowflake, PlatformError>> {
        let id = self.new_id();
        let answer = self
            .act(Action::Sticker { channel: channel.get(), sticker: sticker.get() })
            .map(|()| id);
        async move { answer }.boxed()
    }

    fn author_avatar(
        &self,
        _channel: Snowflake,
        message: Snowflake,
    ) -> BoxFuture<'_, Result<String, PlatformError>> {
        // Only messages the platform knows have authors with pictures.
        let known = self.messages.lock().expect("messages lock").contains_key(&message);
        let answer = if known {
            Ok(format!("https://cdn.example/avatars/{message}/hash.png"))
        } else {
            Err(PlatformError::NotFound)
        };
        async move { answer }.boxed()
    }
}

/// A tool with every kind of requirement; records each execution with its resolved target.
pub(crate) struct Probe {
    pub(crate) name: &'static str,
    pub(crate) policy: ToolPolicy,
    pub(crate) runs: Arc<Mutex<Vec<Option<Target>>>>,
    pub(crate) behaviour: ProbeBehaviour,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeBehaviour {
    Succeed,
    Sleep(Duration),
    Panic,
}

impl Probe {
    pub(crate) fn new(name: &'static str, policy: ToolPolicy) -> Self {
        Probe {
            name,
            policy,
            runs: Arc::new(Mutex::new(Vec::new())),
            behaviour: ProbeBehaviour::Succeed,
        }
    }

    /// Needs a flag, bot and invoker permissions, a guild channel outside rp, a quota, and its
    /// own message as target.
    pub(crate) fn own_message() -> Self {
        Probe::new(
            "probe_own_message",
            ToolPolicy {
                feature: Some(Feature::ManageMessage),
                effect: Effect::Destructive,
                bot_permissions: Perms::of(&[Perm::ManageMessages, Perm::SendMessages]),
                invoker_permissions: Perms::of(&[Perm::ViewChannel]),
                contexts: Contexts { guild: true, dm: false, rp_channel: false },
                quota: Some(QuotaKind::Image),
                target: TargetRule::OwnMessage { arg: "message" },
            },
        )
    }

    /// Needs a message both the invoker and the bot can see; DMs and rp only.
    pub(crate) fn visible_message() -> Self {
        Probe::new(
            "probe_visible_message",
            ToolPolicy {
                feature: Some(Feature::CrossChannel),
                effect: Effect::Creates,
                bot_permissions: Perms::of(&[Perm::SendMessagesInThreads]),
                invoker_permissions: Perms::NONE,
                contexts: Contexts { guild: false, dm: true, rp_channel: true },
                quota: None,
                target: TargetRule::VisibleToInvokerAndBot { arg: "message" },
            },
        )
    }
}

impl Tool for Probe {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        "A test probe."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {"message": {"type": "string"}},
            "required": ["message"],
            "additionalProperties": false,
        })
    }

    fn policy(&self) -> ToolPolicy {
        self.policy
    }

    fn execute<'a>(
        &'a self,
        call: Authorized<'a>,
        _ctx: &'a TurnContext,
    ) -> BoxFuture<'a, ToolOutcome> {
        async move {
            match self.behaviour {
                ProbeBehaviour::Succeed => {}
                ProbeBehaviour::Sleep(d) => tokio::time::sleep(d).await,
                ProbeBehaviour::Panic => panic!("probe panics on purpose"),
            }
            self.runs.lock().expect("runs lock").push(call.target());
            ToolOutcome::Success(json!({"ok": true}))
        }
        .boxed()
    }
}

/// One request the web server saw.
pub(crate) type Seen = Arc<Mutex<Vec<String>>>;

/// A loopback HTTP/1.1 server answering by path prefix; records request lines.
pub(crate) struct WebServer {
    pub(crate) addr: SocketAddr,
    pub(crate) seen: Seen,
    /// Each request's head (request line and headers), in order.
    pub(crate) heads: Seen,
    task: JoinHandle<()>,
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `(path prefix, content type, body)`; the content type [`REDIRECT`] answers 302 with the body
/// as the `Location`.
pub(crate) type Route = (&'static str, &'static str, String);

/// The route "content type" of a redirect.
pub(crate) const REDIRECT: &str = "redirect";

impl WebServer {
    pub(crate) async fn start(routes: Vec<Route>) -> WebServer {
        Self::start_at(SERVER_IP, routes).await
    }

    /// A server on another loopback address (one the test clients do not allow).
    pub(crate) async fn start_at(ip: IpAddr, routes: Vec<Route>) -> WebServer {
        let listener = TcpListener::bind((ip, 0)).await.expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let seen: Seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&seen);
        let heads: Seen = Arc::new(Mutex::new(Vec::new()));
        let recorded_heads = Arc::clone(&heads);
        let task = tokio::spawn(async move {
            for _ in 0..256 {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                let mut buf = Vec::new();
                let mut chunk = [0_u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 65_536 {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                    }
                }
                let head = String::from_utf8_lossy(&buf).into_owned();
                let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
                recorded.lock().expect("seen lock").push(target.clone());
                recorded_heads.lock().expect("heads lock").push(head.clone());
                let reply = match routes.iter().find(|(prefix, _, _)| target.starts_with(prefix)) {
                    Some((_, content_type, location)) if *content_type == REDIRECT => format!(
                        "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    ),
                    Some((_, content_type, body)) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    ),
                    None => {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_owned()
                    }
                };
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        WebServer { addr, seen, heads, task }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn requests(&self) -> Vec<String> {
        self.seen.lock().expect("seen lock").clone()
    }
}

/// A tool-scope client that may reach the test server's address and nothing else on loopback.
pub(crate) fn tool_client() -> Client {
    Client::new(Policy::new(NetScope::Tool).allow_loopback_address_for_tests(SERVER_IP))
        .expect("a test client")
}

/// The test PDF reader (this package's `tomori-tools-extract-pdf`, the code of `tomori
/// extract-pdf`), allowed 256 MiB of address space so that a bomb is stopped in seconds even in
/// a debug build.
pub(crate) fn pdf_reader() -> PdfExtractor {
    PdfExtractor::new(env!("CARGO_BIN_EXE_tomori-tools-extract-pdf"), Vec::new())
        .with_limits(ReaderLimits { memory_bytes: 256 * 1024 * 1024, cpu_seconds: 20 })
}

/// A media-scope client that may reach the test server's address (over http, as test policies
/// allow) and nothing else on loopback.
pub(crate) fn media_client() -> Client {
    Client::new(Policy::new(NetScope::Media).allow_loopback_address_for_tests(SERVER_IP))
        .expect("a test client")
}

/// An operator client for the test server (search backends are operator-configured).
pub(crate) fn operator_client() -> Client {
    Client::new(Policy::operator().allow_loopback_address_for_tests(SERVER_IP))
        .expect("a test client")
}

pub(crate) const GUILD: u64 = 400_000_000_000_000_001;
pub(crate) const INVOKER: u64 = 500_000_000_000_000_001;
pub(crate) const OTHER_MEMBER: u64 = 500_000_000_000_000_002;
/// When the fixture's reminders are due: 2026-11-24 09:00 UTC.
pub(crate) const FIXTURE_REMINDER_DUE: i64 = 1_795_510_800;
pub(crate) const OWN_MESSAGE: u64 = 600_000_000_000_000_001;
pub(crate) const OTHER_MESSAGE: u64 = 600_000_000_000_000_002;
pub(crate) const LINEAGE: LineageId = LineageId::from_db(7);

/// A database, a store, the ids of one turn and two memories it showed.
pub(crate) struct World {
    pub(crate) db: TestDb,
    pub(crate) store: Store,
    pub(crate) server: ServerId,
    pub(crate) user: UserId,
    pub(crate) server_memory: i64,
    pub(crate) personal_memory: i64,
    /// The persona answering (the main persona).
    pub(crate) persona: PersonaId,
    /// A pending reminder of the invoker's.
    pub(crate) reminder: i64,
    /// A pending reminder of another member's.
    pub(crate) others_reminder: i64,
}

impl World {
    pub(crate) async fn new() -> World {
        let db = TestDb::new().await;
        let store = db.store().await;
        let server = store.resolve_guild(snowflake(GUILD)).await.expect("guild");
        let user = store.resolve_user(snowflake(INVOKER)).await.expect("user");
        let actor = Actor::Discord(snowflake(INVOKER));
        let server_memory = memories::add_server(
            &store,
            Scope::server(server),
            actor,
            LINEAGE,
            None,
            "{user} likes tea",
        )
        .await
        .expect("server memory")
        .id;
        // A personal memory the turn does not show, so that the shown ones have different ids
        // in the two tables and a swapped scope names an existing memory that was not shown.
        memories::add_personal(
            &store,
            Scope::member(server, user),
            actor,
            LINEAGE,
            "{user} was not shown this",
        )
        .await
        .expect("unshown personal memory");
        let personal_memory = memories::add_personal(
            &store,
            Scope::member(server, user),
            actor,
            LINEAGE,
            "{user} is vegetarian",
        )
        .await
        .expect("personal memory")
        .id;
        let reminder = |user: u64| {
            let new = NewReminder {
                channel: snowflake(HERE),
                user: snowflake(user),
                persona: None,
                purpose: "drink water".to_owned(),
                due_at: DateTime::from_timestamp(FIXTURE_REMINDER_DUE, 0).expect("a time"),
                repeat_hours: None,
            };
            reminders::create(&store, Scope::server(server), Actor::Discord(snowflake(user)), new)
        };
        let persona = personas::create(
            &store,
            Scope::server(server),
            actor,
            NewPersona { nickname: "Tomori".to_owned(), ..NewPersona::default() },
        )
        .await
        .expect("persona")
        .id;
        let reminder_id = reminder(INVOKER).await.expect("reminder").id;
        let others_reminder = reminder(OTHER_MEMBER).await.expect("reminder").id;
        World {
            db,
            store,
            server,
            user,
            server_memory,
            personal_memory,
            persona,
            reminder: reminder_id,
            others_reminder,
        }
    }

    /// A guild turn (not rp) whose context showed `ref_1` (the bot's message), `ref_2` (someone
    /// else's) and both memories.
    pub(crate) fn turn(&self, live: Arc<FakeLive>) -> TurnContext {
        let mut handles = Handles::default();
        handles.message_handle(snowflake(OWN_MESSAGE));
        handles.message_handle(snowflake(OTHER_MESSAGE));
        handles.media_handle("https://cdn.example/cat.png");
        live.set(|facts| {
            facts.authors.insert(snowflake(OWN_MESSAGE), Author::Bot);
            facts.authors.insert(snowflake(OTHER_MESSAGE), Author::Other);
            let both = Visibility { invoker: true, bot: true };
            facts.visibility.insert(snowflake(OWN_MESSAGE), both);
            facts.visibility.insert(snowflake(OTHER_MESSAGE), both);
        });
        TurnContext {
            server: self.server,
            guild: Some(snowflake(GUILD)),
            channel: snowflake(HERE),
            place: Place::Guild { rp: false },
            invoker: snowflake(INVOKER),
            invoker_user: self.user,
            persona: self.persona,
            lineage: LINEAGE,
            handles,
            shown_memories: vec![
                (MemoryScope::Server, self.server_memory),
                (MemoryScope::Personal, self.personal_memory),
            ],
            live,
            cancel: CancellationToken::new(),
            outbox: tomori_tools::Outbox::default(),
            shown: tomori_tools::ShownImages::default(),
            member_request: false,
            youtube: vec!["dQw4w9WgXcQ".to_owned()],
            offered: Vec::new(),
            analyst: Some(Arc::new(FakeAnalyst)),
            private_channel: false,
        }
    }

    /// Everything a tool could have written: memory texts and the audit row count.
    pub(crate) async fn written(&self) -> (Vec<String>, Vec<String>, u64) {
        let server = memories::list_server(&self.store, Scope::server(self.server), LINEAGE)
            .await
            .expect("list server memories");
        let personal =
            memories::list_personal(&self.store, Scope::member(self.server, self.user), LINEAGE)
                .await
                .expect("list personal memories");
        let audit =
            tomori_store::audit::verify(self.db.owner()).await.expect("verify the audit log");
        (
            server.into_iter().map(|m| m.content).collect(),
            personal.into_iter().map(|m| m.content).collect(),
            audit.rows,
        )
    }
}

/// The search configuration pointing every backend at `web`.
pub(crate) fn search_config(web: &WebServer) -> SearchConfig {
    SearchConfig {
        brave: tomori_net::Url::parse(&web.url("/brave/res/v1/web/search")).expect("url"),
        searxng: Some(tomori_net::Url::parse(&web.url("/searx/")).expect("url")),
        duckduckgo: tomori_net::Url::parse(&web.url("/ddg/html/")).expect("url"),
    }
}

/// The built-in registry and the platform tools against `world`, `web` and `platform`, plus the
/// probes.
pub(crate) fn registry_with_probes(
    world: &World,
    web: &WebServer,
    platform: &Arc<FakePlatform>,
) -> (Registry, Vec<ProbeRuns>) {
    let mut registry = builtins(&world.store, tool_client(), operator_client(), search_config(web))
        .expect("built-ins");
    platform_tools(
        &mut registry,
        &world.store,
        Arc::clone(platform) as Arc<dyn Platform>,
        media_client(),
        pdf_reader(),
    )
    .expect("platform tools");
    let mut runs = Vec::new();
    let painter = FakePainter::default();
    runs.push(Arc::clone(&painter.runs));
    registry.register(GenerateImage::new(Arc::new(painter))).expect("generate_image registers");
    let filmmaker = crate::film::FakeFilmmaker::default();
    runs.push(Arc::clone(&filmmaker.runs));
    registry
        .register(tomori_tools::GenerateVideo::new(Arc::new(filmmaker)))
        .expect("generate_video registers");
    let pictures = FakePictures::default();
    runs.push(Arc::clone(&pictures.runs));
    let peek =
        PeekProfilePicture::new(Arc::clone(platform) as Arc<dyn Platform>, Arc::new(pictures));
    registry.register(peek).expect("peek_profile_picture registers");
    for probe in [Probe::own_message(), Probe::visible_message()] {
        runs.push(Arc::clone(&probe.runs));
        registry.register(probe).expect("probe registers");
    }
    (registry, runs)
}

pub(crate) type ProbeRuns = Arc<Mutex<Vec<Option<Target>>>>;

/// An [`ImageMaker`] that draws a fixed PNG and records each run (as a probe run without a
/// target), so the gate table sees whether `generate_image` reached it.
#[derive(Default)]
pub(crate) struct FakePainter {
    pub(crate) runs: ProbeRuns,
}

impl ImageMaker for FakePainter {
    fn make<'a>(
        &'a self,
        _ctx: &'a TurnContext,
        ask: ImageAsk,
    ) -> BoxFuture<'a, Result<MadeImage, ImageFailure>> {
        self.runs.lock().expect("runs").push(None);
        let file = OutFile {
            filename: "image.png".to_owned(),
            content_type: "image/png".to_owned(),
            bytes: tomori_testkit::fake_llm::png(4, 4),
            description: Some(ask.prompt),
        };
        async move { Ok(MadeImage { file, by: "fake · painter".to_owned() }) }.boxed()
    }
}

/// A [`PictureLoader`] that shows a fixed image and records each run (as a probe run without a
/// target), so the gate table sees whether `peek_profile_picture` reached it.
#[derive(Default)]
pub(crate) struct FakePictures {
    pub(crate) runs: ProbeRuns,
}

impl PictureLoader for FakePictures {
    fn load<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<tomori_llm::Image, String>> {
        self.runs.lock().expect("runs").push(None);
        let image = tomori_llm::Image {
            media_type: "image/jpeg".to_owned(),
            source: tomori_llm::ImageSource::Base64(url.to_owned()),
        };
        async move { Ok(image) }.boxed()
    }
}

/// A vision model that describes every image the same way.
pub(crate) struct FakeAnalyst;

impl tomori_tools::ImageAnalyst for FakeAnalyst {
    fn describe<'a>(
        &'a self,
        url: &'a str,
        question: &'a str,
    ) -> BoxFuture<'a, Result<String, String>> {
        let described = format!("{url}: a cat ({question})");
        async move { Ok(described) }.boxed()
    }
}

/// The routes every test web server answers.
pub(crate) fn web_routes() -> Vec<Route> {
    vec![
        (
            "/page",
            "text/html; charset=utf-8",
            "<html><body><h1>Hello</h1><p>Loopback page.</p><p style=\"display:none\">hidden instructions</p></body></html>".to_owned(),
        ),
        (
            "/searx/search",
            "application/json",
            json!({"results": [{"title": "Searx hit", "url": "https://hit.example/", "content": "from searx"}]}).to_string(),
        ),
        ("/notes.txt", "text/plain; charset=utf-8", "tea at five\nbye".to_owned()),
        (
            "/ddg/html/",
            "text/html",
            r#"<div><a class="result__a" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Fduck.example%2F">Duck hit</a><a class="result__snippet">from ddg</a></div>"#.to_owned(),
        ),
    ]
}
