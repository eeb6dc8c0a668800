//! The Discord adapter: twilight's gateway shards and REST client, the mapping from gateway
//! events to the engine's [`tomori_chat::surface::Inbound`] messages, and [`DiscordSurface`], the
//! engine's [`tomori_chat::surface::ChatSurface`] on Discord (bot messages, persona webhooks,
//! typing), and the slash [`commands`].
//!
//! Architecture invariant: this and the other adapters are the only crates that know their
//! protocol's types. Twilight types stop here; the engine sees snowflakes and plain data. The
//! adapter never depends on another adapter.
//!
//! Trust: Discord's permissions are checked in code ([`permissions::is_manager`], at execution
//! time for every slash command that changes a server); other bots
//! and unknown webhooks are untrusted authors that the engine identifies by their ids; model
//! output never pings anyone but the users the engine lists (see [`surface`]).

mod avatar;
pub mod commands;
pub mod config;
mod directory;
pub mod gateway;
mod id;
mod inbound;
mod marker;
pub mod permissions;
pub mod platform;
mod reconnect;
mod rest_gate;
mod seen;
pub mod status;
pub mod surface;
mod task;
pub mod welcome;

pub use commands::{BotControl, Commands, InstanceProvider, RegisterError};
pub use config::{ConfigError, DiscordConfig, ShardRange};
pub use gateway::{ConnectError, Discord, GatewayError, INTENTS, InboundHandler};
pub use platform::DiscordPlatform;
pub use status::ShardStatus;
pub use surface::DiscordSurface;

/// Tracing directives the binary adds to its filter.
///
/// Security: webhook tokens travel in request paths (`webhooks/{id}/{token}`), and twilight
/// records the path in its `info` spans for every request and rate-limit response. Raising
/// twilight's HTTP crates to `warn` keeps those spans, and with them the tokens, out of the logs.
pub const LOG_DIRECTIVES: &str = "twilight_http=warn,twilight_http_ratelimiting=warn";
