//! ComfyUI workflows in the API format: checked when an admin registers one, filled in for each
//! request.
//!
//! The API format is a JSON object from node ids to `{"class_type", "inputs", "_meta"?}`; an
//! input is a literal or a link `["<node id>", <output index>]`. The file comes from a server
//! admin, who is not trusted with the ComfyUI host: it is bounded in size, depth and node count,
//! and node classes that reach outside the host are refused by name.

use serde_json::{Map, Value};

use super::{ComfySize, MAX_COMFY_PROMPT_CHARS};

/// The largest workflow file accepted, in bytes.
pub const MAX_WORKFLOW_BYTES: usize = 256 * 1024;
/// The most nodes a workflow may have.
pub const MAX_WORKFLOW_NODES: usize = 200;
/// The deepest JSON nesting accepted (the top-level object is level 1).
pub const MAX_WORKFLOW_NESTING: usize = 32;
/// The most image output nodes (`SaveImage`, `PreviewImage`) a workflow may have.
pub const MAX_WORKFLOW_OUTPUTS: usize = 2;
/// Words that refuse a node class when its name contains one, compared case-insensitively.
///
/// This is a denylist heuristic, not a sandbox: it catches the usual names of custom nodes that
/// fetch URLs, send requests or run code, and cannot know what a node with an innocent name
/// does. The words are ones rare inside innocent names (not `ftp`, which is in `Softplus`, nor
/// `script`, which is in `Description`). An operator who lets admins upload workflows should
/// also run ComfyUI without custom nodes it does not trust, and without outbound network access.
pub const COMFY_DENIED_WORDS: &[&str] = &[
    "url", "http", "request", "download", "upload", "fetch", "webhook", "socket", "smtp", "email",
    "python", "shell", "command",
];

const MAX_NODE_ID_CHARS: usize = 32;
const MAX_CLASS_CHARS: usize = 100;
const MAX_INPUT_NAME_CHARS: usize = 100;
/// Output slots are few in every ComfyUI node; a large index is a mistake or a probe.
const MAX_OUTPUT_INDEX: u64 = 255;
const OUTPUT_CLASSES: [&str; 2] = ["SaveImage", "PreviewImage"];

const PROMPT: &str = "%prompt%";
const NEGATIVE: &str = "%negative%";
const SEED: &str = "%seed%";
const WIDTH: &str = "%width%";
const HEIGHT: &str = "%height%";

/// Why a workflow was refused; each message says what to change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// The file is over [`MAX_WORKFLOW_BYTES`].
    #[error("the workflow is {size} bytes; at most {max} bytes are accepted")]
    TooBig {
        /// Its size.
        size: usize,
        /// The cap.
        max: usize,
    },
    /// The file is not JSON.
    #[error("the workflow is not valid JSON ({reason})")]
    NotJson {
        /// The parser's complaint.
        reason: String,
    },
    /// The JSON nests deeper than [`MAX_WORKFLOW_NESTING`].
    #[error("the workflow's JSON nests deeper than {max} levels")]
    TooDeep {
        /// The cap.
        max: usize,
    },
    /// The JSON is not an object of nodes.
    #[error(
        "the workflow must be a JSON object of nodes in ComfyUI's API format (in ComfyUI, export it with \"Export (API)\")"
    )]
    NotApiFormat,
    /// The JSON is ComfyUI's editor format, which the API does not run.
    #[error(
        "this is ComfyUI's editor format; export the workflow with \"Export (API)\" (or \"Save (API Format)\") and upload that file"
    )]
    EditorFormat,
    /// Too few or too many nodes.
    #[error("the workflow has {count} nodes; it must have between 1 and {max}")]
    NodeCount {
        /// How many it has.
        count: usize,
        /// The cap.
        max: usize,
    },
    /// A node id that is empty, too long or has unusual characters.
    #[error(
        "node id {id} is not accepted: ids are 1 to {MAX_NODE_ID_CHARS} characters of letters, digits, `_`, `-`, `.` and `:`"
    )]
    BadNodeId {
        /// The id, quoted and cut short.
        id: String,
    },
    /// A node that is not `{"class_type": "...", "inputs": {...}}`, or one of its inputs.
    #[error("node {node}: {problem}")]
    BadNode {
        /// The node's id.
        node: String,
        /// What is wrong.
        problem: String,
    },
    /// A link to a node that is not in the workflow.
    #[error("node {node}'s input {input} is linked to node {target}, which is not in the workflow")]
    DanglingLink {
        /// The linking node.
        node: String,
        /// The input, quoted and cut short.
        input: String,
        /// The missing node, quoted and cut short.
        target: String,
    },
    /// A node class that may reach outside the ComfyUI host.
    #[error(
        "node {node} uses {class}, which is not allowed: node types whose names contain {word:?} may reach outside the image server"
    )]
    DeniedClass {
        /// The node's id.
        node: String,
        /// Its class.
        class: String,
        /// The denied word it contains.
        word: &'static str,
    },
    /// An input names a parent directory.
    #[error(
        "node {node}'s input {input} names a parent directory (`..`); pick files the image server lists instead"
    )]
    ParentPath {
        /// The node's id.
        node: String,
        /// The input, quoted and cut short.
        input: String,
    },
    /// No text input has `%prompt%`.
    #[error(
        "no text input contains %prompt%; put %prompt% where the positive prompt goes (a CLIPTextEncode node's text, say)"
    )]
    NoPrompt,
    /// No `SaveImage` or `PreviewImage` node.
    #[error("the workflow has no SaveImage or PreviewImage node, so it would make no image")]
    NoOutput,
    /// More image output nodes than [`MAX_WORKFLOW_OUTPUTS`].
    #[error(
        "the workflow has {count} SaveImage or PreviewImage nodes; at most {max} are accepted (one image is used)"
    )]
    TooManyOutputs {
        /// How many it has.
        count: usize,
        /// The cap.
        max: usize,
    },
}

/// A workflow that passed every check, ready to be filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComfyWorkflow {
    nodes: Map<String, Value>,
}

/// Hostile text quoted in a message: cut to 40 characters and escaped.
fn shown(text: &str) -> String {
    let cut: String = text.chars().take(40).collect();
    if cut.len() < text.len() { format!("{:?}…", cut) } else { format!("{cut:?}") }
}

fn depth_exceeds(value: &Value, max: usize) -> bool {
    if max == 0 {
        return true;
    }
    match value {
        Value::Object(map) => map.values().any(|v| depth_exceeds(v, max - 1)),
        Value::Array(items) => items.iter().any(|v| depth_exceeds(v, max - 1)),
        _ => false,
    }
}

fn node_id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.chars().count() <= MAX_NODE_ID_CHARS
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

fn class_ok(class: &str) -> bool {
    !class.is_empty()
        && class.chars().count() <= MAX_CLASS_CHARS
        && class
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ' ' | '.' | '+' | '-'))
}

fn denied_word(class: &str) -> Option<&'static str> {
    let lower = class.to_ascii_lowercase();
    COMFY_DENIED_WORDS.iter().copied().find(|word| lower.contains(word))
}

/// Whether a path-like string has a `..` component.
fn names_parent(text: &str) -> bool {
    text.split(['/', '\\']).any(|part| part == "..")
}

/// Every string under `value`, links' node ids included (they cannot hold a placeholder).
fn strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(text) => out.push(text),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// What one node contributes to the whole-workflow checks.
struct NodeFacts {
    has_prompt: bool,
    is_output: bool,
}

impl ComfyWorkflow {
    /// Parses and checks a workflow file (ComfyUI's "Export (API)").
    ///
    /// # Errors
    /// A [`WorkflowError`] naming the first problem found, in words an admin can act on.
    pub fn parse(bytes: &[u8]) -> Result<ComfyWorkflow, WorkflowError> {
        // Security: resource exhaustion from an admin's workflow. The size is checked before
        // anything is parsed; serde_json's own recursion limit bounds the parse itself.
        if bytes.len() > MAX_WORKFLOW_BYTES {
            return Err(WorkflowError::TooBig { size: bytes.len(), max: MAX_WORKFLOW_BYTES });
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|error| {
            let reason = error.to_string();
            if reason.contains("recursion limit") {
                WorkflowError::TooDeep { max: MAX_WORKFLOW_NESTING }
            } else {
                WorkflowError::NotJson { reason }
            }
        })?;
        // Security: resource exhaustion. Every later walk recurses over the value; its depth is
        // held low before any of them runs.
        if depth_exceeds(&value, MAX_WORKFLOW_NESTING) {
            return Err(WorkflowError::TooDeep { max: MAX_WORKFLOW_NESTING });
        }
        let Value::Object(nodes) = value else {
            return Err(WorkflowError::NotApiFormat);
        };
        if nodes.get("nodes").is_some_and(Value::is_array) && nodes.contains_key("links") {
            return Err(WorkflowError::EditorFormat);
        }
        // Security: resource exhaustion on the ComfyUI host: a workflow of thousands of nodes.
        if nodes.is_empty() || nodes.len() > MAX_WORKFLOW_NODES {
            return Err(WorkflowError::NodeCount { count: nodes.len(), max: MAX_WORKFLOW_NODES });
        }
        let mut has_prompt = false;
        let mut outputs = 0_usize;
        for (id, node) in &nodes {
            let facts = check_node(&nodes, id, node)?;
            has_prompt |= facts.has_prompt;
            outputs += usize::from(facts.is_output);
        }
        if !has_prompt {
            return Err(WorkflowError::NoPrompt);
        }
        if outputs == 0 {
            return Err(WorkflowError::NoOutput);
        }
        // Security: resource exhaustion. Each output node is one more image stored and served;
        // only one is used.
        if outputs > MAX_WORKFLOW_OUTPUTS {
            return Err(WorkflowError::TooManyOutputs {
                count: outputs,
                max: MAX_WORKFLOW_OUTPUTS,
            });
        }
        Ok(ComfyWorkflow { nodes })
    }

    /// The workflow with its placeholders filled in, ready for ComfyUI's `/prompt`.
    ///
    /// In every string input: exactly `%seed%`, `%width%` or `%height%` becomes that number,
    /// exactly `%negative%` becomes the negative prompt, and `%prompt%` anywhere becomes the
    /// prompt. Each string is rewritten once, so placeholders inside the prompt stay text. Both
    /// prompts are cut to [`MAX_COMFY_PROMPT_CHARS`] characters; the size is
    /// [`ComfySize::bounded`].
    pub fn fill(&self, prompt: &str, negative: &str, seed: u64, size: ComfySize) -> Value {
        let prompt: String = prompt.chars().take(MAX_COMFY_PROMPT_CHARS).collect();
        let negative: String = negative.chars().take(MAX_COMFY_PROMPT_CHARS).collect();
        let size = size.bounded();
        let fill = Fill { prompt: &prompt, negative: &negative, seed, size };
        let mut nodes = self.nodes.clone();
        for node in nodes.values_mut() {
            if let Some(inputs) = node.get_mut("inputs") {
                fill.apply(inputs);
            }
        }
        Value::Object(nodes)
    }

    /// The node ids, in order.
    pub fn node_ids(&self) -> impl Iterator<Item = &str> {
        self.nodes.keys().map(String::as_str)
    }

    /// The workflow as it was registered.
    pub fn as_json(&self) -> Value {
        Value::Object(self.nodes.clone())
    }
}

fn check_node(
    nodes: &Map<String, Value>,
    id: &str,
    node: &Value,
) -> Result<NodeFacts, WorkflowError> {
    if !node_id_ok(id) {
        return Err(WorkflowError::BadNodeId { id: shown(id) });
    }
    let bad =
        |problem: &str| WorkflowError::BadNode { node: id.to_owned(), problem: problem.to_owned() };
    let Value::Object(fields) = node else {
        return Err(bad("a node must be an object with class_type and inputs"));
    };
    let class = match fields.get("class_type") {
        Some(Value::String(class)) => class,
        Some(_) => return Err(bad("class_type must be a string")),
        None => return Err(bad("class_type is missing")),
    };
    if !class_ok(class) {
        return Err(bad(&format!(
            "class_type {} is not a node type name (1 to {MAX_CLASS_CHARS} letters, digits, spaces and `_.+-`)",
            shown(class)
        )));
    }
    // Security: SSRF and code execution through custom nodes. An admin's workflow runs on the
    // operator's ComfyUI host; node types that fetch URLs or run code are refused by name.
    if let Some(word) = denied_word(class) {
        return Err(WorkflowError::DeniedClass { node: id.to_owned(), class: class.clone(), word });
    }
    let inputs = match fields.get("inputs") {
        Some(Value::Object(inputs)) => inputs,
        Some(_) => return Err(bad("inputs must be an object")),
        None => return Err(bad("inputs is missing")),
    };
    let mut has_prompt = false;
    for (name, value) in inputs {
        if name.is_empty() || name.chars().count() > MAX_INPUT_NAME_CHARS {
            return Err(bad(&format!("input name {} is empty or too long", shown(name))));
        }
        check_input(nodes, id, name, value)?;
        let mut texts = Vec::new();
        strings(value, &mut texts);
        has_prompt |= texts.iter().any(|text| text.contains(PROMPT));
    }
    Ok(NodeFacts { has_prompt, is_output: OUTPUT_CLASSES.contains(&class.as_str()) })
}

fn check_input(
    nodes: &Map<String, Value>,
    id: &str,
    name: &str,
    value: &Value,
) -> Result<(), WorkflowError> {
    match value {
        // ComfyUI reads every list input as a link; anything else in a list is an error there.
        Value::Array(items) => {
            let (Some(Value::String(target)), Some(index), 2) =
                (items.first(), items.get(1).and_then(Value::as_u64), items.len())
            else {
                return Err(WorkflowError::BadNode {
                    node: id.to_owned(),
                    problem: format!(
                        "input {} is a list but not a link [\"<node id>\", <output index>]",
                        shown(name)
                    ),
                });
            };
            if index > MAX_OUTPUT_INDEX {
                return Err(WorkflowError::BadNode {
                    node: id.to_owned(),
                    problem: format!(
                        "input {} links to output {index}, which no node has",
                        shown(name)
                    ),
                });
            }
            if !nodes.contains_key(target) {
                return Err(WorkflowError::DanglingLink {
                    node: id.to_owned(),
                    input: shown(name),
                    target: shown(target),
                });
            }
            Ok(())
        }
        other => {
            let mut texts = Vec::new();
            strings(other, &mut texts);
            // Security: path traversal on the ComfyUI host. Loader and saver nodes take file
            // names (checkpoints, LoRAs, a SaveImage's filename_prefix); none needs a parent
            // directory.
            if texts.iter().any(|text| names_parent(text)) {
                return Err(WorkflowError::ParentPath { node: id.to_owned(), input: shown(name) });
            }
            Ok(())
        }
    }
}

/// The values that replace placeholders.
struct Fill<'a> {
    prompt: &'a str,
    negative: &'a str,
    seed: u64,
    size: ComfySize,
}

impl Fill<'_> {
    fn apply(&self, value: &mut Value) {
        match value {
            Value::String(text) => {
                if let Some(replaced) = self.replace(text) {
                    *value = replaced;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.apply(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.apply(v)),
            _ => {}
        }
    }

    /// The new value for one string, or `None` to keep it. One decision per string: text that
    /// was put in is never looked at again.
    fn replace(&self, text: &str) -> Option<Value> {
        match text {
            SEED => Some(Value::from(self.seed)),
            WIDTH => Some(Value::from(self.size.width)),
            HEIGHT => Some(Value::from(self.size.height)),
            NEGATIVE => Some(Value::from(self.negative)),
            _ if text.contains(PROMPT) => Some(Value::from(text.replace(PROMPT, self.prompt))),
            _ => None,
        }
    }
}
