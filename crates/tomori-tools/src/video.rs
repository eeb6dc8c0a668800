//! `generate_video`: the model asks for a short video; whoever the binary gave the tool (a
//! [`VideoMaker`]) resolves the server's video model, has it made, checks the file, and the tool
//! puts it in the turn's [`Outbox`](crate::Outbox), which the engine posts with the persona's
//! answer (through the persona's webhook for alters).
//!
//! The gate does the spending checks before any provider is asked: the `video_gen` flag and the
//! video quota (which fails closed), and counts the quota only when a file was made.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};
use tomori_core::settings::Feature;
use tomori_llm::{MAX_VIDEO_PROMPT_CHARS, VideoShape};

use crate::context::{OutFile, TurnContext};
use crate::gate::{Authorized, Tool, ToolOutcome};
use crate::perm::{Perm, Perms};
use crate::policy::{Contexts, Effect, QuotaKind, TargetRule, ToolPolicy};

/// A video to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoAsk {
    /// The description, at most [`MAX_VIDEO_PROMPT_CHARS`].
    pub prompt: String,
    /// The shape.
    pub shape: VideoShape,
}

/// A video made: the file to post and who made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MadeVideo {
    /// The checked file.
    pub file: OutFile,
    /// `provider · model`.
    pub by: String,
}

/// Why no video was made, in words for the model (and, through it, the member).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VideoFailure {
    /// The server chose no video model.
    #[error(
        "no_video_model: this server has no video model; a server manager can choose one with /model video"
    )]
    NoModel,
    /// The provider declined (its safety filter, or an operation that ended in an error).
    #[error(
        "provider_refused: the video provider declined to make this ({0}); tell the member in your own words, and do not retry the same description"
    )]
    Refused(String),
    /// Anything else: the provider failed or timed out, the file was not a usable video.
    #[error("video_failed: {0}")]
    Failed(String),
}

/// Makes videos for a turn: the chat layer's implementation knows the store, the providers and
/// the media limits.
pub trait VideoMaker: Send + Sync {
    /// Makes `ask` for the turn's server and member.
    fn make<'a>(
        &'a self,
        ctx: &'a TurnContext,
        ask: VideoAsk,
    ) -> BoxFuture<'a, Result<MadeVideo, VideoFailure>>;
}

/// The `generate_video` tool over a [`VideoMaker`].
pub struct GenerateVideo {
    maker: std::sync::Arc<dyn VideoMaker>,
}

impl std::fmt::Debug for GenerateVideo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerateVideo").finish_non_exhaustive()
    }
}

impl GenerateVideo {
    /// The tool, filming with `maker`.
    pub fn new(maker: std::sync::Arc<dyn VideoMaker>) -> Self {
        Self { maker }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    prompt: String,
    #[serde(default)]
    shape: Option<String>,
}

const FULL: &str = "too_many_files: this reply already carries as many files as it may";

/// The checked prompt and shape, or the failure that names the bad argument.
fn checked(args: Args) -> Result<VideoAsk, ToolOutcome> {
    let shape = match args.shape.as_deref().map(VideoShape::parse) {
        None => VideoShape::Landscape,
        Some(Some(shape)) => shape,
        Some(None) => {
            return Err(ToolOutcome::Failure(
                "malformed_arguments: shape is landscape or portrait".to_owned(),
            ));
        }
    };
    let prompt = args.prompt.trim();
    if prompt.is_empty() || prompt.chars().count() > MAX_VIDEO_PROMPT_CHARS {
        return Err(ToolOutcome::Failure(format!(
            "malformed_arguments: the prompt must be 1 to {MAX_VIDEO_PROMPT_CHARS} characters"
        )));
    }
    Ok(VideoAsk { prompt: prompt.to_owned(), shape })
}

impl Tool for GenerateVideo {
    fn name(&self) -> &'static str {
        "generate_video"
    }

    fn description(&self) -> &'static str {
        "Make a short video clip (a few seconds, no sound guaranteed) and post it with your reply. Use only when someone asks for a video or an animation; it takes a minute or more. Describe the scene fully in English in the prompt (subject, action, style, camera); the video is posted after your message, so say something about it in your reply."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "prompt": {
                    "type": "string",
                    "description": format!("What to film, at most {MAX_VIDEO_PROMPT_CHARS} characters."),
                },
                "shape": {
                    "type": "string",
                    "enum": ["landscape", "portrait"],
                    "description": "16:9 landscape (the default) or 9:16 portrait.",
                },
            },
            "required": ["prompt"],
            "additionalProperties": false,
        })
    }

    fn policy(&self) -> ToolPolicy {
        ToolPolicy {
            feature: Some(Feature::VideoGen),
            effect: Effect::Creates,
            bot_permissions: Perms::of(&[Perm::SendMessages, Perm::AttachFiles]),
            invoker_permissions: Perms::NONE,
            contexts: Contexts::EVERYWHERE,
            // Security: spend abuse. Checked by the gate before the provider is asked (failing
            // closed), counted only when a video was made.
            quota: Some(QuotaKind::Video),
            target: TargetRule::None,
        }
    }

    fn execute<'a>(
        &'a self,
        call: Authorized<'a>,
        ctx: &'a TurnContext,
    ) -> BoxFuture<'a, ToolOutcome> {
        async move {
            let args: Args = match call.parse() {
                Ok(args) => args,
                Err(failure) => return failure,
            };
            let ask = match checked(args) {
                Ok(ask) => ask,
                Err(failure) => return failure,
            };
            // A full outbox refuses before anything is spent.
            if !ctx.outbox.has_room() {
                return ToolOutcome::Failure(FULL.to_owned());
            }
            match self.maker.make(ctx, ask).await {
                Ok(made) => {
                    let name = made.file.filename.clone();
                    if ctx.outbox.push(made.file).is_err() {
                        return ToolOutcome::Failure(FULL.to_owned());
                    }
                    ToolOutcome::Success(json!({
                        "status": "video_ready",
                        "file": name,
                        "made_by": made.by,
                        "note": "The video will be posted right after your reply.",
                    }))
                }
                Err(failure) => ToolOutcome::Failure(failure.to_string()),
            }
        }
        .boxed()
    }
}
