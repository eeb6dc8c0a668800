//! Before anyone ran a slash command: a server or DM without a persona is answered by the
//! built-in "Default Tomori", and with no provider at all whoever addresses the bot is told once
//! per channel that an admin must run `/config setup`.

use std::time::Duration;

use tomori_chat::engine::{Engine, EngineOptions};
use tomori_chat::surface::{Inbound, Speaker};
use tomori_llm::Llm;
use tomori_testkit::fake_llm::Turn;

use crate::{ALICE, BOT, Harness, RecordingSurface, id};

const FRESH_GUILD: u64 = 501;
const FRESH_CHANNEL: u64 = 601;
const DM_CHANNEL: u64 = 602;

/// `message` moved to a guild that has no persona (or, with `None`, to a direct message).
fn elsewhere(mut message: Inbound, guild: Option<u64>, channel: u64) -> Inbound {
    message.guild = guild.map(id);
    message.channel = id(channel);
    message
}

#[tokio::test]
async fn a_server_and_a_dm_without_a_persona_are_answered_by_default_tomori() {
    let h = Harness::new().await;
    h.llm.push_turn(Turn::new().text("Hi, I'm Tomori!"));
    let fresh = elsewhere(
        h.message(ALICE, "alice", "tomo, anyone here?"),
        Some(FRESH_GUILD),
        FRESH_CHANNEL,
    );
    h.engine.handle(fresh).await;
    let sent = h.wait_sent(1).await;
    assert_eq!((sent[0].content.as_str(), &sent[0].speaker), ("Hi, I'm Tomori!", &Speaker::Bot));
    let body = String::from_utf8_lossy(&h.llm.requests()[0].body).into_owned();
    assert!(body.contains("Default Tomori") && body.contains("/config setup"), "{body}");

    // Unaddressed, it stays quiet as any persona would.
    h.engine
        .handle(elsewhere(
            h.message(ALICE, "alice", "tomorrow, then"),
            Some(FRESH_GUILD),
            FRESH_CHANNEL,
        ))
        .await;
    // A direct message always addresses it.
    h.llm.push_turn(Turn::new().text("Hello in private."));
    h.engine.handle(elsewhere(h.message(ALICE, "alice", "hello?"), None, DM_CHANNEL)).await;
    let sent = h.wait_sent(2).await;
    assert_eq!(sent[1].content, "Hello in private.");
    assert_eq!(h.settle().await.len(), 2);
    assert_eq!(h.llm.requests().len(), 2);
}

#[tokio::test]
async fn with_no_provider_the_addresser_is_told_once_per_channel_to_run_config_setup() {
    let h = Harness::new().await;
    let surface = RecordingSurface::default();
    let engine = Engine::new(
        h.store.clone(),
        surface.clone(),
        Llm::default(),
        Vec::new(),
        EngineOptions { typing_every: Duration::from_millis(50), ..EngineOptions::default() },
    );
    engine.set_bot_user(id(BOT));
    let sent = || surface.0.sent.lock().unwrap().clone();
    let settle = || tokio::time::sleep(Duration::from_millis(300));
    // A follow-up from the same member would interrupt a running turn: wait for each to end.
    let idle = |channel: u64| {
        let engine = engine.clone();
        async move {
            while !engine.is_idle(id(channel)) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };

    // The server has personas but no model: a mention is told what to do, once.
    let first = h.message(ALICE, "alice", &format!("<@{BOT}> hello?"));
    let trigger = first.message;
    engine.handle(first).await;
    idle(crate::CHANNEL).await;
    engine.handle(h.message(ALICE, "alice", &format!("<@{BOT}> hello??"))).await;
    idle(crate::CHANNEL).await;
    engine.handle(h.message(ALICE, "alice", "nobody addressed")).await;
    settle().await;
    let told = sent();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].content.contains("/config setup"), "{}", told[0].content);
    assert_eq!(told[0].reply_to, Some(trigger), "it answers whoever addressed it");

    // A fresh server's channel and a DM are each told once too.
    engine
        .handle(elsewhere(h.message(ALICE, "alice", "tomo?"), Some(FRESH_GUILD), FRESH_CHANNEL))
        .await;
    engine.handle(elsewhere(h.message(ALICE, "alice", "hi"), None, DM_CHANNEL)).await;
    idle(DM_CHANNEL).await;
    engine.handle(elsewhere(h.message(ALICE, "alice", "hi again"), None, DM_CHANNEL)).await;
    settle().await;
    let told = sent();
    assert_eq!(told.len(), 3, "{told:?}");
    assert!(told.iter().all(|m| m.content.contains("/config setup")));
    assert!(h.llm.requests().is_empty(), "no model was asked");
}
