//! The pictures `peek_profile_picture` shows the model: fetched and prepared exactly as the
//! images of messages are (media policy, size cap, decoding limits, shrunk and re-encoded).

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tomori_llm::Image;
use tomori_tools::PictureLoader;

use super::Media;

impl PictureLoader for Media {
    fn load<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<Image, String>> {
        async move {
            let frames = Media::load(self, url).await.map_err(|error| {
                tracing::debug!(%error, "a profile picture could not be loaded");
                format!("the picture could not be fetched or read ({error})")
            })?;
            // An animated picture is shown as its first frame: one look, one image.
            frames.first().cloned().ok_or_else(|| "the picture has no frames".to_owned())
        }
        .boxed()
    }
}
