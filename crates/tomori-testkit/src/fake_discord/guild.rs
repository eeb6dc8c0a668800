//! The fake's guild model beyond channels: channel names and categories, roles, members and
//! permission overwrites (as data: the fake serves them, it does not judge with them), stickers,
//! and what happened to messages (fetched, edited, deleted, pinned, reacted to), with the REST
//! routes that read and change them.
//!
//! Routes: `GET guilds/{id}`, `GET guilds/{id}/members/{user}`, `GET guilds/{id}/channels`,
//! `GET guilds/{id}/threads/active`, `GET guilds/{id}/stickers`, `GET/PATCH/DELETE
//! channels/{id}/messages/{id}`, `PUT channels/{id}/messages/pins/{id}`,
//! `PUT channels/{id}/messages/{id}/reactions/{emoji}/@me`, `POST channels/{id}/threads`, and
//! `PATCH/DELETE webhooks/{id}/{token}/messages/{id}`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::payload::{ChannelInfo, ChannelKind, UserSpec, channel_json, guild_json};
use super::{Inner, SentMessage, Shared, now_timestamp};

/// Discord's default `@everyone` permissions in a new guild: view, send, react, embed, attach,
/// history, threads, external stickers and a few more; no Manage Messages or Manage Server.
pub const DEFAULT_EVERYONE_PERMISSIONS: u64 = 1_071_698_660_929;

/// A permission overwrite on a channel, as Discord sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overwrite {
    /// The role (the guild's id for `@everyone`) or member it applies to.
    pub id: u64,
    /// A member overwrite rather than a role overwrite.
    pub member: bool,
    /// Permission bits allowed.
    pub allow: u64,
    /// Permission bits denied.
    pub deny: u64,
}

/// A channel that is neither text, thread nor DM: shown in channel lists, not messaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OtherChannel {
    pub(super) guild: u64,
    /// Discord's channel type (2 voice, 4 category, 5 announcement, 15 forum).
    pub(super) kind: u8,
}

/// What happened to a message through the REST routes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageState {
    /// Pinned.
    pub pinned: bool,
    /// Deleted.
    pub deleted: bool,
    /// Texts it was edited to, in order.
    pub edits: Vec<String>,
    /// Emoji the bot reacted with, in order.
    pub reactions: Vec<String>,
}

/// The guild model; lives in the fake's shared state.
#[derive(Debug, Default)]
pub(super) struct GuildState {
    pub(super) names: BTreeMap<u64, String>,
    /// A channel's category.
    pub(super) categories: BTreeMap<u64, u64>,
    pub(super) overwrites: BTreeMap<u64, Vec<Overwrite>>,
    pub(super) others: BTreeMap<u64, OtherChannel>,
    /// Per guild: the `@everyone` permissions.
    pub(super) everyone: BTreeMap<u64, u64>,
    /// Per guild: `(role, permissions)`.
    pub(super) roles: BTreeMap<u64, Vec<(u64, u64)>>,
    pub(super) owners: BTreeMap<u64, u64>,
    /// `(guild, user)` to role ids; the bot is a member of every guild without roles unless set.
    pub(super) members: BTreeMap<(u64, u64), Vec<u64>>,
    /// Per guild: the system channel GUILD_CREATE names.
    pub(super) system_channels: BTreeMap<u64, u64>,
    /// Per guild: `(id, name)`.
    pub(super) stickers: BTreeMap<u64, Vec<(u64, String)>>,
    /// Per guild: `(id, name, animated)` custom emoji.
    pub(super) emoji: BTreeMap<u64, Vec<(u64, String, bool)>>,
    /// Messages injected or added, as Discord would serve them.
    pub(super) stored: BTreeMap<u64, Value>,
    pub(super) states: BTreeMap<u64, MessageState>,
    /// Threads created through REST, with no channel otherwise known.
    pub(super) created_threads: BTreeSet<u64>,
}

/// A request as this module needs it.
pub(super) struct Call<'r> {
    pub(super) method: &'r str,
    pub(super) segments: &'r [&'r str],
    pub(super) body: Option<&'r Value>,
    pub(super) thread_id: Option<u64>,
}

/// An answer: status and optional JSON body.
pub(super) type Answer = (u16, Option<Value>);

fn error(status: u16, code: u32, message: &str) -> Answer {
    (status, Some(json!({ "message": message, "code": code })))
}

fn ok(body: Value) -> Answer {
    (200, Some(body))
}

const NO_CONTENT: Answer = (204, None);

/// A channel's JSON with the guild model's name, category and overwrites.
pub(super) fn decorated(inner: &Inner, channel: &ChannelInfo) -> Value {
    let mut json = channel_json(channel);
    let state = &inner.guild_state;
    if let Some(object) = json.as_object_mut() {
        if let Some(name) = state.names.get(&channel.id) {
            object.insert("name".to_owned(), json!(name));
        }
        if let Some(category) = state.categories.get(&channel.id) {
            object.insert("parent_id".to_owned(), json!(category.to_string()));
        }
        if matches!(channel.kind, ChannelKind::Text) {
            let overwrites: Vec<Value> = state
                .overwrites
                .get(&channel.id)
                .into_iter()
                .flatten()
                .map(|o| {
                    json!({
                        "id": o.id.to_string(),
                        "type": u8::from(o.member),
                        "allow": o.allow.to_string(),
                        "deny": o.deny.to_string(),
                    })
                })
                .collect();
            object.insert("permission_overwrites".to_owned(), Value::Array(overwrites));
        }
    }
    json
}

/// GUILD_CREATE's `channels`: every channel of the guild that is not a thread (categories,
/// voice and the rest too), each with its name, category and overwrites, as Discord sends them.
pub(super) fn guild_channels_json(inner: &Inner, guild: u64) -> Vec<Value> {
    let mut text: Vec<&ChannelInfo> = inner
        .channels
        .values()
        .filter(|c| c.guild == Some(guild) && !matches!(c.kind, ChannelKind::Thread { .. }))
        .collect();
    text.sort_by_key(|c| c.id);
    let mut others: Vec<(&u64, &OtherChannel)> =
        inner.guild_state.others.iter().filter(|(_, o)| o.guild == guild).collect();
    others.sort_by_key(|(id, _)| **id);
    text.into_iter()
        .map(|c| decorated(inner, c))
        .chain(others.into_iter().map(|(id, other)| other_json(inner, *id, *other)))
        .collect()
}

fn other_json(inner: &Inner, id: u64, other: OtherChannel) -> Value {
    let state = &inner.guild_state;
    let mut json = json!({
        "id": id.to_string(),
        "type": other.kind,
        "guild_id": other.guild.to_string(),
        "name": state.names.get(&id).cloned().unwrap_or_else(|| format!("channel-{id}")),
        "position": 0,
        "permission_overwrites": [],
        "nsfw": false,
    });
    if let (Some(category), Some(object)) = (state.categories.get(&id), json.as_object_mut()) {
        object.insert("parent_id".to_owned(), json!(category.to_string()));
    }
    json
}

pub(super) fn role_json(id: u64, name: &str, permissions: u64, position: i64) -> Value {
    json!({
        "id": id.to_string(),
        "name": name,
        "color": 0,
        "colors": { "primary_color": 0, "secondary_color": null, "tertiary_color": null },
        "hoist": false,
        "position": position,
        "permissions": permissions.to_string(),
        "managed": false,
        "mentionable": false,
        "flags": 0,
    })
}

/// The guild's roles as Discord lists them, `@everyone` first.
pub(super) fn roles_json(inner: &Inner, guild: u64) -> Vec<Value> {
    let state = &inner.guild_state;
    let everyone = state.everyone.get(&guild).copied().unwrap_or(DEFAULT_EVERYONE_PERMISSIONS);
    let mut roles = vec![role_json(guild, "@everyone", everyone, 0)];
    for (position, (role, permissions)) in state.roles.get(&guild).into_iter().flatten().enumerate()
    {
        let position = i64::try_from(position).unwrap_or(0) + 1;
        roles.push(role_json(*role, &format!("role-{role}"), *permissions, position));
    }
    roles
}

/// A message the fake sent, as `GET channels/{id}/messages/{id}` serves it.
/// A guild's custom emoji as GUILD_CREATE and GUILD_EMOJIS_UPDATE list them.
pub(super) fn emoji_json(inner: &Inner, guild: u64) -> Vec<Value> {
    inner
        .guild_state
        .emoji
        .get(&guild)
        .into_iter()
        .flatten()
        .map(|(id, name, animated)| {
            json!({
                "id": id.to_string(),
                "name": name,
                "roles": [],
                "require_colons": true,
                "managed": false,
                "animated": animated,
                "available": true,
            })
        })
        .collect()
}

/// The messages of `channel` that Discord would list (`GET /channels/{id}/messages`): those
/// injected or added and those sent through REST, not deleted, as the REST routes serve them.
pub(super) fn channel_messages(shared: &Shared, inner: &Inner, channel: u64) -> Vec<(u64, Value)> {
    let deleted = |id: &u64| inner.guild_state.states.get(id).is_some_and(|s| s.deleted);
    let mut listed: Vec<(u64, Value)> = inner
        .guild_state
        .stored
        .iter()
        .filter(|(id, data)| {
            !deleted(id)
                && data.get("channel_id").and_then(Value::as_str) == Some(&channel.to_string())
        })
        .map(|(id, data)| (*id, data.clone()))
        .collect();
    listed.extend(
        inner
            .messages
            .iter()
            .filter(|m| m.channel == channel && !deleted(&m.id))
            .map(|m| (m.id, sent_json(m, &shared.settings.bot))),
    );
    listed.sort_by_key(|(id, _)| *id);
    listed.dedup_by_key(|(id, _)| *id);
    listed
}

pub(super) fn sent_json(message: &SentMessage, bot: &UserSpec) -> Value {
    let author = match message.webhook_id {
        Some(hook) => {
            UserSpec { id: hook, username: message.username.clone(), global_name: None, bot: true }
        }
        None => bot.clone(),
    };
    let mut object = json!({
        "id": message.id.to_string(),
        "channel_id": message.channel.to_string(),
        "author": author.json(),
        "content": message.content,
        "timestamp": now_timestamp(),
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": message.embeds,
        "pinned": false,
        "type": 0,
    });
    if let Some(fields) = object.as_object_mut() {
        if let Some(guild) = message.guild {
            fields.insert("guild_id".to_owned(), json!(guild.to_string()));
        }
        if let Some(webhook) = message.webhook_id {
            fields.insert("webhook_id".to_owned(), json!(webhook.to_string()));
        }
    }
    object
}

fn parse(segment: &str) -> Option<u64> {
    segment.parse().ok()
}

/// Answers the routes of this module; `None` for any other request.
pub(super) fn route(shared: &Shared, inner: &mut Inner, call: &Call<'_>) -> Option<Answer> {
    let answer = match (call.method, call.segments) {
        ("GET", ["guilds", guild]) => {
            let guild = parse(guild).filter(|g| inner.guilds.contains_key(g))?;
            let name = inner.guilds.get(&guild).cloned().unwrap_or_default();
            let owner = inner.guild_state.owners.get(&guild).copied().unwrap_or(1);
            let mut json = guild_json(guild, &name, owner, &[], &now_timestamp());
            if let Some(object) = json.as_object_mut() {
                object.insert("roles".to_owned(), Value::Array(roles_json(inner, guild)));
                for key in ["channels", "threads", "members", "voice_states", "presences"] {
                    object.remove(key);
                }
            }
            ok(json)
        }
        ("GET", ["guilds", guild, "members", user]) => {
            let (guild, user) = (parse(guild)?, parse(user)?);
            let bot = &shared.settings.bot;
            let roles = match inner.guild_state.members.get(&(guild, user)) {
                Some(roles) => roles.clone(),
                None if user == bot.id && inner.guilds.contains_key(&guild) => Vec::new(),
                None => return Some(error(404, 10007, "Unknown Member")),
            };
            let spec = if user == bot.id {
                bot.clone()
            } else {
                UserSpec::new(user, &format!("user-{user}"))
            };
            ok(json!({
                "user": spec.json(),
                "roles": roles.iter().map(u64::to_string).collect::<Vec<_>>(),
                "nick": null,
                "joined_at": now_timestamp(),
                "deaf": false,
                "mute": false,
                "flags": 0,
                "communication_disabled_until": null,
            }))
        }
        ("GET", ["guilds", guild, "channels"]) => {
            let guild = parse(guild)?;
            let mut list: Vec<Value> = inner
                .channels
                .values()
                .filter(|c| c.guild == Some(guild) && !matches!(c.kind, ChannelKind::Thread { .. }))
                .map(|c| decorated(inner, c))
                .collect();
            list.extend(
                inner
                    .guild_state
                    .others
                    .iter()
                    .filter(|(_, o)| o.guild == guild)
                    .map(|(id, o)| other_json(inner, *id, *o)),
            );
            ok(Value::Array(list))
        }
        ("GET", ["guilds", guild, "threads", "active"]) => {
            let guild = parse(guild)?;
            let threads: Vec<Value> = inner
                .channels
                .values()
                .filter(|c| c.guild == Some(guild) && matches!(c.kind, ChannelKind::Thread { .. }))
                .map(|c| decorated(inner, c))
                .collect();
            ok(json!({ "threads": threads, "members": [] }))
        }
        ("GET", ["guilds", guild, "stickers"]) => {
            let guild = parse(guild)?;
            let stickers: Vec<Value> = inner
                .guild_state
                .stickers
                .get(&guild)
                .into_iter()
                .flatten()
                .map(|(id, name)| {
                    json!({
                        "id": id.to_string(),
                        "name": name,
                        "description": format!("the {name} sticker"),
                        "tags": "🙂",
                        "type": 2,
                        "format_type": 1,
                        "available": true,
                        "guild_id": guild.to_string(),
                    })
                })
                .collect();
            ok(Value::Array(stickers))
        }
        ("GET", ["channels", _, "messages", message]) => {
            let message = parse(message)?;
            if inner.guild_state.states.get(&message).is_some_and(|s| s.deleted) {
                return Some(error(404, 10008, "Unknown Message"));
            }
            if let Some(stored) = inner.guild_state.stored.get(&message) {
                return Some(ok(stored.clone()));
            }
            match inner.messages.iter().find(|m| m.id == message) {
                Some(sent) => ok(sent_json(sent, &shared.settings.bot)),
                None => error(404, 10008, "Unknown Message"),
            }
        }
        ("PATCH", ["channels", _, "messages", message]) => {
            let message = parse(message)?;
            let own = inner.messages.iter().any(|m| m.id == message && m.webhook_id.is_none());
            if !own {
                return Some(error(403, 50005, "Cannot edit a message authored by another user"));
            }
            edit(shared, inner, message, call.body)
        }
        ("DELETE", ["channels", _, "messages", message]) => {
            let message = parse(message)?;
            let known = inner.messages.iter().any(|m| m.id == message)
                || inner.guild_state.stored.contains_key(&message);
            if !known {
                return Some(error(404, 10008, "Unknown Message"));
            }
            inner.guild_state.states.entry(message).or_default().deleted = true;
            NO_CONTENT
        }
        ("PATCH" | "DELETE", ["webhooks", hook, token, "messages", message]) => {
            let (hook, message) = (parse(hook)?, parse(message)?);
            let Some(info) = inner.webhooks.get(&hook).filter(|h| !h.gone) else {
                return Some(error(404, 10015, "Unknown Webhook"));
            };
            if info.token != *token {
                return Some(error(401, 50027, "Invalid Webhook Token"));
            }
            let Some(sent) =
                inner.messages.iter().find(|m| m.id == message && m.webhook_id == Some(hook))
            else {
                return Some(error(404, 10008, "Unknown Message"));
            };
            if sent.channel != info.channel && call.thread_id != Some(sent.channel) {
                return Some(error(404, 10008, "Unknown Message"));
            }
            if call.method == "DELETE" {
                inner.guild_state.states.entry(message).or_default().deleted = true;
                NO_CONTENT
            } else {
                edit(shared, inner, message, call.body)
            }
        }
        ("PUT", ["channels", _, "messages", "pins", message]) => {
            let message = parse(message)?;
            inner.guild_state.states.entry(message).or_default().pinned = true;
            NO_CONTENT
        }
        ("PUT", ["channels", _, "messages", message, "reactions", emoji, "@me"]) => {
            let message = parse(message)?;
            let emoji = percent_decode(emoji);
            inner.guild_state.states.entry(message).or_default().reactions.push(emoji);
            NO_CONTENT
        }
        ("POST", ["channels", parent, "threads"]) => {
            let parent = parse(parent)?;
            let Some(parent_info) = inner.channels.get(&parent).copied() else {
                return Some(error(404, 10003, "Unknown Channel"));
            };
            if parent_info.kind != ChannelKind::Text {
                return Some(error(400, 50024, "Cannot execute action on this channel type"));
            }
            let name =
                call.body.and_then(|b| b.get("name")).and_then(Value::as_str).unwrap_or_default();
            if name.is_empty() || name.chars().count() > 100 {
                return Some(error(400, 50035, "Invalid Form Body (name)"));
            }
            let id = inner.next_id();
            let thread =
                ChannelInfo { id, guild: parent_info.guild, kind: ChannelKind::Thread { parent } };
            inner.channels.insert(id, thread);
            inner.guild_state.names.insert(id, name.to_owned());
            inner.guild_state.created_threads.insert(id);
            (201, Some(decorated(inner, &thread)))
        }
        _ => return None,
    };
    Some(answer)
}

fn edit(shared: &Shared, inner: &mut Inner, message: u64, body: Option<&Value>) -> Answer {
    let Some(content) = body.and_then(|b| b.get("content")).and_then(Value::as_str) else {
        return error(400, 50006, "Cannot send an empty message");
    };
    if content.is_empty() || content.chars().count() > 2000 {
        return error(400, 50035, "Invalid Form Body (content)");
    }
    inner.guild_state.states.entry(message).or_default().edits.push(content.to_owned());
    let Some(sent) = inner.messages.iter_mut().find(|m| m.id == message) else {
        return error(404, 10008, "Unknown Message");
    };
    content.clone_into(&mut sent.content);
    ok(sent_json(sent, &shared.settings.bot))
}

/// `%F0%9F%91%8D` to `👍`; anything malformed is kept as it is.
pub(super) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn emoji_paths_decode() {
        assert_eq!(percent_decode("%F0%9F%91%8D"), "👍");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
