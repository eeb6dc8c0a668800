//! Tomori's domain vocabulary: typed ids, limits and the small value types that every other
//! crate shares.
//!
//! Architecture invariant: no IO. Nothing here depends on tokio, sqlx, reqwest or twilight, so
//! every decision in this crate is a function of its inputs and is tested as a table of cases.

pub mod card;
pub mod chunk;
pub mod document;
pub mod emoji;
pub mod flush;
#[cfg(any(test, fuzzing))]
pub mod fuzz;
pub mod handles;
pub mod id;
pub mod limits;
pub mod logit_bias;
pub mod lorebook;
pub mod macros;
pub mod media_links;
pub mod metric_names;
pub mod output;
pub mod persona;
pub mod preset;
pub mod pricing;
pub mod privacy;
pub mod prompt;
pub mod quota;
pub mod settings;
pub mod shared_memory;
pub mod stops;
pub mod thinking;
pub mod timezone;
pub mod tool_intent;
pub mod trigger;
pub mod vector;
