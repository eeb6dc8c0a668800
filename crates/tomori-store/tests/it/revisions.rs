//! Revisions move with every committed change a cached copy depends on, and only with those.

use chrono::NaiveDate;
use secrecy::SecretString;
use tomori_core::privacy::PrivacyLevel;
use tomori_core::quota::QuotaLimits;
use tomori_core::settings::{ChannelSet, Feature};
use tomori_store::access::{self, AccessList};
use tomori_store::credentials::{self, KeyOwner};
use tomori_store::models::{self, ServerModel};
use tomori_store::personas::{self, NewPersona};
use tomori_store::quotas::{self, QuotaKind};
use tomori_store::servers::{Home, Revisions};
use tomori_store::settings::{self, Setting};
use tomori_store::{Scope, Store, memories, users};
use tomori_testkit::TestDb;

use crate::{admin, snowflake};

const GUILD: u64 = 1;
const USER: u64 = 7;

async fn now(store: &Store) -> Revisions {
    store.revisions(Home::Guild(snowflake(GUILD)), Some(snowflake(USER))).await.unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Moves {
    Server,
    User,
    Neither,
}

#[derive(Debug, Clone, Copy)]
enum Write {
    Setting,
    Feature,
    Channel,
    RoleWhitelist,
    Blacklist,
    Persona,
    PersonaEdit,
    ChannelPersona,
    ServerMemory,
    ServerModel,
    ServerKey,
    ServerKeyRemoved,
    Privacy,
    Nickname,
    PersonalMemory,
    PersonalKey,
    QuotaLimits,
    QuotaUse,
}

async fn apply(store: &Store, revisions: Revisions, write: Write) {
    let server = Scope::server(revisions.server);
    let user = Scope::user(revisions.user.unwrap().0);
    let key = SecretString::from("sk-test-0123456789abcdef".to_owned());
    match write {
        Write::Setting => {
            settings::set(store, server, admin(), Setting::CascadeLimit(5)).await.unwrap();
        }
        Write::Feature => {
            settings::set_feature(store, server, admin(), Feature::WebSearch, false).await.unwrap();
        }
        Write::Channel => {
            settings::add_channel(store, server, admin(), ChannelSet::Whitelist, snowflake(9))
                .await
                .unwrap();
        }
        Write::RoleWhitelist => {
            access::add(store, server, admin(), AccessList::RoleWhitelist, snowflake(3))
                .await
                .unwrap();
        }
        Write::Blacklist => {
            access::add(store, server, admin(), AccessList::UserBlacklist, snowflake(4))
                .await
                .unwrap();
        }
        Write::Persona => {
            let persona = NewPersona { nickname: "Kaede".to_owned(), ..NewPersona::default() };
            personas::create(store, server, admin(), persona).await.unwrap();
        }
        Write::PersonaEdit => {
            let id = personas::list(store, server).await.unwrap()[0].id;
            personas::edit(store, server, admin(), id, |p| {
                p.prompt = "Cheerful.".to_owned();
                Ok(())
            })
            .await
            .unwrap();
        }
        Write::ChannelPersona => {
            let id = personas::list(store, server).await.unwrap()[0].id;
            tomori_store::channel_personas::set(store, server, admin(), snowflake(10), id)
                .await
                .unwrap();
        }
        Write::ServerMemory => {
            let lineage = personas::list(store, server).await.unwrap()[0].lineage;
            memories::add_server(store, server, admin(), lineage, None, "likes tea").await.unwrap();
        }
        Write::ServerModel => {
            let model = ServerModel::new("openai", "gpt-4o-mini");
            models::set(store, server, admin(), &model).await.unwrap();
        }
        Write::ServerKey => {
            credentials::add(store, server, admin(), KeyOwner::Server, "openai", "main", &key)
                .await
                .unwrap();
        }
        Write::ServerKeyRemoved => {
            let id = credentials::list(store, server, KeyOwner::Server).await.unwrap()[0].id;
            credentials::remove(store, server, admin(), id).await.unwrap();
        }
        Write::Privacy => {
            users::set_privacy(store, user, admin(), PrivacyLevel::Partial).await.unwrap();
        }
        Write::Nickname => {
            users::set_profile(store, user, admin(), None, Some(Some("Aki"))).await.unwrap();
        }
        Write::PersonalMemory => {
            let lineage = personas::list(store, server).await.unwrap()[0].lineage;
            memories::add_personal(store, user, admin(), lineage, "plays go").await.unwrap();
        }
        Write::PersonalKey => {
            credentials::add(store, user, admin(), KeyOwner::Personal, "openai", "mine", &key)
                .await
                .unwrap();
        }
        Write::QuotaLimits => {
            let limits = QuotaLimits {
                enabled: true,
                per_user_daily: 5,
                server_pool: 0,
                reset_period_days: 1,
            };
            quotas::set_limits(store, server, QuotaKind::Text, limits).await.unwrap();
        }
        Write::QuotaUse => {
            let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
            quotas::record(store, server, QuotaKind::Text, snowflake(USER), today).await.unwrap();
        }
    }
}

#[tokio::test]
async fn each_committed_change_moves_the_revision_it_belongs_to() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let first = now(&store).await;
    assert_eq!(now(&store).await, first, "reading moves nothing");
    // At revision 0 the engine assumes a user's defaults without reading them.
    let (user, revision) = first.user.unwrap();
    assert_eq!(revision, 0);
    assert_eq!(
        users::get(&store, Scope::user(user)).await.unwrap(),
        users::UserSettings::default()
    );
    let main = NewPersona { nickname: "Tomori".to_owned(), ..NewPersona::default() };
    personas::create(&store, Scope::server(first.server), admin(), main).await.unwrap();

    // Quota use changes on every turn and must not empty the cache.
    let table = [
        (Write::Setting, Moves::Server),
        (Write::Feature, Moves::Server),
        (Write::Channel, Moves::Server),
        (Write::RoleWhitelist, Moves::Server),
        (Write::Blacklist, Moves::Server),
        (Write::Persona, Moves::Server),
        (Write::PersonaEdit, Moves::Server),
        (Write::ChannelPersona, Moves::Server),
        (Write::ServerMemory, Moves::Server),
        (Write::ServerModel, Moves::Server),
        (Write::ServerKey, Moves::Server),
        (Write::ServerKeyRemoved, Moves::Server),
        (Write::Privacy, Moves::User),
        (Write::Nickname, Moves::User),
        (Write::PersonalMemory, Moves::User),
        (Write::PersonalKey, Moves::User),
        (Write::QuotaLimits, Moves::Server),
        (Write::QuotaUse, Moves::Neither),
    ];
    for (write, expected) in table {
        let before = now(&store).await;
        apply(&store, before, write).await;
        let after = now(&store).await;
        let (user_before, user_after) = (before.user.unwrap().1, after.user.unwrap().1);
        let moved = match (after.server_revision > before.server_revision, user_after > user_before)
        {
            (true, false) => Moves::Server,
            (false, true) => Moves::User,
            (false, false) => Moves::Neither,
            (true, true) => panic!("{write:?} moved both revisions"),
        };
        assert_eq!(moved, expected, "{write:?}");
        assert_eq!(after.server, before.server);
    }
}

#[tokio::test]
async fn a_failed_write_moves_nothing_and_tenants_move_alone() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let ours = now(&store).await;
    let theirs = store.revisions(Home::Guild(snowflake(2)), None).await.unwrap();
    assert_eq!(theirs.user, None, "no author named, none resolved");
    assert_ne!(ours.server, theirs.server);
    let scope = Scope::server(ours.server);
    settings::set(&store, scope, admin(), Setting::CascadeLimit(5)).await.unwrap();
    // Out of range: refused, nothing committed.
    settings::set(&store, scope, admin(), Setting::CascadeLimit(99)).await.unwrap_err();
    let after = now(&store).await;
    assert_eq!(after.server_revision, ours.server_revision + 1);
    let theirs_after = store.revisions(Home::Guild(snowflake(2)), None).await.unwrap();
    assert_eq!(theirs_after, theirs, "another tenant's write moves only its own revision");
    // A DM pseudo-server is a tenant of its own.
    let dm = store.revisions(Home::Dm(snowflake(USER)), Some(snowflake(USER))).await.unwrap();
    assert_ne!(dm.server, ours.server);
    assert_eq!(dm.user.unwrap().0, ours.user.unwrap().0);
}
