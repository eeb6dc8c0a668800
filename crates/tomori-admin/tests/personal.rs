//! A member's own data through the admin layer: each member reaches only their own, an export
//! names keys by label only, and privacy level 2 asks the front door to forget them at once.
#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions unwrap too")]

use secrecy::SecretString;
use tomori_admin::personal::{Action, run};
use tomori_admin::{Caller, Grants};
use tomori_core::id::Snowflake;
use tomori_core::privacy::PrivacyLevel;
use tomori_store::Scope;
use tomori_store::audit::Actor;
use tomori_store::credentials::{self, KeyOwner};
use tomori_testkit::TestDb;

fn member(user: u64) -> Caller {
    Caller {
        user: Snowflake::new(user).unwrap(),
        guild: None,
        channel: Snowflake::new(9).unwrap(),
        grants: Grants::default(),
    }
}

#[tokio::test]
async fn a_member_reaches_only_their_own_data_and_exports_keys_by_label() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let (alice, bob) = (member(1), member(2));
    let alice_scope = Scope::user(store.resolve_user(alice.user).await.unwrap());
    let secret = SecretString::from("sk-or-v1-alice-secret-0123456789".to_owned());
    let key = credentials::add(
        &store,
        alice_scope,
        Actor::Discord(alice.user),
        KeyOwner::Personal,
        "openrouter",
        "mine",
        &secret,
    )
    .await
    .unwrap();

    // Bob names Alice's key id: his own scope has no such key.
    let taken = run(&store, &bob, &Action::KeyRemove { id: key.id }).await;
    assert!(taken.is_err(), "{taken:?}");
    let listed = run(&store, &alice, &Action::KeyList).await.unwrap().answer.text;
    assert!(listed.contains("openrouter · mine"), "{listed}");

    let export = run(&store, &alice, &Action::Export).await.unwrap().answer;
    let file = String::from_utf8(export.files[0].bytes.clone()).unwrap();
    assert!(file.contains("\"label\": \"mine\""), "{file}");
    assert!(!file.contains("alice-secret"), "an export never holds a key: {file}");

    let full = run(&store, &alice, &Action::Privacy { level: PrivacyLevel::Full }).await.unwrap();
    assert!(full.withhold, "level 2 asks the front door to forget her messages now");
    let back = run(&store, &alice, &Action::Privacy { level: PrivacyLevel::Minimal }).await;
    assert!(!back.unwrap().withhold);
    let unconfirmed = run(&store, &alice, &Action::Delete { confirmed: false }).await;
    assert!(unconfirmed.is_err());
    assert_eq!(run(&store, &alice, &Action::KeyList).await.unwrap().answer.text, listed);
}
