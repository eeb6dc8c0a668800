//! Discord's documented limits on what a client sends, checked as Discord checks them: an
//! application command body (a bulk registration is refused whole when one command breaks a
//! limit), a message body (content, embeds, attachments, component rows) and a webhook name.
//! A broken limit answers 400 with Discord's error shape:
//! `{"code": 50035, "message": "Invalid Form Body", "errors": {path: {"_errors": [..]}}}`, where
//! the path names the offending field (`0.options.1.max_length`).
//!
//! The fake checks these so a definition that real Discord would refuse fails a test here, rather
//! than leaving every slash command unregistered in production.

use serde_json::{Map, Value, json};

/// Discord's most global (or per-guild) chat-input commands.
const MAX_COMMANDS: usize = 100;
/// Options per command or subcommand, and choices per option.
const MAX_OPTIONS: usize = 25;
/// Characters of names, descriptions and choice values in one command, all levels together.
const MAX_COMMAND_CHARS: usize = 4_000;
/// The largest `min_length`/`max_length` of a string option.
const MAX_STRING_LENGTH: i64 = 6_000;
/// Message limits.
const MAX_CONTENT: usize = 2_000;
const MAX_EMBEDS: usize = 10;
const MAX_EMBED_CHARS: usize = 6_000;
pub(super) const MAX_ATTACHMENTS: usize = 10;
/// An upload's size limit in a server without boosts (Discord's documented default).
pub(super) const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
const MAX_ROWS: usize = 5;

/// Option types (Discord's numbering).
const SUB_COMMAND: i64 = 1;
const SUB_COMMAND_GROUP: i64 = 2;
const STRING: i64 = 3;

/// The broken limits found, by path: what Discord's `errors` object lists.
#[derive(Debug, Default)]
pub(super) struct Invalid(Vec<(String, &'static str, String)>);

impl Invalid {
    fn add(&mut self, path: &str, code: &'static str, message: impl Into<String>) {
        self.0.push((path.to_owned(), code, message.into()));
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Discord's 400 body: the errors nested under their paths' segments.
    pub(super) fn body(&self) -> Value {
        let mut errors = Map::new();
        for (path, code, message) in &self.0 {
            let segments: Vec<&str> = path.split('.').filter(|s| !s.is_empty()).collect();
            insert(&mut errors, &segments, json!({ "code": code, "message": message }));
        }
        json!({ "code": 50035, "message": "Invalid Form Body", "errors": errors })
    }

    /// The paths that broke a limit.
    #[cfg(test)]
    fn paths(&self) -> Vec<&str> {
        self.0.iter().map(|(path, ..)| path.as_str()).collect()
    }

    fn into_result(self) -> Result<(), Self> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

/// Puts `error` into `node`'s `_errors` list under `segments`.
fn insert(node: &mut Map<String, Value>, segments: &[&str], error: Value) {
    match segments.split_first() {
        None => {
            let list = node.entry("_errors".to_owned()).or_insert_with(|| json!([]));
            if let Some(list) = list.as_array_mut() {
                list.push(error);
            }
        }
        Some((first, rest)) => {
            let child = node.entry((*first).to_owned()).or_insert_with(|| json!({}));
            if let Some(child) = child.as_object_mut() {
                insert(child, rest, error);
            }
        }
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() { field.to_owned() } else { format!("{path}.{field}") }
}

fn chars(value: Option<&Value>) -> usize {
    value.and_then(Value::as_str).map_or(0, |s| s.chars().count())
}

/// Whether `c` is in Discord's command-name class `[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]`:
/// letters and numbers of any script, `-` and `_`, and the Devanagari and Thai blocks (whose
/// combining marks are not letters).
fn name_char(c: char) -> bool {
    c == '-'
        || c == '_'
        || c.is_alphanumeric()
        || ('\u{0900}'..='\u{097F}').contains(&c)
        || ('\u{A8E0}'..='\u{A8FF}').contains(&c)
        || ('\u{0E00}'..='\u{0E7F}').contains(&c)
}

/// A chat-input name: 1–32 characters of the class above, no upper-case letter.
fn check_name(invalid: &mut Invalid, path: &str, name: Option<&Value>) {
    let path = join(path, "name");
    let Some(name) = name.and_then(Value::as_str) else {
        invalid.add(&path, "BASE_TYPE_REQUIRED", "This field is required");
        return;
    };
    let count = name.chars().count();
    if !(1..=32).contains(&count) {
        invalid.add(&path, "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.");
    } else if !name.chars().all(name_char) {
        invalid.add(&path, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid");
    } else if name.chars().any(char::is_uppercase) {
        invalid.add(&path, "APPLICATION_COMMAND_INVALID_NAME", "Command name must be lowercase");
    }
}

fn check_description(invalid: &mut Invalid, path: &str, description: Option<&Value>) {
    let count = chars(description);
    if !(1..=100).contains(&count) {
        invalid.add(
            &join(path, "description"),
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 100 in length.",
        );
    }
}

/// Checks a whole bulk registration; any broken limit refuses all of it.
pub(super) fn commands(body: Option<&Value>) -> Result<(), Invalid> {
    let mut invalid = Invalid::default();
    let Some(list) = body.and_then(Value::as_array) else {
        invalid.add("", "BASE_TYPE_ARRAY", "Must be an array");
        return Err(invalid);
    };
    let chat_input =
        list.iter().filter(|c| c.get("type").and_then(Value::as_i64).unwrap_or(1) == 1);
    if chat_input.count() > MAX_COMMANDS {
        invalid.add("", "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.");
    }
    for (index, command) in list.iter().enumerate() {
        command_body(&mut invalid, &index.to_string(), command);
    }
    invalid.into_result()
}

/// One command: its name, description, options (nested), and its total text.
fn command_body(invalid: &mut Invalid, path: &str, command: &Value) {
    let chat_input = command.get("type").and_then(Value::as_i64).unwrap_or(1) == 1;
    if chat_input {
        check_name(invalid, path, command.get("name"));
        check_description(invalid, path, command.get("description"));
    } else if !(1..=32).contains(&chars(command.get("name"))) {
        invalid.add(&join(path, "name"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32.");
    }
    let mut total = chars(command.get("name")) + chars(command.get("description"));
    if let Some(options) = command.get("options") {
        total += options_list(invalid, path, options, 0);
    }
    if total > MAX_COMMAND_CHARS {
        invalid.add(
            path,
            "APPLICATION_COMMAND_TOO_LARGE",
            format!("Command exceeds maximum size ({MAX_COMMAND_CHARS}): {total}"),
        );
    }
}

/// An `options` array under a command (`parent_kind` 0) or an option of that type; returns the
/// characters it adds to the command's total.
fn options_list(invalid: &mut Invalid, parent: &str, options: &Value, parent_kind: i64) -> usize {
    let path = join(parent, "options");
    let Some(options) = options.as_array() else {
        invalid.add(&path, "BASE_TYPE_ARRAY", "Must be an array");
        return 0;
    };
    if options.len() > MAX_OPTIONS {
        invalid.add(&path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.");
    }
    let mut seen_optional = false;
    let mut total = 0;
    for (index, item) in options.iter().enumerate() {
        let here = join(&path, &index.to_string());
        let required = item.get("required").and_then(Value::as_bool).unwrap_or(false);
        if required && seen_optional {
            invalid.add(
                &join(&here, "required"),
                "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                "Required options must be placed before non-required options",
            );
        }
        seen_optional |= !required;
        total += option(invalid, &here, item, parent_kind);
    }
    total
}

/// One option; returns its characters.
fn option(invalid: &mut Invalid, path: &str, option: &Value, parent_kind: i64) -> usize {
    check_name(invalid, path, option.get("name"));
    check_description(invalid, path, option.get("description"));
    let kind = option.get("type").and_then(Value::as_i64).unwrap_or(0);
    let mut total = chars(option.get("name")) + chars(option.get("description"));
    let nests = kind == SUB_COMMAND || kind == SUB_COMMAND_GROUP;
    // Groups sit at the top and hold subcommands only; subcommands sit at the top or in a
    // group; values sit at the top or in a subcommand.
    let placed = match kind {
        SUB_COMMAND_GROUP => parent_kind == 0,
        SUB_COMMAND => parent_kind == 0 || parent_kind == SUB_COMMAND_GROUP,
        _ => parent_kind == 0 || parent_kind == SUB_COMMAND,
    };
    if !placed {
        invalid.add(
            &join(path, "type"),
            "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
            "This option type cannot sit here (subcommand groups nest one level deep)",
        );
    }
    if let Some(nested) = option.get("options") {
        total += options_list(invalid, path, nested, kind);
        if !nests {
            invalid.add(&join(path, "options"), "BASE_TYPE_BAD_VALUE", "Only subcommands nest");
        }
    }
    for field in ["min_length", "max_length"] {
        if let Some(value) = option.get(field) {
            let in_range = value.as_i64().is_some_and(|n| (0..=MAX_STRING_LENGTH).contains(&n));
            if kind != STRING || !in_range {
                invalid.add(
                    &join(path, field),
                    "NUMBER_TYPE_MAX",
                    format!("int value should be less than or equal to {MAX_STRING_LENGTH}."),
                );
            }
        }
    }
    if let Some(choices) = option.get("choices").and_then(Value::as_array) {
        total += choice_list(invalid, &join(path, "choices"), choices);
    }
    total
}

fn choice_list(invalid: &mut Invalid, path: &str, choices: &[Value]) -> usize {
    if choices.len() > MAX_OPTIONS {
        invalid.add(path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.");
    }
    let mut total = 0;
    for (index, choice) in choices.iter().enumerate() {
        let here = join(path, &index.to_string());
        let name = chars(choice.get("name"));
        if !(1..=100).contains(&name) {
            invalid.add(&join(&here, "name"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100.");
        }
        let value = match choice.get("value") {
            Some(Value::String(text)) => text.chars().count(),
            Some(number @ Value::Number(_)) => number.to_string().len(),
            _ => 0,
        };
        if !(1..=100).contains(&value) {
            invalid.add(
                &join(&here, "value"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100.",
            );
        }
        total += name + value;
    }
    total
}

/// The characters of an embed that count toward Discord's 6,000.
fn embed_chars(embed: &Value) -> usize {
    let at = |pointer: &str| chars(embed.pointer(pointer));
    let fields = embed.get("fields").and_then(Value::as_array).map_or(0, |fields| {
        fields.iter().map(|f| chars(f.get("name")) + chars(f.get("value"))).sum()
    });
    at("/title") + at("/description") + at("/footer/text") + at("/author/name") + fields
}

/// A message body (channel message, webhook execution, interaction answer or edit). `content`
/// may be absent (a file or embed alone); its emptiness is the route's concern.
pub(super) fn message(body: Option<&Value>) -> Result<(), Invalid> {
    let mut invalid = Invalid::default();
    let Some(body) = body else { return Ok(()) };
    if chars(body.get("content")) > MAX_CONTENT {
        invalid.add("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.");
    }
    if let Some(embeds) = body.get("embeds").and_then(Value::as_array) {
        if embeds.len() > MAX_EMBEDS {
            invalid.add("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.");
        }
        if embeds.iter().map(embed_chars).sum::<usize>() > MAX_EMBED_CHARS {
            invalid.add(
                "embeds",
                "MAX_EMBED_SIZE_EXCEEDED",
                "Embed size exceeds maximum size of 6000",
            );
        }
    }
    if body.get("attachments").and_then(Value::as_array).is_some_and(|a| a.len() > MAX_ATTACHMENTS)
    {
        invalid.add("attachments", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.");
    }
    if body.get("components").and_then(Value::as_array).is_some_and(|c| c.len() > MAX_ROWS) {
        invalid.add("components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.");
    }
    invalid.into_result()
}

/// A webhook's name: 1–80 characters, without "discord" or "clyde" in any case.
pub(super) fn webhook_name(name: Option<&str>) -> Result<(), Invalid> {
    let mut invalid = Invalid::default();
    let name = name.unwrap_or_default();
    let lower = name.to_lowercase();
    if !(1..=80).contains(&name.chars().count()) {
        invalid.add("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 80 in length.");
    } else if lower.contains("discord") || lower.contains("clyde") {
        invalid.add("name", "USERNAME_INVALID_CONTAINS", "Username cannot contain \"discord\"");
    }
    invalid.into_result()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(options: Value) -> Value {
        json!([{ "name": "config", "description": "Configure", "type": 1, "options": options }])
    }

    fn string(name: &str, max: i64, required: bool) -> Value {
        json!({ "type": 3, "name": name, "description": "d", "max_length": max, "required": required })
    }

    fn refused(body: &Value) -> Vec<String> {
        commands(Some(body))
            .err()
            .map(|i| i.paths().into_iter().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_string_option_longer_than_6000_is_refused_with_its_path() {
        assert!(refused(&command(json!([string("text", 6000, true)]))).is_empty());
        let body = command(json!([string("a", 10, true), string("text", 8000, false)]));
        assert_eq!(refused(&body), ["0.options.1.max_length"]);
        let error = commands(Some(&body)).expect_err("refused").body();
        assert_eq!(error["code"], 50035);
        assert_eq!(error["message"], "Invalid Form Body");
        let errors = &error["errors"]["0"]["options"]["1"]["max_length"]["_errors"];
        assert_eq!(errors[0]["code"], "NUMBER_TYPE_MAX");
    }

    #[test]
    fn names_follow_discords_class_and_case() {
        for good in ["config", "system-prompt", "a_b", "名前", "नाम", "ชื่อ", "x1"]
        {
            assert!(refused(&json!([{ "name": good, "description": "d" }])).is_empty(), "{good}");
        }
        for bad in ["Config", "has space", "", "a".repeat(33).as_str(), "emoji🙂", "dot.name"] {
            assert_eq!(refused(&json!([{ "name": bad, "description": "d" }])), ["0.name"], "{bad}");
        }
    }

    #[test]
    fn descriptions_counts_order_nesting_and_size_are_checked() {
        assert_eq!(refused(&json!([{ "name": "a", "description": "" }])), ["0.description"]);
        let many: Vec<Value> = (0..26).map(|i| string(&format!("o{i}"), 1, false)).collect();
        assert_eq!(refused(&command(json!(many))), ["0.options"]);
        let order = command(json!([string("a", 1, false), string("b", 1, true)]));
        assert_eq!(refused(&order), ["0.options.1.required"]);
        let sub = json!({ "type": 1, "name": "s", "description": "d", "options": [] });
        let group = json!({ "type": 2, "name": "g", "description": "d", "options": [sub] });
        let nested = json!({ "type": 2, "name": "h", "description": "d", "options": [group] });
        assert!(refused(&command(json!([group]))).is_empty());
        assert_eq!(refused(&command(json!([nested]))), ["0.options.0.options.0.type"]);
        let choices: Vec<Value> =
            (0..26).map(|i| json!({ "name": format!("c{i}"), "value": "v" })).collect();
        let mut with_choices = string("c", 1, true);
        with_choices["choices"] = json!(choices);
        assert_eq!(refused(&command(json!([with_choices]))), ["0.options.0.choices"]);
        let long = "d".repeat(100);
        let big: Vec<Value> = (0..25)
            .map(|i| json!({ "type": 1, "name": format!("s{i}"), "description": long,
                "options": (0..2).map(|j| json!({ "type": 3, "name": format!("o{j}"), "description": long })).collect::<Vec<_>>() }))
            .collect();
        assert_eq!(refused(&command(json!(big))), ["0"]);
        let too_many: Vec<Value> =
            (0..101).map(|i| json!({ "name": format!("c{i}"), "description": "d" })).collect();
        assert_eq!(refused(&json!(too_many)), [""]);
    }

    #[test]
    fn messages_and_webhook_names_keep_discords_limits() {
        assert!(message(Some(&json!({ "content": "x".repeat(2000) }))).is_ok());
        assert!(message(Some(&json!({ "content": "x".repeat(2001) }))).is_err());
        let embeds: Vec<Value> = (0..11).map(|_| json!({ "title": "t" })).collect();
        assert!(message(Some(&json!({ "embeds": embeds }))).is_err());
        let heavy = json!({ "embeds": [{ "description": "x".repeat(4000) }, { "description": "x".repeat(2001) }] });
        assert!(message(Some(&heavy)).is_err());
        let files: Vec<Value> = (0..11).map(|i| json!({ "id": i })).collect();
        assert!(message(Some(&json!({ "attachments": files }))).is_err());
        let rows: Vec<Value> = (0..6).map(|_| json!({ "type": 1, "components": [] })).collect();
        assert!(message(Some(&json!({ "components": rows }))).is_err());
        assert!(webhook_name(Some("Tomori")).is_ok());
        for bad in ["", "My Discord hook", "CLYDE", &"n".repeat(81)] {
            assert!(webhook_name(Some(bad)).is_err(), "{bad}");
        }
    }
}
