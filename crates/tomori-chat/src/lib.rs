//! The conversation engine: channel actors (one turn at a time, a queue), turn planning, context
//! building, the tool loop, delivery and post-turn effects.
//!
//! Architecture invariant: knows no Discord (or Matrix) types. It receives [`surface::Inbound`]
//! messages and acts through the [`surface::ChatSurface`] trait, which `tomori-discord` implements
//! with twilight (and a terminal chat or a test double can implement too). LLM output is data,
//! never authority.

pub mod abuse;
mod deliver;
pub mod dm_members;
pub mod documents;
pub mod engine;
mod first_contact;
pub mod gate;
pub mod history;
mod live;
pub mod media;
mod notes;
pub mod providers;
pub mod reminders;
pub mod surface;
mod telemetry;
mod views;
