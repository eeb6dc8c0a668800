//! `generate_image`: the model asks for a picture; whoever the binary gave the tool (an
//! [`ImageMaker`]) resolves the server's image model, draws, checks and re-encodes the file, and
//! the tool puts it in the turn's [`Outbox`](crate::Outbox), which the engine posts with the
//! persona's answer (through the persona's webhook for alters).
//!
//! The gate does the spending checks before any provider is asked: the `image_gen` flag and the
//! image quota (which fails closed), and counts the quota only when a file was made.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};
use tomori_core::settings::Feature;
use tomori_llm::{ImageShape, MAX_IMAGE_PROMPT_CHARS};

use crate::context::{OutFile, TurnContext};
use crate::gate::{Authorized, Tool, ToolOutcome};
use crate::perm::{Perm, Perms};
use crate::policy::{Contexts, Effect, QuotaKind, TargetRule, ToolPolicy};

/// A picture to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageAsk {
    /// The description, at most [`MAX_IMAGE_PROMPT_CHARS`].
    pub prompt: String,
    /// The shape.
    pub shape: ImageShape,
}

/// A picture made: the file to post and who drew it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MadeImage {
    /// The checked, re-encoded file.
    pub file: OutFile,
    /// `provider · model`.
    pub by: String,
}

/// Why no picture was made, in words for the model (and, through it, the member).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImageFailure {
    /// The server chose no image model.
    #[error(
        "no_image_model: this server has no image model; a server manager can choose one with /model image"
    )]
    NoModel,
    /// The provider declined (its safety filter, or text instead of a picture).
    #[error(
        "provider_refused: the image provider declined to draw this ({0}); tell the member in your own words, and do not retry the same description"
    )]
    Refused(String),
    /// Anything else: the provider failed, the file was not an image.
    #[error("image_failed: {0}")]
    Failed(String),
}

/// The sentence a member who asked for a picture directly (`/generate image`) reads when
/// `generate_image` failed with `failure` (the text it gives the model, `code: detail`).
pub fn failure_for_member(failure: &str) -> String {
    let (code, detail) = failure.split_once(": ").unwrap_or(("", failure));
    match code {
        "no_image_model" => {
            "This server has no image model yet; a server manager can choose one with /model image."
                .to_owned()
        }
        "provider_refused" => {
            "The image provider declined to draw that; try describing it differently.".to_owned()
        }
        "malformed_arguments" => format!("That request does not work: {detail}."),
        "image_failed" => format!("The picture could not be made: {detail}."),
        _ => "The picture could not be made; try again later.".to_owned(),
    }
}

/// Makes pictures for a turn: the chat layer's implementation knows the store, the providers
/// and the media limits.
pub trait ImageMaker: Send + Sync {
    /// Draws `ask` for the turn's server and member.
    fn make<'a>(
        &'a self,
        ctx: &'a TurnContext,
        ask: ImageAsk,
    ) -> BoxFuture<'a, Result<MadeImage, ImageFailure>>;
}

/// The `generate_image` tool over an [`ImageMaker`].
pub struct GenerateImage {
    maker: std::sync::Arc<dyn ImageMaker>,
}

impl std::fmt::Debug for GenerateImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerateImage").finish_non_exhaustive()
    }
}

impl GenerateImage {
    /// The tool, drawing with `maker`.
    pub fn new(maker: std::sync::Arc<dyn ImageMaker>) -> Self {
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

impl Tool for GenerateImage {
    fn name(&self) -> &'static str {
        "generate_image"
    }

    fn description(&self) -> &'static str {
        "Draw a picture and post it with your reply. Use only when someone asks for an image or a drawing. Describe the picture fully in English in the prompt (subject, style, setting); the picture is posted after your message, so say something about it in your reply."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "prompt": {
                    "type": "string",
                    "description": format!("What to draw, at most {MAX_IMAGE_PROMPT_CHARS} characters."),
                },
                "shape": {
                    "type": "string",
                    "enum": ["square", "portrait", "landscape"],
                    "description": "The picture's shape (square if not given).",
                },
            },
            "required": ["prompt"],
            "additionalProperties": false,
        })
    }

    fn policy(&self) -> ToolPolicy {
        ToolPolicy {
            feature: Some(Feature::ImageGen),
            effect: Effect::Creates,
            bot_permissions: Perms::of(&[Perm::SendMessages, Perm::AttachFiles]),
            invoker_permissions: Perms::NONE,
            contexts: Contexts::EVERYWHERE,
            // Security: spend abuse. Checked by the gate before the provider is asked (failing
            // closed), counted only when a picture was made.
            quota: Some(QuotaKind::Image),
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
            let shape = match args.shape.as_deref().map(ImageShape::parse) {
                None => ImageShape::Square,
                Some(Some(shape)) => shape,
                Some(None) => {
                    return ToolOutcome::Failure(
                        "malformed_arguments: shape is square, portrait or landscape".to_owned(),
                    );
                }
            };
            let prompt = args.prompt.trim();
            if prompt.is_empty() || prompt.chars().count() > MAX_IMAGE_PROMPT_CHARS {
                return ToolOutcome::Failure(format!(
                    "malformed_arguments: the prompt must be 1 to {MAX_IMAGE_PROMPT_CHARS} characters"
                ));
            }
            // A full outbox refuses before anything is spent.
            if !ctx.outbox.has_room() {
                return ToolOutcome::Failure(
                    "too_many_images: this reply already carries as many pictures as it may"
                        .to_owned(),
                );
            }
            let ask = ImageAsk { prompt: prompt.to_owned(), shape };
            match self.maker.make(ctx, ask).await {
                Ok(made) => {
                    let name = made.file.filename.clone();
                    if ctx.outbox.push(made.file).is_err() {
                        return ToolOutcome::Failure(
                            "too_many_images: this reply already carries as many pictures as it may"
                                .to_owned(),
                        );
                    }
                    ToolOutcome::Success(json!({
                        "status": "image_ready",
                        "file": name,
                        "drawn_by": made.by,
                        "note": "The picture will be posted right after your reply.",
                    }))
                }
                Err(failure) => ToolOutcome::Failure(failure.to_string()),
            }
        }
        .boxed()
    }
}
