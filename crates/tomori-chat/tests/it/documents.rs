//! Server documents in turns: a document added through the server's embedding endpoint is cut,
//! embedded and stored; the passage relevant to the latest message reaches the model's request
//! (fenced as untrusted) and an unrelated one does not; retrieval that fails or stalls leaves
//! the documents out and the turn goes on; a server without documents costs no embedding call.

use std::time::Duration;

use tomori_chat::documents::{DocumentError, DocumentOptions, Documents};
use tomori_chat::providers::ServerProviders;
use tomori_llm::{Timeouts, client_for};
use tomori_net::Policy;
use tomori_store::audit::Actor;
use tomori_store::credentials::KeyOwner;
use tomori_store::documents::{self, Family, NewChunk, NewDocument};
use tomori_store::endpoints::{self, NewEndpoint};
use tomori_store::models::{self, EmbeddingModel};
use tomori_store::{Scope, StoreError};
use tomori_testkit::fake_llm::{FakeLlm, Reply, Step, Turn, WireFormat, bag_of_words};

use crate::{ALICE, Harness, id};

const DIMENSION: usize = 256;

/// The server registers `embedder` as its endpoint `emb` and embeds with `fake-embed` there.
pub(crate) async fn embed_through(
    h: &Harness,
    embedder: &FakeLlm,
    options: DocumentOptions,
) -> Documents {
    let scope = Scope::server(h.server);
    let new = NewEndpoint {
        label: "emb".to_owned(),
        base_url: embedder.base_url(),
        model: "some-chat-model".to_owned(),
        context_length: None,
        has_tools: false,
        has_vision: false,
        api_key: None,
    };
    endpoints::add(&h.store, scope, Actor::Operator, KeyOwner::Server, &new).await.unwrap();
    let model =
        EmbeddingModel { provider: "custom:emb".to_owned(), model: "fake-embed".to_owned() };
    models::set_embedding(&h.store, scope, Actor::Operator, &model).await.unwrap();
    // Server endpoints go through the server-scope policy; the test policy may reach loopback.
    let policy = Policy::new(tomori_net::Scope::Server).allow_loopback_for_tests();
    let providers = ServerProviders::new(client_for(policy, &Timeouts::default()).unwrap());
    Documents::with_options(providers, options)
}

fn system_prompt_sent(llm: &FakeLlm) -> String {
    let request = llm.requests().into_iter().find(|r| r.path.ends_with("/chat/completions"));
    let body = request.expect("a chat request").json.unwrap();
    body["messages"][0]["content"].as_str().unwrap().to_owned()
}

const WIFI: &str = "The wifi password is hunter2, and the router sits in the hall.";
const PARKING: &str = "Parking spaces behind the building are reserved for staff on weekdays.";

#[tokio::test]
async fn the_relevant_passage_reaches_the_model_and_the_unrelated_one_does_not() {
    let h = Harness::new().await;
    let embedder = FakeLlm::start(WireFormat::OpenAi).await;
    embedder.embed_words(DIMENSION);
    let documents = embed_through(&h, &embedder, DocumentOptions::default()).await;
    let scope = Scope::server(h.server);
    let added = documents
        .add(&h.store, scope, Actor::Operator, Some(id(ALICE)), "wifi.md", WIFI)
        .await
        .unwrap();
    assert_eq!((added.chunks, added.family.dimension), (1, 256));
    assert_eq!(
        added.family.model, "fake-embed",
        "the embedding model, not the endpoint's chat model"
    );
    documents.add(&h.store, scope, Actor::Operator, None, "parking.txt", PARKING).await.unwrap();
    let request = &embedder.requests()[0];
    assert_eq!(request.path, "/v1/embeddings");
    assert_eq!(request.json.as_ref().unwrap()["model"], "fake-embed");

    h.engine.set_documents(documents);
    h.llm.push_turn(Turn::new().text("It's hunter2."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> what is the wifi password?")).await;
    assert_eq!(h.wait_sent(1).await[0].content, "It's hunter2.");
    let system = system_prompt_sent(&h.llm);
    let block = system.split("## Server documents\n").nth(1).expect("a documents block");
    assert!(
        block.starts_with(&format!("<untrusted>\n- [wifi.md, part 1] {WIFI}\n</untrusted>")),
        "{system}"
    );
    assert!(!system.contains("Parking"), "the unrelated passage stays out: {system}");
    // The query was the message that triggered the turn.
    assert_eq!(embedder.embedded_texts().last().unwrap(), "<@900> what is the wifi password?");
}

#[tokio::test]
async fn a_failing_or_stalled_embedding_call_leaves_documents_out_and_the_turn_goes_on() {
    let h = Harness::new().await;
    let embedder = FakeLlm::start(WireFormat::OpenAi).await;
    let options = DocumentOptions {
        retrieval_timeout: Duration::from_millis(500),
        ..DocumentOptions::default()
    };
    let documents = embed_through(&h, &embedder, options).await;
    // Stored directly (no embedding call): one chunk of the server's family.
    let scope = Scope::server(h.server);
    let stored = NewDocument {
        name: "wifi.md".to_owned(),
        chars: WIFI.len(),
        family: Family {
            provider: "custom:emb".to_owned(),
            model: "fake-embed".to_owned(),
            dimension: 256,
        },
        chunks: vec![NewChunk {
            content: WIFI.to_owned(),
            embedding: bag_of_words(WIFI, DIMENSION),
        }],
    };
    documents::add(&h.store, scope, Actor::Operator, None, &stored).await.unwrap();
    h.engine.set_documents(documents);

    // A stalled answer: the turn waits at most the retrieval timeout.
    embedder
        .push(Reply::Raw { content_type: "application/json".to_owned(), steps: vec![Step::Stall] });
    h.llm.push_turn(Turn::new().text("No idea, sorry."));
    let started = std::time::Instant::now();
    h.engine.handle(h.message(ALICE, "alice", "<@900> what is the wifi password?")).await;
    assert_eq!(h.wait_sent(1).await[0].content, "No idea, sorry.");
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    assert!(!system_prompt_sent(&h.llm).contains("Server documents"));

    // A refused key (no retries): the same.
    embedder.push(Reply::status(401, &serde_json::json!({"error": {"message": "bad key"}})));
    h.llm.push_turn(Turn::new().text("Still no idea."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> and the wifi password now?")).await;
    assert_eq!(h.wait_sent(2).await[1].content, "Still no idea.");
    assert_eq!(embedder.request_count(), 2);
}

#[tokio::test]
async fn retrieval_costs_nothing_without_documents_or_for_short_messages() {
    let h = Harness::new().await;
    let embedder = FakeLlm::start(WireFormat::OpenAi).await;
    embedder.embed_words(DIMENSION);
    let documents = embed_through(&h, &embedder, DocumentOptions::default()).await;
    h.engine.set_documents(documents.clone());
    h.llm.push_turn(Turn::new().text("Hello."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> what is the wifi password?")).await;
    h.wait_sent(1).await;
    assert_eq!(embedder.request_count(), 0, "no documents: no embedding call");

    // A document of an earlier model is ignored too.
    let scope = Scope::server(h.server);
    documents.add(&h.store, scope, Actor::Operator, None, "wifi.md", WIFI).await.unwrap();
    // A query under three characters is not embedded.
    let state = documents::retrieval_state(&h.store, scope).await.unwrap();
    assert!(documents.passages(&h.store, h.server, state.as_ref(), " hi ").await.is_empty());
    assert_eq!(embedder.request_count(), 1, "only the document was embedded");
    let found =
        documents.passages(&h.store, h.server, state.as_ref(), "what is the wifi password").await;
    assert_eq!(found.iter().map(|p| p.content.as_str()).collect::<Vec<_>>(), [WIFI]);
    let other =
        EmbeddingModel { provider: "custom:emb".to_owned(), model: "newer-embed".to_owned() };
    models::set_embedding(&h.store, scope, Actor::Operator, &other).await.unwrap();
    h.llm.push_turn(Turn::new().text("Hello again."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> what is the wifi password?")).await;
    h.wait_sent(2).await;
    assert_eq!(embedder.request_count(), 2, "no query embedding for the earlier model's documents");
    assert!(!system_prompt_sent(&h.llm).contains("hunter2"));
}

#[tokio::test]
async fn a_document_that_cannot_be_stored_costs_no_embedding_call() {
    let h = Harness::new().await;
    let embedder = FakeLlm::start(WireFormat::OpenAi).await;
    embedder.embed_words(DIMENSION);
    let documents = embed_through(&h, &embedder, DocumentOptions::default()).await;
    let scope = Scope::server(h.server);
    let add = |name: &'static str, text: String| {
        let (documents, store) = (documents.clone(), h.store.clone());
        async move { documents.add(&store, scope, Actor::Operator, None, name, &text).await }
    };
    assert!(matches!(add("empty.txt", " \0\r\n\t ".to_owned()).await, Err(DocumentError::Empty)));
    let long = "word ".repeat(30_000);
    assert!(matches!(add("long.txt", long).await, Err(DocumentError::TooLong { .. })));
    // Lines of 520 characters: every chunk ends at a line break and the next starts 200 back.
    let many = ("x".repeat(519) + "\n").repeat(229);
    assert!(matches!(add("many.txt", many).await, Err(DocumentError::TooManyChunks { .. })));
    assert!(matches!(
        add("bad`name", WIFI.to_owned()).await,
        Err(DocumentError::Store(StoreError::Invalid { .. }))
    ));
    add("wifi.md", WIFI.to_owned()).await.unwrap();
    assert_eq!(embedder.request_count(), 1);
    let again = add("WIFI.md", PARKING.to_owned()).await;
    assert!(matches!(again, Err(DocumentError::Store(StoreError::Conflict(_)))), "{again:?}");
    assert_eq!(embedder.request_count(), 1, "refused before embedding");
    // Without an embedding model nothing is embedded either.
    models::clear_embedding(&h.store, scope, Actor::Operator).await.unwrap();
    assert!(matches!(add("parking.txt", PARKING.to_owned()).await, Err(DocumentError::NoModel)));
    assert_eq!(documents::list(&h.store, scope).await.unwrap().len(), 1);
}
