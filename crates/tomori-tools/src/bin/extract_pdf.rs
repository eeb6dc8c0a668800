//! The PDF reader for tomori-tools' tests, the same code as `tomori extract-pdf`: the tests need a
//! program of their own to run as the child, and cargo tells them where this one is.

fn main() -> std::process::ExitCode {
    tomori_tools::pdf::run_child(std::env::args().skip(1))
}
