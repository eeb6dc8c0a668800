//! `/provider` and `/model` through the fake Discord: a key typed into a modal and stored
//! sealed, the same form refused to a member without Manage Server (and a forged submission
//! refused too), endpoints judged by the server-scope URL policy, and the model choice with
//! its fallbacks.

use secrecy::ExposeSecret;
use serde_json::Value;
use tomori_store::credentials::{self, KeyOwner};
use tomori_store::{endpoints, models};
use tomori_testkit::audit_actions;
use tomori_testkit::fake_discord::FakeInteraction;

use crate::WAIT;
use crate::commands::{MANAGE_GUILD, VIEW_AND_SEND, World, alice, bob, slash, world};

const MODAL: &str = "provider-key|openrouter|main";

impl World {
    /// Runs a command that should answer with a modal, and returns the modal.
    async fn modal(&self, command: tomori_testkit::fake_discord::SlashCommand) -> Value {
        let id = self.fake.inject_command(command);
        let shown =
            self.fake.wait_for_interaction(id, |i: &FakeInteraction| i.modal.is_some(), WAIT).await;
        assert_eq!(shown.callbacks, [9], "the answer is the modal itself");
        shown.modal.unwrap()
    }
}

#[tokio::test]
async fn an_admin_adds_a_key_through_a_modal_and_it_is_stored_sealed() {
    let w = world().await;
    let modal = w
        .modal(
            slash(alice(), MANAGE_GUILD, "provider key add")
                .arg("provider", "OpenRouter")
                .arg("label", "main"),
        )
        .await;
    assert_eq!(modal["custom_id"], MODAL);
    let text = serde_json::to_string(&modal).unwrap();
    assert!(text.contains("\"type\":4"), "the modal holds a text input: {text}");

    let secret = "sk-or-v1-abcdef0123456789";
    let saved = w
        .answer(slash(alice(), MANAGE_GUILD, "provider").submit_modal(MODAL, &[("key", secret)]))
        .await;
    assert!(saved.starts_with("Saved key `main`"), "{saved}");
    assert!(!saved.contains(secret), "the key is never echoed");
    let keys = credentials::list(&w.store, w.server, KeyOwner::Server).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!((keys[0].provider.as_str(), keys[0].label.as_str()), ("openrouter", "main"));
    let opened = credentials::reveal(&w.store, w.server, keys[0].id).await.unwrap();
    assert_eq!(opened.expose_secret(), secret);
    assert!(audit_actions(&w.db).await.contains(&"key.add".to_owned()));

    let listed = w.answer(slash(alice(), MANAGE_GUILD, "provider key list")).await;
    assert!(listed.contains("openrouter · main"), "{listed}");
    assert!(!listed.contains(secret));
    let removed =
        w.answer(slash(alice(), MANAGE_GUILD, "provider key remove").arg("id", keys[0].id)).await;
    assert!(removed.starts_with("Removed key"), "{removed}");
    assert!(credentials::list(&w.store, w.server, KeyOwner::Server).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_providers_whole_key_pool_is_purged_at_once_and_audited() {
    let w = world().await;
    let actor = tomori_store::audit::Actor::Operator;
    for (provider, label) in [("openai", "a"), ("openai", "b"), ("anthropic", "main")] {
        let key = secrecy::SecretString::from(format!("sk-{provider}-{label}-0123456789"));
        credentials::add(&w.store, w.server, actor, KeyOwner::Server, provider, label, &key)
            .await
            .unwrap();
    }
    let refused =
        w.answer(slash(bob(), VIEW_AND_SEND, "provider key purge").arg("provider", "openai")).await;
    assert!(refused.contains("Manage Server"), "{refused}");
    assert_eq!(credentials::list(&w.store, w.server, KeyOwner::Server).await.unwrap().len(), 3);

    let purged = w
        .answer(slash(alice(), MANAGE_GUILD, "provider key purge").arg("provider", "openai"))
        .await;
    assert_eq!(purged, "Removed all 2 keys for `openai`.");
    let left = credentials::list(&w.store, w.server, KeyOwner::Server).await.unwrap();
    assert_eq!(left.iter().map(|k| k.provider.as_str()).collect::<Vec<_>>(), ["anthropic"]);
    let purges = audit_actions(&w.db).await.iter().filter(|a| *a == "key.purge").count();
    assert_eq!(purges, 1, "one audit row for the whole pool");

    let again = w
        .answer(slash(alice(), MANAGE_GUILD, "provider key purge").arg("provider", "openai"))
        .await;
    assert!(again.contains("no keys for `openai`"), "{again}");
    let purges = audit_actions(&w.db).await.iter().filter(|a| *a == "key.purge").count();
    assert_eq!(purges, 1, "nothing removed, nothing audited");
}

#[tokio::test]
async fn an_endpoint_is_edited_in_place_and_a_new_url_is_judged_again() {
    let w = world().await;
    let added = w
        .answer(
            slash(alice(), MANAGE_GUILD, "provider endpoint add")
                .arg("label", "gateway")
                .arg("url", "https://llm.example/v1")
                .arg("model", "qwen2.5:14b"),
        )
        .await;
    assert!(added.starts_with("Registered endpoint"), "{added}");
    let edit =
        |label: &str| slash(alice(), MANAGE_GUILD, "provider endpoint edit").arg("label", label);
    let stored = || async {
        let list = endpoints::list(&w.store, w.server, KeyOwner::Server).await.unwrap();
        (list[0].base_url.clone(), list[0].model.clone(), list[0].has_vision)
    };
    let original = ("https://llm.example/v1".to_owned(), "qwen2.5:14b".to_owned(), false);

    // Refusals change nothing.
    let refused = w.answer(edit("gateway").arg("url", "http://169.254.169.254/v1")).await;
    assert!(refused.starts_with("That URL can't be used"), "{refused}");
    let nothing = w.answer(edit("gateway")).await;
    assert!(nothing.contains("at least one thing"), "{nothing}");
    let unknown = w.answer(edit("nope").arg("model", "x")).await;
    assert!(!unknown.starts_with("Changed"), "{unknown}");
    let member = w
        .answer(
            slash(bob(), VIEW_AND_SEND, "provider endpoint edit")
                .arg("label", "gateway")
                .arg("model", "evil"),
        )
        .await;
    assert!(member.contains("Manage Server"), "{member}");
    assert_eq!(stored().await, original);
    assert!(!audit_actions(&w.db).await.contains(&"endpoint.edit".to_owned()));

    let changed = w.answer(edit("gateway").arg("model", "qwen3:32b").arg("vision", true)).await;
    assert_eq!(changed, "Changed endpoint `gateway`: qwen3:32b at https://llm.example/v1.");
    let expected = ("https://llm.example/v1".to_owned(), "qwen3:32b".to_owned(), true);
    assert_eq!(stored().await, expected);
    let moved = w.answer(edit("gateway").arg("url", "https://llm2.example/v1")).await;
    assert!(moved.ends_with("at https://llm2.example/v1."), "{moved}");
    let edits = audit_actions(&w.db).await.iter().filter(|a| *a == "endpoint.edit").count();
    assert_eq!(edits, 2);
}

/// Adds the key `custom:gateway` through the modal, as an admin would.
async fn add_endpoint_key(w: &World, secret: &str) {
    let modal = w
        .modal(
            slash(alice(), MANAGE_GUILD, "provider key add")
                .arg("provider", "custom:gateway")
                .arg("label", "main"),
        )
        .await;
    let id = modal["custom_id"].as_str().unwrap().to_owned();
    let saved = w
        .answer(slash(alice(), MANAGE_GUILD, "provider").submit_modal(&id, &[("key", secret)]))
        .await;
    assert!(saved.starts_with("Saved key `main`"), "{saved}");
}

#[tokio::test]
async fn an_endpoint_key_does_not_follow_the_endpoint_to_another_host() {
    let w = world().await;
    let add = |url: &str| {
        slash(alice(), MANAGE_GUILD, "provider endpoint add")
            .arg("label", "gateway")
            .arg("url", url)
            .arg("model", "qwen2.5:14b")
    };
    let keys = || async { credentials::list(&w.store, w.server, KeyOwner::Server).await.unwrap() };
    assert!(w.answer(add("https://llm.example/v1")).await.starts_with("Registered"));
    add_endpoint_key(&w, "sk-gateway-0123456789").await;
    assert_eq!(keys().await.len(), 1);

    // Same host, another path: the key stays.
    let edit = || slash(alice(), MANAGE_GUILD, "provider endpoint edit").arg("label", "gateway");
    let same = w.answer(edit().arg("url", "https://LLM.example/api/v1")).await;
    assert!(same.starts_with("Changed endpoint"), "{same}");
    assert!(!same.contains("key"), "{same}");
    assert_eq!(keys().await.len(), 1);

    // Another admin points it elsewhere: the key is gone and the answer says so.
    let moved = w.answer(edit().arg("url", "https://collector.example/v1")).await;
    assert!(moved.contains("/provider key add"), "{moved}");
    assert!(keys().await.is_empty(), "the key must not be sent to the new host");

    // Remove and register again under the same label: no key is inherited either.
    add_endpoint_key(&w, "sk-gateway-0123456789").await;
    let removed = w
        .answer(slash(alice(), MANAGE_GUILD, "provider endpoint remove").arg("label", "gateway"))
        .await;
    assert!(removed.starts_with("Removed"), "{removed}");
    assert!(w.answer(add("https://collector.example/v1")).await.starts_with("Registered"));
    assert!(keys().await.is_empty(), "a removed endpoint's keys go with it");
    let removals = audit_actions(&w.db).await.iter().filter(|a| *a == "key.remove").count();
    assert_eq!(removals, 2, "each dropped key has its audit row");
}

#[tokio::test]
async fn members_get_no_form_and_forged_submissions_store_nothing() {
    let w = world().await;
    let refused = w
        .answer(slash(bob(), VIEW_AND_SEND, "provider key add").arg("provider", "openrouter"))
        .await;
    assert!(refused.contains("Manage Server"), "{refused}");
    // A member who replays the admin's form (the custom id is visible to any client).
    let forged = w
        .answer(slash(bob(), VIEW_AND_SEND, "provider").submit_modal(MODAL, &[("key", "sk-x")]))
        .await;
    assert!(forged.contains("Manage Server"), "{forged}");
    // An admin's submission with a tampered custom id names a provider that does not exist.
    let tampered = w
        .answer(
            slash(alice(), MANAGE_GUILD, "provider")
                .submit_modal("provider-key|evil|x", &[("key", "sk-x")]),
        )
        .await;
    assert!(tampered.starts_with("Unknown provider"), "{tampered}");
    let unknown =
        w.answer(slash(alice(), MANAGE_GUILD, "provider key add").arg("provider", "acme-ai")).await;
    assert!(unknown.starts_with("Unknown provider `acme-ai`"), "{unknown}");
    assert!(credentials::list(&w.store, w.server, KeyOwner::Server).await.unwrap().is_empty());
    assert!(!audit_actions(&w.db).await.contains(&"key.add".to_owned()));
}

#[tokio::test]
async fn endpoints_are_judged_by_the_url_policy_and_models_name_them() {
    let w = world().await;
    for bad in [
        "http://169.254.169.254/v1",
        "http://127.0.0.1:11434/v1",
        "https://10.0.0.5/v1",
        "not a url",
    ] {
        let refused = w
            .answer(
                slash(alice(), MANAGE_GUILD, "provider endpoint add")
                    .arg("label", "local")
                    .arg("url", bad)
                    .arg("model", "llama3"),
            )
            .await;
        assert!(refused.starts_with("That URL can't be used"), "{bad}: {refused}");
    }
    assert!(endpoints::list(&w.store, w.server, KeyOwner::Server).await.unwrap().is_empty());

    let added = w
        .answer(
            slash(alice(), MANAGE_GUILD, "provider endpoint add")
                .arg("label", "gateway")
                .arg("url", "https://llm.example/v1")
                .arg("model", "qwen2.5:14b")
                .arg("vision", true),
        )
        .await;
    assert!(added.starts_with("Registered endpoint `gateway`"), "{added}");
    let listed = w.answer(slash(alice(), MANAGE_GUILD, "provider endpoint list")).await;
    assert!(listed.contains("gateway") && listed.contains("https://llm.example/v1"), "{listed}");
    let refused = w.answer(slash(bob(), VIEW_AND_SEND, "provider endpoint list")).await;
    assert!(refused.contains("Manage Server"), "members see no endpoint URLs: {refused}");

    // The model can name the endpoint, a known provider, or nothing else.
    let unknown = w
        .answer(
            slash(alice(), MANAGE_GUILD, "model text")
                .arg("provider", "custom:missing")
                .arg("model", "x"),
        )
        .await;
    assert!(unknown.starts_with("Unknown provider"), "{unknown}");
    let bad_model = w
        .answer(
            slash(alice(), MANAGE_GUILD, "model text")
                .arg("provider", "openrouter")
                .arg("model", "drop table; --"),
        )
        .await;
    assert!(bad_model.contains("is not a model id"), "{bad_model}");
    assert_eq!(models::get(&w.store, w.server).await.unwrap(), None);

    let chosen = w
        .answer(
            slash(alice(), MANAGE_GUILD, "model text")
                .arg("provider", "custom:gateway")
                .arg("model", "qwen2.5:14b")
                .arg("vision", true),
        )
        .await;
    assert!(chosen.contains("`custom:gateway/qwen2.5:14b` · sees images"), "{chosen}");
    w.answer(slash(alice(), MANAGE_GUILD, "model temperature").arg("hundredths", 70)).await;
    w.answer(
        slash(alice(), MANAGE_GUILD, "model fallback add")
            .arg("provider", "openrouter")
            .arg("model", "deepseek/deepseek-chat"),
    )
    .await;
    let shown = w.answer(slash(bob(), VIEW_AND_SEND, "model show")).await;
    assert!(shown.contains("temperature 0.70"), "{shown}");
    assert!(shown.contains("then openrouter/deepseek/deepseek-chat"), "{shown}");
    let refused = w.answer(slash(bob(), VIEW_AND_SEND, "model reset")).await;
    assert!(refused.contains("Manage Server"), "{refused}");
    let model = models::get(&w.store, w.server).await.unwrap().unwrap();
    assert_eq!(model.fallback, ["openrouter/deepseek/deepseek-chat"]);
    assert_eq!(model.temperature, Some(0.7));
    w.answer(slash(alice(), MANAGE_GUILD, "model fallback clear")).await;
    let cleared = models::get(&w.store, w.server).await.unwrap().unwrap();
    assert!(cleared.fallback.is_empty(), "{:?}", cleared.fallback);
    assert_eq!(cleared.temperature, Some(0.7), "only the fallbacks went");

    w.answer(slash(alice(), MANAGE_GUILD, "model reset")).await;
    assert_eq!(models::get(&w.store, w.server).await.unwrap(), None);
    let actions = audit_actions(&w.db).await;
    for action in ["endpoint.add", "model.set", "model.clear"] {
        assert!(actions.contains(&action.to_owned()), "{action} in {actions:?}");
    }
}

#[tokio::test]
async fn setup_chooses_the_model_then_asks_for_the_key() {
    let w = world().await;
    let refused = w
        .answer(
            slash(bob(), VIEW_AND_SEND, "config setup")
                .arg("provider", "openrouter")
                .arg("model", "deepseek/deepseek-chat"),
        )
        .await;
    assert!(refused.contains("Manage Server"), "{refused}");
    assert_eq!(models::get(&w.store, w.server).await.unwrap(), None);
    let bad = w
        .answer(
            slash(alice(), MANAGE_GUILD, "config setup")
                .arg("provider", "openrouter")
                .arg("model", "not a model"),
        )
        .await;
    assert!(bad.contains("is not a model id"), "{bad}");
    let modal = w
        .modal(
            slash(alice(), MANAGE_GUILD, "config setup")
                .arg("provider", "openrouter")
                .arg("model", "deepseek/deepseek-chat")
                .arg("vision", true),
        )
        .await;
    assert_eq!(modal["custom_id"], "provider-key|openrouter|default");
    let model = models::get(&w.store, w.server).await.unwrap().unwrap();
    assert_eq!(
        (model.provider.as_str(), model.model.as_str(), model.vision),
        ("openrouter", "deepseek/deepseek-chat", true)
    );
    let saved = w
        .answer(
            slash(alice(), MANAGE_GUILD, "config")
                .submit_modal("provider-key|openrouter|default", &[("key", "sk-or-setup-key-123")]),
        )
        .await;
    assert!(saved.starts_with("Saved key `default`"), "{saved}");
}

#[tokio::test]
async fn members_add_their_own_keys_through_a_form_into_their_own_scope() {
    use tomori_store::Scope;
    let w = world().await;
    let modal =
        w.modal(slash(bob(), VIEW_AND_SEND, "personal key add").arg("provider", "openai")).await;
    assert_eq!(modal["custom_id"], "personal-key|openai|default");
    let saved = w
        .answer(
            slash(bob(), VIEW_AND_SEND, "personal")
                .submit_modal("personal-key|openai|default", &[("key", "sk-bob-own-key-1")]),
        )
        .await;
    assert!(saved.starts_with("Saved your own key `default`"), "{saved}");
    let bob_scope =
        Scope::user(w.store.resolve_user(crate::snowflake(700_000_000_000_000_002)).await.unwrap());
    let mine = credentials::list(&w.store, bob_scope, KeyOwner::Personal).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert!(credentials::list(&w.store, w.server, KeyOwner::Server).await.unwrap().is_empty());
    // A member's form cannot be pointed at a server endpoint, and Alice cannot remove Bob's key.
    let custom = w
        .answer(slash(bob(), VIEW_AND_SEND, "personal key add").arg("provider", "custom:gw"))
        .await;
    assert!(custom.starts_with("Unknown provider"), "{custom}");
    let not_hers =
        w.answer(slash(alice(), MANAGE_GUILD, "personal key remove").arg("id", mine[0].id)).await;
    assert_eq!(not_hers, "No such key.");
    let listed = w.answer(slash(bob(), VIEW_AND_SEND, "personal key list")).await;
    assert!(listed.contains("openai · default") && !listed.contains("sk-bob"), "{listed}");
}

#[tokio::test]
async fn sampler_parameters_and_stop_strings_are_checked_and_audited() {
    let w = world().await;
    // Nothing to tune before a model is chosen; members may not tune it.
    let early = w.answer(slash(alice(), MANAGE_GUILD, "model parameters").arg("top_k", 40)).await;
    assert!(early.starts_with("Choose a model with /model text first"), "{early}");
    w.answer(
        slash(alice(), MANAGE_GUILD, "model text")
            .arg("provider", "openrouter")
            .arg("model", "deepseek/deepseek-chat"),
    )
    .await;
    let refused = w.answer(slash(bob(), VIEW_AND_SEND, "model parameters").arg("top_p", 90)).await;
    assert!(refused.contains("Manage Server"), "{refused}");
    let refused =
        w.answer(slash(bob(), VIEW_AND_SEND, "model stop add").arg("text", "\\nbob:")).await;
    assert!(refused.contains("Manage Server"), "{refused}");

    // Out of range (Discord enforces the option ranges; a client that ignores them meets the
    // store's checks), or nothing given: refused, nothing written.
    for (option, value, expected) in [
        ("top_p", 150_i64, "Invalid top_p"),
        ("top_k", 0, "Invalid top_k"),
        ("max_tokens", 70_000, "Invalid max_tokens"),
        ("frequency_penalty", -201, "Invalid frequency_penalty"),
        ("presence_penalty", 999, "Invalid presence_penalty"),
        ("max_tokens", 5_000_000_000, "too large"),
    ] {
        let bad =
            w.answer(slash(alice(), MANAGE_GUILD, "model parameters").arg(option, value)).await;
        assert!(bad.contains(expected), "{option}={value}: {bad}");
    }
    let empty = w.answer(slash(alice(), MANAGE_GUILD, "model parameters")).await;
    assert!(empty.starts_with("Give at least one parameter"), "{empty}");
    for bad in ["", "   ", &"x".repeat(201), "a\u{7}b"] {
        let refused =
            w.answer(slash(alice(), MANAGE_GUILD, "model stop add").arg("text", bad)).await;
        assert!(refused.starts_with("A stop string is 1 to 200 characters"), "{bad:?}: {refused}");
    }
    let model = models::get(&w.store, w.server).await.unwrap().unwrap();
    assert_eq!((model.params, model.stop), Default::default());

    let set = w
        .answer(
            slash(alice(), MANAGE_GUILD, "model parameters")
                .arg("top_p", 90)
                .arg("top_k", 40)
                .arg("max_tokens", 512)
                .arg("frequency_penalty", -50)
                .arg("presence_penalty", 25),
        )
        .await;
    assert!(set.contains("top_p 0.90 · top_k 40 · at most 512 tokens"), "{set}");
    // Unset options keep their value; reset clears the others.
    w.answer(slash(alice(), MANAGE_GUILD, "model parameters").arg("top_k", 50)).await;
    let model = models::get(&w.store, w.server).await.unwrap().unwrap();
    assert_eq!(
        (model.params.top_p, model.params.top_k, model.params.frequency_penalty),
        (Some(0.9), Some(50), Some(-0.5))
    );
    w.answer(slash(alice(), MANAGE_GUILD, "model parameters").arg("reset", true).arg("top_k", 7))
        .await;
    let model = models::get(&w.store, w.server).await.unwrap().unwrap();
    assert_eq!(model.params, models::Params { top_k: Some(7), ..Default::default() });
    // Min-p and the thinking level, which the chat tests see reach the request.
    let set = w.answer(slash(alice(), MANAGE_GUILD, "model parameters").arg("min_p", 5)).await;
    assert!(set.contains("top_k 7 · min_p 0.05"), "{set}");
    let set = w.answer(slash(alice(), MANAGE_GUILD, "model thinking").arg("level", "medium")).await;
    assert!(set.contains("· thinking medium"), "{set}");
    let model = models::get(&w.store, w.server).await.unwrap().unwrap();
    assert_eq!(model.thinking, tomori_core::thinking::ThinkingLevel::Medium);
    let member = w.answer(slash(bob(), VIEW_AND_SEND, "model thinking").arg("level", "high")).await;
    assert!(member.contains("Manage Server"), "{member}");
    w.answer(slash(alice(), MANAGE_GUILD, "model parameters").arg("reset", true).arg("top_k", 7))
        .await;

    for stop in ["\\nbob:", "###", "END", "\\n\\n"] {
        let added =
            w.answer(slash(alice(), MANAGE_GUILD, "model stop add").arg("text", stop)).await;
        assert!(added.starts_with("This server now talks through"), "{stop}: {added}");
    }
    let twice =
        w.answer(slash(alice(), MANAGE_GUILD, "model stop remove").arg("text", "nope")).await;
    assert!(twice.contains("is not a stop string"), "{twice}");
    let removed =
        w.answer(slash(alice(), MANAGE_GUILD, "model stop remove").arg("text", "###")).await;
    assert!(!removed.contains("###"), "{removed}");
    let duplicate =
        w.answer(slash(alice(), MANAGE_GUILD, "model stop add").arg("text", "END")).await;
    assert!(duplicate.contains("already a stop string"), "{duplicate}");
    let listed = w.answer(slash(bob(), VIEW_AND_SEND, "model stop list")).await;
    assert_eq!(listed, r#"Stop strings (3 of 40): "\nbob:", "END", "\n\n"."#);
    let model = models::get(&w.store, w.server).await.unwrap().unwrap();
    assert_eq!(model.stop, ["\nbob:", "END", "\n\n"]);

    // Forty in all, each up to 200 characters; the wire formats take a few, the stream the rest.
    for n in 0..37 {
        let long = format!("{n:03}{}", "y".repeat(197));
        let added =
            w.answer(slash(alice(), MANAGE_GUILD, "model stop add").arg("text", long)).await;
        assert!(added.contains("· 40 stop strings") || n < 36, "{added}");
    }
    let over = w.answer(slash(alice(), MANAGE_GUILD, "model stop add").arg("text", "more")).await;
    assert!(over.starts_with("At most 40 stop strings"), "{over}");
    let listed = w.answer(slash(bob(), VIEW_AND_SEND, "model stop list")).await;
    assert!(listed.starts_with("Stop strings (40 of 40)") && listed.contains("more."), "{listed}");
    assert!(listed.chars().count() < 2_000, "one Discord message: {}", listed.len());

    // The speaker pattern, which the chat tests see end an answer.
    let member = w.answer(slash(bob(), VIEW_AND_SEND, "model stop speaker").arg("on", true)).await;
    assert!(member.contains("Manage Server"), "{member}");
    let on = w.answer(slash(alice(), MANAGE_GUILD, "model stop speaker").arg("on", true)).await;
    assert!(on.contains("stops at other speakers' lines"), "{on}");
    assert!(models::get(&w.store, w.server).await.unwrap().unwrap().stop_speaker);
    let sets = audit_actions(&w.db).await.iter().filter(|a| *a == "model.set").count();
    assert_eq!(sets, 1 + 3 + 3 + 4 + 1 + 37 + 1, "one audit row per change, none for refusals");
}

#[tokio::test]
async fn a_vision_model_is_chosen_among_models_that_see() {
    let w = world().await;
    let vision = |user, permissions, provider: &str, model: &str| {
        slash(user, permissions, "model vision set").arg("provider", provider).arg("model", model)
    };
    w.answer(
        slash(alice(), MANAGE_GUILD, "model text").arg("provider", "deepseek").arg("model", "chat"),
    )
    .await;
    for (label, sees) in [("blind", false), ("eyes", true)] {
        w.answer(
            slash(alice(), MANAGE_GUILD, "provider endpoint add")
                .arg("label", label)
                .arg("url", "https://llm.example/v1")
                .arg("model", "m")
                .arg("vision", sees),
        )
        .await;
    }
    let refused = w.answer(vision(bob(), VIEW_AND_SEND, "openai", "gpt-4o")).await;
    assert!(refused.contains("Manage Server"), "{refused}");
    let blind = w.answer(vision(alice(), MANAGE_GUILD, "custom:blind", "m")).await;
    assert!(blind.contains("is not marked as seeing images"), "{blind}");
    let unknown = w.answer(vision(alice(), MANAGE_GUILD, "custom:nowhere", "m")).await;
    assert!(unknown.starts_with("Unknown provider"), "{unknown}");
    let bad = w.answer(vision(alice(), MANAGE_GUILD, "openai", "gpt 4o; --")).await;
    assert!(bad.contains("is not a model id"), "{bad}");
    assert_eq!(models::get(&w.store, w.server).await.unwrap().unwrap().vision_model, None);

    let chosen = w.answer(vision(alice(), MANAGE_GUILD, "custom:eyes", "m")).await;
    assert!(chosen.contains("images go to `custom:eyes/m`"), "{chosen}");
    let known = w.answer(vision(alice(), MANAGE_GUILD, "openai", "gpt-4o")).await;
    assert!(known.contains("images go to `openai/gpt-4o`"), "{known}");
    let shown = w.answer(slash(bob(), VIEW_AND_SEND, "model show")).await;
    assert!(shown.contains("images go to `openai/gpt-4o`"), "{shown}");
    // Describe mode: the chat model asks the vision model about images (analyze_image).
    let mode = |user, permissions, mode: &str| {
        slash(user, permissions, "model vision mode").arg("mode", mode)
    };
    let refused = w.answer(mode(bob(), VIEW_AND_SEND, "describe")).await;
    assert!(refused.contains("Manage Server"), "{refused}");
    let described = w.answer(mode(alice(), MANAGE_GUILD, "describe")).await;
    assert!(described.contains("`openai/gpt-4o` describes images when asked"), "{described}");
    let model = models::get(&w.store, w.server).await.unwrap().unwrap();
    assert_eq!(model.vision_mode, models::VisionMode::Describe);
    w.answer(mode(alice(), MANAGE_GUILD, "answer")).await;
    let cleared = w.answer(slash(alice(), MANAGE_GUILD, "model vision clear")).await;
    assert!(!cleared.contains("images go to"), "{cleared}");
    assert_eq!(models::get(&w.store, w.server).await.unwrap().unwrap().vision_model, None);
    let sets = audit_actions(&w.db).await.iter().filter(|a| *a == "model.set").count();
    assert_eq!(sets, 6, "text, two vision choices, two modes and the clear");
}

#[tokio::test]
async fn members_register_their_own_endpoint_with_its_token_in_a_form() {
    use tomori_store::Scope;
    let w = world().await;
    let add = |user, url: &str, model: &str| {
        slash(user, VIEW_AND_SEND, "personal custom-endpoint add")
            .arg("url", url)
            .arg("model", model)
    };
    // The personal scope is strict in every mode: https to public addresses only.
    for bad in [
        "http://llm.example/v1",
        "https://127.0.0.1/v1",
        "https://10.1.2.3/v1",
        "https://169.254.169.254/latest",
        "https://user:pw@llm.example/v1",
        "not a url",
    ] {
        let refused = w.answer(add(bob(), bad, "m")).await;
        assert!(refused.starts_with("That URL can't be used"), "{bad}: {refused}");
    }
    let bad_model = w.answer(add(bob(), "https://llm.example/v1", "m; drop")).await;
    assert!(bad_model.contains("is not a model id"), "{bad_model}");

    let modal = w.modal(add(bob(), "https://llm.example/v1", "qwen2.5:7b")).await;
    let custom_id = modal["custom_id"].as_str().unwrap().to_owned();
    let nonce = custom_id.strip_prefix("personal-endpoint|").unwrap();
    assert_eq!(nonce.len(), 32, "only a nonce travels: {custom_id}");
    // Alice cannot submit Bob's form, nor a made-up one.
    let submit = |user, permissions, id: &str| {
        slash(user, permissions, "personal").submit_modal(id, &[("token", "sk-bob-endpoint-9")])
    };
    let not_hers = w.answer(submit(alice(), MANAGE_GUILD, &custom_id)).await;
    assert_eq!(not_hers, "That form was not shown to you here; nothing was saved.");
    let forged = w
        .answer(submit(bob(), VIEW_AND_SEND, "personal-endpoint|00000000000000000000000000000000"))
        .await;
    assert!(forged.starts_with("That form has expired or was already used"), "{forged}");

    let saved = w.answer(submit(bob(), VIEW_AND_SEND, &custom_id)).await;
    assert!(saved.starts_with("Saved your endpoint (qwen2.5:7b, with a token"), "{saved}");
    assert!(!saved.contains("sk-bob"));
    let replayed = w.answer(submit(bob(), VIEW_AND_SEND, &custom_id)).await;
    assert!(replayed.starts_with("That form has expired or was already used"), "{replayed}");

    let bob_scope =
        Scope::user(w.store.resolve_user(crate::snowflake(700_000_000_000_000_002)).await.unwrap());
    let (endpoint, token) =
        endpoints::get(&w.store, bob_scope, KeyOwner::Personal, endpoints::MEMBER_ENDPOINT)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(endpoint.base_url, "https://llm.example/v1");
    assert_eq!(token.unwrap().expose_secret(), "sk-bob-endpoint-9");
    let shown = w.answer(slash(bob(), VIEW_AND_SEND, "personal custom-endpoint show")).await;
    assert!(shown.contains("<https://llm.example/v1> · qwen2.5:7b · tools · with a token"));
    assert!(!shown.contains("sk-bob"));
    let twice = w.answer(add(bob(), "https://llm.example/v1", "m")).await;
    assert!(twice.starts_with("You already have an endpoint"), "{twice}");
    // Alice has none, and cannot remove Bob's.
    let hers = w.answer(slash(alice(), MANAGE_GUILD, "personal custom-endpoint show")).await;
    assert!(hers.starts_with("You have no endpoint"), "{hers}");
    let none = w.answer(slash(alice(), MANAGE_GUILD, "personal custom-endpoint remove")).await;
    assert_eq!(none, "No such endpoint.");
    let removed = w.answer(slash(bob(), VIEW_AND_SEND, "personal custom-endpoint remove")).await;
    assert!(removed.starts_with("Removed your endpoint"), "{removed}");
    assert!(endpoints::list(&w.store, bob_scope, KeyOwner::Personal).await.unwrap().is_empty());
    let actions = audit_actions(&w.db).await;
    assert_eq!(
        actions.iter().filter(|a| a.starts_with("endpoint.")).collect::<Vec<_>>(),
        ["endpoint.add", "endpoint.remove"]
    );

    // Without a token the form may be left empty.
    let modal = w.modal(add(bob(), "https://llm.example/v1", "m")).await;
    let custom_id = modal["custom_id"].as_str().unwrap();
    let saved = w
        .answer(slash(bob(), VIEW_AND_SEND, "personal").submit_modal(custom_id, &[("token", "")]))
        .await;
    assert!(
        saved.starts_with("Saved your endpoint (m). It answers your direct messages"),
        "{saved}"
    );
}
