//! Lorebooks in turns: an entry whose key the conversation mentions enters that turn's prompt
//! where its position says, and leaves it when the conversation moves on; a change to the book
//! reaches the next message.

use serde_json::json;
use tomori_core::lorebook::{Lorebook, LorebookBounds};
use tomori_store::audit::Actor;
use tomori_store::{Scope, lorebooks, personas};
use tomori_testkit::fake_llm::Turn;

use crate::{ALICE, Harness};

/// Tomori's lorebook: a dragon entry (after the description), a constant winter entry (before
/// it), and a storm entry two messages from the end.
fn book() -> serde_json::Value {
    let book = json!({
        "name": "Eldoria",
        "entries": [
            { "id": 0, "keys": ["dragon"], "content": "Dragons sleep under the Ash Peaks.",
              "enabled": true, "position": "after_char" },
            { "id": 1, "keys": [], "constant": true, "content": "It is always winter in Eldoria.",
              "enabled": true, "position": "before_char" },
            { "id": 2, "keys": ["/storms?/i"], "content": "A storm is coming to {{user}}'s village.",
              "enabled": true, "extensions": { "position": 4, "depth": 1, "role": 0 } },
        ],
    });
    // Stored as import stores it: checked and written back by tomori-core.
    Lorebook::from_character_book(&book, &LorebookBounds::default()).unwrap().to_character_book()
}

fn request_text(h: &Harness, n: usize) -> String {
    String::from_utf8_lossy(&h.llm.requests()[n].body).into_owned()
}

#[tokio::test]
async fn lore_enters_the_prompt_when_the_conversation_mentions_it() {
    let h = Harness::new().await;
    let scope = Scope::server(h.server);
    let tomori = personas::list(&h.store, scope).await.unwrap().remove(0);
    lorebooks::set(&h.store, scope, Actor::Operator, tomori.id, Some(&book())).await.unwrap();

    h.llm.push_turn(Turn::new().text("Hello!"));
    h.engine.handle(h.message(ALICE, "alice", "<@900> hi there")).await;
    h.wait_sent(1).await;
    let first = request_text(&h, 0);
    assert!(first.contains("It is always winter in Eldoria."), "constant lore is always in");
    assert!(!first.contains("Ash Peaks"), "no dragon was mentioned");
    assert!(!first.contains("storm is coming"));

    h.llm.push_turn(Turn::new().text("Yes, beware."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> is there a dragon? and Storms?")).await;
    h.wait_sent(2).await;
    let second = h.llm.requests()[1].json.clone().unwrap();
    let system = second["messages"][0]["content"].as_str().unwrap();
    let winter = system.find("always winter").expect("before lore");
    let who = system.find("## Who you are").expect("description");
    let dragons = system.find("Dragons sleep under the Ash Peaks.").expect("after lore");
    assert!(winter < who && who < dragons, "{system}");
    let conversation = second["messages"].to_string();
    assert!(
        conversation.contains("[lore] A storm is coming to alice's village."),
        "a regex key fires and macros are filled: {conversation}"
    );

    // The book changes: the next message reads the new one.
    lorebooks::set(&h.store, scope, Actor::Operator, tomori.id, None).await.unwrap();
    h.llm.push_turn(Turn::new().text("Hm?"));
    h.engine.handle(h.message(ALICE, "alice", "<@900> the dragon again")).await;
    h.wait_sent(3).await;
    let third = request_text(&h, 2);
    assert!(!third.contains("Ash Peaks") && !third.contains("always winter"), "{third}");
}
