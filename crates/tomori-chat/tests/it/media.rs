//! Images in the prompt: fetched through the media scope for models that see, labelled with
//! their `media_N` handle, downscaled; never fetched for models that do not see.

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::header;
use axum::routing::get;
use tomori_chat::media::{Media, MediaOptions};
use tomori_chat::surface::Attachment;
use tomori_llm::Capabilities;
use tomori_net::{Client, Policy, Scope};
use tomori_store::audit::Actor;
use tomori_store::settings::{self, Setting};
use tomori_testkit::fake_llm::Turn;

use crate::{ALICE, Harness};

fn png(width: u32, height: u32) -> Vec<u8> {
    let buffer = image::RgbImage::from_pixel(width, height, image::Rgb([200, 40, 90]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(buffer)
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// A loopback file server: `/cat.png` (a real 2000×1000 image), `/broken.png` (not an image),
/// `/page.html` (not an image type). Counts the requests it serves.
pub(crate) async fn file_server() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let cat = png(2000, 1000);
    let (h1, h2, h3) = (Arc::clone(&hits), Arc::clone(&hits), Arc::clone(&hits));
    let app = Router::new()
        .route(
            "/cat.png",
            get(move || async move {
                h1.fetch_add(1, Ordering::SeqCst);
                ([(header::CONTENT_TYPE, "image/png")], cat.clone())
            }),
        )
        .route(
            "/broken.png",
            get(move || async move {
                h2.fetch_add(1, Ordering::SeqCst);
                ([(header::CONTENT_TYPE, "image/png")], b"GIF89a not really".to_vec())
            }),
        )
        .route(
            "/page.html",
            get(move || async move {
                h3.fetch_add(1, Ordering::SeqCst);
                ([(header::CONTENT_TYPE, "text/html")], "<p>hi</p>")
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), hits)
}

pub(crate) fn attachment(base: &str, name: &str, content_type: &str) -> Attachment {
    Attachment {
        url: format!("{base}/{name}"),
        filename: name.to_owned(),
        content_type: Some(content_type.to_owned()),
        size: 1000,
    }
}

pub(crate) fn media_for_tests() -> Media {
    // The media scope is https-only to public hosts; the test policy lets it reach this
    // loopback server and nothing else changes.
    let client = Client::new(Policy::new(Scope::Media).allow_loopback_for_tests()).unwrap();
    Media::new(client, MediaOptions::default())
}

#[tokio::test]
async fn a_vision_model_sees_recent_images_labelled_and_downscaled() {
    let vision = Capabilities { vision: true, ..Capabilities::default() };
    let h = Harness::with_capabilities(vision).await;
    h.engine.set_media(media_for_tests());
    let (base, hits) = file_server().await;
    settings::set(
        &h.store,
        tomori_store::Scope::server(h.server),
        Actor::Operator,
        Setting::Timezone("Asia/Tokyo".to_owned()),
    )
    .await
    .unwrap();
    h.llm.push_turn(Turn::new().text("A pink square!"));
    let mut msg = h.message(ALICE, "alice", "<@900> what is this?");
    msg.guild_name = Some("Cozy Corner".to_owned());
    msg.attachments = vec![
        attachment(&base, "cat.png", "image/png"),
        attachment(&base, "broken.png", "image/png"),
        attachment(&base, "page.html", "text/html"),
    ];
    h.engine.handle(msg).await;
    h.wait_sent(1).await;

    let request = &h.llm.requests()[0];
    let body = String::from_utf8_lossy(&request.body).into_owned();
    // One image made it: the real one, re-encoded as JPEG; the broken one was left out and the
    // HTML page was never fetched as an image.
    assert_eq!(body.matches("data:image/jpeg;base64,").count(), 1, "{body}");
    assert!(body.contains("[media_1]"), "the image is labelled with its handle: {body}");
    assert!(!body.contains(&base), "attachment URLs never reach the model");
    assert_eq!(hits.load(Ordering::SeqCst), 2, "cat.png and broken.png were fetched once each");
    // Server name and local time in the server's zone.
    assert!(body.contains("Cozy Corner"), "{body}");
    assert!(body.contains("Asia/Tokyo (UTC+09:00"), "{body}");

    // The image is cached: the next turn shows it again without fetching it again.
    h.llm.push_turn(Turn::new().text("Still pink."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> and now?")).await;
    h.wait_sent(2).await;
    let body = String::from_utf8_lossy(&h.llm.requests()[1].body).into_owned();
    assert_eq!(body.matches("data:image/jpeg;base64,").count(), 1);
    assert_eq!(hits.load(Ordering::SeqCst), 3, "only the broken image was tried again");
}

#[tokio::test]
async fn a_text_model_never_triggers_downloads() {
    let h = Harness::new().await;
    h.engine.set_media(media_for_tests());
    let (base, hits) = file_server().await;
    h.llm.push_turn(Turn::new().text("I can't see images."));
    let mut msg = h.message(ALICE, "alice", "<@900> look");
    msg.attachments = vec![attachment(&base, "cat.png", "image/png")];
    h.engine.handle(msg).await;
    h.wait_sent(1).await;
    let body = String::from_utf8_lossy(&h.llm.requests()[0].body).into_owned();
    assert!(!body.contains("base64"), "{body}");
    assert!(body.contains("media_1"), "the attachment is still named by its handle: {body}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_animated_gif_reaches_a_vision_model_as_three_keyframes() {
    let vision = Capabilities { vision: true, ..Capabilities::default() };
    let h = Harness::with_capabilities(vision).await;
    h.engine.set_media(media_for_tests());
    let mut gif = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut gif);
        for n in 0..12_u8 {
            let frame = image::RgbaImage::from_pixel(32, 32, image::Rgba([n * 20, 90, 40, 255]));
            encoder.encode_frame(image::Frame::new(frame)).unwrap();
        }
    }
    let app = Router::new().route(
        "/dance.gif",
        get(move || {
            let gif = gif.clone();
            async move { ([(header::CONTENT_TYPE, "image/gif")], gif) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    h.llm.push_turn(Turn::new().text("It dances."));
    let mut msg = h.message(ALICE, "alice", "<@900> what happens here?");
    msg.attachments = vec![attachment(&base, "dance.gif", "image/gif")];
    h.engine.handle(msg).await;
    h.wait_sent(1).await;
    let body = String::from_utf8_lossy(&h.llm.requests()[0].body).into_owned();
    assert_eq!(body.matches("data:image/jpeg;base64,").count(), 3, "{body}");
    assert!(body.contains("[media_1] (animated: its first, middle and last frames)"), "{body}");
}

/// An animated GIF of `frames` frames.
fn animated_gif(frames: u8) -> Vec<u8> {
    let mut gif = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut gif);
        for n in 0..frames {
            let frame = image::RgbaImage::from_pixel(32, 32, image::Rgba([n * 20, 90, 40, 255]));
            encoder.encode_frame(image::Frame::new(frame)).unwrap();
        }
    }
    gif
}

#[tokio::test]
async fn a_tenor_link_without_a_preview_reaches_a_vision_model_as_its_gif() {
    use tomori_net::{OverrideLookup, SystemLookup};

    let vision = Capabilities { vision: true, ..Capabilities::default() };
    let h = Harness::with_capabilities(vision).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let gif = animated_gif(12);
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let pages = Arc::new(AtomicUsize::new(0));
    let read = Arc::clone(&pages);
    // Tenor's page names its GIF in `og:image`; another page names a GIF off Tenor's hosts.
    let page = format!(
        "<html><head><meta property=\"og:title\" content=\"Dancing cat\">\
         <meta property=\"og:image\" content=\"http://media.tenor.com:{port}/abc/dance.gif\">"
    );
    let hostile = format!(
        "<meta property=\"og:image\" content=\"http://evil.example:{port}/abc/dance.gif\">"
    );
    let app = Router::new()
        .route(
            "/view/dancing-cat-gif-12345",
            get(move || {
                read.fetch_add(1, Ordering::SeqCst);
                async move { ([(header::CONTENT_TYPE, "text/html")], page) }
            }),
        )
        .route(
            "/view/sneaky-gif-666",
            get(move || async move { ([(header::CONTENT_TYPE, "text/html")], hostile) }),
        )
        .route(
            "/abc/dance.gif",
            get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                let gif = gif.clone();
                async move { ([(header::CONTENT_TYPE, "image/gif")], gif) }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    // Tenor's names (and the hostile one) answer with this loopback server.
    let mut lookup = OverrideLookup::new(Arc::new(SystemLookup));
    for host in ["tenor.com", "media.tenor.com", "evil.example"] {
        lookup.insert(host, "127.0.0.1".parse().unwrap());
    }
    let lookup = Arc::new(lookup);
    let client = |scope| {
        Client::builder(Policy::new(scope).allow_loopback_for_tests())
            .lookup(lookup.clone())
            .build()
            .unwrap()
    };
    let media = Media::new(client(Scope::Media), MediaOptions::default())
        .with_page_client(client(Scope::Tool));
    h.engine.set_media(media);

    h.llm.push_turn(Turn::new().text("It dances."));
    let text = format!("<@900> lol http://tenor.com:{port}/view/dancing-cat-gif-12345");
    h.engine.handle(h.message(ALICE, "alice", &text)).await;
    h.wait_sent(1).await;
    let body = String::from_utf8_lossy(&h.llm.requests()[0].body).into_owned();
    assert_eq!(body.matches("data:image/jpeg;base64,").count(), 3, "{body}");
    assert!(body.contains("[media_1] (animated: its first, middle and last frames)"), "{body}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // A page naming a GIF elsewhere is read, and nothing it names is fetched.
    h.llm.push_turn(Turn::new().text("Hm."));
    let text = format!("<@900> and http://tenor.com:{port}/view/sneaky-gif-666");
    h.engine.handle(h.message(ALICE, "alice", &text)).await;
    h.wait_sent(2).await;
    assert_eq!(hits.load(Ordering::SeqCst), 1, "only the first GIF was fetched, once");
    assert_eq!(pages.load(Ordering::SeqCst), 1);

    // A link the platform already previewed (its GIF among the attachments) is not read again.
    h.llm.push_turn(Turn::new().text("Again!"));
    let text = format!("<@900> http://tenor.com:{port}/view/dancing-cat-gif-12345?again");
    let mut msg = h.message(ALICE, "alice", &text);
    msg.attachments =
        vec![attachment(&format!("http://media.tenor.com:{port}"), "abc/dance.gif", "image/gif")];
    h.engine.handle(msg).await;
    h.wait_sent(3).await;
    assert_eq!(pages.load(Ordering::SeqCst), 1, "the page was not read for a previewed link");
}
