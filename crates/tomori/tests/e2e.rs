//! The whole bot, as a process, against the fake Discord and a fake LLM on loopback: the binary
//! `tomori run` with its real configuration, database, twilight clients and provider layer.
#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions unwrap too")]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use secrecy::ExposeSecret;
use tomori_core::id::Snowflake;
use tomori_store::Scope;
use tomori_store::audit::Actor;
use tomori_store::personas::{self, NewPersona};
use tomori_testkit::fake_discord::{
    FakeDiscord, FakeInteraction, MessageCreate, SlashCommand, UserSpec,
};
use tomori_testkit::fake_llm::{FakeLlm, Turn, WireFormat};
use tomori_testkit::{TEST_SECRET_V1, TestDb};

/// Not shaped like Discord's tokens (as a Discord-compatible server's may not be): the bot warns
/// and runs.
const TOKEN: &str = "compatible-server-token-0123456789";
const GUILD: u64 = 810_000_000_000_000_001;
const CHANNEL: u64 = 810_000_000_000_000_002;
const ALICE: u64 = 710_000_000_000_000_001;
const WAIT: Duration = Duration::from_secs(15);

struct Bot(Child);

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

struct World {
    db: TestDb,
    discord: FakeDiscord,
    llm: FakeLlm,
    _bot: Bot,
}

async fn world() -> World {
    world_with(&[]).await
}

/// The bot with extra `TOMORI_*` settings.
async fn world_with(env: &[(&str, String)]) -> World {
    let db = TestDb::new().await;
    let store = db.store().await;
    let server = store.resolve_guild(Snowflake::new(GUILD).unwrap()).await.unwrap();
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
    store.close().await;
    let discord = FakeDiscord::builder().token(TOKEN).start().await;
    discord.add_guild(GUILD, "Tea House");
    discord.add_text_channel(GUILD, CHANNEL);
    let llm = FakeLlm::start(WireFormat::OpenAi).await;
    let dir = std::env::temp_dir().join(format!("tomori-e2e-{}-{}", std::process::id(), db.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tomori"));
    command.env_clear();
    command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    let child = command
        .arg("run")
        .current_dir(&dir)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("DATABASE_URL", db.url().expose_secret())
        .env("TOMORI_SECRET_V1", TEST_SECRET_V1)
        .env("TOMORI_DISCORD__TOKEN", TOKEN)
        .env("TOMORI_DISCORD__API_BASE", discord.api_base())
        .env("TOMORI_DISCORD__GATEWAY_URL", discord.gateway_url())
        .env("TOMORI_PROVIDERS__LOCAL__KIND", "openai-compatible")
        .env("TOMORI_PROVIDERS__LOCAL__BASE_URL", llm.base_url())
        .env("TOMORI_PROVIDERS__LOCAL__MODEL", "fake-model")
        .env("TOMORI_PROVIDERS__LOCAL__API_KEY", "sk-e2e-canary")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let bot = Bot(child);
    discord.wait_for_ready(0, WAIT).await;
    World { db, discord, llm, _bot: bot }
}

fn alice() -> UserSpec {
    UserSpec::new(ALICE, "alice")
}

#[tokio::test]
async fn a_mention_gets_a_reply_in_discord() {
    let w = world().await;
    w.llm.push_turn(Turn::new().text("Hello alice, welcome to the tea house!"));
    let bot = UserSpec::new(w.discord.bot_user_id(), "Tomori");
    let id = w.discord.inject_message(
        MessageCreate::new(CHANNEL, alice(), &format!("<@{}> hello!", w.discord.bot_user_id()))
            .in_guild(GUILD)
            .mention(bot),
    );
    let reply = w
        .discord
        .wait_for_message(|m| m.webhook_id.is_none() && m.content.contains("welcome"), WAIT)
        .await;
    assert_eq!(reply.reply_to, Some(id));
    assert!(!reply.pings.everyone);
    let request = &w.llm.requests()[0];
    assert_eq!(
        request.header("authorization"),
        Some("Bearer sk-e2e-canary"),
        "the instance key pays for the call"
    );
    let _ = &w.db;
}

#[tokio::test]
async fn an_alter_speaks_through_a_webhook_and_a_429_is_respected() {
    let w = world().await;
    w.discord.rate_limit("POST", "webhooks/*/*", 1, Duration::from_millis(300));
    w.llm.push_turn(Turn::new().text("Kaede, at your service."));
    w.discord.inject_message(MessageCreate::new(CHANNEL, alice(), "kaede, help!").in_guild(GUILD));
    let reply = w.discord.wait_for_message(|m| m.content.contains("at your service"), WAIT).await;
    assert!(reply.webhook_id.is_some(), "an alter speaks through the channel's webhook");
    assert_eq!(reply.username, "Kaede");
}

#[tokio::test]
async fn model_output_never_pings_everyone() {
    let w = world().await;
    w.llm.push_turn(Turn::new().text("@everyone the tea is ready"));
    w.discord.inject_message(
        MessageCreate::new(CHANNEL, alice(), "tomori, announce tea").in_guild(GUILD),
    );
    let reply = w.discord.wait_for_message(|m| m.content.contains("tea is ready"), WAIT).await;
    assert!(!reply.pings.everyone, "{reply:?}");
}

#[tokio::test]
async fn slash_commands_are_registered_at_startup_and_change_the_server() {
    let w = world().await;
    let put = w.discord.wait_for_request(|r| r.is("PUT", "applications/*/commands"), WAIT).await;
    let names: Vec<&str> = put
        .body
        .as_ref()
        .and_then(|b| b.as_array())
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let every: Vec<String> =
        tomori_discord::commands::definitions().into_iter().map(|c| c.name).collect();
    assert_eq!(names, every, "every command is registered at startup");

    let id = w.discord.inject_command(
        SlashCommand::new(CHANNEL, alice(), "persona create")
            .in_guild(GUILD, 0x20)
            .arg("name", "Yui"),
    );
    let answered = w.discord.wait_for_interaction(id, FakeInteraction::answered, WAIT).await;
    assert_eq!(answered.content.as_deref(), Some("Created **Yui** as an alter."));
    let store = w.db.store().await;
    let server = store.resolve_guild(Snowflake::new(GUILD).unwrap()).await.unwrap();
    assert!(personas::find(&store, Scope::server(server), "Yui").await.unwrap().is_some());
}

#[tokio::test]
async fn privacy_level_two_makes_the_bot_ignore_that_user() {
    let w = world().await;
    let id = w.discord.inject_command(
        SlashCommand::new(CHANNEL, alice(), "personal privacy")
            .in_guild(GUILD, 0x400)
            .arg("level", 2),
    );
    let answered = w.discord.wait_for_interaction(id, FakeInteraction::answered, WAIT).await;
    assert!(answered.content.unwrap().starts_with("Your privacy level is now 2"));

    let bot = UserSpec::new(w.discord.bot_user_id(), "Tomori");
    let mention = format!("<@{}> hello?", w.discord.bot_user_id());
    w.llm.push_turn(Turn::new().text("Hello bob!"));
    let ignored = w.discord.inject_message(
        MessageCreate::new(CHANNEL, alice(), &mention).in_guild(GUILD).mention(bot.clone()),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bob = UserSpec::new(710_000_000_000_000_002, "bob");
    w.discord
        .inject_message(MessageCreate::new(CHANNEL, bob, &mention).in_guild(GUILD).mention(bot));
    w.discord.wait_for_message(|m| m.content.contains("Hello bob"), WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.llm.requests().len(), 1, "only bob's message reached the model");
    assert!(w.discord.messages().iter().all(|m| m.reply_to != Some(ignored)));
}

#[tokio::test]
async fn a_channels_own_persona_answers_mentions_there() {
    let w = world().await;
    let id = w.discord.inject_command(
        SlashCommand::new(CHANNEL, alice(), "server channel-persona set")
            .in_guild(GUILD, 0x20)
            .channel_arg("channel", CHANNEL)
            .arg("persona", "kaede"),
    );
    let answered = w.discord.wait_for_interaction(id, FakeInteraction::answered, WAIT).await;
    assert!(answered.content.unwrap().starts_with("Kaede now answers in"));

    // A mention of the bot is answered by Kaede, through the channel's webhook.
    let bot = UserSpec::new(w.discord.bot_user_id(), "Tomori");
    w.llm.push_turn(Turn::new().text("Kaede here, hello!"));
    let mention = format!("<@{}> hi", w.discord.bot_user_id());
    w.discord.inject_message(
        MessageCreate::new(CHANNEL, alice(), &mention).in_guild(GUILD).mention(bot),
    );
    let reply = w.discord.wait_for_message(|m| m.content.contains("Kaede here"), WAIT).await;
    assert!(reply.webhook_id.is_some(), "{reply:?}");
    assert_eq!(reply.username, "Kaede");
    let system = w.llm.requests()[0].json.clone().unwrap()["messages"][0]["content"].to_string();
    assert!(system.contains("You are Kaede."), "{system}");

    // The main persona's name still calls the main persona.
    w.llm.push_turn(Turn::new().text("Tomori answering."));
    w.discord.inject_message(MessageCreate::new(CHANNEL, alice(), "tomori?").in_guild(GUILD));
    let reply = w.discord.wait_for_message(|m| m.content.contains("Tomori answering"), WAIT).await;
    assert!(reply.webhook_id.is_none(), "the main persona speaks as the bot: {reply:?}");
}

/// A page only the test configuration lets the model's tools reach: served on 127.0.0.5.
async fn loopback_page() -> String {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/menu",
        get(|| async {
            (
                [(axum::http::header::CONTENT_TYPE, "text/html")],
                "<html><body><h1>Menu</h1><p>Today: hojicha latte.</p></body></html>",
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.5:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/menu")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_remembers_sets_a_reminder_that_fires_and_reads_a_page() {
    let page = loopback_page().await;
    let w = world_with(&[("TOMORI_NET__TOOL_TEST_LOOPBACK", "[\"127.0.0.5\"]".to_owned())]).await;
    // Alice may talk and the bot may post here (the tools ask Discord for permissions); Alice
    // manages the server, which teaching a server memory takes while member teaching is off.
    w.discord.set_everyone_permissions(GUILD, 0x400 | 0x800 | 0x10000);
    const MANAGERS: u64 = 810_000_000_000_000_009;
    w.discord.add_role(GUILD, MANAGERS, 0x20);
    w.discord.add_member(GUILD, ALICE, &[MANAGERS]);
    w.discord.add_member(GUILD, w.discord.bot_user_id(), &[]);
    w.llm.push_turn(
        Turn::new()
            .tool_call(
                "call_1",
                "create_long_term_memory",
                serde_json::json!({"content": "alice likes hojicha", "memory_scope": "server"}),
            )
            .tool_call(
                "call_2",
                "create_task",
                serde_json::json!({"purpose": "steep the tea", "time": "in 2 seconds"}),
            )
            .tool_call("call_3", "fetch_url", serde_json::json!({"url": page})),
    );
    w.llm.push_turn(Turn::new().text("Noted! Today's special is a hojicha latte."));
    let bot = UserSpec::new(w.discord.bot_user_id(), "Tomori");
    w.discord.inject_message(
        MessageCreate::new(
            CHANNEL,
            alice(),
            &format!(
                "<@{}> remember I like hojicha, remind me to steep the tea, and check the menu",
                w.discord.bot_user_id()
            ),
        )
        .in_guild(GUILD)
        .mention(bot),
    );
    let answer = w.discord.wait_for_message(|m| m.content.contains("Noted!"), WAIT).await;
    assert!(answer.content.contains("hojicha latte"));
    let requests = w.llm.requests();
    let second = String::from_utf8_lossy(&requests[1].body).into_owned();
    assert!(second.contains("Today: hojicha latte."), "the page reached the model: {second}");
    assert!(!second.contains("tool_execution_failed"), "every tool ran: {second}");

    // The reminder fires on its own, pinging Alice only.
    let reminder = w.discord.wait_for_message(|m| m.content.contains("steep the tea"), WAIT).await;
    assert!(reminder.content.contains(&format!("<@{ALICE}>")), "{}", reminder.content);
    assert!(!reminder.pings.everyone);

    let store = w.db.store().await;
    let server = store.resolve_guild(Snowflake::new(GUILD).unwrap()).await.unwrap();
    let tomori = personas::find(&store, Scope::server(server), "Tomori").await.unwrap().unwrap();
    let memories =
        tomori_store::memories::list_server(&store, Scope::server(server), tomori.lineage)
            .await
            .unwrap();
    assert_eq!(
        memories.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(),
        ["alice likes hojicha"]
    );
}
