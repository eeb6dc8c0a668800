//! Bytes to [`StreamEvent`]s: the SSE parser feeding the decoder of one wire format, plus the
//! pieces the three decoders share (tool-call assembly, error events).
//!
//! Decoders are pure state machines (no IO, no clock), so they are tested and benchmarked on
//! byte strings, split anywhere.

use serde_json::Value;

use crate::endpoint::Wire;
use crate::error::LlmError;
use crate::event::{Notice, StreamEvent};
use crate::request::ToolCall;
use crate::sse::{SseItem, SseParser};
use crate::{anthropic, gemini, openai};

/// A streamed answer's decoder for one wire format.
#[derive(Debug)]
pub struct StreamDecoder {
    sse: SseParser,
    wire: WireDecoder,
    items: Vec<SseItem>,
}

#[derive(Debug)]
enum WireDecoder {
    OpenAi(openai::Decoder),
    Anthropic(anthropic::Decoder),
    Gemini(gemini::Decoder),
}

impl StreamDecoder {
    /// A decoder for `wire` that refuses SSE lines or events over `max_event_bytes`.
    pub fn new(wire: Wire, max_event_bytes: usize) -> Self {
        let decoder = match wire {
            Wire::OpenAiCompatible => WireDecoder::OpenAi(openai::Decoder::default()),
            Wire::Anthropic => WireDecoder::Anthropic(anthropic::Decoder::default()),
            Wire::Gemini => WireDecoder::Gemini(gemini::Decoder::default()),
        };
        StreamDecoder { sse: SseParser::new(max_event_bytes), wire: decoder, items: Vec::new() }
    }

    /// Feeds a chunk of the body; events it completes are appended to `out`.
    ///
    /// # Errors
    ///
    /// A classified error: `malformed`, `too_large`, or the provider's own error event
    /// (`rate_limit`, `server`, ...). The stream is over after an error.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        self.sse.push(bytes, &mut self.items)?;
        self.drain(out)
    }

    /// Ends the body.
    ///
    /// # Errors
    ///
    /// As [`StreamDecoder::push`]; `malformed` when the stream ended before the answer finished.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        self.sse.finish(&mut self.items)?;
        self.drain(out)?;
        match &mut self.wire {
            WireDecoder::OpenAi(decoder) => decoder.finish(out),
            WireDecoder::Anthropic(decoder) => decoder.finish(out),
            WireDecoder::Gemini(decoder) => decoder.finish(out),
        }
    }

    fn drain(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        for item in self.items.drain(..) {
            match &mut self.wire {
                WireDecoder::OpenAi(decoder) => decoder.item(item, out)?,
                WireDecoder::Anthropic(decoder) => decoder.item(item, out)?,
                WireDecoder::Gemini(decoder) => decoder.item(item, out)?,
            }
        }
        Ok(())
    }
}

/// Decodes a whole body at once (tests, fixtures, the benchmark).
///
/// # Errors
///
/// As [`StreamDecoder::finish`]; the events before the error are lost.
pub fn decode_all(
    wire: Wire,
    body: &[u8],
    max_event_bytes: usize,
) -> Result<Vec<StreamEvent>, LlmError> {
    let mut decoder = StreamDecoder::new(wire, max_event_bytes);
    let mut out = Vec::new();
    decoder.push(body, &mut out)?;
    decoder.finish(&mut out)?;
    Ok(out)
}

/// A tool call whose arguments arrive in pieces.
#[derive(Debug, Default)]
pub(crate) struct PartialCall {
    pub(crate) id: Option<String>,
    pub(crate) name: String,
    pub(crate) arguments: String,
    pub(crate) signature: Option<String>,
}

impl PartialCall {
    /// The finished call, once its arguments are complete. `truncated` says the output cap cut
    /// the answer: unparseable arguments then become a notice, since the model did not finish
    /// the call. Otherwise arguments that are not a JSON object come out as the text the model
    /// sent (a JSON string), for the tool loop to answer with an error the model can correct.
    ///
    /// Security: tool misuse through partial arguments. A cut-off call never comes out, and a
    /// call whose arguments are not a JSON object is never run (`ToolCall::arguments_problem`).
    pub(crate) fn finish(
        self,
        fallback_id: usize,
        truncated: bool,
    ) -> Result<StreamEvent, LlmError> {
        if self.name.is_empty() {
            return Err(LlmError::malformed("a tool call has no name"));
        }
        let text = self.arguments.trim();
        let parsed = if text.is_empty() {
            Ok(Value::Object(serde_json::Map::new()))
        } else {
            serde_json::from_str::<Value>(text)
        };
        let arguments = match parsed {
            Ok(arguments @ Value::Object(_)) => arguments,
            _ if truncated => {
                return Ok(StreamEvent::Notice(Notice::ToolCallTruncated { name: self.name }));
            }
            _ => Value::String(text.to_owned()),
        };
        Ok(StreamEvent::ToolCall(ToolCall {
            id: self
                .id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| format!("call_{fallback_id}")),
            name: self.name,
            arguments,
            signature: self.signature,
        }))
    }
}

/// Classifies an error the provider reported inside a stream (or in an error body): by the
/// numeric code where there is one, else by the error type's name.
pub(crate) fn event_error(kind: Option<&str>, code: Option<i64>, message: &str) -> LlmError {
    let kind = kind.unwrap_or_default().to_ascii_lowercase();
    let status = code.and_then(|c| u16::try_from(c).ok()).filter(|c| (100..600).contains(c));
    let message = crate::error::scrub(message, None);
    let has = |needle: &str| kind.contains(needle);
    if matches!(status, Some(401..=403)) || has("auth") || has("permission") {
        return LlmError::Auth { status: status.unwrap_or(0) };
    }
    if status == Some(429) || has("rate_limit") || has("resource_exhausted") {
        return LlmError::RateLimit { retry_after: None };
    }
    if matches!(status, Some(400 | 404 | 413 | 422))
        || has("invalid_request")
        || has("invalid_argument")
    {
        return LlmError::BadRequest { status: status.unwrap_or(400), parameter: None, message };
    }
    LlmError::Server { status, message }
}

/// Reads an `{"error": {...}}` object (or `[{"error": ...}]`, or a bare error string) into a
/// classified error; `None` when `value` is not one.
pub(crate) fn error_object(value: &Value) -> Option<LlmError> {
    let value = match value {
        Value::Array(items) => items.first()?,
        other => other,
    };
    let error = value.get("error")?;
    if let Some(text) = error.as_str() {
        return Some(event_error(None, None, text));
    }
    let message = error.get("message").and_then(Value::as_str).unwrap_or("unknown error");
    let code = error.get("code").and_then(Value::as_i64);
    let kind = error
        .get("type")
        .or_else(|| error.get("status"))
        .or_else(|| error.get("code"))
        .and_then(Value::as_str);
    Some(event_error(kind, code, message))
}

/// Parses one event's JSON.
pub(crate) fn parse_json<'a, T: serde::Deserialize<'a>>(
    data: &'a str,
    what: &str,
) -> Result<T, LlmError> {
    serde_json::from_str(data)
        .map_err(|error| LlmError::malformed(format!("{what} is not the expected JSON ({error})")))
}

/// Saturating `u64` from a count a provider sent, which could be negative or absent.
pub(crate) fn count(value: Option<i64>) -> u64 {
    value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests;
