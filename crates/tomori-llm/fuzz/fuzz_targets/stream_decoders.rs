//! Fuzzes the three stream decoders; the body is `tomori_llm::fuzz::stream_decoders`, which the
//! crate's tests also run over the committed corpus.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tomori_llm::fuzz::stream_decoders(data));
