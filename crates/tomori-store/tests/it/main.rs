//! Store tests against a real PostgreSQL: one fresh database per test (see tomori-testkit).
#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions unwrap too")]

mod audit;
mod catalogue;
mod documents;
mod embedded;
mod keys;
mod mcp;
mod reminders;
mod repositories;
mod revisions;
mod tenancy;

use tomori_core::id::Snowflake;
use tomori_store::audit::Actor;

fn snowflake(raw: u64) -> Snowflake {
    Snowflake::new(raw).unwrap()
}

fn admin() -> Actor {
    Actor::Discord(snowflake(42))
}
