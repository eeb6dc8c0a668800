//! Shared fixtures: a test policy that admits only the fakes' address, targets pointing at a
//! fake, a provider layer with short timeouts and instant retries, and stream collection.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use tomori_llm::{
    ApiKey, Capabilities, ChatStream, Endpoint, KeySource, Llm, LlmError, ManualClock, RetryPolicy,
    StreamEvent, Target, Timeouts, Wire, client_for,
};
use tomori_net::{Policy, Scope};
use tomori_testkit::fake_llm::{FAKE_IP, FakeLlm, WireFormat};

/// Server scope (an admin's endpoint) with the test allowance for the fakes' address only.
pub(crate) fn policy() -> Policy {
    Policy::new(Scope::Server).allow_loopback_address_for_tests(FAKE_IP)
}

pub(crate) fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        first_byte: Duration::from_millis(1500),
        idle: Duration::from_millis(500),
        total: Duration::from_secs(20),
    }
}

pub(crate) fn wire(format: WireFormat) -> Wire {
    match format {
        WireFormat::OpenAi => Wire::OpenAiCompatible,
        WireFormat::Anthropic => Wire::Anthropic,
        WireFormat::Gemini => Wire::Gemini,
    }
}

pub(crate) const FORMATS: [WireFormat; 3] =
    [WireFormat::OpenAi, WireFormat::Anthropic, WireFormat::Gemini];

/// A key whose secret is recognisable in what the fake recorded.
pub(crate) fn key(id: &str) -> ApiKey {
    ApiKey::new(id, KeySource::Server, SecretString::from(secret(id)), 0)
}

pub(crate) fn secret(id: &str) -> String {
    format!("sk-test-{id}-0123456789abcdef")
}

pub(crate) fn target(fake: &FakeLlm, format: WireFormat, keys: &[&str]) -> Target {
    let endpoint = Endpoint::new(wire(format), &fake.base_url(), &policy()).unwrap();
    let client = client_for(policy(), &timeouts()).unwrap();
    Target::new(
        format!("fake {format:?}"),
        format!("{format:?}").to_lowercase(),
        endpoint,
        "fake-model",
        client,
    )
    .with_keys(keys.iter().map(|id| key(id)).collect())
    .with_capabilities(Capabilities { tools: true, vision: true, ..Capabilities::default() })
}

/// A provider layer with short timeouts, one instant retry and a manual clock.
pub(crate) fn llm() -> (Llm, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    let llm = Llm::default()
        .with_timeouts(timeouts())
        .with_retry(RetryPolicy {
            max_retries: 1,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        })
        .with_clock(clock.clone());
    (llm, clock)
}

/// Every event, and the error that ended the stream, if one did.
pub(crate) async fn collect(mut stream: ChatStream) -> (Vec<StreamEvent>, Option<LlmError>) {
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => events.push(event),
            Err(error) => return (events, Some(error)),
        }
    }
    (events, None)
}

/// Events as one line each, for comparing across wire formats.
pub(crate) fn lines(events: &[StreamEvent]) -> Vec<String> {
    events
        .iter()
        .map(|event| match event {
            StreamEvent::Text(text) => format!("text {text}"),
            StreamEvent::Reasoning(text) => format!("reasoning {text}"),
            StreamEvent::ReasoningSignature(_) => "signature".to_owned(),
            StreamEvent::Refusal(text) => format!("refusal {text}"),
            StreamEvent::ToolCall(call) => format!("tool_call {} {}", call.name, call.arguments),
            StreamEvent::Usage(usage) => {
                format!("usage {} {}", usage.input_tokens, usage.output_tokens)
            }
            StreamEvent::Notice(notice) => format!("notice {notice:?}"),
            StreamEvent::Finish(reason) => format!("finish {}", reason.code()),
        })
        .collect()
}
