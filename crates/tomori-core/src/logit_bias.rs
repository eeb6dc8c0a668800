//! Logit bias (`/model logit-bias`): words a server makes more or less likely, as TomoriBot and
//! SillyTavern keep them, as text with a bias from -100 to 100.
//!
//! A bias acts on token ids, and ids belong to one tokenizer. An entry therefore keeps its text
//! and, worked out once when it is added, its ids in each vocabulary Tomori can tokenize (OpenAI's
//! `o200k_base` and `cl100k_base`). A request carries only the ids of the vocabulary of the model
//! it goes to, and only to a model known to take the field:
//! - OpenAI's chat models, directly or through OpenRouter (`openai/…`), with their tokenizer;
//!   not the reasoning models (o1, o3, o4, gpt-5), which refuse the field;
//! - a custom endpoint, with the ids an admin wrote (`[1234, 5678]`): Tomori does not know a
//!   local model's tokenizer, so text entries are not sent there (TomoriBot does the same);
//! - nothing to Anthropic, Gemini or the other providers, which have no such field.
//!
//! Text is biased as written and with a leading space (how a word mid-sentence is tokenized);
//! text in braces (`{Hello}`) only as written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The most entries a server keeps.
pub const MAX_ENTRIES: usize = 50;

/// The most characters of one entry's text.
pub const MAX_TEXT_CHARS: usize = 100;

/// The most token ids one entry may stand for (in any one vocabulary).
pub const MAX_ENTRY_TOKENS: usize = 32;

/// The most ids a request carries: OpenAI's documented limit for `logit_bias`.
pub const MAX_WIRE_TOKENS: usize = 300;

/// The strongest bias either way.
pub const MAX_BIAS: i8 = 100;

/// A tokenizer's vocabulary, or the ids an admin wrote for a model Tomori cannot tokenize for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vocabulary {
    /// OpenAI's `o200k_base` (gpt-4o, gpt-4.1, gpt-4.5).
    O200k,
    /// OpenAI's `cl100k_base` (gpt-4, gpt-3.5-turbo).
    Cl100k,
    /// Only entries written as ids (`[1234]`): a custom endpoint's own model.
    Written,
}

/// The vocabulary whose ids a model of `provider` takes, or `None` when it takes no logit bias.
pub fn vocabulary(provider: &str, model: &str) -> Option<Vocabulary> {
    if provider.starts_with("custom:") {
        return Some(Vocabulary::Written);
    }
    let name = match provider {
        "openai" => model,
        "openrouter" => model.strip_prefix("openai/")?,
        _ => return None,
    };
    let name = name.to_ascii_lowercase();
    // Reasoning models refuse `logit_bias`; so does anything not listed (it might be one).
    let o200k = ["gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5"];
    let cl100k = ["gpt-4", "gpt-3.5-turbo"];
    if o200k.iter().any(|p| name.starts_with(p)) {
        Some(Vocabulary::O200k)
    } else if cl100k.iter().any(|p| name.starts_with(p)) {
        Some(Vocabulary::Cl100k)
    } else {
        None
    }
}

/// How an entry's text is to be turned into ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Written {
    /// `[1234, 5678]`: these ids, for a custom endpoint's model.
    Ids(Vec<u32>),
    /// Text to tokenize: each string gets the bias (the text, and with a leading space unless it
    /// was written in braces).
    Text(Vec<String>),
}

/// Reads an entry's text as an admin wrote it.
///
/// # Errors
/// A sentence for the admin: empty or too long text, malformed or too many ids.
pub fn parse_written(text: &str) -> Result<Written, String> {
    let chars = text.chars().count();
    if text.trim().is_empty() || chars > MAX_TEXT_CHARS {
        return Err(format!("the text is 1 to {MAX_TEXT_CHARS} characters, not only spaces"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err("the text has no control characters but line breaks and tabs".to_owned());
    }
    let trimmed = text.trim();
    if let Some(inner) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let ids: Result<Vec<u32>, _> =
            inner.split(',').map(|id| id.trim().parse::<u32>()).collect();
        let ids = ids.map_err(|_| "ids in brackets are whole numbers: [1234, 5678]".to_owned())?;
        if ids.is_empty() || ids.len() > MAX_ENTRY_TOKENS {
            return Err(format!("1 to {MAX_ENTRY_TOKENS} ids in brackets"));
        }
        return Ok(Written::Ids(ids));
    }
    if let Some(exact) = trimmed.strip_prefix('{').and_then(|t| t.strip_suffix('}'))
        && !exact.is_empty()
    {
        return Ok(Written::Text(vec![exact.to_owned()]));
    }
    let spaced = format!(" {}", text.trim_start());
    Ok(Written::Text(if spaced == text { vec![spaced] } else { vec![text.to_owned(), spaced] }))
}

/// One entry: its text as written, its bias, and its ids in each vocabulary.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BiasEntry {
    /// As the admin wrote it.
    pub text: String,
    /// -100 (never) to 100 (always).
    pub bias: i8,
    /// Ids written in brackets, sent to custom endpoints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub written: Vec<u32>,
    /// The text's ids in `o200k_base`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub o200k: Vec<u32>,
    /// The text's ids in `cl100k_base`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cl100k: Vec<u32>,
}

impl BiasEntry {
    /// The ids this entry stands for in `vocabulary`.
    pub fn ids(&self, vocabulary: Vocabulary) -> &[u32] {
        match vocabulary {
            Vocabulary::O200k => &self.o200k,
            Vocabulary::Cl100k => &self.cl100k,
            Vocabulary::Written => &self.written,
        }
    }

    /// Checks the entry's bounds (the store checks every entry it writes).
    ///
    /// # Errors
    /// A sentence naming what is out of bounds.
    pub fn check(&self) -> Result<(), String> {
        parse_written(&self.text)?;
        if !(-MAX_BIAS..=MAX_BIAS).contains(&self.bias) {
            return Err(format!("the bias is -{MAX_BIAS} to {MAX_BIAS}"));
        }
        let lists = [&self.written, &self.o200k, &self.cl100k];
        if lists.iter().any(|ids| ids.len() > MAX_ENTRY_TOKENS) {
            return Err(format!("one entry stands for at most {MAX_ENTRY_TOKENS} tokens"));
        }
        if lists.iter().all(|ids| ids.is_empty()) {
            return Err("the entry stands for no token".to_owned());
        }
        Ok(())
    }
}

/// The `logit_bias` a request to a model of `vocabulary` carries: each id with its entry's bias,
/// a later entry winning over an earlier one for the same id, and at most [`MAX_WIRE_TOKENS`]
/// ids (the first entries' ids first).
pub fn wire_map(entries: &[BiasEntry], vocabulary: Vocabulary) -> BTreeMap<u32, i8> {
    let mut map = BTreeMap::new();
    for entry in entries {
        let ids = entry.ids(vocabulary);
        let fresh = ids.iter().filter(|id| !map.contains_key(*id)).count();
        if map.len() + fresh > MAX_WIRE_TOKENS {
            break;
        }
        for id in ids {
            map.insert(*id, entry.bias);
        }
    }
    map
}

/// Reads a SillyTavern logit bias list: an array of `{"text", "value"}` entries, or an object
/// holding one (`logit_bias`), or SillyTavern's presets (`bias_presets`, the selected one or,
/// without a selection, the first). Values are rounded and clamped to -100..100; entries with
/// empty text are skipped.
///
/// # Errors
/// A sentence for the admin when the file is not such a list or holds too many entries.
pub fn parse_sillytavern(json: &str) -> Result<Vec<(String, i8)>, String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|_| "the file is not JSON".to_owned())?;
    let list = match &value {
        serde_json::Value::Array(list) => list,
        serde_json::Value::Object(object) => {
            if let Some(serde_json::Value::Array(list)) = object.get("logit_bias") {
                list
            } else if let Some(serde_json::Value::Object(presets)) = object.get("bias_presets") {
                let selected = object.get("bias_preset_selected").and_then(|v| v.as_str());
                let chosen =
                    selected.and_then(|name| presets.get(name)).or_else(|| presets.values().next());
                match chosen {
                    Some(serde_json::Value::Array(list)) => list,
                    _ => return Err("the file's bias presets hold no list".to_owned()),
                }
            } else {
                return Err("the file holds no logit bias list".to_owned());
            }
        }
        _ => return Err("the file holds no logit bias list".to_owned()),
    };
    let mut entries = Vec::new();
    for item in list {
        let text = item.get("text").and_then(|t| t.as_str()).unwrap_or_default();
        if text.trim().is_empty() {
            continue;
        }
        let value = item.get("value").and_then(serde_json::Value::as_f64).unwrap_or(0.0);
        if !value.is_finite() {
            return Err(format!("the entry `{text}` has no usable value"));
        }
        let bias = value.round().clamp(-f64::from(MAX_BIAS), f64::from(MAX_BIAS));
        #[expect(clippy::cast_possible_truncation, reason = "clamped to -100..=100 and rounded")]
        let bias = bias as i8;
        entries.push((text.to_owned(), bias));
        if entries.len() > MAX_ENTRIES {
            return Err(format!("a server keeps at most {MAX_ENTRIES} logit bias entries"));
        }
    }
    if entries.is_empty() {
        return Err("the file's list has no entry with text".to_owned());
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_get_the_vocabulary_of_their_tokenizer_or_none() {
        let table = [
            ("openai", "gpt-4o-mini", Some(Vocabulary::O200k)),
            ("openai", "gpt-4.1", Some(Vocabulary::O200k)),
            ("openai", "chatgpt-4o-latest", Some(Vocabulary::O200k)),
            ("openai", "gpt-4-turbo", Some(Vocabulary::Cl100k)),
            ("openai", "gpt-3.5-turbo", Some(Vocabulary::Cl100k)),
            ("openai", "o3-mini", None),
            ("openai", "gpt-5", None),
            ("openrouter", "openai/gpt-4o", Some(Vocabulary::O200k)),
            ("openrouter", "anthropic/claude-3.5-sonnet", None),
            ("openrouter", "gpt-4o", None),
            ("anthropic", "claude-sonnet-4", None),
            ("google", "gemini-2.5-flash", None),
            ("deepseek", "deepseek-chat", None),
            ("custom:s1:local", "llama3", Some(Vocabulary::Written)),
        ];
        for (provider, model, expected) in table {
            assert_eq!(vocabulary(provider, model), expected, "{provider}/{model}");
        }
    }

    #[test]
    fn written_text_is_ids_exact_text_or_text_with_and_without_a_space() {
        let ok = [
            ("[1234, 5678]", Written::Ids(vec![1234, 5678])),
            (" [7] ", Written::Ids(vec![7])),
            ("{Hello}", Written::Text(vec!["Hello".into()])),
            ("Hello", Written::Text(vec!["Hello".into(), " Hello".into()])),
            (" Hello", Written::Text(vec![" Hello".into()])),
            ("{}", Written::Text(vec!["{}".into(), " {}".into()])),
        ];
        for (text, expected) in ok {
            assert_eq!(parse_written(text).as_ref(), Ok(&expected), "{text:?}");
        }
        let too_many = format!("[{}]", vec!["1"; MAX_ENTRY_TOKENS + 1].join(","));
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        for bad in ["", "   ", "[a]", "[-1]", "[]", too_many.as_str(), long.as_str(), "a\u{7}"] {
            assert!(parse_written(bad).is_err(), "{bad:?} is refused");
        }
    }

    #[test]
    fn the_wire_map_takes_the_models_ids_later_entries_win_and_stops_at_300() {
        let entry = |text: &str, bias, o200k: Vec<u32>, written: Vec<u32>| BiasEntry {
            text: text.into(),
            bias,
            written,
            o200k,
            cl100k: vec![9],
        };
        let entries = [
            entry("a", -100, vec![1, 2], vec![]),
            entry("b", 5, vec![2, 3], vec![]),
            entry("[40]", 50, vec![], vec![40]),
        ];
        let map = wire_map(&entries, Vocabulary::O200k);
        assert_eq!(map, BTreeMap::from([(1, -100), (2, 5), (3, 5)]));
        assert_eq!(wire_map(&entries, Vocabulary::Written), BTreeMap::from([(40, 50)]));
        assert_eq!(wire_map(&entries, Vocabulary::Cl100k), BTreeMap::from([(9, 50)]));
        // Entries past the 300th id are left out whole, never cut in the middle.
        let many: Vec<BiasEntry> =
            (0..20u32).map(|i| entry("w", 1, (i * 32..i * 32 + 32).collect(), vec![])).collect();
        let map = wire_map(&many, Vocabulary::O200k);
        assert_eq!(map.len(), 288);
        assert!(map.len() <= MAX_WIRE_TOKENS);
    }

    #[test]
    fn entries_are_checked() {
        let good =
            BiasEntry { text: "hi".into(), bias: -100, o200k: vec![1], ..Default::default() };
        assert_eq!(good.check(), Ok(()));
        let none = BiasEntry { text: "hi".into(), bias: 1, ..Default::default() };
        assert!(none.check().is_err());
        let strong = BiasEntry { bias: -101, ..good.clone() };
        assert!(strong.check().is_err());
        let wide = BiasEntry { o200k: vec![1; MAX_ENTRY_TOKENS + 1], ..good };
        assert!(wide.check().is_err());
    }

    #[test]
    fn sillytavern_lists_are_read_in_their_three_shapes() {
        let list = r#"[{"id":"x","text":"Hello","value":-50.4},{"text":"","value":3},
                       {"text":"[12]","value":250}]"#;
        assert_eq!(
            parse_sillytavern(list),
            Ok(vec![("Hello".to_owned(), -50), ("[12]".to_owned(), 100)])
        );
        let held = r#"{"logit_bias":[{"text":"a","value":1}]}"#;
        assert_eq!(parse_sillytavern(held), Ok(vec![("a".to_owned(), 1)]));
        let presets = r#"{"bias_preset_selected":"Two","bias_presets":{
            "One":[{"text":"one","value":1}],"Two":[{"text":"two","value":-2}]}}"#;
        assert_eq!(parse_sillytavern(presets), Ok(vec![("two".to_owned(), -2)]));
        let too_many = serde_json::to_string(
            &(0..=MAX_ENTRIES)
                .map(|i| serde_json::json!({"text": i.to_string(), "value": 1}))
                .collect::<Vec<_>>(),
        )
        .unwrap();
        for bad in ["nope", "{}", "[]", r#"[{"text":""}]"#, "3", too_many.as_str()] {
            assert!(parse_sillytavern(bad).is_err(), "{bad:?}");
        }
    }
}
