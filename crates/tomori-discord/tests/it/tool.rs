//! `/tool` through the fake Discord: status redacted for members, the prompt snapshot behind
//! Manage Server or the `prompt_snapshot` flag and with secrets masked, refresh and ping.

use std::sync::PoisonError;

use tomori_core::settings::Feature;
use tomori_store::audit::Actor;
use tomori_store::settings;

use crate::commands::{MANAGE_GUILD, VIEW_AND_SEND, alice, bob, slash, world};
use crate::{CHANNEL, snowflake};

#[tokio::test]
async fn the_prompt_snapshot_needs_a_manager_or_the_flag_and_masks_secrets() {
    let w = world().await;
    let refused = w.answer(slash(bob(), VIEW_AND_SEND, "tool prompt")).await;
    assert!(refused.contains("Manage Server"), "{refused}");
    let shown = w.run(slash(alice(), MANAGE_GUILD, "tool prompt")).await;
    assert!(shown.deferred(), "building a context may be slow: the answer is deferred");
    let text = shown.content.clone().unwrap();
    assert!(text.contains("You are Tomori.") && text.contains("alice"), "{text}");
    assert!(text.contains("[redacted]") && !text.contains("sk-live"), "{text}");
    // The whole context rides along as a file, masked the same way.
    assert_eq!(shown.files.len(), 1, "{:?}", shown.files);
    assert_eq!(shown.files[0].filename, "context.md");
    let whole = String::from_utf8(shown.files[0].bytes.clone()).unwrap();
    assert!(whole.starts_with("## System") && whole.contains("You are Tomori."), "{whole}");
    assert!(whole.contains("[redacted]") && !whole.contains("sk-live"), "{whole}");
    settings::set_feature(&w.store, w.server, Actor::Operator, Feature::PromptSnapshot, true)
        .await
        .unwrap();
    let allowed = w.answer(slash(bob(), VIEW_AND_SEND, "tool prompt")).await;
    assert!(allowed.contains("You are Tomori."), "{allowed}");

    // As JSON: a file that parses, with the secret masked.
    let json = w.run(slash(alice(), MANAGE_GUILD, "tool prompt").arg("format", "json")).await;
    assert_eq!(json.files[0].filename, "context.json");
    let parsed: serde_json::Value = serde_json::from_slice(&json.files[0].bytes).unwrap();
    let said = parsed["messages"][0]["content"].as_str().unwrap();
    assert!(said.contains("[redacted]") && !said.contains("sk-live"), "{said}");
    let bad = w.answer(slash(alice(), MANAGE_GUILD, "tool prompt").arg("format", "yaml")).await;
    assert!(bad.contains("Say text or json"), "{bad}");
}

#[tokio::test]
async fn the_estimate_counts_tokens_and_prices_them_for_any_member() {
    let w = world().await;
    // The fake engine's context: 10,000 tokens in, at most 1,000 out, for openai · gpt-4o-mini,
    // whose built-in list price is $0.15 / $0.60 per million tokens.
    let estimate = w.answer(slash(bob(), VIEW_AND_SEND, "tool estimate")).await;
    assert!(estimate.contains("`openai · gpt-4o-mini`"), "{estimate}");
    assert!(estimate.contains("about 10000 tokens of context"), "{estimate}");
    assert!(estimate.contains("$0.0015 for the context and up to $0.0021"), "{estimate}");
    assert!(estimate.contains("(`openai/gpt-4o-mini`, built-in list price)"), "{estimate}");
    assert!(!estimate.contains("sk-live"), "no context is shown: {estimate}");
}

#[tokio::test]
async fn status_shows_labels_to_managers_only_and_refresh_and_ping_work() {
    let w = world().await;
    let key = secrecy::SecretString::from("sk-secret-abcdef".to_owned());
    tomori_store::credentials::add(
        &w.store,
        w.server,
        Actor::Operator,
        tomori_store::credentials::KeyOwner::Server,
        "openrouter",
        "team-key",
        &key,
    )
    .await
    .unwrap();
    let member = w.answer(slash(bob(), VIEW_AND_SEND, "tool status")).await;
    assert!(member.contains("Keys: 1") && !member.contains("team-key"), "{member}");
    let manager = w.answer(slash(alice(), MANAGE_GUILD, "tool status")).await;
    assert!(manager.contains("openrouter · team-key"), "{manager}");
    assert!(!manager.contains("sk-secret"), "{manager}");

    let refused = w.answer(slash(bob(), VIEW_AND_SEND, "tool refresh")).await;
    assert!(refused.contains("Manage"), "{refused}");
    let fresh = w.answer(slash(alice(), MANAGE_GUILD, "tool refresh")).await;
    assert!(fresh.starts_with("Fresh start"), "{fresh}");
    let refreshed = w.control.refreshed.lock().unwrap_or_else(PoisonError::into_inner).clone();
    assert_eq!(refreshed, [snowflake(CHANNEL)]);
    let pong = w.answer(slash(bob(), VIEW_AND_SEND, "tool ping")).await;
    assert!(pong.starts_with("Pong."), "{pong}");
}
