//! Unit tests of the command definitions, parsing, the permission table and answer clipping.

use serde_json::{Value, json};
use tomori_core::settings::{ChannelSet, Feature};
use tomori_core::shared_memory::SharedMemoryChange;
use twilight_model::application::interaction::application_command::CommandData;

use super::{
    Invocation, MAX_ANSWER_CHARS, Need, bot, clip, memory, model, parse, persona, server, upload,
};

fn data(name: &str, options: Value) -> CommandData {
    serde_json::from_value(json!({ "id": "1", "name": name, "type": 1, "options": options }))
        .expect("command data")
}

fn sub(name: &str, options: Value) -> Value {
    json!([{ "name": name, "type": 1, "options": options }])
}

fn group(group: &str, name: &str, options: Value) -> Value {
    json!([{ "name": group, "type": 2, "options": sub(name, options) }])
}

fn string(name: &str, value: &str) -> Value {
    json!({ "name": name, "type": 3, "value": value })
}

#[test]
fn every_definition_passes_discords_validation() {
    for builder in [
        persona::definition(),
        memory::definition(),
        server::definition(),
        super::personal::definition(),
        bot::definition(),
        super::config::definition(),
        super::provider::definition(),
        super::tool::definition(),
        super::mcp::definition(),
        model::definition(),
    ] {
        let name = builder.clone().build().name;
        if let Err(error) = builder.validate() {
            panic!("/{name} is invalid: {error}");
        }
    }
}

#[test]
fn what_each_command_needs() {
    let manager = Need::Manager;
    let cases: Vec<(CommandData, Need)> = vec![
        (data("persona", sub("create", json!([string("name", "Yui")]))), manager),
        (data("persona", sub("list", json!([]))), Need::Member),
        (
            data("persona", sub("rename", json!([string("name", "a"), string("new_name", "b")]))),
            manager,
        ),
        (data("persona", sub("remove", json!([string("name", "a")]))), manager),
        (
            data("memory", group("server", "add", json!([string("content", "x")]))),
            Need::SharedMemory(SharedMemoryChange::Teach),
        ),
        (data("memory", group("server", "list", json!([]))), Need::Member),
        (
            data(
                "memory",
                group("server", "remove", json!([{"name": "id", "type": 4, "value": 3}])),
            ),
            Need::SharedMemory(SharedMemoryChange::Revise),
        ),
        (data("memory", group("personal", "add", json!([string("content", "x")]))), Need::Anyone),
        (
            data(
                "memory",
                group("personal", "remove", json!([{"name": "id", "type": 4, "value": 3}])),
            ),
            Need::Anyone,
        ),
        (
            data(
                "server",
                sub("feature", json!([string("flag", "web_search"), string("state", "on")])),
            ),
            manager,
        ),
        (data("server", group("channel", "add", json!([string("set", "rp")]))), manager),
        (data("server", group("channel", "remove", json!([string("set", "private")]))), manager),
        (
            data("personal", sub("privacy", json!([{"name": "level", "type": 4, "value": 2}]))),
            Need::Anyone,
        ),
        (data("bot", sub("kill", json!([]))), Need::Moderator),
        (data("bot", sub("respond", json!([]))), Need::Member),
        (data("server", group("trigger-words", "list", json!([]))), Need::Member),
        (
            data(
                "mcp",
                sub("add", json!([string("name", "files"), string("url", "https://mcp.example/")])),
            ),
            manager,
        ),
        (data("mcp", sub("list", json!([]))), manager),
        (
            data(
                "personal",
                group(
                    "custom-endpoint",
                    "add",
                    json!([string("url", "https://llm.example/v1"), string("model", "m")]),
                ),
            ),
            Need::Anyone,
        ),
        (data("personal", group("custom-endpoint", "remove", json!([]))), Need::Anyone),
        (data("model", sub("parameters", json!([int("top_k", 40)]))), manager),
        (data("model", group("stop", "add", json!([string("text", "END")]))), manager),
        (data("model", group("stop", "remove", json!([string("text", "END")]))), manager),
        (data("model", group("stop", "list", json!([]))), Need::Member),
        (
            data(
                "server",
                group(
                    "channel-persona",
                    "set",
                    json!([string("persona", "Kaede"), {"name": "channel", "type": 7, "value": "42"}]),
                ),
            ),
            manager,
        ),
        (data("server", group("channel-persona", "list", json!([]))), Need::Member),
        (data("mcp", sub("remove", json!([string("name", "files")]))), manager),
        (data("mcp", sub("toggle", json!([string("name", "files")]))), manager),
        (data("memory", group("document", "list", json!([]))), Need::Member),
        (
            data("memory", group("document", "remove", json!([string("name", "a.md")]))),
            Need::SharedMemory(SharedMemoryChange::Revise),
        ),
        (
            data(
                "model",
                sub("embedding", json!([string("provider", "openai"), string("model", "m")])),
            ),
            manager,
        ),
        (data("model", sub("embedding-clear", json!([]))), manager),
        (data("model", sub("show", json!([]))), Need::Member),
    ];
    for (command, options) in mutating_config_and_server_commands() {
        let parsed = parse(&data(command, options)).unwrap_or_else(|e| panic!("{command}: {e:?}"));
        assert_eq!(parsed.need(), manager, "{parsed:?}");
    }
    for (command, need) in cases {
        let parsed = parse(&command).unwrap_or_else(|e| panic!("{}: {e:?}", command.name));
        assert_eq!(parsed.need(), need, "{parsed:?}");
    }
}

fn int(name: &str, value: i64) -> Value {
    json!({ "name": name, "type": 4, "value": value })
}

/// Every /config and newer /server subcommand that changes something.
fn mutating_config_and_server_commands() -> Vec<(&'static str, Value)> {
    vec![
        ("config", group("system-prompt", "set", json!([string("text", "Be kind.")]))),
        ("config", group("system-prompt", "remove", json!([]))),
        ("config", sub("cascade-limit", json!([int("value", 2)]))),
        ("config", sub("match-limit", json!([int("value", 2)]))),
        ("config", sub("message-fetch-limit", json!([int("value", 50)]))),
        ("config", sub("send-limit", json!([int("value", 5)]))),
        ("config", sub("humanizer", json!([int("value", 2)]))),
        ("config", sub("timezone", json!([string("name", "Asia/Tokyo")]))),
        ("config", group("context-note", "set", json!([string("text", "Note.")]))),
        ("config", group("context-note", "remove", json!([]))),
        ("config", group("thought-log", "set", json!([]))),
        ("config", group("thought-log", "off", json!([]))),
        ("server", sub("cooldown", json!([string("kind", "per_user"), int("seconds", 9)]))),
        ("server", group("trigger-words", "add", json!([string("word", "hey")]))),
        ("server", group("trigger-words", "remove", json!([string("word", "hey")]))),
        ("server", sub("always-reply", json!([string("state", "on")]))),
        ("server", sub("deliberate-mode", json!([string("state", "on")]))),
        ("server", sub("auto-trigger-range", json!([int("min", 3), int("max", 10)]))),
        ("server", sub("member-teaching", json!([string("state", "on")]))),
        ("server", sub("quota", json!([string("kind", "text"), int("per-user-daily", 5)]))),
    ]
}

#[test]
fn options_parse_into_closed_values() {
    let feature = data(
        "server",
        sub("feature", json!([string("flag", "cross_channel"), string("state", "off")])),
    );
    assert_eq!(
        parse(&feature),
        Ok(Invocation::Server(server::Action::Switch(tomori_admin::server::Switch::Feature {
            feature: Feature::CrossChannel,
            on: false
        })))
    );
    let channel = data(
        "server",
        group(
            "channel",
            "add",
            json!([string("set", "auto_trigger"), {"name": "channel", "type": 7, "value": "42"}]),
        ),
    );
    assert_eq!(
        parse(&channel),
        Ok(Invocation::Server(server::Action::Channel {
            set: ChannelSet::AutoTrigger,
            add: true,
            channel: Some(tomori_core::id::Snowflake::new(42).expect("valid"))
        }))
    );
    let refused = [
        data(
            "server",
            sub("feature", json!([string("flag", "drop_table"), string("state", "on")])),
        ),
        data(
            "server",
            sub("feature", json!([string("flag", "web_search"), string("state", "maybe")])),
        ),
        data("server", group("channel", "add", json!([string("set", "everything")]))),
        data("personal", sub("privacy", json!([{"name": "level", "type": 4, "value": 7}]))),
        data("persona", sub("create", json!([]))),
        data("persona", sub("create", json!([{"name": "name", "type": 4, "value": 1}]))),
        data("persona", sub("explode", json!([]))),
        data("nonsense", json!([])),
        data("server", sub("cooldown", json!([string("kind", "forever")]))),
        data("server", sub("quota", json!([string("kind", "audio")]))),
        data("server", sub("always-reply", json!([string("state", "maybe")]))),
        data("server", sub("deliberate-mode", json!([]))),
        data("server", sub("auto-trigger-threshold", json!([int("value", 10)]))),
        data("server", sub("feature", json!([string("flag", "teleport"), string("state", "on")]))),
        data("config", sub("bogus-limit", json!([int("value", 1)]))),
        data("config", sub("cascade-limit", json!([string("value", "3")]))),
        data("mcp", sub("add", json!([string("name", "files")]))),
        data("mcp", sub("add", json!([string("url", "https://mcp.example/")]))),
        data("mcp", sub("remove", json!([]))),
        data("mcp", sub("restart", json!([string("name", "files")]))),
    ];
    for command in refused {
        assert!(parse(&command).is_err(), "{command:?}");
    }
    // Names and URLs are trimmed; a token is never an option (a stale client's is not read: the
    // token comes through the form).
    let add = data(
        "mcp",
        sub(
            "add",
            json!([
                string("name", " files "),
                string("url", " https://mcp.example/ "),
                string("token", "sk-typed-in-the-open")
            ]),
        ),
    );
    assert_eq!(
        parse(&add),
        Ok(Invocation::Mcp(super::mcp::Action::Add {
            name: "files".into(),
            url: "https://mcp.example/".into(),
        }))
    );
}

#[test]
fn long_answers_are_clipped_at_a_line() {
    let long: String = (0..400).map(|i| format!("line {i}\n")).collect();
    let clipped = clip(&long);
    assert!(clipped.chars().count() <= MAX_ANSWER_CHARS, "{}", clipped.chars().count());
    assert!(clipped.starts_with("line 0\n") && clipped.ends_with("more lines."));
    let one_line = "x".repeat(5_000);
    assert!(clip(&one_line).chars().count() <= MAX_ANSWER_CHARS);
    assert_eq!(clip("short"), "short");
}

#[test]
fn document_add_reads_its_attachment_and_follows_the_teaching_rule() {
    let options = group(
        "document",
        "add",
        json!([{ "name": "file", "type": 11, "value": "78" }, string("name", "Rules")]),
    );
    let resolved = json!({ "attachments": { "78": {
        "id": "78", "filename": "rules.md", "size": 99, "content_type": "text/markdown",
        "url": "https://cdn.example/78/rules.md", "proxy_url": "https://media.example/78/rules.md",
    } } });
    let with_resolved: CommandData = serde_json::from_value(json!({
        "id": "1", "name": "memory", "type": 1, "options": options, "resolved": resolved,
    }))
    .expect("command data");
    let parsed = parse(&with_resolved).expect("parses");
    assert_eq!(
        parsed,
        Invocation::Memory(memory::Action::DocumentAdd {
            file: upload::Upload {
                url: "https://cdn.example/78/rules.md".to_owned(),
                filename: "rules.md".to_owned(),
                size: 99,
                content_type: Some("text/markdown".to_owned()),
            },
            name: Some("Rules".to_owned()),
        })
    );
    assert_eq!(parsed.need(), Need::SharedMemory(SharedMemoryChange::Teach));
    assert!(parsed.slow(), "downloading and embedding defer at once");
    assert!(parse(&data("memory", options)).is_err(), "no resolved attachment");
}

#[test]
fn persona_import_reads_its_attachment_from_the_resolved_data() {
    let options = sub("import", json!([{ "name": "card", "type": 11, "value": "77" }]));
    let resolved = json!({ "attachments": { "77": {
        "id": "77", "filename": "mio.png", "size": 1234,
        "url": "https://cdn.example/77/mio.png", "proxy_url": "https://media.example/77/mio.png",
    } } });
    let with_resolved: CommandData = serde_json::from_value(json!({
        "id": "1", "name": "persona", "type": 1, "options": options, "resolved": resolved,
    }))
    .expect("command data");
    let parsed = parse(&with_resolved).expect("parses");
    assert_eq!(
        parsed,
        Invocation::Persona(persona::Action::Import {
            card: upload::Upload {
                url: "https://cdn.example/77/mio.png".to_owned(),
                filename: "mio.png".to_owned(),
                size: 1234,
                content_type: None,
            },
            name: None,
        })
    );
    assert_eq!(parsed.need(), Need::Manager);
    let export = parse(&data("persona", sub("export", json!([string("name", "Mio")]))));
    assert_eq!(export.expect("parses").need(), Need::Manager);
    // Without the resolved attachment (or with the wrong option type) nothing is imported.
    assert!(parse(&data("persona", options)).is_err());
    assert!(parse(&data("persona", sub("import", json!([string("card", "77")])))).is_err());
    assert!(parse(&data("persona", sub("import", json!([])))).is_err());
}

#[test]
fn a_line_too_long_for_the_answer_is_shown_as_far_as_it_fits() {
    let prompt = "x".repeat(3_000);
    let shown = format!("**Mirai** (main persona)\nPrompt: {prompt}\nAttribute 1: calm");
    let clipped = clip(&shown);
    assert!(clipped.chars().count() <= MAX_ANSWER_CHARS, "{}", clipped.chars().count());
    assert!(clipped.contains(&format!("Prompt: {}", "x".repeat(1_000))), "{clipped}");
    assert!(clipped.ends_with("…and 1 more lines."), "{clipped}");
}
