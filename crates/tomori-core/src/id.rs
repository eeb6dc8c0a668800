//! Typed identifiers.
//!
//! Internal ids (`ServerId`, `UserId`, `PersonaId`) are database keys and never leave the bot.
//! `Snowflake` is a Discord id; Discord sends them as decimal strings of a `u64`, PostgreSQL keeps
//! them in `bigint`, and the conversion between the two is checked rather than cast.

use std::fmt;
use std::str::FromStr;

macro_rules! internal_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// Wraps a key read from the database.
            pub const fn from_db(raw: i64) -> Self {
                Self(raw)
            }

            /// The key as the database stores it.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

internal_id!(
    /// A tenant: a Discord guild, or the pseudo-server that holds one user's direct messages.
    ServerId
);
internal_id!(
    /// A Discord user as Tomori knows them (privacy level, language, personal data).
    UserId
);
internal_id!(
    /// One persona row.
    PersonaId
);
internal_id!(
    /// A persona's lineage: survives re-imports and renames, and scopes memories.
    /// Lineage 0 means "every persona" for personal memories.
    LineageId
);

impl LineageId {
    /// The lineage that personal memories use to apply to every persona.
    pub const EVERY_PERSONA: Self = Self(0);
}

/// A Discord snowflake id. Serialised as a string, as Discord does, so JavaScript readers of an
/// export keep every digit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Snowflake(u64);

/// A snowflake that does not fit PostgreSQL's signed `bigint`, or text that is not a snowflake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnowflakeError {
    /// Not a decimal number.
    #[error("not a Discord id: expected a decimal number")]
    NotANumber,
    /// Zero is never a valid snowflake.
    #[error("not a Discord id: zero")]
    Zero,
    /// Above `i64::MAX`; Discord will not issue these for centuries.
    #[error("Discord id out of range")]
    OutOfRange,
}

impl Snowflake {
    /// Checks a snowflake received from Discord.
    ///
    /// # Errors
    /// Zero, or a value above `i64::MAX`.
    pub fn new(raw: u64) -> Result<Self, SnowflakeError> {
        if raw == 0 {
            return Err(SnowflakeError::Zero);
        }
        if i64::try_from(raw).is_err() {
            return Err(SnowflakeError::OutOfRange);
        }
        Ok(Self(raw))
    }

    /// Reads a snowflake stored in the database.
    ///
    /// # Errors
    /// Zero or negative values, which the bot never writes.
    pub fn from_db(raw: i64) -> Result<Self, SnowflakeError> {
        let raw = u64::try_from(raw).map_err(|_| SnowflakeError::OutOfRange)?;
        Self::new(raw)
    }

    /// The id as Discord writes it.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The id as PostgreSQL stores it.
    pub fn to_db(self) -> i64 {
        i64::try_from(self.0).expect("Snowflake::new refuses values above i64::MAX")
    }
}

impl FromStr for Snowflake {
    type Err = SnowflakeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SnowflakeError::NotANumber);
        }
        let raw: u64 = s.parse().map_err(|_| SnowflakeError::OutOfRange)?;
        Self::new(raw)
    }
}

impl serde::Serialize for Snowflake {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for Snowflake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests;
