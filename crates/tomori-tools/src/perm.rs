//! Discord permissions as the gate sees them: a small closed set and a bitset over it.
//!
//! tomori-tools knows no twilight types (only tomori-discord does); the adapter translates
//! Discord's permission bits into [`Perms`] when it builds a turn's live state, and a tool
//! declares what it needs in the same vocabulary.

use std::fmt;

/// One permission a tool may need, from the bot or from the member who triggered the turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Perm {
    /// See the channel.
    ViewChannel,
    /// Send messages in the channel.
    SendMessages,
    /// Send messages in threads.
    SendMessagesInThreads,
    /// Read the channel's history.
    ReadMessageHistory,
    /// Add reactions.
    AddReactions,
    /// Pin, and delete others' messages.
    ManageMessages,
    /// Create public threads.
    CreatePublicThreads,
    /// Use stickers from other servers.
    UseExternalStickers,
    /// Attach files.
    AttachFiles,
    /// Embed links.
    EmbedLinks,
    /// Manage the server (admin commands, unredacted diagnostics).
    ManageGuild,
}

impl Perm {
    /// Every permission, in bit order.
    pub const ALL: [Self; 11] = [
        Self::ViewChannel,
        Self::SendMessages,
        Self::SendMessagesInThreads,
        Self::ReadMessageHistory,
        Self::AddReactions,
        Self::ManageMessages,
        Self::CreatePublicThreads,
        Self::UseExternalStickers,
        Self::AttachFiles,
        Self::EmbedLinks,
        Self::ManageGuild,
    ];

    const fn bit(self) -> u32 {
        match self {
            Self::ViewChannel => 1,
            Self::SendMessages => 1 << 1,
            Self::SendMessagesInThreads => 1 << 2,
            Self::ReadMessageHistory => 1 << 3,
            Self::AddReactions => 1 << 4,
            Self::ManageMessages => 1 << 5,
            Self::CreatePublicThreads => 1 << 6,
            Self::UseExternalStickers => 1 << 7,
            Self::AttachFiles => 1 << 8,
            Self::EmbedLinks => 1 << 9,
            Self::ManageGuild => 1 << 10,
        }
    }

    /// Discord's name for it, for refusal reasons.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ViewChannel => "ViewChannel",
            Self::SendMessages => "SendMessages",
            Self::SendMessagesInThreads => "SendMessagesInThreads",
            Self::ReadMessageHistory => "ReadMessageHistory",
            Self::AddReactions => "AddReactions",
            Self::ManageMessages => "ManageMessages",
            Self::CreatePublicThreads => "CreatePublicThreads",
            Self::UseExternalStickers => "UseExternalStickers",
            Self::AttachFiles => "AttachFiles",
            Self::EmbedLinks => "EmbedLinks",
            Self::ManageGuild => "ManageGuild",
        }
    }
}

/// A set of [`Perm`]s.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Perms(u32);

impl Perms {
    /// No permission.
    pub const NONE: Self = Self(0);

    /// Every permission.
    pub const fn all() -> Self {
        Self::of(&Perm::ALL)
    }

    /// The set of the listed permissions.
    pub const fn of(perms: &[Perm]) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < perms.len() {
            bits |= perms[i].bit();
            i += 1;
        }
        Self(bits)
    }

    /// This set plus `perm`.
    #[must_use]
    pub const fn with(self, perm: Perm) -> Self {
        Self(self.0 | perm.bit())
    }

    /// This set minus `perm`.
    #[must_use]
    pub const fn without(self, perm: Perm) -> Self {
        Self(self.0 & !perm.bit())
    }

    /// Whether `perm` is in the set.
    pub const fn contains(self, perm: Perm) -> bool {
        self.0 & perm.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The permissions of the set, in bit order.
    pub fn iter(self) -> impl Iterator<Item = Perm> {
        Perm::ALL.into_iter().filter(move |p| self.contains(*p))
    }

    /// The permissions of `required` that this set lacks.
    pub fn missing(self, required: Self) -> Vec<Perm> {
        required.iter().filter(|p| !self.contains(*p)).collect()
    }
}

impl fmt::Debug for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Perm::name)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_hold_exactly_what_was_put_in() {
        let set = Perms::of(&[Perm::ViewChannel, Perm::ManageMessages]);
        assert!(set.contains(Perm::ViewChannel));
        assert!(!set.contains(Perm::SendMessages));
        assert_eq!(
            set.missing(Perms::of(&[Perm::ManageMessages, Perm::SendMessages])),
            [Perm::SendMessages]
        );
        assert_eq!(set.without(Perm::ViewChannel), Perms::of(&[Perm::ManageMessages]));
        assert_eq!(Perms::all().iter().count(), Perm::ALL.len());
        assert!(Perms::NONE.is_empty());
        assert_eq!(format!("{set:?}"), r#"{"ViewChannel", "ManageMessages"}"#);
    }

    #[test]
    fn every_permission_has_a_bit_of_its_own() {
        // Sorted before deduplicating: two permissions sharing a bit anywhere in the list (not
        // only side by side) leave fewer unique bits than permissions.
        let mut bits: Vec<u32> = Perm::ALL.iter().map(|p| p.bit()).collect();
        assert!(bits.iter().all(|b| b.count_ones() == 1), "one bit each: {bits:?}");
        bits.sort_unstable();
        bits.dedup();
        assert_eq!(bits.len(), Perm::ALL.len(), "a bit is shared: {bits:?}");
    }
}
