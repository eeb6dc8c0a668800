//! What a message shows besides its text, in words the model reads and images it can see:
//! custom emoji as `:name:`, stickers (PNG, APNG and GIF as images, Lottie by name), link
//! previews (title and description, their image), and a forwarded message's snapshot.
//!
//! Security: prompt injection and resource use through embeds and forwards. All of it is the
//! member's message, shown as such (never as an instruction), cut to fixed lengths and counts;
//! images go through the engine's media window and caps like attachments, fetched through
//! Discord's media proxy where it gives one, by the media policy either way.

use tomori_chat::surface::Attachment;
use tomori_core::emoji::shortcodes;
use twilight_model::channel::Attachment as DiscordAttachment;
use twilight_model::channel::message::embed::Embed;
use twilight_model::channel::message::sticker::{MessageSticker, StickerFormatType};

/// Stickers, embeds and forwards a message may show (Discord sends at most 3 stickers).
const MAX_STICKERS: usize = 3;
const MAX_EMBEDS: usize = 3;
/// Characters of an embed's title and description, and of a forwarded message's text.
const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 400;
const MAX_FORWARD: usize = 2_000;

/// The parts of a message (or of a forwarded message's snapshot) this reads.
pub(crate) struct Shown<'a> {
    pub(crate) content: &'a str,
    pub(crate) attachments: &'a [DiscordAttachment],
    pub(crate) stickers: &'a [MessageSticker],
    pub(crate) embeds: &'a [Embed],
}

fn cut(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out.replace(['\n', '\r'], " ")
}

fn image(url: &str, filename: String, content_type: &str) -> Attachment {
    Attachment {
        url: url.to_owned(),
        filename,
        content_type: Some(content_type.to_owned()),
        size: 0,
    }
}

fn attachments(from: &[DiscordAttachment]) -> impl Iterator<Item = Attachment> + '_ {
    from.iter().map(|a| Attachment {
        url: a.url.clone(),
        filename: a.filename.clone(),
        content_type: a.content_type.clone(),
        size: a.size,
    })
}

fn stickers(from: &[MessageSticker], lines: &mut Vec<String>, images: &mut Vec<Attachment>) {
    for sticker in from.iter().take(MAX_STICKERS) {
        lines.push(format!("[sticker: {}]", cut(&sticker.name, 60)));
        // Discord's CDN serves PNG and APNG stickers as .png and GIF stickers as .gif; Lottie
        // stickers are vector animations no model sees, so they stay a name.
        let (extension, kind) = match sticker.format_type {
            StickerFormatType::Png | StickerFormatType::Apng => ("png", "image/png"),
            StickerFormatType::Gif => ("gif", "image/gif"),
            _ => continue,
        };
        let url = format!("https://media.discordapp.net/stickers/{}.{extension}", sticker.id);
        images.push(image(&url, format!("sticker-{}.{extension}", sticker.id), kind));
    }
}

fn embeds(from: &[Embed], lines: &mut Vec<String>, images: &mut Vec<Attachment>) {
    // "rich" embeds are what bots and webhooks post (this bot's history markers among them);
    // the others are Discord's previews of links members posted.
    for embed in from.iter().filter(|e| e.kind != "rich").take(MAX_EMBEDS) {
        let site = embed.provider.as_ref().and_then(|p| p.name.as_deref());
        let title = embed.title.as_deref().map(|t| cut(t, MAX_TITLE));
        let description = embed.description.as_deref().map(|d| cut(d, MAX_DESCRIPTION));
        let what = if embed.kind == "gifv" { "GIF" } else { "link" };
        let mut line = format!("[{what}");
        for part in [site.map(|s| cut(s, 60)), title, description].into_iter().flatten() {
            line.push_str(if line.len() == what.len() + 1 { ": " } else { " — " });
            line.push_str(&part);
        }
        line.push(']');
        lines.push(line);
        let picture =
            embed.image.as_ref().map(|i| i.proxy_url.as_deref().unwrap_or(&i.url)).or_else(|| {
                embed.thumbnail.as_ref().map(|t| t.proxy_url.as_deref().unwrap_or(&t.url))
            });
        if let Some(url) = picture {
            let kind = if embed.kind == "gifv" || url.contains(".gif") {
                "image/gif"
            } else {
                "image/png"
            };
            images.push(image(url, "embed-image".to_owned(), kind));
        }
    }
}

/// The message's text as the model reads it, and its images (attachments first).
pub(crate) fn seen(
    message: &Shown<'_>,
    forwarded: Option<&Shown<'_>>,
) -> (String, Vec<Attachment>) {
    let mut lines = vec![shortcodes(message.content)];
    let mut images: Vec<Attachment> = attachments(message.attachments).collect();
    stickers(message.stickers, &mut lines, &mut images);
    embeds(message.embeds, &mut lines, &mut images);
    if let Some(snapshot) = forwarded {
        lines.push(format!(
            "[forwarded message: {}]",
            cut(&shortcodes(snapshot.content), MAX_FORWARD)
        ));
        images.extend(attachments(snapshot.attachments));
        stickers(snapshot.stickers, &mut lines, &mut images);
        embeds(snapshot.embeds, &mut lines, &mut images);
    }
    let text = lines.into_iter().filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n");
    (text, images)
}
