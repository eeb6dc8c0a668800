//! Links to media that people paste into messages, recognised by their exact shapes: YouTube
//! videos (`watch`, `youtu.be`, `shorts`, `embed`, `live`).
//!
//! Recognising is pure text work: nothing here fetches anything. A recognised YouTube video is
//! reduced to its 11-character id and rebuilt as the canonical watch URL, so whatever else the
//! pasted link carried (other parameters, another host's look-alike) goes nowhere.

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
    fn links_are_found_in_text_once_each_and_bounded() {
        let text = "look <https://youtu.be/dQw4w9WgXcQ> and [this](https://www.youtube.com/watch?v=aaaaaaaaaaa) \
                    again https://www.youtube.com/shorts/dQw4w9WgXcQ!";
        assert_eq!(youtube_ids_in(text), ["dQw4w9WgXcQ", "aaaaaaaaaaa"]);
        let many: String = (0..20).map(|n| format!("https://youtu.be/aaaaaaaaa{n:02} ")).collect();
        assert_eq!(youtube_ids_in(&many).len(), MAX_LINKS);
        assert!(youtube_ids_in("no links here").is_empty());
    }
}
