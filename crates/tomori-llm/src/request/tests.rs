//! Tool schemas and request checks as tables.

use serde_json::json;

use super::{ChatRequest, Message, ToolSpec};

#[test]
fn tool_specs_take_inlined_draft_07_object_schemas_only() {
    let rows = [
        ("remember", json!({"type": "object", "properties": {"fact": {"type": "string"}}}), "ok"),
        (
            "remember",
            json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}),
            "ok",
        ),
        ("remember", json!({"type": "string"}), "the schema must have \"type\": \"object\""),
        ("remember", json!(["type"]), "the schema must be a JSON object"),
        (
            "remember",
            json!({"type": "object", "properties": {"a": {"$ref": "#/definitions/A"}}}),
            "uses $ref",
        ),
        ("remember", json!({"type": "object", "$defs": {}}), "uses $defs"),
        ("remember", json!({"type": "object", "items": [{"definitions": {}}]}), "uses definitions"),
        ("bad name!", json!({"type": "object"}), "must be 1 to 64"),
        ("", json!({"type": "object"}), "must be 1 to 64"),
    ];
    for (name, schema, expected) in rows {
        let got = match ToolSpec::new(name, "d", schema.clone()) {
            Ok(spec) => {
                assert!(spec.parameters.get("$schema").is_none());
                "ok".to_owned()
            }
            Err(error) => error.to_string(),
        };
        assert!(got.contains(expected), "{name} {schema}: {got}");
    }
}

#[test]
fn requests_need_messages_and_unique_tools() {
    let tool = ToolSpec::new("t", "d", json!({"type": "object"})).unwrap();
    let empty = ChatRequest::default();
    let twice = ChatRequest {
        messages: vec![Message::user("hi")],
        tools: vec![tool.clone(), tool],
        ..ChatRequest::default()
    };
    assert_eq!(empty.validate().unwrap_err().code(), "invalid_request");
    assert!(twice.validate().unwrap_err().to_string().contains("tool t is declared twice"));
}
