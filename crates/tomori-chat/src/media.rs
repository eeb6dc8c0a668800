//! Images for models that see them: which attachments of the recent history to show, fetched
//! through tomori-net's media scope, decoded under size limits off the async runtime, downscaled
//! and re-encoded as JPEG before they go to the provider.
//!
//! The selection follows what users of Discord companions expect: the images of the most recent
//! messages only (the last [`MediaOptions::messages_back`] messages, at most
//! [`MediaOptions::messages_with_images`] of them), each file at most
//! [`MediaOptions::max_file_bytes`]. Decoded images are cached by URL, so a picture that stays in
//! the recent history is fetched once, not on every turn. Video attachments go to models that
//! watch them (`clip`).

use std::collections::VecDeque;
use std::io::Cursor;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use tokio::sync::Semaphore;
use tomori_llm::{Image, ImageSource};
use tomori_net::{Client, FetchError, Limits};

use crate::history::{Remembered, RememberedAttachment};

mod clip;
mod gif;
mod peek;
mod studio;
mod tenor;
mod uploads;
mod video;

pub use studio::{ImageStudio, MAX_POSTED_SIDE};
pub use uploads::{UPLOAD_SCHEME, UploadError, Uploads, sniff_attachment};
pub use video::VideoStudio;

/// The image types the engine decodes.
const IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/webp", "image/gif"];

/// How many images, how large, how long.
#[derive(Debug, Clone)]
pub struct MediaOptions {
    /// How far back images are looked for, in messages.
    pub messages_back: usize,
    /// The most messages whose images are shown.
    pub messages_with_images: usize,
    /// The most images shown in one turn.
    pub max_images: usize,
    /// The largest file fetched.
    pub max_file_bytes: u64,
    /// The largest video attachment sent inline to a model that watches videos (Gemini takes
    /// 20 MB in one request, base64 included).
    pub max_video_bytes: u64,
    /// Width and height a file may declare before it is refused undecoded.
    pub max_dimension: u32,
    /// Memory the decoder may allocate for one image.
    pub max_decode_bytes: u64,
    /// The longest side of the image sent to the model.
    pub max_side: u32,
    /// Wall clock for fetching and decoding one image.
    pub timeout: Duration,
    /// Decoded images kept for later turns.
    pub cache_entries: usize,
    /// Images decoded at once across all turns (each on a blocking thread); the rest wait.
    pub max_concurrent_decodes: usize,
}

impl Default for MediaOptions {
    fn default() -> Self {
        Self {
            messages_back: 10,
            messages_with_images: 3,
            max_images: 6,
            max_file_bytes: 8 * 1024 * 1024,
            max_video_bytes: 10 * 1024 * 1024,
            max_dimension: 12_000,
            max_decode_bytes: 256 * 1024 * 1024,
            max_side: 1024,
            timeout: Duration::from_secs(20),
            cache_entries: 32,
            max_concurrent_decodes: 2,
        }
    }
}

/// Why an image was not shown. The turn goes on without it.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The download was refused or failed (policy, size, type, time).
    #[error("fetching the image: {0}")]
    Fetch(#[from] FetchError),
    /// The bytes are not an image the decoder accepts within its limits.
    #[error("decoding the image: {0}")]
    Decode(String),
    /// Decoding took longer than the time limit.
    #[error("decoding the image took too long")]
    Timeout,
}

/// Fetches, decodes and caches images for the engine.
#[derive(Debug)]
pub struct Media {
    client: Client,
    options: MediaOptions,
    cache: Mutex<VecDeque<(String, Frames)>>,
    /// Reads Tenor pages for the GIF they name (a tool-scope client), when set.
    pages: Option<Client>,
    /// Files posted through a surface with no file host (the playground), when set.
    uploads: Option<Arc<Uploads>>,
    /// The last video shown, so a video that stays in the recent history is fetched once
    /// (for ten minutes at most).
    last_video: Mutex<clip::LastVideo>,
    /// One permit per decode that may run; held until the decoder returns, even after a
    /// timeout gave up waiting for it.
    decode_slots: Arc<Semaphore>,
}

impl Media {
    /// Images fetched through `client`, which must hold the media-scope policy.
    pub fn new(client: Client, options: MediaOptions) -> Self {
        let decode_slots = Arc::new(Semaphore::new(options.max_concurrent_decodes.max(1)));
        Self {
            client,
            options,
            cache: Mutex::new(VecDeque::new()),
            last_video: Mutex::new(None),
            pages: None,
            uploads: None,
            decode_slots,
        }
    }

    /// Reads files at `tomori-upload:` addresses from `uploads` instead of downloading them.
    #[must_use]
    pub fn with_uploads(mut self, uploads: Arc<Uploads>) -> Self {
        self.uploads = Some(uploads);
        self
    }

    /// The bytes at `url`: an upload kept in memory, or a download through the media client,
    /// within `limits` either way.
    async fn fetch(&self, url: &str, limits: &Limits) -> Result<bytes::Bytes, MediaError> {
        if url.starts_with(UPLOAD_SCHEME) {
            let file = self.uploads.as_ref().and_then(|uploads| uploads.get(url));
            let file = file.ok_or_else(|| MediaError::Decode("the upload is gone".to_owned()))?;
            let fits = u64::try_from(file.len()).is_ok_and(|len| len <= limits.max_bytes);
            return if fits {
                Ok(file)
            } else {
                Err(MediaError::Decode("the upload is larger than the limit".to_owned()))
            };
        }
        // Security: SSRF through attachment URLs. The media-scope client fetches https from
        // public hosts only, and every redirect and the connected peer are judged again.
        Ok(self.client.safe_download(url, limits).await?.bytes)
    }

    /// Reads the pages of Tenor links members post with `client`, which must hold the tool
    /// policy, to show the GIF they name (see `tenor`).
    #[must_use]
    pub fn with_page_client(mut self, client: Client) -> Self {
        self.pages = Some(client);
        self
    }

    /// The attachments to show, newest message first: image attachments of the last
    /// `messages_back` messages, from at most `messages_with_images` of them, each no larger
    /// than `max_file_bytes` by the platform's claim (the download enforces it for real).
    pub(crate) fn pick<'a>(&self, recent: &'a [Remembered]) -> Vec<&'a RememberedAttachment> {
        let options = &self.options;
        let mut picked = Vec::new();
        let mut messages = 0;
        for message in recent.iter().rev().take(options.messages_back) {
            let images: Vec<&RememberedAttachment> = message
                .attachments
                .iter()
                .filter(|a| a.is_image() && a.size <= options.max_file_bytes)
                .collect();
            if images.is_empty() {
                continue;
            }
            if messages == options.messages_with_images {
                break;
            }
            messages += 1;
            for image in images {
                if picked.len() == options.max_images {
                    return picked;
                }
                picked.push(image);
            }
        }
        picked
    }

    /// The most images one turn shows (an animated GIF's frames each count).
    pub(crate) fn max_images(&self) -> usize {
        self.options.max_images
    }

    /// The image at `url`, ready for the model: from the cache, or fetched and prepared.
    ///
    /// # Errors
    /// The fetch was refused or failed, or the bytes are no acceptable image.
    pub async fn load(&self, url: &str) -> Result<Frames, MediaError> {
        if let Some(image) = self.cached(url) {
            return Ok(image);
        }
        let limits = Limits::default()
            .with_max_bytes(self.options.max_file_bytes)
            .with_timeout(self.options.timeout)
            .with_content_types(IMAGE_TYPES);
        let source = self.picture_url(url).await?;
        let bytes = self.fetch(&source, &limits).await?;
        let frames: Frames = self.decode(bytes).await?.into();
        self.remember(url, Arc::clone(&frames));
        Ok(frames)
    }

    /// Decodes and prepares `bytes` on a blocking thread once a decode slot is free; waiting
    /// for the slot counts against the time limit.
    async fn decode<B>(&self, bytes: B) -> Result<Vec<Image>, MediaError>
    where
        B: AsRef<[u8]> + Send + 'static,
    {
        let options = self.options.clone();
        let slots = Arc::clone(&self.decode_slots);
        // Security: decompression bombs and decode floods in user images. The decoder runs with
        // dimension and allocation limits, off the async runtime, under a time limit, and at
        // most `max_concurrent_decodes` at once: a decode that outlives its timeout keeps its
        // slot until it really ends, so abandoned decodes cannot pile up on the blocking pool.
        let work = async move {
            let permit = slots.acquire_owned().await.map_err(|_| MediaError::Timeout)?;
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                prepare_frames(bytes.as_ref(), &options)
            })
            .await
            .map_err(|join| MediaError::Decode(join.to_string()))?
        };
        tokio::time::timeout(self.options.timeout, work).await.map_err(|_| MediaError::Timeout)?
    }

    /// Decodes an uploaded image under the same limits and slots as images from messages, and
    /// returns it as a JPEG of at most `side` pixels a side (a persona's avatar from the
    /// dashboard).
    ///
    /// # Errors
    /// An image that is not one, over the limits, or not decoded in time.
    pub async fn reencode(&self, bytes: Vec<u8>, side: u32) -> Result<Vec<u8>, MediaError> {
        self.reencode_as(bytes, side, Encoding::Jpeg).await
    }

    /// The file at `url` (a generated image a provider hosts), downloaded through the media
    /// policy within the file size cap; not decoded.
    ///
    /// # Errors
    /// The fetch was refused or failed.
    pub async fn download(&self, url: &str) -> Result<Vec<u8>, MediaError> {
        let limits = Limits::default()
            .with_max_bytes(self.options.max_file_bytes)
            .with_timeout(self.options.timeout)
            .with_content_types(IMAGE_TYPES);
        // Security: SSRF through a URL a provider's answer names: the media scope judges it.
        let download = self.client.safe_download(url, &limits).await?;
        Ok(download.bytes.to_vec())
    }

    /// The video at `url` (a generated video a provider hosts off its API's origin), downloaded
    /// through the media policy within `max_bytes` and the time limit; not checked as a video.
    ///
    /// # Errors
    /// The fetch was refused or failed.
    pub async fn download_video(&self, url: &str, max_bytes: u64) -> Result<Vec<u8>, MediaError> {
        let limits = Limits::default()
            .with_max_bytes(max_bytes)
            .with_timeout(self.options.timeout)
            .with_content_types(&["video/mp4", "application/octet-stream"]);
        // Security: SSRF through a URL a provider's answer names: the media scope judges it.
        let download = self.client.safe_download(url, &limits).await?;
        Ok(download.bytes.to_vec())
    }

    /// As [`Media::reencode`], in `encoding`: what comes out is pixels the decoder read, so
    /// nothing else the file carried (metadata, trailing data, another format) goes on.
    ///
    /// # Errors
    /// As [`Media::reencode`].
    pub async fn reencode_as(
        &self,
        bytes: Vec<u8>,
        side: u32,
        encoding: Encoding,
    ) -> Result<Vec<u8>, MediaError> {
        let options = MediaOptions { max_side: side, ..self.options.clone() };
        let slots = Arc::clone(&self.decode_slots);
        let work = async move {
            let permit = slots.acquire_owned().await.map_err(|_| MediaError::Timeout)?;
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                match encoding {
                    Encoding::Jpeg => shrink_to_jpeg(&bytes, &options),
                    Encoding::Png => shrink_to_png(&bytes, &options),
                }
            })
            .await
            .map_err(|join| MediaError::Decode(join.to_string()))?
        };
        tokio::time::timeout(self.options.timeout, work).await.map_err(|_| MediaError::Timeout)?
    }

    fn cached(&self, url: &str) -> Option<Frames> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.iter().find(|(u, _)| u == url).map(|(_, image)| Arc::clone(image))
    }

    fn remember(&self, url: &str, image: Frames) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.iter().any(|(u, _)| u == url) {
            return;
        }
        if cache.len() >= self.options.cache_entries {
            cache.pop_front();
        }
        cache.push_back((url.to_owned(), image));
    }
}

/// The format [`Media::reencode_as`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// JPEG at quality 85 (avatars: small, opaque).
    Jpeg,
    /// PNG (generated pictures: lossless, transparency kept).
    Png,
}

/// An image as the model is shown it: one still, or an animated GIF's keyframes.
pub type Frames = Arc<[Image]>;

/// `bytes` ready for the model: a GIF as its first, middle and last frames, anything else as
/// one image.
fn prepare_frames(bytes: &[u8], options: &MediaOptions) -> Result<Vec<Image>, MediaError> {
    if image::guess_format(bytes).ok() == Some(image::ImageFormat::Gif) {
        return gif::keyframes(bytes, options)?
            .into_iter()
            .map(|frame| encode(frame, options).map(jpeg_image))
            .collect();
    }
    prepare(bytes, options).map(|image| vec![image])
}

fn jpeg_image(jpeg: Vec<u8>) -> Image {
    Image {
        media_type: "image/jpeg".to_owned(),
        source: ImageSource::Base64(base64::engine::general_purpose::STANDARD.encode(jpeg)),
    }
}

/// Decodes `bytes` within the limits, shrinks the image to `max_side` and encodes it as JPEG.
fn prepare(bytes: &[u8], options: &MediaOptions) -> Result<Image, MediaError> {
    shrink_to_jpeg(bytes, options).map(jpeg_image)
}

/// Decodes `bytes` within the limits and returns a JPEG of at most `max_side` pixels a side.
fn shrink_to_jpeg(bytes: &[u8], options: &MediaOptions) -> Result<Vec<u8>, MediaError> {
    encode(decode_within_limits(bytes, options)?, options)
}

/// Decodes `bytes` with the dimension and allocation limits.
fn decode_within_limits(
    bytes: &[u8],
    options: &MediaOptions,
) -> Result<image::DynamicImage, MediaError> {
    let decode_error = |e: image::ImageError| MediaError::Decode(e.to_string());
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| MediaError::Decode(e.to_string()))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(options.max_dimension);
    limits.max_image_height = Some(options.max_dimension);
    limits.max_alloc = Some(options.max_decode_bytes);
    reader.limits(limits);
    reader.decode().map_err(decode_error)
}

/// Decodes `bytes` within the limits and returns a PNG of at most `max_side` pixels a side.
fn shrink_to_png(bytes: &[u8], options: &MediaOptions) -> Result<Vec<u8>, MediaError> {
    let decoded = decode_within_limits(bytes, options)?;
    let side = options.max_side.max(1);
    let shrunk = if decoded.width() > side || decoded.height() > side {
        decoded.thumbnail(side, side)
    } else {
        decoded
    };
    let mut png = Vec::new();
    shrunk
        .to_rgba8()
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| MediaError::Decode(e.to_string()))?;
    Ok(png)
}

/// `decoded` shrunk to `max_side` and encoded as JPEG.
fn encode(decoded: image::DynamicImage, options: &MediaOptions) -> Result<Vec<u8>, MediaError> {
    let decode_error = |e: image::ImageError| MediaError::Decode(e.to_string());
    let side = options.max_side.max(1);
    let shrunk = if decoded.width() > side || decoded.height() > side {
        decoded.thumbnail(side, side)
    } else {
        decoded
    };
    let mut jpeg = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85);
    shrunk.to_rgb8().write_with_encoder(encoder).map_err(decode_error)?;
    Ok(jpeg)
}

#[cfg(test)]
mod tests {
    use image::{ImageBuffer, Rgb};
    use tomori_core::id::Snowflake;

    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let buffer = ImageBuffer::from_fn(width, height, |x, y| {
            Rgb([u8::try_from(x % 256).unwrap_or(0), u8::try_from(y % 256).unwrap_or(0), 128])
        });
        let mut out = Vec::new();
        image::DynamicImage::ImageRgb8(buffer)
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .expect("encode png");
        out
    }

    fn decoded(image: &Image) -> image::DynamicImage {
        let ImageSource::Base64(data) = &image.source else { panic!("base64 expected") };
        let bytes = base64::engine::general_purpose::STANDARD.decode(data).expect("base64");
        image::load_from_memory(&bytes).expect("a decodable JPEG")
    }

    #[test]
    fn large_images_are_shrunk_to_the_longest_side() {
        let options = MediaOptions::default();
        let image = prepare(&png(3000, 1500), &options).expect("prepared");
        assert_eq!(image.media_type, "image/jpeg");
        let back = decoded(&image);
        assert_eq!((back.width(), back.height()), (1024, 512));
        let small = prepare(&png(40, 30), &options).expect("prepared");
        let back = decoded(&small);
        assert_eq!((back.width(), back.height()), (40, 30));
    }

    #[test]
    fn images_beyond_the_limits_are_refused_undecoded() {
        let options = MediaOptions { max_dimension: 100, ..MediaOptions::default() };
        assert!(matches!(prepare(&png(101, 10), &options), Err(MediaError::Decode(_))));
        assert!(matches!(prepare(b"not an image", &options), Err(MediaError::Decode(_))));
        let mut truncated = png(64, 64);
        truncated.truncate(truncated.len() / 2);
        assert!(matches!(prepare(&truncated, &options), Err(MediaError::Decode(_))));
    }

    fn message(id: u64, images: usize, other_files: usize) -> Remembered {
        let mut attachments = Vec::new();
        for n in 0..images {
            attachments.push(RememberedAttachment {
                url: format!("https://cdn.example/{id}/{n}.png"),
                content_type: Some("image/png".to_owned()),
                size: 1000,
            });
        }
        for n in 0..other_files {
            attachments.push(RememberedAttachment {
                url: format!("https://cdn.example/{id}/{n}.txt"),
                content_type: Some("text/plain".to_owned()),
                size: 1000,
            });
        }
        Remembered {
            id: Snowflake::new(id).expect("id"),
            author: Snowflake::new(1).expect("id"),
            author_name: "ann".to_owned(),
            persona: None,
            content: String::new(),
            reply_to: None,
            attachments,
            reactions: Vec::new(),
            is_summary: false,
        }
    }

    fn media() -> Media {
        let client =
            Client::new(tomori_net::Policy::new(tomori_net::Scope::Media)).expect("client");
        Media::new(client, MediaOptions::default())
    }

    #[test]
    fn picks_images_of_the_three_most_recent_messages_that_have_them() {
        let recent: Vec<Remembered> = (1..=12)
            .map(|id| if id % 2 == 0 { message(id, 1, 1) } else { message(id, 0, 1) })
            .collect();
        let picked: Vec<&str> = media().pick(&recent).iter().map(|a| a.url.as_str()).collect();
        assert_eq!(
            picked,
            [
                "https://cdn.example/12/0.png",
                "https://cdn.example/10/0.png",
                "https://cdn.example/8/0.png"
            ]
        );
    }

    #[test]
    fn looks_only_ten_messages_back_and_skips_oversized_files() {
        let mut recent = vec![message(1, 1, 0)];
        recent.extend((2..=11).map(|id| message(id, 0, 1)));
        assert!(media().pick(&recent).is_empty());
        let mut big = message(20, 1, 0);
        big.attachments[0].size = 9 * 1024 * 1024;
        assert!(media().pick(&[big]).is_empty());
    }

    #[tokio::test]
    async fn decodes_wait_for_a_free_slot_within_the_time_limit() {
        let client =
            Client::new(tomori_net::Policy::new(tomori_net::Scope::Media)).expect("client");
        let options = MediaOptions {
            max_concurrent_decodes: 1,
            timeout: Duration::from_millis(200),
            ..MediaOptions::default()
        };
        let mut media = Media::new(client, options);
        let held = Arc::clone(&media.decode_slots).acquire_owned().await.expect("the one slot");
        // Every slot busy: the decode waits, and gives up at the time limit without running.
        let waited = media.decode(png(8, 8)).await;
        assert!(matches!(waited, Err(MediaError::Timeout)), "{waited:?}");
        drop(held);
        media.options.timeout = Duration::from_secs(60);
        let image = media.decode(png(8, 8)).await.expect("decoded once a slot is free");
        assert_eq!(decoded(&image[0]).width(), 8);
        assert_eq!(media.decode_slots.available_permits(), 1, "the slot came back");
    }

    #[test]
    fn caps_the_images_of_one_turn() {
        let recent = vec![message(1, 5, 0), message(2, 5, 0)];
        assert_eq!(media().pick(&recent).len(), MediaOptions::default().max_images);
    }

    fn gif(frames: u8) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = image::codecs::gif::GifEncoder::new(&mut out);
            for n in 0..frames {
                let buffer = image::RgbaImage::from_pixel(16, 8, image::Rgba([n * 20, 0, 0, 255]));
                encoder.encode_frame(image::Frame::new(buffer)).expect("encode a frame");
            }
        }
        out
    }

    #[test]
    fn an_animated_gif_shows_its_first_middle_and_last_frames() {
        let options = MediaOptions::default();
        let shown = prepare_frames(&gif(9), &options).expect("keyframes");
        assert_eq!(shown.len(), 3);
        let reds: Vec<u8> = shown.iter().map(|f| decoded(f).to_rgb8().get_pixel(8, 4)[0]).collect();
        // JPEG shifts colours a little: frames 0, 4 and 8 were red 0, 80 and 160.
        for (red, expected) in reds.iter().zip([0_u8, 80, 160]) {
            assert!(red.abs_diff(expected) <= 6, "{reds:?}");
        }
        assert_eq!(prepare_frames(&gif(1), &options).expect("one frame").len(), 1);
        assert_eq!(prepare_frames(&png(8, 8), &options).expect("a still").len(), 1);
        let small = MediaOptions { max_dimension: 10, ..MediaOptions::default() };
        assert!(matches!(prepare_frames(&gif(3), &small), Err(MediaError::Decode(_))));
    }
}
