//! The crate's error: what went wrong with a request, in terms a caller can act on.
//!
//! Each variant has a stable snake_case [`FetchError::code`] for logs, metrics and user-facing
//! mapping. Policy refusals keep their own [`Refusal`] so the caller can tell the user which rule
//! said no; everything the network did wrong that is not a policy matter is `transport`.

use std::time::Duration;

use reqwest::StatusCode;

use crate::policy::Refusal;

/// Why a request or download failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL policy refused the URL, a redirect hop, a resolved address or the connected peer.
    #[error("{0}")]
    BlockedByPolicy(Refusal),
    /// The body (on the wire or decoded) passed the cap.
    #[error("response body is larger than {limit} bytes")]
    TooLarge {
        /// The cap that was exceeded.
        limit: u64,
    },
    /// The wall-clock, idle or connect timeout fired.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// A download got a status other than 2xx.
    #[error("unexpected HTTP status {status}")]
    BadStatus {
        /// The status received.
        status: StatusCode,
    },
    /// The content type is not in the allowlist for this use.
    #[error("content type {found:?} is not allowed here")]
    ContentType {
        /// The `Content-Type` received, if any.
        found: Option<String>,
    },
    /// More redirects than [`crate::MAX_REDIRECTS`].
    #[error("more than {max} redirects")]
    TooManyRedirects {
        /// The hop limit.
        max: u8,
    },
    /// The caller asked to refuse redirects and got one.
    #[error("the server redirected and redirects are refused for this request")]
    RedirectRefused {
        /// The `Location` the server sent.
        location: String,
    },
    /// The body could not be decoded (corrupt compression, unsupported encoding, bad JSON).
    #[error("could not decode the response body: {reason}")]
    Decode {
        /// What was wrong.
        reason: String,
    },
    /// The request was malformed before it was sent (bad header, unserialisable body), or the
    /// client could not be built.
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// What was wrong.
        reason: String,
    },
    /// Connecting, TLS, DNS failure or the connection breaking mid-way.
    #[error("request failed")]
    Transport(#[source] reqwest::Error),
}

impl FetchError {
    /// Stable snake_case code: `blocked_by_policy`, `too_large`, `timeout`, `bad_status`,
    /// `content_type`, `too_many_redirects`, `redirect_refused`, `decode`, `invalid_request`,
    /// `transport`.
    pub fn code(&self) -> &'static str {
        match self {
            FetchError::BlockedByPolicy(_) => "blocked_by_policy",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Timeout(_) => "timeout",
            FetchError::BadStatus { .. } => "bad_status",
            FetchError::ContentType { .. } => "content_type",
            FetchError::TooManyRedirects { .. } => "too_many_redirects",
            FetchError::RedirectRefused { .. } => "redirect_refused",
            FetchError::Decode { .. } => "decode",
            FetchError::InvalidRequest { .. } => "invalid_request",
            FetchError::Transport(_) => "transport",
        }
    }

    /// The policy refusal, when this is one.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            FetchError::BlockedByPolicy(refusal) => Some(refusal),
            _ => None,
        }
    }

    /// Sorts a reqwest error: a refusal from our resolver or connector anywhere in its source
    /// chain makes it `BlockedByPolicy`; a reqwest timeout makes it `Timeout`.
    pub(crate) fn from_reqwest(error: reqwest::Error, connect_timeout: Duration) -> Self {
        if let Some(refusal) = find_refusal(&error) {
            return FetchError::BlockedByPolicy(refusal.clone());
        }
        if error.is_timeout() {
            return FetchError::Timeout(connect_timeout);
        }
        FetchError::Transport(error)
    }
}

/// Finds a policy refusal anywhere in an error's source chain. Useful with errors from libraries
/// that were handed [`crate::Client::reqwest_client`] (rmcp, SSE clients): a refusal from the
/// checked resolver or the connect-time peer check is in there, wrapped by reqwest and hyper.
pub fn find_refusal<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e Refusal> {
    let mut source = Some(error);
    while let Some(current) = source {
        if let Some(refusal) = current.downcast_ref::<Refusal>() {
            return Some(refusal);
        }
        source = current.source();
    }
    None
}
