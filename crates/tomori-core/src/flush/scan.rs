//! The scan behind [`super::next_cut`]: boundaries, holds and the overflow cut.

use super::{Degree, LIMIT_CHARS};
use crate::output::code::{backtick_run, code_spans};

/// Words that a period follows without ending a sentence (compared in lower case, without the
/// final period). Initials, acronyms with inner periods ("U.S.", "e.g.") and list numbers are
/// recognised by their shape.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "etc", "inc", "ltd", "co",
    "corp", "no", "nos", "fig", "approx", "dept", "est", "ca", "cf", "al", "jan", "feb", "mar",
    "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mon", "tue", "wed", "thu",
    "fri", "sat", "sun", "vol", "pp", "ch", "ed", "gen", "gov", "sgt", "capt", "lt", "col",
];

/// Characters the boundary scan looks at one by one.
fn is_scanned(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '`' | '('
                | ')'
                | '（'
                | '）'
                | '['
                | ']'
                | '"'
                | '“'
                | '”'
                | '「'
                | '」'
                | '『'
                | '』'
                | '.'
                | '!'
                | '?'
                | '…'
                | '。'
                | '！'
                | '？'
        )
}

/// Characters that may close a sentence after its punctuation: `"Yes." Then`.
fn is_closer(c: char) -> bool {
    matches!(c, '"' | '\'' | '”' | '’' | ')' | '）' | '」' | '』' | '*' | '_' | '~')
}

/// Punctuation a model may put at the start of the next line that belongs to the line before.
fn is_carried(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | ',' | ';' | '…' | '。' | '！' | '？' | '、')
}

/// Open markers that hold a cut.
#[derive(Debug, Clone, Copy, Default)]
struct Holds {
    parens: usize,
    brackets: usize,
    straight_quote: bool,
    curly_quotes: usize,
    corner_quotes: usize,
}

impl Holds {
    fn clear(self) -> bool {
        self.parens == 0
            && self.brackets == 0
            && !self.straight_quote
            && self.curly_quotes == 0
            && self.corner_quotes == 0
    }

    fn apply(&mut self, c: char, before: Option<char>) {
        match c {
            // `:(` and `;(` are faces, not parentheses.
            '(' | '（' if !matches!(before, Some(':' | ';')) => self.parens += 1,
            ')' | '）' => self.parens = self.parens.saturating_sub(1),
            '[' => self.brackets += 1,
            ']' => self.brackets = self.brackets.saturating_sub(1),
            '"' => self.straight_quote = !self.straight_quote,
            '“' => self.curly_quotes += 1,
            '”' => self.curly_quotes = self.curly_quotes.saturating_sub(1),
            '「' | '『' => self.corner_quotes += 1,
            '」' | '』' => self.corner_quotes = self.corner_quotes.saturating_sub(1),
            _ => {}
        }
    }
}

fn starts_url(text: &str) -> bool {
    let bytes = text.as_bytes();
    ["https://", "http://"].iter().any(|scheme| {
        bytes.get(..scheme.len()).is_some_and(|head| head.eq_ignore_ascii_case(scheme.as_bytes()))
    })
}

/// Whether the period at `dot` ends a sentence, judging by the word before it (which starts at
/// `word_start`; `line_start` is where its line starts).
fn period_ends_sentence(text: &str, word_start: usize, dot: usize, line_start: usize) -> bool {
    let word = text.get(word_start..dot).unwrap_or_default();
    let first_on_line = text.get(line_start..word_start).is_some_and(|lead| lead.trim().is_empty());
    !is_abbreviation(word, first_on_line)
}

/// Whether a period after `word` (the text since the last space, without the period) belongs to
/// the word rather than ending a sentence: an abbreviation, an initial, an acronym with inner
/// periods, or a list number when the word is the first on its line.
pub(crate) fn is_abbreviation(word: &str, first_on_line: bool) -> bool {
    let word = word.trim_start_matches(['(', '"', '\'', '“', '‘', '[', '*', '_']);
    if word.is_empty() {
        return false;
    }
    let lower = word.to_lowercase();
    let initial = word.chars().count() == 1 && word.chars().all(char::is_alphabetic);
    // "U.S", "e.g", "Ph.D": letters in short groups joined by periods.
    let acronym = lower.contains('.')
        && lower
            .split('.')
            .all(|part| part.chars().count() <= 3 && part.chars().all(char::is_alphabetic));
    let list_number = first_on_line && word.chars().all(|c| c.is_ascii_digit());
    initial || acronym || list_number || ABBREVIATIONS.contains(&lower.as_str())
}

/// The earliest boundary the degree allows, when no hold is open (at `end`, holds do not
/// count), within the characters one message holds.
pub(super) fn first_boundary(text: &str, degree: Degree, end: bool) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut holds = Holds::default();
    let mut fence = false;
    let mut inline = 0;
    let mut url = false;
    let mut seen = 0_usize;
    let mut line_start = 0;
    let mut word_start = 0;
    let mut before: Option<char> = None;
    let mut idx = 0;
    while let Some(c) = text.get(idx..).and_then(|rest| rest.chars().next()) {
        seen += 1;
        if seen > LIMIT_CHARS {
            return None;
        }
        let next = idx + c.len_utf8();
        if c == '`' {
            let run = backtick_run(bytes, idx);
            if idx + run == text.len() && !end {
                return None;
            }
            seen += run - 1;
            if fence {
                if run >= 3 {
                    fence = false;
                    if let Some(cut) = after_block(text, idx + run, degree, holds, end) {
                        return cut;
                    }
                }
            } else if inline == run {
                inline = 0;
            } else if inline == 0 {
                if run >= 3 {
                    let before_block = text.get(..idx).unwrap_or_default();
                    let clear = end || holds.clear();
                    if degree != Degree::Whole && clear && !before_block.trim().is_empty() {
                        return Some(idx);
                    }
                    fence = true;
                } else {
                    inline = run;
                }
            }
            idx += run;
            before = Some('`');
            continue;
        }
        if fence || (inline > 0 && c != '\n') || !is_scanned(c) {
            // A stretch that changes nothing (code up to a backtick or line break, plain words)
            // is skipped whole; only where a URL may start matters.
            if !fence && inline == 0 && idx == word_start && (c == 'h' || c == 'H') {
                url = starts_url(text.get(idx..).unwrap_or_default());
            }
            let rest = text.get(next..).unwrap_or_default();
            let stop =
                if fence || inline > 0 { rest.find(['`', '\n']) } else { rest.find(is_scanned) };
            let skipped = rest.get(..stop.unwrap_or(rest.len())).unwrap_or_default();
            seen += skipped.chars().count();
            before = skipped.chars().next_back().or(Some(c));
            idx = next + skipped.len();
            continue;
        }
        if c.is_whitespace() {
            url = false;
            word_start = next;
        } else if idx == word_start && (c == 'h' || c == 'H') {
            url = starts_url(text.get(idx..).unwrap_or_default());
        }
        if c == '\n' {
            inline = 0;
            if let Some(cut) = line_break(text, idx, line_start, degree, holds, end) {
                return cut;
            }
            line_start = next;
        } else if !url {
            holds.apply(c, before);
            if degree == Degree::Sentences
                && let Some(cut) = sentence_end(text, idx, c, word_start, line_start, holds, end)
            {
                return cut;
            }
        }
        before = Some(c);
        idx = next;
    }
    None
}

/// A cut after a code block whose closing fence ends at `after_fence` (the rest of that line
/// goes with it): as [`line_break`].
fn after_block(
    text: &str,
    after_fence: usize,
    degree: Degree,
    holds: Holds,
    end: bool,
) -> Option<Option<usize>> {
    match text.get(after_fence..).unwrap_or_default().find('\n') {
        Some(off) if degree != Degree::Whole && (end || holds.clear()) => {
            Some(Some(after_fence + off + 1))
        }
        None if !end => Some(None),
        _ => None,
    }
}

/// A cut at the line break at `idx`: `Some(Some(cut))` to cut, `Some(None)` to wait for more
/// text, `None` to go on.
fn line_break(
    text: &str,
    idx: usize,
    line_start: usize,
    degree: Degree,
    holds: Holds,
    end: bool,
) -> Option<Option<usize>> {
    if degree == Degree::Whole || !(end || holds.clear()) {
        return None;
    }
    let after_breaks = text.get(idx..).unwrap_or_default().trim_start_matches('\n');
    let next_line = text.len() - after_breaks.len();
    if after_breaks.is_empty() {
        // A line break at the very end: what follows may belong to this line.
        return None;
    }
    let line = text.get(line_start..idx).unwrap_or_default();
    let is_table = |line: &str| line.trim_start().starts_with('|');
    if is_table(line) && is_table(after_breaks) {
        return None;
    }
    let carried = after_breaks.len() - after_breaks.trim_start_matches(is_carried).len();
    if carried == after_breaks.len() && !end {
        return Some(None);
    }
    Some(Some(next_line + carried))
}

/// A cut after the sentence punctuation `c` at `idx`: as [`line_break`].
fn sentence_end(
    text: &str,
    idx: usize,
    c: char,
    word_start: usize,
    line_start: usize,
    mut holds: Holds,
    end: bool,
) -> Option<Option<usize>> {
    let cjk = matches!(c, '。' | '！' | '？');
    if !cjk && !matches!(c, '.' | '!' | '?') {
        return None;
    }
    let rest = text.get(idx + c.len_utf8()..).unwrap_or_default();
    // "?!" and "!!" end where the run ends; "..." is a pause, not an end.
    if rest.starts_with(['.', '!', '?', '。', '！', '？'])
        || (c == '.' && text.get(..idx)?.ends_with('.'))
    {
        return None;
    }
    if c == '.' && !period_ends_sentence(text, word_start, idx, line_start) {
        return None;
    }
    let closers = rest.len() - rest.trim_start_matches(is_closer).len();
    let mut before = Some(c);
    for closer in rest.get(..closers).unwrap_or_default().chars() {
        holds.apply(closer, before);
        before = Some(closer);
    }
    let after = rest.get(closers..).unwrap_or_default();
    let cut = idx + c.len_utf8() + closers;
    match after.chars().next() {
        None if end => Some(Some(cut)),
        // A digit may follow ("3." then "14"), or another closer.
        None => Some(None),
        // After CJK punctuation a sentence may start at once, but after a closing quote the
        // sentence goes on (「元気？」と言った。).
        Some(_) if cjk && closers == 0 => (end || holds.clear()).then_some(Some(cut)),
        Some(next) if next.is_whitespace() => {
            // `"Really?" she asked.` goes on: a sentence does not start in lower case.
            match after.trim_start().chars().next() {
                None if !end => Some(None),
                Some(word) if word.is_lowercase() => None,
                _ => (end || holds.clear()).then_some(Some(cut)),
            }
        }
        Some(_) => None,
    }
}

/// Where to cut text that grew past `threshold` characters without a boundary: the sentence
/// end or line break nearest after the threshold, else the last before it, else the last
/// space, else at the limit (moved before a `<...>` token or URL it would split).
pub(super) fn overflow_cut(text: &str, threshold: usize) -> usize {
    let code = code_spans(text);
    let mut boundaries: Vec<(usize, usize)> = Vec::new();
    let mut last_space = None;
    let mut hard = text.len();
    let mut line_start = 0;
    let mut word_start = 0;
    let mut url_start: Option<usize> = None;
    let mut token_start: Option<usize> = None;
    for (count, (idx, c)) in text.char_indices().enumerate() {
        if count == LIMIT_CHARS {
            hard = idx;
            break;
        }
        let next = idx + c.len_utf8();
        let in_code = crate::output::code::in_code(&code, idx);
        if c.is_whitespace() {
            if url_start.is_none() && token_start.is_none() && idx > 0 {
                last_space = Some(idx);
            }
            url_start = None;
            token_start = None;
            word_start = next;
        } else if !in_code && idx == word_start && starts_url(text.get(idx..).unwrap_or_default()) {
            url_start = Some(idx);
        } else if !in_code && c == '<' {
            token_start = Some(idx);
        } else if c == '>' {
            token_start = None;
        }
        if c == '\n' {
            boundaries.push((count + 1, next));
            line_start = next;
        } else if !in_code
            && url_start.is_none()
            && matches!(c, '.' | '!' | '?' | '。' | '！' | '？')
            && text
                .get(next..)
                .is_some_and(|rest| rest.starts_with(char::is_whitespace) || c > '\u{3000}')
            && (c != '.' || period_ends_sentence(text, word_start, idx, line_start))
        {
            boundaries.push((count + 1, next));
        }
    }
    let forward = boundaries.iter().find(|(count, _)| *count >= threshold);
    if let Some(&(_, cut)) = forward.or(boundaries.last()) {
        return cut;
    }
    if let Some(space) = last_space {
        return space;
    }
    match url_start.or(token_start) {
        Some(start) if start > 0 && hard - start < 200 => start,
        _ => hard,
    }
}

/// The language of the code block left open at the end of `text`, if one is.
pub(super) fn open_fence(text: &str) -> Option<String> {
    let last = code_spans(text).pop()?;
    let span = text.get(last)?;
    let opener = backtick_run(span.as_bytes(), 0);
    if opener < 3 {
        return None;
    }
    let inner = span.get(opener..)?;
    if inner.contains("```") {
        return None;
    }
    let first_line = inner.split('\n').next().unwrap_or_default().trim();
    if first_line.chars().all(|c| c.is_alphanumeric() || "+-_#.".contains(c)) {
        Some(first_line.to_owned())
    } else {
        Some(String::new())
    }
}
