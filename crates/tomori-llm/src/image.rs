//! Image generation: one prompt in, one image (or the provider's refusal) out, over the three
//! ways providers offer it:
//! - OpenAI-compatible `/images/generations` (OpenAI, and the local servers that copy it);
//! - OpenRouter's image-output models: chat completions with `modalities: ["image", "text"]`,
//!   the image coming back as a data URL in `message.images`;
//! - Gemini's image-output models: `generateContent` with `responseModalities` including
//!   `IMAGE`, the image coming back as `inlineData`.
//!
//! The wire types stay in this module. An image is bytes, or a URL the provider hosts it at
//! (dall-e's default), which the caller downloads through its media policy: this crate never
//! follows a URL a provider's answer names.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::endpoint::Wire;
use crate::error::LlmError;
use crate::gemini;

/// Bytes of one decoded image; a provider's answer over it is refused rather than held.
pub const MAX_IMAGE_BYTES: usize = 20 * 1024 * 1024;

/// Characters of a prompt sent to an image model (OpenAI's own limit for gpt-image is 32,000;
/// dall-e 3's is 4,000, the smallest of the three APIs).
pub const MAX_IMAGE_PROMPT_CHARS: usize = 4_000;

/// The picture's shape; each API is asked in its own terms (a size, or an aspect ratio).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ImageShape {
    /// 1:1.
    #[default]
    Square,
    /// 2:3, taller than wide.
    Portrait,
    /// 3:2, wider than tall.
    Landscape,
}

impl ImageShape {
    /// The name the tool and the command use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Square => "square",
            Self::Portrait => "portrait",
            Self::Landscape => "landscape",
        }
    }

    /// The shape called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Square, Self::Portrait, Self::Landscape]
            .into_iter()
            .find(|shape| shape.name().eq_ignore_ascii_case(name.trim()))
    }

    /// `/images/generations` sizes, as gpt-image-1 accepts them.
    fn size(self) -> &'static str {
        match self {
            Self::Square => "1024x1024",
            Self::Portrait => "1024x1536",
            Self::Landscape => "1536x1024",
        }
    }

    fn aspect_ratio(self) -> &'static str {
        match self {
            Self::Square => "1:1",
            Self::Portrait => "2:3",
            Self::Landscape => "3:2",
        }
    }
}

/// What to draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRequest {
    /// The description (cut to [`MAX_IMAGE_PROMPT_CHARS`]).
    pub prompt: String,
    /// The shape.
    pub shape: ImageShape,
}

/// The image a provider made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageData {
    /// The file, as the provider sent it (not yet decoded or checked as an image).
    Bytes {
        /// At most [`MAX_IMAGE_BYTES`].
        bytes: Vec<u8>,
        /// The MIME type the provider claimed, if any (never trusted).
        mime: Option<String>,
    },
    /// Where the provider hosts it; download it through a media policy.
    Url(String),
}

/// A provider's answer to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageOutcome {
    /// An image.
    Image(ImageData),
    /// The provider answered without an image: its safety filter, or text instead. The reason
    /// is the provider's own words (untrusted text, shown to the model as such).
    Refused(String),
}

/// Which of the three APIs an endpoint is asked with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ImageApi {
    Images,
    ChatModalities,
    Gemini,
}

impl ImageApi {
    /// The API for a provider (`openrouter` answers images through chat completions).
    pub(crate) fn for_target(wire: Wire, provider: &str) -> Result<Self, LlmError> {
        match wire {
            Wire::Gemini => Ok(Self::Gemini),
            Wire::OpenAiCompatible if provider == "openrouter" => Ok(Self::ChatModalities),
            Wire::OpenAiCompatible => Ok(Self::Images),
            Wire::Anthropic => Err(LlmError::invalid("Anthropic's models do not make images")),
        }
    }
}

/// The path (after the base URL) and JSON body of one request.
pub(crate) fn request_body(
    api: ImageApi,
    model: &str,
    request: &ImageRequest,
) -> Result<(String, Vec<u8>), LlmError> {
    let prompt: String = request.prompt.chars().take(MAX_IMAGE_PROMPT_CHARS).collect();
    if prompt.trim().is_empty() {
        return Err(LlmError::invalid("an image needs a description"));
    }
    let (path, body) = match api {
        ImageApi::Images => {
            let mut body = json!({
                "model": model,
                "prompt": prompt,
                "n": 1,
                "size": request.shape.size(),
            });
            // gpt-image models always answer in base64 and refuse the parameter; dall-e and
            // most local servers answer with a URL unless asked for base64.
            if !model.starts_with("gpt-image") {
                body["response_format"] = json!("b64_json");
            }
            ("/images/generations".to_owned(), body)
        }
        ImageApi::ChatModalities => (
            "/chat/completions".to_owned(),
            json!({
                "model": model,
                "messages": [{ "role": "user", "content": prompt }],
                "modalities": ["image", "text"],
                "image_config": { "aspect_ratio": request.shape.aspect_ratio() },
                "stream": false,
            }),
        ),
        ImageApi::Gemini => (
            format!("/models/{}:generateContent", gemini::model_segment(model)?),
            json!({
                "contents": [{ "role": "user", "parts": [{ "text": prompt }] }],
                "generationConfig": {
                    "responseModalities": ["TEXT", "IMAGE"],
                    "imageConfig": { "aspectRatio": request.shape.aspect_ratio() },
                },
            }),
        ),
    };
    let body = serde_json::to_vec(&body).map_err(|e| LlmError::invalid(e.to_string()))?;
    Ok((path, body))
}

/// Reads a successful answer.
pub(crate) fn parse_answer(api: ImageApi, body: &[u8]) -> Result<ImageOutcome, LlmError> {
    match api {
        ImageApi::Images => parse_images(body),
        ImageApi::ChatModalities => parse_chat(body),
        ImageApi::Gemini => parse_gemini(body),
    }
}

#[derive(Deserialize)]
struct ImagesAnswer {
    #[serde(default)]
    data: Vec<ImagesItem>,
}

#[derive(Deserialize)]
struct ImagesItem {
    b64_json: Option<String>,
    url: Option<String>,
}

fn parse_images(body: &[u8]) -> Result<ImageOutcome, LlmError> {
    let answer: ImagesAnswer = serde_json::from_slice(body)
        .map_err(|e| LlmError::malformed(format!("image answer: {e}")))?;
    let item = answer
        .data
        .into_iter()
        .next()
        .ok_or_else(|| LlmError::malformed("the image answer holds no image"))?;
    match (item.b64_json, item.url) {
        (Some(b64), _) => {
            Ok(ImageOutcome::Image(ImageData::Bytes { bytes: decode_base64(&b64)?, mime: None }))
        }
        (None, Some(url)) => Ok(ImageOutcome::Image(ImageData::Url(url))),
        (None, None) => Err(LlmError::malformed("the image answer has neither data nor a URL")),
    }
}

fn parse_chat(body: &[u8]) -> Result<ImageOutcome, LlmError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| LlmError::malformed(format!("image answer: {e}")))?;
    let message = value
        .pointer("/choices/0/message")
        .ok_or_else(|| LlmError::malformed("the image answer has no message"))?;
    let image = message
        .get("images")
        .and_then(Value::as_array)
        .and_then(|images| images.first())
        .and_then(|image| image.pointer("/image_url/url"))
        .and_then(Value::as_str);
    if let Some(url) = image {
        return Ok(ImageOutcome::Image(data_url(url)?));
    }
    let said = ["refusal", "content"]
        .iter()
        .find_map(|field| message.get(*field).and_then(Value::as_str))
        .filter(|text| !text.trim().is_empty())
        .unwrap_or("the model answered without an image");
    Ok(ImageOutcome::Refused(said.to_owned()))
}

fn parse_gemini(body: &[u8]) -> Result<ImageOutcome, LlmError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| LlmError::malformed(format!("image answer: {e}")))?;
    if let Some(blocked) = value.pointer("/promptFeedback/blockReason").and_then(Value::as_str) {
        return Ok(ImageOutcome::Refused(format!("the prompt was blocked ({blocked})")));
    }
    let candidate = value.pointer("/candidates/0");
    let parts = candidate
        .and_then(|c| c.pointer("/content/parts"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut text = String::new();
    for part in parts {
        if let Some(inline) = part.get("inlineData") {
            let data = inline.get("data").and_then(Value::as_str).unwrap_or_default();
            let mime = inline.get("mimeType").and_then(Value::as_str).map(str::to_owned);
            return Ok(ImageOutcome::Image(ImageData::Bytes { bytes: decode_base64(data)?, mime }));
        }
        if let Some(said) = part.get("text").and_then(Value::as_str) {
            text.push_str(said);
        }
    }
    let finish = candidate.and_then(|c| c.get("finishReason")).and_then(Value::as_str);
    Ok(ImageOutcome::Refused(match (text.trim(), finish) {
        ("", Some(reason)) => format!("no image was made ({reason})"),
        ("", None) => "the model answered without an image".to_owned(),
        (said, _) => said.to_owned(),
    }))
}

/// A `data:` URL's bytes, or an `http(s)` URL to download.
fn data_url(url: &str) -> Result<ImageData, LlmError> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Ok(ImageData::Url(url.to_owned()));
    };
    let (meta, data) =
        rest.split_once(',').ok_or_else(|| LlmError::malformed("a data URL without data"))?;
    let Some(mime) = meta.strip_suffix(";base64") else {
        return Err(LlmError::malformed("a data URL that is not base64"));
    };
    Ok(ImageData::Bytes { bytes: decode_base64(data)?, mime: Some(mime.to_owned()) })
}

fn decode_base64(data: &str) -> Result<Vec<u8>, LlmError> {
    // Security: resource exhaustion from a provider's answer. Base64 is 4 bytes per 3, so a
    // text over this many bytes decodes past the cap: refused before decoding.
    if data.len() / 4 * 3 > MAX_IMAGE_BYTES {
        return Err(LlmError::malformed(format!(
            "the image is over {} MiB",
            MAX_IMAGE_BYTES / (1024 * 1024)
        )));
    }
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| LlmError::malformed(format!("the image is not valid base64: {e}")))
}

#[cfg(test)]
mod tests;
