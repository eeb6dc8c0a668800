//! The SSE parser as a table: raw stream in, dispatched items out, the same whatever the chunking.

use expect_test::{Expect, expect};

use super::{SseItem, SseParser};

fn render(result: Result<Vec<SseItem>, crate::LlmError>) -> String {
    match result {
        Err(error) => format!("error {}: {error}\n", error.code()),
        Ok(items) => items
            .iter()
            .map(|item| match item {
                SseItem::Event(event) => {
                    format!(
                        "event {:?} data {:?}\n",
                        event.event.as_deref().unwrap_or("-"),
                        event.data
                    )
                }
                SseItem::Stray(text) => format!("stray {text:?}\n"),
            })
            .collect(),
    }
}

fn parse(input: &[u8], piece: usize, cap: usize) -> Result<Vec<SseItem>, crate::LlmError> {
    let mut parser = SseParser::new(cap);
    let mut out = Vec::new();
    for chunk in input.chunks(piece.max(1)) {
        parser.push(chunk, &mut out)?;
    }
    parser.finish(&mut out)?;
    Ok(out)
}

#[track_caller]
fn check(input: &str, expect: Expect) {
    let whole = render(parse(input.as_bytes(), usize::MAX, 1024));
    for piece in [1, 2, 3, 7] {
        let split = render(parse(input.as_bytes(), piece, 1024));
        assert_eq!(split, whole, "chunks of {piece} bytes give a different result");
    }
    expect.assert_eq(&whole);
}

#[test]
fn dispatches_events_on_blank_lines() {
    check(
        "data: one\n\nevent: ping\ndata: {\"a\":1}\n\n",
        expect![[r#"
            event "-" data "one"
            event "ping" data "{\"a\":1}"
        "#]],
    );
}

#[test]
fn joins_multi_line_data_and_strips_one_leading_space() {
    check(
        "data:first\ndata:  second\n\n",
        expect![[r#"
            event "-" data "first\n second"
        "#]],
    );
}

#[test]
fn accepts_crlf_and_lone_cr_line_ends() {
    check(
        "data: a\r\n\r\ndata: b\r\rdata: c\n\n",
        expect![[r#"
            event "-" data "a"
            event "-" data "b"
            event "-" data "c"
        "#]],
    );
}

#[test]
fn skips_comments_ids_retries_and_events_without_data() {
    check(
        ": OPENROUTER PROCESSING\n\nid: 7\nretry: 10\nevent: lonely\n\ndata: x\n\n",
        expect![[r#"
            event "-" data "x"
        "#]],
    );
}

#[test]
fn dispatches_a_last_event_without_a_blank_line() {
    check(
        "event: message_stop\ndata: {\"type\":\"message_stop\"}",
        expect![[r#"
            event "message_stop" data "{\"type\":\"message_stop\"}"
        "#]],
    );
}

#[test]
fn hands_on_lines_that_are_not_fields_as_stray_text() {
    check(
        "data: {\"t\":\"First \"}\n\n{\n  \"error\": {\n    \"code\": 499\n  }\n}\n",
        expect![[r#"
            event "-" data "{\"t\":\"First \"}"
            stray "{\n  \"error\": {\n    \"code\": 499\n  }\n}"
        "#]],
    );
}

#[test]
fn keeps_multi_byte_characters_split_across_chunks() {
    check(
        "data: 秋风瑟瑟，叶落纷纷 🍁\n\n",
        expect![[r#"
            event "-" data "秋风瑟瑟，叶落纷纷 🍁"
        "#]],
    );
}

#[test]
fn strips_a_leading_byte_order_mark() {
    check(
        "\u{feff}data: x\n\n",
        expect![[r#"
            event "-" data "x"
        "#]],
    );
}

#[test]
fn refuses_invalid_utf8_and_oversized_lines() {
    let bad = render(parse(b"data: \xff\xfe\n\n", usize::MAX, 1024));
    expect![[r#"
        error malformed: the provider sent a malformed answer: the event stream is not valid UTF-8
    "#]]
    .assert_eq(&bad);
    let endless = vec![b'a'; 5000];
    let big = render(parse(&endless, 100, 1024));
    expect![[r#"
        error too_large: the provider's answer passed the 1024-byte cap
    "#]]
    .assert_eq(&big);
    let many_lines = "data: 0123456789\n".repeat(100);
    let big_event = render(parse(many_lines.as_bytes(), 64, 1024));
    expect![[r#"
        error too_large: the provider's answer passed the 1024-byte cap
    "#]]
    .assert_eq(&big_event);
}
