//! Reconnecting a shard: the wait after every close, what a close code means, and whether the
//! gateway's resume URL may be used.
//!
//! Twilight reconnects at once after a close and backs off only when connecting itself fails,
//! so a server that accepts the WebSocket and closes it straight away got 7,447 connections in
//! 8 s. [`Backoff`] makes every close (and every dropped connection) wait: nothing after the
//! first close of a session that stayed up, then 1 s, 2 s, 4 s … up to a minute, each with
//! jitter so that shards do not come back in step, starting over once a session stays up for
//! [`STABLE`].

use std::time::Duration;

use tokio::time::Instant;
use url::Url;

use crate::config::gateway_base;

/// The first wait after a quick close.
const BASE: Duration = Duration::from_secs(1);
/// The longest wait.
const MAX: Duration = Duration::from_secs(60);
/// A session up at least this long counts as healthy: the next close starts the backoff over.
pub(crate) const STABLE: Duration = Duration::from_secs(30);

/// The backoff of one shard.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    /// Closes since the last healthy session.
    step: u32,
    /// When the current session became ready, if it did.
    up_since: Option<Instant>,
}

/// The wait before the next connection, and whether it is a new step (worth a log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wait {
    pub(crate) wait: Duration,
    pub(crate) new_step: bool,
}

impl Backoff {
    /// The session is ready (READY or RESUMED).
    pub(crate) fn connected(&mut self) {
        self.connected_at(Instant::now());
    }

    fn connected_at(&mut self, at: Instant) {
        self.up_since = Some(at);
    }

    /// The connection closed: how long to wait before the next one.
    pub(crate) fn after_close(&mut self) -> Wait {
        if self.up_since.take().is_some_and(|since| since.elapsed() >= STABLE) {
            self.step = 0;
        }
        let step = self.step;
        self.step = self.step.saturating_add(1);
        let full = full_wait(step);
        Wait { wait: jitter(full), new_step: step == 0 || full_wait(step - 1) < full }
    }
}

/// The wait of a step before jitter: none, then `BASE` doubling up to `MAX`.
fn full_wait(step: u32) -> Duration {
    if step == 0 {
        return Duration::ZERO;
    }
    let doublings = (step - 1).min(16);
    BASE.saturating_mul(1 << doublings).min(MAX)
}

/// Somewhere between half and all of `full`.
fn jitter(full: Duration) -> Duration {
    let mut bytes = [0_u8; 4];
    // Without randomness the wait is simply the full one.
    let random = getrandom::fill(&mut bytes).map_or(u32::MAX, |()| u32::from_le_bytes(bytes));
    let half = full / 2;
    half + half.mul_f64(f64::from(random) / f64::from(u32::MAX))
}

/// What a close code means for the operator, and whether the shard can never reconnect.
pub(crate) fn close_reason(code: u16) -> (&'static str, bool) {
    match code {
        4004 => ("the bot token is wrong", true),
        4013 | 4014 => {
            ("turn on the Message Content intent on the Bot page (Discord developer portal)", true)
        }
        4010 => ("invalid shard: the shard settings do not match Discord's", true),
        4011 => ("sharding required: the bot is in too many servers for one shard", true),
        4012 => ("invalid API version", true),
        4000 => ("unknown error", false),
        4001 => ("unknown opcode", false),
        4002 => ("decode error", false),
        4003 => ("not authenticated", false),
        4005 => ("already authenticated", false),
        4007 => ("invalid sequence", false),
        4008 => ("rate limited: too many gateway commands", false),
        4009 => ("session timed out", false),
        1000 | 1001 => ("normal close", false),
        _ => ("unexpected close", false),
    }
}

/// The sentence for a close code, or for none.
pub(crate) fn describe(code: Option<u16>) -> String {
    code.map_or_else(
        || "the connection ended without a close code".to_owned(),
        |code| format!("close code {code}: {}", close_reason(code).0),
    )
}

/// Whether the gateway's `resume_gateway_url` may be used: it passes the same policy as the
/// configured gateway URL (ws(s), never clear text to a host that is not loopback).
///
/// Security: token and session theft through a forged resume URL. Whoever sends READY names
/// where the shard reconnects and sends its RESUME (token and session id); a URL that would
/// carry them in clear text off this machine, or is not a WebSocket URL, is not used, and the
/// shard resumes at the configured gateway instead.
pub(crate) fn resume_url_allowed(url: &str) -> bool {
    Url::parse(url).ok().is_some_and(|url| gateway_base(&url).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_closes_back_off_to_a_minute_and_a_healthy_session_starts_over() {
        let mut backoff = Backoff::default();
        let waits: Vec<Duration> = (0..10).map(|_| backoff.after_close().wait).collect();
        assert_eq!(waits[0], Duration::ZERO);
        for (wait, full) in waits.iter().zip([0, 1, 2, 4, 8, 16, 32, 60, 60, 60]) {
            let full = Duration::from_secs(full);
            assert!(*wait >= full / 2 && *wait <= full, "{wait:?} for {full:?}");
        }
        let steps: Vec<bool> = (0..3).map(|_| backoff.after_close().new_step).collect();
        assert_eq!(steps, [false, false, false], "no new step at the cap: one log line per step");
        backoff.connected();
        assert!(backoff.after_close().wait >= Duration::from_secs(30), "not up long enough");
    }

    #[test]
    fn a_session_that_stayed_up_reconnects_at_once() {
        let mut backoff = Backoff::default();
        for _ in 0..5 {
            backoff.after_close();
        }
        backoff.connected_at(Instant::now().checked_sub(STABLE).unwrap());
        let first = backoff.after_close();
        assert_eq!(first, Wait { wait: Duration::ZERO, new_step: true });
        assert!(backoff.after_close().wait >= Duration::from_millis(500));
    }

    #[test]
    fn close_codes_read_as_sentences_and_fatal_ones_stop() {
        assert_eq!(close_reason(4004), ("the bot token is wrong", true));
        assert!(close_reason(4014).0.contains("Message Content intent"));
        assert!(close_reason(4013).1);
        assert_eq!(close_reason(4009), ("session timed out", false));
        assert!(!close_reason(4000).1);
        assert_eq!(describe(Some(4004)), "close code 4004: the bot token is wrong");
    }

    #[test]
    fn resume_urls_follow_the_gateway_policy() {
        assert!(resume_url_allowed("wss://gateway-us-east1-b.discord.gg"));
        assert!(resume_url_allowed("ws://127.0.0.1:9000"));
        assert!(!resume_url_allowed("ws://gateway.example"), "clear text off this machine");
        assert!(!resume_url_allowed("https://gateway.discord.gg"));
        assert!(!resume_url_allowed("not a url"));
    }
}
