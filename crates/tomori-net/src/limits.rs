//! Per-request limits: body caps, timeouts and the content-type allowlist.
//!
//! Limits are data chosen per use (an avatar, a PDF, a web page, an LLM stream); the client
//! enforces them while the body streams in. The connect timeout is per client, because reqwest
//! sets it on the connector.

use std::time::Duration;

/// Caps for one request. `Default` suits a web page or attachment: 10 MiB, 30 seconds, any type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes accepted off the wire (before content decoding), counted as they arrive: the
    /// `Content-Length` header is only used to fail early, never trusted as a bound.
    pub max_bytes: u64,
    /// Bytes accepted after gzip/deflate/brotli decoding: the decompression-bomb cap.
    pub max_decoded_bytes: u64,
    /// Wall clock from sending the first request to the last body byte, redirects included; a
    /// server trickling one byte a second still hits it.
    pub timeout: Duration,
    /// Longest wait for the next body chunk, for long streams (SSE) that outlive `timeout` only
    /// if the caller raised it.
    pub idle_timeout: Option<Duration>,
    /// Allowed media types (`image/png`, `image/*`, `text/html`), compared without parameters and
    /// case-insensitively. Empty allows any, including none.
    pub content_types: Vec<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 10 * 1024 * 1024,
            max_decoded_bytes: 10 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            idle_timeout: None,
            content_types: Vec::new(),
        }
    }
}

impl Limits {
    /// Sets both body caps (wire and decoded) to `max_bytes`.
    #[must_use]
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self.max_decoded_bytes = max_bytes;
        self
    }

    /// Sets the decoded-size cap alone.
    #[must_use]
    pub fn with_max_decoded_bytes(mut self, max_decoded_bytes: u64) -> Self {
        self.max_decoded_bytes = max_decoded_bytes;
        self
    }

    /// Sets the wall-clock timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the idle timeout between body chunks.
    #[must_use]
    pub fn with_idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.idle_timeout = Some(idle_timeout);
        self
    }

    /// Sets the content-type allowlist.
    #[must_use]
    pub fn with_content_types(mut self, content_types: &[&str]) -> Self {
        self.content_types = content_types.iter().map(|t| (*t).to_owned()).collect();
        self
    }

    /// Whether a `Content-Type` header value passes the allowlist.
    pub fn allows_content_type(&self, content_type: Option<&str>) -> bool {
        if self.content_types.is_empty() {
            return true;
        }
        let Some(essence) = content_type.map(media_type) else {
            return false;
        };
        self.content_types.iter().any(|allowed| {
            let allowed = allowed.trim().to_ascii_lowercase();
            match allowed.strip_suffix("/*") {
                Some(top) => essence.split('/').next() == Some(top),
                None => allowed == essence,
            }
        })
    }
}

/// `Text/HTML; charset=utf-8` -> `text/html`.
pub(crate) fn media_type(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}
