//! Videos people post or link, through the real engine: a Gemini model watches a posted video
//! (inline, its type told by its signature) and a linked YouTube video it asks for
//! (`process_youtube_video`); other models read captions, and nothing is downloaded for them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::header;
use axum::routing::get;
use base64::Engine as _;
use serde_json::{Value, json};
use tomori_llm::Capabilities;
use tomori_testkit::fake_llm::{Turn, mp4};

use crate::media::{attachment, media_for_tests};
use crate::{ALICE, Harness};

/// A loopback server with `/clip.mp4` (a real MP4) and `/fake.mp4` (a page sent as a video).
async fn clip_server() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let (h1, h2) = (Arc::clone(&hits), Arc::clone(&hits));
    let app = Router::new()
        .route(
            "/clip.mp4",
            get(move || async move {
                h1.fetch_add(1, Ordering::SeqCst);
                ([(header::CONTENT_TYPE, "video/mp4")], mp4())
            }),
        )
        .route(
            "/fake.mp4",
            get(move || async move {
                h2.fetch_add(1, Ordering::SeqCst);
                ([(header::CONTENT_TYPE, "video/mp4")], b"<!doctype html><p>gotcha</p>".to_vec())
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, hits)
}

/// Every part of every content of a Gemini request.
fn gemini_parts(body: &Value) -> Vec<Value> {
    let contents = body["contents"].as_array().cloned().unwrap_or_default();
    contents.iter().flat_map(|c| c["parts"].as_array().cloned().unwrap_or_default()).collect()
}

#[tokio::test]
async fn a_gemini_model_watches_a_posted_video_and_other_models_download_nothing() {
    let vision = Capabilities { vision: true, ..Capabilities::default() };
    let h = Harness::gemini(vision).await;
    h.engine.set_media(media_for_tests());
    let (base, hits) = clip_server().await;
    h.llm.push_turn(Turn::new().text("A short clip!"));
    let mut msg = h.message(ALICE, "alice", "<@900> what happens in this?");
    msg.attachments = vec![attachment(&base, "clip.mp4", "video/mp4")];
    h.engine.handle(msg).await;
    h.wait_sent(1).await;
    let body = h.llm.requests()[0].json.clone().unwrap();
    let parts = gemini_parts(&body);
    let inline: Vec<&Value> = parts.iter().filter_map(|p| p.get("inlineData")).collect();
    let data = base64::engine::general_purpose::STANDARD.encode(mp4());
    assert_eq!(inline, [&json!({ "mimeType": "video/mp4", "data": data })], "{body}");
    assert!(parts.iter().any(|p| p["text"] == "[media_1] (a video)"), "{body}");
    let text = body.to_string();
    assert!(!text.contains(&base), "attachment URLs never reach the model");

    // A page dressed as a video is fetched, refused by its signature, and left out; the video
    // shown before is the newest no longer.
    h.llm.push_turn(Turn::new().text("Nothing there."));
    let mut msg = h.message(ALICE, "alice", "<@900> and this one?");
    msg.attachments = vec![attachment(&base, "fake.mp4", "video/mp4")];
    h.engine.handle(msg).await;
    h.wait_sent(2).await;
    let body = h.llm.requests()[1].json.clone().unwrap();
    assert!(gemini_parts(&body).iter().all(|p| p.get("inlineData").is_none()), "{body}");
    assert!(!body.to_string().contains("gotcha"));
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    // A model on another wire never triggers the download; the handle still names the file.
    let h = Harness::with_capabilities(vision).await;
    h.engine.set_media(media_for_tests());
    let (base, hits) = clip_server().await;
    h.llm.push_turn(Turn::new().text("I can't watch videos."));
    let mut msg = h.message(ALICE, "alice", "<@900> look");
    msg.attachments = vec![attachment(&base, "clip.mp4", "video/mp4")];
    h.engine.handle(msg).await;
    h.wait_sent(1).await;
    let body = String::from_utf8_lossy(&h.llm.requests()[0].body).into_owned();
    assert!(body.contains("media_1") && !body.contains("base64"), "{body}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_gemini_model_watches_a_linked_youtube_video_it_asks_for_and_no_other() {
    let vision = Capabilities { vision: true, tools: true, ..Capabilities::default() };
    let h = Harness::gemini(vision).await;
    h.enable_tools();
    let call = |id: &str, url: &str| {
        Turn::new().tool_call(id, "process_youtube_video", json!({ "url": url }))
    };
    // First a video nobody linked (a steered model), then the linked one in another shape.
    h.llm.push_turn(call("c1", "https://www.youtube.com/watch?v=aaaaaaaaaaa"));
    h.llm.push_turn(call("c2", "https://www.youtube.com/shorts/dQw4w9WgXcQ"));
    h.llm.push_turn(Turn::new().text("A classic."));
    let text = "<@900> thoughts? https://youtu.be/dQw4w9WgXcQ?si=tracking";
    h.engine.handle(h.message(ALICE, "alice", text)).await;
    h.wait_sent(1).await;
    let requests = h.llm.requests();
    assert_eq!(requests.len(), 3);
    let first = requests[0].json.clone().unwrap();
    assert!(first.to_string().contains("process_youtube_video"), "the tool is offered");
    let second = requests[1].json.clone().unwrap().to_string();
    assert!(second.contains("unknown_video"), "an unlinked video is refused: {second}");
    assert!(!second.contains("fileData"), "{second}");
    let third = requests[2].json.clone().unwrap();
    let files: Vec<Value> =
        gemini_parts(&third).iter().filter_map(|p| p.get("fileData").cloned()).collect();
    assert_eq!(
        files,
        [json!({ "fileUri": "https://www.youtube.com/watch?v=dQw4w9WgXcQ" })],
        "the canonical link, once, without the tracking parameter"
    );

    // A model that cannot watch videos is never offered the tool.
    let h = Harness::with_capabilities(vision).await;
    h.enable_tools();
    h.llm.push_turn(Turn::new().text("Nice link."));
    h.engine.handle(h.message(ALICE, "alice", text)).await;
    h.wait_sent(1).await;
    let body = String::from_utf8_lossy(&h.llm.requests()[0].body).into_owned();
    assert!(!body.contains("process_youtube_video"), "{body}");
}
