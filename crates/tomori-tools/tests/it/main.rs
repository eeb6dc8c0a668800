//! Integration tests of tomori-tools: the gate's table, the tool loop helper, and the built-in
//! tools against a real database and loopback web servers.

mod gate;
mod mcp;
mod memory;
mod run;
mod support;
mod web;
