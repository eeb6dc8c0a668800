//! Links to media that people paste into messages, recognised by their exact shapes: YouTube
//! videos (`watch`, `youtu.be`, `shorts`, `embed`, `live`) and GIF sites' pages (Giphy and
//! Tenor).
//!
//! Recognising is pure text work: nothing here fetches anything. A recognised YouTube video is
//! reduced to its 11-character id and rebuilt as the canonical watch URL, and a Giphy GIF to its
//! id and Giphy's media URL, so whatever else the pasted link carried (other parameters, another
//! host's look-alike) goes nowhere. A Tenor page names its GIF only in its HTML ([`og_image`]),
//! which the caller fetches and whose answer must be on Tenor's media hosts
//! ([`is_tenor_media`]).

/// The most distinct YouTube videos taken from one text (a wall of links is not a request to
/// watch all of them).
pub const MAX_LINKS: usize = 8;

/// A YouTube video id: exactly 11 characters of `A-Z a-z 0-9 - _`.
fn is_video_id(id: &str) -> bool {
    id.len() == 11 && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// The host and the rest of an `http(s)` URL, the host lower-cased and without a port.
fn split_url(url: &str) -> Option<(String, &str)> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        url.get(8..)?
    } else if lower.starts_with("http://") {
        url.get(7..)?
    } else {
        return None;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    // Security: a look-alike host. `youtube.com@evil.example` names evil.example.
    if authority.contains('@') {
        return None;
    }
    let host = authority.split(':').next().unwrap_or_default().to_ascii_lowercase();
    Some((host, path))
}

/// The id of the YouTube video `url` links to, if it is one of YouTube's link shapes.
pub fn youtube_id(url: &str) -> Option<String> {
    let (host, rest) = split_url(url.trim())?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = path.split('#').next().unwrap_or_default();
    let query = query.split('#').next().unwrap_or_default();
    let id = match host.as_str() {
        "youtu.be" => path.strip_prefix('/')?.split('/').next()?,
        "youtube.com" | "www.youtube.com" | "m.youtube.com" | "music.youtube.com" => {
            let mut segments = path.trim_start_matches('/').split('/');
            match segments.next()? {
                "watch" => query.split('&').find_map(|pair| pair.strip_prefix("v="))?,
                "shorts" | "embed" | "live" | "v" => segments.next()?,
                _ => return None,
            }
        }
        _ => return None,
    };
    is_video_id(id).then(|| id.to_owned())
}

/// The canonical watch URL of a video id (the only form handed to a model's API).
pub fn youtube_watch_url(id: &str) -> Option<String> {
    is_video_id(id).then(|| format!("https://www.youtube.com/watch?v={id}"))
}

/// The distinct YouTube videos linked in `text`, in order, at most [`MAX_LINKS`].
pub fn youtube_ids_in(text: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    // Discord writes `<url>` to suppress a preview, and links sit in Markdown's `(url)`.
    let words = text.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '(' | ')'));
    for word in words {
        if ids.len() == MAX_LINKS {
            break;
        }
        if let Some(id) = youtube_id(word)
            && !ids.contains(&id)
        {
            ids.push(id);
        }
    }
    ids
}

/// A GIF site's link, as a message carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GifLink {
    /// A Giphy GIF: its media URL, rebuilt from the id.
    Giphy(String),
    /// A Tenor page (`tenor.com/view/…`), as posted: its GIF is named in its HTML.
    TenorPage(String),
}

impl GifLink {
    /// The URL to fetch: Giphy's media file, or Tenor's page.
    pub fn url(&self) -> &str {
        match self {
            Self::Giphy(url) | Self::TenorPage(url) => url,
        }
    }
}

/// A Giphy id: letters and digits, a few to 40 of them.
fn is_giphy_id(id: &str) -> bool {
    (6..=40).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The GIF `url` links to on Giphy or Tenor, if it is one of their link shapes: Giphy's
/// `giphy.com/gifs/<slug>-<id>`, `giphy.com/embed/<id>`, `media*.giphy.com/media/<id>/…` and
/// `i.giphy.com/<id>.gif`; Tenor's `tenor.com/[<locale>/]view/<slug>-<digits>`.
pub fn gif_link(url: &str) -> Option<GifLink> {
    let url = url.trim();
    let (host, rest) = split_url(url)?;
    let path = rest.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let giphy = |id: &str| {
        is_giphy_id(id)
            .then(|| GifLink::Giphy(format!("https://media.giphy.com/media/{id}/giphy.gif")))
    };
    match (host.as_str(), segments.as_slice()) {
        ("giphy.com" | "www.giphy.com", ["gifs", slug] | ["gifs", slug, ""]) => {
            giphy(slug.rsplit('-').next()?)
        }
        ("giphy.com" | "www.giphy.com", ["embed", id, ..]) => giphy(id),
        (media, ["media", id, ..])
            if media.starts_with("media") && media.ends_with(".giphy.com") =>
        {
            giphy(id)
        }
        ("i.giphy.com", [file]) => giphy(file.strip_suffix(".gif")?),
        ("tenor.com" | "www.tenor.com", ["view", slug] | [_, "view", slug]) => {
            let digits = slug.rsplit('-').next()?;
            let slug_ok = slug.len() <= 200
                && slug.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit());
            slug_ok.then(|| GifLink::TenorPage(url.to_owned()))
        }
        _ => None,
    }
}

/// The distinct GIF links in `text`, in order, at most `max`.
pub fn gif_links_in(text: &str, max: usize) -> Vec<GifLink> {
    let mut links: Vec<GifLink> = Vec::new();
    let words = text.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '(' | ')'));
    for word in words {
        if links.len() >= max {
            break;
        }
        if let Some(link) = gif_link(word)
            && !links.contains(&link)
        {
            links.push(link);
        }
    }
    links
}

/// Whether `url` is on Tenor's media hosts (`media.tenor.com`, `media1.tenor.com`,
/// `c.tenor.com`), where a Tenor page's GIF must be.
pub fn is_tenor_media(url: &str) -> bool {
    split_url(url).is_some_and(|(host, _)| {
        matches!(host.as_str(), "media.tenor.com" | "media1.tenor.com" | "c.tenor.com")
    })
}

/// The `content` of the first `<meta property="og:image">` (or `name="og:image"`) of a page.
pub fn og_image(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower.get(from..)?.find("<meta") {
        let start = from + at;
        let end = start + lower.get(start..)?.find('>')?;
        let (tag, original) = (lower.get(start..end)?, html.get(start..end)?);
        let names_it = ["property", "name"].iter().any(|key| {
            attribute(tag, original, key).is_some_and(|v| v.eq_ignore_ascii_case("og:image"))
        });
        if names_it {
            return attribute(tag, original, "content").filter(|v| !v.is_empty());
        }
        from = end;
    }
    None
}

/// The value of `key="…"` (or `'…'`) in a tag, read from `original` at the place found in its
/// lower-cased copy `tag`, with `&amp;` undone.
fn attribute(tag: &str, original: &str, key: &str) -> Option<String> {
    let mut from = 0;
    while let Some(at) = tag.get(from..)?.find(key) {
        let start = from + at;
        let before_ok =
            start == 0 || tag.as_bytes().get(start - 1).is_some_and(u8::is_ascii_whitespace);
        let after = tag.get(start + key.len()..)?.trim_start();
        if before_ok && let Some(value) = after.strip_prefix('=') {
            let value = value.trim_start();
            let quote = value.chars().next().filter(|c| matches!(c, '"' | '\''))?;
            let offset = tag.len() - value.len() + 1;
            let len = value.get(1..)?.find(quote)?;
            return Some(original.get(offset..offset + len)?.replace("&amp;", "&"));
        }
        from = start + key.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn youtube_links_are_recognised_by_their_shapes_only() {
        let id = "dQw4w9WgXcQ";
        let cases = [
            ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", Some(id)),
            ("https://youtube.com/watch?feature=share&v=dQw4w9WgXcQ&t=42", Some(id)),
            ("http://m.youtube.com/watch?v=dQw4w9WgXcQ#t=1", Some(id)),
            ("HTTPS://WWW.YOUTUBE.COM/watch?v=dQw4w9WgXcQ", Some(id)),
            ("https://youtu.be/dQw4w9WgXcQ?si=abc", Some(id)),
            ("https://www.youtube.com/shorts/dQw4w9WgXcQ", Some(id)),
            ("https://www.youtube.com/embed/dQw4w9WgXcQ?autoplay=1", Some(id)),
            ("https://www.youtube.com/live/dQw4w9WgXcQ", Some(id)),
            ("https://music.youtube.com/watch?v=dQw4w9WgXcQ", Some(id)),
            ("https://www.youtube.com:443/watch?v=dQw4w9WgXcQ", Some(id)),
            // Not a video, not YouTube, or not an id.
            ("https://www.youtube.com/@channel", None),
            ("https://www.youtube.com/watch?v=short", None),
            ("https://www.youtube.com/watch?v=dQw4w9WgXcQ!", None),
            ("https://youtube.com.evil.example/watch?v=dQw4w9WgXcQ", None),
            ("https://www.youtube.com@evil.example/watch?v=dQw4w9WgXcQ", None),
            ("https://notyoutube.com/watch?v=dQw4w9WgXcQ", None),
            ("ftp://youtu.be/dQw4w9WgXcQ", None),
            ("youtu.be/dQw4w9WgXcQ", None),
            ("https://youtu.be/", None),
            ("", None),
            ("https://", None),
            ("é", None),
        ];
        for (url, expected) in cases {
            assert_eq!(youtube_id(url).as_deref(), expected, "{url}");
        }
        assert_eq!(
            youtube_watch_url(id).as_deref(),
            Some("https://www.youtube.com/watch?v=dQw4w9WgXcQ")
        );
        assert_eq!(youtube_watch_url("../../x?y=z"), None);
    }

    #[test]
    fn gif_links_are_recognised_and_giphy_is_rebuilt_from_its_id() {
        let giphy = |id: &str| {
            Some(GifLink::Giphy(format!("https://media.giphy.com/media/{id}/giphy.gif")))
        };
        let tenor = "https://tenor.com/view/cat-dance-gif-2519173";
        let cases = [
            ("https://giphy.com/gifs/cat-dancing-3o7TKSjRrfIPjeiVyM", giphy("3o7TKSjRrfIPjeiVyM")),
            ("https://giphy.com/gifs/3o7TKSjRrfIPjeiVyM", giphy("3o7TKSjRrfIPjeiVyM")),
            ("https://giphy.com/embed/3o7TKSjRrfIPjeiVyM", giphy("3o7TKSjRrfIPjeiVyM")),
            (
                "https://media4.giphy.com/media/3o7TKSjRrfIPjeiVyM/giphy.gif?cid=x",
                giphy("3o7TKSjRrfIPjeiVyM"),
            ),
            ("https://i.giphy.com/3o7TKSjRrfIPjeiVyM.gif", giphy("3o7TKSjRrfIPjeiVyM")),
            (tenor, Some(GifLink::TenorPage(tenor.to_owned()))),
            (
                "https://tenor.com/en-GB/view/cat-dance-gif-2519173",
                Some(GifLink::TenorPage(
                    "https://tenor.com/en-GB/view/cat-dance-gif-2519173".to_owned(),
                )),
            ),
            ("https://giphy.com/gifs/cat-../../x", None),
            ("https://giphy.com/explore/cats", None),
            ("https://media.giphy.com.evil.example/media/3o7TKSjRrfIPjeiVyM/giphy.gif", None),
            ("https://tenor.com/view/cat-dance-gif", None),
            ("https://tenor.com/view/cat%2Fdance-gif-1", None),
            ("https://tenor.com/search/cats", None),
            ("https://tenor.com@evil.example/view/cat-1", None),
            ("https://evil.example/view/cat-gif-1", None),
        ];
        for (url, expected) in cases {
            assert_eq!(gif_link(url), expected, "{url}");
        }
        let text =
            format!("lol {tenor} and <{tenor}> and https://giphy.com/embed/3o7TKSjRrfIPjeiVyM");
        assert_eq!(gif_links_in(&text, 5).len(), 2);
        assert_eq!(gif_links_in(&text, 1).len(), 1);
        assert!(is_tenor_media("https://media1.tenor.com/m/abc/cat.gif"));
        assert!(!is_tenor_media("https://media1.tenor.com.evil.example/cat.gif"));
        assert!(!is_tenor_media("https://evil.example/media.tenor.com/cat.gif"));
    }

    #[test]
    fn a_pages_og_image_is_read_whatever_its_attribute_order_and_quotes() {
        let cases = [
            (
                r#"<head><meta property="og:image" content="https://media.tenor.com/a/b.gif"></head>"#,
                Some("https://media.tenor.com/a/b.gif"),
            ),
            (
                r#"<META CONTENT='https://x/y.gif?a=1&amp;b=2' Property='OG:IMAGE' />"#,
                Some("https://x/y.gif?a=1&b=2"),
            ),
            (
                r#"<meta name="og:image:width" content="498"><meta name="og:image" content="u">"#,
                Some("u"),
            ),
            (
                r#"<meta property="og:title" content="t"><meta data-property="og:image" content="no">"#,
                None,
            ),
            (r#"<meta property="og:image" content="">"#, None),
            (r#"<meta property="og:image" content="unterminated"#, None),
            ("no meta at all", None),
            ("<meta", None),
        ];
        for (html, expected) in cases {
            assert_eq!(og_image(html).as_deref(), expected, "{html}");
        }
    }

    #[test]
    fn links_are_found_in_text_once_each_and_bounded() {
        let text = "look <https://youtu.be/dQw4w9WgXcQ> and [this](https://www.youtube.com/watch?v=aaaaaaaaaaa) \
                    again https://www.youtube.com/shorts/dQw4w9WgXcQ!";
        assert_eq!(youtube_ids_in(text), ["dQw4w9WgXcQ", "aaaaaaaaaaa"]);
        let many: String = (0..20).map(|n| format!("https://youtu.be/aaaaaaaaa{n:02} ")).collect();
        assert_eq!(youtube_ids_in(&many).len(), MAX_LINKS);
        assert!(youtube_ids_in("no links here").is_empty());
    }
}
