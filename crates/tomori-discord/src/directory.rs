//! Where each channel sits: its guild (none for a direct message) and, for a thread, its parent.
//!
//! The surface needs this because the engine names only a channel: a persona's webhook belongs to
//! the guild's tenant and lives on the parent channel of a thread, and a direct message has no
//! webhooks at all. It also keeps each guild's name, which the prompt shows, and its owner and
//! roles' permissions, from which a message's author is recognised as a manager (MESSAGE_CREATE
//! carries the member's roles, not their permissions). The directory learns from gateway events
//! (GUILD_CREATE lists a guild's channels, active threads, roles and owner; channel, thread,
//! guild and role events keep it current) and asks REST for a channel it has not seen. It keeps
//! each guild's custom emoji too (GUILD_CREATE, GUILD_EMOJIS_UPDATE), which personas may use.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use tomori_core::emoji::{ServerEmoji, valid_name};
use twilight_model::channel::Channel;
use twilight_model::guild::{Emoji, Permissions, Role};
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, RoleMarker, UserMarker};

use crate::permissions::{GuildRoles, MemberRoles, in_guild, is_manager};

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
    /// The category, for a channel that is not a thread (a thread's is its parent's).
    pub(crate) category: Option<Id<ChannelMarker>>,
}

impl Place {
    /// The place of a channel object from Discord.
    pub(crate) fn of(channel: &Channel) -> Self {
        Self {
            guild: channel.guild_id,
            parent: if channel.kind.is_thread() { channel.parent_id } else { None },
            category: if channel.kind.is_thread() { None } else { channel.parent_id },
        }
    }
}

/// A guild's owner and roles, as the gateway last described them.
#[derive(Debug, Clone)]
struct Roles {
    owner: Id<UserMarker>,
    /// Every role's permissions, `@everyone` (whose id is the guild's) included.
    roles: HashMap<Id<RoleMarker>, Permissions>,
}

/// Channel id to [`Place`], shared by the shards and the surface.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    places: RwLock<HashMap<Id<ChannelMarker>, Place>>,
    /// Guild names, for the prompt ("You are in the server …").
    guild_names: RwLock<HashMap<Id<GuildMarker>, String>>,
    /// Guild owners and roles, for recognising managers on messages.
    roles: RwLock<HashMap<Id<GuildMarker>, Roles>>,
    /// Each guild's custom emoji that the bot may use, for the prompt and the output.
    emoji: RwLock<HashMap<Id<GuildMarker>, Vec<ServerEmoji>>>,
}

/// The most custom emoji kept per guild (Discord allows up to 250 static and 250 animated).
const MAX_EMOJI: usize = 500;

impl Directory {
    pub(crate) fn get(&self, channel: Id<ChannelMarker>) -> Option<Place> {
        self.places.read().unwrap_or_else(PoisonError::into_inner).get(&channel).copied()
    }

    /// The category `channel` sits in: its own, or its parent's for a thread (`parent`).
    pub(crate) fn category(
        &self,
        channel: Id<ChannelMarker>,
        parent: Option<Id<ChannelMarker>>,
    ) -> Option<Id<ChannelMarker>> {
        let of = |id| self.get(id).and_then(|place| place.category);
        match parent {
            Some(parent) => of(parent),
            None => of(channel),
        }
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

    /// Learns a guild's custom emoji (GUILD_CREATE, GUILD_EMOJIS_UPDATE): those anyone may use
    /// (no role restriction) and that are available, under a name a shortcode can spell.
    pub(crate) fn learn_emoji(&self, guild: Id<GuildMarker>, emoji: &[Emoji]) {
        let usable: Vec<ServerEmoji> = emoji
            .iter()
            .filter(|e| e.available && e.roles.is_empty() && valid_name(&e.name))
            .take(MAX_EMOJI)
            .map(|e| ServerEmoji { name: e.name.clone(), id: e.id.get(), animated: e.animated })
            .collect();
        let mut all = self.emoji.write().unwrap_or_else(PoisonError::into_inner);
        if all.len() >= MAX_CHANNELS && !all.contains_key(&guild) {
            all.clear();
        }
        all.insert(guild, usable);
    }

    /// A guild's usable custom emoji (empty when none are known).
    pub(crate) fn emoji(&self, guild: Id<GuildMarker>) -> Vec<ServerEmoji> {
        let all = self.emoji.read().unwrap_or_else(PoisonError::into_inner);
        all.get(&guild).cloned().unwrap_or_default()
    }

    pub(crate) fn forget_guild(&self, guild: Id<GuildMarker>) {
        self.emoji.write().unwrap_or_else(PoisonError::into_inner).remove(&guild);
        self.guild_names.write().unwrap_or_else(PoisonError::into_inner).remove(&guild);
        self.roles.write().unwrap_or_else(PoisonError::into_inner).remove(&guild);
    }

    /// Learns a guild's owner and its whole role list (GUILD_CREATE, GUILD_UPDATE).
    pub(crate) fn learn_roles(
        &self,
        guild: Id<GuildMarker>,
        owner: Id<UserMarker>,
        roles: &[Role],
    ) {
        let roles = roles.iter().map(|r| (r.id, r.permissions)).collect();
        let mut all = self.roles.write().unwrap_or_else(PoisonError::into_inner);
        if all.len() >= MAX_CHANNELS && !all.contains_key(&guild) {
            all.clear();
        }
        all.insert(guild, Roles { owner, roles });
    }

    /// A role created or changed (GUILD_ROLE_CREATE, GUILD_ROLE_UPDATE) in a guild already known.
    pub(crate) fn learn_role(&self, guild: Id<GuildMarker>, role: &Role) {
        let mut all = self.roles.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = all.get_mut(&guild) {
            known.roles.insert(role.id, role.permissions);
        }
    }

    /// A role deleted (GUILD_ROLE_DELETE): it grants nothing any more.
    pub(crate) fn forget_role(&self, guild: Id<GuildMarker>, role: Id<RoleMarker>) {
        let mut all = self.roles.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = all.get_mut(&guild) {
            known.roles.remove(&role);
        }
    }

    /// Whether `user` with `roles` may manage `guild` (Manage Server or Administrator from their
    /// roles, or owning it); false when the guild's roles are not known yet.
    ///
    /// Security: ManageGuild boundary. The roles and the owner come only from Discord's gateway
    /// events and the member's roles from Discord's MESSAGE_CREATE; channel overwrites cannot
    /// grant Manage Server, so none are consulted. A guild not yet described means "not a
    /// manager".
    pub(crate) fn manages_server(
        &self,
        guild: Id<GuildMarker>,
        user: Id<UserMarker>,
        roles: &[Id<RoleMarker>],
    ) -> bool {
        let all = self.roles.read().unwrap_or_else(PoisonError::into_inner);
        let Some(known) = all.get(&guild) else { return false };
        let everyone_id = guild.cast::<RoleMarker>();
        let everyone = known.roles.get(&everyone_id).copied().unwrap_or_else(Permissions::empty);
        let guild_roles = GuildRoles {
            guild,
            owner: known.owner,
            everyone,
            roles: known
                .roles
                .iter()
                .filter(|(id, _)| **id != everyone_id)
                .map(|(id, p)| (*id, *p))
                .collect(),
        };
        let member = MemberRoles { user, roles: roles.to_vec(), timed_out: false };
        is_manager(in_guild(&guild_roles, &member))
    }

    pub(crate) fn forget(&self, channel: Id<ChannelMarker>) {
        self.places.write().unwrap_or_else(PoisonError::into_inner).remove(&channel);
    }
}

#[cfg(test)]
mod tests {
    use twilight_model::guild::{Permissions, Role, RoleColors, RoleFlags};
    use twilight_model::id::Id;

    use super::Directory;

    #[expect(deprecated, reason = "the struct still has the old colour field")]
    fn role(id: u64, permissions: Permissions) -> Role {
        Role {
            color: 0,
            colors: RoleColors { primary_color: 0, secondary_color: None, tertiary_color: None },
            hoist: false,
            icon: None,
            id: Id::new(id),
            managed: false,
            mentionable: false,
            name: format!("role-{id}"),
            permissions,
            position: 0,
            flags: RoleFlags::empty(),
            tags: None,
            unicode_emoji: None,
        }
    }

    #[test]
    fn managers_are_recognised_from_the_guilds_roles_and_owner() {
        let directory = Directory::default();
        let (guild, owner, alice) = (Id::new(1), Id::new(2), Id::new(3));
        let (mods, admins, chat) = (10, 11, 12);
        let check = |roles: &[u64], user, expected: bool, case: &str| {
            let roles: Vec<_> = roles.iter().map(|r| Id::new(*r)).collect();
            assert_eq!(directory.manages_server(guild, user, &roles), expected, "{case}");
        };
        check(&[mods], alice, false, "an unknown guild has no managers");
        directory.learn_roles(
            guild,
            owner,
            &[
                role(1, Permissions::SEND_MESSAGES),
                role(mods, Permissions::MANAGE_GUILD),
                role(admins, Permissions::ADMINISTRATOR),
                role(chat, Permissions::MANAGE_MESSAGES),
            ],
        );
        check(&[], alice, false, "@everyone alone");
        check(&[chat], alice, false, "Manage Messages is not Manage Server");
        check(&[mods], alice, true, "a role with Manage Server");
        check(&[admins], alice, true, "a role with Administrator");
        check(&[], owner, true, "the owner");
        check(&[99], alice, false, "a role the guild does not have");
        directory.learn_role(guild, &role(chat, Permissions::MANAGE_GUILD));
        check(&[chat], alice, true, "a role that gained Manage Server");
        directory.forget_role(guild, Id::new(mods));
        check(&[mods], alice, false, "a deleted role");
        directory.learn_role(guild, &role(1, Permissions::MANAGE_GUILD));
        check(&[], alice, true, "@everyone with Manage Server");
        directory.forget_guild(guild);
        check(&[], owner, false, "a guild left");
    }
}
