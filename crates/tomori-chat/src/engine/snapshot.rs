//! `/tool prompt` and `/tool estimate`: the context a persona would be given now, as text or
//! JSON, with the model that would answer and what it would cost in tokens.

use serde_json::{Value, json};
use tomori_core::prompt::{DEFAULT_OUTPUT_RESERVE, estimate_tokens};
use tomori_llm::{ChatRequest, Part, Role};

/// The model first in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotModel {
    /// Its provider (`openai`, `custom:<label>`, the instance provider's name).
    pub provider: String,
    /// Its model id.
    pub model: String,
    /// How Tomori shows it.
    pub label: String,
}

/// The context a persona would be given now.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// As Markdown.
    pub text: String,
    /// As JSON: the model, sampler and thinking level, the tools offered, the system text and
    /// the messages.
    pub json: Value,
    /// The model that would answer first, when any can.
    pub model: Option<SnapshotModel>,
    /// The prompt's estimated tokens, the tools' definitions included.
    pub input_tokens: usize,
    /// The most the answer may take (the request's `max_tokens`, or the default reserve).
    pub output_tokens: usize,
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Assistant => "assistant",
        _ => "other",
    }
}

/// The text of a message's parts: images and tool traffic named, not included.
fn parts_text(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|part| match part {
            Part::Text(text) => text.as_str(),
            Part::Image(_) => "[image]",
            Part::Video(_) => "[video]",
            _ => "[tool traffic]",
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A request as plain text.
pub(super) fn render_request(request: &ChatRequest) -> String {
    let mut out = String::from("## System\n");
    for block in &request.system {
        out.push_str(block);
        out.push('\n');
    }
    for message in &request.messages {
        let role = match message.role {
            Role::User => "User",
            Role::Assistant => "Assistant",
            _ => "Other",
        };
        out.push_str(&format!("\n## {role}\n{}\n", parts_text(&message.parts)));
    }
    out
}

/// The snapshot of `request`, to be answered by `model`.
pub(super) fn snapshot(request: &ChatRequest, model: Option<SnapshotModel>) -> Snapshot {
    let text = render_request(request);
    let tools: Vec<Value> = request
        .tools
        .iter()
        .map(
            |t| json!({ "name": t.name, "description": t.description, "parameters": t.parameters }),
        )
        .collect();
    let sampler = &request.sampler;
    let json = json!({
        "model": model.as_ref().map(|m| json!({ "provider": m.provider, "model": m.model })),
        "sampler": {
            "temperature": sampler.temperature,
            "top_p": sampler.top_p,
            "top_k": sampler.top_k,
            "min_p": sampler.min_p,
            "frequency_penalty": sampler.frequency_penalty,
            "presence_penalty": sampler.presence_penalty,
            "max_output_tokens": sampler.max_output_tokens,
            "stop": sampler.stop,
        },
        "thinking": request.thinking.name(),
        "tools": tools,
        "system": request.system,
        "messages": request.messages.iter().map(|m| json!({
            "role": role_name(m.role),
            "content": parts_text(&m.parts),
        })).collect::<Vec<_>>(),
    });
    let tools_text = Value::Array(tools).to_string();
    let input_tokens = estimate_tokens(&text) + estimate_tokens(&tools_text);
    let output_tokens = sampler
        .max_output_tokens
        .map_or(DEFAULT_OUTPUT_RESERVE, |n| n)
        .try_into()
        .unwrap_or(usize::MAX);
    Snapshot { text, json, model, input_tokens, output_tokens }
}
