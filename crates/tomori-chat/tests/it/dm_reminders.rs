//! A reminder the scheduler sends into a member's direct messages, read back by an engine that
//! has not yet seen the member write there (a restart): the gateway's echo of it is the
//! persona's own words in the member's tenant, not someone else's message in the bot's.

use chrono::{TimeDelta, Utc};
use tokio_util::sync::CancellationToken;
use tomori_chat::reminders::{Scheduler, SchedulerOptions};
use tomori_chat::surface::{Inbound, InboundAuthor};
use tomori_store::Scope;
use tomori_store::audit::Actor;
use tomori_store::personas::{self, NewPersona};
use tomori_store::reminders::{self, NewReminder};
use tomori_testkit::fake_llm::Turn;
use tomori_tools::Clock;

use crate::{ALICE, BOT, Harness, id};

const DM_CHANNEL: u64 = 777;

fn in_dm(message: u64, author: u64, name: &str, content: &str) -> Inbound {
    let mut inbound = Harness::dm_template();
    inbound.channel = id(DM_CHANNEL);
    inbound.message = id(message);
    inbound.author =
        InboundAuthor { id: id(author), name: name.into(), is_bot: author == BOT, webhook: None };
    inbound.content = content.into();
    inbound
}

#[tokio::test]
async fn a_reminder_sent_into_a_dm_after_a_restart_is_the_personas_own_turn() {
    let h = Harness::new().await;
    let dm = h.store.resolve_dm(id(ALICE)).await.unwrap();
    let mika = personas::create(
        &h.store,
        Scope::server(dm),
        Actor::Operator,
        NewPersona {
            nickname: "Mika".into(),
            prompt: "You are Mika, a cat.".into(),
            ..NewPersona::default()
        },
    )
    .await
    .unwrap();
    let new = NewReminder {
        channel: id(DM_CHANNEL),
        user: id(ALICE),
        persona: Some(mika.id),
        purpose: "feed the cat".into(),
        due_at: Utc::now() - TimeDelta::minutes(1),
        repeat_hours: None,
    };
    reminders::create(&h.store, Scope::server(dm), Actor::Discord(id(ALICE)), new).await.unwrap();
    let scheduler = Scheduler::new(
        h.store.clone(),
        h.surface.clone(),
        Clock::system(),
        SchedulerOptions::default(),
    )
    .with_dm_members(h.engine.dm_members());
    scheduler.tick(&CancellationToken::new()).await.unwrap();
    let reminder = h.wait_sent(1).await.remove(0).content;
    assert!(reminder.contains("feed the cat"), "{reminder}");

    // The gateway echoes the reminder from the bot's account; then alice answers.
    h.engine.handle(in_dm(5_000, BOT, "Tomori", &reminder)).await;
    h.llm.push_turn(Turn::new().text("Good human."));
    h.engine.handle(in_dm(5_001, ALICE, "alice", "done, she ate")).await;
    h.wait_sent(2).await;
    let asked = h.llm.requests()[0].json.clone().unwrap();
    let messages = asked["messages"].as_array().unwrap();
    let echoed = messages
        .iter()
        .find(|m| m["content"].as_str().is_some_and(|c| c.contains("feed the cat")))
        .unwrap_or_else(|| panic!("the reminder is in the history: {asked}"));
    assert_eq!(echoed["role"], "assistant", "{asked}");
    assert!(!asked.to_string().contains("Default Tomori"), "{asked}");
}
