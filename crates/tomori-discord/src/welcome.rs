//! Joining servers: the invite URL logged at READY, with the permissions the bot's features need,
//! and one short setup note when the bot joins a server while it runs.
//!
//! A GUILD_CREATE is a new join only when the guild was not in READY's list and has not been seen
//! since: the burst of GUILD_CREATEs after READY (and guilds coming back from an outage) are
//! servers the bot was already in, and get nothing.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use twilight_model::channel::message::AllowedMentions;
use twilight_model::guild::{Guild, Permissions};
use twilight_model::id::Id;
use twilight_model::id::marker::{ApplicationMarker, GuildMarker, UserMarker};

use crate::permissions::{ChannelRules, GuildRoles, MemberRoles, in_channel};

/// The permissions the invite asks for, one per feature: reading the channels it answers in
/// (View Channel, Read Message History), answering (Send Messages, Send Messages in Threads,
/// Embed Links, Attach Files), reactions and emoji (Add Reactions, Use External Emojis),
/// `create_thread` (Create Public Threads) and persona webhooks (Manage Webhooks).
pub const INVITE_PERMISSIONS: Permissions = Permissions::VIEW_CHANNEL
    .union(Permissions::READ_MESSAGE_HISTORY)
    .union(Permissions::SEND_MESSAGES)
    .union(Permissions::SEND_MESSAGES_IN_THREADS)
    .union(Permissions::EMBED_LINKS)
    .union(Permissions::ATTACH_FILES)
    .union(Permissions::ADD_REACTIONS)
    .union(Permissions::USE_EXTERNAL_EMOJIS)
    .union(Permissions::CREATE_PUBLIC_THREADS)
    .union(Permissions::MANAGE_WEBHOOKS);

/// The note posted in a newly joined server's system channel.
pub(crate) const SETUP_NOTE: &str = "Hello! I'm Tomori. Someone with Manage Server can run \
    `/config setup` to choose the persona and the model that answer here; after that, mention me \
    to talk.";

/// The URL that adds the bot to a server with its slash commands and [`INVITE_PERMISSIONS`].
pub fn invite_url(application: Id<ApplicationMarker>) -> String {
    format!(
        "https://discord.com/oauth2/authorize?client_id={application}&scope=bot+applications.commands&permissions={}",
        INVITE_PERMISSIONS.bits()
    )
}

/// The guilds this process knows the bot is in.
#[derive(Debug, Default)]
pub(crate) struct KnownGuilds(Mutex<HashSet<Id<GuildMarker>>>);

impl KnownGuilds {
    /// READY's list: guilds the bot was in before this session.
    pub(crate) fn ready(&self, guilds: impl IntoIterator<Item = Id<GuildMarker>>) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend(guilds);
    }

    /// A GUILD_CREATE: true when the bot has just joined this guild.
    pub(crate) fn created(&self, guild: Id<GuildMarker>) -> bool {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(guild)
    }

    /// A GUILD_DELETE: the bot left (or was removed), so a later join is new again; an outage
    /// (`unavailable`) keeps the guild known.
    pub(crate) fn deleted(&self, guild: Id<GuildMarker>, unavailable: bool) {
        if !unavailable {
            self.0.lock().unwrap_or_else(PoisonError::into_inner).remove(&guild);
        }
    }
}

/// The guild's system channel when the bot may post there, from GUILD_CREATE alone (roles,
/// the channel's overwrites and the bot's own member, which Discord always includes).
pub(crate) fn setup_channel(
    guild: &Guild,
    bot: Id<UserMarker>,
) -> Option<Id<twilight_model::id::marker::ChannelMarker>> {
    let channel_id = guild.system_channel_id?;
    let channel = guild.channels.iter().find(|c| c.id == channel_id)?;
    let member = guild.members.iter().find(|m| m.user.id == bot)?;
    let everyone = guild
        .roles
        .iter()
        .find(|r| r.id.get() == guild.id.get())
        .map_or(Permissions::empty(), |r| r.permissions);
    let roles = guild
        .roles
        .iter()
        .filter(|r| r.id.get() != guild.id.get())
        .map(|r| (r.id, r.permissions))
        .collect();
    let roles = GuildRoles { guild: guild.id, owner: guild.owner_id, everyone, roles };
    let member = MemberRoles { user: bot, roles: member.roles.clone(), timed_out: false };
    let overwrites = channel.permission_overwrites.clone().unwrap_or_default();
    let rules = ChannelRules { kind: channel.kind, overwrites: &overwrites };
    let allowed = in_channel(&roles, &member, &rules);
    allowed.contains(Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES).then_some(channel_id)
}

/// Posts the setup note in a newly joined guild's system channel, or logs that it could not.
pub(crate) async fn greet(
    http: &twilight_http::Client,
    guild: &Guild,
    bot: Option<Id<UserMarker>>,
) {
    let Some(channel) = bot.and_then(|bot| setup_channel(guild, bot)) else {
        tracing::info!(
            guild = guild.id.get(),
            "joined a server with no system channel the bot may post in; a manager runs \
             /config setup to choose what answers there"
        );
        return;
    };
    let none = AllowedMentions::default();
    let sent = http.create_message(channel).content(SETUP_NOTE).allowed_mentions(Some(&none)).await;
    match sent {
        Ok(_) => tracing::info!(guild = guild.id.get(), "joined a server; posted the setup note"),
        Err(error) => {
            tracing::warn!(guild = guild.id.get(), %error, "posting the setup note failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invite_asks_for_exactly_what_the_features_need() {
        // Discord's documented bits: 1<<6 add reactions, 1<<10 view channel, 1<<11 send
        // messages, 1<<14 embed links, 1<<15 attach files, 1<<16 read message history, 1<<18
        // use external emojis, 1<<29 manage webhooks, 1<<35 create public threads, 1<<38 send
        // messages in threads.
        let bits = [6, 10, 11, 14, 15, 16, 18, 29, 35, 38].iter().map(|b| 1_u64 << b).sum::<u64>();
        assert_eq!(INVITE_PERMISSIONS.bits(), bits);
        assert_eq!(bits, 309_774_896_192);
        assert_eq!(
            invite_url(Id::new(42)),
            "https://discord.com/oauth2/authorize?client_id=42&scope=bot+applications.commands&permissions=309774896192"
        );
    }

    #[test]
    fn only_guilds_new_to_this_process_are_greeted() {
        let known = KnownGuilds::default();
        known.ready([Id::new(1), Id::new(2)]);
        assert!(!known.created(Id::new(1)), "READY's burst");
        assert!(known.created(Id::new(3)), "a new join");
        assert!(!known.created(Id::new(3)), "once");
        known.deleted(Id::new(2), true);
        assert!(!known.created(Id::new(2)), "back from an outage");
        known.deleted(Id::new(2), false);
        assert!(known.created(Id::new(2)), "removed, then invited again");
    }
}
