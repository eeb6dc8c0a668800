//! OpenRouter's video jobs, as its API reference describes them:
//! - `POST …/videos`: a bearer key required; `model` (a `vendor/model` id) and a non-empty
//!   `prompt` required; `aspect_ratio`, when given, one the models take; no field the API does
//!   not know. Answered `202` with `{id, polling_url, status: "pending"}`.
//! - `GET …/videos/{id}`: `pending`, then `in_progress` for the polls the test chose, then
//!   `completed` with `unsigned_urls` and `usage`, or, for a prompt containing
//!   [`REFUSED_WORD`], `failed` with an `error` text.
//! - `GET …/videos/{id}/content?index=0`: the key again, a completed job, then a real MP4 as
//!   `video/mp4` (or the bytes a test put in its place).
//!
//! Errors have OpenRouter's shape, `{"error": {"code", "message"}}`.

use serde_json::{Value, json};

use super::{Operation, Studio, mp4};
use crate::fake_llm::{REFUSED_WORD, Recorded, Reply, Step};

/// The request fields OpenRouter's `POST /videos` documents.
const KNOWN_FIELDS: &[&str] = &[
    "model",
    "prompt",
    "duration",
    "resolution",
    "aspect_ratio",
    "size",
    "generate_audio",
    "seed",
    "frame_images",
    "input_references",
    "provider",
];

/// Aspect ratios the routed video models take.
const RATIOS: &[&str] = &["16:9", "9:16", "1:1", "4:3", "3:4", "21:9"];

/// Whether `request` is one of the job routes.
pub(super) fn is_job_request(request: &Recorded) -> bool {
    let path = request.path.split('?').next().unwrap_or_default();
    path.ends_with("/videos") || path.contains("/videos/")
}

fn error(status: u16, message: &str) -> Reply {
    Reply::status(status, &json!({ "error": { "code": status, "message": message } }))
}

/// The answer to a job request.
pub(super) fn reply(studio: &mut Studio, request: &Recorded) -> Reply {
    let bearer = request.header("authorization").and_then(|h| h.strip_prefix("Bearer "));
    if bearer.is_none_or(|key| key.trim().is_empty()) {
        return error(401, "No auth credentials found");
    }
    let (path, query) = request.path.split_once('?').unwrap_or((&request.path, ""));
    if request.method == "POST" && path.ends_with("/videos") {
        return start(studio, request);
    }
    if request.method != "GET" {
        return error(405, "Method not allowed");
    }
    let Some((_, rest)) = path.rsplit_once("/videos/") else {
        return error(404, "Not found");
    };
    if let Some(id) = rest.strip_suffix("/content") {
        return content(studio, id, query);
    }
    poll(studio, rest)
}

fn start(studio: &mut Studio, request: &Recorded) -> Reply {
    let Some(body) = request.json.as_ref().and_then(Value::as_object) else {
        return error(400, "Invalid JSON body");
    };
    if let Some(unknown) = body.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str())) {
        return error(400, &format!("Unrecognized key: \"{unknown}\""));
    }
    let model = body.get("model").and_then(Value::as_str).unwrap_or_default();
    if !model.contains('/') {
        return error(400, &format!("{model} is not a valid video model ID"));
    }
    let prompt = body.get("prompt").and_then(Value::as_str).unwrap_or_default();
    if prompt.trim().is_empty() {
        return error(400, "prompt is required");
    }
    let ratio = body.get("aspect_ratio");
    if ratio.is_some_and(|r| !r.as_str().is_some_and(|r| RATIOS.contains(&r))) {
        return error(400, "aspect_ratio is not supported by this model");
    }
    let id = format!("job-{}", studio.operations.len() + 1);
    let refused = prompt.contains(REFUSED_WORD);
    studio.operations.insert(id.clone(), Operation { polls: 0, refused });
    Reply::status(
        202,
        &json!({ "id": id, "polling_url": format!("/api/v1/videos/{id}"), "status": "pending" }),
    )
}

fn poll(studio: &mut Studio, id: &str) -> Reply {
    let limit = studio.polls_before_done;
    let Some(job) = studio.operations.get_mut(id) else {
        return error(404, "Video generation job not found");
    };
    job.polls += 1;
    let mut answer = json!({ "id": id, "polling_url": format!("/api/v1/videos/{id}") });
    if job.polls <= limit {
        answer["status"] = json!(if job.polls == 1 { "pending" } else { "in_progress" });
    } else if job.refused {
        answer["status"] = json!("failed");
        answer["error"] = json!("The request was flagged by the provider's content moderation.");
    } else {
        answer["status"] = json!("completed");
        answer["generation_id"] = json!(format!("gen-{id}"));
        answer["unsigned_urls"] = json!([format!("/api/v1/videos/{id}/content?index=0")]);
        answer["usage"] = json!({ "cost": 0.5, "is_byok": false });
    }
    Reply::json(&answer)
}

fn content(studio: &Studio, id: &str, query: &str) -> Reply {
    let Some(job) = studio.operations.get(id) else {
        return error(404, "Video generation job not found");
    };
    if job.refused || job.polls <= studio.polls_before_done {
        return error(409, "The video is not ready");
    }
    if !matches!(query, "" | "index=0") {
        return error(400, "index is out of range");
    }
    let bytes = studio.file.clone().unwrap_or_else(mp4);
    Reply::Raw { content_type: "video/mp4".to_owned(), steps: vec![Step::Bytes(bytes)] }
}
