//! Trigger words as they are stored: what a persona command, `/server trigger-words` and card
//! import all store, through [`parse_trigger_words`].
//!
//! People paste trigger words the way they write them elsewhere: quoted, in backticks, in any
//! case, several at once separated by commas. Each becomes its bare, lower-cased form, and a
//! word already in the list is not added again: `"Quetz", \`Tomo\`, quetz` is `[quetz, tomo]`.
//! Matching ([`super::find_trigger`]) reads words stored before this rule the same way, so a
//! legacy `"tomo"` still matches "tomo".

/// Quotes and backticks that may surround a word, as (opening, closing) pairs.
const QUOTES: [(char, char); 7] =
    [('"', '"'), ('\'', '\''), ('`', '`'), ('“', '”'), ('‘', '’'), ('「', '」'), ('『', '』')];

/// One word's stored form: trimmed, surrounding quotes and backticks removed (also when only
/// one side has them), lower-cased; empty when nothing is left.
pub fn normalize_trigger_word(word: &str) -> String {
    let mut word = word.trim();
    let quoted =
        |c: Option<char>| c.is_some_and(|c| QUOTES.iter().any(|(o, e)| c == *o || c == *e));
    if !quoted(word.chars().next()) && !quoted(word.chars().next_back()) {
        return word.to_lowercase();
    }
    loop {
        let before = word;
        for (open, close) in QUOTES {
            word = word.strip_prefix(open).unwrap_or(word);
            word = word.strip_suffix(close).unwrap_or(word).trim();
        }
        if word == before {
            break;
        }
    }
    word.to_lowercase()
}

/// The stored forms of `inputs`, each of which may hold several words separated by commas
/// (`,`, `、` or `，`): normalised, empty ones dropped, duplicates dropped, in first-seen order.
pub fn parse_trigger_words<S: AsRef<str>>(inputs: &[S]) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for input in inputs {
        for piece in input.as_ref().split([',', '、', '，']) {
            let word = normalize_trigger_word(piece);
            if !word.is_empty() && !words.contains(&word) {
                words.push(word);
            }
        }
    }
    words
}

#[cfg(test)]
mod tests;
