//! The crate's error: what went wrong with a provider call, classified so the caller (and the
//! retry, key-pool and fallback logic here) can act on it.
//!
//! Each variant has a stable snake_case [`LlmError::code`]. Messages quoted from a provider are
//! cut to [`MAX_PROVIDER_MESSAGE`] characters and have the request's API key removed before they
//! are stored, so neither `Display` nor `Debug` of an error can carry a key.

use std::fmt;
use std::time::Duration;

use tomori_net::{FetchError, Refusal};

/// Characters of a provider's error message that are kept.
pub const MAX_PROVIDER_MESSAGE: usize = 300;

/// Which wait ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeoutPhase {
    /// TCP and TLS.
    Connect,
    /// From sending the request to the first byte of the answer.
    FirstByte,
    /// Between two chunks of a stream.
    Idle,
    /// The whole exchange.
    Total,
}

impl fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutPhase::Connect => "connection",
            TimeoutPhase::FirstByte => "first byte",
            TimeoutPhase::Idle => "next chunk",
            TimeoutPhase::Total => "complete answer",
        })
    }
}

/// Why a provider call failed.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The provider refused the API key (401, 403, or an authentication error event).
    #[error("the provider refused the API key (HTTP {status})")]
    Auth {
        /// HTTP status, 0 when the refusal came inside a stream.
        status: u16,
    },
    /// Too many requests (429 or a rate-limit error event).
    #[error("rate limited by the provider{}", retry_hint(*.retry_after))]
    RateLimit {
        /// How long the provider asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// The provider rejected the request (400, 404, 422); `parameter` names the part it
    /// rejected when it could be told.
    #[error("the provider rejected the request (HTTP {status}){}: {message}", parameter_hint(.parameter.as_deref()))]
    BadRequest {
        /// HTTP status.
        status: u16,
        /// The rejected parameter's wire name, when the provider named it.
        parameter: Option<String>,
        /// The provider's message, cut short, key removed.
        message: String,
    },
    /// The provider failed (5xx, overloaded, or an error event mid-stream).
    #[error("the provider failed{}: {message}", status_hint(*.status))]
    Server {
        /// HTTP status, when the failure was a status.
        status: Option<u16>,
        /// The provider's message, cut short, key removed.
        message: String,
    },
    /// A wait ran out.
    #[error("no {phase} from the provider within {after:?}")]
    Timeout {
        /// Which wait.
        phase: TimeoutPhase,
        /// The bound that was hit.
        after: Duration,
    },
    /// The URL policy refused the endpoint (or a redirect, or a resolved address).
    #[error("{0}")]
    BlockedByPolicy(Refusal),
    /// The answer was not what the wire format promises (bad SSE, bad JSON, a stream that ended
    /// before the answer finished).
    #[error("the provider sent a malformed answer: {reason}")]
    Malformed {
        /// What was wrong.
        reason: String,
    },
    /// The answer, or one event in it, passed a size cap.
    #[error("the provider's answer passed the {limit}-byte cap")]
    TooLarge {
        /// The cap.
        limit: u64,
    },
    /// Connecting failed or the connection broke.
    #[error("could not reach the provider")]
    Transport(#[source] FetchError),
    /// Our request is unusable before anything is sent (no messages, a bad tool schema, a bad
    /// endpoint URL).
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// What was wrong.
        reason: String,
    },
    /// No key could be used: none configured where one is required, or all cooling down.
    #[error("no usable API key for {provider}")]
    NoKey {
        /// Provider name.
        provider: String,
    },
}

fn retry_hint(retry_after: Option<Duration>) -> String {
    retry_after.map(|after| format!(", retry after {}s", after.as_secs())).unwrap_or_default()
}

fn parameter_hint(parameter: Option<&str>) -> String {
    parameter.map(|p| format!(" parameter {p}")).unwrap_or_default()
}

fn status_hint(status: Option<u16>) -> String {
    status.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
}

impl LlmError {
    /// Stable snake_case code: `auth`, `rate_limit`, `bad_request`, `server`, `timeout`,
    /// `blocked_by_policy`, `malformed`, `too_large`, `transport`, `invalid_request`, `no_key`.
    pub fn code(&self) -> &'static str {
        match self {
            LlmError::Auth { .. } => "auth",
            LlmError::RateLimit { .. } => "rate_limit",
            LlmError::BadRequest { .. } => "bad_request",
            LlmError::Server { .. } => "server",
            LlmError::Timeout { .. } => "timeout",
            LlmError::BlockedByPolicy(_) => "blocked_by_policy",
            LlmError::Malformed { .. } => "malformed",
            LlmError::TooLarge { .. } => "too_large",
            LlmError::Transport(_) => "transport",
            LlmError::InvalidRequest { .. } => "invalid_request",
            LlmError::NoKey { .. } => "no_key",
        }
    }

    /// Whether trying the same request again (same key, after a pause) may work.
    pub fn is_transient(&self) -> bool {
        matches!(self, LlmError::Server { .. } | LlmError::Timeout { .. } | LlmError::Transport(_))
    }

    /// Whether another key or another endpoint may succeed where this one failed. Requests we
    /// built wrong, and URLs the policy refuses, fail the same everywhere in the chain's target.
    pub fn is_attempt_failure(&self) -> bool {
        !matches!(self, LlmError::InvalidRequest { .. })
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        LlmError::InvalidRequest { reason: reason.into() }
    }

    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        LlmError::Malformed { reason: reason.into() }
    }

    /// Sorts a tomori-net error. Timeouts are classified by the caller, which knows the phase.
    pub(crate) fn from_fetch(error: FetchError, phase: TimeoutPhase) -> Self {
        match error {
            FetchError::BlockedByPolicy(refusal) => LlmError::BlockedByPolicy(refusal),
            FetchError::TooLarge { limit } => LlmError::TooLarge { limit },
            FetchError::Timeout(after) => LlmError::Timeout { phase, after },
            FetchError::Decode { reason } => LlmError::Malformed { reason },
            FetchError::InvalidRequest { reason } => LlmError::InvalidRequest { reason },
            other => LlmError::Transport(other),
        }
    }
}

/// Cuts a provider's message to [`MAX_PROVIDER_MESSAGE`] characters and removes `secret` from
/// it.
///
/// Security: credential disclosure. Some providers quote the key they refused ("Incorrect API
/// key provided: sk-..."); the message goes into errors that are logged and may be shown, so
/// the key (and any run of it long enough to matter) is replaced before it is kept.
pub(crate) fn scrub(message: &str, secret: Option<&str>) -> String {
    let mut text = message.to_owned();
    if let Some(secret) = secret.filter(|s| s.len() >= 4) {
        text = text.replace(secret, "[REDACTED]");
        // A masked key keeps a prefix and a suffix; remove any 8-character run of the key too.
        let chars: Vec<char> = secret.chars().collect();
        if chars.len() >= 8 {
            for window in chars.windows(8) {
                let piece: String = window.iter().collect();
                if text.contains(&piece) {
                    text = text.replace(&piece, "[REDACTED]");
                }
            }
        }
    }
    let mut cut: String = text.chars().take(MAX_PROVIDER_MESSAGE).collect();
    if text.chars().count() > MAX_PROVIDER_MESSAGE {
        cut.push('…');
    }
    cut.split_whitespace().collect::<Vec<_>>().join(" ")
}
