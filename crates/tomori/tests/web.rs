//! The operator's listener of `tomori run`, as a process against the fake Discord and a fake
//! LLM: readiness with the gateway, the series moving after a turn, and no label carrying a
//! member's id, a message's text or a secret.
#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions unwrap too")]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use secrecy::ExposeSecret;
use tomori_core::id::Snowflake;
use tomori_store::Scope;
use tomori_store::audit::Actor;
use tomori_store::personas::{self, NewPersona};
use tomori_testkit::fake_discord::{FakeDiscord, MessageCreate, UserSpec};
use tomori_testkit::fake_llm::{FakeLlm, Turn, WireFormat};
use tomori_testkit::http::{free_loopback_port, get};
use tomori_testkit::{TEST_SECRET_V1, TestDb};

const TOKEN: &str = "MTc1OTI4ODQ3Mjk5MTE3MDYz.GaBcDe.abcdefghijklmnopqrstuvwxyz012345";
const API_KEY: &str = "sk-web-canary";
const GUILD: u64 = 820_000_000_000_000_001;
const CHANNEL: u64 = 820_000_000_000_000_002;
const ALICE: u64 = 720_000_000_000_000_001;
const SECRET_WORDS: &str = "marzipan lighthouse";
const WAIT: Duration = Duration::from_secs(20);

struct Bot(Child);

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

struct World {
    _db: TestDb,
    discord: FakeDiscord,
    llm: FakeLlm,
    web: SocketAddr,
    _bot: Bot,
}

async fn world() -> World {
    let db = TestDb::new().await;
    let store = db.store().await;
    let server = store.resolve_guild(Snowflake::new(GUILD).unwrap()).await.unwrap();
    let persona = NewPersona {
        nickname: "Tomori".into(),
        prompt: "You are Tomori.".into(),
        ..NewPersona::default()
    };
    personas::create(&store, Scope::server(server), Actor::Operator, persona).await.unwrap();
    store.close().await;
    let discord = FakeDiscord::builder().token(TOKEN).start().await;
    discord.add_guild(GUILD, "Lantern Room");
    discord.add_text_channel(GUILD, CHANNEL);
    let llm = FakeLlm::start(WireFormat::OpenAi).await;
    let dir = std::env::temp_dir().join(format!("tomori-web-{}-{}", std::process::id(), db.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let web = free_loopback_port();
    let child = Command::new(env!("CARGO_BIN_EXE_tomori"))
        .env_clear()
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
        .env("TOMORI_PROVIDERS__LOCAL__API_KEY", API_KEY)
        .env("TOMORI_WEB__LISTEN", web.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let bot = Bot(child);
    discord.wait_for_ready(0, WAIT).await;
    World { _db: db, discord, llm, web, _bot: bot }
}

/// Polls `path` until `accept` holds for its status and body (at most [`WAIT`]).
async fn poll(addr: SocketAddr, path: &str, accept: impl Fn(u16, &str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let last = get(addr, path).await;
        if let Some(reply) = &last
            && accept(reply.status, &reply.body)
        {
            return reply.body.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{path} never as expected: {last:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of the sample `series` (name and labels exactly as rendered), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Every label value in a scrape.
fn label_values(text: &str) -> Vec<String> {
    let mut values = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((_, labels)) = line.split_once('{') else { continue };
        let Some((labels, _)) = labels.rsplit_once('}') else { continue };
        for pair in labels.split("\",") {
            if let Some((_, value)) = pair.split_once("=\"") {
                values.push(value.trim_end_matches('"').to_owned());
            }
        }
    }
    values
}

#[tokio::test]
async fn the_series_move_after_a_turn_and_carry_no_ids_text_or_secrets() {
    let w = world().await;
    let ready = poll(w.web, "/health/ready", |status, _| status == 200).await;
    assert!(ready.contains("\"gateway\":\"ok\""), "{ready}");
    assert_eq!(get(w.web, "/health/live").await.unwrap().status, 200);

    // One turn: a call to a tool no one has (refused by the gate), then the answer.
    w.llm.push_turn(Turn::new().tool_call("call_1", "open_the_vault", serde_json::json!({})));
    w.llm.push_turn(Turn::new().text("The lighthouse keeps its marzipan.").usage(40, 9));
    let bot = UserSpec::new(w.discord.bot_user_id(), "Tomori");
    let mention = format!("<@{}> {SECRET_WORDS}?", w.discord.bot_user_id());
    w.discord.inject_message(
        MessageCreate::new(CHANNEL, UserSpec::new(ALICE, "alice"), &mention)
            .in_guild(GUILD)
            .mention(bot),
    );
    w.discord.wait_for_message(|m| m.content.contains("keeps its marzipan"), WAIT).await;

    let answered = "tomori_turns_total{outcome=\"answered\"}";
    let text = poll(w.web, "/metrics", |status, body| {
        status == 200 && sample(body, answered).is_some_and(|n| n >= 1.0)
    })
    .await;
    let expect = |series: &str| {
        let value = sample(&text, series);
        assert!(value.is_some_and(|n| n >= 1.0), "{series} = {value:?} in:\n{text}");
    };
    expect("tomori_tool_calls_total{tool=\"mcp\",verdict=\"refused\"}");
    expect("tomori_gate_refusals_total{reason=\"unknown_tool\"}");
    expect("tomori_model_first_token_seconds_count{provider=\"local\"}");
    expect("tomori_model_duration_seconds_count{provider=\"local\"}");
    expect("tomori_engine_overhead_seconds_count");
    expect("tomori_cache_lookups_total{view=\"server\",result=\"miss\"}");
    let out = sample(&text, "tomori_model_tokens_total{provider=\"local\",direction=\"out\"}");
    assert!(out.is_some_and(|n| n >= 9.0), "the answer's 9 tokens are counted: {text}");
    assert!(text.contains("tomori_db_pool_connections{state=\"in_use\"}"), "{text}");
    // The answer went out through the REST gate, counted by its route template.
    assert!(
        text.lines().any(|l| l.starts_with("tomori_discord_rest_requests_total{")
            && l.contains("route=\"/channels/:id/messages\"")
            && l.contains("status=\"2xx\"")),
        "REST requests by route: {text}"
    );

    // Security: no label value is an id, message text or a secret.
    let bot_id = w.discord.bot_user_id().to_string();
    let forbidden =
        [ALICE.to_string(), GUILD.to_string(), CHANNEL.to_string(), bot_id, API_KEY.to_owned()];
    let words: Vec<&str> = SECRET_WORDS.split(' ').chain(["alice", "vault"]).collect();
    for value in label_values(&text) {
        assert!(!value.chars().any(|c| c.is_ascii_digit()) || value.len() < 6, "{value}");
        for bad in &forbidden {
            assert!(!value.contains(bad.as_str()), "label value {value:?} carries {bad}");
        }
        for word in &words {
            assert!(!value.contains(word), "label value {value:?} carries message text");
        }
    }
    assert!(!text.contains(TOKEN) && !text.contains(API_KEY), "no secret anywhere in a scrape");
}

#[tokio::test]
async fn readiness_follows_the_gateway_and_reconnects_are_counted() {
    let w = world().await;
    poll(w.web, "/health/ready", |status, _| status == 200).await;
    assert!(w.discord.drop_gateway(0, Duration::from_secs(1)), "the shard had a connection");
    let down = poll(w.web, "/health/ready", |status, _| status == 503).await;
    assert!(down.contains("shard(s) 0 not connected"), "{down}");
    poll(w.web, "/health/ready", |status, _| status == 200).await;
    let text = poll(w.web, "/metrics", |_, body| {
        sample(body, "tomori_gateway_resumes_total{shard=\"0\"}").is_some()
    })
    .await;
    assert!(sample(&text, "tomori_gateway_reconnects_total{shard=\"0\"}").is_some(), "{text}");
}

#[tokio::test]
async fn without_a_public_url_no_dashboard_is_served() {
    // This world sets no [web] public_url: the listener serves health and metrics only.
    let w = world().await;
    poll(w.web, "/health/ready", |status, _| status == 200).await;
    for path in ["/login", "/servers", "/static/style.css"] {
        assert_eq!(get(w.web, path).await.unwrap().status, 404, "{path}");
    }
}
