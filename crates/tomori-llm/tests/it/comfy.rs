//! ComfyUI image generation against the fake ComfyUI, through the real guarded client: a run
//! from submission to the saved PNG, and each way a server can fail or lie.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::{Value, json};
use tomori_llm::{
    ApiKey, ComfyAsk, ComfyOptions, ComfySize, ComfyWorkflow, Endpoint, KeySource, LlmError,
    TimeoutPhase, Wire, client_for, comfy_generate,
};
use tomori_testkit::fake_comfy::{FAILURE_MESSAGE, FakeComfy, sample_workflow};

use crate::support::{policy, timeouts};

const TOKEN: &str = "comfy-proxy-token-0123456789";

fn workflow(json: &Value) -> ComfyWorkflow {
    ComfyWorkflow::parse(&serde_json::to_vec(json).unwrap()).unwrap()
}

fn ask(prompt: &str) -> ComfyAsk {
    ComfyAsk {
        prompt: prompt.to_owned(),
        negative: "blurry".to_owned(),
        seed: 1234,
        size: ComfySize::PORTRAIT,
    }
}

fn options() -> ComfyOptions {
    ComfyOptions {
        poll_every: Duration::from_millis(10),
        deadline: Duration::from_secs(10),
        max_image_bytes: 1 << 20,
        timeouts: timeouts(),
    }
}

/// Runs the sample workflow (or `json`) on `fake` with the proxy token.
async fn run(
    fake: &FakeComfy,
    json: &Value,
    prompt: &str,
    options: &ComfyOptions,
) -> Result<tomori_llm::ComfyImage, LlmError> {
    let endpoint = Endpoint::new(Wire::OpenAiCompatible, &fake.base_url(), &policy()).unwrap();
    let client = client_for(policy(), &timeouts()).unwrap();
    let key = ApiKey::new("comfy", KeySource::Server, SecretString::from(TOKEN.to_owned()), 0);
    comfy_generate(&client, &endpoint, Some(&key), &workflow(json), &ask(prompt), options).await
}

#[tokio::test]
async fn a_workflow_is_filled_submitted_polled_and_its_png_fetched() {
    let fake = FakeComfy::builder().pending_polls(2).start().await;
    fake.require_token(TOKEN);
    let prompt = r#"a "quoted" cat", "seed": 1 %seed%"#;
    let image = run(&fake, &sample_workflow(), prompt, &options()).await.unwrap();

    assert_eq!(image.filename, "tomori_00001_.png");
    assert_eq!(image.mime, "image/png");
    assert_eq!(Some(image.bytes), fake.saved_image("tomori_00001_.png", ""));
    let submitted = fake.submitted();
    let [sent] = submitted.as_slice() else { panic!("one prompt: {submitted:?}") };
    assert_eq!(sent["6"]["inputs"]["text"], json!(format!("{prompt}, best quality")));
    assert_eq!(sent["7"]["inputs"]["text"], json!("blurry"));
    assert_eq!(sent["3"]["inputs"]["seed"], json!(1234), "the seed is a number");
    assert_eq!(
        (&sent["5"]["inputs"]["width"], &sent["5"]["inputs"]["height"]),
        (&json!(832), &json!(1216))
    );

    let requests = fake.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.split('?').next().unwrap()).collect();
    let history = format!("/history/{}", paths[1].trim_start_matches("/history/"));
    assert_eq!(paths, ["/prompt", &history, &history, &history, "/view"]);
    let client_id = requests[0].json.as_ref().unwrap()["client_id"].as_str().unwrap().to_owned();
    assert!(
        client_id.len() == 32 && client_id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{client_id}"
    );
    assert_eq!(requests[4].path, "/view?filename=tomori_00001_.png&subfolder=&type=output");
    for request in &requests {
        assert_eq!(request.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    }
}

#[tokio::test]
async fn comfyuis_refusal_names_the_node_it_refused() {
    let fake = FakeComfy::start().await;
    fake.require_token(TOKEN);
    let mut json = sample_workflow();
    // Our checks cannot know that EmptyLatentImage's batch_size is an INT; ComfyUI does.
    json["5"]["inputs"]["batch_size"] = json!("one");
    let error = run(&fake, &json, "a cat", &options()).await.unwrap_err();
    let LlmError::BadRequest { status: 400, message, .. } = &error else { panic!("{error:?}") };
    assert!(
        message.starts_with("Prompt outputs failed validation; node 5 (EmptyLatentImage)"),
        "{message}"
    );
    assert_eq!(fake.requests().len(), 1, "nothing polled after a refusal");
}

#[tokio::test]
async fn a_failed_run_reports_comfyuis_message() {
    let fake = FakeComfy::start().await;
    fake.require_token(TOKEN);
    fake.fail_next();
    let error = run(&fake, &sample_workflow(), "a cat", &options()).await.unwrap_err();
    let LlmError::Server { status: None, message } = &error else { panic!("{error:?}") };
    assert!(message.contains(FAILURE_MESSAGE), "{message}");
    assert!(message.contains("node 3 (KSampler)"), "{message}");
    assert!(fake.requests_to("/view").is_empty());
}

#[tokio::test]
async fn a_run_that_never_finishes_ends_at_the_deadline() {
    let fake = FakeComfy::start().await;
    fake.require_token(TOKEN);
    fake.never_finish();
    let deadline = Duration::from_millis(300);
    let started = Instant::now();
    let options = ComfyOptions { deadline, ..options() };
    let error = run(&fake, &sample_workflow(), "a cat", &options).await.unwrap_err();
    assert!(
        matches!(error, LlmError::Timeout { phase: TimeoutPhase::Total, after } if after == deadline),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert!(fake.requests_to("/history").len() >= 2, "it polled until the deadline");
}

#[tokio::test]
async fn hostile_answers_are_refused() {
    let big = [b"\x89PNG\r\n\x1a\n".as_slice(), &vec![0_u8; 2 << 20]].concat();
    type Lie = fn(&FakeComfy, &[u8]);
    let rows: [(&str, Lie, &str, bool); 4] = [
        (
            "file name climbing out",
            |f, _| _ = f.report_image("../../etc/passwd", ""),
            "malformed",
            false,
        ),
        ("subfolder from the root", |f, _| _ = f.report_image("x.png", "/etc"), "malformed", false),
        (
            "an image over the cap",
            |f, big| _ = f.serve_image(big.to_vec(), "image/png"),
            "too_large",
            true,
        ),
        (
            "a page, not an image",
            |f, _| _ = f.serve_image(b"<html>".to_vec(), "text/html"),
            "malformed",
            true,
        ),
    ];
    for (label, lie, code, viewed) in rows {
        let fake = FakeComfy::start().await;
        fake.require_token(TOKEN);
        lie(&fake, &big);
        let error = run(&fake, &sample_workflow(), "a cat", &options()).await.unwrap_err();
        assert_eq!(error.code(), code, "{label}: {error}");
        assert_eq!(!fake.requests_to("/view").is_empty(), viewed, "{label}");
    }
    let png_as_text = FakeComfy::start().await;
    png_as_text.require_token(TOKEN);
    png_as_text.serve_image(b"GIF89a-but-not-really".to_vec(), "image/png");
    let image = run(&png_as_text, &sample_workflow(), "a cat", &options()).await.unwrap();
    assert_eq!(image.mime, "image/gif", "the bytes decide the type, not the header");
}
