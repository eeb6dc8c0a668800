use base64::Engine as _;
use serde_json::{Value, json};

use super::*;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn body(api: ImageApi, model: &str, shape: ImageShape) -> (String, Value) {
    let request = ImageRequest { prompt: "a red fox".to_owned(), shape };
    let (path, bytes) = request_body(api, model, &request).expect("a body");
    (path, serde_json::from_slice(&bytes).expect("json"))
}

#[test]
fn each_api_is_asked_in_its_own_terms() {
    let (path, images) = body(ImageApi::Images, "dall-e-3", ImageShape::Portrait);
    assert_eq!(path, "/images/generations");
    assert_eq!(
        images,
        json!({ "model": "dall-e-3", "prompt": "a red fox", "n": 1, "size": "1024x1536",
                "response_format": "b64_json" })
    );
    // gpt-image refuses response_format and always answers in base64.
    let (_, gpt) = body(ImageApi::Images, "gpt-image-1", ImageShape::Square);
    assert_eq!(gpt.get("response_format"), None);
    let (path, chat) =
        body(ImageApi::ChatModalities, "google/gemini-2.5-flash-image", ImageShape::Landscape);
    assert_eq!(path, "/chat/completions");
    assert_eq!(chat["modalities"], json!(["image", "text"]));
    assert_eq!(chat["image_config"]["aspect_ratio"], "3:2");
    assert_eq!(chat["messages"][0]["content"], "a red fox");
    let (path, gemini) = body(ImageApi::Gemini, "gemini-2.5-flash-image", ImageShape::Square);
    assert_eq!(path, "/models/gemini-2.5-flash-image:generateContent");
    assert_eq!(gemini["generationConfig"]["responseModalities"], json!(["TEXT", "IMAGE"]));
    assert_eq!(gemini["contents"][0]["parts"][0]["text"], "a red fox");
}

#[test]
fn requests_that_cannot_be_made_are_refused_before_sending() {
    let empty = ImageRequest { prompt: "  ".to_owned(), shape: ImageShape::Square };
    assert!(request_body(ImageApi::Images, "m", &empty).is_err());
    let fox = ImageRequest { prompt: "fox".to_owned(), shape: ImageShape::Square };
    assert!(request_body(ImageApi::Gemini, "../../secrets", &fox).is_err());
    assert!(ImageApi::for_target(Wire::Anthropic, "anthropic").is_err());
    assert_eq!(
        ImageApi::for_target(Wire::OpenAiCompatible, "openrouter").ok(),
        Some(ImageApi::ChatModalities)
    );
    assert_eq!(ImageApi::for_target(Wire::OpenAiCompatible, "openai").ok(), Some(ImageApi::Images));
    let long =
        ImageRequest { prompt: "x".repeat(MAX_IMAGE_PROMPT_CHARS + 50), shape: ImageShape::Square };
    let (_, sent) = request_body(ImageApi::Images, "m", &long).expect("cut, not refused");
    let sent: Value = serde_json::from_slice(&sent).expect("json");
    assert_eq!(sent["prompt"].as_str().map(str::len), Some(MAX_IMAGE_PROMPT_CHARS));
}

#[test]
fn answers_are_read_as_an_image_a_url_or_a_refusal() {
    let png = b"\x89PNG\r\n\x1a\nfake".to_vec();
    let bytes = |mime: Option<&str>| {
        Ok(ImageOutcome::Image(ImageData::Bytes {
            bytes: png.clone(),
            mime: mime.map(str::to_owned),
        }))
    };
    let cases: Vec<(ImageApi, Value, Result<ImageOutcome, ()>)> = vec![
        (ImageApi::Images, json!({ "data": [{ "b64_json": b64(&png) }] }), bytes(None)),
        (
            ImageApi::Images,
            json!({ "data": [{ "url": "https://cdn.example/x.png" }] }),
            Ok(ImageOutcome::Image(ImageData::Url("https://cdn.example/x.png".to_owned()))),
        ),
        (ImageApi::Images, json!({ "data": [] }), Err(())),
        (ImageApi::Images, json!({ "data": [{ "b64_json": "!!!" }] }), Err(())),
        (
            ImageApi::ChatModalities,
            json!({ "choices": [{ "message": { "content": "", "images": [
                { "type": "image_url", "image_url": { "url": format!("data:image/png;base64,{}", b64(&png)) } }
            ] } }] }),
            bytes(Some("image/png")),
        ),
        (
            ImageApi::ChatModalities,
            json!({ "choices": [{ "message": { "content": "I can't draw that." } }] }),
            Ok(ImageOutcome::Refused("I can't draw that.".to_owned())),
        ),
        (ImageApi::ChatModalities, json!({ "choices": [] }), Err(())),
        (
            ImageApi::Gemini,
            json!({ "candidates": [{ "content": { "parts": [
                { "text": "Here it is" },
                { "inlineData": { "mimeType": "image/png", "data": b64(&png) } }
            ] } }] }),
            bytes(Some("image/png")),
        ),
        (
            ImageApi::Gemini,
            json!({ "promptFeedback": { "blockReason": "SAFETY" } }),
            Ok(ImageOutcome::Refused("the prompt was blocked (SAFETY)".to_owned())),
        ),
        (
            ImageApi::Gemini,
            json!({ "candidates": [{ "finishReason": "IMAGE_SAFETY" }] }),
            Ok(ImageOutcome::Refused("no image was made (IMAGE_SAFETY)".to_owned())),
        ),
        (
            ImageApi::Gemini,
            json!("not an object"),
            Ok(ImageOutcome::Refused("the model answered without an image".to_owned())),
        ),
    ];
    for (api, answer, expected) in cases {
        let bytes = serde_json::to_vec(&answer).expect("json");
        let got = parse_answer(api, &bytes).map_err(|_| ());
        assert_eq!(got, expected, "{api:?} {answer}");
    }
    assert!(parse_answer(ImageApi::Images, b"<html>").is_err());
}

#[test]
fn an_image_over_the_cap_is_refused_before_it_is_decoded() {
    let huge = "A".repeat(MAX_IMAGE_BYTES / 3 * 4 + 8);
    let answer = serde_json::to_vec(&json!({ "data": [{ "b64_json": huge }] })).expect("json");
    let error = parse_answer(ImageApi::Images, &answer).expect_err("over the cap");
    assert!(error.to_string().contains("MiB"), "{error}");
}
