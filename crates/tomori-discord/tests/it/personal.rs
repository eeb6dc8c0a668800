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
    assert_eq!(actions.iter().filter(|a| a.as_str() == "settings.access.add").count(), 2);
}
