//! `generate_video` end to end: the fake Discord, the real engine and gate, a fake model that
//! asks for a video, and the fake Gemini whose Veo operation makes it. The video is posted by the
//! persona as an MP4 attachment and counted against the video quota; with `video_gen` off the
//! tool is not offered and no provider is asked; a refusal posts and counts nothing.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use secrecy::SecretString;
use serde_json::json;
use tomori_chat::media::{Media, MediaOptions, VideoStudio};
use tomori_chat::providers::ServerProviders;
use tomori_core::quota::{QuotaLimits, QuotaVerdict};
use tomori_core::settings::Feature;
use tomori_llm::{Llm, Timeouts, VideoOptions, client_for};
use tomori_net::Policy;
use tomori_store::audit::Actor;
use tomori_store::credentials::{self, KeyOwner};
use tomori_store::models::{self, VideoModel};
use tomori_store::quotas::{self, QuotaKind};
use tomori_store::{Scope, Store, settings};
use tomori_testkit::fake_llm::{FakeLlm, REFUSED_WORD, Turn, WireFormat, mp4};
use tomori_tools::VideoMaker;

use crate::platform::{Conversation, conversation_with_makers};
use crate::{ALICE, CHANNEL, GUILD, WAIT, snowflake};

const VEO: &str = "veo-3.0-generate-001";

/// The studio the tests film with: `google` reached at the fake Gemini, polled every 10 ms.
fn filmmaker(store: &Store, veo: &FakeLlm) -> Option<Arc<dyn VideoMaker>> {
    let policy = Policy::new(tomori_net::Scope::Server).allow_loopback_for_tests();
    let providers = ServerProviders::new(client_for(policy, &Timeouts::default()).unwrap());
    let media_client = tomori_net::Client::new(Policy::new(tomori_net::Scope::Media)).unwrap();
    let media = Media::new(media_client, MediaOptions::default());
    let options = VideoOptions {
        poll_every: Duration::from_millis(10),
        deadline: Duration::from_secs(20),
        ..VideoOptions::default()
    };
    let studio = VideoStudio::new(store.clone(), providers, Llm::default(), media)
        .with_options(options)
        .with_provider_base_url("google", &veo.base_url());
    Some(Arc::new(studio))
}

/// A conversation whose server films with Veo (the fake, two polls to a finished operation)
/// with its own Google key, `video_gen` on and a video quota of one per member per day.
pub(crate) async fn filming() -> (Conversation, FakeLlm, Scope) {
    let veo = FakeLlm::start(WireFormat::Gemini).await;
    veo.make_videos(2);
    let c = conversation_with_makers(|_| None, |store| filmmaker(store, &veo)).await;
    let server = c.s.store.resolve_guild(snowflake(GUILD)).await.unwrap();
    let scope = Scope::server(server);
    let store = &c.s.store;
    let key = SecretString::from("AIza-fake-veo-key".to_owned());
    credentials::add(store, scope, Actor::Operator, KeyOwner::Server, "google", "veo", &key)
        .await
        .unwrap();
    let model = VideoModel { provider: "google".to_owned(), model: VEO.to_owned() };
    models::set_video(store, scope, Actor::Operator, Some(&model)).await.unwrap();
    settings::set_feature(store, scope, Actor::Operator, Feature::VideoGen, true).await.unwrap();
    let limits =
        QuotaLimits { enabled: true, per_user_daily: 1, server_pool: 0, reset_period_days: 30 };
    quotas::set_limits(store, scope, QuotaKind::Video, limits).await.unwrap();
    (c, veo, scope)
}

fn offered(c: &Conversation, request: usize) -> bool {
    let body = String::from_utf8_lossy(&c.llm.requests()[request].body).into_owned();
    body.contains("\"generate_video\"")
}

async fn video_verdict(c: &Conversation, scope: Scope) -> QuotaVerdict {
    let today = Utc::now().date_naive();
    quotas::check(&c.s.store, scope, QuotaKind::Video, snowflake(ALICE), today).await.unwrap()
}

#[tokio::test]
async fn a_video_is_posted_by_the_persona_and_counted_against_the_quota() {
    let (c, veo, scope) = filming().await;
    c.llm.push_turn(Turn::new().tool_call(
        "call_1",
        "generate_video",
        json!({"prompt": "a red fox running through snow", "shape": "portrait"}),
    ));
    c.llm.push_turn(Turn::new().text("Here is your fox, running!"));
    c.say(ALICE, "alice", "Tomori, could you make me a video of a fox?").await;
    let video = c.s.fake.wait_for_message(|m| !m.files.is_empty(), WAIT).await;
    let text = c.s.fake.wait_for_message(|m| m.content.contains("your fox"), WAIT).await;
    assert!(offered(&c, 0), "generate_video was offered");
    assert_eq!(video.channel, CHANNEL);
    assert!(video.id > text.id, "the video follows the words");
    assert_eq!(video.files.len(), 1);
    assert_eq!(video.files[0].filename, "video.mp4");
    assert_eq!(video.files[0].bytes, mp4(), "the provider's checked file, as made");
    // Veo was asked once, in its own terms, with the server's key, and polled to the end.
    let asked = veo.video_requests();
    let starts: Vec<_> = asked.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(starts.len(), 1);
    let body = starts[0].json.as_ref().unwrap();
    assert_eq!(body["instances"][0]["prompt"], "a red fox running through snow");
    assert_eq!(body["parameters"]["aspectRatio"], "9:16");
    assert!(asked.iter().all(|r| r.header("x-goog-api-key") == Some("AIza-fake-veo-key")));
    assert_eq!(asked.iter().filter(|r| r.path.contains("/operations/")).count(), 3);
    // Counted, and audited with the prompt and who made it.
    assert!(matches!(video_verdict(&c, scope).await, QuotaVerdict::UserExhausted { .. }));
    let (log, verified) = tomori_store::audit::tenant_log(&c.s.store, scope, 50).await.unwrap();
    let row = log.iter().find(|e| e.action == "video.generate").expect("an audit row");
    assert_eq!(row.target, "generation:video");
    assert!(verified.findings.is_empty(), "{verified:?}");

    // review_capabilities tells the persona the model and that the quota is spent.
    c.llm.push_turn(Turn::new().tool_call("call_2", "review_capabilities", json!({})));
    c.llm.push_turn(Turn::new().text("I checked my camera."));
    c.say(ALICE, "alice", "Tomori, can you film again today?").await;
    c.s.fake.wait_for_message(|m| m.content.contains("checked my camera"), WAIT).await;
    let review = String::from_utf8_lossy(&c.llm.requests()[3].body).into_owned();
    assert!(review.contains(&format!("google/{VEO}")), "{review}");
    assert!(review.contains("video_quota") && review.contains("used up until"), "{review}");
}

#[tokio::test]
async fn with_video_gen_off_nothing_is_offered_and_no_provider_is_asked() {
    let (c, veo, scope) = filming().await;
    settings::set_feature(&c.s.store, scope, Actor::Operator, Feature::VideoGen, false)
        .await
        .unwrap();
    c.llm.push_turn(Turn::new().tool_call("call_1", "generate_video", json!({"prompt": "a fox"})));
    c.llm.push_turn(Turn::new().text("Videos are off here."));
    c.say(ALICE, "alice", "Tomori, film a fox").await;
    c.s.fake.wait_for_message(|m| m.content.contains("Videos are off"), WAIT).await;
    assert!(!offered(&c, 0), "not offered");
    let results = c.tool_results();
    assert!(results.contains("video_gen feature is off"), "{results}");
    assert!(veo.video_requests().is_empty(), "no provider call");
    assert!(c.s.fake.messages().iter().all(|m| m.files.is_empty()));
    assert_eq!(video_verdict(&c, scope).await, QuotaVerdict::Allowed);
}

#[tokio::test]
async fn a_refusal_posts_nothing_and_counts_nothing() {
    let (c, veo, scope) = filming().await;
    let prompt = format!("something {REFUSED_WORD}");
    c.llm.push_turn(Turn::new().tool_call("call_1", "generate_video", json!({"prompt": prompt})));
    c.llm.push_turn(Turn::new().text("I won't film that one."));
    c.say(ALICE, "alice", "Tomori, film something bad").await;
    c.s.fake.wait_for_message(|m| m.content.contains("won't film"), WAIT).await;
    let results = c.tool_results();
    assert!(results.contains("provider_refused"), "{results}");
    assert!(results.contains("safety filter"), "{results}");
    assert_eq!(veo.video_requests().iter().filter(|r| r.method == "POST").count(), 1);
    assert!(veo.video_requests().iter().all(|r| !r.path.contains("/files/")), "nothing fetched");
    assert!(c.s.fake.messages().iter().all(|m| m.files.is_empty()));
    assert_eq!(video_verdict(&c, scope).await, QuotaVerdict::Allowed, "a refusal is not counted");
}
