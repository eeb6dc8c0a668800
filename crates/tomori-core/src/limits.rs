//! Per-instance limits on what a server or user may store.
//!
//! The defaults are the figures TomoriBot's users know (20 personas a server, 25 memories a
//! scope, 1,000 characters a memory); an operator changes them in `[limits]` of `tomori.toml`.

use serde::{Deserialize, Serialize};

/// Storage limits, checked before every write that could exceed them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Personas a server may have, the main persona included.
    pub personas_per_server: u32,
    /// Server memories per server and persona lineage.
    pub server_memories_per_scope: u32,
    /// Personal memories per user and persona lineage.
    pub personal_memories_per_scope: u32,
    /// Characters in one memory.
    pub memory_chars: u32,
    /// Characters in a persona prompt.
    pub persona_prompt_chars: u32,
    /// Attributes on one persona.
    pub persona_attributes: u32,
    /// Characters in one attribute.
    pub persona_attribute_chars: u32,
    /// Sample dialogue pairs on one persona.
    pub persona_sample_dialogues: u32,
    /// Trigger words on one persona or server.
    pub trigger_words: u32,
    /// Provider keys in one owner's key pool for one provider.
    pub keys_per_provider: u32,
    /// Pending reminders one member may have in one server.
    pub reminders_per_member: u32,
    /// Pending reminders in one server, all members together.
    pub reminders_per_server: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            personas_per_server: 20,
            server_memories_per_scope: 25,
            personal_memories_per_scope: 25,
            memory_chars: 1_000,
            persona_prompt_chars: 8_000,
            persona_attributes: 50,
            persona_attribute_chars: 1_000,
            persona_sample_dialogues: 20,
            trigger_words: 20,
            keys_per_provider: 10,
            reminders_per_member: 25,
            reminders_per_server: 200,
        }
    }
}
