//! The tool loop helper: paired results, refusals for bad input, timeouts, cancellation, panics,
//! quota counting, and a gate that re-checks live state after advertising.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tomori_core::settings::Feature;
use tomori_llm::ToolCall;
use tomori_tools::{
    Contexts, Effect, Gate, Perms, PolicyError, Registry, RegistryError, TargetRule, ToolPolicy,
    run_tool_calls,
};

use crate::support::{Facts, FakeLive, Probe, ProbeBehaviour, World};

fn call(id: &str, name: &str, arguments: Value) -> ToolCall {
    ToolCall { id: id.into(), name: name.into(), arguments, signature: None }
}

fn reason(content: &str) -> String {
    let value: Value = serde_json::from_str(content).expect("failure JSON");
    assert_eq!(value["status"], "tool_execution_failed");
    value["reason"].as_str().expect("a reason").to_owned()
}

fn gate_with(probe: Probe) -> Gate {
    let mut registry = Registry::new();
    registry.register(probe).expect("registers");
    Gate::new(registry)
}

#[tokio::test]
async fn bad_calls_get_paired_refusals_the_model_can_read() {
    let world = World::new().await;
    let probe = Probe::own_message();
    let runs = Arc::clone(&probe.runs);
    let gate = gate_with(probe);
    let live = FakeLive::new(Facts::permissive());
    let ctx = world.turn(live);
    let calls = [
        call("a", "no_such_tool", json!({})),
        call("b", "probe_own_message", json!([])),
        // What the decoder hands on when the model's arguments are not JSON.
        call("b2", "probe_own_message", json!("{\"message\": \"ref_1\"")),
        call("c", "probe_own_message", json!({})),
        call("d", "probe_own_message", json!({"message": 3})),
        call("e", "probe_own_message", json!({"message": "ref_1", "extra": true})),
        call("f", "probe_own_message", json!({"message": "<@500000000000000001>"})),
        call("g", "probe_own_message", json!({"message": "ref_1"})),
    ];
    let results = run_tool_calls(&gate, &calls, &ctx).await;
    let summary: Vec<(String, String, bool, String)> = results
        .iter()
        .map(|r| {
            let text = if r.is_error { reason(&r.content) } else { r.content.clone() };
            (r.call_id.clone(), r.name.clone(), r.is_error, text)
        })
        .collect();
    let expected = [
        (
            "a",
            "no_such_tool",
            true,
            "refused (unknown_tool): there is no tool named \"no_such_tool\"",
        ),
        (
            "b",
            "probe_own_message",
            true,
            "refused (malformed_arguments): the arguments are not a JSON object; call again with a JSON object of its parameters",
        ),
        (
            "b2",
            "probe_own_message",
            true,
            "refused (malformed_arguments): the arguments are not valid JSON (EOF while parsing an object at line 1 column 19); call again with a JSON object of its parameters",
        ),
        (
            "c",
            "probe_own_message",
            true,
            "refused (malformed_arguments): missing required argument \"message\"",
        ),
        (
            "d",
            "probe_own_message",
            true,
            "refused (malformed_arguments): argument \"message\" must be of type string",
        ),
        (
            "e",
            "probe_own_message",
            true,
            "refused (malformed_arguments): unknown argument \"extra\"",
        ),
        (
            "f",
            "probe_own_message",
            true,
            "refused (raw_id): argument \"message\" holds a raw Discord id; use the ref_N or media_N handle",
        ),
        (
            "g",
            "probe_own_message",
            false,
            "<tool_output name=\"probe_own_message\" trust=\"untrusted\">\n{\"ok\":true}\n</tool_output>",
        ),
    ];
    let expected: Vec<(String, String, bool, String)> = expected
        .iter()
        .map(|(id, name, err, text)| ((*id).into(), (*name).into(), *err, (*text).into()))
        .collect();
    assert_eq!(summary, expected);
    assert_eq!(runs.lock().expect("runs").len(), 1, "only the good call ran");
}

#[tokio::test]
async fn what_was_advertised_grants_nothing_once_live_state_changes() {
    let world = World::new().await;
    let probe = Probe::own_message();
    let runs = Arc::clone(&probe.runs);
    let gate = gate_with(probe);
    let live = FakeLive::new(Facts::permissive());
    let ctx = world.turn(live.clone());
    assert_eq!(gate.advertise(&ctx).await.len(), 1);
    // An admin turns the flag off while the model is thinking.
    live.set(|f| {
        let s = f.snapshot_mut();
        s.features = s.features.without(Feature::ManageMessage);
    });
    let results =
        run_tool_calls(&gate, &[call("a", "probe_own_message", json!({"message": "ref_1"}))], &ctx)
            .await;
    assert_eq!(
        reason(&results[0].content),
        "refused (feature_off): the manage_message feature is off in this server"
    );
    assert!(runs.lock().expect("runs").is_empty());
    assert!(gate.advertise(&ctx).await.is_empty());
}

#[tokio::test]
async fn slow_tools_time_out_and_panicking_tools_fail_their_call() {
    let world = World::new().await;
    let ctx = world.turn(FakeLive::new(Facts::permissive()));
    let args = json!({"message": "ref_1"});

    let mut slow = Probe::own_message();
    slow.behaviour = ProbeBehaviour::Sleep(Duration::from_secs(30));
    let slow_runs = Arc::clone(&slow.runs);
    let gate = gate_with(slow).with_tool_timeout(Duration::from_millis(100));
    let results =
        run_tool_calls(&gate, &[call("a", "probe_own_message", args.clone())], &ctx).await;
    assert_eq!(reason(&results[0].content), "timed out after 100ms");
    assert!(slow_runs.lock().expect("runs").is_empty());

    let mut crashing = Probe::own_message();
    crashing.behaviour = ProbeBehaviour::Panic;
    let gate = gate_with(crashing);
    let results = run_tool_calls(&gate, &[call("a", "probe_own_message", args)], &ctx).await;
    assert_eq!(reason(&results[0].content), "the tool crashed");
}

#[tokio::test]
async fn cancelling_the_turn_ends_the_tool_in_flight_and_the_rest() {
    let world = World::new().await;
    let live = FakeLive::new(Facts::permissive());
    let ctx = world.turn(live.clone());
    let mut slow = Probe::own_message();
    slow.behaviour = ProbeBehaviour::Sleep(Duration::from_secs(30));
    let runs = Arc::clone(&slow.runs);
    let gate = gate_with(slow);
    let args = json!({"message": "ref_1"});
    let calls =
        [call("a", "probe_own_message", args.clone()), call("b", "probe_own_message", args)];
    let cancel = ctx.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancel.cancel();
    });
    let started = tokio::time::Instant::now();
    let results = run_tool_calls(&gate, &calls, &ctx).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    let reasons: Vec<String> = results.iter().map(|r| reason(&r.content)).collect();
    assert_eq!(reasons, ["cancelled: the turn was stopped", "cancelled: the turn was stopped"]);
    assert_eq!(results.iter().map(|r| r.call_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert!(runs.lock().expect("runs").is_empty());
    assert!(live.quota_recorded.lock().expect("quota").is_empty(), "nothing counted");
}

#[test]
fn the_registry_refuses_tools_it_cannot_gate() {
    let policy = ToolPolicy {
        feature: None,
        effect: Effect::Destructive,
        bot_permissions: Perms::NONE,
        invoker_permissions: Perms::NONE,
        contexts: Contexts::EVERYWHERE,
        quota: None,
        target: TargetRule::None,
    };
    let mut registry = Registry::new();
    assert_eq!(
        registry.register(Probe::new("destroyer", policy)),
        Err(RegistryError::InvalidPolicy {
            tool: "destroyer".to_owned(),
            error: PolicyError::DestructiveWithoutTarget
        })
    );
    let mut bad_name = Probe::own_message();
    bad_name.name = "no spaces";
    assert!(matches!(registry.register(bad_name), Err(RegistryError::InvalidSpec { .. })));
    registry.register(Probe::own_message()).expect("first registration");
    assert_eq!(
        registry.register(Probe::own_message()),
        Err(RegistryError::Duplicate("probe_own_message".to_owned()))
    );
    assert_eq!(registry.names(), ["probe_own_message"]);
}
