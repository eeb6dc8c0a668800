//! A user's privacy level, which decides what Tomori may remember and show about them.

use std::fmt;

/// What a user lets Tomori do with their data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PrivacyLevel {
    /// 0: full personalisation.
    Minimal,
    /// 1: no status, roles or personal memories.
    Partial,
    /// 2: never triggers by message, removed from history, nothing captured.
    Full,
}

/// A stored privacy level outside 0..=2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("privacy level must be 0, 1 or 2, not {0}")]
pub struct InvalidPrivacyLevel(pub i64);

impl PrivacyLevel {
    /// The number users see in `/personal privacy` and the database stores.
    pub const fn as_number(self) -> i16 {
        match self {
            Self::Minimal => 0,
            Self::Partial => 1,
            Self::Full => 2,
        }
    }

    /// Whether what this member writes may reach a model at all: in their own turns' prompts, in
    /// other members' turns, in prompt snapshots, image sets and retrieval queries. Level 2 means
    /// nothing of theirs is captured or shown, whoever the turn answers.
    pub const fn may_reach_models(self) -> bool {
        !matches!(self, Self::Full)
    }

    /// Parses the stored number.
    ///
    /// # Errors
    /// Any number but 0, 1 or 2.
    pub fn from_number(raw: i64) -> Result<Self, InvalidPrivacyLevel> {
        match raw {
            0 => Ok(Self::Minimal),
            1 => Ok(Self::Partial),
            2 => Ok(Self::Full),
            other => Err(InvalidPrivacyLevel(other)),
        }
    }
}

impl fmt::Display for PrivacyLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_number())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_level_2_keeps_a_member_away_from_models() {
        let table = [
            (PrivacyLevel::Minimal, true),
            (PrivacyLevel::Partial, true),
            (PrivacyLevel::Full, false),
        ];
        for (level, expected) in table {
            assert_eq!(level.may_reach_models(), expected, "level {level}");
        }
    }
}
