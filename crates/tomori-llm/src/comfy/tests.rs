//! Workflow checks and filling, and the client's reading of ComfyUI's answers, as tables.

use expect_test::expect;
use serde_json::{Value, json};

use super::client::{entry_outcome, error_message, image_ref, prompt_id_ok, sniff};
use super::{ComfySize, ComfyWorkflow, MAX_COMFY_PROMPT_CHARS, MAX_WORKFLOW_BYTES};
use crate::error::LlmError;

/// The smallest useful text-to-image workflow, as ComfyUI's "Export (API)" writes it.
fn minimal() -> Value {
    json!({
        "3": {"class_type": "KSampler", "inputs": {
            "seed": "%seed%", "steps": 20, "cfg": 7.5, "sampler_name": "euler",
            "scheduler": "normal", "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0],
            "negative": ["7", 0], "latent_image": ["5", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple",
              "inputs": {"ckpt_name": "sdxl/base_1.0.safetensors"}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": "%width%", "height": "%height%", "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode",
              "inputs": {"text": "masterpiece, %prompt%", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "%negative%", "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "tomori", "images": ["8", 0]},
              "_meta": {"title": "Save Image"}}
    })
}

/// `minimal()` changed by `edit`, as bytes.
fn edited(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut workflow = minimal();
    edit(&mut workflow);
    serde_json::to_vec(&workflow).unwrap()
}

fn nested(depth: usize) -> Value {
    (0..depth).fold(json!("leaf"), |inner, _| json!({ "a": inner }))
}

#[test]
fn the_minimal_workflow_is_accepted_as_it_was_written() {
    let bytes = serde_json::to_vec(&minimal()).unwrap();
    let workflow = ComfyWorkflow::parse(&bytes).unwrap();
    assert_eq!(workflow.as_json(), minimal());
    assert_eq!(workflow.node_ids().collect::<Vec<_>>(), ["3", "4", "5", "6", "7", "8", "9"]);
    let preview = edited(|w| w["9"]["class_type"] = json!("PreviewImage"));
    assert!(ComfyWorkflow::parse(&preview).is_ok(), "PreviewImage is an output too");
    let two =
        edited(|w| w["10"] = json!({"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}}));
    assert!(ComfyWorkflow::parse(&two).is_ok(), "two outputs are allowed");
}

#[test]
fn each_refusal_tells_the_admin_what_to_change() {
    let many: serde_json::Map<String, Value> = (0..201)
        .map(|n| (n.to_string(), json!({"class_type": "SaveImage", "inputs": {"t": "%prompt%"}})))
        .collect();
    let three_outputs = edited(|w| {
        for id in ["10", "11"] {
            w[id] = json!({"class_type": "SaveImage", "inputs": {"images": ["8", 0]}});
        }
    });
    let rows: Vec<(&str, Vec<u8>)> = vec![
        ("too big", vec![b' '; MAX_WORKFLOW_BYTES + 1]),
        ("not json", b"{\"3\": ".to_vec()),
        ("not an object", b"[1, 2]".to_vec()),
        ("editor format", br#"{"nodes": [], "links": [], "version": 0.4}"#.to_vec()),
        ("no nodes", b"{}".to_vec()),
        ("too many nodes", serde_json::to_vec(&many).unwrap()),
        ("bad node id", edited(|w| w["a/b"] = w["8"].clone())),
        ("node not an object", edited(|w| w["8"] = json!(5))),
        ("no class_type", edited(|w| w["8"] = json!({"inputs": {}}))),
        ("class_type not a string", edited(|w| w["8"]["class_type"] = json!(7))),
        ("bad class name", edited(|w| w["8"]["class_type"] = json!("VAE<Decode>"))),
        ("denied: url", edited(|w| w["4"]["class_type"] = json!("Load Image From Url"))),
        ("denied: http", edited(|w| w["4"]["class_type"] = json!("HTTPPostNode"))),
        ("denied: download", edited(|w| w["4"]["class_type"] = json!("ModelDownloader"))),
        ("denied: request", edited(|w| w["4"]["class_type"] = json!("Send Request"))),
        ("inputs not an object", edited(|w| w["8"]["inputs"] = json!(["3", 0]))),
        ("list that is no link", edited(|w| w["8"]["inputs"]["vae"] = json!(["4"]))),
        ("link to a huge output", edited(|w| w["8"]["inputs"]["vae"] = json!(["4", 9000]))),
        ("dangling link", edited(|w| w["8"]["inputs"]["vae"] = json!(["44", 2]))),
        ("parent directory", edited(|w| w["4"]["inputs"]["ckpt_name"] = json!("../../x.ckpt"))),
        ("no %prompt%", edited(|w| w["6"]["inputs"]["text"] = json!("a cat"))),
        ("no output node", edited(|w| _ = w.as_object_mut().unwrap().remove("9"))),
        ("three output nodes", three_outputs),
        ("nesting too deep", edited(|w| w["4"]["inputs"]["extra"] = nested(40))),
        ("nesting past the parser", edited(|w| w["4"]["inputs"]["extra"] = nested(200))),
    ];
    let report: String = rows
        .into_iter()
        .map(|(label, bytes)| match ComfyWorkflow::parse(&bytes) {
            Ok(_) => format!("{label}: ACCEPTED\n"),
            Err(error) => format!("{label}: {error}\n"),
        })
        .collect();
    expect![[r#"
        too big: the workflow is 262145 bytes; at most 262144 bytes are accepted
        not json: the workflow is not valid JSON (EOF while parsing a value at line 1 column 6)
        not an object: the workflow must be a JSON object of nodes in ComfyUI's API format (in ComfyUI, export it with "Export (API)")
        editor format: this is ComfyUI's editor format; export the workflow with "Export (API)" (or "Save (API Format)") and upload that file
        no nodes: the workflow has 0 nodes; it must have between 1 and 200
        too many nodes: the workflow has 201 nodes; it must have between 1 and 200
        bad node id: node id "a/b" is not accepted: ids are 1 to 32 characters of letters, digits, `_`, `-`, `.` and `:`
        node not an object: node 8: a node must be an object with class_type and inputs
        no class_type: node 8: class_type is missing
        class_type not a string: node 8: class_type must be a string
        bad class name: node 8: class_type "VAE<Decode>" is not a node type name (1 to 100 letters, digits, spaces and `_.+-`)
        denied: url: node 4 uses Load Image From Url, which is not allowed: node types whose names contain "url" may reach outside the image server
        denied: http: node 4 uses HTTPPostNode, which is not allowed: node types whose names contain "http" may reach outside the image server
        denied: download: node 4 uses ModelDownloader, which is not allowed: node types whose names contain "download" may reach outside the image server
        denied: request: node 4 uses Send Request, which is not allowed: node types whose names contain "request" may reach outside the image server
        inputs not an object: node 8: inputs must be an object
        list that is no link: node 8: input "vae" is a list but not a link ["<node id>", <output index>]
        link to a huge output: node 8: input "vae" links to output 9000, which no node has
        dangling link: node 8's input "vae" is linked to node "44", which is not in the workflow
        parent directory: node 4's input "ckpt_name" names a parent directory (`..`); pick files the image server lists instead
        no %prompt%: no text input contains %prompt%; put %prompt% where the positive prompt goes (a CLIPTextEncode node's text, say)
        no output node: the workflow has no SaveImage or PreviewImage node, so it would make no image
        three output nodes: the workflow has 3 SaveImage or PreviewImage nodes; at most 2 are accepted (one image is used)
        nesting too deep: the workflow's JSON nests deeper than 32 levels
        nesting past the parser: the workflow's JSON nests deeper than 32 levels
    "#]]
    .assert_eq(&report);
}

#[test]
fn fill_puts_values_into_the_parsed_json_not_its_text() {
    let workflow = ComfyWorkflow::parse(&serde_json::to_vec(&minimal()).unwrap()).unwrap();
    let prompt = r#"a "quoted" cat", "x": ["4", 0], %seed% and %prompt% \ done"#;
    let filled = workflow.fill(prompt, "blurry", 18_446_744_073_709_551_615, ComfySize::PORTRAIT);
    assert_eq!(filled["3"]["inputs"]["seed"], json!(18_446_744_073_709_551_615_u64));
    assert!(filled["3"]["inputs"]["seed"].is_u64(), "the seed is a number, not a string");
    assert_eq!(filled["5"]["inputs"]["width"], json!(832));
    assert_eq!(filled["5"]["inputs"]["height"], json!(1216));
    assert_eq!(filled["6"]["inputs"]["text"], json!(format!("masterpiece, {prompt}")));
    assert_eq!(filled["7"]["inputs"]["text"], json!("blurry"));
    assert_eq!(filled["6"]["inputs"]["clip"], json!(["4", 1]), "links are untouched");
    assert_eq!(filled["9"], minimal()["9"], "nodes without placeholders are untouched");
    assert_eq!(filled.as_object().unwrap().len(), 7, "the prompt added no node");
}

#[test]
fn fill_bounds_the_prompts_and_the_size() {
    let workflow = ComfyWorkflow::parse(&serde_json::to_vec(&minimal()).unwrap()).unwrap();
    let long = "é".repeat(MAX_COMFY_PROMPT_CHARS + 50);
    let rows = [
        (ComfySize { width: 1, height: 100_000 }, (64, 2048)),
        (ComfySize { width: 1023, height: 777 }, (1016, 776)),
        (ComfySize::LANDSCAPE, (1216, 832)),
    ];
    for (size, (width, height)) in rows {
        let filled = workflow.fill(&long, &long, 1, size);
        assert_eq!(filled["5"]["inputs"]["width"], json!(width), "{size:?}");
        assert_eq!(filled["5"]["inputs"]["height"], json!(height), "{size:?}");
        let text = filled["6"]["inputs"]["text"].as_str().unwrap();
        assert_eq!(text.chars().count(), "masterpiece, ".len() + MAX_COMFY_PROMPT_CHARS);
        let negative = filled["7"]["inputs"]["text"].as_str().unwrap();
        assert_eq!(negative.chars().count(), MAX_COMFY_PROMPT_CHARS);
    }
}

#[test]
fn a_refused_prompt_names_comfyuis_first_node_error() {
    let rows = [
        (
            json!({"error": {"type": "prompt_outputs_failed_validation",
                             "message": "Prompt outputs failed validation", "details": ""},
                   "node_errors": {"4": {"class_type": "CheckpointLoaderSimple",
                       "errors": [{"type": "value_not_in_list",
                                   "message": "Value not in list",
                                   "details": "ckpt_name: 'x.ckpt' not in []"}]}}}),
            "Prompt outputs failed validation; node 4 (CheckpointLoaderSimple): Value not in list: ckpt_name: 'x.ckpt' not in []",
        ),
        (
            json!({"error": {"type": "invalid_prompt", "message": "Cannot execute because node Foo does not exist.", "details": "Node ID '#3'"}, "node_errors": {}}),
            "Cannot execute because node Foo does not exist.: Node ID '#3'",
        ),
        (json!({"error": "no prompt"}), "no prompt"),
        (json!({}), "ComfyUI gave no reason"),
    ];
    for (body, expected) in rows {
        assert_eq!(error_message(&body), expected);
    }
}

#[test]
fn a_history_entry_gives_the_image_or_the_runs_error() {
    let image = |name: &str, kind: &str| json!({"filename": name, "subfolder": "", "type": kind});
    let done = json!({
        "outputs": {"10": {"images": [image("preview.png", "temp")]},
                    "9": {"images": [image("tomori_00001_.png", "output")]}},
        "status": {"status_str": "success", "completed": true, "messages": []}
    });
    let found = entry_outcome(&done, None).unwrap();
    assert_eq!(found.filename, "tomori_00001_.png", "a saved image before a preview");
    assert_eq!(found.kind, "output");

    let failed = json!({"outputs": {}, "status": {"status_str": "error", "completed": false,
        "messages": [["execution_start", {"prompt_id": "p"}],
                     ["execution_error", {"prompt_id": "p", "node_id": "3", "node_type": "KSampler",
                      "exception_message": "CUDA out of memory\n", "exception_type": "RuntimeError"}]]}});
    let error = entry_outcome(&failed, None).unwrap_err();
    assert!(matches!(error, LlmError::Server { status: None, .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "the provider failed: ComfyUI's run failed: node 3 (KSampler): CUDA out of memory"
    );
    let long = json!({"status": {"status_str": "error", "messages": [["execution_error",
        {"exception_message": "x".repeat(5_000)}]]}});
    let LlmError::Server { message, .. } = entry_outcome(&long, None).unwrap_err() else {
        panic!("a server error")
    };
    assert!(message.chars().count() <= crate::MAX_PROVIDER_MESSAGE + 1, "bounded");

    let empty = json!({"outputs": {}, "status": {"status_str": "success", "completed": true}});
    assert!(matches!(entry_outcome(&empty, None), Err(LlmError::Malformed { .. })));
}

#[test]
fn hostile_names_from_the_server_are_refused() {
    let rows = [
        ("tomori_00001_.png", "", "output", true),
        ("tomori_00001_.png", "portraits/2024", "output", true),
        ("ComfyUI_temp_abc_00001_.png", "", "temp", true),
        ("../../etc/passwd", "", "output", false),
        ("passwd", "../..", "output", false),
        ("/etc/passwd", "", "output", false),
        ("x.png", "/etc", "output", false),
        ("\\\\server\\share.png", "", "output", false),
        ("C:\\secrets.png", "", "output", false),
        ("x.png\n", "", "output", false),
        ("", "", "output", false),
        (&*"a".repeat(256), "", "output", false),
        ("x.png", "", "input", false),
        ("x.png", "", "", false),
    ];
    for (filename, subfolder, kind, ok) in rows {
        let value = json!({"filename": filename, "subfolder": subfolder, "type": kind});
        assert_eq!(image_ref(&value).is_ok(), ok, "{value}");
    }
    assert!(image_ref(&json!({"filename": 5, "type": "output"})).is_err());
}

#[test]
fn prompt_ids_and_image_signatures() {
    let ids = [
        ("3f2a9c1e-0b7d-4c5e-9a8b-1d2e3f4a5b6c", true),
        ("abc", true),
        ("", false),
        ("../queue", false),
        ("a/b", false),
        ("a?b", false),
        (&*"a".repeat(65), false),
    ];
    for (id, ok) in ids {
        assert_eq!(prompt_id_ok(id), ok, "{id}");
    }
    let images: [(&[u8], Option<&str>); 6] = [
        (b"\x89PNG\r\n\x1a\n....", Some("image/png")),
        (b"\xFF\xD8\xFF\xE0", Some("image/jpeg")),
        (b"GIF89a..", Some("image/gif")),
        (b"RIFF\0\0\0\0WEBPVP8 ", Some("image/webp")),
        (b"<html>", None),
        (b"", None),
    ];
    for (bytes, mime) in images {
        assert_eq!(sniff(bytes), mime);
    }
}

#[test]
fn the_denylist_lets_core_node_types_through() {
    let core = [
        "CheckpointLoaderSimple",
        "KSamplerAdvanced",
        "SamplerCustomAdvanced",
        "LatentUpscale",
        "ImageUpscaleWithModel",
        "UpscaleModelLoader",
        "ImageBlur",
        "LoraLoader",
        "ControlNetApplyAdvanced",
        "ConditioningCombine",
        "VAEEncodeForInpaint",
        "ExecutionBlocker",
        "CLIPSetLastLayer",
    ];
    for class in core {
        let bytes = edited(|w| {
            w["10"] = json!({"class_type": class, "inputs": {"samples": ["5", 0]}});
        });
        assert!(ComfyWorkflow::parse(&bytes).is_ok(), "{class}");
    }
}
