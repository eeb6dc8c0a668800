//! Tenor pages as GIFs: a Tenor link posted without Discord's preview names its GIF only in the
//! page's HTML (`og:image`). The page is fetched with the tool scope's client (what the model's
//! `fetch_url` may reach: public hosts, every redirect and peer judged), within a small cap, and
//! the GIF it names must be on Tenor's media hosts before the media scope fetches it like any
//! attachment.

use tomori_core::media_links::{GifLink, gif_link, is_tenor_media, og_image};
use tomori_net::Limits;

use super::{Media, MediaError};

/// The most of a Tenor page read (its `og:image` sits in the head).
const MAX_PAGE_BYTES: u64 = 512 * 1024;

impl Media {
    /// Where the picture at `url` really is: a Tenor page's GIF, or `url` itself.
    ///
    /// # Errors
    /// A Tenor page that cannot be fetched here or names no GIF on Tenor's media hosts.
    pub(super) async fn picture_url(&self, url: &str) -> Result<String, MediaError> {
        let Some(GifLink::TenorPage(page)) = gif_link(url) else {
            return Ok(url.to_owned());
        };
        let Some(pages) = self.pages.as_ref() else {
            return Err(MediaError::Decode("link pages are not read here".to_owned()));
        };
        let limits = Limits::default()
            .with_max_bytes(MAX_PAGE_BYTES)
            .with_timeout(self.options.timeout)
            .with_content_types(&["text/html"]);
        // Security: SSRF through a link a member posted. The page is fetched under the tool
        // policy, the same as a URL the model asks `fetch_url` for.
        let html = pages.safe_download(&page, &limits).await?;
        let gif = og_image(&String::from_utf8_lossy(&html.bytes))
            .ok_or_else(|| MediaError::Decode("the Tenor page names no GIF".to_owned()))?;
        // Security: a page's answer is hostile. Only Tenor's own media hosts are fetched, by the
        // media scope.
        if !is_tenor_media(&gif) {
            return Err(MediaError::Decode("the Tenor page's GIF is not on Tenor".to_owned()));
        }
        Ok(gif)
    }
}
