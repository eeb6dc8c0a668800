//! One image from a ComfyUI server: submit the filled workflow, poll its history until the run
//! ends, fetch the image it saved.
//!
//! Everything the server answers is hostile: bodies are read under caps, redirects are refused,
//! the prompt id and the image's file name are checked before they go into a URL, the image must
//! say it is one and look like one, and one deadline covers the whole run however the server
//! paces its answers.

use std::time::Duration;

use serde_json::{Value, json};
use tomori_net::{Client, Limits, Method, Redirects, RequestBuilder, Response, Url, header};

use super::{ComfyAsk, ComfyImage, ComfyOptions, ComfyWorkflow, MIN_COMFY_POLL};
use crate::endpoint::{Endpoint, Timeouts};
use crate::error::{LlmError, TimeoutPhase, scrub};
use crate::keys::ApiKey;

/// The answer to `/prompt` is a few ids; an error answer lists node errors.
const MAX_PROMPT_ANSWER: u64 = 64 * 1024;
/// A history entry repeats the whole workflow and the run's messages.
const MAX_HISTORY_ANSWER: u64 = 1024 * 1024;
/// Bytes of an error body that are read to classify it.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Longest prompt id accepted (ComfyUI's are 36-character UUIDs).
const MAX_PROMPT_ID: usize = 64;
/// Longest file name or subfolder accepted from the server.
const MAX_FILE_NAME: usize = 255;

/// Runs `workflow` filled with `ask` on the ComfyUI server at `endpoint` and returns the first
/// image it saved. `key`, when given, is sent as a bearer token (a ComfyUI behind an
/// authenticating proxy), with the endpoint's extra headers, as secret headers.
///
/// # Errors
/// - [`LlmError::BadRequest`] when ComfyUI refuses the workflow (naming the first node error).
/// - [`LlmError::Server`] when the run fails, with ComfyUI's message.
/// - [`LlmError::Timeout`] (phase `Total`) when the run outlasts [`ComfyOptions::deadline`].
/// - [`LlmError::Malformed`] for an answer that breaks the API's shape or names an unsafe file,
///   [`LlmError::TooLarge`] for an answer over its cap, and the transport and policy errors of
///   any provider call.
pub async fn generate(
    client: &Client,
    endpoint: &Endpoint,
    key: Option<&ApiKey>,
    workflow: &ComfyWorkflow,
    ask: &ComfyAsk,
    options: &ComfyOptions,
) -> Result<ComfyImage, LlmError> {
    let server = Server { client, endpoint, key, timeouts: &options.timeouts };
    let run = async {
        let filled = workflow.fill(&ask.prompt, &ask.negative, ask.seed, ask.size);
        let prompt_id = server.submit(&filled).await?;
        // Security: request flooding. However short the caller made it, polls are spaced.
        let pause = options.poll_every.max(MIN_COMFY_POLL);
        let image = loop {
            if let Some(image) = server.finished(&prompt_id).await? {
                break image;
            }
            tokio::time::sleep(pause).await;
        };
        server.fetch(&image, options.max_image_bytes).await
    };
    // Security: slow-answer denial of service. One deadline covers queueing, polling and the
    // download, so a server that answers every poll with "not yet" still ends the run.
    match tokio::time::timeout(options.deadline, run).await {
        Err(_elapsed) => {
            Err(LlmError::Timeout { phase: TimeoutPhase::Total, after: options.deadline })
        }
        Ok(result) => result,
    }
}

/// An image the history names, checked.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ImageRef {
    pub(super) filename: String,
    pub(super) subfolder: String,
    pub(super) kind: String,
}

struct Server<'a> {
    client: &'a Client,
    endpoint: &'a Endpoint,
    key: Option<&'a ApiKey>,
    timeouts: &'a Timeouts,
}

impl Server<'_> {
    fn request(&self, method: Method, url: &str, max_bytes: u64) -> RequestBuilder<'_> {
        let limits = Limits {
            max_bytes,
            max_decoded_bytes: max_bytes,
            timeout: self.timeouts.total,
            idle_timeout: Some(self.timeouts.idle),
            content_types: Vec::new(),
        };
        let mut builder = self
            .client
            .request(method, url)
            // Security: request smuggled elsewhere. ComfyUI's API does not redirect; following
            // one would send the workflow, or the token, wherever it points.
            .redirects(Redirects::Refuse)
            .limits(limits);
        for extra in &self.endpoint.options().extra_headers {
            // Security: credential disclosure. An operator's header may be a proxy's key.
            builder = builder.secret_header(extra.name(), extra.value());
        }
        if let Some(key) = self.key {
            // Security: credential disclosure. The token travels only as a secret header.
            builder = builder.bearer_auth(key.expose());
        }
        builder
    }

    /// Sends a request; the first-byte timeout covers it. An error status is classified here.
    async fn send(&self, builder: RequestBuilder<'_>) -> Result<Response, LlmError> {
        let first_byte = self.timeouts.first_byte;
        let response = match tokio::time::timeout(first_byte, builder.send()).await {
            Err(_elapsed) => {
                return Err(LlmError::Timeout {
                    phase: TimeoutPhase::FirstByte,
                    after: first_byte,
                });
            }
            Ok(Err(error)) => return Err(LlmError::from_fetch(error, TimeoutPhase::Connect)),
            Ok(Ok(response)) => response,
        };
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(self.status_error(response).await)
        }
    }

    async fn read_json(&self, response: Response, what: &str) -> Result<Value, LlmError> {
        let bytes =
            response.bytes().await.map_err(|e| LlmError::from_fetch(e, TimeoutPhase::Total))?;
        serde_json::from_slice(&bytes)
            .map_err(|_| LlmError::malformed(format!("ComfyUI's {what} answer is not JSON")))
    }

    /// `POST /prompt`: queues the workflow, returns the prompt id.
    async fn submit(&self, filled: &Value) -> Result<String, LlmError> {
        let body = json!({ "prompt": filled, "client_id": client_id() });
        let body = serde_json::to_vec(&body)
            .map_err(|e| LlmError::invalid(format!("the workflow cannot be encoded: {e}")))?;
        let url = self.endpoint.url("/prompt");
        let builder = self
            .request(Method::POST, &url, MAX_PROMPT_ANSWER)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .body(body);
        let response = self.send(builder).await?;
        let answer = self.read_json(response, "/prompt").await?;
        let id = answer.get("prompt_id").and_then(Value::as_str).unwrap_or_default();
        // Security: path injection. The id goes into the history URL's path; only the
        // characters of a UUID are accepted, so it cannot add segments or a query.
        if prompt_id_ok(id) {
            Ok(id.to_owned())
        } else {
            Err(LlmError::malformed("ComfyUI's /prompt answer has no usable prompt_id"))
        }
    }

    /// `GET /history/{id}`: the saved image once the run has ended well, `None` while it runs.
    async fn finished(&self, prompt_id: &str) -> Result<Option<ImageRef>, LlmError> {
        let url = self.endpoint.url(&format!("/history/{prompt_id}"));
        let builder = self
            .request(Method::GET, &url, MAX_HISTORY_ANSWER)
            .header(header::ACCEPT, "application/json");
        let response = self.send(builder).await?;
        let history = self.read_json(response, "/history").await?;
        let Value::Object(entries) = history else {
            return Err(LlmError::malformed("ComfyUI's /history answer is not an object"));
        };
        match entries.get(prompt_id) {
            None => Ok(None),
            Some(entry) => entry_outcome(entry, self.key).map(Some),
        }
    }

    /// `GET /view`: the image's bytes, under `max_bytes`.
    async fn fetch(&self, image: &ImageRef, max_bytes: usize) -> Result<ComfyImage, LlmError> {
        let mut url = Url::parse(&self.endpoint.url("/view"))
            .map_err(|e| LlmError::invalid(format!("the ComfyUI URL is unusable: {e}")))?;
        url.query_pairs_mut()
            .append_pair("filename", &image.filename)
            .append_pair("subfolder", &image.subfolder)
            .append_pair("type", &image.kind);
        let cap = u64::try_from(max_bytes).unwrap_or(u64::MAX);
        // Security: memory exhaustion. The cap is counted while the body streams in.
        let builder =
            self.request(Method::GET, url.as_str(), cap).header(header::ACCEPT, "image/*");
        let response = self.send(builder).await?;
        let content_type = response.content_type().map(str::to_owned);
        let images = Limits::default().with_content_types(&["image/*"]);
        if !images.allows_content_type(content_type.as_deref()) {
            return Err(LlmError::malformed(format!(
                "ComfyUI's /view answered with {}, not an image",
                scrub(content_type.as_deref().unwrap_or("no content type"), None)
            )));
        }
        let bytes =
            response.bytes().await.map_err(|e| LlmError::from_fetch(e, TimeoutPhase::Total))?;
        // Security: content confusion. A header is only a claim; the bytes must begin like an
        // image format the caller can show.
        let mime = sniff(&bytes)
            .ok_or_else(|| LlmError::malformed("ComfyUI's image is not PNG, JPEG, WebP or GIF"))?;
        Ok(ComfyImage { bytes: bytes.to_vec(), filename: image.filename.clone(), mime })
    }

    /// An error status as an [`LlmError`], with ComfyUI's message (and first node error).
    async fn status_error(&self, mut response: Response) -> LlmError {
        let status = response.status().as_u16();
        let body = read_error_body(&mut response, self.timeouts.first_byte).await;
        let value: Option<Value> = serde_json::from_slice(&body).ok();
        let message = value
            .as_ref()
            .map(error_message)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        let message = scrub(&message, self.key.map(ApiKey::expose));
        match status {
            401..=403 => LlmError::Auth { status },
            429 => LlmError::RateLimit { retry_after: None },
            500..=599 | 408 => LlmError::Server { status: Some(status), message },
            _ => LlmError::BadRequest { status, parameter: None, message },
        }
    }
}

/// Reads at most [`MAX_ERROR_BODY`] bytes of an error body, within `wait`.
async fn read_error_body(response: &mut Response, wait: Duration) -> Vec<u8> {
    let mut body = Vec::new();
    let read = async {
        while let Ok(Some(chunk)) = response.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() >= MAX_ERROR_BODY {
                body.truncate(MAX_ERROR_BODY);
                break;
            }
        }
    };
    // A body that never comes still leaves the status to classify.
    let _elapsed = tokio::time::timeout(wait, read).await;
    body
}

/// ComfyUI's error answer: `{"error": {"type", "message", "details"}, "node_errors": {...}}`,
/// as one line naming the first node error.
pub(super) fn error_message(value: &Value) -> String {
    let error = value.get("error").unwrap_or(value);
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().trim().to_owned();
    let mut message = match error {
        Value::String(text) => text.clone(),
        _ => text(error.get("message")),
    };
    let details = text(error.get("details"));
    if !details.is_empty() {
        message = format!("{message}: {details}");
    }
    let first =
        value.get("node_errors").and_then(Value::as_object).and_then(|errors| errors.iter().next());
    if let Some((node, node_error)) = first {
        let class = text(node_error.get("class_type"));
        let first_error =
            node_error.get("errors").and_then(Value::as_array).and_then(|e| e.first());
        let what = text(first_error.and_then(|e| e.get("message")));
        let details = text(first_error.and_then(|e| e.get("details")));
        let mut line = format!("node {node} ({class}): {what}");
        if !details.is_empty() {
            line = format!("{line}: {details}");
        }
        message = if message.is_empty() { line } else { format!("{message}; {line}") };
    }
    if message.is_empty() { "ComfyUI gave no reason".to_owned() } else { message }
}

/// A finished history entry: the image, or the run's error.
pub(super) fn entry_outcome(entry: &Value, key: Option<&ApiKey>) -> Result<ImageRef, LlmError> {
    let status = entry.get("status");
    let status_str = status.and_then(|s| s.get("status_str")).and_then(Value::as_str);
    if status_str == Some("error") {
        let message = status.map(run_error).unwrap_or_default();
        return Err(LlmError::Server {
            status: None,
            message: scrub(&format!("ComfyUI's run failed: {message}"), key.map(ApiKey::expose)),
        });
    }
    let outputs = entry.get("outputs").and_then(Value::as_object);
    let images = outputs
        .into_iter()
        .flat_map(|o| o.values())
        .filter_map(|output| output.get("images").and_then(Value::as_array));
    let mut found: Vec<&Value> = images.flatten().collect();
    // SaveImage's files (type "output") before PreviewImage's temporary ones.
    found.sort_by_key(|image| image.get("type").and_then(Value::as_str) != Some("output"));
    let first = found
        .first()
        .ok_or_else(|| LlmError::malformed("ComfyUI finished without saving an image"))?;
    image_ref(first)
}

/// The message of a failed run: `["execution_error", {"node_id", "node_type",
/// "exception_message"}]` among the status messages, or an interruption.
fn run_error(status: &Value) -> String {
    let messages = status.get("messages").and_then(Value::as_array);
    let mut found = None;
    for message in messages.into_iter().flatten() {
        let kind = message.get(0).and_then(Value::as_str);
        let data = message.get(1);
        let text = |name: &str| data.and_then(|d| d.get(name)).map(value_text).unwrap_or_default();
        match kind {
            Some("execution_error") => {
                found = Some(format!(
                    "node {} ({}): {}",
                    text("node_id"),
                    text("node_type"),
                    text("exception_message").trim()
                ));
                break;
            }
            Some("execution_interrupted") => found = Some("the run was interrupted".to_owned()),
            _ => {}
        }
    }
    found.unwrap_or_else(|| "no reason given".to_owned())
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Checks one `{"filename", "subfolder", "type"}` from the history.
pub(super) fn image_ref(image: &Value) -> Result<ImageRef, LlmError> {
    let field = |name: &str| image.get(name).and_then(Value::as_str).unwrap_or_default();
    let (filename, subfolder, kind) = (field("filename"), field("subfolder"), field("type"));
    // Security: path traversal. The server (or the admin's filename_prefix) names the file that
    // /view reads and that is then posted; a name that climbs out of ComfyUI's output folder, or
    // starts at the root, could publish any file the ComfyUI host can read.
    if filename.is_empty() || !file_name_ok(filename) || !file_name_ok(subfolder) {
        return Err(LlmError::malformed("ComfyUI named an image file outside its output folder"));
    }
    // Only the folders generated images are saved in; not "input", where uploads live.
    if !matches!(kind, "output" | "temp") {
        return Err(LlmError::malformed("ComfyUI named an image outside its output folders"));
    }
    Ok(ImageRef {
        filename: filename.to_owned(),
        subfolder: subfolder.to_owned(),
        kind: kind.to_owned(),
    })
}

fn file_name_ok(name: &str) -> bool {
    name.chars().count() <= MAX_FILE_NAME
        && !name.starts_with(['/', '\\'])
        && !name.contains("..")
        && !name.chars().any(char::is_control)
        // A Windows drive (`C:`) is a root too.
        && name.chars().nth(1) != Some(':')
}

pub(super) fn prompt_id_ok(id: &str) -> bool {
    (1..=MAX_PROMPT_ID).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The image format the bytes begin with.
pub(super) fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"\xFF\xD8\xFF") {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP".as_slice()) {
        Some("image/webp")
    } else {
        None
    }
}

/// A random client id, as ComfyUI's own front end sends (it routes websocket progress to it;
/// polling does not need that, but the field is expected).
fn client_id() -> String {
    let mut bytes = [0_u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Not a secret: any distinct-enough value serves.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes = nanos.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
