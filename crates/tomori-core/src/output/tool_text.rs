//! Tool calls that a model wrote as text instead of as structured calls.
//!
//! Some models (and some endpoints that drop the tool-call channel) answer with
//! `read_file("media_1")`, `web_search(query="tea")` or a JSON object
//! `{"name": "web_search", "arguments": {"query": "tea"}}`, bare on its own line or fenced in
//! a code block. For a tool the turn offered, such a call is taken out of the text and returned
//! as a call (name and JSON arguments), which the engine runs through the gate like a
//! structured one; an unknown name, a call in the middle of a sentence, or anything that does
//! not parse stays text.
//!
//! Security: denial of service through model output. The text is scanned only up to
//! [`MAX_INPUT_BYTES`], one call up to [`MAX_CALL_BYTES`], and at most [`MAX_CALLS`] calls are
//! taken from one answer; beyond that, text stays text. Recognising a call grants nothing: the
//! gate still judges it.

use serde_json::{Map, Value};

/// The most text scanned for calls.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;
/// The longest single call (its fence included).
pub const MAX_CALL_BYTES: usize = 8 * 1024;
/// The most calls taken from one answer.
pub const MAX_CALLS: usize = 8;

/// A tool the turn offered, as text calls may name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownTool {
    /// Its name.
    pub name: String,
    /// Its parameter names in the schema's order, so that positional arguments map to them.
    pub parameters: Vec<String>,
}

/// A call found in the text.
#[derive(Debug, Clone, PartialEq)]
pub struct TextToolCall {
    /// The tool's name (one of the known tools).
    pub name: String,
    /// Its arguments, a JSON object.
    pub arguments: Map<String, Value>,
}

/// Takes the calls to known tools out of `text`: returns the text without them and the calls in
/// order. Calls count only on lines of their own (or as the whole content of a code block), and
/// never inside another code block.
pub fn extract(text: &str, tools: &[KnownTool]) -> (String, Vec<TextToolCall>) {
    if tools.is_empty() || text.len() > MAX_INPUT_BYTES {
        return (text.to_owned(), Vec::new());
    }
    let mut out = String::with_capacity(text.len());
    let mut calls = Vec::new();
    let mut rest = text;
    let mut fence_open = false;
    while !rest.is_empty() {
        if !fence_open
            && calls.len() < MAX_CALLS
            && let Candidate::Complete(len) = candidate(rest, tools, true)
            && let Some(found) = parse_candidate(rest.get(..len).unwrap_or_default(), tools)
        {
            calls.extend(found.into_iter().take(MAX_CALLS - calls.len()));
            rest = rest.get(len..).unwrap_or_default();
            continue;
        }
        let line_end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        let line = rest.get(..line_end).unwrap_or_default();
        if line.matches("```").count() % 2 == 1 {
            fence_open = !fence_open;
        }
        out.push_str(line);
        rest = rest.get(line_end..).unwrap_or_default();
    }
    if calls.is_empty() {
        return (text.to_owned(), calls);
    }
    (out.trim_end().to_owned(), calls)
}

/// Whether a text that starts a line starts a tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Candidate {
    /// It does not.
    No,
    /// It may: more text is needed to tell.
    More,
    /// It may be a call of this many bytes (its line break included); [`parse_candidate`]
    /// tells.
    Complete(usize),
}

/// Fence info strings under which a code block may hold calls.
const CALL_FENCES: [&str; 6] = ["", "json", "tool_code", "tool_call", "python", "py"];

/// Looks at `text`, which starts a line outside code. `end`: no more text will come.
pub(crate) fn candidate(text: &str, tools: &[KnownTool], end: bool) -> Candidate {
    let indent = text.len() - text.trim_start_matches([' ', '\t']).len();
    let body = text.get(indent..).unwrap_or_default();
    let found = if body.starts_with("```") {
        fenced(body, tools)
    } else if body.starts_with('{') {
        scan_balanced(body, '{', '}')
    } else if body.starts_with('[') {
        scan_balanced(body, '[', ']')
    } else {
        named(body, tools)
    };
    match found {
        Scan::Found(len) => {
            let after = body.get(len..).unwrap_or_default();
            let line_end = after.find('\n');
            let tail = after.get(..line_end.unwrap_or(after.len())).unwrap_or_default();
            if !tail.trim().is_empty() {
                return Candidate::No;
            }
            match line_end {
                Some(i) => Candidate::Complete(indent + len + i + 1),
                None if end => Candidate::Complete(text.len()),
                None => Candidate::More,
            }
        }
        Scan::NotYet if !end => Candidate::More,
        Scan::NotYet | Scan::No => Candidate::No,
    }
}

enum Scan {
    /// The construct ends after this many bytes.
    Found(usize),
    /// It has not ended yet.
    NotYet,
    /// It is not one, or too long to be one.
    No,
}

/// A code block whose content starts like a call: through its closing fence.
fn fenced(body: &str, tools: &[KnownTool]) -> Scan {
    let Some(info_end) = body.find('\n') else {
        return if body.len() > 64 { Scan::No } else { Scan::NotYet };
    };
    let info = body.get(3..info_end).unwrap_or_default().trim().to_ascii_lowercase();
    if !CALL_FENCES.contains(&info.as_str()) {
        return Scan::No;
    }
    let content = body.get(info_end + 1..).unwrap_or_default();
    let first = content.trim_start();
    if first.is_empty() {
        return Scan::NotYet;
    }
    let starts_like_call = first.starts_with('{')
        || first.starts_with('[')
        || tools.iter().any(|tool| {
            let call = format!("{}(", tool.name);
            first.starts_with(&call) || call.starts_with(first)
        });
    if !starts_like_call {
        return Scan::No;
    }
    match content.find("```") {
        Some(close) => Scan::Found(info_end + 1 + close + 3),
        None if body.len() > MAX_CALL_BYTES => Scan::No,
        None => Scan::NotYet,
    }
}

/// `name(...)` for a known name: through the closing parenthesis.
fn named(body: &str, tools: &[KnownTool]) -> Scan {
    let mut partial = false;
    for tool in tools {
        let Some(after) = body.strip_prefix(tool.name.as_str()) else {
            partial |= !body.is_empty() && tool.name.starts_with(body);
            continue;
        };
        match after.chars().next() {
            Some('(') => {
                return match scan_balanced(after, '(', ')') {
                    Scan::Found(len) => Scan::Found(tool.name.len() + len),
                    other => other,
                };
            }
            None => partial = true,
            Some(_) => {}
        }
    }
    if partial { Scan::NotYet } else { Scan::No }
}

/// From the opening bracket at the start of `text` to its match, skipping quoted strings.
fn scan_balanced(text: &str, open: char, close: char) -> Scan {
    let mut depth = 0_usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (idx, c) in text.char_indices() {
        if idx > MAX_CALL_BYTES {
            return Scan::No;
        }
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        if c == '"' || (c == '\'' && open == '(') {
            quote = Some(c);
        } else if c == open {
            depth += 1;
        } else if c == close {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return Scan::Found(idx + c.len_utf8());
            }
        }
    }
    Scan::NotYet
}

/// The calls a complete candidate holds, or `None` when it is not (only) calls.
pub(crate) fn parse_candidate(text: &str, tools: &[KnownTool]) -> Option<Vec<TextToolCall>> {
    let body = text.trim();
    let inner = match body.strip_prefix("```") {
        Some(fenced) => {
            let (_, content) = fenced.split_once('\n')?;
            content.trim_end().strip_suffix("```")?.trim()
        }
        None => body,
    };
    if inner.starts_with('{') || inner.starts_with('[') {
        let value: Value = serde_json::from_str(inner).ok()?;
        return match value {
            Value::Array(items) => items.iter().map(|item| json_call(item, tools)).collect(),
            item => Some(vec![json_call(&item, tools)?]),
        };
    }
    let mut calls = Vec::new();
    let mut rest = inner;
    while !rest.is_empty() {
        let (call, len) = python_call(rest, tools)?;
        calls.push(call);
        rest = rest.get(len..).unwrap_or_default().trim_start();
    }
    (!calls.is_empty()).then_some(calls)
}

/// `{"name": ..., "arguments": {...}}` (or `parameters`, or arguments as a JSON string, or the
/// whole wrapped in `{"function": ...}`).
fn json_call(value: &Value, tools: &[KnownTool]) -> Option<TextToolCall> {
    let object = value.as_object()?;
    let object = match object.get("function").and_then(Value::as_object) {
        Some(function) => function,
        None => object,
    };
    let name = object.get("name").and_then(Value::as_str)?;
    let tool = tools.iter().find(|tool| tool.name == name)?;
    let arguments = match object.get("arguments").or_else(|| object.get("parameters")) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(arguments)) => arguments.clone(),
        Some(Value::String(encoded)) => match serde_json::from_str(encoded).ok()? {
            Value::Object(arguments) => arguments,
            _ => return None,
        },
        Some(_) => return None,
    };
    Some(TextToolCall { name: tool.name.clone(), arguments })
}

/// `name(arg, key=value, ...)`: returns the call and the bytes it took.
fn python_call(text: &str, tools: &[KnownTool]) -> Option<(TextToolCall, usize)> {
    let tool = tools.iter().find(|tool| {
        text.strip_prefix(tool.name.as_str()).is_some_and(|after| after.starts_with('('))
    })?;
    let mut p = Args { text, pos: tool.name.len() + 1 };
    let mut arguments = Map::new();
    let mut positional = 0;
    loop {
        p.blank();
        if p.eat(')') {
            break;
        }
        let start = p.pos;
        let key = p.ident().filter(|_| {
            p.blank();
            p.eat('=') || p.eat(':')
        });
        let key = match key {
            Some(key) => {
                let known = tool.parameters.is_empty() || tool.parameters.contains(&key);
                known.then_some(key)?
            }
            None => {
                p.pos = start;
                let key = tool.parameters.get(positional)?.clone();
                positional += 1;
                key
            }
        };
        p.blank();
        let value = p.value()?;
        arguments.insert(key, value);
        p.blank();
        if p.eat(')') {
            break;
        }
        if !p.eat(',') {
            return None;
        }
    }
    Some((TextToolCall { name: tool.name.clone(), arguments }, p.pos))
}

/// A cursor over a call's argument list.
struct Args<'a> {
    text: &'a str,
    pos: usize,
}

impl Args<'_> {
    fn peek(&self) -> Option<char> {
        self.text.get(self.pos..).and_then(|rest| rest.chars().next())
    }

    fn eat(&mut self, wanted: char) -> bool {
        let hit = self.peek() == Some(wanted);
        if hit {
            self.pos += wanted.len_utf8();
        }
        hit
    }

    fn blank(&mut self) {
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.pos += c.len_utf8();
        }
    }

    fn take_while(&mut self, wanted: impl Fn(char) -> bool) -> &str {
        let start = self.pos;
        while let Some(c) = self.peek().filter(|c| wanted(*c)) {
            self.pos += c.len_utf8();
        }
        self.text.get(start..self.pos).unwrap_or_default()
    }

    fn ident(&mut self) -> Option<String> {
        let first = self.peek()?;
        if !(first.is_ascii_alphabetic() || first == '_') {
            return None;
        }
        Some(self.take_while(|c| c.is_ascii_alphanumeric() || c == '_').to_owned())
    }

    fn value(&mut self) -> Option<Value> {
        match self.peek()? {
            quote @ ('"' | '\'') => {
                self.pos += 1;
                self.string(quote).map(Value::String)
            }
            open @ ('[' | '{') => {
                let rest = self.text.get(self.pos..)?;
                let close = if open == '[' { ']' } else { '}' };
                let Scan::Found(len) = scan_balanced(rest, open, close) else { return None };
                let value = serde_json::from_str(rest.get(..len)?).ok()?;
                self.pos += len;
                Some(value)
            }
            c if c == '-' || c.is_ascii_digit() => {
                let number = self.take_while(|c| c.is_ascii_digit() || "+-.eE".contains(c));
                serde_json::from_str::<serde_json::Number>(number).ok().map(Value::Number)
            }
            _ => match self.ident()?.as_str() {
                "true" | "True" => Some(Value::Bool(true)),
                "false" | "False" => Some(Value::Bool(false)),
                "null" | "None" => Some(Value::Null),
                _ => None,
            },
        }
    }

    /// A quoted string after its opening quote, with the usual escapes.
    fn string(&mut self, quote: char) -> Option<String> {
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            self.pos += c.len_utf8();
            if c == quote {
                return Some(out);
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let escaped = self.peek()?;
            self.pos += escaped.len_utf8();
            match escaped {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'u' => {
                    let hex = self.text.get(self.pos..self.pos + 4)?;
                    let code = u32::from_str_radix(hex, 16).ok()?;
                    out.push(char::from_u32(code)?);
                    self.pos += 4;
                }
                other => out.push(other),
            }
        }
    }
}

#[cfg(test)]
mod tests;
