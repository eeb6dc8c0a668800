//! Fuzzes the PDF reader's parse; the body is `tomori_tools::fuzz::pdf_extract`, and the crate's
//! tests replay the committed corpus through the confined reader process.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tomori_tools::fuzz::pdf_extract(data));
