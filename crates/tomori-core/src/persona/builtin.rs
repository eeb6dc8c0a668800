//! The persona that answers where no one has made one yet.

/// A persona that ships with Tomori rather than living in a server's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinPersona {
    /// Display name (also an implicit trigger word, as for every persona).
    pub nickname: &'static str,
    /// Words that make it answer, besides mentions, replies and direct messages.
    pub trigger_words: &'static [&'static str],
    /// Its personality prompt.
    pub prompt: &'static str,
}

/// "Default Tomori": the main persona of every server and direct-message tenant that has no
/// persona of its own, so that a fresh server and every DM get an answer before anyone ran a
/// slash command. It is never stored: the first persona an admin makes (`/persona create`,
/// `/persona import` or `/config setup`) takes its place, and it has no lineage, so no memory is
/// ever filed under it.
pub const DEFAULT_PERSONA: BuiltinPersona = BuiltinPersona {
    nickname: "Default Tomori",
    trigger_words: &["tomo", "トモリ", "ともり"],
    prompt: "You are Tomori, a friendly and curious companion in a Discord chat. You speak \
             casually and warmly, keep your answers short unless someone asks for detail, and \
             answer in the language you are spoken to in. You have not been given a personality \
             of your own yet; if someone asks how to change who you are, tell them that a server \
             manager can run /persona create, /persona import or /config setup (in a direct \
             message, they can run these themselves).",
};

#[cfg(test)]
mod tests {
    use super::DEFAULT_PERSONA;
    use crate::persona::validate_nickname;
    use crate::trigger::find_trigger;

    #[test]
    fn the_default_persona_is_a_valid_persona_answering_to_its_words() {
        assert_eq!(validate_nickname(DEFAULT_PERSONA.nickname), Ok("Default Tomori"));
        for (text, word, found) in [
            ("tomo, are you there?", "tomo", true),
            ("ねえトモリ", "トモリ", true),
            ("ともりちゃん", "ともり", true),
            ("tomorrow is fine", "tomo", false),
        ] {
            assert!(DEFAULT_PERSONA.trigger_words.contains(&word), "{word}");
            assert_eq!(find_trigger(text, word, false).is_some(), found, "{text}");
        }
        assert!(DEFAULT_PERSONA.prompt.contains("/config setup"));
    }
}
