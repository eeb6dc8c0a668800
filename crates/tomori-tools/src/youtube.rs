//! `process_youtube_video`: a model that watches videos (Gemini's) asks to watch a YouTube video
//! linked in the conversation.
//!
//! The link must be one the turn's recent messages carry ([`TurnContext::youtube`]), so a model
//! steered by a page or a message cannot spend the server's tokens on any video it is told to:
//! a video costs hundreds of tokens for each second of it. The tool fetches nothing: the
//! canonical watch URL goes into [`crate::ShownImages`], and the engine shows it to the model
//! with the next request, where Google's API fetches it. At most one a turn.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};
use tomori_core::media_links::{youtube_id, youtube_watch_url};
use tomori_llm::{Video, VideoSource};

use crate::context::TurnContext;
use crate::gate::{Authorized, Tool, ToolOutcome};
use crate::peek::MAX_SHOWN_VIDEOS;
use crate::policy::ToolPolicy;

/// The tool's name (the engine offers it only when the answering model watches videos and the
/// conversation links one).
pub const PROCESS_YOUTUBE_VIDEO: &str = "process_youtube_video";

/// The `process_youtube_video` tool.
#[derive(Debug, Default)]
pub struct ProcessYoutubeVideo;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    url: String,
}

impl ProcessYoutubeVideo {
    fn run(call: &Authorized<'_>, ctx: &TurnContext) -> ToolOutcome {
        let args: Args = match call.parse() {
            Ok(args) => args,
            Err(failure) => return failure,
        };
        let Some(id) = youtube_id(&args.url) else {
            return ToolOutcome::Failure(
                "invalid_argument: not a YouTube video link (watch, youtu.be, shorts or embed)"
                    .to_owned(),
            );
        };
        // Security: spend control against steered models. Only a video the conversation
        // linked, never one the model was told about elsewhere.
        if !ctx.youtube.contains(&id) {
            return ToolOutcome::Failure(
                "unknown_video: that video is not linked in the recent conversation".to_owned(),
            );
        }
        let Some(url) = youtube_watch_url(&id) else {
            return ToolOutcome::Failure("invalid_argument: not a YouTube video id".to_owned());
        };
        let video = Video {
            media_type: "video/*".to_owned(),
            source: VideoSource::YouTube(url.clone()),
            caption: format!("[the YouTube video {url}, which this model cannot watch]"),
        };
        if !ctx.shown.push_video(format!("[the YouTube video {url}]"), video) {
            return ToolOutcome::Failure(format!(
                "too_many_videos: a turn may watch {MAX_SHOWN_VIDEOS} video at most"
            ));
        }
        ToolOutcome::Success(json!({
            "status": "shown",
            "url": url,
            "note": "The video follows these results; watch it before you answer.",
        }))
    }
}

impl Tool for ProcessYoutubeVideo {
    fn name(&self) -> &'static str {
        PROCESS_YOUTUBE_VIDEO
    }

    fn description(&self) -> &'static str {
        "Watch a YouTube video that someone linked in the conversation (its picture and sound), to answer about what it shows. Give the link as it was posted."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "url": {
                    "type": "string",
                    "description": "The YouTube link from the conversation.",
                    "maxLength": 200,
                },
            },
            "required": ["url"],
            "additionalProperties": false,
        })
    }

    fn policy(&self) -> ToolPolicy {
        // The link is checked by the tool against the turn's own.
        ToolPolicy::read_only()
    }

    fn execute<'a>(
        &'a self,
        call: Authorized<'a>,
        ctx: &'a TurnContext,
    ) -> BoxFuture<'a, ToolOutcome> {
        async move { Self::run(&call, ctx) }.boxed()
    }
}
