//! Fuzzes the HTML to Markdown converter and the paginator: any bytes, never a panic, and pages
//! never split a character.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tomori_net::{Url, html_to_markdown, paginate};

fuzz_target!(|data: &[u8]| {
    let html = String::from_utf8_lossy(data);
    let base = Url::parse("https://example.com/a/b").ok();
    let markdown = html_to_markdown(&html, base.as_ref());
    let offset = data.first().map_or(0, |b| usize::from(*b));
    let page = paginate(&markdown, offset, 64);
    assert!(page.text.chars().count() <= 64);
});
