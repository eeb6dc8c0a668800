//! Where requests go: the wire format, the base URL (judged by the URL policy of whoever
//! configured it), per-endpoint quirks, and the timeouts and caps of a call.

use std::time::Duration;

use tomori_net::{Client, Policy, Url};

use crate::error::LlmError;

/// The wire format an endpoint speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Wire {
    /// OpenAI-compatible chat completions (OpenAI, OpenRouter, DeepSeek, Ollama, LM Studio, vLLM,
    /// KoboldCPP): `{base}/chat/completions` and `{base}/embeddings`.
    OpenAiCompatible,
    /// Anthropic Messages: `{base}/v1/messages`.
    Anthropic,
    /// Google Gemini: `{base}/models/{model}:streamGenerateContent?alt=sse`.
    Gemini,
}

impl Wire {
    /// Stable kebab-case name, as in the config file.
    pub fn code(self) -> &'static str {
        match self {
            Wire::OpenAiCompatible => "openai-compatible",
            Wire::Anthropic => "anthropic",
            Wire::Gemini => "gemini",
        }
    }

    /// The provider's own API, for wire formats that have one.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Wire::OpenAiCompatible => None,
            Wire::Anthropic => Some("https://api.anthropic.com"),
            Wire::Gemini => Some("https://generativelanguage.googleapis.com/v1beta"),
        }
    }
}

/// A provider a server admin can pick by name (`/model text provider:openrouter`), with the
/// server's own keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownProvider {
    /// The name admins type and keys are pooled under.
    pub name: &'static str,
    /// Its wire format.
    pub wire: Wire,
    /// Its API base URL.
    pub base_url: &'static str,
}

/// The providers known by name. Anything else is reached through a custom endpoint.
pub const KNOWN_PROVIDERS: &[KnownProvider] = &[
    KnownProvider {
        name: "openrouter",
        wire: Wire::OpenAiCompatible,
        base_url: "https://openrouter.ai/api/v1",
    },
    KnownProvider {
        name: "openai",
        wire: Wire::OpenAiCompatible,
        base_url: "https://api.openai.com/v1",
    },
    KnownProvider {
        name: "anthropic",
        wire: Wire::Anthropic,
        base_url: "https://api.anthropic.com",
    },
    KnownProvider {
        name: "google",
        wire: Wire::Gemini,
        base_url: "https://generativelanguage.googleapis.com/v1beta",
    },
    KnownProvider {
        name: "deepseek",
        wire: Wire::OpenAiCompatible,
        base_url: "https://api.deepseek.com",
    },
    KnownProvider {
        name: "zai",
        wire: Wire::OpenAiCompatible,
        base_url: "https://api.z.ai/api/paas/v4",
    },
    KnownProvider {
        name: "nvidia",
        wire: Wire::OpenAiCompatible,
        base_url: "https://integrate.api.nvidia.com/v1",
    },
];

/// The known provider named `name`.
pub fn known_provider(name: &str) -> Option<&'static KnownProvider> {
    KNOWN_PROVIDERS.iter().find(|p| p.name == name)
}

/// Per-endpoint behaviour that the wire format alone does not decide.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointOptions {
    /// Merge consecutive same-role turns and start with a user turn (always on for Anthropic;
    /// some OpenAI-compatible servers need it too).
    pub strict_role_alternation: bool,
    /// Headers sent with every request (an operator's gateway, Azure OpenAI's `api-key`); their
    /// values are treated as secrets.
    pub extra_headers: Vec<ExtraHeader>,
    /// Query parameters added to every request URL (Azure OpenAI's `api-version`).
    pub extra_query: Vec<(String, String)>,
}

/// A header an operator adds to every request of an endpoint.
#[derive(Clone)]
pub struct ExtraHeader {
    name: String,
    value: secrecy::SecretString,
}

impl ExtraHeader {
    /// A header, refused when the name is not an HTTP token or is one that frames the request or
    /// the connection (the client sets those itself).
    ///
    /// # Errors
    /// `InvalidRequest` naming the header.
    pub fn new(name: &str, value: secrecy::SecretString) -> Result<Self, LlmError> {
        const FRAMING: [&str; 10] = [
            "host",
            "content-length",
            "transfer-encoding",
            "connection",
            "keep-alive",
            "te",
            "trailer",
            "upgrade",
            "proxy-authorization",
            "proxy-connection",
        ];
        let token = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token || FRAMING.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(LlmError::invalid(format!("`{name}` cannot be an extra header")));
        }
        let value_ok = secrecy::ExposeSecret::expose_secret(&value)
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
        if !value_ok {
            return Err(LlmError::invalid(format!(
                "the value of extra header `{name}` must be printable ASCII on one line"
            )));
        }
        Ok(Self { name: name.to_ascii_lowercase(), value })
    }

    /// The header name, lower-cased.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn value(&self) -> &str {
        secrecy::ExposeSecret::expose_secret(&self.value)
    }
}

impl std::fmt::Debug for ExtraHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: [REDACTED]", self.name)
    }
}

impl PartialEq for ExtraHeader {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.value() == other.value()
    }
}

impl Eq for ExtraHeader {}

/// A provider endpoint: wire format plus a base URL the policy has admitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    wire: Wire,
    base_url: Url,
    options: EndpointOptions,
}

impl Endpoint {
    /// An endpoint at `base_url`, judged by `policy`: [`Policy::operator`] for the config file,
    /// the server or personal scope for endpoints admins and users add.
    ///
    /// # Errors
    ///
    /// `BlockedByPolicy` when the policy refuses the URL (the refusal says why); the same policy
    /// judges every request again, with DNS answers and redirects.
    pub fn new(wire: Wire, base_url: &str, policy: &Policy) -> Result<Self, LlmError> {
        // Security: SSRF through a configured endpoint. Refused when it is configured, so a bad
        // URL is reported to whoever typed it; the client judges it again on every request.
        let mut base_url = policy.parse_url(base_url).map_err(LlmError::BlockedByPolicy)?;
        if base_url.query().is_some() || base_url.fragment().is_some() {
            return Err(LlmError::invalid("an endpoint URL must not have a query or fragment"));
        }
        let trimmed = base_url.path().trim_end_matches('/').to_owned();
        base_url.set_path(&trimmed);
        Ok(Endpoint { wire, base_url, options: EndpointOptions::default() })
    }

    /// The provider's own endpoint for `wire`, judged by `policy`.
    ///
    /// # Errors
    ///
    /// `InvalidRequest` for OpenAI-compatible, which has no single home; otherwise as
    /// [`Endpoint::new`].
    pub fn first_party(wire: Wire, policy: &Policy) -> Result<Self, LlmError> {
        let url = wire.default_base_url().ok_or_else(|| {
            LlmError::invalid("openai-compatible endpoints need an explicit base URL")
        })?;
        Endpoint::new(wire, url, policy)
    }

    /// Sets the options.
    #[must_use]
    pub fn with_options(mut self, options: EndpointOptions) -> Self {
        self.options = options;
        self
    }

    /// The wire format.
    pub fn wire(&self) -> Wire {
        self.wire
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The options.
    pub fn options(&self) -> &EndpointOptions {
        &self.options
    }

    /// `base` + `suffix` (which starts with `/` and may carry a query).
    pub(crate) fn url(&self, suffix: &str) -> String {
        let url = format!("{}{suffix}", self.base_url.as_str().trim_end_matches('/'));
        if self.options.extra_query.is_empty() {
            return url;
        }
        match Url::parse(&url) {
            Ok(mut parsed) => {
                parsed.query_pairs_mut().extend_pairs(self.options.extra_query.iter());
                parsed.into()
            }
            Err(_) => url,
        }
    }
}

/// How long each phase of a call may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP and TLS (set on the client).
    pub connect: Duration,
    /// From sending to the first byte of the answer; reasoning models may think before the
    /// first byte, so this is generous.
    pub first_byte: Duration,
    /// Between two chunks of a stream; it restarts at every chunk.
    pub idle: Duration,
    /// The whole exchange, as a backstop against a server that trickles forever.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(120),
            idle: Duration::from_secs(120),
            total: Duration::from_secs(15 * 60),
        }
    }
}

/// Size caps of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamLimits {
    /// One SSE line or event (Gemini can send an inline image as one event).
    pub max_event_bytes: usize,
    /// The whole streamed answer.
    pub max_stream_bytes: u64,
    /// An error body or a non-streamed answer (embeddings).
    pub max_body_bytes: u64,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            max_event_bytes: 8 * 1024 * 1024,
            max_stream_bytes: 64 * 1024 * 1024,
            max_body_bytes: 32 * 1024 * 1024,
        }
    }
}

/// A guarded client for provider calls in `policy`'s scope, with the connect timeout of
/// `timeouts`. Build one per scope at startup and share it (it is cheap to clone).
///
/// # Errors
///
/// `Transport` when the client cannot be built.
pub fn client_for(policy: Policy, timeouts: &Timeouts) -> Result<Client, LlmError> {
    Client::builder(policy).connect_timeout(timeouts.connect).build().map_err(LlmError::Transport)
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    #[test]
    fn extra_headers_are_tokens_that_do_not_frame_the_request() {
        let value = || SecretString::from("v".to_owned());
        for (name, ok) in [
            ("api-key", true),
            ("X-Gateway-Tenant", true),
            ("Host", false),
            ("content-length", false),
            ("transfer-encoding", false),
            ("bad name", false),
            ("", false),
            ("x\r\ny", false),
        ] {
            assert_eq!(ExtraHeader::new(name, value()).is_ok(), ok, "{name:?}");
        }
        let split = ExtraHeader::new("x-a", SecretString::from("one\r\nx-b: two".to_owned()));
        assert!(split.is_err(), "a value cannot add a header");
        let header = ExtraHeader::new("Api-Key", SecretString::from("secret".to_owned())).unwrap();
        assert_eq!(format!("{header:?}"), "api-key: [REDACTED]");
    }

    #[test]
    fn extra_query_parameters_join_the_url_and_its_own_query() {
        let endpoint =
            Endpoint::new(Wire::Gemini, "https://gateway.example/v1beta", &Policy::operator())
                .unwrap()
                .with_options(EndpointOptions {
                    extra_query: vec![("api-version".to_owned(), "2024-10-21".to_owned())],
                    ..EndpointOptions::default()
                });
        assert_eq!(
            endpoint.url("/models/m:streamGenerateContent?alt=sse"),
            "https://gateway.example/v1beta/models/m:streamGenerateContent?alt=sse&api-version=2024-10-21"
        );
        assert_eq!(
            endpoint.url("/chat/completions"),
            "https://gateway.example/v1beta/chat/completions?api-version=2024-10-21"
        );
    }
}
