//! Each adapter end to end against its fake: what was sent (path, auth header, body shape) and
//! what came back (text, reasoning, parallel tool calls, usage), plus embeddings and recorded
//! provider streams replayed in one-byte chunks.

use expect_test::expect;
use serde_json::{Value, json};
use tomori_llm::{
    ChatRequest, EmbeddingRequest, FinishReason, Image, ImageSource, Message, Part, Role, Sampler,
    ThinkingLevel, ToolCall, ToolResult, ToolSpec, Video, VideoSource,
};
use tomori_testkit::fake_llm::{FAKE_SIGNATURE, FakeLlm, Finish, Reply, Turn, WireFormat};

use crate::support::{FORMATS, collect, lines, llm, secret, target};

fn request() -> ChatRequest {
    ChatRequest {
        system: vec!["You are Tomori.".to_owned(), "Be brief.".to_owned()],
        messages: vec![
            Message::assistant("Hi all!"),
            Message::user("what is the weather?").named("alice"),
            Message::user("and stocks?").named("bob").with(Part::Image(Image {
                media_type: "image/png".to_owned(),
                source: ImageSource::Base64("iVBORw0KGgo=".to_owned()),
            })),
        ],
        tools: vec![
            ToolSpec::new(
                "weather",
                "Current weather",
                json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
            )
            .unwrap(),
            ToolSpec::new("stock", "Stock price", json!({"type": "object", "properties": {"ticker": {"type": "string"}}}))
                .unwrap(),
        ],
        sampler: Sampler {
            temperature: Some(0.5),
            top_k: Some(40),
            max_output_tokens: Some(800),
            stop: vec!["\nalice:".to_owned()],
            ..Sampler::default()
        },
        thinking: ThinkingLevel::Low,
    }
}

fn turn() -> Turn {
    Turn::new()
        .reasoning("Two tools.")
        .text("Checking ")
        .text("both.")
        .tool_call("call_1", "weather", json!({"city": "Edinburgh"}))
        .tool_call("call_2", "stock", json!({"ticker": "AAPL"}))
        .usage(120, 33)
}

/// The parts of a recorded body that show how the request was shaped.
fn shape(format: WireFormat, body: &Value) -> String {
    let pick = |pointer: &str| body.pointer(pointer).cloned().unwrap_or(Value::Null);
    match format {
        WireFormat::OpenAi => format!(
            "model={} stream={} stream_options={} temperature={} top_k={} max_tokens={} stop={} effort={} tools={}\nmessages={}",
            pick("/model"),
            pick("/stream"),
            pick("/stream_options"),
            pick("/temperature"),
            pick("/top_k"),
            pick("/max_tokens"),
            pick("/stop"),
            pick("/reasoning_effort"),
            pick("/tools/1/function/name"),
            pick("/messages")
        ),
        WireFormat::Anthropic => format!(
            "model={} stream={} max_tokens={} temperature={} thinking={} stop={} system={} tools={}\nmessages={}",
            pick("/model"),
            pick("/stream"),
            pick("/max_tokens"),
            pick("/temperature"),
            pick("/thinking"),
            pick("/stop_sequences"),
            pick("/system"),
            pick("/tools/1/name"),
            pick("/messages")
        ),
        WireFormat::Gemini => format!(
            "config={} system={} tools={}\ncontents={}",
            pick("/generationConfig"),
            pick("/systemInstruction"),
            pick("/tools/0/functionDeclarations/1/name"),
            pick("/contents")
        ),
    }
}

#[tokio::test]
async fn every_adapter_streams_text_reasoning_parallel_tool_calls_and_usage() {
    let mut report = String::new();
    for format in FORMATS {
        let fake = FakeLlm::start(format).await;
        fake.push_turn(turn());
        let (llm, _clock) = llm();
        let stream = llm.stream(&[target(&fake, format, &["k1"])], &request()).await.unwrap();
        assert_eq!(stream.answered().unwrap().key_id.as_deref(), Some("k1"));
        let (events, error) = collect(stream).await;
        assert!(error.is_none(), "{format:?}: {error:?}");
        let recorded = fake.requests();
        assert_eq!(recorded.len(), 1);
        let sent = &recorded[0];
        let auth = match format {
            WireFormat::OpenAi => sent.header("authorization").map(str::to_owned),
            WireFormat::Anthropic => sent.header("x-api-key").map(str::to_owned),
            WireFormat::Gemini => sent.header("x-goog-api-key").map(str::to_owned),
        };
        let expected_auth = match format {
            WireFormat::OpenAi => format!("Bearer {}", secret("k1")),
            _ => secret("k1"),
        };
        assert_eq!(auth, Some(expected_auth), "{format:?}");
        report.push_str(&format!(
            "== {format:?} {} {}\n{}\n{}\n",
            sent.method,
            sent.path,
            shape(format, sent.json.as_ref().unwrap()),
            lines(&events).join("\n")
        ));
    }
    expect![[r#"
        == OpenAi POST /v1/chat/completions
        model="fake-model" stream=true stream_options={"include_usage":true} temperature=0.5 top_k=40 max_tokens=800 stop=["\nalice:"] effort="low" tools="stock"
        messages=[{"content":"You are Tomori.\n\nBe brief.","role":"system"},{"content":"Hi all!","role":"assistant"},{"content":"alice: what is the weather?","role":"user"},{"content":[{"text":"bob: and stocks?","type":"text"},{"image_url":{"url":"data:image/png;base64,iVBORw0KGgo="},"type":"image_url"}],"role":"user"}]
        reasoning Two tools.
        text Checking 
        text both.
        tool_call weather {"city":"Edinburgh"}
        tool_call stock {"ticker":"AAPL"}
        usage 120 33
        finish tool_calls
        == Anthropic POST /v1/messages
        model="fake-model" stream=true max_tokens=5120 temperature=null thinking={"budget_tokens":1024,"type":"enabled"} stop=["\nalice:"] system=[{"text":"You are Tomori.","type":"text"},{"text":"Be brief.","type":"text"}] tools="stock"
        messages=[{"content":[{"text":"[conversation start]","type":"text"}],"role":"user"},{"content":[{"text":"Hi all!","type":"text"}],"role":"assistant"},{"content":[{"text":"alice: what is the weather?","type":"text"},{"text":"bob: and stocks?","type":"text"},{"source":{"data":"iVBORw0KGgo=","media_type":"image/png","type":"base64"},"type":"image"}],"role":"user"}]
        reasoning Two tools.
        signature
        text Checking 
        text both.
        tool_call weather {"city":"Edinburgh"}
        tool_call stock {"ticker":"AAPL"}
        usage 120 33
        finish tool_calls
        == Gemini POST /v1beta/models/fake-model:streamGenerateContent?alt=sse
        config={"maxOutputTokens":800,"stopSequences":["\nalice:"],"temperature":0.5,"thinkingConfig":{"includeThoughts":true,"thinkingBudget":1024},"topK":40} system={"parts":[{"text":"You are Tomori.\n\nBe brief."}]} tools="stock"
        contents=[{"parts":[{"text":"[conversation start]"}],"role":"user"},{"parts":[{"text":"Hi all!"}],"role":"model"},{"parts":[{"text":"alice: what is the weather?"},{"text":"bob: and stocks?"},{"inlineData":{"data":"iVBORw0KGgo=","mimeType":"image/png"}}],"role":"user"}]
        reasoning Two tools.
        text Checking 
        text both.
        tool_call weather {"city":"Edinburgh"}
        tool_call stock {"ticker":"AAPL"}
        usage 120 33
        finish tool_calls
    "#]]
    .assert_eq(&report);
}

#[tokio::test]
async fn every_adapter_sends_the_sampler_under_its_own_names() {
    // A server's `/model parameters` and `/model stop` choices, without thinking (which makes
    // Anthropic drop the samplers) and without temperature (which wins over top_p there).
    let sampler = Sampler {
        top_p: Some(0.9),
        top_k: Some(40),
        frequency_penalty: Some(0.5),
        presence_penalty: Some(-0.25),
        max_output_tokens: Some(300),
        stop: vec!["\nbob:".to_owned(), "END".to_owned()],
        ..Sampler::default()
    };
    let request =
        ChatRequest { messages: vec![Message::user("hi")], sampler, ..ChatRequest::default() };
    let mut report = String::new();
    for format in FORMATS {
        let fake = FakeLlm::start(format).await;
        fake.push_turn(Turn::new().text("ok"));
        let (llm, _clock) = llm();
        llm.complete(&[target(&fake, format, &["k1"])], &request).await.unwrap();
        let body = fake.requests()[0].json.clone().unwrap();
        let names: &[&str] = match format {
            WireFormat::OpenAi => {
                &["top_p", "top_k", "frequency_penalty", "presence_penalty", "max_tokens", "stop"]
            }
            WireFormat::Anthropic => &[
                "top_p",
                "top_k",
                "frequency_penalty",
                "presence_penalty",
                "max_tokens",
                "stop_sequences",
            ],
            WireFormat::Gemini => &["generationConfig"],
        };
        let fields: Vec<String> = names
            .iter()
            .map(|name| format!("{name}={}", body.get(*name).unwrap_or(&Value::Null)))
            .collect();
        report.push_str(&format!("{format:?}: {}\n", fields.join(" ")));
    }
    // Anthropic has no penalties: they are not sent there.
    expect![[r#"
        OpenAi: top_p=0.9 top_k=40 frequency_penalty=0.5 presence_penalty=-0.25 max_tokens=300 stop=["\nbob:","END"]
        Anthropic: top_p=0.9 top_k=40 frequency_penalty=null presence_penalty=null max_tokens=300 stop_sequences=["\nbob:","END"]
        Gemini: generationConfig={"frequencyPenalty":0.5,"maxOutputTokens":300,"presencePenalty":-0.25,"stopSequences":["\nbob:","END"],"topK":40,"topP":0.9}
    "#]]
    .assert_eq(&report);
}

#[tokio::test]
async fn tool_turns_and_signatures_go_back_in_each_wire_format() {
    let mut report = String::new();
    for format in FORMATS {
        let fake = FakeLlm::start(format).await;
        fake.push_turn(turn());
        fake.push_turn(Turn::new().text("Edinburgh is rainy; AAPL is up."));
        let (llm, _clock) = llm();
        let chain = [target(&fake, format, &[])];
        let first = llm.complete(&chain, &request()).await.unwrap();
        assert_eq!(first.finish, Some(FinishReason::ToolCalls));
        let mut next = request();
        next.messages.push(first.to_message());
        next.messages.push(Message {
            role: Role::Tool,
            name: None,
            parts: first
                .tool_calls
                .iter()
                .map(|call: &ToolCall| {
                    Part::ToolResult(ToolResult {
                        call_id: call.id.clone(),
                        name: call.name.clone(),
                        content: format!("{} ok", call.name),
                        is_error: false,
                    })
                })
                .collect(),
        });
        let second = llm.complete(&chain, &next).await.unwrap();
        assert_eq!(second.text, "Edinburgh is rainy; AAPL is up.");
        let body = fake.requests()[1].json.clone().unwrap();
        let tail = match format {
            WireFormat::OpenAi => {
                let messages = body["messages"].as_array().unwrap();
                Value::Array(messages[messages.len() - 3..].to_vec())
            }
            WireFormat::Anthropic => {
                let messages = body["messages"].as_array().unwrap();
                Value::Array(messages[messages.len() - 2..].to_vec())
            }
            WireFormat::Gemini => {
                let contents = body["contents"].as_array().unwrap();
                Value::Array(contents[contents.len() - 2..].to_vec())
            }
        };
        report.push_str(&format!("== {format:?}\n{tail}\n"));
    }
    assert!(report.contains(FAKE_SIGNATURE));
    expect![[r#"
        == OpenAi
        [{"content":"Checking both.","reasoning_content":"Two tools.","role":"assistant","tool_calls":[{"function":{"arguments":"{\"city\":\"Edinburgh\"}","name":"weather"},"id":"call_1","type":"function"},{"function":{"arguments":"{\"ticker\":\"AAPL\"}","name":"stock"},"id":"call_2","type":"function"}]},{"content":"weather ok","role":"tool","tool_call_id":"call_1"},{"content":"stock ok","role":"tool","tool_call_id":"call_2"}]
        == Anthropic
        [{"content":[{"signature":"fake-signature","thinking":"Two tools.","type":"thinking"},{"text":"Checking both.","type":"text"},{"id":"call_1","input":{"city":"Edinburgh"},"name":"weather","type":"tool_use"},{"id":"call_2","input":{"ticker":"AAPL"},"name":"stock","type":"tool_use"}],"role":"assistant"},{"content":[{"content":"weather ok","is_error":false,"tool_use_id":"call_1","type":"tool_result"},{"content":"stock ok","is_error":false,"tool_use_id":"call_2","type":"tool_result"}],"role":"user"}]
        == Gemini
        [{"parts":[{"text":"Checking both."},{"functionCall":{"args":{"city":"Edinburgh"},"name":"weather"},"thoughtSignature":"fake-signature"},{"functionCall":{"args":{"ticker":"AAPL"},"name":"stock"},"thoughtSignature":"fake-signature"}],"role":"model"},{"parts":[{"functionResponse":{"name":"weather","response":{"content":"weather ok"}}},{"functionResponse":{"name":"stock","response":{"content":"stock ok"}}}],"role":"user"}]
    "#]]
    .assert_eq(&report);
}

#[tokio::test]
async fn embeddings_from_openai_compatible_and_gemini() {
    let request = EmbeddingRequest {
        inputs: vec!["cats".to_owned(), "dogs".to_owned()],
        dimensions: Some(3),
    };
    let openai = FakeLlm::start(WireFormat::OpenAi).await;
    // Out of order on purpose: vectors are placed by index.
    openai.push(Reply::json(&json!({
        "object": "list",
        "data": [
            {"object": "embedding", "index": 1, "embedding": [0.4, 0.5, 0.6]},
            {"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}
        ],
        "usage": {"prompt_tokens": 2, "total_tokens": 2}
    })));
    let gemini = FakeLlm::start(WireFormat::Gemini).await;
    gemini.push(Reply::json(
        &json!({"embeddings": [{"values": [1.0, 0.0]}, {"values": [0.0, 1.0]}]}),
    ));
    let (llm, _clock) = llm();
    let from_openai =
        llm.embed(&[target(&openai, WireFormat::OpenAi, &["k1"])], &request).await.unwrap();
    assert_eq!(from_openai.vectors, vec![vec![0.1, 0.2, 0.3], vec![0.4, 0.5, 0.6]]);
    assert_eq!(from_openai.input_tokens, 2);
    let from_gemini =
        llm.embed(&[target(&gemini, WireFormat::Gemini, &["k1"])], &request).await.unwrap();
    assert_eq!(from_gemini.vectors, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
    let sent_openai = &openai.requests()[0];
    assert_eq!(sent_openai.path, "/v1/embeddings");
    assert_eq!(
        sent_openai.json,
        Some(
            json!({"model": "fake-model", "input": ["cats", "dogs"], "dimensions": 3, "encoding_format": "float"})
        )
    );
    let sent_gemini = &gemini.requests()[0];
    assert_eq!(sent_gemini.path, "/v1beta/models/fake-model:batchEmbedContents");
    assert_eq!(
        sent_gemini.json.as_ref().unwrap()["requests"][1]["content"]["parts"][0]["text"],
        "dogs"
    );
    assert_eq!(sent_gemini.json.as_ref().unwrap()["requests"][0]["outputDimensionality"], 3);
}

#[tokio::test]
async fn recorded_streams_replayed_in_one_byte_chunks_decode_alike() {
    // Streams shaped like the providers' recordings, served one byte per HTTP chunk.
    let streams = [
        (
            WireFormat::OpenAi,
            concat!(
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
                ": keep-alive\n\n",
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"秋风 🍁\"},\"finish_reason\":null}]}\n\n",
                "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
                "data: [DONE]\n\n"
            ),
        ),
        (
            WireFormat::Anthropic,
            concat!(
                "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3}}}\n\n",
                "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"秋风 🍁\"}}\n\n",
                "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n",
                "event: message_stop\ndata: {\"type\":\"message_stop\"}"
            ),
        ),
        (
            WireFormat::Gemini,
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"秋风 🍁\"}]}, \"finishReason\": \"STOP\"}]}\r\n\r\n",
        ),
    ];
    for (format, body) in streams {
        let fake = FakeLlm::start(format).await;
        fake.push(Reply::raw_sse(body.as_bytes(), 1));
        let (llm, _clock) = llm();
        let completion = llm
            .complete(
                &[target(&fake, format, &[])],
                &ChatRequest { messages: vec![Message::user("poem")], ..ChatRequest::default() },
            )
            .await
            .unwrap();
        assert_eq!(completion.text, "秋风 🍁", "{format:?}");
        assert_eq!(completion.finish, Some(FinishReason::Stop), "{format:?}");
    }
}

#[tokio::test]
async fn safety_finishes_and_blocks_are_content_filter() {
    for format in FORMATS {
        let fake = FakeLlm::start(format).await;
        fake.push_turn(Turn::new().finish(Finish::Safety));
        let (llm, _clock) = llm();
        let completion = llm
            .complete(
                &[target(&fake, format, &[])],
                &ChatRequest { messages: vec![Message::user("x")], ..ChatRequest::default() },
            )
            .await
            .unwrap();
        assert_eq!(completion.finish, Some(FinishReason::ContentFilter), "{format:?}");
        assert!(completion.text.is_empty() && completion.tool_calls.is_empty());
    }
}

#[tokio::test]
async fn only_a_gemini_model_that_sees_gets_videos_and_every_other_reads_their_captions() {
    let video = |source| {
        Part::Video(Video {
            media_type: "video/mp4".to_owned(),
            source,
            caption: "[media_1: a video this model cannot watch]".to_owned(),
        })
    };
    let ask = ChatRequest {
        messages: vec![
            Message::user("what happens here?")
                .with(video(VideoSource::Base64("AAAAGGZ0eXA=".to_owned())))
                .with(video(VideoSource::YouTube(
                    "https://www.youtube.com/watch?v=dQw4w9WgXcQ".to_owned(),
                ))),
        ],
        ..ChatRequest::default()
    };
    for format in FORMATS {
        for vision in [true, false] {
            let fake = FakeLlm::start(format).await;
            fake.push_turn(Turn::new().text("ok"));
            let (llm, _clock) = llm();
            let mut target = target(&fake, format, &["a"]);
            target.capabilities.vision = vision;
            collect(llm.stream(&[target], &ask).await.unwrap()).await;
            let body = String::from_utf8_lossy(&fake.requests()[0].body).into_owned();
            let watches = format == WireFormat::Gemini && vision;
            assert_eq!(
                body.contains("\"inlineData\":{\"mimeType\":\"video/mp4\""),
                watches,
                "{body}"
            );
            assert_eq!(
                body.contains(
                    "\"fileData\":{\"fileUri\":\"https://www.youtube.com/watch?v=dQw4w9WgXcQ\"}"
                ),
                watches,
                "{body}"
            );
            assert_eq!(
                body.matches("a video this model cannot watch").count(),
                if watches { 0 } else { 2 },
                "{format:?} {vision}: {body}"
            );
        }
    }
}
