//! Permission checks on Discord's computed permissions.
//!
//! Security: ManageGuild is the trust boundary. A command that changes a server's configuration
//! checks the member's permissions here, at execution time, whatever the command's
//! `default_member_permissions` (a UI hint that a server can override) say.

use twilight_model::guild::Permissions;

/// Whether a member with these computed permissions may manage Tomori in the server:
/// Manage Server or Administrator.
pub fn is_manager(permissions: Permissions) -> bool {
    permissions.intersects(Permissions::MANAGE_GUILD | Permissions::ADMINISTRATOR)
}

#[cfg(test)]
mod tests {
    use twilight_model::guild::Permissions;

    use super::is_manager;

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
}
