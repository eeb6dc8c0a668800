//! Where code is in a text. Output rules (labels, mentions, emoji, macros, sentence cuts) never
//! change or cut what the model wrote as code.
//!
//! The rules follow what Discord renders: a run of three or more backticks opens a fenced block
//! anywhere in a line, and the next such run closes it (a block never closed runs to the end of
//! the text); outside blocks, a run of one or two backticks opens inline code that the next run
//! of the same length on the same line closes (an unmatched run is a literal backtick).

use std::ops::Range;

/// Byte ranges of code in `text`, in order and disjoint; each covers its backticks.
pub fn code_spans(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut idx = 0;
    while let Some(offset) = bytes.get(idx..).and_then(|rest| rest.iter().position(|b| *b == b'`'))
    {
        let start = idx + offset;
        let run = backtick_run(bytes, start);
        if run >= 3 {
            let end = find_run(bytes, start + run, |len| len >= 3, false)
                .map_or(bytes.len(), |(at, len)| at + len);
            spans.push(start..end);
            idx = end;
            continue;
        }
        match find_run(bytes, start + run, |len| len == run, true) {
            Some((at, len)) => {
                spans.push(start..at + len);
                idx = at + len;
            }
            None => idx = start + run,
        }
    }
    spans
}

/// Whether byte position `pos` lies inside one of `spans` (as [`code_spans`] returns them).
pub fn in_code(spans: &[Range<usize>], pos: usize) -> bool {
    // Spans are sorted and disjoint: the last one starting at or before `pos` is the candidate.
    let idx = spans.partition_point(|span| span.start <= pos);
    idx.checked_sub(1).and_then(|i| spans.get(i)).is_some_and(|span| pos < span.end)
}

/// Length of the run of backticks starting at `at`.
pub(crate) fn backtick_run(bytes: &[u8], at: usize) -> usize {
    bytes.get(at..).map_or(0, |rest| rest.iter().take_while(|b| **b == b'`').count())
}

/// The first backtick run from `from` whose length satisfies `wanted`; with `same_line`, the
/// search stops at a line break.
fn find_run(
    bytes: &[u8],
    from: usize,
    wanted: impl Fn(usize) -> bool,
    same_line: bool,
) -> Option<(usize, usize)> {
    let mut idx = from;
    while let Some(&b) = bytes.get(idx) {
        if same_line && b == b'\n' {
            return None;
        }
        if b == b'`' {
            let len = backtick_run(bytes, idx);
            if wanted(len) {
                return Some((idx, len));
            }
            idx += len;
        } else {
            idx += 1;
        }
    }
    None
}

/// Applies `f` to each stretch of `text` outside code and copies code unchanged.
pub(crate) fn map_outside_code(text: &str, mut f: impl FnMut(&str, &mut String)) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut at = 0;
    for span in code_spans(text) {
        f(text.get(at..span.start).unwrap_or_default(), &mut out);
        out.push_str(text.get(span.clone()).unwrap_or_default());
        at = span.end;
    }
    f(text.get(at..).unwrap_or_default(), &mut out);
    out
}
