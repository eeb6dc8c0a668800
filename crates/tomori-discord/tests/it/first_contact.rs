//! First contact through the fake Discord with the real engine and a fake LLM: a direct message
//! is the member's own tenant (`/persona`, `/config setup`, `/provider` and `/model` there set up
//! their DMs), `/config setup` offers the instance's providers and the server's custom endpoints,
//! and members whose roles grant Manage Server are recognised on their messages.

use std::sync::Arc;
use std::time::Duration;

use tomori_chat::engine::{Engine, EngineOptions};
use tomori_chat::providers::ServerProviders;
use tomori_discord::{Discord, DiscordSurface, InboundHandler, InstanceProvider};
use tomori_llm::{Endpoint, Llm, Target, Timeouts, Wire, client_for};
use tomori_net::{Policy, Scope as NetScope};
use tomori_store::audit::Actor;
use tomori_store::credentials::KeyOwner;
use tomori_store::endpoints::{self, NewEndpoint};
use tomori_store::{Scope, Store, models, personas};
use tomori_testkit::TestDb;
use tomori_testkit::fake_discord::{
    FakeDiscord, FakeInteraction, MemberSpec, MessageCreate, SlashCommand, UserSpec,
};
use tomori_testkit::fake_llm::{FakeLlm, Turn, WireFormat};

use crate::{ALICE, CHANNEL, DM_CHANNEL, GUILD, WAIT, config, run, snowflake};

const BOB: u64 = 700_000_000_000_000_002;
const OWNER: u64 = 700_000_000_000_000_003;
const MODS: u64 = 600_000_000_000_000_010;
const MANAGE_GUILD: u64 = 0x400 | 0x800 | 0x20;
const VIEW_AND_SEND: u64 = 0x400 | 0x800;

/// Hands every message to the engine.
struct ToEngine(Engine<DiscordSurface>);

impl InboundHandler for ToEngine {
    async fn on_message(&self, message: tomori_chat::surface::Inbound) {
        self.0.handle(message).await;
    }
}

/// A bot with the engine and the commands on one fake Discord; `instance` is the operator's
/// provider (`[providers.local]`), when there is one.
pub(crate) struct Stack {
    pub(crate) fake: FakeDiscord,
    pub(crate) db: TestDb,
    pub(crate) store: Store,
    engine: Engine<DiscordSurface>,
    pub(crate) instance: FakeLlm,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub(crate) async fn stack() -> Stack {
    stack_with(|_| {}).await
}

/// [`stack`], with `setup` run on the fake Discord before the bot connects (channels and
/// categories it should learn from the guild's channel list).
pub(crate) async fn stack_with(setup: impl FnOnce(&FakeDiscord)) -> Stack {
    let fake = FakeDiscord::start().await;
    setup(&fake);
    fake.add_text_channel(GUILD, CHANNEL);
    fake.add_dm_channel(DM_CHANNEL, ALICE);
    fake.add_role(GUILD, MODS, 0x20);
    fake.set_owner(GUILD, OWNER);
    let db = TestDb::new().await;
    let store = db.store().await;
    let instance = FakeLlm::start(WireFormat::OpenAi).await;
    let operator = Policy::operator();
    let endpoint = Endpoint::new(Wire::OpenAiCompatible, &instance.base_url(), &operator).unwrap();
    let client = client_for(operator, &Timeouts::default()).unwrap();
    let target = Target::new("local · fake-model", "local", endpoint, "fake-model", client);
    let discord = Discord::connect(&config(&fake)).await.unwrap();
    let options =
        EngineOptions { typing_every: Duration::from_secs(5), ..EngineOptions::default() };
    let engine = Engine::new(
        store.clone(),
        discord.surface(store.clone()),
        Llm::default(),
        vec![target],
        options,
    );
    engine.set_bot_user(snowflake(fake.bot_user_id()));
    // Endpoints on the loopback fake: the test policies may reach it.
    let server = Policy::new(NetScope::Server).allow_loopback_for_tests();
    let personal = Policy::new(NetScope::Personal).allow_loopback_for_tests();
    let timeouts = Timeouts::default();
    engine.set_server_providers(
        ServerProviders::new(client_for(server.clone(), &timeouts).unwrap())
            .with_personal_client(client_for(personal.clone(), &timeouts).unwrap()),
    );
    // Uploads (cards, presets) come from the fake's attachment URLs on loopback.
    let media = tomori_net::Client::new(Policy::new(NetScope::Media).allow_loopback_for_tests());
    let commands = discord
        .commands(store.clone(), Arc::new(engine.clone()))
        .media_client(media.unwrap())
        .with_server_policy(server)
        .with_personal_policy(personal)
        .with_instance_providers(vec![InstanceProvider {
            name: "local".to_owned(),
            model: "fake-model".to_owned(),
        }]);
    let (stop, _task) = run(discord.with_commands(commands), ToEngine(engine.clone()));
    fake.wait_for_ready(0, WAIT).await;
    Stack { fake, db, store, engine, instance, stop: Some(stop) }
}

pub(crate) fn alice() -> UserSpec {
    UserSpec::new(ALICE, "alice")
}

/// `/path` by alice in her DM with the bot.
pub(crate) fn in_dm(path: &str) -> SlashCommand {
    SlashCommand::new(DM_CHANNEL, alice(), path)
}

impl Stack {
    async fn interaction(&self, command: SlashCommand) -> FakeInteraction {
        let id = self.fake.inject_command(command);
        self.fake
            .wait_for_interaction(
                id,
                |i: &FakeInteraction| i.answered() || i.modal.is_some() || i.choices.is_some(),
                WAIT,
            )
            .await
    }

    pub(crate) async fn answer(&self, command: SlashCommand) -> String {
        self.interaction(command).await.content.unwrap_or_default()
    }

    /// Alice's DM, answered: the bot's first message there after it.
    pub(crate) async fn dm(&self, text: &str) -> String {
        let earlier: Vec<u64> = self.fake.messages().iter().map(|m| m.id).collect();
        self.fake.inject_message(MessageCreate::new(DM_CHANNEL, alice(), text));
        let sent = self
            .fake
            .wait_for_message(|m| m.channel == DM_CHANNEL && !earlier.contains(&m.id), WAIT)
            .await;
        sent.content
    }

    pub(crate) async fn idle(&self, channel: u64) {
        while !self.engine.is_idle(snowflake(channel)) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub(crate) async fn dm_tenant(&self) -> Scope {
        Scope::server(self.store.resolve_dm(snowflake(ALICE)).await.unwrap())
    }

    pub(crate) async fn guild(&self) -> Scope {
        Scope::server(self.store.resolve_guild(snowflake(GUILD)).await.unwrap())
    }
}

fn body(llm: &FakeLlm, n: usize) -> String {
    String::from_utf8_lossy(&llm.requests()[n].body).into_owned()
}

#[tokio::test]
async fn a_dm_persona_made_in_the_dm_answers_the_members_dms() {
    let s = stack().await;
    // Before anything was set up, Default Tomori answers with the instance's model.
    s.instance.push_turn(Turn::new().text("Hello from the default."));
    assert_eq!(s.dm("hi").await, "Hello from the default.");
    assert!(body(&s.instance, 0).contains("Default Tomori"));
    s.idle(DM_CHANNEL).await;

    let created = s
        .answer(in_dm("persona create").arg("name", "Mika").arg("prompt", "You are Mika, a cat."))
        .await;
    assert_eq!(created, "Created **Mika** as the main persona.");
    let listed = s.answer(in_dm("persona list")).await;
    assert_eq!(listed, "- **Mika** (main)");
    // The DM tenant is alice's own: the guild has no persona, and her DM tenant has Mika.
    assert!(personas::list(&s.store, s.guild().await).await.unwrap().is_empty());
    assert_eq!(personas::list(&s.store, s.dm_tenant().await).await.unwrap().len(), 1);

    s.instance.push_turn(Turn::new().text("Meow."));
    s.fake.inject_message(MessageCreate::new(DM_CHANNEL, alice(), "who are you?"));
    s.fake.wait_for_message(|m| m.channel == DM_CHANNEL && m.content == "Meow.", WAIT).await;
    let asked = s.instance.requests()[1].json.clone().unwrap();
    let system = asked["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("You are Mika, a cat.") && !system.contains("Default Tomori"),
        "{system}"
    );

    // What makes no sense in a DM says so, and changes nothing.
    let refused = s.answer(in_dm("server always-reply").arg("state", "on")).await;
    assert!(refused.starts_with("This works only in a server."), "{refused}");
    let refused = s.answer(in_dm("config cascade-limit").arg("value", 5)).await;
    assert!(refused.starts_with("This works only in a server."), "{refused}");
}

#[tokio::test]
async fn a_dm_key_added_through_the_form_pays_for_the_members_dm_turns() {
    let s = stack().await;
    let own = FakeLlm::start(WireFormat::OpenAi).await;
    let added = s
        .answer(
            in_dm("provider endpoint add")
                .arg("label", "own")
                .arg("url", own.base_url())
                .arg("model", "own-model"),
        )
        .await;
    assert!(added.starts_with("Registered endpoint `own`"), "{added}");
    // A DM tenant's endpoint is judged as a member's own: the cloud metadata address never.
    let refused = s
        .answer(
            in_dm("provider endpoint add")
                .arg("label", "meta")
                .arg("url", "http://169.254.169.254/v1")
                .arg("model", "x"),
        )
        .await;
    assert!(refused.starts_with("That URL can't be used"), "{refused}");

    let form = s.interaction(in_dm("provider key add").arg("provider", "custom:own")).await;
    let modal = form.modal.expect("the key form");
    let custom_id = modal["custom_id"].as_str().unwrap().to_owned();
    let saved = s
        .answer(in_dm("provider").submit_modal(&custom_id, &[("key", "sk-alices-dm-key-0123")]))
        .await;
    assert!(saved.starts_with("Saved key"), "{saved}");
    let dm_keys = tomori_store::credentials::list(&s.store, s.dm_tenant().await, KeyOwner::Server);
    assert_eq!(dm_keys.await.unwrap().len(), 1);
    let guild_keys = tomori_store::credentials::list(&s.store, s.guild().await, KeyOwner::Server);
    assert!(guild_keys.await.unwrap().is_empty(), "the key is in alice's DM tenant only");

    let setup = s.interaction(in_dm("config setup").arg("provider", "custom:own")).await;
    assert_eq!(setup.callbacks, [4], "an endpoint needs no key form");
    let text = setup.content.unwrap_or_default();
    assert!(text.contains("The custom endpoint `own` answers here now"), "{text}");

    own.push_turn(Turn::new().text("From alice's own model."));
    assert_eq!(s.dm("hello").await, "From alice's own model.");
    let request = &own.requests()[0];
    assert_eq!(request.header("authorization"), Some("Bearer sk-alices-dm-key-0123"));
    assert_eq!(request.json.as_ref().unwrap()["model"], "own-model");
    assert!(s.instance.requests().is_empty(), "the instance's provider was not spent");
}

#[tokio::test]
async fn config_setup_offers_the_instance_and_the_servers_endpoints() {
    let s = stack().await;
    let guild = s.guild().await;
    let gateway = NewEndpoint {
        label: "gateway".to_owned(),
        base_url: "https://llm.example/v1".to_owned(),
        model: "qwen3:32b".to_owned(),
        context_length: None,
        has_tools: true,
        has_vision: false,
        api_key: None,
    };
    endpoints::add(&s.store, guild, Actor::Operator, KeyOwner::Server, &gateway).await.unwrap();
    let offer = |user: UserSpec, permissions: u64, typed: &str| {
        SlashCommand::new(CHANNEL, user, "config setup")
            .in_guild(GUILD, permissions)
            .autocomplete("provider", typed)
    };
    let values = |interaction: FakeInteraction| -> Vec<String> {
        assert_eq!(interaction.callbacks, [8]);
        let choices = interaction.choices.unwrap();
        choices.iter().map(|c| c["value"].as_str().unwrap().to_owned()).collect()
    };
    let all = values(s.interaction(offer(alice(), MANAGE_GUILD, "")).await);
    assert_eq!(all[..3], ["instance", "custom:gateway", "openrouter"], "{all:?}");
    assert_eq!(
        values(s.interaction(offer(alice(), MANAGE_GUILD, "gate")).await),
        ["custom:gateway"]
    );
    // A member who may not manage the server is not shown its endpoints.
    let members = values(s.interaction(offer(UserSpec::new(BOB, "bob"), VIEW_AND_SEND, "")).await);
    assert!(
        members.contains(&"instance".to_owned())
            && !members.iter().any(|v| v.starts_with("custom:"))
    );

    let admin =
        |path: &str| SlashCommand::new(CHANNEL, alice(), path).in_guild(GUILD, MANAGE_GUILD);
    let unknown = s.answer(admin("config setup").arg("provider", "acme")).await;
    assert!(unknown.contains("`instance`") && unknown.contains("`custom:gateway`"), "{unknown}");
    let no_model = s.answer(admin("config setup").arg("provider", "openrouter")).await;
    assert!(no_model.starts_with("Name the model"), "{no_model}");
    assert!(personas::list(&s.store, guild).await.unwrap().is_empty(), "refusals change nothing");

    let setup = s.interaction(admin("config setup").arg("provider", "instance")).await;
    assert_eq!(setup.callbacks, [4], "the instance needs no key form");
    let text = setup.content.unwrap_or_default();
    assert!(text.starts_with("**Tomori** is the main persona."), "{text}");
    assert!(text.contains("This instance's model answers here now (local)"), "{text}");
    assert!(models::get(&s.store, guild).await.unwrap().is_none());

    s.instance.push_turn(Turn::new().text("Tomori here."));
    let bot = s.fake.bot_user_id();
    s.fake.inject_message(
        MessageCreate::new(CHANNEL, alice(), &format!("<@{bot}> hi"))
            .in_guild(GUILD)
            .mention(UserSpec::new(bot, "Tomori")),
    );
    s.fake.wait_for_message(|m| m.content == "Tomori here.", WAIT).await;
}

#[tokio::test]
async fn members_whose_roles_manage_the_server_skip_the_cooldown() {
    let s = stack().await;
    let guild = s.guild().await;
    tomori_store::settings::set(
        &s.store,
        guild,
        Actor::Operator,
        tomori_store::settings::Setting::Cooldown {
            kind: tomori_core::settings::CooldownKind::PerUser,
            seconds: Some(600),
        },
    )
    .await
    .unwrap();
    let bot = s.fake.bot_user_id();
    let say = |user: UserSpec, roles: Vec<u64>, text: &str| {
        MessageCreate::new(CHANNEL, user, &format!("<@{bot}> {text}"))
            .in_guild(GUILD)
            .mention(UserSpec::new(bot, "Tomori"))
            .member(MemberSpec { roles, nick: None, permissions: None })
    };
    for (n, text) in ["one", "two"].into_iter().enumerate() {
        let answer = format!("Answer {n}.");
        s.instance.push_turn(Turn::new().text(&answer));
        s.fake.inject_message(say(alice(), vec![MODS], text));
        s.fake.wait_for_message(|m| m.content == answer, WAIT).await;
        s.idle(CHANNEL).await;
    }
    let bob = UserSpec::new(BOB, "bob");
    s.instance.push_turn(Turn::new().text("Hi bob."));
    s.fake.inject_message(say(bob.clone(), Vec::new(), "three"));
    s.fake.wait_for_message(|m| m.content == "Hi bob.", WAIT).await;
    s.idle(CHANNEL).await;
    s.fake.inject_message(say(bob, Vec::new(), "four"));
    s.fake.wait_for_message(|m| m.content.starts_with("Slow down"), WAIT).await;
    assert_eq!(s.instance.requests().len(), 3, "the manager was never held back; bob was");
}

#[tokio::test]
async fn the_personas_own_replies_in_a_dm_are_its_own_turns() {
    let s = stack().await;
    s.answer(in_dm("persona create").arg("name", "Mika").arg("prompt", "You are Mika, a cat."))
        .await;
    s.instance.push_turn(Turn::new().text("Meow."));
    assert_eq!(s.dm("hi").await, "Meow.");
    s.idle(DM_CHANNEL).await;
    s.instance.push_turn(Turn::new().text("Purr."));
    assert_eq!(s.dm("and now?").await, "Purr.");
    let asked = s.instance.requests()[1].json.clone().unwrap();
    let messages = asked["messages"].as_array().unwrap();
    // Mika's reply, echoed by the gateway from the bot's own account, is read in alice's DM
    // tenant: Mika said it, so it is the assistant's turn, not a message signed by someone else.
    let roles: Vec<(&str, &str)> = messages
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(roles[2], ("assistant", "Meow."), "{roles:?}");
    assert!(!asked.to_string().contains("Default Tomori"), "{roles:?}");
}
