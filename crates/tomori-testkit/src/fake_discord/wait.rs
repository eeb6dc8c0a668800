//! Waiting helpers: tests wait for what they expect instead of sleeping.

use std::time::Duration;

use tokio::time::Instant;

use super::{FakeDiscord, GatewayFrame, Inner, RecordedRequest, SentMessage};

impl FakeDiscord {
    /// Waits for a REST request matching `predicate` (one already received counts).
    ///
    /// # Panics
    /// On timeout, listing the requests seen.
    pub async fn wait_for_request(
        &self,
        predicate: impl Fn(&RecordedRequest) -> bool,
        timeout: Duration,
    ) -> RecordedRequest {
        self.wait_for("request", timeout, |inner| {
            inner.requests.iter().find(|r| predicate(r)).cloned()
        })
        .await
    }

    /// Waits until `count` REST requests match `predicate` and returns them in order.
    ///
    /// # Panics
    /// On timeout, listing the requests seen.
    pub async fn wait_for_requests(
        &self,
        predicate: impl Fn(&RecordedRequest) -> bool,
        count: usize,
        timeout: Duration,
    ) -> Vec<RecordedRequest> {
        self.wait_for("requests", timeout, |inner| {
            let found: Vec<RecordedRequest> =
                inner.requests.iter().filter(|r| predicate(r)).cloned().collect();
            (found.len() >= count).then_some(found)
        })
        .await
    }

    /// Waits for a gateway frame from the client matching `predicate`.
    ///
    /// # Panics
    /// On timeout, listing the requests seen.
    pub async fn wait_for_frame(
        &self,
        predicate: impl Fn(&GatewayFrame) -> bool,
        timeout: Duration,
    ) -> GatewayFrame {
        self.wait_for("gateway frame", timeout, |inner| {
            inner.frames.iter().find(|f| predicate(f)).cloned()
        })
        .await
    }

    /// Waits until a session for `shard` has been sent READY.
    ///
    /// # Panics
    /// On timeout.
    pub async fn wait_for_ready(&self, shard: u32, timeout: Duration) {
        self.wait_for("READY", timeout, |inner| inner.shard_sessions.get(&shard).map(|_| ())).await;
    }

    /// Waits for a created message matching `predicate`.
    ///
    /// # Panics
    /// On timeout, listing the requests seen.
    pub async fn wait_for_message(
        &self,
        predicate: impl Fn(&SentMessage) -> bool,
        timeout: Duration,
    ) -> SentMessage {
        self.wait_for("message", timeout, |inner| {
            inner.messages.iter().find(|m| predicate(m)).cloned()
        })
        .await
    }

    pub(super) async fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut(&Inner) -> Option<T>,
    ) -> T {
        // Subscribing before the first probe means no change between the probe and the wait is
        // missed.
        let mut changes = self.shared.changed.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = probe(&self.shared.lock()) {
                return found;
            }
            if !matches!(tokio::time::timeout_at(deadline, changes.changed()).await, Ok(Ok(()))) {
                let seen: Vec<String> = self
                    .shared
                    .lock()
                    .requests
                    .iter()
                    .map(|r| format!("  {} {} -> {}", r.method, r.path, r.status))
                    .collect();
                panic!(
                    "timed out after {timeout:?} waiting for a {what}; requests seen:\n{}",
                    seen.join("\n")
                );
            }
        }
    }
}
