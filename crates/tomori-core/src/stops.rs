//! Where an answer ends: the server's stop strings (`/model stop`) and, when it is turned on, the
//! speaker pattern (a line that opens with someone else's `Name:` label), enforced on the text as
//! it streams in.
//!
//! Wire formats take only a few stop strings (OpenAI's 4, Gemini's 5) and a model may ignore
//! them, so every answer is scanned here whatever was sent: the text before the first match is
//! kept, the rest is dropped. Text that may be the start of a match is held back until the next
//! piece shows whether it is one, so nothing past a stop is ever handed out.

/// The most stop strings a server keeps.
pub const MAX_STOPS: usize = 40;

/// The most characters of one stop string.
pub const MAX_STOP_CHARS: usize = 200;

/// The most characters of a speaker label (`Name:` at the start of a line).
const MAX_LABEL_CHARS: usize = 32;

/// The most words of a speaker label.
const MAX_LABEL_WORDS: usize = 4;

/// Scans one answer's text for its stops.
#[derive(Debug, Clone)]
pub struct StopScan {
    stops: Vec<String>,
    /// The speaker pattern is on; the persona's own label (lower-case) does not end the answer.
    speaker: Option<String>,
    held: String,
    stopped: bool,
}

/// What one piece of text gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    /// Text to hand out now.
    pub text: String,
    /// A stop was reached: the answer ends after `text`.
    pub stopped: bool,
}

impl StopScan {
    /// A scanner for `stops` (empty ones are ignored) and, when `speaker` names the persona, the
    /// speaker pattern; `None` when there is nothing to watch for.
    #[must_use]
    pub fn new(stops: &[String], speaker: Option<&str>) -> Option<Self> {
        let stops: Vec<String> = stops.iter().filter(|s| !s.is_empty()).cloned().collect();
        if stops.is_empty() && speaker.is_none() {
            return None;
        }
        let speaker = speaker.map(|name| name.trim().to_lowercase());
        Some(Self { stops, speaker, held: String::new(), stopped: false })
    }

    /// Scans the next piece of the answer.
    pub fn push(&mut self, piece: &str) -> Scanned {
        if self.stopped {
            return Scanned { text: String::new(), stopped: true };
        }
        let mut buf = std::mem::take(&mut self.held);
        buf.push_str(piece);
        if let Some(at) = self.first_match(&buf, false) {
            self.stopped = true;
            buf.truncate(at);
            return Scanned { text: buf, stopped: true };
        }
        let hold = self.hold_from(&buf);
        self.held = buf.split_off(hold);
        Scanned { text: buf, stopped: false }
    }

    /// The stream ended: the text still held, unless it ends the answer itself.
    pub fn finish(&mut self) -> String {
        let mut buf = std::mem::take(&mut self.held);
        if self.stopped {
            return String::new();
        }
        if let Some(at) = self.first_match(&buf, true) {
            buf.truncate(at);
        }
        self.stopped = true;
        buf
    }

    /// The earliest byte where the answer ends in `buf`. A speaker label needs the character
    /// after its colon (a space or a line break) unless `at_end`.
    fn first_match(&self, buf: &str, at_end: bool) -> Option<usize> {
        let strings = self.stops.iter().filter_map(|stop| buf.find(stop.as_str()));
        let label = self.speaker.as_ref().and_then(|own| first_label(buf, own, at_end));
        strings.chain(label).min()
    }

    /// Where the held-back tail of `buf` starts: the longest suffix that may still become a match.
    fn hold_from(&self, buf: &str) -> usize {
        let mut hold = buf.len();
        for stop in &self.stops {
            // The longest proper prefix of the stop that `buf` ends with.
            let prefixes = stop.char_indices().rev().map(|(end, _)| end).filter(|&end| end > 0);
            for end in prefixes {
                if stop.get(..end).is_some_and(|prefix| buf.ends_with(prefix)) {
                    hold = hold.min(buf.len() - end);
                    break;
                }
            }
        }
        if self.speaker.is_some()
            && let Some(line) = buf.rfind('\n')
            && may_open_label(buf.get(line + 1..).unwrap_or_default())
        {
            hold = hold.min(line);
        }
        hold
    }
}

/// The byte of the first line break in `buf` that opens another speaker's complete label.
fn first_label(buf: &str, own: &str, at_end: bool) -> Option<usize> {
    buf.match_indices('\n').map(|(at, _)| at).find(|&at| {
        let rest = buf.get(at + 1..).unwrap_or_default();
        let Some((label, after)) = rest.split_once(':') else { return false };
        let after = after.chars().next();
        let ends = matches!(after, Some(' ' | '\n' | '\t')) || (after.is_none() && at_end);
        ends && is_label(label) && label.trim().to_lowercase() != own
    })
}

/// A speaker label: a name of up to 4 words and 32 characters that starts with a letter.
fn is_label(label: &str) -> bool {
    label.chars().next().is_some_and(char::is_alphabetic) && could_be_label(label)
}

/// The text after a line break may still be another speaker's `Name:` (the colon may have come,
/// with the character after it still to come).
fn may_open_label(text: &str) -> bool {
    match text.strip_suffix(':') {
        Some(label) => is_label(label),
        None => could_be_label(text),
    }
}

/// The text may still grow into a label.
fn could_be_label(text: &str) -> bool {
    let chars = text.chars().count();
    chars <= MAX_LABEL_CHARS
        && text.split(' ').count() <= MAX_LABEL_WORDS
        && text.chars().next().is_none_or(char::is_alphabetic)
        && text.chars().all(|c| c.is_alphanumeric() || matches!(c, ' ' | '_' | '-' | '.' | '\''))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Streams `pieces` through a scanner and returns what came out, and whether it stopped.
    fn run(stops: &[&str], speaker: Option<&str>, pieces: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| (*s).to_owned()).collect();
        let mut scan = StopScan::new(&stops, speaker).expect("something to watch");
        let mut out = String::new();
        for piece in pieces {
            let scanned = scan.push(piece);
            out.push_str(&scanned.text);
            if scanned.stopped {
                return (out, true);
            }
        }
        out.push_str(&scan.finish());
        (out, false)
    }

    #[test]
    fn stop_strings_end_the_answer_wherever_the_pieces_split_them() {
        let cases: &[(&[&str], &[&str], &str, bool)] = &[
            (&["END"], &["hello END more"], "hello ", true),
            (&["END"], &["hello E", "N", "D more"], "hello ", true),
            (&["END"], &["hello EN", "ough"], "hello ENough", false),
            (&["END"], &["hello EN"], "hello EN", false),
            (&["###", "END"], &["a ##", "# b END"], "a ", true),
            (&["b END", "END"], &["a b EN", "D"], "a ", true),
            (&["ünï"], &["x ü", "n", "ï y"], "x ", true),
            (&["\n\n"], &["one\n", "\ntwo"], "one", true),
            (&["stop"], &["nothing here"], "nothing here", false),
        ];
        for (stops, pieces, expected, stopped) in cases {
            assert_eq!(run(stops, None, pieces), ((*expected).to_owned(), *stopped), "{pieces:?}");
        }
    }

    #[test]
    fn held_text_is_only_what_may_still_become_a_stop() {
        let stops = vec!["<END>".to_owned()];
        let mut scan = StopScan::new(&stops, None).unwrap();
        assert_eq!(scan.push("ab<E").text, "ab");
        assert_eq!(scan.push("x").text, "<Ex");
        assert_eq!(scan.push("<").text, "");
        assert_eq!(scan.finish(), "<");
        assert!(StopScan::new(&[String::new()], None).is_none(), "nothing to watch");
    }

    #[test]
    fn the_speaker_pattern_ends_at_another_speakers_line() {
        let cases: &[(&[&str], &str, bool)] = &[
            (&["Sure.\nAlice: me too"], "Sure.", true),
            (&["Sure.\nAli", "ce", ":", " me too"], "Sure.", true),
            (&["Sure.\nMary Jane: hi"], "Sure.", true),
            // The persona's own label is the output filter's to collapse.
            (&["Sure.\nTomori: and also"], "Sure.\nTomori: and also", false),
            (&["See:\nhttps://example.com"], "See:\nhttps://example.com", false),
            (&["Steps\n1: first"], "Steps\n1: first", false),
            (
                &["a\nthis is a long line: with a colon"],
                "a\nthis is a long line: with a colon",
                false,
            ),
            (&["time\n12:30"], "time\n12:30", false),
            (&["ok\nBob:"], "ok", false),
            (&["ok\nBob"], "ok\nBob", false),
        ];
        for (pieces, expected, stopped) in cases {
            assert_eq!(
                run(&[], Some("Tomori"), pieces),
                ((*expected).to_owned(), *stopped),
                "{pieces:?}"
            );
        }
    }

    #[test]
    fn nothing_is_handed_out_after_a_stop() {
        let stops = vec!["END".to_owned()];
        let mut scan = StopScan::new(&stops, None).unwrap();
        assert!(scan.push("a END").stopped);
        assert_eq!(scan.push("more").text, "");
        assert_eq!(scan.finish(), "");
    }
}
