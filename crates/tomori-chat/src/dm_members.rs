//! Which member each direct-message channel belongs to. The gateway echoes the bot's own
//! messages with the bot as their author, so a DM's tenant cannot be told from the author of
//! those: it is learned from the member's own messages there, and from the reminders the
//! scheduler sends there (a restart forgets the first; the second comes before the echo).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use tomori_core::id::Snowflake;

/// Channels remembered at most; past it the map starts again (each entry is relearned from the
/// next message there).
const MAX_DM_MEMBERS: usize = 50_000;

/// DM channel to member, shared by the engine and the reminder scheduler.
#[derive(Debug, Default)]
pub struct DmMembers(Mutex<HashMap<Snowflake, Snowflake>>);

impl DmMembers {
    /// `channel` is `member`'s direct messages with the bot.
    pub fn learn(&self, channel: Snowflake, member: Snowflake) {
        let mut members = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if members.len() >= MAX_DM_MEMBERS && !members.contains_key(&channel) {
            members.clear();
        }
        members.insert(channel, member);
    }

    /// The member `channel` belongs to, when known.
    pub fn member_of(&self, channel: Snowflake) -> Option<Snowflake> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get(&channel).copied()
    }
}
