//! The fuzz target's body (`crates/tomori-tools/fuzz`), compiled for the fuzzer (`--cfg
//! fuzzing`) and for tests. The committed corpus is replayed through the reader process, which
//! runs the same parse (`tests/it/pdf.rs`).

use crate::pdf::{PDF_OUTPUT_BYTES, extract_text};

/// The reader's parse: any bytes give text within the output cap or a reason. (The parser can
/// crash outright on hostile files, which is why the bot runs it in a confined child; a run of
/// this target counts those crashes rather than stopping at the first.)
pub fn pdf_extract(data: &[u8]) {
    if let Ok(text) = extract_text(data) {
        assert!(text.len() <= PDF_OUTPUT_BYTES, "{} bytes of text", text.len());
    }
}
