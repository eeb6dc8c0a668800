//! `analyze_image`: a chat model that cannot see asks the server's vision model about an image
//! of the conversation, named by its `media_N` handle (`/model vision mode describe`).
//!
//! The handle must be one this turn issued, so the image is an attachment of the turn's own
//! context, never a URL from the model; an [`ImageAnalyst`] (the chat layer: the media policy
//! and decoding limits, then the vision model) fetches it and asks. The description is the
//! vision model's output about a picture anyone could have posted: hostile data, returned as a
//! tool result like any other.

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::context::TurnContext;
use crate::gate::{Authorized, Tool, ToolOutcome};
use crate::policy::ToolPolicy;

/// The tool's name (the engine offers it only when the chat model is blind and the server's
/// vision model describes).
pub const ANALYZE_IMAGE: &str = "analyze_image";

/// The longest question the model may ask about an image.
pub const MAX_QUESTION_CHARS: usize = 500;

/// Looks at an image for a model that cannot.
pub trait ImageAnalyst: Send + Sync {
    /// What the image at `url` shows, answering `question`; the error is a sentence for the
    /// model.
    fn describe<'a>(
        &'a self,
        url: &'a str,
        question: &'a str,
    ) -> BoxFuture<'a, Result<String, String>>;
}

/// The `analyze_image` tool; it works only in turns whose context carries an analyst.
#[derive(Debug, Default)]
pub struct AnalyzeImage;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    media_id: String,
    #[serde(default)]
    question: Option<String>,
}

impl AnalyzeImage {
    async fn run(&self, call: &Authorized<'_>, ctx: &TurnContext) -> ToolOutcome {
        let args: Args = match call.parse() {
            Ok(args) => args,
            Err(failure) => return failure,
        };
        let Some(analyst) = ctx.analyst.as_ref() else {
            return ToolOutcome::Failure(
                "unavailable: no vision model describes images here".into(),
            );
        };
        let handle = args.media_id.trim();
        // Security: SSRF. Only an attachment this turn showed, by its handle; the model never
        // names a URL.
        let Some(url) = ctx.handles.media(handle) else {
            return ToolOutcome::Failure(format!(
                "unknown_media: {handle} is not an image of this conversation; use a media_N handle"
            ));
        };
        let question = args.question.as_deref().map(str::trim).filter(|q| !q.is_empty());
        if question.is_some_and(|q| q.chars().count() > MAX_QUESTION_CHARS) {
            return ToolOutcome::Failure(format!(
                "invalid_argument: the question is at most {MAX_QUESTION_CHARS} characters"
            ));
        }
        let question = question.unwrap_or("Describe this image.");
        match analyst.describe(url, question).await {
            Ok(description) => ToolOutcome::Success(json!({
                "media_id": handle,
                "description": description,
            })),
            Err(reason) => ToolOutcome::Failure(format!("analysis_failed: {reason}")),
        }
    }
}

impl Tool for AnalyzeImage {
    fn name(&self) -> &'static str {
        ANALYZE_IMAGE
    }

    fn description(&self) -> &'static str {
        "You cannot see images: ask a vision model what an image of the conversation shows. Give its media_N handle and, if you want, a question about it."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "media_id": {
                    "type": "string",
                    "description": "The media_N handle of the image, as the conversation shows it.",
                },
                "question": {
                    "type": "string",
                    "description": "What you want to know about it (optional).",
                    "maxLength": MAX_QUESTION_CHARS,
                },
            },
            "required": ["media_id"],
            "additionalProperties": false,
        })
    }

    fn policy(&self) -> ToolPolicy {
        // The handle is checked by the tool against the turn's own.
        ToolPolicy::read_only()
    }

    fn execute<'a>(
        &'a self,
        call: Authorized<'a>,
        ctx: &'a TurnContext,
    ) -> BoxFuture<'a, ToolOutcome> {
        async move { self.run(&call, ctx).await }.boxed()
    }
}

/// An analyst, shared by a turn's context.
pub type SharedAnalyst = Arc<dyn ImageAnalyst>;
