//! Where each channel sits: its guild (none for a direct message) and, for a thread, its parent.
//!
//! The surface needs this because the engine names only a channel: a persona's webhook belongs to
//! the guild's tenant and lives on the parent channel of a thread, and a direct message has no
//! webhooks at all. It also keeps each guild's name, which the prompt shows. The directory learns from gateway events (GUILD_CREATE lists a guild's
//! channels and active threads; channel and thread events keep it current) and asks REST for a
//! channel it has not seen.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use twilight_model::channel::Channel;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker};

/// Channels remembered before the directory starts over, so it stays bounded. Relearning costs
/// one REST request per channel.
const MAX_CHANNELS: usize = 250_000;

/// Where a channel sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    /// The guild, or `None` for a direct message.
    pub(crate) guild: Option<Id<GuildMarker>>,
    /// The parent channel, for a thread.
    pub(crate) parent: Option<Id<ChannelMarker>>,
}

impl Place {
    /// The place of a channel object from Discord.
    pub(crate) fn of(channel: &Channel) -> Self {
        Self {
            guild: channel.guild_id,
            parent: if channel.kind.is_thread() { channel.parent_id } else { None },
        }
    }
}

/// Channel id to [`Place`], shared by the shards and the surface.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    places: RwLock<HashMap<Id<ChannelMarker>, Place>>,
    /// Guild names, for the prompt ("You are in the server …").
    guild_names: RwLock<HashMap<Id<GuildMarker>, String>>,
}

impl Directory {
    pub(crate) fn get(&self, channel: Id<ChannelMarker>) -> Option<Place> {
        self.places.read().unwrap_or_else(PoisonError::into_inner).get(&channel).copied()
    }

    pub(crate) fn learn(&self, channel: Id<ChannelMarker>, place: Place) {
        let mut places = self.places.write().unwrap_or_else(PoisonError::into_inner);
        if places.len() >= MAX_CHANNELS && !places.contains_key(&channel) {
            places.clear();
        }
        places.insert(channel, place);
    }

    pub(crate) fn learn_channel(&self, channel: &Channel) {
        self.learn(channel.id, Place::of(channel));
    }

    pub(crate) fn guild_name(&self, guild: Id<GuildMarker>) -> Option<String> {
        self.guild_names.read().unwrap_or_else(PoisonError::into_inner).get(&guild).cloned()
    }

    pub(crate) fn learn_guild_name(&self, guild: Id<GuildMarker>, name: &str) {
        let mut names = self.guild_names.write().unwrap_or_else(PoisonError::into_inner);
        if names.len() >= MAX_CHANNELS && !names.contains_key(&guild) {
            names.clear();
        }
        names.insert(guild, name.to_owned());
    }

    pub(crate) fn forget_guild(&self, guild: Id<GuildMarker>) {
        self.guild_names.write().unwrap_or_else(PoisonError::into_inner).remove(&guild);
    }

    pub(crate) fn forget(&self, channel: Id<ChannelMarker>) {
        self.places.write().unwrap_or_else(PoisonError::into_inner).remove(&channel);
    }
}
