//! The PDF reader for tomori-discord's tests, the same code as `tomori extract-pdf`: the tests
//! need a program of their own to run as the child, and cargo tells them where this one is.

fn main() -> std::process::ExitCode {
    tomori_tools::pdf::run_child(std::env::args().skip(1))
}
