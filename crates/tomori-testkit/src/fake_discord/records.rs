//! What the fake records: requests, gateway frames and deliveries, messages and webhooks.

use serde_json::Value;
use tokio::time::Instant;

use super::{FakeFile, Pings, route_matches};

/// A REST request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// HTTP method, upper case.
    pub method: String,
    /// The path after `/api/v10/`, e.g. `channels/1/messages`.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// The body, when it was JSON (for a multipart form: its `payload_json` part).
    pub body: Option<Value>,
    /// Files uploaded with a multipart form.
    pub files: Vec<FakeFile>,
    /// The status the fake answered with.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

impl RecordedRequest {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The request carried an `Authorization` header.
    pub fn has_authorization(&self) -> bool {
        self.header("authorization").is_some()
    }

    /// Method and path match; `*` in `route` stands for one path segment
    /// (`"channels/*/messages"`).
    pub fn is(&self, method: &str, route: &str) -> bool {
        self.method.eq_ignore_ascii_case(method) && route_matches(route, &self.path)
    }

    /// A query parameter's value.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.as_deref()?.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then_some(value)
        })
    }
}

/// A gateway frame the client sent.
#[derive(Debug, Clone)]
pub struct GatewayFrame {
    /// Which WebSocket connection (counted from 1 in connection order).
    pub connection: u64,
    /// The opcode (`op`).
    pub op: u64,
    /// The whole frame.
    pub payload: Value,
    /// When it arrived.
    pub at: Instant,
}

/// A dispatch the fake wrote to a gateway socket.
#[derive(Debug, Clone)]
pub struct GatewayDelivery {
    /// Which WebSocket connection (counted from 1 in connection order).
    pub connection: u64,
    /// Its sequence number in its session (a replay after RESUME repeats it).
    pub seq: u64,
    /// The event name, e.g. `MESSAGE_CREATE`.
    pub event: String,
    /// The `id` of the event's object (the message id of a MESSAGE_CREATE), when it has one.
    pub id: Option<u64>,
    /// When it was written to the socket.
    pub at: Instant,
}

/// A message the fake created through `POST channels/{id}/messages` or a webhook.
#[derive(Debug, Clone)]
pub struct SentMessage {
    /// Its id.
    pub id: u64,
    /// The channel (the thread, for a webhook message sent into one).
    pub channel: u64,
    /// The guild, if the channel is in one.
    pub guild: Option<u64>,
    /// Text.
    pub content: String,
    /// Set when a webhook posted it.
    pub webhook_id: Option<u64>,
    /// The username it was posted under (webhook override, or the bot's name).
    pub username: String,
    /// The avatar override, for webhook messages.
    pub avatar_url: Option<String>,
    /// The message it replies to.
    pub reply_to: Option<u64>,
    /// The `allowed_mentions` object as sent.
    pub allowed_mentions: Option<Value>,
    /// Who Discord would have notified.
    pub pings: Pings,
    /// Stickers sent with it.
    pub stickers: Vec<u64>,
    /// Embeds sent with it, as sent.
    pub embeds: Vec<Value>,
    /// Files uploaded with it (multipart `files[n]` parts).
    pub files: Vec<FakeFile>,
    /// When the fake created it.
    pub at: Instant,
}

/// A webhook the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeWebhook {
    /// Its id.
    pub id: u64,
    /// Its channel.
    pub channel: u64,
    /// Its name.
    pub name: String,
    /// Its token.
    pub token: String,
    /// Deleted (executing it answers 404 Unknown Webhook).
    pub gone: bool,
}
