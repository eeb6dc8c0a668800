//! MESSAGE_CREATE as the engine sees it: a twilight [`Message`] mapped to an [`Inbound`].
//!
//! What the mapping does not know it reports conservatively: an author is a manager only when
//! Discord's permissions say so or the guild's roles as the gateway described them do
//! ([`Directory::manages_server`]), and a reply whose referenced message Discord left out
//! (deleted, or not included) has no `reply_to`.

use tomori_chat::surface::{Inbound, InboundAuthor, InboundReply};
use tomori_core::id::SnowflakeError;
use twilight_model::channel::Message;
use twilight_model::channel::message::{MessageReferenceType, MessageType};
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, UserMarker};

use crate::directory::Directory;
use crate::id::snowflake;
use crate::permissions::is_manager;
use crate::seen::{Shown, seen};

/// Maps a message; `bot` is the bot's own user (for `mentions_bot`) and `parent` the thread's
/// parent channel when the message is in a thread; `directory` knows the guild's roles.
///
/// # Errors
/// An id above `i64::MAX`, which Discord does not issue; the message is skipped.
pub(crate) fn map_message(
    message: &Message,
    bot: Option<Id<UserMarker>>,
    parent: Option<Id<ChannelMarker>>,
    directory: &Directory,
) -> Result<Inbound, SnowflakeError> {
    let author = match message.webhook_id {
        // Security: spoofing. A webhook posts under any name and avatar it likes, so it is
        // identified by its webhook id, never by the name; the engine trusts only the webhooks it
        // manages itself and treats every other one as an untrusted bot.
        Some(webhook) => InboundAuthor {
            id: snowflake(webhook)?,
            name: message.author.name.clone(),
            is_bot: true,
            webhook: Some(snowflake(webhook)?),
        },
        None => InboundAuthor {
            id: snowflake(message.author.id)?,
            name: message
                .member
                .as_ref()
                .and_then(|m| m.nick.clone())
                .or_else(|| message.author.global_name.clone())
                .unwrap_or_else(|| message.author.name.clone()),
            is_bot: message.author.bot,
            webhook: None,
        },
    };
    let is_reply = message.kind == MessageType::Reply
        && message.reference.as_ref().is_some_and(|r| r.kind == MessageReferenceType::Default);
    let reply_to = match message.referenced_message.as_deref() {
        Some(referenced) if is_reply => Some(InboundReply {
            message: snowflake(referenced.id)?,
            author: snowflake(referenced.author.id)?,
            webhook: referenced.webhook_id.map(snowflake).transpose()?,
            webhook_name: referenced.webhook_id.map(|_| referenced.author.name.clone()),
        }),
        _ => None,
    };
    let member = message.member.as_ref();
    let shown = Shown {
        content: &message.content,
        attachments: &message.attachments,
        stickers: &message.sticker_items,
        embeds: &message.embeds,
    };
    let forwarded = message.message_snapshots.first().map(|s| Shown {
        content: &s.message.content,
        attachments: &s.message.attachments,
        stickers: &s.message.sticker_items,
        embeds: &s.message.embeds,
    });
    let (content, attachments) = seen(&shown, forwarded.as_ref());
    Ok(Inbound {
        guild: message.guild_id.map(snowflake).transpose()?,
        guild_name: None,
        channel: snowflake(message.channel_id)?,
        parent_channel: parent.map(snowflake).transpose()?,
        category: directory.category(message.channel_id, parent).map(snowflake).transpose()?,
        message: snowflake(message.id)?,
        author,
        content,
        mentions_bot: bot.is_some_and(|bot| message.mentions.iter().any(|m| m.id == bot)),
        mentions: message.mentions.iter().map(|m| snowflake(m.id)).collect::<Result<_, _>>()?,
        reply_to,
        author_roles: member
            .map(|m| m.roles.iter().map(|r| snowflake(*r)).collect::<Result<_, _>>())
            .transpose()?
            .unwrap_or_default(),
        // Security: ManageGuild boundary. Discord sends computed permissions with interactions,
        // not with MESSAGE_CREATE, whose member carries only roles: those are weighed against
        // the guild's roles from the gateway. A webhook is never a manager, and what cannot be
        // told means "not an admin".
        author_is_admin: match (member, message.guild_id, message.webhook_id) {
            (Some(m), _, None) if m.permissions.is_some() => m.permissions.is_some_and(is_manager),
            (Some(m), Some(guild), None) => {
                directory.manages_server(guild, message.author.id, &m.roles)
            }
            _ => false,
        },
        attachments,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tomori_core::id::Snowflake;
    use twilight_model::channel::Message;
    use twilight_model::id::Id;

    use super::map_message;
    use crate::directory::Directory;

    fn map(
        message: &Message,
        bot: Option<Id<twilight_model::id::marker::UserMarker>>,
    ) -> Result<tomori_chat::surface::Inbound, tomori_core::id::SnowflakeError> {
        map_message(message, bot, None, &Directory::default())
    }

    fn user(id: &str, name: &str) -> serde_json::Value {
        json!({ "id": id, "username": name, "discriminator": "0", "avatar": null })
    }

    fn message(extra: serde_json::Value) -> Message {
        let mut base = json!({
            "id": "10", "channel_id": "20", "guild_id": "30", "author": user("40", "alice"),
            "content": "hi", "timestamp": "2025-01-01T00:00:00.000000+00:00",
            "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
            "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0,
        });
        for (key, value) in extra.as_object().unwrap() {
            base[key] = value.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn s(raw: u64) -> Snowflake {
        Snowflake::new(raw).unwrap()
    }

    #[test]
    fn display_name_prefers_nick_then_global_name() {
        let plain = map(&message(json!({})), None).unwrap();
        assert_eq!(plain.author.name, "alice");
        let global = message(json!({ "author": {
            "id": "40", "username": "alice", "global_name": "Alice A.", "discriminator": "0", "avatar": null
        }}));
        assert_eq!(map(&global, None).unwrap().author.name, "Alice A.");
        let nick = message(json!({ "member": {
            "roles": ["7"], "nick": "Ali", "joined_at": null, "deaf": false, "mute": false, "flags": 0
        }}));
        let mapped = map(&nick, None).unwrap();
        assert_eq!((mapped.author.name.as_str(), mapped.author_roles.clone()), ("Ali", vec![s(7)]));
        assert!(!mapped.author_is_admin, "no permissions sent means not an admin");
    }

    #[test]
    fn member_permissions_decide_admin_when_present() {
        let admin = message(json!({ "member": {
            "roles": [], "joined_at": null, "deaf": false, "mute": false, "flags": 0, "permissions": "32"
        }}));
        assert!(map(&admin, None).unwrap().author_is_admin);
        let plain = message(json!({ "member": {
            "roles": [], "joined_at": null, "deaf": false, "mute": false, "flags": 0, "permissions": "2048"
        }}));
        assert!(!map(&plain, None).unwrap().author_is_admin);
    }

    #[test]
    fn forwards_are_not_replies() {
        let forward = message(json!({
            "type": 0,
            "message_reference": { "type": 1, "message_id": "5", "channel_id": "6" },
        }));
        assert_eq!(map(&forward, None).unwrap().reply_to, None);
    }

    #[test]
    fn a_reply_without_the_referenced_message_has_no_reply_to() {
        let reply = message(json!({
            "type": 19,
            "message_reference": { "type": 0, "message_id": "5", "channel_id": "20" },
        }));
        assert_eq!(map(&reply, Some(Id::new(40))).unwrap().reply_to, None);
    }

    #[test]
    fn oversized_ids_are_refused() {
        let huge = message(json!({ "id": u64::MAX.to_string() }));
        assert!(map(&huge, None).is_err());
    }

    #[test]
    fn stickers_previews_emoji_and_forwards_reach_the_text_and_images() {
        let shown = message(json!({
            "content": "look <:tea:123456>",
            "sticker_items": [
                { "id": "901", "name": "wave", "format_type": 1 },
                { "id": "902", "name": "dance", "format_type": 3 },
                { "id": "903", "name": "spin", "format_type": 4 },
            ],
            "embeds": [
                { "type": "link", "title": "Lantern festival", "description": "In spring.\nBring tea.",
                  "provider": { "name": "News" },
                  "thumbnail": { "url": "https://example.org/t.png",
                                 "proxy_url": "https://images-ext-1.discordapp.net/t.png" } },
                { "type": "gifv", "provider": { "name": "Tenor" },
                  "thumbnail": { "url": "https://media.tenor.com/x.gif" } },
                { "type": "rich", "title": "a bot's own embed" },
            ],
            "message_reference": { "type": 1, "message_id": "5", "channel_id": "6" },
            "message_snapshots": [{ "message": {
                "content": "the original <a:party:77>", "attachments": [], "embeds": [],
                "mentions": [], "mention_roles": [], "type": 0, "components": [],
                "timestamp": "2025-01-01T00:00:00.000000+00:00", "edited_timestamp": null,
            }}],
        }));
        let inbound = map(&shown, None).unwrap();
        assert_eq!(
            inbound.content,
            "look :tea:\n[sticker: wave]\n[sticker: dance]\n[sticker: spin]\n\
             [link: News — Lantern festival — In spring. Bring tea.]\n[GIF: Tenor]\n\
             [forwarded message: the original :party:]"
        );
        let urls: Vec<&str> = inbound.attachments.iter().map(|a| a.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://media.discordapp.net/stickers/901.png",
                "https://media.discordapp.net/stickers/903.gif",
                "https://images-ext-1.discordapp.net/t.png",
                "https://media.tenor.com/x.gif",
            ],
            "Lottie stays a name; the proxy is preferred; a bot's rich embed is not a preview"
        );
        assert!(
            inbound
                .attachments
                .iter()
                .all(|a| a.content_type.as_deref().is_some_and(|t| t.starts_with("image/")))
        );
        assert_eq!(inbound.reply_to, None, "a forward is not a reply");
    }

    #[test]
    fn long_previews_and_many_stickers_are_cut() {
        let long = "x".repeat(5_000);
        let shown = message(json!({
            "embeds": (0..10).map(|_| json!({ "type": "article", "title": long, "description": long })).collect::<Vec<_>>(),
            "sticker_items": (0..5).map(|n| json!({ "id": (900 + n).to_string(), "name": "s", "format_type": 1 })).collect::<Vec<_>>(),
        }));
        let inbound = map(&shown, None).unwrap();
        assert_eq!(inbound.content.matches("[link").count(), 3);
        assert_eq!(inbound.content.matches("[sticker").count(), 3);
        assert!(inbound.content.chars().count() < 2_000, "{}", inbound.content.len());
    }
}
