//! The pictures `generate_image` asks for: the server's image model (`/model image`) with the
//! member's or the server's keys, the provider's file checked and re-encoded within the media
//! limits, and an audit row naming who asked, what for and who drew it. An image model that is
//! a custom endpoint with a ComfyUI workflow (`/provider endpoint workflow`) runs the workflow on
//! that ComfyUI server instead of an image API.

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tomori_llm::{
    ComfyAsk, ComfyOptions, ComfySize, ComfyWorkflow, ImageData, ImageOutcome, ImageRequest,
    ImageShape, Llm, LlmError, MAX_IMAGE_BYTES, Target, comfy_generate,
};
use tomori_store::audit::Actor;
use tomori_store::models::{self, Generated, ImageModel};
use tomori_store::{Scope, Store, endpoints};
use tomori_tools::{ImageAsk, ImageFailure, ImageMaker, MadeImage, OutFile, Place, TurnContext};

use super::{Encoding, Media};
use crate::providers::{ServerProviders, Tenant};

/// The longest side of a posted picture (providers draw 1024 to 1536; larger is re-scaled).
pub const MAX_POSTED_SIDE: u32 = 2048;

/// Characters of a provider's refusal passed on to the model.
const MAX_REFUSAL_CHARS: usize = 300;

/// Characters of alt text (Discord's `description` limit).
const MAX_ALT_CHARS: usize = 1_024;

/// Draws for turns: see the module documentation.
#[derive(Clone)]
pub struct ImageStudio {
    store: Store,
    providers: ServerProviders,
    llm: Arc<Llm>,
    media: Arc<Media>,
    /// How ComfyUI runs are waited for (tests poll faster).
    comfy_options: ComfyOptions,
}

impl std::fmt::Debug for ImageStudio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageStudio").finish_non_exhaustive()
    }
}

/// The store failed: logged, and the model told to try later.
fn unavailable(error: &dyn std::fmt::Display) -> ImageFailure {
    tracing::error!(%error, "image generation: store error");
    ImageFailure::Failed("storage is unavailable; try again later".to_owned())
}

impl ImageStudio {
    /// A studio over the store's image models, reached through `providers`, with `media`'s
    /// download policy and decoder limits.
    pub fn new(store: Store, providers: ServerProviders, llm: Llm, media: Media) -> Self {
        Self {
            store,
            providers,
            llm: Arc::new(llm),
            media: Arc::new(media),
            comfy_options: ComfyOptions::default(),
        }
    }

    /// Waits for ComfyUI runs as `options` say (the image cap stays the studio's).
    #[must_use]
    pub fn with_comfy_options(mut self, options: ComfyOptions) -> Self {
        self.comfy_options = options;
        self
    }

    async fn draw(&self, ctx: &TurnContext, ask: ImageAsk) -> Result<MadeImage, ImageFailure> {
        let scope = Scope::server(ctx.server);
        let model = models::get_image(&self.store, scope)
            .await
            .map_err(|e| unavailable(&e))?
            .ok_or(ImageFailure::NoModel)?;
        let target = self.target(ctx, &model).await?;
        let workflow = match model.provider.strip_prefix("custom:") {
            Some(label) => {
                endpoints::workflow(&self.store, scope, label).await.map_err(|e| unavailable(&e))?
            }
            None => None,
        };
        let (raw, by) = match workflow {
            Some(workflow) => (self.comfy(&target, &workflow, &ask).await?, target.label.clone()),
            None => self.provider_image(&target, &ask).await?,
        };
        // Security: hostile provider output. The file is decoded within the media limits and
        // written again as PNG, so what is posted is pixels, never the provider's bytes.
        let png =
            self.media.reencode_as(raw, MAX_POSTED_SIDE, Encoding::Png).await.map_err(|e| {
                ImageFailure::Failed(format!("the provider's file is not a usable picture ({e})"))
            })?;
        let row = Generated { kind: "image", prompt: &ask.prompt, provider: &by, bytes: png.len() };
        // A member's own request (`/generate`) is theirs; a tool call is the model's for them.
        let actor = if ctx.member_request {
            Actor::Discord(ctx.invoker)
        } else {
            Actor::Model { persona: ctx.persona, invoker: ctx.invoker }
        };
        // The audit row is written before the file is handed on: a picture nobody can account
        // for is not posted (and the quota is not counted).
        models::record_generation(&self.store, scope, actor, &row)
            .await
            .map_err(|e| unavailable(&e))?;
        let file = OutFile {
            filename: "image.png".to_owned(),
            content_type: "image/png".to_owned(),
            bytes: png,
            description: Some(ask.prompt.chars().take(MAX_ALT_CHARS).collect()),
        };
        Ok(MadeImage { file, by })
    }

    /// The image model's target, paid for with the asking member's keys first.
    async fn target(&self, ctx: &TurnContext, model: &ImageModel) -> Result<Target, ImageFailure> {
        let tenant = Tenant { server: ctx.server, dm: ctx.place == Place::Dm };
        self.providers
            .image_target(&self.store, tenant, Some(ctx.invoker_user), model)
            .await
            .map_err(|e| ImageFailure::Failed(format!("the image model cannot be reached ({e})")))?
            .ok_or_else(|| {
                ImageFailure::Failed(format!(
                    "the image model {}/{} has no key or endpoint",
                    model.provider, model.model
                ))
            })
    }

    /// A picture from an image API (OpenAI-compatible, OpenRouter, Gemini), with who drew it.
    async fn provider_image(
        &self,
        target: &Target,
        ask: &ImageAsk,
    ) -> Result<(Vec<u8>, String), ImageFailure> {
        let request = ImageRequest { prompt: ask.prompt.clone(), shape: ask.shape };
        let generated = self
            .llm
            .generate_image(std::slice::from_ref(target), &request)
            .await
            .map_err(failed)?;
        let raw = match generated.outcome {
            ImageOutcome::Refused(reason) => {
                return Err(ImageFailure::Refused(
                    reason.chars().take(MAX_REFUSAL_CHARS).collect(),
                ));
            }
            ImageOutcome::Image(ImageData::Bytes { bytes, .. }) => bytes,
            ImageOutcome::Image(ImageData::Url(url)) => {
                self.media.download(&url).await.map_err(|e| {
                    ImageFailure::Failed(format!("the picture could not be fetched ({e})"))
                })?
            }
        };
        Ok((raw, generated.answered.label))
    }

    /// A picture from the ComfyUI server `target` points at, running the endpoint's workflow.
    async fn comfy(
        &self,
        target: &Target,
        workflow: &serde_json::Value,
        ask: &ImageAsk,
    ) -> Result<Vec<u8>, ImageFailure> {
        // The stored workflow passed these checks when it was registered; they run again, so a
        // row changed behind the application's back is refused too.
        let bytes = serde_json::to_vec(workflow).unwrap_or_default();
        let workflow = ComfyWorkflow::parse(&bytes).map_err(|e| {
            ImageFailure::Failed(format!("the endpoint's workflow is refused ({e})"))
        })?;
        let size = match ask.shape {
            ImageShape::Square => ComfySize::SQUARE,
            ImageShape::Portrait => ComfySize::PORTRAIT,
            ImageShape::Landscape => ComfySize::LANDSCAPE,
        };
        let comfy_ask = ComfyAsk {
            prompt: ask.prompt.clone(),
            negative: String::new(),
            seed: getrandom::u64().unwrap_or(0),
            size,
        };
        let options = ComfyOptions { max_image_bytes: MAX_IMAGE_BYTES, ..self.comfy_options };
        let key = target.keys.first();
        comfy_generate(&target.client, &target.endpoint, key, &workflow, &comfy_ask, &options)
            .await
            .map(|image| image.bytes)
            .map_err(failed)
    }
}

/// A provider failure in the model's terms; a request its content policy turned down is a
/// refusal, which the persona explains rather than retries.
fn failed(error: LlmError) -> ImageFailure {
    if let LlmError::BadRequest { message, .. } = &error {
        let lower = message.to_ascii_lowercase();
        if ["safety", "content_policy", "content policy", "moderation"]
            .iter()
            .any(|word| lower.contains(word))
        {
            return ImageFailure::Refused(message.chars().take(MAX_REFUSAL_CHARS).collect());
        }
    }
    ImageFailure::Failed(error.to_string())
}

impl ImageMaker for ImageStudio {
    fn make<'a>(
        &'a self,
        ctx: &'a TurnContext,
        ask: ImageAsk,
    ) -> BoxFuture<'a, Result<MadeImage, ImageFailure>> {
        self.draw(ctx, ask).boxed()
    }
}
