//! One video: start the operation (Veo) or job (OpenRouter), poll it until it is done, fetch the
//! file.
//!
//! Everything the provider answers is hostile: answers are read under caps, the operation's name
//! or job's id is checked before it goes into a URL, the key goes only to the endpoint's own origin, the file
//! must be a well-formed MP4 under the cap, and one deadline covers polling and the download
//! however the provider paces its answers.

use serde_json::Value;
use tomori_net::{Limits, Method, Redirects, RequestBuilder, Response, Url, header};

use super::{
    MAX_VIDEO_BYTES, MIN_VIDEO_POLL, Polled, VideoApi, VideoData, VideoOptions, VideoOutcome,
    VideoRequest, check_mp4, openrouter, operation_name, read_operation, start_body,
};
use crate::call::{Exchange, authorised, status_failure};
use crate::decode::error_object;
use crate::error::{LlmError, TimeoutPhase};

/// An operation is a name, some metadata and, once done, a few URIs.
const MAX_OPERATION_ANSWER: u64 = 256 * 1024;

/// A failed video, and whether the provider had already started it (then no other key or target
/// is asked: that would pay for a second video).
#[derive(Debug)]
pub(crate) struct VideoFailure {
    pub(crate) error: LlmError,
    pub(crate) started: bool,
}

impl VideoFailure {
    fn before(error: LlmError) -> Self {
        VideoFailure { error, started: false }
    }

    fn after(error: LlmError) -> Self {
        VideoFailure { error, started: true }
    }
}

/// What was started: a Veo operation's name or an OpenRouter job's id, both checked.
enum Job {
    Operation(String),
    OpenRouter(String),
}

impl Job {
    /// The start's answer read for its handle; a start that answered an error object instead
    /// has started nothing.
    fn from_start(api: VideoApi, started: &Value) -> Result<Self, VideoFailure> {
        let handle = match api {
            VideoApi::Veo => "name",
            VideoApi::OpenRouter => "id",
        };
        if started.get(handle).is_none()
            && let Some(error) = error_object(started)
        {
            return Err(VideoFailure::before(error));
        }
        match api {
            VideoApi::Veo => operation_name(started).map(Job::Operation),
            VideoApi::OpenRouter => openrouter::job_id(started).map(Job::OpenRouter),
        }
        .map_err(VideoFailure::after)
    }

    /// Where the job is polled.
    fn poll_url(&self, exchange: Exchange<'_>) -> String {
        match self {
            Job::Operation(name) => exchange.endpoint.url(&format!("/{name}")),
            Job::OpenRouter(id) => exchange.endpoint.url(&openrouter::poll_path(id)),
        }
    }

    /// One answer read; `Done` carries the file's full URL.
    fn read(&self, exchange: Exchange<'_>, answer: &Value) -> Result<Polled, LlmError> {
        match self {
            Job::Operation(_) => read_operation(answer),
            Job::OpenRouter(id) => Ok(match openrouter::read_job(id, answer) {
                Polled::Done(path) => Polled::Done(exchange.endpoint.url(&path)),
                other => other,
            }),
        }
    }
}

/// Makes one video with one key: see the module documentation.
pub(crate) async fn generate(
    exchange: Exchange<'_>,
    api: VideoApi,
    request: &VideoRequest,
    options: &VideoOptions,
) -> Result<VideoOutcome, VideoFailure> {
    let (path, body) = match api {
        VideoApi::Veo => start_body(exchange.model, request),
        VideoApi::OpenRouter => openrouter::start_body(exchange.model, request),
    }
    .map_err(VideoFailure::before)?;
    let url = exchange.endpoint.url(&path);
    let started =
        send_json(exchange, Method::POST, &url, Some(body)).await.map_err(VideoFailure::before)?;
    let job = Job::from_start(api, &started)?;
    let pause = options.poll_every.max(MIN_VIDEO_POLL);
    let max_bytes = options.max_bytes.min(MAX_VIDEO_BYTES);
    let run = async {
        let mut answer = started;
        let uri = loop {
            match job.read(exchange, &answer)? {
                Polled::Running => {}
                Polled::Done(uri) => break uri,
                Polled::Refused(reason) => return Ok(VideoOutcome::Refused(reason)),
            }
            // Security: request flooding. However short the caller made it, polls are spaced.
            tokio::time::sleep(pause).await;
            match send_json(exchange, Method::GET, &job.poll_url(exchange), None).await {
                Ok(next) => answer = next,
                // A poll that failed on the way is asked again; the deadline still ends it.
                Err(error) if error.is_transient() => {}
                Err(error) => return Err(error),
            }
        };
        download(exchange, &uri, max_bytes).await
    };
    // Security: slow-answer denial of service. One deadline covers polling and the download, so
    // an operation that stays "not done" still ends the wait.
    match tokio::time::timeout(options.deadline, run).await {
        Err(_elapsed) => Err(VideoFailure::after(LlmError::Timeout {
            phase: TimeoutPhase::Total,
            after: options.deadline,
        })),
        Ok(result) => result.map_err(VideoFailure::after),
    }
}

/// A request with the wire's auth headers and `limits`.
fn request<'a>(
    exchange: Exchange<'a>,
    method: Method,
    url: &str,
    max_bytes: u64,
    redirects: Redirects,
) -> RequestBuilder<'a> {
    let limits = Limits {
        max_bytes,
        max_decoded_bytes: max_bytes,
        timeout: exchange.timeouts.total,
        idle_timeout: Some(exchange.timeouts.idle),
        content_types: Vec::new(),
    };
    let builder = exchange.client.request(method, url).redirects(redirects).limits(limits);
    authorised(builder, exchange.endpoint, exchange.key)
}

/// Sends a request; the first-byte timeout covers it, and an error status is classified.
async fn send(exchange: Exchange<'_>, builder: RequestBuilder<'_>) -> Result<Response, LlmError> {
    let first_byte = exchange.timeouts.first_byte;
    let response = match tokio::time::timeout(first_byte, builder.send()).await {
        Err(_elapsed) => {
            return Err(LlmError::Timeout { phase: TimeoutPhase::FirstByte, after: first_byte });
        }
        Ok(Err(error)) => return Err(LlmError::from_fetch(error, TimeoutPhase::Connect)),
        Ok(Ok(response)) => response,
    };
    if response.status().is_success() {
        return Ok(response);
    }
    let wire = exchange.endpoint.wire();
    Err(status_failure(response, wire, &[], exchange.key, first_byte).await.error)
}

/// The start (`POST` with `body`) or a poll (`GET`): an operation as JSON.
async fn send_json(
    exchange: Exchange<'_>,
    method: Method,
    url: &str,
    body: Option<Vec<u8>>,
) -> Result<Value, LlmError> {
    // Security: request smuggled elsewhere. The API does not redirect its operations; following
    // one would send the prompt, or the key, wherever it points.
    let mut builder = request(exchange, method, url, MAX_OPERATION_ANSWER, Redirects::Refuse)
        .header(header::ACCEPT, "application/json");
    if let Some(body) = body {
        builder = builder.header(header::CONTENT_TYPE, "application/json").body(body);
    }
    let response = send(exchange, builder).await?;
    let bytes = response.bytes().await.map_err(|e| LlmError::from_fetch(e, TimeoutPhase::Total))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| LlmError::malformed("the video operation's answer is not JSON"))
}

/// The file at `uri`: fetched here with the key when it is on the endpoint's origin, handed to
/// the caller as a URL otherwise.
async fn download(
    exchange: Exchange<'_>,
    uri: &str,
    max_bytes: usize,
) -> Result<VideoOutcome, LlmError> {
    let url = Url::parse(uri).map_err(|_| LlmError::malformed("the video's URI is not a URL"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(LlmError::malformed("the video's URI is not a web address"));
    }
    // Security: credential disclosure. The provider's answer names where the file is; the key
    // goes only to the origin the endpoint was configured with. Anywhere else, the caller
    // downloads it through its media policy, without the key.
    if url.origin() != exchange.endpoint.base_url().origin() {
        return Ok(VideoOutcome::Video(VideoData::Url(uri.to_owned())));
    }
    let cap = u64::try_from(max_bytes).unwrap_or(u64::MAX);
    // Gemini's and OpenRouter's downloads may redirect to storage on another host: tomori-net
    // judges each hop by the endpoint's policy and drops the key when a hop leaves the origin.
    let builder = request(exchange, Method::GET, url.as_str(), cap, Redirects::Follow)
        .header(header::ACCEPT, "video/mp4, */*");
    let response = send(exchange, builder).await?;
    // Security: memory exhaustion. The cap is counted while the body streams in.
    let bytes = response.bytes().await.map_err(|e| LlmError::from_fetch(e, TimeoutPhase::Total))?;
    // Security: content confusion. The file is posted as it came (there is no codec to write
    // it again), so it must be a well-formed MP4, whatever the headers claimed.
    check_mp4(&bytes, max_bytes).map_err(|e| {
        LlmError::malformed(format!("the provider's file is not a usable MP4 ({e})"))
    })?;
    Ok(VideoOutcome::Video(VideoData::Bytes(bytes.to_vec())))
}
