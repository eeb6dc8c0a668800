//! The engine end to end below the platform: a real database, a fake LLM server on loopback
//! speaking the OpenAI wire format, and a recording [`ChatSurface`] in place of Discord.

#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions unwrap too")]

mod controls;
mod dm_reminders;
mod documents;
mod first_contact;
mod lore;
mod media;
mod output;
mod privacy;
mod providers;
mod reminders;
mod trigger_controls;
mod turns;
mod videos;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tomori_chat::engine::{Engine, EngineOptions};
use tomori_chat::surface::{ChatSurface, Inbound, InboundAuthor, Outgoing, SurfaceError};
use tomori_core::id::{ServerId, Snowflake};
use tomori_llm::{Capabilities, Endpoint, Llm, Target, Timeouts, Wire, client_for};
use tomori_net::Policy;
use tomori_store::audit::Actor;
use tomori_store::personas::{self, NewPersona};
use tomori_store::{Scope, Store};
use tomori_testkit::TestDb;
use tomori_testkit::fake_llm::{FakeLlm, WireFormat};

pub(crate) const BOT: u64 = 900;
pub(crate) const GUILD: u64 = 500;
pub(crate) const CHANNEL: u64 = 600;
pub(crate) const ALICE: u64 = 11;
pub(crate) const BOB: u64 = 12;

pub(crate) fn id(raw: u64) -> Snowflake {
    Snowflake::new(raw).unwrap()
}

/// Everything the engine sends, in order.
#[derive(Default)]
pub(crate) struct Recorder {
    pub(crate) sent: Mutex<Vec<Outgoing>>,
    channels: Mutex<Vec<Snowflake>>,
    typing: Mutex<u32>,
    next_id: Mutex<u64>,
}

#[derive(Clone, Default)]
pub(crate) struct RecordingSurface(pub(crate) Arc<Recorder>);

impl ChatSurface for RecordingSurface {
    async fn send(&self, channel: Snowflake, message: Outgoing) -> Result<Snowflake, SurfaceError> {
        self.0.sent.lock().unwrap().push(message);
        self.0.channels.lock().unwrap().push(channel);
        let mut next = self.0.next_id.lock().unwrap();
        *next += 1;
        Snowflake::new(10_000 + *next).map_err(|_| SurfaceError::NotFound)
    }

    async fn typing(&self, _channel: Snowflake) -> Result<(), SurfaceError> {
        *self.0.typing.lock().unwrap() += 1;
        Ok(())
    }
}

pub(crate) struct Harness {
    pub(crate) db: TestDb,
    pub(crate) store: Store,
    pub(crate) server: ServerId,
    pub(crate) engine: Engine<RecordingSurface>,
    pub(crate) surface: RecordingSurface,
    pub(crate) llm: FakeLlm,
    next_message: Mutex<u64>,
}

impl Harness {
    /// A guild with a main persona "Tomori" and an alter "Kaede".
    pub(crate) async fn new() -> Self {
        Self::with_capabilities(Capabilities::default()).await
    }

    /// The same, with a model of these capabilities.
    pub(crate) async fn with_capabilities(capabilities: Capabilities) -> Self {
        Self::with(capabilities, |_| {}).await
    }

    /// The same, with the engine's options changed by `tweak`.
    pub(crate) async fn with_options(tweak: impl FnOnce(&mut EngineOptions)) -> Self {
        Self::with(Capabilities::default(), tweak).await
    }

    async fn with(capabilities: Capabilities, tweak: impl FnOnce(&mut EngineOptions)) -> Self {
        Self::on_wire(WireFormat::OpenAi, capabilities, tweak).await
    }

    /// The same, with the instance model on Gemini's wire (which watches videos).
    pub(crate) async fn gemini(capabilities: Capabilities) -> Self {
        Self::on_wire(WireFormat::Gemini, capabilities, |_| {}).await
    }

    async fn on_wire(
        format: WireFormat,
        capabilities: Capabilities,
        tweak: impl FnOnce(&mut EngineOptions),
    ) -> Self {
        let db = TestDb::new().await;
        let store = db.store().await;
        let server = store.resolve_guild(id(GUILD)).await.unwrap();
        for name in ["Tomori", "Kaede"] {
            personas::create(
                &store,
                Scope::server(server),
                Actor::Operator,
                NewPersona {
                    nickname: name.into(),
                    prompt: format!("You are {name}."),
                    ..NewPersona::default()
                },
            )
            .await
            .unwrap();
        }
        let llm = FakeLlm::start(format).await;
        // The instance provider comes from the operator's config: loopback is allowed there.
        let policy = Policy::operator();
        let wire = match format {
            WireFormat::OpenAi => Wire::OpenAiCompatible,
            WireFormat::Anthropic => Wire::Anthropic,
            WireFormat::Gemini => Wire::Gemini,
        };
        let endpoint = Endpoint::new(wire, &llm.base_url(), &policy).unwrap();
        let client = client_for(policy, &Timeouts::default()).unwrap();
        let target = Target::new("local", "local", endpoint, "fake-model", client)
            .with_capabilities(capabilities);
        let surface = RecordingSurface::default();
        let mut options = EngineOptions {
            typing_every: Duration::from_millis(50),
            // Database outages are given up on quickly in tests.
            store_retry: Duration::from_millis(10),
            store_retry_max: Duration::from_millis(20),
            ..EngineOptions::default()
        };
        tweak(&mut options);
        let engine =
            Engine::new(store.clone(), surface.clone(), Llm::default(), vec![target], options);
        engine.set_bot_user(id(BOT));
        Self { db, store, server, engine, surface, llm, next_message: Mutex::new(1000) }
    }

    /// A direct message to the bot (channel, id, author and text to be filled in).
    pub(crate) fn dm_template() -> Inbound {
        Inbound {
            guild: None,
            guild_name: None,
            channel: id(CHANNEL),
            parent_channel: None,
            category: None,
            message: id(1),
            author: InboundAuthor {
                id: id(ALICE),
                name: "alice".into(),
                is_bot: false,
                webhook: None,
            },
            content: String::new(),
            mentions_bot: false,
            mentions: Vec::new(),
            reply_to: None,
            author_roles: Vec::new(),
            author_is_admin: false,
            attachments: Vec::new(),
        }
    }

    /// A message from a person in the test channel.
    pub(crate) fn message(&self, author: u64, name: &str, content: &str) -> Inbound {
        let mut next = self.next_message.lock().unwrap();
        *next += 1;
        Inbound {
            guild: Some(id(GUILD)),
            guild_name: None,
            channel: id(CHANNEL),
            parent_channel: None,
            category: None,
            message: id(*next),
            author: InboundAuthor {
                id: id(author),
                name: name.into(),
                is_bot: false,
                webhook: None,
            },
            content: content.into(),
            mentions_bot: content.contains(&format!("<@{BOT}>")),
            mentions: Vec::new(),
            reply_to: None,
            author_roles: Vec::new(),
            author_is_admin: false,
            attachments: Vec::new(),
        }
    }

    pub(crate) fn sent(&self) -> Vec<Outgoing> {
        self.surface.0.sent.lock().unwrap().clone()
    }

    /// Waits until at least `n` messages were sent (or fails after a few seconds).
    pub(crate) async fn wait_sent(&self, n: usize) -> Vec<Outgoing> {
        for _ in 0..200 {
            let sent = self.sent();
            if sent.len() >= n {
                return sent;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("expected {n} messages, got {:?}", self.sent());
    }

    /// Waits until the model was asked at least `n` times (or fails after a few seconds).
    pub(crate) async fn wait_requests(&self, n: u64) {
        for _ in 0..200 {
            if self.llm.request_count() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("expected {n} model requests, got {}", self.llm.request_count());
    }

    /// Waits until the test channel has no turn running or waiting (its quota use recorded).
    pub(crate) async fn wait_idle(&self) {
        for _ in 0..200 {
            if self.engine.is_idle(id(CHANNEL)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the channel stayed busy");
    }

    /// Waits until the messages handled so far are done with, then returns what was sent.
    /// `Engine::handle` returns once a message is decided, with its turn started or queued, so
    /// an idle channel means every answer (or refusal) they caused has been sent.
    pub(crate) async fn settle(&self) -> Vec<Outgoing> {
        self.wait_idle().await;
        self.sent()
    }

    /// Gives the engine the built-in tools (web tools pointed at nothing reachable).
    pub(crate) fn enable_tools(&self) {
        let tool_client = tomori_net::Client::new(Policy::new(tomori_net::Scope::Tool)).unwrap();
        let registry = tomori_tools::builtins(
            &self.store,
            tool_client.clone(),
            tool_client,
            Default::default(),
        )
        .unwrap();
        self.engine.set_tools(Arc::new(tomori_tools::Gate::new(registry)));
    }

    pub(crate) fn channels_sent_to(&self) -> Vec<Snowflake> {
        self.surface.0.channels.lock().unwrap().clone()
    }

    pub(crate) fn typing_count(&self) -> u32 {
        *self.surface.0.typing.lock().unwrap()
    }
}
