//! Conversions between twilight's typed ids and the engine's [`Snowflake`].
//!
//! A twilight id is any non-zero `u64`; a [`Snowflake`] must also fit PostgreSQL's `bigint`. Ids
//! from Discord are checked on the way in; ids from the engine are already valid snowflakes.

use tomori_core::id::{Snowflake, SnowflakeError};
use twilight_model::id::Id;

/// A twilight id as a snowflake.
pub(crate) fn snowflake<T>(id: Id<T>) -> Result<Snowflake, SnowflakeError> {
    Snowflake::new(id.get())
}

/// A snowflake as a twilight id.
pub(crate) fn twilight<T>(snowflake: Snowflake) -> Id<T> {
    Id::new_checked(snowflake.get()).expect("Snowflake::new refuses zero")
}
