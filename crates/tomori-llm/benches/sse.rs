//! Stream decoding throughput: the SSE parser plus each wire format's decoder, on streams shaped
//! like real ones (one small text delta per event, a tool call split into pieces, a usage
//! trailer), fed in network-sized chunks. Reported in bytes per second.
//!
//! Run with `cargo bench -p tomori-llm --bench sse` (`-- --quick` for a short run). The claim
//! to check (issue 4) is that parsing costs under 1% of a stream's wall time at realistic token
//! rates: a fast provider sends about 200 tokens a second, which is well under 100 KB/s of SSE,
//! so anything above 10 MB/s leaves the parser below 1%.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tomori_llm::{SseParser, StreamDecoder, Wire};

const DELTAS: usize = 2000;
const WORDS: &[&str] =
    &[" the", " sky", " is", " blue", " because", " 秋风", " light", ",", " and", "!\\n"];

fn openai_stream() -> Vec<u8> {
    let mut out = String::new();
    for i in 0..DELTAS {
        let word = WORDS[i % WORDS.len()];
        out.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-ABfw\",\"object\":\"chat.completion.chunk\",\"created\":1727346171,\"model\":\"gpt-4o-2024-08-06\",\"system_fingerprint\":\"fp_7568d46099\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{word}\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
        ));
    }
    out.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"weather\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n");
    for piece in ["{\\\"ci", "ty\\\": \\\"Edin", "burgh\\\"}"] {
        out.push_str(&format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":0,\"function\":{{\"arguments\":\"{piece}\"}}}}]}},\"finish_reason\":null}}]}}\n\n"));
    }
    out.push_str(
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
    );
    out.push_str("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":14,\"completion_tokens\":2000,\"total_tokens\":2014}}\n\ndata: [DONE]\n\n");
    out.into_bytes()
}

fn anthropic_stream() -> Vec<u8> {
    let mut out = String::from(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4\",\"usage\":{\"input_tokens\":377,\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    );
    for i in 0..DELTAS {
        let word = WORDS[i % WORDS.len()];
        out.push_str(&format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{word}\"}}}}\n\n"
        ));
    }
    out.push_str("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2000}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    out.into_bytes()
}

fn gemini_stream() -> Vec<u8> {
    let mut out = String::new();
    for i in 0..DELTAS {
        let word = WORDS[i % WORDS.len()];
        out.push_str(&format!(
            "data: {{\"candidates\": [{{\"content\": {{\"parts\": [{{\"text\": \"{word}\"}}],\"role\": \"model\"}},\"index\": 0}}],\"usageMetadata\": {{\"promptTokenCount\": 7,\"totalTokenCount\": 7}},\"modelVersion\": \"gemini-2.5-flash\"}}\r\n\r\n"
        ));
    }
    out.push_str("data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \".\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 7,\"candidatesTokenCount\": 2000,\"totalTokenCount\": 2007}}\r\n\r\n");
    out.into_bytes()
}

/// Decodes `body` in `piece`-byte chunks and returns the number of events.
fn decode(wire: Wire, body: &[u8], piece: usize) -> usize {
    let mut decoder = StreamDecoder::new(wire, 1 << 20);
    let mut events = Vec::new();
    for chunk in body.chunks(piece) {
        decoder.push(chunk, &mut events).expect("bench stream decodes");
    }
    decoder.finish(&mut events).expect("bench stream finishes");
    events.len()
}

fn sse_benches(c: &mut Criterion) {
    let streams = [
        ("openai", Wire::OpenAiCompatible, openai_stream()),
        ("anthropic", Wire::Anthropic, anthropic_stream()),
        ("gemini", Wire::Gemini, gemini_stream()),
    ];
    let mut group = c.benchmark_group("decode");
    for (name, wire, body) in &streams {
        assert!(decode(*wire, body, 1400) > DELTAS);
        group.throughput(Throughput::Bytes(u64::try_from(body.len()).expect("small")));
        group.bench_function(format!("{name} in 1400-byte chunks"), |b| {
            b.iter(|| black_box(decode(*wire, black_box(body), 1400)));
        });
    }
    group.finish();

    let mut group = c.benchmark_group("sse only");
    let (_, _, body) = &streams[0];
    group.throughput(Throughput::Bytes(u64::try_from(body.len()).expect("small")));
    group.bench_function("openai stream in 1400-byte chunks", |b| {
        b.iter(|| {
            let mut parser = SseParser::new(1 << 20);
            let mut items = Vec::new();
            for chunk in black_box(body).chunks(1400) {
                parser.push(chunk, &mut items).expect("bench stream parses");
            }
            parser.finish(&mut items).expect("bench stream finishes");
            black_box(items.len())
        });
    });
    group.bench_function("openai stream in 1-byte chunks", |b| {
        b.iter(|| {
            let mut parser = SseParser::new(1 << 20);
            let mut items = Vec::new();
            for chunk in black_box(body).chunks(1) {
                parser.push(chunk, &mut items).expect("bench stream parses");
            }
            parser.finish(&mut items).expect("bench stream finishes");
            black_box(items.len())
        });
    });
    group.finish();
}

criterion_group!(benches, sse_benches);
criterion_main!(benches);
