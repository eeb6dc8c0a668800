//! Image generation through a ComfyUI server: a workflow an admin uploads in ComfyUI's API
//! format, with placeholders where the prompt, seed and size go, run over ComfyUI's HTTP API.
//!
//! Two halves, both treating their input as hostile:
//! - [`ComfyWorkflow`]: parsed and checked once, when an admin registers it, so every refusal
//!   reaches the admin who can fix it, with a message saying what to change. Filling it in for a
//!   request works on the parsed JSON value, so a prompt is string content and never JSON text.
//! - [`generate`]: `POST /prompt`, then `GET /history/{id}` until the run finishes, then
//!   `GET /view` for the image. Every answer is bounded (body caps, redirects refused, one
//!   deadline over the whole run) and every name the server hands back (prompt id, file name,
//!   subfolder) is checked before it goes into a URL.
//!
//! Nothing here knows about Discord or personas; the image layer picks the size and the seed.

mod client;
#[cfg(test)]
mod tests;
mod workflow;

use std::time::Duration;

use crate::endpoint::Timeouts;

pub use client::generate;
pub use workflow::{
    COMFY_DENIED_WORDS, ComfyWorkflow, MAX_WORKFLOW_BYTES, MAX_WORKFLOW_NESTING,
    MAX_WORKFLOW_NODES, MAX_WORKFLOW_OUTPUTS, WorkflowError,
};

/// Characters of the prompt (and of the negative prompt) that are put into a workflow.
pub const MAX_COMFY_PROMPT_CHARS: usize = 4_000;

/// The smallest side of an image that is asked for, in pixels.
pub const MIN_COMFY_SIDE: u32 = 64;
/// The largest side of an image that is asked for, in pixels.
pub const MAX_COMFY_SIDE: u32 = 2_048;

/// Width and height of the image, as numbers for the workflow's `%width%` and `%height%`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ComfySize {
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
}

impl ComfySize {
    /// 1024 × 1024.
    pub const SQUARE: ComfySize = ComfySize { width: 1024, height: 1024 };
    /// 832 × 1216, a taller image of about the same pixel count (a common SDXL size).
    pub const PORTRAIT: ComfySize = ComfySize { width: 832, height: 1216 };
    /// 1216 × 832, the portrait size turned.
    pub const LANDSCAPE: ComfySize = ComfySize { width: 1216, height: 832 };

    /// Each side held to [`MIN_COMFY_SIDE`]..=[`MAX_COMFY_SIDE`] and rounded down to a multiple
    /// of 8, which the latent images of Stable Diffusion models need.
    pub fn bounded(self) -> ComfySize {
        // Security: resource exhaustion on the ComfyUI host. A latent's memory grows with its
        // area; however the size was chosen, no side asks for more than the cap.
        let side = |n: u32| n.clamp(MIN_COMFY_SIDE, MAX_COMFY_SIDE) / 8 * 8;
        ComfySize { width: side(self.width), height: side(self.height) }
    }
}

/// What to draw: the values that replace the workflow's placeholders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComfyAsk {
    /// The positive prompt (`%prompt%`); cut to [`MAX_COMFY_PROMPT_CHARS`].
    pub prompt: String,
    /// The negative prompt (`%negative%`), empty for none; cut the same way.
    pub negative: String,
    /// The sampler's seed (`%seed%`).
    pub seed: u64,
    /// The image size (`%width%`, `%height%`), bounded by [`ComfySize::bounded`].
    pub size: ComfySize,
}

/// How a run is waited for and what is accepted back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ComfyOptions {
    /// The pause between two looks at `/history`; at least [`MIN_COMFY_POLL`] is used.
    pub poll_every: Duration,
    /// The whole run, from submitting to the last byte of the image. ComfyUI queues prompts, so
    /// this includes waiting behind other people's images.
    pub deadline: Duration,
    /// The largest image accepted, in bytes.
    pub max_image_bytes: usize,
    /// Each HTTP request's own bounds: the first-byte timeout for an answer to start, the idle
    /// timeout between chunks, the total timeout for one body (the connect timeout belongs to
    /// the client).
    pub timeouts: Timeouts,
}

/// The shortest pause between two polls, whatever [`ComfyOptions::poll_every`] says.
pub const MIN_COMFY_POLL: Duration = Duration::from_millis(10);

impl Default for ComfyOptions {
    /// A poll a second, five minutes in all, images up to 16 MiB, the default timeouts.
    fn default() -> Self {
        ComfyOptions {
            poll_every: Duration::from_secs(1),
            deadline: Duration::from_secs(5 * 60),
            max_image_bytes: 16 * 1024 * 1024,
            timeouts: Timeouts::default(),
        }
    }
}

/// A generated image as ComfyUI served it.
#[derive(Clone, PartialEq, Eq)]
pub struct ComfyImage {
    /// The file's bytes, whose signature matched [`ComfyImage::mime`].
    pub bytes: Vec<u8>,
    /// The file name ComfyUI gave it (checked: no path, at most 255 characters, no control
    /// characters). It came from the server: treat it as text from outside.
    pub filename: String,
    /// `image/png`, `image/jpeg`, `image/webp` or `image/gif`, from the bytes themselves.
    pub mime: &'static str,
}

impl std::fmt::Debug for ComfyImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComfyImage")
            .field("bytes", &self.bytes.len())
            .field("filename", &self.filename)
            .field("mime", &self.mime)
            .finish()
    }
}
