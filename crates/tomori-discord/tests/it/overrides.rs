//! Per-channel and per-persona control end to end: `/server channel-prompt` on a category
//! replaces the server's system prompt in a channel inside it, `/server channel-model` makes a
//! channel's turns go to its own model, `/persona model` gives a persona its own model where no
//! channel has one, and `/server overrides` lists them; members are refused, bad input changes
//! nothing, and every change is audited.

use serde_json::Value;
use tomori_store::audit::Actor;
use tomori_store::credentials::KeyOwner;
use tomori_store::endpoints::{self, NewEndpoint};
use tomori_store::settings::{self, Setting};
use tomori_testkit::audit_actions;
use tomori_testkit::fake_discord::{MessageCreate, SlashCommand, UserSpec};
use tomori_testkit::fake_llm::{FakeLlm, Turn, WireFormat};

use crate::first_contact::{Stack, alice, stack_with};
use crate::{CHANNEL, GUILD, WAIT};

/// A category with a channel in it, beside the stack's own channel.
const CATEGORY: u64 = 800_000_000_000_000_020;
const LOUNGE: u64 = 800_000_000_000_000_021;
const MANAGE_GUILD: u64 = 0x400 | 0x800 | 0x20;
const VIEW_AND_SEND: u64 = 0x400 | 0x800;

fn admin(path: &str) -> SlashCommand {
    SlashCommand::new(CHANNEL, alice(), path).in_guild(GUILD, MANAGE_GUILD)
}

impl Stack {
    /// Alice addresses the bot in `channel`; `llm` answers with `reply`; the request it got.
    async fn asked_in(&self, channel: u64, llm: &FakeLlm, reply: &str) -> Value {
        let before = llm.requests().len();
        llm.push_turn(Turn::new().text(reply));
        let bot = self.fake.bot_user_id();
        self.fake.inject_message(
            MessageCreate::new(channel, alice(), &format!("<@{bot}> hi"))
                .in_guild(GUILD)
                .mention(UserSpec::new(bot, "Tomori")),
        );
        self.fake.wait_for_message(|m| m.channel == channel && m.content == reply, WAIT).await;
        self.idle(channel).await;
        llm.requests()[before].json.clone().unwrap()
    }
}

/// The request's system text.
fn system(body: &Value) -> String {
    body["messages"][0]["content"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn channel_prompts_and_models_apply_where_they_were_set() {
    let s = stack_with(|fake| {
        fake.add_category(GUILD, CATEGORY, "role-play");
        fake.add_text_channel(GUILD, LOUNGE);
        fake.set_category(LOUNGE, CATEGORY);
    })
    .await;
    let guild = s.guild().await;
    let setup = s.answer(admin("config setup").arg("provider", "instance")).await;
    assert!(setup.starts_with("**Tomori** is the main persona."), "{setup}");
    settings::set(
        &s.store,
        guild,
        Actor::Operator,
        Setting::SystemPrompt(Some("Server rule.".to_owned())),
    )
    .await
    .unwrap();
    // A second model server, registered twice as the server's endpoints (an endpoint answers
    // with its own model): `chan` for the channel, `mine` for the persona.
    let other = FakeLlm::start(WireFormat::OpenAi).await;
    for (label, model) in [("chan", "channel-model"), ("mine", "persona-model")] {
        let endpoint = NewEndpoint {
            label: label.to_owned(),
            base_url: other.base_url(),
            model: model.to_owned(),
            context_length: None,
            has_tools: true,
            has_vision: false,
            api_key: None,
        };
        endpoints::add(&s.store, guild, Actor::Operator, KeyOwner::Server, &endpoint)
            .await
            .unwrap();
    }
    let audits_before = audit_actions(&s.db).await.len();

    // Members may list, not change; bad input is refused with nothing written.
    let member =
        |path: &str| SlashCommand::new(CHANNEL, alice(), path).in_guild(GUILD, VIEW_AND_SEND);
    let refused = s
        .answer(
            member("server channel-prompt set").channel_arg("channel", LOUNGE).arg("prompt", "x"),
        )
        .await;
    assert!(refused.contains("Manage Server"), "{refused}");
    let blank = s
        .answer(
            admin("server channel-prompt set").channel_arg("channel", LOUNGE).arg("prompt", "   "),
        )
        .await;
    assert!(blank.starts_with("A channel prompt is 1 to 8000 characters"), "{blank}");
    let unknown = s
        .answer(
            admin("server channel-model set")
                .channel_arg("channel", CHANNEL)
                .arg("provider", "custom:nowhere")
                .arg("model", "m"),
        )
        .await;
    assert!(unknown.starts_with("Unknown provider"), "{unknown}");
    let none = s.answer(member("server overrides")).await;
    assert_eq!(none, "No channel or persona has a prompt or model of its own.");
    assert_eq!(audit_actions(&s.db).await.len(), audits_before, "refusals change nothing");

    // The category's prompt, the channel's model and the persona's model.
    let set = s
        .answer(
            admin("server channel-prompt set")
                .channel_arg("channel", CATEGORY)
                .arg("prompt", "Speak like a pirate."),
        )
        .await;
    assert!(set.contains("replaces the server's system prompt"), "{set}");
    let set = s
        .answer(
            admin("server channel-model set")
                .channel_arg("channel", CHANNEL)
                .arg("provider", "custom:chan")
                .arg("model", "channel-model"),
        )
        .await;
    assert!(set.contains("`custom:chan/channel-model`"), "{set}");
    let set = s
        .answer(
            admin("persona model set")
                .arg("name", "Tomori")
                .arg("provider", "custom:mine")
                .arg("model", "persona-model"),
        )
        .await;
    assert!(set.contains("`custom:mine/persona-model`"), "{set}");
    let listed = s.answer(member("server overrides")).await;
    assert!(
        listed.contains(&format!("<#{CATEGORY}>: prompt \"Speak like a pirate.\""))
            && listed.contains(&format!("<#{CHANNEL}>: model `custom:chan/channel-model`"))
            && listed.contains("**Tomori**: model `custom:mine/persona-model`"),
        "{listed}"
    );

    // In the stack's channel: its own model, which beats the persona's; the server's prompt.
    let body = s.asked_in(CHANNEL, &other, "From the channel's model.").await;
    assert_eq!(body["model"], "channel-model");
    assert!(system(&body).contains("Server rule.") && !system(&body).contains("pirate"));
    // In the category's channel: the persona's model, and the category's prompt in place of
    // the server's.
    let body = s.asked_in(LOUNGE, &other, "Arr.").await;
    assert_eq!(body["model"], "persona-model");
    let text = system(&body);
    assert!(text.contains("Speak like a pirate.") && !text.contains("Server rule."), "{text}");

    // Cleared, the server's model (the instance) answers everywhere again.
    for path in ["server channel-model clear", "server channel-prompt clear"] {
        let channel = if path.contains("model") { CHANNEL } else { CATEGORY };
        let cleared = s.answer(admin(path).channel_arg("channel", channel)).await;
        assert!(cleared.contains("again"), "{cleared}");
    }
    let cleared = s.answer(admin("persona model clear").arg("name", "Tomori")).await;
    assert!(cleared.contains("the server's model again"), "{cleared}");
    let again = s.answer(admin("persona model clear").arg("name", "Tomori")).await;
    assert!(again.contains("nothing was changed"), "{again}");
    let before = other.requests().len();
    let body = s.asked_in(LOUNGE, &s.instance, "Back to normal.").await;
    assert!(system(&body).contains("Server rule."));
    assert_eq!(other.requests().len(), before, "the other model was not asked");

    let actions = audit_actions(&s.db).await;
    let counted = |action: &str| actions.iter().filter(|a| *a == action).count();
    assert_eq!(
        [
            counted("channel_prompt.set"),
            counted("channel_model.set"),
            counted("persona_model.set"),
            counted("channel_prompt.clear"),
            counted("channel_model.clear"),
            counted("persona_model.clear"),
        ],
        [1, 1, 1, 1, 1, 1]
    );
}
