//! The fake's REST routes under `/api/v10/`: gateway discovery, the current user, channels,
//! messages, typing, webhooks (create, list, execute), command registration, the application,
//! and interaction callbacks and edits of the original response (JSON or multipart with files),
//! plus scripted 429 answers and the attachments a test hosts (`GET /attachments/ID/NAME`); the
//! guild model's routes are in [`super::guild`]. Every request is recorded, whatever the answer.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::multipart::{self, FakeFile};
use super::payload::{ChannelKind, UserSpec, WebhookInfo, pings, webhook_json};
use super::validate::{self, Invalid};
use super::{
    Inner, RecordedRequest, SentMessage, Shared, gateway, guild, interaction, now_timestamp, oauth,
    route_matches,
};

/// An answer a test scripted for the next requests on a route.
#[derive(Debug, Clone)]
pub(super) struct Scripted {
    pub(super) method: String,
    pub(super) route: String,
    pub(super) remaining: usize,
    /// Set for a time-bounded script: it answers until then (and `remaining` is not counted).
    pub(super) until: Option<Instant>,
    pub(super) answer: ScriptedAnswer,
}

/// What a scripted request is answered with.
#[derive(Debug, Clone)]
pub(super) enum ScriptedAnswer {
    /// 429 for a per-route bucket that resets after this long.
    RateLimited(Duration),
    /// 429 as a proxy in front of Discord (or a Discord-compatible server) sends it: no
    /// `X-RateLimit-*` bucket headers, no scope, only `Retry-After` in seconds (fractional) and
    /// the body's `retry_after`; `global` sets `X-RateLimit-Global` and the body's `global`.
    Unscoped { retry_after: Duration, global: bool },
    /// An error status with Discord's `{"message","code"}` body.
    Error { status: u16, code: u32, message: String },
}

/// A request as the routes see it.
struct Request {
    method: String,
    path: String,
    query: Option<String>,
    authorization: Option<String>,
    body: Option<Value>,
    /// The body as text, for form-encoded requests (OAuth2's token request).
    raw: String,
    files: Vec<FakeFile>,
}

impl Request {
    fn body_str(&self, key: &str) -> Option<&str> {
        self.body.as_ref()?.get(key)?.as_str()
    }

    fn query_param(&self, name: &str) -> Option<&str> {
        self.query.as_deref()?.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then_some(value)
        })
    }
}

/// An answer: status, extra headers and a JSON body (none for 204).
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Option<Value>,
}

fn ok(body: Value) -> Reply {
    Reply { status: 200, headers: Vec::new(), body: Some(body) }
}

fn no_content() -> Reply {
    Reply { status: 204, headers: Vec::new(), body: None }
}

/// Discord's error body: `{"message", "code"}`.
fn error(status: u16, code: u32, message: &str) -> Reply {
    Reply { status, headers: Vec::new(), body: Some(json!({ "message": message, "code": code })) }
}

/// 400 Invalid Form Body, naming each broken limit by its path.
fn invalid(found: &Invalid) -> Reply {
    Reply { status: 400, headers: Vec::new(), body: Some(found.body()) }
}

pub(super) async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().strip_prefix("/api/v10/").map(str::to_owned);
    let header_list: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| {
            (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned())
        })
        .collect();
    let content_type = headers
        .get("content-type")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let form = multipart::parse(&content_type, &body);
    let json_body = match &form {
        Some(form) => form.payload.as_deref().and_then(|p| serde_json::from_slice(p).ok()),
        None if body.is_empty() => None,
        None => serde_json::from_slice(&body).ok(),
    };
    let request = Request {
        method: method.as_str().to_owned(),
        path: path.clone().unwrap_or_else(|| uri.path().to_owned()),
        query: uri.query().map(str::to_owned),
        authorization: headers
            .get("authorization")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        body: json_body,
        raw: String::from_utf8_lossy(&body).into_owned(),
        files: form.map(|f| f.files).unwrap_or_default(),
    };
    let mut inner = shared.lock();
    if path.is_none() && request.method == "GET" && request.path == "/oauth2/authorize" {
        let query = request.query.clone().unwrap_or_default();
        let (status, headers, body) =
            oauth::authorize(&mut inner, shared.settings.application, &query);
        let body = (!body.is_null()).then_some(body);
        let reply = Reply { status, headers, body };
        inner.record_request(RecordedRequest {
            method: request.method.clone(),
            path: request.path.clone(),
            query: request.query.clone(),
            headers: header_list,
            body: None,
            files: Vec::new(),
            status: reply.status,
            at: Instant::now(),
        });
        drop(inner);
        shared.bump();
        return respond(reply);
    }
    if path.is_none()
        && request.method == "GET"
        && let Some(response) = hosted(&mut inner, &request, header_list.clone())
    {
        drop(inner);
        shared.bump();
        return response;
    }
    let reply = match path {
        Some(_) => route(&shared, &mut inner, &request),
        None => error(404, 0, "404: Not Found"),
    };
    inner.record_request(RecordedRequest {
        method: request.method,
        path: request.path,
        query: request.query,
        headers: header_list,
        body: request.body,
        files: request.files,
        status: reply.status,
        at: Instant::now(),
    });
    drop(inner);
    shared.bump();
    respond(reply)
}

fn respond(reply: Reply) -> Response {
    let mut response = Response::builder().status(reply.status);
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    let response = match reply.body {
        Some(body) => {
            response.header("content-type", "application/json").body(Body::from(body.to_string()))
        }
        None => response.body(Body::empty()),
    };
    response.expect("static header names, ASCII values and a known status")
}

/// `GET /attachments/ID/NAME`: an attachment the test hosted, recorded like any request.
fn hosted(
    inner: &mut Inner,
    request: &Request,
    headers: Vec<(String, String)>,
) -> Option<Response> {
    let rest = request.path.strip_prefix("/attachments/")?;
    let id: u64 = rest.split('/').next()?.parse().ok()?;
    let found = inner.hosted.get(&id).cloned();
    inner.record_request(RecordedRequest {
        method: request.method.clone(),
        path: request.path.clone(),
        query: request.query.clone(),
        headers,
        body: None,
        files: Vec::new(),
        status: if found.is_some() { 200 } else { 404 },
        at: Instant::now(),
    });
    let response = match found {
        Some((content_type, bytes)) => Response::builder()
            .status(200)
            .header("content-type", content_type)
            .header("content-length", bytes.len().to_string())
            .body(Body::from(bytes)),
        None => Response::builder().status(404).body(Body::empty()),
    };
    response.ok()
}

fn route(shared: &Shared, inner: &mut Inner, request: &Request) -> Reply {
    if let Some(scripted) = take_scripted(inner, request) {
        return match scripted.answer {
            ScriptedAnswer::RateLimited(retry_after) => limited(&scripted.route, retry_after),
            ScriptedAnswer::Unscoped { retry_after, global } => unscoped(retry_after, global),
            ScriptedAnswer::Error { status, code, message } => error(status, code, &message),
        };
    }
    let segments: Vec<&str> = request.path.split('/').collect();
    if let Some(reply) = oauth_route(shared, inner, request, &segments) {
        return reply;
    }
    // Webhook execution and interaction answers authenticate with the token in the path, never
    // with the bot token.
    let executes_webhook =
        matches!(segments.as_slice(), ["webhooks", _, _, ..] | ["interactions", _, _, "callback"]);
    let expected = format!("Bot {}", shared.settings.token);
    if !executes_webhook && request.authorization.as_deref() != Some(expected.as_str()) {
        return error(401, 0, "401: Unauthorized");
    }
    let call = guild::Call {
        method: &request.method,
        segments: &segments,
        body: request.body.as_ref(),
        thread_id: request.query_param("thread_id").and_then(|t| t.parse().ok()),
    };
    if let Some((status, body)) = guild::route(shared, inner, &call) {
        return Reply { status, headers: Vec::new(), body };
    }
    let settings = &shared.settings;
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["gateway", "bot"]) => ok(json!({
            "url": shared.gateway_url(),
            "shards": settings.shards,
            "session_start_limit": {
                "total": 1000,
                "remaining": 1000,
                "reset_after": 86_400_000,
                "max_concurrency": settings.max_concurrency,
            },
        })),
        ("GET", ["gateway"]) => ok(json!({ "url": shared.gateway_url() })),
        // The bot's own guilds (a dashboard lists the servers it shares with a member).
        ("GET", ["users", "@me", "guilds"]) => ok(Value::Array(
            inner
                .guilds
                .iter()
                .map(|(id, name)| {
                    json!({
                        "id": id.to_string(),
                        "name": name,
                        "icon": null,
                        "banner": null,
                        "owner": false,
                        "permissions": "0",
                        "features": [],
                    })
                })
                .collect(),
        )),
        ("GET", ["users", "@me"]) => {
            let mut user = settings.bot.json();
            if let Some(object) = user.as_object_mut() {
                object.insert("mfa_enabled".to_owned(), json!(false));
                object.insert("verified".to_owned(), json!(true));
                object.insert("flags".to_owned(), json!(0));
            }
            ok(user)
        }
        ("GET", ["channels", channel]) => {
            match channel.parse().ok().and_then(|c: u64| inner.channels.get(&c)) {
                Some(channel) => ok(guild::decorated(inner, channel)),
                None => error(404, 10003, "Unknown Channel"),
            }
        }
        ("GET", ["channels", channel, "messages"]) => {
            list_messages(shared, inner, channel, request)
        }
        ("POST", ["channels", channel, "messages"]) => {
            create_message(shared, inner, channel, request)
        }
        ("POST", ["channels", channel, "typing"]) => {
            match channel.parse().ok().and_then(|c: u64| inner.channels.get(&c)) {
                Some(_) => no_content(),
                None => error(404, 10003, "Unknown Channel"),
            }
        }
        ("GET", ["channels", channel, "webhooks"]) => {
            let Some(channel) =
                channel.parse::<u64>().ok().filter(|c| inner.channels.contains_key(c))
            else {
                return error(404, 10003, "Unknown Channel");
            };
            let hooks: Vec<Value> = inner
                .webhooks
                .values()
                .filter(|h| h.channel == channel && !h.gone)
                .map(|h| webhook_json(h, &settings.bot, settings.application))
                .collect();
            ok(Value::Array(hooks))
        }
        ("POST", ["channels", channel, "webhooks"]) => {
            create_webhook(shared, inner, channel, request)
        }
        ("POST", ["webhooks", webhook, token]) => {
            execute_webhook(shared, inner, webhook, token, request)
        }
        ("GET", ["applications", "@me"]) => ok(json!({
            "id": settings.application.to_string(),
            "name": settings.bot.username,
            "description": "",
            "icon": null,
            "bot_public": false,
            "bot_require_code_grant": false,
            "flags": 0,
            "team": null,
            "verify_key": "0000",
            "bot": settings.bot.json(),
        })),
        ("POST", ["interactions", id, token, "callback"]) => {
            let Some(interaction) =
                id.parse().ok().and_then(|i: u64| inner.interactions.get_mut(&i))
            else {
                return error(404, 10062, "Unknown interaction");
            };
            let data = request.body.as_ref().and_then(|b| b.get("data"));
            if let Err(found) = validate::message(data) {
                return invalid(&found);
            }
            match interaction::callback(interaction, token, request.body.as_ref(), &request.files) {
                Ok(()) => no_content(),
                Err((status, code, message)) => error(status, code, message),
            }
        }
        ("PATCH", ["webhooks", application, token, "messages", "@original"]) => {
            let found = inner.interactions.values_mut().find(|i| i.token == *token);
            let Some(interaction) =
                found.filter(|_| *application == settings.application.to_string())
            else {
                return error(404, 10015, "Unknown Webhook");
            };
            if let Err(found) = validate::message(request.body.as_ref()) {
                return invalid(&found);
            }
            match interaction::edit_original(interaction, request.body.as_ref(), &request.files) {
                Ok(()) => {
                    let (id, channel) = (interaction.id, interaction.channel);
                    let content = interaction.content.clone().unwrap_or_default();
                    ok(interaction::original_json(
                        id,
                        channel,
                        &settings.bot,
                        &content,
                        &now_timestamp(),
                    ))
                }
                Err((status, code, message)) => error(status, code, message),
            }
        }
        ("PUT", ["applications", _, "commands"] | ["applications", _, "guilds", _, "commands"]) => {
            // Discord refuses the whole bulk registration when one command breaks a limit.
            if let Err(found) = validate::commands(request.body.as_ref()) {
                return invalid(&found);
            }
            let commands =
                request.body.as_ref().and_then(Value::as_array).cloned().unwrap_or_default();
            let scope = match segments.as_slice() {
                ["applications", _, "guilds", guild, "commands"] => guild.parse().ok(),
                _ => None,
            };
            inner.commands.insert(scope, commands.clone());
            let registered: Vec<Value> = commands
                .into_iter()
                .map(|mut command| {
                    let id = inner.next_id();
                    if let Some(object) = command.as_object_mut() {
                        object.insert("id".to_owned(), json!(id.to_string()));
                        object.insert(
                            "application_id".to_owned(),
                            json!(settings.application.to_string()),
                        );
                        object.insert("version".to_owned(), json!(id.to_string()));
                    }
                    command
                })
                .collect();
            ok(Value::Array(registered))
        }
        _ => error(404, 0, "404: Not Found"),
    }
}

/// The routes a member's OAuth2 login uses: the token exchange (client credentials) and the
/// member's own user and guilds (their bearer token).
fn oauth_route(
    shared: &Shared,
    inner: &mut Inner,
    request: &Request,
    segments: &[&str],
) -> Option<Reply> {
    let application = shared.settings.application;
    match (request.method.as_str(), segments) {
        ("POST", ["oauth2", "token"]) => {
            let basic = request.authorization.as_deref();
            let (status, headers, body) = oauth::token(inner, application, &request.raw, basic);
            Some(Reply { status, headers, body: Some(body) })
        }
        ("GET", ["users", "@me"] | ["users", "@me", "guilds"])
            if request.authorization.as_deref().is_some_and(|a| a.starts_with("Bearer ")) =>
        {
            let Some((user, scopes)) = oauth::bearer(inner, request.authorization.as_deref())
            else {
                return Some(error(401, 0, "401: Unauthorized"));
            };
            if segments.len() == 2 {
                return Some(ok(user.json()));
            }
            if !scopes.iter().any(|s| s == "guilds") {
                return Some(error(403, 50001, "Missing Access"));
            }
            Some(ok(oauth::guilds(inner, &user)))
        }
        _ => None,
    }
}

fn take_scripted(inner: &mut Inner, request: &Request) -> Option<Scripted> {
    let now = Instant::now();
    // Expired time-bounded scripts go, so a long run does not scan them forever.
    inner.scripted.retain(|l| l.until.is_none_or(|until| until > now));
    let scripted = inner.scripted.iter_mut().find(|l| {
        l.remaining > 0 && l.method == request.method && route_matches(&l.route, &request.path)
    })?;
    if scripted.until.is_none() {
        scripted.remaining -= 1;
    }
    Some(scripted.clone())
}

/// A per-route 429 with the headers Discord sends: the bucket is exhausted until `retry_after`.
fn limited(route: &str, retry_after: Duration) -> Reply {
    let seconds = retry_after.as_secs_f64();
    let reset = (SystemTime::now() + retry_after).duration_since(UNIX_EPOCH).unwrap_or_default();
    Reply {
        status: 429,
        headers: vec![
            ("retry-after", retry_after.as_millis().div_ceil(1000).to_string()),
            ("x-ratelimit-limit", "5".to_owned()),
            ("x-ratelimit-remaining", "0".to_owned()),
            ("x-ratelimit-reset", format!("{:.3}", reset.as_secs_f64())),
            ("x-ratelimit-reset-after", format!("{seconds:.3}")),
            ("x-ratelimit-bucket", format!("fake-{}", route.replace('*', "id"))),
            ("x-ratelimit-scope", "user".to_owned()),
        ],
        body: Some(
            json!({ "message": "You are being rate limited.", "retry_after": seconds, "global": false }),
        ),
    }
}

/// A 429 without bucket headers or scope (see [`ScriptedAnswer::Unscoped`]).
fn unscoped(retry_after: Duration, global: bool) -> Reply {
    let seconds = retry_after.as_secs_f64();
    let mut headers = vec![("retry-after", format!("{seconds:.3}"))];
    if global {
        headers.push(("x-ratelimit-global", "true".to_owned()));
    }
    Reply {
        status: 429,
        headers,
        body: Some(
            json!({ "message": "You are being rate limited.", "retry_after": seconds, "global": global }),
        ),
    }
}

/// Discord's checks of a message body: content not empty (unless `may_be_empty`), then the
/// documented limits ([`validate::message`]).
fn check_message(request: &Request, may_be_empty: bool) -> Result<(), Reply> {
    let may_be_empty = may_be_empty || !request.files.is_empty();
    if !may_be_empty && request.body_str("content").unwrap_or_default().is_empty() {
        return Err(error(400, 50006, "Cannot send an empty message"));
    }
    check_files(request)?;
    validate::message(request.body.as_ref()).map_err(|found| invalid(&found))
}

/// Discord's upload limits: 10 files a message, at most 10 MiB in all (a server without boosts;
/// the limit is the request's, not each file's), and every uploaded file named in the payload's
/// `attachments` by its `files[n]` index.
fn check_files(request: &Request) -> Result<(), Reply> {
    if request.files.len() > validate::MAX_ATTACHMENTS {
        return Err(error(
            400,
            50035,
            "Invalid Form Body (attachments: Must be 10 or fewer in length.)",
        ));
    }
    if request.files.iter().map(|f| f.bytes.len()).sum::<usize>() > validate::MAX_UPLOAD_BYTES {
        return Err(error(413, 40005, "Request entity too large"));
    }
    let named: Vec<String> = request
        .body
        .as_ref()
        .and_then(|b| b.get("attachments"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|a| a.get("id"))
                .map(|id| id.to_string().replace('"', ""))
                .collect()
        })
        .unwrap_or_default();
    for file in &request.files {
        let index = file.field.strip_prefix("files[").and_then(|rest| rest.strip_suffix(']'));
        if index.is_none_or(|index| !named.iter().any(|id| id == index)) {
            return Err(error(
                400,
                50035,
                "Invalid Form Body (attachments: every uploaded file must be named by its id)",
            ));
        }
    }
    Ok(())
}

/// The `attachments` of a created message, as Discord echoes them.
fn attachment_objects(shared: &Shared, inner: &mut Inner, files: &[FakeFile]) -> Vec<Value> {
    files
        .iter()
        .map(|file| {
            let id = inner.next_id();
            // Served like any attachment, so a later turn may look at what was posted.
            let kind = if file.filename.ends_with(".png") {
                "image/png"
            } else {
                "application/octet-stream"
            };
            inner.hosted.insert(id, (kind.to_owned(), file.bytes.clone()));
            json!({
                "content_type": kind,
                "id": id.to_string(),
                "filename": file.filename,
                "size": file.bytes.len(),
                "url": format!("http://{}/attachments/{id}/{}", shared.addr, file.filename),
                "proxy_url": format!("http://{}/attachments/{id}/{}", shared.addr, file.filename),
            })
        })
        .collect()
}

/// The embeds of a message body, as sent.
fn embeds(request: &Request) -> Vec<Value> {
    request
        .body
        .as_ref()
        .and_then(|b| b.get("embeds"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// `GET /channels/{id}/messages`: newest first, at most `limit` (1–100, default 50), from before
/// `before` when given, as Discord documents (`around` and `after` are not served).
fn list_messages(shared: &Shared, inner: &Inner, channel: &str, request: &Request) -> Reply {
    let Some(channel) = channel.parse().ok().filter(|c: &u64| inner.channels.contains_key(c))
    else {
        return error(404, 10003, "Unknown Channel");
    };
    let limit = match request.query_param("limit").map(str::parse::<usize>) {
        None => 50,
        Some(Ok(limit)) if (1..=100).contains(&limit) => limit,
        Some(_) => {
            return error(400, 50035, "Invalid Form Body (limit: must be between 1 and 100)");
        }
    };
    let before = request.query_param("before").and_then(|v| v.parse::<u64>().ok());
    let mut listed: Vec<Value> = guild::channel_messages(shared, inner, channel)
        .into_iter()
        .filter(|(id, _)| before.is_none_or(|b| *id < b))
        .map(|(_, data)| data)
        .collect();
    listed.reverse();
    listed.truncate(limit);
    ok(Value::Array(listed))
}

fn create_message(shared: &Shared, inner: &mut Inner, channel: &str, request: &Request) -> Reply {
    let Some(channel) = channel.parse().ok().and_then(|c: u64| inner.channels.get(&c)).copied()
    else {
        return error(404, 10003, "Unknown Channel");
    };
    let content = request.body_str("content").unwrap_or_default().to_owned();
    let body = request.body.as_ref();
    let stickers: Vec<u64> = body
        .and_then(|b| b.get("sticker_ids"))
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(|id| id.as_str()?.parse().ok()).collect())
        .unwrap_or_default();
    let embeds = embeds(request);
    // A message needs text, an embed or a sticker.
    if let Err(reply) = check_message(request, stickers.len() == 1 || !embeds.is_empty()) {
        return reply;
    }
    let reply_to = body
        .and_then(|b| b.get("message_reference"))
        .and_then(|r| r.get("message_id"))
        .and_then(Value::as_str)
        .and_then(|id| id.parse().ok());
    let allowed_mentions = body.and_then(|b| b.get("allowed_mentions")).cloned();
    let bot = shared.settings.bot.clone();
    let message = SentMessage {
        id: inner.next_id(),
        channel: channel.id,
        guild: channel.guild,
        pings: pings(&content, allowed_mentions.as_ref()),
        content,
        webhook_id: None,
        username: bot.username.clone(),
        avatar_url: None,
        reply_to,
        allowed_mentions,
        stickers,
        embeds,
        files: request.files.clone(),
        at: Instant::now(),
    };
    store_and_echo(shared, inner, message, &bot)
}

fn create_webhook(shared: &Shared, inner: &mut Inner, channel: &str, request: &Request) -> Reply {
    let Some(channel) = channel.parse().ok().and_then(|c: u64| inner.channels.get(&c)).copied()
    else {
        return error(404, 10003, "Unknown Channel");
    };
    if channel.kind != ChannelKind::Text {
        return error(400, 50024, "Cannot execute action on this channel type");
    }
    let name = request.body_str("name").unwrap_or_default().to_owned();
    if let Err(found) = validate::webhook_name(Some(&name)) {
        return invalid(&found);
    }
    let id = inner.next_id();
    let hook = WebhookInfo {
        id,
        token: format!("fake-webhook-token-{}-{id:x}", inner.next_counter()),
        channel: channel.id,
        guild: channel.guild,
        name,
        gone: false,
    };
    let body = webhook_json(&hook, &shared.settings.bot, shared.settings.application);
    inner.webhooks.insert(id, hook);
    ok(body)
}

fn execute_webhook(
    shared: &Shared,
    inner: &mut Inner,
    webhook: &str,
    token: &str,
    request: &Request,
) -> Reply {
    let Some(hook) =
        webhook.parse().ok().and_then(|w: u64| inner.webhooks.get(&w)).filter(|h| !h.gone).cloned()
    else {
        return error(404, 10015, "Unknown Webhook");
    };
    if hook.token != token {
        return error(401, 50027, "Invalid Webhook Token");
    }
    if let Err(reply) = check_message(request, false) {
        return reply;
    }
    let content = request.body_str("content").unwrap_or_default().to_owned();
    let channel = match request.query_param("thread_id").map(str::parse::<u64>) {
        None => hook.channel,
        Some(Ok(thread))
            if inner
                .channels
                .get(&thread)
                .is_some_and(|c| c.kind == ChannelKind::Thread { parent: hook.channel }) =>
        {
            thread
        }
        Some(_) => return error(400, 10003, "Unknown Channel"),
    };
    let username = request.body_str("username").map_or_else(|| hook.name.clone(), str::to_owned);
    let allowed_mentions = request.body.as_ref().and_then(|b| b.get("allowed_mentions")).cloned();
    let message = SentMessage {
        id: inner.next_id(),
        channel,
        guild: hook.guild,
        pings: pings(&content, allowed_mentions.as_ref()),
        content,
        webhook_id: Some(hook.id),
        username: username.clone(),
        avatar_url: request.body_str("avatar_url").map(str::to_owned),
        reply_to: None,
        allowed_mentions,
        stickers: Vec::new(),
        embeds: embeds(request),
        files: request.files.clone(),
        at: Instant::now(),
    };
    let author = UserSpec { id: hook.id, username, global_name: None, bot: true };
    let reply = store_and_echo(shared, inner, message, &author);
    if request.query_param("wait") == Some("true") { reply } else { no_content() }
}

/// Keeps a created message, sends it back over the gateway when echo is on, and answers with it.
fn store_and_echo(
    shared: &Shared,
    inner: &mut Inner,
    message: SentMessage,
    author: &UserSpec,
) -> Reply {
    let mut object = json!({
        "id": message.id.to_string(),
        "channel_id": message.channel.to_string(),
        "author": author.json(),
        "content": message.content,
        "timestamp": now_timestamp(),
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": message.pings.everyone,
        "mentions": message.pings.users.iter().map(|u| UserSpec::new(*u, &format!("user-{u}")).json()).collect::<Vec<_>>(),
        "mention_roles": message.pings.roles.iter().map(u64::to_string).collect::<Vec<_>>(),
        "attachments": attachment_objects(shared, inner, &message.files),
        "embeds": message.embeds,
        "pinned": false,
        "type": if message.reply_to.is_some() { 19 } else { 0 },
    });
    if let Some(fields) = object.as_object_mut() {
        if let Some(guild) = message.guild {
            fields.insert("guild_id".to_owned(), json!(guild.to_string()));
        }
        if let Some(webhook) = message.webhook_id {
            fields.insert("webhook_id".to_owned(), json!(webhook.to_string()));
        }
        if let Some(reply_to) = message.reply_to {
            fields.insert(
                "message_reference".to_owned(),
                json!({
                    "type": 0,
                    "message_id": reply_to.to_string(),
                    "channel_id": message.channel.to_string(),
                    "guild_id": message.guild.map(|g| g.to_string()),
                }),
            );
        }
    }
    let guild = message.guild;
    inner.messages.push(message);
    if shared.settings.echo {
        // Discord sends the bot its own messages too; a missing session just means nobody listens.
        let _ = gateway::dispatch_for_guild(inner, guild, "MESSAGE_CREATE", object.clone());
    }
    ok(object)
}
