//! The platform tools against a recording fake platform and live state: what each does with good
//! arguments, and that bad ones (another user's message, a channel the member cannot see or
//! post in, a blocked channel, an ambiguous name, a file too large or not text, a URL into cloud
//! metadata) are refused with a reason and change nothing.

use std::sync::Arc;

use serde_json::{Value, json};
use tomori_core::settings::ChannelSet;
use tomori_store::Scope;
use tomori_store::audit::Actor;
use tomori_testkit::{pdf, pdf_with};
use tomori_tools::{
    AttachmentFacts, Author, Gate, MessageFacts, Perm, Place, Platform, PlatformError, Registry,
    TurnContext, platform_tools,
};

use crate::support::{
    Action, Facts, FakeLive, FakePlatform, GENERAL, HERE, INVOKER, OTHER_MESSAGE, OWN_MESSAGE,
    PLANS_THREAD, RANDOM_GAMES, Route, WAVE_STICKER, WebServer, World, media_client, pdf_reader,
    snowflake, web_routes,
};
use crate::web::run;

const THIRD_MESSAGE: u64 = 600_000_000_000_000_003;

/// A world, a fake platform and live state, and a gate over the platform tools.
struct Setup {
    world: World,
    web: WebServer,
    platform: Arc<FakePlatform>,
    live: Arc<FakeLive>,
    ctx: TurnContext,
    gate: Gate,
}

async fn setup(extra_routes: Vec<Route>) -> Setup {
    let world = World::new().await;
    let mut routes = web_routes();
    routes.extend(extra_routes);
    let web = WebServer::start(routes).await;
    let platform = FakePlatform::new(&web);
    let live = FakeLive::new(Facts::permissive());
    let mut ctx = world.turn(Arc::clone(&live));
    // A third message, the bot's own, after someone else's: ref_1 own, ref_2 other, ref_3 own.
    ctx.handles.message_handle(snowflake(THIRD_MESSAGE));
    live.set(|f| {
        f.authors.insert(snowflake(THIRD_MESSAGE), Author::PersonaWebhook);
    });
    let mut registry = Registry::new();
    platform_tools(
        &mut registry,
        &world.store,
        Arc::clone(&platform) as Arc<dyn Platform>,
        media_client(),
        pdf_reader(),
    )
    .expect("platform tools");
    Setup { world, web, platform, live, ctx, gate: Gate::new(registry) }
}

impl Setup {
    async fn call(&self, name: &str, arguments: Value) -> Result<Value, String> {
        run(&self.gate, &self.ctx, name, arguments).await
    }

    fn attach(&self, message: u64, file: AttachmentFacts) {
        self.platform.messages.lock().expect("messages").insert(
            snowflake(message),
            MessageFacts { author: Author::Other, attachments: vec![file] },
        );
    }
}

#[tokio::test]
async fn manage_message_touches_only_the_bots_own_messages() {
    let s = setup(Vec::new()).await;

    // Someone else's message: refused by the gate, nothing reaches the platform.
    let refused = s
        .call("manage_message", json!({"action": "delete", "message_id": "ref_2"}))
        .await
        .expect_err("refused");
    assert!(refused.starts_with("refused (target_not_owned)"), "{refused}");
    // A raw id instead of a handle, and a handle this turn did not issue.
    let raw = s
        .call(
            "manage_message",
            json!({"action": "delete", "message_id": OTHER_MESSAGE.to_string()}),
        )
        .await
        .expect_err("refused");
    assert!(raw.starts_with("refused (raw_id)"), "{raw}");
    let unknown = s
        .call("manage_message", json!({"action": "delete", "message_id": "ref_7"}))
        .await
        .expect_err("refused");
    assert!(unknown.starts_with("refused (unknown_target)"), "{unknown}");
    assert_eq!(s.platform.actions(), []);

    // A range skips the message the bot did not write and reports it.
    let done = s
        .call(
            "manage_message",
            json!({"action": "delete", "message_id": "ref_1", "end_message_id": "ref_3"}),
        )
        .await
        .expect("deleted");
    assert_eq!(done["deleted"], json!(["ref_1", "ref_3"]));
    assert_eq!(done["skipped"][0]["message"], "ref_2");
    assert_eq!(s.platform.actions(), [Action::Delete(OWN_MESSAGE), Action::Delete(THIRD_MESSAGE)]);

    // Edit takes one message, with content; the content is checked.
    let range = s
        .call(
            "manage_message",
            json!({"action": "edit", "message_id": "ref_1", "end_message_id": "ref_3", "content": "x"}),
        )
        .await
        .expect_err("refused");
    assert!(range.starts_with("malformed_arguments"), "{range}");
    let empty = s
        .call("manage_message", json!({"action": "edit", "message_id": "ref_1", "content": "  "}))
        .await
        .expect_err("refused");
    assert!(empty.starts_with("malformed_arguments"), "{empty}");
    s.call("manage_message", json!({"action": "edit", "message_id": "ref_3", "content": "fixed"}))
        .await
        .expect("edited");
    assert_eq!(s.platform.actions().last(), Some(&Action::Edit(THIRD_MESSAGE, "fixed".into())));

    // Pinning needs Manage Messages.
    let count = s.platform.actions().len();
    s.live.set(|f| {
        let snapshot = f.snapshot_mut();
        snapshot.bot = snapshot.bot.without(Perm::ManageMessages);
    });
    let pin = s
        .call("manage_message", json!({"action": "pin", "message_id": "ref_1"}))
        .await
        .expect_err("refused");
    assert!(pin.starts_with("bot_permission"), "{pin}");
    assert_eq!(s.platform.actions().len(), count);

    // The platform's own check at the moment of acting wins over what the gate saw.
    *s.platform.fail_next.lock().expect("fail") = Some(PlatformError::NotOwned);
    let late = s
        .call("manage_message", json!({"action": "delete", "message_id": "ref_1"}))
        .await
        .expect_err("refused");
    assert!(late.contains("target_not_owned"), "{late}");
    assert_eq!(s.platform.actions().len(), count);
}

#[tokio::test]
async fn cross_channel_messages_reach_only_channels_the_member_may_use() {
    let s = setup(Vec::new()).await;
    let send = |channel: &str| json!({"channel": channel, "message": "Hello from chat."});

    // An ambiguous name comes back as a question with the qualified names.
    let ambiguous = s.call("cross_channel_message", send("random")).await.expect_err("asked");
    assert!(ambiguous.starts_with("refused (ambiguous_target)"), "{ambiguous}");
    assert!(
        ambiguous.contains("#Games/random") && ambiguous.contains("#Work/random"),
        "{ambiguous}"
    );
    s.call("cross_channel_message", send("Games/random")).await.expect("sent");
    assert_eq!(
        s.platform.actions(),
        [Action::Send {
            channel: RANDOM_GAMES,
            content: "Hello from chat.".into(),
            reply_to: None
        }]
    );

    // A channel the member cannot see; a mention instead of a name; this very channel.
    s.live.set(|f| {
        let access = f.access_mut(GENERAL);
        access.invoker = access.invoker.without(Perm::ViewChannel);
    });
    let hidden = s.call("cross_channel_message", send("#general")).await.expect_err("refused");
    assert!(hidden.starts_with("refused (target_not_visible)"), "{hidden}");
    let mention =
        s.call("cross_channel_message", send(&format!("<#{GENERAL}>"))).await.expect_err("refused");
    assert!(mention.starts_with("refused (raw_id)"), "{mention}");
    let same = s.call("cross_channel_message", send("chat")).await.expect_err("refused");
    assert!(same.starts_with("same_channel"), "{same}");

    // A member who may see but not post there cannot post through the bot.
    s.live.set(|f| {
        let access = f.access_mut(GENERAL);
        access.invoker = access.invoker.with(Perm::ViewChannel).without(Perm::SendMessages);
    });
    let mute = s.call("cross_channel_message", send("general")).await.expect_err("refused");
    assert!(mute.starts_with("invoker_permission"), "{mute}");

    // Blocking a channel blocks it and its threads.
    s.live.set(|f| f.access_mut(GENERAL).invoker = tomori_tools::Perms::all());
    let admin = Actor::Discord(snowflake(INVOKER));
    tomori_store::settings::add_channel(
        &s.world.store,
        Scope::server(s.world.server),
        admin,
        ChannelSet::CrossChannelBlocklist,
        snowflake(GENERAL),
    )
    .await
    .expect("block general");
    for target in ["general", "plans"] {
        let blocked = s.call("cross_channel_message", send(target)).await.expect_err("blocked");
        assert!(blocked.starts_with("blocked_channel"), "{target}: {blocked}");
    }
    assert_eq!(s.platform.actions().len(), 1);

    // Nowhere to post in a direct message.
    let mut dm = s.ctx.clone();
    dm.place = Place::Dm;
    let in_dm =
        run(&s.gate, &dm, "cross_channel_message", send("general")).await.expect_err("refused");
    assert!(in_dm.starts_with("refused (wrong_context)"), "{in_dm}");
    assert_eq!(s.platform.actions().len(), 1);
}

#[tokio::test]
async fn threads_start_here_or_in_a_named_channel() {
    let s = setup(Vec::new()).await;
    s.call("create_thread", json!({"name": "Plans", "message": "Let's plan."}))
        .await
        .expect("here");
    s.call("create_thread", json!({"name": "Trip", "message": "Where to?", "channel": "general"}))
        .await
        .expect("in general");
    assert_eq!(
        s.platform.actions(),
        [
            Action::Thread { channel: HERE, name: "Plans".into(), starter: "Let's plan.".into() },
            Action::Thread { channel: GENERAL, name: "Trip".into(), starter: "Where to?".into() },
        ]
    );

    // Not inside a thread, not in a voice channel, not without the permission.
    let mut in_thread = s.ctx.clone();
    in_thread.channel = snowflake(PLANS_THREAD);
    let nested = run(&s.gate, &in_thread, "create_thread", json!({"name": "x", "message": "y"}))
        .await
        .expect_err("refused");
    assert!(nested.starts_with("refused (wrong_context)"), "{nested}");
    let long = s
        .call("create_thread", json!({"name": "n".repeat(101), "message": "y"}))
        .await
        .expect_err("refused");
    assert!(long.starts_with("malformed_arguments"), "{long}");
    s.live.set(|f| {
        let access = f.access_mut(GENERAL);
        access.bot = access.bot.without(Perm::CreatePublicThreads);
    });
    let denied = s
        .call("create_thread", json!({"name": "x", "message": "y", "channel": "general"}))
        .await
        .expect_err("refused");
    assert_eq!(denied, "bot_permission: the bot lacks CreatePublicThreads there");

    // A member who may see a channel but not start threads there cannot start one through the
    // bot, in that channel or here.
    for (channel, perm) in [
        (GENERAL, Perm::CreatePublicThreads),
        (GENERAL, Perm::SendMessagesInThreads),
        (HERE, Perm::CreatePublicThreads),
    ] {
        s.live.set(|f| {
            f.access_mut(GENERAL).bot = tomori_tools::Perms::all();
            f.access_mut(channel).invoker = tomori_tools::Perms::all().without(perm);
        });
        let target = if channel == GENERAL { json!("general") } else { json!(null) };
        let mut args = json!({"name": "x", "message": "y", "channel": target});
        if target.is_null() {
            args.as_object_mut().expect("an object").remove("channel");
        }
        let refused = s.call("create_thread", args).await.expect_err("refused");
        assert_eq!(
            refused,
            format!("invoker_permission: the member who asked lacks {} there", perm.name())
        );
        s.live.set(|f| f.access_mut(channel).invoker = tomori_tools::Perms::all());
    }
    assert_eq!(s.platform.actions().len(), 2);
}

#[tokio::test]
async fn reactions_replies_stickers_and_times() {
    let s = setup(Vec::new()).await;
    s.call(
        "interact_with_recent_message",
        json!({"action": "react", "message_id": "ref_2", "emoji": "🎉"}),
    )
    .await
    .expect("reacted");
    s.call(
        "interact_with_recent_message",
        json!({"action": "reply", "message_id": "ref_2", "content": "Good point!"}),
    )
    .await
    .expect("replied");
    let bad = s
        .call(
            "interact_with_recent_message",
            json!({"action": "react", "message_id": "ref_2", "emoji": ":tada:"}),
        )
        .await
        .expect_err("refused");
    assert!(bad.starts_with("malformed_arguments"), "{bad}");
    s.live.set(|f| {
        f.visibility.insert(
            snowflake(OTHER_MESSAGE),
            tomori_tools::Visibility { invoker: false, bot: true },
        );
    });
    let hidden = s
        .call(
            "interact_with_recent_message",
            json!({"action": "react", "message_id": "ref_2", "emoji": "🎉"}),
        )
        .await
        .expect_err("refused");
    assert!(hidden.starts_with("refused (target_not_visible)"), "{hidden}");

    let listed = s.call("select_sticker", json!({})).await.expect("listed");
    assert_eq!(listed["stickers"][0]["name"], "wave");
    assert_eq!(listed["stickers"].as_array().map(Vec::len), Some(2));
    let unknown = s.call("select_sticker", json!({"name": "dance"})).await.expect_err("unknown");
    assert!(unknown.starts_with("unknown_sticker") && unknown.contains("party"), "{unknown}");
    s.call("select_sticker", json!({"name": "Wave"})).await.expect("sent");
    assert_eq!(
        s.platform.actions(),
        [
            Action::React(OTHER_MESSAGE, "🎉".into()),
            Action::Send {
                channel: HERE,
                content: "Good point!".into(),
                reply_to: Some(OTHER_MESSAGE)
            },
            Action::Sticker { channel: HERE, sticker: WAVE_STICKER },
        ]
    );
}

fn file(name: &str, url: String, content_type: &str, size: u64) -> AttachmentFacts {
    AttachmentFacts { filename: name.into(), url, content_type: Some(content_type.into()), size }
}

#[tokio::test]
async fn read_file_reads_text_and_pdf_within_limits() {
    let long_text = "abcdefghij".repeat(6_000);
    let s = setup(vec![
        ("/report.pdf", "application/pdf", pdf_with("Quarterly numbers are up")),
        ("/long.txt", "text/plain", long_text.clone()),
    ])
    .await;

    let text = s.call("read_file", json!({"message_id": "ref_1"})).await.expect("read");
    assert_eq!(
        (text["filename"].as_str(), text["content"].as_str(), text["next_offset"].as_u64()),
        (Some("notes.txt"), Some("tea at five\nbye"), None)
    );

    s.attach(OTHER_MESSAGE, file("report.pdf", s.web.url("/report.pdf"), "application/pdf", 600));
    let pdf = s.call("read_file", json!({"message_id": "ref_2"})).await.expect("read");
    let content = pdf["content"].as_str().expect("content");
    assert!(content.contains("Quarterly numbers are up"), "{content:?}");

    s.attach(OTHER_MESSAGE, file("long.txt", s.web.url("/long.txt"), "text/plain", 60_000));
    let first = s.call("read_file", json!({"message_id": "ref_2"})).await.expect("part 1");
    assert_eq!(
        (first["total_chars"].as_u64(), first["next_offset"].as_u64()),
        (Some(60_000), Some(50_000))
    );
    let second = s
        .call("read_file", json!({"message_id": "ref_2", "offset": 50_000}))
        .await
        .expect("part 2");
    assert_eq!(second["content"].as_str().map(str::len), Some(10_000));

    // Refused before any download: too large, not text, no such file.
    let requests = s.web.requests().len();
    s.attach(OTHER_MESSAGE, file("big.txt", s.web.url("/long.txt"), "text/plain", 9 * 1024 * 1024));
    let big = s.call("read_file", json!({"message_id": "ref_2"})).await.expect_err("refused");
    assert!(big.starts_with("too_large"), "{big}");
    s.attach(OTHER_MESSAGE, file("photo.png", s.web.url("/notes.txt"), "image/png", 10));
    let image = s.call("read_file", json!({"message_id": "ref_2"})).await.expect_err("refused");
    assert!(image.starts_with("unsupported_type"), "{image}");
    let missing = s
        .call("read_file", json!({"message_id": "ref_1", "filename": "other.txt"}))
        .await
        .expect_err("refused");
    assert!(missing.starts_with("unknown_file") && missing.contains("notes.txt"), "{missing}");
    assert_eq!(s.web.requests().len(), requests);

    // Security: SSRF. An attachment URL into cloud metadata is refused by the media policy.
    s.attach(
        OTHER_MESSAGE,
        file("creds.txt", "http://169.254.169.254/latest/meta-data/".into(), "text/plain", 10),
    );
    let metadata = s.call("read_file", json!({"message_id": "ref_2"})).await.expect_err("refused");
    assert!(metadata.starts_with("blocked_by_policy"), "{metadata}");

    // A PDF the parser cannot read fails the call, not the turn.
    s.attach(OTHER_MESSAGE, file("broken.pdf", s.web.url("/notes.txt"), "application/pdf", 15));
    let broken = s.call("read_file", json!({"message_id": "ref_2"})).await.expect_err("failed");
    assert!(broken.starts_with("pdf_unreadable: this PDF could not be read"), "{broken}");
}

#[tokio::test]
async fn hostile_pdfs_stop_their_reader_and_never_the_bot() {
    // A form XObject that draws itself (the parser recursed until this process's stack
    // overflowed and it aborted) and a stream that inflates to 2 GiB (the parser allocated all
    // of it in this process).
    let s = setup(vec![
        ("/self.pdf", "application/pdf", pdf::self_drawing()),
        ("/bomb.pdf", "application/pdf", pdf::inflation_bomb(2 << 30)),
        ("/report.pdf", "application/pdf", pdf_with("Quarterly numbers are up")),
    ])
    .await;
    for name in ["self.pdf", "bomb.pdf"] {
        let url = s.web.url(&format!("/{name}"));
        s.attach(OTHER_MESSAGE, file(name, url, "application/pdf", 10_000));
        let failed = s.call("read_file", json!({"message_id": "ref_2"})).await.expect_err(name);
        assert_eq!(
            failed,
            "pdf_unreadable: this PDF could not be read (the reader stopped on it: it needs more \
             memory or time than allowed, or is malformed)",
            "{name}"
        );
    }
    // This process is alive, and the next PDF is read as usual.
    let url = s.web.url("/report.pdf");
    s.attach(OTHER_MESSAGE, file("report.pdf", url, "application/pdf", 600));
    let read = s.call("read_file", json!({"message_id": "ref_2"})).await.expect("read");
    assert!(read["content"].as_str().is_some_and(|c| c.contains("Quarterly")), "{read}");
}

#[tokio::test]
async fn message_times_come_from_the_handles() {
    let world = World::new().await;
    let mut registry = Registry::new();
    registry.register(tomori_tools::RevealMessageMetadata).expect("registers");
    let gate = Gate::new(registry);
    let ctx = world.turn(FakeLive::new(Facts::permissive()));
    let revealed = run(&gate, &ctx, "reveal_message_metadata", json!({})).await.expect("revealed");
    let messages = revealed["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["message"], "ref_1");
    let expected = tomori_tools::sent_at(snowflake(OWN_MESSAGE)).expect("a time");
    assert_eq!(messages[0]["sent_at"], expected.format("%Y-%m-%d %H:%M:%S UTC").to_string());
}
