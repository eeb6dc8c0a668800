//! Discord's JSON shapes as the fake writes them: users, channels, guilds, messages, webhooks,
//! and [`MessageCreate`], the builder tests use to inject a message.
//!
//! Only the fields twilight needs to deserialize an object, plus the ones Tomori reads, are
//! written. Ids are strings, as Discord sends them.

use serde_json::{Value, json};

/// A user as it appears in a message (author, mention).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    /// User id (a webhook's id when a webhook is the author).
    pub id: u64,
    /// Username.
    pub username: String,
    /// Display name, when the user set one.
    pub global_name: Option<String>,
    /// A bot account (webhook authors are bots too).
    pub bot: bool,
}

impl UserSpec {
    /// A human user.
    pub fn new(id: u64, username: &str) -> Self {
        Self { id, username: username.to_owned(), global_name: None, bot: false }
    }

    pub(super) fn json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": null,
            "bot": self.bot,
            "public_flags": 0,
        })
    }
}

/// An attachment on an injected message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentSpec {
    /// Attachment id.
    pub id: u64,
    /// File name.
    pub filename: String,
    /// Where it is served.
    pub url: String,
    /// MIME type.
    pub content_type: Option<String>,
    /// Size in bytes.
    pub size: u64,
}

/// The message an injected message replies to, as Discord includes it (`referenced_message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferencedSpec {
    /// Its id.
    pub id: u64,
    /// Its author (for a webhook message: id = the webhook's id, username = the name it posted as).
    pub author: UserSpec,
    /// Set when a webhook posted it.
    pub webhook_id: Option<u64>,
    /// Its text.
    pub content: String,
}

/// The guild member fields of an injected message's author.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberSpec {
    /// Role ids.
    pub roles: Vec<u64>,
    /// Server nickname.
    pub nick: Option<String>,
    /// Computed permissions. Discord sends these only with interactions, never with
    /// MESSAGE_CREATE; set them only to test how a consumer behaves when they are present.
    pub permissions: Option<u64>,
}

/// A MESSAGE_CREATE event to inject: build it, then pass it to
/// [`super::FakeDiscord::inject_message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageCreate {
    /// Message id; `None` lets the fake assign a fresh snowflake.
    pub id: Option<u64>,
    /// Guild, or `None` for a direct message.
    pub guild: Option<u64>,
    /// Channel (or thread).
    pub channel: u64,
    /// Author.
    pub author: UserSpec,
    /// Text.
    pub content: String,
    /// Users mentioned, in order.
    pub mentions: Vec<UserSpec>,
    /// Roles mentioned.
    pub mention_roles: Vec<u64>,
    /// `@everyone` or `@here` was mentioned.
    pub mention_everyone: bool,
    /// The replied-to message, when the message is a reply.
    pub reply_to: Option<ReferencedSpec>,
    /// Set when a webhook posted the message.
    pub webhook_id: Option<u64>,
    /// Attachments.
    pub attachments: Vec<AttachmentSpec>,
    /// Member fields (guild messages from users only).
    pub member: Option<MemberSpec>,
    /// Stickers: id, name and Discord's format type (1 PNG, 2 APNG, 3 Lottie, 4 GIF).
    pub stickers: Vec<(u64, String, u8)>,
    /// Embeds as Discord sends them (link previews: `type` "link", "article", "gifv"...).
    pub embeds: Vec<Value>,
    /// A forwarded message's snapshot fields (`content`, `attachments`, `embeds`...), making this
    /// message a forward (`message_reference.type` 1).
    pub forward: Option<Value>,
}

impl MessageCreate {
    /// A direct message from a human user; chain the other methods to change it.
    pub fn new(channel: u64, author: UserSpec, content: &str) -> Self {
        Self {
            id: None,
            guild: None,
            channel,
            author,
            content: content.to_owned(),
            mentions: Vec::new(),
            mention_roles: Vec::new(),
            mention_everyone: false,
            reply_to: None,
            webhook_id: None,
            attachments: Vec::new(),
            member: None,
            stickers: Vec::new(),
            embeds: Vec::new(),
            forward: None,
        }
    }

    /// Adds a sticker (format type 1 PNG, 2 APNG, 3 Lottie, 4 GIF).
    pub fn sticker(mut self, id: u64, name: &str, format: u8) -> Self {
        self.stickers.push((id, name.to_owned(), format));
        self
    }

    /// Adds an embed, as Discord's JSON.
    pub fn embed(mut self, embed: Value) -> Self {
        self.embeds.push(embed);
        self
    }

    /// Makes it a forward of a message with these snapshot fields.
    pub fn forward(mut self, snapshot: Value) -> Self {
        self.forward = Some(snapshot);
        self
    }

    /// Posts it in a guild channel; the author gets a member object without roles.
    pub fn in_guild(mut self, guild: u64) -> Self {
        self.guild = Some(guild);
        if self.webhook_id.is_none() && self.member.is_none() {
            self.member = Some(MemberSpec::default());
        }
        self
    }

    /// Uses this message id instead of a fresh one.
    pub fn id(mut self, id: u64) -> Self {
        self.id = Some(id);
        self
    }

    /// Marks the author as a bot account.
    pub fn bot_author(mut self) -> Self {
        self.author.bot = true;
        self
    }

    /// Mentions a user (and writes nothing into the content: add `<@id>` yourself).
    pub fn mention(mut self, user: UserSpec) -> Self {
        self.mentions.push(user);
        self
    }

    /// Makes it a reply to a user's message.
    pub fn reply_to(mut self, message: u64, author: UserSpec) -> Self {
        self.reply_to =
            Some(ReferencedSpec { id: message, author, webhook_id: None, content: String::new() });
        self
    }

    /// Makes it a reply to a message a webhook posted under `username`.
    pub fn reply_to_webhook(mut self, message: u64, webhook: u64, username: &str) -> Self {
        let mut author = UserSpec::new(webhook, username);
        author.bot = true;
        self.reply_to = Some(ReferencedSpec {
            id: message,
            author,
            webhook_id: Some(webhook),
            content: String::new(),
        });
        self
    }

    /// Makes a webhook the author, posting under the author's username. The author's id becomes
    /// the webhook's id, as Discord does, and there is no member object.
    pub fn from_webhook(mut self, webhook: u64) -> Self {
        self.webhook_id = Some(webhook);
        self.author.id = webhook;
        self.author.bot = true;
        self.member = None;
        self
    }

    /// Adds an attachment.
    pub fn attachment(mut self, attachment: AttachmentSpec) -> Self {
        self.attachments.push(attachment);
        self
    }

    /// Sets the author's member fields (roles, nickname, permissions).
    pub fn member(mut self, member: MemberSpec) -> Self {
        self.member = Some(member);
        self
    }

    /// The event's `d` object, with this message id.
    pub fn payload(&self, id: u64, timestamp: &str) -> Value {
        let mentions: Vec<Value> = self.mentions.iter().map(UserSpec::json).collect();
        let attachments: Vec<Value> = self
            .attachments
            .iter()
            .map(|a| {
                json!({
                    "id": a.id.to_string(),
                    "filename": a.filename,
                    "url": a.url,
                    "proxy_url": a.url,
                    "content_type": a.content_type,
                    "size": a.size,
                })
            })
            .collect();
        let mut message = json!({
            "id": id.to_string(),
            "channel_id": self.channel.to_string(),
            "author": self.author.json(),
            "content": self.content,
            "timestamp": timestamp,
            "edited_timestamp": null,
            "tts": false,
            "mention_everyone": self.mention_everyone,
            "mentions": mentions,
            "mention_roles": self.mention_roles.iter().map(u64::to_string).collect::<Vec<_>>(),
            "attachments": attachments,
            "embeds": self.embeds,
            "pinned": false,
            "type": if self.reply_to.is_some() { 19 } else { 0 },
        });
        let object = message.as_object_mut().expect("a JSON object literal");
        if !self.stickers.is_empty() {
            let items: Vec<Value> = self
                .stickers
                .iter()
                .map(|(id, name, format)| {
                    json!({ "id": id.to_string(), "name": name, "format_type": format })
                })
                .collect();
            object.insert("sticker_items".to_owned(), json!(items));
        }
        if let Some(snapshot) = &self.forward {
            let mut fields = json!({
                "content": "", "attachments": [], "embeds": [], "mentions": [],
                "mention_roles": [], "type": 0, "timestamp": timestamp,
                "edited_timestamp": null, "components": [],
            });
            if let (Some(fields), Some(given)) = (fields.as_object_mut(), snapshot.as_object()) {
                for (key, value) in given {
                    fields.insert(key.clone(), value.clone());
                }
            }
            object.insert(
                "message_reference".to_owned(),
                json!({ "type": 1, "message_id": "1", "channel_id": self.channel.to_string() }),
            );
            object.insert("message_snapshots".to_owned(), json!([{ "message": fields }]));
        }
        if let Some(guild) = self.guild {
            object.insert("guild_id".to_owned(), json!(guild.to_string()));
        }
        if let Some(webhook) = self.webhook_id {
            object.insert("webhook_id".to_owned(), json!(webhook.to_string()));
        }
        if let (Some(member), Some(_)) = (&self.member, self.guild) {
            let mut member_json = json!({
                "roles": member.roles.iter().map(u64::to_string).collect::<Vec<_>>(),
                "nick": member.nick,
                "joined_at": timestamp,
                "deaf": false,
                "mute": false,
                "flags": 0,
            });
            if let Some(permissions) = member.permissions {
                member_json
                    .as_object_mut()
                    .expect("a JSON object literal")
                    .insert("permissions".to_owned(), json!(permissions.to_string()));
            }
            object.insert("member".to_owned(), member_json);
        }
        if let Some(reply) = &self.reply_to {
            object.insert(
                "message_reference".to_owned(),
                json!({
                    "type": 0,
                    "message_id": reply.id.to_string(),
                    "channel_id": self.channel.to_string(),
                    "guild_id": self.guild.map(|g| g.to_string()),
                }),
            );
            let mut referenced = json!({
                "id": reply.id.to_string(),
                "channel_id": self.channel.to_string(),
                "author": reply.author.json(),
                "content": reply.content,
                "timestamp": timestamp,
                "edited_timestamp": null,
                "tts": false,
                "mention_everyone": false,
                "mentions": [],
                "mention_roles": [],
                "attachments": [],
                "embeds": [],
                "pinned": false,
                "type": 0,
            });
            if let Some(webhook) = reply.webhook_id {
                referenced
                    .as_object_mut()
                    .expect("a JSON object literal")
                    .insert("webhook_id".to_owned(), json!(webhook.to_string()));
            }
            object.insert("referenced_message".to_owned(), referenced);
        }
        message
    }
}

/// What kind of channel the fake knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ChannelKind {
    /// A guild text channel (type 0).
    Text,
    /// A public thread (type 11) under a parent channel.
    Thread { parent: u64 },
    /// A direct message (type 1) with one recipient.
    Direct { recipient: u64 },
}

/// A channel the fake knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ChannelInfo {
    pub(super) id: u64,
    pub(super) guild: Option<u64>,
    pub(super) kind: ChannelKind,
}

pub(super) fn channel_json(channel: &ChannelInfo) -> Value {
    match channel.kind {
        ChannelKind::Text => json!({
            "id": channel.id.to_string(),
            "type": 0,
            "guild_id": channel.guild.map(|g| g.to_string()),
            "name": format!("channel-{}", channel.id),
            "position": 0,
            "permission_overwrites": [],
            "nsfw": false,
        }),
        ChannelKind::Thread { parent } => json!({
            "id": channel.id.to_string(),
            "type": 11,
            "guild_id": channel.guild.map(|g| g.to_string()),
            "parent_id": parent.to_string(),
            "name": format!("thread-{}", channel.id),
            "thread_metadata": {
                "archived": false,
                "auto_archive_duration": 1440,
                "archive_timestamp": "2025-01-01T00:00:00.000000+00:00",
                "locked": false,
            },
        }),
        ChannelKind::Direct { recipient } => json!({
            "id": channel.id.to_string(),
            "type": 1,
            "recipients": [UserSpec::new(recipient, &format!("user-{recipient}")).json()],
        }),
    }
}

/// A GUILD_CREATE `d` object with the given channels and threads.
pub(super) fn guild_json(
    id: u64,
    name: &str,
    owner: u64,
    channels: &[ChannelInfo],
    joined_at: &str,
) -> Value {
    let (threads, plain): (Vec<&ChannelInfo>, Vec<&ChannelInfo>) =
        channels.iter().partition(|c| matches!(c.kind, ChannelKind::Thread { .. }));
    json!({
        "id": id.to_string(),
        "name": name,
        "icon": null,
        "owner_id": owner.to_string(),
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": [{
            "id": id.to_string(),
            "name": "@everyone",
            "color": 0,
            "colors": { "primary_color": 0, "secondary_color": null, "tertiary_color": null },
            "hoist": false,
            "position": 0,
            "permissions": "1071698660929",
            "managed": false,
            "mentionable": false,
            "flags": 0,
        }],
        "emojis": [],
        "features": [],
        "mfa_level": 0,
        "system_channel_flags": 0,
        "preferred_locale": "en-US",
        "premium_progress_bar_enabled": false,
        "nsfw_level": 0,
        "premium_tier": 0,
        "joined_at": joined_at,
        "large": false,
        "unavailable": false,
        "member_count": 2,
        "members": [],
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "stickers": [],
        "guild_scheduled_events": [],
        "channels": plain.into_iter().map(channel_json).collect::<Vec<_>>(),
        "threads": threads.into_iter().map(channel_json).collect::<Vec<_>>(),
    })
}

/// A webhook the fake created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct WebhookInfo {
    pub(super) id: u64,
    pub(super) token: String,
    pub(super) channel: u64,
    pub(super) guild: Option<u64>,
    pub(super) name: String,
    pub(super) gone: bool,
}

pub(super) fn webhook_json(hook: &WebhookInfo, creator: &UserSpec, application: u64) -> Value {
    json!({
        "id": hook.id.to_string(),
        "type": 1,
        "channel_id": hook.channel.to_string(),
        "guild_id": hook.guild.map(|g| g.to_string()),
        "name": hook.name,
        "avatar": null,
        "token": hook.token,
        "application_id": application.to_string(),
        "user": creator.json(),
    })
}

/// Who Discord would ping for a message, by its mention rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pings {
    /// `@everyone` or `@here` would notify the channel.
    pub everyone: bool,
    /// Users who would be notified, in order of first appearance.
    pub users: Vec<u64>,
    /// Roles that would be notified.
    pub roles: Vec<u64>,
    /// The author of the replied-to message would be notified.
    pub replied_user: bool,
}

/// Applies Discord's `allowed_mentions` rules to a message's content: with no `allowed_mentions`
/// every mention in the content pings; with one, only the listed kinds and ids do.
pub(super) fn pings(content: &str, allowed: Option<&Value>) -> Pings {
    let (users, roles) = mention_ids(content);
    let everyone = content.contains("@everyone") || content.contains("@here");
    let Some(allowed) = allowed else {
        return Pings { everyone, users, roles, replied_user: true };
    };
    let parse: Vec<&str> = allowed
        .get("parse")
        .and_then(Value::as_array)
        .map(|kinds| kinds.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let listed = |key: &str| -> Vec<u64> {
        allowed
            .get(key)
            .and_then(Value::as_array)
            .map(|ids| ids.iter().filter_map(|id| id.as_str()?.parse().ok()).collect())
            .unwrap_or_default()
    };
    let (allowed_users, allowed_roles) = (listed("users"), listed("roles"));
    Pings {
        everyone: everyone && parse.contains(&"everyone"),
        users: if parse.contains(&"users") {
            users
        } else {
            users.into_iter().filter(|u| allowed_users.contains(u)).collect()
        },
        roles: if parse.contains(&"roles") {
            roles
        } else {
            roles.into_iter().filter(|r| allowed_roles.contains(r)).collect()
        },
        replied_user: allowed.get("replied_user").and_then(Value::as_bool).unwrap_or(false),
    }
}

/// User ids (`<@id>`, `<@!id>`) and role ids (`<@&id>`) mentioned in `content`, deduplicated.
fn mention_ids(content: &str) -> (Vec<u64>, Vec<u64>) {
    let (mut users, mut roles) = (Vec::new(), Vec::new());
    for piece in content.split("<@").skip(1) {
        let (is_role, rest) = match piece.strip_prefix('&') {
            Some(rest) => (true, rest),
            None => (false, piece.strip_prefix('!').unwrap_or(piece)),
        };
        let Some((digits, _)) = rest.split_once('>') else { continue };
        let Ok(id) = digits.parse::<u64>() else { continue };
        let list = if is_role { &mut roles } else { &mut users };
        if !list.contains(&id) {
            list.push(id);
        }
    }
    (users, roles)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Pings, pings};

    #[test]
    fn mention_rules_follow_discord() {
        let content = "@everyone hi <@1> <@!2> <@&3> <@1>";
        assert_eq!(
            pings(content, None),
            Pings { everyone: true, users: vec![1, 2], roles: vec![3], replied_user: true }
        );
        let none = json!({ "parse": [] });
        assert_eq!(pings(content, Some(&none)), Pings::default());
        let only_two = json!({ "parse": [], "users": ["2"] });
        assert_eq!(pings(content, Some(&only_two)).users, vec![2]);
        let all_users = json!({ "parse": ["users"], "replied_user": true });
        let result = pings(content, Some(&all_users));
        assert_eq!((result.everyone, result.users, result.replied_user), (false, vec![1, 2], true));
    }
}
