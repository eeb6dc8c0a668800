//! Short-term memory end to end: the persona notes what is going on in one channel and with a
//! member, and its turns in the server's other public channels see it; a private channel's note,
//! a note about another member and a member at privacy level 1 are never carried.

use serde_json::{Value, json};
use tomori_core::privacy::PrivacyLevel;
use tomori_core::settings::ChannelSet;
use tomori_store::audit::Actor;
use tomori_store::{Scope, settings, short_term, users};
use tomori_testkit::fake_llm::Turn;

use crate::platform::{BOB, Conversation, GENERAL, RANDOM_GAMES, conversation_with};
use crate::{ALICE, CHANNEL, GUILD, WAIT, snowflake};

/// The system text of the model request `n`.
fn system(c: &Conversation, n: usize) -> String {
    let body: Value = serde_json::from_slice(&c.llm.requests()[n].body).unwrap();
    body["messages"][0]["content"].as_str().unwrap_or_default().to_owned()
}

/// Alice's message in `channel`, answered by a note (when `note` is given) and then `answer`.
async fn turn(c: &Conversation, channel: u64, who: (u64, &str), note: Option<Value>, answer: &str) {
    if let Some(note) = note {
        c.llm.push_turn(Turn::new().tool_call("call_1", "update_short_term_memory", note));
    }
    c.llm.push_turn(Turn::new().text(answer));
    c.say_in(channel, who.0, who.1, "Tomori, what's new?").await;
    c.s.fake.wait_for_message(|m| m.content == answer, WAIT).await;
}

#[tokio::test]
async fn notes_follow_the_member_to_public_channels_and_never_leave_a_private_one() {
    let c = conversation_with(|_| None).await;
    let server = c.s.store.resolve_guild(snowflake(GUILD)).await.unwrap();
    let scope = Scope::server(server);
    settings::add_channel(
        &c.s.store,
        scope,
        Actor::Operator,
        ChannelSet::Private,
        snowflake(RANDOM_GAMES),
    )
    .await
    .unwrap();
    let alice = (ALICE, "alice");
    // In #chat: a note about the channel and one about Alice.
    let picnic = json!({"about": "channel", "note": "Everyone is planning a picnic on Saturday."});
    turn(&c, CHANNEL, alice, Some(picnic), "Sounds fun!").await;
    let exams = json!({"about": "member", "note": "Alice is studying for her exams."});
    turn(&c, CHANNEL, alice, Some(exams), "Good luck!").await;
    // In the private #random: a note that must stay there.
    let secret = json!({"about": "channel", "note": "A surprise party for Bob is being planned."});
    turn(&c, RANDOM_GAMES, alice, Some(secret), "My lips are sealed.").await;

    // In #general, Alice's turn carries the public channel's note and the note about her.
    let before = c.llm.requests().len();
    turn(&c, GENERAL, alice, None, "Hello again.").await;
    let seen = system(&c, before);
    assert!(seen.contains("What you noted lately elsewhere in this server"), "{seen}");
    assert!(seen.contains(&format!("In <#{CHANNEL}>, about the channel")), "{seen}");
    assert!(seen.contains("planning a picnic on Saturday"), "{seen}");
    assert!(seen.contains("Alice is studying for her exams."), "{seen}");
    assert!(!seen.contains("surprise party"), "a private channel's note stays there: {seen}");

    // Bob sees the channel's note, not the note about Alice.
    let before = c.llm.requests().len();
    turn(&c, GENERAL, (BOB, "bob"), None, "Hi Bob.").await;
    let seen = system(&c, before);
    assert!(seen.contains("planning a picnic"), "{seen}");
    assert!(!seen.contains("exams") && !seen.contains("surprise party"), "{seen}");

    // In #chat itself the notes written there are not repeated (the history is there).
    let before = c.llm.requests().len();
    turn(&c, CHANNEL, alice, None, "Still here.").await;
    assert!(!system(&c, before).contains("planning a picnic"));

    // At privacy level 1 nothing is noted and nothing is shown about Bob.
    let bob = c.s.store.resolve_user(snowflake(BOB)).await.unwrap();
    users::set_privacy(&c.s.store, Scope::user(bob), Actor::Operator, PrivacyLevel::Partial)
        .await
        .unwrap();
    let before = c.llm.requests().len();
    let noted = json!({"about": "member", "note": "Bob is moving house."});
    turn(&c, GENERAL, (BOB, "bob"), Some(noted), "Take care.").await;
    let results = String::from_utf8_lossy(&c.llm.requests()[before + 1].body).into_owned();
    assert!(results.contains("short_term_refused"), "{results}");
    assert!(!system(&c, before).contains("picnic"), "nothing is shown at level 1");
    let notes = short_term::list(&c.s.store, scope, None).await.unwrap();
    assert_eq!(notes.len(), 3);
    assert!(notes.iter().all(|n| !n.note.contains("moving house")));
    assert!(notes.iter().any(|n| n.private && n.note.contains("surprise party")));
}
