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
    /// Connecting failed or the connection broke; the message says how (connection refused, a
    /// DNS or TLS failure, a broken connection), and the source chain has the details.
    #[error("could not reach the provider ({})", transport_kind(.0))]
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

/// How a connection to a provider failed, told apart from the error's source chain so that an
/// operator reading the log knows where to look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    /// Nothing listens at the address (or a firewall rejects it).
    ConnectionRefused,
    /// The host name did not resolve.
    Dns,
    /// The TLS handshake failed (certificate, protocol, or no TLS on the other side).
    Tls,
    /// Connecting failed otherwise (unreachable network, reset while connecting).
    Connect,
    /// The connection broke after it was made, or the client could not be built.
    Other,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::ConnectionRefused => "connection refused",
            TransportKind::Dns => "DNS lookup failed",
            TransportKind::Tls => "TLS handshake failed",
            TransportKind::Connect => "could not connect",
            TransportKind::Other => "the connection failed",
        })
    }
}

/// Sorts a transport failure by walking its source chain: an I/O error's kind where there is
/// one, else the wording hyper, the resolver and rustls use.
pub fn transport_kind(error: &(dyn std::error::Error + 'static)) -> TransportKind {
    let mut connect = false;
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return TransportKind::ConnectionRefused;
        }
        let text = e.to_string().to_ascii_lowercase();
        if text.contains("connection refused") {
            return TransportKind::ConnectionRefused;
        }
        if text.contains("dns error")
            || text.contains("failed to lookup")
            || text.contains("resolve")
        {
            return TransportKind::Dns;
        }
        if text.contains("tls") || text.contains("certificate") || text.contains("handshake") {
            return TransportKind::Tls;
        }
        // hyper says "client error (Connect)", tokio's connector "tcp connect error".
        connect |= text.contains("(connect)") || text.contains("connect error");
        current = e.source();
    }
    if connect { TransportKind::Connect } else { TransportKind::Other }
}

/// An error and every source under it, joined by ": ", for logs.
pub fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut current = error.source();
    while let Some(e) = current {
        let text = e.to_string();
        // Wrappers often repeat their source's message; say each thing once.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        current = e.source();
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrap(&'static str, Option<Box<dyn std::error::Error + 'static>>);

    impl fmt::Display for Wrap {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Wrap {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref()
        }
    }

    fn chain(outer: &'static str, inner: Box<dyn std::error::Error + 'static>) -> Wrap {
        Wrap(outer, Some(Box::new(Wrap("client error (Connect)", Some(inner)))))
    }

    #[test]
    fn transport_failures_are_told_apart_by_their_cause() {
        let refused = || Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let table: Vec<(Wrap, TransportKind)> = vec![
            (chain("request failed", refused()), TransportKind::ConnectionRefused),
            (
                chain("request failed", Box::new(Wrap("dns error: no record found", None))),
                TransportKind::Dns,
            ),
            (
                chain(
                    "request failed",
                    Box::new(Wrap("invalid peer certificate: UnknownIssuer", None)),
                ),
                TransportKind::Tls,
            ),
            (
                chain("request failed", Box::new(std::io::Error::other("network is unreachable"))),
                TransportKind::Connect,
            ),
            (
                Wrap(
                    "request failed",
                    Some(Box::new(Wrap("connection closed before message completed", None))),
                ),
                TransportKind::Other,
            ),
        ];
        for (error, expected) in table {
            assert_eq!(transport_kind(&error), expected, "{}", cause_chain(&error));
        }
    }

    #[test]
    fn the_cause_chain_names_every_cause_once() {
        let error = chain(
            "request failed",
            Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        );
        assert_eq!(
            cause_chain(&error),
            "request failed: client error (Connect): connection refused"
        );
        let repeated = Wrap("tcp connect error: refused", Some(Box::new(Wrap("refused", None))));
        assert_eq!(cause_chain(&repeated), "tcp connect error: refused");
    }
}
