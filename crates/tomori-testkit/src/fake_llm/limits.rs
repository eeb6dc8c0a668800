//! The documented limits the fake providers enforce on a chat request before answering it.

use serde_json::Value;

use super::WireFormat;

/// Gemini's whole request may carry at most 20 MB (inline data counted as sent, in base64).
const GEMINI_MAX_REQUEST: usize = 20 * 1024 * 1024;

/// The media types Gemini documents for inline data: images, video, audio and PDF.
const GEMINI_INLINE_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/webp",
    "image/heic",
    "image/heif",
    "video/mp4",
    "video/mpeg",
    "video/mov",
    "video/quicktime",
    "video/avi",
    "video/x-flv",
    "video/mpg",
    "video/webm",
    "video/wmv",
    "video/3gpp",
    "audio/wav",
    "audio/mp3",
    "audio/aiff",
    "audio/aac",
    "audio/ogg",
    "audio/flac",
    "application/pdf",
];

/// What the provider's documentation limits and this request exceeds, in its own words: OpenAI
/// takes up to 4 stop sequences, Gemini up to 5 (Anthropic documents no count); Gemini's media
/// parts are checked by [`gemini_media_refusal`].
pub(super) fn beyond_limits(wire: WireFormat, json: &Value) -> Option<String> {
    let count = |value: &Value| value.as_array().map_or(0, Vec::len);
    match wire {
        WireFormat::OpenAi if count(&json["stop"]) > 4 => Some(format!(
            "Invalid 'stop': array too long. Expected an array with maximum length 4, but got an \
             array with length {} instead.",
            count(&json["stop"])
        )),
        WireFormat::OpenAi if json.get("logit_bias").is_some() => {
            logit_bias_refusal(&json["logit_bias"])
        }
        WireFormat::Gemini if count(&json["generationConfig"]["stopSequences"]) > 5 => {
            Some("stopSequences must have at most 5 entries".to_owned())
        }
        WireFormat::Gemini => gemini_media_refusal(json),
        _ => None,
    }
}

/// OpenAI's documented `logit_bias`: an object of at most 300 token ids (as strings) to numbers
/// from -100 to 100.
fn logit_bias_refusal(bias: &Value) -> Option<String> {
    let Some(map) = bias.as_object() else {
        return Some("Invalid type for 'logit_bias': expected an object.".to_owned());
    };
    if map.len() > 300 {
        return Some(format!(
            "Invalid 'logit_bias': too many tokens. Expected at most 300, but got {}.",
            map.len()
        ));
    }
    for (key, value) in map {
        if key.parse::<u32>().is_err() {
            return Some(format!("Invalid key in 'logit_bias': {key}."));
        }
        if !value.as_f64().is_some_and(|v| (-100.0..=100.0).contains(&v)) {
            return Some(format!(
                "Invalid value for 'logit_bias' key {key}: expected -100 to 100."
            ));
        }
    }
    None
}

/// Gemini's media parts: `inlineData` of a documented type within the request's 20 MB, and
/// `fileData` naming either a file of the Files API or a public YouTube video (the only URLs the
/// API fetches).
fn gemini_media_refusal(json: &Value) -> Option<String> {
    let mut inline = 0;
    let contents = json["contents"].as_array().map(Vec::as_slice).unwrap_or_default();
    for part in contents.iter().flat_map(|c| c["parts"].as_array().into_iter().flatten()) {
        if let Some(data) = part.get("inlineData") {
            let mime = data["mimeType"].as_str().unwrap_or_default();
            if !GEMINI_INLINE_TYPES.contains(&mime) {
                return Some(format!("Unsupported MIME type: {mime}"));
            }
            inline += data["data"].as_str().map_or(0, str::len);
        }
        if let Some(file) = part.get("fileData") {
            let uri = file["fileUri"].as_str().unwrap_or_default();
            let youtube = uri.starts_with("https://www.youtube.com/watch?v=")
                || uri.starts_with("https://youtu.be/");
            let files_api = uri.starts_with("https://generativelanguage.googleapis.com/");
            if !youtube && !files_api {
                return Some(format!("Invalid or unsupported file uri: {uri}"));
            }
        }
    }
    (inline > GEMINI_MAX_REQUEST)
        .then(|| format!("Request payload size exceeds the limit: {GEMINI_MAX_REQUEST} bytes."))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn gemini_takes_documented_media_within_its_request_size() {
        let with = |part: Value| json!({ "contents": [{ "role": "user", "parts": [part] }] });
        let youtube =
            json!({ "fileData": { "fileUri": "https://www.youtube.com/watch?v=dQw4w9WgXcQ" } });
        let video = json!({ "inlineData": { "mimeType": "video/mp4", "data": "AAAA" } });
        assert_eq!(beyond_limits(WireFormat::Gemini, &with(youtube)), None);
        assert_eq!(beyond_limits(WireFormat::Gemini, &with(video)), None);
        let elsewhere = json!({ "fileData": { "fileUri": "https://example.com/v.mp4" } });
        assert!(beyond_limits(WireFormat::Gemini, &with(elsewhere)).is_some());
        let page = json!({ "inlineData": { "mimeType": "text/html", "data": "AAAA" } });
        assert!(beyond_limits(WireFormat::Gemini, &with(page)).is_some());
        let large = "A".repeat(GEMINI_MAX_REQUEST + 4);
        let large = json!({ "inlineData": { "mimeType": "video/mp4", "data": large } });
        let refused = beyond_limits(WireFormat::Gemini, &with(large)).unwrap_or_default();
        assert!(refused.contains("exceeds the limit"), "{refused}");
    }
}
