//! In-memory copies of database state that are used only while their revision is current.
//!
//! Every committed change to the state a turn reads moves the revision of the server or user it
//! belongs to, inside the writing transaction (triggers of migration `0007_revisions.sql`), and
//! [`crate::Store::revisions`] reads both revisions in one round trip. A [`RevisionCache`] entry
//! remembers the revision it was loaded under and is handed out only for that revision, so the
//! first message after a commit, in this process or any other, loads afresh. Nothing has to be
//! invalidated by hand, so no write path can forget to.
//!
//! Entries unused for a while are dropped, so an idle server costs nothing here, and the number
//! of entries is capped.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tomori_core::metric_names as names;

/// A bounded map from a key to the value loaded for one revision of it.
#[derive(Debug)]
pub struct RevisionCache<K, R, V> {
    inner: Mutex<Inner<K, R, V>>,
    // The `view` label of its hits and misses: a fixed name, never a key.
    view: &'static str,
    capacity: usize,
    idle: Duration,
}

#[derive(Debug)]
struct Inner<K, R, V> {
    entries: HashMap<K, Entry<R, V>>,
    last_sweep: Instant,
}

#[derive(Debug)]
struct Entry<R, V> {
    revision: R,
    value: Arc<V>,
    used: Instant,
}

impl<K: Eq + Hash + Clone, R: Copy + Eq, V> RevisionCache<K, R, V> {
    /// A cache of at most `capacity` entries, each dropped after `idle` without use.
    pub fn new(capacity: usize, idle: Duration) -> Self {
        Self::named("unnamed", capacity, idle)
    }

    /// [`Self::new`], counting its hits and misses under `view` in
    /// [`tomori_core::metric_names::CACHE_LOOKUPS`].
    pub fn named(view: &'static str, capacity: usize, idle: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner { entries: HashMap::new(), last_sweep: Instant::now() }),
            view,
            capacity: capacity.max(1),
            idle,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, R, V>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value loaded under `revision`, if there is one.
    pub fn get(&self, key: &K, revision: R) -> Option<Arc<V>> {
        let found = self.lookup(key, revision);
        let result = if found.is_some() { "hit" } else { "miss" };
        metrics::counter!(names::CACHE_LOOKUPS, names::label::VIEW => self.view, names::label::RESULT => result)
            .increment(1);
        found
    }

    fn lookup(&self, key: &K, revision: R) -> Option<Arc<V>> {
        let mut inner = self.lock();
        let entry = inner.entries.get_mut(key)?;
        // Security: stale caches after writes. A copy loaded under another revision is never
        // handed out: a committed write has moved the revision since.
        if entry.revision != revision {
            return None;
        }
        entry.used = Instant::now();
        Some(Arc::clone(&entry.value))
    }

    /// Remembers `value` as loaded under `revision`, and returns it shared.
    pub fn insert(&self, key: K, revision: R, value: V) -> Arc<V> {
        let value = Arc::new(value);
        let now = Instant::now();
        let mut inner = self.lock();
        if now.duration_since(inner.last_sweep) >= self.idle / 2 {
            let idle = self.idle;
            inner.entries.retain(|_, e| now.duration_since(e.used) < idle);
            inner.last_sweep = now;
        }
        if inner.entries.len() >= self.capacity && !inner.entries.contains_key(&key) {
            // Full: the least recently used entry gives way (a scan, only when full).
            let oldest = inner.entries.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                inner.entries.remove(&oldest);
            }
        }
        inner.entries.insert(key, Entry { revision, value: Arc::clone(&value), used: now });
        value
    }

    /// The value for `revision`, loading and remembering it when the cache has none.
    ///
    /// `revision` must have been read before `load` runs: then whatever `load` reads is at least
    /// as new as `revision`, and a write committed in between moves the revision again, so the
    /// next call loads once more instead of keeping the older copy.
    ///
    /// # Errors
    /// Whatever `load` returns; nothing is remembered then.
    pub async fn get_or_load<E, F, Fut>(&self, key: K, revision: R, load: F) -> Result<Arc<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        if let Some(value) = self.get(&key, revision) {
            return Ok(value);
        }
        let value = load().await?;
        Ok(self.insert(key, revision, value))
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_serves_only_its_revision() {
        let cache: RevisionCache<u32, i64, &str> = RevisionCache::new(10, Duration::from_secs(60));
        cache.insert(1, 5, "five");
        assert_eq!(cache.get(&1, 5).as_deref(), Some(&"five"));
        assert_eq!(cache.get(&1, 6), None, "a newer revision misses");
        assert_eq!(cache.get(&1, 4), None, "an older revision misses too");
        assert_eq!(cache.get(&2, 5), None);
        cache.insert(1, 6, "six");
        assert_eq!(cache.get(&1, 6).as_deref(), Some(&"six"));
        assert_eq!(cache.len(), 1, "a reload replaces the entry");
    }

    #[test]
    fn the_least_recently_used_entry_gives_way_when_full() {
        let cache: RevisionCache<u32, i64, u32> = RevisionCache::new(3, Duration::from_secs(60));
        for key in 0..3 {
            cache.insert(key, 0, key);
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(cache.get(&0, 0).is_some(), "touching 0 makes 1 the oldest");
        cache.insert(3, 0, 3);
        assert_eq!(cache.len(), 3);
        assert!(cache.get(&1, 0).is_none());
        assert!(cache.get(&0, 0).is_some() && cache.get(&2, 0).is_some());
    }

    #[test]
    fn idle_entries_are_dropped() {
        let cache: RevisionCache<u32, i64, u32> = RevisionCache::new(10, Duration::from_millis(20));
        cache.insert(1, 0, 1);
        std::thread::sleep(Duration::from_millis(30));
        cache.insert(2, 0, 2);
        assert_eq!(cache.len(), 1, "the idle entry went with the sweep");
        assert!(cache.get(&2, 0).is_some());
    }

    #[tokio::test]
    async fn a_failed_load_remembers_nothing() {
        let cache: RevisionCache<u32, i64, u32> = RevisionCache::new(10, Duration::from_secs(60));
        let failed: Result<_, &str> = cache.get_or_load(1, 0, || async { Err("down") }).await;
        assert!(failed.is_err());
        assert!(cache.is_empty());
        let loaded = cache.get_or_load(1, 0, || async { Ok::<_, &str>(7) }).await;
        assert_eq!(loaded.map(|v| *v), Ok(7));
        let cached = cache.get_or_load(1, 0, || async { Err("not called") }).await;
        assert_eq!(cached.map(|v| *v), Ok(7));
    }
}
