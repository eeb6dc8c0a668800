//! The fuzz target's body (`crates/tomori-llm/fuzz`), compiled for the fuzzer (`--cfg fuzzing`)
//! and for tests, which replay the committed corpus through it on a stable toolchain.

use crate::decode::StreamDecoder;
use crate::endpoint::Wire;
use crate::event::StreamEvent;

/// The three stream decoders: any bytes, cut into chunks at sizes taken from the input, never
/// panic, and a tool call only ever comes out with a JSON object as its arguments, or with the
/// text the model sent when that text is not one (answered as an error, never run).
pub fn stream_decoders(data: &[u8]) {
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
                let usable = call.arguments.is_object();
                assert_eq!(call.arguments_problem().is_none(), usable, "{call:?}");
                assert!(call.echoed_arguments().is_object(), "{call:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn the_committed_stream_corpus_replays_without_a_failure() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/stream_decoders");
        let mut replayed = 0;
        for entry in std::fs::read_dir(&dir).expect("the committed corpus") {
            let path = entry.expect("a corpus entry").path();
            let bytes = std::fs::read(&path).expect("a corpus file");
            let replay = std::panic::catch_unwind(|| super::stream_decoders(&bytes));
            assert!(replay.is_ok(), "{} fails the stream_decoders target", path.display());
            replayed += 1;
        }
        assert!(replayed > 0, "{} holds no corpus", dir.display());
    }
}
