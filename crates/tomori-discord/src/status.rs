//! Whether each gateway shard has a session, readable outside the shard tasks (the operator's
//! readiness probe). Platform-neutral on purpose: shard numbers and booleans, no twilight types.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Each shard's number and whether it has a session; all `false` until the shards connect.
#[derive(Debug, Clone, Default)]
pub struct ShardStatus(Arc<[(u32, AtomicBool)]>);

impl ShardStatus {
    pub(crate) fn new(ids: impl IntoIterator<Item = u32>) -> Self {
        Self(ids.into_iter().map(|id| (id, AtomicBool::new(false))).collect())
    }

    /// Records shard `id`'s state after an event (a READY or RESUMED opens a session, a close
    /// ends it).
    pub(crate) fn set(&self, id: u32, connected: bool) {
        if let Some((_, flag)) = self.0.iter().find(|(shard, _)| *shard == id) {
            flag.store(connected, Ordering::Relaxed);
        }
    }

    /// Every shard this process runs, as `(number, connected)`.
    pub fn shards(&self) -> Vec<(u32, bool)> {
        self.0.iter().map(|(id, flag)| (*id, flag.load(Ordering::Relaxed))).collect()
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
