//! The URL policy: which URLs and addresses a request in a given scope may reach.
//!
//! A [`Policy`] is pure data plus pure decisions (no IO): it judges a parsed URL, an IP literal or
//! a list of resolved addresses. Resolution and connecting live in `resolve` and `connect`; both
//! ask this module. The rules, by scope:
//!
//! | scope | http | loopback | private ranges | cloud metadata |
//! |---|---|---|---|---|
//! | `personal` | never | never | never | never |
//! | `media` | never | never | never | never |
//! | `server` | development mode | development mode | `allow_private_networks` | never |
//! | `tool` | yes | never | `allow_private_networks` | never |
//! | `operator` | yes | yes | yes | never |
//!
//! "Private ranges" are RFC 1918, CGNAT (`shared`), unique-local, site-local and benchmarking.
//! Unspecified, multicast, broadcast, reserved, documentation, discard and protocol-assignment
//! addresses are refused in every scope. `allow_loopback_for_tests` exists for test harnesses and
//! cannot be set from configuration.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use url::{Host, Url};

use crate::addr::{Class, classify};

/// Who supplied the URL, which decides how much it is trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Endpoints configured by a guild admin (ManageGuild): custom providers, MCP servers.
    Server,
    /// Endpoints configured by any user for themselves: always production-strict.
    Personal,
    /// URLs the model supplies (fetch_url and friends): http allowed to public hosts.
    Tool,
    /// Discord attachments, CDN media, avatars, card imports: https to public hosts only.
    Media,
    /// Endpoints from the operator's config file: trusted like the operator, except that cloud
    /// metadata stays unreachable.
    Operator,
}

impl Scope {
    /// Stable snake_case code, as accepted by `--scope`.
    pub fn code(self) -> &'static str {
        match self {
            Scope::Server => "server",
            Scope::Personal => "personal",
            Scope::Tool => "tool",
            Scope::Media => "media",
            Scope::Operator => "operator",
        }
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "server" => Ok(Scope::Server),
            "personal" => Ok(Scope::Personal),
            "tool" => Ok(Scope::Tool),
            "media" => Ok(Scope::Media),
            "operator" => Ok(Scope::Operator),
            other => Err(format!(
                "unknown scope {other:?}: expected server, personal, tool, media or operator"
            )),
        }
    }
}

/// Production is the default; development must be chosen explicitly and is logged when a client
/// is built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// https only for endpoints, no loopback.
    #[default]
    Production,
    /// Server-scope endpoints may use http and loopback (a local model server during development).
    Development,
}

/// The operator's network settings (`[net]` in the config file). Never a per-guild setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetConfig {
    /// `production` (default) or `development`.
    pub mode: Mode,
    /// Lets server-scope endpoints and tool fetches reach private ranges (RFC 1918, CGNAT,
    /// unique-local). Cloud metadata stays refused.
    pub allow_private_networks: bool,
}

/// Why a URL or address was refused. Each has a stable snake_case code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The address (given, resolved or connected to) has a class this policy refuses.
    Address(Class),
    /// The text is not a URL.
    InvalidUrl,
    /// Not http or https.
    UnsupportedScheme,
    /// http where this scope and mode need https.
    InsecureScheme,
    /// `user:password@` in the URL.
    Userinfo,
    /// No host in the URL.
    MissingHost,
    /// A redirect from https to http.
    HttpsDowngrade,
    /// A connection whose peer address could not be read, so it could not be checked.
    UnknownPeer,
}

impl Reason {
    /// Stable snake_case code; for `Address` it is the class code (`loopback`, `private`, ...).
    pub fn code(self) -> &'static str {
        match self {
            Reason::Address(class) => class.code(),
            Reason::InvalidUrl => "invalid_url",
            Reason::UnsupportedScheme => "unsupported_scheme",
            Reason::InsecureScheme => "insecure_scheme",
            Reason::Userinfo => "userinfo",
            Reason::MissingHost => "missing_host",
            Reason::HttpsDowngrade => "https_downgrade",
            Reason::UnknownPeer => "unknown_peer",
        }
    }
}

/// A policy refusal: the reason plus what was judged. Safe to show to the user who supplied the URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    reason: Reason,
    host: Option<String>,
    address: Option<IpAddr>,
}

impl Refusal {
    pub(crate) fn new(reason: Reason, host: Option<&str>, address: Option<IpAddr>) -> Self {
        Refusal { reason, host: host.map(str::to_owned), address }
    }

    /// Why.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// Stable code of the reason.
    pub fn code(&self) -> &'static str {
        self.reason.code()
    }

    /// Host name of the refused URL, when there was one.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// Address that was judged, when the refusal is about an address.
    pub fn address(&self) -> Option<IpAddr> {
        self.address
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused by URL policy: {}", self.code())?;
        match (&self.host, self.address) {
            (Some(host), Some(address)) => write!(f, " ({host} -> {address})"),
            (Some(host), None) => write!(f, " ({host})"),
            (None, Some(address)) => write!(f, " ({address})"),
            (None, None) => Ok(()),
        }
    }
}

// Refusals travel through reqwest's error chain (from the resolver and the connector), where they
// are found again by downcasting, so they must be a `std::error::Error`.
impl std::error::Error for Refusal {}

/// What `check_url` found to connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An IP-literal host, already judged.
    Address(IpAddr, Class),
    /// A name; its addresses are judged when it is resolved.
    Name(String),
}

/// Loopback allowances for test harnesses only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum TestLoopback {
    #[default]
    Off,
    All,
    Only(Vec<IpAddr>),
}

/// The URL policy for one scope. Cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    scope: Scope,
    mode: Mode,
    allow_private_networks: bool,
    test_loopback: TestLoopback,
}

impl Policy {
    /// The strict policy for `scope`: production mode, no private networks.
    pub fn new(scope: Scope) -> Self {
        Policy {
            scope,
            mode: Mode::Production,
            allow_private_networks: false,
            test_loopback: TestLoopback::Off,
        }
    }

    /// The policy for `scope` under the operator's settings.
    pub fn from_config(scope: Scope, config: &NetConfig) -> Self {
        Policy::new(scope)
            .with_mode(config.mode)
            .with_private_networks(config.allow_private_networks)
    }

    /// The policy for endpoints in the operator's own config file.
    pub fn operator() -> Self {
        Policy::new(Scope::Operator)
    }

    /// Sets the mode (production or development).
    #[must_use]
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the operator's private-network opt-in.
    #[must_use]
    pub fn with_private_networks(mut self, allow: bool) -> Self {
        self.allow_private_networks = allow;
        self
    }

    /// TEST HARNESSES ONLY: allows every loopback address (and http) in every scope, so tests can
    /// point attachments and endpoints at servers on 127.0.0.1. Not reachable from configuration.
    #[must_use]
    pub fn allow_loopback_for_tests(mut self) -> Self {
        self.test_loopback = TestLoopback::All;
        self
    }

    /// TEST HARNESSES ONLY: allows one loopback address (and http) in every scope while the rest of
    /// loopback stays refused, so a test server on 127.0.0.2 can redirect to a refused 127.0.0.1.
    /// Addresses that are not loopback are ignored.
    #[must_use]
    pub fn allow_loopback_address_for_tests(mut self, ip: IpAddr) -> Self {
        if classify(ip).class != Class::Loopback {
            return self;
        }
        match &mut self.test_loopback {
            TestLoopback::All => {}
            TestLoopback::Only(list) => list.push(ip),
            TestLoopback::Off => self.test_loopback = TestLoopback::Only(vec![ip]),
        }
        self
    }

    /// The scope.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether private ranges are opted in (only effective for server and tool scopes).
    pub fn allows_private_networks(&self) -> bool {
        self.allow_private_networks
    }

    /// Whether a test-only loopback allowance is set.
    pub fn is_test_policy(&self) -> bool {
        self.test_loopback != TestLoopback::Off
    }

    fn http_allowed(&self) -> bool {
        if self.is_test_policy() {
            return true;
        }
        match self.scope {
            Scope::Tool | Scope::Operator => true,
            Scope::Server => self.mode == Mode::Development,
            // Security: credential and content sniffing on the wire. User endpoints and media
            // are https only, whatever the mode.
            Scope::Personal | Scope::Media => false,
        }
    }

    fn private_allowed(&self) -> bool {
        match self.scope {
            Scope::Operator => true,
            // Security: SSRF into the operator's LAN. Only the operator's opt-in opens private
            // ranges, and never for personal (any user) or media URLs.
            Scope::Server | Scope::Tool => self.allow_private_networks,
            Scope::Personal | Scope::Media => false,
        }
    }

    fn loopback_allowed(&self, ip: IpAddr) -> bool {
        let by_test = match &self.test_loopback {
            TestLoopback::Off => false,
            TestLoopback::All => true,
            TestLoopback::Only(list) => {
                let embedded = classify(ip).embedded.map(|(_, v4)| IpAddr::V4(v4));
                list.iter().any(|allowed| *allowed == ip || Some(*allowed) == embedded)
            }
        };
        by_test
            || self.scope == Scope::Operator
            || (self.scope == Scope::Server && self.mode == Mode::Development)
    }

    fn class_allowed(&self, ip: IpAddr, class: Class) -> bool {
        match class {
            Class::Public => true,
            // Security: cloud credential theft through the metadata service (169.254.169.254 and
            // friends). Refused in every scope and mode, the operator's included.
            Class::CloudMetadata | Class::LinkLocal => false,
            Class::Loopback => self.loopback_allowed(ip),
            Class::Private
            | Class::Shared
            | Class::UniqueLocal
            | Class::SiteLocal
            | Class::Benchmarking => self.private_allowed(),
            // Security: addresses that are not unicast destinations (0.0.0.0 reaches the local
            // host on Linux; broadcast and multicast reach many), or not routable at all.
            Class::Unspecified
            | Class::Multicast
            | Class::Broadcast
            | Class::Reserved
            | Class::Documentation
            | Class::Discard
            | Class::ProtocolAssignment => false,
        }
    }

    /// Judges one address.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] with `Reason::Address(class)` when the class is not allowed here.
    pub fn check_ip(&self, ip: IpAddr) -> Result<Class, Refusal> {
        let class = classify(ip).class;
        if self.class_allowed(ip, class) {
            Ok(class)
        } else {
            Err(Refusal::new(Reason::Address(class), None, Some(ip)))
        }
    }

    /// Judges every address a name resolved to. The name is refused when any address is.
    ///
    /// # Errors
    ///
    /// The refusal for the first address that is not allowed.
    pub fn check_resolved(&self, host: &str, addrs: &[IpAddr]) -> Result<Vec<Class>, Refusal> {
        addrs
            .iter()
            .map(|ip| {
                self.check_ip(*ip)
                    .map_err(|refusal| Refusal { host: Some(host.to_owned()), ..refusal })
            })
            .collect()
    }

    /// Judges a name before it is resolved: names that are loopback or cloud metadata by
    /// definition are refused without asking DNS.
    ///
    /// # Errors
    ///
    /// A refusal for `localhost`, `*.localhost` (RFC 6761) unless loopback may be reached, and for
    /// the GCP metadata name.
    pub fn check_name(&self, host: &str) -> Result<(), Refusal> {
        let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        let class = if name == "localhost" || name.ends_with(".localhost") {
            Class::Loopback
        } else if name == "metadata.google.internal" || name == "metadata.goog" {
            Class::CloudMetadata
        } else {
            return Ok(());
        };
        let probe = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let loopback_possible = match &self.test_loopback {
            TestLoopback::Off => self.loopback_allowed(probe),
            TestLoopback::All | TestLoopback::Only(_) => true,
        };
        if class == Class::Loopback && loopback_possible {
            // The resolved addresses are still judged one by one.
            return Ok(());
        }
        Err(Refusal::new(Reason::Address(class), Some(host), None))
    }

    /// Judges a URL without resolving it: scheme, userinfo, host, and IP-literal hosts.
    ///
    /// # Errors
    ///
    /// A refusal for anything but http(s), http where https is needed, userinfo, a missing host,
    /// a refused IP literal, or a refused well-known name.
    pub fn check_url(&self, url: &Url) -> Result<Target, Refusal> {
        let host = url.host_str();
        let refuse = |reason| Refusal::new(reason, host, None);
        match url.scheme() {
            "https" => {}
            "http" if self.http_allowed() => {}
            "http" => return Err(refuse(Reason::InsecureScheme)),
            _ => return Err(refuse(Reason::UnsupportedScheme)),
        }
        // Security: credentials smuggled in the URL, and `https://trusted.example@evil.example/`
        // confusion in anything that logs or displays the URL.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse(Reason::Userinfo));
        }
        // Security: SSRF through IP literals. hyper never calls the resolver for them, so they are
        // judged here; the url crate (WHATWG) has already turned decimal, octal, hex, short and
        // fullwidth spellings into the address they denote.
        match url.host() {
            None => Err(refuse(Reason::MissingHost)),
            Some(Host::Ipv4(v4)) => {
                let ip = IpAddr::V4(v4);
                self.check_ip(ip).map(|class| Target::Address(ip, class))
            }
            Some(Host::Ipv6(v6)) => {
                let ip = IpAddr::V6(v6);
                self.check_ip(ip).map(|class| Target::Address(ip, class))
            }
            Some(Host::Domain(name)) => {
                self.check_name(name)?;
                Ok(Target::Name(name.to_owned()))
            }
        }
    }

    /// Parses `input` with the WHATWG parser and judges it.
    ///
    /// # Errors
    ///
    /// `invalid_url` when it does not parse, otherwise as [`Policy::check_url`].
    pub fn parse_url(&self, input: &str) -> Result<Url, Refusal> {
        let url = Url::parse(input).map_err(|_| Refusal::new(Reason::InvalidUrl, None, None))?;
        self.check_url(&url)?;
        Ok(url)
    }

    /// Judges a redirect hop: the target as a fresh URL, and no https to http downgrade.
    ///
    /// # Errors
    ///
    /// `https_downgrade`, or as [`Policy::check_url`].
    pub fn check_redirect(&self, from: &Url, to: &Url) -> Result<Target, Refusal> {
        // Security: downgrade. A redirect must not move a request (and whatever it carries) from
        // https onto plain http, where it can be read and altered on the wire.
        if from.scheme() == "https" && to.scheme() != "https" {
            return Err(Refusal::new(Reason::HttpsDowngrade, to.host_str(), None));
        }
        self.check_url(to)
    }
}

/// Judges a provider endpoint from the operator's config file: http, loopback and private ranges
/// are fine (the operator runs them), cloud metadata and non-unicast addresses are not. Only IP
/// literals are judged here; names are judged when an operator-scope client resolves them.
///
/// # Errors
///
/// A refusal as [`Policy::check_url`] for [`Policy::operator`].
pub fn check_operator_endpoint(url: &Url) -> Result<(), Refusal> {
    Policy::operator().check_url(url).map(|_| ())
}
