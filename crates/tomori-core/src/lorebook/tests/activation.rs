//! Activation: matching, optional filters, scan depth, probability, recursion, budget, order.

use super::*;

struct Case {
    what: &'static str,
    entry: Value,
    /// Newest first.
    messages: &'static [&'static str],
    fires: bool,
}

fn case(what: &'static str, entry: Value, messages: &'static [&'static str], fires: bool) -> Case {
    Case { what, entry, messages, fires }
}

#[test]
fn an_entry_fires_when_its_keys_and_filter_say_so() {
    let sword = |logic: u8| json!({ "key": ["sword"], "keysecondary": ["fire", "ice"], "selective": true, "selectiveLogic": logic });
    let cases = [
        case("primary key", json!({ "key": ["dragon"] }), &["a dragon appears"], true),
        case("primary key missing", json!({ "key": ["dragon"] }), &["a drake appears"], false),
        case("any of the keys", json!({ "key": ["wyrm", "dragon"] }), &["dragon"], true),
        case("no keys", json!({}), &["anything"], false),
        case("case ignored", json!({ "key": ["Dragon"] }), &["DRAGON!"], true),
        case(
            "case sensitive, other case",
            json!({ "key": ["Dragon"], "caseSensitive": true }),
            &["dragon"],
            false,
        ),
        case(
            "case sensitive, same case",
            json!({ "key": ["Dragon"], "caseSensitive": true }),
            &["Dragon"],
            true,
        ),
        case("whole word", json!({ "key": ["king"] }), &["long live the king"], true),
        case("inside a word", json!({ "key": ["king"] }), &["it's not to my liking"], false),
        case(
            "inside a word, whole words off",
            json!({ "key": ["king"], "matchWholeWords": false }),
            &["it's not to my liking"],
            true,
        ),
        case("word next to punctuation", json!({ "key": ["king"] }), &["(king)"], true),
        case(
            "a key of two words matches inside words",
            json!({ "key": ["magic forest"] }),
            &["the magic forests"],
            true,
        ),
        case(
            "non-ASCII letters are not word characters",
            json!({ "key": ["東京"] }),
            &["東京タワー"],
            true,
        ),
        case("regex", json!({ "key": ["/drag(?:on|oon)s?/i"] }), &["DRAGOONS"], true),
        case("regex anchored", json!({ "key": ["/^dragon$/"] }), &["a dragon"], false),
        case(
            "regex follows only its own flags",
            json!({ "key": ["/Dragon/"] }),
            &["dragon"],
            false,
        ),
        case("regex keeps commas", json!({ "key": ["/a,b/"] }), &["x a,b y"], true),
        case("AND ANY holds", sword(0), &["a sword of fire"], true),
        case("AND ANY fails", sword(0), &["a sword"], false),
        case("AND ALL fails", sword(3), &["a sword of fire"], false),
        case("AND ALL holds", sword(3), &["a sword of fire and ice"], true),
        case("NOT ANY holds", sword(2), &["a sword"], true),
        case("NOT ANY fails", sword(2), &["a sword of ice"], false),
        case("NOT ALL holds", sword(1), &["a sword of fire"], true),
        case("NOT ALL fails", sword(1), &["a sword of fire and ice"], false),
        case(
            "secondary keys only count with selective",
            json!({ "key": ["sword"], "keysecondary": ["fire"], "selective": false }),
            &["a sword"],
            true,
        ),
        case(
            "secondary keys alone fire nothing",
            json!({ "keysecondary": ["fire"] }),
            &["fire"],
            false,
        ),
        case("constant", json!({ "constant": true }), &["anything"], true),
        case("constant with no chat", json!({ "constant": true }), &[], true),
        case("disabled", json!({ "key": ["dragon"], "disable": true }), &["dragon"], false),
        case("disabled constant", json!({ "constant": true, "disable": true }), &[], false),
        case("within the scan depth", json!({ "key": ["dragon"] }), &["hi", "dragon"], true),
        case(
            "beyond the scan depth",
            json!({ "key": ["dragon"] }),
            &["hi", "hello", "dragon"],
            false,
        ),
        case(
            "the entry's own scan depth",
            json!({ "key": ["dragon"], "scanDepth": 3 }),
            &["hi", "hello", "dragon"],
            true,
        ),
        case(
            "scan depth 0 scans no chat",
            json!({ "key": ["dragon"], "scanDepth": 0 }),
            &["dragon"],
            false,
        ),
    ];
    for case in cases {
        let book = world_info(&[case.entry]);
        let fired = !fired(&book, case.messages).is_empty();
        assert_eq!(fired, case.fires, "{}", case.what);
    }
}

#[test]
fn names_and_extra_text_are_scanned() {
    let book = world_info(&[
        json!({ "key": ["alice"] }),
        json!({ "key": ["{{user}} waves"], "matchWholeWords": false }),
        json!({ "key": ["{{char}}"] }),
        json!({ "key": ["lighthouse"] }),
    ]);
    let messages = [ScanMessage { name: Some("Alice"), text: "bob waves" }];
    let scan = ScanInput {
        messages: &messages,
        extra: &["the lighthouse"],
        names: Some(crate::macros::MacroNames { user: "bob", persona: "Tomori" }),
        token_budget: None,
    };
    let fired: Vec<u32> =
        activate(&book, &scan, &mut always(0), bytes).fired.iter().map(|f| f.uid).collect();
    // Entry 2 waits for the persona's name, which nobody wrote.
    assert_eq!(fired, [0, 1, 3]);
}

#[test]
fn probability_rolls_use_the_callers_random_numbers() {
    let entry = |probability: u8, use_probability: bool| json!({ "key": ["dragon"], "probability": probability, "useProbability": use_probability });
    // (entry, random number, fires)
    let cases = [
        (entry(0, true), 0, false),
        (entry(0, true), 99, false),
        (entry(100, true), 99, true),
        (entry(50, true), 49, true),
        (entry(50, true), 50, false),
        (entry(50, true), 149, true),
        (entry(0, false), 99, true),
    ];
    for (entry, n, fires) in cases {
        let book = world_info(std::slice::from_ref(&entry));
        let messages = [ScanMessage { name: None, text: "dragon" }];
        let scan = ScanInput { messages: &messages, ..ScanInput::default() };
        let activation = activate(&book, &scan, &mut always(n), bytes);
        assert_eq!(activation.fired.len() == 1, fires, "{entry} with {n}");
        assert_eq!(activation.rolled_out == [0], !fires, "{entry} with {n}");
    }
}

#[test]
fn a_roll_is_asked_for_only_when_it_matters() {
    let book = world_info(&[
        json!({ "key": ["dragon"], "probability": 50, "useProbability": true }),
        json!({ "key": ["dragon"], "probability": 100, "useProbability": true }),
        json!({ "key": ["wyrm"], "probability": 50, "useProbability": true }),
    ]);
    let mut asked = 0;
    let mut rng = || {
        asked += 1;
        0
    };
    let messages = [ScanMessage { name: None, text: "dragon" }];
    let scan = ScanInput { messages: &messages, ..ScanInput::default() };
    let fired = activate(&book, &scan, &mut rng, bytes).fired.len();
    assert_eq!((fired, asked), (2, 1));
}

/// Entry `i` has key `k{i}` and content naming key `k{i+1}`.
fn chain(length: usize, extra: &Value) -> Vec<Value> {
    (0..length)
        .map(|i| {
            let mut entry =
                json!({ "key": [format!("k{i}")], "content": format!("see k{}", i + 1) });
            if let (Value::Object(entry), Value::Object(extra)) = (&mut entry, extra) {
                entry.extend(extra.clone());
            }
            entry
        })
        .collect()
}

#[test]
fn fired_content_fires_other_entries_up_to_the_pass_limit() {
    let with = |i: usize, extra: Value| {
        let mut entries = chain(3, &json!({}));
        if let (Some(Value::Object(entry)), Value::Object(extra)) = (entries.get_mut(i), extra) {
            entry.extend(extra);
        }
        world_info(&entries)
    };
    let cases = [
        ("a chain", world_info(&chain(3, &json!({}))), vec![0, 1, 2]),
        (
            "recursion off",
            Lorebook { recursive: false, ..world_info(&chain(3, &json!({}))) },
            vec![0],
        ),
        ("the chain stops at the pass limit", world_info(&chain(7, &json!({}))), vec![0, 1, 2, 3]),
        ("prevent recursion", with(1, json!({ "preventRecursion": true })), vec![0, 1]),
        ("exclude recursion", with(1, json!({ "excludeRecursion": true })), vec![0]),
        (
            "a failed roll is not tried again",
            with(2, json!({ "key": ["k2", "k0"], "probability": 0, "useProbability": true })),
            vec![0, 1],
        ),
    ];
    for (what, book, want) in cases {
        assert_eq!(fired(&book, &["k0"]), want, "{what}");
    }
    let book = world_info(&chain(3, &json!({})));
    let messages = [ScanMessage { name: None, text: "k0" }];
    let scan = ScanInput { messages: &messages, ..ScanInput::default() };
    let passes: Vec<u32> =
        activate(&book, &scan, &mut always(0), bytes).fired.iter().map(|f| f.pass).collect();
    assert_eq!(passes, [0, 1, 2]);
}

#[test]
fn entries_beyond_the_budget_are_left_out_and_reported() {
    let entries = [
        json!({ "key": ["x"], "order": 100, "content": "bbbb" }),
        json!({ "constant": true, "order": 1, "content": "cccc" }),
        json!({ "key": ["x"], "order": 200, "content": "aaaa" }),
        json!({ "key": ["x"], "order": 300, "content": "see y" }),
        json!({ "key": ["y"], "order": 900, "content": "zz" }),
    ];
    // (book budget, caller budget, fired uids, left out uids)
    type Case = (Option<u32>, Option<usize>, &'static [u32], &'static [u32]);
    let cases: [Case; 5] = [
        (None, None, &[0, 1, 2, 3, 4], &[]),
        (Some(100), None, &[0, 1, 2, 3, 4], &[]),
        // The first entry that does not fit ends the activation: 3's content is never scanned.
        (Some(13), None, &[1, 2, 3], &[0]),
        (Some(13), Some(8), &[1], &[3, 2, 0]),
        (Some(0), None, &[], &[1, 3, 2, 0]),
    ];
    for (book_budget, caller, want_fired, want_left) in cases {
        let book = Lorebook { token_budget: book_budget, ..world_info(&entries) };
        let messages = [ScanMessage { name: None, text: "x" }];
        let scan = ScanInput { messages: &messages, token_budget: caller, ..ScanInput::default() };
        let activation = activate(&book, &scan, &mut always(0), bytes);
        let mut uids: Vec<u32> = activation.fired.iter().map(|f| f.uid).collect();
        uids.sort_unstable();
        let left: Vec<u32> = activation.left_out.iter().map(|f| f.uid).collect();
        assert_eq!(
            (uids.as_slice(), left.as_slice()),
            (want_fired, want_left),
            "{book_budget:?} {caller:?}"
        );
        let budget = book_budget.map_or(usize::MAX, |b| usize::try_from(b).unwrap());
        assert!(activation.tokens <= budget.min(caller.unwrap_or(usize::MAX)));
    }
}

#[test]
fn fired_entries_are_grouped_by_position_and_ordered_within() {
    let book = world_info(&[
        json!({ "constant": true, "position": 1, "order": 5, "content": "after 5" }),
        json!({ "constant": true, "position": 0, "order": 300, "content": "before 300" }),
        json!({ "constant": true, "position": 4, "depth": 2, "role": 1, "order": 1, "content": "depth 2 user" }),
        json!({ "constant": true, "position": 0, "order": 10, "content": "before 10" }),
        json!({ "constant": true, "position": 1, "order": 5, "content": "after 5 again" }),
        json!({ "constant": true, "position": 4, "content": "depth 4 system" }),
        json!({ "constant": true, "position": 5, "content": "examples top" }),
    ]);
    let activation = activate(&book, &ScanInput::default(), &mut always(0), bytes);
    let order: Vec<&str> = activation.fired.iter().map(|f| f.content.as_str()).collect();
    assert_eq!(
        order,
        [
            "before 10",
            "before 300",
            "after 5",
            "after 5 again",
            "examples top",
            "depth 2 user",
            "depth 4 system"
        ]
    );
    assert_eq!(activation.text(Position::BeforeChar), "before 10\nbefore 300");
    assert_eq!(
        activation.positions(),
        [
            Position::BeforeChar,
            Position::AfterChar,
            Position::BeforeExamples,
            Position::AtDepth { depth: 2, role: Role::User },
            Position::AtDepth { depth: 4, role: Role::System },
        ]
    );
}

#[test]
fn the_report_says_why_each_entry_fired() {
    let book = world_info(&[
        json!({ "comment": "Swords", "key": ["blade", "sword"], "keysecondary": ["fire"], "selective": true, "content": "see shield" }),
        json!({ "constant": true, "position": 1 }),
        json!({ "key": ["shield"], "position": 4, "depth": 1 }),
        json!({ "key": ["@@x"], "content": "@@depth 3\nplain text" }),
    ]);
    let messages = [ScanMessage { name: None, text: "a sword of fire @@x" }];
    let scan = ScanInput { messages: &messages, ..ScanInput::default() };
    let activation = activate(&book, &scan, &mut always(0), bytes);
    let lines: Vec<String> = activation.fired.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "Swords (BeforeChar, order 100): key \"sword\" with \"fire\"",
            "#3 (BeforeChar, order 100): key \"@@x\"",
            "#1 (AfterChar, order 100): constant",
            "#2 (AtDepth { depth: 1, role: System }, order 100): key \"shield\", through recursion (pass 1)",
        ]
    );
    assert_eq!(activation.fired.get(1).map(|f| f.content.as_str()), Some("plain text"));
}

#[test]
fn the_scan_is_bounded_whatever_the_input() {
    let long = "x".repeat(MAX_SCAN_CHARS);
    let book = world_info(&[json!({ "key": ["dragon"], "scanDepth": 1000 })]);
    // The key sits just past the scanned window.
    let messages = [long.as_str(), "dragon"];
    assert!(fired(&book, &messages).is_empty());
    let messages = ["dragon", long.as_str()];
    assert_eq!(fired(&book, &messages), [0]);
}
