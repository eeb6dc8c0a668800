//! Quota counters: per user per UTC day and per server pool period, for text, image and video.
//!
//! Reading and recording are separate calls: the engine checks before a turn and records only
//! after it succeeded. Callers treat an error from [`check`] as a refusal (fail closed), unlike
//! TomoriBot, whose quota check lets a turn through when the database errors.

use chrono::NaiveDate;
use tomori_core::id::Snowflake;
use tomori_core::quota::{QuotaLimits, QuotaUsage, QuotaVerdict, check_quota, pool_period_start};

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
    fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Image => "image",
            Self::Video => "video",
        }
    }
}

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
    Ok(row.map_or(
        QuotaLimits { enabled: false, per_user_daily: 0, server_pool: 0, reset_period_days: 365 },
        |r| QuotaLimits {
            enabled: r.enabled,
            per_user_daily: to_u32(r.per_user_daily),
            server_pool: to_u32(r.server_pool),
            reset_period_days: to_u32(r.reset_period_days),
        },
    ))
}

/// Sets a server's limits for a kind.
///
/// # Errors
/// Values outside the allowed ranges, or an unavailable database.
pub async fn set_limits(
    store: &Store,
    scope: Scope,
    kind: QuotaKind,
    limits: QuotaLimits,
) -> Result<(), StoreError> {
    let server = scope.require_server()?;
    let to_i32 = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    let mut tx = store.begin(scope).await?;
    sqlx::query!(
        "INSERT INTO quota_settings (server_id, kind, enabled, per_user_daily, server_pool, reset_period_days)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (server_id, kind) DO UPDATE SET enabled = EXCLUDED.enabled,
             per_user_daily = EXCLUDED.per_user_daily, server_pool = EXCLUDED.server_pool,
             reset_period_days = EXCLUDED.reset_period_days",
        server.get(),
        kind.name(),
        limits.enabled,
        to_i32(limits.per_user_daily),
        to_i32(limits.server_pool),
        to_i32(limits.reset_period_days)
    )
    .execute(tx.conn())
    .await
    .about("quota limits")?;
    tx.commit().await
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
