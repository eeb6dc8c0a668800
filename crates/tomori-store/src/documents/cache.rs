//! The in-process cache of servers' chunk vectors: one entry per server (its current family),
//! normalised once into a contiguous [`Matrix`], stamped with the server's document generation,
//! and evicted least recently used first when the cache passes its byte budget.
//!
//! It is never trusted blindly: every search reads the server's generation first and uses an
//! entry only when both family and generation match, so a change made by another process is
//! seen at the next search. Changes made in this process also drop the entry at once (after
//! their commit), which frees its memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tomori_core::id::ServerId;
use tomori_core::vector::Matrix;

use super::Family;

/// The default byte budget: about ten servers at the full 1,000 chunks of 1,536 dimensions.
pub const DEFAULT_VECTOR_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// One server's searchable vectors.
#[derive(Debug)]
pub(crate) struct Vectors {
    pub(crate) family: Family,
    pub(crate) generation: i64,
    pub(crate) matrix: Matrix,
    /// The chunk id of each row.
    pub(crate) ids: Vec<i64>,
}

impl Vectors {
    fn bytes(&self) -> usize {
        self.matrix.bytes() + self.ids.len() * size_of::<i64>()
    }
}

struct Entry {
    vectors: Arc<Vectors>,
    used: u64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<ServerId, Entry>,
    bytes: usize,
    clock: u64,
}

/// What the cache holds, for tests and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Servers with vectors cached.
    pub servers: usize,
    /// Bytes of vectors and ids cached.
    pub bytes: usize,
}

/// See the module documentation.
pub(crate) struct VectorCache {
    budget: usize,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for VectorCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorCache")
            .field("budget", &self.budget)
            .field("stats", &self.stats())
            .finish()
    }
}

impl VectorCache {
    pub(crate) fn new(budget: usize) -> Self {
        Self { budget, inner: Mutex::new(Inner::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The server's vectors, when cached for this family and generation.
    pub(crate) fn get(
        &self,
        server: ServerId,
        family: &Family,
        generation: i64,
    ) -> Option<Arc<Vectors>> {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        let entry = inner.entries.get_mut(&server)?;
        if entry.vectors.family != *family || entry.vectors.generation != generation {
            return None;
        }
        entry.used = now;
        Some(Arc::clone(&entry.vectors))
    }

    /// Keeps `vectors` for `server`, unless it holds a newer generation of the same family, then
    /// evicts the least recently used servers until the budget holds. Vectors larger than the
    /// whole budget are not kept.
    pub(crate) fn put(&self, server: ServerId, vectors: Arc<Vectors>) {
        let size = vectors.bytes();
        let mut inner = self.lock();
        if let Some(old) = inner.entries.get(&server)
            && old.vectors.family == vectors.family
            && old.vectors.generation > vectors.generation
        {
            return;
        }
        if let Some(old) = inner.entries.remove(&server) {
            inner.bytes -= old.vectors.bytes();
        }
        if size > self.budget {
            return;
        }
        while inner.bytes + size > self.budget {
            let Some(oldest) = inner.entries.iter().min_by_key(|(_, e)| e.used).map(|(s, _)| *s)
            else {
                break;
            };
            if let Some(evicted) = inner.entries.remove(&oldest) {
                inner.bytes -= evicted.vectors.bytes();
            }
        }
        inner.clock += 1;
        let used = inner.clock;
        inner.bytes += size;
        inner.entries.insert(server, Entry { vectors, used });
    }

    /// Drops the server's vectors (its documents changed in this process).
    pub(crate) fn forget(&self, server: ServerId) {
        let mut inner = self.lock();
        if let Some(old) = inner.entries.remove(&server) {
            inner.bytes -= old.vectors.bytes();
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats { servers: inner.entries.len(), bytes: inner.bytes }
    }
}
