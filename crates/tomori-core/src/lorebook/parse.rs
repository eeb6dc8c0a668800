//! Reading both lorebook formats: SillyTavern's World Info file and a card's `character_book`.
//! Missing and `null` fields take SillyTavern's defaults; unknown fields are ignored; a field of
//! the wrong type or out of range is an error naming its path.

use serde_json::{Map, Value};

use super::key::{self, Key};
use super::{
    DEFAULT_DEPTH, DEFAULT_ORDER, LoreEntry, Lorebook, LorebookBounds, LorebookError, MAX_DEPTH,
    Position, Role, SelectiveLogic, one_line,
};

/// Entry `extensions` keys that map onto [`LoreEntry`] fields (SillyTavern's names); the rest
/// are kept as they are.
pub(crate) const MODELLED_EXTENSIONS: [&str; 11] = [
    "position",
    "depth",
    "role",
    "probability",
    "useProbability",
    "selectiveLogic",
    "exclude_recursion",
    "prevent_recursion",
    "match_whole_words",
    "case_sensitive",
    "scan_depth",
];

/// An object being read, with its path for messages.
#[derive(Clone, Copy)]
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: &'a str,
}

impl<'a> Obj<'a> {
    fn path(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.path) }
    }

    fn wrong(&self, key: &str, reason: &str) -> LorebookError {
        LorebookError::Field { path: self.path(key), reason: reason.to_owned() }
    }

    /// The value, with `null` read as missing.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, LorebookError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.wrong(key, "is not true or false")),
        }
    }

    fn text(&self, key: &str, max: usize) -> Result<Option<&'a str>, LorebookError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => {
                let chars = text.chars().count();
                if chars > max {
                    return Err(LorebookError::TooLong { path: self.path(key), chars, max });
                }
                Ok(Some(text))
            }
            Some(_) => Err(self.wrong(key, "is not a string")),
        }
    }

    /// A whole number from `min` to `max`; `1.0` counts as whole, `1.5` does not.
    fn int(&self, key: &str, min: i64, max: i64) -> Result<Option<i64>, LorebookError> {
        let Some(value) = self.get(key) else { return Ok(None) };
        let n = value.as_i64().or_else(|| whole(value.as_f64()?));
        match n {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(self.wrong(key, &format!("is not a whole number from {min} to {max}"))),
        }
    }

    fn object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, LorebookError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(_) => Err(self.wrong(key, "is not an object")),
        }
    }
}

fn to_u32(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn to_i32(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(if n < 0 { i32::MIN } else { i32::MAX })
}

fn to_u8(n: i64) -> u8 {
    u8::try_from(n).unwrap_or(u8::MAX)
}

const U32_MAX: i64 = 4_294_967_295;

/// A JSON float that is a whole number (some tools write `100.0`), as an integer.
fn whole(f: f64) -> Option<i64> {
    #[expect(clippy::cast_possible_truncation, reason = "whole and within 2^53, so exact")]
    (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
}

/// Counts keys and regex keys over a whole book.
struct Tally<'b> {
    bounds: &'b LorebookBounds,
    keys: usize,
    regexes: usize,
}

impl Tally<'_> {
    /// Reads a list of keys at `obj.key`.
    fn keys(
        &mut self,
        obj: Obj<'_>,
        key: &str,
        all_regex: bool,
    ) -> Result<Vec<Key>, LorebookError> {
        let items = match obj.get(key) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(obj.wrong(key, "is not a list of strings")),
        };
        let path = obj.path(key);
        // Security: untrusted card content; keys per entry and over the whole book are bounded,
        // since each is searched for in every scan.
        if items.len() > self.bounds.keys_per_entry {
            return Err(LorebookError::TooMany {
                path,
                count: items.len(),
                max: self.bounds.keys_per_entry,
            });
        }
        let mut keys = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            let Value::String(text) = item else {
                return Err(LorebookError::Field {
                    path: item_path,
                    reason: "is not a string".to_owned(),
                });
            };
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let parsed = key::parse(text, all_regex, &item_path, self.bounds)?;
            self.keys += 1;
            if self.keys > self.bounds.keys_total {
                return Err(LorebookError::TooMany {
                    path: "keys of all entries".to_owned(),
                    count: self.keys,
                    max: self.bounds.keys_total,
                });
            }
            if matches!(parsed, Key::Regex(_)) {
                self.regexes += 1;
                // Security: each regex holds a compiled program of up to `regex_bytes`; their
                // number bounds the memory a book can take.
                if self.regexes > self.bounds.regex_keys {
                    return Err(LorebookError::TooMany {
                        path: "regex keys of all entries".to_owned(),
                        count: self.regexes,
                        max: self.bounds.regex_keys,
                    });
                }
            }
            keys.push(parsed);
        }
        Ok(keys)
    }
}

fn logic(obj: Obj<'_>, key: &str) -> Result<Option<SelectiveLogic>, LorebookError> {
    Ok(obj.int(key, 0, 3)?.map(|n| match n {
        0 => SelectiveLogic::AndAny,
        1 => SelectiveLogic::NotAll,
        2 => SelectiveLogic::NotAny,
        _ => SelectiveLogic::AndAll,
    }))
}

/// A position from SillyTavern's number (with `depth` and `role` for `@ D`).
fn position(obj: Obj<'_>, key: &str, depth: Obj<'_>) -> Result<Option<Position>, LorebookError> {
    let Some(n) = obj.int(key, 0, 6).map_err(|_| {
        obj.wrong(key, "is not a position Tomori supports (0 to 6; the outlet position is not)")
    })?
    else {
        return Ok(None);
    };
    Ok(Some(match n {
        0 => Position::BeforeChar,
        1 => Position::AfterChar,
        2 => Position::AuthorsNoteTop,
        3 => Position::AuthorsNoteBottom,
        5 => Position::BeforeExamples,
        6 => Position::AfterExamples,
        _ => Position::AtDepth {
            depth: depth.int("depth", 0, i64::from(MAX_DEPTH))?.map_or(DEFAULT_DEPTH, to_u32),
            role: match depth.int("role", 0, 2)? {
                Some(1) => Role::User,
                Some(2) => Role::Assistant,
                _ => Role::System,
            },
        },
    }))
}

/// The JSON text, parsed, within the size bound.
fn json(bytes: &[u8], bounds: &LorebookBounds) -> Result<Value, LorebookError> {
    // Security: untrusted upload; the size is checked before anything is parsed.
    if bytes.len() > bounds.json_bytes {
        return Err(LorebookError::TooLarge { size: bytes.len(), max: bounds.json_bytes });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text =
        std::str::from_utf8(bytes).map_err(|_| LorebookError::Json("not UTF-8".to_owned()))?;
    // serde_json stops at 128 levels of nesting, so deep input is an error, not a stack overflow.
    serde_json::from_str(text).map_err(|e| LorebookError::Json(one_line(&e.to_string(), 200)))
}

fn check_count(path: &str, count: usize, bounds: &LorebookBounds) -> Result<(), LorebookError> {
    // Security: untrusted card content; the number of entries is bounded before any is read.
    if count > bounds.entries {
        return Err(LorebookError::TooMany { path: path.to_owned(), count, max: bounds.entries });
    }
    Ok(())
}

/// A standalone World Info file.
pub(crate) fn world_info(bytes: &[u8], bounds: &LorebookBounds) -> Result<Lorebook, LorebookError> {
    let value = json(bytes, bounds)?;
    let Value::Object(root) = value else {
        return Err(LorebookError::Field {
            path: "top level".to_owned(),
            reason: "is not an object".to_owned(),
        });
    };
    let root = Obj { map: &root, path: "" };
    let empty = Map::new();
    let entries = match root.get("entries") {
        None => &empty,
        Some(Value::Object(entries)) => entries,
        Some(_) => return Err(root.wrong("entries", "is not an object")),
    };
    check_count("entries", entries.len(), bounds)?;
    let mut tally = Tally { bounds, keys: 0, regexes: 0 };
    let mut read = Vec::with_capacity(entries.len());
    for (name, entry) in entries {
        let path = format!("entries[{}]", one_line(name, 20));
        let Value::Object(entry) = entry else {
            return Err(LorebookError::Field { path, reason: "is not an object".to_owned() });
        };
        let fallback = name.parse::<u32>().unwrap_or(u32::MAX);
        read.push(world_info_entry(Obj { map: entry, path: &path }, fallback, &mut tally)?);
    }
    read.sort_by_key(|entry| entry.uid);
    Ok(Lorebook {
        name: root.text("name", bounds.name_chars)?.unwrap_or_default().to_owned(),
        scan_depth: None,
        token_budget: None,
        recursive: true,
        entries: read,
        extensions: Map::new(),
    })
}

fn world_info_entry(
    obj: Obj<'_>,
    fallback_uid: u32,
    tally: &mut Tally<'_>,
) -> Result<LoreEntry, LorebookError> {
    let bounds = tally.bounds;
    let content = obj.text("content", bounds.content_chars)?.unwrap_or_default();
    Ok(LoreEntry {
        uid: obj.int("uid", 0, U32_MAX)?.map_or(fallback_uid, to_u32),
        name: obj.text("comment", bounds.name_chars)?.unwrap_or_default().to_owned(),
        keys: tally.keys(obj, "key", false)?,
        secondary_keys: tally.keys(obj, "keysecondary", false)?,
        selective: obj.bool("selective")?.unwrap_or(true),
        logic: logic(obj, "selectiveLogic")?.unwrap_or_default(),
        constant: obj.bool("constant")?.unwrap_or(false),
        enabled: !obj.bool("disable")?.unwrap_or(false),
        case_sensitive: obj.bool("caseSensitive")?,
        match_whole_words: obj.bool("matchWholeWords")?,
        scan_depth: obj.int("scanDepth", 0, i64::from(MAX_DEPTH))?.map(to_u32),
        order: obj
            .int("order", i64::from(i32::MIN), i64::from(i32::MAX))?
            .map_or(DEFAULT_ORDER, to_i32),
        position: position(obj, "position", obj)?.unwrap_or(Position::BeforeChar),
        probability: obj.int("probability", 0, 100)?.map_or(100, to_u8),
        use_probability: obj.bool("useProbability")?.unwrap_or(true),
        exclude_recursion: obj.bool("excludeRecursion")?.unwrap_or(false),
        prevent_recursion: obj.bool("preventRecursion")?.unwrap_or(false),
        content: content.to_owned(),
        extensions: Map::new(),
    })
}

/// A card's `character_book`.
pub(crate) fn character_book(
    value: &Value,
    bounds: &LorebookBounds,
) -> Result<Lorebook, LorebookError> {
    let Value::Object(root) = value else {
        return Err(LorebookError::Field {
            path: "character_book".to_owned(),
            reason: "is not an object".to_owned(),
        });
    };
    let root = Obj { map: root, path: "" };
    let entries = match root.get("entries") {
        None => &[][..],
        Some(Value::Array(entries)) => entries.as_slice(),
        Some(_) => return Err(root.wrong("entries", "is not a list")),
    };
    check_count("entries", entries.len(), bounds)?;
    let mut tally = Tally { bounds, keys: 0, regexes: 0 };
    let mut read = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("entries[{i}]");
        let Value::Object(entry) = entry else {
            return Err(LorebookError::Field { path, reason: "is not an object".to_owned() });
        };
        let fallback = u32::try_from(i).unwrap_or(u32::MAX);
        read.push(character_book_entry(Obj { map: entry, path: &path }, fallback, &mut tally)?);
    }
    Ok(Lorebook {
        name: root.text("name", bounds.name_chars)?.unwrap_or_default().to_owned(),
        scan_depth: root.int("scan_depth", 0, i64::from(MAX_DEPTH))?.map(to_u32),
        token_budget: root.int("token_budget", 0, U32_MAX)?.map(to_u32),
        recursive: root.bool("recursive_scanning")?.unwrap_or(true),
        entries: read,
        extensions: root.object("extensions")?.cloned().unwrap_or_default(),
    })
}

fn character_book_entry(
    obj: Obj<'_>,
    fallback_id: u32,
    tally: &mut Tally<'_>,
) -> Result<LoreEntry, LorebookError> {
    let bounds = tally.bounds;
    let ext_path = obj.path("extensions");
    let empty = Map::new();
    let ext = Obj { map: obj.object("extensions")?.unwrap_or(&empty), path: &ext_path };
    // V3 allows a string id; one that is not a number falls back to the entry's index.
    let uid = match obj.get("id") {
        Some(Value::String(id)) => id.trim().parse().unwrap_or(fallback_id),
        _ => obj.int("id", 0, U32_MAX)?.map_or(fallback_id, to_u32),
    };
    let name = match obj.text("comment", bounds.name_chars)?.filter(|c| !c.is_empty()) {
        Some(comment) => comment,
        None => obj.text("name", bounds.name_chars)?.unwrap_or_default(),
    };
    let all_regex = obj.bool("use_regex")?.unwrap_or(false);
    let position = match position(ext, "position", ext)? {
        Some(position) => position,
        None => match obj.get("position") {
            None => Position::BeforeChar,
            Some(Value::String(p)) if p == "before_char" => Position::BeforeChar,
            Some(Value::String(p)) if p == "after_char" => Position::AfterChar,
            Some(_) => {
                return Err(obj.wrong("position", "is not \"before_char\" or \"after_char\""));
            }
        },
    };
    let case_sensitive = match ext.bool("case_sensitive")? {
        Some(b) => Some(b),
        None => obj.bool("case_sensitive")?,
    };
    let mut extensions = ext.map.clone();
    extensions.retain(|key, _| !MODELLED_EXTENSIONS.contains(&key.as_str()));
    Ok(LoreEntry {
        uid,
        name: name.to_owned(),
        keys: tally.keys(obj, "keys", all_regex)?,
        secondary_keys: tally.keys(obj, "secondary_keys", all_regex)?,
        selective: obj.bool("selective")?.unwrap_or(false),
        logic: logic(ext, "selectiveLogic")?.unwrap_or_default(),
        constant: obj.bool("constant")?.unwrap_or(false),
        enabled: obj.bool("enabled")?.unwrap_or(true),
        case_sensitive,
        match_whole_words: ext.bool("match_whole_words")?,
        scan_depth: ext.int("scan_depth", 0, i64::from(MAX_DEPTH))?.map(to_u32),
        order: obj
            .int("insertion_order", i64::from(i32::MIN), i64::from(i32::MAX))?
            .map_or(DEFAULT_ORDER, to_i32),
        position,
        probability: ext.int("probability", 0, 100)?.map_or(100, to_u8),
        use_probability: ext.bool("useProbability")?.unwrap_or(false),
        exclude_recursion: ext.bool("exclude_recursion")?.unwrap_or(false),
        prevent_recursion: ext.bool("prevent_recursion")?.unwrap_or(false),
        content: obj.text("content", bounds.content_chars)?.unwrap_or_default().to_owned(),
        extensions,
    })
}
