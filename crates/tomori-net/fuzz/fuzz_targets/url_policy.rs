//! Fuzzes the URL check; the body is `tomori_net::fuzz::url_policy`, which the crate's tests also
//! run over the committed corpus.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tomori_net::fuzz::url_policy(data));
