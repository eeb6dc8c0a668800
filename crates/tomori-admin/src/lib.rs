//! The admin layer: every admin and member action, whichever front door it came through (the
//! slash commands today, the web dashboard next), with one set of rules.
//!
//! An action arrives as a typed value with the platform-neutral [`Caller`] who asked: who they
//! are, where they asked, and what the platform granted them ([`Grants`], read from the platform
//! at the time of the action, never remembered from a login). [`authorize`] checks the action's
//! [`Need`] against them before anything is read or written on their behalf; the action then
//! validates its input, makes its store call (with its audit row, in the store's transaction)
//! and returns an [`Answer`] in words, which the front door renders.
//!
//! This crate knows no chat platform and no HTTP: no twilight, no axum (the tidy test checks
//! its dependencies). The front doors keep option parsing, forms, deferral and rendering.

mod access;
mod answer;
pub mod bot;
mod caller;
pub mod config;
pub mod diagnostics;
pub mod generate;
pub mod mcp;
pub mod memory;
pub mod model;
pub mod overrides;
pub mod persona;
pub mod personal;
pub mod preset;
pub mod provider;
pub mod server;
pub mod short_term;
pub mod view;

pub use access::{AdminError, Need, authorize, tenant};
pub use answer::{Answer, AnswerFile};
pub use caller::{Caller, Grants};
/// The store handle every action takes, for front doors that name no store type themselves.
pub use tomori_store::Store;
