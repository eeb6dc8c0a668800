//! Server settings vocabulary: feature flags and channel sets, as closed enums so that no column
//! name is ever built from text.

/// A per-server feature flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// The model may call tools at all.
    ToolUse,
    /// The model may write long-term memories.
    SelfTeaching,
    /// Personal memories are used and may be written.
    PersonalMemories,
    /// web_search and fetch_url.
    WebSearch,
    /// Image generation.
    ImageGen,
    /// Video generation.
    VideoGen,
    /// manage_message (pin, edit, delete the bot's own messages).
    ManageMessage,
    /// create_thread.
    ThreadCreation,
    /// cross_channel_message.
    CrossChannel,
    /// Non-admins may take a prompt snapshot.
    PromptSnapshot,
    /// The bot may send stickers.
    StickerUsage,
    /// The bot may use server emojis.
    EmojiUsage,
}

impl Feature {
    /// Every flag, in the order `/server features` lists them.
    pub const ALL: [Self; 12] = [
        Self::ToolUse,
        Self::SelfTeaching,
        Self::PersonalMemories,
        Self::WebSearch,
        Self::ImageGen,
        Self::VideoGen,
        Self::ManageMessage,
        Self::ThreadCreation,
        Self::CrossChannel,
        Self::PromptSnapshot,
        Self::StickerUsage,
        Self::EmojiUsage,
    ];

    /// The flag's stable name (also its column name).
    pub const fn name(self) -> &'static str {
        match self {
            Self::ToolUse => "tool_use",
            Self::SelfTeaching => "self_teaching",
            Self::PersonalMemories => "personal_memories",
            Self::WebSearch => "web_search",
            Self::ImageGen => "image_gen",
            Self::VideoGen => "video_gen",
            Self::ManageMessage => "manage_message",
            Self::ThreadCreation => "thread_creation",
            Self::CrossChannel => "cross_channel",
            Self::PromptSnapshot => "prompt_snapshot",
            Self::StickerUsage => "sticker_usage",
            Self::EmojiUsage => "emoji_usage",
        }
    }

    /// Parses a stable name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// A set of channels a server configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelSet {
    /// When non-empty, the bot answers only here.
    Whitelist,
    /// Channels where the bot joins in without being addressed.
    AutoTrigger,
    /// Role-play channels: no emojis or stickers.
    Rp,
    /// Private channels: no thought logs, no hidden notices.
    Private,
    /// Targets cross_channel_message may never use.
    CrossChannelBlocklist,
}

impl ChannelSet {
    /// The set's stable name (also its stored value).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Whitelist => "whitelist",
            Self::AutoTrigger => "auto_trigger",
            Self::Rp => "rp",
            Self::Private => "private",
            Self::CrossChannelBlocklist => "cross_channel_blocklist",
        }
    }
}

/// How message-trigger cooldowns are keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CooldownKind {
    /// No cooldown.
    Off,
    /// One per user.
    PerUser,
    /// One per channel.
    PerChannel,
    /// One for the whole server.
    ServerWide,
    /// One for the whole server, admins included.
    Strict,
}

impl CooldownKind {
    /// The stored value.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::PerUser => "per_user",
            Self::PerChannel => "per_channel",
            Self::ServerWide => "server_wide",
            Self::Strict => "strict",
        }
    }

    /// Parses the stored value; unknown values mean no cooldown.
    pub fn from_name(name: &str) -> Self {
        match name {
            "per_user" => Self::PerUser,
            "per_channel" => Self::PerChannel,
            "server_wide" => Self::ServerWide,
            "strict" => Self::Strict,
            _ => Self::Off,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_names_round_trip() {
        for feature in Feature::ALL {
            assert_eq!(Feature::from_name(feature.name()), Some(feature));
        }
        assert_eq!(Feature::from_name("drop_table"), None);
    }
}
