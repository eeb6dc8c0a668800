//! The admin layer's rules against a real database: who may run what (the same answer for every
//! front door), and the server's switches changing only what they should, with audit rows.
#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions unwrap too")]

use tomori_admin::server::{Switch, switch};
use tomori_admin::{AdminError, Caller, Grants, Need, authorize, tenant};
use tomori_core::id::Snowflake;
use tomori_core::settings::{CooldownKind, Feature};
use tomori_core::shared_memory::SharedMemoryChange;
use tomori_store::{Store, settings};
use tomori_testkit::{TestDb, audit_actions};

const GUILD: u64 = 800_000_000_000_000_001;
const CHANNEL: u64 = 800_000_000_000_000_002;
const USER: u64 = 700_000_000_000_000_001;

fn id(raw: u64) -> Snowflake {
    Snowflake::new(raw).unwrap()
}

fn caller(guild: Option<u64>, manage_server: bool, manage_messages: bool) -> Caller {
    Caller {
        user: id(USER),
        guild: guild.map(id),
        channel: id(CHANNEL),
        grants: Grants { manage_server, manage_messages },
    }
}

async fn allowed(store: &Store, who: &Caller, need: Need, in_dm: bool) -> Result<(), String> {
    authorize(store, who, need, in_dm).await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn every_need_is_judged_on_the_grants_and_the_servers_settings() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let manager = caller(Some(GUILD), true, false);
    let moderator = caller(Some(GUILD), false, true);
    let member = caller(Some(GUILD), false, false);
    let in_dm = caller(None, false, false);
    let teach = Need::SharedMemory(SharedMemoryChange::Teach);
    let revise = Need::SharedMemory(SharedMemoryChange::Revise);
    let snapshot = Need::ManagerOrFeature(Feature::PromptSnapshot);
    let server = "this needs the Manage Server permission";
    let moderation = "this needs the Manage Server or Manage Messages permission";
    // (need, caller, works in a DM, expected)
    let cases: Vec<(Need, &Caller, bool, Result<(), &str>)> = vec![
        (Need::Anyone, &member, false, Ok(())),
        (Need::Anyone, &in_dm, false, Ok(())),
        (Need::Member, &member, false, Ok(())),
        (Need::Member, &in_dm, false, Err("this only works in a server")),
        (Need::Member, &in_dm, true, Ok(())),
        (Need::Manager, &manager, false, Ok(())),
        (Need::Manager, &moderator, false, Err(server)),
        (Need::Manager, &member, false, Err(server)),
        (Need::Manager, &in_dm, true, Ok(())),
        (Need::Moderator, &manager, false, Ok(())),
        (Need::Moderator, &moderator, false, Ok(())),
        (Need::Moderator, &member, false, Err(moderation)),
        (teach, &manager, false, Ok(())),
        (teach, &member, false, Err(server)),
        (revise, &member, false, Err(server)),
        (snapshot, &manager, false, Ok(())),
        (snapshot, &member, false, Err(server)),
    ];
    for (need, who, dm, expected) in &cases {
        let got = allowed(&store, who, *need, *dm).await;
        assert_eq!(got, expected.map_err(str::to_owned), "{need:?} for {:?} (dm {dm})", who.grants);
    }

    // The server's settings open what they say, to members, and nothing more.
    switch(&store, &manager, &Switch::MemberTeaching(true)).await.unwrap();
    switch(&store, &manager, &Switch::Feature { feature: Feature::PromptSnapshot, on: true })
        .await
        .unwrap();
    assert_eq!(allowed(&store, &member, teach, false).await, Ok(()));
    assert_eq!(allowed(&store, &member, snapshot, false).await, Ok(()));
    assert_eq!(allowed(&store, &member, revise, false).await, Err(server.to_owned()));
    assert_eq!(allowed(&store, &member, Need::Manager, false).await, Err(server.to_owned()));
}

#[tokio::test]
async fn switches_change_only_for_managers_only_what_they_name_with_an_audit_row() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let manager = caller(Some(GUILD), true, false);
    let member = caller(Some(GUILD), false, true);
    let scope = tenant(&store, &manager).await.unwrap();
    let before = settings::get(&store, scope).await.unwrap();

    let refused = switch(&store, &member, &Switch::AlwaysReply(true)).await.unwrap_err();
    assert!(matches!(refused, AdminError::Refused("Manage Server")), "{refused:?}");
    let too_long = Switch::Cooldown { kind: CooldownKind::PerUser, seconds: Some(86_401) };
    let refused = switch(&store, &manager, &too_long).await.unwrap_err();
    assert!(matches!(refused, AdminError::BadInput(_)), "{refused:?}");
    assert_eq!(settings::get(&store, scope).await.unwrap(), before, "nothing changed");
    assert!(audit_actions(&db).await.is_empty(), "refusals record nothing");

    let answer = switch(&store, &manager, &Switch::DeliberateMode(true)).await.unwrap();
    assert!(answer.text.starts_with("Deliberate mode is on"), "{}", answer.text);
    let cooldown = Switch::Cooldown { kind: CooldownKind::PerChannel, seconds: Some(30) };
    let answer = switch(&store, &manager, &cooldown).await.unwrap();
    assert_eq!(answer.text, "The cooldown is now `per_channel`, 30 seconds.");
    let after = settings::get(&store, scope).await.unwrap();
    assert!(after.deliberate_trigger && !before.deliberate_trigger);
    assert_eq!((after.cooldown_kind, after.cooldown_seconds), (CooldownKind::PerChannel, 30));
    assert_eq!(after.always_reply, before.always_reply, "only what was named changed");
    assert_eq!(audit_actions(&db).await.len(), 2, "one audit row per change");

    // In a direct message a member manages their own DM tenant, but these are server switches.
    let dm = caller(None, false, false);
    let refused = switch(&store, &dm, &Switch::AlwaysReply(true)).await.unwrap_err();
    assert!(matches!(refused, AdminError::ServerOnly), "{refused:?}");
}
