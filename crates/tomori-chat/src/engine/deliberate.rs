//! Deliberate tool mode in a turn (`/server deliberate-tools`, `tomori_core::tool_intent`): the
//! tools offered are those the message asks for, plus the families a tool was used for in the
//! channel within its last few turns, and a call to a tool that was not offered is answered
//! with a failure instead of running.

use std::collections::HashMap;
use std::sync::Mutex;

use tomori_core::id::Snowflake;
use tomori_core::tool_intent::custom::CustomTriggers;
use tomori_core::tool_intent::{self, Families};
use tomori_llm::{ToolCall, ToolResult, ToolSpec};

use super::lock;

/// How many more turns in a channel keep a family offered after a tool of it ran.
const FOLLOW_UP_TURNS: u8 = 3;

/// Channels remembered at most; past it the map starts again (a forgotten channel only loses its
/// follow-up turns).
const MAX_CHANNELS: usize = 10_000;

/// The families recently used per channel, with the turns left.
#[derive(Debug, Default)]
pub(crate) struct Affordances(Mutex<HashMap<Snowflake, (Families, u8)>>);

impl Affordances {
    /// The families still offered in `channel`, counting this turn against them.
    pub(crate) fn take(&self, channel: Snowflake) -> Families {
        let mut map = lock(&self.0);
        let Some((families, left)) = map.get_mut(&channel) else { return Families::NONE };
        let families_now = *families;
        *left = left.saturating_sub(1);
        if *left == 0 {
            map.remove(&channel);
        }
        families_now
    }

    /// Tools of `families` ran in `channel`: they stay offered for the next few turns.
    pub(crate) fn used(&self, channel: Snowflake, families: Families) {
        if families.is_empty() {
            return;
        }
        let mut map = lock(&self.0);
        if map.len() >= MAX_CHANNELS && !map.contains_key(&channel) {
            map.clear();
        }
        let entry = map.entry(channel).or_insert((Families::NONE, 0));
        *entry = (entry.0.union(families), FOLLOW_UP_TURNS);
    }
}

/// Keeps the tools `text` asks for, by the built-in keywords and the server's own triggers (with
/// `recent`, the channel's follow-up families).
pub(crate) fn narrow(
    tools: &mut Vec<ToolSpec>,
    text: &str,
    custom: &CustomTriggers,
    recent: Families,
) {
    let wanted = tool_intent::asked_for(text).union(custom.asked_for(text)).union(recent);
    tools.retain(|tool| tool_intent::offered(&tool.name, wanted, text));
}

/// The families of `calls`.
pub(crate) fn families(calls: &[ToolCall]) -> Families {
    calls
        .iter()
        .filter_map(|call| tool_intent::family_of(&call.name))
        .fold(Families::NONE, Families::with)
}

/// Splits `calls` into those offered in `tools` and failures for the rest, which the model
/// reads as the tool's answer.
pub(crate) fn withheld(tools: &[ToolSpec], calls: &[ToolCall]) -> (Vec<ToolCall>, Vec<ToolResult>) {
    let (offered, refused): (Vec<ToolCall>, Vec<ToolCall>) =
        calls.iter().cloned().partition(|call| tools.iter().any(|t| t.name == call.name));
    let refused = refused
        .iter()
        .map(|call| {
            tomori_tools::failed_result(
                call,
                "not offered: this server offers a tool only when a message asks for what it does",
            )
        })
        .collect();
    (offered, refused)
}
