//! The PDF reader as a child process: the fuzz corpus replayed through it (each file gives text
//! or a reason, and this process goes on), a reader that overruns its deadline is killed, one
//! that cannot start is reported, and the reader gets no environment.

use std::path::Path;
use std::time::Duration;

use tomori_tools::{PdfError, PdfExtractor};

use crate::support::pdf_reader;

#[tokio::test]
async fn the_fuzz_corpus_gives_text_or_a_reason_and_never_takes_this_process_down() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/pdf_extract");
    let reader = pdf_reader();
    let mut replayed = 0;
    let mut read = 0;
    for entry in std::fs::read_dir(&dir).expect("the committed corpus") {
        let path = entry.expect("a corpus entry").path();
        let bytes = std::fs::read(&path).expect("a corpus file");
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        match reader.extract(bytes).await {
            // Inputs on which the fuzzer saw the parser panic: caught, one line for the user.
            Err(PdfError::Unreadable(reason)) if name.starts_with("panic-") => {
                assert_eq!(reason, "the PDF parser failed on this file", "{name}");
            }
            Ok(_) => read += 1,
            Err(PdfError::Unreadable(_) | PdfError::Stopped) => {}
            Err(other) => panic!("{name}: {other:?}"),
        }
        replayed += 1;
    }
    assert!(replayed >= 3 && read >= 1, "{replayed} files replayed, {read} read");
}

#[tokio::test]
async fn a_reader_past_its_deadline_is_killed_and_its_slot_comes_back() {
    // A program that never answers (the appended limits are the shell's positional arguments).
    let stuck = ["-c", "exec sleep 600", "sh"].map(str::to_owned).to_vec();
    let reader = PdfExtractor::new("/bin/sh", stuck).with_timeout(Duration::from_millis(300));
    // More calls than slots: a killed reader gives its slot back.
    for _ in 0..3 {
        assert_eq!(reader.extract(b"%PDF-1.4".to_vec()).await, Err(PdfError::TimedOut));
    }
}

#[tokio::test]
async fn a_reader_that_cannot_start_is_reported() {
    let reader = PdfExtractor::new("/nonexistent/tomori", Vec::new());
    assert_eq!(reader.extract(b"%PDF-1.4".to_vec()).await, Err(PdfError::Unavailable));
}

#[tokio::test]
async fn the_reader_gets_no_environment() {
    // The shell prints what it was given; a reader would inherit the same.
    let script = ["-c", "env", "sh"].map(str::to_owned).to_vec();
    let text = PdfExtractor::new("/bin/sh", script).extract(Vec::new()).await.expect("output");
    let names: Vec<&str> = text.lines().filter_map(|l| l.split_once('=').map(|(k, _)| k)).collect();
    assert!(
        names.iter().all(|name| ["PWD", "OLDPWD", "SHLVL", "_"].contains(name)),
        "inherited: {names:?}"
    );
}
