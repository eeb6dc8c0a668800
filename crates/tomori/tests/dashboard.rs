//! The dashboard in a real browser: `tomori run` against the fake Discord (with its OAuth2) and a
//! fake LLM, driven through headless Chromium. A manager signs in, creates a persona, imports a
//! card and switches a flag, and the next turn in Discord answers with the change; a member
//! without Manage Server is offered no change. Screenshots of the main pages at 1280 and 390 px
//! wide go to `target/dashboard-screenshots/` for a reviewer.
#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions unwrap too")]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use secrecy::ExposeSecret;
use tomori_testkit::fake_discord::{FakeDiscord, MessageCreate, OAUTH_CLIENT_SECRET, UserSpec};
use tomori_testkit::fake_llm::{FakeLlm, Turn, WireFormat};
use tomori_testkit::http::{free_loopback_port, get};
use tomori_testkit::webdriver::Browser;
use tomori_testkit::{TEST_SECRET_V1, TestDb};

const TOKEN: &str = "MTc1OTI4ODQ3Mjk5MTE3MDYz.GaBcDe.abcdefghijklmnopqrstuvwxyz012345";
const GUILD: u64 = 840_000_000_000_000_001;
const CHANNEL: u64 = 840_000_000_000_000_002;
const ALICE: u64 = 740_000_000_000_000_001;
const BOB: u64 = 740_000_000_000_000_002;
const WAIT: Duration = Duration::from_secs(30);

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
    bot: Bot,
}

async fn world() -> World {
    let db = TestDb::new().await;
    let discord = FakeDiscord::builder().token(TOKEN).start().await;
    discord.add_guild(GUILD, "Lantern Room");
    discord.add_text_channel(GUILD, CHANNEL);
    discord.set_owner(GUILD, ALICE);
    discord.add_member(GUILD, BOB, &[]);
    let llm = FakeLlm::start(WireFormat::OpenAi).await;
    let dir =
        std::env::temp_dir().join(format!("tomori-dash-{}-{}", std::process::id(), db.name()));
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
        .env("TOMORI_PROVIDERS__LOCAL__API_KEY", "sk-dashboard-canary")
        .env("TOMORI_PROVIDERS__LOCAL__VISION", "true")
        .env("TOMORI_WEB__LISTEN", web.to_string())
        .env("TOMORI_WEB__PUBLIC_URL", format!("http://{web}"))
        .env("TOMORI_WEB__CLIENT_ID", discord.oauth_client_id().to_string())
        .env("TOMORI_WEB__CLIENT_SECRET", OAUTH_CLIENT_SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let bot = Bot(child);
    discord.wait_for_ready(0, WAIT).await;
    // The listener starts before the gateway; wait for it to answer.
    let deadline = std::time::Instant::now() + WAIT;
    while get(web, "/health/live").await.is_none() {
        assert!(std::time::Instant::now() < deadline, "the listener did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    World { _db: db, discord, llm, web, bot }
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/dashboard-screenshots")
}

/// A SillyTavern V2 card as JSON, written for this test.
/// A 1 × 1 PNG.
const ONE_PIXEL_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

fn card_file() -> PathBuf {
    let card = serde_json::json!({
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": "Kaede",
            "description": "Kaede keeps the lantern shop and speaks softly.",
            "personality": "calm, precise",
            "scenario": "",
            "first_mes": "Welcome in.",
            "mes_example": "",
            "creator_notes": "",
            "system_prompt": "",
            "post_history_instructions": "",
            "alternate_greetings": [],
            "tags": ["shopkeeper"],
            "creator": "tomori tests",
            "character_version": "1",
            "extensions": {},
        },
    });
    let path = std::env::temp_dir().join(format!("tomori-kaede-{}.json", std::process::id()));
    std::fs::write(&path, card.to_string()).unwrap();
    path
}

/// Every main page at desktop and phone width; none may scroll sideways on a phone.
async fn photograph(browser: &Browser, world: &World, who: &str) {
    let base = format!("http://{}", world.web);
    let pages = [
        ("servers", format!("{base}/servers")),
        ("overview", format!("{base}/servers/{GUILD}")),
        ("personas", format!("{base}/servers/{GUILD}/personas")),
        ("memories", format!("{base}/servers/{GUILD}/memories")),
        ("models", format!("{base}/servers/{GUILD}/models")),
        ("audit", format!("{base}/servers/{GUILD}/audit")),
        ("documents", format!("{base}/servers/{GUILD}/documents")),
        ("mcp", format!("{base}/servers/{GUILD}/mcp")),
        ("playground", format!("{base}/servers/{GUILD}/playground")),
        ("persona-edit", format!("{base}/servers/{GUILD}/personas/edit?name=Mirai")),
        ("my-data", format!("{base}/me")),
    ];
    for (width, height, mobile) in [(1280, 900, false), (390, 844, true)] {
        browser.viewport(width, height, mobile).await;
        for (name, url) in &pages {
            browser.goto(url).await;
            let file = screenshots().join(format!("{who}-{name}-{width}.png"));
            browser.screenshot(&file).await;
            let laid_out = browser.layout_width().await;
            assert!(
                laid_out <= u64::from(width),
                "{name} is {laid_out} px wide at {width} px: it scrolls sideways"
            );
        }
    }
    browser.viewport(1280, 900, false).await;
}

#[tokio::test]
async fn a_manager_changes_the_server_in_the_browser_and_the_next_turn_shows_it() {
    let world = world().await;
    let browser = Browser::start().await;
    let base = format!("http://{}", world.web);

    // Sign in through the fake Discord's consent page.
    world.discord.oauth_sign_in(UserSpec::new(ALICE, "alice"));
    browser.goto(&format!("{base}/")).await;
    browser.viewport(390, 844, true).await;
    browser.screenshot(&screenshots().join("home-390.png")).await;
    browser.viewport(1280, 900, false).await;
    browser.screenshot(&screenshots().join("home-1280.png")).await;
    browser.click("a.button").await;
    browser.wait_for_text("Lantern Room", WAIT).await;
    assert!(browser.url().await.ends_with("/servers"), "{}", browser.url().await);

    // Create a persona.
    browser.goto(&format!("{base}/servers/{GUILD}/personas")).await;
    browser.type_into("#name", "Mirai").await;
    browser.type_into("#prompt", "You are Mirai, keeper of the paper lanterns.").await;
    browser.click("#create").await;
    browser.wait_for_text("Created Mirai", WAIT).await;

    // Import a card.
    browser.type_into("#card", card_file().to_str().unwrap()).await;
    browser.click("#import").await;
    let page = browser.wait_for_text("Imported Kaede", WAIT).await;
    assert!(page.contains("Mirai") && page.contains("Kaede"), "{page}");

    // Switch tool use off.
    browser.goto(&format!("{base}/servers/{GUILD}")).await;
    assert_eq!(browser.text("#flag-tool_use").await, "Turn off");
    browser.click("#flag-tool_use").await;
    browser.wait_for_text("tool_use is now off", WAIT).await;
    assert_eq!(browser.text("#flag-tool_use").await, "Turn on");

    // The next turn in Discord: Mirai answers, and the model is offered no tools.
    world.llm.push_turn(Turn::new().text("The lanterns are lit tonight."));
    let bot_id = world.discord.bot_user_id();
    let bot = UserSpec::new(bot_id, "Tomori");
    world.discord.inject_message(
        MessageCreate::new(CHANNEL, UserSpec::new(ALICE, "alice"), &format!("<@{bot_id}> hi"))
            .in_guild(GUILD)
            .mention(bot),
    );
    world.discord.wait_for_message(|m| m.content.contains("lanterns are lit"), WAIT).await;
    let request = world.llm.requests().into_iter().last().unwrap().json.unwrap();
    let sent = request.to_string();
    assert!(sent.contains("keeper of the paper lanterns"), "Mirai's prompt: {sent}");
    assert!(request.get("tools").is_none(), "tool_use is off: {sent}");

    // The playground: the same engine answers in the browser, the answer arriving as an event
    // (no reload), with the main persona's prompt beside it for a manager.
    browser.goto(&format!("{base}/servers/{GUILD}/playground")).await;
    let snapshot = browser.text("#snapshot").await;
    assert!(snapshot.contains("keeper of the paper lanterns"), "{snapshot}");
    world.llm.push_turn(Turn::new().text("Welcome to the playground, alice."));
    browser.type_into("#text", "hello from the browser").await;
    browser.click("#send").await;
    let page = browser.wait_for_text("Welcome to the playground", WAIT).await;
    assert!(page.contains("You: hello from the browser"), "{page}");
    let asked = world.llm.requests().into_iter().last().unwrap().json.unwrap().to_string();
    assert!(asked.contains("hello from the browser"), "{asked}");

    // A picture attached in the playground reaches the model (which sees) as an image.
    let picture = std::env::temp_dir().join(format!("tomori-dot-{}.png", std::process::id()));
    std::fs::write(
        &picture,
        base64::engine::general_purpose::STANDARD.decode(ONE_PIXEL_PNG).unwrap(),
    )
    .unwrap();
    world.llm.push_turn(Turn::new().text("A single red dot."));
    browser.type_into("#text", "what is in this picture?").await;
    browser.type_into("#file", picture.to_str().unwrap()).await;
    browser.click("#send").await;
    let page = browser.wait_for_text("A single red dot.", WAIT).await;
    assert!(page.contains("[attached: tomori-dot-"), "{page}");
    let asked = world.llm.requests().into_iter().last().unwrap().json.unwrap().to_string();
    assert!(asked.contains("what is in this picture?"), "{asked}");
    assert_eq!(asked.matches("data:image/jpeg;base64,").count(), 1, "{asked}");
    assert!(asked.contains("[media_1]") && !asked.contains("tomori-upload:"), "{asked}");

    // A document upload reaches the admin layer's checks (this server has no embedding model).
    let notes = std::env::temp_dir().join(format!("tomori-notes-{}.txt", std::process::id()));
    std::fs::write(&notes, "The lantern festival is in spring.").unwrap();
    browser.goto(&format!("{base}/servers/{GUILD}/documents")).await;
    browser.type_into("#file", notes.to_str().unwrap()).await;
    browser.click("#upload").await;
    browser.wait_for_text("Choose an embedding model", WAIT).await;

    photograph(&browser, &world, "manager").await;

    // A member without Manage Server sees the pages and is offered no change.
    browser.delete_cookies().await;
    world.discord.oauth_sign_in(UserSpec::new(BOB, "bob"));
    browser.goto(&format!("{base}/login")).await;
    browser.wait_for_text("Lantern Room", WAIT).await;
    browser.goto(&format!("{base}/servers/{GUILD}")).await;
    let overview = browser.wait_for_text("Features", WAIT).await;
    assert!(overview.contains("needs the Manage Server permission"), "{overview}");
    assert!(browser.find("#flag-tool_use").await.is_none());
    browser.goto(&format!("{base}/servers/{GUILD}/personas")).await;
    assert!(browser.find("#create").await.is_none() && browser.find("#import").await.is_none());
    photograph(&browser, &world, "member").await;

    // A page left open on the playground (its event stream open) does not hold up a shutdown.
    browser.goto(&format!("{base}/servers/{GUILD}/playground")).await;
    let pid = world.bot.0.id().to_string();
    let asked = std::time::Instant::now();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let mut world = world;
    let deadline = asked + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = world.bot.0.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the bot did not stop within 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}
