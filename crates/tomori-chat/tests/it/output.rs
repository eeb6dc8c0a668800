//! What is posted is what the persona meant, end to end through the streaming filter and the
//! sentence flushing: a reasoning tag split across chunks, a label, another speaker's lines,
//! the humanizer degree, and an answer that is empty once filtered (retried once, then a notice,
//! and no quota spent).

use tomori_chat::surface::Speaker;
use tomori_core::quota::QuotaLimits;
use tomori_store::Scope;
use tomori_store::audit::Actor;
use tomori_store::quotas::{self, QuotaKind};
use tomori_store::settings::{self, Setting};
use tomori_testkit::fake_llm::Turn;

use crate::{ALICE, Harness};

#[tokio::test]
async fn a_think_tag_split_across_chunks_never_reaches_the_channel() {
    let h = Harness::new().await;
    h.llm.push_turn(
        Turn::new()
            .text("<thi")
            .text("nk>She said hi; greet her back.</th")
            .text("ink>Tomori: Hello ")
            .text("alice!"),
    );
    h.engine.handle(h.message(ALICE, "alice", "<@900> hi")).await;
    let sent = h.wait_sent(1).await;
    h.wait_idle().await;
    let sent_now = h.sent();
    assert_eq!(sent_now.len(), 1, "{sent_now:?}");
    assert_eq!(sent[0].content, "Hello alice!", "the block and the persona's own label are gone");
    assert_eq!(sent[0].speaker, Speaker::Bot);
}

#[tokio::test]
async fn another_speakers_lines_end_the_answer_and_sentences_become_messages_at_degree_3() {
    let h = Harness::new().await;
    let scope = Scope::server(h.server);
    settings::set(&h.store, scope, Actor::Operator, Setting::HumanizerDegree(3)).await.unwrap();
    h.llm.push_turn(
        Turn::new()
            .text("It costs 3.50 in the U.S. today. Want")
            .text(" one? I can check.\nKaede: Me too!"),
    );
    h.engine.handle(h.message(ALICE, "alice", "<@900> price?")).await;
    h.wait_sent(3).await;
    h.wait_idle().await;
    let contents: Vec<String> = h.sent().into_iter().map(|m| m.content).collect();
    assert_eq!(contents, ["It costs 3.50 in the U.S. today.", "Want one?", "I can check."]);
}

#[tokio::test]
async fn an_answer_empty_once_filtered_is_retried_once_then_the_member_is_told_and_nothing_is_spent()
 {
    let h = Harness::new().await;
    let limits =
        QuotaLimits { enabled: true, per_user_daily: 1, server_pool: 0, reset_period_days: 1 };
    quotas::set_limits(&h.store, Scope::server(h.server), QuotaKind::Text, limits).await.unwrap();
    h.llm.push_turn(Turn::new().text("<think>nothing to say</think>"));
    h.llm.push_turn(Turn::new().text("<think>still nothing</think>  "));
    h.engine.handle(h.message(ALICE, "alice", "<@900> hm?")).await;
    let sent = h.wait_sent(1).await;
    h.wait_idle().await;
    assert_eq!(h.llm.requests().len(), 2, "one retry");
    assert!(sent[0].content.contains("couldn't put an answer together"), "{sent:?}");
    // The quota allows one answer a day, and none was given: the next one is answered.
    h.llm.push_turn(Turn::new().text("<think>now</think>Here it is."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> and now?")).await;
    assert_eq!(h.wait_sent(2).await[1].content, "Here it is.");
}

#[tokio::test]
async fn a_retry_that_answers_is_posted_alone() {
    let h = Harness::new().await;
    h.llm.push_turn(Turn::new().text("<think>only thinking</think>"));
    h.llm.push_turn(Turn::new().text("Second try."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> hello")).await;
    h.wait_sent(1).await;
    h.wait_idle().await;
    let contents: Vec<String> = h.sent().into_iter().map(|m| m.content).collect();
    assert_eq!(contents, ["Second try."]);
}
