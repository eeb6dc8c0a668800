use serde_json::{Value, json};

use super::*;

fn tools() -> Vec<KnownTool> {
    let tool = |name: &str, parameters: &[&str]| KnownTool {
        name: name.into(),
        parameters: parameters.iter().map(|p| (*p).to_owned()).collect(),
    };
    vec![tool("read_file", &["handle"]), tool("web_search", &["query", "count"])]
}

/// Extracts calls from `text`: the text left and each call as `name {json}`.
#[track_caller]
fn check(text: &str, left: &str, calls: &[&str]) {
    let (got_text, got_calls) = extract(text, &tools());
    let rendered: Vec<String> = got_calls
        .iter()
        .map(|c| format!("{} {}", c.name, Value::Object(c.arguments.clone())))
        .collect();
    assert_eq!(
        (got_text.as_str(), rendered),
        (left, calls.iter().map(|c| (*c).to_owned()).collect()),
        "{text:?}"
    );
}

#[test]
fn calls_in_python_style_map_positional_arguments_to_parameters() {
    check("read_file(\"media_1\")", "", &[r#"read_file {"handle":"media_1"}"#]);
    check(
        "Looking.\nread_file('media_1')\nDone.",
        "Looking.\nDone.",
        &[r#"read_file {"handle":"media_1"}"#],
    );
    check(
        "web_search(query=\"tea \\\"shops\\\"\", count=3)",
        "",
        &[r#"web_search {"count":3,"query":"tea \"shops\""}"#],
    );
    check("web_search(\"tea\", 5)", "", &[r#"web_search {"count":5,"query":"tea"}"#]);
    check(
        "  web_search(query: \"x\", count: null)  ",
        "",
        &[r#"web_search {"count":null,"query":"x"}"#],
    );
}

#[test]
fn json_objects_bare_or_fenced_are_calls() {
    check(
        "{\"name\": \"web_search\", \"arguments\": {\"query\": \"tea\"}}",
        "",
        &[r#"web_search {"query":"tea"}"#],
    );
    check(
        "Sure.\n```json\n{\"name\": \"read_file\", \"arguments\": \"{\\\"handle\\\": \\\"media_3\\\"}\"}\n```\nOne moment.",
        "Sure.\nOne moment.",
        &[r#"read_file {"handle":"media_3"}"#],
    );
    check(
        "```tool_code\nread_file(\"media_1\")\nweb_search(\"x\")\n```",
        "",
        &[r#"read_file {"handle":"media_1"}"#, r#"web_search {"query":"x"}"#],
    );
    check(
        "[{\"function\": {\"name\": \"read_file\", \"parameters\": {\"handle\": \"media_1\"}}}]",
        "",
        &[r#"read_file {"handle":"media_1"}"#],
    );
}

#[test]
fn anything_else_stays_text() {
    for text in [
        "delete_everything(\"now\")",
        "You can call read_file(\"media_1\") yourself.",
        "read_file(\"media_1\") and more on the line",
        "read_file(\"a\", \"b\")",
        "read_file(path=\"x\")",
        "read_file(\"unterminated)",
        "{\"name\": \"unknown\", \"arguments\": {}}",
        "{\"not\": \"a call\"}",
        "```rust\nread_file(\"media_1\")\n```",
        "```\nprint('hi')\nread_file(\"media_1\")\n```",
    ] {
        check(text, text, &[]);
    }
}

#[test]
fn work_is_bounded() {
    let many: String = (0..20).map(|i| format!("read_file(\"media_{i}\")\n")).collect();
    let (left, calls) = extract(&many, &tools());
    assert_eq!(calls.len(), MAX_CALLS);
    assert!(left.starts_with("read_file(\"media_8\")"), "{left:?}");
    let huge = format!("{}\nread_file(\"media_1\")", "x".repeat(MAX_INPUT_BYTES));
    assert_eq!(extract(&huge, &tools()).1, Vec::new());
    let long_call = format!("read_file(\"{}\")", "y".repeat(MAX_CALL_BYTES));
    assert_eq!(extract(&long_call, &tools()).1, Vec::new());
    assert_eq!(json!({}), json!({}));
}
