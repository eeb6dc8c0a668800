//! The memory tools against a real database: server and personal scope, privacy rules, limits,
//! updates and deletes of shown memories only, each write in the audit chain.

use serde_json::{Value, json};
use tomori_core::limits::Limits;
use tomori_core::privacy::PrivacyLevel;
use tomori_core::settings::Feature;
use tomori_llm::ToolCall;
use tomori_store::Store;
use tomori_testkit::TestDb;
use tomori_tools::{
    CreateMemory, Gate, Perm, Place, Registry, TurnContext, UpdateMemory, run_tool_calls,
};

use crate::support::{Facts, FakeLive, World};

fn gate(store: &Store) -> Gate {
    let mut registry = Registry::new();
    registry.register(CreateMemory::new(store.clone())).expect("registers");
    registry.register(UpdateMemory::new(store.clone())).expect("registers");
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

#[tokio::test]
async fn memories_are_created_in_their_scope_and_audited() {
    let world = World::new().await;
    let gate = gate(&world.store);
    let live = FakeLive::new(Facts::permissive());
    let ctx = world.turn(live.clone());
    let (_, _, audit_before) = world.written().await;

    let saved = run(
        &gate,
        &ctx,
        "create_long_term_memory",
        json!({"content": "  {user} plays chess ", "memory_scope": "server"}),
    )
    .await
    .expect("saved");
    assert_eq!(saved["status"], "saved");
    assert_eq!(saved["memory_scope"], "server");
    let saved = run(
        &gate,
        &ctx,
        "create_long_term_memory",
        json!({"content": "{user} is left-handed", "memory_scope": "personal"}),
    )
    .await
    .expect("saved");
    assert_eq!(saved["memory_scope"], "personal");
    let (server, personal, audit) = world.written().await;
    assert_eq!(server, ["{user} plays chess", "{user} likes tea"]);
    assert_eq!(
        personal,
        ["{user} is left-handed", "{user} is vegetarian", "{user} was not shown this"]
    );
    assert_eq!(audit, audit_before + 2);

    // Security: personal data of users who opted out; the server's switch for personal memories.
    for (change, expected) in [
        (
            (|f: &mut Facts| f.snapshot_mut().privacy = PrivacyLevel::Partial) as fn(&mut Facts),
            "personal_memory_refused: the member's privacy level does not allow personal memories; save a server memory only if it is not personal",
        ),
        (
            |f: &mut Facts| {
                let s = f.snapshot_mut();
                s.features = s.features.without(Feature::PersonalMemories);
            },
            "personal_memory_refused: personal memories are off in this server",
        ),
    ] {
        live.set(|f| *f = Facts::permissive());
        live.set(change);
        let refused = run(
            &gate,
            &ctx,
            "create_long_term_memory",
            json!({"content": "{user} secret", "memory_scope": "personal"}),
        )
        .await;
        assert_eq!(refused, Err(expected.to_owned()));
        let refused = run(&gate, &ctx, "update_long_term_memory", json!({"memory_id": world.personal_memory, "memory_scope": "personal", "content": "changed"})).await;
        assert_eq!(refused, Err(expected.to_owned()));
    }
    assert_eq!(world.written().await.2, audit_before + 2, "refusals wrote nothing");

    let too_long = "x".repeat(1001);
    assert_eq!(
        run(
            &gate,
            &ctx,
            "create_long_term_memory",
            json!({"content": too_long, "memory_scope": "server"})
        )
        .await,
        Err("invalid_memory: at most 1000 characters".to_owned())
    );
}

#[tokio::test]
async fn the_per_scope_limit_is_reported_to_the_model() {
    let world = World::new().await;
    let limits = Limits { server_memories_per_scope: 1, ..Limits::default() };
    let store = world.db.store_with(TestDb::key_ring(&[1], None), limits).await;
    let gate = gate(&store);
    let ctx = world.turn(FakeLive::new(Facts::permissive()));
    assert_eq!(
        run(&gate, &ctx, "create_long_term_memory", json!({"content": "one more", "memory_scope": "server"})).await,
        Err("memory_limit_reached: at most 1 server memories for this persona; update or delete one instead".to_owned())
    );
}

#[tokio::test]
async fn shown_memories_are_updated_and_deleted_and_no_others() {
    let world = World::new().await;
    let gate = gate(&world.store);
    let ctx = world.turn(FakeLive::new(Facts::permissive()));

    let updated = run(&gate, &ctx, "update_long_term_memory", json!({"memory_id": world.server_memory, "memory_scope": "server", "content": "{user} likes green tea"}))
        .await
        .expect("updated");
    assert_eq!(
        updated,
        json!({"status": "updated", "memory_id": world.server_memory, "memory_scope": "server"})
    );
    let updated = run(&gate, &ctx, "update_long_term_memory", json!({"memory_id": world.personal_memory, "memory_scope": "personal", "content": "{user} is vegan"}))
        .await
        .expect("updated");
    assert_eq!(updated["status"], "updated");
    let (server, personal, _) = world.written().await;
    assert_eq!(server, ["{user} likes green tea"]);
    assert_eq!(personal, ["{user} is vegan", "{user} was not shown this"]);

    // A memory the turn did not show: another lineage's, another tenant's, or a guessed id.
    for id in [world.server_memory + 1000, world.personal_memory + 1] {
        assert_eq!(
            run(
                &gate,
                &ctx,
                "update_long_term_memory",
                json!({"memory_id": id, "memory_scope": "server", "content": ""})
            )
            .await,
            Err(format!(
                "refused (unknown_target): memory {id} is not one this conversation showed"
            ))
        );
    }

    let deleted = run(
        &gate,
        &ctx,
        "update_long_term_memory",
        json!({"memory_id": world.server_memory, "memory_scope": "server", "content": "   "}),
    )
    .await
    .expect("deleted");
    assert_eq!(deleted["status"], "deleted");
    let (server, personal, _) = world.written().await;
    assert!(server.is_empty());
    assert_eq!(personal, ["{user} is vegan", "{user} was not shown this"]);
    // Shown but gone since: the store says so, in words.
    assert_eq!(
        run(
            &gate,
            &ctx,
            "update_long_term_memory",
            json!({"memory_id": world.server_memory, "memory_scope": "server", "content": "again"})
        )
        .await,
        Err("memory_not_found: it may have been deleted".to_owned())
    );
}

#[tokio::test]
async fn the_model_changes_server_memories_only_as_the_member_could_with_memory_commands() {
    let world = World::new().await;
    let gate = gate(&world.store);
    let mut facts = Facts::permissive();
    let s = facts.snapshot_mut();
    s.invoker = s.invoker.without(Perm::ManageGuild);
    s.member_teaching = false;
    let live = FakeLive::new(facts);
    let ctx = world.turn(live.clone());
    let before = world.written().await;
    let teach = json!({"content": "{user} says the rules changed", "memory_scope": "server"});
    let edit =
        json!({"memory_id": world.server_memory, "memory_scope": "server", "content": "gone"});
    let delete = json!({"memory_id": world.server_memory, "memory_scope": "server", "content": ""});

    // A plain member, member teaching off: no teaching, no edit, no deletion, nothing written.
    let refused =
        run(&gate, &ctx, "create_long_term_memory", teach.clone()).await.expect_err("refused");
    assert!(refused.starts_with("teaching_refused"), "{refused}");
    for args in [&edit, &delete] {
        let refused =
            run(&gate, &ctx, "update_long_term_memory", args.clone()).await.expect_err("refused");
        assert!(refused.starts_with("revising_refused"), "{refused}");
    }
    assert_eq!(world.written().await, before);

    // Their own personal memories stay theirs to change.
    let personal =
        json!({"memory_id": world.personal_memory, "memory_scope": "personal", "content": "x"});
    run(&gate, &ctx, "update_long_term_memory", personal).await.expect("their own");

    // Member teaching on: they may teach, still not edit or delete what others taught.
    live.set(|f| f.snapshot_mut().member_teaching = true);
    run(&gate, &ctx, "create_long_term_memory", teach).await.expect("taught");
    for args in [&edit, &delete] {
        let refused =
            run(&gate, &ctx, "update_long_term_memory", args.clone()).await.expect_err("refused");
        assert!(refused.starts_with("revising_refused"), "{refused}");
    }

    // In a direct message the member is the conversation's only member, and manages it.
    live.set(|f| f.snapshot_mut().member_teaching = false);
    let mut dm = ctx.clone();
    dm.place = Place::Dm;
    run(&gate, &dm, "update_long_term_memory", edit).await.expect("in a direct message");
}
