//! Fake LLM servers for tests: OpenAI-compatible, Anthropic Messages and Gemini wire formats on
//! a loopback address, scripted per test and recording every request.
//!
//! A test queues [`Reply`]s (one per request, in order): a provider-neutral [`Turn`] (text,
//! reasoning, tool calls, usage, an error mid-stream, a stall, malformed JSON) that the server
//! renders in its wire format, a status with a body (a 429 with `Retry-After`, a 400 naming a
//! parameter), or raw bytes cut into chunks. Standing [`Rule`]s answer every matching request
//! the same way, the way an endpoint that refuses a parameter does. Every request is recorded
//! (method, path, headers, body, JSON) so tests assert what was sent.
//!
//! A [`Responder`] answers whatever the rules and the queue do not, computed per request: the load
//! harness ([`crate::load`]) uses it for timed streams, stalls and error bursts.
//!
//! [`FakeLlm::embed_words`] turns on a deterministic embeddings route (OpenAI's `/embeddings`,
//! Gemini's `:batchEmbedContents`), answered before the queue: each text becomes a hashed bag of
//! its words ([`bag_of_words`]), so texts that share words are similar and tests can tell which
//! chunk retrieval should pick.
//!
//! The server speaks just enough HTTP/1.1 (one request per connection unless it keeps them open,
//! chunked responses) and
//! deliberately does not depend on tomori-llm: it is the other side of the wire. It stops by
//! itself: connections are bounded (256 by default, [`FakeLlmBuilder::max_connections`]), it gives
//! up after [`SERVER_LIFETIME`] (or [`FakeLlmBuilder::lifetime`]), and it is aborted on drop.

mod images;
mod limits;
mod render;
mod videos;

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

pub use images::{REFUSED_WORD, png};
pub use render::{FAKE_SIGNATURE, Finish, Turn};
pub use videos::mp4;

/// The loopback address fakes listen on by default. Not 127.0.0.1, so a test policy that allows
/// exactly this address still proves the rest of loopback is refused.
pub const FAKE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// A fake stops serving after this long, so a forgotten one cannot outlive its test run.
pub const SERVER_LIFETIME: Duration = Duration::from_secs(120);
const MAX_CONNECTIONS: usize = 256;
const MAX_REQUEST_BYTES: usize = 8 << 20;

/// The wire format a fake speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireFormat {
    /// OpenAI-compatible chat completions and embeddings.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini.
    Gemini,
}

impl WireFormat {
    /// The base URL path a client is configured with for this format.
    pub fn base_path(self) -> &'static str {
        match self {
            WireFormat::OpenAi => "/v1",
            WireFormat::Anthropic => "",
            WireFormat::Gemini => "/v1beta",
        }
    }
}

/// One request as the fake saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    /// `POST`, `GET`...
    pub method: String,
    /// Path with query.
    pub path: String,
    /// Headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
    /// The body as JSON, when it is.
    pub json: Option<Value>,
    /// When its last byte was read, before the fake parsed it.
    pub received: std::time::Instant,
}

impl Recorded {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether the JSON body has `key` anywhere (an object key at any depth).
    pub fn has_key(&self, key: &str) -> bool {
        self.json.as_ref().is_some_and(|json| has_key(json, key))
    }
}

fn has_key(value: &Value, key: &str) -> bool {
    match value {
        Value::Object(map) => map.contains_key(key) || map.values().any(|v| has_key(v, key)),
        Value::Array(items) => items.iter().any(|v| has_key(v, key)),
        _ => false,
    }
}

/// A step of a streamed body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// These bytes, as one HTTP chunk.
    Bytes(Vec<u8>),
    /// A pause.
    Pause(Duration),
    /// Stop sending but keep the connection open (until the client gives up or the fake
    /// stops).
    Stall,
}

/// What the fake answers to one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// A turn rendered in the fake's wire format as a `text/event-stream` (Gemini and OpenAI
    /// look at the request: usage is sent only when asked for, as the real APIs do).
    Turn(Turn),
    /// A status with headers and a body.
    Status {
        /// HTTP status.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// Body (`application/json`).
        body: String,
    },
    /// A streamed body of raw steps, with this content type.
    Raw {
        /// Content type.
        content_type: String,
        /// The steps.
        steps: Vec<Step>,
    },
}

impl Reply {
    /// A JSON answer with status 200 (embeddings).
    pub fn json(body: &Value) -> Self {
        Reply::Status { status: 200, headers: Vec::new(), body: body.to_string() }
    }

    /// An error status with a JSON body.
    pub fn status(status: u16, body: &Value) -> Self {
        Reply::Status { status, headers: Vec::new(), body: body.to_string() }
    }

    /// A 429 with `Retry-After: secs` and the wire's rate-limit error body.
    pub fn rate_limited(wire: WireFormat, secs: u64) -> Self {
        Reply::Status {
            status: 429,
            headers: vec![("Retry-After".to_owned(), secs.to_string())],
            body: render::error_body(wire, 429, "rate limit exceeded, slow down").to_string(),
        }
    }

    /// An error status with the wire's error body, e.g. a 500 `server_error`.
    pub fn error(wire: WireFormat, status: u16, message: &str) -> Self {
        Reply::Status {
            status,
            headers: Vec::new(),
            body: render::error_body(wire, status, message).to_string(),
        }
    }

    /// `body` as an event stream, cut into `piece`-byte chunks.
    pub fn raw_sse(body: &[u8], piece: usize) -> Self {
        Reply::Raw {
            content_type: "text/event-stream".to_owned(),
            steps: body.chunks(piece.max(1)).map(|c| Step::Bytes(c.to_vec())).collect(),
        }
    }
}

/// A standing answer for every request whose JSON body has `key`, checked before the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The JSON key that triggers it.
    pub key: String,
    /// Status to answer with (400 or 404).
    pub status: u16,
    /// Whether the error names the key (in `param` for OpenAI, in the message elsewhere);
    /// otherwise the message is generic, as some servers' are.
    pub names_it: bool,
}

/// Computes the answer to a request that no rule and no queued reply answers.
pub type Responder = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

struct Shared {
    wire: WireFormat,
    record: bool,
    /// Connections stay open for the next request ([`FakeLlmBuilder::keep_alive`]).
    keep_alive: bool,
    requests: Mutex<Vec<Recorded>>,
    seen: std::sync::atomic::AtomicU64,
    queue: Mutex<VecDeque<Reply>>,
    rules: Mutex<Vec<Rule>>,
    responder: Mutex<Option<Responder>>,
    /// The dimension of the embeddings route, when it is on.
    embeddings: Mutex<Option<usize>>,
    /// The image route is on ([`FakeLlm::draw_images`]).
    images: std::sync::atomic::AtomicBool,
    /// The Veo routes, when on ([`FakeLlm::make_videos`]).
    videos: Mutex<Option<videos::Studio>>,
}

/// Starts a [`FakeLlm`] with non-default bounds.
#[derive(Debug, Clone)]
pub struct FakeLlmBuilder {
    wire: WireFormat,
    ip: IpAddr,
    max_connections: usize,
    lifetime: Duration,
    record: bool,
    keep_alive: bool,
}

impl FakeLlmBuilder {
    /// The loopback address to listen on ([`FAKE_IP`] by default).
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = ip;
        self
    }

    /// How many connections the fake accepts in its life before it stops accepting (256 by
    /// default; every request is one connection).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// How long the fake serves ([`SERVER_LIFETIME`] by default).
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Whether requests are kept for [`FakeLlm::requests`] (on by default). A long load run turns
    /// it off: every request carries a whole prompt.
    pub fn record_requests(mut self, record: bool) -> Self {
        self.record = record;
        self
    }

    /// Whether a connection serves further requests after an answer, as providers' APIs do
    /// (HTTP/1.1 keep-alive). Off by default: every request is one connection, which the
    /// connection-counting bounds and the fault tests rely on. A stalled answer always ends its
    /// connection.
    pub fn keep_alive(mut self, keep_alive: bool) -> Self {
        self.keep_alive = keep_alive;
        self
    }

    /// Binds and starts serving.
    ///
    /// # Panics
    /// When the address is not loopback or cannot be bound; a test cannot go on without its fake.
    pub async fn start(self) -> FakeLlm {
        let FakeLlmBuilder { wire, ip, max_connections, lifetime, record, keep_alive } = self;
        assert!(ip.is_loopback(), "fake LLM servers listen on loopback only");
        let listener = TcpListener::bind((ip, 0)).await.expect("bind a loopback fake LLM server");
        let addr = listener.local_addr().expect("the fake's address");
        let shared = Arc::new(Shared {
            wire,
            record,
            keep_alive,
            requests: Mutex::new(Vec::new()),
            seen: std::sync::atomic::AtomicU64::new(0),
            queue: Mutex::new(VecDeque::new()),
            rules: Mutex::new(Vec::new()),
            responder: Mutex::new(None),
            embeddings: Mutex::new(None),
            images: std::sync::atomic::AtomicBool::new(false),
            videos: Mutex::new(None),
        });
        let serving = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            let serve = async {
                for _ in 0..max_connections {
                    let Ok((stream, _)) = listener.accept().await else { return };
                    // Finished connections are reaped as we go, so a long run holds only live ones.
                    while connections.try_join_next().is_some() {}
                    connections.spawn(handle(stream, Arc::clone(&serving)));
                }
            };
            let _ = tokio::time::timeout(lifetime, serve).await;
            // Let the last connections finish before the set (and its tasks) is dropped.
            let _ = tokio::time::timeout(Duration::from_secs(5), connections.join_all()).await;
        });
        FakeLlm { addr, shared, task }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running fake.
pub struct FakeLlm {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for FakeLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeLlm")
            .field("addr", &self.addr)
            .field("wire", &self.shared.wire)
            .finish()
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeLlm {
    /// Starts a fake on [`FAKE_IP`].
    ///
    /// # Panics
    /// When it cannot bind; a test cannot go on without its fake.
    pub async fn start(wire: WireFormat) -> FakeLlm {
        FakeLlm::start_on(wire, FAKE_IP).await
    }

    /// Starts a fake on a loopback address of the test's choosing (a second fake for a
    /// fallback endpoint, for example).
    ///
    /// # Panics
    /// When `ip` is not loopback or cannot be bound.
    pub async fn start_on(wire: WireFormat, ip: IpAddr) -> FakeLlm {
        FakeLlm::builder(wire).ip(ip).start().await
    }

    /// A builder for other bounds (connections, lifetime, recording).
    pub fn builder(wire: WireFormat) -> FakeLlmBuilder {
        FakeLlmBuilder {
            wire,
            ip: FAKE_IP,
            max_connections: MAX_CONNECTIONS,
            lifetime: SERVER_LIFETIME,
            record: true,
            keep_alive: false,
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL a client should be configured with (`http://127.0.0.2:PORT/v1` for
    /// OpenAI-compatible, no path for Anthropic, `/v1beta` for Gemini).
    pub fn base_url(&self) -> String {
        format!("http://{}{}", self.addr, self.shared.wire.base_path())
    }

    /// Queues a reply for the next request the rules do not answer.
    pub fn push(&self, reply: Reply) -> &Self {
        lock(&self.shared.queue).push_back(reply);
        self
    }

    /// Queues a turn.
    pub fn push_turn(&self, turn: Turn) -> &Self {
        self.push(Reply::Turn(turn))
    }

    /// Adds a standing rule: every request whose JSON has `key` is refused with `status`.
    pub fn reject_key(&self, key: &str, status: u16, names_it: bool) -> &Self {
        lock(&self.shared.rules).push(Rule { key: key.to_owned(), status, names_it });
        self
    }

    /// Answers every request that no rule and no queued reply answers with what `responder`
    /// returns (instead of a 500 "no scripted reply left").
    pub fn respond_with(
        &self,
        responder: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> &Self {
        *lock(&self.shared.responder) = Some(Arc::new(responder));
        self
    }

    /// Answers every embeddings request (OpenAI `/embeddings`, Gemini `:batchEmbedContents`) with
    /// [`bag_of_words`] vectors of `dimension`, before the queue, so chat turns and embeddings
    /// can be scripted side by side.
    pub fn embed_words(&self, dimension: usize) -> &Self {
        *lock(&self.shared.embeddings) = Some(dimension.max(1));
        self
    }

    /// Answers every image request (see [`images`]) with a real PNG before the queue, so chat
    /// turns and pictures can be scripted side by side.
    pub fn draw_images(&self) -> &Self {
        self.shared.images.store(true, std::sync::atomic::Ordering::Relaxed);
        self
    }

    /// Answers the wire's video routes (see [`videos`]: Veo's on Gemini, OpenRouter's jobs on
    /// the OpenAI-compatible wire) before the queue, each operation done after
    /// `polls_before_done` polls that find it running.
    pub fn make_videos(&self, polls_before_done: u32) -> &Self {
        *lock(&self.shared.videos) = Some(videos::Studio::new(polls_before_done));
        self
    }

    /// Serves `bytes` as every generated video from now on (a provider's hostile file).
    pub fn serve_video_bytes(&self, bytes: Vec<u8>) -> &Self {
        if let Some(studio) = lock(&self.shared.videos).as_mut() {
            studio.serve_instead(bytes);
        }
        self
    }

    /// The video requests so far (starts, polls and downloads), in order.
    pub fn video_requests(&self) -> Vec<Recorded> {
        let wire = self.shared.wire;
        self.requests().into_iter().filter(|r| videos::is_video_request(wire, r)).collect()
    }

    /// The image requests so far, in order.
    pub fn image_requests(&self) -> Vec<Recorded> {
        let wire = self.shared.wire;
        self.requests().into_iter().filter(|r| images::is_image_request(wire, r)).collect()
    }

    /// The texts of every embeddings request so far, in order.
    pub fn embedded_texts(&self) -> Vec<String> {
        self.requests().iter().filter(|r| is_embedding(r)).flat_map(embedding_inputs).collect()
    }

    /// Every request so far, in order (none when recording is off).
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests).clone()
    }

    /// How many requests arrived, recorded or not.
    pub fn request_count(&self) -> u64 {
        self.shared.seen.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Replies still queued.
    pub fn queued(&self) -> usize {
        lock(&self.shared.queue).len()
    }
}

async fn handle(mut stream: TcpStream, shared: Arc<Shared>) {
    // The first request must come promptly; a kept-alive connection may idle as a client's pool
    // keeps it (reqwest: 90 s).
    let mut wait = Duration::from_secs(10);
    loop {
        let request = match tokio::time::timeout(
            wait,
            read_request(&mut stream, MAX_REQUEST_BYTES, MAX_REQUEST_BYTES),
        )
        .await
        {
            Ok(Ok(Some(request))) => request,
            _ => break,
        };
        let reply = reply_to(&request, &shared);
        let reusable = write_reply(&mut stream, shared.wire, &request, reply, shared.keep_alive)
            .await
            .unwrap_or(false);
        if !reusable {
            break;
        }
        wait = Duration::from_secs(120);
    }
    let _ = stream.shutdown().await;
}

/// The fake's answer to one request.
fn reply_to(request: &Recorded, shared: &Shared) -> Reply {
    shared.seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if shared.record {
        lock(&shared.requests).push(request.clone());
    }
    let rule = lock(&shared.rules).iter().find(|rule| request.has_key(&rule.key)).cloned();
    match rule {
        Some(rule) => {
            let message = if rule.names_it {
                format!("Unsupported parameter: '{}' is not supported with this model.", rule.key)
            } else {
                "Invalid request: the request has an unsupported field.".to_owned()
            };
            let mut body = render::error_body(shared.wire, rule.status, &message);
            if rule.names_it && shared.wire == WireFormat::OpenAi {
                body["error"]["param"] = Value::String(rule.key.clone());
            }
            Reply::status(rule.status, &body)
        }
        // The model list every wire has (`GET …/models`): what `tomori doctor` asks.
        None if request.method == "GET"
            && request.path.split('?').next().unwrap_or_default().ends_with("/models") =>
        {
            Reply::json(&models_body(shared.wire))
        }
        None if shared.images.load(std::sync::atomic::Ordering::Relaxed)
            && images::is_image_request(shared.wire, request) =>
        {
            images::reply(shared.wire, request)
        }
        None if videos::is_video_request(shared.wire, request)
            && lock(&shared.videos).is_some() =>
        {
            let mut studio = lock(&shared.videos);
            match studio.as_mut() {
                Some(studio) => videos::reply(shared.wire, studio, request),
                None => Reply::error(shared.wire, 500, "fake: the video route is off"),
            }
        }
        None if is_embedding(request) && lock(&shared.embeddings).is_some() => {
            let dimension = lock(&shared.embeddings).unwrap_or(1);
            embeddings_reply(shared.wire, request, dimension)
        }
        None => {
            let queued = lock(&shared.queue).pop_front();
            let responder = lock(&shared.responder).clone();
            match (queued, responder) {
                (Some(reply), _) => reply,
                (None, Some(responder)) => responder(request),
                (None, None) => Reply::error(shared.wire, 500, "fake: no scripted reply left"),
            }
        }
    }
}

/// The model list in each wire's shape.
fn models_body(wire: WireFormat) -> Value {
    match wire {
        WireFormat::Gemini => serde_json::json!({
            "models": [{"name": "models/fake-model", "supportedGenerationMethods": ["generateContent"]}],
        }),
        WireFormat::Anthropic => serde_json::json!({
            "data": [{"id": "fake-model", "type": "model", "display_name": "Fake"}],
            "has_more": false,
        }),
        _ => {
            serde_json::json!({"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
        }
    }
}

/// Whether a request asks for embeddings.
fn is_embedding(request: &Recorded) -> bool {
    let path = request.path.split('?').next().unwrap_or_default();
    path.ends_with("/embeddings") || path.ends_with(":batchEmbedContents")
}

/// The texts an embeddings request asks for (OpenAI's `input`, a string or a list, or Gemini's
/// `requests[].content.parts[].text`).
fn embedding_inputs(request: &Recorded) -> Vec<String> {
    let Some(json) = &request.json else { return Vec::new() };
    let text = |v: &Value| v.as_str().map(str::to_owned);
    if let Some(requests) = json["requests"].as_array() {
        return requests
            .iter()
            .map(|r| {
                let parts = r["content"]["parts"].as_array().cloned().unwrap_or_default();
                parts.iter().filter_map(|p| text(&p["text"])).collect::<Vec<_>>().join("")
            })
            .collect();
    }
    match &json["input"] {
        Value::Array(items) => items.iter().filter_map(text).collect(),
        other => text(other).into_iter().collect(),
    }
}

fn embeddings_reply(wire: WireFormat, request: &Recorded, dimension: usize) -> Reply {
    let inputs = embedding_inputs(request);
    let body = match wire {
        WireFormat::Gemini => serde_json::json!({
            "embeddings": inputs.iter().map(|t| serde_json::json!({"values": bag_of_words(t, dimension)})).collect::<Vec<_>>(),
        }),
        _ => {
            let words: usize = inputs.iter().map(|t| t.split_whitespace().count()).sum();
            serde_json::json!({
                "object": "list",
                "data": inputs.iter().enumerate().map(|(index, t)| serde_json::json!({
                    "object": "embedding",
                    "index": index,
                    "embedding": bag_of_words(t, dimension),
                })).collect::<Vec<_>>(),
                "model": request.json.as_ref().map(|j| j["model"].clone()).unwrap_or_default(),
                "usage": {"prompt_tokens": words, "total_tokens": words},
            })
        }
    };
    Reply::json(&body)
}

/// A deterministic embedding: each lower-cased word (a run of letters and digits) adds 1 at a
/// position given by its FNV-1a hash, plus a small constant in the first position so no text
/// embeds to all zeros. Texts sharing words point the same way; texts sharing none are nearly
/// orthogonal (up to hash collisions).
pub fn bag_of_words(text: &str, dimension: usize) -> Vec<f32> {
    let dimension = dimension.max(1);
    let mut vector = vec![0.0_f32; dimension];
    if let Some(first) = vector.first_mut() {
        *first = 0.01;
    }
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let hash = word.to_lowercase().bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let slot = usize::try_from(hash % u64::try_from(dimension).unwrap_or(1)).unwrap_or(0);
        if let Some(value) = vector.get_mut(slot) {
            *value += 1.0;
        }
    }
    vector
}

/// Writes `reply`; whether the connection may serve another request (`keep_alive`, and the
/// answer ended cleanly).
async fn write_reply(
    stream: &mut TcpStream,
    wire: WireFormat,
    request: &Recorded,
    reply: Reply,
    keep_alive: bool,
) -> io::Result<bool> {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    // The provider refuses a request beyond its documented limits before it generates anything.
    let refused = match (&reply, request.json.as_ref()) {
        (Reply::Turn(_), Some(json)) => limits::beyond_limits(wire, json),
        _ => None,
    };
    let reply = match refused {
        Some(message) => Reply::status(400, &render::error_body(wire, 400, &message)),
        None => reply,
    };
    let (content_type, steps) = match reply {
        Reply::Status { status, headers, body } => {
            let mut head = format!(
                "HTTP/1.1 {status} Fake\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: {connection}\r\n",
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(body.as_bytes()).await?;
            return Ok(keep_alive);
        }
        Reply::Turn(turn) => {
            ("text/event-stream".to_owned(), turn.render(wire, request.json.as_ref()))
        }
        Reply::Raw { content_type, steps } => (content_type, steps),
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: {connection}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    stream.flush().await?;
    for step in steps {
        match step {
            Step::Bytes(bytes) if bytes.is_empty() => {}
            Step::Bytes(bytes) => {
                stream.write_all(format!("{:x}\r\n", bytes.len()).as_bytes()).await?;
                stream.write_all(&bytes).await?;
                stream.write_all(b"\r\n").await?;
                stream.flush().await?;
            }
            Step::Pause(pause) => tokio::time::sleep(pause).await,
            Step::Stall => {
                // Hold the connection until the client hangs up (a read returns 0 or fails).
                let mut sink = [0_u8; 64];
                let _ = tokio::time::timeout(SERVER_LIFETIME, stream.read(&mut sink)).await;
                return Ok(false);
            }
        }
    }
    stream.write_all(b"0\r\n\r\n").await?;
    stream.flush().await?;
    Ok(keep_alive)
}

/// Reads one HTTP/1.1 request: a head of at most `max_head` bytes and a body of at most
/// `max_body` (its `Content-Length`, capped); `None` when the peer closed or sent too much head.
/// The fakes that speak plain HTTP share it.
pub(crate) async fn read_request(
    stream: &mut TcpStream,
    max_head: usize,
    max_body: usize,
) -> io::Result<Option<Recorded>> {
    let mut buf = Vec::new();
    let mut chunk = vec![0_u8; 16 * 1024];
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() > max_head {
            return Ok(None);
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    };
    let head = String::from_utf8_lossy(buf.get(..head_end).unwrap_or_default()).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
        .min(max_body);
    let mut body = buf.get(head_end + 4..).unwrap_or_default().to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    body.truncate(length);
    // Stamped before the fake's own work (parsing) so that timings end where the sender's do.
    let received = std::time::Instant::now();
    let json = serde_json::from_slice(&body).ok();
    Ok(Some(Recorded { method, path, headers, body, json, received }))
}

#[cfg(test)]
mod tests;
