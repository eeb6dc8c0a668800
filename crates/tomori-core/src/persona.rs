//! Rules for persona fields that hold whatever Discord, the model and card imports accept, and
//! the built-in persona that answers where no persona exists yet.

mod builtin;

pub use builtin::{BuiltinPersona, DEFAULT_PERSONA};

/// Why a nickname is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NicknameError {
    /// Empty after trimming.
    #[error("the name is empty")]
    Empty,
    /// Over Discord's 80-character webhook username limit.
    #[error("the name is longer than 80 characters")]
    TooLong,
    /// Control characters or line breaks.
    #[error("the name contains control characters")]
    ControlCharacters,
    /// Discord refuses webhook usernames containing these, and `@`/`#`/`:` spoof mentions.
    #[error("the name may not contain \"{0}\"")]
    Reserved(&'static str),
}

/// Longest nickname: Discord's limit for a webhook username.
pub const MAX_NICKNAME_CHARS: usize = 80;

/// Checks a persona nickname and returns it trimmed.
///
/// # Errors
/// Empty, too long, control characters, or text Discord refuses in webhook usernames.
pub fn validate_nickname(raw: &str) -> Result<&str, NicknameError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(NicknameError::Empty);
    }
    if name.chars().count() > MAX_NICKNAME_CHARS {
        return Err(NicknameError::TooLong);
    }
    if name.chars().any(char::is_control) {
        return Err(NicknameError::ControlCharacters);
    }
    let lower = name.to_lowercase();
    for reserved in ["discord", "clyde", "```", "@", "#", ":"] {
        if lower.contains(reserved) {
            return Err(NicknameError::Reserved(reserved));
        }
    }
    if lower == "everyone" || lower == "here" {
        return Err(NicknameError::Reserved("everyone/here"));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expected: Result<&str, NicknameError>) {
        assert_eq!(validate_nickname(input), expected, "input {input:?}");
    }

    #[test]
    fn nicknames_follow_discord_webhook_rules() {
        check("Tomori", Ok("Tomori"));
        check("  Kaede  ", Ok("Kaede"));
        check("ともり", Ok("ともり"));
        check("", Err(NicknameError::Empty));
        check("   ", Err(NicknameError::Empty));
        check(&"a".repeat(81), Err(NicknameError::TooLong));
        check(&"あ".repeat(80), Ok(&"あ".repeat(80)));
        check("two\nlines", Err(NicknameError::ControlCharacters));
        check("Discord Bot", Err(NicknameError::Reserved("discord")));
        check("@everyone", Err(NicknameError::Reserved("@")));
        check("here", Err(NicknameError::Reserved("everyone/here")));
    }
}
