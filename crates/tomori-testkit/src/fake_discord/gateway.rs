//! The fake's gateway WebSocket: HELLO, IDENTIFY answered with READY (then GUILD_CREATE for the
//! shard's guilds), heartbeat ACKs, RESUME with replay of missed dispatches, and dispatches routed
//! to the shard Discord would pick for a guild. Every dispatch written to a socket is logged with
//! its time ([`super::GatewayDelivery`]); a connection can be dropped without a close frame, and
//! new connections refused for a while, to play a network outage.
//!
//! Frames go out as JSON text even though twilight asks for zstd-stream: twilight decompresses
//! only binary frames.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::payload::{ChannelInfo, UserSpec, guild_json};
use super::{GatewayDelivery, GatewayFrame, Inner, REPLAY_LOG, Shared, now_timestamp};

/// Frames queued for one connection before new ones are dropped.
const OUTBOUND_CAPACITY: usize = 1_024;
/// How long the fake waits for a client to end the connection after a close handshake.
const CLOSE_DRAIN: Duration = Duration::from_secs(2);

/// What the fake sends on a connection.
#[derive(Debug)]
enum Out {
    /// A frame; dispatches carry what the delivery log records.
    Text(String, Option<Dispatched>),
    Close(u16, &'static str),
    /// End the connection without a close frame, as a network failure does.
    Drop,
}

/// A dispatch as the delivery log records it.
#[derive(Debug, Clone)]
struct Dispatched {
    seq: u64,
    event: String,
    id: Option<u64>,
}

/// One open WebSocket connection.
#[derive(Debug)]
pub(super) struct Connection {
    tx: mpsc::Sender<Out>,
    /// The session it identified or resumed, if any.
    session: Option<String>,
}

impl Connection {
    /// Queues a text frame; false when the connection is gone or its queue is full.
    pub(super) fn send(&self, text: String) -> bool {
        self.tx.try_send(Out::Text(text, None)).is_ok()
    }

    fn send_dispatch(&self, text: String, dispatched: Dispatched) -> bool {
        self.tx.try_send(Out::Text(text, Some(dispatched))).is_ok()
    }

    /// Ends the connection abruptly (no close frame).
    pub(super) fn drop_abruptly(&self) -> bool {
        self.tx.try_send(Out::Drop).is_ok()
    }

    fn close(&self, code: u16, reason: &'static str) {
        let _ = self.tx.try_send(Out::Close(code, reason));
    }
}

/// A gateway session: outlives its connection so that RESUME can pick it up.
#[derive(Debug)]
pub(super) struct Session {
    /// `[shard id, shard total]` from IDENTIFY.
    shard: [u32; 2],
    seq: u64,
    /// Recent dispatches, replayed on RESUME.
    log: VecDeque<(Dispatched, String)>,
    /// The connection currently attached, if any.
    pub(super) connection: Option<u64>,
}

pub(super) async fn upgrade(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    ws: WebSocketUpgrade,
) -> Response {
    let refused = {
        let mut inner = shared.lock();
        let refused = inner.refuse_until.is_some_and(|until| Instant::now() < until);
        if refused {
            inner.refused = inner.refused.saturating_add(1);
        } else {
            inner.connects.push(query.unwrap_or_default());
        }
        refused
    };
    shared.bump();
    if refused {
        let mut response = Response::new(axum::body::Body::from("gateway unavailable"));
        *response.status_mut() = axum::http::StatusCode::SERVICE_UNAVAILABLE;
        return response;
    }
    ws.on_upgrade(move |socket| serve(shared, socket))
}

async fn serve(shared: Arc<Shared>, mut socket: WebSocket) {
    let close_at_once = {
        let inner = shared.lock();
        inner.close_on_connect.filter(|(until, _)| Instant::now() < *until).map(|(_, code)| code)
    };
    if let Some(code) = close_at_once {
        let frame = CloseFrame { code, reason: "Closed at once by the test.".into() };
        let _ = socket.send(Message::Close(Some(frame))).await;
        shared.bump();
        return;
    }
    let (tx, mut rx) = mpsc::channel(OUTBOUND_CAPACITY);
    let id = {
        let mut inner = shared.lock();
        inner.opened = inner.opened.saturating_add(1);
        let id = inner.opened;
        inner.connections.insert(id, Connection { tx, session: None });
        id
    };
    let hello =
        json!({ "op": 10, "d": { "heartbeat_interval": shared.settings.heartbeat_interval_ms } });
    let mut shutdown = shared.shutdown.clone();
    if socket.send(Message::Text(hello.to_string().into())).await.is_ok() {
        loop {
            tokio::select! {
                () = async { drop(shutdown.wait_for(|stop| *stop).await) } => {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
                out = rx.recv() => match out {
                    Some(Out::Text(text, dispatched)) => {
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            break;
                        }
                        if let Some(Dispatched { seq, event, id: object }) = dispatched {
                            shared.lock().record_delivery(GatewayDelivery {
                                connection: id,
                                seq,
                                event,
                                id: object,
                                at: Instant::now(),
                            });
                        }
                    }
                    Some(Out::Drop) => break,
                    Some(Out::Close(code, reason)) => {
                        let frame = CloseFrame { code, reason: reason.into() };
                        let _ = socket.send(Message::Close(Some(frame))).await;
                        break;
                    }
                    None => break,
                },
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Text(text))) => on_frame(&shared, id, text.as_str()),
                    Some(Ok(Message::Close(_))) => {
                        // The WebSocket library queued the close reply; reading on sends it, and
                        // the client then ends the connection.
                        let drain = async { while let Some(Ok(_)) = socket.recv().await {} };
                        let _ = tokio::time::timeout(CLOSE_DRAIN, drain).await;
                        break;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                },
            }
        }
    }
    let mut inner = shared.lock();
    if let Some(session) = inner.connections.remove(&id).and_then(|c| c.session)
        && let Some(session) = inner.sessions.get_mut(&session)
        && session.connection == Some(id)
    {
        session.connection = None;
    }
    drop(inner);
    shared.bump();
}

fn on_frame(shared: &Shared, connection: u64, text: &str) {
    let mut inner = shared.lock();
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        if let Some(c) = inner.connections.get(&connection) {
            c.close(4002, "Decode error.");
        }
        return;
    };
    let op = frame.get("op").and_then(Value::as_u64).unwrap_or(u64::MAX);
    inner.record_frame(GatewayFrame { connection, op, payload: frame.clone(), at: Instant::now() });
    let data = frame.get("d").cloned().unwrap_or(Value::Null);
    match op {
        1 => {
            if let Some(c) = inner.connections.get(&connection) {
                c.send(r#"{"op":11}"#.to_owned());
            }
        }
        2 => identify(shared, &mut inner, connection, &data),
        6 => resume(shared, &mut inner, connection, &data),
        _ => {}
    }
    drop(inner);
    shared.bump();
}

fn token_ok(shared: &Shared, data: &Value) -> bool {
    let token = data.get("token").and_then(Value::as_str).unwrap_or_default();
    token.strip_prefix("Bot ").unwrap_or(token) == shared.settings.token
}

fn close(inner: &Inner, connection: u64, code: u16, reason: &'static str) {
    if let Some(c) = inner.connections.get(&connection) {
        c.close(code, reason);
    }
}

fn identify(shared: &Shared, inner: &mut Inner, connection: u64, data: &Value) {
    if !token_ok(shared, data) {
        return close(inner, connection, 4004, "Authentication failed.");
    }
    if inner.connections.get(&connection).is_some_and(|c| c.session.is_some()) {
        return close(inner, connection, 4005, "Already authenticated.");
    }
    let shard = data.get("shard").and_then(Value::as_array).map_or(Some([0, 1]), |pair| {
        let number =
            |i: usize| pair.get(i).and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok());
        Some([number(0)?, number(1)?])
    });
    let Some([shard_id, total]) = shard.filter(|[id, total]| id < total) else {
        return close(inner, connection, 4010, "Invalid shard.");
    };
    let session_id = format!("fake-session-{}", inner.next_counter());
    inner.sessions.insert(
        session_id.clone(),
        Session {
            shard: [shard_id, total],
            seq: 0,
            log: VecDeque::new(),
            connection: Some(connection),
        },
    );
    inner.shard_sessions.insert(shard_id, session_id.clone());
    if let Some(c) = inner.connections.get_mut(&connection) {
        c.session = Some(session_id.clone());
    }
    let guilds: Vec<(u64, String)> = inner
        .guilds
        .iter()
        .filter(|(guild, _)| shard_of(Some(**guild), total) == shard_id)
        .map(|(guild, name)| (*guild, name.clone()))
        .collect();
    let bot = &shared.settings.bot;
    let ready = json!({
        "v": 10,
        "user": {
            "id": bot.id.to_string(),
            "username": bot.username,
            "global_name": null,
            "discriminator": "0",
            "avatar": null,
            "bot": true,
            "mfa_enabled": false,
            "verified": true,
            "flags": 0,
        },
        "guilds": guilds.iter().map(|(g, _)| json!({ "id": g.to_string(), "unavailable": true })).collect::<Vec<_>>(),
        "session_id": session_id,
        "resume_gateway_url": inner.resume_url.clone().unwrap_or_else(|| shared.gateway_url()),
        "shard": [shard_id, total],
        "application": { "id": shared.settings.application.to_string(), "flags": 0 },
    });
    dispatch(inner, &session_id, "READY", ready);
    let joined_at = now_timestamp();
    for (guild, name) in guilds {
        let payload = guild_create(inner, &shared.settings.bot, guild, &name, &joined_at);
        dispatch(inner, &session_id, "GUILD_CREATE", payload);
    }
}

fn resume(shared: &Shared, inner: &mut Inner, connection: u64, data: &Value) {
    if !token_ok(shared, data) {
        return close(inner, connection, 4004, "Authentication failed.");
    }
    let session_id = data.get("session_id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let seen = data.get("seq").and_then(Value::as_u64).unwrap_or(0);
    let Inner { sessions, connections, .. } = inner;
    let Some(conn) = connections.get_mut(&connection) else { return };
    let Some(session) = sessions.get_mut(&session_id) else {
        conn.send(r#"{"op":9,"d":false}"#.to_owned());
        return;
    };
    session.connection = Some(connection);
    conn.session = Some(session_id.clone());
    for (dispatched, frame) in session.log.iter().filter(|(d, _)| d.seq > seen) {
        conn.send_dispatch(frame.clone(), dispatched.clone());
    }
    dispatch(inner, &session_id, "RESUMED", json!({}));
}

/// Sends GUILD_CREATE for a guild the fake knows (with its channels) to the shard that serves it,
/// as Discord does when the bot joins a guild. False when no session serves that shard.
pub(super) fn announce_guild(inner: &mut Inner, bot: &UserSpec, guild: u64) -> bool {
    let Some(name) = inner.guilds.get(&guild).cloned() else { return false };
    let payload = guild_create(inner, bot, guild, &name, &now_timestamp());
    dispatch_for_guild(inner, Some(guild), "GUILD_CREATE", payload)
}

/// GUILD_CREATE's `d` for a guild the fake knows: its channels, its roles (`@everyone` first)
/// and its owner, as [`super::FakeDiscord::add_role`] and [`super::FakeDiscord::set_owner`] set
/// them (user 1 when none was set, as the REST route says).
fn guild_create(inner: &Inner, bot: &UserSpec, guild: u64, name: &str, joined_at: &str) -> Value {
    let channels: Vec<ChannelInfo> =
        inner.channels.values().filter(|c| c.guild == Some(guild)).copied().collect();
    let owner = inner.guild_state.owners.get(&guild).copied().unwrap_or(1);
    let mut payload = guild_json(guild, name, owner, &channels, joined_at);
    payload["channels"] = Value::Array(super::guild::guild_channels_json(inner, guild));
    payload["roles"] = Value::Array(super::guild::roles_json(inner, guild));
    payload["emojis"] = Value::Array(super::guild::emoji_json(inner, guild));
    if let Some(channel) = inner.guild_state.system_channels.get(&guild) {
        payload["system_channel_id"] = json!(channel.to_string());
    }
    // Discord always includes the bot's own member.
    let roles = inner.guild_state.members.get(&(guild, bot.id)).cloned().unwrap_or_default();
    payload["members"] = json!([{
        "user": bot.json(),
        "roles": roles.iter().map(u64::to_string).collect::<Vec<_>>(),
        "joined_at": joined_at,
        "deaf": false,
        "mute": false,
        "flags": 0,
    }]);
    payload
}

/// Which shard Discord routes a guild's events to (`(guild_id >> 22) % total`); direct messages
/// go to shard 0.
fn shard_of(guild: Option<u64>, total: u32) -> u32 {
    match guild {
        Some(guild) if total > 0 => u32::try_from((guild >> 22) % u64::from(total)).unwrap_or(0),
        _ => 0,
    }
}

/// Sends a dispatch on a session (or logs it for RESUME when no connection is attached).
/// False when the session does not exist.
pub(super) fn dispatch(inner: &mut Inner, session_id: &str, event: &str, data: Value) -> bool {
    let Inner { sessions, connections, .. } = inner;
    let Some(session) = sessions.get_mut(session_id) else { return false };
    session.seq = session.seq.saturating_add(1);
    let id = data.get("id").and_then(Value::as_str).and_then(|id| id.parse().ok());
    let frame = json!({ "op": 0, "t": event, "s": session.seq, "d": data }).to_string();
    if session.log.len() >= REPLAY_LOG {
        session.log.pop_front();
    }
    let dispatched = Dispatched { seq: session.seq, event: event.to_owned(), id };
    session.log.push_back((dispatched.clone(), frame.clone()));
    if let Some(connection) = session.connection.and_then(|c| connections.get(&c)) {
        connection.send_dispatch(frame, dispatched);
    }
    true
}

/// Sends a dispatch to the session of the shard that serves `guild`. False when none does.
pub(super) fn dispatch_for_guild(
    inner: &mut Inner,
    guild: Option<u64>,
    event: &str,
    data: Value,
) -> bool {
    let target = inner
        .shard_sessions
        .iter()
        .find(|(shard, session)| {
            inner.sessions.get(*session).is_some_and(|s| shard_of(guild, s.shard[1]) == **shard)
        })
        .map(|(_, session)| session.clone());
    target.is_some_and(|session| dispatch(inner, &session, event, data))
}

#[cfg(test)]
mod tests {
    use super::shard_of;

    #[test]
    fn guilds_route_to_shards_as_discord_does() {
        assert_eq!(shard_of(None, 4), 0);
        assert_eq!(shard_of(Some(41_771_983_423_143_937), 1), 0);
        // (41771983423143937 >> 22) % 2 == 9959276000 % 2 == 0; one more unit of 2^22 flips it.
        assert_eq!(shard_of(Some(41_771_983_423_143_937 + (1 << 22)), 2), 1);
    }
}
