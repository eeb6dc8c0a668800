//! Permission checks on Discord's computed permissions, and the computation itself for the
//! tools' live facts.
//!
//! Security: ManageGuild is the trust boundary. A command that changes a server's configuration
//! checks the member's permissions here, at execution time, whatever the command's
//! `default_member_permissions` (a UI hint that a server can override) say.
//!
//! For tools, [`in_channel`] computes what a member may do in a channel from the guild's roles,
//! the member's roles and the channel's overwrites (twilight's calculator, Discord's documented
//! order), then applies what the calculator leaves out: no View Channel means no permission at
//! all, a thread takes its parent's overwrites, and a member in timeout keeps only View Channel
//! and Read Message History. [`to_perms`] translates the result into the gate's vocabulary.

use tomori_tools::{Perm, Perms};
use twilight_model::channel::ChannelType;
use twilight_model::channel::permission_overwrite::PermissionOverwrite;
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::{GuildMarker, RoleMarker, UserMarker};
use twilight_util::permission_calculator::PermissionCalculator;

/// Whether a member with these computed permissions may manage Tomori in the server:
/// Manage Server or Administrator.
pub fn is_manager(permissions: Permissions) -> bool {
    permissions.intersects(Permissions::MANAGE_GUILD | Permissions::ADMINISTRATOR)
}

/// A guild's side of the computation: its id, owner and role permissions.
#[derive(Debug, Clone)]
pub struct GuildRoles {
    /// The guild.
    pub guild: Id<GuildMarker>,
    /// Its owner (who has every permission).
    pub owner: Id<UserMarker>,
    /// `@everyone`'s permissions.
    pub everyone: Permissions,
    /// Every other role's permissions.
    pub roles: Vec<(Id<RoleMarker>, Permissions)>,
}

/// A member's side: who, which roles, and whether a timeout is running.
#[derive(Debug, Clone)]
pub struct MemberRoles {
    /// The member.
    pub user: Id<UserMarker>,
    /// Their roles (without `@everyone`).
    pub roles: Vec<Id<RoleMarker>>,
    /// In a timeout now.
    pub timed_out: bool,
}

/// The channel's side: its kind and the overwrites that apply (a thread's parent's).
#[derive(Debug, Clone)]
pub struct ChannelRules<'a> {
    /// The channel's type (a thread's parent's type for the calculation).
    pub kind: ChannelType,
    /// The overwrites.
    pub overwrites: &'a [PermissionOverwrite],
}

/// The member's permissions across the guild (Manage Server lives here, not in channels).
pub fn in_guild(guild: &GuildRoles, member: &MemberRoles) -> Permissions {
    let roles = member_roles(guild, member);
    PermissionCalculator::new(guild.guild, member.user, guild.everyone, &roles)
        .owner_id(guild.owner)
        .root()
}

fn member_roles(guild: &GuildRoles, member: &MemberRoles) -> Vec<(Id<RoleMarker>, Permissions)> {
    // A role the guild no longer has grants nothing.
    guild.roles.iter().filter(|(id, _)| member.roles.contains(id)).copied().collect()
}

/// The member's permissions in a channel.
pub fn in_channel(
    guild: &GuildRoles,
    member: &MemberRoles,
    channel: &ChannelRules<'_>,
) -> Permissions {
    let roles = member_roles(guild, member);
    let computed = PermissionCalculator::new(guild.guild, member.user, guild.everyone, &roles)
        .owner_id(guild.owner)
        .in_channel(channel.kind, channel.overwrites);
    if !computed.contains(Permissions::VIEW_CHANNEL) {
        return Permissions::empty();
    }
    if member.timed_out && !computed.contains(Permissions::ADMINISTRATOR) {
        return computed & (Permissions::VIEW_CHANNEL | Permissions::READ_MESSAGE_HISTORY);
    }
    computed
}

/// Discord's permissions in the gate's vocabulary; `guild_wide` adds Manage Server when the
/// member has it (or Administrator) across the guild.
pub fn to_perms(channel: Permissions, guild_wide: Permissions) -> Perms {
    let table = [
        (Permissions::VIEW_CHANNEL, Perm::ViewChannel),
        (Permissions::SEND_MESSAGES, Perm::SendMessages),
        (Permissions::SEND_MESSAGES_IN_THREADS, Perm::SendMessagesInThreads),
        (Permissions::READ_MESSAGE_HISTORY, Perm::ReadMessageHistory),
        (Permissions::ADD_REACTIONS, Perm::AddReactions),
        (Permissions::MANAGE_MESSAGES, Perm::ManageMessages),
        (Permissions::CREATE_PUBLIC_THREADS, Perm::CreatePublicThreads),
        (Permissions::USE_EXTERNAL_STICKERS, Perm::UseExternalStickers),
        (Permissions::ATTACH_FILES, Perm::AttachFiles),
        (Permissions::EMBED_LINKS, Perm::EmbedLinks),
    ];
    let mut perms = Perms::NONE;
    for (discord, perm) in table {
        if channel.contains(discord) {
            perms = perms.with(perm);
        }
    }
    if is_manager(guild_wide) {
        perms = perms.with(Perm::ManageGuild);
    }
    perms
}

/// What both people in a direct message may do.
pub fn in_direct_message() -> Perms {
    Perms::of(&[
        Perm::ViewChannel,
        Perm::SendMessages,
        Perm::ReadMessageHistory,
        Perm::AddReactions,
        Perm::AttachFiles,
        Perm::EmbedLinks,
        Perm::UseExternalStickers,
    ])
}

#[cfg(test)]
mod tests {
    use tomori_tools::{Perm, Perms};
    use twilight_model::channel::ChannelType;
    use twilight_model::channel::permission_overwrite::{
        PermissionOverwrite, PermissionOverwriteType,
    };
    use twilight_model::guild::Permissions;
    use twilight_model::id::Id;

    use super::{
        ChannelRules, GuildRoles, MemberRoles, in_channel, in_guild, is_manager, to_perms,
    };

    #[test]
    fn managers_have_manage_guild_or_administrator() {
        let cases = [
            (Permissions::empty(), false),
            (Permissions::SEND_MESSAGES | Permissions::VIEW_CHANNEL, false),
            (Permissions::MANAGE_CHANNELS | Permissions::MANAGE_MESSAGES, false),
            (Permissions::MANAGE_WEBHOOKS | Permissions::MANAGE_ROLES, false),
            (Permissions::MANAGE_GUILD, true),
            (Permissions::ADMINISTRATOR, true),
            (Permissions::MANAGE_GUILD | Permissions::ADMINISTRATOR, true),
            (Permissions::SEND_MESSAGES | Permissions::MANAGE_GUILD, true),
            (Permissions::all(), true),
        ];
        for (permissions, expected) in cases {
            assert_eq!(is_manager(permissions), expected, "{permissions:?}");
        }
    }

    #[test]
    fn channel_permissions_follow_roles_overwrites_and_timeouts() {
        let basic = Permissions::VIEW_CHANNEL
            | Permissions::SEND_MESSAGES
            | Permissions::READ_MESSAGE_HISTORY
            | Permissions::ADD_REACTIONS;
        let guild = GuildRoles {
            guild: Id::new(1),
            owner: Id::new(99),
            everyone: basic,
            roles: vec![
                (Id::new(10), Permissions::MANAGE_MESSAGES),
                (Id::new(11), Permissions::ADMINISTRATOR),
            ],
        };
        let member = |user: u64, roles: &[u64], timed_out: bool| MemberRoles {
            user: Id::new(user),
            roles: roles.iter().map(|r| Id::new(*r)).collect(),
            timed_out,
        };
        let overwrite =
            |id: u64, kind, allow, deny| PermissionOverwrite { id: Id::new(id), kind, allow, deny };
        let hidden = [overwrite(
            1,
            PermissionOverwriteType::Role,
            Permissions::empty(),
            Permissions::VIEW_CHANNEL,
        )];
        let open = ChannelRules { kind: ChannelType::GuildText, overwrites: &[] };
        let secret = ChannelRules { kind: ChannelType::GuildText, overwrites: &hidden };
        let let_in = [
            hidden[0],
            overwrite(
                5,
                PermissionOverwriteType::Member,
                Permissions::VIEW_CHANNEL,
                Permissions::empty(),
            ),
        ];
        let invited = ChannelRules { kind: ChannelType::GuildText, overwrites: &let_in };

        let check = |who: &MemberRoles, channel: &ChannelRules<'_>, expected: Perms| {
            let perms = to_perms(in_channel(&guild, who, channel), in_guild(&guild, who));
            assert_eq!(perms, expected, "{who:?} in {channel:?}");
        };
        let plain = Perms::of(&[
            Perm::ViewChannel,
            Perm::SendMessages,
            Perm::ReadMessageHistory,
            Perm::AddReactions,
        ]);
        check(&member(5, &[], false), &open, plain);
        check(&member(5, &[10], false), &open, plain.with(Perm::ManageMessages));
        // Hidden by @everyone's overwrite: nothing at all, not even what roles grant.
        check(&member(5, &[10], false), &secret, Perms::NONE);
        // A member overwrite lets one member in.
        check(&member(5, &[], false), &invited, plain);
        check(&member(6, &[], false), &invited, Perms::NONE);
        // Administrators and the owner see everything and may manage the server.
        let everything = to_perms(Permissions::all(), Permissions::ADMINISTRATOR);
        check(&member(7, &[11], false), &secret, everything);
        check(&member(99, &[], false), &secret, everything);
        // A timeout leaves reading.
        check(
            &member(5, &[10], true),
            &open,
            Perms::of(&[Perm::ViewChannel, Perm::ReadMessageHistory]),
        );
        // A role the guild does not have grants nothing.
        check(&member(5, &[12], false), &open, plain);
    }
}
