//! OpenRouter's video jobs, one API for every video model it routes to:
//! - `POST {base}/videos` with `model`, `prompt` and `aspect_ratio` starts a job and answers its
//!   `id` and `status`;
//! - `GET {base}/videos/{id}` is polled while the status is `pending` or `in_progress`;
//! - `completed`: the file is `GET {base}/videos/{id}/content?index=0`, with the key;
//! - `failed`, `cancelled` or `expired` (with an `error` text) is the provider declining.
//!
//! The answer's `polling_url` and `unsigned_urls` are not followed: the bot builds both URLs
//! from the endpoint it was configured with and the checked job id.

use serde_json::{Value, json};

use super::{Polled, VideoRequest, prompt_of, reason};
use crate::error::LlmError;

/// Longest job id accepted (OpenRouter's are a few dozen characters).
const MAX_JOB_ID: usize = 128;

/// The path (after the base URL) and JSON body that start a job.
pub(crate) fn start_body(
    model: &str,
    request: &VideoRequest,
) -> Result<(String, Vec<u8>), LlmError> {
    let prompt = prompt_of(request)?;
    if model.trim().is_empty() {
        return Err(LlmError::invalid("a video needs a model"));
    }
    // Duration and resolution differ per model; each model's default is what it makes best.
    let body = json!({
        "model": model,
        "prompt": prompt,
        "aspect_ratio": request.shape.aspect_ratio(),
    });
    let body = serde_json::to_vec(&body).map_err(|e| LlmError::invalid(e.to_string()))?;
    Ok(("/videos".to_owned(), body))
}

/// A job's id, checked before it becomes part of a URL's path.
pub(crate) fn job_id(answer: &Value) -> Result<String, LlmError> {
    let id = answer.get("id").and_then(Value::as_str).unwrap_or_default();
    // Security: path injection. The id comes from the provider and is appended to the base URL:
    // one segment of letters, digits, `-` and `_`, so it adds no path, query or other host.
    let ok = (1..=MAX_JOB_ID).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if ok { Ok(id.to_owned()) } else { Err(LlmError::malformed("the video job has no usable id")) }
}

/// The path (after the base URL) that a job is polled at.
pub(crate) fn poll_path(id: &str) -> String {
    format!("/videos/{id}")
}

/// Reads one answer to a poll (or the start). `Done` carries the file's path after the base URL.
pub(crate) fn read_job(id: &str, job: &Value) -> Polled {
    let status = job.get("status").and_then(Value::as_str).unwrap_or_default();
    match status {
        "completed" => Polled::Done(format!("/videos/{id}/content?index=0")),
        "failed" | "cancelled" | "expired" => {
            let why = job.get("error").and_then(Value::as_str).filter(|e| !e.trim().is_empty());
            Polled::Refused(reason(&format!(
                "the video was not made ({status}): {}",
                why.unwrap_or("no reason given")
            )))
        }
        // `pending`, `in_progress`, and any status added later: the deadline still ends it.
        _ => Polled::Running,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VideoShape;

    #[test]
    fn a_job_is_started_in_openrouters_terms_and_read_by_its_status() {
        let request = VideoRequest { prompt: "a red fox".to_owned(), shape: VideoShape::Portrait };
        let (path, body) = start_body("google/veo-3.1", &request).expect("a body");
        assert_eq!(path, "/videos");
        let body: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            body,
            json!({ "model": "google/veo-3.1", "prompt": "a red fox", "aspect_ratio": "9:16" })
        );
        assert!(start_body(" ", &request).is_err());
        let blank = VideoRequest { prompt: "\n".to_owned(), ..request };
        assert!(start_body("google/veo-3.1", &blank).is_err());

        let cases = [
            (json!({ "status": "pending" }), Polled::Running),
            (json!({ "status": "in_progress" }), Polled::Running),
            (json!({ "status": "warming_up" }), Polled::Running),
            (json!({}), Polled::Running),
            (json!({ "status": "completed" }), Polled::Done("/videos/j1/content?index=0".into())),
            (
                json!({ "status": "failed", "error": "flagged\nby moderation" }),
                Polled::Refused("the video was not made (failed): flagged by moderation".into()),
            ),
            (
                json!({ "status": "expired" }),
                Polled::Refused("the video was not made (expired): no reason given".into()),
            ),
        ];
        for (job, expected) in cases {
            assert_eq!(read_job("j1", &job), expected, "{job}");
        }
    }

    #[test]
    fn job_ids_are_one_path_segment() {
        let cases = [
            ("job-abc_123", true),
            ("", false),
            ("../keys", false),
            ("a/b", false),
            ("a?x=1", false),
            ("a.b", false),
            ("https://evil.example", false),
        ];
        for (id, ok) in cases {
            assert_eq!(job_id(&json!({ "id": id })).is_ok(), ok, "{id}");
        }
        assert!(job_id(&json!({ "id": "a".repeat(MAX_JOB_ID + 1) })).is_err());
        assert!(job_id(&json!({ "id": 7 })).is_err());
    }
}
