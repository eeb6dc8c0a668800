//! The personas' shareable short-term notes, kept for a few seconds per server and persona, so
//! an answer costs no database round trip for them while a conversation is busy. A turn that
//! wrote a note forgets its server's copies at once; a note written by another process shows
//! within [`FRESH_FOR`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::Utc;
use tomori_core::id::{LineageId, ServerId};
use tomori_store::short_term::{self, Note};
use tomori_store::{Scope, Store, StoreError};

/// How long a copy is used.
pub(crate) const FRESH_FOR: Duration = Duration::from_secs(15);
/// Copies kept at most (one per active server and persona); past it the oldest half goes.
const MAX_ENTRIES: usize = 10_000;

type Entry = (Instant, Arc<Vec<Note>>);

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct NoteCache {
    entries: Mutex<HashMap<(ServerId, LineageId), Entry>>,
}

impl NoteCache {
    /// The persona's shareable notes in the server (`short_term::shareable`).
    pub(crate) async fn notes(
        &self,
        store: &Store,
        server: ServerId,
        lineage: LineageId,
    ) -> Result<Arc<Vec<Note>>, StoreError> {
        let key = (server, lineage);
        if let Some((at, notes)) = self.lock().get(&key)
            && at.elapsed() < FRESH_FOR
        {
            return Ok(Arc::clone(notes));
        }
        let notes = Arc::new(
            short_term::shareable(store, Scope::server(server), lineage, Utc::now()).await?,
        );
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            let mut ages: Vec<Instant> = entries.values().map(|(at, _)| *at).collect();
            ages.sort_unstable();
            let cut = ages.get(ages.len() / 2).copied();
            entries.retain(|_, (at, _)| cut.is_none_or(|cut| *at > cut));
        }
        entries.insert(key, (Instant::now(), Arc::clone(&notes)));
        Ok(notes)
    }

    /// Forgets the server's copies (a turn there wrote a note).
    pub(crate) fn forget(&self, server: ServerId) {
        self.lock().retain(|(s, _), _| *s != server);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(ServerId, LineageId), Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
