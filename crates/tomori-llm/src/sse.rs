//! An incremental Server-Sent Events parser: bytes in, whole events out, under a size cap.
//!
//! Chunks may split anywhere (inside a line, inside a multi-byte character, between `\r` and
//! `\n`): bytes are buffered until a line is complete and only whole lines are decoded as UTF-8.
//! Lines that are not SSE fields (a provider writing a bare JSON error object into the stream,
//! as Gemini does) are collected and handed on as [`SseItem::Stray`] text instead of being
//! silently ignored as the SSE specification would. It knows nothing about any provider.

use crate::error::LlmError;

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// What the parser hands on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SseItem {
    /// An event with data.
    Event(SseEvent),
    /// Consecutive lines that were not SSE fields, joined with `\n`.
    Stray(String),
}

/// The parser state for one stream.
#[derive(Debug)]
pub struct SseParser {
    // Bytes of the line being received.
    line: Vec<u8>,
    // The previous chunk ended in `\r`: a `\n` starting the next one belongs to that line end.
    after_cr: bool,
    started: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    stray: String,
    max_event_bytes: usize,
}

impl SseParser {
    /// A parser that refuses any line or event longer than `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> Self {
        SseParser {
            line: Vec::new(),
            after_cr: false,
            started: false,
            event: None,
            data: String::new(),
            has_data: false,
            stray: String::new(),
            max_event_bytes,
        }
    }

    /// Feeds a chunk; complete events are appended to `out`.
    ///
    /// # Errors
    ///
    /// `TooLarge` when a line or an event passes the cap, `Malformed` when a line is not UTF-8.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<SseItem>) -> Result<(), LlmError> {
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        while let Some(end) = memchr::memchr2(b'\n', b'\r', bytes) {
            let (head, rest) = bytes.split_at(end);
            let terminator = rest[0];
            bytes = &rest[1..];
            if terminator == b'\r' {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            if self.line.is_empty() {
                self.line_done(head, out)?;
            } else {
                self.grow(head)?;
                let line = std::mem::take(&mut self.line);
                self.line_done(&line, out)?;
                self.line = line;
                self.line.clear();
            }
        }
        self.grow(bytes)
    }

    /// Ends the stream: a last line without a terminator and a last event without a blank line
    /// are dispatched (servers often end that way), and pending stray text is handed on.
    ///
    /// # Errors
    ///
    /// As [`SseParser::push`].
    pub fn finish(&mut self, out: &mut Vec<SseItem>) -> Result<(), LlmError> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, out)?;
        }
        self.dispatch(out);
        Ok(())
    }

    fn grow(&mut self, bytes: &[u8]) -> Result<(), LlmError> {
        // Security: memory exhaustion. A line that never ends is refused at the cap instead of
        // growing the buffer until the whole-body cap.
        if self.line.len() + bytes.len() > self.max_event_bytes {
            return Err(self.too_large());
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn too_large(&self) -> LlmError {
        LlmError::TooLarge { limit: u64::try_from(self.max_event_bytes).unwrap_or(u64::MAX) }
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<SseItem>) -> Result<(), LlmError> {
        let mut line = line;
        if !self.started {
            self.started = true;
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let text = std::str::from_utf8(line)
            .map_err(|_| LlmError::malformed("the event stream is not valid UTF-8"))?;
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (text, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.has_data = true;
                if self.data.len() + value.len() > self.max_event_bytes {
                    return Err(self.too_large());
                }
                self.data.push_str(value);
            }
            "event" => self.event = Some(value.to_owned()),
            "id" | "retry" => {}
            _ => {
                if self.stray.len() + text.len() > self.max_event_bytes {
                    return Err(self.too_large());
                }
                if !self.stray.is_empty() {
                    self.stray.push('\n');
                }
                self.stray.push_str(text);
            }
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseItem>) {
        if !self.stray.is_empty() {
            out.push(SseItem::Stray(std::mem::take(&mut self.stray)));
        }
        if self.has_data {
            out.push(SseItem::Event(SseEvent {
                event: self.event.take(),
                data: std::mem::take(&mut self.data),
            }));
        }
        self.event = None;
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests;
