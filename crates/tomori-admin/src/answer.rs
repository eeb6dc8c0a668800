//! What an action says back, before any front door renders it.

/// An action's answer: a few sentences in Markdown that every front door can show (Discord
/// shows it as it is; the dashboard renders it), and any files for the caller (an export).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The text.
    pub text: String,
    /// Files for the caller alone.
    pub files: Vec<AnswerFile>,
}

/// A file an answer carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerFile {
    /// Its name.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl Answer {
    /// An answer of `text` alone.
    pub fn text(text: impl Into<String>) -> Self {
        Self { text: text.into(), files: Vec::new() }
    }
}
