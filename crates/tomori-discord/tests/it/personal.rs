//! `/personal language|nickname|delete` and `/memory … edit` through the fake Discord: each
//! changes only the caller's own data (or, for server memories, needs a manager), and bad input
//! changes nothing.

use secrecy::SecretString;
use tomori_core::id::LineageId;
use tomori_store::audit::Actor;
use tomori_store::credentials::{self, KeyOwner};
use tomori_store::{Scope, memories, users};
use tomori_testkit::audit_actions;

use crate::commands::{MANAGE_GUILD, VIEW_AND_SEND, alice, bob, slash, world};
use crate::{ALICE, snowflake};

#[tokio::test]
async fn language_and_nickname_are_the_callers_own() {
    let w = world().await;
    let set = w.answer(slash(alice(), VIEW_AND_SEND, "personal language").arg("code", "ja")).await;
    assert!(set.contains("`ja`"), "{set}");
    let named =
        w.answer(slash(alice(), VIEW_AND_SEND, "personal nickname").arg("name", " Ali ")).await;
    assert_eq!(named, "Personas will call you Ali.");
    let bad =
        w.answer(slash(alice(), VIEW_AND_SEND, "personal language").arg("code", "ja;--")).await;
    assert!(bad.starts_with("Invalid language"), "{bad}");
    let alice_scope = Scope::user(w.store.resolve_user(snowflake(ALICE)).await.unwrap());
    let me = users::get(&w.store, alice_scope).await.unwrap();
    assert_eq!((me.language.as_str(), me.nickname.as_deref()), ("ja", Some("Ali")));
    let cleared = w.answer(slash(alice(), VIEW_AND_SEND, "personal nickname")).await;
    assert_eq!(cleared, "Personas will call you by your name.");
    assert_eq!(users::get(&w.store, alice_scope).await.unwrap().nickname, None);
    // Bob's settings were never touched.
    let bob_scope =
        Scope::user(w.store.resolve_user(snowflake(700_000_000_000_000_002)).await.unwrap());
    assert_eq!(users::get(&w.store, bob_scope).await.unwrap().language, "en");
}

#[tokio::test]
async fn delete_needs_the_phrase_and_removes_only_the_callers_data() {
    let w = world().await;
    let alice_scope = Scope::user(w.store.resolve_user(snowflake(ALICE)).await.unwrap());
    memories::add_personal(&w.store, alice_scope, Actor::Operator, LineageId::EVERY_PERSONA, "tea")
        .await
        .unwrap();
    let key = SecretString::from("sk-personal".to_owned());
    credentials::add(
        &w.store,
        alice_scope,
        Actor::Operator,
        KeyOwner::Personal,
        "openai",
        "mine",
        &key,
    )
    .await
    .unwrap();
    // Bob's data, which Alice's delete must leave alone.
    let bob_scope =
        Scope::user(w.store.resolve_user(snowflake(700_000_000_000_000_002)).await.unwrap());
    memories::add_personal(
        &w.store,
        bob_scope,
        Actor::Operator,
        LineageId::EVERY_PERSONA,
        "coffee",
    )
    .await
    .unwrap();
    let bob_key = SecretString::from("sk-bob".to_owned());
    credentials::add(
        &w.store,
        bob_scope,
        Actor::Operator,
        KeyOwner::Personal,
        "openai",
        "b",
        &bob_key,
    )
    .await
    .unwrap();
    let slip =
        w.answer(slash(alice(), VIEW_AND_SEND, "personal delete").arg("confirm", "yes")).await;
    assert!(slip.contains("nothing was deleted"), "{slip}");
    assert_eq!(
        memories::list_personal(&w.store, alice_scope, LineageId::EVERY_PERSONA)
            .await
            .unwrap()
            .len(),
        1
    );

    let done = w
        .answer(slash(alice(), VIEW_AND_SEND, "personal delete").arg("confirm", "Delete my data"))
        .await;
    assert!(done.starts_with("Deleted your settings"), "{done}");
    // A fresh user row (defaults) is all that is left once Alice comes back.
    let again = Scope::user(w.store.resolve_user(snowflake(ALICE)).await.unwrap());
    assert_ne!(again, alice_scope);
    assert!(
        memories::list_personal(&w.store, again, LineageId::EVERY_PERSONA)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(credentials::list(&w.store, again, KeyOwner::Personal).await.unwrap().is_empty());
    assert!(audit_actions(&w.db).await.contains(&"user.delete".to_owned()));
    // Bob's memory and key are still his.
    let bobs =
        memories::list_personal(&w.store, bob_scope, LineageId::EVERY_PERSONA).await.unwrap();
    assert_eq!(bobs.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["coffee"]);
    assert_eq!(credentials::list(&w.store, bob_scope, KeyOwner::Personal).await.unwrap().len(), 1);
}

#[tokio::test]
async fn memories_are_edited_by_their_owner_or_a_manager() {
    let w = world().await;
    let lineage =
        tomori_store::personas::find(&w.store, w.server, "Tomori").await.unwrap().unwrap().lineage;
    let server_memory = memories::add_server(
        &w.store,
        w.server,
        Actor::Operator,
        lineage,
        None,
        "The cafe opens at 9",
    )
    .await
    .unwrap();
    let id = server_memory.id;
    let refused = w
        .answer(
            slash(bob(), VIEW_AND_SEND, "memory server edit")
                .arg("id", id)
                .arg("content", "hacked"),
        )
        .await;
    assert!(refused.contains("Manage Server"), "{refused}");
    let edited = w
        .answer(
            slash(alice(), MANAGE_GUILD, "memory server edit")
                .arg("id", id)
                .arg("content", "The cafe opens at 10"),
        )
        .await;
    assert!(edited.contains("now says: The cafe opens at 10"), "{edited}");
    let now = memories::list_server(&w.store, w.server, lineage).await.unwrap();
    assert_eq!(now[0].content, "The cafe opens at 10");

    let alice_scope = Scope::user(w.store.resolve_user(snowflake(ALICE)).await.unwrap());
    let mine = memories::add_personal(
        &w.store,
        alice_scope,
        Actor::Operator,
        LineageId::EVERY_PERSONA,
        "tea",
    )
    .await
    .unwrap();
    let not_bobs = w
        .answer(
            slash(bob(), VIEW_AND_SEND, "memory personal edit")
                .arg("id", mine.id)
                .arg("content", "coffee"),
        )
        .await;
    assert_eq!(not_bobs, "No such memory.");
    let empty = w
        .answer(
            slash(alice(), VIEW_AND_SEND, "memory personal edit")
                .arg("id", mine.id)
                .arg("content", "  "),
        )
        .await;
    assert!(empty.starts_with("Invalid"), "{empty}");
    let list =
        memories::list_personal(&w.store, alice_scope, LineageId::EVERY_PERSONA).await.unwrap();
    assert_eq!(list[0].content, "tea");
}

#[tokio::test]
async fn role_whitelist_and_blacklist_are_managers_only_and_audited() {
    use tomori_store::access::{self, AccessList};
    const ROLE: u64 = 600_000_000_000_000_777;
    const BOB_ID: u64 = 700_000_000_000_000_002;
    let w = world().await;
    let refused =
        w.answer(slash(bob(), VIEW_AND_SEND, "server role add").role_arg("role", ROLE)).await;
    assert!(refused.contains("Manage Server"), "{refused}");
    assert!(access::list(&w.store, w.server, AccessList::RoleWhitelist).await.unwrap().is_empty());
    let added =
        w.answer(slash(alice(), MANAGE_GUILD, "server role add").role_arg("role", ROLE)).await;
    assert_eq!(added, format!("<@&{ROLE}> is on the role whitelist."));
    let roles = w.answer(slash(bob(), VIEW_AND_SEND, "server role list")).await;
    assert!(roles.contains(&format!("<@&{ROLE}>")), "{roles}");
    let kept =
        w.answer(slash(bob(), VIEW_AND_SEND, "server role remove").role_arg("role", ROLE)).await;
    assert!(kept.contains("Manage Server"), "{kept}");
    w.answer(slash(alice(), MANAGE_GUILD, "server role remove").role_arg("role", ROLE)).await;
    assert!(access::list(&w.store, w.server, AccessList::RoleWhitelist).await.unwrap().is_empty());
    w.answer(slash(alice(), MANAGE_GUILD, "server role add").role_arg("role", ROLE)).await;
    let blocked = w
        .answer(slash(alice(), MANAGE_GUILD, "server blacklist add").user_arg("user", BOB_ID))
        .await;
    assert_eq!(blocked, format!("<@{BOB_ID}> is on the blacklist."));
    let listed = w.answer(slash(bob(), VIEW_AND_SEND, "server blacklist list")).await;
    assert!(listed.contains(&format!("<@{BOB_ID}>")), "{listed}");
    let missing = w
        .answer(slash(alice(), MANAGE_GUILD, "server blacklist remove").user_arg("user", 42))
        .await;
    assert_eq!(missing, "No such blacklisted user.");
    let actions = audit_actions(&w.db).await;
    assert_eq!(actions.iter().filter(|a| a.as_str() == "settings.access.add").count(), 3);
    assert_eq!(actions.iter().filter(|a| a.as_str() == "settings.access.remove").count(), 1);
}

#[tokio::test]
async fn personas_are_edited_in_place_by_managers_with_limits_and_audit() {
    use tomori_store::personas;
    let w = world().await;
    let refused = w
        .answer(
            slash(bob(), VIEW_AND_SEND, "persona prompt").arg("name", "Kaede").arg("text", "evil"),
        )
        .await;
    assert!(refused.contains("Manage Server"), "{refused}");
    let admin = |path: &str| slash(alice(), MANAGE_GUILD, path);
    w.answer(admin("persona prompt").arg("name", "kaede").arg("text", "A calm gardener.")).await;
    w.answer(admin("persona attribute add").arg("name", "Kaede").arg("text", "Loves moss")).await;
    w.answer(admin("persona attribute add").arg("name", "Kaede").arg("text", "Hums")).await;
    let removed =
        w.answer(admin("persona attribute remove").arg("name", "Kaede").arg("number", 1)).await;
    assert_eq!(removed, "Removed attribute 1 of **Kaede**.");
    let missing =
        w.answer(admin("persona attribute remove").arg("name", "Kaede").arg("number", 9)).await;
    assert_eq!(missing, "No such attribute.");
    w.answer(
        admin("persona sample-dialogue add")
            .arg("name", "Kaede")
            .arg("user", "How are the plants?")
            .arg("reply", "Thriving, thank you."),
    )
    .await;
    w.answer(
        admin("persona sample-dialogue add")
            .arg("name", "Kaede")
            .arg("user", "Weeds?")
            .arg("reply", "Pulled at dawn."),
    )
    .await;
    w.answer(admin("persona sample-dialogue remove").arg("name", "Kaede").arg("number", 2)).await;
    let triggers =
        w.answer(admin("persona trigger add").arg("name", "Kaede").arg("word", "kae")).await;
    assert_eq!(triggers, "**Kaede** answers to: kae");
    // Pasted quoted, in backticks, several at once: stored bare, lower-cased, once.
    let listed = admin("persona trigger add").arg("name", "Kaede").arg("word", "\"Kae\", `Momo`");
    assert_eq!(w.answer(listed).await, "**Kaede** answers to: kae, momo");
    let removed = admin("persona trigger remove").arg("name", "Kaede").arg("word", "`MOMO`");
    assert_eq!(w.answer(removed).await, "**Kaede** answers to: kae");
    let bad_avatar = w
        .answer(
            admin("persona avatar").arg("name", "Kaede").arg("url", "http://169.254.169.254/a.png"),
        )
        .await;
    assert!(bad_avatar.starts_with("That avatar URL can't be used"), "{bad_avatar}");
    let shown = w.answer(admin("persona show").arg("name", "Kaede")).await;
    assert!(shown.contains("Prompt: A calm gardener."), "{shown}");
    assert!(shown.contains("Attribute 1: Hums") && !shown.contains("Loves moss"), "{shown}");
    assert!(!shown.contains("Weeds?"), "the second dialogue was removed: {shown}");
    assert!(
        shown.contains("Dialogue 1: «How are the plants?» → «Thriving, thank you.»"),
        "{shown}"
    );

    let swapped = w.answer(admin("persona swap").arg("name", "Kaede")).await;
    assert_eq!(swapped, "**Kaede** is now the main persona.");
    let all = personas::list(&w.store, w.server).await.unwrap();
    let main: Vec<&str> = all.iter().filter(|p| p.is_main).map(|p| p.nickname.as_str()).collect();
    assert_eq!(main, ["Kaede"]);
    let kaede = all.iter().find(|p| p.nickname == "Kaede").unwrap();
    assert_eq!(kaede.attributes, ["Hums"]);
    assert_eq!(kaede.avatar_url, None);
    let actions = audit_actions(&w.db).await;
    assert!(
        actions.contains(&"persona.edit".to_owned())
            && actions.contains(&"persona.swap".to_owned())
    );
}

#[tokio::test]
async fn exports_are_json_files_of_ones_own_data() {
    let w = world().await;
    let alice_scope = Scope::user(w.store.resolve_user(snowflake(ALICE)).await.unwrap());
    memories::add_personal(&w.store, alice_scope, Actor::Operator, LineageId::EVERY_PERSONA, "tea")
        .await
        .unwrap();
    let key = SecretString::from("sk-personal-export-secret".to_owned());
    credentials::add(
        &w.store,
        alice_scope,
        Actor::Operator,
        KeyOwner::Personal,
        "openai",
        "mine",
        &key,
    )
    .await
    .unwrap();
    let mine = w.run(slash(alice(), VIEW_AND_SEND, "personal export")).await;
    assert_eq!(mine.files.len(), 1, "{mine:?}");
    let file: serde_json::Value = serde_json::from_slice(&mine.files[0].bytes).unwrap();
    assert_eq!(file["personal_memories"][0]["content"], "tea");
    assert_eq!(file["api_keys"][0]["label"], "mine");
    assert!(!String::from_utf8_lossy(&mine.files[0].bytes).contains("sk-personal"));
    // Bob's export holds nothing of Alice's.
    let theirs = w.run(slash(bob(), VIEW_AND_SEND, "memory personal export")).await;
    let file: serde_json::Value = serde_json::from_slice(&theirs.files[0].bytes).unwrap();
    assert_eq!(file, serde_json::json!([]));
    let server = w.run(slash(bob(), VIEW_AND_SEND, "memory server export")).await;
    let file: serde_json::Value = serde_json::from_slice(&server.files[0].bytes).unwrap();
    assert_eq!(file["persona"], "Tomori");
}

#[tokio::test]
async fn memory_files_import_all_or_nothing() {
    let w = world().await;
    let lineage =
        tomori_store::personas::find(&w.store, w.server, "Tomori").await.unwrap().unwrap().lineage;
    let export = serde_json::json!({
        "persona": "Tomori",
        "memories": [{"content": "The cafe opens at 9"}, {"content": "Mochi is a cat"}],
    });
    let file = w.fake.host_attachment(
        "memories.json",
        "application/json",
        serde_json::to_vec(&export).unwrap(),
    );
    let refused = w
        .answer(slash(bob(), VIEW_AND_SEND, "memory server import").attachment_arg("file", &file))
        .await;
    assert!(refused.contains("Manage Server"), "{refused}");
    let done = w
        .answer(slash(alice(), MANAGE_GUILD, "memory server import").attachment_arg("file", &file))
        .await;
    assert_eq!(done, "Imported 2 memories.");
    let stored = memories::list_server(&w.store, w.server, lineage).await.unwrap();
    assert_eq!(stored.len(), 2);

    // One bad entry: nothing of the file is added.
    let bad = w.fake.host_attachment(
        "bad.json",
        "application/json",
        br#"["fine", {"content": ""}]"#.to_vec(),
    );
    let refused = w
        .answer(
            slash(alice(), VIEW_AND_SEND, "memory personal import").attachment_arg("file", &bad),
        )
        .await;
    assert!(refused.starts_with("Invalid memory"), "{refused}");
    let broken = w.fake.host_attachment("x.json", "application/json", b"{not json".to_vec());
    let refused = w
        .answer(
            slash(alice(), VIEW_AND_SEND, "memory personal import").attachment_arg("file", &broken),
        )
        .await;
    assert!(refused.contains("is not a memory file"), "{refused}");
    let alice_scope = Scope::user(w.store.resolve_user(snowflake(ALICE)).await.unwrap());
    assert!(memories::list_all_personal(&w.store, alice_scope).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_long_prompt_is_shown_as_far_as_it_fits_and_sent_whole_as_a_file() {
    let w = world().await;
    let prompt = format!("You keep the lanterns. {}", "Every evening you light them. ".repeat(100));
    let new = tomori_store::personas::NewPersona {
        nickname: "Mirai".into(),
        prompt: prompt.clone(),
        ..tomori_store::personas::NewPersona::default()
    };
    tomori_store::personas::create(&w.store, w.server, Actor::Operator, new).await.unwrap();
    let command = slash(alice(), MANAGE_GUILD, "persona show").arg("name", "Mirai");
    let answered = w.run(command).await;
    let shown = answered.content.unwrap();
    assert!(shown.contains("Prompt: You keep the lanterns. Every evening"), "{shown}");
    assert!(shown.chars().count() <= 2_000);
    assert_eq!(answered.files.len(), 1, "the whole answer rides along");
    assert_eq!(answered.files[0].filename, "answer.txt");
    let whole = String::from_utf8(answered.files[0].bytes.clone()).unwrap();
    assert!(whole.contains(prompt.trim()), "{whole}");
}

#[tokio::test]
async fn a_member_chooses_their_own_model() {
    let w = world().await;
    let me = |path: &str| slash(alice(), VIEW_AND_SEND, path);
    let audited = audit_actions(&w.db).await.len();
    let unknown =
        w.answer(me("personal model set").arg("provider", "acme").arg("model", "m")).await;
    assert!(unknown.starts_with("Unknown provider `acme`"), "{unknown}");
    let bad =
        w.answer(me("personal model set").arg("provider", "openai").arg("model", "a b")).await;
    assert!(bad.contains("is not a model id"), "{bad}");
    assert_eq!(audit_actions(&w.db).await.len(), audited, "refusals change nothing");

    let set = w
        .answer(me("personal model set").arg("provider", "OpenAI").arg("model", "gpt-4o-mini"))
        .await;
    assert!(set.contains("`openai/gpt-4o-mini`") && set.contains("no key for `openai`"), "{set}");
    let alone = w
        .answer(
            me("personal model set")
                .arg("provider", "openai")
                .arg("model", "gpt-4o")
                .arg("fallback", false),
        )
        .await;
    assert!(alone.contains("with your own key only."), "{alone}");
    let alice_scope = Scope::user(w.store.resolve_user(snowflake(ALICE)).await.unwrap());
    let model = users::get(&w.store, alice_scope).await.unwrap().model.unwrap();
    assert_eq!(
        (model.provider.as_str(), model.model.as_str(), model.fallback),
        ("openai", "gpt-4o", false)
    );
    // Bob's choice is his; alice's stays.
    let shown = w.answer(slash(bob(), VIEW_AND_SEND, "personal model show")).await;
    assert!(shown.starts_with("You chose no model"), "{shown}");
    let shown = w.answer(me("personal model show")).await;
    assert!(shown.contains("`openai/gpt-4o`"), "{shown}");
    let cleared = w.answer(me("personal model clear")).await;
    assert!(cleared.contains("servers' models again"), "{cleared}");
    assert!(users::get(&w.store, alice_scope).await.unwrap().model.is_none());
    let actions = audit_actions(&w.db).await;
    assert_eq!(actions[audited..], ["user.model"; 3]);
}

#[tokio::test]
async fn a_member_chooses_their_own_deliberate_tool_mode() {
    let w = world().await;
    let me = |state: &str| {
        slash(alice(), VIEW_AND_SEND, "personal deliberate-tools").arg("state", state)
    };
    let alice_scope = Scope::user(w.store.resolve_user(snowflake(ALICE)).await.unwrap());
    let on = w.answer(me("on")).await;
    assert!(on.starts_with("Deliberate tool mode is on for you"), "{on}");
    assert_eq!(users::get(&w.store, alice_scope).await.unwrap().deliberate_tools, Some(true));
    let back = w.answer(me("server")).await;
    assert!(back.contains("follow each server's"), "{back}");
    assert_eq!(users::get(&w.store, alice_scope).await.unwrap().deliberate_tools, None);
    let actions = audit_actions(&w.db).await;
    assert_eq!(actions.iter().filter(|a| *a == "user.deliberate_tools").count(), 2);
}
