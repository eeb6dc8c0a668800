//! `generate_image` end to end: the fake Discord, the real engine and gate, a fake model that
//! asks for a picture, and the fake image API that draws it. The picture is posted by the persona
//! that was asked (an alter, through its webhook), the image quota counts it, and a spent quota,
//! a flag turned off or a provider's refusal posts nothing and (for the first two) asks no
//! provider.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use secrecy::SecretString;
use serde_json::json;
use tomori_chat::media::{ImageStudio, Media, MediaOptions};
use tomori_chat::providers::ServerProviders;
use tomori_core::quota::{QuotaLimits, QuotaVerdict};
use tomori_core::settings::Feature;
use tomori_llm::{ComfyOptions, Llm, Timeouts, client_for};
use tomori_net::Policy;
use tomori_store::audit::Actor;
use tomori_store::credentials::KeyOwner;
use tomori_store::endpoints::{self, NewEndpoint};
use tomori_store::models::{self, ImageModel};
use tomori_store::personas::{self, NewPersona};
use tomori_store::quotas::{self, QuotaKind};
use tomori_store::{Scope, Store, settings};
use tomori_testkit::fake_comfy::{FakeComfy, sample_workflow};
use tomori_testkit::fake_llm::{FakeLlm, REFUSED_WORD, Turn, WireFormat};
use tomori_tools::ImageMaker;

use crate::platform::{Conversation, Seeing, conversation_seeing};
use crate::{ALICE, CHANNEL, GUILD, WAIT, snowflake};

/// The studio every test draws with: its ComfyUI runs polled every 10 ms.
fn painter(store: &Store) -> Option<Arc<dyn ImageMaker>> {
    let policy = Policy::new(tomori_net::Scope::Server).allow_loopback_for_tests();
    let providers = ServerProviders::new(client_for(policy, &Timeouts::default()).unwrap());
    let media_client = tomori_net::Client::new(Policy::new(tomori_net::Scope::Media)).unwrap();
    let media = Media::new(media_client, MediaOptions::default());
    let comfy = ComfyOptions { poll_every: Duration::from_millis(10), ..ComfyOptions::default() };
    let maker =
        ImageStudio::new(store.clone(), providers, Llm::default(), media).with_comfy_options(comfy);
    Some(Arc::new(maker))
}

/// A conversation whose server draws with `studio`'s fake image API (a custom endpoint), has an
/// alter called Yui, `image_gen` on and an image quota of one per member per day.
pub(crate) async fn drawing() -> (Conversation, FakeLlm, Scope) {
    drawing_seeing(|_| None).await
}

/// As [`drawing`], with a model that sees and `peek_profile_picture` when `seeing` says how.
pub(crate) async fn drawing_seeing(
    seeing: impl FnOnce(&tomori_testkit::fake_discord::FakeDiscord) -> Option<Seeing>,
) -> (Conversation, FakeLlm, Scope) {
    let studio = FakeLlm::start(WireFormat::OpenAi).await;
    studio.draw_images();
    let c = conversation_seeing(painter, seeing).await;
    let server = c.s.store.resolve_guild(snowflake(GUILD)).await.unwrap();
    let scope = Scope::server(server);
    let store = &c.s.store;
    personas::create(
        store,
        scope,
        Actor::Operator,
        NewPersona {
            nickname: "Yui".into(),
            prompt: "You are Yui, a painter.".into(),
            ..NewPersona::default()
        },
    )
    .await
    .unwrap();
    let new = NewEndpoint {
        label: "studio".to_owned(),
        base_url: studio.base_url(),
        model: "gpt-image-1".to_owned(),
        context_length: None,
        has_tools: false,
        has_vision: false,
        api_key: Some(SecretString::from("sk-studio".to_owned())),
    };
    endpoints::add(store, scope, Actor::Operator, KeyOwner::Server, &new).await.unwrap();
    let model =
        ImageModel { provider: "custom:studio".to_owned(), model: "gpt-image-1".to_owned() };
    models::set_image(store, scope, Actor::Operator, Some(&model)).await.unwrap();
    settings::set_feature(store, scope, Actor::Operator, Feature::ImageGen, true).await.unwrap();
    let limits =
        QuotaLimits { enabled: true, per_user_daily: 1, server_pool: 0, reset_period_days: 30 };
    quotas::set_limits(store, scope, QuotaKind::Image, limits).await.unwrap();
    (c, studio, scope)
}

pub(crate) fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(bytes.get(..8), Some(&b"\x89PNG\r\n\x1a\n"[..]), "a PNG");
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

fn offered(c: &Conversation, request: usize) -> bool {
    let body = String::from_utf8_lossy(&c.llm.requests()[request].body).into_owned();
    body.contains("\"generate_image\"")
}

#[tokio::test]
async fn a_picture_is_posted_by_the_alter_asked_and_counted_against_the_quota() {
    let (c, studio, scope) = drawing().await;
    c.llm.push_turn(Turn::new().tool_call(
        "call_1",
        "generate_image",
        json!({"prompt": "a red fox in snow", "shape": "landscape"}),
    ));
    c.llm.push_turn(Turn::new().text("Here is your fox!"));
    c.say(ALICE, "alice", "Yui, could you paint me a fox?").await;
    let picture = c.s.fake.wait_for_message(|m| !m.files.is_empty(), WAIT).await;
    let text = c.s.fake.wait_for_message(|m| m.content.contains("Here is your fox"), WAIT).await;
    assert!(offered(&c, 0), "generate_image was offered");
    // Posted by Yui's webhook, after her words, as a re-encoded PNG.
    assert_eq!(picture.channel, CHANNEL);
    assert_eq!(picture.username, "Yui");
    assert!(picture.webhook_id.is_some(), "an alter speaks through the webhook");
    assert_eq!(text.webhook_id, picture.webhook_id);
    assert!(picture.id > text.id, "the picture follows the words");
    assert_eq!(picture.files.len(), 1);
    assert_eq!(picture.files[0].filename, "image.png");
    assert_eq!(png_size(&picture.files[0].bytes), (64, 48));
    // The image API was asked once, in its own terms, with the endpoint's key.
    let asked = studio.image_requests();
    assert_eq!(asked.len(), 1);
    let body = asked[0].json.as_ref().unwrap();
    assert_eq!(body["model"], "gpt-image-1");
    assert_eq!(body["prompt"], "a red fox in snow");
    assert_eq!(body["size"], "1536x1024");
    assert!(asked[0].has_key("prompt") && !asked[0].has_key("response_format"));
    assert_eq!(asked[0].header("authorization"), Some("Bearer sk-studio"));
    // Counted: Alice's one picture a day is spent.
    let today = Utc::now().date_naive();
    let verdict =
        quotas::check(&c.s.store, scope, QuotaKind::Image, snowflake(ALICE), today).await.unwrap();
    assert!(matches!(verdict, QuotaVerdict::UserExhausted { .. }), "{verdict:?}");
    // And audited with the prompt and who drew it.
    let (log, verified) = tomori_store::audit::tenant_log(&c.s.store, scope, 50).await.unwrap();
    let row = log.iter().find(|e| e.action == "image.generate").expect("an audit row");
    assert_eq!(row.target, "generation:image");
    assert!(row.actor.starts_with("model:"), "{}", row.actor);
    assert!(verified.findings.is_empty(), "{verified:?}");

    // A spent quota refuses the next call before any provider is asked, and it is not offered.
    c.llm.push_turn(Turn::new().tool_call("call_2", "generate_image", json!({"prompt": "a cat"})));
    c.llm.push_turn(Turn::new().text("My brushes need a rest until tomorrow."));
    c.say(ALICE, "alice", "Yui, now a cat please").await;
    c.s.fake.wait_for_message(|m| m.content.contains("brushes need a rest"), WAIT).await;
    assert!(!offered(&c, 2), "a spent quota offers no generate_image");
    let results = String::from_utf8_lossy(&c.llm.requests()[3].body).into_owned();
    assert!(results.contains("quota"), "{results}");
    assert_eq!(studio.image_requests().len(), 1, "no provider call");
    assert_eq!(c.s.fake.messages().iter().filter(|m| !m.files.is_empty()).count(), 1);

    // review_capabilities tells the persona why: the model is there, the quota is spent.
    c.llm.push_turn(Turn::new().tool_call("call_3", "review_capabilities", json!({})));
    c.llm.push_turn(Turn::new().text("I checked my paints."));
    c.say(ALICE, "alice", "Yui, can you paint today?").await;
    c.s.fake.wait_for_message(|m| m.content.contains("checked my paints"), WAIT).await;
    let review = String::from_utf8_lossy(&c.llm.requests()[5].body).into_owned();
    assert!(review.contains("custom:studio/gpt-image-1"), "{review}");
    assert!(review.contains("used up until"), "{review}");
}

#[tokio::test]
async fn a_flag_turned_off_or_a_refusal_posts_nothing() {
    let (c, studio, scope) = drawing().await;
    // The provider's safety system refuses: the persona is told why, in the tool's result, and
    // nothing is posted or counted.
    let prompt = format!("something {REFUSED_WORD}");
    c.llm.push_turn(Turn::new().tool_call("call_1", "generate_image", json!({"prompt": prompt})));
    c.llm.push_turn(Turn::new().text("I won't paint that one."));
    c.say(ALICE, "alice", "Yui, paint something bad").await;
    c.s.fake.wait_for_message(|m| m.content.contains("won't paint"), WAIT).await;
    let results = c.tool_results();
    assert!(results.contains("provider_refused"), "{results}");
    assert!(results.contains("safety system"), "{results}");
    assert_eq!(studio.image_requests().len(), 1);
    let today = Utc::now().date_naive();
    let verdict =
        quotas::check(&c.s.store, scope, QuotaKind::Image, snowflake(ALICE), today).await.unwrap();
    assert_eq!(verdict, QuotaVerdict::Allowed, "a refusal is not counted");

    // image_gen off: not offered, and a call made anyway is refused before any provider call.
    settings::set_feature(&c.s.store, scope, Actor::Operator, Feature::ImageGen, false)
        .await
        .unwrap();
    c.llm.push_turn(Turn::new().tool_call("call_2", "generate_image", json!({"prompt": "a fox"})));
    c.llm.push_turn(Turn::new().text("Pictures are off here."));
    c.say(ALICE, "alice", "Yui, paint a fox").await;
    c.s.fake.wait_for_message(|m| m.content.contains("Pictures are off"), WAIT).await;
    assert!(!offered(&c, 2));
    let results = String::from_utf8_lossy(&c.llm.requests()[3].body).into_owned();
    assert!(results.contains("image_gen feature is off"), "{results}");
    assert_eq!(studio.image_requests().len(), 1, "no provider call");
    assert!(c.s.fake.messages().iter().all(|m| m.files.is_empty()));
}

#[tokio::test]
async fn an_image_model_with_a_comfyui_workflow_runs_it_on_the_comfyui_server() {
    let (c, studio, scope) = drawing().await;
    let comfy = FakeComfy::start().await;
    let store = &c.s.store;
    let new = NewEndpoint {
        label: "comfy".to_owned(),
        base_url: comfy.base_url(),
        model: "sdxl".to_owned(),
        context_length: None,
        has_tools: false,
        has_vision: false,
        api_key: None,
    };
    endpoints::add(store, scope, Actor::Operator, KeyOwner::Server, &new).await.unwrap();
    let workflow = sample_workflow();
    assert!(
        endpoints::set_workflow(store, scope, Actor::Operator, "comfy", Some(&workflow))
            .await
            .unwrap()
    );
    let model = ImageModel { provider: "custom:comfy".to_owned(), model: "sdxl".to_owned() };
    models::set_image(store, scope, Actor::Operator, Some(&model)).await.unwrap();

    c.llm.push_turn(Turn::new().tool_call(
        "call_1",
        "generate_image",
        json!({"prompt": "a \"quoted\" lighthouse at dusk", "shape": "portrait"}),
    ));
    c.llm.push_turn(Turn::new().text("The lighthouse, as you asked."));
    c.say(ALICE, "alice", "Yui, paint a lighthouse").await;
    let picture = c.s.fake.wait_for_message(|m| !m.files.is_empty(), WAIT).await;
    assert_eq!(picture.username, "Yui");
    let (width, height) = png_size(&picture.files[0].bytes);
    assert!(width < height, "a portrait: {width}x{height}");
    // The workflow ran with the prompt as text in its node, the seed and size as numbers.
    let submitted = comfy.submitted();
    assert_eq!(submitted.len(), 1);
    let prompt = &submitted[0];
    assert_eq!(prompt["6"]["inputs"]["text"], "a \"quoted\" lighthouse at dusk, best quality");
    assert!(prompt["3"]["inputs"]["seed"].is_u64());
    assert_eq!(prompt["5"]["inputs"]["width"], 832);
    assert_eq!(prompt["5"]["inputs"]["height"], 1216);
    assert!(studio.image_requests().is_empty(), "the image API was not asked");
}
