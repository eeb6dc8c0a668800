//! Persona cards: SillyTavern character cards in and out, and Tomori's own persona JSON.
//!
//! [`parse`] accepts a PNG with a `chara` (V1/V2) or `ccv3` (V3) text chunk (`tEXt`, `zTXt` or
//! `iTXt`; `ccv3` wins when both are present), a V1, V2 or V3 card as plain JSON, or the persona
//! JSON that `tomori persona convert` prints (recognised by its `tomori_persona` key). Each
//! becomes a [`PersonaCard`] checked against the instance's [`Limits`], or a [`CardError`] whose
//! message says what was wrong. [`export_png`] writes a V2 card that SillyTavern imports: the
//! persona's avatar (or a generated square) with the card's JSON, base64, in a `tEXt` chunk
//! named `chara`.
//!
//! How a SillyTavern card maps onto a persona: `name` (V3: `nickname` when set) is the persona's
//! name; `description` its prompt; `personality`, `scenario`, `system_prompt`,
//! `post_history_instructions` and each enabled `character_book` entry become attributes (long
//! texts split into several, the total capped at the limit); `mes_example` becomes sample
//! dialogues; `first_mes`, `alternate_greetings` and `tags` are kept as they are. Macros are
//! kept (see [`dialogue::keep_macros`]) and substituted where prompts are assembled. Tomori's export also stores its
//! trigger words and exact sample dialogues in `data.extensions.tomori`; the dialogues there
//! are used only while they still match `mes_example`, so an edit in SillyTavern wins.
//!
//! Security: denial of service and parser confusion through uploaded files. Every input is
//! capped before it is read ([`MAX_PNG_BYTES`], [`MAX_JSON_BYTES`]), compressed chunks inflate
//! only up to [`MAX_CHUNK_TEXT_BYTES`], chunk CRCs are checked, nothing panics on any input (a
//! fuzz target and a random-input test hold it to that), and every field is length-checked
//! before anything can be stored. Card text is persona text: the prompt treats it as the
//! persona's own words, so only members with Manage Server may import one.

pub mod dialogue;
pub mod png;
mod tavern;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::limits::Limits;
use crate::persona::{NicknameError, validate_nickname};

pub use dialogue::Dialogue;

/// Largest card file (PNG) accepted.
pub const MAX_PNG_BYTES: usize = 8 * 1024 * 1024;
/// Largest card JSON accepted, plain or decoded from a PNG chunk.
pub const MAX_JSON_BYTES: usize = 1024 * 1024;
/// Largest text chunk payload: base64 of [`MAX_JSON_BYTES`] with room for line breaks.
pub const MAX_CHUNK_TEXT_BYTES: usize = MAX_JSON_BYTES / 3 * 4 + 64 * 1024;
/// Longest greeting (`first_mes` and each alternate).
pub const MAX_GREETING_CHARS: usize = 8_000;
/// Alternate greetings kept.
pub const MAX_ALTERNATE_GREETINGS: usize = 20;
/// Tags kept.
pub const MAX_TAGS: usize = 32;
/// Longest tag.
pub const MAX_TAG_CHARS: usize = 64;
/// Longest trigger word (as the store checks it).
pub const MAX_TRIGGER_WORD_CHARS: usize = 64;
/// Standard base64, padded or not (card tools differ).
const BASE64_ANY_PADDING: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);
/// The version of the persona JSON format, in its `tomori_persona` key.
pub const FORMAT_VERSION: u32 = 1;

/// Where a card came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceSpec {
    /// A V1 card: top-level fields, no `spec`.
    #[serde(rename = "v1")]
    V1,
    /// `chara_card_v2`.
    #[serde(rename = "chara_card_v2")]
    V2,
    /// `chara_card_v3`.
    #[serde(rename = "chara_card_v3")]
    V3,
    /// A persona that Tomori stored.
    #[serde(rename = "tomori")]
    Tomori,
}

/// A persona as import uses it and `tomori persona convert` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonaCard {
    /// The format version ([`FORMAT_VERSION`]); its presence marks Tomori's persona JSON.
    pub tomori_persona: u32,
    /// Display name (a valid persona nickname).
    pub name: String,
    /// Where the card came from.
    pub source_spec: SourceSpec,
    /// The personality prompt (`description`).
    #[serde(default)]
    pub prompt: String,
    /// The first message (`first_mes`).
    #[serde(default)]
    pub greeting: String,
    /// Other first messages.
    #[serde(default)]
    pub alternate_greetings: Vec<String>,
    /// Short facts about the persona.
    #[serde(default)]
    pub attributes: Vec<String>,
    /// Example exchanges.
    #[serde(default)]
    pub sample_dialogues: Vec<Dialogue>,
    /// Words that make the persona answer.
    #[serde(default)]
    pub trigger_words: Vec<String>,
    /// How many lore entries the card's character book had (enabled or not; attributes Tomori
    /// exported as entries are not counted).
    #[serde(default)]
    pub lorebook_entries: u32,
    /// The card's lorebook as a V2 `character_book`, checked and written back in normal form by
    /// `tomori_core::lorebook` (SillyTavern's extras under each entry's `extensions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub character_book: Option<serde_json::Value>,
    /// The card's tags (not used in prompts).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A parsed card and what was left out of it to fit the limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The persona.
    pub card: PersonaCard,
    /// One sentence per thing dropped (extra attributes, over-long sample lines, ...).
    pub warnings: Vec<String>,
}

/// Why a card was refused; the message says what was wrong in one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    /// The file is larger than a card may be.
    #[error("the {what} is {size} bytes; at most {max} bytes are accepted")]
    TooLarge {
        /// What was measured.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The cap.
        max: usize,
    },
    /// Neither a PNG nor JSON.
    #[error("the file is neither a PNG image nor JSON")]
    UnknownFormat,
    /// The PNG itself is broken.
    #[error(transparent)]
    Png(#[from] png::PngError),
    /// A PNG without card data.
    #[error("the PNG has no character data (no chara or ccv3 text chunk)")]
    NoCardChunk,
    /// The card chunk is not base64 (or JSON).
    #[error("the PNG's {0} chunk is not base64-encoded JSON")]
    Base64(String),
    /// Text that is not UTF-8.
    #[error("the card's JSON is not valid UTF-8")]
    Utf8,
    /// JSON that does not parse.
    #[error("the card is not valid JSON: {0}")]
    Json(String),
    /// A field with the wrong type or value.
    #[error("the card's {field} {reason}")]
    Field {
        /// The field's path, e.g. `data.name`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `spec` this importer does not know.
    #[error("unknown card spec {0:?} (expected chara_card_v2 or chara_card_v3)")]
    UnknownSpec(String),
    /// A persona JSON of a format version this build does not know.
    #[error("unknown persona format version {0} (expected {FORMAT_VERSION})")]
    UnknownVersion(u32),
    /// The name cannot be a persona name.
    #[error("the name {name:?} cannot be a persona name: {reason}")]
    Name {
        /// The name as found.
        name: String,
        /// Why.
        reason: NicknameError,
    },
    /// A text longer than its limit.
    #[error("the card's {field} is {chars} characters long; at most {max} are allowed")]
    TooLong {
        /// Which field.
        field: String,
        /// Its length.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// More items than the limit allows (in Tomori's persona JSON, which is never trimmed).
    #[error("the card has {count} {field}; at most {max} are allowed")]
    TooMany {
        /// Which list.
        field: &'static str,
        /// How many it has.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An empty text where one is required.
    #[error("the card's {0} is empty")]
    Empty(String),
}

/// A message that quotes input, made one short line: control characters become spaces.
fn one_line(message: &str) -> String {
    let flat: String = message.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if flat.chars().count() > 300 {
        let mut short: String = flat.chars().take(300).collect();
        short.push('…');
        return short;
    }
    flat
}

fn limit(value: u32) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// Parses a card file: PNG (by its signature) or JSON. `name`, when given, replaces the card's
/// name (for a card whose own name cannot be a persona name).
///
/// # Errors
/// See [`CardError`]: too large, not a card, a broken PNG or chunk, bad JSON, wrong field types,
/// or fields beyond the limits.
pub fn parse(bytes: &[u8], limits: &Limits, name: Option<&str>) -> Result<Imported, CardError> {
    if bytes.starts_with(&png::SIGNATURE) {
        if bytes.len() > MAX_PNG_BYTES {
            return Err(CardError::TooLarge { what: "PNG", size: bytes.len(), max: MAX_PNG_BYTES });
        }
        let json = card_json_from_png(bytes)?;
        return parse_json(&json, limits, name);
    }
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if text.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(CardError::UnknownFormat);
    }
    parse_json(text, limits, name)
}

/// The card JSON in a PNG: the `ccv3` chunk if there is one, else the `chara` chunk; the text is
/// base64 (or, as some tools write it, the JSON itself).
///
/// # Errors
/// A broken PNG or chunk, no card chunk, or text that is neither base64 nor JSON.
pub fn card_json_from_png(bytes: &[u8]) -> Result<Vec<u8>, CardError> {
    let chunks = png::chunks(bytes)?;
    let find = |wanted: &str| {
        chunks.iter().find(|c| png::text_keyword(c).is_some_and(|k| k.eq_ignore_ascii_case(wanted)))
    };
    let chunk = find("ccv3").or_else(|| find("chara")).ok_or(CardError::NoCardChunk)?;
    let text = png::decode_text(chunk, MAX_CHUNK_TEXT_BYTES)?;
    let trimmed = text.text.trim_ascii();
    if trimmed.starts_with(b"{") {
        return Ok(trimmed.to_vec());
    }
    let compact: Vec<u8> = trimmed.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    let decoded =
        BASE64_ANY_PADDING.decode(&compact).map_err(|_| CardError::Base64(text.keyword.clone()))?;
    Ok(decoded)
}

/// Parses card JSON (SillyTavern V1/V2/V3 or Tomori's persona JSON).
///
/// # Errors
/// As [`parse`].
pub fn parse_json(json: &[u8], limits: &Limits, name: Option<&str>) -> Result<Imported, CardError> {
    if json.len() > MAX_JSON_BYTES {
        return Err(CardError::TooLarge {
            what: "card JSON",
            size: json.len(),
            max: MAX_JSON_BYTES,
        });
    }
    let text = std::str::from_utf8(json).map_err(|_| CardError::Utf8)?;
    // serde_json stops at 128 levels of nesting, so deep input is an error, not a stack overflow.
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| CardError::Json(one_line(&e.to_string())))?;
    let serde_json::Value::Object(root) = value else {
        return Err(CardError::Field {
            field: "top level".to_owned(),
            reason: "is not an object".to_owned(),
        });
    };
    if root.contains_key("tomori_persona") {
        let mut card: PersonaCard = serde_json::from_value(serde_json::Value::Object(root))
            .map_err(|e| CardError::Json(one_line(&e.to_string())))?;
        if card.tomori_persona != FORMAT_VERSION {
            return Err(CardError::UnknownVersion(card.tomori_persona));
        }
        if let Some(name) = name {
            name.clone_into(&mut card.name);
        }
        let card = normalize(card, limits)?;
        return Ok(Imported { card, warnings: Vec::new() });
    }
    let imported = tavern::map(&root, limits, name)?;
    // The mapping fits the limits by construction; checking again keeps convert's output
    // importable whatever the mapping does.
    let card = normalize(imported.card, limits)?;
    Ok(Imported { card, warnings: imported.warnings })
}

fn check_name(name: &str) -> Result<String, CardError> {
    validate_nickname(name)
        .map(str::to_owned)
        .map_err(|reason| CardError::Name { name: name.chars().take(100).collect(), reason })
}

fn check_len(field: &str, text: &str, max: usize) -> Result<(), CardError> {
    let n = chars(text);
    if n > max {
        return Err(CardError::TooLong { field: field.to_owned(), chars: n, max });
    }
    Ok(())
}

fn check_count(field: &'static str, count: usize, max: usize) -> Result<(), CardError> {
    if count > max {
        return Err(CardError::TooMany { field, count, max });
    }
    Ok(())
}

/// Trims every text and checks every field against `limits`; nothing is dropped silently.
///
/// # Errors
/// An invalid name, a text over its limit, a list with more items than allowed, or an empty
/// attribute, trigger word or sample answer.
pub fn normalize(card: PersonaCard, limits: &Limits) -> Result<PersonaCard, CardError> {
    let attribute_chars = limit(limits.persona_attribute_chars);
    let name = check_name(&card.name)?;
    let prompt = card.prompt.trim().to_owned();
    check_len("prompt", &prompt, limit(limits.persona_prompt_chars))?;
    let greeting = card.greeting.trim().to_owned();
    check_len("greeting", &greeting, MAX_GREETING_CHARS)?;
    check_count("alternate greetings", card.alternate_greetings.len(), MAX_ALTERNATE_GREETINGS)?;
    let mut alternate_greetings = Vec::with_capacity(card.alternate_greetings.len());
    for (i, text) in card.alternate_greetings.iter().enumerate() {
        let text = text.trim();
        check_len(&format!("alternate greeting {}", i + 1), text, MAX_GREETING_CHARS)?;
        if text.is_empty() {
            return Err(CardError::Empty(format!("alternate greeting {}", i + 1)));
        }
        alternate_greetings.push(text.to_owned());
    }
    check_count("attributes", card.attributes.len(), limit(limits.persona_attributes))?;
    let mut attributes = Vec::with_capacity(card.attributes.len());
    for (i, text) in card.attributes.iter().enumerate() {
        let text = text.trim();
        check_len(&format!("attribute {}", i + 1), text, attribute_chars)?;
        if text.is_empty() {
            return Err(CardError::Empty(format!("attribute {}", i + 1)));
        }
        attributes.push(text.to_owned());
    }
    check_count(
        "sample dialogues",
        card.sample_dialogues.len(),
        limit(limits.persona_sample_dialogues),
    )?;
    let mut sample_dialogues = Vec::with_capacity(card.sample_dialogues.len());
    for (i, d) in card.sample_dialogues.iter().enumerate() {
        let (user, bot) = (d.user.trim(), d.bot.trim());
        check_len(&format!("sample dialogue {} (user line)", i + 1), user, attribute_chars)?;
        check_len(&format!("sample dialogue {} (answer)", i + 1), bot, attribute_chars)?;
        if bot.is_empty() {
            return Err(CardError::Empty(format!("sample dialogue {} (answer)", i + 1)));
        }
        sample_dialogues.push(Dialogue { user: user.to_owned(), bot: bot.to_owned() });
    }
    for (i, word) in card.trigger_words.iter().enumerate() {
        if crate::trigger::normalize_trigger_word(word).is_empty() {
            return Err(CardError::Empty(format!("trigger word {}", i + 1)));
        }
    }
    let trigger_words = crate::trigger::parse_trigger_words(&card.trigger_words);
    check_count("trigger words", trigger_words.len(), limit(limits.trigger_words))?;
    for (i, word) in trigger_words.iter().enumerate() {
        check_len(&format!("trigger word {}", i + 1), word, MAX_TRIGGER_WORD_CHARS)?;
    }
    let (character_book, lorebook_entries) = normal_book(card.character_book.as_ref())?;
    check_count("tags", card.tags.len(), MAX_TAGS)?;
    let mut tags = Vec::with_capacity(card.tags.len());
    for (i, tag) in card.tags.iter().enumerate() {
        let tag = tag.trim();
        check_len(&format!("tag {}", i + 1), tag, MAX_TAG_CHARS)?;
        if tag.is_empty() {
            return Err(CardError::Empty(format!("tag {}", i + 1)));
        }
        tags.push(tag.to_owned());
    }
    Ok(PersonaCard {
        tomori_persona: FORMAT_VERSION,
        name,
        source_spec: card.source_spec,
        prompt,
        greeting,
        alternate_greetings,
        attributes,
        sample_dialogues,
        trigger_words,
        lorebook_entries,
        character_book,
        tags,
    })
}

/// A persona JSON's lorebook, checked as a card's is and written back in normal form, with its
/// entry count.
fn normal_book(
    book: Option<&serde_json::Value>,
) -> Result<(Option<serde_json::Value>, u32), CardError> {
    let Some(book) = book else { return Ok((None, 0)) };
    // Security: hostile persona files. The same bounded parser as a card's lorebook.
    let parsed = crate::lorebook::Lorebook::from_character_book(
        book,
        &crate::lorebook::LorebookBounds::default(),
    )
    .map_err(|error| tavern::book_error("character_book", error))?;
    let count = u32::try_from(parsed.entries.len()).unwrap_or(u32::MAX);
    Ok((Some(parsed.to_character_book()), count))
}

impl PersonaCard {
    /// The sample dialogues to store: the card's, then its greeting as an example the persona
    /// opens, when there is room and it fits in one line.
    pub fn stored_dialogues(&self, limits: &Limits) -> Vec<Dialogue> {
        let mut out = self.sample_dialogues.clone();
        let greeting = self.greeting.trim();
        let room = out.len() < limit(limits.persona_sample_dialogues);
        let fits = chars(greeting) <= limit(limits.persona_attribute_chars);
        let known = out.iter().any(|d| d.user.is_empty() && d.bot == greeting);
        if !greeting.is_empty() && room && fits && !known {
            out.push(Dialogue { user: String::new(), bot: greeting.to_owned() });
        }
        out
    }

    /// The card as SillyTavern's V2 JSON (see [`tavern::to_v2`] for the field mapping).
    pub fn to_v2_json(&self) -> serde_json::Value {
        tavern::to_v2(self)
    }
}

/// A V2 card PNG: `avatar` (a PNG; `None` generates a plain square) without any existing
/// `chara`/`ccv3` chunks, plus a `tEXt` chunk `chara` holding the card's V2 JSON in base64,
/// inserted before `IEND`.
///
/// # Errors
/// `avatar` is not a valid PNG, or the result would be larger than [`MAX_PNG_BYTES`] (so that
/// the card can be imported again).
pub fn export_png(card: &PersonaCard, avatar: Option<&[u8]>) -> Result<Vec<u8>, CardError> {
    let generated;
    let image = match avatar {
        Some(bytes) => bytes,
        None => {
            generated = png::solid_png(64, colour_of(&card.name));
            &generated
        }
    };
    let json = card.to_v2_json().to_string();
    let encoded = base64::engine::general_purpose::STANDARD.encode(json.as_bytes());
    let is_card_chunk = |keyword: &str| {
        keyword.eq_ignore_ascii_case("chara") || keyword.eq_ignore_ascii_case("ccv3")
    };
    let out = png::replace_text_chunks(image, is_card_chunk, &[("chara", encoded.as_bytes())])?;
    if out.len() > MAX_PNG_BYTES {
        return Err(CardError::TooLarge {
            what: "exported PNG",
            size: out.len(),
            max: MAX_PNG_BYTES,
        });
    }
    Ok(out)
}

/// A colour picked from the name, so that generated avatars differ between personas.
fn colour_of(name: &str) -> [u8; 3] {
    // FNV-1a: stable across builds and platforms.
    let hash =
        name.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    let [a, b, c, _] = hash.to_le_bytes();
    // Keep it mid-bright so that it reads on light and dark themes.
    [64 + a / 2, 64 + b / 2, 64 + c / 2]
}

#[cfg(test)]
mod tests;
