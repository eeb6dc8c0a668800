//! The REST gate: every Discord REST request passes through it, so a 429 is waited out by the
//! `Retry-After` it carries, whatever headers came with it.
//!
//! Twilight's client retries a 429 at once unless it carries Discord's `X-RateLimit-Scope` and
//! bucket headers, and a 429 from Cloudflare in front of Discord, or from a Discord-compatible
//! server, carries neither: one burst produced 491 requests in 10 s against a `Retry-After` of
//! 10–15 s. Twilight has no hook for its 429 handling, so the bot's twilight client talks plain
//! HTTP to this gate on 127.0.0.1 (its "proxy" host), and the gate forwards each request to the
//! configured REST base through the operator-scope client of tomori-net. On a 429 the gate waits
//! `Retry-After` (the header, in seconds and possibly fractional, else the body's `retry_after`),
//! retries at most [`MAX_RETRIES`] times within [`BUDGET`], and pauses every request when the
//! limit is global (`X-RateLimit-Global`, `"global": true`, or a 429 with no scope at all, which
//! is Cloudflare's per-address limit). Twilight never sees a 429: when the retries run out it gets
//! a 503 with Discord's error body, which fails that one call. Bucket headers of other answers
//! pass through, so twilight's own per-route limiter keeps working.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::time::Instant;
use tomori_core::metric_names as names;
use url::Url;

/// The header carrying the gate's per-process secret; it never leaves the process's loopback.
pub(crate) const SECRET_HEADER: &str = "x-tomori-rest-gate";

/// Retries of one request after 429s.
pub(crate) const MAX_RETRIES: u32 = 3;
/// The longest one request may spend waiting out 429s; a longer `Retry-After` fails it now.
pub(crate) const BUDGET: Duration = Duration::from_secs(60);
/// The wait after a 429 that names none.
const DEFAULT_WAIT: Duration = Duration::from_secs(1);
/// One attempt's wall clock upstream.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest request or answer passed through (Discord's uploads stay well below it).
const MAX_BODY: u64 = 64 * 1024 * 1024;

/// How long twilight may wait for the gate: every attempt and every wait.
pub(crate) const CLIENT_TIMEOUT: Duration =
    Duration::from_secs(BUDGET.as_secs() + ATTEMPT_TIMEOUT.as_secs() * (MAX_RETRIES as u64 + 1));

/// Headers not forwarded upstream: hop-by-hop ones, the gate's own, and the encodings (the
/// answer is passed through as it arrives, so it must arrive uncompressed).
const DROPPED: [&str; 6] =
    [SECRET_HEADER, "host", "connection", "content-length", "accept-encoding", "transfer-encoding"];

/// A running gate: where twilight should send its requests, and the secret they must carry.
pub(crate) struct Gate {
    pub(crate) addr: SocketAddr,
    pub(crate) secret: String,
}

struct Shared {
    upstream: Url,
    client: tomori_net::Client,
    secret: String,
    /// Until when every request waits (a global limit).
    paused_until: Mutex<Option<Instant>>,
}

/// Starts a gate in front of `upstream` (the REST base's origin). Must run inside a Tokio
/// runtime; the gate lives as long as the runtime.
pub(crate) fn start(upstream: Url) -> std::io::Result<Gate> {
    let client = tomori_net::Client::new(tomori_net::Policy::operator())
        .map_err(|error| std::io::Error::other(error.to_string()))?;
    let mut bytes = [0_u8; 16];
    getrandom::fill(&mut bytes).map_err(|error| std::io::Error::other(error.to_string()))?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // Security: token theft through the gate. It listens on loopback only, and answers only
    // requests carrying this process's 128-bit secret, so another local user can neither read
    // what passes (loopback is not sniffable without privileges) nor use the gate as a relay.
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let shared = Arc::new(Shared {
        upstream,
        client,
        secret: secret.clone(),
        paused_until: Mutex::new(None),
    });
    // axum's default 2 MB body cap would refuse attachments the bot uploads.
    let body_limit = usize::try_from(MAX_BODY).unwrap_or(usize::MAX);
    let app = axum::Router::new()
        .fallback(forward)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .with_state(shared);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the Discord REST gate stopped");
        }
    });
    Ok(Gate { addr, secret })
}

/// Compares without an early exit, so timing says nothing about the secret.
fn same(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given.iter().zip(expected).fold(0_u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// The path without its query, and with the tokens of webhook and interaction paths hidden.
///
/// Security: webhook and interaction tokens travel in request paths; logs never show them.
fn for_log(path: &str) -> String {
    let segments: Vec<&str> = path.split('?').next().unwrap_or_default().split('/').collect();
    let mut out = Vec::with_capacity(segments.len());
    for (index, segment) in segments.iter().enumerate() {
        let secret =
            index >= 2 && matches!(segments.get(index - 2), Some(&("webhooks" | "interactions")));
        out.push(if secret { "<token>" } else { segment });
    }
    out.join("/")
}

/// A Discord-shaped error answer.
fn answer(status: u16, message: &str) -> Response {
    let body = json!({ "message": message, "code": 0 }).to_string();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap_or_default()
}

/// What a 429 asks for: how long to wait, and whether every request must wait.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Limited {
    pub(crate) wait: Duration,
    pub(crate) global: bool,
}

/// Reads a 429: `Retry-After` in seconds (possibly fractional), else the body's `retry_after`
/// (seconds), else [`DEFAULT_WAIT`]. Global when Discord says so, or when no scope is given at
/// all (Cloudflare's limit is per address, so every route is held back).
pub(crate) fn limited(headers: &HeaderMap, body: &[u8]) -> Limited {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let usable = |s: &f64| s.is_finite() && *s >= 0.0;
    let seconds = header("retry-after")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(usable)
        .or_else(|| parsed.as_ref()?.get("retry_after")?.as_f64().filter(usable));
    let wait = seconds.map_or(DEFAULT_WAIT, |s| Duration::from_secs_f64(s.min(86_400.0)));
    let global = header("x-ratelimit-global").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || parsed.as_ref().and_then(|b| b.get("global")?.as_bool()).unwrap_or(false)
        || header("x-ratelimit-scope").is_none_or(|scope| scope == "global");
    Limited { wait, global }
}

impl Shared {
    /// Waits out a global pause, if one is on.
    async fn wait_pause(&self) {
        let until = *self.paused_until.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(until) = until.filter(|u| *u > Instant::now()) {
            tokio::time::sleep_until(until).await;
        }
    }

    /// Holds every request back until `until`; one log line per pause, not per request.
    fn pause(&self, until: Instant, wait: Duration) {
        let mut paused = self.paused_until.lock().unwrap_or_else(PoisonError::into_inner);
        if paused.is_none_or(|p| p < until) {
            if paused.is_none_or(|p| p <= Instant::now()) {
                tracing::warn!(
                    wait_ms = wait.as_millis(),
                    "Discord rate-limited the bot as a whole; every REST request waits"
                );
            }
            *paused = Some(until);
        }
    }

    /// One attempt upstream: the status, headers and body.
    async fn send(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<(StatusCode, HeaderMap, Bytes), tomori_net::FetchError> {
        let mut url = self.upstream.clone();
        url.set_path("");
        let target = format!("{}{}", url.as_str().trim_end_matches('/'), path);
        let limits = tomori_net::Limits::default()
            .with_max_bytes(MAX_BODY)
            .with_max_decoded_bytes(MAX_BODY)
            .with_timeout(ATTEMPT_TIMEOUT);
        let mut request = self
            .client
            .request(method.clone(), &target)
            .limits(limits)
            .redirects(tomori_net::Redirects::Return);
        for (name, value) in headers {
            if DROPPED.contains(&name.as_str()) {
                continue;
            }
            request = if name == "authorization" {
                request.secret_header(name.clone(), value.clone())
            } else {
                request.header(name.clone(), value.clone())
            };
        }
        if !body.is_empty() {
            request = request.body(body.clone());
        }
        let response = request.send().await?;
        let status = response.status();
        let mut out = response.headers().clone();
        for hop in ["content-length", "transfer-encoding", "connection"] {
            out.remove(hop);
        }
        let bytes = response.bytes().await?;
        Ok((status, out, bytes))
    }
}

async fn forward(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let given = headers.get(SECRET_HEADER).map_or(&[][..], |v| v.as_bytes());
    if !same(given, shared.secret.as_bytes()) {
        return answer(403, "not this process's REST gate");
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        shared.wait_pause().await;
        let route = names::rest_route(&path);
        let sent = shared.send(&method, &path, &headers, &body).await;
        let class =
            sent.as_ref().map_or("error", |(status, ..)| names::status_class(status.as_u16()));
        metrics::counter!(
            names::REST_REQUESTS,
            names::label::METHOD => method.as_str().to_owned(),
            names::label::ROUTE => route.clone(),
            names::label::STATUS => class,
        )
        .increment(1);
        let (status, out, bytes) = match sent {
            Ok(answered) => answered,
            Err(error) => {
                let code = error.code();
                tracing::debug!(code, route = %for_log(&path), "a Discord REST request failed");
                return answer(502, &format!("Discord could not be reached ({code})"));
            }
        };
        if status != StatusCode::TOO_MANY_REQUESTS {
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            *response.headers_mut() = out;
            return response;
        }
        let limit = limited(&out, &bytes);
        let scope = if limit.global { "global" } else { "route" };
        metrics::counter!(
            names::REST_RATE_LIMITS,
            names::label::ROUTE => route,
            names::label::SCOPE => scope,
        )
        .increment(1);
        let resume = Instant::now() + limit.wait;
        if limit.global {
            shared.pause(resume, limit.wait);
        }
        // Security: denial of service against Discord (and the bot's ban) through a 429 storm.
        // Every 429 is waited out, retries are bounded in count and time, and a global limit
        // holds every request back, so a burst cannot become hundreds of retries.
        if attempt >= MAX_RETRIES || resume.duration_since(started) > BUDGET {
            tracing::warn!(
                %method,
                route = %for_log(&path),
                retries = attempt,
                retry_after_ms = limit.wait.as_millis(),
                "Discord kept rate-limiting a request; it is given up"
            );
            return answer(503, "rate limited by Discord; gave up after waiting");
        }
        attempt += 1;
        tracing::info!(
            %method,
            route = %for_log(&path),
            retry_after_ms = limit.wait.as_millis(),
            global = limit.global,
            "Discord rate-limited a request; waiting before retrying"
        );
        tokio::time::sleep_until(resume).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn a_429_is_read_from_its_header_then_its_body() {
        let scoped = [("x-ratelimit-scope", "user")];
        let got = limited(&headers(&[("retry-after", "12.5"), scoped[0]]), b"");
        assert_eq!(got, Limited { wait: Duration::from_millis(12_500), global: false });
        let got = limited(&headers(&scoped), br#"{"retry_after": 0.25, "global": false}"#);
        assert_eq!(got, Limited { wait: Duration::from_millis(250), global: false });
        let got = limited(&headers(&scoped), b"not json");
        assert_eq!(got, Limited { wait: DEFAULT_WAIT, global: false });
        let got = limited(&headers(&[("retry-after", "-3"), scoped[0]]), br#"{"retry_after": 2}"#);
        assert_eq!(got.wait, Duration::from_secs(2), "a negative header is ignored");
    }

    #[test]
    fn a_429_is_global_when_discord_says_so_or_names_no_scope() {
        let body = br#"{"retry_after": 1}"#;
        assert!(limited(&headers(&[("x-ratelimit-global", "true")]), body).global);
        let user = [("x-ratelimit-scope", "user")];
        assert!(limited(&headers(&user), br#"{"retry_after": 1, "global": true}"#).global);
        assert!(!limited(&headers(&user), body).global);
        assert!(!limited(&headers(&[("x-ratelimit-scope", "shared")]), body).global);
        assert!(limited(&headers(&[]), body).global, "no scope: Cloudflare's per-address limit");
    }

    #[test]
    fn logged_routes_hide_tokens() {
        assert_eq!(
            for_log("/api/v10/webhooks/1/secret-token/messages/@original?wait=true"),
            "/api/v10/webhooks/1/<token>/messages/@original"
        );
        assert_eq!(
            for_log("/api/v10/interactions/5/tok/callback"),
            "/api/v10/interactions/5/<token>/callback"
        );
        assert_eq!(for_log("/api/v10/channels/2/messages"), "/api/v10/channels/2/messages");
    }

    #[test]
    fn the_secret_is_compared_whole() {
        assert!(same(b"abcd", b"abcd"));
        assert!(!same(b"abce", b"abcd"));
        assert!(!same(b"abc", b"abcd"));
        assert!(!same(b"", b"abcd"));
    }
}
