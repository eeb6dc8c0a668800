//! `/persona import` and `/persona export` through the fake Discord: a card hosted as an
//! attachment and downloaded through the media client, the exported PNG arriving as an
//! ephemeral attachment (multipart, on the immediate answer and on a deferred edit), and the
//! refusals that change nothing: no permission, malformed or oversized cards, the persona limit.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use tomori_chat::engine::CompactError;
use tomori_chat::surface::{Inbound, SurfaceError};
use tomori_core::card::{self, png};
use tomori_core::id::Snowflake;
use tomori_core::limits::Limits;
use tomori_discord::{BotControl, Discord};
use tomori_store::audit::Actor;
use tomori_store::personas::{self, NewPersona, SampleDialogue};
use tomori_store::{Scope, Store};
use tomori_testkit::fake_discord::{
    AttachmentSpec, FakeDiscord, FakeInteraction, SlashCommand, UserSpec,
};
use tomori_testkit::{TestDb, audit_actions};

use crate::{ALICE, Bot, CHANNEL, GUILD, WAIT, config, snowflake};

const BOB: u64 = 700_000_000_000_000_002;
const MANAGE_GUILD: u64 = 0x400 | 0x800 | 0x20;
const MEMBER: u64 = 0x400 | 0x800;

/// The commands never reach the engine here.
struct NoEngine;

impl BotControl for NoEngine {
    fn kill(&self, _channel: Snowflake) -> bool {
        false
    }

    fn respond(&self, _message: Inbound, _persona: Option<String>) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    fn refresh(&self, _channel: Snowflake) -> BoxFuture<'_, Result<(), SurfaceError>> {
        Box::pin(async { Ok(()) })
    }

    fn compact(&self, _message: Inbound) -> BoxFuture<'_, Result<usize, CompactError>> {
        Box::pin(async { Err(CompactError::Empty) })
    }

    fn prompt_snapshot(
        &self,
        _message: Inbound,
    ) -> BoxFuture<'_, Option<tomori_chat::engine::Snapshot>> {
        Box::pin(async { None })
    }

    fn withhold_author(&self, _user: Snowflake) {}
}

struct World {
    fake: FakeDiscord,
    db: TestDb,
    store: Store,
    server: Scope,
    bot: Option<Bot>,
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(bot) = self.bot.take() {
            let _ = bot.stop.send(());
        }
    }
}

/// A guild with the main persona Tomori and the alter Kaede (with an attribute, a sample
/// dialogue and a trigger word), whose commands download through a media client that may
/// reach the fake on loopback.
async fn world(limits: Limits, defer_at_once: bool) -> World {
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(GUILD, CHANNEL);
    let db = TestDb::new().await;
    let store = db.store_with(TestDb::key_ring(&[1], None), limits).await;
    let server = Scope::server(store.resolve_guild(snowflake(GUILD)).await.unwrap());
    personas::create(
        &store,
        server,
        Actor::Operator,
        NewPersona { nickname: "Tomori".to_owned(), ..NewPersona::default() },
    )
    .await
    .unwrap();
    let kaede = NewPersona {
        nickname: "Kaede".to_owned(),
        prompt: "Kaede is a calm archer.".to_owned(),
        attributes: vec!["Likes autumn".to_owned()],
        sample_dialogues: vec![SampleDialogue { user: "Hi".to_owned(), bot: "Hello.".to_owned() }],
        trigger_words: vec!["maple".to_owned()],
        ..NewPersona::default()
    };
    personas::create(&store, server, Actor::Operator, kaede).await.unwrap();
    let discord = Discord::connect(&config(&fake)).await.unwrap();
    let media = tomori_net::Client::new(
        tomori_net::Policy::new(tomori_net::Scope::Media).allow_loopback_for_tests(),
    )
    .unwrap();
    let mut commands = discord
        .commands(store.clone(), Arc::new(NoEngine) as Arc<dyn BotControl>)
        .media_client(media);
    if defer_at_once {
        commands = commands.defer_after(Duration::ZERO);
    }
    let bot = Bot::start(discord.with_commands(commands));
    fake.wait_for_ready(0, WAIT).await;
    World { fake, db, store, server, bot: Some(bot) }
}

impl World {
    async fn run(&self, command: SlashCommand) -> FakeInteraction {
        let id = self.fake.inject_command(command);
        let answered = self.fake.wait_for_interaction(id, FakeInteraction::answered, WAIT).await;
        assert!(answered.ephemeral, "answers are ephemeral: {answered:?}");
        answered
    }

    async fn answer(&self, command: SlashCommand) -> String {
        self.run(command).await.content.unwrap()
    }

    async fn import(&self, permissions: u64, file: &AttachmentSpec) -> String {
        let command = SlashCommand::new(CHANNEL, UserSpec::new(ALICE, "alice"), "persona import")
            .in_guild(GUILD, permissions)
            .attachment_arg("card", file);
        self.answer(command).await
    }

    async fn state(&self) -> String {
        let personas = personas::list(&self.store, self.server).await.unwrap();
        format!("{personas:?}\n{:?}", audit_actions(&self.db).await)
    }

    fn downloads(&self) -> usize {
        self.fake.requests().iter().filter(|r| r.path.starts_with("/attachments/")).count()
    }
}

/// A V2 card PNG built by hand (not by the exporter under test).
fn v2_card_png() -> Vec<u8> {
    use base64::Engine as _;
    let json = json!({
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": "Mio",
            "description": "{{char}} runs the night library.",
            "personality": "Quiet and kind.",
            "first_mes": "*looks up* Oh, hello {{user}}.",
            "mes_example": "<START>\n{{user}}: Any good books?\n{{char}}: Always.",
            "tags": ["calm"],
            "character_book": { "entries": [
                { "keys": ["book"], "content": "{{char}} loves old books.", "enabled": true },
            ] },
        },
    });
    let text = base64::engine::general_purpose::STANDARD.encode(json.to_string());
    png::replace_text_chunks(
        &png::solid_png(8, [40, 80, 120]),
        |_| false,
        &[("chara", text.as_bytes())],
    )
    .unwrap()
}

#[tokio::test]
async fn a_manager_imports_a_card_with_an_audit_row() {
    let w = world(Limits::default(), false).await;
    let file = w.fake.host_attachment("mio.png", "image/png", v2_card_png());
    let answer = w.import(MANAGE_GUILD, &file).await;
    assert_eq!(
        answer,
        "Imported **Mio** as an alter (1 attributes, 2 sample dialogues, 1 lorebook entries)."
    );
    let mio = personas::find(&w.store, w.server, "Mio").await.unwrap().unwrap();
    assert!(!mio.is_main);
    // Macros stay in the stored text: each prompt fills in the persona and the member.
    assert_eq!(mio.prompt, "{{char}} runs the night library.");
    assert_eq!(mio.attributes, ["Personality: Quiet and kind."]);
    let dialogues: Vec<(&str, &str)> =
        mio.sample_dialogues.iter().map(|d| (d.user.as_str(), d.bot.as_str())).collect();
    assert_eq!(dialogues, [("Any good books?", "Always."), ("", "*looks up* Oh, hello {{user}}.")]);
    let actions = audit_actions(&w.db).await;
    assert_eq!(actions[actions.len() - 2..], ["persona.create", "persona.lorebook.set"]);
    assert_eq!(w.downloads(), 1);

    // Tomori's own persona JSON (what `tomori persona convert` prints) imports too, and the
    // name option renames.
    let persona_json = json!({
        "tomori_persona": 1,
        "name": "Yui",
        "source_spec": "v1",
        "prompt": "Cheerful.",
        "trigger_words": ["yui"],
    });
    let file = w.fake.host_attachment(
        "yui.json",
        "application/json",
        persona_json.to_string().into_bytes(),
    );
    let command = SlashCommand::new(CHANNEL, UserSpec::new(ALICE, "alice"), "persona import")
        .in_guild(GUILD, MANAGE_GUILD)
        .attachment_arg("card", &file)
        .arg("name", "Yuika");
    let answer = w.answer(command).await;
    assert!(answer.starts_with("Imported **Yuika**"), "{answer}");
    let yuika = personas::find(&w.store, w.server, "Yuika").await.unwrap().unwrap();
    assert_eq!(
        (yuika.prompt.as_str(), yuika.trigger_words.as_slice()),
        ("Cheerful.", &["yui".to_owned()][..])
    );

    // The same card again: the name is taken, and nothing changes.
    let before = w.state().await;
    let file = w.fake.host_attachment("mio.png", "image/png", v2_card_png());
    let answer = w.import(MANAGE_GUILD, &file).await;
    assert!(answer.contains("already exists"), "{answer}");
    assert_eq!(w.state().await, before);
}

#[tokio::test]
async fn bad_cards_and_missing_permissions_are_refused_and_nothing_changes() {
    let limits = Limits { personas_per_server: 3, ..Limits::default() };
    let w = world(limits, false).await;
    let before = w.state().await;

    // Security: a member without Manage Server cannot import; nothing is even downloaded.
    let file = w.fake.host_attachment("mio.png", "image/png", v2_card_png());
    let answer = w.import(MEMBER, &file).await;
    assert_eq!(answer, "You need the Manage Server permission to do that; nothing was changed.");
    assert_eq!(w.downloads(), 0);

    let good = v2_card_png();
    let bad_name = br#"{"name": "Dr: Who", "description": "x"}"#.to_vec();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("cut.png", good[..good.len() / 2].to_vec(), "cannot be imported: the PNG is truncated"),
        ("notes.txt", b"just text".to_vec(), "cannot be imported: the file is neither a PNG"),
        (
            "bad.json",
            b"{\"name\": 5}".to_vec(),
            "cannot be imported: the card's name is not a string",
        ),
        ("dr.json", bad_name, "cannot be a persona name"),
        ("none.png", png::solid_png(4, [0, 0, 0]), "no character data"),
    ];
    for (name, bytes, reason) in cases {
        let file = w.fake.host_attachment(name, "application/octet-stream", bytes);
        let answer = w.import(MANAGE_GUILD, &file).await;
        assert!(
            answer.contains(reason) && answer.ends_with("Nothing was changed."),
            "{name}: {answer}"
        );
        assert!(answer.contains(&format!("`{name}`")), "{name}: {answer}");
    }

    // Security: an attachment Discord reports as larger than a card may be is refused before
    // any download.
    let downloads = w.downloads();
    let mut huge = w.fake.host_attachment("huge.png", "image/png", v2_card_png());
    huge.size = 9 * 1024 * 1024;
    let answer = w.import(MANAGE_GUILD, &huge).await;
    assert!(answer.contains("is 9.00 MiB; at most 8.00 MiB is accepted"), "{answer}");
    assert_eq!(w.downloads(), downloads, "not downloaded");
    assert_eq!(w.state().await, before);

    // The persona limit holds for imports: one more fits, the next does not.
    let answer = w.import(MANAGE_GUILD, &file).await;
    assert!(answer.starts_with("Imported **Mio**"), "{answer}");
    let after_one = w.state().await;
    let renamed = SlashCommand::new(CHANNEL, UserSpec::new(ALICE, "alice"), "persona import")
        .in_guild(GUILD, MANAGE_GUILD)
        .attachment_arg("card", &file)
        .arg("name", "Mio Two");
    assert_eq!(w.answer(renamed).await, "Limit reached: at most 3 personas.");
    assert_eq!(w.state().await, after_one);

    // Export needs Manage Server too.
    let export = SlashCommand::new(CHANNEL, UserSpec::new(BOB, "bob"), "persona export")
        .in_guild(GUILD, MEMBER)
        .arg("name", "Kaede");
    let refused = w.run(export).await;
    assert!(refused.content.unwrap().contains("Manage Server"));
    assert!(refused.files.is_empty());
}

/// Exports Kaede and returns the answer's text and the attached file.
async fn export_kaede(w: &World) -> (String, String, Vec<u8>) {
    let command = SlashCommand::new(CHANNEL, UserSpec::new(ALICE, "alice"), "persona export")
        .in_guild(GUILD, MANAGE_GUILD)
        .arg("name", "kaede");
    let answered = w.run(command).await;
    assert_eq!(answered.files.len(), 1, "{answered:?}");
    let file = answered.files[0].clone();
    (answered.content.unwrap(), file.filename, file.bytes)
}

#[tokio::test]
async fn an_export_is_a_sillytavern_card_that_imports_back() {
    for defer in [false, true] {
        let w = world(Limits::default(), defer).await;
        let (text, filename, bytes) = export_kaede(&w).await;
        assert!(text.starts_with("**Kaede** as a SillyTavern character card"), "{text}");
        assert_eq!(filename, "Kaede.png");
        if defer {
            let patch = w
                .fake
                .wait_for_request(|r| r.is("PATCH", "webhooks/*/*/messages/@original"), WAIT)
                .await;
            assert_eq!(patch.files.len(), 1, "the file rides on the edit of a deferred answer");
        }

        // What SillyTavern reads: a valid PNG with a V2 card in a `chara` chunk.
        let chunks = png::chunks(&bytes).unwrap();
        assert_eq!(png::text_keyword(&chunks[chunks.len() - 2]).as_deref(), Some("chara"));
        let json: Value =
            serde_json::from_slice(&card::card_json_from_png(&bytes).unwrap()).unwrap();
        assert_eq!(json["spec"], "chara_card_v2");
        assert_eq!(json["data"]["name"], "Kaede");
        assert_eq!(json["data"]["description"], "Kaede is a calm archer.");
        assert_eq!(json["data"]["character_book"]["entries"][0]["content"], "Likes autumn");
        assert_eq!(json["data"]["mes_example"], "<START>\n{{user}}: Hi\n{{char}}: Hello.");

        // Imported again (under another name, as Kaede still exists), it is the same persona.
        let file = w.fake.host_attachment(&filename, "image/png", bytes);
        let command = SlashCommand::new(CHANNEL, UserSpec::new(ALICE, "alice"), "persona import")
            .in_guild(GUILD, MANAGE_GUILD)
            .attachment_arg("card", &file)
            .arg("name", "Kaede Two");
        let answer = w.answer(command).await;
        assert!(answer.starts_with("Imported **Kaede Two**"), "{answer}");
        let original = personas::find(&w.store, w.server, "Kaede").await.unwrap().unwrap();
        let copy = personas::find(&w.store, w.server, "Kaede Two").await.unwrap().unwrap();
        assert_eq!(
            (&copy.prompt, &copy.attributes, &copy.sample_dialogues, &copy.trigger_words),
            (
                &original.prompt,
                &original.attributes,
                &original.sample_dialogues,
                &original.trigger_words
            )
        );
        assert_ne!(copy.lineage, original.lineage, "a copy does not share memories");
    }
}

/// Discord refuses a string option over 6,000 characters, so a longer system prompt (the store
/// keeps up to 8,000) arrives as a file.
#[tokio::test]
async fn a_system_prompt_longer_than_an_option_may_be_is_set_from_a_text_file() {
    let w = world(Limits::default(), false).await;
    let prompt = format!("{}\nEnd of the rules.", "Be kind and brief. ".repeat(360));
    assert!((6_001..=8_000).contains(&prompt.chars().count()));
    let file = w.fake.host_attachment("prompt.txt", "text/plain", prompt.clone().into_bytes());
    let upload = |file: &AttachmentSpec| {
        SlashCommand::new(CHANNEL, UserSpec::new(ALICE, "alice"), "config system-prompt upload")
            .in_guild(GUILD, MANAGE_GUILD)
            .attachment_arg("file", file)
    };
    let answer = w.answer(upload(&file)).await;
    assert_eq!(
        answer,
        format!("The system prompt is set ({} characters).", prompt.chars().count())
    );
    let stored = tomori_store::settings::get(&w.store, w.server).await.unwrap();
    assert_eq!(stored.system_prompt.as_deref(), Some(prompt.as_str()));

    // Over the store's 8,000, or not text: refused, and the prompt stays.
    let long = w.fake.host_attachment("long.txt", "text/plain", "x".repeat(8_001).into_bytes());
    let answer = w.answer(upload(&long)).await;
    assert!(
        answer.contains("has 8001 characters") && answer.contains("Nothing was changed"),
        "{answer}"
    );
    let image = w.fake.host_attachment("prompt.png", "image/png", png::solid_png(2, [1, 2, 3]));
    let answer = w.answer(upload(&image)).await;
    assert!(answer.contains("is not a .txt or .md file"), "{answer}");
    let stored = tomori_store::settings::get(&w.store, w.server).await.unwrap();
    assert_eq!(stored.system_prompt.as_deref(), Some(prompt.as_str()));
    let member =
        SlashCommand::new(CHANNEL, UserSpec::new(BOB, "bob"), "config system-prompt upload")
            .in_guild(GUILD, MEMBER)
            .attachment_arg("file", &file);
    assert!(w.answer(member).await.contains("Manage Server"));
}

/// `/persona lorebook …` on Mio's lorebook, as Alice with Manage Server.
async fn lorebook(w: &World, sub: &str, args: &[(&str, Value)]) -> String {
    let mut command = SlashCommand::new(
        CHANNEL,
        UserSpec::new(ALICE, "alice"),
        &format!("persona lorebook {sub}"),
    )
    .in_guild(GUILD, MANAGE_GUILD)
    .arg("name", "Mio");
    for (name, value) in args {
        command = command.arg(name, value.clone());
    }
    w.answer(command).await
}

#[tokio::test]
async fn a_cards_lorebook_is_listed_tested_toggled_and_exported_back() {
    let w = world(Limits::default(), false).await;
    let file = w.fake.host_attachment("mio.png", "image/png", v2_card_png());
    w.import(MANAGE_GUILD, &file).await;

    let listed = lorebook(&w, "list", &[]).await;
    assert!(listed.contains("**Mio**'s lorebook, 1 entries:"), "{listed}");
    assert!(listed.contains("0. no name · `book` · BeforeChar · on"), "{listed}");
    let fires = lorebook(&w, "test", &[("text", json!("Do you have a BOOK about stars?"))]).await;
    assert!(fires.contains("key \"book\""), "{fires}");
    let quiet = lorebook(&w, "test", &[("text", json!("Bookshelves are tall."))]).await;
    assert!(quiet.starts_with("No entry"), "whole words only: {quiet}");

    let toggled = lorebook(&w, "toggle", &[("entry", json!(0)), ("on", json!(false))]).await;
    assert!(toggled.ends_with("is off."), "{toggled}");
    let missing = lorebook(&w, "toggle", &[("entry", json!(7)), ("on", json!(true))]).await;
    assert!(missing.contains("has no entry 7"), "{missing}");

    // Exported, the card carries the lorebook as SillyTavern reads it, the toggle included.
    let command = SlashCommand::new(CHANNEL, UserSpec::new(ALICE, "alice"), "persona export")
        .in_guild(GUILD, MANAGE_GUILD)
        .arg("name", "Mio");
    let exported = w.run(command).await.files[0].bytes.clone();
    let json: Value =
        serde_json::from_slice(&card::card_json_from_png(&exported).unwrap()).unwrap();
    let entries = json["data"]["character_book"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "the lore entry and the attribute: {entries:?}");
    assert_eq!(entries[0]["keys"], json!(["book"]));
    assert_eq!(entries[0]["enabled"], json!(false));
    assert_eq!(entries[1]["extensions"]["tomori_attribute"], json!(true));

    // Imported again, the copy has the same lorebook and the attribute as an attribute.
    let file = w.fake.host_attachment("Mio.png", "image/png", exported);
    let command = SlashCommand::new(CHANNEL, UserSpec::new(ALICE, "alice"), "persona import")
        .in_guild(GUILD, MANAGE_GUILD)
        .attachment_arg("card", &file)
        .arg("name", "Mio Two");
    let answer = w.answer(command).await;
    assert!(answer.contains("1 attributes") && answer.contains("1 lorebook entries"), "{answer}");
    let mio = personas::find(&w.store, w.server, "Mio").await.unwrap().unwrap();
    let two = personas::find(&w.store, w.server, "Mio Two").await.unwrap().unwrap();
    let book = |id| tomori_store::lorebooks::get(&w.store, w.server, id);
    assert_eq!(book(two.id).await.unwrap(), book(mio.id).await.unwrap());
    assert_eq!(two.attributes, mio.attributes);

    // A member without Manage Server sees nothing of it; clearing removes it.
    let command = SlashCommand::new(CHANNEL, UserSpec::new(BOB, "bob"), "persona lorebook list")
        .in_guild(GUILD, MEMBER)
        .arg("name", "Mio");
    let refused = w.answer(command).await;
    assert!(!refused.contains("book"), "{refused}");
    let cleared = lorebook(&w, "clear", &[]).await;
    assert!(cleared.contains("has no lorebook any more"), "{cleared}");
    assert_eq!(book(mio.id).await.unwrap(), None);
}

#[tokio::test]
async fn a_world_info_file_replaces_the_lorebook_and_a_hostile_one_changes_nothing() {
    let w = world(Limits::default(), false).await;
    let file = w.fake.host_attachment("mio.png", "image/png", v2_card_png());
    w.import(MANAGE_GUILD, &file).await;
    let mio = personas::find(&w.store, w.server, "Mio").await.unwrap().unwrap();
    let world_info = json!({ "entries": {
        "0": { "uid": 0, "key": ["Eldoria"], "keysecondary": [], "comment": "The kingdom",
               "content": "Eldoria is a cold kingdom.", "order": 100, "position": 0 },
        "1": { "uid": 1, "key": ["dragon", "/wyrms?/i"], "keysecondary": ["fire"], "selective": true,
               "selectiveLogic": 0, "comment": "Dragons", "content": "Dragons breathe frost.",
               "order": 90, "position": 4, "depth": 2, "role": 0 },
    } });
    let upload = |bytes: Vec<u8>| w.fake.host_attachment("eldoria.json", "application/json", bytes);
    let import = |file: AttachmentSpec| {
        SlashCommand::new(CHANNEL, UserSpec::new(ALICE, "alice"), "persona lorebook import")
            .in_guild(GUILD, MANAGE_GUILD)
            .arg("name", "Mio")
            .attachment_arg("file", &file)
    };
    let answer = w.answer(import(upload(world_info.to_string().into_bytes()))).await;
    assert!(answer.contains("(2 entries)"), "{answer}");
    let fires = lorebook(&w, "test", &[("text", json!("Two wyrms and their fire!"))]).await;
    assert!(fires.contains("Dragons") && fires.contains("with \"fire\""), "{fires}");

    // A regex key past the bounds (a pattern of 1,000 characters) is refused with its path.
    let stored = tomori_store::lorebooks::get(&w.store, w.server, mio.id).await.unwrap();
    let hostile = json!({ "entries": { "0": {
        "uid": 0, "key": [format!("/{}/", "(a+)+".repeat(200))], "content": "x" } } });
    let answer = w.answer(import(upload(hostile.to_string().into_bytes()))).await;
    assert!(answer.contains("cannot be imported") && answer.contains("entries"), "{answer}");
    assert_eq!(tomori_store::lorebooks::get(&w.store, w.server, mio.id).await.unwrap(), stored);
    let junk = w.answer(import(upload(b"not json".to_vec()))).await;
    assert!(junk.contains("cannot be imported"), "{junk}");
}

#[tokio::test]
async fn a_comfyui_workflow_is_checked_when_it_is_registered() {
    use tomori_store::credentials::KeyOwner;
    use tomori_store::endpoints::{self, NewEndpoint};
    let w = world(Limits::default(), false).await;
    let new = NewEndpoint {
        label: "comfy".to_owned(),
        base_url: "https://comfy.example".to_owned(),
        model: "sdxl".to_owned(),
        context_length: None,
        has_tools: false,
        has_vision: false,
        api_key: None,
    };
    endpoints::add(&w.store, w.server, Actor::Operator, KeyOwner::Server, &new).await.unwrap();
    let register = |label: &str, file: Option<AttachmentSpec>| {
        let mut command =
            SlashCommand::new(CHANNEL, UserSpec::new(ALICE, "alice"), "provider endpoint workflow")
                .in_guild(GUILD, MANAGE_GUILD)
                .arg("label", label);
        if let Some(file) = file {
            command = command.attachment_arg("file", &file);
        }
        command
    };
    let host = |json: &Value| {
        w.fake.host_attachment("workflow.json", "application/json", json.to_string().into_bytes())
    };
    let stored = || endpoints::workflow(&w.store, w.server, "comfy");

    // Oversized (a prompt node padded past 256 KiB; Discord's reported size refuses it before
    // the download), too many nodes, a node that reaches outside the host, a workflow without
    // %prompt%, and an unknown endpoint: refused, nothing stored.
    let mut oversized = tomori_testkit::fake_comfy::sample_workflow();
    oversized["6"]["inputs"]["text"] = json!(format!("%prompt% {}", "x".repeat(300 * 1024)));
    let mut fetching = tomori_testkit::fake_comfy::sample_workflow();
    fetching["10"] =
        json!({ "class_type": "LoadImageFromUrl", "inputs": { "url": "http://10.0.0.1/" } });
    let mut promptless = tomori_testkit::fake_comfy::sample_workflow();
    promptless["6"]["inputs"]["text"] = json!("a fixed picture");
    // Past the node count: 250 small nodes fit the file size but not the workflow's bounds.
    let mut crowded = tomori_testkit::fake_comfy::sample_workflow();
    for n in 100..350 {
        crowded[n.to_string()] = json!({ "class_type": "Note", "inputs": { "text": "x" } });
    }
    for (workflow, expected) in [
        (&oversized, "at most 0.25 MiB"),
        (&crowded, "nodes; it must have between 1 and 200"),
        (&fetching, "LoadImageFromUrl"),
        (&promptless, "%prompt%"),
    ] {
        let answer = w.answer(register("comfy", Some(host(workflow)))).await;
        assert!(answer.contains(expected), "{answer}");
        assert_eq!(stored().await.unwrap(), None, "{answer}");
    }
    let good = tomori_testkit::fake_comfy::sample_workflow();
    let unknown = w.answer(register("nope", Some(host(&good)))).await;
    assert!(unknown.contains("no endpoint called `nope`"), "{unknown}");

    // A good one is stored, in the audit log, and taken away again without a file.
    let answer = w.answer(register("comfy", Some(host(&good)))).await;
    assert!(answer.contains("is now a ComfyUI server") && answer.contains("(7 nodes)"), "{answer}");
    assert_eq!(stored().await.unwrap(), Some(good));
    assert_eq!(
        audit_actions(&w.db).await.last().map(String::as_str),
        Some("endpoint.workflow.set")
    );
    let answer = w.answer(register("comfy", None)).await;
    assert!(answer.contains("no longer runs"), "{answer}");
    assert_eq!(stored().await.unwrap(), None);
}
