//! Tasks for gateway events: each event's handler runs in its own task, so a slow or panicking
//! handler never stalls the shard that received the event.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

/// Spawns `work` and logs a panic with the event's name instead of losing it.
pub(crate) fn spawn_logged<F>(event: &'static str, work: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(panic) = AssertUnwindSafe(work).catch_unwind().await {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            tracing::error!(event, panic = %message, "event handler panicked");
        }
    });
}
