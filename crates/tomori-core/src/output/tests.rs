use super::*;

#[track_caller]
fn check_reasoning(text: &str, visible: &str, reasoning: &str) {
    let got = strip_reasoning(text);
    assert_eq!((got.visible.as_str(), got.reasoning.as_str()), (visible, reasoning), "{text:?}");
}

#[test]
fn reasoning_is_separated_from_the_reply() {
    check_reasoning(
        "<think>they want tea</think>Here is your tea!",
        "Here is your tea!",
        "they want tea",
    );
    check_reasoning("A<THINKING>x</Thinking>B<think>y</think>C", "ABC", "x\n\ny");
    check_reasoning("Visible <think>never finished", "Visible", "never finished");
    check_reasoning("plain", "plain", "");
    check_reasoning(
        "opened by the template</think>\n\nAnswer.",
        "Answer.",
        "opened by the template",
    );
    check_reasoning("a < b and <thin ice>", "a < b and <thin ice>", "");
    check_reasoning("<think>a<think>b</think>c", "c", "ab");
}

/// Strips labels from the whole text, and checks that the streaming filter, fed one character
/// at a time, releases the same.
#[track_caller]
fn check(own: &str, text: &str, expected: &str) {
    let others = ["Kaede", "Momiji (alter)"];
    assert_eq!(strip_labels(text, own, &others), expected, "whole text {text:?}");
    let setup = FilterSetup {
        persona: own,
        other_personas: &others,
        member: "alice",
        thinking: Thinking::Unknown,
        tools: &[],
    };
    let mut filter = AnswerFilter::new(&setup);
    for c in text.chars() {
        filter.push_text(c.encode_utf8(&mut [0; 4]));
    }
    assert_eq!(filter.finish().visible, expected, "streamed {text:?}");
}

#[test]
fn the_personas_own_label_goes_wherever_models_put_it() {
    check("Tomori", "Tomori: hello there", "hello there");
    check("Tomori", "tomori: a\nTomori: b", "a\nb");
    check("Tomori", "**Tomori:** hi", "hi");
    check("Tomori", "**Tomori**: hi", "hi");
    check("Tomori", "Tomori (shy): um, hello", "um, hello");
    check("Tomori", "  Tomori : spaced", "spaced");
    check("トモリ", "トモリ：こんにちは", "こんにちは");
    check("Tomori", "[ref_12] Tomori: hi", "hi");
    check("Tomori", "[ref_12] Tomori (replying to ref_3): hi", "hi");
    check("Tomori", "{{char}}: hi", "hi");
    check("Tomori", "Hi! Tomori: and also", "Hi!\nand also");
    check("Tomori", "Really? \"Yes.\" Tomori: sure", "Really? \"Yes.\"\nsure");
    check("トモリ", "こんにちは。トモリ：元気？", "こんにちは。\n元気？");
    check("Tomori", "See you soon! Tomori:", "See you soon!");
    check("Tomori", "See you soon\nTomori:", "See you soon");
    check("Tomori", "Tomori:\n\nHello", "Hello");
}

#[test]
fn prose_lists_and_code_keep_their_names() {
    check("Tomori", "line one\nline two", "line one\nline two");
    check("Tomori", "I said Tomori: no", "I said Tomori: no");
    check("Tomori", "Hi, Tomori: you", "Hi, Tomori: you");
    check("Tomori", "- Tomori: the best\n- Kaede: second", "- Tomori: the best\n- Kaede: second");
    check("Tomori", "1. Kaede: first", "1. Kaede: first");
    check("Tomori", "Tomorin: hey", "Tomorin: hey");
    check("Tomori", "Tomori is happy", "Tomori is happy");
    check("Tomori", "Tomori:3 cute", "Tomori:3 cute");
    check("Tomori", "Use `Tomori: x` here", "Use `Tomori: x` here");
    check(
        "Tomori",
        "Run:\n```\nKaede: line\nTomori: x\n```\ndone",
        "Run:\n```\nKaede: line\nTomori: x\n```\ndone",
    );
    check("Tomori", "Done. ```Tomori: x```", "Done. ```Tomori: x```");
}

#[test]
fn another_speakers_label_ends_the_answer() {
    check("Tomori", "hi!\nKaede: and me!\nmore", "hi!");
    check("Tomori", "hi!\n**Kaede (smug):** me", "hi!");
    check("Tomori", "hi!\nMomiji (alter): me", "hi!");
    check("Tomori", "Sure.\nAssistant: more", "Sure.");
    check("Tomori", "Sure.\n[ref_4] alice: me?", "Sure.");
    check("Tomori", "Kaede: I answer instead", "");
    // Before: a cut at `Kaede:` inside the block left its fence open.
    check("Tomori", "```\ncode\nKaede: x\n```\nKaede: bye", "```\ncode\nKaede: x\n```");
}

#[test]
fn mentions_resolve_only_to_a_unique_known_participant() {
    let names = |list: &[&str]| list.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    let people = [
        Participant { names: names(&["alice", "Ally"]), user_id: 11 },
        Participant { names: names(&["bob"]), user_id: 22 },
        Participant { names: names(&["Bob"]), user_id: 33 },
        Participant { names: names(&["Big Carl"]), user_id: 44 },
    ];
    let check = |text: &str, expected: &str| {
        assert_eq!(resolve_mentions(text, &people), expected, "{text:?}");
    };
    check("hi @alice!", "hi <@11>!");
    check("hi @ally.", "hi <@11>.");
    check("hi @bob", "hi @bob");
    check("hi @carol", "hi @carol");
    check("mail alice@alice.com", "mail alice@alice.com");
    check("hi @{Big Carl} and @(alice) and @[ALLY]", "hi <@44> and <@11> and <@11>");
    check("hi @{alice|123}", "hi <@11>");
    check("hi @{nobody}", "hi @{nobody}");
    check("code `@alice` stays, @alice goes", "code `@alice` stays, <@11> goes");
    check("```\n@alice\n```\n@alice", "```\n@alice\n```\n<@11>");
    check("```\nnever closed @alice", "```\nnever closed @alice");
}

#[test]
fn mass_and_role_mentions_never_ping() {
    let out = resolve_mentions("@everyone look! @here too <@&123> `@everyone`", &[]);
    assert!(!out.contains("@everyone") && !out.contains("@here") && !out.contains("<@&"), "{out}");
    assert!(out.contains("everyone") && out.contains("here"));
}

#[test]
fn code_spans_follow_discord() {
    let check = |text: &str, expected: &[&str]| {
        let spans = code::code_spans(text);
        let got: Vec<&str> = spans.iter().map(|s| text.get(s.clone()).unwrap()).collect();
        assert_eq!(got, expected, "{text:?}");
    };
    check("a `b` c", &["`b`"]);
    check("a ``b`c`` d", &["``b`c``"]);
    check("a ```rust\nx\n``` b", &["```rust\nx\n```"]);
    check("open ```\nnever closed", &["```\nnever closed"]);
    check("lone ` tick\nnext `line`", &["`line`"]);
    check("no code", &[]);
    assert!(code::in_code(&code::code_spans("a `b` c"), 3));
    assert!(!code::in_code(&code::code_spans("a `b` c"), 5));
}
