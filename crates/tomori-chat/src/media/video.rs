//! The videos `generate_video` asks for: the server's video model (`/model video`) with the
//! member's or the server's keys, the provider's long-running operation waited for, the file
//! checked as an MP4 within Discord's attachment limit, and an audit row naming who asked, what
//! for and who made it.
//!
//! Decision: a video is not re-encoded (that needs a video codec, ffmpeg or the like, in the bot);
//! it is checked structurally instead (`tomori_llm::check_mp4`), so what is posted is a
//! well-formed MP4 container of at most 10 MiB, never another kind of file.

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tomori_llm::{
    Endpoint, Llm, LlmError, MAX_VIDEO_BYTES, Target, VideoData, VideoOptions, VideoOutcome,
    VideoRequest, check_mp4,
};
use tomori_store::audit::Actor;
use tomori_store::models::{self, Generated, VideoModel};
use tomori_store::{Scope, Store};
use tomori_tools::{MadeVideo, OutFile, Place, TurnContext, VideoAsk, VideoFailure, VideoMaker};

use super::Media;
use crate::providers::{ServerProviders, Tenant};

/// Characters of a provider's refusal passed on to the model.
const MAX_REFUSAL_CHARS: usize = 300;

/// Characters of alt text (Discord's `description` limit).
const MAX_ALT_CHARS: usize = 1_024;

/// Films for turns: see the module documentation.
#[derive(Clone)]
pub struct VideoStudio {
    store: Store,
    providers: ServerProviders,
    llm: Arc<Llm>,
    media: Arc<Media>,
    /// How operations are waited for (tests poll faster).
    options: VideoOptions,
    /// Where a known provider is reached instead of its own address (a test's fake, a gateway).
    base_url: Option<(String, String)>,
}

impl std::fmt::Debug for VideoStudio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoStudio").field("options", &self.options).finish_non_exhaustive()
    }
}

/// The store failed: logged, and the model told to try later.
fn unavailable(error: &dyn std::fmt::Display) -> VideoFailure {
    tracing::error!(%error, "video generation: store error");
    VideoFailure::Failed("storage is unavailable; try again later".to_owned())
}

impl VideoStudio {
    /// A studio over the store's video models, reached through `providers`, with `media`'s
    /// download policy for files hosted off the provider's API.
    pub fn new(store: Store, providers: ServerProviders, llm: Llm, media: Media) -> Self {
        Self {
            store,
            providers,
            llm: Arc::new(llm),
            media: Arc::new(media),
            options: VideoOptions::default(),
            base_url: None,
        }
    }

    /// Waits for operations as `options` say (the file cap never passes 10 MiB).
    #[must_use]
    pub fn with_options(mut self, options: VideoOptions) -> Self {
        self.options =
            VideoOptions { max_bytes: options.max_bytes.min(MAX_VIDEO_BYTES), ..options };
        self
    }

    /// Reaches the known provider `provider` at `base_url` instead of its own address. The URL
    /// is judged by the target's policy like any endpoint's, when the target is built.
    #[must_use]
    pub fn with_provider_base_url(mut self, provider: &str, base_url: &str) -> Self {
        self.base_url = Some((provider.to_owned(), base_url.to_owned()));
        self
    }

    async fn film(&self, ctx: &TurnContext, ask: VideoAsk) -> Result<MadeVideo, VideoFailure> {
        let scope = Scope::server(ctx.server);
        let model = models::get_video(&self.store, scope)
            .await
            .map_err(|e| unavailable(&e))?
            .ok_or(VideoFailure::NoModel)?;
        let target = self.target(ctx, &model).await?;
        let request = VideoRequest { prompt: ask.prompt.clone(), shape: ask.shape };
        let generated = self
            .llm
            .generate_video(std::slice::from_ref(&target), &request, &self.options)
            .await
            .map_err(failed)?;
        let bytes = match generated.outcome {
            VideoOutcome::Refused(reason) => {
                return Err(VideoFailure::Refused(
                    reason.chars().take(MAX_REFUSAL_CHARS).collect(),
                ));
            }
            VideoOutcome::Video(VideoData::Bytes(bytes)) => bytes,
            VideoOutcome::Video(VideoData::Url(url)) => self.hosted(&url).await?,
        };
        let by = generated.answered.label;
        let row =
            Generated { kind: "video", prompt: &ask.prompt, provider: &by, bytes: bytes.len() };
        // A member's own request (`/generate`) is theirs; a tool call is the model's for them.
        let actor = if ctx.member_request {
            Actor::Discord(ctx.invoker)
        } else {
            Actor::Model { persona: ctx.persona, invoker: ctx.invoker }
        };
        // The audit row is written before the file is handed on: a video nobody can account for
        // is not posted (and the quota is not counted).
        models::record_generation(&self.store, scope, actor, &row)
            .await
            .map_err(|e| unavailable(&e))?;
        let file = OutFile {
            filename: "video.mp4".to_owned(),
            content_type: "video/mp4".to_owned(),
            bytes,
            description: Some(ask.prompt.chars().take(MAX_ALT_CHARS).collect()),
        };
        Ok(MadeVideo { file, by })
    }

    /// A file the provider hosts off its API's origin: fetched through the media policy (no key
    /// goes there) and checked like one the provider layer fetched.
    async fn hosted(&self, url: &str) -> Result<Vec<u8>, VideoFailure> {
        let cap = self.options.max_bytes.min(MAX_VIDEO_BYTES);
        let bytes =
            self.media.download_video(url, u64::try_from(cap).unwrap_or(u64::MAX)).await.map_err(
                |e| VideoFailure::Failed(format!("the video could not be fetched ({e})")),
            )?;
        // Security: content confusion. Posted as it came, so it must be a well-formed MP4.
        check_mp4(&bytes, cap).map_err(|e| {
            VideoFailure::Failed(format!("the provider's file is not a usable video ({e})"))
        })?;
        Ok(bytes)
    }

    /// The video model's target, paid for with the asking member's keys first.
    async fn target(&self, ctx: &TurnContext, model: &VideoModel) -> Result<Target, VideoFailure> {
        let tenant = Tenant { server: ctx.server, dm: ctx.place == Place::Dm };
        let mut target = self
            .providers
            .video_target(&self.store, tenant, Some(ctx.invoker_user), model)
            .await
            .map_err(|e| VideoFailure::Failed(format!("the video model cannot be reached ({e})")))?
            .ok_or_else(|| {
                VideoFailure::Failed(format!(
                    "the video model {}/{} has no key or endpoint",
                    model.provider, model.model
                ))
            })?;
        if let Some((provider, base_url)) = &self.base_url
            && *provider == target.provider
        {
            // Security: SSRF through a configured endpoint. The replacement is judged by the
            // target's own policy, as the provider's address would be.
            target.endpoint =
                Endpoint::new(target.endpoint.wire(), base_url, target.client.policy()).map_err(
                    |e| VideoFailure::Failed(format!("the video model cannot be reached ({e})")),
                )?;
        }
        Ok(target)
    }
}

/// A provider failure in the model's terms; a request its content policy turned down is a
/// refusal, which the persona explains rather than retries.
fn failed(error: LlmError) -> VideoFailure {
    if let LlmError::BadRequest { message, .. } = &error {
        let lower = message.to_ascii_lowercase();
        if ["safety", "content_policy", "content policy", "moderation", "violate"]
            .iter()
            .any(|word| lower.contains(word))
        {
            return VideoFailure::Refused(message.chars().take(MAX_REFUSAL_CHARS).collect());
        }
    }
    if let LlmError::Timeout { .. } = &error {
        return VideoFailure::Failed(format!("the video took too long to make ({error})"));
    }
    VideoFailure::Failed(error.to_string())
}

impl VideoMaker for VideoStudio {
    fn make<'a>(
        &'a self,
        ctx: &'a TurnContext,
        ask: VideoAsk,
    ) -> BoxFuture<'a, Result<MadeVideo, VideoFailure>> {
        self.film(ctx, ask).boxed()
    }
}
