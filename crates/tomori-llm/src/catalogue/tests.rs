//! The catalogue from config data, and requests shaped by capabilities.

use serde_json::json;

use super::{Capabilities, CatalogueError, ModelCatalogue, ModelEntry, shape_for};
use crate::event::Notice;
use crate::request::{ChatRequest, Image, ImageSource, Message, Part, ToolSpec};

fn entries() -> Vec<ModelEntry> {
    serde_json::from_value(json!([
        {"provider": "openrouter", "model": "gpt-4o", "tools": true, "vision": true, "context_length": 128000},
        {"provider": "openrouter", "model": "text-embedding-3-small", "tools": false, "embeddings": true},
        {"provider": "custom:s1:local", "model": "llama3.1", "display_name": "Local Llama", "tools": false}
    ]))
    .unwrap()
}

#[test]
fn capabilities_come_from_config_entries_with_defaults_for_unknown_models() {
    let catalogue = ModelCatalogue::from_entries(entries()).unwrap();
    let rows = [
        (
            "openrouter",
            "gpt-4o",
            Capabilities {
                tools: true,
                vision: true,
                context_length: Some(128_000),
                embeddings: false,
            },
        ),
        (
            "openrouter",
            "text-embedding-3-small",
            Capabilities { tools: false, vision: false, context_length: None, embeddings: true },
        ),
        (
            "custom:s1:local",
            "llama3.1",
            Capabilities { tools: false, vision: false, context_length: None, embeddings: false },
        ),
        ("openrouter", "unknown", Capabilities::default()),
    ];
    for (provider, model, expected) in rows {
        assert_eq!(catalogue.capabilities(provider, model), expected, "{provider} {model}");
    }
    assert_eq!(catalogue.models("openrouter").count(), 2);
}

#[test]
fn custom_endpoints_add_and_remove_their_own_entries() {
    let mut catalogue = ModelCatalogue::from_entries(entries()).unwrap();
    let duplicate = entries().remove(0);
    assert_eq!(
        catalogue.add(duplicate),
        Err(CatalogueError::Duplicate {
            provider: "openrouter".to_owned(),
            model: "gpt-4o".to_owned()
        })
    );
    let added = ModelEntry {
        provider: "custom:u9:mine".to_owned(),
        model: "qwen3".to_owned(),
        display_name: None,
        capabilities: Capabilities { vision: true, ..Capabilities::default() },
    };
    catalogue.add(added).unwrap();
    assert!(catalogue.capabilities("custom:u9:mine", "qwen3").vision);
    catalogue.remove_provider("custom:u9:mine");
    assert!(catalogue.get("custom:u9:mine", "qwen3").is_none());
    let bad: Result<Vec<ModelEntry>, _> =
        serde_json::from_value(json!([{"provider": "x", "model": "y", "colour": "red"}]));
    assert!(bad.is_err(), "unknown fields are refused");
}

#[test]
fn shaping_removes_what_the_model_cannot_take_with_notices() {
    let request = ChatRequest {
        messages: vec![Message::user("see").with(Part::Image(Image {
            media_type: "image/png".to_owned(),
            source: ImageSource::Base64("AA==".to_owned()),
        }))],
        tools: vec![ToolSpec::new("t", "d", json!({"type": "object"})).unwrap()],
        ..ChatRequest::default()
    };
    let (text_only, notices) =
        shape_for(&request, &Capabilities { tools: false, ..Capabilities::default() });
    assert_eq!(notices, vec![Notice::ImagesRemoved, Notice::ToolsRemoved]);
    assert!(!text_only.has_images() && text_only.tools.is_empty());
    let everything = Capabilities { tools: true, vision: true, ..Capabilities::default() };
    let (same, none) = shape_for(&request, &everything);
    assert_eq!((same, none), (request, Vec::new()));
}
