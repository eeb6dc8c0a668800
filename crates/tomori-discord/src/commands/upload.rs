//! Files members attach to commands (`/persona import`, `/memory … import`, `/memory document
//! add`): the attachment
//! option as Discord resolved it, and its download through the media-scope client under a size
//! cap checked twice (the size Discord reports, then the bytes that arrive).

use std::time::Duration;

use twilight_model::application::interaction::InteractionDataResolved;
use twilight_model::application::interaction::application_command::CommandOptionValue;

use super::{Args, BadInput, Ctx, Failure};

/// Wall clock for one download.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// An attached file, as Discord resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upload {
    pub(crate) url: String,
    pub(crate) filename: String,
    /// Bytes, as Discord reports it (checked again while downloading).
    pub(crate) size: u64,
    /// The media type Discord reports, if any.
    pub(crate) content_type: Option<String>,
}

impl Upload {
    /// The attachment option `name`, looked up in the interaction's resolved data.
    pub(crate) fn from_option(
        args: Args<'_>,
        resolved: Option<&InteractionDataResolved>,
        name: &str,
    ) -> Result<Self, BadInput> {
        let id = match args.value(name) {
            Some(CommandOptionValue::Attachment(id)) => *id,
            Some(_) => return Err(Args::wrong(name)),
            None => return Err(Args::missing(name)),
        };
        let file = resolved.and_then(|r| r.attachments.get(&id)).ok_or_else(|| {
            BadInput("Discord did not send the attached file; attach it again.".to_owned())
        })?;
        Ok(Self {
            url: file.url.clone(),
            filename: file.filename.clone(),
            size: file.size,
            content_type: file.content_type.clone(),
        })
    }

    /// Downloads the file, at most `max` bytes.
    pub(crate) async fn fetch(&self, ctx: &Ctx<'_>, max: u64) -> Result<Vec<u8>, Failure> {
        // Security: denial of service through uploads. The size Discord reports is checked before
        // anything is downloaded, and the download itself stops at the same cap.
        if self.size > max {
            return Err(Failure::BadInput(format!(
                "`{}` is {}; at most {} is accepted. Nothing was changed.",
                self.filename,
                mib(self.size),
                mib(max)
            )));
        }
        let client = ctx.media.ok_or_else(|| {
            Failure::BadInput(
                "Downloads are unavailable on this bot right now, so files cannot be imported."
                    .to_owned(),
            )
        })?;
        let limits =
            tomori_net::Limits::default().with_max_bytes(max).with_timeout(DOWNLOAD_TIMEOUT);
        // Security: SSRF through attachment URLs. The media-scope client fetches https from
        // public hosts only, judging every redirect and the connected peer.
        let download = client.safe_download(&self.url, &limits).await.map_err(|error| {
            tracing::info!(%error, "an upload's download failed");
            Failure::BadInput(match error {
                tomori_net::FetchError::TooLarge { .. } => {
                    format!("`{}` is larger than {}; nothing was changed.", self.filename, mib(max))
                }
                _ => format!(
                    "I could not download `{}` ({}); nothing was changed.",
                    self.filename,
                    error.code()
                ),
            })
        })?;
        Ok(download.bytes.to_vec())
    }
}

/// A size for a message: two decimals of a MiB.
pub(crate) fn mib(bytes: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "an approximate size for a message")]
    let value = bytes as f64 / (1024.0 * 1024.0);
    format!("{value:.2} MiB")
}
