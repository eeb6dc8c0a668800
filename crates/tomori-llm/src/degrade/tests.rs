//! The degradation ladder as a table: which rung comes next for a request and a rejection, run
//! to the end, and what the request looks like there.

use expect_test::{Expect, expect};
use serde_json::json;

use super::{Degradation, rejected_param};
use crate::endpoint::Wire;
use crate::request::{
    ChatRequest, Image, ImageSource, Message, Param, Part, Role, Sampler, ThinkingLevel, ToolCall,
    ToolResult, ToolSpec,
};

fn full_request() -> ChatRequest {
    ChatRequest {
        system: vec!["You are Tomori.".to_owned()],
        messages: vec![
            Message::user("look").with(Part::Image(Image {
                media_type: "image/png".to_owned(),
                source: ImageSource::Base64("iVBORw0KGgo=".to_owned()),
            })),
            Message {
                role: Role::Assistant,
                name: None,
                parts: vec![Part::ToolCall(ToolCall {
                    id: "c1".to_owned(),
                    name: "remember".to_owned(),
                    arguments: json!({"fact": "cats"}),
                    signature: None,
                })],
            },
            Message {
                role: Role::Tool,
                name: None,
                parts: vec![Part::ToolResult(ToolResult {
                    call_id: "c1".to_owned(),
                    name: "remember".to_owned(),
                    content: "saved".to_owned(),
                    is_error: false,
                })],
            },
        ],
        tools: vec![
            ToolSpec::new("remember", "Save a fact", json!({"type": "object", "properties": {}}))
                .unwrap(),
        ],
        sampler: Sampler {
            temperature: Some(0.7),
            top_k: Some(40),
            max_output_tokens: Some(500),
            ..Sampler::default()
        },
        thinking: ThinkingLevel::Low,
    }
}

fn describe(request: &ChatRequest) -> String {
    let parts: Vec<String> = request
        .messages
        .iter()
        .map(|m| {
            let kinds: Vec<&str> = m
                .parts
                .iter()
                .map(|p| match p {
                    Part::Text(_) => "text",
                    Part::Image(_) => "image",
                    Part::Video(_) => "video",
                    Part::ToolCall(_) => "call",
                    Part::ToolResult(_) => "result",
                    Part::Reasoning(_) => "reasoning",
                })
                .collect();
            format!("{:?}[{}]", m.role, kinds.join(","))
        })
        .collect();
    format!(
        "system={} tools={} temp={:?} top_k={:?} max={:?} thinking={:?} messages={}",
        request.system.len(),
        request.tools.len(),
        request.sampler.temperature,
        request.sampler.top_k,
        request.sampler.max_output_tokens,
        request.thinking,
        parts.join(" ")
    )
}

#[track_caller]
fn check(wire: Wire, rejected: &[Option<Param>], expect: Expect) {
    let request = full_request();
    let mut degradation = Degradation::default();
    let mut out = String::new();
    let mut step = 0;
    loop {
        let named = rejected.get(step).copied().flatten();
        let Some(next) = degradation.next(&request, wire, named) else {
            out.push_str("ladder exhausted\n");
            break;
        };
        degradation = next;
        let notices: Vec<String> = degradation.notices().iter().map(|n| format!("{n:?}")).collect();
        out.push_str(&format!(
            "{}\n  notices: {}\n",
            describe(&degradation.apply(&request)),
            notices.join(", ")
        ));
        step += 1;
    }
    expect.assert_eq(&out);
}

#[test]
fn openai_ladder_runs_every_rung_and_never_drops_messages() {
    check(
        Wire::OpenAiCompatible,
        &[],
        expect![[r#"
            system=1 tools=1 temp=Some(0.7) top_k=Some(40) max=Some(500) thinking=Low messages=User[text,image] Assistant[call] Tool[result]
              notices: 
            system=1 tools=1 temp=None top_k=Some(40) max=Some(500) thinking=Low messages=User[text,image] Assistant[call] Tool[result]
              notices: ParameterDropped(Temperature)
            system=1 tools=1 temp=None top_k=None max=Some(500) thinking=Low messages=User[text,image] Assistant[call] Tool[result]
              notices: ParameterDropped(Temperature), ParameterDropped(TopK)
            system=1 tools=1 temp=None top_k=None max=None thinking=Low messages=User[text,image] Assistant[call] Tool[result]
              notices: ParameterDropped(Temperature), ParameterDropped(TopK), ParameterDropped(MaxOutputTokens)
            system=1 tools=1 temp=None top_k=None max=None thinking=Auto messages=User[text,image] Assistant[call] Tool[result]
              notices: ParameterDropped(Temperature), ParameterDropped(TopK), ParameterDropped(MaxOutputTokens), ParameterDropped(Thinking)
            system=1 tools=1 temp=None top_k=None max=None thinking=Auto messages=User[text,text] Assistant[call] Tool[result]
              notices: ParameterDropped(Temperature), ParameterDropped(TopK), ParameterDropped(MaxOutputTokens), ParameterDropped(Thinking), ImagesRemoved
            system=1 tools=0 temp=None top_k=None max=None thinking=Auto messages=User[text,text] Assistant[text] User[text]
              notices: ParameterDropped(Temperature), ParameterDropped(TopK), ParameterDropped(MaxOutputTokens), ParameterDropped(Thinking), ImagesRemoved, ToolsRemoved
            system=0 tools=0 temp=None top_k=None max=None thinking=Auto messages=User[text,text,text] Assistant[text] User[text]
              notices: ParameterDropped(Temperature), ParameterDropped(TopK), ParameterDropped(MaxOutputTokens), ParameterDropped(Thinking), ImagesRemoved, ToolsRemoved, MinimalRequest
            ladder exhausted
        "#]],
    );
}

#[test]
fn a_named_parameter_is_dropped_first_and_alone() {
    check(
        Wire::Anthropic,
        &[Some(Param::Thinking), Some(Param::Tools), None],
        expect![[r#"
            system=1 tools=1 temp=Some(0.7) top_k=Some(40) max=Some(500) thinking=Auto messages=User[text,image] Assistant[call] Tool[result]
              notices: ParameterDropped(Thinking)
            system=1 tools=0 temp=Some(0.7) top_k=Some(40) max=Some(500) thinking=Auto messages=User[text,image] Assistant[text] User[text]
              notices: ParameterDropped(Thinking), ToolsRemoved
            system=1 tools=0 temp=None top_k=Some(40) max=Some(500) thinking=Auto messages=User[text,image] Assistant[text] User[text]
              notices: ParameterDropped(Thinking), ParameterDropped(Temperature), ToolsRemoved
            system=1 tools=0 temp=None top_k=None max=Some(500) thinking=Auto messages=User[text,image] Assistant[text] User[text]
              notices: ParameterDropped(Thinking), ParameterDropped(Temperature), ParameterDropped(TopK), ToolsRemoved
            system=1 tools=0 temp=None top_k=None max=Some(500) thinking=Auto messages=User[text,text] Assistant[text] User[text]
              notices: ParameterDropped(Thinking), ParameterDropped(Temperature), ParameterDropped(TopK), ImagesRemoved, ToolsRemoved
            system=0 tools=0 temp=None top_k=None max=None thinking=Auto messages=User[text,text,text] Assistant[text] User[text]
              notices: ParameterDropped(Thinking), ParameterDropped(Temperature), ParameterDropped(TopK), ImagesRemoved, ToolsRemoved, MinimalRequest
            ladder exhausted
        "#]],
    );
}

#[test]
fn rejected_parameters_are_read_from_param_fields_and_messages() {
    let present =
        [Param::StreamOptions, Param::TopK, Param::MinP, Param::MaxOutputTokens, Param::Thinking];
    let cases: &[(Wire, Option<&str>, &str)] = &[
        (Wire::OpenAiCompatible, Some("top_k"), "Unrecognized request argument supplied: top_k"),
        (
            Wire::OpenAiCompatible,
            None,
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
        ),
        (Wire::OpenAiCompatible, None, "stream_options is only allowed when stream is true"),
        (Wire::OpenAiCompatible, None, "reasoning_effort: unknown field"),
        (Wire::OpenAiCompatible, None, "min_probability is out of range"),
        (Wire::OpenAiCompatible, None, "tools are not supported for this model"),
        (Wire::Gemini, Some("generation_config.top_k"), "Invalid JSON payload"),
        (
            Wire::Gemini,
            None,
            "Invalid JSON payload received. Unknown name \"thinkingConfig\" at 'generation_config': Cannot find field.",
        ),
        (Wire::Anthropic, None, "messages: text content blocks must be non-empty"),
    ];
    let found: Vec<String> = cases
        .iter()
        .map(|(wire, field, message)| {
            format!("{:?}", rejected_param(*wire, *field, message, &present))
        })
        .collect();
    expect![[r#"
        Some((TopK, "top_k"))
        Some((MaxOutputTokens, "max_tokens"))
        Some((StreamOptions, "stream_options"))
        Some((Thinking, "reasoning_effort"))
        None
        Some((Tools, "tools"))
        Some((TopK, "top_k"))
        Some((Thinking, "thinkingConfig"))
        None"#]]
    .assert_eq(&found.join("\n"));
}
