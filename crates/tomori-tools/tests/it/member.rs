//! A tool a member asks for directly (`/generate image`): the gate's checks and the quota of a
//! model's call, without the two checks that guard against the model.

use std::sync::Arc;

use serde_json::{Value, json};
use tomori_core::quota::QuotaVerdict;
use tomori_core::settings::Feature;
use tomori_llm::ToolCall;
use tomori_tools::{
    Features, GenerateImage, MemberCallError, QuotaKind, RefusalReason, Registry, run_member_call,
};

use crate::support::{Facts, FakeLive, FakePainter, Probe, World};

fn call(name: &str, arguments: Value) -> ToolCall {
    ToolCall { id: "member_request".into(), name: name.into(), arguments, signature: None }
}

#[tokio::test]
async fn a_members_call_passes_the_gate_and_spends_the_quota_only_on_success() {
    let world = World::new().await;
    let painter = FakePainter::default();
    let runs = Arc::clone(&painter.runs);
    let probe = Probe::own_message();
    let probe_runs = Arc::clone(&probe.runs);
    let mut registry = Registry::new();
    registry.register(GenerateImage::new(Arc::new(painter))).expect("registers");
    registry.register(probe).expect("registers");
    let gate = tomori_tools::Gate::new(registry);
    let draw = |prompt: &str| call("generate_image", json!({"prompt": prompt}));

    // Refused, nothing drawn or counted: the flag, a spent quota, a quota that cannot be read.
    let refused = |facts: &dyn Fn(&mut Facts), reason: RefusalReason| {
        let live = FakeLive::new(Facts::permissive());
        live.set(|f| facts(f));
        (live, reason)
    };
    let cases = [
        refused(
            &|f| {
                if let Ok(s) = f.snapshot.as_mut() {
                    s.features = s.features.without(Feature::ImageGen);
                }
            },
            RefusalReason::FeatureOff,
        ),
        refused(
            &|f| f.quota = Ok(QuotaVerdict::UserExhausted { resets_on: chrono::NaiveDate::MIN }),
            RefusalReason::QuotaExhausted,
        ),
        refused(
            &|f| f.quota = Err(tomori_tools::LiveError("down".into())),
            RefusalReason::StateUnavailable,
        ),
    ];
    for (live, reason) in cases {
        let ctx = world.turn(live.clone());
        match run_member_call(&gate, &draw("a fox"), &ctx).await {
            Err(MemberCallError::Refused(refusal)) => assert_eq!(refusal.reason, reason),
            other => panic!("{reason:?}: {other:?}"),
        }
        assert!(live.quota_recorded.lock().expect("quota").is_empty());
    }
    assert!(runs.lock().expect("runs").is_empty(), "no provider asked");

    // With tool_use off (the model's switch) and a number in the prompt that looks like an id,
    // a member's own request still runs, and is counted once.
    let live = FakeLive::new(Facts::permissive());
    live.set(|f| {
        if let Ok(s) = f.snapshot.as_mut() {
            s.features = Features::of(&[Feature::ImageGen]);
        }
    });
    let ctx = world.turn(live.clone());
    let made = run_member_call(&gate, &draw("ticket 123456789012345678 on a desk"), &ctx).await;
    assert!(made.is_ok(), "{made:?}");
    assert_eq!(*live.quota_recorded.lock().expect("quota"), [QuotaKind::Image]);
    assert_eq!(ctx.outbox.take().len(), 1, "the picture waits to be posted");

    // A tool that acts on a target the model was shown cannot be asked for directly.
    let ctx = world.turn(FakeLive::new(Facts::permissive()));
    let probe = call("probe_own_message", json!({"message_id": "ref_1"}));
    match run_member_call(&gate, &probe, &ctx).await {
        Err(MemberCallError::Refused(refusal)) => {
            assert_eq!(refusal.reason, RefusalReason::WrongContext);
        }
        other => panic!("{other:?}"),
    }
    assert!(probe_runs.lock().expect("runs").is_empty());
}
