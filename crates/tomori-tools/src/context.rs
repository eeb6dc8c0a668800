//! The per-turn context a call is judged in: who, where, which handles were issued, and a
//! [`LiveState`] that reads the facts that can change while the model thinks (feature flags,
//! permissions, privacy level, quota, message authorship and visibility).
//!
//! The gate asks [`LiveState`] once when it advertises tools and again for every call, so a flag
//! turned off or a permission revoked mid-turn stops the next call. Every question may fail; the
//! gate treats a failure as a refusal.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use tomori_core::handles::Handles;
use tomori_core::id::{LineageId, PersonaId, ServerId, Snowflake, UserId};
use tomori_core::privacy::PrivacyLevel;
use tomori_core::quota::QuotaVerdict;
use tomori_core::settings::Feature;

use crate::perm::{Perm, Perms};
use crate::platform::{ChannelAccess, ChannelFacts};
use crate::policy::QuotaKind;

/// The server's feature flags as read for this check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features(u16);

impl Features {
    fn bit(feature: Feature) -> u16 {
        // `Feature::ALL` lists every flag; were one missing, it would have no bit and read as
        // off (fail closed), never as another flag.
        Feature::ALL.iter().position(|f| *f == feature).map_or(0, |index| 1_u16 << index)
    }

    /// The set of the listed flags.
    pub fn of(features: &[Feature]) -> Self {
        Self(features.iter().fold(0, |bits, f| bits | Self::bit(*f)))
    }

    /// Every flag on.
    pub fn all() -> Self {
        Self::of(&Feature::ALL)
    }

    /// Whether `feature` is on.
    pub fn is_on(self, feature: Feature) -> bool {
        self.0 & Self::bit(feature) != 0
    }

    /// These flags with `feature` turned off.
    #[must_use]
    pub fn without(self, feature: Feature) -> Self {
        Self(self.0 & !Self::bit(feature))
    }

    /// The flags of stored settings.
    pub fn from_settings(settings: &tomori_store::settings::ServerSettings) -> Self {
        let on: Vec<Feature> = Feature::ALL.into_iter().filter(|f| settings.feature(*f)).collect();
        Self::of(&on)
    }
}

/// Facts about the turn's channel, read fresh for each check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The server's feature flags.
    pub features: Features,
    /// The invoker's privacy level.
    pub privacy: PrivacyLevel,
    /// The bot's permissions in the turn's channel.
    pub bot: Perms,
    /// The invoker's permissions in the turn's channel.
    pub invoker: Perms,
    /// Whether the server lets members who do not manage it teach its shared memory.
    pub member_teaching: bool,
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Author {
    /// The bot itself.
    Bot,
    /// One of the bot's managed persona webhooks in that channel.
    PersonaWebhook,
    /// Anyone else, including foreign webhooks and other bots.
    Other,
}

/// Who can see a message's channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Visibility {
    /// The invoking member can view it.
    pub invoker: bool,
    /// The bot can view it.
    pub bot: bool,
}

/// A live fact could not be read; the gate refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("live state unavailable: {0}")]
pub struct LiveError(pub String);

/// The facts that can change during a turn, read through the adapters that know them (the
/// database for flags, privacy and quota; Discord for permissions and messages).
pub trait LiveState: Send + Sync {
    /// Flags, privacy and permissions in the turn's channel.
    fn snapshot(&self) -> BoxFuture<'_, Result<Snapshot, LiveError>>;
    /// Whether one more `kind` is allowed for the invoker.
    fn quota(&self, kind: QuotaKind) -> BoxFuture<'_, Result<QuotaVerdict, LiveError>>;
    /// Counts one successful use of `kind` for the invoker.
    fn record_quota(&self, kind: QuotaKind) -> BoxFuture<'_, Result<(), LiveError>>;
    /// Who wrote a message of this turn's context.
    fn message_author(&self, message: Snowflake) -> BoxFuture<'_, Result<Author, LiveError>>;
    /// Who can see the channel of a message of this turn's context.
    fn message_visibility(
        &self,
        message: Snowflake,
    ) -> BoxFuture<'_, Result<Visibility, LiveError>>;
    /// The channels (and active threads) of the turn's guild, for targets named by the model.
    ///
    /// The default knows none: a live state without a platform refuses every channel target.
    fn guild_channels(&self) -> BoxFuture<'_, Result<Vec<ChannelFacts>, LiveError>> {
        Box::pin(async { Err(LiveError("channels are not known here".to_owned())) })
    }
    /// What the bot and the invoker may do in a channel of the turn's guild.
    ///
    /// The default knows nothing, so every channel target is refused.
    fn channel_access(
        &self,
        _channel: Snowflake,
    ) -> BoxFuture<'_, Result<ChannelAccess, LiveError>> {
        Box::pin(async { Err(LiveError("channel permissions are not known here".to_owned())) })
    }
}

impl ChannelAccess {
    /// Who can see the channel.
    pub fn visibility(self) -> Visibility {
        Visibility {
            invoker: self.invoker.contains(Perm::ViewChannel),
            bot: self.bot.contains(Perm::ViewChannel),
        }
    }
}

/// Where the turn happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// A guild channel (or thread).
    Guild {
        /// The channel is in the server's rp set.
        rp: bool,
    },
    /// A direct message.
    Dm,
}

/// Which memory table a memory id belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryScope {
    /// The server's memories of this persona lineage.
    Server,
    /// The invoker's personal memories.
    Personal,
}

/// One turn, as the tools see it.
#[derive(Clone)]
pub struct TurnContext {
    /// The tenant (a guild or the invoker's DM pseudo-server).
    pub server: ServerId,
    /// The platform's guild, `None` in a direct message.
    pub guild: Option<Snowflake>,
    /// The channel (or thread) the turn answers in; every `ref_N` of the turn is a message here.
    pub channel: Snowflake,
    /// Where the turn happens.
    pub place: Place,
    /// The member who triggered the turn.
    pub invoker: Snowflake,
    /// The invoker's internal id (personal data).
    pub invoker_user: UserId,
    /// The persona answering.
    pub persona: PersonaId,
    /// Its lineage (memories are scoped by it).
    pub lineage: LineageId,
    /// The `ref_N` / `media_N` handles this turn issued.
    pub handles: Handles,
    /// The memories this turn's context showed the model, by scope and id.
    pub shown_memories: Vec<(MemoryScope, i64)>,
    /// Live facts.
    pub live: Arc<dyn LiveState>,
    /// Cancelled by `/bot kill` and by stop requests: tools in flight end.
    pub cancel: CancellationToken,
    /// Files the turn's tools made, posted with the persona's answer.
    pub outbox: Outbox,
    /// The channel (or its parent) is in the server's private set: notes written here are shown
    /// nowhere else.
    pub private_channel: bool,
    /// Pictures the turn's tools fetched for the model to look at, shown after their results.
    pub shown: crate::peek::ShownImages,
    /// The member asked for this call themselves (`/generate`), not the model: what it makes
    /// is recorded as theirs.
    pub member_request: bool,
    /// The server's vision model, describing images for a chat model that cannot see them
    /// (`analyze_image`); `None` where the chat model sees or no vision model describes.
    pub analyst: Option<crate::analyze::SharedAnalyst>,
    /// The YouTube videos (ids) the turn's recent messages link, which
    /// `process_youtube_video` may show the model.
    pub youtube: Vec<String>,
    /// The names of the tools this turn offers the model (what `review_capabilities` lists).
    pub offered: Vec<String>,
}

/// The most files one answer carries (Discord takes 10 per message; a turn that made more than
/// a few images is a loop, not a request).
pub const MAX_OUT_FILES: usize = 4;

/// A file a tool made, to post with the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutFile {
    /// The name it is posted under (ASCII, made by the tool, never by the model).
    pub filename: String,
    /// Its MIME type.
    pub content_type: String,
    /// The bytes, already checked and re-encoded by whoever made them.
    pub bytes: Vec<u8>,
    /// Alt text (the platform's `description`), at most 1,024 characters.
    pub description: Option<String>,
}

/// The files a turn's tools made, shared by the tools (which add) and the engine (which posts
/// them after the answer). Bounded by [`MAX_OUT_FILES`].
#[derive(Clone, Debug, Default)]
pub struct Outbox(Arc<std::sync::Mutex<Vec<OutFile>>>);

impl Outbox {
    /// Adds a file; gives it back when the outbox is full.
    ///
    /// # Errors
    /// The outbox holds [`MAX_OUT_FILES`] already.
    pub fn push(&self, file: OutFile) -> Result<(), OutFile> {
        let mut files = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if files.len() >= MAX_OUT_FILES {
            return Err(file);
        }
        files.push(file);
        Ok(())
    }

    /// Whether another file fits.
    pub fn has_room(&self) -> bool {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len() < MAX_OUT_FILES
    }

    /// Takes every file, leaving the outbox empty.
    pub fn take(&self) -> Vec<OutFile> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl std::fmt::Debug for TurnContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnContext")
            .field("server", &self.server)
            .field("channel", &self.channel)
            .field("place", &self.place)
            .field("channel", &self.channel)
            .field("invoker", &self.invoker)
            .field("persona", &self.persona)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_sets_track_each_flag() {
        for feature in Feature::ALL {
            let all = Features::all();
            assert!(all.is_on(feature));
            assert!(!all.without(feature).is_on(feature));
            let others = Feature::ALL.into_iter().filter(|f| *f != feature);
            assert!(others.clone().all(|f| all.without(feature).is_on(f)));
            assert!(Features::of(&[feature]).is_on(feature));
        }
        assert!(!Features::default().is_on(Feature::ToolUse));
    }
}
