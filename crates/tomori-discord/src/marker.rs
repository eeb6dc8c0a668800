//! History markers on Discord (`/tool refresh`, `/tool compact`): an embed the bot posts, told
//! apart by its footer, with a compact marker's summary as its description.
//!
//! Security: forged markers. A marker moves where every later prompt's history starts, so only a
//! message the bot account itself posted (not a webhook, not another bot) with one of these
//! footers counts. The engine sends model output only as message text, never as an embed, so a
//! model cannot write a marker either.

use tomori_chat::surface::Marker;
use twilight_model::channel::Message;
use twilight_model::channel::message::Embed;
use twilight_model::id::Id;
use twilight_model::id::marker::UserMarker;
use twilight_util::builder::embed::{EmbedBuilder, EmbedFooterBuilder};

/// The footer of a refresh marker.
const REFRESH_FOOTER: &str = "Tomori · the conversation starts after this";
/// The footer of a compact marker.
const COMPACT_FOOTER: &str = "Tomori · this summary stands for the conversation before it";
/// The longest summary an embed description takes here (Discord allows 4,096).
const MAX_DESCRIPTION: usize = 4_000;

/// The embed that marks `marker`.
pub(crate) fn embed(marker: &Marker) -> Embed {
    match marker {
        Marker::Refresh => EmbedBuilder::new()
            .title("Fresh start")
            .description("Personas no longer see the messages above this one.")
            .footer(EmbedFooterBuilder::new(REFRESH_FOOTER))
            .build(),
        Marker::Compact { summary } => EmbedBuilder::new()
            .title("Conversation summarised")
            .description(summary.chars().take(MAX_DESCRIPTION).collect::<String>())
            .footer(EmbedFooterBuilder::new(COMPACT_FOOTER))
            .build(),
    }
}

/// The marker `message` is, when the bot itself posted it as one.
pub(crate) fn read(message: &Message, bot: Option<Id<UserMarker>>) -> Option<Marker> {
    if bot != Some(message.author.id) || message.webhook_id.is_some() {
        return None;
    }
    let embed = message.embeds.first()?;
    match embed.footer.as_ref()?.text.as_str() {
        REFRESH_FOOTER => Some(Marker::Refresh),
        COMPACT_FOOTER => {
            Some(Marker::Compact { summary: embed.description.clone().unwrap_or_default() })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(author: u64, webhook: Option<u64>, embed: Embed) -> Message {
        let mut json = serde_json::json!({
            "id": "10", "channel_id": "20", "content": "", "timestamp": "2026-01-01T00:00:00+00:00",
            "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
            "mention_roles": [], "attachments": [], "pinned": false, "type": 0,
            "author": { "id": author.to_string(), "username": "tomori", "discriminator": "0",
                        "avatar": null, "bot": true },
            "embeds": [embed],
        });
        if let Some(hook) = webhook {
            json["webhook_id"] = hook.to_string().into();
        }
        serde_json::from_value(json).expect("message")
    }

    #[test]
    fn only_the_bots_own_marker_embeds_are_markers() {
        let bot = Some(Id::new(1));
        let summary = Marker::Compact { summary: "they planned a trip".to_owned() };
        for marker in [Marker::Refresh, summary] {
            let own = message(1, None, embed(&marker));
            assert_eq!(read(&own, bot), Some(marker.clone()));
            assert_eq!(read(&message(2, None, embed(&marker)), bot), None, "another bot");
            assert_eq!(read(&message(1, Some(3), embed(&marker)), bot), None, "a webhook");
            assert_eq!(read(&own, None), None, "the bot's id not known yet");
        }
        let other = EmbedBuilder::new().description("x").footer(EmbedFooterBuilder::new("x"));
        assert_eq!(read(&message(1, None, other.build()), bot), None, "another embed");
    }
}
