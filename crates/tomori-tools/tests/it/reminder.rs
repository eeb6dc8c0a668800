//! The reminder tools against a real database, on a fixed clock: times in the server's timezone,
//! every refusal leaving nothing behind, the caps, and changes to the invoker's own reminders only.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Value, json};
use tomori_core::limits::Limits;
use tomori_llm::ToolCall;
use tomori_store::audit::Actor;
use tomori_store::reminders::{self, Reminder};
use tomori_store::settings::{self, Setting};
use tomori_store::{Scope, Store};
use tomori_testkit::TestDb;
use tomori_tools::{
    Clock, CreateTask, Gate, ListTasks, Perm, Registry, TurnContext, UpdateTask, run_tool_calls,
};

use crate::support::{Facts, FakeLive, INVOKER, OTHER_MEMBER, World, snowflake};

fn at(text: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").expect("a test time").and_utc()
}

/// The fixed "now" of these tests.
const NOW: &str = "2026-11-24 08:00";

fn gate(store: &Store) -> Gate {
    let clock = Clock::new(|| at(NOW));
    let mut registry = Registry::new();
    registry.register(CreateTask::with_clock(store.clone(), clock.clone())).expect("registers");
    registry.register(UpdateTask::with_clock(store.clone(), clock)).expect("registers");
    registry.register(ListTasks::new(store.clone())).expect("registers");
    Gate::new(registry)
}

/// Runs one call; `Ok(output JSON)` or `Err(reason)`.
async fn run(
    gate: &Gate,
    ctx: &TurnContext,
    name: &str,
    arguments: Value,
) -> Result<Value, String> {
    let call = ToolCall { id: "c".into(), name: name.into(), arguments, signature: None };
    let result = run_tool_calls(gate, &[call], ctx).await.remove(0);
    if result.is_error {
        let failure: Value = serde_json::from_str(&result.content).expect("failure JSON");
        return Err(failure["reason"].as_str().expect("reason").to_owned());
    }
    let body = result
        .content
        .strip_prefix(&format!("<tool_output name=\"{name}\" trust=\"untrusted\">\n"))
        .and_then(|rest| rest.strip_suffix("\n</tool_output>"))
        .expect("fenced output");
    Ok(serde_json::from_str(body).expect("output JSON"))
}

async fn set_zone(world: &World, name: &str) {
    settings::set(
        &world.store,
        Scope::server(world.server),
        Actor::Discord(snowflake(INVOKER)),
        Setting::Timezone(name.to_owned()),
    )
    .await
    .expect("timezone");
}

/// Every reminder of both members and the audit row count: what a refused call must not change.
async fn state(world: &World) -> (Vec<Reminder>, u64) {
    let scope = Scope::server(world.server);
    let mut all =
        reminders::list_for_member(&world.store, scope, snowflake(INVOKER)).await.expect("list");
    all.extend(
        reminders::list_for_member(&world.store, scope, snowflake(OTHER_MEMBER))
            .await
            .expect("list"),
    );
    (all, world.written().await.2)
}

#[tokio::test]
async fn reminders_are_set_at_relative_and_local_times() {
    let world = World::new().await;
    set_zone(&world, "America/New_York").await;
    let gate = gate(&world.store);
    let ctx = world.turn(FakeLive::new(Facts::permissive()));
    let (before, audit_before) = state(&world).await;

    let set =
        run(&gate, &ctx, "create_task", json!({"purpose": " stretch ", "time": "in 10 minutes"}))
            .await
            .expect("scheduled");
    assert_eq!(set["status"], "scheduled");
    assert_eq!(set["purpose"], "stretch");
    assert_eq!(set["due"], "2026-11-24 03:10 (America/New_York)");
    assert_eq!(
        set["due_discord_timestamp"],
        format!("<t:{}:F>", at("2026-11-24 08:10").timestamp())
    );
    assert_eq!(set["repetition_interval_hours"], 0);
    assert_eq!(set["in_this_channel"], true);

    let daily = run(
        &gate,
        &ctx,
        "create_task",
        json!({"purpose": "standup", "time": "2026-12-01 09:00", "repetition_interval_hours": 24}),
    )
    .await
    .expect("scheduled");
    assert_eq!(daily["due"], "2026-12-01 09:00 (America/New_York)");
    assert_eq!(daily["repetition_interval_hours"], 24);

    // 01:30 on 2027-11-07 happens twice in New York: the first one, and the model is told.
    let twice =
        run(&gate, &ctx, "create_task", json!({"purpose": "x", "time": "2027-11-07 01:30"}))
            .await
            .expect("scheduled");
    assert!(twice["note"].as_str().expect("a note").contains("happens twice"), "{twice}");

    let (after, audit) = state(&world).await;
    assert_eq!(after.len(), before.len() + 3);
    assert_eq!(audit, audit_before + 3, "each reminder is audited");
    let stored = after.iter().find(|r| r.purpose == "standup").expect("stored");
    assert_eq!(stored.due_at, at("2026-12-01 14:00"));
    assert_eq!(stored.repeat_hours, Some(24));
    assert_eq!(stored.user, snowflake(INVOKER), "the reminder is the invoker's");
    assert_eq!(stored.channel, ctx.channel, "delivered where it was set");
    assert_eq!(stored.persona, Some(ctx.persona), "spoken by the persona that set it");

    let listed = run(&gate, &ctx, "list_tasks", json!({})).await.expect("listed");
    let purposes: Vec<&str> = listed["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["purpose"].as_str())
        .collect();
    // The invoker's own only (the fixture's other member has one too), soonest first.
    assert_eq!(purposes, ["stretch", "drink water", "standup", "x"]);
}

#[tokio::test]
async fn bad_times_and_values_are_refused_and_change_nothing() {
    let world = World::new().await;
    set_zone(&world, "America/New_York").await;
    let gate = gate(&world.store);
    let ctx = world.turn(FakeLive::new(Facts::permissive()));
    let before = state(&world).await;

    let check = |args: Value, expected: &'static str| {
        let gate = &gate;
        let ctx = &ctx;
        async move {
            let got = run(gate, ctx, "create_task", args.clone()).await;
            let reason = got.expect_err(&args.to_string());
            assert!(reason.starts_with(expected), "{args}: {reason}");
            reason
        }
    };
    let past = check(json!({"purpose": "p", "time": "2026-11-24 02:59"}), "time_in_past").await;
    assert_eq!(
        past,
        "time_in_past: 2026-11-24 02:59 in America/New_York has already passed; it is now 2026-11-24 03:00 there"
    );
    check(json!({"purpose": "p", "time": "2020-01-01 09:00"}), "time_in_past").await;
    check(json!({"purpose": "p", "time": "in 0 minutes"}), "time_in_past").await;
    check(json!({"purpose": "p", "time": "2030-01-01 09:00"}), "time_too_far").await;
    check(json!({"purpose": "p", "time": "in 400 days"}), "time_too_far").await;
    let skipped = check(json!({"purpose": "p", "time": "2027-03-14 02:30"}), "time_skipped").await;
    assert!(skipped.contains("the clocks skip it"), "{skipped}");
    check(json!({"purpose": "p", "time": "next tuesday"}), "invalid_time").await;
    check(json!({"purpose": "p", "time": "2026-02-30 09:00"}), "invalid_time").await;
    check(
        json!({"purpose": "p", "time": "in 1 hour", "repetition_interval_hours": -1}),
        "invalid_task",
    )
    .await;
    check(
        json!({"purpose": "p", "time": "in 1 hour", "repetition_interval_hours": 9000}),
        "invalid_task",
    )
    .await;
    check(json!({"purpose": "   ", "time": "in 1 hour"}), "invalid_task: reminder purpose").await;
    check(json!({"purpose": "x".repeat(1001), "time": "in 1 hour"}), "invalid_task").await;
    check(json!({"purpose": "p"}), "refused (malformed_arguments)").await;
    check(
        json!({"purpose": "p", "time": "in 1 hour", "target": "ref_1"}),
        "refused (malformed_arguments)",
    )
    .await;
    // Pinging someone else through the purpose is refused by the gate before the tool runs.
    check(
        json!({"purpose": "tell <@123456789012345678>", "time": "in 1 hour"}),
        "refused (raw_id)",
    )
    .await;

    assert_eq!(state(&world).await, before, "refusals changed nothing");
}

#[tokio::test]
async fn pending_reminders_are_capped_per_member_and_per_server() {
    let world = World::new().await;
    // The fixture already holds one reminder of each member.
    let limits = Limits { reminders_per_member: 2, reminders_per_server: 3, ..Limits::default() };
    let store = world.db.store_with(TestDb::key_ring(&[1], None), limits).await;
    let gate = gate(&store);
    let mine = world.turn(FakeLive::new(Facts::permissive()));
    let mut theirs = world.turn(FakeLive::new(Facts::permissive()));
    theirs.invoker = snowflake(OTHER_MEMBER);
    let create = async |ctx: &TurnContext| {
        run(&gate, ctx, "create_task", json!({"purpose": "p", "time": "in 1 hour"})).await
    };

    assert!(create(&mine).await.is_ok());
    assert_eq!(
        create(&mine).await,
        Err("task_limit_reached: at most 2 pending reminders per member; cancel one with update_task first".to_owned())
    );
    let before = state(&world).await;
    assert_eq!(before.0.len(), 3);
    let mut third = world.turn(FakeLive::new(Facts::permissive()));
    third.invoker = snowflake(OTHER_MEMBER + 1);
    assert_eq!(
        create(&third).await,
        Err("task_limit_reached: at most 3 pending reminders in this server; cancel one with update_task first".to_owned())
    );
    assert_eq!(
        create(&theirs).await,
        Err("task_limit_reached: at most 3 pending reminders in this server; cancel one with update_task first".to_owned())
    );
    assert_eq!(state(&world).await, before, "nothing was created over the caps");

    // Cancelling one makes room.
    let cancelled =
        run(&gate, &mine, "update_task", json!({"task_id": world.reminder, "cancel": true}))
            .await
            .expect("cancelled");
    assert_eq!(cancelled["status"], "cancelled");
    assert!(create(&theirs).await.is_ok());
}

#[tokio::test]
async fn only_the_invokers_own_reminders_change_unless_they_manage_the_server() {
    let world = World::new().await;
    let gate = gate(&world.store);
    let live = FakeLive::new(Facts::permissive());
    live.set(|f| {
        let s = f.snapshot_mut();
        s.invoker = s.invoker.without(Perm::ManageGuild);
    });
    let ctx = world.turn(live.clone());

    // Someone else's reminder, or one that does not exist: the same answer, nothing changed.
    let before = state(&world).await;
    for args in [
        json!({"task_id": world.others_reminder, "purpose": "hijacked"}),
        json!({"task_id": world.others_reminder, "time": "in 5 minutes"}),
        json!({"task_id": world.others_reminder, "cancel": true}),
        json!({"task_id": world.others_reminder + 1000, "cancel": true}),
    ] {
        let refused =
            run(&gate, &ctx, "update_task", args.clone()).await.expect_err(&args.to_string());
        assert!(refused.starts_with("task_not_found"), "{args}: {refused}");
    }
    for (args, expected) in [
        (json!({"task_id": world.reminder}), "invalid_task: give a new time"),
        (
            json!({"task_id": world.reminder, "cancel": true, "purpose": "x"}),
            "invalid_task: cancel=true takes no other change",
        ),
        (json!({"task_id": world.reminder, "time": "2026-11-24 07:00"}), "time_in_past"),
        (
            json!({"task_id": world.reminder, "repetition_interval_hours": 0.5}),
            "refused (malformed_arguments)",
        ),
        (json!({"task_id": -3, "cancel": true}), "refused (malformed_arguments)"),
    ] {
        let refused =
            run(&gate, &ctx, "update_task", args.clone()).await.expect_err(&args.to_string());
        assert!(refused.starts_with(expected), "{args}: {refused}");
    }
    assert_eq!(state(&world).await, before, "refusals changed nothing");

    // Their own: a new time, purpose and cadence, then a one-off again.
    let updated = run(
        &gate,
        &ctx,
        "update_task",
        json!({"task_id": world.reminder, "time": "in 2 hours", "purpose": "drink tea", "repetition_interval_hours": 168}),
    )
    .await
    .expect("updated");
    assert_eq!(updated["status"], "updated");
    assert_eq!(updated["due"], "2026-11-24 10:00 (UTC)");
    assert_eq!(updated["repetition_interval_hours"], 168);
    let updated = run(
        &gate,
        &ctx,
        "update_task",
        json!({"task_id": world.reminder, "repetition_interval_hours": 0}),
    )
    .await
    .expect("updated");
    assert_eq!(updated["repetition_interval_hours"], 0);
    assert_eq!(updated["purpose"], "drink tea");

    // With Manage Server, someone else's too; the audit names the model and the invoker.
    live.set(|f| {
        let s = f.snapshot_mut();
        s.invoker = s.invoker.with(Perm::ManageGuild);
    });
    let cancelled =
        run(&gate, &ctx, "update_task", json!({"task_id": world.others_reminder, "cancel": true}))
            .await
            .expect("cancelled");
    assert_eq!(cancelled["purpose"], "drink water");
    let (left, audit) = state(&world).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].purpose, "drink tea");
    assert_eq!(audit, before.1 + 3);
    let actions = tomori_testkit::audit_actions(&world.db).await;
    assert!(
        actions.ends_with(&[
            "reminder.update".to_owned(),
            "reminder.update".to_owned(),
            "reminder.cancel".to_owned()
        ]),
        "{actions:?}"
    );
}
