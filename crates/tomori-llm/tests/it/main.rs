//! Integration tests for tomori-llm, in one binary: every adapter against the fake servers of
//! tomori-testkit on loopback, through the real guarded client. Nothing reaches the internet.

// Fixture helpers outside `#[test]` functions panic on broken fixtures just as the tests do.
#![expect(clippy::unwrap_used, reason = "test fixtures fail loudly")]

mod adapters;
mod comfy;
mod ladder;
mod logit_bias;
mod reliability;
mod secrets;
mod support;
mod video;
