//! The names of Tomori's Prometheus series and of their labels, in one place so that the crates
//! that record them (tomori-llm, tomori-tools, tomori-chat, tomori-discord, tomori-store) and the
//! one that exports them (tomori-web) cannot drift apart. `docs/metrics.md` describes each.
//!
//! Security: metrics are scraped by whoever reaches the listener, and label values multiply
//! series. A label value is always one of a fixed set (an outcome, a refusal code, a built-in
//! tool's name, a cache view, a shard number) or a provider name passed through
//! [`provider_label`]: never message text, a member or server id, or a secret.

/// Turns the engine started, by `outcome` ([`TURN_OUTCOMES`]).
pub const TURNS: &str = "tomori_turns_total";
/// Turns refused before the model was called, by `reason` ([`REFUSAL_REASONS`]).
pub const TURN_REFUSALS: &str = "tomori_turn_refusals_total";
/// Seconds the engine spent building a persona's request (views, history, memories, prompt)
/// before the model call, as a histogram.
pub const ENGINE_OVERHEAD: &str = "tomori_engine_overhead_seconds";
/// Seconds from opening a model stream to its first text, by `provider`, as a histogram.
pub const MODEL_FIRST_TOKEN: &str = "tomori_model_first_token_seconds";
/// Seconds from opening a model stream to its end, by `provider`, as a histogram.
pub const MODEL_DURATION: &str = "tomori_model_duration_seconds";
/// Tokens the providers reported, by `provider` and `direction` (`in` or `out`).
pub const MODEL_TOKENS: &str = "tomori_model_tokens_total";
/// Tool calls, by `tool` ([`tool_label`]) and `verdict` ([`TOOL_VERDICTS`]).
pub const TOOL_CALLS: &str = "tomori_tool_calls_total";
/// Calls the tool gate refused, by `reason` (the gate's stable refusal code).
pub const GATE_REFUSALS: &str = "tomori_gate_refusals_total";
/// Gateway sessions a shard got back after its first (a new READY or a RESUMED), by `shard`.
pub const GATEWAY_RECONNECTS: &str = "tomori_gateway_reconnects_total";
/// Of those, the sessions resumed (RESUMED) rather than started anew, by `shard`.
pub const GATEWAY_RESUMES: &str = "tomori_gateway_resumes_total";
/// Discord REST requests sent upstream (each attempt), by `method`, `route` (through
/// [`rest_route`]) and `status` class (`2xx`, `3xx`, `4xx`, `5xx`, `error`).
pub const REST_REQUESTS: &str = "tomori_discord_rest_requests_total";
/// Of those, the 429s, by `route` and `scope` (`route`, or `global` for a global or unscoped
/// limit, which holds every request back).
pub const REST_RATE_LIMITS: &str = "tomori_discord_rest_rate_limits_total";
/// Connections of the application pool, by `state` (`idle` or `in_use`), sampled at each scrape.
pub const DB_POOL_CONNECTIONS: &str = "tomori_db_pool_connections";
/// Largest size of the application pool, sampled at each scrape.
pub const DB_POOL_MAX: &str = "tomori_db_pool_max_connections";
/// Lookups in the revision caches, by `view` and `result` (`hit` or `miss`).
pub const CACHE_LOOKUPS: &str = "tomori_cache_lookups_total";
/// Reminders the scheduler handled, by `outcome` (`delivered` or `failed`).
pub const REMINDER_DELIVERIES: &str = "tomori_reminder_deliveries_total";

/// Label keys.
pub mod label {
    /// A turn's outcome.
    pub const OUTCOME: &str = "outcome";
    /// Why something was refused.
    pub const REASON: &str = "reason";
    /// A provider, through [`super::provider_label`].
    pub const PROVIDER: &str = "provider";
    /// `in` or `out`.
    pub const DIRECTION: &str = "direction";
    /// A tool, through [`super::tool_label`].
    pub const TOOL: &str = "tool";
    /// A tool call's verdict.
    pub const VERDICT: &str = "verdict";
    /// A gateway shard's number.
    pub const SHARD: &str = "shard";
    /// A pool connection's state.
    pub const STATE: &str = "state";
    /// A revision cache.
    pub const VIEW: &str = "view";
    /// `hit` or `miss`.
    pub const RESULT: &str = "result";
    /// An HTTP method.
    pub const METHOD: &str = "method";
    /// A Discord REST route, through [`super::rest_route`].
    pub const ROUTE: &str = "route";
    /// An HTTP status class.
    pub const STATUS: &str = "status";
    /// A rate limit's scope.
    pub const SCOPE: &str = "scope";
}

/// A Discord REST path as a route template: the API version prefix and the query dropped, ids
/// as `:id`, the token after a webhook's or interaction's id as `:token`, a reaction's emoji as
/// `:emoji`. Security: labels never carry ids, tokens or what members typed (an emoji name).
pub fn rest_route(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let versioned = segments.first() == Some(&"api")
        && segments
            .get(1)
            .and_then(|v| v.strip_prefix('v'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let segments = if versioned { &segments[2..] } else { &segments[..] };
    let mut route = String::new();
    for (index, segment) in segments.iter().enumerate() {
        let before = |back: usize| index.checked_sub(back).and_then(|i| segments.get(i)).copied();
        let shown = if matches!(before(2), Some("webhooks" | "interactions")) {
            ":token"
        } else if before(1) == Some("reactions") {
            ":emoji"
        } else if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            ":id"
        } else if segment.len() <= 32
            && segment
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'_' || b == b'@')
        {
            segment
        } else {
            ":other"
        };
        route.push('/');
        route.push_str(shown);
    }
    if route.is_empty() { "/".to_owned() } else { route }
}

/// The class of an HTTP status for the `status` label.
pub fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "error",
    }
}

/// Values of `outcome` on [`TURNS`]: answered, failed (the model or the prompt could not be had),
/// cancelled (stopped or interrupted), refused (cooldown, busy or quota, counted by reason in
/// [`TURN_REFUSALS`]).
pub const TURN_OUTCOMES: &[&str] = &["answered", "failed", "cancelled", "refused"];

/// Values of `reason` on [`TURN_REFUSALS`].
pub const REFUSAL_REASONS: &[&str] =
    &["cooldown", "busy", "quota_user", "quota_pool", "quota_error"];

/// Values of `verdict` on [`TOOL_CALLS`].
pub const TOOL_VERDICTS: &[&str] = &["ok", "failed", "refused", "timeout", "cancelled"];

/// Longest provider label kept; longer names are reported as `other`.
const LABEL_MAX: usize = 32;

/// The `provider` label for a provider name. Keys pool under names such as `openrouter`, the
/// operator's `[providers.<name>]`, or `custom:<owner>:<name>` for an endpoint a server or member
/// added: only the part before the first `:` is kept, so an owner's id or an endpoint name
/// chosen in Discord never becomes a label. Anything that is not 1 to 32 of `a-z`, `0-9`, `_`
/// and `-` is `other`.
pub fn provider_label(provider: &str) -> String {
    let head = provider.split(':').next().unwrap_or_default();
    let fits = (1..=LABEL_MAX).contains(&head.len())
        && head
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if fits { head.to_owned() } else { "other".to_owned() }
}

/// The `tool` label: the tool's own name for a built-in tool, `mcp` for any other (MCP servers
/// name their tools, and a guild's server is configured from Discord).
pub fn tool_label(name: &str, built_in: bool) -> String {
    if built_in { name.to_owned() } else { "mcp".to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_routes_keep_no_ids_tokens_or_emoji() {
        for (path, route) in [
            ("/api/v10/channels/123456789012345678/messages", "/channels/:id/messages"),
            ("/api/v10/channels/1/messages?limit=80", "/channels/:id/messages"),
            (
                "/api/v10/webhooks/42/aW50ZXJhY3Rpb246MTIz.TOKEN/messages/@original",
                "/webhooks/:id/:token/messages/@original",
            ),
            ("/api/v10/interactions/9/tok-en/callback", "/interactions/:id/:token/callback"),
            (
                "/api/v10/channels/1/messages/2/reactions/%F0%9F%8D%B0/@me",
                "/channels/:id/messages/:id/reactions/:emoji/@me",
            ),
            ("/api/v10/applications/7/commands", "/applications/:id/commands"),
            ("/api/v10/channels/1/Weird%20Thing", "/channels/:id/:other"),
            ("/", "/"),
        ] {
            assert_eq!(rest_route(path), route, "{path}");
        }
        assert_eq!(
            (status_class(204), status_class(429), status_class(0)),
            ("2xx", "4xx", "error")
        );
    }

    #[test]
    fn provider_labels_keep_no_owner_or_chosen_name() {
        assert_eq!(provider_label("openrouter"), "openrouter");
        assert_eq!(provider_label("local"), "local");
        assert_eq!(provider_label("custom:s123:my-endpoint"), "custom");
        assert_eq!(provider_label("custom:member"), "custom");
        assert_eq!(provider_label("Hello World"), "other");
        assert_eq!(provider_label(""), "other");
        assert_eq!(provider_label(&"a".repeat(40)), "other");
    }

    #[test]
    fn tools_outside_the_built_in_set_are_one_label() {
        assert_eq!(tool_label("web_search", true), "web_search");
        assert_eq!(tool_label("read_secret_notes", false), "mcp");
    }
}
