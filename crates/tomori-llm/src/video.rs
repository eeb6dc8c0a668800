//! Video generation: one prompt in, one short MP4 (or the provider's refusal) out, through the
//! two asynchronous video APIs this crate speaks ([`VideoApi`]).
//!
//! Gemini's Veo:
//! - `POST {base}/models/{model}:predictLongRunning` with `instances[0].prompt` and
//!   `parameters.aspectRatio` starts a long-running operation and answers its `name`;
//! - `GET {base}/{name}` is polled until the operation is `done`;
//! - the finished operation's `response.generateVideoResponse.generatedSamples[0].video.uri`
//!   names the file, which is downloaded with the API key when it is on the endpoint's own
//!   origin; `raiMediaFilteredReasons`, or an `error` in the operation, is the provider declining.
//!
//! OpenRouter's video jobs (`openrouter`, for every video model it routes to): see [`openrouter`].
//!
//! The other wires and providers have no video API here: asking them is an `InvalidRequest`
//! that says so.
//!
//! The file is never re-encoded (that would need a video codec in the bot); it is checked
//! structurally instead ([`check_mp4`]): within [`MAX_VIDEO_BYTES`], an ISO-BMFF file whose boxes
//! tile it exactly, `ftyp` first, one `moov` with an `mvhd`.

mod client;
mod mp4;
mod openrouter;
#[cfg(test)]
mod tests;

use std::time::Duration;

use serde_json::{Value, json};

pub(crate) use client::{VideoFailure, generate};
pub use mp4::{Mp4Error, check_mp4};

use crate::call::Answered;
use crate::endpoint::Wire;
use crate::error::LlmError;
use crate::gemini;

/// Bytes of a video accepted from a provider: Discord's attachment limit for a server without
/// boosts, so that everything accepted can be posted.
pub const MAX_VIDEO_BYTES: usize = 10 * 1024 * 1024;

/// Characters of a prompt sent to a video model (Veo reads about 1,024 tokens).
pub const MAX_VIDEO_PROMPT_CHARS: usize = 2_000;

/// The shortest pause between two polls, whatever [`VideoOptions::poll_every`] says.
pub const MIN_VIDEO_POLL: Duration = Duration::from_millis(10);

/// The video's shape: the two aspect ratios Veo makes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VideoShape {
    /// 16:9, wider than tall.
    #[default]
    Landscape,
    /// 9:16, taller than wide.
    Portrait,
}

impl VideoShape {
    /// The name the tool uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::Landscape => "landscape",
            Self::Portrait => "portrait",
        }
    }

    /// The shape called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Landscape, Self::Portrait]
            .into_iter()
            .find(|shape| shape.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Veo's `aspectRatio`.
    pub fn aspect_ratio(self) -> &'static str {
        match self {
            Self::Landscape => "16:9",
            Self::Portrait => "9:16",
        }
    }
}

/// What to film.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoRequest {
    /// The description (cut to [`MAX_VIDEO_PROMPT_CHARS`]).
    pub prompt: String,
    /// The shape.
    pub shape: VideoShape,
}

/// How an operation is waited for and what is accepted back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VideoOptions {
    /// The pause between two polls; at least [`MIN_VIDEO_POLL`] is used.
    pub poll_every: Duration,
    /// From the operation's start to the last byte of the file: Veo takes from about ten
    /// seconds to several minutes.
    pub deadline: Duration,
    /// The largest file accepted, at most [`MAX_VIDEO_BYTES`].
    pub max_bytes: usize,
}

impl Default for VideoOptions {
    /// A poll every 10 s (Google's own examples wait 10 s), six minutes in all, 10 MiB.
    fn default() -> Self {
        VideoOptions {
            poll_every: Duration::from_secs(10),
            deadline: Duration::from_secs(6 * 60),
            max_bytes: MAX_VIDEO_BYTES,
        }
    }
}

/// The video a provider made.
#[derive(Clone, PartialEq, Eq)]
pub enum VideoData {
    /// The file, downloaded from the provider and checked by [`check_mp4`].
    Bytes(Vec<u8>),
    /// Where the provider hosts it, off the endpoint's origin: download it through a media
    /// policy (without the provider's key) and check it with [`check_mp4`].
    Url(String),
}

impl std::fmt::Debug for VideoData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
            Self::Url(url) => f.debug_tuple("Url").field(url).finish(),
        }
    }
}

/// A provider's answer to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VideoOutcome {
    /// A video.
    Video(VideoData),
    /// The provider declined: its safety filter, or an operation that ended in an error. The
    /// reason is the provider's own words (untrusted text, shown to the model as such).
    Refused(String),
}

/// A video, or the provider's refusal, and who answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedVideo {
    /// What the provider made.
    pub outcome: VideoOutcome,
    /// Which endpoint, model and key answered.
    pub answered: Answered,
}

/// Characters of a provider's reason that are kept.
const MAX_REASON_CHARS: usize = 300;

/// Longest operation name accepted.
const MAX_OPERATION_NAME: usize = 256;

/// Which asynchronous video API a target is asked with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VideoApi {
    /// Gemini's long-running `predictLongRunning` operation (Veo models).
    Veo,
    /// OpenRouter's `/videos` jobs (Veo, Sora, Wan, Seedance and the others it routes to).
    OpenRouter,
}

impl VideoApi {
    /// The API for a provider on a wire.
    ///
    /// # Errors
    /// `InvalidRequest` naming the provider's lack.
    pub(crate) fn for_target(wire: Wire, provider: &str) -> Result<Self, LlmError> {
        match wire {
            Wire::Gemini => Ok(Self::Veo),
            Wire::OpenAiCompatible if provider == "openrouter" => Ok(Self::OpenRouter),
            Wire::OpenAiCompatible => Err(LlmError::invalid(
                "this provider has no video API here (videos are made by Gemini's Veo models and \
                 OpenRouter's video models)",
            )),
            Wire::Anthropic => Err(LlmError::invalid("Anthropic's models do not make videos")),
        }
    }
}

/// Whether the bot makes videos with the known provider called `provider` (`google`'s Veo and
/// `openrouter`'s video models; custom endpoints have no video API here).
pub fn has_video_api(provider: &str) -> bool {
    crate::known_provider(provider)
        .is_some_and(|known| VideoApi::for_target(known.wire, provider).is_ok())
}

/// The prompt sent: cut to [`MAX_VIDEO_PROMPT_CHARS`], never blank.
pub(crate) fn prompt_of(request: &VideoRequest) -> Result<String, LlmError> {
    let prompt: String = request.prompt.chars().take(MAX_VIDEO_PROMPT_CHARS).collect();
    if prompt.trim().is_empty() {
        return Err(LlmError::invalid("a video needs a description"));
    }
    Ok(prompt)
}

/// The path (after the base URL) and JSON body that start an operation.
pub(crate) fn start_body(
    model: &str,
    request: &VideoRequest,
) -> Result<(String, Vec<u8>), LlmError> {
    let prompt = prompt_of(request)?;
    let path = format!("/models/{}:predictLongRunning", gemini::model_segment(model)?);
    let body = json!({
        "instances": [{ "prompt": prompt }],
        // One video is the default; no count is sent, since the APIs name it differently.
        "parameters": { "aspectRatio": request.shape.aspect_ratio() },
    });
    let body = serde_json::to_vec(&body).map_err(|e| LlmError::invalid(e.to_string()))?;
    Ok((path, body))
}

/// An operation's name, checked before it becomes part of a URL's path.
pub(crate) fn operation_name(answer: &Value) -> Result<String, LlmError> {
    let name = answer.get("name").and_then(Value::as_str).unwrap_or_default();
    // Security: path injection. The name comes from the provider and is appended to the base
    // URL: only path segments of letters, digits, `-`, `_` and `.` (never `.` or `..` alone), so
    // it can add no query, no other host and no climb out of the API's path.
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    let ok = (1..=MAX_OPERATION_NAME).contains(&name.len())
        && name.split('/').all(segment_ok)
        && name.split('/').any(|s| s == "operations");
    if ok {
        Ok(name.to_owned())
    } else {
        Err(LlmError::malformed("the video operation has no usable name"))
    }
}

/// What a polled operation says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Polled {
    /// Still running.
    Running,
    /// Finished with the file at this URI.
    Done(String),
    /// Finished without a video: the provider's reason.
    Refused(String),
}

/// Reads one answer to a poll (or the start, which may already be done).
pub(crate) fn read_operation(operation: &Value) -> Result<Polled, LlmError> {
    if operation.get("done").and_then(Value::as_bool) != Some(true) {
        return Ok(Polled::Running);
    }
    if let Some(error) = operation.get("error") {
        let message = error.get("message").and_then(Value::as_str).unwrap_or("no reason given");
        return Ok(Polled::Refused(reason(&format!("the video was not made: {message}"))));
    }
    let answer = operation.pointer("/response/generateVideoResponse");
    let reasons: Vec<&str> = answer
        .and_then(|a| a.get("raiMediaFilteredReasons"))
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let uri = answer
        .and_then(|a| a.pointer("/generatedSamples/0/video/uri"))
        .and_then(Value::as_str)
        .filter(|uri| !uri.trim().is_empty());
    match (uri, reasons.is_empty()) {
        (Some(uri), _) => Ok(Polled::Done(uri.to_owned())),
        (None, false) => Ok(Polled::Refused(reason(&format!(
            "the provider's safety filter removed the video: {}",
            reasons.join("; ")
        )))),
        (None, true) => {
            let filtered =
                answer.and_then(|a| a.get("raiMediaFilteredCount")).and_then(Value::as_u64);
            if filtered.is_some_and(|n| n > 0) {
                Ok(Polled::Refused("the provider's safety filter removed the video".to_owned()))
            } else {
                Err(LlmError::malformed("the finished video operation names no video"))
            }
        }
    }
}

/// A provider's words, cut short and on one line.
pub(crate) fn reason(text: &str) -> String {
    let line: String =
        text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(MAX_REASON_CHARS).collect();
    line.trim().to_owned()
}
