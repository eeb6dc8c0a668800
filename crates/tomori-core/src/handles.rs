//! Opaque handles for messages and media in the prompt.
//!
//! The model never sees a Discord id: message `n` of a turn's context is `ref_n` and attachment
//! `n` is `media_n`. Tools name their targets by handle, and [`Handles::message`] turns a handle
//! back into the id, so the model can only act on what this turn showed it.

use crate::id::Snowflake;

/// The handles of one turn.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handles {
    messages: Vec<Snowflake>,
    media: Vec<String>,
}

impl Handles {
    /// The handle of a message, assigning the next one on first use.
    pub fn message_handle(&mut self, id: Snowflake) -> String {
        let idx = match self.messages.iter().position(|m| *m == id) {
            Some(idx) => idx,
            None => {
                self.messages.push(id);
                self.messages.len() - 1
            }
        };
        format!("ref_{}", idx + 1)
    }

    /// The handle of an attachment URL, assigning the next one on first use.
    pub fn media_handle(&mut self, url: &str) -> String {
        let idx = match self.media.iter().position(|m| m == url) {
            Some(idx) => idx,
            None => {
                self.media.push(url.to_owned());
                self.media.len() - 1
            }
        };
        format!("media_{}", idx + 1)
    }

    /// The message a `ref_N` handle stands for.
    ///
    /// Security: raw ids reused by the model. Anything but a handle this turn issued (a raw
    /// snowflake, `ref_0`, a handle from another turn) resolves to nothing.
    pub fn message(&self, handle: &str) -> Option<Snowflake> {
        let n = parse_handle(handle, "ref_")?;
        self.messages.get(n - 1).copied()
    }

    /// The attachment a `media_N` handle stands for.
    pub fn media(&self, handle: &str) -> Option<&str> {
        let n = parse_handle(handle, "media_")?;
        self.media.get(n - 1).map(String::as_str)
    }
}

fn parse_handle(handle: &str, prefix: &str) -> Option<usize> {
    let digits = handle.trim().strip_prefix(prefix)?;
    if digits.is_empty()
        || digits.len() > 6
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.starts_with('0')
    {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_resolve_only_what_this_turn_issued() {
        let mut handles = Handles::default();
        let a = Snowflake::new(1_111_111_111_111_111).unwrap();
        let b = Snowflake::new(2_222_222_222_222_222).unwrap();
        assert_eq!(handles.message_handle(a), "ref_1");
        assert_eq!(handles.message_handle(b), "ref_2");
        assert_eq!(handles.message_handle(a), "ref_1");
        assert_eq!(handles.media_handle("https://cdn/x.png"), "media_1");
        assert_eq!(handles.message("ref_2"), Some(b));
        assert_eq!(handles.media("media_1"), Some("https://cdn/x.png"));
        for bad in [
            "ref_3",
            "ref_0",
            "ref_01",
            "1111111111111111",
            "ref_",
            "REF_1",
            "ref_1x",
            "media_1",
            "",
        ] {
            assert_eq!(handles.message(bad), None, "{bad:?}");
        }
    }
}
