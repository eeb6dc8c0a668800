//! The guarded HTTP client: the only place in the workspace an HTTP client is built.
//!
//! A [`Client`] belongs to one [`Policy`]. Every request it sends is judged before it leaves
//! (URL and IP literal), when its host is resolved ([`crate::CheckedResolver`]), when a
//! connection is made (the peer check in `connect`), and again at every redirect hop, which our
//! code follows instead of reqwest's. Bodies stream through [`Response::chunk`] under the caps of
//! [`Limits`]. It does not retry, cache, or keep cookies.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use crate::connect::PeerGuardLayer;
use crate::decode::{Decoder, len_u64};
use crate::error::FetchError;
use crate::limits::Limits;
use crate::policy::{Mode, Policy, Reason, Refusal};
use crate::resolve::{CheckedResolver, Lookup, SystemLookup};

/// Redirect hops a request may follow.
pub const MAX_REDIRECTS: u8 = 3;

/// Headers that carry credentials and are dropped when a redirect leaves the origin. Callers add
/// their own with [`RequestBuilder::secret_header`]. `x-goog-api-key` and `api-key` are the
/// Gemini and Azure spellings of `x-api-key`.
const SECRET_HEADERS: [&str; 6] =
    ["authorization", "proxy-authorization", "cookie", "x-api-key", "x-goog-api-key", "api-key"];

/// What to do with a 3xx response that has a `Location`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Redirects {
    /// Follow up to [`MAX_REDIRECTS`] hops, each judged again.
    #[default]
    Follow,
    /// Fail with [`FetchError::RedirectRefused`].
    Refuse,
    /// Hand the 3xx response to the caller.
    Return,
}

// Relaxed settings are logged once per process, when the first client that uses them is built
// (at startup, since clients are built once per scope), not once per client.
static WARNED_DEVELOPMENT: AtomicBool = AtomicBool::new(false);
static WARNED_PRIVATE: AtomicBool = AtomicBool::new(false);
static WARNED_TEST: AtomicBool = AtomicBool::new(false);

fn warn_once(flag: &AtomicBool, message: &str) {
    if !flag.swap(true, Ordering::Relaxed) {
        tracing::warn!("net: {message}");
    }
}

/// Installs rustls' ring provider as the process default if none is installed yet.
///
/// reqwest is built with `rustls-no-provider`, and building a client without a process-wide
/// provider panics; calling this first (it is idempotent) removes the dependence on startup order.
pub fn install_crypto_provider() {
    // An error only means a provider is already installed, which is what we want.
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
}

/// Builds a [`Client`].
pub struct ClientBuilder {
    policy: Policy,
    lookup: Arc<dyn Lookup>,
    connect_timeout: Duration,
    user_agent: String,
    limits: Limits,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("policy", &self.policy)
            .field("connect_timeout", &self.connect_timeout)
            .field("user_agent", &self.user_agent)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Resolves names with `lookup` instead of the system resolver (tests, `--resolve`).
    #[must_use]
    pub fn lookup(mut self, lookup: Arc<dyn Lookup>) -> Self {
        self.lookup = lookup;
        self
    }

    /// Sets the connect timeout (TCP and TLS), default 10 seconds.
    #[must_use]
    pub fn connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }

    /// Sets the `User-Agent`.
    #[must_use]
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Sets the limits requests start with.
    #[must_use]
    pub fn default_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// `InvalidRequest` when reqwest cannot build it (a bad user agent, TLS roots unavailable).
    pub fn build(self) -> Result<Client, FetchError> {
        install_crypto_provider();
        let policy = Arc::new(self.policy);
        if policy.mode() == Mode::Development {
            warn_once(
                &WARNED_DEVELOPMENT,
                "development mode: server endpoints may use http and loopback",
            );
        }
        if policy.allows_private_networks() {
            warn_once(&WARNED_PRIVATE, "private networks allowed by operator config");
        }
        if policy.is_test_policy() {
            warn_once(&WARNED_TEST, "test-only loopback allowance is set");
        }
        #[expect(
            clippy::disallowed_methods,
            reason = "tomori-net is the one sanctioned place an HTTP client is built"
        )]
        let builder = reqwest::Client::builder();
        let http = builder
            // Security: SSRF through a proxy. A proxy resolves names itself, outside the checked
            // resolver; with no proxy every connection is ours to judge.
            .no_proxy()
            // Security: redirect to an internal address or credential leak. reqwest never follows
            // a redirect; `RequestBuilder::send` does, judging each hop and stripping secrets.
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            // Security: DNS rebinding. Names resolve only through the resolver that judges every
            // answer, and hyper connects to exactly those answers.
            .dns_resolver(CheckedResolver::shared(Arc::clone(&policy), self.lookup))
            .connector_layer(PeerGuardLayer::new(Arc::clone(&policy)))
            // Security: decompression bombs. reqwest's decoder has no output cap; ours does.
            .no_gzip()
            .no_brotli()
            .no_deflate()
            .no_zstd()
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent)
            .build()
            .map_err(|error| FetchError::InvalidRequest { reason: error.to_string() })?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                policy,
                connect_timeout: self.connect_timeout,
                limits: self.limits,
            }),
        })
    }
}

struct Inner {
    http: reqwest::Client,
    policy: Arc<Policy>,
    connect_timeout: Duration,
    limits: Limits,
}

/// A policy-guarded HTTP client for one scope. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("policy", &self.inner.policy).finish_non_exhaustive()
    }
}

impl Client {
    /// Starts a client for `policy` with the system resolver and default limits.
    pub fn builder(policy: Policy) -> ClientBuilder {
        ClientBuilder {
            policy,
            lookup: Arc::new(SystemLookup),
            connect_timeout: Duration::from_secs(10),
            user_agent: concat!("tomori/", env!("CARGO_PKG_VERSION")).to_owned(),
            limits: Limits::default(),
        }
    }

    /// A client for `policy` with the system resolver and default limits.
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::build`].
    pub fn new(policy: Policy) -> Result<Self, FetchError> {
        Client::builder(policy).build()
    }

    /// The policy this client enforces.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// The underlying `reqwest::Client`, for libraries that want one (rmcp's streamable HTTP
    /// transport, SSE clients).
    ///
    /// It keeps the guards that live inside reqwest: the checked resolver, the connect-time peer
    /// check, no proxy, no redirects followed, no automatic decompression. It loses the ones that
    /// live in [`RequestBuilder::send`]: judge the URL with [`Client::policy`] before handing it
    /// over (an IP literal is otherwise caught only after the TCP/TLS handshake), expect 3xx
    /// responses instead of followed redirects, and cap bodies and time yourself.
    pub fn reqwest_client(&self) -> reqwest::Client {
        self.inner.http.clone()
    }

    /// Starts a request.
    pub fn request(&self, method: Method, url: &str) -> RequestBuilder<'_> {
        RequestBuilder {
            client: self,
            method,
            url: Url::parse(url).map_err(|_| Refusal::new(Reason::InvalidUrl, None, None)),
            headers: HeaderMap::new(),
            secret_headers: Vec::new(),
            body: None,
            redirects: Redirects::Follow,
            limits: self.inner.limits.clone(),
            error: None,
        }
    }

    /// Starts a GET.
    pub fn get(&self, url: &str) -> RequestBuilder<'_> {
        self.request(Method::GET, url)
    }

    /// Starts a POST with a JSON body.
    pub fn post_json<T: Serialize + ?Sized>(&self, url: &str, body: &T) -> RequestBuilder<'_> {
        self.request(Method::POST, url).json(body)
    }

    /// Downloads `url` whole: GET, redirects followed, 2xx required, content type and size checked.
    ///
    /// # Errors
    ///
    /// `blocked_by_policy`, `too_large`, `timeout`, `bad_status`, `content_type`, `decode` or
    /// `transport`; see [`FetchError`].
    pub async fn safe_download(&self, url: &str, limits: &Limits) -> Result<Download, FetchError> {
        self.get(url).limits(limits.clone()).download().await
    }
}

/// One request being built; nothing is sent until [`RequestBuilder::send`].
pub struct RequestBuilder<'c> {
    client: &'c Client,
    method: Method,
    url: Result<Url, Refusal>,
    headers: HeaderMap,
    secret_headers: Vec<HeaderName>,
    body: Option<Bytes>,
    redirects: Redirects,
    limits: Limits,
    // The first builder mistake, reported by `send` so calls can be chained.
    error: Option<FetchError>,
}

impl std::fmt::Debug for RequestBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values marked sensitive print as `Sensitive`, so secrets stay out of logs.
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("url", &self.url.as_ref().map(Url::as_str))
            .field("headers", &self.headers)
            .field("redirects", &self.redirects)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn invalid(reason: impl Into<String>) -> FetchError {
    FetchError::InvalidRequest { reason: reason.into() }
}

impl RequestBuilder<'_> {
    fn add_header<K, V>(mut self, name: K, value: V, secret: bool) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        let Ok(name) = name.try_into() else {
            self.error.get_or_insert_with(|| invalid("invalid header name"));
            return self;
        };
        let Ok(mut value) = value.try_into() else {
            self.error.get_or_insert_with(|| invalid(format!("invalid value for header {name}")));
            return self;
        };
        if secret {
            value.set_sensitive(true);
            self.secret_headers.push(name.clone());
        }
        self.headers.append(name, value);
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn header<K, V>(self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        self.add_header(name, value, false)
    }

    /// Adds a header that carries a secret: redacted in `Debug`, and dropped for good when a
    /// redirect leaves the origin.
    #[must_use]
    pub fn secret_header<K, V>(self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        self.add_header(name, value, true)
    }

    /// Adds `Authorization: Bearer <token>` as a secret header.
    #[must_use]
    pub fn bearer_auth(self, token: &str) -> Self {
        self.secret_header(header::AUTHORIZATION, format!("Bearer {token}"))
    }

    /// Sets a raw body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sets a JSON body and `Content-Type: application/json`.
    #[must_use]
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => {
                self.body = Some(Bytes::from(bytes));
                self.headers
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            Err(error) => {
                self.error.get_or_insert_with(|| invalid(format!("JSON body: {error}")));
            }
        }
        self
    }

    /// Chooses what happens on a redirect (default: follow).
    #[must_use]
    pub fn redirects(mut self, redirects: Redirects) -> Self {
        self.redirects = redirects;
        self
    }

    /// Sets the limits for this request.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sends the request, following redirects as chosen, and returns the response with its body
    /// not yet read.
    ///
    /// # Errors
    ///
    /// See [`FetchError`]; the wall-clock timeout counts from here.
    pub async fn send(self) -> Result<Response, FetchError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let inner = &self.client.inner;
        let policy = &inner.policy;
        let limits = self.limits;
        let deadline = Instant::now() + limits.timeout;
        let mut url = self.url.map_err(FetchError::BlockedByPolicy)?;
        policy.check_url(&url).map_err(FetchError::BlockedByPolicy)?;
        let mut method = self.method;
        let mut body = self.body;
        let mut headers = self.headers;
        let mut secret_headers = self.secret_headers;
        secret_headers.extend(SECRET_HEADERS.map(HeaderName::from_static));
        if !headers.contains_key(header::ACCEPT_ENCODING) {
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip, deflate, br"));
        }
        let mut hops = 0_u8;
        loop {
            let mut request =
                inner.http.request(method.clone(), url.clone()).headers(headers.clone());
            if let Some(body) = &body {
                request = request.body(body.clone());
            }
            let response = match tokio::time::timeout_at(deadline, request.send()).await {
                Err(_elapsed) => return Err(FetchError::Timeout(limits.timeout)),
                Ok(Err(error)) => {
                    return Err(FetchError::from_reqwest(error, inner.connect_timeout));
                }
                Ok(Ok(response)) => response,
            };
            let status = response.status();
            let location = response.headers().get(header::LOCATION).cloned();
            let location = match location {
                // 300, 304 and 305 are not redirects to follow, whatever they carry.
                Some(location) if matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) => {
                    location
                }
                _ => return Response::new(response, url, limits, deadline, inner.connect_timeout),
            };
            match self.redirects {
                Redirects::Return => {
                    return Response::new(response, url, limits, deadline, inner.connect_timeout);
                }
                Redirects::Refuse => {
                    let location = String::from_utf8_lossy(location.as_bytes()).into_owned();
                    return Err(FetchError::RedirectRefused { location });
                }
                Redirects::Follow => {}
            }
            if hops >= MAX_REDIRECTS {
                return Err(FetchError::TooManyRedirects { max: MAX_REDIRECTS });
            }
            hops += 1;
            let next =
                location.to_str().ok().and_then(|location| url.join(location).ok()).ok_or_else(
                    || {
                        FetchError::BlockedByPolicy(Refusal::new(
                            Reason::InvalidUrl,
                            url.host_str(),
                            None,
                        ))
                    },
                )?;
            // Security: SSRF through redirects. Every hop is judged as a fresh URL (IP literals,
            // scheme, userinfo), https to http is refused, and names are judged again when the
            // new connection resolves them.
            policy.check_redirect(&url, &next).map_err(FetchError::BlockedByPolicy)?;
            if next.origin() != url.origin() {
                // Security: credential leak to another host. Secrets are removed from the header
                // set itself, so a later hop back to the first origin does not get them back.
                for name in &secret_headers {
                    headers.remove(name);
                }
            }
            let becomes_get = (status == StatusCode::SEE_OTHER && method != Method::HEAD)
                || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                    && method == Method::POST);
            if becomes_get {
                method = Method::GET;
                body = None;
                for name in [header::CONTENT_TYPE, header::CONTENT_LENGTH, header::CONTENT_ENCODING]
                {
                    headers.remove(name);
                }
            }
            url = next;
        }
    }

    /// Sends the request and reads the whole body: 2xx required, content type checked against
    /// the allowlist before the body is read.
    ///
    /// # Errors
    ///
    /// See [`FetchError`].
    pub async fn download(self) -> Result<Download, FetchError> {
        self.send().await?.download().await
    }
}

/// A response whose body has not been read yet; reading it enforces the caps and timeouts.
pub struct Response {
    inner: reqwest::Response,
    url: Url,
    decoder: Decoder,
    limits: Limits,
    deadline: Instant,
    connect_timeout: Duration,
    wire_bytes: u64,
    started: bool,
    finished: bool,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.inner.status())
            .field("url", &self.url.as_str())
            .field("decoder", &self.decoder)
            .finish_non_exhaustive()
    }
}

impl Response {
    fn new(
        inner: reqwest::Response,
        url: Url,
        limits: Limits,
        deadline: Instant,
        connect_timeout: Duration,
    ) -> Result<Self, FetchError> {
        let encodings: Vec<&str> = inner
            .headers()
            .get_all(header::CONTENT_ENCODING)
            .iter()
            .map(|value| value.to_str().unwrap_or("invalid"))
            .collect();
        let decoder = Decoder::new(&encodings, limits.max_decoded_bytes)?;
        Ok(Response {
            inner,
            url,
            decoder,
            limits,
            deadline,
            connect_timeout,
            wire_bytes: 0,
            started: false,
            finished: false,
        })
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The `Content-Type` header, if present and text.
    pub fn content_type(&self) -> Option<&str> {
        self.inner.headers().get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok())
    }

    /// The URL that answered, after redirects.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Reads the whole body as [`RequestBuilder::download`] does: 2xx required, content type
    /// checked against the allowlist before the body is read. For a response the caller looked
    /// at first (a redirect returned with [`Redirects::Return`], say).
    ///
    /// # Errors
    ///
    /// See [`FetchError`].
    pub async fn download(self) -> Result<Download, FetchError> {
        let status = self.status();
        if !status.is_success() {
            return Err(FetchError::BadStatus { status });
        }
        let content_type = self.content_type().map(str::to_owned);
        if !self.limits.allows_content_type(content_type.as_deref()) {
            return Err(FetchError::ContentType { found: content_type });
        }
        let final_url = self.url().clone();
        let bytes = self.bytes().await?;
        Ok(Download { bytes, content_type, final_url, status })
    }

    /// The next decoded chunk of the body, or `None` at the end.
    ///
    /// # Errors
    ///
    /// `too_large` past either cap, `timeout` past the deadline or the idle timeout, `decode`
    /// for a corrupt encoding, `transport` when the connection breaks.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, FetchError> {
        if !self.started {
            self.started = true;
            // Only an early exit: a server may send more than it announced, or announce nothing.
            if self.inner.content_length().is_some_and(|n| n > self.limits.max_bytes) {
                self.finished = true;
                return Err(FetchError::TooLarge { limit: self.limits.max_bytes });
            }
        }
        loop {
            if self.finished {
                return Ok(None);
            }
            // Security: slow-drip denial of service. The wall clock covers the whole exchange, so a
            // server that keeps the connection alive with a byte a second still runs out of time.
            let (wait_until, fired) = match self.limits.idle_timeout {
                Some(idle) if Instant::now() + idle < self.deadline => {
                    (Instant::now() + idle, idle)
                }
                _ => (self.deadline, self.limits.timeout),
            };
            let next = match tokio::time::timeout_at(wait_until, self.inner.chunk()).await {
                Err(_elapsed) => {
                    self.finished = true;
                    return Err(FetchError::Timeout(fired));
                }
                Ok(Err(error)) => {
                    self.finished = true;
                    return Err(FetchError::from_reqwest(error, self.connect_timeout));
                }
                Ok(Ok(next)) => next,
            };
            let Some(raw) = next else {
                self.finished = true;
                let rest = self.decoder.finish()?;
                return Ok((!rest.is_empty()).then_some(rest));
            };
            self.wire_bytes = self.wire_bytes.saturating_add(len_u64(raw.len()));
            // Security: memory exhaustion. The cap counts bytes as they arrive; Content-Length is
            // never trusted, and chunked or close-delimited bodies have none.
            if self.wire_bytes > self.limits.max_bytes {
                self.finished = true;
                return Err(FetchError::TooLarge { limit: self.limits.max_bytes });
            }
            // Security: decompression bombs. The decoder stops at `max_decoded_bytes`.
            let decoded = match self.decoder.push(raw) {
                Ok(decoded) => decoded,
                Err(error) => {
                    self.finished = true;
                    return Err(error);
                }
            };
            if !decoded.is_empty() {
                return Ok(Some(decoded));
            }
        }
    }

    /// Reads the rest of the body into memory, under the caps.
    ///
    /// # Errors
    ///
    /// As [`Response::chunk`].
    pub async fn bytes(mut self) -> Result<Bytes, FetchError> {
        let mut body = BytesMut::new();
        while let Some(chunk) = self.chunk().await? {
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    /// Reads the body and parses it as JSON.
    ///
    /// # Errors
    ///
    /// As [`Response::chunk`], or `decode` when it is not the expected JSON.
    pub async fn json<T: DeserializeOwned>(self) -> Result<T, FetchError> {
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes)
            .map_err(|error| FetchError::Decode { reason: format!("JSON: {error}") })
    }

    /// The body as a stream of decoded chunks (for SSE and other long responses), under the caps.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, FetchError>> + Send + 'static {
        futures_util::stream::unfold(Some(self), |state| async move {
            let mut response = state?;
            match response.chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), Some(response))),
                Ok(None) => None,
                Err(error) => Some((Err(error), None)),
            }
        })
    }
}

/// A whole downloaded body.
#[derive(Clone, Debug)]
pub struct Download {
    /// The decoded body.
    pub bytes: Bytes,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The URL that answered, after redirects.
    pub final_url: Url,
    /// The (2xx) status.
    pub status: StatusCode,
}

impl Download {
    /// The body as text, decoded with the charset from `Content-Type` (UTF-8 when absent or
    /// unknown); invalid sequences become U+FFFD.
    pub fn text(&self) -> String {
        let label = self.content_type.as_deref().and_then(|content_type| {
            content_type.split(';').skip(1).find_map(|param| {
                let (key, value) = param.split_once('=')?;
                key.trim().eq_ignore_ascii_case("charset").then(|| value.trim().trim_matches('"'))
            })
        });
        let encoding = label
            .and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes()))
            .unwrap_or(encoding_rs::UTF_8);
        let (text, _, _) = encoding.decode(&self.bytes);
        text.into_owned()
    }
}
