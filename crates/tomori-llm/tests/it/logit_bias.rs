//! Logit bias on the wire: each model of a chain gets the ids of its own vocabulary, or nothing
//! when it takes no logit bias; an endpoint that refuses the field has it dropped by the ladder.

use serde_json::{Value, json};
use tomori_core::logit_bias::BiasEntry;
use tomori_llm::{
    ChatRequest, Endpoint, LogitBias, Message, Notice, Param, Sampler, StreamEvent, Target,
    client_for,
};
use tomori_testkit::fake_llm::{FakeLlm, Turn, WireFormat};

use crate::support::{collect, llm, policy, target, timeouts, wire};

fn request() -> ChatRequest {
    let entries = vec![
        BiasEntry {
            text: "Hello".into(),
            bias: -100,
            o200k: vec![13225, 24912],
            cl100k: vec![9906, 22691],
            ..BiasEntry::default()
        },
        BiasEntry {
            text: "[42, 7]".into(),
            bias: 50,
            written: vec![42, 7],
            ..BiasEntry::default()
        },
    ];
    ChatRequest {
        messages: vec![Message::user("hi")],
        sampler: Sampler { logit_bias: LogitBias::new(entries), ..Sampler::default() },
        ..ChatRequest::default()
    }
}

/// A target at `fake` that says it is `model` of `provider`.
fn named(fake: &FakeLlm, format: WireFormat, provider: &str, model: &str) -> Target {
    let endpoint = Endpoint::new(wire(format), &fake.base_url(), &policy()).unwrap();
    Target::new(provider, provider, endpoint, model, client_for(policy(), &timeouts()).unwrap())
}

#[tokio::test]
async fn each_model_gets_the_ids_of_its_own_vocabulary_or_none() {
    let cases = [
        (WireFormat::OpenAi, "openai", "gpt-4o", json!({"13225": -100, "24912": -100})),
        (WireFormat::OpenAi, "openai", "gpt-4-turbo", json!({"9906": -100, "22691": -100})),
        (
            WireFormat::OpenAi,
            "openrouter",
            "openai/gpt-4.1-mini",
            json!({"13225": -100, "24912": -100}),
        ),
        // Reasoning models refuse the field; models of unknown tokenizers get none.
        (WireFormat::OpenAi, "openai", "o3-mini", Value::Null),
        (WireFormat::OpenAi, "deepseek", "deepseek-chat", Value::Null),
        // A custom endpoint gets only the ids an admin wrote.
        (WireFormat::OpenAi, "custom:s1:local", "llama3", json!({"42": 50, "7": 50})),
        (WireFormat::Anthropic, "anthropic", "claude-sonnet-4", Value::Null),
        (WireFormat::Gemini, "google", "gemini-2.5-flash", Value::Null),
    ];
    for (format, provider, model, expected) in cases {
        let fake = FakeLlm::start(format).await;
        fake.push_turn(Turn::new().text("ok"));
        let (llm, _clock) = llm();
        llm.complete(&[named(&fake, format, provider, model)], &request()).await.unwrap();
        let body = fake.requests()[0].json.clone().unwrap();
        let sent = body.get("logit_bias").cloned().unwrap_or(Value::Null);
        assert_eq!(sent, expected, "{provider}/{model}");
        assert!(!body.to_string().contains("Hello"), "the text itself is never sent");
    }
}

#[tokio::test]
async fn an_endpoint_that_refuses_logit_bias_answers_without_it() {
    let fake = FakeLlm::start(WireFormat::OpenAi).await;
    fake.reject_key("logit_bias", 400, true);
    fake.push_turn(Turn::new().text("fine without it"));
    let (llm, _clock) = llm();
    let mut chain = target(&fake, WireFormat::OpenAi, &[]);
    chain.provider = "custom:s1:local".to_owned();
    let stream = llm.stream(&[chain], &request()).await.unwrap();
    let (events, error) = collect(stream).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(events[0], StreamEvent::Notice(Notice::ParameterDropped(Param::LogitBias)));
    let requests = fake.requests();
    assert!(requests[0].has_key("logit_bias") && !requests[1].has_key("logit_bias"));
}
