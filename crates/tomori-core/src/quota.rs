//! Quota and cooldown arithmetic, with the time passed in so that resets are tested without
//! waiting.
//!
//! Quotas: a per-user daily limit (UTC days) and a server pool that resets every
//! `reset_period_days` (periods counted from 1970-01-01, so every server with the same period
//! resets on the same day and no extra state is needed). A limit of 0 means unlimited. The user's
//! count is checked first, then the pool; usage is recorded only after a turn succeeded.
//! Cooldowns: one key per user, channel or server; ManageGuild members are exempt except in
//! strict mode.

use chrono::{Days, NaiveDate};

use crate::settings::CooldownKind;

/// A server's limits for one kind of generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaLimits {
    /// Whether quotas apply at all.
    pub enabled: bool,
    /// Per user per UTC day (0 = unlimited).
    pub per_user_daily: u32,
    /// For the whole server per period (0 = unlimited).
    pub server_pool: u32,
    /// Length of a pool period in days (1 to 365).
    pub reset_period_days: u32,
}

/// What was used so far in the current periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuotaUsage {
    /// By this user today.
    pub user_today: u32,
    /// By the whole server in the current pool period.
    pub pool_in_period: u32,
}

/// Whether one more generation is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaVerdict {
    /// Go ahead.
    Allowed,
    /// The user's daily limit is used up until the given day starts (UTC).
    UserExhausted {
        /// First day with a fresh allowance.
        resets_on: NaiveDate,
    },
    /// The server pool is used up until the given day.
    PoolExhausted {
        /// First day of the next period.
        resets_on: NaiveDate,
    },
}

/// The first day of the pool period containing `today`.
pub fn pool_period_start(today: NaiveDate, reset_period_days: u32) -> NaiveDate {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid constant date");
    let days = u64::try_from((today - epoch).num_days()).unwrap_or(0);
    let period = u64::from(reset_period_days.clamp(1, 365));
    epoch.checked_add_days(Days::new(days - days % period)).unwrap_or(today)
}

/// Decides whether one more generation fits.
pub fn check_quota(limits: QuotaLimits, usage: QuotaUsage, today: NaiveDate) -> QuotaVerdict {
    if !limits.enabled {
        return QuotaVerdict::Allowed;
    }
    if limits.per_user_daily > 0 && usage.user_today >= limits.per_user_daily {
        return QuotaVerdict::UserExhausted { resets_on: today.succ_opt().unwrap_or(today) };
    }
    if limits.server_pool > 0 && usage.pool_in_period >= limits.server_pool {
        let start = pool_period_start(today, limits.reset_period_days);
        let next =
            start.checked_add_days(Days::new(u64::from(limits.reset_period_days.clamp(1, 365))));
        return QuotaVerdict::PoolExhausted { resets_on: next.unwrap_or(today) };
    }
    QuotaVerdict::Allowed
}

/// What a message-trigger cooldown is keyed by, or `None` when it does not apply.
pub fn cooldown_key(
    kind: CooldownKind,
    author_is_admin: bool,
    user: u64,
    channel: u64,
) -> Option<String> {
    match kind {
        CooldownKind::Off => None,
        // Admins are exempt, except from the strict server-wide cooldown.
        CooldownKind::PerUser | CooldownKind::PerChannel | CooldownKind::ServerWide
            if author_is_admin =>
        {
            None
        }
        CooldownKind::PerUser => Some(format!("user:{user}")),
        CooldownKind::PerChannel => Some(format!("channel:{channel}")),
        CooldownKind::ServerWide | CooldownKind::Strict => Some("server".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    const LIMITS: QuotaLimits =
        QuotaLimits { enabled: true, per_user_daily: 5, server_pool: 100, reset_period_days: 30 };

    #[track_caller]
    fn check(limits: QuotaLimits, user_today: u32, pool: u32, expected: QuotaVerdict) {
        let today = day(2026, 11, 24);
        assert_eq!(
            check_quota(limits, QuotaUsage { user_today, pool_in_period: pool }, today),
            expected
        );
    }

    #[test]
    fn the_user_limit_is_checked_before_the_pool() {
        check(LIMITS, 0, 0, QuotaVerdict::Allowed);
        check(LIMITS, 4, 99, QuotaVerdict::Allowed);
        check(LIMITS, 5, 0, QuotaVerdict::UserExhausted { resets_on: day(2026, 11, 25) });
        check(LIMITS, 5, 100, QuotaVerdict::UserExhausted { resets_on: day(2026, 11, 25) });
        let start = pool_period_start(day(2026, 11, 24), 30);
        let next = start.checked_add_days(Days::new(30)).unwrap();
        check(LIMITS, 0, 100, QuotaVerdict::PoolExhausted { resets_on: next });
        check(QuotaLimits { enabled: false, ..LIMITS }, 50, 500, QuotaVerdict::Allowed);
        check(
            QuotaLimits { per_user_daily: 0, server_pool: 0, ..LIMITS },
            50,
            500,
            QuotaVerdict::Allowed,
        );
    }

    #[test]
    fn pool_periods_tile_the_calendar() {
        let today = day(2026, 11, 24);
        for period in [1, 7, 30, 365] {
            let start = pool_period_start(today, period);
            assert!(start <= today);
            assert!((today - start).num_days() < i64::from(period));
        }
        assert_eq!(pool_period_start(today, 1), today);
    }

    #[test]
    fn cooldowns_exempt_admins_except_in_strict_mode() {
        assert_eq!(cooldown_key(CooldownKind::Off, false, 1, 2), None);
        assert_eq!(cooldown_key(CooldownKind::PerUser, false, 1, 2).as_deref(), Some("user:1"));
        assert_eq!(
            cooldown_key(CooldownKind::PerChannel, false, 1, 2).as_deref(),
            Some("channel:2")
        );
        assert_eq!(cooldown_key(CooldownKind::ServerWide, false, 1, 2).as_deref(), Some("server"));
        assert_eq!(cooldown_key(CooldownKind::PerUser, true, 1, 2), None);
        assert_eq!(cooldown_key(CooldownKind::Strict, true, 1, 2).as_deref(), Some("server"));
    }
}
