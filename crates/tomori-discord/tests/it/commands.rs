//! Slash commands through the fake Discord: registration, permission refusals that change
//! nothing, the happy paths of each group, bad input, and deferring.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::Value;
use tomori_chat::engine::{CompactError, Snapshot, SnapshotModel};
use tomori_chat::surface::{Inbound, SurfaceError};
use tomori_core::id::{LineageId, Snowflake};
use tomori_core::settings::{ChannelSet, Feature};
use tomori_discord::{BotControl, Discord};
use tomori_store::audit::Actor;
use tomori_store::personas::{self, NewPersona};
use tomori_store::quotas::{self, QuotaKind};
use tomori_store::{Scope, Store, memories, settings};
use tomori_testkit::fake_discord::{FakeDiscord, FakeInteraction, SlashCommand, UserSpec};
use tomori_testkit::{TestDb, audit_actions};

use crate::{ALICE, Bot, CHANNEL, DM_CHANNEL, GUILD, WAIT, config, snowflake};

pub(crate) const BOB: u64 = 700_000_000_000_000_002;
pub(crate) const OTHER_CHANNEL: u64 = 800_000_000_000_000_009;

/// Discord's permission bits.
pub(crate) const VIEW_AND_SEND: u64 = 0x400 | 0x800;
const MANAGE_CHANNELS_ROLES_WEBHOOKS: u64 = VIEW_AND_SEND | 0x10 | 0x1000_0000 | 0x2000_0000;
const MANAGE_MESSAGES: u64 = VIEW_AND_SEND | 0x2000;
pub(crate) const MANAGE_GUILD: u64 = VIEW_AND_SEND | 0x20;
const ADMINISTRATOR: u64 = 0x8;

/// The engine as the commands see it: records what it was asked.
#[derive(Default)]
pub(crate) struct Control {
    kills: Mutex<Vec<Snowflake>>,
    pub(crate) responds: Mutex<Vec<(Inbound, Option<String>)>>,
    pub(crate) refreshed: Mutex<Vec<Snowflake>>,
}

impl BotControl for Control {
    fn kill(&self, channel: Snowflake) -> bool {
        self.kills.lock().unwrap_or_else(PoisonError::into_inner).push(channel);
        true
    }

    fn respond(&self, message: Inbound, persona: Option<String>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // A planning step that takes a moment, as the engine's does.
            tokio::time::sleep(Duration::from_millis(50)).await;
            self.responds.lock().unwrap_or_else(PoisonError::into_inner).push((message, persona));
        })
    }

    fn refresh(&self, channel: Snowflake) -> BoxFuture<'_, Result<(), SurfaceError>> {
        self.refreshed.lock().unwrap_or_else(PoisonError::into_inner).push(channel);
        Box::pin(async { Ok(()) })
    }

    fn compact(&self, _message: Inbound) -> BoxFuture<'_, Result<usize, CompactError>> {
        Box::pin(async { Err(CompactError::Empty) })
    }

    fn prompt_snapshot(&self, message: Inbound) -> BoxFuture<'_, Option<Snapshot>> {
        Box::pin(async move {
            let said =
                format!("[ref_1] {}: my key is sk-live-0123456789abcdefXYZ", message.author.name);
            Some(Snapshot {
                text: format!("## System\nYou are Tomori.\n\n## User\n{said}"),
                json: serde_json::json!({
                    "system": ["You are Tomori."],
                    "messages": [{ "role": "user", "content": said }],
                }),
                model: Some(SnapshotModel {
                    provider: "openai".to_owned(),
                    model: "gpt-4o-mini".to_owned(),
                    label: "openai · gpt-4o-mini".to_owned(),
                }),
                input_tokens: 10_000,
                output_tokens: 1_000,
            })
        })
    }

    fn withhold_author(&self, _user: Snowflake) {}
}

pub(crate) struct World {
    pub(crate) fake: FakeDiscord,
    pub(crate) db: TestDb,
    pub(crate) store: Store,
    pub(crate) server: Scope,
    pub(crate) control: Arc<Control>,
    bot: Option<Bot>,
}

impl Drop for World {
    fn drop(&mut self) {
        // The bot's task ends with the runtime; stopping it early keeps the logs quiet.
        if let Some(bot) = self.bot.take() {
            let _ = bot.stop.send(());
        }
    }
}

/// A guild with the main persona Tomori and the alter Kaede, and a bot running the commands.
pub(crate) async fn world_with(defer_after: Option<Duration>) -> World {
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(GUILD, CHANNEL);
    fake.add_text_channel(GUILD, OTHER_CHANNEL);
    fake.add_dm_channel(DM_CHANNEL, ALICE);
    let db = TestDb::new().await;
    let store = db.store().await;
    let server = Scope::server(store.resolve_guild(snowflake(GUILD)).await.unwrap());
    for name in ["Tomori", "Kaede"] {
        let new = NewPersona { nickname: name.to_owned(), ..NewPersona::default() };
        personas::create(&store, server, Actor::Operator, new).await.unwrap();
    }
    let discord = Discord::connect(&config(&fake)).await.unwrap();
    let control = Arc::new(Control::default());
    // Uploads are served by the fake on loopback; the test media policy may reach it.
    let media = tomori_net::Client::new(
        tomori_net::Policy::new(tomori_net::Scope::Media).allow_loopback_for_tests(),
    )
    .unwrap();
    let mut commands = discord
        .commands(store.clone(), Arc::clone(&control) as Arc<dyn BotControl>)
        .media_client(media);
    if let Some(after) = defer_after {
        commands = commands.defer_after(after);
    }
    let bot = Bot::start(discord.with_commands(commands));
    fake.wait_for_ready(0, WAIT).await;
    World { fake, db, store, server, control, bot: Some(bot) }
}

pub(crate) async fn world() -> World {
    world_with(None).await
}

pub(crate) fn alice() -> UserSpec {
    UserSpec::new(ALICE, "alice")
}

pub(crate) fn bob() -> UserSpec {
    UserSpec::new(BOB, "bob")
}

/// `/path` by `user` in the guild channel with `permissions`.
pub(crate) fn slash(user: UserSpec, permissions: u64, path: &str) -> SlashCommand {
    SlashCommand::new(CHANNEL, user, path).in_guild(GUILD, permissions)
}

impl World {
    /// Injects a command and waits for its answer.
    pub(crate) async fn run(&self, command: SlashCommand) -> FakeInteraction {
        let id = self.fake.inject_command(command);
        self.fake.wait_for_interaction(id, FakeInteraction::answered, WAIT).await
    }

    pub(crate) async fn answer(&self, command: SlashCommand) -> String {
        let answered = self.run(command).await;
        assert!(answered.ephemeral, "answers are ephemeral: {answered:?}");
        assert_eq!(
            answered.allowed_mentions.as_ref().and_then(|m| m.get("parse")),
            Some(&Value::Array(Vec::new())),
            "answers ping nobody"
        );
        answered.content.unwrap()
    }

    /// Everything the commands could change in the guild, for before-and-after comparisons.
    pub(crate) async fn snapshot(&self) -> String {
        let personas = personas::list(&self.store, self.server).await.unwrap();
        let mut state = format!("{personas:?}\n");
        for persona in &personas {
            let memories =
                memories::list_server(&self.store, self.server, persona.lineage).await.unwrap();
            state.push_str(&format!("{memories:?}\n"));
        }
        state.push_str(&format!("{:?}\n", settings::get(&self.store, self.server).await.unwrap()));
        for set in [ChannelSet::Whitelist, ChannelSet::Rp, ChannelSet::AutoTrigger] {
            let channels = settings::channels(&self.store, self.server, set).await.unwrap();
            state.push_str(&format!("{channels:?}\n"));
        }
        for kind in [QuotaKind::Text, QuotaKind::Image, QuotaKind::Video] {
            let limits = quotas::limits(&self.store, self.server, kind).await.unwrap();
            state.push_str(&format!("{limits:?}\n"));
        }
        state.push_str(&format!("{:?}", audit_actions(&self.db).await));
        state
    }

    async fn main_lineage(&self) -> LineageId {
        personas::find(&self.store, self.server, "Tomori").await.unwrap().unwrap().lineage
    }
}

#[tokio::test]
async fn registration_sends_every_command_with_its_options_and_permission_hints() {
    let w = world().await;
    let control: Arc<dyn BotControl> = Arc::new(Control::default());
    let discord = Discord::connect(&config(&w.fake)).await.unwrap();
    let commands = discord.commands(w.store.clone(), control);

    let names = commands.register(None).await.unwrap();
    assert_eq!(
        names,
        [
            "persona", "memory", "server", "personal", "bot", "config", "provider", "model",
            "preset", "tool", "mcp", "generate"
        ]
    );
    let sent = w.fake.registered_commands(None);
    let field = |name: &str, key: &str| {
        sent.iter().find(|c| c["name"] == name).map(|c| c[key].clone()).unwrap()
    };
    let options = |value: Value| -> Vec<String> {
        value.as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(
        options(field("persona", "options")),
        [
            "create",
            "list",
            "rename",
            "remove",
            "import",
            "export",
            "prompt",
            "attribute",
            "sample-dialogue",
            "trigger",
            "avatar",
            "swap",
            "show",
            "lorebook",
            "model"
        ]
    );
    assert_eq!(options(field("memory", "options")), ["server", "personal", "document"]);
    assert_eq!(
        options(field("memory", "options")[0]["options"].clone()),
        ["add", "edit", "list", "export", "import", "remove"]
    );
    assert_eq!(
        options(field("server", "options")),
        [
            "feature",
            "channel",
            "cooldown",
            "trigger-words",
            "always-reply",
            "deliberate-mode",
            "auto-trigger-range",
            "member-teaching",
            "byok-required",
            "deliberate-tools",
            "quota",
            "role",
            "blacklist",
            "channel-persona",
            "channel-prompt",
            "channel-model",
            "overrides",
            "tool-trigger",
            "short-term"
        ]
    );
    // Secrets are never options: they are typed into forms.
    let mcp_add = field("mcp", "options")[0]["options"].clone();
    assert_eq!(options(mcp_add), ["name", "url"]);
    assert_eq!(
        options(field("config", "options")),
        [
            "system-prompt",
            "cascade-limit",
            "match-limit",
            "message-fetch-limit",
            "send-limit",
            "humanizer",
            "setup",
            "timezone",
            "context-note",
            "thought-log"
        ]
    );
    assert_eq!(options(field("bot", "options")), ["kill", "respond", "generate"]);
    assert_eq!(
        options(field("preset", "options")),
        ["import", "list", "show", "switch", "toggle", "remove"]
    );
    let bot_image = field("bot", "options")[2]["options"][0]["options"].clone();
    assert_eq!(options(bot_image), ["persona", "size"]);
    assert_eq!(options(field("generate", "options")), ["image", "video"]);
    let image = field("generate", "options")[0]["options"].clone();
    assert_eq!(options(image), ["prompt", "persona", "size"]);
    let video = field("generate", "options")[1]["options"].clone();
    assert_eq!(options(video), ["prompt", "persona", "shape"]);
    // The hint hides admin commands from members by default; the check in code is what counts.
    for (name, hint) in [
        ("persona", "32"),
        ("server", "32"),
        ("config", "32"),
        ("provider", "32"),
        ("model", "32"),
        ("preset", "32"),
        ("mcp", "32"),
    ] {
        assert_eq!(field(name, "default_member_permissions"), hint, "{name}");
    }
    for name in ["memory", "personal", "bot", "tool", "generate"] {
        assert_eq!(field(name, "default_member_permissions"), Value::Null, "{name}");
    }
    let flags = field("server", "options")[0]["options"][0]["choices"].clone();
    assert_eq!(flags.as_array().unwrap().len(), Feature::ALL.len());
    for flag in ["image_gen", "video_gen"] {
        assert!(flags.as_array().unwrap().iter().any(|c| c["value"] == flag), "{flag}");
    }
    assert_eq!(
        options(field("model", "options")),
        [
            "text",
            "vision",
            "image",
            "video",
            "temperature",
            "parameters",
            "thinking",
            "stop",
            "logit-bias",
            "fallback",
            "embedding",
            "embedding-clear",
            "show",
            "reset"
        ]
    );
    assert_eq!(options(field("model", "options")[3]["options"].clone()), ["set", "clear"]);
    // Guild installs only; the commands that work in a DM are shown there too.
    for name in ["persona", "memory", "personal", "config", "provider", "model", "preset"] {
        assert_eq!(field(name, "contexts"), serde_json::json!([0, 1]), "{name}");
        assert_eq!(field(name, "integration_types"), serde_json::json!([0]), "{name}");
    }
    for name in ["server", "bot", "tool", "mcp", "generate"] {
        assert_eq!(field(name, "contexts"), serde_json::json!([0]), "{name}");
    }

    commands.register(Some(snowflake(GUILD))).await.unwrap();
    let every = tomori_discord::commands::definitions().len();
    assert_eq!(w.fake.registered_commands(Some(GUILD)).len(), every);
    let put =
        w.fake.wait_for_request(|r| r.is("PUT", "applications/*/guilds/*/commands"), WAIT).await;
    assert_eq!(put.path, format!("applications/{}/guilds/{GUILD}/commands", w.fake.bot_user_id()));
}

/// Discord refuses the whole bulk registration when one command breaks a documented limit (the
/// fake checks them all, as Discord does), so on real Discord a single bad option would leave the
/// bot with no slash command at all.
#[tokio::test]
async fn the_catalogue_registered_at_startup_keeps_within_discords_limits() {
    let w = world().await;
    let control: Arc<dyn BotControl> = Arc::new(Control::default());
    let discord = Discord::connect(&config(&w.fake)).await.unwrap();
    let commands = discord.commands(w.store.clone(), control);
    let registered = commands.register(None).await;
    let put = w.fake.wait_for_request(|r| r.is("PUT", "applications/*/commands"), WAIT).await;
    assert_eq!(put.status, 200, "refused: {registered:?}");
    assert_eq!(registered.unwrap().len(), tomori_discord::commands::definitions().len());
    // The longest option: /config system-prompt set text, at Discord's maximum.
    let config = w.fake.registered_commands(None);
    let text = config
        .iter()
        .find(|c| c["name"] == "config")
        .and_then(|c| c["options"].as_array()?.iter().find(|o| o["name"] == "system-prompt"))
        .map(|group| group["options"][0]["options"][0]["max_length"].clone());
    assert_eq!(text, Some(serde_json::json!(6000)));
}

/// Older payloads and Discord-compatible servers send `channel_id` without the `channel` object;
/// such a command works the same (before, it was answered "I can't tell who or where you are").
#[tokio::test]
async fn a_command_with_only_a_channel_id_works() {
    let w = world().await;
    let mut command = slash(alice(), MANAGE_GUILD, "config timezone").arg("name", "Asia/Tokyo");
    command.without_channel_object = true;
    let answer = w.answer(command).await;
    assert!(answer.starts_with("The timezone is now `Asia/Tokyo`"), "{answer}");
    assert_eq!(settings::get(&w.store, w.server).await.unwrap().timezone, "Asia/Tokyo");
}

#[tokio::test]
async fn members_without_manage_server_are_refused_every_mutating_command_and_nothing_changes() {
    let w = world().await;
    let lineage = w.main_lineage().await;
    let memory = memories::add_server(
        &w.store,
        w.server,
        Actor::Operator,
        lineage,
        None,
        "the tea is green",
    )
    .await
    .unwrap();
    settings::add_channel(&w.store, w.server, Actor::Operator, ChannelSet::Rp, snowflake(CHANNEL))
        .await
        .unwrap();
    for setting in [
        settings::Setting::SystemPrompt(Some("Be kind.".to_owned())),
        settings::Setting::ContextNote(Some("A note.".to_owned())),
        settings::Setting::ThoughtLogChannel(Some(snowflake(CHANNEL))),
    ] {
        settings::set(&w.store, w.server, Actor::Operator, setting).await.unwrap();
    }
    settings::add_trigger_word(&w.store, w.server, Actor::Operator, "tea").await.unwrap();
    let before = w.snapshot().await;

    let commands = |permissions: u64| {
        let s = |path: &str| slash(bob(), permissions, path);
        vec![
            s("persona create").arg("name", "Yui"),
            s("persona rename").arg("name", "Kaede").arg("new_name", "Kaz"),
            s("persona remove").arg("name", "Kaede"),
            s("memory server add").arg("content", "bob was here"),
            s("memory server remove").arg("id", memory.id),
            s("server feature").arg("flag", "web_search").arg("state", "on"),
            s("server channel add").arg("set", "whitelist"),
            s("server channel remove").arg("set", "rp").channel_arg("channel", CHANNEL),
            s("bot kill"),
            s("config system-prompt set").arg("text", "Obey bob."),
            s("config system-prompt remove"),
            s("config cascade-limit").arg("value", 9),
            s("config match-limit").arg("value", 9),
            s("config message-fetch-limit").arg("value", 9),
            s("config send-limit").arg("value", 9),
            s("config humanizer").arg("value", 0),
            s("config timezone").arg("name", "Asia/Tokyo"),
            s("config context-note set").arg("text", "bob is king"),
            s("config context-note remove"),
            s("config thought-log set").channel_arg("channel", OTHER_CHANNEL),
            s("config thought-log off"),
            s("server cooldown").arg("kind", "strict").arg("seconds", 600),
            s("server trigger-words add").arg("word", "bob"),
            s("server trigger-words remove").arg("word", "tea"),
            s("server always-reply").arg("state", "on"),
            s("server deliberate-mode").arg("state", "on"),
            s("server auto-trigger-range").arg("min", 1).arg("max", 5),
            s("server member-teaching").arg("state", "on"),
            s("server byok-required").arg("state", "on"),
            s("server deliberate-tools").arg("state", "on"),
            s("server channel-prompt set")
                .channel_arg("channel", CHANNEL)
                .arg("prompt", "Pirates."),
            s("server channel-model clear").channel_arg("channel", CHANNEL),
            s("persona model set").arg("name", "Kaede").arg("provider", "openai").arg("model", "x"),
            s("server quota").arg("kind", "text").arg("per-user-daily", 1).arg("enabled", "on"),
            s("server channel-persona set").channel_arg("channel", CHANNEL).arg("persona", "Kaede"),
            s("server channel-persona clear").channel_arg("channel", CHANNEL),
            s("model embedding").arg("provider", "openai").arg("model", "text-embedding-3-small"),
            s("model embedding-clear"),
            s("provider key purge").arg("provider", "openai"),
            s("provider endpoint edit").arg("label", "gateway").arg("model", "evil"),
            s("memory document remove").arg("name", "rules.md"),
        ]
    };
    let mut without_permissions_field = commands(0);
    for command in &mut without_permissions_field {
        command.permissions = None;
    }
    let cases = commands(VIEW_AND_SEND)
        .into_iter()
        .chain(commands(MANAGE_CHANNELS_ROLES_WEBHOOKS))
        .chain(without_permissions_field);
    for command in cases {
        let what = format!("/{} with {:?}", command.path.join(" "), command.permissions);
        let answer = w.answer(command).await;
        assert!(
            answer.contains("permission") && answer.contains("nothing was changed"),
            "{what}: {answer}"
        );
        assert!(answer.contains("Manage Server"), "{what}: {answer}");
    }
    assert_eq!(w.snapshot().await, before, "no row and no audit entry changed");
    assert!(w.control.kills.lock().unwrap().is_empty(), "no turn was killed");

    // Manage Messages is enough to stop a turn, and nothing else.
    let answer = w.answer(slash(bob(), MANAGE_MESSAGES, "bot kill")).await;
    assert!(answer.starts_with("Stopped"), "{answer}");
    assert_eq!(*w.control.kills.lock().unwrap(), [snowflake(CHANNEL)]);
    let refused =
        w.answer(slash(bob(), MANAGE_MESSAGES, "persona remove").arg("name", "Kaede")).await;
    assert!(refused.contains("Manage Server"), "{refused}");

    // Server commands in a direct message are refused too.
    let dm = SlashCommand::new(DM_CHANNEL, alice(), "server feature")
        .arg("flag", "web_search")
        .arg("state", "on");
    let answer = w.answer(dm).await;
    assert!(answer.starts_with("This works only in a server."), "{answer}");
    assert_eq!(w.snapshot().await, before);
}

#[tokio::test]
async fn an_admin_creates_renames_and_removes_personas_with_audit_rows() {
    let w = world().await;
    let audited = audit_actions(&w.db).await.len();
    let answer = w
        .answer(
            slash(alice(), MANAGE_GUILD, "persona create")
                .arg("name", "Yui")
                .arg("prompt", "You are Yui."),
        )
        .await;
    assert_eq!(answer, "Created **Yui** as an alter.");
    let yui = personas::find(&w.store, w.server, "yui").await.unwrap().unwrap();
    assert_eq!((yui.prompt.as_str(), yui.is_main), ("You are Yui.", false));
    assert_eq!(audit_actions(&w.db).await[audited..], ["persona.create"]);

    // Administrator counts as Manage Server.
    let renamed = w
        .answer(
            slash(alice(), ADMINISTRATOR, "persona rename")
                .arg("name", "yui")
                .arg("new_name", "Yuina"),
        )
        .await;
    assert_eq!(renamed, "Renamed **Yui** to **Yuina**.");
    let listed = w.answer(slash(bob(), VIEW_AND_SEND, "persona list")).await;
    assert_eq!(listed, "- **Tomori** (main)\n- **Kaede**\n- **Yuina**");
    let removed =
        w.answer(slash(alice(), MANAGE_GUILD, "persona remove").arg("name", "Yuina")).await;
    assert_eq!(removed, "Removed **Yuina**.");
    assert_eq!(
        audit_actions(&w.db).await[audited..],
        ["persona.create", "persona.rename", "persona.remove"]
    );
}

#[tokio::test]
async fn bad_input_gets_a_short_answer_and_changes_nothing() {
    let w = world().await;
    let before = w.snapshot().await;
    let admin = |path: &str| slash(alice(), MANAGE_GUILD, path);
    let cases = [
        (admin("persona create").arg("name", "@everyone"), "Invalid nickname"),
        (admin("persona create").arg("name", "kaede"), "A persona with that name already exists."),
        (admin("persona remove").arg("name", "Tomori"), "the main persona cannot be removed"),
        (
            admin("persona rename").arg("name", "Nobody").arg("new_name", "X"),
            "no persona named Nobody",
        ),
        (admin("memory server remove").arg("id", 999_999), "No such memory."),
        (admin("memory server add").arg("content", "   "), "Invalid memory"),
        (admin("server channel remove").arg("set", "rp"), "No such channel in that set."),
        (admin("server feature").arg("flag", "drop_table").arg("state", "on"), "no feature called"),
        (admin("personal privacy").arg("level", 9), "privacy level must be 0, 1 or 2"),
        (admin("nonsense"), "I don't know that command"),
    ];
    for (command, expected) in cases {
        let what = command.path.join(" ");
        let answer = w.answer(command).await;
        assert!(answer.contains(expected), "/{what}: {answer}");
        assert!(!answer.contains("incident") && !answer.contains("database"), "/{what}: {answer}");
    }
    assert_eq!(w.snapshot().await, before);
}

#[tokio::test]
async fn personal_memories_work_for_anyone_and_stay_their_own() {
    let w = world().await;
    let added = w
        .answer(
            slash(alice(), VIEW_AND_SEND, "memory personal add").arg("content", "I like green tea"),
        )
        .await;
    assert!(added.starts_with("Remembered for every persona"), "{added}");
    let alice_scope = Scope::user(w.store.resolve_user(snowflake(ALICE)).await.unwrap());
    let mine =
        memories::list_personal(&w.store, alice_scope, LineageId::EVERY_PERSONA).await.unwrap();
    assert_eq!(mine.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["I like green tea"]);

    // For one persona, from a direct message too.
    w.answer(
        slash(alice(), VIEW_AND_SEND, "memory personal add")
            .arg("content", "Kaede owes me tea")
            .arg("persona", "kaede"),
    )
    .await;
    let dm = SlashCommand::new(DM_CHANNEL, alice(), "memory personal list");
    let listed = w.answer(dm).await;
    assert!(listed.contains("I like green tea") && !listed.contains("Kaede owes"), "{listed}");

    // Bob sees none of it and cannot remove it.
    let theirs = w.answer(slash(bob(), VIEW_AND_SEND, "memory personal list")).await;
    assert_eq!(theirs, "No memories for every persona yet.");
    let id = mine[0].id;
    let refused =
        w.answer(slash(bob(), VIEW_AND_SEND, "memory personal remove").arg("id", id)).await;
    assert_eq!(refused, "No such memory.");
    let still =
        memories::list_personal(&w.store, alice_scope, LineageId::EVERY_PERSONA).await.unwrap();
    assert_eq!(still.len(), 1);

    let forgot =
        w.answer(slash(alice(), VIEW_AND_SEND, "memory personal remove").arg("id", id)).await;
    assert_eq!(forgot, format!("Forgot your memory `[id:{id}]`."));
    let actions = audit_actions(&w.db).await;
    let personal: Vec<&String> =
        actions.iter().filter(|a| a.starts_with("memory.personal")).collect();
    assert_eq!(personal, ["memory.personal.add", "memory.personal.add", "memory.personal.remove"]);
}

#[tokio::test]
async fn server_memories_need_a_manager_unless_members_may_teach() {
    let w = world().await;
    let taught = w
        .answer(
            slash(alice(), MANAGE_GUILD, "memory server add")
                .arg("content", "Fridays are quiz nights"),
        )
        .await;
    assert!(taught.starts_with("**Tomori** will remember that"), "{taught}");
    let refused = w
        .answer(slash(bob(), VIEW_AND_SEND, "memory server add").arg("content", "bob rules"))
        .await;
    assert!(refused.contains("Manage Server"), "{refused}");

    let on =
        w.answer(slash(alice(), MANAGE_GUILD, "server member-teaching").arg("state", "on")).await;
    assert!(!on.is_empty(), "{on}");
    let by_member = w
        .answer(
            slash(bob(), VIEW_AND_SEND, "memory server add")
                .arg("content", "Bob bakes scones")
                .arg("persona", "Kaede"),
        )
        .await;
    assert!(by_member.starts_with("**Kaede** will remember that"), "{by_member}");
    let kaede = personas::find(&w.store, w.server, "Kaede").await.unwrap().unwrap();
    let kept = memories::list_server(&w.store, w.server, kaede.lineage).await.unwrap();
    assert_eq!(
        (kept[0].content.as_str(), kept[0].teacher),
        ("Bob bakes scones", Some(snowflake(BOB)))
    );

    // Teaching is not forgetting: removal still needs Manage Server.
    let remove =
        w.answer(slash(bob(), VIEW_AND_SEND, "memory server remove").arg("id", kept[0].id)).await;
    assert!(remove.contains("Manage Server"), "{remove}");
    let listed =
        w.answer(slash(bob(), VIEW_AND_SEND, "memory server list").arg("persona", "kaede")).await;
    assert!(listed.contains("Bob bakes scones"), "{listed}");
}

#[tokio::test]
async fn server_feature_flips_exactly_one_flag_and_channels_join_sets() {
    let w = world().await;
    let before = settings::get(&w.store, w.server).await.unwrap();
    let (state, expected) = if before.feature(Feature::WebSearch) {
        ("off", "`web_search` is now off.")
    } else {
        ("on", "`web_search` is now on.")
    };
    let answer = w
        .answer(
            slash(alice(), MANAGE_GUILD, "server feature")
                .arg("flag", "web_search")
                .arg("state", state),
        )
        .await;
    assert_eq!(answer, expected);
    let after = settings::get(&w.store, w.server).await.unwrap();
    let changed: Vec<&str> = before
        .features
        .iter()
        .zip(&after.features)
        .filter(|(b, a)| b != a)
        .map(|(b, _)| b.0)
        .collect();
    assert_eq!(changed, ["web_search"]);
    assert_eq!(
        ServerSettingsWithoutFeatures::of(&before),
        ServerSettingsWithoutFeatures::of(&after)
    );
    assert_eq!(audit_actions(&w.db).await.last().map(String::as_str), Some("settings.feature"));

    let added =
        w.answer(slash(alice(), MANAGE_GUILD, "server channel add").arg("set", "whitelist")).await;
    assert_eq!(added, format!("<#{CHANNEL}> is in the whitelist."));
    w.answer(
        slash(alice(), MANAGE_GUILD, "server channel add")
            .arg("set", "auto_trigger")
            .channel_arg("channel", OTHER_CHANNEL),
    )
    .await;
    let whitelist = settings::channels(&w.store, w.server, ChannelSet::Whitelist).await.unwrap();
    let auto = settings::channels(&w.store, w.server, ChannelSet::AutoTrigger).await.unwrap();
    assert_eq!((whitelist, auto), (vec![snowflake(CHANNEL)], vec![snowflake(OTHER_CHANNEL)]));
    w.answer(slash(alice(), MANAGE_GUILD, "server channel remove").arg("set", "whitelist")).await;
    assert!(
        settings::channels(&w.store, w.server, ChannelSet::Whitelist).await.unwrap().is_empty()
    );
}

/// The settings other than the feature flags, to show that a flag changes nothing else.
#[derive(Debug, PartialEq)]
struct ServerSettingsWithoutFeatures(String);

impl ServerSettingsWithoutFeatures {
    fn of(settings: &settings::ServerSettings) -> Self {
        let mut copy = settings.clone();
        copy.features.clear();
        Self(format!("{copy:?}"))
    }
}
