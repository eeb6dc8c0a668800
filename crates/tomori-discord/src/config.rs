//! Where the bot connects: the REST base, the gateway URL and the shard range, checked before any
//! connection; and the REST client built from them.
//!
//! Twilight's REST client always talks to `{host}/api/v10/`: a base other than Discord's own is
//! given to it as a "proxy" host (with plain HTTP for `http://` bases). The gateway URL goes to
//! the shards' configuration; when it is unset, the URL from `GET /gateway/bot` is used.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use twilight_gateway::ShardId;
use url::{Host, Url};

/// Discord's REST base.
const DISCORD_API: &str = "https://discord.com/api/v10";

/// Where and as whom the bot connects.
#[derive(Debug, Clone)]
pub struct DiscordConfig {
    /// The bot token (with or without the `Bot ` prefix).
    pub token: SecretString,
    /// The REST base: Discord's `https://discord.com/api/v10` or a compatible server's. Its path
    /// must be empty or `/api/v10`.
    pub api_base: Url,
    /// The gateway URL; `None` uses the one `GET /gateway/bot` returns.
    pub gateway_url: Option<Url>,
    /// The shards this process runs; `None` runs all of Discord's recommended count.
    pub shards: Option<ShardRange>,
}

impl DiscordConfig {
    /// Discord's own URLs and its recommended shard count.
    pub fn new(token: SecretString) -> Self {
        Self {
            token,
            api_base: Url::parse(DISCORD_API).expect("a valid constant URL"),
            gateway_url: None,
            shards: None,
        }
    }
}

/// The shards one process runs: ids `first..=last` of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardRange {
    /// First shard id.
    pub first: u32,
    /// Last shard id (inclusive).
    pub last: u32,
    /// Shards across all processes.
    pub total: u32,
}

impl ShardRange {
    /// Checks `first <= last < total`.
    ///
    /// # Errors
    /// An empty or out-of-range range.
    pub fn new(first: u32, last: u32, total: u32) -> Result<Self, ConfigError> {
        if first > last || last >= total {
            return Err(ConfigError::Shards { first, last, total });
        }
        Ok(Self { first, last, total })
    }

    /// The shard ids, in order.
    pub fn ids(self) -> impl Iterator<Item = ShardId> {
        (self.first..=self.last).map(move |id| ShardId::new(id, self.total))
    }
}

/// A configuration the bot refuses before connecting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The REST gate (see `http_client`) could not listen on loopback.
    #[error("the Discord REST gate could not start: {0}")]
    Gate(String),
    /// A URL with the wrong scheme.
    #[error("{what} must be a {expected} URL, not {url}")]
    Scheme {
        /// Which setting.
        what: &'static str,
        /// The schemes it accepts.
        expected: &'static str,
        /// The URL given.
        url: String,
    },
    /// A URL without a host.
    #[error("{what} has no host: {url}")]
    NoHost {
        /// Which setting.
        what: &'static str,
        /// The URL given.
        url: String,
    },
    /// A REST base with a path twilight would not use.
    #[error("discord.api_base must end in /api/v10 or have no path, not {path}")]
    ApiPath {
        /// The path given.
        path: String,
    },
    /// An unencrypted URL to a host that is not this machine.
    #[error(
        "{what} uses unencrypted {scheme}:// to {host}; the bot token would travel in clear text (use an encrypted URL, or a loopback address for tests)"
    )]
    Plaintext {
        /// Which setting.
        what: &'static str,
        /// The scheme given.
        scheme: String,
        /// The host given.
        host: String,
    },
    /// An empty or out-of-range shard range.
    #[error("shards {first}-{last} of {total}: the range must satisfy first <= last < total")]
    Shards {
        /// First shard id.
        first: u32,
        /// Last shard id.
        last: u32,
        /// Shard total.
        total: u32,
    },
}

/// The host twilight should send REST requests to instead of discord.com, and whether over plain
/// HTTP; `None` for Discord itself.
fn rest_target(api_base: &Url) -> Result<Option<(String, bool)>, ConfigError> {
    let what = "discord.api_base";
    let plain = match api_base.scheme() {
        "https" => false,
        "http" => true,
        _ => {
            return Err(ConfigError::Scheme {
                what,
                expected: "http(s)",
                url: api_base.to_string(),
            });
        }
    };
    let path = api_base.path().trim_end_matches('/');
    if !path.is_empty() && path != "/api/v10" {
        return Err(ConfigError::ApiPath { path: api_base.path().to_owned() });
    }
    let authority = authority(what, api_base, plain)?;
    if !plain && authority == "discord.com" {
        return Ok(None);
    }
    Ok(Some((authority, plain)))
}

/// The gateway URL as twilight wants it: no trailing slash (it appends `/?v=10&…`).
pub(crate) fn gateway_base(url: &Url) -> Result<String, ConfigError> {
    let what = "the gateway URL";
    let plain = match url.scheme() {
        "wss" => false,
        "ws" => true,
        _ => return Err(ConfigError::Scheme { what, expected: "ws(s)", url: url.to_string() }),
    };
    authority(what, url, plain)?;
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// `host[:port]`, refusing clear text to anything but loopback.
fn authority(what: &'static str, url: &Url, plain: bool) -> Result<String, ConfigError> {
    let Some(host) = url.host() else {
        return Err(ConfigError::NoHost { what, url: url.to_string() });
    };
    let loopback = match &host {
        Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    };
    // Security: token disclosure. The bot token goes in every REST request's Authorization header
    // and in the gateway IDENTIFY, so an unencrypted connection is allowed only to this machine
    // (the test fake, a local recording proxy).
    if plain && !loopback {
        return Err(ConfigError::Plaintext {
            what,
            scheme: url.scheme().to_owned(),
            host: host.to_string(),
        });
    }
    Ok(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

/// A REST client for the configured base: twilight's, with its per-route rate limiter, sending
/// through this process's REST gate ([`crate::rest_gate`]), which waits out every 429 by its
/// `Retry-After` before twilight could retry it at once.
///
/// Must be called inside a Tokio runtime: the rate limiter and the gate are tasks.
///
/// # Errors
/// A REST base that is not usable (see [`ConfigError`]), or a gate that could not start.
pub fn http_client(config: &DiscordConfig) -> Result<twilight_http::Client, ConfigError> {
    rest_target(&config.api_base)?;
    let gate = crate::rest_gate::start(config.api_base.clone())
        .map_err(|error| ConfigError::Gate(error.to_string()))?;
    let mut headers = HeaderMap::new();
    let secret = HeaderValue::from_str(&gate.secret)
        .map_err(|error| ConfigError::Gate(error.to_string()))?;
    headers.insert(crate::rest_gate::SECRET_HEADER, secret);
    let builder = twilight_http::Client::builder()
        .token(config.token.expose_secret().to_owned())
        .proxy(gate.addr.to_string(), true)
        .default_headers(headers)
        .timeout(crate::rest_gate::CLIENT_TIMEOUT);
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::{ConfigError, ShardRange, gateway_base, rest_target};

    #[track_caller]
    fn check_rest(url: &str, expected: Result<Option<(&str, bool)>, &str>) {
        let got = rest_target(&Url::parse(url).unwrap());
        match expected {
            Ok(target) => {
                assert_eq!(got, Ok(target.map(|(host, plain)| (host.to_owned(), plain))), "{url}");
            }
            Err(message) => {
                let error = got.expect_err(url).to_string();
                assert!(error.contains(message), "{url}: {error}");
            }
        }
    }

    #[test]
    fn rest_bases() {
        check_rest("https://discord.com/api/v10", Ok(None));
        check_rest("https://discord.com", Ok(None));
        check_rest("http://127.0.0.1:8080/api/v10", Ok(Some(("127.0.0.1:8080", true))));
        check_rest("http://localhost:9/", Ok(Some(("localhost:9", true))));
        check_rest("http://[::1]:9/api/v10/", Ok(Some(("[::1]:9", true))));
        check_rest("https://spacebar.example/api/v10", Ok(Some(("spacebar.example", false))));
        check_rest("https://discord.com:8443/api/v10", Ok(Some(("discord.com:8443", false))));
        check_rest("http://discord.com/api/v10", Err("unencrypted http:// to discord.com"));
        check_rest("http://10.0.0.5:80/api/v10", Err("unencrypted"));
        check_rest("https://discord.com/api/v9", Err("must end in /api/v10"));
        check_rest("ftp://discord.com", Err("must be a http(s) URL"));
    }

    #[test]
    fn gateway_urls() {
        assert_eq!(
            gateway_base(&Url::parse("wss://gateway.discord.gg").unwrap()).unwrap(),
            "wss://gateway.discord.gg"
        );
        assert_eq!(
            gateway_base(&Url::parse("ws://127.0.0.1:5/").unwrap()).unwrap(),
            "ws://127.0.0.1:5"
        );
        assert!(matches!(
            gateway_base(&Url::parse("ws://gateway.example").unwrap()),
            Err(ConfigError::Plaintext { .. })
        ));
        assert!(matches!(
            gateway_base(&Url::parse("https://gateway.discord.gg").unwrap()),
            Err(ConfigError::Scheme { .. })
        ));
    }

    #[test]
    fn shard_ranges() {
        let range = ShardRange::new(2, 3, 8).unwrap();
        let ids: Vec<(u32, u32)> = range.ids().map(|id| (id.number(), id.total())).collect();
        assert_eq!(ids, [(2, 8), (3, 8)]);
        assert!(ShardRange::new(0, 0, 1).is_ok());
        assert!(ShardRange::new(3, 2, 8).is_err());
        assert!(ShardRange::new(0, 8, 8).is_err());
        assert!(ShardRange::new(0, 0, 0).is_err());
    }
}
