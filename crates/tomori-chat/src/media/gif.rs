//! Animated GIFs as a few keyframes: the first, middle and last frames, so a model that sees
//! still images sees what the animation does. Decoded twice (once to count the frames, once to
//! keep three), one frame at a time within the same limits as any image, and at most
//! [`MAX_FRAMES`] frames are read.

use std::io::Cursor;

use image::codecs::gif::GifDecoder;
use image::{AnimationDecoder as _, DynamicImage, ImageDecoder as _};

use super::{MediaError, MediaOptions};

/// Frames read at most; an animation longer than this is judged by its first frames.
pub(super) const MAX_FRAMES: usize = 500;

/// The frames shown of an animation of `count` frames: first, middle and last, each once.
pub(super) fn keyframe_indices(count: usize) -> Vec<usize> {
    let mut picked = vec![0, count / 2, count.saturating_sub(1)];
    picked.retain(|i| *i < count);
    picked.dedup();
    picked
}

fn frames<'a>(bytes: &'a [u8], options: &MediaOptions) -> Result<image::Frames<'a>, MediaError> {
    let decode_error = |e: image::ImageError| MediaError::Decode(e.to_string());
    let mut decoder = GifDecoder::new(Cursor::new(bytes)).map_err(decode_error)?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(options.max_dimension);
    limits.max_image_height = Some(options.max_dimension);
    limits.max_alloc = Some(options.max_decode_bytes);
    // Security: decompression bombs. The declared size is judged before any frame is decoded,
    // and every frame's buffer is allocated within the same cap as a still image.
    decoder.set_limits(limits).map_err(decode_error)?;
    Ok(decoder.into_frames())
}

/// The keyframes of the GIF `bytes`, each still an image for [`super::encode`].
pub(super) fn keyframes(
    bytes: &[u8],
    options: &MediaOptions,
) -> Result<Vec<DynamicImage>, MediaError> {
    let decode_error = |e: image::ImageError| MediaError::Decode(e.to_string());
    let mut count = 0;
    for frame in frames(bytes, options)?.take(MAX_FRAMES) {
        frame.map_err(decode_error)?;
        count += 1;
    }
    let wanted = keyframe_indices(count);
    let mut kept = Vec::with_capacity(wanted.len());
    let last = wanted.last().copied().unwrap_or(0);
    for (index, frame) in frames(bytes, options)?.take(MAX_FRAMES).enumerate() {
        let frame = frame.map_err(decode_error)?;
        if wanted.contains(&index) {
            kept.push(DynamicImage::ImageRgba8(frame.into_buffer()));
        }
        if index >= last {
            break;
        }
    }
    if kept.is_empty() {
        return Err(MediaError::Decode("the GIF has no frames".to_owned()));
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::keyframe_indices;

    #[test]
    fn first_middle_and_last_each_once() {
        for (count, picked) in [
            (0, vec![]),
            (1, vec![0]),
            (2, vec![0, 1]),
            (3, vec![0, 1, 2]),
            (10, vec![0, 5, 9]),
            (500, vec![0, 250, 499]),
        ] {
            assert_eq!(keyframe_indices(count), picked, "{count} frames");
        }
    }
}
