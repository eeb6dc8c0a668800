//! Video generation through the real guarded client: Veo against the fake Gemini (an operation
//! from its start to the downloaded MP4, a safety refusal, the deadline, a hostile file),
//! OpenRouter's video jobs against the fake OpenAI-compatible server, and the providers that
//! have no video API.

use std::time::Duration;

use tomori_llm::{
    LlmError, TimeoutPhase, VideoData, VideoOptions, VideoOutcome, VideoRequest, VideoShape,
};
use tomori_testkit::fake_llm::{FakeLlm, REFUSED_WORD, WireFormat, mp4};

use crate::support::{llm, secret, target};

const MODEL: &str = "veo-3.0-generate-001";

fn options(deadline: Duration) -> VideoOptions {
    VideoOptions { poll_every: Duration::from_millis(10), deadline, ..VideoOptions::default() }
}

fn ask(prompt: &str) -> VideoRequest {
    VideoRequest { prompt: prompt.to_owned(), shape: VideoShape::Portrait }
}

/// Asks `fake` for a video of `prompt` with the given keys.
async fn film(
    fake: &FakeLlm,
    keys: &[&str],
    prompt: &str,
    deadline: Duration,
) -> Result<tomori_llm::GeneratedVideo, LlmError> {
    let (llm, _clock) = llm();
    let mut veo = target(fake, WireFormat::Gemini, keys);
    veo.model = MODEL.to_owned();
    llm.generate_video(&[veo], &ask(prompt), &options(deadline)).await
}

#[tokio::test]
async fn a_video_is_started_polled_until_done_and_downloaded_with_the_key() {
    let fake = FakeLlm::start(WireFormat::Gemini).await;
    fake.make_videos(2);
    let made = film(&fake, &["a"], "a red fox in snow", Duration::from_secs(10)).await.unwrap();
    assert_eq!(made.outcome, VideoOutcome::Video(VideoData::Bytes(mp4())));
    assert_eq!(made.answered.key_id.as_deref(), Some("a"));
    let asked = fake.video_requests();
    let paths: Vec<(&str, &str)> =
        asked.iter().map(|r| (r.method.as_str(), r.path.as_str())).collect();
    let poll = format!("/v1beta/models/{MODEL}/operations/op1");
    assert_eq!(
        paths,
        [
            ("POST", format!("/v1beta/models/{MODEL}:predictLongRunning").as_str()),
            ("GET", poll.as_str()),
            ("GET", poll.as_str()),
            ("GET", poll.as_str()),
            ("GET", "/v1beta/files/op1:download?alt=media"),
        ]
    );
    let body = asked[0].json.as_ref().unwrap();
    assert_eq!(body["instances"][0]["prompt"], "a red fox in snow");
    assert_eq!(body["parameters"]["aspectRatio"], "9:16");
    for request in &asked {
        assert_eq!(
            request.header("x-goog-api-key"),
            Some(secret("a").as_str()),
            "{}",
            request.path
        );
    }
}

#[tokio::test]
async fn a_filtered_video_is_a_refusal_and_nothing_is_downloaded() {
    let fake = FakeLlm::start(WireFormat::Gemini).await;
    fake.make_videos(1);
    let prompt = format!("something {REFUSED_WORD}");
    let made = film(&fake, &["a"], &prompt, Duration::from_secs(10)).await.unwrap();
    let VideoOutcome::Refused(reason) = made.outcome else { panic!("a refusal") };
    assert!(reason.contains("safety filter"), "{reason}");
    assert!(fake.video_requests().iter().all(|r| !r.path.contains("/files/")));
}

#[tokio::test]
async fn an_operation_that_never_finishes_ends_at_the_deadline_and_no_other_key_pays_again() {
    let fake = FakeLlm::start(WireFormat::Gemini).await;
    fake.make_videos(u32::MAX);
    let error = film(&fake, &["a", "b"], "a fox", Duration::from_millis(200)).await.unwrap_err();
    assert!(matches!(error, LlmError::Timeout { phase: TimeoutPhase::Total, .. }), "{error:?}");
    let starts = fake.video_requests().iter().filter(|r| r.method == "POST").count();
    assert_eq!(starts, 1, "a started video is not started again with another key");
}

#[tokio::test]
async fn a_file_that_is_not_an_mp4_is_refused() {
    for hostile in [b"<html><script>alert(1)</script></html>".to_vec(), mp4()[..30].to_vec()] {
        let fake = FakeLlm::start(WireFormat::Gemini).await;
        fake.make_videos(0).serve_video_bytes(hostile);
        let error = film(&fake, &["a"], "a fox", Duration::from_secs(10)).await.unwrap_err();
        assert!(matches!(error, LlmError::Malformed { .. }), "{error:?}");
        assert!(error.to_string().contains("not a usable MP4"), "{error}");
    }
}

#[tokio::test]
async fn a_missing_key_is_refused_and_other_wires_have_no_video_api() {
    let fake = FakeLlm::start(WireFormat::Gemini).await;
    fake.make_videos(0);
    // No key at all: Gemini's 401, before anything started.
    let error = film(&fake, &[], "a fox", Duration::from_secs(10)).await.unwrap_err();
    assert!(matches!(error, LlmError::Auth { status: 401 }), "{error:?}");

    let openai = FakeLlm::start(WireFormat::OpenAi).await;
    openai.make_videos(0);
    let (llm, _clock) = llm();
    let chain = [target(&openai, WireFormat::OpenAi, &["a"])];
    let error = llm
        .generate_video(&chain, &ask("a fox"), &options(Duration::from_secs(1)))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("no video API"), "{error}");
    assert!(openai.requests().is_empty(), "nothing was sent");
}

/// Asks the fake OpenAI-compatible server, as OpenRouter, for a video of `prompt`.
async fn film_on_openrouter(
    fake: &FakeLlm,
    keys: &[&str],
    prompt: &str,
) -> Result<tomori_llm::GeneratedVideo, LlmError> {
    let (llm, _clock) = llm();
    let mut router = target(fake, WireFormat::OpenAi, keys);
    router.provider = "openrouter".to_owned();
    router.model = "google/veo-3.1".to_owned();
    llm.generate_video(&[router], &ask(prompt), &options(Duration::from_secs(10))).await
}

#[tokio::test]
async fn an_openrouter_job_is_started_polled_and_its_content_downloaded_with_the_key() {
    let fake = FakeLlm::start(WireFormat::OpenAi).await;
    fake.make_videos(2);
    let made = film_on_openrouter(&fake, &["a"], "a red fox in snow").await.unwrap();
    assert_eq!(made.outcome, VideoOutcome::Video(VideoData::Bytes(mp4())));
    let asked = fake.video_requests();
    let paths: Vec<(&str, &str)> =
        asked.iter().map(|r| (r.method.as_str(), r.path.as_str())).collect();
    assert_eq!(
        paths,
        [
            ("POST", "/v1/videos"),
            ("GET", "/v1/videos/job-1"),
            ("GET", "/v1/videos/job-1"),
            ("GET", "/v1/videos/job-1"),
            ("GET", "/v1/videos/job-1/content?index=0"),
        ]
    );
    let body = asked[0].json.as_ref().unwrap();
    assert_eq!(body["model"], "google/veo-3.1");
    assert_eq!(body["prompt"], "a red fox in snow");
    assert_eq!(body["aspect_ratio"], "9:16");
    let bearer = format!("Bearer {}", secret("a"));
    assert!(asked.iter().all(|r| r.header("authorization") == Some(bearer.as_str())));

    // A failed job is the provider declining, in its words; nothing is downloaded.
    let fake = FakeLlm::start(WireFormat::OpenAi).await;
    fake.make_videos(1);
    let made = film_on_openrouter(&fake, &["a"], &format!("a {REFUSED_WORD}")).await.unwrap();
    let VideoOutcome::Refused(reason) = made.outcome else { panic!("a refusal") };
    assert!(reason.contains("(failed)") && reason.contains("moderation"), "{reason}");
    assert!(fake.video_requests().iter().all(|r| !r.path.contains("/content")));

    // No key: OpenRouter's 401 before anything started; a hostile file is refused.
    let error = film_on_openrouter(&fake, &[], "a fox").await.unwrap_err();
    assert!(matches!(error, LlmError::Auth { status: 401 }), "{error:?}");
    fake.serve_video_bytes(b"<html></html>".to_vec());
    let error = film_on_openrouter(&fake, &["a"], "a fox").await.unwrap_err();
    assert!(error.to_string().contains("not a usable MP4"), "{error}");
}
