//! SillyTavern chat-completion presets: the prompt manager's blocks in their order, the format
//! templates and the sampler settings, and [`layout`], which says what goes where in a prompt.
//!
//! A preset is JSON with a `prompts` list (blocks with `identifier`, `name`, `role`, `content`,
//! `marker`, `system_prompt`, `injection_position` 0 relative or 1 in-chat, `injection_depth`,
//! `injection_order`, `enabled`) and a `prompt_order` list of `{character_id, order}`; the order
//! for `character_id` 100001 (SillyTavern's list with the persona description) is used when
//! present, else the first. The order decides which blocks are in the prompt, in what order,
//! and whether each is enabled. Without a `prompt_order`, the `prompts` list is the order.
//!
//! Where Tomori differs from SillyTavern: identifiers in the order that name no block are skipped
//! (SillyTavern does the same silently), and blocks that no order names are left out; in-chat
//! blocks are listed by depth, then `injection_order`, then their place in the order
//! (SillyTavern also groups them by role). The preset's other settings (model names, proxy,
//! bias presets, utility prompts) are ignored.
//!
//! Security: presets are uploaded files. The JSON's size, the number of blocks and order
//! entries, each text's length and each number's range are bounded ([`PresetBounds`]), and
//! bad input of every kind is a [`PresetError`] naming the field.

mod builtin;
mod layout;

use serde_json::{Map, Value};

pub use builtin::builtin;
pub use layout::{InChat, Layout, Part, PromptSources, layout};

use crate::lorebook::Role;

/// SillyTavern's `character_id` for the order that includes the persona description.
pub const PERSONA_ORDER_ID: i64 = 100_001;

/// How much of a preset is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetBounds {
    /// Largest preset JSON, in bytes.
    pub json_bytes: usize,
    /// Blocks in `prompts`, and entries in one order.
    pub blocks: usize,
    /// Orders in `prompt_order`.
    pub orders: usize,
    /// Characters in one block's content or one format template.
    pub content_chars: usize,
    /// Characters in an identifier or a name.
    pub name_chars: usize,
}

impl Default for PresetBounds {
    fn default() -> Self {
        Self {
            json_bytes: 1024 * 1024,
            blocks: 200,
            orders: 100,
            content_chars: 32_000,
            name_chars: 200,
        }
    }
}

/// Where a block goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injection {
    /// At its place in the order (`injection_position` 0).
    Relative,
    /// Inside the chat history, `depth` messages from its end (1).
    InChat {
        /// Messages from the end (0 is after the last).
        depth: u32,
        /// Among blocks at the same depth, lower goes first.
        order: i32,
    },
}

/// One prompt block, as the order places it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// `main`, `chatHistory`, or a custom block's id.
    pub identifier: String,
    /// Its display name.
    pub name: String,
    /// Who says it.
    pub role: Role,
    /// Its text (empty for markers).
    pub content: String,
    /// A placeholder filled from elsewhere (character card, lore, chat history).
    pub marker: bool,
    /// One of SillyTavern's built-in blocks.
    pub system_prompt: bool,
    /// Where it goes.
    pub injection: Injection,
    /// Whether the order turns it on.
    pub enabled: bool,
}

/// The format templates that wrap card and lore text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formats {
    /// Wraps World Info (`{0}` is the text).
    pub world_info: String,
    /// Wraps the scenario (`{{scenario}}`).
    pub scenario: String,
    /// Wraps the personality (`{{personality}}`).
    pub personality: String,
}

impl Default for Formats {
    fn default() -> Self {
        Self {
            world_info: "{0}".to_owned(),
            scenario: "{{scenario}}".to_owned(),
            personality: "{{personality}}".to_owned(),
        }
    }
}

/// Sampler settings; `None` where the preset does not say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samplers {
    /// `temperature` (0 to 5).
    pub temperature: Option<f64>,
    /// `top_p` (0 to 1).
    pub top_p: Option<f64>,
    /// `top_k` (0 is off).
    pub top_k: Option<u32>,
    /// `top_a` (0 to 1).
    pub top_a: Option<f64>,
    /// `min_p` (0 to 1).
    pub min_p: Option<f64>,
    /// `frequency_penalty` (-2 to 2).
    pub frequency_penalty: Option<f64>,
    /// `presence_penalty` (-2 to 2).
    pub presence_penalty: Option<f64>,
    /// `repetition_penalty` (0 to 5).
    pub repetition_penalty: Option<f64>,
    /// `openai_max_tokens`: the answer's length.
    pub max_tokens: Option<u32>,
    /// `openai_max_context`: the context window.
    pub max_context: Option<u32>,
    /// `seed` (negative is none).
    pub seed: Option<i64>,
}

/// A chat-completion preset.
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    /// The blocks, in prompt order, with their enabled flags.
    pub blocks: Vec<Block>,
    /// The format templates.
    pub formats: Formats,
    /// The sampler settings.
    pub samplers: Samplers,
}

/// Why a preset was refused; the message names the field in one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresetError {
    /// The JSON is larger than accepted.
    #[error("the preset is {size} bytes; at most {max} bytes are accepted")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The cap.
        max: usize,
    },
    /// Not UTF-8 or not JSON.
    #[error("the preset is not valid JSON: {0}")]
    Json(String),
    /// A field with the wrong type or value.
    #[error("{path} {reason}")]
    Field {
        /// Where, e.g. `prompts[2].role`.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl Preset {
    /// Reads a preset file.
    ///
    /// # Errors
    /// See [`PresetError`].
    pub fn from_json(bytes: &[u8], bounds: &PresetBounds) -> Result<Self, PresetError> {
        parse(bytes, bounds)
    }

    /// The enabled block with this identifier.
    #[must_use]
    pub fn block(&self, identifier: &str) -> Option<&Block> {
        self.blocks.iter().find(|b| b.identifier == identifier && b.enabled)
    }

    /// The preset with blocks turned on or off (`/preset toggle`): each `(identifier, on)`
    /// overrides that block's flag in the order; identifiers it lacks are ignored.
    #[must_use]
    pub fn with_toggles<'t>(mut self, toggles: impl IntoIterator<Item = (&'t str, bool)>) -> Self {
        for (identifier, on) in toggles {
            for block in self.blocks.iter_mut().filter(|b| b.identifier == identifier) {
                block.enabled = on;
            }
        }
        self
    }

    /// The block whose identifier or name is `wanted` (case-insensitive), enabled or not.
    #[must_use]
    pub fn find(&self, wanted: &str) -> Option<&Block> {
        let wanted = wanted.trim();
        self.blocks
            .iter()
            .find(|b| b.identifier.eq_ignore_ascii_case(wanted))
            .or_else(|| self.blocks.iter().find(|b| b.name.trim().eq_ignore_ascii_case(wanted)))
    }
}

fn field(path: &str, reason: impl Into<String>) -> PresetError {
    PresetError::Field { path: path.to_owned(), reason: reason.into() }
}

/// The value at `key`, with `null` read as missing.
fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

fn text<'a>(
    map: &'a Map<String, Value>,
    path: &str,
    max: usize,
) -> Result<Option<&'a str>, PresetError> {
    let key = path.rsplit('.').next().unwrap_or(path);
    match get(map, key) {
        None => Ok(None),
        Some(Value::String(text)) => {
            let chars = text.chars().count();
            if chars > max {
                return Err(field(
                    path,
                    format!("is {chars} characters long; at most {max} are allowed"),
                ));
            }
            Ok(Some(text))
        }
        Some(_) => Err(field(path, "is not a string")),
    }
}

fn flag(map: &Map<String, Value>, path: &str) -> Result<Option<bool>, PresetError> {
    let key = path.rsplit('.').next().unwrap_or(path);
    match get(map, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(field(path, "is not true or false")),
    }
}

fn number(
    map: &Map<String, Value>,
    key: &str,
    min: f64,
    max: f64,
) -> Result<Option<f64>, PresetError> {
    match get(map, key) {
        None => Ok(None),
        Some(value) => match value.as_f64() {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(field(key, format!("is not a number from {min} to {max}"))),
        },
    }
}

fn whole(
    map: &Map<String, Value>,
    path: &str,
    min: i64,
    max: i64,
) -> Result<Option<i64>, PresetError> {
    let key = path.rsplit('.').next().unwrap_or(path);
    match get(map, key) {
        None => Ok(None),
        Some(value) => match value.as_i64() {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(field(path, format!("is not a whole number from {min} to {max}"))),
        },
    }
}

fn samplers(root: &Map<String, Value>) -> Result<Samplers, PresetError> {
    let count = |key: &str, max: i64| -> Result<Option<u32>, PresetError> {
        Ok(whole(root, key, 0, max)?.and_then(|n| u32::try_from(n).ok()))
    };
    Ok(Samplers {
        temperature: number(root, "temperature", 0.0, 5.0)?,
        top_p: number(root, "top_p", 0.0, 1.0)?,
        top_k: count("top_k", 100_000)?,
        top_a: number(root, "top_a", 0.0, 1.0)?,
        min_p: number(root, "min_p", 0.0, 1.0)?,
        frequency_penalty: number(root, "frequency_penalty", -2.0, 2.0)?,
        presence_penalty: number(root, "presence_penalty", -2.0, 2.0)?,
        repetition_penalty: number(root, "repetition_penalty", 0.0, 5.0)?,
        max_tokens: count("openai_max_tokens", 10_000_000)?,
        max_context: count("openai_max_context", 100_000_000)?,
        seed: whole(root, "seed", i64::MIN, i64::MAX)?.filter(|seed| *seed >= 0),
    })
}

fn block(value: &Value, path: &str, bounds: &PresetBounds) -> Result<Block, PresetError> {
    let Value::Object(map) = value else { return Err(field(path, "is not an object")) };
    let at = |key: &str| format!("{path}.{key}");
    let identifier = text(map, &at("identifier"), bounds.name_chars)?
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| field(&at("identifier"), "is missing or empty"))?;
    let role = match text(map, &at("role"), bounds.name_chars)? {
        None | Some("system") => Role::System,
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some(_) => return Err(field(&at("role"), "is not \"system\", \"user\" or \"assistant\"")),
    };
    let injection = match whole(map, &at("injection_position"), 0, 1)? {
        Some(1) => Injection::InChat {
            depth: whole(map, &at("injection_depth"), 0, 1_000)?
                .and_then(|d| u32::try_from(d).ok())
                .unwrap_or(4),
            order: whole(map, &at("injection_order"), i64::from(i32::MIN), i64::from(i32::MAX))?
                .and_then(|o| i32::try_from(o).ok())
                .unwrap_or(100),
        },
        _ => Injection::Relative,
    };
    Ok(Block {
        identifier: identifier.to_owned(),
        name: text(map, &at("name"), bounds.name_chars)?.unwrap_or_default().to_owned(),
        role,
        content: text(map, &at("content"), bounds.content_chars)?.unwrap_or_default().to_owned(),
        marker: flag(map, &at("marker"))?.unwrap_or(false),
        system_prompt: flag(map, &at("system_prompt"))?.unwrap_or(false),
        injection,
        enabled: flag(map, &at("enabled"))?.unwrap_or(true),
    })
}

/// The chosen order's `(identifier, enabled)` pairs, or `None` without a `prompt_order`.
fn order(
    root: &Map<String, Value>,
    bounds: &PresetBounds,
) -> Result<Option<Vec<(String, bool)>>, PresetError> {
    let orders = match get(root, "prompt_order") {
        None => return Ok(None),
        Some(Value::Array(orders)) => orders,
        Some(_) => return Err(field("prompt_order", "is not a list")),
    };
    // Security: uploaded file; list lengths are bounded before their items are read.
    if orders.len() > bounds.orders {
        return Err(field(
            "prompt_order",
            format!("has {} orders; at most {} are allowed", orders.len(), bounds.orders),
        ));
    }
    let mut chosen = None;
    for (i, order) in orders.iter().enumerate() {
        let Value::Object(map) = order else {
            return Err(field(&format!("prompt_order[{i}]"), "is not an object"));
        };
        let id = whole(map, &format!("prompt_order[{i}].character_id"), i64::MIN, i64::MAX)?;
        if chosen.is_none() || id == Some(PERSONA_ORDER_ID) {
            chosen = Some((i, map));
        }
    }
    let Some((i, map)) = chosen else { return Ok(Some(Vec::new())) };
    let path = format!("prompt_order[{i}].order");
    let items = match get(map, "order") {
        None => return Ok(Some(Vec::new())),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(field(&path, "is not a list")),
    };
    if items.len() > bounds.blocks {
        return Err(field(
            &path,
            format!("has {} entries; at most {} are allowed", items.len(), bounds.blocks),
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for (j, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{j}]");
        let Value::Object(item) = item else { return Err(field(&item_path, "is not an object")) };
        let identifier = text(item, &format!("{item_path}.identifier"), bounds.name_chars)?
            .ok_or_else(|| field(&format!("{item_path}.identifier"), "is missing"))?;
        let enabled = flag(item, &format!("{item_path}.enabled"))?.unwrap_or(true);
        out.push((identifier.to_owned(), enabled));
    }
    Ok(Some(out))
}

fn parse(bytes: &[u8], bounds: &PresetBounds) -> Result<Preset, PresetError> {
    // Security: uploaded file; its size is checked before anything is parsed.
    if bytes.len() > bounds.json_bytes {
        return Err(PresetError::TooLarge { size: bytes.len(), max: bounds.json_bytes });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text_json =
        std::str::from_utf8(bytes).map_err(|_| PresetError::Json("not UTF-8".to_owned()))?;
    let value: Value = serde_json::from_str(text_json).map_err(|e| {
        PresetError::Json(e.to_string().chars().take(200).filter(|c| !c.is_control()).collect())
    })?;
    let Value::Object(root) = value else { return Err(field("top level", "is not an object")) };
    let none = Vec::new();
    let prompts = match get(&root, "prompts") {
        None => &none,
        Some(Value::Array(prompts)) => prompts,
        Some(_) => return Err(field("prompts", "is not a list")),
    };
    if prompts.len() > bounds.blocks {
        return Err(field(
            "prompts",
            format!("has {} blocks; at most {} are allowed", prompts.len(), bounds.blocks),
        ));
    }
    let mut blocks: Vec<Block> = Vec::with_capacity(prompts.len());
    for (i, value) in prompts.iter().enumerate() {
        let path = format!("prompts[{i}]");
        let block = block(value, &path, bounds)?;
        if blocks.iter().any(|b| b.identifier == block.identifier) {
            return Err(field(
                &format!("{path}.identifier"),
                format!("repeats {:?}", block.identifier),
            ));
        }
        blocks.push(block);
    }
    let blocks = match order(&root, bounds)? {
        None => blocks,
        Some(order) => {
            let mut placed: Vec<Block> = Vec::with_capacity(order.len());
            for (identifier, enabled) in order {
                // A repeated identifier keeps its first place.
                if placed.iter().any(|b| b.identifier == identifier) {
                    continue;
                }
                if let Some(block) = blocks.iter().find(|b| b.identifier == identifier) {
                    placed.push(Block { enabled, ..block.clone() });
                }
            }
            placed
        }
    };
    let defaults = Formats::default();
    let format = |key: &str, default: String| -> Result<String, PresetError> {
        Ok(text(&root, key, bounds.content_chars)?.map_or(default, str::to_owned))
    };
    Ok(Preset {
        blocks,
        formats: Formats {
            world_info: format("wi_format", defaults.world_info)?,
            scenario: format("scenario_format", defaults.scenario)?,
            personality: format("personality_format", defaults.personality)?,
        },
        samplers: samplers(&root)?,
    })
}

#[cfg(test)]
mod tests;
