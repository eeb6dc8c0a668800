//! Videos posted as attachments, for models that watch them (Gemini's): the newest video of the
//! recent messages, fetched through the media scope within [`MediaOptions::max_video_bytes`]
//! and sent inline, as Google documents for small files.
//!
//! The file is not decoded (that would need a video codec in the bot). Its first bytes must be
//! the signature of a container Gemini takes, and the media type sent is the one the signature
//! names, never the platform's claim, so a page or an executable renamed `.mp4` goes nowhere.

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use tomori_llm::{Video, VideoSource};
use tomori_net::Limits;

use super::{Media, MediaError};
use crate::history::{Remembered, RememberedAttachment};

/// How long the last video shown stays in memory for the next turns.
const KEPT_FOR: Duration = Duration::from_secs(10 * 60);

/// The last video shown: its URL, media type and base64, and when it was fetched.
pub(super) type LastVideo = Option<(String, &'static str, Arc<str>, Instant)>;

/// What the download accepts by header; the signature decides.
const VIDEO_HEADER_TYPES: &[&str] = &["video/*", "application/octet-stream"];

/// The media type Gemini documents for the container whose signature starts `bytes`.
pub(crate) fn sniff_video(bytes: &[u8]) -> Option<&'static str> {
    let at = |range: std::ops::Range<usize>| bytes.get(range);
    if at(4..8) == Some(b"ftyp") {
        return Some(match at(8..12) {
            Some(b"qt  ") => "video/mov",
            Some(brand) if brand.starts_with(b"3g") => "video/3gpp",
            _ => "video/mp4",
        });
    }
    if at(0..4) == Some(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return Some("video/webm");
    }
    if at(0..4) == Some(b"RIFF") && at(8..12) == Some(b"AVI ") {
        return Some("video/avi");
    }
    if matches!(at(0..4), Some([0, 0, 1, 0xBA | 0xB3])) {
        return Some("video/mpeg");
    }
    if at(0..3) == Some(b"FLV") {
        return Some("video/x-flv");
    }
    if at(0..8) == Some(&[0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11]) {
        return Some("video/wmv");
    }
    None
}

impl Media {
    /// The video to show: the newest video attachment of the last `messages_back` messages
    /// that is no larger than `max_video_bytes` by the platform's claim (the download enforces
    /// it for real).
    pub(crate) fn pick_video<'a>(
        &self,
        recent: &'a [Remembered],
    ) -> Option<&'a RememberedAttachment> {
        recent
            .iter()
            .rev()
            .take(self.options.messages_back)
            .flat_map(|message| message.attachments.iter().rev())
            .find(|a| a.is_video() && a.size <= self.options.max_video_bytes)
    }

    /// Forgets the last video shown once it is older than [`KEPT_FOR`]: a video held for later
    /// turns is up to 13 MiB of base64. Called by every turn that could show one.
    pub(crate) fn forget_stale_video(&self) {
        let mut last = self.last_video.lock().unwrap_or_else(PoisonError::into_inner);
        if last.as_ref().is_some_and(|(.., at)| at.elapsed() > KEPT_FOR) {
            *last = None;
        }
    }

    /// The video at `url`, ready to send inline with `caption` for a model that cannot watch
    /// it: from the cache (the last one shown, for [`KEPT_FOR`]), or fetched and checked.
    ///
    /// # Errors
    /// The fetch was refused or failed, or the bytes are no video container Gemini takes.
    pub async fn load_video(&self, url: &str, caption: String) -> Result<Video, MediaError> {
        self.forget_stale_video();
        let cached = self.last_video.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let (media_type, data) = match cached {
            Some((cached_url, media_type, data, _)) if cached_url == url => (media_type, data),
            _ => {
                let limits = Limits::default()
                    .with_max_bytes(self.options.max_video_bytes)
                    .with_timeout(self.options.timeout)
                    .with_content_types(VIDEO_HEADER_TYPES);
                // Security: SSRF through attachment URLs, as for images: the media scope judges
                // the URL, every redirect and the connected peer; the cap counts as it streams.
                let bytes = self.fetch(url, &limits).await?;
                // Security: content confusion. The signature names the type sent.
                let media_type = sniff_video(&bytes).ok_or_else(|| {
                    MediaError::Decode("not a video container the model takes".to_owned())
                })?;
                let data: Arc<str> =
                    base64::engine::general_purpose::STANDARD.encode(&bytes).into();
                let entry = (url.to_owned(), media_type, Arc::clone(&data), Instant::now());
                *self.last_video.lock().unwrap_or_else(PoisonError::into_inner) = Some(entry);
                (media_type, data)
            }
        };
        Ok(Video {
            media_type: media_type.to_owned(),
            source: VideoSource::Base64(data.to_string()),
            caption,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_told_by_their_signatures() {
        let mut mp4 = vec![0, 0, 0, 24];
        mp4.extend_from_slice(b"ftypisom");
        let mut mov = vec![0, 0, 0, 20];
        mov.extend_from_slice(b"ftypqt  ");
        let mut three = vec![0, 0, 0, 20];
        three.extend_from_slice(b"ftyp3gp5");
        let cases: [(&[u8], Option<&str>); 11] = [
            (&mp4, Some("video/mp4")),
            (&mov, Some("video/mov")),
            (&three, Some("video/3gpp")),
            (&[0x1A, 0x45, 0xDF, 0xA3, 1], Some("video/webm")),
            (b"RIFF\0\0\0\0AVI LIST", Some("video/avi")),
            (b"RIFF\0\0\0\0WAVEfmt ", None),
            (&[0, 0, 1, 0xBA, 0x44], Some("video/mpeg")),
            (b"FLV\x01", Some("video/x-flv")),
            (&[0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0], Some("video/wmv")),
            (b"<!doctype html>", None),
            (b"", None),
        ];
        for (bytes, expected) in cases {
            assert_eq!(sniff_video(bytes), expected, "{bytes:?}");
        }
    }
}
