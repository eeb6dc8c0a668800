//! Fuzzes the HTML to Markdown converter and the paginator; the body is
//! `tomori_net::fuzz::html_to_markdown_pages`, which the crate's tests also run over the
//! committed corpus.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tomori_net::fuzz::html_to_markdown_pages(data));
