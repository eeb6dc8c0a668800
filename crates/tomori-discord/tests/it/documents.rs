//! `/model embedding` and `/memory document add|list|remove` through the fake Discord: a file
//! hosted as an attachment, downloaded through the media client, read (text or PDF), embedded
//! by the server's embedding endpoint (a fake on loopback) and stored with an audit row; and the
//! refusals that change nothing: no permission, no embedding model, a wrong or malformed file,
//! an oversized one.

use std::sync::Arc;

use tomori_chat::documents::Documents;
use tomori_chat::providers::ServerProviders;
use tomori_discord::{BotControl, Discord};
use tomori_llm::{Timeouts, client_for};
use tomori_net::Policy;
use tomori_store::audit::Actor;
use tomori_store::credentials::KeyOwner;
use tomori_store::endpoints::{self, NewEndpoint};
use tomori_store::personas::{self, NewPersona};
use tomori_store::{Scope, Store, documents};
use tomori_testkit::fake_discord::{
    AttachmentSpec, FakeDiscord, FakeInteraction, SlashCommand, UserSpec,
};
use tomori_testkit::fake_llm::{FakeLlm, WireFormat};
use tomori_testkit::{TestDb, audit_actions, pdf, pdf_with};
use tomori_tools::PdfExtractor;
use tomori_tools::pdf::ReaderLimits;

use crate::commands::{Control, MANAGE_GUILD, VIEW_AND_SEND};
use crate::{ALICE, Bot, CHANNEL, GUILD, WAIT, config, snowflake};

struct World {
    fake: FakeDiscord,
    db: TestDb,
    store: Store,
    server: Scope,
    embedder: FakeLlm,
    bot: Option<Bot>,
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(bot) = self.bot.take() {
            let _ = bot.stop.send(());
        }
    }
}

/// The test PDF reader (this package's `tomori-discord-extract-pdf`, the code of `tomori
/// extract-pdf`), allowed 256 MiB of address space so that a bomb is stopped in seconds even in
/// a debug build.
fn pdf_reader() -> PdfExtractor {
    PdfExtractor::new(env!("CARGO_BIN_EXE_tomori-discord-extract-pdf"), Vec::new())
        .with_limits(ReaderLimits { memory_bytes: 256 * 1024 * 1024, cpu_seconds: 20 })
}

/// A guild with a main persona and a custom endpoint `emb` (a fake that embeds bags of words),
/// whose commands download through a media client that may reach the fake Discord on loopback.
async fn world() -> World {
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(GUILD, CHANNEL);
    let db = TestDb::new().await;
    let store = db.store().await;
    let server = Scope::server(store.resolve_guild(snowflake(GUILD)).await.unwrap());
    let main = NewPersona { nickname: "Tomori".to_owned(), ..NewPersona::default() };
    personas::create(&store, server, Actor::Operator, main).await.unwrap();
    let embedder = FakeLlm::start(WireFormat::OpenAi).await;
    embedder.embed_words(64);
    let endpoint = NewEndpoint {
        label: "emb".to_owned(),
        base_url: embedder.base_url(),
        model: "chat-model".to_owned(),
        context_length: None,
        has_tools: false,
        has_vision: false,
        api_key: None,
    };
    endpoints::add(&store, server, Actor::Operator, KeyOwner::Server, &endpoint).await.unwrap();
    let discord = Discord::connect(&config(&fake)).await.unwrap();
    let media =
        tomori_net::Client::new(Policy::new(tomori_net::Scope::Media).allow_loopback_for_tests())
            .unwrap();
    let policy = Policy::new(tomori_net::Scope::Server).allow_loopback_for_tests();
    let providers = ServerProviders::new(client_for(policy, &Timeouts::default()).unwrap());
    let commands = discord
        .commands(store.clone(), Arc::new(Control::default()) as Arc<dyn BotControl>)
        .media_client(media)
        .with_documents(Documents::new(providers), pdf_reader());
    let bot = Bot::start(discord.with_commands(commands));
    fake.wait_for_ready(0, WAIT).await;
    World { fake, db, store, server, embedder, bot: Some(bot) }
}

impl World {
    async fn answer(&self, permissions: u64, name: &str, args: &[(&str, &str)]) -> String {
        let mut command = SlashCommand::new(CHANNEL, UserSpec::new(ALICE, "alice"), name)
            .in_guild(GUILD, permissions);
        for (key, value) in args {
            command = command.arg(key, *value);
        }
        self.run(command).await
    }

    async fn run(&self, command: SlashCommand) -> String {
        let id = self.fake.inject_command(command);
        // Progress notes ("Adding …: embedding n/m passages…") stand in for the answer first.
        let answered = |i: &FakeInteraction| {
            i.answered() && !i.content.as_deref().is_some_and(|c| c.starts_with("Adding `"))
        };
        let answered = self.fake.wait_for_interaction(id, answered, WAIT).await;
        assert!(answered.ephemeral, "answers are ephemeral: {answered:?}");
        answered.content.unwrap()
    }

    async fn add(&self, permissions: u64, file: &AttachmentSpec) -> String {
        let command =
            SlashCommand::new(CHANNEL, UserSpec::new(ALICE, "alice"), "memory document add")
                .in_guild(GUILD, permissions)
                .attachment_arg("file", file);
        self.run(command).await
    }

    async fn choose_embedding(&self) {
        let answer = self
            .answer(
                MANAGE_GUILD,
                "model embedding",
                &[("provider", "custom:emb"), ("model", "fake-embed")],
            )
            .await;
        assert_eq!(answer, "Server documents are embedded with `custom:emb/fake-embed`.");
    }

    /// The documents, their chunk counts and the audit log.
    async fn state(&self) -> String {
        let docs = documents::list(&self.store, self.server).await.unwrap();
        let docs: Vec<(String, u32)> = docs.into_iter().map(|d| (d.name, d.chunks)).collect();
        format!("{docs:?}\n{:?}", audit_actions(&self.db).await)
    }

    fn downloads(&self) -> usize {
        self.fake.requests().iter().filter(|r| r.path.starts_with("/attachments/")).count()
    }
}

const RULES: &str = "# House rules\r\n\r\nThe wifi password is hunter2.\r\n\r\nTea is at five.";

#[tokio::test]
async fn a_text_and_a_pdf_document_are_added_listed_and_removed() {
    let w = world().await;
    // A member may see the model, not change it.
    let refused =
        w.answer(VIEW_AND_SEND, "model embedding", &[("provider", "openai"), ("model", "m")]).await;
    assert_eq!(refused, "You need the Manage Server permission to do that; nothing was changed.");
    let anthropic = w
        .answer(MANAGE_GUILD, "model embedding", &[("provider", "anthropic"), ("model", "m")])
        .await;
    assert!(anthropic.contains("has no embeddings API"), "{anthropic}");
    let unknown = w
        .answer(MANAGE_GUILD, "model embedding", &[("provider", "custom:nope"), ("model", "m")])
        .await;
    assert!(unknown.starts_with("Unknown provider `custom:nope`"), "{unknown}");
    w.choose_embedding().await;
    let shown = w.answer(VIEW_AND_SEND, "model show", &[]).await;
    assert!(
        shown.contains("\nServer documents are embedded with `custom:emb/fake-embed`.\n"),
        "{shown}"
    );
    assert!(shown.contains("\nNo image model: pictures are not drawn.\n"), "{shown}");
    assert!(shown.ends_with("No video model: videos are not made."), "{shown}");

    let rules = w.fake.host_attachment("rules.md", "text/markdown", RULES.as_bytes().to_vec());
    let answer = w.add(MANAGE_GUILD, &rules).await;
    assert!(answer.starts_with("Added `rules.md`: 1 passages from 61 characters."), "{answer}");
    assert_eq!(
        w.embedder.embedded_texts(),
        ["# House rules\n\nThe wifi password is hunter2.\n\nTea is at five."],
        "normalised text, embedded with the model named"
    );
    let pdf = pdf_with("Parking is behind the building");
    let report = w.fake.host_attachment("parking.pdf", "application/pdf", pdf.into_bytes());
    let command = SlashCommand::new(CHANNEL, UserSpec::new(ALICE, "alice"), "memory document add")
        .in_guild(GUILD, MANAGE_GUILD)
        .attachment_arg("file", &report)
        .arg("name", "Parking");
    let answer = w.run(command).await;
    assert!(answer.starts_with("Added `Parking`: 1 passages"), "{answer}");
    assert!(w.embedder.embedded_texts()[1].contains("Parking is behind the building"));

    let listed = w.answer(VIEW_AND_SEND, "memory document list", &[]).await;
    assert_eq!(
        listed,
        "Documents: 2 of 20, 2 of 1000 passages.\n\
         `Parking` · 1 passages · 30 characters\n\
         `rules.md` · 1 passages · 61 characters"
    );
    // Another embedding model: the documents stay, marked for adding again.
    let switched = w
        .answer(
            MANAGE_GUILD,
            "model embedding",
            &[("provider", "openai"), ("model", "text-embedding-3-small")],
        )
        .await;
    assert!(switched.contains("2 document(s) were embedded with another model"), "{switched}");
    let listed = w.answer(VIEW_AND_SEND, "memory document list", &[]).await;
    assert!(listed.contains("`rules.md` · 1 passages · 61 characters · embedded with `custom:emb/fake-embed`: not searched until added again"), "{listed}");

    let removed = w.answer(MANAGE_GUILD, "memory document remove", &[("name", "RULES.MD")]).await;
    assert_eq!(removed, "Removed `rules.md` (1 passages).");
    let cleared = w.answer(MANAGE_GUILD, "model embedding-clear", &[]).await;
    assert_eq!(cleared, "Server documents are no longer searched; they stay stored.");
    assert_eq!(
        w.state().await,
        "[(\"Parking\", 1)]\n[\"persona.create\", \"endpoint.add\", \"model.embedding.set\", \"document.add\", \"document.add\", \
         \"model.embedding.set\", \"document.remove\", \"model.embedding.clear\"]"
    );
}

#[tokio::test]
async fn refusals_change_nothing() {
    let w = world().await;
    let rules = w.fake.host_attachment("rules.md", "text/markdown", RULES.as_bytes().to_vec());
    // No embedding model yet: refused before downloading.
    let answer = w.add(MANAGE_GUILD, &rules).await;
    assert_eq!(
        answer,
        "Choose an embedding model with /model embedding first. Nothing was changed."
    );
    assert_eq!(w.downloads(), 0);
    w.choose_embedding().await;
    let before = w.state().await;

    // Adding follows the rule for teaching server memories: members only when the server lets
    // them teach; removing always needs Manage Server.
    let answer = w.add(VIEW_AND_SEND, &rules).await;
    assert_eq!(answer, "You need the Manage Server permission to do that; nothing was changed.");
    let answer = w.answer(VIEW_AND_SEND, "memory document remove", &[("name", "x")]).await;
    assert!(answer.contains("Manage Server"), "{answer}");
    assert_eq!(w.downloads(), 0);
    assert_eq!(w.state().await, before);

    // Wrong kinds and malformed files.
    let cases: Vec<(AttachmentSpec, &str)> = vec![
        (
            w.fake.host_attachment("song.mp3", "audio/mpeg", vec![1, 2, 3]),
            "is not a .txt, .md or .pdf file",
        ),
        (
            w.fake.host_attachment("fake.txt", "image/png", b"hello".to_vec()),
            "is declared as another kind of file",
        ),
        (
            w.fake.host_attachment("binary.txt", "text/plain", vec![0, 159, 146, 150, 0, 1]),
            "is not a text file",
        ),
        (
            w.fake.host_attachment("broken.pdf", "application/pdf", b"%PDF-1.4 nonsense".to_vec()),
            "could not be read as a PDF: this PDF could not be read",
        ),
        // A form XObject that draws itself and a stream that inflates to 2 GiB: each stops its
        // reader (the parser used to overflow this process's stack, or fill its memory).
        (
            w.fake.host_attachment("self.pdf", "application/pdf", pdf::self_drawing().into()),
            "could not be read as a PDF: this PDF could not be read (the reader stopped on it",
        ),
        (
            w.fake.host_attachment(
                "bomb.pdf",
                "application/pdf",
                pdf::inflation_bomb(2 << 30).into(),
            ),
            "could not be read as a PDF: this PDF could not be read (the reader stopped on it",
        ),
        (
            w.fake.host_attachment("blank.md", "text/markdown", b" \r\n\t \r\n".to_vec()),
            "has no text",
        ),
        (
            w.fake.host_attachment("bad`name.md", "text/markdown", b"text".to_vec()),
            "Invalid document name",
        ),
    ];
    for (file, reason) in &cases {
        let answer = w.add(MANAGE_GUILD, file).await;
        assert!(
            answer.contains(reason) && answer.ends_with("Nothing was changed."),
            "{}: {answer}",
            file.filename
        );
    }
    // Security: a file Discord reports as larger than 4 MiB is refused before any download; one
    // that claims less but sends more is cut off at the cap.
    let downloads = w.downloads();
    let mut huge = w.fake.host_attachment("huge.txt", "text/plain", b"small".to_vec());
    huge.size = 5 * 1024 * 1024;
    let answer = w.add(MANAGE_GUILD, &huge).await;
    assert!(answer.contains("is 5.00 MiB; at most 4.00 MiB is accepted"), "{answer}");
    assert_eq!(w.downloads(), downloads, "not downloaded");
    let mut liar =
        w.fake.host_attachment("liar.txt", "text/plain", vec![b'a'; 4 * 1024 * 1024 + 1]);
    liar.size = 10;
    let answer = w.add(MANAGE_GUILD, &liar).await;
    assert!(answer.contains("is larger than 4.00 MiB"), "{answer}");
    // Too long once read: 150,000 characters.
    let long =
        w.fake.host_attachment("long.txt", "text/plain", "word ".repeat(30_000).into_bytes());
    let answer = w.add(MANAGE_GUILD, &long).await;
    assert!(answer.contains("has 149999 characters of text; at most 120,000"), "{answer}");
    assert_eq!(w.embedder.request_count(), 0, "nothing was embedded");
    assert_eq!(w.state().await, before);

    // With member teaching on, a member may add; a name is unique in the server.
    w.answer(MANAGE_GUILD, "server member-teaching", &[("state", "on")]).await;
    let answer = w.add(VIEW_AND_SEND, &rules).await;
    assert!(answer.starts_with("Added `rules.md`"), "{answer}");
    let again = w.add(MANAGE_GUILD, &rules).await;
    assert!(again.contains("A document named `rules.md` already exists"), "{again}");
    let missing = w.answer(MANAGE_GUILD, "memory document remove", &[("name", "nope")]).await;
    assert_eq!(missing, "No such document.");
}

#[tokio::test]
async fn a_long_document_shows_its_embedding_progress_then_the_answer() {
    let w = world().await;
    w.choose_embedding().await;
    // About 70 passages: three embedding batches of at most 32.
    let text: String = (0..70)
        .map(|i| format!("Section {i}. {}\n\n", "The harbour ledger lists every ship. ".repeat(21)))
        .collect();
    let file = w.fake.host_attachment("ledger.txt", "text/plain", text.into_bytes());
    let command = SlashCommand::new(CHANNEL, UserSpec::new(ALICE, "alice"), "memory document add")
        .in_guild(GUILD, MANAGE_GUILD)
        .attachment_arg("file", &file);
    let id = w.fake.inject_command(command);
    let done = |i: &FakeInteraction| i.content.as_deref().is_some_and(|c| c.starts_with("Added"));
    let answered = w.fake.wait_for_interaction(id, done, WAIT).await;
    let notes: Vec<&String> =
        answered.edited_texts.iter().filter(|t| t.contains("embedding")).collect();
    assert!(!notes.is_empty(), "progress is shown while embedding: {:?}", answered.edited_texts);
    for note in &notes {
        assert!(
            note.starts_with("Adding `ledger.txt`: embedding ") && note.ends_with(" passages…"),
            "{note}"
        );
    }
    let last = answered.edited_texts.last().unwrap();
    assert!(last.starts_with("Added `ledger.txt`"), "the answer replaces the notes: {last}");
}
