//! The fake against raw HTTP: ComfyUI's answers to good and bad prompts, a run's history from
//! queued to finished, the saved PNG, and the knobs.

use serde_json::{Value, json};

use super::*;
use crate::http;

/// The sample workflow with its placeholders filled, as a client would send it.
fn filled() -> Value {
    let mut prompt = sample_workflow();
    prompt["3"]["inputs"]["seed"] = json!(42);
    prompt["5"]["inputs"]["width"] = json!(832);
    prompt["5"]["inputs"]["height"] = json!(1216);
    prompt["6"]["inputs"]["text"] = json!("a cat, best quality");
    prompt["7"]["inputs"]["text"] = json!("");
    prompt
}

async fn post(fake: &FakeComfy, body: &Value) -> (u16, Value) {
    let reply = http::send(fake.addr(), "POST", "/prompt", &[], &body.to_string()).await.unwrap();
    (reply.status, serde_json::from_str(&reply.body).unwrap_or(Value::Null))
}

async fn history(fake: &FakeComfy, id: &str) -> Value {
    let reply = http::get(fake.addr(), &format!("/history/{id}")).await.unwrap();
    assert_eq!(reply.status, 200);
    serde_json::from_str(&reply.body).unwrap()
}

#[tokio::test]
async fn a_run_is_queued_then_finished_and_its_png_served() {
    let fake = FakeComfy::builder().pending_polls(2).start().await;
    let (status, answer) = post(&fake, &json!({"prompt": filled(), "client_id": "abc"})).await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["prompt_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "UUID-shaped: {id}");
    assert_eq!(answer["number"], 0);
    assert_eq!(answer["node_errors"], json!({}));

    assert_eq!(history(&fake, &id).await, json!({}));
    assert_eq!(history(&fake, &id).await, json!({}));
    let done = history(&fake, &id).await;
    let entry = &done[&id];
    assert_eq!(entry["status"]["status_str"], "success");
    assert_eq!(entry["status"]["completed"], true);
    let image = &entry["outputs"]["9"]["images"][0];
    assert_eq!(image, &json!({"filename": "tomori_00001_.png", "subfolder": "", "type": "output"}));
    assert_eq!(history(&fake, &id).await, done, "a finished entry stays the same");
    assert_eq!(history(&fake, "no-such-id").await, json!({}));

    let (status, png) =
        http::get_bytes(fake.addr(), "/view?filename=tomori_00001_.png&subfolder=&type=output")
            .await
            .unwrap();
    assert_eq!(status, 200);
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    // IHDR: an eighth of 832 × 1216.
    assert_eq!(png.get(16..24), Some([0, 0, 0, 104, 0, 0, 0, 152].as_slice()));
    assert_eq!(fake.saved_image("tomori_00001_.png", ""), Some(png));
    let missing = http::get_bytes(fake.addr(), "/view?filename=other.png&type=output").await;
    assert_eq!(missing.map(|(status, _)| status), Some(404));
    let climbing = http::get_bytes(fake.addr(), "/view?filename=..%2F..%2Fetc%2Fpasswd").await;
    assert_eq!(climbing.map(|(status, _)| status), Some(400));
    assert_eq!(fake.submitted(), [filled()]);
    assert_eq!(fake.requests_to("/history").len(), 5);
}

#[tokio::test]
async fn a_bad_prompt_gets_comfyuis_error_body() {
    let fake = FakeComfy::start().await;
    let edited = |edit: fn(&mut Value)| {
        let mut prompt = filled();
        edit(&mut prompt);
        json!({ "prompt": prompt })
    };
    let rows: Vec<(&str, Value, &str, Option<&str>)> = vec![
        ("no prompt", json!({"client_id": "x"}), "no_prompt", None),
        ("no class_type", edited(|p| p["8"] = json!({"inputs": {}})), "invalid_prompt", None),
        (
            "no inputs",
            edited(|p| p["8"] = json!({"class_type": "VAEDecode"})),
            "invalid_prompt",
            None,
        ),
        (
            "no output",
            edited(|p| _ = p.as_object_mut().unwrap().remove("9")),
            "prompt_no_outputs",
            None,
        ),
        (
            "dangling link",
            edited(|p| p["8"]["inputs"]["vae"] = json!(["99", 2])),
            "prompt_outputs_failed_validation",
            Some("8"),
        ),
        (
            "unfilled seed",
            edited(|p| p["3"]["inputs"]["seed"] = json!("%seed%")),
            "prompt_outputs_failed_validation",
            Some("3"),
        ),
    ];
    for (label, body, kind, node) in rows {
        let (status, answer) = post(&fake, &body).await;
        assert_eq!(status, 400, "{label}");
        assert_eq!(answer["error"]["type"], kind, "{label}: {answer}");
        assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{label}");
        match node {
            Some(node) => {
                let errors = &answer["node_errors"][node];
                assert!(errors["errors"][0]["message"].is_string(), "{label}: {answer}");
                assert_eq!(errors["dependent_outputs"], json!(["9"]), "{label}");
            }
            None => assert_eq!(answer["node_errors"], json!({}), "{label}"),
        }
    }
    assert!(fake.submitted().is_empty(), "nothing was queued");
}

#[tokio::test]
async fn the_knobs_fail_a_run_stall_it_and_rename_its_file() {
    let fake = FakeComfy::builder().pending_polls(0).start().await;
    fake.fail_next();
    let (_, failed) = post(&fake, &json!({"prompt": filled()})).await;
    let id = failed["prompt_id"].as_str().unwrap().to_owned();
    let entry = &history(&fake, &id).await[&id];
    assert_eq!(entry["status"]["status_str"], "error");
    let error = &entry["status"]["messages"][1];
    assert_eq!(error[0], "execution_error");
    assert_eq!(error[1]["exception_message"], FAILURE_MESSAGE);
    assert_eq!(error[1]["node_type"], "KSampler");

    let (_, next) = post(&fake, &json!({"prompt": filled()})).await;
    let id = next["prompt_id"].as_str().unwrap().to_owned();
    assert_eq!(
        history(&fake, &id).await[&id]["status"]["status_str"],
        "success",
        "only one failed"
    );

    fake.report_image("../../etc/passwd", "");
    let (_, renamed) = post(&fake, &json!({"prompt": filled()})).await;
    let id = renamed["prompt_id"].as_str().unwrap().to_owned();
    let image = &history(&fake, &id).await[&id]["outputs"]["9"]["images"][0];
    assert_eq!(image["filename"], "../../etc/passwd");

    fake.never_finish();
    let (_, stalled) = post(&fake, &json!({"prompt": filled()})).await;
    let id = stalled["prompt_id"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        assert_eq!(history(&fake, &id).await, json!({}));
    }
}

#[tokio::test]
async fn a_token_is_required_when_set_and_connections_are_bounded() {
    let fake = FakeComfy::builder().max_connections(3).start().await;
    fake.require_token("sesame");
    let refused = http::get(fake.addr(), "/history/x").await.unwrap();
    assert_eq!(refused.status, 401);
    let auth = [("Authorization", "Bearer sesame")];
    let allowed = http::send(fake.addr(), "GET", "/history/x", &auth, "").await.unwrap();
    assert_eq!(allowed.status, 200);
    let unknown = http::send(fake.addr(), "GET", "/queue", &auth, "").await.unwrap();
    assert_eq!(unknown.status, 404);
    assert!(http::get(fake.addr(), "/history/x").await.is_none(), "three connections only");
    assert_eq!(fake.requests().len(), 3);
}
