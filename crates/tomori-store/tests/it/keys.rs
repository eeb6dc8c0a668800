use std::process::Command;

use secrecy::{ExposeSecret, SecretString};
use tomori_store::credentials::{self, KeyOwner};
use tomori_store::endpoints::{self, NewEndpoint};
use tomori_store::secrets::{Owner, SealContext};
use tomori_store::{Scope, StoreError, keys, webhooks};
use tomori_testkit::TestDb;

use crate::{admin, snowflake};

const PLAINTEXT_KEY: &str = "sk-or-v1-PLAINTEXT-CANARY-7f3a9b";
const WEBHOOK_TOKEN: &str = "webhook-token-CANARY-55aa";

fn pg_dump() -> String {
    let candidates = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/pg_dump"))
        .filter(|p| p.is_file())
        .max();
    candidates.map_or_else(|| "pg_dump".to_owned(), |p| p.display().to_string())
}

#[tokio::test]
async fn a_database_dump_holds_no_plaintext_secret() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let guild = store.resolve_guild(snowflake(1)).await.unwrap();
    let user = store.resolve_user(snowflake(2)).await.unwrap();
    let key = SecretString::from(PLAINTEXT_KEY.to_owned());
    credentials::add(
        &store,
        Scope::server(guild),
        admin(),
        KeyOwner::Server,
        "openrouter",
        "main",
        &key,
    )
    .await
    .unwrap();
    credentials::add(
        &store,
        Scope::user(user),
        admin(),
        KeyOwner::Personal,
        "openai",
        "mine",
        &key,
    )
    .await
    .unwrap();
    let token = SecretString::from(WEBHOOK_TOKEN.to_owned());
    webhooks::save(&store, Scope::server(guild), snowflake(3), snowflake(4), &token).await.unwrap();

    let dump =
        Command::new(pg_dump()).arg("--dbname").arg(db.url().expose_secret()).output().unwrap();
    assert!(dump.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&dump.stderr));
    let text = String::from_utf8_lossy(&dump.stdout);
    assert!(text.contains("provider_credentials"), "the dump must contain the table");
    assert!(!text.contains(PLAINTEXT_KEY), "a provider key is in the dump in plaintext");
    assert!(!text.contains("PLAINTEXT-CANARY"), "part of a provider key is in the dump");
    assert!(!text.contains(WEBHOOK_TOKEN), "a webhook token is in the dump in plaintext");

    // And the sealed values still open for their owners.
    let listed = credentials::list(&store, Scope::server(guild), KeyOwner::Server).await.unwrap();
    let opened = credentials::reveal(&store, Scope::server(guild), listed[0].id).await.unwrap();
    assert_eq!(opened.expose_secret(), PLAINTEXT_KEY);
    let hook = webhooks::get(&store, Scope::server(guild), snowflake(3)).await.unwrap().unwrap();
    assert_eq!(hook.token.expose_secret(), WEBHOOK_TOKEN);
}

#[tokio::test]
async fn a_sealed_value_moved_to_another_tenant_does_not_open() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let a = store.resolve_guild(snowflake(1)).await.unwrap();
    let b = store.resolve_guild(snowflake(2)).await.unwrap();
    let key = SecretString::from("sk-a".to_owned());
    credentials::add(&store, Scope::server(a), admin(), KeyOwner::Server, "openai", "k", &key)
        .await
        .unwrap();
    credentials::add(
        &store,
        Scope::server(b),
        admin(),
        KeyOwner::Server,
        "openai",
        "k",
        &SecretString::from("sk-b".to_owned()),
    )
    .await
    .unwrap();
    // An attacker with database access copies A's ciphertext into B's row.
    sqlx::query(
        "UPDATE provider_credentials SET secret = (SELECT secret FROM provider_credentials WHERE server_id = $1)
         WHERE server_id = $2",
    )
    .bind(a.get())
    .bind(b.get())
    .execute(db.owner())
    .await
    .unwrap();
    let b_key = credentials::list(&store, Scope::server(b), KeyOwner::Server).await.unwrap()[0].id;
    let err = credentials::reveal(&store, Scope::server(b), b_key).await.unwrap_err();
    assert!(matches!(err, StoreError::Secret(_)), "{err:?}");
}

#[tokio::test]
async fn rotation_reseals_everything_and_can_be_rerun() {
    let db = TestDb::new().await;
    let old = db.store().await;
    let guild = old.resolve_guild(snowflake(1)).await.unwrap();
    let scope = Scope::server(guild);
    for n in 0..5 {
        let key = SecretString::from(format!("sk-{n}"));
        credentials::add(&old, scope, admin(), KeyOwner::Server, "openai", &format!("k{n}"), &key)
            .await
            .unwrap();
    }
    webhooks::save(&old, scope, snowflake(3), snowflake(4), &SecretString::from("tok".to_owned()))
        .await
        .unwrap();
    // Endpoint keys, a server's and a member's: sealed under their own owners.
    let member = Scope::user(old.resolve_user(snowflake(7)).await.unwrap());
    for (owner, at, label) in
        [(KeyOwner::Server, scope, "gateway"), (KeyOwner::Personal, member, "personal")]
    {
        let endpoint = NewEndpoint {
            label: label.to_owned(),
            base_url: "https://llm.example/v1".to_owned(),
            model: "m".to_owned(),
            context_length: None,
            has_tools: false,
            has_vision: false,
            api_key: Some(SecretString::from(format!("ep-{label}"))),
        };
        endpoints::add(&old, at, admin(), owner, &endpoint).await.unwrap();
    }
    keys::check_ring(db.owner(), old.keys()).await.unwrap();

    let ring = TestDb::key_ring(&[1, 2], None);
    keys::check_ring(db.owner(), &ring).await.unwrap();
    let dry = keys::rotate(db.owner(), &ring, true).await.unwrap();
    assert_eq!(dry.resealed, 8);
    let versions = keys::audit_versions(db.owner()).await.unwrap();
    assert!(versions.iter().all(|v| v.key_version == 1), "a dry run writes nothing: {versions:?}");

    let done = keys::rotate(db.owner(), &ring, false).await.unwrap();
    assert_eq!(done.resealed, 8);
    let again = keys::rotate(db.owner(), &ring, false).await.unwrap();
    assert_eq!(again.resealed, 0, "a second run has nothing left to do");
    let versions = keys::audit_versions(db.owner()).await.unwrap();
    assert!(versions.iter().all(|v| v.key_version == 2), "{versions:?}");

    // Version 1 can now be retired: a ring with only version 2 opens everything.
    let new = db.store_with(TestDb::key_ring(&[2], None), Default::default()).await;
    keys::check_ring(db.owner(), new.keys()).await.unwrap();
    for info in credentials::list(&new, scope, KeyOwner::Server).await.unwrap() {
        let opened = credentials::reveal(&new, scope, info.id).await.unwrap();
        assert_eq!(opened.expose_secret(), format!("sk-{}", info.label.trim_start_matches('k')));
    }
    assert_eq!(
        webhooks::get(&new, scope, snowflake(3)).await.unwrap().unwrap().token.expose_secret(),
        "tok"
    );
    for (owner, at, label) in
        [(KeyOwner::Server, scope, "gateway"), (KeyOwner::Personal, member, "personal")]
    {
        let (_, key) = endpoints::get(&new, at, owner, label).await.unwrap().unwrap();
        assert_eq!(key.unwrap().expose_secret(), format!("ep-{label}"), "{label}");
    }
}

#[tokio::test]
async fn a_missing_or_wrong_key_version_is_named_at_startup() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let scope = Scope::server(store.resolve_guild(snowflake(1)).await.unwrap());
    credentials::add(
        &store,
        scope,
        admin(),
        KeyOwner::Server,
        "openai",
        "k",
        &SecretString::from("sk".to_owned()),
    )
    .await
    .unwrap();
    keys::check_ring(db.owner(), store.keys()).await.unwrap();

    let lacking = TestDb::key_ring(&[2], None);
    let err = keys::check_ring(db.owner(), &lacking).await.unwrap_err().to_string();
    assert!(err.contains("TOMORI_SECRET_V1 is not set"), "{err}");

    let wrong = std::sync::Arc::new(
        tomori_store::secrets::KeyRing::new(
            [(1, SecretString::from("another-secret-entirely-0123456789".to_owned()))],
            None,
        )
        .unwrap(),
    );
    let err = keys::check_ring(db.owner(), &wrong).await.unwrap_err().to_string();
    assert!(err.contains("TOMORI_SECRET_V1 is not the secret"), "{err}");
}

#[tokio::test]
async fn an_endpoint_key_opens_only_for_its_origin_and_older_keys_are_bound_at_start() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let guild = store.resolve_guild(snowflake(1)).await.unwrap();
    let scope = Scope::server(guild);
    let endpoint = NewEndpoint {
        label: "gateway".to_owned(),
        base_url: "https://llm.example/v1".to_owned(),
        model: "m".to_owned(),
        context_length: None,
        has_tools: false,
        has_vision: false,
        api_key: Some(SecretString::from("ep-key".to_owned())),
    };
    endpoints::add(&store, scope, admin(), KeyOwner::Server, &endpoint).await.unwrap();
    let key = || async {
        endpoints::get(&store, scope, KeyOwner::Server, "gateway")
            .await
            .map(|found| found.and_then(|(_, key)| key).map(|k| k.expose_secret().to_owned()))
    };
    assert_eq!(key().await.unwrap().as_deref(), Some("ep-key"));
    let owner = db.owner();
    let edit = |sql: &'static str| async move {
        sqlx::query(sql).execute(owner).await.unwrap();
    };

    // A database edit that points the endpoint elsewhere leaves a key that does not open, and
    // marking the key unbound does not help.
    edit("UPDATE custom_endpoints SET base_url = 'https://collector.example/v1'").await;
    assert!(matches!(key().await, Err(StoreError::Secret(_))), "another origin");
    edit("UPDATE custom_endpoints SET api_key_bound = false").await;
    assert!(matches!(key().await, Err(StoreError::Secret(_))), "unbound");
    edit("UPDATE custom_endpoints SET base_url = 'https://llm.example/v2'").await;
    assert!(matches!(key().await, Err(StoreError::Secret(_))), "unbound, same origin");
    edit("UPDATE custom_endpoints SET api_key_bound = true").await;
    assert_eq!(key().await.unwrap().as_deref(), Some("ep-key"), "same origin, other path");

    // A key stored before keys were bound: it opens by its row alone until the next start
    // binds it, after which the same edit makes it unopenable too.
    let ctx =
        SealContext { table: "custom_endpoints", column: "api_key", owner: Owner::Server(guild) };
    let legacy = store.keys().seal("old-key", &ctx);
    sqlx::query("UPDATE custom_endpoints SET api_key = $1, api_key_bound = false")
        .bind(&legacy.blob)
        .execute(db.owner())
        .await
        .unwrap();
    assert_eq!(key().await.unwrap().as_deref(), Some("old-key"));
    assert_eq!(keys::bind_endpoint_keys(db.owner(), store.keys()).await.unwrap(), 1);
    assert_eq!(keys::bind_endpoint_keys(db.owner(), store.keys()).await.unwrap(), 0, "once");
    assert_eq!(key().await.unwrap().as_deref(), Some("old-key"), "bound, same origin");
    edit("UPDATE custom_endpoints SET base_url = 'https://collector.example/v1'").await;
    assert!(matches!(key().await, Err(StoreError::Secret(_))), "bound now");
}
