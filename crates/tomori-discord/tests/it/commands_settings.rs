//! Slash commands through the fake Discord, continued: privacy and `/bot respond`, deferring,
//! `/config` and `/server` settings with their audit rows and refusals, channel personas, and
//! the image model and short-term notes.

use std::time::Duration;

use tomori_core::privacy::PrivacyLevel;
use tomori_store::audit::Actor;
use tomori_store::quotas::{self, QuotaKind};
use tomori_store::{Scope, settings, users};
use tomori_testkit::audit_actions;
use tomori_testkit::fake_discord::{FakeInteraction, SlashCommand};

use crate::commands::{
    BOB, MANAGE_GUILD, OTHER_CHANNEL, VIEW_AND_SEND, alice, bob, slash, world, world_with,
};
use crate::{ALICE, CHANNEL, DM_CHANNEL, GUILD, WAIT, snowflake};

#[tokio::test]
async fn privacy_is_the_callers_own_and_level_two_stops_bot_respond() {
    let w = world().await;
    let answer =
        w.answer(SlashCommand::new(DM_CHANNEL, alice(), "personal privacy").arg("level", 2)).await;
    assert!(answer.starts_with("Your privacy level is now 2"), "{answer}");
    let alice_scope = Scope::user(w.store.resolve_user(snowflake(ALICE)).await.unwrap());
    assert_eq!(users::get(&w.store, alice_scope).await.unwrap().privacy, PrivacyLevel::Full);
    let bob_scope = Scope::user(w.store.resolve_user(snowflake(BOB)).await.unwrap());
    assert_eq!(users::get(&w.store, bob_scope).await.unwrap().privacy, PrivacyLevel::Minimal);
    assert_eq!(audit_actions(&w.db).await.last().map(String::as_str), Some("user.privacy"));

    let respond = w.run(slash(alice(), VIEW_AND_SEND, "bot respond")).await;
    assert!(respond.content.unwrap().contains("privacy level is 2"));
    assert!(w.control.responds.lock().unwrap().is_empty(), "the engine was not asked");
}

#[tokio::test]
async fn bot_respond_defers_then_edits_the_original_answer() {
    let w = world().await;
    let id =
        w.fake.inject_command(slash(alice(), VIEW_AND_SEND, "bot respond").arg("persona", "kaede"));
    let answered = w.fake.wait_for_interaction(id, FakeInteraction::answered, WAIT).await;
    assert!(answered.deferred(), "{answered:?}");
    assert_eq!((answered.callbacks.as_slice(), answered.edits), ([5_u64].as_slice(), 1));
    assert!(answered.ephemeral);
    assert_eq!(answered.content.as_deref(), Some("**Kaede** is answering."));
    let responds = w.control.responds.lock().unwrap().clone();
    let (message, persona) = &responds[0];
    assert_eq!(persona.as_deref(), Some("Kaede"));
    assert_eq!(
        (
            message.guild,
            message.channel,
            message.message,
            message.author.id,
            message.author_is_admin
        ),
        (Some(snowflake(GUILD)), snowflake(CHANNEL), snowflake(id), snowflake(ALICE), false)
    );
    let edit =
        w.fake.wait_for_request(|r| r.is("PATCH", "webhooks/*/*/messages/@original"), WAIT).await;
    assert!(!edit.has_authorization(), "the bot token never goes to webhook routes");
}

#[tokio::test]
async fn a_fast_command_defers_too_when_the_window_is_zero() {
    let w = world_with(Some(Duration::ZERO)).await;
    let listed = w.run(slash(bob(), VIEW_AND_SEND, "persona list")).await;
    assert!(listed.deferred(), "{listed:?}");
    assert_eq!(listed.content.as_deref(), Some("- **Tomori** (main)\n- **Kaede**"));
}

#[tokio::test]
async fn config_sets_each_setting_with_an_audit_row() {
    let w = world().await;
    let admin = |path: &str| slash(alice(), MANAGE_GUILD, path);
    let cases = [
        (
            admin("config system-prompt set").arg("text", "Speak softly."),
            "The system prompt is set.",
        ),
        (admin("config cascade-limit").arg("value", 0), "The cascade limit is now 0."),
        (admin("config match-limit").arg("value", 10), "The match limit is now 10."),
        (
            admin("config message-fetch-limit").arg("value", 200),
            "The message fetch limit is now 200.",
        ),
        (admin("config send-limit").arg("value", 50), "The send limit is now 50."),
        (admin("config humanizer").arg("value", 3), "The humanizer degree is now 3."),
        (admin("config timezone").arg("name", "UTC-3:30"), "The timezone is now `UTC-3:30`."),
        (
            admin("config context-note set").arg("text", "It is raining."),
            "The context note is set.",
        ),
        (
            admin("config thought-log set").channel_arg("channel", OTHER_CHANNEL),
            &format!("Thoughts are logged in <#{OTHER_CHANNEL}>."),
        ),
    ];
    let audited = audit_actions(&w.db).await.len();
    for (command, expected) in cases {
        let what = command.path.join(" ");
        // The timezone answer goes on with the local time; the rest is exact.
        let answer = w.answer(command).await;
        assert!(answer.starts_with(expected.trim_end_matches('.')), "/{what}: {answer}");
    }
    let now = settings::get(&w.store, w.server).await.unwrap();
    assert_eq!(now.system_prompt.as_deref(), Some("Speak softly."));
    assert_eq!(
        (now.cascade_limit, now.match_limit, now.message_fetch_limit, now.send_limit),
        (0, 10, 200, 50)
    );
    assert_eq!(now.humanizer_degree, 3);
    assert_eq!(now.timezone, "UTC-3:30");
    assert_eq!(now.context_note.as_deref(), Some("It is raining."));
    assert_eq!(now.thought_log_channel, Some(snowflake(OTHER_CHANNEL).to_db()));
    assert_eq!(audit_actions(&w.db).await[audited..], ["settings.set"; 9]);

    // Named timezones are stored as given; removing and turning off clear the columns.
    w.answer(admin("config timezone").arg("name", "America/Argentina/Buenos_Aires")).await;
    assert_eq!(
        w.answer(admin("config system-prompt remove")).await,
        "The system prompt is removed."
    );
    assert_eq!(w.answer(admin("config context-note remove")).await, "The context note is removed.");
    assert_eq!(w.answer(admin("config thought-log off")).await, "Thoughts are no longer logged.");
    let now = settings::get(&w.store, w.server).await.unwrap();
    assert_eq!(now.timezone, "America/Argentina/Buenos_Aires");
    assert_eq!((now.system_prompt, now.context_note, now.thought_log_channel), (None, None, None));
    assert_eq!(audit_actions(&w.db).await.len(), audited + 13);

    // Without a channel, the thought log goes to the channel the command was used in.
    w.answer(admin("config thought-log set")).await;
    let now = settings::get(&w.store, w.server).await.unwrap();
    assert_eq!(now.thought_log_channel, Some(snowflake(CHANNEL).to_db()));
}

#[tokio::test]
async fn config_and_server_refuse_out_of_range_input_and_change_nothing() {
    let w = world().await;
    let before = w.snapshot().await;
    let admin = |path: &str| slash(alice(), MANAGE_GUILD, path);
    let cases = [
        (admin("config cascade-limit").arg("value", 11), "from 0 to 10"),
        (admin("config match-limit").arg("value", 0), "from 1 to 10"),
        (admin("config message-fetch-limit").arg("value", 201), "from 1 to 200"),
        (admin("config send-limit").arg("value", -1), "from 0 to 50"),
        (admin("config humanizer").arg("value", 4), "from 0 to 3"),
        (admin("config timezone").arg("name", "Mars/Olympus Mons"), "Use UTC"),
        (admin("config timezone").arg("name", "UTC+15"), "Use UTC"),
        (admin("config timezone").arg("name", "'; DROP TABLE x; --"), "Use UTC"),
        (admin("config system-prompt set").arg("text", "x".repeat(8_001)), "system prompt"),
        (admin("config system-prompt set").arg("text", "   "), "empty"),
        (admin("config context-note set").arg("text", "x".repeat(2_001)), "context note"),
        (admin("server cooldown").arg("kind", "strict").arg("seconds", 86_401), "from 0 to 86400"),
        (admin("server cooldown").arg("kind", "forever"), "no cooldown called"),
        (admin("server auto-trigger-range").arg("min", 5).arg("max", 2), "minimum is above"),
        (admin("server auto-trigger-range").arg("min", 0).arg("max", 4), "0–0"),
        (admin("server auto-trigger-range").arg("min", 1).arg("max", 1_001), "at most 1000"),
        (admin("server auto-trigger-range").arg("min", -1).arg("max", 3), "at most 1000"),
        (admin("server always-reply").arg("state", "maybe"), "Say on or off"),
        (admin("server feature").arg("flag", "teleport").arg("state", "on"), "no feature"),
        (admin("server trigger-words add").arg("word", "x".repeat(65)), "Invalid trigger word"),
        (admin("server trigger-words remove").arg("word", "absent"), "No such trigger word."),
        (admin("server quota").arg("kind", "text").arg("per-user-daily", 101), "from 0 to 100"),
        (admin("server quota").arg("kind", "text").arg("server-pool", 100_000), "from 0 to 99999"),
        (admin("server quota").arg("kind", "text").arg("reset-days", 0), "from 1 to 365"),
        (admin("server quota").arg("kind", "video").arg("per-user-daily", 101), "from 0 to 100"),
        (admin("server quota").arg("kind", "audio"), "no quota called"),
    ];
    for (command, expected) in cases {
        let what = command.path.join(" ");
        let answer = w.answer(command).await;
        assert!(answer.contains(expected), "/{what}: {answer}");
        assert!(!answer.contains("incident") && !answer.contains("database"), "/{what}: {answer}");
    }
    assert_eq!(w.snapshot().await, before);
}

#[tokio::test]
async fn server_settings_commands_store_values_with_audit_rows() {
    let w = world().await;
    let admin = |path: &str| slash(alice(), MANAGE_GUILD, path);
    let audited = audit_actions(&w.db).await.len();

    let answer =
        w.answer(admin("server cooldown").arg("kind", "per_channel").arg("seconds", 30)).await;
    assert_eq!(answer, "The cooldown is now `per_channel`, 30 seconds.");
    let answer = w.answer(admin("server cooldown").arg("kind", "strict")).await;
    assert_eq!(answer, "The cooldown is now `strict`, 30 seconds.");
    let always = w.answer(admin("server always-reply").arg("state", "on")).await;
    assert!(always.starts_with("Always-reply is on: Tomori answers every message"), "{always}");
    let deliberate = w.answer(admin("server deliberate-mode").arg("state", "on")).await;
    assert!(deliberate.starts_with("Deliberate mode is on"), "{deliberate}");
    let range = w.answer(admin("server auto-trigger-range").arg("min", 2).arg("max", 1_000)).await;
    assert!(range.contains("after 2 to 1000 messages"), "{range}");
    assert_eq!(
        w.answer(admin("server member-teaching").arg("state", "on")).await,
        "Member teaching is now on."
    );
    let byok = w.answer(admin("server byok-required").arg("state", "on")).await;
    assert!(byok.starts_with("Members now bring their own key"), "{byok}");
    let tools = w.answer(admin("server deliberate-tools").arg("state", "on")).await;
    assert!(tools.starts_with("Deliberate tool mode is on"), "{tools}");
    let now = settings::get(&w.store, w.server).await.unwrap();
    assert_eq!(now.cooldown_kind, tomori_core::settings::CooldownKind::Strict);
    assert_eq!(now.cooldown_seconds, 30);
    assert!(now.always_reply && now.deliberate_trigger && now.member_teaching);
    assert!(now.byok_required && now.deliberate_tools);
    assert_eq!((now.auto_trigger_min, now.auto_trigger_max), (2, 1_000));
    assert_eq!(audit_actions(&w.db).await[audited..], ["settings.set"; 8]);
    let off = w.answer(admin("server auto-trigger-range").arg("min", 0).arg("max", 0)).await;
    assert_eq!(off, "Auto-trigger channels no longer join in unaddressed.");
    assert!(settings::get(&w.store, w.server).await.unwrap().auto_trigger().is_off());

    // Trigger words: lower-cased, de-duplicated, listed for any member, limited.
    let added = w.answer(admin("server trigger-words add").arg("word", "  Tomo ")).await;
    assert_eq!(added, "`tomo` is now a trigger word.");
    let again = w.answer(admin("server trigger-words add").arg("word", "TOMO")).await;
    assert_eq!(again, "`tomo` was already a trigger word.");
    w.answer(admin("server trigger-words add").arg("word", "hey")).await;
    let listed = w.answer(slash(bob(), VIEW_AND_SEND, "server trigger-words list")).await;
    assert_eq!(listed, "- `tomo`\n- `hey`");
    // Adds in flight together lose none of each other's words (the row is locked).
    let ids: Vec<u64> = ["a1", "a2", "a3", "a4"]
        .into_iter()
        .map(|word| w.fake.inject_command(admin("server trigger-words add").arg("word", word)))
        .collect();
    for id in ids {
        w.fake.wait_for_interaction(id, FakeInteraction::answered, WAIT).await;
    }
    let words = settings::get(&w.store, w.server).await.unwrap().trigger_words;
    assert_eq!(words.len(), 6, "{words:?}");
    for word in ["a1", "a2", "a3", "a4"] {
        w.answer(admin("server trigger-words remove").arg("word", word)).await;
    }
    let removed = w.answer(admin("server trigger-words remove").arg("word", "Hey")).await;
    assert_eq!(removed, "`hey` is no longer a trigger word.");
    let pasted = admin("server trigger-words add").arg("word", "\"Quetz\", `Tomo`, quetz");
    assert_eq!(
        w.answer(pasted).await,
        "`quetz` is now a trigger word.\n`tomo` was already a trigger word."
    );
    w.answer(admin("server trigger-words remove").arg("word", "'quetz'")).await;
    assert_eq!(settings::get(&w.store, w.server).await.unwrap().trigger_words, ["tomo"]);
    let limit = w.store.limits().trigger_words;
    for i in 1..limit {
        w.answer(admin("server trigger-words add").arg("word", format!("w{i}"))).await;
    }
    let full = w.answer(admin("server trigger-words add").arg("word", "onemore")).await;
    assert_eq!(full, format!("Limit reached: at most {limit} trigger words."));
    let words = settings::get(&w.store, w.server).await.unwrap().trigger_words;
    assert_eq!(words.len(), usize::try_from(limit).unwrap());

    // Quotas: only the options given change; each change is audited.
    let audited = audit_actions(&w.db).await.len();
    let answer = w
        .answer(
            admin("server quota").arg("kind", "text").arg("per-user-daily", 3).arg("enabled", "on"),
        )
        .await;
    assert!(answer.starts_with("The text quota is on: 3 per member per day"), "{answer}");
    w.answer(
        admin("server quota").arg("kind", "text").arg("server-pool", 500).arg("reset-days", 30),
    )
    .await;
    let limits = quotas::limits(&w.store, w.server, QuotaKind::Text).await.unwrap();
    assert!(limits.enabled);
    assert_eq!((limits.per_user_daily, limits.server_pool, limits.reset_period_days), (3, 500, 30));
    assert!(!quotas::limits(&w.store, w.server, QuotaKind::Image).await.unwrap().enabled);
    assert_eq!(audit_actions(&w.db).await[audited..], ["quota.limits"; 2]);
}

#[tokio::test]
async fn a_channel_gets_a_persona_of_its_own_from_managers_only() {
    use tomori_store::channel_personas;
    let w = world().await;
    let set = |user, permissions, channel: u64, persona: &str| {
        slash(user, permissions, "server channel-persona set")
            .channel_arg("channel", channel)
            .arg("persona", persona)
    };
    let refused = w.answer(set(bob(), VIEW_AND_SEND, OTHER_CHANNEL, "Kaede")).await;
    assert!(refused.contains("Manage Server"), "{refused}");
    let unknown = w.answer(set(alice(), MANAGE_GUILD, OTHER_CHANNEL, "Nobody")).await;
    assert!(unknown.starts_with("This server has no persona called Nobody"), "{unknown}");
    let blank = w.answer(set(alice(), MANAGE_GUILD, OTHER_CHANNEL, "  ")).await;
    assert!(blank.starts_with("The persona name is empty"), "{blank}");
    let no_channel = w
        .answer(slash(alice(), MANAGE_GUILD, "server channel-persona set").arg("persona", "Kaede"))
        .await;
    assert!(no_channel.contains("`channel` is required"), "{no_channel}");
    let nothing = w
        .answer(
            slash(alice(), MANAGE_GUILD, "server channel-persona clear")
                .channel_arg("channel", OTHER_CHANNEL),
        )
        .await;
    assert_eq!(nothing, "No such persona choice for that channel.");
    assert!(channel_personas::list(&w.store, w.server).await.unwrap().is_empty());
    assert!(!audit_actions(&w.db).await.iter().any(|a| a.starts_with("channel_persona")));

    let done = w.answer(set(alice(), MANAGE_GUILD, OTHER_CHANNEL, "kaede")).await;
    assert_eq!(
        done,
        format!(
            "Kaede now answers in <#{OTHER_CHANNEL}> when Tomori is addressed there without a \
             persona's name."
        )
    );
    let listed = w.answer(slash(bob(), VIEW_AND_SEND, "server channel-persona list")).await;
    assert_eq!(listed, format!("<#{OTHER_CHANNEL}>: Kaede"));
    let cleared = w
        .answer(
            slash(alice(), MANAGE_GUILD, "server channel-persona clear")
                .channel_arg("channel", OTHER_CHANNEL),
        )
        .await;
    assert!(cleared.starts_with("The main persona speaks in"), "{cleared}");
    let listed = w.answer(slash(bob(), VIEW_AND_SEND, "server channel-persona list")).await;
    assert_eq!(listed, "No channel has a persona of its own.");
    let actions = audit_actions(&w.db).await;
    for action in ["channel_persona.set", "channel_persona.clear"] {
        assert!(actions.contains(&action.to_owned()), "{action} in {actions:?}");
    }
}

#[tokio::test]
async fn the_image_model_and_short_term_notes_are_set_shown_and_cleared_by_command() {
    use tomori_core::id::LineageId;
    use tomori_store::short_term::{self, NotePlace};
    let w = world().await;
    let admin = |path: &str| slash(alice(), MANAGE_GUILD, path);
    // /model image: chosen, shown, refused for a provider without images, cleared.
    let set = admin("model image set").arg("provider", "openai").arg("model", "gpt-image-1");
    assert!(w.answer(set).await.contains("Pictures are drawn by `openai/gpt-image-1`"));
    assert!(
        w.answer(admin("model show")).await.contains("Pictures are drawn by `openai/gpt-image-1`.")
    );
    let refused = admin("model image set").arg("provider", "anthropic").arg("model", "claude");
    assert!(w.answer(refused).await.contains("makes no images"));
    assert!(w.answer(admin("model image clear")).await.contains("no longer draws pictures"));
    assert!(w.answer(admin("model show")).await.contains("No image model"));
    // /model video: only a provider with a video API (Gemini's Veo, OpenRouter's jobs) is taken.
    let refused = admin("model video set").arg("provider", "openai").arg("model", "sora-2");
    assert!(w.answer(refused).await.contains("no video API"));
    let set = admin("model video set").arg("provider", "openrouter").arg("model", "google/veo-3.1");
    assert!(w.answer(set).await.contains("Videos are made by `openrouter/google/veo-3.1`"));
    let set =
        admin("model video set").arg("provider", "google").arg("model", "veo-3.0-generate-001");
    assert!(w.answer(set).await.contains("Videos are made by `google/veo-3.0-generate-001`"));
    assert!(w.answer(admin("model show")).await.contains("Videos are made by"));
    assert!(w.answer(admin("model video clear")).await.contains("no longer makes videos"));
    assert!(w.answer(admin("model show")).await.contains("No video model"));

    // Short-term notes: one about the channel, one about Bob.
    let place =
        NotePlace { lineage: LineageId::from_db(1), channel: snowflake(CHANNEL), private: false };
    for (member, note) in [(None, "A picnic is planned."), (Some(snowflake(BOB)), "Bob is moving.")]
    {
        short_term::write(&w.store, w.server, Actor::Operator, place, member, note).await.unwrap();
    }
    let shown = w.answer(admin("server short-term show")).await;
    assert!(shown.contains("2 short-term note(s)") && shown.contains("Bob is moving."), "{shown}");
    // Bob sees only the note about him, and clears it; a member is refused the server's.
    let mine = w.answer(slash(bob(), VIEW_AND_SEND, "personal short-term show")).await;
    assert!(mine.contains("Bob is moving.") && !mine.contains("picnic"), "{mine}");
    let refused = w.answer(slash(bob(), VIEW_AND_SEND, "server short-term clear")).await;
    assert!(!refused.contains("Forgot"), "{refused}");
    let cleared = w.answer(slash(bob(), VIEW_AND_SEND, "personal short-term clear")).await;
    assert_eq!(cleared, "Forgot 1 short-term note(s).");
    assert_eq!(short_term::list(&w.store, w.server, None).await.unwrap().len(), 1);
    assert_eq!(w.answer(admin("server short-term clear")).await, "Forgot 1 short-term note(s).");
    assert!(w.answer(admin("server short-term show")).await.contains("no short-term notes"));
}
