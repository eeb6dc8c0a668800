use super::*;

#[test]
fn reasoning_is_separated_from_the_reply() {
    let s = strip_reasoning("<think>they want tea</think>Here is your tea!");
    assert_eq!(
        s,
        Separated { visible: "Here is your tea!".into(), reasoning: "they want tea".into() }
    );
    let s = strip_reasoning("A<THINKING>x</Thinking>B<think>y</think>C");
    assert_eq!((s.visible.as_str(), s.reasoning.as_str()), ("ABC", "x\n\ny"));
    let s = strip_reasoning("Visible <think>never finished");
    assert_eq!((s.visible.as_str(), s.reasoning.as_str()), ("Visible", "never finished"));
    assert_eq!(strip_reasoning("plain").visible, "plain");
}

#[test]
fn labels_are_stripped_and_other_voices_cut() {
    assert_eq!(strip_labels("Tomori: hello there", "Tomori", &["Kaede"]), "hello there");
    assert_eq!(strip_labels("hi!\nKaede: and me!\nmore", "Tomori", &["Kaede"]), "hi!");
    assert_eq!(strip_labels("line one\nline two", "Tomori", &["Kaede"]), "line one\nline two");
    assert_eq!(strip_labels("tomori: a\nTomori: b", "Tomori", &[]), "a\nb");
}

#[test]
fn mentions_resolve_only_to_a_unique_known_participant() {
    let names = |list: &[&str]| list.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    let people = [
        Participant { names: names(&["alice", "Ally"]), user_id: 11 },
        Participant { names: names(&["bob"]), user_id: 22 },
        Participant { names: names(&["Bob"]), user_id: 33 },
    ];
    assert_eq!(resolve_mentions("hi @alice!", &people), "hi <@11>!");
    assert_eq!(resolve_mentions("hi @ally.", &people), "hi <@11>.");
    assert_eq!(resolve_mentions("hi @bob", &people), "hi @bob", "ambiguous names stay text");
    assert_eq!(resolve_mentions("hi @carol", &people), "hi @carol");
    assert_eq!(resolve_mentions("mail alice@alice.com", &people), "mail alice@alice.com");
}

#[test]
fn mass_and_role_mentions_never_ping() {
    let out = resolve_mentions("@everyone look! @here too <@&123>", &[]);
    assert!(!out.contains("@everyone") && !out.contains("@here") && !out.contains("<@&"), "{out}");
    assert!(out.contains("everyone") && out.contains("here"));
}
