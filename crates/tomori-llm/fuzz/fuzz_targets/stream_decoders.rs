//! Fuzzes the three stream decoders: any bytes, cut into chunks at sizes taken from the input,
//! never panic, and a tool call only ever comes out with a JSON object as its arguments.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tomori_llm::{StreamDecoder, StreamEvent, Wire};

fuzz_target!(|data: &[u8]| {
    let Some((&piece, body)) = data.split_first() else {
        return;
    };
    let piece = usize::from(piece % 64) + 1;
    for wire in [Wire::OpenAiCompatible, Wire::Anthropic, Wire::Gemini] {
        let mut decoder = StreamDecoder::new(wire, 4096);
        let mut events = Vec::new();
        let mut failed = false;
        for chunk in body.chunks(piece) {
            if decoder.push(chunk, &mut events).is_err() {
                failed = true;
                break;
            }
        }
        if !failed {
            let _ = decoder.finish(&mut events);
        }
        for event in &events {
            if let StreamEvent::ToolCall(call) = event {
                assert!(call.arguments.is_object(), "a tool call without object arguments");
            }
        }
    }
});
