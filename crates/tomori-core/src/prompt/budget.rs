//! How much of a model's context a prompt may use, counted in estimated tokens.
//!
//! No tokenizer is shipped (each provider has its own, and a turn must not wait for one), so
//! [`estimate_tokens`] is a cheap estimate: a character of Chinese, Japanese or Korean script
//! counts as one token, other text as a token per four characters (rounded up), and each
//! message adds four for its role and separators. [`TokenBudget`] leaves room for a safety
//! margin of a tenth, which covers what the estimate misses on code and unusual scripts.

/// A model's context, as the prompt may use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBudget {
    /// The model's context length in tokens.
    pub context_tokens: u32,
    /// Tokens kept free for the answer (the request's `max_tokens`).
    pub output_reserve: u32,
}

/// The context assumed for a model whose length is not known.
pub const DEFAULT_CONTEXT_TOKENS: u32 = 32_768;
/// The answer's reserve when the model's is not known (TomoriBot's default `max_tokens`).
pub const DEFAULT_OUTPUT_RESERVE: u32 = 8_192;
/// The least a prompt is given, whatever the numbers say (a persona and the last message).
pub const MIN_PROMPT_TOKENS: usize = 1_024;
/// Tokens a message costs beyond its text (role and separators).
pub const MESSAGE_OVERHEAD_TOKENS: usize = 4;

impl Default for TokenBudget {
    fn default() -> Self {
        Self { context_tokens: DEFAULT_CONTEXT_TOKENS, output_reserve: DEFAULT_OUTPUT_RESERVE }
    }
}

impl TokenBudget {
    /// Estimated tokens the prompt may take: the context less the answer's reserve, less a
    /// tenth for the estimate's error, and never less than [`MIN_PROMPT_TOKENS`].
    pub fn prompt_tokens(&self) -> usize {
        let room = self.context_tokens.saturating_sub(self.output_reserve);
        let room = usize::try_from(room).unwrap_or(usize::MAX);
        (room - room / 10).max(MIN_PROMPT_TOKENS)
    }
}

/// Whether `c` is written in a script where a character is about a token.
fn is_dense(c: char) -> bool {
    matches!(u32::from(c),
        0x1100..=0x11FF      // hangul jamo
        | 0x2E80..=0x2FDF    // CJK radicals
        | 0x3000..=0x303F    // CJK punctuation
        | 0x3040..=0x30FF    // hiragana, katakana
        | 0x3130..=0x318F    // hangul compatibility jamo
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xAC00..=0xD7AF    // hangul syllables
        | 0xF900..=0xFAFF    // compatibility ideographs
        | 0xFF00..=0xFFEF    // full-width forms, half-width katakana
        | 0x20000..=0x2FFFF) // CJK extensions B and later
}

/// Estimated tokens of `text`: one per CJK character, one per four other characters.
pub fn estimate_tokens(text: &str) -> usize {
    if text.is_ascii() {
        return text.len().div_ceil(4);
    }
    let mut dense: usize = 0;
    let mut other: usize = 0;
    for c in text.chars() {
        if is_dense(c) {
            dense += 1;
        } else {
            other += 1;
        }
    }
    dense + other.div_ceil(4)
}

/// Estimated tokens of one prompt message of `text`.
pub fn message_tokens(text: &str) -> usize {
    estimate_tokens(text) + MESSAGE_OVERHEAD_TOKENS
}
