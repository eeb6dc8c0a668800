//! Quota counters: per user per UTC day and per server pool period, for text, image and video.
//!
//! Reading and recording are separate calls: the engine checks before a turn and records only
//! after it succeeded. Callers treat an error from [`check`] as a refusal (fail closed), unlike
//! TomoriBot, whose quota check lets a turn through when the database errors.

use chrono::NaiveDate;
use tomori_core::id::Snowflake;
use tomori_core::quota::{QuotaLimits, QuotaUsage, QuotaVerdict, check_quota, pool_period_start};

use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::{Scope, Store, StoreError};

/// What is being generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaKind {
    /// Text replies.
    Text,
    /// Images.
    Image,
    /// Videos.
    Video,
}

impl QuotaKind {
    /// The stored name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Image => "image",
            Self::Video => "video",
        }
    }
}

/// The limits of a kind never set: off (the table's defaults).
const DEFAULT_LIMITS: QuotaLimits =
    QuotaLimits { enabled: false, per_user_daily: 0, server_pool: 0, reset_period_days: 365 };

/// The server pool's row in `quota_counters`.
const POOL: i64 = 0;

/// The server's limits for a kind; quotas are off until an admin sets them.
///
/// # Errors
/// An unavailable database.
pub async fn limits(
    store: &Store,
    scope: Scope,
    kind: QuotaKind,
) -> Result<QuotaLimits, StoreError> {
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    let row = sqlx::query!(
        "SELECT enabled, per_user_daily, server_pool, reset_period_days FROM quota_settings
         WHERE server_id = $1 AND kind = $2",
        server.get(),
        kind.name()
    )
    .fetch_optional(tx.conn())
    .await
    .about("quota")?;
    tx.commit().await?;
    let to_u32 = |v: i32| u32::try_from(v).unwrap_or(0);
    Ok(row.map_or(DEFAULT_LIMITS, |r| QuotaLimits {
        enabled: r.enabled,
        per_user_daily: to_u32(r.per_user_daily),
        server_pool: to_u32(r.server_pool),
        reset_period_days: to_u32(r.reset_period_days),
    }))
}

/// Sets a server's limits for a kind, audited as the operator.
///
/// # Errors
/// Values outside the allowed ranges, or an unavailable database.
pub async fn set_limits(
    store: &Store,
    scope: Scope,
    kind: QuotaKind,
    limits: QuotaLimits,
) -> Result<(), StoreError> {
    let patch = QuotaPatch {
        enabled: Some(limits.enabled),
        per_user_daily: Some(limits.per_user_daily),
        server_pool: Some(limits.server_pool),
        reset_period_days: Some(limits.reset_period_days),
    };
    update_limits(store, scope, Actor::Operator, kind, patch).await.map(|_| ())
}

/// Which quota limits to change; `None` keeps the stored value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaPatch {
    /// Whether the quota is enforced.
    pub enabled: Option<bool>,
    /// Per-user daily limit, 0 (none) to 100.
    pub per_user_daily: Option<u32>,
    /// Server pool per period, 0 (none) to 99999.
    pub server_pool: Option<u32>,
    /// Pool period in days, 1 to 365.
    pub reset_period_days: Option<u32>,
}

fn check_range(
    field: &'static str,
    value: Option<u32>,
    low: u32,
    high: u32,
) -> Result<(), StoreError> {
    match value {
        Some(v) if v < low || v > high => {
            Err(StoreError::Invalid { field, reason: format!("must be from {low} to {high}") })
        }
        _ => Ok(()),
    }
}

/// Changes some of a server's limits for a kind, with an audit row of the limits before and
/// after in the same transaction. Returns the limits now in force.
///
/// # Errors
/// Values outside the allowed ranges ([`StoreError::Invalid`]), or an unavailable database.
pub async fn update_limits(
    store: &Store,
    scope: Scope,
    actor: Actor,
    kind: QuotaKind,
    patch: QuotaPatch,
) -> Result<QuotaLimits, StoreError> {
    check_range("per-user daily limit", patch.per_user_daily, 0, 100)?;
    check_range("server pool", patch.server_pool, 0, 99_999)?;
    check_range("reset period", patch.reset_period_days, 1, 365)?;
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    // Locked until the commit, so that two changes cannot both start from the same limits.
    let row = sqlx::query!(
        "SELECT enabled, per_user_daily, server_pool, reset_period_days FROM quota_settings
         WHERE server_id = $1 AND kind = $2 FOR UPDATE",
        server.get(),
        kind.name()
    )
    .fetch_optional(tx.conn())
    .await
    .about("quota")?;
    let to_u32 = |v: i32| u32::try_from(v).unwrap_or(0);
    let before = row.map_or(DEFAULT_LIMITS, |r| QuotaLimits {
        enabled: r.enabled,
        per_user_daily: to_u32(r.per_user_daily),
        server_pool: to_u32(r.server_pool),
        reset_period_days: to_u32(r.reset_period_days),
    });
    let after = QuotaLimits {
        enabled: patch.enabled.unwrap_or(before.enabled),
        per_user_daily: patch.per_user_daily.unwrap_or(before.per_user_daily),
        server_pool: patch.server_pool.unwrap_or(before.server_pool),
        reset_period_days: patch.reset_period_days.unwrap_or(before.reset_period_days),
    };
    let to_i32 = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    sqlx::query!(
        "INSERT INTO quota_settings (server_id, kind, enabled, per_user_daily, server_pool, reset_period_days)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (server_id, kind) DO UPDATE SET enabled = EXCLUDED.enabled,
             per_user_daily = EXCLUDED.per_user_daily, server_pool = EXCLUDED.server_pool,
             reset_period_days = EXCLUDED.reset_period_days",
        server.get(),
        kind.name(),
        after.enabled,
        to_i32(after.per_user_daily),
        to_i32(after.server_pool),
        to_i32(after.reset_period_days)
    )
    .execute(tx.conn())
    .await
    .about("quota limits")?;
    let state = |l: QuotaLimits| {
        serde_json::json!({
            "enabled": l.enabled,
            "per_user_daily": l.per_user_daily,
            "server_pool": l.server_pool,
            "reset_period_days": l.reset_period_days,
        })
    };
    let (before, after_json) = (state(before), state(after));
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "quota.limits",
            target: format!("quota:{}", kind.name()),
            before: Some(&before),
            after: Some(&after_json),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Whether `user` may generate one more `kind` today.
///
/// # Errors
/// An unavailable database: the caller must refuse the turn.
pub async fn check(
    store: &Store,
    scope: Scope,
    kind: QuotaKind,
    user: Snowflake,
    today: NaiveDate,
) -> Result<QuotaVerdict, StoreError> {
    let limits = limits(store, scope, kind).await?;
    check_against(store, scope, kind, limits, user, today).await
}

/// Like [`check`], with the server's `limits` already known (the engine's cached copy, read under
/// the current revision).
///
/// # Errors
/// An unavailable database.
pub async fn check_against(
    store: &Store,
    scope: Scope,
    kind: QuotaKind,
    limits: QuotaLimits,
    user: Snowflake,
    today: NaiveDate,
) -> Result<QuotaVerdict, StoreError> {
    if !limits.enabled {
        return Ok(QuotaVerdict::Allowed);
    }
    let server = scope.require_server()?;
    let pool_start = pool_period_start(today, limits.reset_period_days);
    let mut tx = store.begin(scope).await?;
    let row = sqlx::query!(
        r#"SELECT
             COALESCE((SELECT used FROM quota_counters WHERE server_id = $1 AND kind = $2
                        AND user_discord_id = $3 AND period_start = $4), 0) AS "user!",
             COALESCE((SELECT used FROM quota_counters WHERE server_id = $1 AND kind = $2
                        AND user_discord_id = 0 AND period_start = $5), 0) AS "pool!""#,
        server.get(),
        kind.name(),
        user.to_db(),
        today,
        pool_start
    )
    .fetch_one(tx.conn())
    .await
    .about("quota")?;
    tx.commit().await?;
    let to_u32 = |v: i32| u32::try_from(v).unwrap_or(0);
    Ok(check_quota(
        limits,
        QuotaUsage { user_today: to_u32(row.user), pool_in_period: to_u32(row.pool) },
        today,
    ))
}

/// Records one successful generation against the user's day and the server's pool period.
///
/// # Errors
/// An unavailable database.
pub async fn record(
    store: &Store,
    scope: Scope,
    kind: QuotaKind,
    user: Snowflake,
    today: NaiveDate,
) -> Result<(), StoreError> {
    let limits = limits(store, scope, kind).await?;
    if !limits.enabled {
        return Ok(());
    }
    let server = scope.require_server()?;
    let pool_start = pool_period_start(today, limits.reset_period_days);
    let mut tx = store.begin(scope).await?;
    // Only counters with a limit are counted, as TomoriBot's users expect.
    for (owner, period, limited) in [
        (user.to_db(), today, limits.per_user_daily > 0),
        (POOL, pool_start, limits.server_pool > 0),
    ] {
        if !limited {
            continue;
        }
        sqlx::query!(
            "INSERT INTO quota_counters (server_id, kind, user_discord_id, period_start, used)
             VALUES ($1, $2, $3, $4, 1)
             ON CONFLICT (server_id, kind, user_discord_id, period_start) DO UPDATE
             SET used = quota_counters.used + 1",
            server.get(),
            kind.name(),
            owner,
            period
        )
        .execute(tx.conn())
        .await
        .about("quota")?;
    }
    tx.commit().await
}
