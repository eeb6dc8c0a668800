//! Answers a test scripts for the next requests on a route: 429s (per-route with Discord's
//! headers, or unscoped as a proxy in front of Discord sends them) and error statuses.

use std::time::Duration;

use tokio::time::Instant;

use super::{FakeDiscord, rest};

impl FakeDiscord {
    /// Answers the next `times` requests matching `method` and `route` (`*` for a segment) with
    /// 429 and Discord's headers for a per-route limit that resets after `retry_after`.
    pub fn rate_limit(&self, method: &str, route: &str, times: usize, retry_after: Duration) {
        self.script(method, route, times, rest::ScriptedAnswer::RateLimited(retry_after));
    }

    /// Answers every request matching `method` and `route` with 429 for the next `burst`, with
    /// Discord's headers for a per-route limit that resets after `retry_after` (a burst of 429s in
    /// time, where [`Self::rate_limit`] counts requests).
    pub fn rate_limit_for(
        &self,
        method: &str,
        route: &str,
        burst: Duration,
        retry_after: Duration,
    ) {
        self.shared.lock().scripted.push(rest::Scripted {
            method: method.to_ascii_uppercase(),
            route: route.to_owned(),
            remaining: usize::MAX,
            until: Some(Instant::now() + burst),
            answer: rest::ScriptedAnswer::RateLimited(retry_after),
        });
    }

    /// Answers the next `times` requests matching `method` and `route` with an error status and
    /// Discord's error body, e.g. `403, 50013, "Missing Permissions"`.
    pub fn fail(
        &self,
        method: &str,
        route: &str,
        times: usize,
        status: u16,
        code: u32,
        message: &str,
    ) {
        let answer = rest::ScriptedAnswer::Error { status, code, message: message.to_owned() };
        self.script(method, route, times, answer);
    }

    fn script(&self, method: &str, route: &str, times: usize, answer: rest::ScriptedAnswer) {
        self.shared.lock().scripted.push(rest::Scripted {
            method: method.to_ascii_uppercase(),
            route: route.to_owned(),
            remaining: times,
            until: None,
            answer,
        });
    }

    /// Answers the next `times` requests matching `method` and `route` with a 429 that carries no
    /// `X-RateLimit-Scope` nor bucket headers, only `Retry-After` (fractional seconds) and the
    /// body's `retry_after`, as a proxy in front of Discord or a Discord-compatible server does;
    /// `global` marks it global (`X-RateLimit-Global`, `"global": true`). Count what the client
    /// did with [`Self::status_count`] and [`Self::requests`].
    pub fn rate_limit_unscoped(
        &self,
        method: &str,
        route: &str,
        times: usize,
        retry_after: Duration,
        global: bool,
    ) {
        self.script(method, route, times, rest::ScriptedAnswer::Unscoped { retry_after, global });
    }

    /// Answers every request matching `method` and `route` for the next `burst` with the
    /// unscoped 429 of [`Self::rate_limit_unscoped`] (a burst in time: a client that ignores
    /// `Retry-After` makes hundreds of requests in it, one that waits makes a few).
    pub fn rate_limit_unscoped_for(
        &self,
        method: &str,
        route: &str,
        burst: Duration,
        retry_after: Duration,
        global: bool,
    ) {
        self.shared.lock().scripted.push(rest::Scripted {
            method: method.to_ascii_uppercase(),
            route: route.to_owned(),
            remaining: usize::MAX,
            until: Some(Instant::now() + burst),
            answer: rest::ScriptedAnswer::Unscoped { retry_after, global },
        });
    }
}
