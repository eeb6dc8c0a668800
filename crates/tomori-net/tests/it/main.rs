//! Integration tests for tomori-net, in one binary (one link). Everything talks only to loopback:
//! servers are started inside the tests and names are answered by fake resolvers.

// Fixture helpers outside `#[test]` functions panic on broken fixtures just as the tests do.
#![expect(clippy::unwrap_used, reason = "test fixtures fail loudly")]

mod classify;
mod fetch;
mod html;
mod policy;
mod random;
mod support;
mod url_check;
