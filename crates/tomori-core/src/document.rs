//! Server documents (`/memory document add`): the limits, text normalisation, chunking, and the
//! retrieval query, as pure functions.
//!
//! A document's text is normalised (NULs and other control characters removed, line endings
//! made `\n`, runs of spaces collapsed, at most one blank line in a row), then cut into chunks of
//! at most [`CHUNK_CHARS`] characters that overlap by about [`CHUNK_OVERLAP_CHARS`]. A cut
//! prefers a paragraph break, then a line break, then the end of a sentence, then a space, and
//! falls in the last half of the window, so chunks are neither tiny nor cut mid-word when they
//! need not be. Everything counts characters (Unicode scalar values), never bytes, so multibyte
//! text is never split inside a character.
//!
//! What this module does not do: read files (tomori-discord downloads, tomori-tools parses
//! PDFs), embed (tomori-llm), store (tomori-store) or search ([`crate::vector`]).

/// The largest file accepted, in bytes.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// The most characters of normalised text a document may have.
pub const MAX_DOCUMENT_CHARS: usize = 120_000;
/// The most characters in one chunk.
pub const CHUNK_CHARS: usize = 1_000;
/// About how many characters consecutive chunks share.
pub const CHUNK_OVERLAP_CHARS: usize = 200;
/// The most chunks one document may have.
pub const MAX_CHUNKS_PER_DOCUMENT: usize = 150;
/// The most documents a server may have.
pub const MAX_DOCUMENTS_PER_SERVER: usize = 20;
/// The most chunks a server may have, all documents together. Retrieval is an exact search over
/// all of them, so this bound is also what keeps it cheap.
pub const MAX_CHUNKS_PER_SERVER: usize = 1_000;
/// The most characters in a document's name.
pub const MAX_NAME_CHARS: usize = 100;
/// The retrieval query is cut to this many characters.
pub const QUERY_MAX_CHARS: usize = 1_000;
/// A shorter query retrieves nothing.
pub const QUERY_MIN_CHARS: usize = 3;
/// The most chunks a turn is shown.
pub const TOP_K: usize = 6;
/// Chunks less similar to the query than this (cosine) are not shown.
pub const MIN_SIMILARITY: f32 = 0.5;

/// The text as stored and chunked: NULs and control characters other than tabs and line breaks
/// removed, `\r\n` and `\r` made `\n`, each line's runs of spaces and tabs made one space and its
/// ends trimmed, at most one blank line in a row, and the whole trimmed.
pub fn normalise(text: &str) -> String {
    let unified = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(unified.len());
    let mut blank_run = 0_usize;
    for line in unified.split('\n') {
        let mut clean = String::with_capacity(line.len());
        let mut space = false;
        for c in line.chars() {
            if c == '\t' || (c.is_whitespace() && c != '\n') {
                space = true;
            } else if c.is_control() {
                // NULs and other control characters carry no text; they are dropped.
            } else {
                if space && !clean.is_empty() {
                    clean.push(' ');
                }
                space = false;
                clean.push(c);
            }
        }
        if clean.is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_run > 0 { "\n\n" } else { "\n" });
        }
        blank_run = 0;
        out.push_str(&clean);
    }
    out
}

/// [`chunk_with`] at [`CHUNK_CHARS`] and [`CHUNK_OVERLAP_CHARS`].
pub fn chunk(text: &str) -> Vec<String> {
    chunk_with(text, CHUNK_CHARS, CHUNK_OVERLAP_CHARS)
}

/// Cuts `text` into chunks of at most `size` characters (at least 8), each starting about
/// `overlap` characters before the previous one ended (at the start of a word when there is one
/// nearby). Empty chunks are left out; text that fits is one chunk.
pub fn chunk_with(text: &str, size: usize, overlap: usize) -> Vec<String> {
    let size = size.max(8);
    // The overlap stays below half a chunk, so every step moves forward.
    let overlap = overlap.min(size / 2 - 1);
    let chars: Vec<char> = text.chars().collect();
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let rest = chars.get(start..).unwrap_or_default();
        if rest.len() <= size {
            push_trimmed(&mut chunks, rest);
            break;
        }
        let window = rest.get(..size).unwrap_or_default();
        let end = cut_point(window);
        push_trimmed(&mut chunks, rest.get(..end).unwrap_or_default());
        start += next_start(rest, end, overlap);
    }
    chunks
}

/// Where the chunk after one ending at `end` starts: `overlap` characters back, moved to the
/// start of a word: the first one from there on, else the nearest one before (the overlap grows
/// to at most twice its size and three quarters of the chunk), else exactly `overlap` back (text without
/// spaces, such as Japanese).
fn next_start(rest: &[char], end: usize, overlap: usize) -> usize {
    let back = end - overlap;
    let word_start = |i: usize| {
        i > 0
            && rest.get(i - 1).is_some_and(|c| c.is_whitespace())
            && rest.get(i).is_some_and(|c| !c.is_whitespace())
    };
    let lowest = end.saturating_sub(2 * overlap).max(end / 4).max(1);
    (back..end)
        .find(|&i| word_start(i))
        .or_else(|| (lowest..back).rev().find(|&i| word_start(i)))
        .unwrap_or(back)
}

fn push_trimmed(chunks: &mut Vec<String>, chars: &[char]) {
    let text: String = chars.iter().collect();
    let text = text.trim();
    if !text.is_empty() {
        chunks.push(text.to_owned());
    }
}

/// Where to end a chunk within `window`: after the last paragraph break, line break, sentence end
/// or space in its second half, in that order of preference; else at the window's end.
fn cut_point(window: &[char]) -> usize {
    let half = window.len() / 2;
    let last = |pred: &dyn Fn(usize) -> bool| (half..window.len()).rev().find(|&i| pred(i));
    let at = |i: usize| window.get(i).copied().unwrap_or(' ');
    if let Some(i) = last(&|i| at(i) == '\n' && i > 0 && at(i - 1) == '\n') {
        return i + 1;
    }
    if let Some(i) = last(&|i| at(i) == '\n') {
        return i + 1;
    }
    let sentence_end = |i: usize| {
        let c = at(i);
        matches!(c, '。' | '！' | '？')
            || (matches!(c, '.' | '!' | '?')
                && window.get(i + 1).is_some_and(|n| n.is_whitespace()))
    };
    if let Some(i) = last(&sentence_end) {
        return i + 1;
    }
    if let Some(i) = last(&|i| at(i).is_whitespace()) {
        return i + 1;
    }
    window.len()
}

/// A document name as typed or taken from the file name: trimmed, 1 to [`MAX_NAME_CHARS`]
/// characters, no control characters or backticks (names are shown in code spans).
///
/// # Errors
/// What is wrong with it, as a sentence fragment.
pub fn check_name(name: &str) -> Result<String, &'static str> {
    let name = name.trim();
    if name.is_empty() {
        return Err("the name is empty");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err("the name is longer than 100 characters");
    }
    if name.chars().any(|c| c.is_control() || c == '`') {
        return Err("the name has control characters or backticks");
    }
    Ok(name.to_owned())
}

/// The retrieval query for a message: its trimmed text cut to [`QUERY_MAX_CHARS`], or `None`
/// when shorter than [`QUERY_MIN_CHARS`].
pub fn query(message: &str) -> Option<String> {
    let text = message.trim();
    if text.chars().count() < QUERY_MIN_CHARS {
        return None;
    }
    Some(text.chars().take(QUERY_MAX_CHARS).collect())
}

#[cfg(test)]
mod tests;
