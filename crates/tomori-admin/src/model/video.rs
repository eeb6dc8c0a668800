//! `/model video set|clear`: the model that makes videos for `generate_video`. Only Gemini's Veo
//! and OpenRouter's video jobs are APIs the bot speaks, so another provider is refused when it
//! is chosen, not when a member first asks for a video.

use tomori_llm::has_video_api;
use tomori_store::models::{self, VideoModel};
use tomori_store::{Scope, Store};

use super::check;
use crate::access::AdminError;
use crate::caller::Caller;

/// What `/model show` says about videos.
pub(super) fn describe(model: Option<&VideoModel>) -> String {
    match model {
        Some(model) => format!("Videos are made by `{}/{}`.", model.provider, model.model),
        None => "No video model: videos are not made.".to_owned(),
    }
}

/// Chooses the video model: a known provider with a video API (google for Veo, openrouter).
pub(super) async fn set(
    store: &Store,
    scope: Scope,
    caller: &Caller,
    provider: &str,
    model: &str,
) -> Result<String, AdminError> {
    // Custom endpoints speak the OpenAI-compatible chat wire, which has no video API.
    if !has_video_api(provider) {
        return Err(AdminError::BadInput(format!(
            "`{provider}` has no video API the bot speaks; use google with a Veo model (for \
             example veo-3.0-generate-001) or openrouter with one of its video models (for \
             example google/veo-3.1). Nothing was changed."
        )));
    }
    check(store, scope, provider, model).await?;
    let chosen = VideoModel { provider: provider.to_owned(), model: model.to_owned() };
    models::set_video(store, scope, caller.actor(), Some(&chosen)).await?;
    Ok(format!(
        "{} Turn videos on with /server feature flag:video_gen; the video quota (/server quota) \
         counts each one.",
        describe(Some(&chosen))
    ))
}

/// Forgets the video model.
pub(super) async fn clear(
    store: &Store,
    scope: Scope,
    caller: &Caller,
) -> Result<String, AdminError> {
    Ok(if models::set_video(store, scope, caller.actor(), None).await? {
        "This server no longer makes videos (no video model).".to_owned()
    } else {
        "This server has no video model.".to_owned()
    })
}
