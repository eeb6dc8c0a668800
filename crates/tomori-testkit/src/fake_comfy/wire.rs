//! What the fake ComfyUI answers, in ComfyUI's shapes: `/prompt`'s validation and its error
//! bodies, history entries, and the PNG a run "saves".

use serde_json::{Map, Value, json};

/// Classes whose nodes save an image (ComfyUI's output nodes for images).
const OUTPUT_CLASSES: [&str; 2] = ["SaveImage", "PreviewImage"];
/// Inputs that ComfyUI's core nodes declare as INT: a string there fails validation, as a
/// placeholder left unfilled would.
const INT_INPUTS: [&str; 6] = ["seed", "noise_seed", "steps", "width", "height", "batch_size"];

/// A 400 from `/prompt`: `{"error": {...}, "node_errors": {...}}`.
pub(super) fn prompt_error(kind: &str, message: &str, details: &str, node_errors: Value) -> Value {
    json!({
        "error": {"type": kind, "message": message, "details": details, "extra_info": {}},
        "node_errors": node_errors,
    })
}

/// Checks a submitted prompt as ComfyUI's `validate_prompt` does, as far as a fake that knows
/// no node classes can: every node has `class_type` and `inputs`, there is an image output node,
/// each link is `[id, index]` to a node that exists, and INT inputs are not strings. Returns the
/// output node ids, or the 400 body.
pub(super) fn validate(body: Option<&Value>) -> Result<Vec<String>, Value> {
    let no_prompt =
        || prompt_error("no_prompt", "No prompt provided", "No prompt provided", json!({}));
    let Some(Value::Object(prompt)) = body.and_then(|b| b.get("prompt")) else {
        return Err(no_prompt());
    };
    for (id, node) in prompt {
        if node.get("class_type").and_then(Value::as_str).is_none() {
            return Err(prompt_error(
                "invalid_prompt",
                "Cannot execute because a node is missing the class_type property.",
                &format!("Node ID '#{id}'"),
                json!({}),
            ));
        }
        // ComfyUI fails on a node without inputs while validating it; the fake says so plainly.
        if !node.get("inputs").is_some_and(Value::is_object) {
            return Err(prompt_error(
                "invalid_prompt",
                "Cannot execute because a node has no inputs object.",
                &format!("Node ID '#{id}'"),
                json!({}),
            ));
        }
    }
    let outputs: Vec<String> =
        prompt.iter().filter(|(_, node)| is_output(node)).map(|(id, _)| id.clone()).collect();
    if outputs.is_empty() {
        return Err(prompt_error("prompt_no_outputs", "Prompt has no outputs", "", json!({})));
    }
    let mut node_errors = Map::new();
    for (id, node) in prompt {
        let errors = input_errors(prompt, node);
        if !errors.is_empty() {
            node_errors.insert(
                id.clone(),
                json!({
                    "errors": errors,
                    "dependent_outputs": outputs,
                    "class_type": node["class_type"],
                }),
            );
        }
    }
    if node_errors.is_empty() {
        Ok(outputs)
    } else {
        Err(prompt_error(
            "prompt_outputs_failed_validation",
            "Prompt outputs failed validation",
            "",
            Value::Object(node_errors),
        ))
    }
}

fn is_output(node: &Value) -> bool {
    node.get("class_type").and_then(Value::as_str).is_some_and(|c| OUTPUT_CLASSES.contains(&c))
}

fn input_errors(prompt: &Map<String, Value>, node: &Value) -> Vec<Value> {
    let error = |kind: &str, message: &str, details: String, name: &str| {
        json!({"type": kind, "message": message, "details": details,
               "extra_info": {"input_name": name}})
    };
    let mut errors = Vec::new();
    let inputs = node.get("inputs").and_then(Value::as_object).into_iter().flatten();
    for (name, value) in inputs {
        match value {
            Value::Array(link) => {
                let target = link.first().and_then(Value::as_str);
                let index = link.get(1).and_then(Value::as_u64);
                if link.len() != 2 || target.is_none() || index.is_none() {
                    errors.push(error(
                        "bad_linked_input",
                        "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                        format!("{name}, {value}"),
                        name,
                    ));
                } else if let Some(target) = target.filter(|t| !prompt.contains_key(*t)) {
                    errors.push(error(
                        "bad_linked_input",
                        "Linked node does not exist",
                        format!("{name}, node {target}"),
                        name,
                    ));
                }
            }
            Value::String(text) if INT_INPUTS.contains(&name.as_str()) => {
                errors.push(error(
                    "invalid_input_type",
                    "Failed to convert an input value to a INT value",
                    format!("{name}, {text}, invalid literal for int() with base 10: '{text}'"),
                    name,
                ));
            }
            _ => {}
        }
    }
    errors
}

/// Where an output node saves: a SaveImage's `filename_prefix` (`folder/name` puts it in a
/// subfolder, as ComfyUI does), `ComfyUI` otherwise; PreviewImage saves to the temp folder.
pub(super) fn output_file(node: &Value, counter: u64) -> (String, String, &'static str) {
    if node.get("class_type").and_then(Value::as_str) == Some("PreviewImage") {
        return (format!("ComfyUI_temp_fake_{counter:05}_.png"), String::new(), "temp");
    }
    let prefix = node
        .pointer("/inputs/filename_prefix")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty() && !p.contains("..") && !p.starts_with('/'))
        .unwrap_or("ComfyUI");
    let (subfolder, name) = prefix.rsplit_once('/').unwrap_or(("", prefix));
    (format!("{name}_{counter:05}_.png"), subfolder.to_owned(), "output")
}

/// The width and height a prompt asks for: the first numeric `width` and `height` inputs.
pub(super) fn asked_size(prompt: &Value) -> (u32, u32) {
    let first = |name: &str| {
        prompt
            .as_object()
            .into_iter()
            .flat_map(|nodes| nodes.values())
            .find_map(|node| node.pointer(&format!("/inputs/{name}")).and_then(Value::as_u64))
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(512)
    };
    (first("width"), first("height"))
}

/// The status messages of a run, as ComfyUI records them.
pub(super) fn messages(prompt_id: &str, failure: Option<(&str, &str, &str)>) -> Value {
    let at = |n: u64| json!({"prompt_id": prompt_id, "timestamp": 1_700_000_000_000_u64 + n});
    match failure {
        None => json!([
            ["execution_start", at(0)],
            ["execution_cached", {"nodes": [], "prompt_id": prompt_id, "timestamp": 1_700_000_000_001_u64}],
            ["execution_success", at(2)],
        ]),
        Some((node_id, node_type, message)) => json!([
            ["execution_start", at(0)],
            ["execution_error", {
                "prompt_id": prompt_id,
                "node_id": node_id,
                "node_type": node_type,
                "executed": [],
                "exception_message": message,
                "exception_type": "RuntimeError",
                "traceback": ["  File \"execution.py\", line 1, in fake\n"],
                "current_inputs": {},
                "current_outputs": {},
                "timestamp": 1_700_000_000_002_u64,
            }],
        ]),
    }
}

/// `application/x-www-form-urlencoded` decoding of one query value.
pub(super) fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|h| char::from(*h).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A sample text-to-image workflow in API format with every placeholder: what an admin exports
/// from ComfyUI's default graph and edits.
pub fn sample_workflow() -> Value {
    json!({
        "3": {"class_type": "KSampler", "inputs": {
            "seed": "%seed%", "steps": 20, "cfg": 7.0, "sampler_name": "euler",
            "scheduler": "normal", "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0],
            "negative": ["7", 0], "latent_image": ["5", 0]},
            "_meta": {"title": "KSampler"}},
        "4": {"class_type": "CheckpointLoaderSimple",
              "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"},
              "_meta": {"title": "Load Checkpoint"}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": "%width%", "height": "%height%", "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode",
              "inputs": {"text": "%prompt%, best quality", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "%negative%", "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "tomori", "images": ["8", 0]}},
    })
}
