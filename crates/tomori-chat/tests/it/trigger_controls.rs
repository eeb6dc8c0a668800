//! The server's trigger controls as the engine applies them: the auto-trigger range in
//! auto-trigger channels (0–0 off), the server-wide always-reply, and deliberate trigger mode.

use tomori_core::settings::ChannelSet;
use tomori_core::trigger::AutoRange;
use tomori_store::Scope;
use tomori_store::audit::Actor;
use tomori_store::settings::{self, Setting};
use tomori_testkit::fake_llm::Turn;

use crate::{ALICE, BOT, CHANNEL, Harness, id};

async fn set(h: &Harness, setting: Setting) {
    settings::set(&h.store, Scope::server(h.server), Actor::Operator, setting).await.unwrap();
}

#[tokio::test]
async fn an_auto_trigger_channel_joins_in_when_the_drawn_target_is_reached() {
    let h = Harness::new().await;
    let scope = Scope::server(h.server);
    settings::add_channel(&h.store, scope, Actor::Operator, ChannelSet::AutoTrigger, id(CHANNEL))
        .await
        .unwrap();
    // 0–0 is off: nothing unaddressed is answered.
    for text in ["one", "two", "three", "four"] {
        h.engine.handle(h.message(ALICE, "alice", text)).await;
    }
    assert!(h.settle().await.is_empty());

    set(&h, Setting::AutoTrigger(AutoRange::new(3, 3).unwrap())).await;
    h.llm.push_turn(Turn::new().text("Joining in."));
    for text in ["five", "six", "seven"] {
        h.engine.handle(h.message(ALICE, "alice", text)).await;
    }
    let sent = h.wait_sent(1).await;
    assert_eq!(sent[0].content, "Joining in.");
    assert_eq!(sent[0].reply_to, None, "a passive answer replies to no one");
    h.engine.handle(h.message(ALICE, "alice", "eight")).await;
    assert_eq!(h.settle().await.len(), 1, "a new cycle starts");
}

#[tokio::test]
async fn always_reply_answers_every_message_in_every_channel() {
    let h = Harness::new().await;
    set(&h, Setting::AlwaysReply(true)).await;
    h.llm.push_turn(Turn::new().text("I'm listening."));
    h.engine.handle(h.message(ALICE, "alice", "just talking to myself")).await;
    let sent = h.wait_sent(1).await;
    assert_eq!(sent[0].content, "I'm listening.");

    set(&h, Setting::AlwaysReply(false)).await;
    h.engine.handle(h.message(ALICE, "alice", "still talking")).await;
    assert_eq!(h.settle().await.len(), 1);
}

#[tokio::test]
async fn deliberate_mode_ignores_bare_trigger_words() {
    let h = Harness::new().await;
    set(&h, Setting::DeliberateTrigger(true)).await;
    h.engine.handle(h.message(ALICE, "alice", "tomori is nice")).await;
    assert!(h.settle().await.is_empty());
    h.llm.push_turn(Turn::new().text("You called?"));
    h.engine.handle(h.message(ALICE, "alice", "@tomori are you there")).await;
    // A follow-up of the same member would interrupt the turn: let it end first.
    h.wait_sent(1).await;
    h.wait_idle().await;
    h.llm.push_turn(Turn::new().text("Mentioned."));
    h.engine.handle(h.message(ALICE, "alice", &format!("<@{BOT}> and you?"))).await;
    let sent = h.wait_sent(2).await;
    assert_eq!(sent[0].content, "You called?");
    assert_eq!(sent[1].content, "Mentioned.");
}
