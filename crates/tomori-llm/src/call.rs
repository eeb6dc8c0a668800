//! One HTTP exchange with one endpoint and one key: build the wire request, send it through the
//! guarded client, classify an error status, and stream a success as [`ChatStream`].
//!
//! Nothing here retries or chooses keys; that is `llm`'s job. Every wait is bounded: sending
//! and the first chunk by the first-byte timeout, each later chunk by the rolling idle timeout,
//! everything by the total timeout (tomori-net's wall clock).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use serde_json::Value;
use tomori_core::metric_names as names;
use tomori_core::stops::StopScan;
use tomori_net::{Client, Limits, Method, Redirects, Response, header};

use crate::anthropic;
use crate::decode::{StreamDecoder, error_object};
use crate::degrade::{Degradation, rejected_param};
use crate::endpoint::{Endpoint, StreamLimits, Timeouts, Wire};
use crate::error::{LlmError, TimeoutPhase, scrub};
use crate::event::{FinishReason, Notice, StreamEvent};
use crate::gemini;
use crate::image::{ImageApi, ImageOutcome, ImageRequest, parse_answer, request_body};
use crate::keys::ApiKey;
use crate::openai;
use crate::request::{ChatRequest, EmbeddingRequest, Param};

/// Bytes of an error body that are read; the rest is not needed to classify it.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A failed attempt, with what the degradation ladder needs to know.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: LlmError,
    /// The parameter the endpoint named as rejected.
    pub(crate) rejected: Option<Param>,
    /// Whether simplifying the request may help (a 400 about the request's content).
    pub(crate) degradable: bool,
}

impl From<LlmError> for Failure {
    fn from(error: LlmError) -> Self {
        Failure { error, rejected: None, degradable: false }
    }
}

/// Which endpoint, model and key an answer came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answered {
    /// The target's label.
    pub label: String,
    /// The provider name (key pool).
    pub provider: String,
    /// The model.
    pub model: String,
    /// The key's id, when a key was used.
    pub key_id: Option<String>,
}

fn stream_limits(limits: &StreamLimits, timeouts: &Timeouts) -> Limits {
    Limits {
        max_bytes: limits.max_stream_bytes,
        max_decoded_bytes: limits.max_stream_bytes,
        timeout: timeouts.total,
        // The rolling idle timeout is applied here, per chunk, so its error names the phase.
        idle_timeout: None,
        content_types: Vec::new(),
    }
}

struct Prepared {
    url: String,
    body: Vec<u8>,
}

fn prepare_chat(
    endpoint: &Endpoint,
    model: &str,
    request: &ChatRequest,
    degradation: &Degradation,
) -> Result<Prepared, LlmError> {
    Ok(match endpoint.wire() {
        Wire::OpenAiCompatible => Prepared {
            url: endpoint.url("/chat/completions"),
            body: openai::chat_body(
                request,
                model,
                degradation.stream_options(),
                endpoint.options().strict_role_alternation,
            )?,
        },
        Wire::Anthropic => Prepared {
            url: endpoint.url(anthropic::messages_path(endpoint.base_url().path())),
            body: anthropic::chat_body(request, model)?,
        },
        Wire::Gemini => Prepared {
            url: endpoint.url(&format!(
                "/models/{}:streamGenerateContent?alt=sse",
                gemini::model_segment(model)?
            )),
            body: gemini::chat_body(request)?,
        },
    })
}

/// One exchange's fixed inputs: where, which model, which key, and the bounds.
#[derive(Clone, Copy)]
pub(crate) struct Exchange<'a> {
    pub(crate) client: &'a Client,
    pub(crate) endpoint: &'a Endpoint,
    pub(crate) model: &'a str,
    pub(crate) key: Option<&'a ApiKey>,
    pub(crate) timeouts: &'a Timeouts,
    pub(crate) limits: &'a StreamLimits,
}

/// Adds the endpoint's extra headers and the wire's version and auth headers.
pub(crate) fn authorised<'a>(
    mut builder: tomori_net::RequestBuilder<'a>,
    endpoint: &Endpoint,
    key: Option<&ApiKey>,
) -> tomori_net::RequestBuilder<'a> {
    let wire = endpoint.wire();
    for extra in &endpoint.options().extra_headers {
        // Security: credential disclosure. An operator's header may be a key (Azure's api-key):
        // sent as a secret header, like the provider key.
        builder = builder.secret_header(extra.name(), extra.value());
    }
    if wire == Wire::Anthropic {
        builder = builder.header("anthropic-version", anthropic::API_VERSION);
    }
    if let Some(key) = key {
        // Security: credential disclosure. Keys travel only in headers marked secret, which
        // tomori-net redacts from Debug and drops if a request ever leaves the origin.
        builder = match wire {
            Wire::OpenAiCompatible => builder.bearer_auth(key.expose()),
            Wire::Anthropic => builder.secret_header("x-api-key", key.expose()),
            Wire::Gemini => builder.secret_header("x-goog-api-key", key.expose()),
        };
    }
    builder
}

/// Sends a POST with the wire's auth headers; the first-byte timeout covers it.
async fn post(
    exchange: Exchange<'_>,
    url: &str,
    body: Vec<u8>,
    limits: Limits,
    accept: &'static str,
) -> Result<Response, LlmError> {
    let first_byte = exchange.timeouts.first_byte;
    let builder = exchange
        .client
        .request(Method::POST, url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, accept)
        // Security: request smuggled elsewhere. A provider API has no reason to redirect a
        // POST; following one would replay the conversation to wherever it points.
        .redirects(Redirects::Refuse)
        .limits(limits)
        .body(body);
    let builder = authorised(builder, exchange.endpoint, exchange.key);
    match tokio::time::timeout(first_byte, builder.send()).await {
        Err(_elapsed) => {
            Err(LlmError::Timeout { phase: TimeoutPhase::FirstByte, after: first_byte })
        }
        Ok(Err(error)) => Err(LlmError::from_fetch(error, TimeoutPhase::Connect)),
        Ok(Ok(response)) => Ok(response),
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

/// `Retry-After` (seconds), `retry-after-ms`, or Gemini's `RetryInfo.retryDelay` (`"7s"`).
fn retry_after(response: &Response, body: Option<&Value>) -> Option<Duration> {
    let headers = response.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_millis(ms));
    }
    if let Some(secs) = text("retry-after").and_then(|v| v.parse::<f64>().ok())
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let details = body?.get("error")?.get("details")?.as_array()?;
    details.iter().find_map(|detail| {
        let delay = detail.get("retryDelay")?.as_str()?.strip_suffix('s')?;
        let secs = delay.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0)?;
        Some(Duration::from_secs_f64(secs.min(86_400.0)))
    })
}

/// Classifies an error status with its body.
pub(crate) async fn status_failure(
    mut response: Response,
    wire: Wire,
    present: &[Param],
    key: Option<&ApiKey>,
    wait: Duration,
) -> Failure {
    let status = response.status().as_u16();
    let body = read_error_body(&mut response, wait).await;
    let value: Option<Value> = serde_json::from_slice(&body).ok();
    let secret = key.map(ApiKey::expose);
    let error = value.as_ref().map(|v| match v {
        Value::Array(items) => items.first().unwrap_or(v),
        other => other,
    });
    let error = error.map(|v| v.get("error").unwrap_or(v));
    let message = error
        .and_then(|e| e.get("message").and_then(Value::as_str).or_else(|| e.as_str()))
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    let message = scrub(&message, secret);
    let param_field = error.and_then(|e| e.get("param")).and_then(Value::as_str);
    let failure = |error| Failure { error, rejected: None, degradable: false };
    match status {
        401..=403 => failure(LlmError::Auth { status }),
        429 => failure(LlmError::RateLimit { retry_after: retry_after(&response, value.as_ref()) }),
        400 | 404 | 413 | 422 => {
            let rejected = rejected_param(wire, param_field, &message, present);
            let lower = message.to_ascii_lowercase();
            // A prompt over the context window is not fixed by dropping parameters.
            let context =
                lower.contains("context") && (lower.contains("length") || lower.contains("window"));
            let degradable = !context && (status != 404 || rejected.is_some());
            let parameter = rejected
                .map(|(_, name)| name.to_owned())
                .or_else(|| param_field.map(|p| scrub(p, secret)));
            Failure {
                error: LlmError::BadRequest { status, parameter, message },
                rejected: rejected.map(|(param, _)| param),
                degradable,
            }
        }
        500..=599 | 408 => failure(LlmError::Server { status: Some(status), message }),
        _ => failure(LlmError::BadRequest { status, parameter: None, message }),
    }
}

/// Opens a chat stream: sends the request and classifies a failure status. The stream is not
/// primed yet.
pub(crate) async fn open_chat(
    exchange: Exchange<'_>,
    request: &ChatRequest,
    degradation: &Degradation,
) -> Result<ChatStream, Failure> {
    let Exchange { endpoint, model, key, timeouts, limits, .. } = exchange;
    let opened = Instant::now();
    let prepared = prepare_chat(endpoint, model, &degradation.apply(request), degradation)?;
    let response = post(
        exchange,
        &prepared.url,
        prepared.body,
        stream_limits(limits, timeouts),
        "text/event-stream",
    )
    .await?;
    if !response.status().is_success() {
        let present = degradation.present(request, endpoint.wire());
        return Err(
            status_failure(response, endpoint.wire(), &present, key, timeouts.first_byte).await
        );
    }
    Ok(ChatStream {
        response,
        decoder: StreamDecoder::new(endpoint.wire(), limits.max_event_bytes),
        pending: VecDeque::new(),
        scratch: Vec::new(),
        error: None,
        first_wait: Some(timeouts.first_byte),
        idle: timeouts.idle,
        ended: false,
        key: key.cloned(),
        answered: None,
        opened,
        first_text_seen: false,
        stops: StopScan::new(&request.sampler.stop, request.sampler.speaker.as_deref()),
    })
}

/// A streamed answer. Events come out in order; an error ends the stream.
pub struct ChatStream {
    response: Response,
    decoder: StreamDecoder,
    pending: VecDeque<StreamEvent>,
    scratch: Vec<StreamEvent>,
    // An error that ends the stream, raised once the events decoded before it are handed out.
    error: Option<LlmError>,
    // The wait for the first chunk, which is the first-byte timeout rather than the idle one.
    first_wait: Option<Duration>,
    idle: Duration,
    ended: bool,
    // Kept only to remove it from provider messages that quote it; never printed.
    key: Option<ApiKey>,
    answered: Option<Answered>,
    // For the model metrics: when the request went out, and whether text has been handed out.
    opened: Instant,
    first_text_seen: bool,
    // Every stop string and the speaker pattern, enforced on the text whatever the wire took.
    stops: Option<StopScan>,
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream")
            .field("answered", &self.answered)
            .field("pending", &self.pending.len())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl ChatStream {
    /// The next event; `None` after the last one (a `Finish`) or after an error.
    pub async fn next(&mut self) -> Option<Result<StreamEvent, LlmError>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.observe(&event);
                return Some(Ok(event));
            }
            if let Some(error) = self.error.take() {
                return Some(Err(error));
            }
            if self.ended {
                return None;
            }
            self.fill().await;
        }
    }

    /// Records the model series as events are handed out: time to the first text and to the
    /// end from when the request went out, and the tokens the provider reports, per provider.
    fn observe(&mut self, event: &StreamEvent) {
        let provider = names::provider_label(self.answered.as_ref().map_or("", |a| &a.provider));
        let since = self.opened.elapsed().as_secs_f64();
        match event {
            StreamEvent::Text(_) if !self.first_text_seen => {
                self.first_text_seen = true;
                metrics::histogram!(names::MODEL_FIRST_TOKEN, names::label::PROVIDER => provider)
                    .record(since);
            }
            StreamEvent::Usage(usage) => {
                let tokens = |direction| metrics::counter!(names::MODEL_TOKENS, names::label::PROVIDER => provider.clone(), names::label::DIRECTION => direction);
                tokens("in").increment(usage.input_tokens);
                tokens("out").increment(usage.output_tokens);
            }
            StreamEvent::Finish(_) => {
                metrics::histogram!(names::MODEL_DURATION, names::label::PROVIDER => provider)
                    .record(since);
            }
            _ => {}
        }
    }

    /// Which target, model and key answered.
    pub fn answered(&self) -> Option<&Answered> {
        self.answered.as_ref()
    }

    /// The stream as a `futures` stream.
    pub fn into_stream(self) -> impl Stream<Item = Result<StreamEvent, LlmError>> + Send + 'static {
        futures_util::stream::unfold(self, |mut stream| async move {
            let item = stream.next().await?;
            Some((item, stream))
        })
    }

    /// Reads until an event that counts as delivered content is queued, so that everything
    /// that can fail before the first token fails here, while a retry is still possible.
    pub(crate) async fn prime(&mut self) -> Result<(), LlmError> {
        loop {
            if self.pending.iter().any(is_content) {
                return Ok(());
            }
            if let Some(error) = self.error.take() {
                return Err(error);
            }
            if self.ended {
                return Ok(());
            }
            self.fill().await;
        }
    }

    pub(crate) fn prepend(&mut self, notices: Vec<Notice>) {
        for notice in notices.into_iter().rev() {
            self.pending.push_front(StreamEvent::Notice(notice));
        }
    }

    pub(crate) fn set_answered(&mut self, answered: Answered) {
        self.answered = Some(answered);
    }

    /// Reads one chunk and decodes it. Errors are parked in `error`; they end the stream.
    async fn fill(&mut self) {
        let (wait, phase) = match self.first_wait.take() {
            Some(first) => (first, TimeoutPhase::FirstByte),
            None => (self.idle, TimeoutPhase::Idle),
        };
        let chunk = match tokio::time::timeout(wait, self.response.chunk()).await {
            Err(_elapsed) => Err(LlmError::Timeout { phase, after: wait }),
            Ok(Err(error)) => Err(LlmError::from_fetch(error, TimeoutPhase::Total)),
            Ok(Ok(chunk)) => Ok(chunk),
        };
        let result = match &chunk {
            Ok(Some(bytes)) => self.decoder.push(bytes, &mut self.scratch),
            Ok(None) => self.decoder.finish(&mut self.scratch),
            Err(_) => Ok(()),
        };
        let finished = self.scratch.iter().any(|e| matches!(e, StreamEvent::Finish(_)));
        let stopped = self.hand_over();
        // After the finish event (or a stop) the rest of the body is not needed.
        if finished || stopped || matches!(chunk, Ok(None)) {
            self.ended = true;
        }
        if matches!(chunk, Ok(None)) && !finished && !stopped {
            self.flush_held();
        }
        if let Err(error) = chunk.and(result) {
            self.ended = true;
            self.error = Some(self.redact(error));
        }
    }

    /// Moves the decoded events to `pending`, through the stop scanner when there is one; true
    /// when the answer reached a stop (it ends there with a `Finish`, and what followed it in
    /// this chunk is dropped).
    fn hand_over(&mut self) -> bool {
        let Some(scan) = &mut self.stops else {
            self.pending.extend(self.scratch.drain(..));
            return false;
        };
        let mut decoded = std::mem::take(&mut self.scratch);
        let mut stopped = false;
        for event in decoded.drain(..) {
            if stopped {
                continue;
            }
            match event {
                StreamEvent::Text(text) => {
                    let scanned = scan.push(&text);
                    if !scanned.text.is_empty() {
                        self.pending.push_back(StreamEvent::Text(scanned.text));
                    }
                    if scanned.stopped {
                        self.pending.push_back(StreamEvent::Finish(FinishReason::Stop));
                        stopped = true;
                    }
                }
                StreamEvent::Finish(reason) => {
                    let rest = scan.finish();
                    if !rest.is_empty() {
                        self.pending.push_back(StreamEvent::Text(rest));
                    }
                    self.pending.push_back(StreamEvent::Finish(reason));
                }
                other => self.pending.push_back(other),
            }
        }
        // The buffer's allocation is kept for the next chunk.
        self.scratch = decoded;
        stopped
    }

    /// The body ended without a finish event: the text the scanner still holds is handed out.
    fn flush_held(&mut self) {
        if let Some(scan) = &mut self.stops {
            let rest = scan.finish();
            if !rest.is_empty() {
                self.pending.push_back(StreamEvent::Text(rest));
            }
        }
    }

    fn redact(&self, error: LlmError) -> LlmError {
        let secret = self.key.as_ref().map(ApiKey::expose);
        match error {
            LlmError::BadRequest { status, parameter, message } => {
                LlmError::BadRequest { status, parameter, message: scrub(&message, secret) }
            }
            LlmError::Server { status, message } => {
                LlmError::Server { status, message: scrub(&message, secret) }
            }
            other => other,
        }
    }
}

/// Whether an event means something reached the caller: text, reasoning, a tool call, a refusal
/// or the end. Notices and usage alone do not.
fn is_content(event: &StreamEvent) -> bool {
    !matches!(event, StreamEvent::Notice(_) | StreamEvent::Usage(_))
}

/// Embeddings of one exchange.
pub(crate) async fn embed_once(
    exchange: Exchange<'_>,
    request: &EmbeddingRequest,
) -> Result<(Vec<Vec<f32>>, u64), Failure> {
    let Exchange { endpoint, model, key, timeouts, limits, .. } = exchange;
    let wire = endpoint.wire();
    let (url, body) = match wire {
        Wire::OpenAiCompatible => {
            (endpoint.url("/embeddings"), openai::embedding_body(request, model)?)
        }
        Wire::Gemini => (
            endpoint.url(&format!("/models/{}:batchEmbedContents", gemini::model_segment(model)?)),
            gemini::embedding_body(request, model)?,
        ),
        Wire::Anthropic => {
            return Err(LlmError::invalid("Anthropic has no embeddings endpoint").into());
        }
    };
    let mut limits_here = stream_limits(limits, timeouts);
    limits_here.max_bytes = limits.max_body_bytes;
    limits_here.max_decoded_bytes = limits.max_body_bytes;
    let response = post(exchange, &url, body, limits_here, "application/json").await?;
    if !response.status().is_success() {
        return Err(status_failure(response, wire, &[], key, timeouts.first_byte).await);
    }
    let bytes: Bytes = tokio::time::timeout(timeouts.total, response.bytes())
        .await
        .map_err(|_| LlmError::Timeout { phase: TimeoutPhase::Total, after: timeouts.total })?
        .map_err(|error| LlmError::from_fetch(error, TimeoutPhase::Total))?;
    let value: Option<Value> = serde_json::from_slice(&bytes).ok();
    if let Some(error) = value.as_ref().and_then(error_object) {
        return Err(error.into());
    }
    let expected = request.inputs.len();
    match wire {
        Wire::Gemini => Ok((gemini::parse_embeddings(&bytes, expected)?, 0)),
        _ => Ok(openai::parse_embeddings(&bytes, expected)?),
    }
}

/// One image of one exchange: the request in the endpoint's image API, the answer read whole
/// (within the body cap) and parsed.
pub(crate) async fn image_once(
    exchange: Exchange<'_>,
    api: ImageApi,
    request: &ImageRequest,
) -> Result<ImageOutcome, Failure> {
    let Exchange { endpoint, model, key, timeouts, limits, .. } = exchange;
    let (path, body) = request_body(api, model, request)?;
    let url = endpoint.url(&path);
    let mut limits_here = stream_limits(limits, timeouts);
    limits_here.max_bytes = limits.max_body_bytes;
    limits_here.max_decoded_bytes = limits.max_body_bytes;
    let response = post(exchange, &url, body, limits_here, "application/json").await?;
    if !response.status().is_success() {
        let wire = endpoint.wire();
        return Err(status_failure(response, wire, &[], key, timeouts.first_byte).await);
    }
    let bytes: Bytes = tokio::time::timeout(timeouts.total, response.bytes())
        .await
        .map_err(|_| LlmError::Timeout { phase: TimeoutPhase::Total, after: timeouts.total })?
        .map_err(|error| LlmError::from_fetch(error, TimeoutPhase::Total))?;
    let value: Option<Value> = serde_json::from_slice(&bytes).ok();
    if let Some(error) = value.as_ref().and_then(error_object) {
        return Err(error.into());
    }
    Ok(parse_answer(api, &bytes)?)
}
