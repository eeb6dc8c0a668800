//! rmcp's streamable-HTTP client over a tomori-net client.
//!
//! rmcp lets the caller supply the HTTP client ([`StreamableHttpClient`]); it ships an
//! implementation for `reqwest::Client`. [`GuardedHttp`] wraps the `reqwest::Client` that
//! [`tomori_net::Client::reqwest_client`] hands out, which keeps the guards that live inside
//! reqwest (the checked resolver, the connect-time peer check, no proxy, no redirects followed),
//! and adds the one that lives in tomori-net's own request path: every URL is judged by the
//! client's [`tomori_net::Policy`] before the request is built. Each method then delegates to
//! rmcp's reqwest implementation, so the protocol handling (sessions, SSE, body limits) is
//! rmcp's own.
//!
//! Security: SSRF through guild MCP URLs (TomoriBot's threat model: "Remote guild MCP URL points
//! at localhost, RFC1918, link-local, metadata IPs"). The URL is judged before every request,
//! each DNS answer and each connected peer is judged again, and a redirect is never followed: a
//! 3xx answer is an error for rmcp, so the auth token never travels to another origin.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use sse_stream::Sse;
use tomori_net::{Client, Refusal};

/// Why a guarded request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GuardError {
    /// The policy refused the URL; nothing was sent.
    #[error("blocked_by_policy: {0}")]
    Blocked(#[source] Refusal),
    /// reqwest failed (a refusal by the resolver or the peer check is in its sources).
    #[error("{0}")]
    Http(#[source] reqwest::Error),
}

type HttpResult<T> = Result<T, StreamableHttpError<GuardError>>;

/// A streamable-HTTP client that judges every URL with a tomori-net policy first.
///
/// rmcp keeps a client error's text but not its sources, so the last policy refusal is also
/// kept here (clones share it), for the caller to name the rule that refused.
#[derive(Clone)]
pub(crate) struct GuardedHttp {
    net: Client,
    http: reqwest::Client,
    refused: Arc<Mutex<Option<Refusal>>>,
}

impl GuardedHttp {
    /// Wraps `net` (a server-scope client for guild servers).
    pub(crate) fn new(net: &Client) -> Self {
        Self { net: net.clone(), http: net.reqwest_client(), refused: Arc::default() }
    }

    /// The last policy refusal, if any, forgotten once read.
    pub(crate) fn take_refusal(&self) -> Option<Refusal> {
        self.refused.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    fn refuse(&self, refusal: Refusal) -> GuardError {
        *self.refused.lock().unwrap_or_else(PoisonError::into_inner) = Some(refusal.clone());
        GuardError::Blocked(refusal)
    }

    fn check(&self, uri: &str) -> HttpResult<()> {
        self.net
            .policy()
            .parse_url(uri)
            .map(|_| ())
            .map_err(|refusal| StreamableHttpError::Client(self.refuse(refusal)))
    }

    /// rmcp's error over reqwest as the same error over [`GuardError`]. Variants rmcp acts on
    /// (an expired session, an auth challenge, a server without SSE) keep their meaning.
    fn guard(&self, error: StreamableHttpError<reqwest::Error>) -> StreamableHttpError<GuardError> {
        match error {
            StreamableHttpError::Client(error) => {
                // The checked resolver and the peer check refuse inside reqwest.
                let refusal = tomori_net::find_refusal(&error).cloned();
                StreamableHttpError::Client(match refusal {
                    Some(refusal) => self.refuse(refusal),
                    None => GuardError::Http(error),
                })
            }
            other => guard(other),
        }
    }
}

/// The error variants other than the client's own, carried over one by one.
fn guard(error: StreamableHttpError<reqwest::Error>) -> StreamableHttpError<GuardError> {
    use StreamableHttpError as E;
    match error {
        E::Client(error) => E::Client(GuardError::Http(error)),
        E::Sse(error) => E::Sse(error),
        E::Io(error) => E::Io(error),
        E::HttpStatus(error) => E::HttpStatus(error),
        E::UnexpectedEndOfStream => E::UnexpectedEndOfStream,
        E::UnexpectedServerResponse(text) => E::UnexpectedServerResponse(text),
        E::ResponseBodyTooLarge { max_size } => E::ResponseBodyTooLarge { max_size },
        E::UnexpectedContentType(found) => E::UnexpectedContentType(found),
        E::ServerDoesNotSupportSse => E::ServerDoesNotSupportSse,
        E::ServerDoesNotSupportDeleteSession => E::ServerDoesNotSupportDeleteSession,
        E::TokioJoinError(error) => E::TokioJoinError(error),
        E::Deserialize(error) => E::Deserialize(error),
        E::TransportChannelClosed => E::TransportChannelClosed,
        E::MissingSessionIdInResponse => E::MissingSessionIdInResponse,
        E::AuthRequired(error) => E::AuthRequired(error),
        E::InsufficientScope(error) => E::InsufficientScope(error),
        E::ReservedHeaderConflict(name) => E::ReservedHeaderConflict(name),
        E::SessionExpired => E::SessionExpired,
        E::SessionRecoveryTimeout => E::SessionRecoveryTimeout,
        E::ReinitializationFailed(error) => E::ReinitializationFailed(error),
        E::ControlRequestTimeout => E::ControlRequestTimeout,
        // A variant newer than this code: its text survives, its kind does not.
        other => E::UnexpectedServerResponse(Cow::Owned(other.to_string())),
    }
}

impl StreamableHttpClient for GuardedHttp {
    type Error = GuardError;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<StreamableHttpPostResponse> {
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            StreamableHttpResponseLimits::default(),
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> HttpResult<StreamableHttpPostResponse> {
        self.check(&uri)?;
        self.http
            .post_message_with_max_sse_event_size(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
            .map_err(|e| self.guard(e))
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> HttpResult<StreamableHttpPostResponse> {
        self.check(&uri)?;
        self.http
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                limits,
            )
            .await
            .map_err(|e| self.guard(e))
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<()> {
        self.check(&uri)?;
        self.http
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
            .map_err(|e| self.guard(e))
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<BoxStream<'static, Result<Sse, SseError>>> {
        self.check(&uri)?;
        self.http
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await
            .map_err(|e| self.guard(e))
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> HttpResult<BoxStream<'static, Result<Sse, SseError>>> {
        self.check(&uri)?;
        self.http
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
            .map_err(|e| self.guard(e))
    }
}
