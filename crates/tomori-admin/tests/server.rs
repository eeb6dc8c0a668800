//! `/server`'s actions through the admin layer against a real database: lists members may read,
//! changes only managers may make, input out of range refused with nothing changed.
#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions unwrap too")]

use tomori_admin::server::{AccessList, Action, QuotaKind, WordVerb, run};
use tomori_admin::{AdminError, Caller, Grants, tenant};
use tomori_core::id::Snowflake;
use tomori_core::settings::ChannelSet;
use tomori_store::{Store, settings};
use tomori_testkit::{TestDb, audit_actions};

fn id(raw: u64) -> Snowflake {
    Snowflake::new(raw).unwrap()
}

fn caller(manage_server: bool) -> Caller {
    Caller {
        user: id(700_000_000_000_000_001),
        guild: Some(id(800_000_000_000_000_001)),
        channel: id(800_000_000_000_000_002),
        grants: Grants { manage_server, manage_messages: false },
    }
}

async fn say(store: &Store, who: &Caller, action: Action) -> Result<String, String> {
    run(store, who, &action).await.map(|a| a.text).map_err(|e| match e {
        AdminError::BadInput(text) => text,
        other => other.to_string(),
    })
}

#[tokio::test]
async fn members_read_the_lists_and_only_managers_change_the_server() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let (manager, member) = (caller(true), caller(false));
    let scope = tenant(&store, &manager).await.unwrap();

    // A channel set defaults to the channel asked in.
    let added = Action::Channel { set: ChannelSet::Rp, add: true, channel: None };
    assert_eq!(
        say(&store, &member, added.clone()).await,
        Err("this needs the Manage Server permission".to_owned())
    );
    assert_eq!(
        say(&store, &manager, added).await.unwrap(),
        "<#800000000000000002> is in the role-play channels."
    );
    let words = Action::TriggerWord { verb: WordVerb::Add, words: vec!["kae".to_owned()] };
    say(&store, &manager, words.clone()).await.unwrap();
    assert_eq!(say(&store, &manager, words).await.unwrap(), "`kae` was already a trigger word.");
    assert_eq!(say(&store, &member, Action::ListTriggerWords).await.unwrap(), "- `kae`");
    let role = Action::Access { list: AccessList::RoleWhitelist, add: true, id: id(42) };
    say(&store, &manager, role).await.unwrap();
    let roles = say(&store, &member, Action::ListAccess(AccessList::RoleWhitelist)).await;
    assert_eq!(roles.unwrap(), "Only members with these roles may talk to Tomori: <@&42>");

    // Refused input changes nothing and records nothing.
    let recorded = audit_actions(&db).await.len();
    let before = settings::get(&store, scope).await.unwrap();
    let quota = Action::Quota {
        kind: QuotaKind::Text,
        per_user_daily: Some(101),
        server_pool: None,
        reset_days: None,
        enabled: Some(true),
    };
    let refused = say(&store, &manager, quota).await.unwrap_err();
    assert_eq!(refused, "The per-user daily limit must be from 0 to 100; nothing was changed.");
    let range = say(&store, &manager, Action::AutoTriggerRange { min: 9, max: 3 }).await;
    assert!(range.unwrap_err().starts_with("That range won't do"));
    let nobody = Action::ChannelPersonaSet { channel: id(5), persona: "Nobody".to_owned() };
    let refused = say(&store, &manager, nobody).await.unwrap_err();
    assert!(refused.starts_with("This server has no persona called Nobody"), "{refused}");
    assert_eq!(settings::get(&store, scope).await.unwrap(), before);
    assert_eq!(audit_actions(&db).await.len(), recorded);
}
