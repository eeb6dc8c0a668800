//! The server's limits: the auto-trigger range and the quotas.

use tomori_core::trigger::{AutoRange, AutoRangeError};
use tomori_store::quotas::{self, QuotaKind, QuotaPatch};
use tomori_store::settings::{self, Setting};
use tomori_store::{Scope, Store};

use crate::access::AdminError;
use crate::caller::Caller;

/// A number in its range; a short refusal otherwise.
pub(crate) fn in_range(label: &str, value: i64, low: i64, high: i64) -> Result<i64, AdminError> {
    if (low..=high).contains(&value) {
        Ok(value)
    } else {
        Err(AdminError::BadInput(format!(
            "The {label} must be from {low} to {high}; nothing was changed."
        )))
    }
}

fn optional_u32(
    label: &str,
    value: Option<i64>,
    low: i64,
    high: i64,
) -> Result<Option<u32>, AdminError> {
    value.map(|v| in_range(label, v, low, high).map(|v| u32::try_from(v).unwrap_or(0))).transpose()
}

pub(super) async fn auto_trigger(
    store: &Store,
    scope: Scope,
    caller: &Caller,
    min: i64,
    max: i64,
) -> Result<String, AdminError> {
    let range = u16::try_from(min)
        .ok()
        .zip(u16::try_from(max).ok())
        .ok_or(AutoRangeError::TooLarge)
        .and_then(|(min, max)| AutoRange::new(min, max))
        .map_err(|e| {
            AdminError::BadInput(format!("That range won't do: {e}; nothing was changed."))
        })?;
    settings::set(store, scope, caller.actor(), Setting::AutoTrigger(range)).await?;
    Ok(if range.is_off() {
        "Auto-trigger channels no longer join in unaddressed.".to_owned()
    } else {
        format!(
            "In auto-trigger channels Tomori now joins in after {} to {} messages (`/server \
             channel add auto_trigger` picks the channels).",
            range.min(),
            range.max()
        )
    })
}

/// A change to a quota as typed; what is `None` stays.
pub(super) struct QuotaChange {
    pub(super) per_user_daily: Option<i64>,
    pub(super) server_pool: Option<i64>,
    pub(super) reset_days: Option<i64>,
    pub(super) enabled: Option<bool>,
}

pub(super) async fn quota(
    store: &Store,
    scope: Scope,
    caller: &Caller,
    kind: QuotaKind,
    change: QuotaChange,
) -> Result<String, AdminError> {
    let patch = QuotaPatch {
        enabled: change.enabled,
        per_user_daily: optional_u32("per-user daily limit", change.per_user_daily, 0, 100)?,
        server_pool: optional_u32("server pool", change.server_pool, 0, 99_999)?,
        reset_period_days: optional_u32("reset period", change.reset_days, 1, 365)?,
    };
    let now = quotas::update_limits(store, scope, caller.actor(), kind, patch).await?;
    Ok(format!(
        "The {} quota is {}: {} per member per day, {} for the server every {} days (0 = no limit).",
        kind.name(),
        if now.enabled { "on" } else { "off" },
        now.per_user_daily,
        now.server_pool,
        now.reset_period_days
    ))
}
