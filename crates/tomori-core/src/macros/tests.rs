use super::*;

#[track_caller]
fn check(text: &str, expected: &str) {
    let names = MacroNames { user: "alice", persona: "Tomori" };
    assert_eq!(substitute(text, names), expected, "substituting {text:?}");
}

#[test]
fn every_spelling_becomes_the_member_or_the_persona() {
    check("{{user}} meets {{char}}", "alice meets Tomori");
    check(
        "{{USER}} {{Char}} <USER> <bot> <Char> {user} {bot} {char} {{bot}}",
        "alice Tomori alice Tomori Tomori alice Tomori Tomori Tomori",
    );
    check("no macros {here} <b>bold</b> {{other}}", "no macros {here} <b>bold</b> {{other}}");
    check("{{char}", "{Tomori");
    check("{{{user}}}", "{alice}");
    check("ともり{{char}}!", "ともりTomori!");
    check("trailing {{us", "trailing {{us");
}

#[test]
fn a_name_holding_a_macro_is_not_expanded_again() {
    let names = MacroNames { user: "{{char}}", persona: "<USER>" };
    assert_eq!(substitute("{{user}} and {{char}}", names), "{{char}} and <USER>");
}

#[test]
fn older_spellings_are_stored_as_the_standard_ones() {
    assert_eq!(
        canonical("<USER> and <BOT>, {user} and {bot}"),
        "{{user}} and {{char}}, {{user}} and {{char}}"
    );
    assert_eq!(canonical("{{user}} {{char}}"), "{{user}} {{char}}");
}
