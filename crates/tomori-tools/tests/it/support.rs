//! Test fixtures: a recording fake of live state, probe tools that need every kind of
//! requirement, a loopback web server that records what it was asked, and a turn set up against
//! a fresh database with a server memory and a personal memory the turn "showed".

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
use tomori_tools::{
    Author, Authorized, Contexts, Effect, Features, LiveError, LiveState, MemoryScope, Perm, Perms,
    Place, QuotaKind, Registry, SearchConfig, Snapshot, Target, TargetRule, Tool, ToolOutcome,
    ToolPolicy, TurnContext, Visibility, builtins,
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
}

impl Facts {
    /// Everything allowed.
    pub(crate) fn permissive() -> Self {
        Facts {
            snapshot: Ok(Snapshot {
                features: Features::all(),
                privacy: PrivacyLevel::Minimal,
                bot: Perms::all(),
                invoker: Perms::all(),
            }),
            quota: Ok(QuotaVerdict::Allowed),
            authors: HashMap::new(),
            visibility: HashMap::new(),
        }
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
    task: JoinHandle<()>,
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `(path prefix, content type, body)`.
pub(crate) type Route = (&'static str, &'static str, String);

impl WebServer {
    pub(crate) async fn start(routes: Vec<Route>) -> WebServer {
        let listener = TcpListener::bind((SERVER_IP, 0)).await.expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let seen: Seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&seen);
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
                let reply = match routes.iter().find(|(prefix, _, _)| target.starts_with(prefix)) {
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
        WebServer { addr, seen, task }
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

/// An operator client for the test server (search backends are operator-configured).
pub(crate) fn operator_client() -> Client {
    Client::new(Policy::operator().allow_loopback_address_for_tests(SERVER_IP))
        .expect("a test client")
}

pub(crate) const GUILD: u64 = 400_000_000_000_000_001;
pub(crate) const INVOKER: u64 = 500_000_000_000_000_001;
pub(crate) const CHANNEL: u64 = 450_000_000_000_000_001;
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
                channel: snowflake(CHANNEL),
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
        live.set(|facts| {
            facts.authors.insert(snowflake(OWN_MESSAGE), Author::Bot);
            facts.authors.insert(snowflake(OTHER_MESSAGE), Author::Other);
            let both = Visibility { invoker: true, bot: true };
            facts.visibility.insert(snowflake(OWN_MESSAGE), both);
            facts.visibility.insert(snowflake(OTHER_MESSAGE), both);
        });
        TurnContext {
            server: self.server,
            place: Place::Guild { rp: false },
            channel: snowflake(CHANNEL),
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

/// The built-in registry against `world` and `web`, plus the probes.
pub(crate) fn registry_with_probes(world: &World, web: &WebServer) -> (Registry, Vec<ProbeRuns>) {
    let search = SearchConfig {
        searxng: Some(tomori_net::Url::parse(&web.url("/searx/")).expect("url")),
        duckduckgo: tomori_net::Url::parse(&web.url("/ddg/html/")).expect("url"),
    };
    let mut registry =
        builtins(&world.store, tool_client(), operator_client(), search).expect("built-ins");
    let mut runs = Vec::new();
    for probe in [Probe::own_message(), Probe::visible_message()] {
        runs.push(Arc::clone(&probe.runs));
        registry.register(probe).expect("probe registers");
    }
    (registry, runs)
}

pub(crate) type ProbeRuns = Arc<Mutex<Vec<Option<Target>>>>;

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
        (
            "/ddg/html/",
            "text/html",
            r#"<div><a class="result__a" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Fduck.example%2F">Duck hit</a><a class="result__snippet">from ddg</a></div>"#.to_owned(),
        ),
    ]
}
