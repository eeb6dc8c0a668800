//! Integration tests of tomori-tools: the gate's table, the tool loop helper, and the built-in
//! tools against a real database, loopback web servers and a recording fake platform; the PDF
//! reader as a child process.

mod catalogue;
mod film;
mod gate;
mod mcp;
mod member;
mod memory;
mod pdf;
mod platform;
mod reminder;
mod run;
mod support;
mod web;
