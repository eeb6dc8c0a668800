//! A persona's avatar uploaded as an image (the dashboard): decoded under the media limits,
//! re-encoded as a 256-pixel JPEG, stored, and served by the front door at a URL named by its
//! digest, which becomes the persona's `avatar_url`.

use tomori_chat::media::Media;
use tomori_store::{Store, avatars};

use super::named;
use crate::access::{AdminError, Need, authorize, tenant};
use crate::answer::Answer;
use crate::caller::Caller;

/// The largest upload taken, before decoding.
pub const MAX_UPLOAD_BYTES: usize = 8 * 1024 * 1024;
/// The stored avatar's longest side, in pixels.
pub const AVATAR_SIDE: u32 = 256;

pub use tomori_store::avatars::by_digest;

/// Stores `bytes` as the avatar of the persona `name`; `url_for` names the served image by its
/// digest (the front door's public address of it).
///
/// # Errors
/// A refusal, no such persona, a file over [`MAX_UPLOAD_BYTES`] or that is not an image within
/// the media limits, or the store failing; nothing changes then.
pub async fn upload(
    store: &Store,
    caller: &Caller,
    media: &Media,
    (name, bytes): (&str, Vec<u8>),
    url_for: impl FnOnce(&str) -> String,
) -> Result<Answer, AdminError> {
    authorize(store, caller, Need::Manager, true).await?;
    let scope = tenant(store, caller).await?;
    let persona = named(store, scope, name).await?;
    if bytes.is_empty() || bytes.len() > MAX_UPLOAD_BYTES {
        return Err(AdminError::BadInput(
            "An avatar is an image of at most 8 MiB; nothing was changed.".to_owned(),
        ));
    }
    // Security: decompression bombs in uploaded images. The same bounded decoder as images
    // from messages (dimension and allocation limits, a time limit, shared decode slots), and
    // only the re-encoded JPEG is kept and served.
    let jpeg = media.reencode(bytes, AVATAR_SIDE).await.map_err(|error| {
        AdminError::BadInput(format!(
            "That file is not an image that can be used ({error}); nothing was changed."
        ))
    })?;
    avatars::put(store, scope, caller.actor(), persona.id, &jpeg, url_for).await?;
    Ok(Answer::text(format!("**{}** has a new avatar.", persona.nickname)))
}
