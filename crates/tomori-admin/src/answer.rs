//! What an action says back, before any front door renders it.

/// An action's answer: a few sentences in Markdown that every front door can show (Discord
/// shows it as it is; the dashboard renders it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The text.
    pub text: String,
}

impl Answer {
    /// An answer of `text`.
    pub fn text(text: impl Into<String>) -> Self {
        Self { text: text.into() }
    }
}
