//! Fuzzes the card parser; the body is `tomori_core::fuzz::card_parse`, which the crate's tests
//! also run over the committed corpus.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tomori_core::fuzz::card_parse(data));
