//! The whole bot against the fake Discord and the fake LLM, with an operator MCP server over
//! stdio from its configuration: the model calls the server's `echo` tool and the fenced result
//! reaches it in the next request; the answer reaches Discord.
//!
//! This target has no libtest harness because the same binary is also the MCP server: run as
//! `e2e_mcp serve-fake-mcp`, it serves tomori-testkit's fake MCP server on stdin and stdout.
//! Cargo tells a test only its own package's binaries, and an MCP server must be a program of
//! its own, so the bot is configured to start this very executable.

use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use secrecy::ExposeSecret;
use tomori_core::id::Snowflake;
use tomori_store::Scope;
use tomori_store::audit::Actor;
use tomori_store::personas::{self, NewPersona};
use tomori_testkit::fake_discord::{FakeDiscord, MessageCreate, UserSpec};
use tomori_testkit::fake_llm::{FakeLlm, Turn, WireFormat};
use tomori_testkit::{TEST_SECRET_V1, TestDb};

const SERVE: &str = "serve-fake-mcp";
const TOKEN: &str = "MTc1OTI4ODQ3Mjk5MTE3MDYz.GaBcDe.abcdefghijklmnopqrstuvwxyz012345";
const GUILD: u64 = 820_000_000_000_000_001;
const CHANNEL: u64 = 820_000_000_000_000_002;
const ALICE: u64 = 720_000_000_000_000_001;
const WAIT: Duration = Duration::from_secs(20);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    if args.first().map(String::as_str) == Some(SERVE) {
        return match runtime.block_on(tomori_testkit::fake_mcp::serve_stdio()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    if args.iter().any(|a| a == "--list") {
        report("the_model_calls_an_operator_mcp_tool_through_the_bot: test");
        return ExitCode::SUCCESS;
    }
    runtime.block_on(the_model_calls_an_operator_mcp_tool_through_the_bot());
    report("test the_model_calls_an_operator_mcp_tool_through_the_bot ... ok");
    ExitCode::SUCCESS
}

/// Writes to stdout, which is ours in this process (the server mode never gets here).
fn report(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout(), "{line}");
}

struct Bot(std::process::Child);

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

async fn the_model_calls_an_operator_mcp_tool_through_the_bot() {
    tomori_testkit::init();
    let db = TestDb::new().await;
    let store = db.store().await;
    let server = store.resolve_guild(Snowflake::new(GUILD).expect("id")).await.expect("guild");
    let tomori = NewPersona { nickname: "Tomori".into(), ..NewPersona::default() };
    personas::create(&store, Scope::server(server), Actor::Operator, tomori)
        .await
        .expect("persona");
    store.close().await;
    let discord = FakeDiscord::builder().token(TOKEN).start().await;
    discord.add_guild(GUILD, "Tea House");
    discord.add_text_channel(GUILD, CHANNEL);
    discord.set_everyone_permissions(GUILD, 0x400 | 0x800 | 0x10000);
    discord.add_member(GUILD, ALICE, &[]);
    discord.add_member(GUILD, discord.bot_user_id(), &[]);
    let llm = FakeLlm::start(WireFormat::OpenAi).await;
    let me = std::env::current_exe().expect("the test's own path");
    let dir = std::env::temp_dir().join(format!("tomori-e2e-mcp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a work directory");
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
        .env("TOMORI_MCP__FAKE__COMMAND", me.display().to_string())
        .env("TOMORI_MCP__FAKE__ARGS", format!("[\"{SERVE}\"]"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the bot starts");
    let _bot = Bot(child);
    discord.wait_for_ready(0, WAIT).await;

    llm.push_turn(Turn::new().tool_call("call_1", "echo", serde_json::json!({"text": "steeped"})));
    llm.push_turn(Turn::new().text("The server said: steeped."));
    let bot = UserSpec::new(discord.bot_user_id(), "Tomori");
    discord.inject_message(
        MessageCreate::new(
            CHANNEL,
            UserSpec::new(ALICE, "alice"),
            &format!("<@{}> echo please", discord.bot_user_id()),
        )
        .in_guild(GUILD)
        .mention(bot),
    );
    let answer = discord.wait_for_message(|m| m.content.contains("The server said"), WAIT).await;
    assert!(!answer.pings.everyone);
    let requests = llm.requests();
    let first = String::from_utf8_lossy(&requests[0].body).into_owned();
    assert!(first.contains("\"echo\""), "the MCP tool was offered: {first}");
    let second = String::from_utf8_lossy(&requests[1].body).into_owned();
    assert!(
        second.contains("tool_output name=\\\"echo\\\" trust=\\\"untrusted\\\"")
            && second.contains("steeped"),
        "the fenced result reached the model: {second}"
    );
}
