use super::*;

#[track_caller]
fn check(inputs: &[&str], expected: &[&str]) {
    assert_eq!(parse_trigger_words(inputs), expected, "{inputs:?}");
}

#[test]
fn trigger_words_are_stored_bare_lower_cased_and_once() {
    check(&["\"Quetz\", `Tomo`, quetz"], &["quetz", "tomo"]);
    check(&["Tomo"], &["tomo"]);
    check(&["  'Hey There'  "], &["hey there"]);
    check(&["``tomo``", "\"`Tomo`\"", "tomo\""], &["tomo"]);
    check(&["「トモリ」、ともり，Tomo"], &["トモリ", "ともり", "tomo"]);
    check(&["“Quetz”", "‘quetz’"], &["quetz"]);
    check(&["", " , ,", "\"\"", "``"], &[]);
    check(&["a", "b", "A"], &["a", "b"]);
    assert_eq!(normalize_trigger_word("  \"Tomo\" "), "tomo");
    assert_eq!(normalize_trigger_word("\"\""), "");
}
