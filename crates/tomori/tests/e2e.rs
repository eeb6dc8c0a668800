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

const TOKEN: &str = "MTc1OTI4ODQ3Mjk5MTE3MDYz.GaBcDe.abcdefghijklmnopqrstuvwxyz012345";
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
    let child = Command::new(env!("CARGO_BIN_EXE_tomori"))
        .arg("run")
        .current_dir(&dir)
        .env_clear()
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
    assert_eq!(names, ["persona", "memory", "server", "personal", "bot", "config", "mcp"]);

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
