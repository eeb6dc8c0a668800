//! The degradation ladder against fakes that refuse parameters: a 400 naming the parameter
//! drops exactly that one; an unnamed refusal walks the ladder; the model and the messages are
//! never dropped; unrelated failures are never degraded.

use serde_json::json;
use tomori_llm::{
    ChatRequest, Image, ImageSource, Message, Notice, Param, Part, Sampler, StreamEvent, ToolSpec,
};
use tomori_testkit::fake_llm::{FakeLlm, Reply, Turn, WireFormat};

use crate::support::{FORMATS, collect, lines, llm, target};

fn rich_request() -> ChatRequest {
    ChatRequest {
        system: vec!["You are Tomori.".to_owned()],
        messages: vec![Message::user("what is this?").with(Part::Image(Image {
            media_type: "image/jpeg".to_owned(),
            source: ImageSource::Base64("/9j/4AAQ".to_owned()),
        }))],
        tools: vec![ToolSpec::new("remember", "Save", json!({"type": "object"})).unwrap()],
        sampler: Sampler { temperature: Some(0.9), top_k: Some(50), ..Sampler::default() },
        ..ChatRequest::default()
    }
}

#[tokio::test]
async fn a_400_naming_a_parameter_drops_exactly_that_parameter() {
    for (format, key) in [
        (WireFormat::OpenAi, "top_k"),
        (WireFormat::Anthropic, "top_k"),
        (WireFormat::Gemini, "topK"),
    ] {
        let fake = FakeLlm::start(format).await;
        fake.reject_key(key, 400, true);
        fake.push_turn(Turn::new().text("fine without it"));
        let (llm, _clock) = llm();
        let stream = llm.stream(&[target(&fake, format, &[])], &rich_request()).await.unwrap();
        let (events, error) = collect(stream).await;
        assert!(error.is_none(), "{format:?}: {error:?}");
        assert_eq!(
            events[0],
            StreamEvent::Notice(Notice::ParameterDropped(Param::TopK)),
            "{format:?}"
        );
        let requests = fake.requests();
        assert_eq!(requests.len(), 2, "{format:?}");
        assert!(requests[0].has_key(key) && !requests[1].has_key(key));
        // Everything else survives the rung, the model and messages above all.
        for kept in ["temperature", "tools"] {
            assert!(requests[1].has_key(kept), "{format:?} lost {kept}");
        }
        let first = requests[0].json.as_ref().unwrap();
        let second = requests[1].json.as_ref().unwrap();
        for field in ["/model", "/messages", "/contents"] {
            assert_eq!(first.pointer(field), second.pointer(field), "{format:?} changed {field}");
        }
    }
}

#[tokio::test]
async fn an_unnamed_refusal_walks_the_ladder_to_images_and_tools() {
    // An OpenAI-compatible server that refuses images without saying so: stream_options, each
    // sampler parameter, then the images go, and the user is told about the images.
    let fake = FakeLlm::start(WireFormat::OpenAi).await;
    fake.reject_key("image_url", 400, false);
    fake.push_turn(Turn::new().text("I can only read text."));
    let (llm, _clock) = llm();
    let stream =
        llm.stream(&[target(&fake, WireFormat::OpenAi, &[])], &rich_request()).await.unwrap();
    let (events, error) = collect(stream).await;
    assert!(error.is_none());
    assert_eq!(
        lines(&events),
        [
            "notice ParameterDropped(Temperature)",
            "notice ParameterDropped(TopK)",
            "notice ImagesRemoved",
            "text I can only read text.",
            "finish stop",
        ]
    );
    let sent: Vec<Vec<&str>> = fake
        .requests()
        .iter()
        .map(|r| {
            ["stream_options", "temperature", "top_k", "image_url", "tools"]
                .into_iter()
                .filter(|key| r.has_key(key))
                .collect()
        })
        .collect();
    assert_eq!(
        sent,
        [
            vec!["stream_options", "temperature", "top_k", "image_url", "tools"],
            vec!["temperature", "top_k", "image_url", "tools"],
            vec!["top_k", "image_url", "tools"],
            vec!["image_url", "tools"],
            vec!["tools"],
        ]
    );
    let last = fake.requests().pop().unwrap().json.unwrap();
    assert_eq!(last["model"], "fake-model");
    let content = last["messages"][1]["content"].as_str().unwrap();
    assert!(content.starts_with("what is this?\n[an image was attached here"), "{content}");
}

#[tokio::test]
async fn a_ladder_that_runs_out_returns_the_endpoint_error() {
    for format in FORMATS {
        let fake = FakeLlm::start(format).await;
        // The model field (or, for Gemini, the contents) is refused: nothing can fix that.
        let key = if format == WireFormat::Gemini { "contents" } else { "model" };
        fake.reject_key(key, 400, false);
        let (llm, _clock) = llm();
        let error = llm.stream(&[target(&fake, format, &[])], &rich_request()).await.unwrap_err();
        assert_eq!(error.code(), "bad_request", "{format:?}");
        let requests = fake.requests();
        assert!(requests.len() <= 8, "{format:?}: {} requests", requests.len());
        assert!(requests.iter().all(|r| r.has_key(key)), "{format:?}: dropped {key}");
    }
}

#[tokio::test]
async fn auth_rate_limit_and_server_errors_are_never_degraded() {
    for (status, code) in [(401, "auth"), (429, "rate_limit"), (500, "server")] {
        let fake = FakeLlm::start(WireFormat::OpenAi).await;
        for _ in 0..3 {
            fake.push(Reply::status(
                status,
                &json!({"error": {"message": "no", "param": "top_k"}}),
            ));
        }
        let (llm, _clock) = llm();
        let error = llm
            .stream(&[target(&fake, WireFormat::OpenAi, &[])], &rich_request())
            .await
            .unwrap_err();
        assert_eq!(error.code(), code);
        assert!(fake.requests().iter().all(|r| r.has_key("top_k") && r.has_key("stream_options")));
    }
}
