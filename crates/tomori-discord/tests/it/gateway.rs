//! The gateway: connecting, IDENTIFY and READY, event mapping, sharding, resume, shutdown.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::mpsc;
use tomori_chat::surface::{Attachment, Inbound, InboundAuthor, InboundReply};
use tomori_discord::{ConnectError, Discord, INTENTS, InboundHandler, ShardRange};
use tomori_testkit::fake_discord::{
    AttachmentSpec, FakeDiscord, MemberSpec, MessageCreate, UserSpec,
};
use url::Url;

use crate::{ALICE, Bot, CHANNEL, DM_CHANNEL, GUILD, THREAD, WAIT, config, run, snowflake};

#[tokio::test]
async fn the_shard_identifies_with_the_token_and_intents_and_shuts_down_cleanly() {
    let fake = FakeDiscord::start().await;
    let config = config(&fake);
    let discord = Discord::connect(&config).await.unwrap();
    assert_eq!(discord.shards(), [(0, 1)]);
    for debug in [format!("{config:?}"), format!("{discord:?}")] {
        assert!(!debug.contains(fake.token()), "the token is redacted in Debug output");
    }
    assert_eq!(discord.bot_user().map(|id| id.get()), Some(fake.bot_user_id()));
    let bot = Bot::start(discord);

    let identify = fake.wait_for_frame(|f| f.op == 2, WAIT).await;
    let data = &identify.payload["d"];
    assert_eq!(data["token"], format!("Bot {}", fake.token()));
    assert_eq!(data["intents"].as_u64(), Some(INTENTS.bits()));
    assert_eq!(data["shard"], json!([0, 1]));
    fake.wait_for_ready(0, WAIT).await;
    let query = &fake.gateway_connections()[0];
    assert!(query.contains("v=10") && query.contains("encoding=json"), "{query}");
    let bot_token = format!("Bot {}", fake.token());
    for path in ["users/@me", "gateway/bot"] {
        let request = fake.requests().into_iter().find(|r| r.path == path).expect(path);
        assert_eq!(request.header("authorization"), Some(bot_token.as_str()), "{path}");
    }

    let closing = Instant::now();
    bot.shutdown().await.unwrap();
    assert!(closing.elapsed() < Duration::from_secs(3), "the gateway acknowledged the close");
}

#[tokio::test]
async fn injected_messages_reach_the_handler_mapped() {
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(GUILD, CHANNEL);
    fake.add_thread(GUILD, CHANNEL, THREAD);
    let mut bot = Bot::start(Discord::connect(&config(&fake)).await.unwrap());
    fake.wait_for_ready(0, WAIT).await;
    let me = UserSpec::new(fake.bot_user_id(), "Tomori");
    let alice = UserSpec::new(ALICE, "alice");
    let (webhook, replied, role) =
        (600_000_000_000_000_001, 600_000_000_000_000_002, 600_000_000_000_000_003);

    // A mention of the bot that replies to a persona's webhook message, with an attachment.
    let content = format!("<@{}> look at this", fake.bot_user_id());
    let id = fake.inject_message(
        MessageCreate::new(CHANNEL, alice.clone(), &content)
            .in_guild(GUILD)
            .mention(me)
            .reply_to_webhook(replied, webhook, "Yui")
            .member(MemberSpec {
                roles: vec![role],
                nick: Some("Ali".to_owned()),
                permissions: None,
            })
            .attachment(AttachmentSpec {
                id: 1,
                filename: "cat.png".to_owned(),
                url: "http://127.0.0.1:9/cat.png".to_owned(),
                content_type: Some("image/png".to_owned()),
                size: 1234,
            }),
    );
    assert_eq!(
        bot.next().await,
        Inbound {
            guild: Some(snowflake(GUILD)),
            // Learned from GUILD_CREATE.
            guild_name: Some(format!("guild-{GUILD}")),
            channel: snowflake(CHANNEL),
            parent_channel: None,
            category: None,
            message: snowflake(id),
            author: InboundAuthor {
                id: snowflake(ALICE),
                name: "Ali".to_owned(),
                is_bot: false,
                webhook: None,
            },
            content,
            mentions_bot: true,
            mentions: vec![snowflake(fake.bot_user_id())],
            reply_to: Some(InboundReply {
                message: snowflake(replied),
                author: snowflake(webhook),
                webhook: Some(snowflake(webhook)),
                webhook_name: Some("Yui".to_owned()),
            }),
            author_roles: vec![snowflake(role)],
            author_is_admin: false,
            attachments: vec![Attachment {
                url: "http://127.0.0.1:9/cat.png".to_owned(),
                filename: "cat.png".to_owned(),
                content_type: Some("image/png".to_owned()),
                size: 1234,
            }],
        }
    );

    // A webhook's message is identified by the webhook, whatever name it posts under.
    fake.inject_message(
        MessageCreate::new(CHANNEL, UserSpec::new(1, "Totally Alice"), "hi")
            .in_guild(GUILD)
            .from_webhook(webhook),
    );
    let from_webhook = bot.next().await;
    assert_eq!(
        from_webhook.author,
        InboundAuthor {
            id: snowflake(webhook),
            name: "Totally Alice".to_owned(),
            is_bot: true,
            webhook: Some(snowflake(webhook)),
        }
    );
    assert!(!from_webhook.mentions_bot);

    // A reply to a user's message, in a thread that GUILD_CREATE announced.
    fake.inject_message(
        MessageCreate::new(THREAD, alice.clone(), "in a thread")
            .in_guild(GUILD)
            .reply_to(replied, alice.clone()),
    );
    let in_thread = bot.next().await;
    assert_eq!(in_thread.parent_channel, Some(snowflake(CHANNEL)));
    assert_eq!(
        in_thread.reply_to,
        Some(InboundReply {
            message: snowflake(replied),
            author: snowflake(ALICE),
            webhook: None,
            webhook_name: None
        })
    );

    // A direct message.
    fake.inject_message(MessageCreate::new(DM_CHANNEL, alice, "psst"));
    let direct = bot.next().await;
    assert_eq!(
        (direct.guild, direct.channel, direct.content.as_str()),
        (None, snowflake(DM_CHANNEL), "psst")
    );

    bot.shutdown().await.unwrap();
}

#[tokio::test]
async fn recommended_shards_identify_and_guild_events_reach_their_shard() {
    let fake = FakeDiscord::builder().shards(2).max_concurrency(16).start().await;
    let discord = Discord::connect(&config(&fake)).await.unwrap();
    assert_eq!(discord.shards(), [(0, 2), (1, 2)]);
    let mut bot = Bot::start(discord);
    fake.wait_for_ready(0, WAIT).await;
    fake.wait_for_ready(1, WAIT).await;
    let shards: Vec<_> = fake
        .frames()
        .iter()
        .filter(|f| f.op == 2)
        .map(|f| f.payload["d"]["shard"].clone())
        .collect();
    assert!(shards.contains(&json!([0, 2])) && shards.contains(&json!([1, 2])), "{shards:?}");

    // Discord routes a guild to shard (id >> 22) % total; the fake does too.
    for guild in [1000_u64 << 22, 1001 << 22] {
        fake.inject_message(
            MessageCreate::new(CHANNEL, UserSpec::new(ALICE, "alice"), "hi").in_guild(guild),
        );
        assert_eq!(bot.next().await.guild, Some(snowflake(guild)));
    }
    bot.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_configured_gateway_and_shard_range_skip_discovery() {
    let fake = FakeDiscord::start().await;
    let mut config = config(&fake);
    config.gateway_url = Some(Url::parse(&fake.gateway_url()).unwrap());
    config.shards = Some(ShardRange::new(1, 1, 2).unwrap());
    let discord = Discord::connect(&config).await.unwrap();
    assert_eq!(discord.shards(), [(1, 2)]);
    let bot = Bot::start(discord);
    let identify = fake.wait_for_frame(|f| f.op == 2, WAIT).await;
    assert_eq!(identify.payload["d"]["shard"], json!([1, 2]));
    assert!(fake.requests().iter().all(|r| r.path != "gateway/bot"));
    bot.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_reconnect_request_resumes_the_session() {
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(GUILD, CHANNEL);
    let mut bot = Bot::start(Discord::connect(&config(&fake)).await.unwrap());
    fake.wait_for_ready(0, WAIT).await;
    let identify = fake.wait_for_frame(|f| f.op == 2, WAIT).await;

    fake.request_reconnect(0);
    let resume = fake.wait_for_frame(|f| f.op == 6, WAIT).await;
    assert_ne!(resume.connection, identify.connection, "a new connection");
    assert!(
        resume.payload["d"]["session_id"].as_str().is_some_and(|s| s.starts_with("fake-session-"))
    );
    assert_eq!(resume.payload["d"]["token"], format!("Bot {}", fake.token()));
    assert_eq!(fake.frames().iter().filter(|f| f.op == 2).count(), 1, "no second IDENTIFY");

    fake.inject_message(
        MessageCreate::new(CHANNEL, UserSpec::new(ALICE, "alice"), "still there?").in_guild(GUILD),
    );
    assert_eq!(bot.next().await.content, "still there?");
    bot.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_refused_token_fails_before_the_gateway() {
    let fake = FakeDiscord::start().await;
    let mut config = config(&fake);
    config.token = "not-the-token".to_owned().into();
    assert!(matches!(Discord::connect(&config).await, Err(ConnectError::Unauthorized)));
    assert!(fake.gateway_connections().is_empty());
}

/// Panics on "boom", records everything else.
struct Fragile {
    seen: mpsc::UnboundedSender<String>,
}

impl InboundHandler for Fragile {
    async fn on_message(&self, message: Inbound) {
        if message.content == "boom" {
            panic!("the handler blew up");
        }
        let _ = self.seen.send(message.content);
    }
}

#[tokio::test]
async fn a_panicking_handler_does_not_stop_the_shard() {
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(GUILD, CHANNEL);
    let (seen, mut received) = mpsc::unbounded_channel();
    let discord = Discord::connect(&config(&fake)).await.unwrap();
    let (stop, task) = run(discord, Fragile { seen });
    fake.wait_for_ready(0, WAIT).await;
    let alice = UserSpec::new(ALICE, "alice");
    fake.inject_message(MessageCreate::new(CHANNEL, alice.clone(), "boom").in_guild(GUILD));
    fake.inject_message(MessageCreate::new(CHANNEL, alice, "after").in_guild(GUILD));
    let next = tokio::time::timeout(WAIT, received.recv()).await.unwrap();
    assert_eq!(next.as_deref(), Some("after"));
    let _ = stop.send(());
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap().unwrap();
}

/// A server that accepts the WebSocket and closes it at once got thousands of connections a
/// second from twilight alone; every close now waits, longer each time.
#[tokio::test]
async fn a_server_that_closes_every_connection_at_once_is_retried_with_backoff() {
    let fake = FakeDiscord::start().await;
    fake.close_new_connections(4000, Duration::from_millis(2500));
    let bot = Bot::start(Discord::connect(&config(&fake)).await.unwrap());
    fake.wait_for_ready(0, Duration::from_secs(30)).await;
    // Waits of 0, 0.5–1, 1–2 and 2–4 s fit at most four connections in the 2.5 s of closes, and
    // the one after them is READY.
    let connections = fake.gateway_connections().len();
    assert!((2..=5).contains(&connections), "{connections} connections");
    bot.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_fatal_close_stops_the_shard_with_a_sentence_the_operator_can_act_on() {
    let fake = FakeDiscord::start().await;
    fake.close_new_connections(4014, Duration::from_secs(60));
    let bot = Bot::start(Discord::connect(&config(&fake)).await.unwrap());
    let ended = tokio::time::timeout(WAIT, bot.task).await.expect("the shard stops").unwrap();
    let error = ended.expect_err("a fatal close is an error").to_string();
    assert!(
        error.contains(
            "close code 4014: turn on the Message Content intent on the Bot page (Discord developer portal)"
        ),
        "{error}"
    );
    assert_eq!(fake.gateway_connections().len(), 1, "no reconnecting after a fatal close");
}

/// READY names where to resume; one that would carry the token in clear text off this machine
/// is not used, and the session resumes at the configured gateway.
#[tokio::test]
async fn a_clear_text_resume_url_off_this_machine_is_not_used() {
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(GUILD, CHANNEL);
    fake.set_resume_url("ws://gateway.example");
    let mut bot = Bot::start(Discord::connect(&config(&fake)).await.unwrap());
    let identify = fake.wait_for_frame(|f| f.op == 2, WAIT).await;
    let resume = fake.wait_for_frame(|f| f.op == 6, WAIT).await;
    assert_ne!(resume.connection, identify.connection);
    assert_eq!(fake.frames().iter().filter(|f| f.op == 2).count(), 1, "no second IDENTIFY");
    assert!(fake.gateway_connections().len() >= 2);
    fake.inject_message(
        MessageCreate::new(CHANNEL, UserSpec::new(ALICE, "alice"), "still there?").in_guild(GUILD),
    );
    assert_eq!(bot.next().await.content, "still there?");
    bot.shutdown().await.unwrap();
}

/// A server the bot joins while it runs gets one setup note in its system channel (when the bot
/// may post there); the servers READY lists, whose GUILD_CREATEs follow at startup, get nothing.
#[tokio::test]
async fn a_newly_joined_server_gets_one_setup_note_and_startup_servers_none() {
    const JOINED: u64 = 810_000_000_000_000_001;
    const JOINED_CHANNEL: u64 = 810_000_000_000_000_002;
    const MUTED: u64 = 820_000_000_000_000_001;
    const MUTED_CHANNEL: u64 = 820_000_000_000_000_002;
    const SECOND: u64 = 830_000_000_000_000_001;
    const SECOND_CHANNEL: u64 = 830_000_000_000_000_002;
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(GUILD, CHANNEL);
    fake.set_system_channel(GUILD, CHANNEL);
    let bot = Bot::start(Discord::connect(&config(&fake)).await.unwrap());
    fake.wait_for_ready(0, WAIT).await;

    // Joined later, but the bot may only read its system channel: the note is logged instead.
    fake.add_text_channel(MUTED, MUTED_CHANNEL);
    fake.set_system_channel(MUTED, MUTED_CHANNEL);
    fake.set_everyone_permissions(MUTED, 0x400);
    assert!(fake.announce_guild(MUTED));
    fake.add_text_channel(JOINED, JOINED_CHANNEL);
    fake.set_system_channel(JOINED, JOINED_CHANNEL);
    assert!(fake.announce_guild(JOINED));
    let note = fake.wait_for_message(|m| m.channel == JOINED_CHANNEL, WAIT).await;
    assert!(note.content.contains("/config setup"), "{}", note.content);
    assert_eq!(note.allowed_mentions.as_ref().and_then(|m| m.get("parse")), Some(&json!([])));
    // Events are handled in order: the startup guild and the muted one came first.
    assert_eq!(fake.messages().len(), 1, "{:?}", fake.messages());
    // Announced again (a GUILD_CREATE after an outage, say): not new. A second new server
    // after it is greeted, so the repeat has been handled by then.
    assert!(fake.announce_guild(JOINED));
    assert!(fake.announce_guild(GUILD));
    fake.add_text_channel(SECOND, SECOND_CHANNEL);
    fake.set_system_channel(SECOND, SECOND_CHANNEL);
    assert!(fake.announce_guild(SECOND));
    fake.wait_for_message(|m| m.channel == SECOND_CHANNEL, WAIT).await;
    let channels: Vec<u64> = fake.messages().iter().map(|m| m.channel).collect();
    assert_eq!(channels, [JOINED_CHANNEL, SECOND_CHANNEL]);
    bot.shutdown().await.unwrap();
}
