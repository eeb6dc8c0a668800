//! The guild model a test sets up: guilds, channels, categories, overwrites, roles, members,
//! owners, system channels and stickers.

use super::payload::{ChannelInfo, ChannelKind};
use super::{FakeDiscord, Overwrite, gateway, guild};

impl FakeDiscord {
    /// Adds a guild; sessions on its shard get a GUILD_CREATE with its channels after READY.
    pub fn add_guild(&self, guild: u64, name: &str) {
        self.shared.lock().guilds.insert(guild, name.to_owned());
    }

    /// Adds a text channel to a guild (and the guild, if unknown).
    pub fn add_text_channel(&self, guild: u64, channel: u64) {
        let mut inner = self.shared.lock();
        inner.guilds.entry(guild).or_insert_with(|| format!("guild-{guild}"));
        inner.channels.insert(
            channel,
            ChannelInfo { id: channel, guild: Some(guild), kind: ChannelKind::Text },
        );
    }

    /// Adds a thread under a text channel.
    pub fn add_thread(&self, guild: u64, parent: u64, thread: u64) {
        let mut inner = self.shared.lock();
        inner.guilds.entry(guild).or_insert_with(|| format!("guild-{guild}"));
        inner.channels.entry(parent).or_insert(ChannelInfo {
            id: parent,
            guild: Some(guild),
            kind: ChannelKind::Text,
        });
        inner.channels.insert(
            thread,
            ChannelInfo { id: thread, guild: Some(guild), kind: ChannelKind::Thread { parent } },
        );
    }

    /// Adds a direct-message channel with one user.
    pub fn add_dm_channel(&self, channel: u64, recipient: u64) {
        self.shared.lock().channels.insert(
            channel,
            ChannelInfo { id: channel, guild: None, kind: ChannelKind::Direct { recipient } },
        );
    }

    /// Gives a channel (text, thread or other) a name.
    pub fn name_channel(&self, channel: u64, name: &str) {
        self.shared.lock().guild_state.names.insert(channel, name.to_owned());
    }

    /// Adds a category to a guild.
    pub fn add_category(&self, guild: u64, category: u64, name: &str) {
        self.add_other_channel(guild, category, 4, name);
    }

    /// Adds a channel that is not messaged here (2 voice, 4 category, 5 announcement,
    /// 15 forum) to a guild's channel list.
    pub fn add_other_channel(&self, guild: u64, channel: u64, kind: u8, name: &str) {
        let mut inner = self.shared.lock();
        inner.guilds.entry(guild).or_insert_with(|| format!("guild-{guild}"));
        inner.guild_state.others.insert(channel, guild::OtherChannel { guild, kind });
        inner.guild_state.names.insert(channel, name.to_owned());
    }

    /// Puts a channel into a category.
    pub fn set_category(&self, channel: u64, category: u64) {
        self.shared.lock().guild_state.categories.insert(channel, category);
    }

    /// Sets a text channel's permission overwrites.
    pub fn set_overwrites(&self, channel: u64, overwrites: Vec<Overwrite>) {
        self.shared.lock().guild_state.overwrites.insert(channel, overwrites);
    }

    /// Sets the guild's `@everyone` permissions (default [`DEFAULT_EVERYONE_PERMISSIONS`]).
    pub fn set_everyone_permissions(&self, guild: u64, permissions: u64) {
        self.shared.lock().guild_state.everyone.insert(guild, permissions);
    }

    /// Adds a role with these permissions to a guild (announced in GUILD_CREATE; after the
    /// session started, use [`Self::update_role`]).
    pub fn add_role(&self, guild: u64, role: u64, permissions: u64) {
        self.shared.lock().guild_state.roles.entry(guild).or_default().push((role, permissions));
    }

    /// Creates or changes a role of a guild the session knows and sends GUILD_ROLE_CREATE or
    /// GUILD_ROLE_UPDATE, as Discord does. False when no session serves the guild's shard.
    pub fn update_role(&self, guild: u64, role: u64, permissions: u64) -> bool {
        let mut inner = self.shared.lock();
        let roles = inner.guild_state.roles.entry(guild).or_default();
        let (event, position) = match roles.iter().position(|(id, _)| *id == role) {
            Some(index) => {
                roles[index].1 = permissions;
                ("GUILD_ROLE_UPDATE", index + 1)
            }
            None => {
                roles.push((role, permissions));
                ("GUILD_ROLE_CREATE", roles.len())
            }
        };
        let position = i64::try_from(position).unwrap_or(0);
        let data = serde_json::json!({
            "guild_id": guild.to_string(),
            "role": guild::role_json(role, &format!("role-{role}"), permissions, position),
        });
        let delivered = gateway::dispatch_for_guild(&mut inner, Some(guild), event, data);
        drop(inner);
        self.shared.bump();
        delivered
    }

    /// Deletes a role and sends GUILD_ROLE_DELETE. False when no session serves the guild.
    pub fn delete_role(&self, guild: u64, role: u64) -> bool {
        let mut inner = self.shared.lock();
        inner.guild_state.roles.entry(guild).or_default().retain(|(id, _)| *id != role);
        let data =
            serde_json::json!({ "guild_id": guild.to_string(), "role_id": role.to_string() });
        let delivered =
            gateway::dispatch_for_guild(&mut inner, Some(guild), "GUILD_ROLE_DELETE", data);
        drop(inner);
        self.shared.bump();
        delivered
    }

    /// Makes a user a member of a guild with these roles (the bot is a member of every guild,
    /// without roles, unless this says otherwise).
    pub fn add_member(&self, guild: u64, user: u64, roles: &[u64]) {
        self.shared.lock().guild_state.members.insert((guild, user), roles.to_vec());
    }

    /// Makes `channel` the guild's system channel in GUILD_CREATE (where Discord posts join
    /// messages, and the bot its setup note when it joins).
    pub fn set_system_channel(&self, guild: u64, channel: u64) {
        self.shared.lock().guild_state.system_channels.insert(guild, channel);
    }

    /// Sets the guild's owner.
    pub fn set_owner(&self, guild: u64, user: u64) {
        self.shared.lock().guild_state.owners.insert(guild, user);
    }

    /// Adds a sticker to a guild.
    pub fn add_sticker(&self, guild: u64, sticker: u64, name: &str) {
        self.shared
            .lock()
            .guild_state
            .stickers
            .entry(guild)
            .or_default()
            .push((sticker, name.to_owned()));
    }

    /// Gives a guild a custom emoji, listed in its GUILD_CREATE.
    pub fn add_emoji(&self, guild: u64, emoji: u64, name: &str, animated: bool) {
        let mut inner = self.shared.lock();
        inner.guild_state.emoji.entry(guild).or_default().push((emoji, name.to_owned(), animated));
    }
}
