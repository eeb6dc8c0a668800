//! A fake ComfyUI server for tests of the image client: the three HTTP routes a client uses,
//! on a loopback address, answering in ComfyUI's shapes and recording every request.
//!
//! - `POST /prompt` validates the submitted workflow as ComfyUI does, as far as a server that
//!   knows no node classes can (class_type and inputs on every node, an image output node, links
//!   to nodes that exist, INT inputs that are not strings), and answers 400 with ComfyUI's
//!   `{"error", "node_errors"}` body or 200 with `{"prompt_id", "number", "node_errors"}`.
//! - `GET /history/{id}` answers `{}` while the run is "queued" (the first
//!   [`FakeComfyBuilder::pending_polls`] polls), then the finished entry: the image in the
//!   output node's `outputs` and the run's `status`. An unknown id stays `{}`.
//! - `GET /view?filename&subfolder&type` serves a finished run's PNG (at an eighth of the asked
//!   size, the latent's size, so tests stay fast) as `image/png`; ComfyUI's 400 for a name with
//!   `..` or a leading `/`, 404 for a file that does not exist.
//!
//! Knobs make it misbehave the ways a client must survive: [`FakeComfy::fail_next`],
//! [`FakeComfy::never_finish`], [`FakeComfy::report_image`] (a hostile file name in the history)
//! and [`FakeComfy::serve_image`] (any body, any content type). Like the fake LLM servers it
//! speaks just enough HTTP/1.1 (one request per connection), bounds its connections, stops after
//! [`SERVER_LIFETIME`], and is aborted on drop.

mod wire;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

pub use crate::fake_llm::{FAKE_IP, Recorded, SERVER_LIFETIME};
pub use wire::sample_workflow;

/// The message of a run that [`FakeComfy::fail_next`] makes fail.
pub const FAILURE_MESSAGE: &str =
    "Allocation on device 0 would exceed allowed memory. (out of memory)";
const MAX_CONNECTIONS: usize = 256;
const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: usize = 4 << 20;

/// A file a finished run saved: (subfolder, filename, type).
type FileKey = (String, String, String);

/// One submitted prompt.
struct Job {
    number: u64,
    prompt: Value,
    outputs: Vec<String>,
    polls: u32,
    fails: bool,
    never: bool,
    /// The file its run saved, once it has finished.
    saved: Option<FileKey>,
}

#[derive(Default)]
struct State {
    jobs: HashMap<String, Job>,
    /// Files of finished runs, and the PNG each would serve.
    files: BTreeMap<FileKey, Vec<u8>>,
    submitted: u64,
    file_counter: u64,
    fail_next: bool,
    never_finish: bool,
    report: Option<(String, String)>,
    serve: Option<(Vec<u8>, String)>,
    token: Option<String>,
}

struct Shared {
    pending_polls: u32,
    requests: Mutex<Vec<Recorded>>,
    state: Mutex<State>,
    /// Makes prompt ids differ between fakes of one test run.
    salt: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts a [`FakeComfy`] with non-default bounds.
#[derive(Clone, Debug)]
pub struct FakeComfyBuilder {
    ip: IpAddr,
    max_connections: usize,
    lifetime: Duration,
    pending_polls: u32,
}

impl FakeComfyBuilder {
    /// The loopback address to listen on ([`FAKE_IP`] by default).
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = ip;
        self
    }

    /// How many connections the fake accepts in its life (256 by default; one per request).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// How long the fake serves ([`SERVER_LIFETIME`] by default).
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// How many polls of a run's history answer `{}` before it is finished (1 by default).
    pub fn pending_polls(mut self, polls: u32) -> Self {
        self.pending_polls = polls;
        self
    }

    /// Binds and starts serving.
    ///
    /// # Panics
    /// When the address is not loopback or cannot be bound; a test cannot go on without its fake.
    pub async fn start(self) -> FakeComfy {
        let FakeComfyBuilder { ip, max_connections, lifetime, pending_polls } = self;
        assert!(ip.is_loopback(), "the fake ComfyUI listens on loopback only");
        let listener = TcpListener::bind((ip, 0)).await.expect("bind a loopback fake ComfyUI");
        let addr = listener.local_addr().expect("the fake's address");
        static SALT: AtomicU64 = AtomicU64::new(1);
        let shared = Arc::new(Shared {
            pending_polls,
            requests: Mutex::new(Vec::new()),
            state: Mutex::new(State::default()),
            salt: SALT.fetch_add(1, Ordering::Relaxed) ^ u64::from(addr.port()) << 32,
        });
        let serving = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            let serve = async {
                for _ in 0..max_connections {
                    let Ok((stream, _)) = listener.accept().await else { return };
                    while connections.try_join_next().is_some() {}
                    connections.spawn(handle(stream, Arc::clone(&serving)));
                }
            };
            let _ = tokio::time::timeout(lifetime, serve).await;
            // Past the bound, a connection waiting in the backlog is reset rather than left open.
            drop(listener);
            let _ = tokio::time::timeout(Duration::from_secs(5), connections.join_all()).await;
        });
        FakeComfy { addr, shared, task }
    }
}

/// A running fake ComfyUI.
pub struct FakeComfy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for FakeComfy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeComfy").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Drop for FakeComfy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeComfy {
    /// Starts a fake on [`FAKE_IP`] with the default bounds.
    ///
    /// # Panics
    /// When it cannot bind.
    pub async fn start() -> FakeComfy {
        FakeComfy::builder().start().await
    }

    /// A builder for other bounds.
    pub fn builder() -> FakeComfyBuilder {
        FakeComfyBuilder {
            ip: FAKE_IP,
            max_connections: MAX_CONNECTIONS,
            lifetime: SERVER_LIFETIME,
            pending_polls: 1,
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL a client is configured with (`http://127.0.0.2:PORT`; ComfyUI's routes are
    /// at the root).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next submitted prompt's run fails: its history entry has status `error` and an
    /// `execution_error` message with [`FAILURE_MESSAGE`].
    pub fn fail_next(&self) -> &Self {
        lock(&self.shared.state).fail_next = true;
        self
    }

    /// Runs submitted from now on never finish: their history stays `{}`.
    pub fn never_finish(&self) -> &Self {
        lock(&self.shared.state).never_finish = true;
        self
    }

    /// Finished runs report this file name and subfolder in their history instead of the one
    /// the workflow's SaveImage would give (a hostile server's names).
    pub fn report_image(&self, filename: &str, subfolder: &str) -> &Self {
        lock(&self.shared.state).report = Some((filename.to_owned(), subfolder.to_owned()));
        self
    }

    /// `/view` answers with these bytes and this content type for every file a run saved.
    pub fn serve_image(&self, bytes: Vec<u8>, content_type: &str) -> &Self {
        lock(&self.shared.state).serve = Some((bytes, content_type.to_owned()));
        self
    }

    /// Every request must carry `Authorization: Bearer <token>`, as behind an authenticating
    /// proxy; others get 401.
    pub fn require_token(&self, token: &str) -> &Self {
        lock(&self.shared.state).token = Some(token.to_owned());
        self
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests).clone()
    }

    /// The requests whose path (without the query) starts with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.path.starts_with(prefix)).collect()
    }

    /// The `prompt` of every accepted `/prompt` request, in order.
    pub fn submitted(&self) -> Vec<Value> {
        let state = lock(&self.shared.state);
        let mut jobs: Vec<&Job> = state.jobs.values().collect();
        jobs.sort_by_key(|job| job.number);
        jobs.iter().map(|job| job.prompt.clone()).collect()
    }

    /// The bytes `/view` serves for a saved file, when a run saved it.
    pub fn saved_image(&self, filename: &str, subfolder: &str) -> Option<Vec<u8>> {
        let state = lock(&self.shared.state);
        let key = (subfolder.to_owned(), filename.to_owned(), "output".to_owned());
        state.files.get(&key).cloned()
    }
}

/// An answer: status, content type, extra headers, body.
struct Answer {
    status: u16,
    content_type: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn json(status: u16, body: &Value) -> Self {
        Answer {
            status,
            content_type: "application/json; charset=utf-8".to_owned(),
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }

    fn text(status: u16, body: &str) -> Self {
        Answer {
            status,
            content_type: "text/plain; charset=utf-8".to_owned(),
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }
}

async fn handle(mut stream: TcpStream, shared: Arc<Shared>) {
    let request = match tokio::time::timeout(
        Duration::from_secs(10),
        crate::fake_llm::read_request(&mut stream, MAX_HEAD_BYTES, MAX_BODY_BYTES),
    )
    .await
    {
        Ok(Ok(Some(request))) => request,
        _ => return,
    };
    lock(&shared.requests).push(request.clone());
    let answer = route(&shared, &request);
    let _ = write_answer(&mut stream, answer).await;
    let _ = stream.shutdown().await;
}

fn route(shared: &Shared, request: &Recorded) -> Answer {
    let token = lock(&shared.state).token.clone();
    if let Some(token) = token
        && request.header("authorization") != Some(format!("Bearer {token}").as_str())
    {
        return Answer::text(401, "401: Unauthorized");
    }
    let (path, query) = request.path.split_once('?').unwrap_or((&request.path, ""));
    match (request.method.as_str(), path) {
        ("POST", "/prompt") => submit(shared, request),
        ("GET", path) if path.starts_with("/history/") => {
            history(shared, path.trim_start_matches("/history/"))
        }
        ("GET", "/view") => view(shared, query),
        (_, "/prompt" | "/view") => Answer::text(405, "405: Method Not Allowed"),
        _ => Answer::text(404, "404: Not Found"),
    }
}

fn submit(shared: &Shared, request: &Recorded) -> Answer {
    let Some(body) = &request.json else {
        // ComfyUI's handler fails reading a body that is not JSON.
        return Answer::text(500, "500 Internal Server Error\n\nServer got itself in trouble");
    };
    let outputs = match wire::validate(Some(body)) {
        Ok(outputs) => outputs,
        Err(error) => return Answer::json(400, &error),
    };
    let mut state = lock(&shared.state);
    let number = state.submitted;
    state.submitted += 1;
    let id = prompt_id(shared.salt, number);
    let job = Job {
        number,
        prompt: body["prompt"].clone(),
        outputs,
        polls: 0,
        fails: std::mem::take(&mut state.fail_next),
        never: state.never_finish,
        saved: None,
    };
    state.jobs.insert(id.clone(), job);
    Answer::json(200, &json!({"prompt_id": id, "number": number, "node_errors": {}}))
}

/// A UUID-shaped id (version 4 layout) from the fake's salt and the prompt's number.
fn prompt_id(salt: u64, number: u64) -> String {
    let mix = |x: u64| {
        let x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    };
    let (a, b) = (mix(salt ^ number), mix(salt.rotate_left(17) ^ number ^ 0x9e37));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

fn history(shared: &Shared, id: &str) -> Answer {
    let mut state = lock(&shared.state);
    let Some(job) = state.jobs.get_mut(id) else {
        return Answer::json(200, &json!({}));
    };
    job.polls = job.polls.saturating_add(1);
    if job.never || job.polls <= shared.pending_polls {
        return Answer::json(200, &json!({}));
    }
    let (number, fails, outputs) = (job.number, job.fails, job.outputs.clone());
    let submitted = job.prompt.clone();
    let meta: serde_json::Map<String, Value> = outputs
        .iter()
        .map(|node| {
            let ids = json!({"node_id": node, "display_node": node, "parent_node": null,
                             "real_node_id": node});
            (node.clone(), ids)
        })
        .collect();
    let prompt = json!([number, id, submitted, {"client_id": "fake"}, outputs]);
    let entry = if fails {
        let (node_id, node_type) = failing_node(&submitted);
        let messages = wire::messages(id, Some((&node_id, &node_type, FAILURE_MESSAGE)));
        json!({"prompt": prompt, "outputs": {},
               "status": {"status_str": "error", "completed": false, "messages": messages},
               "meta": {}})
    } else {
        let output = outputs.first().cloned().unwrap_or_default();
        let (subfolder, filename, kind) = job_file(&mut state, id, &output);
        json!({"prompt": prompt,
               "outputs": {output: {"images": [
                   {"filename": filename, "subfolder": subfolder, "type": kind}]}},
               "status": {"status_str": "success", "completed": true,
                          "messages": wire::messages(id, None)},
               "meta": meta})
    };
    Answer::json(200, &json!({ id: entry }))
}

/// The file a finished job's `output` node saved, saved on first sight (so ComfyUI's file
/// counter advances once per run, however often the history is read).
fn job_file(state: &mut State, id: &str, output: &str) -> FileKey {
    let Some(job) = state.jobs.get(id) else { return FileKey::default() };
    if let Some(saved) = &job.saved {
        return saved.clone();
    }
    let node = job.prompt.get(output).cloned().unwrap_or_default();
    let (width, height) = wire::asked_size(&job.prompt);
    state.file_counter += 1;
    let (filename, subfolder, kind) = wire::output_file(&node, state.file_counter);
    let (filename, subfolder) = state.report.clone().unwrap_or((filename, subfolder));
    let png = crate::fake_llm::png((width / 8).clamp(1, 512), (height / 8).clamp(1, 512));
    let key = (subfolder, filename, kind.to_owned());
    state.files.insert(key.clone(), png);
    if let Some(job) = state.jobs.get_mut(id) {
        job.saved = Some(key.clone());
    }
    key
}

/// The node a failed run blames: the first KSampler, else the first node.
fn failing_node(prompt: &Value) -> (String, String) {
    let nodes = prompt.as_object().into_iter().flatten();
    let mut first = None;
    for (id, node) in nodes {
        let class = node["class_type"].as_str().unwrap_or_default().to_owned();
        if class == "KSampler" {
            return (id.clone(), class);
        }
        first.get_or_insert((id.clone(), class));
    }
    first.unwrap_or_default()
}

fn view(shared: &Shared, query: &str) -> Answer {
    let mut pairs = HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        pairs.insert(wire::form_decode(name), wire::form_decode(value));
    }
    let field = |name: &str| pairs.get(name).cloned().unwrap_or_default();
    let (filename, subfolder) = (field("filename"), field("subfolder"));
    let kind = pairs.get("type").cloned().unwrap_or_else(|| "output".to_owned());
    // ComfyUI's own refusal of names that leave its folders.
    if filename.is_empty() || filename.starts_with('/') || filename.contains("..") {
        return Answer::text(400, "400: Bad Request");
    }
    let state = lock(&shared.state);
    let Some(png) = state.files.get(&(subfolder, filename.clone(), kind)) else {
        return Answer::text(404, "404: Not Found");
    };
    let (body, content_type) =
        state.serve.clone().unwrap_or_else(|| (png.clone(), "image/png".to_owned()));
    Answer {
        status: 200,
        content_type,
        headers: vec![(
            "Content-Disposition".to_owned(),
            format!("filename=\"{}\"", filename.replace('"', "")),
        )],
        body,
    }
}

async fn write_answer(stream: &mut TcpStream, answer: Answer) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} Fake\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        answer.status,
        answer.content_type,
        answer.body.len()
    );
    for (name, value) in answer.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&answer.body).await?;
    stream.flush().await
}

#[cfg(test)]
mod tests;
