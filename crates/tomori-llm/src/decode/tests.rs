//! The three stream decoders as tables: a raw stream in (written here, shaped like the
//! providers' recorded streams), the events out. Every case is also fed in 1-, 2-, 5- and
//! 13-byte chunks and must give the same result.

use expect_test::{Expect, expect};

use super::StreamDecoder;
use crate::endpoint::Wire;
use crate::event::StreamEvent;

fn run(wire: Wire, input: &[u8], piece: usize) -> String {
    let mut decoder = StreamDecoder::new(wire, 64 * 1024);
    let mut events = Vec::new();
    let mut result = Ok(());
    for chunk in input.chunks(piece.max(1)) {
        result = decoder.push(chunk, &mut events);
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = decoder.finish(&mut events);
    }
    let mut text: String = events.iter().map(|event| format!("{}\n", line(event))).collect();
    if let Err(error) = result {
        text.push_str(&format!("error {}: {error}\n", error.code()));
    }
    text
}

fn line(event: &StreamEvent) -> String {
    match event {
        StreamEvent::Text(text) => format!("text {text:?}"),
        StreamEvent::Reasoning(text) => format!("reasoning {text:?}"),
        StreamEvent::ReasoningSignature(signature) => format!("signature {signature:?}"),
        StreamEvent::Refusal(text) => format!("refusal {text:?}"),
        StreamEvent::ToolCall(call) => {
            let signature =
                call.signature.as_deref().map(|s| format!(" signed {s}")).unwrap_or_default();
            format!("tool_call {} {} {}{signature}", call.id, call.name, call.arguments)
        }
        StreamEvent::Usage(usage) => format!(
            "usage in={} out={} reasoning={} cached={}",
            usage.input_tokens,
            usage.output_tokens,
            usage.reasoning_tokens,
            usage.cached_input_tokens
        ),
        StreamEvent::Notice(notice) => format!("notice {notice:?}"),
        StreamEvent::Finish(reason) => format!("finish {}", reason.code()),
    }
}

#[track_caller]
fn check(wire: Wire, input: &str, expect: Expect) {
    let whole = run(wire, input.as_bytes(), usize::MAX);
    for piece in [1, 2, 5, 13] {
        assert_eq!(run(wire, input.as_bytes(), piece), whole, "{piece}-byte chunks differ");
    }
    expect.assert_eq(&whole);
}

/// `data: {chunk}` lines for OpenAI-compatible chunks whose first choice has `delta` and
/// `finish_reason`.
fn oa(deltas: &[(&str, &str)]) -> String {
    deltas
        .iter()
        .map(|(delta, finish)| {
            format!(
                "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
            )
        })
        .collect()
}

const OA_USAGE: &str = "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":14,\"completion_tokens\":30,\"total_tokens\":44,\"completion_tokens_details\":{\"reasoning_tokens\":3},\"prompt_tokens_details\":{\"cached_tokens\":8}}}\n\ndata: [DONE]\n\n";

#[test]
fn openai_text_with_usage_trailer() {
    let input = oa(&[
        (r#"{"role":"assistant","content":""}"#, "null"),
        (r#"{"content":"It's"}"#, "null"),
        (r#"{"content":" sunny."}"#, "null"),
        ("{}", "\"stop\""),
    ]) + OA_USAGE;
    check(
        Wire::OpenAiCompatible,
        &input,
        expect![[r#"
            text "It's"
            text " sunny."
            usage in=14 out=30 reasoning=3 cached=8
            finish stop
        "#]],
    );
}

#[test]
fn openai_parallel_tool_calls_assembled_by_index() {
    let input = oa(&[
        (r#"{"role":"assistant","content":null}"#, "null"),
        (
            r#"{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"weather","arguments":""}}]}"#,
            "null",
        ),
        (r#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]}"#, "null"),
        (r#"{"tool_calls":[{"index":0,"function":{"arguments":"ty\": \"Edinb"}}]}"#, "null"),
        (
            r#"{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"stock","arguments":"{\"ti"}}]}"#,
            "null",
        ),
        (r#"{"tool_calls":[{"index":0,"function":{"arguments":"urgh\"}"}}]}"#, "null"),
        (r#"{"tool_calls":[{"index":1,"function":{"arguments":"cker\": \"AAPL\"}"}}]}"#, "null"),
        ("{}", "\"tool_calls\""),
    ]) + "data: [DONE]\n\n";
    check(
        Wire::OpenAiCompatible,
        &input,
        expect![[r#"
            tool_call call_a weather {"city":"Edinburgh"}
            tool_call call_b stock {"ticker":"AAPL"}
            finish tool_calls
        "#]],
    );
}

#[test]
fn openai_reasoning_content_and_openrouter_reasoning() {
    let input = oa(&[
        (r#"{"role":"assistant","reasoning_content":"Think"}"#, "null"),
        (r#"{"reasoning":" more."}"#, "null"),
        (r#"{"content":"Answer."}"#, "null"),
        ("{}", "\"stop\""),
    ]) + "data: [DONE]\n\n";
    check(
        Wire::OpenAiCompatible,
        &input,
        expect![[r#"
            reasoning "Think"
            reasoning " more."
            text "Answer."
            finish stop
        "#]],
    );
}

#[test]
fn openai_refusal_ends_as_content_filter() {
    let input = oa(&[
        (r#"{"role":"assistant","content":null,"refusal":""}"#, "null"),
        (r#"{"refusal":"I can't"}"#, "null"),
        (r#"{"refusal":" help."}"#, "null"),
        ("{}", "\"stop\""),
    ]) + "data: [DONE]\n\n";
    check(
        Wire::OpenAiCompatible,
        &input,
        expect![[r#"
            refusal "I can't"
            refusal " help."
            finish content_filter
        "#]],
    );
}

#[test]
fn openai_cut_off_tool_call_is_a_notice_not_a_call() {
    let input = oa(&[
        (
            r#"{"tool_calls":[{"index":0,"id":"call_a","function":{"name":"make_file","arguments":"{\"lines\": [\"a"}}]}"#,
            "null",
        ),
        ("{}", "\"length\""),
    ]) + "data: [DONE]\n\n";
    check(
        Wire::OpenAiCompatible,
        &input,
        expect![[r#"
            notice ToolCallTruncated { name: "make_file" }
            finish length
        "#]],
    );
}

#[test]
fn openai_tolerates_servers_without_done_ids_or_indexes() {
    // Ollama-style: whole calls without an index, "stop" after tool calls, no [DONE], and
    // choices other than the first ignored.
    let input = oa(&[
        (r#"{"tool_calls":[{"id":"t1","function":{"name":"a","arguments":"{}"}}]}"#, "null"),
        (r#"{"tool_calls":[{"id":"t2","function":{"name":"b","arguments":""}}]}"#, "null"),
        ("{}", "\"stop\""),
    ]) + "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"other choice\"}}]}\n\n";
    check(
        Wire::OpenAiCompatible,
        &input,
        expect![[r#"
            tool_call t1 a {}
            tool_call t2 b {}
            finish tool_calls
        "#]],
    );
}

#[test]
fn openai_failures_are_classified() {
    let cases = [
        // The connection ended before any finish reason.
        oa(&[(r#"{"content":"Hel"}"#, "null")]),
        // OpenRouter's error chunk mid-stream.
        oa(&[(r#"{"content":"Hel"}"#, "null")])
            + "data: {\"error\":{\"message\":\"Rate limit exceeded\",\"code\":429}}\n\n",
        // Broken JSON.
        "data: {\"choices\":[{\"delta\":{\"content\":\"x\"\n\n".to_owned(),
        // Arguments that never became JSON although the model said it was done.
        oa(&[
            (
                r#"{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{\"a\":"}}]}"#,
                "null",
            ),
            ("{}", "\"tool_calls\""),
        ]),
        // A bare error body written into the stream.
        "{\"error\": {\"message\": \"upstream overloaded\", \"type\": \"server_error\"}}\n"
            .to_owned(),
    ];
    let rendered: String = cases
        .iter()
        .map(|input| run(Wire::OpenAiCompatible, input.as_bytes(), 3) + "--\n")
        .collect();
    expect![[r#"
        text "Hel"
        error malformed: the provider sent a malformed answer: the stream ended before the answer finished
        --
        text "Hel"
        error rate_limit: rate limited by the provider
        --
        error malformed: the provider sent a malformed answer: a chat completion chunk is not the expected JSON (EOF while parsing an object at line 1 column 35)
        --
        tool_call c f "{\"a\":"
        finish tool_calls
        --
        error server: the provider failed: upstream overloaded
        --
    "#]]
    .assert_eq(&rendered);
}

fn an(events: &[(&str, &str)]) -> String {
    events.iter().map(|(name, data)| format!("event: {name}\ndata: {data}\n\n")).collect()
}

const AN_START: (&str, &str) = (
    "message_start",
    r#"{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"model":"claude","usage":{"input_tokens":11,"output_tokens":1,"cache_read_input_tokens":4}}}"#,
);

#[test]
fn anthropic_text_skips_pings_and_unknown_blocks() {
    let input = an(&[
        AN_START,
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"fallback","from":{"model":"a"},"to":{"model":"b"}}}"#,
        ),
        ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
        ("ping", r#"{"type": "ping"}"#),
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hello"}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"citations_delta","citation":{}}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":" there!"}}"#,
        ),
        ("content_block_stop", r#"{"type":"content_block_stop","index":1}"#),
        ("some_future_event", r#"{"type":"some_future_event"}"#),
        (
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":6}}"#,
        ),
        ("message_stop", r#"{"type":"message_stop"}"#),
    ]);
    check(
        Wire::Anthropic,
        &input,
        expect![[r#"
            text "Hello"
            text " there!"
            usage in=11 out=6 reasoning=0 cached=4
            finish stop
        "#]],
    );
}

#[test]
fn anthropic_thinking_then_tool_use_from_partial_json() {
    let input = an(&[
        AN_START,
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Paris weather."}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}"#,
        ),
        ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"locati"}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"on\": \"Paris\"}"}}"#,
        ),
        ("content_block_stop", r#"{"type":"content_block_stop","index":1}"#),
        (
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":65}}"#,
        ),
        ("message_stop", r#"{"type":"message_stop"}"#),
    ]);
    check(
        Wire::Anthropic,
        &input,
        expect![[r#"
            reasoning "Paris weather."
            signature "EqQB"
            tool_call toolu_1 get_weather {"location":"Paris"}
            usage in=11 out=65 reasoning=0 cached=4
            finish tool_calls
        "#]],
    );
}

#[test]
fn anthropic_tool_input_cut_off_by_max_tokens_is_never_a_call() {
    let input = an(&[
        AN_START,
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Saving it."}}"#,
        ),
        ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_2","name":"make_file","input":{}}}"#,
        ),
        (
            "content_block_delta",
            r##"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"filename\": \"taxes.txt\", \"lines\": [\n\"# GUIDE"}}"##,
        ),
        (
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":124}}"#,
        ),
        ("message_stop", r#"{"type":"message_stop" }"#),
    ]);
    check(
        Wire::Anthropic,
        &input,
        expect![[r#"
            text "Saving it."
            notice ToolCallTruncated { name: "make_file" }
            usage in=11 out=124 reasoning=0 cached=4
            finish length
        "#]],
    );
}

#[test]
fn anthropic_refusal_and_failures() {
    let refusal = an(&[
        AN_START,
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        ),
        ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
        (
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":"refusal","stop_details":{"type":"refusal"}},"usage":{"output_tokens":0}}"#,
        ),
        ("message_stop", r#"{"type":"message_stop"}"#),
    ]);
    let overloaded = an(&[
        AN_START,
        ("error", r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
    ]);
    let rate = an(&[
        AN_START,
        ("error", r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#),
    ]);
    let truncated = an(&[
        AN_START,
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
        ),
    ]);
    let broken = "event: message_start\ndata: {\"type\": \"message_sta\n\n".to_owned();
    let rendered: String = [refusal, overloaded, rate, truncated, broken]
        .iter()
        .map(|input| run(Wire::Anthropic, input.as_bytes(), 4) + "--\n")
        .collect();
    expect![[r#"
        usage in=11 out=0 reasoning=0 cached=4
        finish content_filter
        --
        error server: the provider failed: Overloaded
        --
        error rate_limit: rate limited by the provider
        --
        text "Hi"
        error malformed: the provider sent a malformed answer: the stream ended before the answer finished
        --
        error malformed: the provider sent a malformed answer: a Messages stream event is not the expected JSON (EOF while parsing a string at line 1 column 21)
        --
    "#]]
    .assert_eq(&rendered);
}

fn ge(chunks: &[&str]) -> String {
    chunks.iter().map(|chunk| format!("data: {chunk}\n\n")).collect()
}

#[test]
fn gemini_text_in_chunks_with_usage() {
    let input = ge(&[
        r#"{"candidates": [{"content": {"parts": [{"text": "The"}],"role": "model"}}],"usageMetadata": {"promptTokenCount": 7,"totalTokenCount": 7}}"#,
        r#"{"candidates": [{"content": {"parts": [{"text": " capital is **Cheyenne**.\n"}],"role": "model"},"finishReason": "STOP"}],"usageMetadata": {"promptTokenCount": 7,"candidatesTokenCount": 10,"totalTokenCount": 17}}"#,
    ]);
    check(
        Wire::Gemini,
        &input,
        expect![[r#"
            text "The"
            text " capital is **Cheyenne**.\n"
            usage in=7 out=10 reasoning=0 cached=0
            finish stop
        "#]],
    );
}

#[test]
fn gemini_thoughts_and_a_signed_function_call() {
    let input = ge(&[
        r#"{"candidates": [{"content": {"parts": [{"text": "**Planning**\n","thought": true}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 38,"thoughtsTokenCount": 68}}"#,
        r#"{"candidates": [{"content": {"parts": [{"functionCall": {"name": "now","args": {}},"thoughtSignature": "CiIBVKhc"}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 38,"candidatesTokenCount": 6,"thoughtsTokenCount": 168}}"#,
        r#"{"candidates": [{"content": {"parts": [{"executableCode": {"language": "PYTHON","code": "print(1)"}}]},"index": 0}]}"#,
    ]);
    check(
        Wire::Gemini,
        &input,
        expect![[r#"
            reasoning "**Planning**\n"
            tool_call call_0 now {} signed CiIBVKhc
            usage in=38 out=6 reasoning=168 cached=0
            finish tool_calls
        "#]],
    );
}

#[test]
fn gemini_blocks_and_safety_stops_are_content_filter() {
    let blocked = ge(&[r#"{"promptFeedback": {"blockReason": "SAFETY","safetyRatings": []}}"#]);
    let safety = ge(&[
        r#"{"candidates": [{"content": {"parts": [{"text": "Once"}],"role": "model"}}]}"#,
        r#"{"candidates": [{"content": {"parts": [{"text": "<redacted>"}],"role": "model"},"finishReason": "SAFETY"}]}"#,
        r#"{"candidates": [{"content": {"parts": [],"role": "model"},"finishReason": "STOP"}]}"#,
    ]);
    let rendered = run(Wire::Gemini, blocked.as_bytes(), 3)
        + "--\n"
        + &run(Wire::Gemini, safety.as_bytes(), 3);
    expect![[r#"
        finish content_filter
        --
        text "Once"
        text "<redacted>"
        finish content_filter
    "#]]
    .assert_eq(&rendered);
}

#[test]
fn gemini_error_object_mid_stream_ends_with_that_error() {
    let input = ge(&[
        r#"{"candidates": [{"content": {"parts": [{"text": "First "}]},"finishReason": "STOP","index": 0}]}"#,
        r#"{"candidates": [{"content": {"parts": [{"text": "Second "}]},"finishReason": "STOP","index": 0}]}"#,
    ]) + "{\n  \"error\": {\n    \"code\": 499,\n    \"message\": \"The operation was cancelled.\",\n    \"status\": \"CANCELLED\"\n  }\n}\n";
    check(
        Wire::Gemini,
        &input,
        expect![[r#"
            text "First "
            text "Second "
            error server: the provider failed (HTTP 499): The operation was cancelled.
        "#]],
    );
}

#[test]
fn gemini_failures_are_classified() {
    let cases = [
        ge(&[r#"{"this": [{"is": {"not": [{"a": "valid"}]}, "response": {}}]}"#]),
        ge(&[r#"{"candidates": [{"content": {"parts": [{"text": "Hi"}]}}]}"#]),
        ge(&[
            r#"{"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}}"#,
        ]),
        ge(&[
            r#"{"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": [1]}}]}}]}"#,
        ]),
        ge(&[r#"{"candidates": [{"finishReason": "MALFORMED_FUNCTION_CALL"}]}"#]),
        "data: {\"candidates\": [\n\n".to_owned(),
    ];
    let rendered: String =
        cases.iter().map(|input| run(Wire::Gemini, input.as_bytes(), 6) + "--\n").collect();
    expect![[r#"
        error malformed: the provider sent a malformed answer: a Gemini stream event has an unexpected shape
        --
        text "Hi"
        error malformed: the provider sent a malformed answer: the stream ended before the answer finished
        --
        error rate_limit: rate limited by the provider
        --
        tool_call call_0 f "[1]"
        error malformed: the provider sent a malformed answer: the stream ended before the answer finished
        --
        error malformed: the provider sent a malformed answer: the model made a malformed function call
        --
        error malformed: the provider sent a malformed answer: a Gemini stream event is not the expected JSON (EOF while parsing a list at line 1 column 16)
        --
    "#]]
    .assert_eq(&rendered);
}

#[test]
fn gemini_multi_byte_text_split_anywhere() {
    let input = ge(&[
        r#"{ "candidates": [ { "content": { "parts": [ { "text": "秋风瑟瑟，叶落纷纷，\n" } ], "role": "model" } } ] }"#,
        r#"{ "candidates": [ { "content": { "parts": [ { "text": "西风残照 🍂" } ], "role": "model" }, "finishReason": "STOP" } ] }"#,
    ]);
    check(
        Wire::Gemini,
        &input,
        expect![[r#"
            text "秋风瑟瑟，叶落纷纷，\n"
            text "西风残照 🍂"
            finish stop
        "#]],
    );
}

/// A tiny deterministic generator, so a failing case reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap()).unwrap()
    }
}

#[test]
fn mutated_streams_never_panic() {
    // The cases above, cut, spliced, byte-flipped and fed in random chunks: every outcome is
    // events or a classified error.
    let seeds = [
        oa(&[
            (r#"{"content":"Hi"}"#, "null"),
            (
                r#"{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{\"a\":1}"}}]}"#,
                "null",
            ),
            ("{}", "\"tool_calls\""),
        ]) + OA_USAGE,
        an(&[
            AN_START,
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"a\":1}"}}"#,
            ),
            ("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"}}"#),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ]),
        ge(&[
            r#"{"candidates": [{"content": {"parts": [{"text": "秋", "thought": true}, {"functionCall": {"name": "f", "args": {"a": 1}}}]}, "finishReason": "STOP"}]}"#,
        ]) + "{\"error\": {\"code\": 500}}\n",
    ];
    let noise: &[&[u8]] = &[
        b"\n",
        b"\r",
        b"\r\n",
        b":",
        b"data: ",
        b"event: error\n",
        b"{",
        b"}",
        b"\"",
        b"\\",
        b"\xff",
        b"\xe7\xa7",
        b"[DONE]",
        b"\0",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut outcomes = 0;
    for round in 0..3000 {
        let seed = &seeds[round % seeds.len()];
        let mut bytes = seed.as_bytes().to_vec();
        for _ in 0..=rng.below(4) {
            let at = rng.below(bytes.len() + 1);
            match rng.below(3) {
                0 => bytes.truncate(at),
                1 => {
                    let piece = noise[rng.below(noise.len())];
                    bytes.splice(at..at, piece.iter().copied());
                }
                _ => {
                    if let Some(byte) = bytes.get_mut(at) {
                        *byte ^= 1 << rng.below(8);
                    }
                }
            }
        }
        for wire in [Wire::OpenAiCompatible, Wire::Anthropic, Wire::Gemini] {
            let piece = 1 + rng.below(40);
            outcomes += run(wire, &bytes, piece).lines().count();
        }
    }
    assert!(outcomes > 0);
}
