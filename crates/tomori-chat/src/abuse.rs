//! Abuse controls that live outside the database: message-trigger cooldowns and active-turn caps.
//!
//! Each is a trait with an in-process implementation; a Redis implementation is the scale-out
//! path (several processes sharing one set of limits). Time is passed in, so tests do not sleep.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tomori_core::id::Snowflake;

/// Message-trigger cooldowns, keyed by server and a cooldown key (`user:<id>`, `channel:<id>`,
/// `server`).
pub trait Cooldowns: Send + Sync + 'static {
    /// Starts the cooldown unless one is running; returns the time left of a running one.
    fn try_start(
        &self,
        server: i64,
        key: &str,
        length: Duration,
        now: Instant,
    ) -> Result<(), Duration>;
}

/// Cooldowns in this process's memory.
#[derive(Debug, Default)]
pub struct LocalCooldowns {
    until: Mutex<HashMap<(i64, String), Instant>>,
}

impl Cooldowns for LocalCooldowns {
    fn try_start(
        &self,
        server: i64,
        key: &str,
        length: Duration,
        now: Instant,
    ) -> Result<(), Duration> {
        let mut until = self.until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Expired entries go first, so the map holds only running cooldowns.
        until.retain(|_, end| *end > now);
        let slot = (server, key.to_owned());
        if let Some(end) = until.get(&slot) {
            return Err(end.saturating_duration_since(now));
        }
        until.insert(slot, now + length);
        Ok(())
    }
}

/// The most turns one user may have running or queued, across servers.
pub const MAX_ACTIVE_PER_USER: u32 = 3;
/// The most turns one server may have running or queued.
pub const MAX_ACTIVE_PER_SERVER: u32 = 10;

/// Counts of turns running or queued, per user and per server.
#[derive(Debug, Default)]
pub struct ActiveTurns {
    counts: Mutex<(HashMap<Snowflake, u32>, HashMap<i64, u32>)>,
}

/// Which cap was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveCap {
    /// The user has too many turns going.
    User,
    /// The server has too many turns going.
    Server,
}

impl ActiveTurns {
    /// Takes a slot for a user's turn in a server, or says which cap is full.
    pub fn acquire(&self, user: Snowflake, server: i64) -> Result<(), ActiveCap> {
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (users, servers) = &mut *counts;
        if users.get(&user).copied().unwrap_or(0) >= MAX_ACTIVE_PER_USER {
            return Err(ActiveCap::User);
        }
        if servers.get(&server).copied().unwrap_or(0) >= MAX_ACTIVE_PER_SERVER {
            return Err(ActiveCap::Server);
        }
        *users.entry(user).or_default() += 1;
        *servers.entry(server).or_default() += 1;
        Ok(())
    }

    /// Gives a slot back.
    pub fn release(&self, user: Snowflake, server: i64) {
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (users, servers) = &mut *counts;
        for count in [users.get_mut(&user), servers.get_mut(&server)].into_iter().flatten() {
            *count = count.saturating_sub(1);
        }
        users.retain(|_, n| *n > 0);
        servers.retain(|_, n| *n > 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cooldown_blocks_until_it_ends() {
        let cooldowns = LocalCooldowns::default();
        let t0 = Instant::now();
        let five = Duration::from_secs(5);
        assert_eq!(cooldowns.try_start(1, "user:7", five, t0), Ok(()));
        assert_eq!(
            cooldowns.try_start(1, "user:7", five, t0 + Duration::from_secs(2)),
            Err(Duration::from_secs(3))
        );
        assert_eq!(cooldowns.try_start(2, "user:7", five, t0), Ok(()), "other servers are apart");
        assert_eq!(cooldowns.try_start(1, "user:8", five, t0), Ok(()));
        assert_eq!(cooldowns.try_start(1, "user:7", five, t0 + five), Ok(()));
    }

    #[test]
    fn active_turns_are_capped_per_user_and_server() {
        let active = ActiveTurns::default();
        let alice = Snowflake::new(1).unwrap();
        for _ in 0..MAX_ACTIVE_PER_USER {
            active.acquire(alice, 1).unwrap();
        }
        assert_eq!(active.acquire(alice, 1), Err(ActiveCap::User));
        active.release(alice, 1);
        assert_eq!(active.acquire(alice, 1), Ok(()));
        for n in 10..17 {
            active.acquire(Snowflake::new(n).unwrap(), 1).unwrap();
        }
        assert_eq!(active.acquire(Snowflake::new(99).unwrap(), 1), Err(ActiveCap::Server));
        assert_eq!(active.acquire(Snowflake::new(99).unwrap(), 2), Ok(()));
    }
}
