//! The fake's video routes, on when a test calls [`super::FakeLlm::make_videos`]: on the Gemini
//! wire the long-running operation of Gemini's video API, as its documentation describes it; on
//! the OpenAI-compatible wire OpenRouter's video jobs ([`openrouter`]).
//!
//! - `POST …/models/{model}:predictLongRunning`: an `x-goog-api-key` required, a `veo-` model,
//!   exactly one instance with a non-empty `prompt`, `parameters.aspectRatio` (when given)
//!   `16:9` or `9:16` and no parameter Veo does not know; answered `{"name":
//!   "models/{model}/operations/{id}"}`.
//! - `GET …/models/{model}/operations/{id}`: not `done` for the first polls the test chose, then
//!   done with `response.generateVideoResponse.generatedSamples[0].video.uri`, or, for a prompt
//!   containing [`REFUSED_WORD`], with `raiMediaFilteredCount` and `raiMediaFilteredReasons` and
//!   no sample.
//! - `GET …/files/{id}:download?alt=media`: the key again, then a real MP4 ([`mp4`]) as
//!   `video/mp4` (or the bytes a test put in its place).

mod openrouter;

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Recorded, Reply, Step, WireFormat};
use crate::fake_llm::REFUSED_WORD;

/// Parameters Veo's `predictLongRunning` knows; anything else is refused as the API does.
const KNOWN_PARAMETERS: &[&str] = &[
    "aspectRatio",
    "negativePrompt",
    "personGeneration",
    "durationSeconds",
    "resolution",
    "numberOfVideos",
    "seed",
];

/// The video route's state.
#[derive(Debug, Default)]
pub(super) struct Studio {
    /// Polls answered "not done" before an operation finishes.
    polls_before_done: u32,
    /// Bytes served instead of the MP4 (a hostile answer), when set.
    file: Option<Vec<u8>>,
    operations: HashMap<String, Operation>,
}

#[derive(Debug)]
struct Operation {
    polls: u32,
    refused: bool,
}

impl Studio {
    pub(super) fn new(polls_before_done: u32) -> Self {
        Studio { polls_before_done, ..Studio::default() }
    }

    pub(super) fn serve_instead(&mut self, bytes: Vec<u8>) {
        self.file = Some(bytes);
    }
}

/// Whether `request` is one of the video routes of `wire`.
pub(super) fn is_video_request(wire: WireFormat, request: &Recorded) -> bool {
    match wire {
        WireFormat::Gemini => is_veo_request(request),
        WireFormat::OpenAi => openrouter::is_job_request(request),
        WireFormat::Anthropic => false,
    }
}

fn is_veo_request(request: &Recorded) -> bool {
    let path = request.path.split('?').next().unwrap_or_default();
    path.ends_with(":predictLongRunning")
        || path.contains("/operations/")
        || (path.contains("/files/") && path.ends_with(":download"))
}

/// The answer to a video request on `wire`.
pub(super) fn reply(wire: WireFormat, studio: &mut Studio, request: &Recorded) -> Reply {
    if wire == WireFormat::OpenAi {
        return openrouter::reply(studio, request);
    }
    let error = |status, message: &str| Reply::error(WireFormat::Gemini, status, message);
    if request.header("x-goog-api-key").is_none_or(str::is_empty) {
        return error(401, "API key not valid. Please pass a valid API key.");
    }
    let path = request.path.split('?').next().unwrap_or_default();
    if request.method == "POST" && path.ends_with(":predictLongRunning") {
        return start(studio, path, request);
    }
    if request.method != "GET" {
        return error(405, "Method not allowed");
    }
    if let Some((_, rest)) = path.split_once("/files/") {
        let id = rest.strip_suffix(":download").unwrap_or_default();
        if !studio.operations.contains_key(id) {
            return error(404, "File not found.");
        }
        let bytes = studio.file.clone().unwrap_or_else(mp4);
        return Reply::Raw {
            content_type: "video/mp4".to_owned(),
            steps: vec![Step::Bytes(bytes)],
        };
    }
    poll(studio, path, request)
}

fn start(studio: &mut Studio, path: &str, request: &Recorded) -> Reply {
    let bad = |message: &str| Reply::error(WireFormat::Gemini, 400, message);
    let model = path
        .rsplit_once("/models/")
        .and_then(|(_, rest)| rest.strip_suffix(":predictLongRunning"))
        .unwrap_or_default();
    if !model.starts_with("veo-") {
        return Reply::error(
            WireFormat::Gemini,
            404,
            &format!(
                "models/{model} is not found for API version v1beta, or is not supported for predictLongRunning."
            ),
        );
    }
    let Some(json) = &request.json else { return bad("Invalid JSON payload received.") };
    let instances = json["instances"].as_array().map(Vec::as_slice).unwrap_or_default();
    let prompt = match instances {
        [only] => only["prompt"].as_str().unwrap_or_default(),
        _ => return bad("Exactly one instance is supported."),
    };
    if prompt.trim().is_empty() {
        return bad("A prompt is required.");
    }
    let parameters = json.get("parameters").and_then(Value::as_object);
    if let Some(unknown) =
        parameters.and_then(|p| p.keys().find(|k| !KNOWN_PARAMETERS.contains(&k.as_str())))
    {
        return bad(&format!("Invalid JSON payload received. Unknown name \"{unknown}\"."));
    }
    let ratio = parameters.and_then(|p| p.get("aspectRatio"));
    if ratio.is_some_and(|r| !matches!(r.as_str(), Some("16:9" | "9:16"))) {
        return bad("aspectRatio must be 16:9 or 9:16.");
    }
    let id = format!("op{}", studio.operations.len() + 1);
    let refused = prompt.contains(REFUSED_WORD);
    studio.operations.insert(id.clone(), Operation { polls: 0, refused });
    Reply::json(&json!({ "name": format!("models/{model}/operations/{id}") }))
}

fn poll(studio: &mut Studio, path: &str, request: &Recorded) -> Reply {
    let Some((prefix, id)) = path.rsplit_once("/operations/") else {
        return Reply::error(WireFormat::Gemini, 404, "Not found.");
    };
    let name = format!("{}/operations/{id}", prefix.trim_start_matches("/v1beta/"));
    let limit = studio.polls_before_done;
    let Some(operation) = studio.operations.get_mut(id) else {
        return Reply::error(WireFormat::Gemini, 404, "Operation not found.");
    };
    operation.polls += 1;
    if operation.polls <= limit {
        // Google leaves `done` out while the operation runs.
        return Reply::json(&json!({ "name": name }));
    }
    let answer = if operation.refused {
        json!({
            "raiMediaFilteredCount": 1,
            "raiMediaFilteredReasons": ["The prompt could not be submitted: it may violate our policies."],
        })
    } else {
        let host = request.header("host").unwrap_or("127.0.0.2");
        let uri = format!("http://{host}/v1beta/files/{id}:download?alt=media");
        json!({ "generatedSamples": [{ "video": { "uri": uri } }] })
    };
    Reply::json(&json!({
        "name": name,
        "done": true,
        "response": {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
            "generateVideoResponse": answer,
        },
    }))
}

/// A small real MP4 (ISO base media file): an `ftyp` (brand `isom`, compatible with `isom`,
/// `iso2` and `mp41`) and a `moov` holding a version-0 `mvhd` of one second at 1,000 units a
/// second, with the identity matrix and the next track id 1. No track: nothing plays, but every
/// box is where and as long as the format says.
pub fn mp4() -> Vec<u8> {
    let boxed = |kind: &[u8; 4], payload: &[u8]| {
        let size = u32::try_from(payload.len() + 8).unwrap_or(u32::MAX);
        let mut out = size.to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(payload);
        out
    };
    let mut ftyp = b"isom".to_vec();
    ftyp.extend_from_slice(&0x200_u32.to_be_bytes());
    for brand in [b"isom", b"iso2", b"mp41"] {
        ftyp.extend_from_slice(brand);
    }
    let mut mvhd = vec![0, 0, 0, 0]; // version 0, no flags
    for field in [0_u32, 0, 1_000, 1_000] {
        // creation and modification time, timescale, duration
        mvhd.extend_from_slice(&field.to_be_bytes());
    }
    mvhd.extend_from_slice(&0x0001_0000_u32.to_be_bytes()); // rate 1.0
    mvhd.extend_from_slice(&0x0100_u16.to_be_bytes()); // volume 1.0
    mvhd.extend_from_slice(&[0; 10]); // reserved
    for value in [0x0001_0000_u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        mvhd.extend_from_slice(&value.to_be_bytes()); // the identity matrix
    }
    mvhd.extend_from_slice(&[0; 24]); // pre-defined
    mvhd.extend_from_slice(&1_u32.to_be_bytes()); // next track id
    let mut file = boxed(b"ftyp", &ftyp);
    file.extend(boxed(b"moov", &boxed(b"mvhd", &mvhd)));
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mp4_has_the_boxes_the_format_asks_for() {
        let file = mp4();
        assert_eq!(&file[4..8], b"ftyp");
        assert_eq!(u32::from_be_bytes(file[0..4].try_into().unwrap()), 28);
        assert_eq!(&file[32..36], b"moov");
        assert_eq!(&file[40..44], b"mvhd");
        assert_eq!(file.len(), 28 + 8 + 8 + 100);
    }
}
