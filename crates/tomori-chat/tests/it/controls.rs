//! The server's spend and tool controls in a turn: deliberate tool mode offers only the tools a
//! message asks for (and answers a call to any other with a failure, running nothing), and
//! BYOK-required mode answers a member only through their own keys or endpoint.

use serde_json::{Value, json};
use tomori_chat::providers::ServerProviders;
use tomori_llm::{Timeouts, client_for};
use tomori_net::{Policy, Scope as NetScope};
use tomori_store::Scope;
use tomori_store::audit::Actor;
use tomori_store::credentials::KeyOwner;
use tomori_store::endpoints::{self, MEMBER_ENDPOINT, NewEndpoint};
use tomori_store::settings::{self, Setting};
use tomori_testkit::fake_llm::{FakeLlm, Turn, WireFormat};

use crate::{ALICE, Harness};

/// The names of the tools the `n`th request offered.
fn offered(h: &Harness, n: usize) -> Vec<String> {
    let body: Value = h.llm.requests()[n].json.clone().unwrap();
    body["tools"]
        .as_array()
        .map(|tools| {
            tools.iter().filter_map(|t| t["function"]["name"].as_str().map(str::to_owned)).collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn deliberate_tool_mode_offers_only_what_the_message_asks_for() {
    let h = Harness::new().await;
    h.enable_tools();
    let scope = Scope::server(h.server);
    settings::set(&h.store, scope, Actor::Operator, Setting::DeliberateTools(true)).await.unwrap();

    // Small talk: only the tools that read the turn's own state.
    h.llm.push_turn(Turn::new().text("Hello!"));
    h.engine.handle(h.message(ALICE, "alice", "<@900> hi there")).await;
    h.wait_sent(1).await;
    let small_talk = offered(&h, 0);
    assert!(small_talk.contains(&"review_capabilities".to_owned()), "{small_talk:?}");
    assert!(!small_talk.iter().any(|t| t.contains("memory") && t != "update_short_term_memory"));
    assert!(!small_talk.iter().any(|t| t.ends_with("_task") || t == "list_tasks"));

    // The model calls a tool it was not offered anyway: it is answered, not run.
    h.llm.push_turn(Turn::new().tool_call("call_1", "list_tasks", json!({})));
    h.llm.push_turn(Turn::new().text("Never mind."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> how was your day")).await;
    h.wait_sent(2).await;
    let answer = String::from_utf8_lossy(&h.llm.requests()[2].body).into_owned();
    assert!(answer.contains("not offered"), "the model reads why: {answer}");

    // Asking for a reminder offers the reminder tools; using one keeps them offered for the
    // next turns in the channel, even to small talk.
    h.llm.push_turn(Turn::new().tool_call("call_2", "list_tasks", json!({})));
    h.llm.push_turn(Turn::new().text("You have no reminders."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> remind me what my reminders are")).await;
    h.wait_sent(3).await;
    assert!(offered(&h, 3).contains(&"list_tasks".to_owned()));
    let ran = String::from_utf8_lossy(&h.llm.requests()[4].body).into_owned();
    assert!(!ran.contains("not offered"), "{ran}");
    h.llm.push_turn(Turn::new().text("Sure."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> thanks")).await;
    h.wait_sent(4).await;
    assert!(offered(&h, 5).contains(&"list_tasks".to_owned()), "a follow-up turn");

    // Off again: every allowed tool is offered.
    settings::set(&h.store, scope, Actor::Operator, Setting::DeliberateTools(false)).await.unwrap();
    h.llm.push_turn(Turn::new().text("Hi."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> hi")).await;
    h.wait_sent(5).await;
    assert!(offered(&h, 6).contains(&"create_task".to_owned()));
}

#[tokio::test]
async fn a_servers_own_tool_triggers_ask_for_tools_in_deliberate_mode() {
    use tomori_core::tool_intent::ToolFamily;
    use tomori_core::tool_intent::custom::TriggerKind;
    use tomori_store::tool_triggers;
    let h = Harness::new().await;
    h.enable_tools();
    let scope = Scope::server(h.server);
    settings::set(&h.store, scope, Actor::Operator, Setting::DeliberateTools(true)).await.unwrap();
    let add = |family, kind, text: &'static str| {
        let store = h.store.clone();
        async move { tool_triggers::add(&store, scope, Actor::Operator, family, kind, text).await }
    };
    assert!(add(ToolFamily::Reminders, TriggerKind::Phrase, "^buzz * later").await.unwrap());
    assert!(add(ToolFamily::Memory, TriggerKind::Regex, r"\bjot\s+(it|this)\b").await.unwrap());
    assert!(!add(ToolFamily::Memory, TriggerKind::Regex, r"\bjot\s+(it|this)\b").await.unwrap());
    assert!(add(ToolFamily::Web, TriggerKind::Regex, "(").await.is_err(), "does not compile");

    // Words the built-in keywords do not know, now asking for the server's families.
    h.llm.push_turn(Turn::new().text("Will do."));
    h.engine.handle(h.message(ALICE, "alice", "buzz me about the oven later <@900>")).await;
    h.wait_sent(1).await;
    let reminded = offered(&h, 0);
    assert!(reminded.contains(&"create_task".to_owned()), "{reminded:?}");
    assert!(!reminded.contains(&"create_long_term_memory".to_owned()), "{reminded:?}");

    h.llm.push_turn(Turn::new().text("Noted."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> Jot this: I like tea")).await;
    h.wait_sent(2).await;
    let jotted = offered(&h, 1);
    assert!(jotted.contains(&"create_long_term_memory".to_owned()), "{jotted:?}");

    // The anchored phrase asks for nothing in the middle of a message; a removed one no more.
    assert!(
        tool_triggers::remove(
            &h.store,
            scope,
            Actor::Operator,
            ToolFamily::Memory,
            TriggerKind::Regex,
            r"\bjot\s+(it|this)\b"
        )
        .await
        .unwrap()
    );
    h.llm.push_turn(Turn::new().text("Hm."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> so buzz me later, and jot it")).await;
    h.wait_sent(3).await;
    let neither = offered(&h, 2);
    assert!(!neither.contains(&"create_long_term_memory".to_owned()), "{neither:?}");
    assert!(!neither.contains(&"create_task".to_owned()), "{neither:?}");
    let actions = tomori_testkit::audit_actions(&h.db).await;
    let changes = actions.iter().filter(|a| a.starts_with("tool_trigger.")).count();
    assert_eq!(changes, 3, "two adds and a removal: {actions:?}");
}

#[tokio::test]
async fn byok_mode_answers_members_only_through_their_own_models() {
    let h = Harness::new().await;
    let scope = Scope::server(h.server);
    settings::set(&h.store, scope, Actor::Operator, Setting::ByokRequired(true)).await.unwrap();

    // No key of their own: they are told what to do, and no model is asked.
    h.engine.handle(h.message(ALICE, "alice", "<@900> hi")).await;
    let sent = h.wait_sent(1).await;
    assert!(sent[0].content.contains("/personal key add"), "{}", sent[0].content);
    assert!(h.llm.requests().is_empty(), "the instance's provider was not spent");

    // Their own endpoint answers them (the server lets members see the prompt it receives).
    settings::set_feature(
        &h.store,
        scope,
        Actor::Operator,
        tomori_core::settings::Feature::PromptSnapshot,
        true,
    )
    .await
    .unwrap();
    let own = FakeLlm::start(WireFormat::OpenAi).await;
    let endpoint = NewEndpoint {
        label: MEMBER_ENDPOINT.to_owned(),
        base_url: own.base_url(),
        model: "alices-model".to_owned(),
        context_length: None,
        has_tools: false,
        has_vision: false,
        api_key: None,
    };
    let alice = Scope::user(h.store.resolve_user(crate::id(ALICE)).await.unwrap());
    endpoints::add(&h.store, alice, Actor::Operator, KeyOwner::Personal, &endpoint).await.unwrap();
    let client = |scope| {
        client_for(Policy::new(scope).allow_loopback_for_tests(), &Timeouts::default()).unwrap()
    };
    h.engine.set_server_providers(
        ServerProviders::new(client(NetScope::Server))
            .with_personal_client(client(NetScope::Personal)),
    );
    own.push_turn(Turn::new().text("From alice's own model."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> hi again")).await;
    let sent = h.wait_sent(2).await;
    assert_eq!(sent[1].content, "From alice's own model.");
    assert!(h.llm.requests().is_empty(), "still nothing spent on the instance");
}

#[tokio::test]
async fn a_members_own_model_answers_them_with_their_key_then_the_servers() {
    use secrecy::SecretString;
    use tomori_store::credentials;
    use tomori_store::models::{self, ServerModel};
    use tomori_store::users::{self, MemberModel};

    let h = Harness::new().await;
    let scope = Scope::server(h.server);
    // The server talks through openrouter (its key); alice brings an openai key and chooses
    // her own model. Both providers are reached at fakes on loopback.
    let server_fake = FakeLlm::start(WireFormat::OpenAi).await;
    let alices_fake = FakeLlm::start(WireFormat::OpenAi).await;
    models::set(&h.store, scope, Actor::Operator, &ServerModel::new("openrouter", "server/model"))
        .await
        .unwrap();
    let key = |k: &str| SecretString::from(k.to_owned());
    credentials::add(
        &h.store,
        scope,
        Actor::Operator,
        KeyOwner::Server,
        "openrouter",
        "s",
        &key("sk-server"),
    )
    .await
    .unwrap();
    let alice = Scope::user(h.store.resolve_user(crate::id(ALICE)).await.unwrap());
    credentials::add(
        &h.store,
        alice,
        Actor::Operator,
        KeyOwner::Personal,
        "openai",
        "a",
        &key("sk-alice"),
    )
    .await
    .unwrap();
    let choice = MemberModel {
        provider: "openai".to_owned(),
        model: "gpt-4o-mini".to_owned(),
        fallback: true,
    };
    users::set_model(&h.store, alice, Actor::Operator, Some(&choice)).await.unwrap();
    let client =
        client_for(Policy::new(NetScope::Server).allow_loopback_for_tests(), &Timeouts::default());
    h.engine.set_server_providers(
        ServerProviders::new(client.unwrap())
            .with_provider_base_url("openrouter", &server_fake.base_url())
            .with_provider_base_url("openai", &alices_fake.base_url()),
    );

    // Her turn goes to her model with her key.
    alices_fake.push_turn(Turn::new().text("From alice's model."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> hi")).await;
    assert_eq!(h.wait_sent(1).await[0].content, "From alice's model.");
    let asked = &alices_fake.requests()[0];
    assert_eq!(asked.header("authorization"), Some("Bearer sk-alice"));
    assert_eq!(asked.json.as_ref().unwrap()["model"], "gpt-4o-mini");
    // Bob's goes to the server's.
    server_fake.push_turn(Turn::new().text("From the server's model."));
    h.engine.handle(h.message(crate::BOB, "bob", "<@900> hi")).await;
    assert_eq!(h.wait_sent(2).await[1].content, "From the server's model.");

    // Her model fails: the server's steps in, as she allowed.
    for _ in 0..4 {
        alices_fake.push(tomori_testkit::fake_llm::Reply::status(
            500,
            &json!({"error": {"message": "down"}}),
        ));
    }
    server_fake.push_turn(Turn::new().text("The server's, for alice."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> again")).await;
    assert_eq!(h.wait_sent(3).await[2].content, "The server's, for alice.");
    // Not where the server requires members' own keys: nothing of the server's is spent.
    settings::set(&h.store, scope, Actor::Operator, Setting::ByokRequired(true)).await.unwrap();
    let before = server_fake.requests().len();
    for _ in 0..4 {
        alices_fake.push(tomori_testkit::fake_llm::Reply::status(
            500,
            &json!({"error": {"message": "down"}}),
        ));
    }
    h.engine.handle(h.message(ALICE, "alice", "<@900> and now?")).await;
    let sent = h.wait_sent(4).await;
    assert!(sent[3].content.contains("couldn't reach the model"), "{}", sent[3].content);
    assert_eq!(server_fake.requests().len(), before, "the server's key was not spent");
}

#[tokio::test]
async fn a_members_own_deliberate_tool_mode_beats_the_servers() {
    let h = Harness::new().await;
    h.enable_tools();
    let alice = Scope::user(h.store.resolve_user(crate::id(ALICE)).await.unwrap());
    tomori_store::users::set_deliberate_tools(&h.store, alice, Actor::Operator, Some(true))
        .await
        .unwrap();
    // The server's switch is off: bob is offered every tool, alice only what she asks for.
    h.llm.push_turn(Turn::new().text("Hi bob."));
    h.engine.handle(h.message(crate::BOB, "bob", "<@900> hi")).await;
    h.wait_sent(1).await;
    assert!(offered(&h, 0).contains(&"create_task".to_owned()));
    h.llm.push_turn(Turn::new().text("Hi alice."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> hi")).await;
    h.wait_sent(2).await;
    assert!(!offered(&h, 1).contains(&"create_task".to_owned()), "{:?}", offered(&h, 1));
    // Off for her where the server's is on.
    let scope = Scope::server(h.server);
    settings::set(&h.store, scope, Actor::Operator, Setting::DeliberateTools(true)).await.unwrap();
    tomori_store::users::set_deliberate_tools(&h.store, alice, Actor::Operator, Some(false))
        .await
        .unwrap();
    h.llm.push_turn(Turn::new().text("Hi again."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> hi again")).await;
    h.wait_sent(3).await;
    assert!(offered(&h, 2).contains(&"create_task".to_owned()));
}

#[tokio::test]
async fn review_capabilities_lists_the_tools_this_turn_offers() {
    let h = Harness::new().await;
    h.enable_tools();
    let scope = Scope::server(h.server);
    settings::set(&h.store, scope, Actor::Operator, Setting::DeliberateTools(true)).await.unwrap();
    h.llm.push_turn(Turn::new().tool_call("call_1", "review_capabilities", json!({})));
    h.llm.push_turn(Turn::new().text("I can look at my own notes."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> what can you do?")).await;
    h.wait_sent(1).await;
    let offered_now = offered(&h, 0);
    let body: Value = h.llm.requests()[1].json.clone().unwrap();
    let result = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned();
    let listed = result.split("\"tools_offered_now\":[").nth(1).unwrap_or_default();
    let listed = listed.split(']').next().unwrap_or_default();
    for tool in &offered_now {
        assert!(
            listed.contains(&format!("\\\"{tool}\\\"")) || listed.contains(&format!("\"{tool}\"")),
            "{tool} in {result}"
        );
    }
    assert!(!listed.contains("list_tasks"), "deliberate mode did not offer it: {result}");
}
