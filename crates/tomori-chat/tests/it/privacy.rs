//! Privacy level 2: a member who chose it never reaches a model, not even through other members'
//! turns. Their messages are absent from another member's prompt, from the prompt snapshot, from
//! the images a turn shows and from the retrieval query.

use tomori_chat::documents::DocumentOptions;
use tomori_core::privacy::PrivacyLevel;
use tomori_store::audit::Actor;
use tomori_store::{Scope, users};
use tomori_testkit::fake_llm::{FakeLlm, Turn, WireFormat};

use crate::documents::embed_through;
use crate::{ALICE, BOB, Harness, id};

const SECRET: &str = "my locker code is 7731";

async fn set_privacy(h: &Harness, who: u64, level: PrivacyLevel) {
    let user = h.store.resolve_user(id(who)).await.unwrap();
    users::set_privacy(&h.store, Scope::user(user), Actor::Discord(id(who)), level).await.unwrap();
}

#[tokio::test]
async fn a_privacy_2_member_is_absent_from_another_members_prompt_and_snapshot() {
    let h = Harness::new().await;
    set_privacy(&h, BOB, PrivacyLevel::Full).await;
    h.engine.handle(h.message(BOB, "bob", SECRET)).await;
    h.llm.push_turn(Turn::new().text("Hi alice."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> what did bob say?")).await;
    h.wait_sent(1).await;
    h.wait_idle().await;
    let requests = h.llm.requests();
    assert_eq!(requests.len(), 1, "only alice's turn reached the model");
    let body = String::from_utf8_lossy(&requests[0].body).into_owned();
    assert!(body.contains("what did bob say?"), "{body}");
    assert!(!body.contains("7731"), "a privacy-2 member's text reached the model: {body}");
    assert!(!body.contains("bob:"), "nor their name as a speaker: {body}");

    let snapshot = h.engine.prompt_snapshot(h.message(ALICE, "alice", "")).await.unwrap().text;
    assert!(snapshot.contains("what did bob say?"), "{snapshot}");
    assert!(!snapshot.contains("7731"), "the snapshot shows a privacy-2 member: {snapshot}");
}

#[tokio::test]
async fn messages_from_before_a_member_chose_privacy_2_are_dropped_too() {
    let h = Harness::new().await;
    h.engine.handle(h.message(BOB, "bob", SECRET)).await;
    set_privacy(&h, BOB, PrivacyLevel::Full).await;
    // Seen at level 2 on their next message: everything earlier of theirs goes too.
    h.engine.handle(h.message(BOB, "bob", "never mind")).await;
    h.llm.push_turn(Turn::new().text("Hi alice."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> hello")).await;
    h.wait_sent(1).await;
    h.wait_idle().await;
    let body = String::from_utf8_lossy(&h.llm.requests()[0].body).into_owned();
    assert!(!body.contains("7731") && !body.contains("never mind"), "{body}");
}

#[tokio::test]
async fn a_privacy_2_member_is_not_the_retrieval_query() {
    let h = Harness::new().await;
    let embedder = FakeLlm::start(WireFormat::OpenAi).await;
    embedder.embed_words(256);
    let documents = embed_through(&h, &embedder, DocumentOptions::default()).await;
    let scope = Scope::server(h.server);
    documents
        .add(&h.store, scope, Actor::Operator, None, "wifi.md", "The wifi password is hunter2.")
        .await
        .unwrap();
    h.engine.set_documents(documents);
    set_privacy(&h, BOB, PrivacyLevel::Full).await;
    h.engine.handle(h.message(ALICE, "alice", "good morning everyone")).await;
    h.engine.handle(h.message(BOB, "bob", SECRET)).await;
    // `/bot respond` without text: the latest member message is the retrieval query.
    h.llm.push_turn(Turn::new().text("Morning."));
    h.engine.respond_as(h.message(ALICE, "alice", ""), "Tomori").await;
    h.wait_sent(1).await;
    h.wait_idle().await;
    let queries = embedder.embedded_texts();
    assert!(queries.iter().all(|q| !q.contains("7731")), "{queries:?}");
    assert_eq!(queries.last().unwrap(), "good morning everyone");
}

/// `/personal privacy 2` tells the engine at once: their earlier messages leave other members'
/// prompts without waiting for a message of theirs.
#[tokio::test]
async fn withholding_an_author_drops_their_earlier_messages_at_once() {
    let h = Harness::new().await;
    h.engine.handle(h.message(BOB, "bob", SECRET)).await;
    set_privacy(&h, BOB, PrivacyLevel::Full).await;
    h.engine.withhold_author(id(BOB));
    h.llm.push_turn(Turn::new().text("Hi alice."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> hello")).await;
    h.wait_sent(1).await;
    h.wait_idle().await;
    let body = String::from_utf8_lossy(&h.llm.requests()[0].body).into_owned();
    assert!(!body.contains("7731"), "{body}");
}
