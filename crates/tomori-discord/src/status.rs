//! Whether each gateway shard has a session, readable outside the shard tasks (the operator's
//! readiness probe), and the count of sessions each shard re-established. Platform-neutral on
//! purpose: shard numbers and booleans, no twilight types.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tomori_core::metric_names as names;

#[derive(Debug)]
struct Shard {
    id: u32,
    connected: AtomicBool,
    sessions: AtomicU64,
}

/// Each shard's number and whether it has a session; all `false` until the shards connect.
#[derive(Debug, Clone, Default)]
pub struct ShardStatus(Arc<[Shard]>);

impl ShardStatus {
    pub(crate) fn new(ids: impl IntoIterator<Item = u32>) -> Self {
        Self(
            ids.into_iter()
                .map(|id| Shard {
                    id,
                    connected: AtomicBool::new(false),
                    sessions: AtomicU64::new(0),
                })
                .collect(),
        )
    }

    fn shard(&self, id: u32) -> Option<&Shard> {
        self.0.iter().find(|shard| shard.id == id)
    }

    /// Records shard `id`'s state after an event (a READY or RESUMED opens a session, a close
    /// or a failed reconnect ends it).
    pub(crate) fn set(&self, id: u32, connected: bool) {
        if let Some(shard) = self.shard(id) {
            shard.connected.store(connected, Ordering::Relaxed);
        }
    }

    /// A READY (`resumed` false) or RESUMED on shard `id`. Every session after the shard's first
    /// is a reconnect, whether the drop showed as a close frame, an error or not at all.
    pub(crate) fn record_session(&self, id: u32, resumed: bool) {
        let Some(shard) = self.shard(id) else { return };
        let before = shard.sessions.fetch_add(1, Ordering::Relaxed);
        let label = || id.to_string();
        if before > 0 || resumed {
            metrics::counter!(names::GATEWAY_RECONNECTS, names::label::SHARD => label())
                .increment(1);
        }
        if resumed {
            metrics::counter!(names::GATEWAY_RESUMES, names::label::SHARD => label()).increment(1);
        }
    }

    /// Every shard this process runs, as `(number, connected)`.
    pub fn shards(&self) -> Vec<(u32, bool)> {
        self.0.iter().map(|s| (s.id, s.connected.load(Ordering::Relaxed))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_is_down_until_told_otherwise() {
        let status = ShardStatus::new([0, 1]);
        assert_eq!(status.shards(), vec![(0, false), (1, false)]);
        status.set(1, true);
        status.set(7, true);
        assert_eq!(status.shards(), vec![(0, false), (1, true)]);
        status.set(1, false);
        assert_eq!(status.shards(), vec![(0, false), (1, false)]);
    }
}
