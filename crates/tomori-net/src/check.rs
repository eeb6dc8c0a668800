//! `tomori url-check`: ask the policy about one URL without sending anything to it.
//!
//! The URL is judged exactly as a request would be (URL rules, IP literal, name rules, every
//! resolved address), but no connection is made. Names given with `--resolve HOST:IP` never touch
//! real DNS; other names go to the system resolver. The report is one line, so it can be grepped
//! and diffed: `ALLOWED <reason> <addresses>` or `REFUSED <reason> <address or host>`.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use url::Url;

use crate::addr::Class;
use crate::policy::{NetConfig, Policy, Scope, Target};
use crate::resolve::{
    Lookup, OverrideLookup, Resolution, SystemLookup, normalize_host, resolve_checked,
};

/// Exit code for an allowed URL.
pub const EXIT_ALLOWED: u8 = 0;
/// Exit code for a refused URL (2 is left to argument parsing errors).
pub const EXIT_REFUSED: u8 = 3;

/// What `url-check` was asked.
#[derive(Clone)]
pub struct UrlCheckOptions {
    /// The scope to judge for (`--scope`, default `server`).
    pub scope: Scope,
    /// Mode and private-network opt-in (`--production`/`--development`, `--allow-private`).
    pub config: NetConfig,
    /// `--resolve HOST:IP` answers; these names never reach DNS.
    pub resolve: Vec<(String, IpAddr)>,
    /// Where other names go; the system resolver when `None`.
    pub lookup: Option<Arc<dyn Lookup>>,
}

impl Default for UrlCheckOptions {
    fn default() -> Self {
        UrlCheckOptions {
            scope: Scope::Server,
            config: NetConfig::default(),
            resolve: Vec::new(),
            lookup: None,
        }
    }
}

impl fmt::Debug for UrlCheckOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UrlCheckOptions")
            .field("scope", &self.scope)
            .field("config", &self.config)
            .field("resolve", &self.resolve)
            .finish_non_exhaustive()
    }
}

/// The verdict, printed as one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlCheckReport {
    /// Whether a request in this scope would be allowed.
    pub allowed: bool,
    /// Stable code: an address class (`public`, `loopback`, ...), a URL rule (`userinfo`,
    /// `insecure_scheme`, ...), or `resolve_failed`.
    pub reason: &'static str,
    /// The addresses judged (comma-separated), else the host, else `-`.
    pub subject: String,
}

impl UrlCheckReport {
    /// `EXIT_ALLOWED` (0) or `EXIT_REFUSED` (3).
    pub fn exit_code(&self) -> u8 {
        if self.allowed { EXIT_ALLOWED } else { EXIT_REFUSED }
    }

    fn refused(reason: &'static str, subject: impl Into<String>) -> Self {
        UrlCheckReport { allowed: false, reason, subject: subject.into() }
    }
}

impl fmt::Display for UrlCheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.allowed { "ALLOWED" } else { "REFUSED" };
        write!(f, "{verdict} {} {}", self.reason, self.subject)
    }
}

/// Parses a `--resolve` value: `HOST:IP`, where IP may be IPv6 with or without brackets
/// (`example.com:10.0.0.1`, `example.com:[::1]`, `example.com:::1`).
///
/// # Errors
///
/// A message for the command line when the value is not `HOST:IP`.
pub fn parse_resolve_override(value: &str) -> Result<(String, IpAddr), String> {
    let usage = || format!("expected HOST:IP, got {value:?}");
    let (host, ip) = value.split_once(':').ok_or_else(usage)?;
    let ip = ip.strip_prefix('[').and_then(|ip| ip.strip_suffix(']')).unwrap_or(ip);
    let ip: IpAddr = ip.parse().map_err(|_| usage())?;
    match url::Host::parse(host) {
        Ok(url::Host::Domain(_)) => Ok((normalize_host(host), ip)),
        _ => Err(usage()),
    }
}

fn join_addresses(addresses: impl IntoIterator<Item = IpAddr>) -> String {
    addresses.into_iter().map(|ip| ip.to_string()).collect::<Vec<_>>().join(",")
}

/// Judges `input` as a request in `opts.scope` would be judged, resolving names but connecting to
/// nothing. Print the report and exit with [`UrlCheckReport::exit_code`].
pub async fn url_check(input: &str, opts: &UrlCheckOptions) -> UrlCheckReport {
    let policy = Policy::from_config(opts.scope, &opts.config);
    let Ok(url) = Url::parse(input.trim()) else {
        return UrlCheckReport::refused("invalid_url", "-");
    };
    let target = match policy.check_url(&url) {
        Ok(target) => target,
        Err(refusal) => {
            let subject = match (refusal.address(), refusal.host()) {
                (Some(address), _) => address.to_string(),
                (None, Some(host)) => host.to_owned(),
                (None, None) => "-".to_owned(),
            };
            return UrlCheckReport::refused(refusal.code(), subject);
        }
    };
    let host = match target {
        Target::Address(ip, class) => {
            return UrlCheckReport { allowed: true, reason: class.code(), subject: ip.to_string() };
        }
        Target::Name(host) => host,
    };
    let fallback: Arc<dyn Lookup> = opts.lookup.clone().unwrap_or_else(|| Arc::new(SystemLookup));
    let mut lookup = OverrideLookup::new(fallback);
    for (name, ip) in &opts.resolve {
        lookup.insert(name, *ip);
    }
    match resolve_checked(&policy, &lookup, &host).await {
        Resolution::Allowed(judged) => {
            // Name the most notable class: a private answer allowed by opt-in is worth seeing.
            let reason = judged
                .iter()
                .map(|(_, class)| *class)
                .find(|class| *class != Class::Public)
                .unwrap_or(Class::Public)
                .code();
            let subject = join_addresses(judged.iter().map(|(ip, _)| *ip));
            UrlCheckReport { allowed: true, reason, subject }
        }
        Resolution::Refused(refusal) => {
            let subject = refusal.address().map_or(host, |address| address.to_string());
            UrlCheckReport::refused(refusal.code(), subject)
        }
        Resolution::Failed(_) => UrlCheckReport::refused("resolve_failed", host),
    }
}
