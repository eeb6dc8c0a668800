//! Answering before anyone ran a slash command: the built-in persona stands in for a server (or a
//! direct-message tenant) that has none, and when no provider at all can answer, whoever
//! addressed the bot is told, once per channel, that an admin must run `/config setup`.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use tomori_core::id::{LineageId, PersonaId, Snowflake};
use tomori_core::persona::DEFAULT_PERSONA;
use tomori_store::personas::Persona;

/// The built-in persona's id: no stored persona has it (ids start at 1).
const BUILTIN_ID: PersonaId = PersonaId::from_db(0);

/// Channels remembered as told; past this many the set starts over, so it stays bounded (a
/// channel told twice after that costs one extra notice).
const MAX_TOLD: usize = 100_000;

/// What members are told when nothing can answer them.
/// What a member without a key of their own is told where the server requires one.
pub(crate) const BRING_YOUR_KEY: &str = "This server asks members to bring their own key: add \
    one with `/personal key add` for the server's provider (it is used only for your turns), then \
    ask me again.";

pub(crate) const NO_PROVIDER: &str = "I can't answer yet: no model is set up here. An admin \
    (in a direct message: you) can run `/config setup` to choose one.";

/// [`DEFAULT_PERSONA`] as the engine's persona type: the main persona, with no lineage of its own
/// (`LineageId::EVERY_PERSONA`), so it reads only the memories meant for every persona.
pub(crate) fn default_persona() -> Persona {
    Persona {
        id: BUILTIN_ID,
        lineage: LineageId::EVERY_PERSONA,
        is_main: true,
        nickname: DEFAULT_PERSONA.nickname.to_owned(),
        prompt: DEFAULT_PERSONA.prompt.to_owned(),
        attributes: Vec::new(),
        sample_dialogues: Vec::new(),
        trigger_words: DEFAULT_PERSONA.trigger_words.iter().map(|w| (*w).to_owned()).collect(),
        avatar_url: None,
    }
}

/// Whether `persona` is the built-in one (never stored, so nothing may be filed under it).
pub(crate) fn is_builtin(persona: &Persona) -> bool {
    persona.id == BUILTIN_ID
}

/// The channels already told that no provider can answer, in this process.
#[derive(Debug, Default)]
pub(crate) struct SetupHints(Mutex<HashSet<Snowflake>>);

impl SetupHints {
    /// True the first time `channel` asks, false after.
    pub(crate) fn first_time(&self, channel: Snowflake) -> bool {
        let mut told = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if told.len() >= MAX_TOLD && !told.contains(&channel) {
            told.clear();
        }
        told.insert(channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_persona_is_the_main_persona_and_recognised() {
        let persona = default_persona();
        assert!(persona.is_main && is_builtin(&persona));
        assert_eq!(persona.nickname, "Default Tomori");
        assert_eq!(persona.trigger_words, ["tomo", "トモリ", "ともり"]);
        let stored = Persona { id: PersonaId::from_db(1), ..persona };
        assert!(!is_builtin(&stored));
    }

    #[test]
    fn each_channel_is_told_once() {
        let hints = SetupHints::default();
        let channel = |n| Snowflake::new(n).unwrap();
        assert!(hints.first_time(channel(1)));
        assert!(!hints.first_time(channel(1)));
        assert!(hints.first_time(channel(2)));
    }
}
