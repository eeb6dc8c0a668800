//! The engine's and the scheduler's metrics, recorded through the `metrics` facade under the
//! names of [`tomori_core::metric_names`]. Kept here so that each event point in the engine is
//! one call; every label value is a fixed word.

use std::time::Instant;

use tomori_core::metric_names as names;
use tomori_core::quota::QuotaVerdict;

/// A turn refused before the model was called, for `reason` (one of
/// [`names::REFUSAL_REASONS`]).
pub(crate) fn refused(reason: &'static str) {
    metrics::counter!(names::TURN_REFUSALS, names::label::REASON => reason).increment(1);
    metrics::counter!(names::TURNS, names::label::OUTCOME => "refused").increment(1);
}

/// Counts a quota refusal and hands the verdict on unchanged.
pub(crate) fn quota<E>(verdict: Result<QuotaVerdict, E>) -> Result<QuotaVerdict, E> {
    match &verdict {
        Ok(QuotaVerdict::Allowed) => {}
        Ok(QuotaVerdict::UserExhausted { .. }) => refused("quota_user"),
        Ok(QuotaVerdict::PoolExhausted { .. }) => refused("quota_pool"),
        Err(_) => refused("quota_error"),
    }
    verdict
}

/// A turn that ran: answered, failed, or cancelled (stopped or interrupted).
pub(crate) fn turn_ended(ok: bool, cancelled: bool) {
    let outcome = match (ok, cancelled) {
        (_, true) => "cancelled",
        (true, false) => "answered",
        (false, false) => "failed",
    };
    metrics::counter!(names::TURNS, names::label::OUTCOME => outcome).increment(1);
}

/// The engine's own time before a model call, since `started`.
pub(crate) fn overhead(started: Instant) {
    metrics::histogram!(names::ENGINE_OVERHEAD).record(started.elapsed().as_secs_f64());
}

/// One reminder delivery attempt.
pub(crate) fn reminder(delivered: bool) {
    let outcome = if delivered { "delivered" } else { "failed" };
    metrics::counter!(names::REMINDER_DELIVERIES, names::label::OUTCOME => outcome).increment(1);
}
