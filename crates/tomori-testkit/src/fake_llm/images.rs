//! The fake's image route, on when a test calls [`super::FakeLlm::draw_images`]: each wire's
//! image API answered with a real PNG, and its documented refusals.
//!
//! - OpenAI-compatible `POST …/images/generations`: `model` and a `prompt` of 1 to 32,000
//!   characters required, `n` 1 to 10, `size` one of the sizes gpt-image and dall-e accept,
//!   `response_format` only `b64_json` or `url`; answered `{"created", "data": [{"b64_json"}]}`.
//! - OpenRouter's chat completions with `modalities` naming `image`: the image as a data URL in
//!   `choices[0].message.images`.
//! - Gemini `:generateContent` with `responseModalities` naming `IMAGE`: `inlineData`.
//!
//! A prompt containing [`REFUSED_WORD`] is refused as each provider refuses: OpenAI's 400
//! `content_policy_violation`, OpenRouter's text-only answer, Gemini's `promptFeedback`.

use base64::Engine as _;
use serde_json::{Value, json};

use super::{Recorded, Reply, WireFormat, render};

/// A prompt with this word is refused by the fake's safety system.
pub const REFUSED_WORD: &str = "forbidden";

/// Sizes `/images/generations` accepts (gpt-image-1 and dall-e 2 and 3 together).
const SIZES: &[&str] = &[
    "256x256",
    "512x512",
    "1024x1024",
    "1024x1536",
    "1536x1024",
    "1024x1792",
    "1792x1024",
    "auto",
];

/// Whether `request` asks for an image in `wire`.
pub(super) fn is_image_request(wire: WireFormat, request: &Recorded) -> bool {
    let path = request.path.split('?').next().unwrap_or_default();
    let json = request.json.as_ref();
    match wire {
        WireFormat::Gemini => {
            path.ends_with(":generateContent")
                && json
                    .is_some_and(|j| names(&j["generationConfig"]["responseModalities"], "IMAGE"))
        }
        WireFormat::Anthropic => false,
        _ => {
            path.ends_with("/images/generations")
                || (path.ends_with("/chat/completions")
                    && json.is_some_and(|j| names(&j["modalities"], "image")))
        }
    }
}

fn names(list: &Value, wanted: &str) -> bool {
    list.as_array().is_some_and(|items| items.iter().any(|v| v.as_str() == Some(wanted)))
}

/// The answer to an image request.
pub(super) fn reply(wire: WireFormat, request: &Recorded) -> Reply {
    if request.header("authorization").is_none() && request.header("x-goog-api-key").is_none() {
        return Reply::error(wire, 401, "Missing API key");
    }
    let Some(json) = &request.json else {
        return Reply::error(wire, 400, "The body is not JSON");
    };
    let path = request.path.split('?').next().unwrap_or_default();
    if wire == WireFormat::Gemini {
        return gemini(json);
    }
    if path.ends_with("/chat/completions") {
        return openrouter(json);
    }
    images_generations(wire, json)
}

fn images_generations(wire: WireFormat, json: &Value) -> Reply {
    let prompt = json["prompt"].as_str().unwrap_or_default();
    let problem = if json["model"].as_str().is_none_or(str::is_empty) {
        Some(("model", "you must provide a model parameter".to_owned()))
    } else if prompt.is_empty() || prompt.chars().count() > 32_000 {
        Some(("prompt", "prompt must be 1 to 32000 characters".to_owned()))
    } else if json.get("n").is_some_and(|n| n.as_u64().is_none_or(|n| !(1..=10).contains(&n))) {
        Some(("n", "n must be between 1 and 10".to_owned()))
    } else if json.get("size").is_some_and(|s| s.as_str().is_none_or(|s| !SIZES.contains(&s))) {
        Some(("size", format!("Invalid size. Supported sizes: {}", SIZES.join(", "))))
    } else if json
        .get("response_format")
        .is_some_and(|f| f.as_str().is_none_or(|f| f != "b64_json" && f != "url"))
    {
        Some(("response_format", "response_format must be b64_json or url".to_owned()))
    } else {
        None
    };
    if let Some((param, message)) = problem {
        let mut body = render::error_body(wire, 400, &message);
        body["error"]["param"] = json!(param);
        return Reply::status(400, &body);
    }
    if prompt.contains(REFUSED_WORD) {
        return Reply::status(
            400,
            &json!({ "error": {
                "code": "content_policy_violation",
                "message": "Your request was rejected as a result of our safety system.",
                "param": null,
                "type": "invalid_request_error",
            } }),
        );
    }
    Reply::json(&json!({
        "created": 1_767_225_600,
        "data": [{ "b64_json": b64_png(), "revised_prompt": prompt }],
    }))
}

fn openrouter(json: &Value) -> Reply {
    let prompt = json["messages"][0]["content"].as_str().unwrap_or_default();
    let message = if prompt.contains(REFUSED_WORD) {
        json!({ "role": "assistant", "content": "I can't help with that image." })
    } else {
        json!({
            "role": "assistant",
            "content": "",
            "images": [{ "type": "image_url", "image_url": { "url": format!("data:image/png;base64,{}", b64_png()) } }],
        })
    };
    Reply::json(&json!({
        "id": "gen-fake",
        "object": "chat.completion",
        "model": json["model"],
        "choices": [{ "index": 0, "finish_reason": "stop", "message": message }],
    }))
}

fn gemini(json: &Value) -> Reply {
    let prompt = json["contents"][0]["parts"][0]["text"].as_str().unwrap_or_default();
    if prompt.contains(REFUSED_WORD) {
        return Reply::json(&json!({ "promptFeedback": { "blockReason": "SAFETY" } }));
    }
    Reply::json(&json!({
        "candidates": [{
            "content": { "role": "model", "parts": [
                { "text": "Here is your picture." },
                { "inlineData": { "mimeType": "image/png", "data": b64_png() } },
            ] },
            "finishReason": "STOP",
        }],
    }))
}

fn b64_png() -> String {
    base64::engine::general_purpose::STANDARD.encode(png(64, 48))
}

/// A real PNG of `width` × `height` (an RGB gradient; a side of 0 counts as 1): signature,
/// IHDR, one zlib IDAT, IEND. Every fake that serves pictures serves these.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let (width, height) = (width.max(1), height.max(1));
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0); // filter: none
        for x in 0..width {
            let byte = |v: u32| u8::try_from(v % 256).unwrap_or(0);
            raw.extend_from_slice(&[byte(x * 4), byte(y * 4), 160]);
        }
    }
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut zlib, &raw).expect("writing to memory");
    let idat = zlib.finish().expect("writing to memory");
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", ihdr.as_slice()), (b"IDAT", &idat), (b"IEND", &[])] {
        png.extend_from_slice(&u32::try_from(data.len()).unwrap_or(0).to_be_bytes());
        let start = png.len();
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        // PNG's chunk CRC is gzip's CRC-32, over the type and the data.
        let mut crc = flate2::Crc::new();
        crc.update(png.get(start..).unwrap_or_default());
        png.extend_from_slice(&crc.sum().to_be_bytes());
    }
    png
}
