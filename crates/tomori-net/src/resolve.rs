//! Checked name resolution: the only way names become addresses for our HTTP clients.
//!
//! [`CheckedResolver`] is the `reqwest::dns::Resolve` every client uses. It asks a [`Lookup`]
//! (the system resolver, an override map, or a test fake), judges every answer with the policy,
//! and hands hyper exactly the addresses it judged, so nothing can change between check and
//! connect. It does not cache: each new connection resolves and judges again.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::policy::Policy;

/// Turns a host name into addresses. Implement it to inject answers in tests.
pub trait Lookup: Send + Sync {
    /// Resolves `host` (a domain name, never an IP literal) to its addresses.
    fn lookup(&self, host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>>;
}

/// The system resolver (getaddrinfo on a blocking thread, through tokio).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        let host = host.to_owned();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|addr| addr.ip()).collect())
        })
    }
}

/// Fixed answers for some names (curl's `--resolve`); other names go to the fallback.
/// Names in the map never touch real DNS.
#[derive(Clone)]
pub struct OverrideLookup {
    answers: HashMap<String, Vec<IpAddr>>,
    fallback: Arc<dyn Lookup>,
}

impl OverrideLookup {
    /// No overrides yet; names not overridden go to `fallback`.
    pub fn new(fallback: Arc<dyn Lookup>) -> Self {
        OverrideLookup { answers: HashMap::new(), fallback }
    }

    /// Adds `ip` to the answers for `host`. The host is normalised the way URLs normalise hosts
    /// (lower case, IDNA), so `Example.COM` matches `https://example.com/`.
    pub fn insert(&mut self, host: &str, ip: IpAddr) {
        self.answers.entry(normalize_host(host)).or_default().push(ip);
    }
}

impl std::fmt::Debug for OverrideLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OverrideLookup").field("answers", &self.answers).finish_non_exhaustive()
    }
}

pub(crate) fn normalize_host(host: &str) -> String {
    match url::Host::parse(host) {
        Ok(parsed) => parsed.to_string(),
        Err(_) => host.to_ascii_lowercase(),
    }
}

impl Lookup for OverrideLookup {
    fn lookup(&self, host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        match self.answers.get(host) {
            Some(answer) => {
                let answer = answer.clone();
                Box::pin(async move { Ok(answer) })
            }
            None => self.fallback.lookup(host),
        }
    }
}

/// The reqwest resolver that judges every answer before hyper sees it.
#[derive(Clone)]
pub struct CheckedResolver {
    policy: Arc<Policy>,
    lookup: Arc<dyn Lookup>,
}

impl CheckedResolver {
    /// A resolver for `policy` that asks `lookup`.
    pub fn new(policy: Policy, lookup: Arc<dyn Lookup>) -> Self {
        CheckedResolver { policy: Arc::new(policy), lookup }
    }

    pub(crate) fn shared(policy: Arc<Policy>, lookup: Arc<dyn Lookup>) -> Self {
        CheckedResolver { policy, lookup }
    }
}

impl std::fmt::Debug for CheckedResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedResolver").field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// The outcome of resolving and judging one name.
pub(crate) enum Resolution {
    Allowed(Vec<(IpAddr, crate::addr::Class)>),
    Refused(crate::policy::Refusal),
    Failed(io::Error),
}

pub(crate) async fn resolve_checked(
    policy: &Policy,
    lookup: &dyn Lookup,
    host: &str,
) -> Resolution {
    if let Err(refusal) = policy.check_name(host) {
        return Resolution::Refused(refusal);
    }
    let addrs = match lookup.lookup(host).await {
        Ok(addrs) if addrs.is_empty() => {
            return Resolution::Failed(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host} has no addresses"),
            ));
        }
        Ok(addrs) => addrs,
        Err(error) => return Resolution::Failed(error),
    };
    // Security: DNS rebinding and mixed answers. The name is refused when ANY answer is refused
    // (not filtered), because the attacker controls the order hyper would try them in.
    match policy.check_resolved(host, &addrs) {
        Ok(classes) => Resolution::Allowed(addrs.into_iter().zip(classes).collect()),
        Err(refusal) => Resolution::Refused(refusal),
    }
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let lookup = Arc::clone(&self.lookup);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            match resolve_checked(&policy, lookup.as_ref(), &host).await {
                // Security: DNS rebinding (TOCTOU). hyper connects to exactly these judged
                // addresses; there is no second lookup between the check and the connect.
                Resolution::Allowed(judged) => {
                    let addrs: Addrs =
                        Box::new(judged.into_iter().map(|(ip, _)| SocketAddr::new(ip, 0)));
                    Ok(addrs)
                }
                Resolution::Refused(refusal) => Err(refusal.into()),
                Resolution::Failed(error) => Err(error.into()),
            }
        })
    }
}
