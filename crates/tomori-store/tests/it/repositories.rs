use tomori_core::limits::Limits;
use tomori_core::settings::{ChannelSet, Feature};
use tomori_store::personas::{self, NewPersona};
use tomori_store::{Scope, StoreError, memories, settings};
use tomori_testkit::TestDb;

use crate::{admin, snowflake};

fn named(name: &str) -> NewPersona {
    NewPersona { nickname: name.to_owned(), ..NewPersona::default() }
}

#[tokio::test]
async fn the_first_persona_is_main_and_nicknames_are_unique_ignoring_case() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let scope = Scope::server(store.resolve_guild(snowflake(1)).await.unwrap());
    let main = personas::create(&store, scope, admin(), named("Tomori")).await.unwrap();
    let alter = personas::create(&store, scope, admin(), named("Kaede")).await.unwrap();
    assert!(main.is_main);
    assert!(!alter.is_main);
    assert_ne!(main.lineage, alter.lineage);
    let dup = personas::create(&store, scope, admin(), named("tomori")).await.unwrap_err();
    assert!(matches!(dup, StoreError::Conflict(_)), "{dup:?}");
    let renamed = personas::rename(&store, scope, admin(), alter.id, "Momiji").await.unwrap();
    assert_eq!(renamed.lineage, alter.lineage);
    assert_eq!(personas::find(&store, scope, "MOMIJI").await.unwrap().unwrap().id, alter.id);
    let err = personas::remove(&store, scope, admin(), main.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    personas::remove(&store, scope, admin(), alter.id).await.unwrap();
    assert_eq!(personas::list(&store, scope).await.unwrap().len(), 1);
}

#[tokio::test]
async fn limits_are_enforced_before_writing() {
    let db = TestDb::new().await;
    let limits = Limits {
        personas_per_server: 2,
        server_memories_per_scope: 1,
        memory_chars: 10,
        ..Limits::default()
    };
    let store = db.store_with(TestDb::key_ring(&[1], None), limits).await;
    let scope = Scope::server(store.resolve_guild(snowflake(1)).await.unwrap());
    let persona = personas::create(&store, scope, admin(), named("A")).await.unwrap();
    personas::create(&store, scope, admin(), named("B")).await.unwrap();
    let err = personas::create(&store, scope, admin(), named("C")).await.unwrap_err();
    assert!(matches!(err, StoreError::LimitReached { what: "personas", limit: 2 }), "{err:?}");

    let err =
        memories::add_server(&store, scope, admin(), persona.lineage, None, "far too long text")
            .await
            .unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    memories::add_server(&store, scope, admin(), persona.lineage, Some(snowflake(9)), "short")
        .await
        .unwrap();
    let err = memories::add_server(&store, scope, admin(), persona.lineage, None, "again")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LimitReached { .. }), "{err:?}");
    let listed = memories::list_server(&store, scope, persona.lineage).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].teacher, Some(snowflake(9)));
}

#[tokio::test]
async fn bad_persona_fields_change_nothing() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let scope = Scope::server(store.resolve_guild(snowflake(1)).await.unwrap());
    for bad in [
        named(""),
        named("Discord Helper"),
        NewPersona { prompt: "x".repeat(9000), ..named("Long") },
        NewPersona { trigger_words: vec![" ".to_owned()], ..named("Blank") },
    ] {
        let err = personas::create(&store, scope, admin(), bad).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    }
    assert!(personas::list(&store, scope).await.unwrap().is_empty());
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(db.owner()).await.unwrap();
    assert_eq!(rows, 0, "a refused change leaves no audit row");
}

#[tokio::test]
async fn settings_have_defaults_and_flags_change_one_at_a_time() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let scope = Scope::server(store.resolve_guild(snowflake(1)).await.unwrap());
    let before = settings::get(&store, scope).await.unwrap();
    assert_eq!((before.cascade_limit, before.match_limit, before.message_fetch_limit), (3, 3, 80));
    assert!(before.feature(Feature::ToolUse));
    assert!(!before.feature(Feature::CrossChannel));
    settings::set_feature(&store, scope, admin(), Feature::CrossChannel, true).await.unwrap();
    let after = settings::get(&store, scope).await.unwrap();
    for feature in Feature::ALL {
        let expected =
            if feature == Feature::CrossChannel { true } else { before.feature(feature) };
        assert_eq!(after.feature(feature), expected, "{}", feature.name());
    }
    settings::add_channel(&store, scope, admin(), ChannelSet::Rp, snowflake(77)).await.unwrap();
    settings::add_channel(&store, scope, admin(), ChannelSet::Rp, snowflake(77)).await.unwrap();
    assert_eq!(settings::channels(&store, scope, ChannelSet::Rp).await.unwrap(), [snowflake(77)]);
    assert!(settings::channels(&store, scope, ChannelSet::Whitelist).await.unwrap().is_empty());
    settings::remove_channel(&store, scope, admin(), ChannelSet::Rp, snowflake(77)).await.unwrap();
    let err = settings::remove_channel(&store, scope, admin(), ChannelSet::Rp, snowflake(77))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)));
}

#[tokio::test]
async fn dm_pseudo_servers_are_separate_from_guilds_with_the_same_id() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let guild = store.resolve_guild(snowflake(5)).await.unwrap();
    let dm = store.resolve_dm(snowflake(5)).await.unwrap();
    assert_ne!(guild, dm);
    assert_eq!(store.resolve_guild(snowflake(5)).await.unwrap(), guild);
}

#[tokio::test]
async fn a_database_that_goes_away_gives_an_unavailable_error() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let scope = Scope::server(store.resolve_guild(snowflake(1)).await.unwrap());
    store.close().await;
    let err = personas::list(&store, scope).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn quotas_count_after_success_and_refuse_when_used_up() {
    use chrono::NaiveDate;
    use tomori_core::quota::{QuotaLimits, QuotaVerdict};
    use tomori_store::quotas::{self, QuotaKind};

    let db = TestDb::new().await;
    let store = db.store().await;
    let scope = Scope::server(store.resolve_guild(snowflake(1)).await.unwrap());
    let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let alice = snowflake(10);
    let bob = snowflake(11);
    assert_eq!(
        quotas::check(&store, scope, QuotaKind::Text, alice, today).await.unwrap(),
        QuotaVerdict::Allowed
    );
    let limits =
        QuotaLimits { enabled: true, per_user_daily: 2, server_pool: 3, reset_period_days: 7 };
    quotas::set_limits(&store, scope, QuotaKind::Text, limits).await.unwrap();
    for _ in 0..2 {
        assert_eq!(
            quotas::check(&store, scope, QuotaKind::Text, alice, today).await.unwrap(),
            QuotaVerdict::Allowed
        );
        quotas::record(&store, scope, QuotaKind::Text, alice, today).await.unwrap();
    }
    let verdict = quotas::check(&store, scope, QuotaKind::Text, alice, today).await.unwrap();
    assert!(matches!(verdict, QuotaVerdict::UserExhausted { .. }), "{verdict:?}");
    // The next day alice may go again; images are counted apart.
    let tomorrow = today.succ_opt().unwrap();
    assert_eq!(
        quotas::check(&store, scope, QuotaKind::Text, alice, tomorrow).await.unwrap(),
        QuotaVerdict::Allowed
    );
    assert_eq!(
        quotas::check(&store, scope, QuotaKind::Image, alice, today).await.unwrap(),
        QuotaVerdict::Allowed
    );
    // Bob uses the last of the pool.
    quotas::record(&store, scope, QuotaKind::Text, bob, today).await.unwrap();
    let verdict = quotas::check(&store, scope, QuotaKind::Text, bob, today).await.unwrap();
    assert!(matches!(verdict, QuotaVerdict::PoolExhausted { .. }), "{verdict:?}");
    // When the database is gone, the check errors, and the caller refuses.
    store.close().await;
    assert!(quotas::check(&store, scope, QuotaKind::Text, bob, today).await.is_err());
}

#[tokio::test]
async fn privacy_levels_are_stored_per_user() {
    use tomori_core::privacy::PrivacyLevel;
    use tomori_store::users;

    let db = TestDb::new().await;
    let store = db.store().await;
    let alice = Scope::user(store.resolve_user(snowflake(10)).await.unwrap());
    assert_eq!(users::get(&store, alice).await.unwrap().privacy, PrivacyLevel::Minimal);
    users::set_privacy(&store, alice, admin(), PrivacyLevel::Full).await.unwrap();
    assert_eq!(users::get(&store, alice).await.unwrap().privacy, PrivacyLevel::Full);
    let bob = Scope::user(store.resolve_user(snowflake(11)).await.unwrap());
    assert_eq!(users::get(&store, bob).await.unwrap().privacy, PrivacyLevel::Minimal);
}

#[tokio::test]
async fn a_channel_persona_is_one_of_the_servers_own_and_goes_with_it() {
    use tomori_store::channel_personas;
    let db = TestDb::new().await;
    let store = db.store().await;
    let scope = Scope::server(store.resolve_guild(snowflake(1)).await.unwrap());
    let other = Scope::server(store.resolve_guild(snowflake(2)).await.unwrap());
    personas::create(&store, scope, admin(), named("Tomori")).await.unwrap();
    let kaede = personas::create(&store, scope, admin(), named("Kaede")).await.unwrap();
    let foreign = personas::create(&store, other, admin(), named("Mio")).await.unwrap();
    let channel = snowflake(10);
    let chosen = |scope| {
        let store = &store;
        async move {
            channel_personas::list(store, scope)
                .await
                .unwrap()
                .into_iter()
                .map(|c| (c.channel, c.persona, c.nickname))
                .collect::<Vec<_>>()
        }
    };

    // Another server's persona cannot be named, even by id.
    let err = channel_personas::set(&store, scope, admin(), channel, foreign.id).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound("persona")), "{err:?}");
    assert!(chosen(scope).await.is_empty());

    channel_personas::set(&store, scope, admin(), channel, kaede.id).await.unwrap();
    assert_eq!(chosen(scope).await, [(channel, kaede.id, "Kaede".to_owned())]);
    assert!(chosen(other).await.is_empty(), "the other server sees nothing");

    // Removing the persona removes its channels' choice.
    personas::remove(&store, scope, admin(), kaede.id).await.unwrap();
    assert!(chosen(scope).await.is_empty());
    let err = channel_personas::clear(&store, scope, admin(), channel).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}
