//! SillyTavern's card JSON (V1, V2, V3) to a [`PersonaCard`] and back to V2.
//!
//! Field types are checked as they are read: a missing or `null` text is empty, any other
//! non-string is an error naming the field. Lists that can be longer than Tomori keeps
//! (attributes, sample dialogues, greetings, tags) are cut to the limit with a warning; texts
//! that would have to be cut (the name, the description, greetings) are refused instead.

use serde_json::{Map, Value, json};

use super::dialogue::{Dialogue, keep_macros, parse_examples, render_examples};
use super::{
    CardError, FORMAT_VERSION, Imported, MAX_ALTERNATE_GREETINGS, MAX_GREETING_CHARS,
    MAX_TAG_CHARS, MAX_TAGS, MAX_TRIGGER_WORD_CHARS, PersonaCard, SourceSpec, chars, check_len,
    check_name, limit,
};
use crate::chunk::split_message;
use crate::limits::Limits;
use crate::lorebook::{Lorebook, LorebookBounds, LorebookError};
use crate::trigger::parse_trigger_words;

/// The key of Tomori's own data in `data.extensions`.
const EXTENSION: &str = "tomori";

/// Where the card's fields live and how to name them in messages.
struct Fields<'a> {
    object: &'a Map<String, Value>,
    prefix: &'static str,
}

impl Fields<'_> {
    fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn text(&self, key: &str) -> Result<String, CardError> {
        match self.object.get(key) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(text)) => Ok(text.clone()),
            Some(_) => Err(CardError::Field {
                field: self.path(key),
                reason: "is not a string".to_owned(),
            }),
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, CardError> {
        match self.object.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(text) => Ok(text.clone()),
                    _ => Err(CardError::Field {
                        field: format!("{}[{i}]", self.path(key)),
                        reason: "is not a string".to_owned(),
                    }),
                })
                .collect(),
            Some(_) => {
                Err(CardError::Field { field: self.path(key), reason: "is not a list".to_owned() })
            }
        }
    }

    fn object(&self, key: &str) -> Result<Option<&Map<String, Value>>, CardError> {
        match self.object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(object)) => Ok(Some(object)),
            Some(_) => Err(CardError::Field {
                field: self.path(key),
                reason: "is not an object".to_owned(),
            }),
        }
    }
}

/// Which spec the JSON follows and where its fields are.
fn locate(root: &Map<String, Value>) -> Result<(SourceSpec, Fields<'_>), CardError> {
    let data = |spec| match root.get("data") {
        Some(Value::Object(data)) => Ok((spec, Fields { object: data, prefix: "data." })),
        _ => Err(CardError::Field {
            field: "data".to_owned(),
            reason: "is missing or not an object".to_owned(),
        }),
    };
    match root.get("spec") {
        None | Some(Value::Null) => {
            // A V2 card whose writer left out `spec` still has everything under `data`.
            if !root.contains_key("name") && root.get("data").is_some_and(Value::is_object) {
                data(SourceSpec::V2)
            } else {
                Ok((SourceSpec::V1, Fields { object: root, prefix: "" }))
            }
        }
        Some(Value::String(spec)) if spec == "chara_card_v2" => data(SourceSpec::V2),
        // Later 3.x versions keep the V3 shape (the V3 spec asks readers not to refuse them).
        Some(Value::String(spec)) if spec == "chara_card_v3" => data(SourceSpec::V3),
        Some(Value::String(spec)) => Err(CardError::UnknownSpec(spec.chars().take(40).collect())),
        Some(_) => {
            Err(CardError::Field { field: "spec".to_owned(), reason: "is not a string".to_owned() })
        }
    }
}

/// The card's lorebook with its attributes added as constant entries marked as Tomori's (so
/// SillyTavern shows them and Tomori reads them back as attributes); `None` when there is
/// neither.
fn exported_book(card: &PersonaCard) -> Option<Value> {
    if card.attributes.is_empty() && card.character_book.is_none() {
        return None;
    }
    let mut book = card.character_book.clone().unwrap_or_else(
        || json!({ "name": format!("{} lore", card.name), "extensions": {}, "entries": [] }),
    );
    let entries = book.get_mut("entries").and_then(Value::as_array_mut)?;
    let next = entries
        .iter()
        .filter_map(|e| e.get("id").and_then(Value::as_u64))
        .max()
        .map_or(0, |m| m + 1);
    for (i, attribute) in (next..).zip(&card.attributes) {
        entries.push(json!({
            "id": i,
            "keys": [],
            "secondary_keys": [],
            "comment": format!("Attribute {}", i - next + 1),
            "content": attribute,
            "constant": true,
            "selective": false,
            "insertion_order": 100,
            "enabled": true,
            "position": "before_char",
            "extensions": { ATTRIBUTE_MARK: true },
        }));
    }
    Some(book)
}

/// Drops lorebook decorators (`@@name value` lines, V3), which are instructions to the
/// lorebook engine rather than text.
fn without_decorators(content: &str) -> String {
    if !content.contains("@@") {
        return content.to_owned();
    }
    let lines: Vec<&str> =
        content.split('\n').filter(|line| !line.trim_start().starts_with("@@")).collect();
    lines.join("\n")
}

/// Maps a SillyTavern card object onto a persona; see the module documentation of `card`.
pub(super) fn map(
    root: &Map<String, Value>,
    limits: &Limits,
    name: Option<&str>,
) -> Result<Imported, CardError> {
    let (spec, fields) = locate(root)?;
    let mut warnings = Vec::new();
    let own_name = match spec {
        SourceSpec::V3 => Some(fields.text("nickname")?).filter(|n| !n.trim().is_empty()),
        _ => None,
    };
    let raw_name = match name {
        Some(name) => name.to_owned(),
        None => match own_name {
            Some(nickname) => nickname,
            None => fields.text("name")?,
        },
    };
    if raw_name.trim().is_empty() {
        return Err(CardError::Empty(fields.path("name")));
    }
    let name = check_name(&raw_name)?;
    // Macros stay in the stored text: each prompt fills in the member and the persona's name
    // of the day, so a rename or another member never sees a name frozen at import.
    let sub = |text: &str| keep_macros(text).trim().to_owned();

    let prompt = sub(&fields.text("description")?);
    check_len(&fields.path("description"), &prompt, limit(limits.persona_prompt_chars))?;

    // Attributes: the card's other descriptive fields, then its enabled lorebook entries.
    let mut texts = Vec::new();
    for (key, label) in [
        ("personality", "Personality"),
        ("scenario", "Scenario"),
        ("system_prompt", "Instructions"),
        ("post_history_instructions", "Instructions"),
    ] {
        let text = sub(&fields.text(key)?);
        if !text.is_empty() {
            texts.push(format!("{label}: {text}"));
        }
    }
    let extensions = fields.object("extensions")?;
    let depth_prompt = extensions
        .and_then(|e| e.get("depth_prompt"))
        .and_then(|d| d.get("prompt"))
        .and_then(Value::as_str)
        .map(&sub)
        .unwrap_or_default();
    if !depth_prompt.is_empty() {
        texts.push(format!("Instructions: {depth_prompt}"));
    }
    let (character_book, lorebook_entries) = match fields.object("character_book")? {
        Some(book) => lorebook(book, &fields.path("character_book"), &sub, &mut texts)?,
        None => (None, 0),
    };
    let attribute_chars = limit(limits.persona_attribute_chars);
    let mut attributes: Vec<String> =
        texts.iter().flat_map(|text| split_message(text, attribute_chars)).collect();
    let max_attributes = limit(limits.persona_attributes);
    if attributes.len() > max_attributes {
        warnings.push(format!(
            "{} attributes left out (at most {max_attributes})",
            attributes.len() - max_attributes
        ));
        attributes.truncate(max_attributes);
    }

    let greeting = sub(&fields.text("first_mes")?);
    check_len(&fields.path("first_mes"), &greeting, MAX_GREETING_CHARS)?;
    let mut alternate_greetings = Vec::new();
    for (i, text) in fields.strings("alternate_greetings")?.iter().enumerate() {
        let text = sub(text);
        check_len(
            &format!("{}[{i}]", fields.path("alternate_greetings")),
            &text,
            MAX_GREETING_CHARS,
        )?;
        if !text.is_empty() {
            alternate_greetings.push(text);
        }
    }
    if alternate_greetings.len() > MAX_ALTERNATE_GREETINGS {
        warnings.push(format!(
            "{} alternate greetings left out (at most {MAX_ALTERNATE_GREETINGS})",
            alternate_greetings.len() - MAX_ALTERNATE_GREETINGS
        ));
        alternate_greetings.truncate(MAX_ALTERNATE_GREETINGS);
    }

    let ours = extensions.and_then(|e| e.get(EXTENSION)).and_then(Value::as_object);
    let mes_example = fields.text("mes_example")?;
    let exact = ours
        .and_then(|o| o.get("sample_dialogues"))
        .and_then(|d| serde_json::from_value::<Vec<Dialogue>>(d.clone()).ok())
        // Trusted only while SillyTavern's copy still says the same thing.
        .filter(|dialogues| render_examples(dialogues) == mes_example);
    let examples = exact.unwrap_or_else(|| parse_examples(&mes_example, &name));
    let mut sample_dialogues = Vec::new();
    let mut too_long = 0_usize;
    for d in examples {
        if chars(&d.user) > attribute_chars || chars(&d.bot) > attribute_chars {
            too_long += 1;
        } else {
            sample_dialogues.push(d);
        }
    }
    if too_long > 0 {
        warnings.push(format!(
            "{too_long} sample dialogues left out (a line longer than {attribute_chars} characters)"
        ));
    }
    let max_dialogues = limit(limits.persona_sample_dialogues);
    if sample_dialogues.len() > max_dialogues {
        warnings.push(format!(
            "{} sample dialogues left out (at most {max_dialogues})",
            sample_dialogues.len() - max_dialogues
        ));
        sample_dialogues.truncate(max_dialogues);
    }

    let trigger_words = trigger_words(ours, limits, &mut warnings);
    let tags = tags(&fields.strings("tags")?, &mut warnings);

    Ok(Imported {
        card: PersonaCard {
            tomori_persona: FORMAT_VERSION,
            name,
            source_spec: spec,
            prompt,
            greeting,
            alternate_greetings,
            attributes,
            sample_dialogues,
            trigger_words,
            lorebook_entries,
            character_book,
            tags,
        },
        warnings,
    })
}

/// A lorebook refusal as the card's: a field path inside the book joins the book's own path.
pub(super) fn book_error(path: &str, error: LorebookError) -> CardError {
    match error {
        LorebookError::Field { path: inner, reason } => {
            CardError::Field { field: format!("{path}.{inner}"), reason }
        }
        other => {
            CardError::Field { field: path.to_owned(), reason: format!("is refused: {other}") }
        }
    }
}

/// An entry extension that marks a persona attribute Tomori exported as a constant entry (so
/// SillyTavern shows it), which comes back as an attribute rather than as lore.
const ATTRIBUTE_MARK: &str = "tomori_attribute";

/// The card's `character_book` as a lorebook (checked and bounded by `tomori_core::lorebook`,
/// written back in its normal form) and how many entries it holds; entries Tomori exported from
/// attributes are added to `texts` instead.
fn lorebook(
    book: &Map<String, Value>,
    path: &str,
    sub: &impl Fn(&str) -> String,
    texts: &mut Vec<String>,
) -> Result<(Option<Value>, u32), CardError> {
    // Security: hostile cards. The lorebook parser bounds entries, keys, regexes and texts and
    // names the field it refuses.
    let mut parsed =
        Lorebook::from_character_book(&Value::Object(book.clone()), &LorebookBounds::default())
            .map_err(|error| book_error(path, error))?;
    let (attributes, lore): (Vec<_>, Vec<_>) = std::mem::take(&mut parsed.entries)
        .into_iter()
        .partition(|entry| entry.extensions.get(ATTRIBUTE_MARK) == Some(&Value::Bool(true)));
    for entry in attributes.into_iter().filter(|e| e.enabled) {
        let text = sub(&without_decorators(&entry.content));
        if !text.is_empty() {
            texts.push(text);
        }
    }
    let count = u32::try_from(lore.len()).unwrap_or(u32::MAX);
    if lore.is_empty() {
        return Ok((None, 0));
    }
    parsed.entries = lore;
    Ok((Some(parsed.to_character_book()), count))
}

/// Trigger words from Tomori's extension; unusable ones are skipped with a warning.
fn trigger_words(
    ours: Option<&Map<String, Value>>,
    limits: &Limits,
    warnings: &mut Vec<String>,
) -> Vec<String> {
    let words = ours.and_then(|o| o.get("trigger_words")).and_then(Value::as_array);
    let mut texts = Vec::new();
    let mut skipped = 0_usize;
    for word in words.into_iter().flatten() {
        match word.as_str() {
            Some(text) => texts.push(text),
            None => skipped += 1,
        }
    }
    let mut out = Vec::new();
    for word in parse_trigger_words(&texts) {
        if chars(&word) <= MAX_TRIGGER_WORD_CHARS {
            out.push(word);
        } else {
            skipped += 1;
        }
    }
    let max = limit(limits.trigger_words);
    if out.len() > max {
        skipped += out.len() - max;
        out.truncate(max);
    }
    if skipped > 0 {
        warnings.push(format!("{skipped} trigger words left out"));
    }
    out
}

/// Tags, trimmed; empty ones dropped, long ones and those past the limit left out with a
/// warning.
fn tags(raw: &[String], warnings: &mut Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut skipped = 0_usize;
    for tag in raw {
        let tag = tag.trim();
        if tag.is_empty() {
            continue;
        }
        if chars(tag) > MAX_TAG_CHARS || out.len() >= MAX_TAGS {
            skipped += 1;
        } else {
            out.push(tag.to_owned());
        }
    }
    if skipped > 0 {
        warnings.push(format!(
            "{skipped} tags left out (at most {MAX_TAGS} of {MAX_TAG_CHARS} characters)"
        ));
    }
    out
}

/// The card as V2 JSON with the V1 fields repeated at the top level (as SillyTavern writes
/// them, for older readers). Attributes become always-on (`constant`) lorebook entries, sample
/// dialogues `mes_example`; trigger words and the exact dialogues also go to
/// `data.extensions.tomori`.
pub(super) fn to_v2(card: &PersonaCard) -> Value {
    let mes_example = render_examples(&card.sample_dialogues);
    let mut data = json!({
        "name": card.name,
        "description": card.prompt,
        "personality": "",
        "scenario": "",
        "first_mes": card.greeting,
        "mes_example": mes_example,
        "creator_notes": "Exported from Tomori.",
        "system_prompt": "",
        "post_history_instructions": "",
        "alternate_greetings": card.alternate_greetings,
        "tags": card.tags,
        "creator": "",
        "character_version": "",
        "extensions": {
            EXTENSION: {
                "version": FORMAT_VERSION,
                "trigger_words": card.trigger_words,
                "sample_dialogues": card.sample_dialogues,
            },
        },
    });
    if let Some(book) = exported_book(card)
        && let Some(object) = data.as_object_mut()
    {
        object.insert("character_book".to_owned(), book);
    }
    json!({
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "name": card.name,
        "description": card.prompt,
        "personality": "",
        "scenario": "",
        "first_mes": card.greeting,
        "mes_example": mes_example,
        "data": data,
    })
}
