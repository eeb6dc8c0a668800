//! Credentials: which keys a request may use, and the per-provider key pool that spreads load
//! and rests keys that failed.
//!
//! The chat engine fills [`KeyCandidates`] from tomori-store (personal, server and instance
//! keys); [`KeyCandidates::resolve`] picks the tier that applies. [`KeyPools`] remembers, per
//! provider and key, how often a key was used and until when it rests, with the time passed in,
//! so cooldowns are tested without sleeping. Keys are [`SecretString`]s: `Debug` shows the key's
//! id and tier only.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

use crate::error::LlmError;

/// At most this many keys are tried for one target of a request.
pub const MAX_KEY_ATTEMPTS: usize = 3;
/// How long a key rests after a 429.
pub const RATE_LIMIT_COOLDOWN: Duration = Duration::from_secs(60);
/// How long a key rests after any other failure.
pub const ERROR_COOLDOWN: Duration = Duration::from_secs(300);

/// Whose key it is; earlier tiers win.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeySource {
    /// The user's own key.
    Personal,
    /// The server's key, set by an admin.
    Server,
    /// The instance default from the operator's config.
    Instance,
}

/// One API key with a stable id (the store's row id, or `config:<provider>`).
#[derive(Clone)]
pub struct ApiKey {
    id: String,
    source: KeySource,
    secret: SecretString,
    usage_count: u64,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Security: credential disclosure through logs. Only the id and the tier are printed.
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("source", &self.source)
            .field("secret", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// A key. `usage_count` is the stored count, so the least-used key is picked first across
    /// restarts; pass 0 when unknown.
    pub fn new(
        id: impl Into<String>,
        source: KeySource,
        secret: SecretString,
        usage_count: u64,
    ) -> Self {
        ApiKey { id: id.into(), source, secret, usage_count }
    }

    /// The stable id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whose key it is.
    pub fn source(&self) -> KeySource {
        self.source
    }

    pub(crate) fn expose(&self) -> &str {
        self.secret.expose_secret()
    }
}

/// Every key that might serve a request, by tier, as the engine found them.
#[derive(Clone, Debug, Default)]
pub struct KeyCandidates {
    /// The user's own keys for this provider.
    pub personal: Vec<ApiKey>,
    /// The server's keys.
    pub server: Vec<ApiKey>,
    /// The instance default from config.
    pub instance: Vec<ApiKey>,
    /// Whether personal keys apply to this request (the user triggered it and the feature allows
    /// their key).
    pub personal_applies: bool,
    /// Whether only a personal key may be used (the server's "bring your own key" mode).
    pub personal_required: bool,
}

impl KeyCandidates {
    /// The keys of the first tier that has any: personal (when it applies), then server, then
    /// instance. One tier only: a request never spends the server's quota because the user's own
    /// key was rate-limited, nor the operator's because the server's was. Empty when no tier has
    /// a key (a local server that needs none).
    ///
    /// # Errors
    ///
    /// `NoKey` when a personal key is required and the user has none.
    pub fn resolve(&self, provider: &str) -> Result<Vec<ApiKey>, LlmError> {
        if self.personal_applies && !self.personal.is_empty() {
            return Ok(self.personal.clone());
        }
        if self.personal_required {
            return Err(LlmError::NoKey { provider: provider.to_owned() });
        }
        if !self.server.is_empty() {
            return Ok(self.server.clone());
        }
        Ok(self.instance.clone())
    }
}

/// The time, injectable so cooldowns are tested without sleeping.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> Instant;
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    offset: Mutex<Duration>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock { start: Instant::now(), offset: Mutex::new(Duration::ZERO) }
    }
}

impl ManualClock {
    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut offset = self.offset.lock().unwrap_or_else(PoisonError::into_inner);
        *offset += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *self.offset.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How an attempt with a key ended, for the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOutcome {
    /// It answered.
    Success,
    /// 429: rest [`RATE_LIMIT_COOLDOWN`] (or the provider's retry-after when longer).
    RateLimited(Option<Duration>),
    /// Anything else attributable to the attempt: rest [`ERROR_COOLDOWN`].
    Failed(&'static str),
}

/// What the pool knows about one key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyStats {
    /// Successful attempts in this process.
    pub uses: u64,
    /// Failed attempts in this process.
    pub errors: u64,
    /// Resting until then.
    pub cooling_until: Option<Instant>,
    /// Code of the last failure.
    pub last_error: Option<&'static str>,
}

/// Key state for every provider, shared by all requests. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct KeyPools {
    inner: Arc<Mutex<HashMap<(String, String), KeyStats>>>,
}

impl KeyPools {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), KeyStats>> {
        // A panic elsewhere cannot leave the counters inconsistent, so a poisoned lock is used.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next key to try for `provider`: not yet tried in this request, not resting (when the
    /// pool has at least two keys: a lone key is always tried), least used first, ties in the
    /// candidates' order. `None` when none is left.
    pub fn pick<'k>(
        &self,
        provider: &str,
        candidates: &'k [ApiKey],
        tried: &[String],
        now: Instant,
    ) -> Option<&'k ApiKey> {
        let pool = self.lock();
        let pooled = candidates.len() >= 2;
        candidates
            .iter()
            .enumerate()
            .filter(|(_, key)| !tried.contains(&key.id))
            .filter_map(|(position, key)| {
                let stats = pool.get(&(provider.to_owned(), key.id.clone()));
                let resting = stats.and_then(|s| s.cooling_until).is_some_and(|until| until > now);
                if pooled && resting {
                    return None;
                }
                let uses = key.usage_count.saturating_add(stats.map_or(0, |s| s.uses));
                Some((uses, position, key))
            })
            .min_by_key(|(uses, position, _)| (*uses, *position))
            .map(|(_, _, key)| key)
    }

    /// Records how an attempt with `key_id` ended.
    pub fn record(&self, provider: &str, key_id: &str, outcome: KeyOutcome, now: Instant) {
        let mut pool = self.lock();
        let stats = pool.entry((provider.to_owned(), key_id.to_owned())).or_default();
        match outcome {
            KeyOutcome::Success => {
                stats.uses += 1;
                stats.cooling_until = None;
                stats.last_error = None;
            }
            KeyOutcome::RateLimited(retry_after) => {
                stats.errors += 1;
                let rest = retry_after.map_or(RATE_LIMIT_COOLDOWN, |after| {
                    after.clamp(RATE_LIMIT_COOLDOWN, Duration::from_secs(3600))
                });
                stats.cooling_until = Some(now + rest);
                stats.last_error = Some("rate_limit");
            }
            KeyOutcome::Failed(code) => {
                stats.errors += 1;
                stats.cooling_until = Some(now + ERROR_COOLDOWN);
                stats.last_error = Some(code);
            }
        }
    }

    /// What the pool knows about one key.
    pub fn stats(&self, provider: &str, key_id: &str) -> KeyStats {
        self.lock().get(&(provider.to_owned(), key_id.to_owned())).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
