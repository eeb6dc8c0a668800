//! Who asked for an action, and where, as any front door can describe them.

use tomori_core::id::Snowflake;
use tomori_store::audit::Actor;

/// What the platform granted the caller where they asked, at the time they asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grants {
    /// Manage Server (or Administrator, or ownership): the server's configuration.
    pub manage_server: bool,
    /// Manage Messages: moderation of the conversation (`/bot kill`, `/tool refresh`).
    pub manage_messages: bool,
}

/// The person behind an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Their platform user id.
    pub user: Snowflake,
    /// The server they asked in; `None` in their direct messages with the bot, whose tenant is
    /// their own.
    pub guild: Option<Snowflake>,
    /// The channel they asked in (the dashboard names the channel an action is about).
    pub channel: Snowflake,
    /// What the platform granted them there; nothing at all outside a server.
    pub grants: Grants,
}

impl Caller {
    /// How the audit log names them.
    pub fn actor(&self) -> Actor {
        Actor::Discord(self.user)
    }
}
