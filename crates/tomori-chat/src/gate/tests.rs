use super::*;

fn id(n: u64) -> Snowflake {
    Snowflake::new(n).unwrap()
}

const CHANNEL: u64 = 100;
const ALICE: u64 = 1;
const BOB: u64 = 2;

fn start(arrival: Arrival) -> Turn {
    match arrival {
        Arrival::Start(turn) | Arrival::Interrupt(turn) => turn,
        other => panic!("expected a turn, got {other:?}"),
    }
}

#[test]
fn one_turn_at_a_time_and_the_rest_in_order() {
    let gate: Gate<&str> = Gate::default();
    let t0 = Instant::now();
    let first = start(gate.arrive(id(CHANNEL), id(ALICE), false, "a1", t0));
    assert!(matches!(gate.arrive(id(CHANNEL), id(BOB), false, "b1", t0), Arrival::Queued));
    assert!(matches!(gate.arrive(id(CHANNEL), id(3), false, "c1", t0), Arrival::Queued));
    assert!(matches!(gate.arrive(id(200), id(BOB), false, "other channel", t0), Arrival::Start(_)));
    let (next, second) = gate.finish(id(CHANNEL), first.id, t0).unwrap();
    assert_eq!(next, "b1");
    let (next, third) = gate.finish(id(CHANNEL), second.id, t0).unwrap();
    assert_eq!(next, "c1");
    assert!(gate.finish(id(CHANNEL), third.id, t0).is_none());
    assert!(matches!(gate.arrive(id(CHANNEL), id(BOB), false, "b2", t0), Arrival::Start(_)));
}

#[test]
fn a_follow_up_interrupts_streaming_at_most_three_times() {
    let gate: Gate<&str> = Gate::default();
    let t0 = Instant::now();
    let mut turn = start(gate.arrive(id(CHANNEL), id(ALICE), false, "a1", t0));
    for n in 0..MAX_INTERRUPTS {
        let next = start(gate.arrive(id(CHANNEL), id(ALICE), false, "again", t0));
        assert!(turn.cancel.is_cancelled(), "interrupt {n} cancels the running turn");
        assert!(
            gate.finish(id(CHANNEL), turn.id, t0).is_none(),
            "the replaced turn no longer holds the channel"
        );
        turn = next;
    }
    assert!(matches!(gate.arrive(id(CHANNEL), id(ALICE), false, "fourth", t0), Arrival::Queued));
    assert!(!turn.cancel.is_cancelled());
}

#[test]
fn a_follow_up_waits_behind_a_tool_chain_and_only_the_latest_is_kept() {
    let gate: Gate<&str> = Gate::default();
    let t0 = Instant::now();
    let turn = start(gate.arrive(id(CHANNEL), id(ALICE), false, "a1", t0));
    assert!(matches!(gate.arrive(id(CHANNEL), id(BOB), false, "b1", t0), Arrival::Queued));
    gate.set_phase(id(CHANNEL), Phase::Tools);
    assert!(matches!(gate.arrive(id(CHANNEL), id(ALICE), false, "a2", t0), Arrival::Queued));
    assert!(matches!(gate.arrive(id(CHANNEL), id(ALICE), false, "a3", t0), Arrival::Queued));
    assert!(!turn.cancel.is_cancelled(), "tool work is not interrupted");
    assert_eq!(gate.queued(id(CHANNEL)), 2);
    let (next, _) = gate.finish(id(CHANNEL), turn.id, t0).unwrap();
    assert_eq!(next, "a3");
}

#[test]
fn a_stop_phrase_ends_the_turn_of_the_user_being_answered_only() {
    let gate: Gate<&str> = Gate::default();
    let t0 = Instant::now();
    let turn = start(gate.arrive(id(CHANNEL), id(ALICE), false, "a1", t0));
    assert!(matches!(gate.arrive(id(CHANNEL), id(BOB), true, "stop", t0), Arrival::Queued));
    assert!(!turn.cancel.is_cancelled());
    assert!(matches!(gate.arrive(id(CHANNEL), id(ALICE), true, "stop", t0), Arrival::Stopped));
    assert!(turn.cancel.is_cancelled());
}

#[test]
fn a_stale_turn_is_released_and_kill_clears_everything() {
    let gate: Gate<&str> = Gate::default();
    let t0 = Instant::now();
    let stuck = start(gate.arrive(id(CHANNEL), id(ALICE), false, "a1", t0));
    assert!(matches!(gate.arrive(id(CHANNEL), id(BOB), false, "b1", t0), Arrival::Queued));
    let later = t0 + STALE_AFTER + Duration::from_secs(1);
    let fresh = start(gate.arrive(id(CHANNEL), id(BOB), false, "b2", later));
    assert!(stuck.cancel.is_cancelled());
    assert_eq!(gate.queued(id(CHANNEL)), 0);
    assert!(matches!(gate.arrive(id(CHANNEL), id(3), false, "c1", later), Arrival::Queued));
    assert!(gate.kill(id(CHANNEL)));
    assert!(fresh.cancel.is_cancelled());
    assert_eq!(gate.queued(id(CHANNEL)), 0);
    assert!(!gate.kill(id(CHANNEL)));
}

#[test]
fn a_full_queue_turns_newcomers_away_and_tells_each_once() {
    let gate: Gate<&str> = Gate::with_max_queued(2);
    let t0 = Instant::now();
    let first = start(gate.arrive(id(CHANNEL), id(ALICE), false, "a1", t0));
    assert!(matches!(gate.arrive(id(CHANNEL), id(BOB), false, "b1", t0), Arrival::Queued));
    assert!(matches!(gate.arrive(id(CHANNEL), id(3), false, "c1", t0), Arrival::Queued));
    assert!(matches!(
        gate.arrive(id(CHANNEL), id(4), false, "d1", t0),
        Arrival::Full { tell: true }
    ));
    assert!(
        matches!(gate.arrive(id(CHANNEL), id(4), false, "d2", t0), Arrival::Full { tell: false }),
        "one notice per member while the queue stays full"
    );
    assert!(matches!(
        gate.arrive(id(CHANNEL), id(5), false, "e1", t0),
        Arrival::Full { tell: true }
    ));
    assert_eq!(gate.queued(id(CHANNEL)), 2);
    // The running member's follow-up behind a tool chain is held to the cap as well.
    gate.set_phase(id(CHANNEL), Phase::Tools);
    assert!(matches!(gate.arrive(id(CHANNEL), id(ALICE), false, "a2", t0), Arrival::Full { .. }));
    let (next, _second) = gate.finish(id(CHANNEL), first.id, t0).unwrap();
    assert_eq!(next, "b1");
    assert!(matches!(gate.arrive(id(CHANNEL), id(4), false, "d3", t0), Arrival::Queued));
    assert!(
        matches!(gate.arrive(id(CHANNEL), id(4), false, "d4", t0), Arrival::Full { tell: true }),
        "a new full spell tells again"
    );
}
