//! The tools' platform on the fake Discord: permissions computed from roles, members and
//! overwrites; channel names; message authors; the actions and their re-checks. Then the engine
//! end to end: a fake model asks for tools, the gate judges them against what Discord says, and
//! what it refuses never reaches Discord.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tomori_chat::engine::{Engine, EngineOptions};
use tomori_chat::surface::{ChatSurface, Inbound, InboundAuthor, Outgoing, Speaker};
use tomori_core::settings::Feature;
use tomori_discord::DiscordSurface;
use tomori_discord::config::http_client;
use tomori_llm::{Endpoint, Llm, Target, Timeouts, Wire, client_for};
use tomori_net::Policy;
use tomori_store::audit::Actor;
use tomori_store::personas::{self, NewPersona};
use tomori_store::{Scope, Store, settings};
use tomori_testkit::TestDb;
use tomori_testkit::fake_discord::{
    DEFAULT_EVERYONE_PERMISSIONS, FakeDiscord, MessageCreate, Overwrite, UserSpec,
};
use tomori_testkit::fake_llm::{FakeLlm, Turn, WireFormat};
use tomori_tools::{Author, ChannelKind, Perm, Platform, PlatformError};

use crate::{ALICE, CHANNEL, DM_CHANNEL, GUILD, THREAD, WAIT, config, snowflake};

pub(crate) const BOB: u64 = 700_000_000_000_000_002;
const SECRET: u64 = 800_000_000_000_000_010;
pub(crate) const GENERAL: u64 = 800_000_000_000_000_011;
pub(crate) const RANDOM_GAMES: u64 = 800_000_000_000_000_012;
const RANDOM_WORK: u64 = 800_000_000_000_000_013;
const GAMES: u64 = 800_000_000_000_000_020;
const WORK: u64 = 800_000_000_000_000_021;
const VOICE: u64 = 800_000_000_000_000_022;
const MODS: u64 = 800_000_000_000_000_030;
const STICKER: u64 = 800_000_000_000_000_040;

const MANAGE_MESSAGES: u64 = 1 << 13;
const VIEW_CHANNEL: u64 = 1 << 10;

/// A guild: `chat` (with a thread), `secret` (hidden from @everyone, open to the bot), `general`,
/// two `random`s in the Games and Work categories and a voice channel; Alice and Bob are members,
/// Bob with the moderators' role (Manage Messages); a `wave` sticker; and a DM with Alice.
pub(crate) struct Setup {
    pub(crate) fake: FakeDiscord,
    _db: TestDb,
    pub(crate) store: Store,
    surface: DiscordSurface,
    platform: Arc<dyn Platform>,
}

pub(crate) async fn setup() -> Setup {
    let fake = FakeDiscord::start().await;
    let bot = fake.bot_user_id();
    for (channel, name) in [
        (CHANNEL, "chat"),
        (SECRET, "secret"),
        (GENERAL, "general"),
        (RANDOM_GAMES, "random"),
        (RANDOM_WORK, "random"),
    ] {
        fake.add_text_channel(GUILD, channel);
        fake.name_channel(channel, name);
    }
    fake.add_thread(GUILD, CHANNEL, THREAD);
    fake.name_channel(THREAD, "plans");
    fake.add_category(GUILD, GAMES, "Games");
    fake.add_category(GUILD, WORK, "Work");
    fake.set_category(RANDOM_GAMES, GAMES);
    fake.set_category(RANDOM_WORK, WORK);
    fake.add_other_channel(GUILD, VOICE, 2, "general");
    fake.set_overwrites(
        SECRET,
        vec![
            Overwrite { id: GUILD, member: false, allow: 0, deny: VIEW_CHANNEL },
            Overwrite { id: bot, member: true, allow: VIEW_CHANNEL, deny: 0 },
        ],
    );
    fake.add_role(GUILD, MODS, MANAGE_MESSAGES);
    fake.add_member(GUILD, ALICE, &[]);
    fake.add_member(GUILD, BOB, &[MODS]);
    fake.add_sticker(GUILD, STICKER, "wave");
    fake.add_dm_channel(DM_CHANNEL, ALICE);
    let db = TestDb::new().await;
    let store = db.store().await;
    let http = Arc::new(http_client(&config(&fake)).unwrap());
    let surface = DiscordSurface::new(http, store.clone());
    let platform = surface.platform().expect("Discord has a platform");
    Setup { fake, _db: db, store, surface, platform }
}

fn as_bot(content: &str) -> Outgoing {
    Outgoing {
        content: content.into(),
        speaker: Speaker::Bot,
        reply_to: None,
        ping_users: Vec::new(),
        files: Vec::new(),
    }
}

fn as_yui(content: &str) -> Outgoing {
    Outgoing {
        content: content.into(),
        speaker: Speaker::Persona { name: "Yui".into(), avatar_url: None },
        reply_to: None,
        ping_users: Vec::new(),
        files: Vec::new(),
    }
}

#[tokio::test]
async fn permissions_come_from_roles_members_and_overwrites() {
    let s = setup().await;
    let alice = s.platform.access(snowflake(CHANNEL), snowflake(ALICE)).await.unwrap();
    assert!(
        alice.invoker.contains(Perm::ViewChannel) && alice.invoker.contains(Perm::SendMessages)
    );
    assert!(
        !alice.invoker.contains(Perm::ManageMessages) && !alice.invoker.contains(Perm::ManageGuild)
    );
    assert!(alice.bot.contains(Perm::ViewChannel) && !alice.bot.contains(Perm::ManageMessages));
    let bob = s.platform.access(snowflake(CHANNEL), snowflake(BOB)).await.unwrap();
    assert!(bob.invoker.contains(Perm::ManageMessages));

    // The secret channel: hidden from Alice, visible to the bot through its member overwrite.
    let secret = s.platform.access(snowflake(SECRET), snowflake(ALICE)).await.unwrap();
    assert_eq!(secret.visibility(), tomori_tools::Visibility { invoker: false, bot: true });
    assert!(secret.invoker.is_empty(), "no view, no permission: {:?}", secret.invoker);

    // A thread takes its parent's rules; a DM gives both sides the DM set.
    let thread = s.platform.access(snowflake(THREAD), snowflake(ALICE)).await.unwrap();
    assert_eq!(thread, alice);
    let dm = s.platform.access(snowflake(DM_CHANNEL), snowflake(ALICE)).await.unwrap();
    assert!(dm.bot.contains(Perm::SendMessages) && !dm.bot.contains(Perm::ManageMessages));

    // The owner and a fresh Manage Server role.
    s.fake.set_owner(GUILD, ALICE);
    let owner = s.platform.access(snowflake(SECRET), snowflake(ALICE)).await.unwrap();
    assert!(owner.invoker.contains(Perm::ViewChannel) && owner.invoker.contains(Perm::ManageGuild));

    // Security: fail closed. Someone Discord does not know as a member has no answer at all.
    let stranger = s.platform.access(snowflake(CHANNEL), snowflake(700_000_000_000_000_099)).await;
    assert_eq!(stranger, Err(PlatformError::NotFound));
    // @everyone loses View Channel: the bot sees nothing either.
    s.fake.set_everyone_permissions(GUILD, DEFAULT_EVERYONE_PERMISSIONS & !VIEW_CHANNEL);
    let dark = s.platform.access(snowflake(GENERAL), snowflake(BOB)).await.unwrap();
    assert!(dark.bot.is_empty() && dark.invoker.is_empty());
}

#[tokio::test]
async fn channels_are_listed_with_their_categories() {
    let s = setup().await;
    let channels = s.platform.guild_channels(snowflake(GUILD)).await.unwrap();
    let find = |id: u64| channels.iter().find(|c| c.id == snowflake(id)).expect("listed");
    assert_eq!(
        (find(RANDOM_GAMES).name.as_str(), find(RANDOM_GAMES).parent_name.as_deref()),
        ("random", Some("Games"))
    );
    assert_eq!(find(RANDOM_WORK).parent_name.as_deref(), Some("Work"));
    assert_eq!(
        (find(THREAD).kind, find(THREAD).parent_name.as_deref()),
        (ChannelKind::Thread, Some("chat"))
    );
    assert_eq!(find(VOICE).kind, ChannelKind::Voice);
    assert_eq!(find(GAMES).kind, ChannelKind::Category);
    assert_eq!(find(CHANNEL).kind, ChannelKind::Text);
}

#[tokio::test]
async fn edits_and_deletions_reach_only_the_bots_own_and_its_personas_messages() {
    let s = setup().await;
    let own = s.surface.send(snowflake(CHANNEL), as_bot("mine")).await.unwrap();
    let persona = s.surface.send(snowflake(CHANNEL), as_yui("Yui's")).await.unwrap();
    let alice = s.fake.add_message(
        MessageCreate::new(CHANNEL, UserSpec::new(ALICE, "alice"), "hers").in_guild(GUILD),
    );
    // A foreign webhook posting under the persona's name.
    let foreign = s.fake.add_message(
        MessageCreate::new(CHANNEL, UserSpec::new(0, "Yui"), "impostor")
            .in_guild(GUILD)
            .from_webhook(800_000_000_000_000_099),
    );
    let platform = &s.platform;
    let author = |id: u64| async move {
        platform.message(snowflake(CHANNEL), snowflake(id)).await.unwrap().author
    };
    assert_eq!(author(own.get()).await, Author::Bot);
    assert_eq!(author(persona.get()).await, Author::PersonaWebhook);
    assert_eq!(author(alice).await, Author::Other);
    assert_eq!(author(foreign).await, Author::Other);

    // Someone else's message: refused, and no DELETE or PATCH is sent, whatever the bot may do.
    for target in [alice, foreign] {
        let deleted = s.platform.delete_message(snowflake(CHANNEL), snowflake(target)).await;
        assert_eq!(deleted, Err(PlatformError::NotOwned));
        let edited = s.platform.edit_message(snowflake(CHANNEL), snowflake(target), "x").await;
        assert_eq!(edited, Err(PlatformError::NotOwned));
    }
    assert!(
        !s.fake.requests().iter().any(|r| r.method == "DELETE" || r.method == "PATCH"),
        "{:?}",
        s.fake.requests().iter().map(|r| format!("{} {}", r.method, r.path)).collect::<Vec<_>>()
    );

    // The bot's own through the channel, the persona's through its webhook (no bot token).
    s.platform.edit_message(snowflake(CHANNEL), own, "mine, fixed").await.unwrap();
    s.platform.delete_message(snowflake(CHANNEL), persona).await.unwrap();
    assert_eq!(s.fake.message_state(own.get()).edits, ["mine, fixed"]);
    assert!(s.fake.message_state(persona.get()).deleted);
    let hook_delete =
        s.fake.requests().into_iter().find(|r| r.method == "DELETE").expect("the webhook deletion");
    assert!(hook_delete.path.starts_with("webhooks/"), "{}", hook_delete.path);
    assert!(!hook_delete.has_authorization());
    let edit = s.fake.requests().into_iter().find(|r| r.method == "PATCH").expect("the edit");
    assert_eq!(
        edit.body.as_ref().and_then(|b| b.get("allowed_mentions")),
        Some(&json!({"parse": []}))
    );
}

#[tokio::test]
async fn pins_reactions_threads_and_stickers_reach_discord() {
    let s = setup().await;
    let message = s.fake.add_message(
        MessageCreate::new(CHANNEL, UserSpec::new(ALICE, "alice"), "hello").in_guild(GUILD),
    );
    s.platform.pin_message(snowflake(CHANNEL), snowflake(message)).await.unwrap();
    s.platform.react(snowflake(CHANNEL), snowflake(message), "👍").await.unwrap();
    let state = s.fake.message_state(message);
    assert!(state.pinned);
    assert_eq!(state.reactions, ["👍"]);

    let thread = s.platform.create_thread(snowflake(GENERAL), "Trip", "Where to?").await.unwrap();
    let starter = s.fake.wait_for_message(|m| m.channel == thread.get(), WAIT).await;
    assert_eq!(starter.content, "Where to?");
    let channels = s.platform.guild_channels(snowflake(GUILD)).await.unwrap();
    assert!(
        channels
            .iter()
            .any(|c| c.id == thread && c.name == "Trip" && c.kind == ChannelKind::Thread)
    );

    let stickers = s.platform.guild_stickers(snowflake(GUILD)).await.unwrap();
    assert_eq!(stickers.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["wave"]);
    s.platform.send_sticker(snowflake(CHANNEL), stickers[0].id).await.unwrap();
    let sent = s.fake.wait_for_message(|m| m.stickers == [STICKER], WAIT).await;
    assert_eq!(sent.channel, CHANNEL);

    let reply = s
        .platform
        .send_message(
            snowflake(CHANNEL),
            "@everyone <@123456789012345678>",
            Some(snowflake(message)),
        )
        .await
        .unwrap();
    let reply = s.fake.wait_for_message(|m| m.id == reply.get(), WAIT).await;
    assert_eq!(reply.reply_to, Some(message));
    assert!(!reply.pings.everyone && reply.pings.users.is_empty() && !reply.pings.replied_user);
}

/// The engine over the Discord surface, with the built-in and platform tools and a fake model.
pub(crate) struct Conversation {
    pub(crate) s: Setup,
    pub(crate) engine: Engine<DiscordSurface>,
    pub(crate) llm: FakeLlm,
    next: std::sync::Mutex<u64>,
}

/// What a conversation's model sees: profile pictures served from `cdn` (a fake's) through
/// `pictures`, and a chat model with vision.
pub(crate) struct Seeing {
    pub(crate) cdn: url::Url,
    pub(crate) pictures: Arc<dyn tomori_tools::PictureLoader>,
}

async fn conversation() -> Conversation {
    conversation_with(|_| None).await
}

/// As [`conversation`], with `generate_image` drawing through what `images` makes of the store.
pub(crate) async fn conversation_with(
    images: impl FnOnce(&Store) -> Option<Arc<dyn tomori_tools::ImageMaker>>,
) -> Conversation {
    conversation_full(images, |_| None, |_| None).await
}

/// As [`conversation_with`], with `generate_video` filming through what `videos` makes of the
/// store.
pub(crate) async fn conversation_with_makers(
    images: impl FnOnce(&Store) -> Option<Arc<dyn tomori_tools::ImageMaker>>,
    videos: impl FnOnce(&Store) -> Option<Arc<dyn tomori_tools::VideoMaker>>,
) -> Conversation {
    conversation_full(images, videos, |_| None).await
}

/// As [`conversation_with`], with `peek_profile_picture` and a model that sees when `seeing`
/// gives what it needs (from the fake Discord).
pub(crate) async fn conversation_seeing(
    images: impl FnOnce(&Store) -> Option<Arc<dyn tomori_tools::ImageMaker>>,
    seeing: impl FnOnce(&FakeDiscord) -> Option<Seeing>,
) -> Conversation {
    conversation_full(images, |_| None, seeing).await
}

/// The engine with whichever makers a test gives.
async fn conversation_full(
    images: impl FnOnce(&Store) -> Option<Arc<dyn tomori_tools::ImageMaker>>,
    videos: impl FnOnce(&Store) -> Option<Arc<dyn tomori_tools::VideoMaker>>,
    seeing: impl FnOnce(&FakeDiscord) -> Option<Seeing>,
) -> Conversation {
    let s = setup().await;
    let seeing = seeing(&s.fake);
    let server = s.store.resolve_guild(snowflake(GUILD)).await.unwrap();
    let scope = Scope::server(server);
    personas::create(
        &s.store,
        scope,
        Actor::Operator,
        NewPersona {
            nickname: "Tomori".into(),
            prompt: "You are Tomori.".into(),
            ..NewPersona::default()
        },
    )
    .await
    .unwrap();
    for feature in [Feature::ToolUse, Feature::ManageMessage, Feature::CrossChannel] {
        settings::set_feature(&s.store, scope, Actor::Operator, feature, true).await.unwrap();
    }
    let llm = FakeLlm::start(WireFormat::OpenAi).await;
    let policy = Policy::operator();
    let endpoint = Endpoint::new(Wire::OpenAiCompatible, &llm.base_url(), &policy).unwrap();
    let client = client_for(policy, &Timeouts::default()).unwrap();
    let mut target = Target::new("local", "local", endpoint, "fake-model", client);
    let http = Arc::new(http_client(&config(&s.fake)).unwrap());
    let mut surface = DiscordSurface::new(http, s.store.clone());
    if let Some(seeing) = &seeing {
        surface = surface.with_cdn_base(seeing.cdn.clone());
        let sees = tomori_llm::Capabilities { vision: true, ..tomori_llm::Capabilities::default() };
        target = target.with_capabilities(sees);
    }
    let platform = surface.platform().expect("a platform");
    let peek_platform = Arc::clone(&platform);
    let engine = Engine::new(
        s.store.clone(),
        surface,
        Llm::default(),
        vec![target],
        EngineOptions { typing_every: Duration::from_secs(5), ..EngineOptions::default() },
    );
    engine.set_bot_user(snowflake(s.fake.bot_user_id()));
    let tool_client = tomori_net::Client::new(Policy::new(tomori_net::Scope::Tool)).unwrap();
    let media_client = tomori_net::Client::new(Policy::new(tomori_net::Scope::Media)).unwrap();
    let mut registry =
        tomori_tools::builtins(&s.store, tool_client.clone(), tool_client, Default::default())
            .unwrap();
    let pdf = tomori_tools::PdfExtractor::new(
        env!("CARGO_BIN_EXE_tomori-discord-extract-pdf"),
        Vec::new(),
    );
    tomori_tools::platform_tools(&mut registry, &s.store, platform, media_client, pdf).unwrap();
    if let Some(images) = images(&s.store) {
        registry.register(tomori_tools::GenerateImage::new(images)).unwrap();
    }
    if let Some(videos) = videos(&s.store) {
        registry.register(tomori_tools::GenerateVideo::new(videos)).unwrap();
    }
    if let Some(seeing) = seeing {
        let peek = tomori_tools::PeekProfilePicture::new(peek_platform, seeing.pictures);
        registry.register(peek).unwrap();
    }
    engine.set_tools(Arc::new(tomori_tools::Gate::new(registry)));
    Conversation { s, engine, llm, next: std::sync::Mutex::new(0) }
}

impl Conversation {
    /// A message in the chat channel, known to the fake's REST routes and handed to the engine.
    pub(crate) async fn say(&self, author: u64, name: &str, content: &str) -> u64 {
        self.say_in(CHANNEL, author, name, content).await
    }

    /// A message in `channel` of the guild, known to the fake and handed to the engine.
    pub(crate) async fn say_in(&self, channel: u64, author: u64, name: &str, content: &str) -> u64 {
        let bot = self.s.fake.bot_user_id();
        let id = {
            let mut next = self.next.lock().unwrap();
            *next += 1;
            900_000_000_000_000_000 + *next
        };
        self.s.fake.add_message(
            MessageCreate::new(channel, UserSpec::new(author, name), content)
                .in_guild(GUILD)
                .id(id),
        );
        self.engine
            .handle(Inbound {
                guild: Some(snowflake(GUILD)),
                guild_name: None,
                channel: snowflake(channel),
                parent_channel: None,
                category: None,
                message: snowflake(id),
                author: InboundAuthor {
                    id: snowflake(author),
                    name: name.into(),
                    is_bot: false,
                    webhook: None,
                },
                content: content.into(),
                mentions_bot: content.contains(&format!("<@{bot}>")),
                mentions: Vec::new(),
                reply_to: None,
                author_roles: Vec::new(),
                author_is_admin: false,
                attachments: Vec::new(),
            })
            .await;
        id
    }

    /// The tool results the model got back in its second request.
    pub(crate) fn tool_results(&self) -> String {
        let requests = self.llm.requests();
        assert_eq!(requests.len(), 2, "one call with tools, one after the results");
        let body: Value = serde_json::from_slice(&requests[1].body).unwrap();
        body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "tool")
            .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[tokio::test]
async fn the_model_cannot_delete_another_users_message_through_the_engine() {
    let c = conversation().await;
    let bot = c.s.fake.bot_user_id();
    c.llm.push_turn(Turn::new().tool_call(
        "call_1",
        "manage_message",
        json!({"action": "delete", "message_id": "ref_1"}),
    ));
    c.llm.push_turn(Turn::new().text("I can't delete Bob's message."));
    let bobs = c.say(BOB, "bob", "something rude").await;
    c.say(ALICE, "alice", &format!("<@{bot}> delete bob's message")).await;
    let answer = c.s.fake.wait_for_message(|m| m.content.contains("can't delete"), WAIT).await;
    assert_eq!(answer.channel, CHANNEL);
    let results = c.tool_results();
    assert!(results.contains("refused (target_not_owned)"), "{results}");
    assert!(!c.s.fake.message_state(bobs).deleted);
    assert!(!c.s.fake.requests().iter().any(|r| r.method == "DELETE"), "nothing was deleted");
}

#[tokio::test]
async fn cross_channel_messages_follow_what_the_member_may_see() {
    let c = conversation().await;
    let bot = c.s.fake.bot_user_id();
    let send = |channel: &str| json!({"channel": channel, "message": "Hello from chat."});
    c.llm.push_turn(
        Turn::new()
            .tool_call("call_1", "cross_channel_message", send("secret"))
            .tool_call("call_2", "cross_channel_message", send("random"))
            .tool_call("call_3", "cross_channel_message", send("general")),
    );
    c.llm.push_turn(Turn::new().text("Posted in general; which random did you mean?"));
    c.say(ALICE, "alice", &format!("<@{bot}> tell the others hello")).await;
    c.s.fake.wait_for_message(|m| m.content.starts_with("Posted in general"), WAIT).await;
    let results = c.tool_results();
    assert!(results.contains("refused (target_not_visible)"), "{results}");
    assert!(results.contains("refused (ambiguous_target)"), "{results}");
    assert!(results.contains("#Games/random") && results.contains("#Work/random"), "{results}");
    assert!(results.contains("sent_to"), "{results}");
    let posted: Vec<u64> =
        c.s.fake
            .messages()
            .into_iter()
            .filter(|m| m.content == "Hello from chat.")
            .map(|m| m.channel)
            .collect();
    assert_eq!(posted, [GENERAL], "only the channel Alice can see received it");
    assert!(!c.s.fake.requests().iter().any(|r| r.path == format!("channels/{SECRET}/messages")));
}

#[tokio::test]
async fn offering_tools_asks_discord_nothing_but_each_call_is_judged_by_it() {
    let c = conversation().await;
    let bot = c.s.fake.bot_user_id();
    let permission_reads = || {
        c.s.fake
            .requests()
            .iter()
            .filter(|r| {
                r.method == "GET"
                    && (r.path.contains("/members/") || r.path == format!("guilds/{GUILD}"))
            })
            .count()
    };
    c.llm.push_turn(Turn::new().text("Hello."));
    c.say(ALICE, "alice", &format!("<@{bot}> hi")).await;
    c.s.fake.wait_for_message(|m| m.content == "Hello.", WAIT).await;
    let offered = String::from_utf8_lossy(&c.llm.requests()[0].body).into_owned();
    assert!(offered.contains("manage_message"), "tools were offered: {offered}");
    assert_eq!(permission_reads(), 0, "the offer read no permissions");

    // A call is judged with what Discord says now.
    c.llm.push_turn(Turn::new().tool_call(
        "call_1",
        "interact_with_recent_message",
        json!({"message_id": "ref_1", "action": "react", "emoji": "👍"}),
    ));
    c.llm.push_turn(Turn::new().text("Done."));
    c.say(ALICE, "alice", &format!("<@{bot}> react to that")).await;
    c.s.fake.wait_for_message(|m| m.content == "Done.", WAIT).await;
    assert!(permission_reads() > 0, "the call read the permissions");
}
