//! The provider layer's front door: [`Llm::stream`], [`Llm::complete`] and [`Llm::embed`] over a
//! fallback chain of [`Target`]s.
//!
//! For each target in order: up to [`MAX_KEY_ATTEMPTS`] keys from the pool; for each key, the
//! degradation ladder on 400s and retries with jittered backoff on transient failures. All of it
//! happens before the first token reaches the caller: once a stream has delivered content, an
//! error ends it and nothing is retried, because the caller may already have shown the text.

use std::sync::Arc;
use std::time::Duration;

use tomori_net::Client;

use crate::call::{Answered, ChatStream, Exchange, Failure, embed_once, image_once, open_chat};
use crate::catalogue::{Capabilities, shape_for};
use crate::degrade::Degradation;
use crate::endpoint::{Endpoint, StreamLimits, Timeouts, Wire};
use crate::error::{LlmError, cause_chain};
use crate::event::{Completion, Notice};
use crate::image::{ImageApi, ImageOutcome, ImageRequest};
use crate::keys::{ApiKey, Clock, KeyOutcome, KeyPools, MAX_KEY_ATTEMPTS, SystemClock};
use crate::request::{ChatRequest, EmbeddingRequest};
use crate::video::{self, GeneratedVideo, VideoFailure, VideoOptions, VideoOutcome, VideoRequest};

/// One model on one endpoint, with the keys that may pay for it.
#[derive(Clone, Debug)]
pub struct Target {
    /// Shown to users in notices, e.g. `OpenRouter · deepseek-chat`.
    pub label: String,
    /// Provider name; keys pool per provider (`openrouter`, `custom:s123:local`).
    pub provider: String,
    /// Where to send.
    pub endpoint: Endpoint,
    /// The model id.
    pub model: String,
    /// A guarded client for the scope of whoever configured the endpoint.
    pub client: Client,
    /// Keys to use, from [`crate::KeyCandidates::resolve`]; empty for endpoints that need none.
    pub keys: Vec<ApiKey>,
    /// What the model can do, from the catalogue.
    pub capabilities: Capabilities,
    /// This provider's own first-byte and idle timeouts (`[providers.<name>]` in the config
    /// file); the [`Llm`]'s when unset.
    pub timeouts: Option<Timeouts>,
}

impl Target {
    /// Whether the model watches videos (inline files and YouTube links): Gemini's models that
    /// see images. No other wire here takes video.
    pub fn sees_video(&self) -> bool {
        self.endpoint.wire() == Wire::Gemini && self.capabilities.vision
    }

    /// A target with no keys and default capabilities.
    pub fn new(
        label: impl Into<String>,
        provider: impl Into<String>,
        endpoint: Endpoint,
        model: impl Into<String>,
        client: Client,
    ) -> Self {
        Target {
            label: label.into(),
            provider: provider.into(),
            endpoint,
            model: model.into(),
            client,
            keys: Vec::new(),
            capabilities: Capabilities::default(),
            timeouts: None,
        }
    }

    /// Gives the target timeouts of its own.
    #[must_use]
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = Some(timeouts);
        self
    }

    /// Sets the keys.
    #[must_use]
    pub fn with_keys(mut self, keys: Vec<ApiKey>) -> Self {
        self.keys = keys;
        self
    }

    /// Sets the capabilities.
    #[must_use]
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    fn answered(&self, key: Option<&ApiKey>) -> Answered {
        Answered {
            label: self.label.clone(),
            provider: self.provider.clone(),
            model: self.model.clone(),
            key_id: key.map(|k| k.id().to_owned()),
        }
    }
}

/// An image, or the provider's refusal, and who answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedImage {
    /// What the provider made.
    pub outcome: ImageOutcome,
    /// Which endpoint, model and key answered.
    pub answered: Answered,
}

/// Retries of a transient failure (5xx, timeout, broken connection) with the same key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first pause; each retry doubles it.
    pub base_delay: Duration,
    /// The longest pause.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// The pause before retry `n` (0-based): the doubled delay, capped, with its upper half
    /// jittered so that many requests failing together do not come back together.
    pub fn delay(&self, n: u32, jitter: u64) -> Duration {
        let doubled =
            self.base_delay.saturating_mul(1_u32.checked_shl(n.min(16)).unwrap_or(u32::MAX));
        let capped = doubled.min(self.max_delay);
        let half = capped / 2;
        let half_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let extra = if half_nanos == 0 { 0 } else { jitter % (half_nanos + 1) };
        half + Duration::from_nanos(extra)
    }
}

/// Embedding vectors with where they came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    /// One vector per input, in order.
    pub vectors: Vec<Vec<f32>>,
    /// Prompt tokens, when reported.
    pub input_tokens: u64,
    /// Who answered.
    pub answered: Answered,
    /// Set when a fallback answered.
    pub fallback: Option<Notice>,
}

/// The provider layer: key pools, clock, retry policy, timeouts and caps. Build one at startup
/// and share it.
#[derive(Clone, Debug)]
pub struct Llm {
    pools: KeyPools,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
    timeouts: Timeouts,
    limits: StreamLimits,
}

impl Default for Llm {
    fn default() -> Self {
        Llm {
            pools: KeyPools::default(),
            clock: Arc::new(SystemClock),
            retry: RetryPolicy::default(),
            timeouts: Timeouts::default(),
            limits: StreamLimits::default(),
        }
    }
}

impl Llm {
    /// Uses `clock` for key cooldowns.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the retry policy.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the timeouts (the connect timeout belongs to the targets' clients).
    #[must_use]
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Sets the size caps.
    #[must_use]
    pub fn with_limits(mut self, limits: StreamLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The key pools (for stats and for persisting usage).
    pub fn pools(&self) -> &KeyPools {
        &self.pools
    }

    /// Streams an answer from the first target of `chain` that gives one. Returns once the
    /// answer has started (its first content is queued): every retry, key change, degradation
    /// and fallback happens before. The stream starts with notices for anything the user
    /// should know (a fallback answered, images or tools removed).
    ///
    /// # Errors
    ///
    /// `InvalidRequest` for a request no target can take; otherwise the primary target's error
    /// when every target failed (the one the user configured, and usually the telling one).
    pub async fn stream(
        &self,
        chain: &[Target],
        request: &ChatRequest,
    ) -> Result<ChatStream, LlmError> {
        request.validate()?;
        let mut primary_error: Option<LlmError> = None;
        for target in chain {
            match self.stream_target(target, request).await {
                Ok(mut stream) => {
                    if let (Some(primary), Some(error)) = (chain.first(), &primary_error) {
                        stream.prepend(vec![Notice::FallbackUsed {
                            primary: primary.label.clone(),
                            answered_by: target.label.clone(),
                            reason: error.code(),
                        }]);
                    }
                    return Ok(stream);
                }
                Err(error) => {
                    tracing::warn!(
                        target_label = %target.label,
                        model = %target.model,
                        code = error.code(),
                        cause = %cause_chain(&error),
                        "llm: target failed"
                    );
                    primary_error.get_or_insert(error);
                }
            }
        }
        Err(primary_error.unwrap_or_else(|| LlmError::invalid("the fallback chain is empty")))
    }

    /// [`Llm::stream`], collected.
    ///
    /// # Errors
    ///
    /// As [`Llm::stream`], or the error that ended the stream.
    pub async fn complete(
        &self,
        chain: &[Target],
        request: &ChatRequest,
    ) -> Result<Completion, LlmError> {
        let mut stream = self.stream(chain, request).await?;
        let mut completion = Completion::default();
        while let Some(event) = stream.next().await {
            completion.push(event?);
        }
        Ok(completion)
    }

    /// Embeds texts with the first target of `chain` that answers.
    ///
    /// # Errors
    ///
    /// As [`Llm::stream`].
    pub async fn embed(
        &self,
        chain: &[Target],
        request: &EmbeddingRequest,
    ) -> Result<Embeddings, LlmError> {
        if request.inputs.is_empty() {
            return Err(LlmError::invalid("nothing to embed"));
        }
        let mut primary_error: Option<LlmError> = None;
        for target in chain {
            let attempt = self.embed_target(target, request).await;
            match attempt {
                Ok((vectors, input_tokens, answered)) => {
                    let fallback = match (chain.first(), &primary_error) {
                        (Some(primary), Some(error)) => Some(Notice::FallbackUsed {
                            primary: primary.label.clone(),
                            answered_by: target.label.clone(),
                            reason: error.code(),
                        }),
                        _ => None,
                    };
                    return Ok(Embeddings { vectors, input_tokens, answered, fallback });
                }
                Err(error) => {
                    primary_error.get_or_insert(error);
                }
            }
        }
        Err(primary_error.unwrap_or_else(|| LlmError::invalid("the fallback chain is empty")))
    }

    async fn stream_target(
        &self,
        target: &Target,
        request: &ChatRequest,
    ) -> Result<ChatStream, LlmError> {
        let (mut shaped, notices) = shape_for(request, &target.capabilities);
        if !target.sees_video() {
            // Security: spend and content control. A video goes only to a model that watches
            // it; every other reads its caption.
            shaped.videos_as_captions();
        }
        // Token ids belong to one vocabulary: each model gets its own, or none.
        shaped.sampler.logit_bias =
            shaped.sampler.logit_bias.for_model(&target.provider, &target.model);
        let mut keys = KeyAttempts::new(self, target);
        while let Some(key) = keys.next() {
            match self.open_stream(target, key, &shaped).await {
                Ok((mut stream, degradation)) => {
                    keys.succeeded(key);
                    let mut all = notices.clone();
                    all.extend(degradation.notices());
                    stream.prepend(all);
                    stream.set_answered(target.answered(key));
                    return Ok(stream);
                }
                Err(error) => keys.failed(key, error)?,
            }
        }
        Err(keys.exhausted())
    }

    /// One key's attempt at a stream: the degradation ladder on requests the endpoint rejects,
    /// and retries with jittered backoff on transient failures.
    async fn open_stream(
        &self,
        target: &Target,
        key: Option<&ApiKey>,
        shaped: &ChatRequest,
    ) -> Result<(ChatStream, Degradation), LlmError> {
        let mut degradation = Degradation::default();
        let mut retries = 0;
        loop {
            let attempt = async {
                let mut stream =
                    open_chat(self.exchange(target, key), shaped, &degradation).await?;
                stream.prime().await?;
                Ok::<_, Failure>(stream)
            };
            match attempt.await {
                Ok(stream) => return Ok((stream, degradation)),
                Err(failure) if failure.degradable => {
                    let wire = target.endpoint.wire();
                    match degradation.next(shaped, wire, failure.rejected) {
                        Some(next) => {
                            tracing::info!(
                                target_label = %target.label,
                                "llm: endpoint rejected the request, simplifying it"
                            );
                            degradation = next;
                        }
                        None => return Err(failure.error),
                    }
                }
                Err(failure) => {
                    // Every failed attempt is logged with its whole cause, so a refused
                    // connection, a DNS failure and a TLS failure read differently.
                    tracing::warn!(
                        target_label = %target.label,
                        attempt = retries + 1,
                        code = failure.error.code(),
                        cause = %cause_chain(&failure.error),
                        "llm: attempt failed"
                    );
                    self.backoff(failure.error, &mut retries).await?;
                }
            }
        }
    }

    /// Embeds with one target: its keys, each with retries.
    async fn embed_target(
        &self,
        target: &Target,
        request: &EmbeddingRequest,
    ) -> Result<(Vec<Vec<f32>>, u64, Answered), LlmError> {
        let mut keys = KeyAttempts::new(self, target);
        while let Some(key) = keys.next() {
            let mut retries = 0;
            let result = loop {
                match embed_once(self.exchange(target, key), request).await {
                    Ok(value) => break Ok(value),
                    Err(failure) => {
                        if let Err(error) = self.backoff(failure.error, &mut retries).await {
                            break Err(error);
                        }
                    }
                }
            };
            match result {
                Ok((vectors, tokens)) => {
                    keys.succeeded(key);
                    return Ok((vectors, tokens, target.answered(key)));
                }
                Err(error) => keys.failed(key, error)?,
            }
        }
        Err(keys.exhausted())
    }

    /// Makes one image with the first target of `chain` that answers: each target's keys, each
    /// with retries, as for text. A provider's refusal is an answer, not a failure: no other
    /// target is asked to draw what one refused.
    ///
    /// # Errors
    ///
    /// As [`Llm::stream`]; `InvalidRequest` for a target whose API makes no images.
    pub async fn generate_image(
        &self,
        chain: &[Target],
        request: &ImageRequest,
    ) -> Result<GeneratedImage, LlmError> {
        let mut primary_error: Option<LlmError> = None;
        for target in chain {
            match self.image_target(target, request).await {
                Ok((outcome, answered)) => return Ok(GeneratedImage { outcome, answered }),
                Err(error) => {
                    primary_error.get_or_insert(error);
                }
            }
        }
        Err(primary_error.unwrap_or_else(|| LlmError::invalid("no image model is set")))
    }

    async fn image_target(
        &self,
        target: &Target,
        request: &ImageRequest,
    ) -> Result<(ImageOutcome, Answered), LlmError> {
        let api = ImageApi::for_target(target.endpoint.wire(), &target.provider)?;
        let mut keys = KeyAttempts::new(self, target);
        while let Some(key) = keys.next() {
            let mut retries = 0;
            let result = loop {
                match image_once(self.exchange(target, key), api, request).await {
                    Ok(outcome) => break Ok(outcome),
                    Err(failure) => {
                        if let Err(error) = self.backoff(failure.error, &mut retries).await {
                            break Err(error);
                        }
                    }
                }
            };
            match result {
                Ok(outcome) => {
                    keys.succeeded(key);
                    return Ok((outcome, target.answered(key)));
                }
                Err(error) => keys.failed(key, error)?,
            }
        }
        Err(keys.exhausted())
    }

    /// Makes one video with the first target of `chain` that answers (only Gemini's Veo has a
    /// video API here): each target's keys in turn until one starts the operation, which is then
    /// polled to `options.deadline`. Once a provider has started a video, its failure ends the
    /// call: another key or target would pay for a second one. A refusal is an answer.
    ///
    /// # Errors
    ///
    /// `InvalidRequest` for a target whose wire has no video API; otherwise as
    /// [`Llm::generate_image`], with `Timeout` (phase `Total`) past the deadline and `Malformed`
    /// for a file that is not a usable MP4.
    pub async fn generate_video(
        &self,
        chain: &[Target],
        request: &VideoRequest,
        options: &VideoOptions,
    ) -> Result<GeneratedVideo, LlmError> {
        let mut primary_error: Option<LlmError> = None;
        for target in chain {
            match self.video_target(target, request, options).await {
                Ok((outcome, answered)) => return Ok(GeneratedVideo { outcome, answered }),
                Err(VideoFailure { error, started: true }) => return Err(error),
                Err(VideoFailure { error, started: false }) => {
                    primary_error.get_or_insert(error);
                }
            }
        }
        Err(primary_error.unwrap_or_else(|| LlmError::invalid("no video model is set")))
    }

    async fn video_target(
        &self,
        target: &Target,
        request: &VideoRequest,
        options: &VideoOptions,
    ) -> Result<(VideoOutcome, Answered), VideoFailure> {
        let not_started = |error| VideoFailure { error, started: false };
        let api = video::VideoApi::for_target(target.endpoint.wire(), &target.provider)
            .map_err(not_started)?;
        let mut keys = KeyAttempts::new(self, target);
        while let Some(key) = keys.next() {
            match video::generate(self.exchange(target, key), api, request, options).await {
                Ok(outcome) => {
                    keys.succeeded(key);
                    return Ok((outcome, target.answered(key)));
                }
                Err(failure) if failure.started => return Err(failure),
                Err(failure) => keys.failed(key, failure.error).map_err(not_started)?,
            }
        }
        Err(not_started(keys.exhausted()))
    }

    /// Waits before the next retry of a transient failure; the error itself when it is not
    /// transient or the retries are used up.
    async fn backoff(&self, error: LlmError, retries: &mut u32) -> Result<(), LlmError> {
        if !error.is_transient() || *retries >= self.retry.max_retries {
            return Err(error);
        }
        let jitter = getrandom::u64().unwrap_or(0);
        tokio::time::sleep(self.retry.delay(*retries, jitter)).await;
        *retries += 1;
        Ok(())
    }

    fn exchange<'a>(&'a self, target: &'a Target, key: Option<&'a ApiKey>) -> Exchange<'a> {
        Exchange {
            client: &target.client,
            endpoint: &target.endpoint,
            model: &target.model,
            key,
            timeouts: target.timeouts.as_ref().unwrap_or(&self.timeouts),
            limits: &self.limits,
        }
    }
}

/// The key attempts for one target: up to [`MAX_KEY_ATTEMPTS`] keys of its pool, least used first,
/// or a single attempt without a key when the target has none. Written as a state machine rather
/// than a function taking an async closure, so that the futures that use it stay `Send` for every
/// lifetime and a caller can spawn them.
struct KeyAttempts<'a> {
    llm: &'a Llm,
    target: &'a Target,
    tried: Vec<String>,
    attempts: usize,
    last_error: Option<LlmError>,
}

impl<'a> KeyAttempts<'a> {
    fn new(llm: &'a Llm, target: &'a Target) -> Self {
        KeyAttempts { llm, target, tried: Vec::new(), attempts: 0, last_error: None }
    }

    /// The next key to try (`Some(None)` for a target without keys), or `None` when done.
    fn next(&mut self) -> Option<Option<&'a ApiKey>> {
        if self.target.keys.is_empty() {
            self.attempts += 1;
            return (self.attempts == 1).then_some(None);
        }
        if self.attempts >= MAX_KEY_ATTEMPTS {
            return None;
        }
        self.attempts += 1;
        let now = self.llm.clock.now();
        let key =
            self.llm.pools.pick(&self.target.provider, &self.target.keys, &self.tried, now)?;
        self.tried.push(key.id().to_owned());
        Some(Some(key))
    }

    fn succeeded(&self, key: Option<&ApiKey>) {
        if let Some(key) = key {
            self.llm.pools.record(
                &self.target.provider,
                key.id(),
                KeyOutcome::Success,
                self.llm.clock.now(),
            );
        }
    }

    /// Records a failed attempt. `Ok` means another key may help; `Err` ends the target's
    /// attempts with that error.
    fn failed(&mut self, key: Option<&ApiKey>, error: LlmError) -> Result<(), LlmError> {
        let Some(key) = key else { return Err(error) };
        let outcome = match &error {
            LlmError::RateLimit { retry_after } => Some(KeyOutcome::RateLimited(*retry_after)),
            LlmError::Auth { .. }
            | LlmError::Server { .. }
            | LlmError::Timeout { .. }
            | LlmError::Transport(_) => Some(KeyOutcome::Failed(error.code())),
            // The request's fault, or the endpoint's: another key would fail alike.
            _ => None,
        };
        let Some(outcome) = outcome else { return Err(error) };
        tracing::warn!(
            provider = %self.target.provider,
            key_id = key.id(),
            code = error.code(),
            cause = %cause_chain(&error),
            "llm: key failed, resting it"
        );
        self.llm.pools.record(&self.target.provider, key.id(), outcome, self.llm.clock.now());
        self.last_error = Some(error);
        Ok(())
    }

    fn exhausted(self) -> LlmError {
        self.last_error
            .unwrap_or_else(|| LlmError::NoKey { provider: self.target.provider.clone() })
    }
}
