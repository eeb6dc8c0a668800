//! Reminders at the store level: what the cross-tenant functions reveal, claims confined to their
//! tenant, and the lease that makes a stale claimant change nothing.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use tomori_store::Scope;
use tomori_store::reminders::{self, DueRef, Finished, NewReminder};
use tomori_testkit::TestDb;

use crate::{admin, snowflake};

fn at(text: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap().and_utc()
}

fn new(purpose: &str, due: &str, repeat_hours: Option<u32>) -> NewReminder {
    NewReminder {
        channel: snowflake(3001),
        user: snowflake(4001),
        persona: None,
        purpose: purpose.to_owned(),
        due_at: at(due),
        repeat_hours,
    }
}

#[tokio::test]
async fn due_reminders_are_found_across_tenants_but_claimed_only_in_their_own() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let a = store.resolve_guild(snowflake(2001)).await.unwrap();
    let b = store.resolve_guild(snowflake(2002)).await.unwrap();
    let in_a =
        reminders::create(&store, Scope::server(a), admin(), new("a", "2026-12-01 09:00", None))
            .await
            .unwrap();
    let in_b =
        reminders::create(&store, Scope::server(b), admin(), new("b", "2026-12-01 09:05", None))
            .await
            .unwrap();
    reminders::create(&store, Scope::server(b), admin(), new("later", "2026-12-02 09:00", None))
        .await
        .unwrap();

    assert_eq!(reminders::next_due(&store).await.unwrap(), Some(at("2026-12-01 09:00")));
    assert!(reminders::due(&store, at("2026-12-01 08:59"), 10).await.unwrap().is_empty());
    assert_eq!(
        reminders::due(&store, at("2026-12-01 10:00"), 10).await.unwrap(),
        [DueRef { id: in_a.id, server: a }, DueRef { id: in_b.id, server: b }]
    );
    assert_eq!(reminders::due(&store, at("2026-12-01 10:00"), 1).await.unwrap().len(), 1);

    // Security: cross-tenant leakage. A claim in the wrong tenant sees no row and changes none.
    let now = at("2026-12-01 10:00");
    let lease = now + TimeDelta::minutes(2);
    assert_eq!(
        reminders::claim(&store, Scope::server(b), in_a.id, now, lease).await.unwrap(),
        None
    );
    let claimed = reminders::claim(&store, Scope::server(a), in_a.id, now, lease).await.unwrap();
    assert_eq!(claimed.map(|c| c.reminder).as_ref(), Some(&in_a));
    // Claimed: not due again until the lease runs out, and not claimable twice.
    assert_eq!(reminders::due(&store, now, 10).await.unwrap(), [DueRef { id: in_b.id, server: b }]);
    assert_eq!(
        reminders::claim(&store, Scope::server(a), in_a.id, now, lease).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_claim_that_outlived_its_lease_changes_nothing() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let server = store.resolve_guild(snowflake(2001)).await.unwrap();
    let scope = Scope::server(server);
    let daily =
        reminders::create(&store, scope, admin(), new("daily", "2026-12-01 09:00", Some(24)))
            .await
            .unwrap();

    let first_now = at("2026-12-01 09:00");
    let stale =
        reminders::claim(&store, scope, daily.id, first_now, first_now + TimeDelta::minutes(2))
            .await
            .unwrap()
            .unwrap();
    // The first claimant hangs past its lease; a second scheduler takes the reminder over.
    let second_now = at("2026-12-01 09:03");
    let fresh =
        reminders::claim(&store, scope, daily.id, second_now, second_now + TimeDelta::minutes(2))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        reminders::delivered(&store, scope, &stale, second_now).await.unwrap(),
        Finished::Superseded
    );
    assert_eq!(
        reminders::failed(&store, scope, &stale, second_now, Some(second_now)).await.unwrap(),
        Finished::Superseded
    );
    assert_eq!(
        reminders::delivered(&store, scope, &fresh, second_now).await.unwrap(),
        Finished::Rescheduled(at("2026-12-02 09:00"))
    );

    // A change by the member while a delivery is in flight wins over the delivery's finish.
    let now = at("2026-12-02 09:00");
    let claimed = reminders::claim(&store, scope, daily.id, now, now + TimeDelta::minutes(2))
        .await
        .unwrap()
        .unwrap();
    let editor = reminders::Editor { user: snowflake(4001), manages_server: false };
    let change = reminders::ReminderChange {
        due_at: Some(at("2026-12-05 18:00")),
        ..reminders::ReminderChange::default()
    };
    reminders::update(&store, scope, admin(), editor, daily.id, change).await.unwrap();
    assert_eq!(
        reminders::delivered(&store, scope, &claimed, now).await.unwrap(),
        Finished::Superseded
    );
    let left = reminders::list_for_member(&store, scope, snowflake(4001)).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].due_at, at("2026-12-05 18:00"));
    assert_eq!(reminders::next_due(&store).await.unwrap(), Some(at("2026-12-05 18:00")));
}
