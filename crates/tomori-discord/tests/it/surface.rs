//! The surface: bot messages, persona webhooks (created once, stored sealed, recreated when
//! gone), rate limits, typing, error mapping, and where the bot token may go.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::json;
use tomori_chat::surface::{ChatSurface, Outgoing, Speaker, SurfaceError};
use tomori_core::limits::Limits;
use tomori_discord::DiscordSurface;
use tomori_discord::config::http_client;
use tomori_store::webhooks::{self, ManagedWebhook};
use tomori_store::{Scope, Store};
use tomori_testkit::TestDb;
use tomori_testkit::fake_discord::{FakeDiscord, MessageCreate, RecordedRequest, UserSpec};

use crate::{ALICE, Bot, CHANNEL, DM_CHANNEL, GUILD, THREAD, WAIT, config, snowflake};

/// A fake with a guild channel, a thread under it and a direct-message channel, and a surface
/// on its own REST client over a fresh database.
struct Setup {
    fake: FakeDiscord,
    db: TestDb,
    store: Store,
    surface: DiscordSurface,
}

async fn setup() -> Setup {
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(GUILD, CHANNEL);
    fake.add_thread(GUILD, CHANNEL, THREAD);
    fake.add_dm_channel(DM_CHANNEL, ALICE);
    let db = TestDb::new().await;
    let store = db.store().await;
    let http = Arc::new(http_client(&config(&fake)).unwrap());
    let surface = DiscordSurface::new(http, store.clone());
    Setup { fake, db, store, surface }
}

fn as_bot(content: &str) -> Outgoing {
    Outgoing {
        content: content.to_owned(),
        speaker: Speaker::Bot,
        reply_to: None,
        ping_users: Vec::new(),
        files: Vec::new(),
    }
}

fn as_yui(content: &str) -> Outgoing {
    Outgoing {
        content: content.to_owned(),
        speaker: Speaker::Persona {
            name: "Yui".to_owned(),
            avatar_url: Some("https://cdn.example/yui.png".to_owned()),
        },
        reply_to: None,
        ping_users: Vec::new(),
        files: Vec::new(),
    }
}

fn executes(request: &RecordedRequest) -> bool {
    request.is("POST", "webhooks/*/*")
}

async fn stored_hook(store: &Store, channel: u64) -> Option<ManagedWebhook> {
    let scope = Scope::server(store.resolve_guild(snowflake(GUILD)).await.unwrap());
    webhooks::get(store, scope, snowflake(channel)).await.unwrap()
}

#[tokio::test]
async fn bot_messages_ping_only_listed_users_and_reply_without_failing() {
    let s = setup().await;
    let reply_to = 900_000_000_000_000_001;
    let message = Outgoing {
        content: "@everyone @here <@&5> hi <@42> and <@43>".to_owned(),
        speaker: Speaker::Bot,
        reply_to: Some(snowflake(reply_to)),
        ping_users: vec![snowflake(42)],
        files: Vec::new(),
    };
    let id = s.surface.send(snowflake(CHANNEL), message).await.unwrap();

    let request = s.fake.wait_for_request(|r| r.is("POST", "channels/*/messages"), WAIT).await;
    assert_eq!(request.path, format!("channels/{CHANNEL}/messages"));
    let body = request.body.unwrap();
    assert_eq!(body["allowed_mentions"], json!({ "parse": [], "users": ["42"] }));
    assert_eq!(body["allowed_mentions"]["parse"], json!([]), "nothing is parsed for pings");
    assert_eq!(body["message_reference"]["message_id"], reply_to.to_string());
    assert_eq!(body["message_reference"]["fail_if_not_exists"], false);
    let sent = s.fake.messages().pop().unwrap();
    assert_eq!(sent.id, id.get());
    assert!(!sent.pings.everyone && sent.pings.roles.is_empty() && !sent.pings.replied_user);
    assert_eq!(sent.pings.users, [42], "only the listed user is pinged");
}

#[tokio::test]
async fn a_persona_message_creates_the_webhook_once_and_stores_its_token_sealed() {
    let s = setup().await;
    let first = s.surface.send(snowflake(CHANNEL), as_yui("hello")).await.unwrap();
    let second = s.surface.send(snowflake(CHANNEL), as_yui("again")).await.unwrap();
    assert_ne!(first, second);

    let requests = s.fake.requests();
    let created: Vec<_> = requests.iter().filter(|r| r.is("POST", "channels/*/webhooks")).collect();
    assert_eq!(created.len(), 1, "one webhook for the channel");
    assert_eq!(created[0].body.as_ref().unwrap()["name"], "Tomori");
    let hooks = s.fake.webhooks();
    assert_eq!(hooks.len(), 1);
    let executed: Vec<_> = requests.iter().filter(|r| executes(r)).collect();
    assert_eq!(executed.len(), 2);
    for request in &executed {
        assert_eq!(request.path, format!("webhooks/{}/{}", hooks[0].id, hooks[0].token));
        assert_eq!(request.query_param("wait"), Some("true"));
        let body = request.body.as_ref().unwrap();
        assert_eq!(body["username"], "Yui");
        assert_eq!(body["avatar_url"], "https://cdn.example/yui.png");
        assert_eq!(body["allowed_mentions"], json!({ "parse": [] }));
    }
    let messages = s.fake.messages();
    assert_eq!(messages.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["hello", "again"]);
    assert!(messages.iter().all(|m| m.webhook_id == Some(hooks[0].id) && m.username == "Yui"));

    // The store gives the token back through the key ring that sealed it, and only through it.
    let stored = stored_hook(&s.store, CHANNEL).await.unwrap();
    assert_eq!(stored.webhook_id.get(), hooks[0].id);
    assert_eq!(stored.token.expose_secret(), hooks[0].token);
    let other_keys = s.db.store_with(TestDb::key_ring(&[2], Some(2)), Limits::default()).await;
    let scope = Scope::server(other_keys.resolve_guild(snowflake(GUILD)).await.unwrap());
    assert!(
        webhooks::get(&other_keys, scope, snowflake(CHANNEL)).await.is_err(),
        "sealed under key 1"
    );
}

#[tokio::test]
async fn a_gone_webhook_is_forgotten_recreated_and_the_message_still_arrives() {
    let s = setup().await;
    s.surface.send(snowflake(CHANNEL), as_yui("before")).await.unwrap();
    let old = s.fake.webhooks()[0].id;
    s.fake.make_webhook_gone(old);

    let id = s.surface.send(snowflake(CHANNEL), as_yui("after")).await.unwrap();
    let hooks = s.fake.webhooks();
    let new = hooks.iter().find(|h| !h.gone).unwrap();
    assert_ne!(new.id, old);
    let arrived = s.fake.messages().into_iter().find(|m| m.id == id.get()).unwrap();
    assert_eq!((arrived.content.as_str(), arrived.webhook_id), ("after", Some(new.id)));
    let statuses: Vec<u16> =
        s.fake.requests().iter().filter(|r| executes(r)).map(|r| r.status).collect();
    assert_eq!(statuses, [200, 404, 200]);
    assert_eq!(s.fake.requests().iter().filter(|r| r.is("POST", "channels/*/webhooks")).count(), 2);
    assert_eq!(stored_hook(&s.store, CHANNEL).await.unwrap().webhook_id.get(), new.id);
}

#[tokio::test]
async fn an_existing_webhook_of_the_bot_is_adopted_instead_of_created() {
    let s = setup().await;
    s.surface.send(snowflake(CHANNEL), as_yui("first")).await.unwrap();
    // The database loses the record (a restore, say); Discord still has the webhook.
    let scope = Scope::server(s.store.resolve_guild(snowflake(GUILD)).await.unwrap());
    webhooks::forget(&s.store, scope, snowflake(CHANNEL)).await.unwrap();

    s.surface.send(snowflake(CHANNEL), as_yui("second")).await.unwrap();
    assert_eq!(s.fake.webhooks().len(), 1);
    assert_eq!(s.fake.requests().iter().filter(|r| r.is("POST", "channels/*/webhooks")).count(), 1);
    assert_eq!(
        stored_hook(&s.store, CHANNEL).await.unwrap().webhook_id.get(),
        s.fake.webhooks()[0].id
    );
}

#[tokio::test]
async fn a_rate_limited_message_waits_for_the_reset_and_still_arrives() {
    let s = setup().await;
    let retry_after = Duration::from_millis(600);
    s.fake.rate_limit("POST", "channels/*/messages", 1, retry_after);

    let id = s.surface.send(snowflake(CHANNEL), as_bot("patience")).await.unwrap();
    let posts = s.fake.wait_for_requests(|r| r.is("POST", "channels/*/messages"), 2, WAIT).await;
    assert_eq!(posts.iter().map(|r| r.status).collect::<Vec<_>>(), [429, 200]);
    let waited = posts[1].at.duration_since(posts[0].at);
    assert!(waited >= Duration::from_millis(500), "retried after {waited:?}");
    assert_eq!(
        s.fake.messages().iter().map(|m| (m.id, m.content.as_str())).collect::<Vec<_>>(),
        [(id.get(), "patience")]
    );
}

/// A 429 with no `X-RateLimit-Scope` (Cloudflare in front of Discord, or a Discord-compatible
/// server): twilight alone retried it at once, hundreds of times per burst.
#[tokio::test]
async fn a_429_without_a_scope_is_waited_out_by_its_retry_after() {
    let s = setup().await;
    s.fake.rate_limit_unscoped_for(
        "POST",
        "channels/*/messages",
        Duration::from_millis(900),
        Duration::from_millis(400),
        false,
    );
    let id = s.surface.send(snowflake(CHANNEL), as_bot("patience")).await.unwrap();
    let posts: Vec<u16> = s
        .fake
        .requests()
        .iter()
        .filter(|r| r.is("POST", "channels/*/messages"))
        .map(|r| r.status)
        .collect();
    // Waiting 0.4 s after each 429 fits at most three attempts in the 0.9 s burst.
    assert!((2..=4).contains(&posts.len()), "{posts:?}");
    assert_eq!(posts.last(), Some(&200), "{posts:?}");
    assert_eq!(s.fake.messages().iter().map(|m| m.id).collect::<Vec<_>>(), [id.get()]);
}

#[tokio::test]
async fn a_request_that_stays_rate_limited_is_given_up_after_bounded_retries() {
    let s = setup().await;
    s.fake.rate_limit_unscoped("POST", "channels/*/messages", 50, Duration::from_millis(20), false);
    let sent = s.surface.send(snowflake(CHANNEL), as_bot("never")).await;
    assert!(sent.is_err(), "{sent:?}");
    let posts = s.fake.requests().iter().filter(|r| r.is("POST", "channels/*/messages")).count();
    assert_eq!(posts, 4, "one attempt and three retries");
    assert_eq!(s.fake.status_count(429), 4);
    assert!(s.fake.messages().is_empty());
}

/// A global 429 holds back every route until it has passed, not only the one that got it.
#[tokio::test]
async fn a_global_429_pauses_every_request() {
    let s = setup().await;
    s.fake.rate_limit_unscoped("POST", "channels/*/messages", 1, Duration::from_millis(1500), true);
    let send = s.surface.send(snowflake(CHANNEL), as_bot("later"));
    let held = async {
        s.fake
            .wait_for_request(|r| r.is("POST", "channels/*/messages") && r.status == 429, WAIT)
            .await;
        let typing = s.surface.typing(snowflake(CHANNEL));
        tokio::pin!(typing);
        // Held back while the pause lasts (a negative check: load only delays it more).
        let early = tokio::time::timeout(Duration::from_millis(300), &mut typing).await;
        assert!(early.is_err(), "typing went through during a global pause");
        assert!(s.fake.requests().iter().all(|r| !r.is("POST", "channels/*/typing")));
        typing.await
    };
    let (sent, typed) = tokio::join!(send, held);
    sent.unwrap();
    typed.unwrap();
    let statuses: Vec<u16> = s
        .fake
        .requests()
        .iter()
        .filter(|r| r.is("POST", "channels/*/messages"))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [429, 200]);
}

/// Uploads pass the REST gate whole (its body cap is Discord's, not a web framework's 2 MB).
#[tokio::test]
async fn a_large_upload_passes_the_rest_gate() {
    let s = setup().await;
    let http = http_client(&config(&s.fake)).unwrap();
    let bytes = vec![b'x'; 3 * 1024 * 1024];
    let file = twilight_model::http::attachment::Attachment::from_bytes(
        "export.json".to_owned(),
        bytes.clone(),
        1,
    );
    http.create_message(twilight_model::id::Id::new(CHANNEL))
        .content("the export")
        .attachments(&[file])
        .await
        .unwrap();
    let post = s.fake.wait_for_request(|r| r.is("POST", "channels/*/messages"), WAIT).await;
    assert_eq!(post.files.len(), 1);
    assert_eq!(post.files[0].bytes.len(), bytes.len());
}

#[tokio::test]
async fn typing_hits_the_typing_route() {
    let s = setup().await;
    s.surface.typing(snowflake(CHANNEL)).await.unwrap();
    let request = s.fake.wait_for_request(|r| r.is("POST", "channels/*/typing"), WAIT).await;
    assert_eq!(request.path, format!("channels/{CHANNEL}/typing"));
    assert!(request.has_authorization());
}

#[tokio::test]
async fn the_bot_token_never_reaches_webhook_execution() {
    let s = setup().await;
    s.surface.send(snowflake(CHANNEL), as_yui("one")).await.unwrap();
    s.fake.make_webhook_gone(s.fake.webhooks()[0].id);
    s.surface.send(snowflake(CHANNEL), as_yui("two")).await.unwrap();
    s.surface.send(snowflake(THREAD), as_yui("three")).await.unwrap();

    let requests = s.fake.requests();
    let executions: Vec<_> = requests.iter().filter(|r| r.path.starts_with("webhooks/")).collect();
    assert_eq!(executions.len(), 4);
    let token = s.fake.token();
    for request in executions {
        assert!(!request.has_authorization(), "{} carried Authorization", request.method);
        let seen = format!("{:?} {:?} {:?}", request.query, request.headers, request.body);
        assert!(!seen.contains(token), "the bot token leaked into a webhook request");
    }
    // Every other route is the bot's own and carries its token.
    assert!(
        requests
            .iter()
            .filter(|r| !r.path.starts_with("webhooks/"))
            .all(RecordedRequest::has_authorization)
    );
}

#[tokio::test]
async fn discord_errors_map_to_surface_errors() {
    let s = setup().await;
    s.fake.fail("POST", "channels/*/messages", 1, 403, 50013, "Missing Permissions");
    let forbidden = s.surface.send(snowflake(CHANNEL), as_bot("hi")).await;
    assert!(matches!(forbidden, Err(SurfaceError::Forbidden("Send Messages"))), "{forbidden:?}");

    let unknown = s.surface.send(snowflake(555), as_bot("hi")).await;
    assert!(matches!(unknown, Err(SurfaceError::NotFound)), "{unknown:?}");

    s.fake.fail("POST", "channels/*/messages", 1, 500, 0, "500: Internal Server Error");
    let failing = s.surface.send(snowflake(CHANNEL), as_bot("hi")).await;
    assert!(matches!(failing, Err(SurfaceError::Unavailable(_))), "{failing:?}");

    s.fake.fail("POST", "channels/*/typing", 1, 403, 50013, "Missing Permissions");
    assert!(matches!(s.surface.typing(snowflake(CHANNEL)).await, Err(SurfaceError::Forbidden(_))));

    // A persona message into a channel the bot cannot see.
    let hidden = s.surface.send(snowflake(556), as_yui("hi")).await;
    assert!(matches!(hidden, Err(SurfaceError::NotFound)), "{hidden:?}");
}

#[tokio::test]
async fn in_direct_messages_an_alter_speaks_as_the_bot_with_a_label() {
    let s = setup().await;
    s.surface.send(snowflake(DM_CHANNEL), as_yui("hello there")).await.unwrap();
    let sent = s.fake.messages().pop().unwrap();
    assert_eq!(
        (sent.channel, sent.webhook_id, sent.content.as_str()),
        (DM_CHANNEL, None, "**Yui**: hello there")
    );
    assert!(s.fake.requests().iter().all(|r| !r.path.contains("webhooks")));

    // Label and text together over Discord's limit go out as two messages, nothing cut.
    let long = "a".repeat(1995);
    s.surface.send(snowflake(DM_CHANNEL), as_yui(&long)).await.unwrap();
    let contents: Vec<String> = s.fake.messages().into_iter().skip(1).map(|m| m.content).collect();
    assert_eq!(contents, ["**Yui**:".to_owned(), long]);
}

#[tokio::test]
async fn without_manage_webhooks_an_alter_speaks_as_the_bot_with_a_label() {
    let s = setup().await;
    s.fake.fail("GET", "channels/*/webhooks", 1, 403, 50013, "Missing Permissions");
    s.surface.send(snowflake(CHANNEL), as_yui("hi")).await.unwrap();
    let sent = s.fake.messages().pop().unwrap();
    assert_eq!((sent.webhook_id, sent.content.as_str()), (None, "**Yui**: hi"));
    assert!(stored_hook(&s.store, CHANNEL).await.is_none());
}

#[tokio::test]
async fn in_a_thread_an_alter_uses_the_parent_channels_webhook() {
    let s = setup().await;
    s.surface.send(snowflake(THREAD), as_yui("in the thread")).await.unwrap();
    let hook = &s.fake.webhooks()[0];
    assert_eq!(hook.channel, CHANNEL);
    let execute = s.fake.wait_for_request(executes, WAIT).await;
    assert_eq!(execute.query_param("thread_id"), Some(THREAD.to_string().as_str()));
    let sent = s.fake.messages().pop().unwrap();
    assert_eq!((sent.channel, sent.webhook_id), (THREAD, Some(hook.id)));
    assert!(stored_hook(&s.store, CHANNEL).await.is_some(), "stored under the parent channel");
}

#[tokio::test]
async fn the_gateway_tells_the_surface_where_channels_are() {
    let s = setup().await;
    let discord = tomori_discord::Discord::connect(&config(&s.fake)).await.unwrap();
    let surface = discord.surface(s.store.clone());
    let mut bot = Bot::start(discord);
    s.fake.wait_for_ready(0, WAIT).await;
    // GUILD_CREATE (sent before this message) announced the thread and its parent.
    s.fake.inject_message(
        MessageCreate::new(THREAD, UserSpec::new(ALICE, "alice"), "hi").in_guild(GUILD),
    );
    assert_eq!(bot.next().await.parent_channel, Some(snowflake(CHANNEL)));

    surface.send(snowflake(THREAD), as_yui("no lookup needed")).await.unwrap();
    assert!(
        s.fake.requests().iter().all(|r| !r.is("GET", "channels/*")),
        "no channel lookups over REST"
    );
    let echoed = bot.next().await;
    assert_eq!(echoed.content, "no lookup needed");
    assert_eq!(echoed.author.webhook, Some(snowflake(s.fake.webhooks()[0].id)));
    bot.shutdown().await.unwrap();
}
