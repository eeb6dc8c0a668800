//! SillyTavern chat-completion presets end to end: `/preset import` of a preset shaped like
//! SillyTavern's default, `/preset switch` to it, and the next request to the fake model laid out
//! in the preset's order with its samplers; `/preset toggle` of single blocks, a hostile file
//! refused with nothing changed, and `/preset switch tomori` back to Tomori's own layout.

use serde_json::{Value, json};
use tomori_testkit::fake_discord::{SlashCommand, UserSpec};
use tomori_testkit::fake_llm::Turn;

use crate::first_contact::{Stack, alice, in_dm, stack};
use crate::{CHANNEL, DM_CHANNEL, GUILD};

/// A preset shaped like SillyTavern's "Default" chat-completion preset (its blocks, markers and
/// two orders), with a post-history instruction, a block placed inside the chat and samplers.
fn default_like() -> Value {
    let marker = |id: &str, name: &str| json!({ "identifier": id, "name": name, "system_prompt": true, "marker": true });
    json!({
        "chat_completion_source": "openai",
        "temperature": 0.7, "frequency_penalty": 0, "presence_penalty": 0, "top_p": 1, "top_k": 0,
        "top_a": 0, "min_p": 0.1, "repetition_penalty": 1, "openai_max_context": 4095,
        "openai_max_tokens": 300, "seed": -1,
        "wi_format": "{0}",
        "scenario_format": "[Circumstances and context of the dialogue: {{scenario}}]",
        "personality_format": "[{{char}}'s personality: {{personality}}]",
        "prompts": [
            { "name": "Main Prompt", "system_prompt": true, "role": "system", "identifier": "main",
              "content": "Write {{char}}'s next reply in a fictional chat between {{char}} and {{user}}." },
            { "name": "Auxiliary Prompt", "system_prompt": true, "role": "system", "content": "", "identifier": "nsfw" },
            marker("dialogueExamples", "Chat Examples"),
            { "name": "Post-History Instructions", "system_prompt": true, "role": "system",
              "content": "Stay in character as {{char}}.", "identifier": "jailbreak" },
            marker("chatHistory", "Chat History"),
            marker("worldInfoAfter", "World Info (after)"),
            marker("worldInfoBefore", "World Info (before)"),
            { "identifier": "enhanceDefinitions", "role": "system", "name": "Enhance Definitions",
              "content": "Keep the Character Sheet's definitions absolute.", "system_prompt": true, "marker": false },
            marker("charDescription", "Char Description"),
            marker("charPersonality", "Char Personality"),
            marker("scenario", "Scenario"),
            marker("personaDescription", "Persona Description"),
            { "identifier": "nudge", "name": "Nudge", "role": "user", "content": "(Reply in one short line.)",
              "injection_position": 1, "injection_depth": 1 },
        ],
        "prompt_order": [
            { "character_id": 100000, "order": [{ "identifier": "main", "enabled": true }] },
            { "character_id": 100001, "order": [
                { "identifier": "main", "enabled": true },
                { "identifier": "worldInfoBefore", "enabled": true },
                { "identifier": "personaDescription", "enabled": true },
                { "identifier": "charDescription", "enabled": true },
                { "identifier": "charPersonality", "enabled": true },
                { "identifier": "scenario", "enabled": true },
                { "identifier": "enhanceDefinitions", "enabled": false },
                { "identifier": "nsfw", "enabled": true },
                { "identifier": "worldInfoAfter", "enabled": true },
                { "identifier": "dialogueExamples", "enabled": true },
                { "identifier": "chatHistory", "enabled": true },
                { "identifier": "nudge", "enabled": true },
                { "identifier": "jailbreak", "enabled": true },
            ] },
        ],
    })
}

impl Stack {
    /// `/preset import` of `bytes` as `filename` in alice's DM.
    async fn import_preset(&self, filename: &str, bytes: Vec<u8>) -> String {
        let file = self.fake.host_attachment(filename, "application/json", bytes);
        self.answer(in_dm("preset import").attachment_arg("file", &file)).await
    }

    /// Alice's DM `text` answered with `reply`; the request the model got, as JSON.
    async fn asked(&self, text: &str, reply: &str) -> Value {
        let before = self.instance.requests().len();
        self.instance.push_turn(Turn::new().text(reply));
        assert_eq!(self.dm(text).await, reply);
        self.idle(DM_CHANNEL).await;
        self.instance.requests()[before].json.clone().unwrap()
    }
}

fn system(request: &Value) -> String {
    request["messages"][0]["content"].as_str().unwrap().to_owned()
}

fn last_user(request: &Value) -> String {
    let messages = request["messages"].as_array().unwrap();
    messages.last().unwrap()["content"].as_str().unwrap().to_owned()
}

/// Where `needle` starts in `haystack`, or a failure showing both.
fn at(haystack: &str, needle: &str) -> usize {
    haystack.find(needle).unwrap_or_else(|| panic!("{needle:?} missing from {haystack}"))
}

#[tokio::test]
async fn an_imported_preset_lays_out_the_next_request_and_its_blocks_toggle() {
    let s = stack().await;
    let created =
        s.answer(in_dm("persona create").arg("name", "Mika").arg("prompt", "Mika is a cat.")).await;
    assert!(created.contains("Mika"), "{created}");
    s.answer(in_dm("persona attribute add").arg("name", "Mika").arg("text", "naps a lot")).await;

    // Tomori's own layout first.
    let own = s.asked("hi", "Meow.").await;
    assert!(system(&own).starts_with("You are Mika, taking part in a group chat."));

    let imported = s.import_preset("Default.json", default_like().to_string().into_bytes()).await;
    assert!(imported.contains("Preset **Default** imported: 13 blocks in its order"), "{imported}");
    let listed = s.answer(in_dm("preset list")).await;
    assert!(listed.contains("**Default** · 13 blocks") && listed.contains("None is active"));
    let switched = s.answer(in_dm("preset switch").arg("name", "Default")).await;
    assert!(switched.contains("laid out by preset **Default**"), "{switched}");

    let laid = s.asked("how are you?", "Purr.").await;
    let text = system(&laid);
    // In the preset's order: the main prompt with its macros filled, the description, the
    // personality in the preset's format; then Tomori's place and rules.
    let main = at(&text, "Write Mika's next reply in a fictional chat between Mika and alice.");
    let described = at(&text, "## Who you are\nMika is a cat.");
    let personality = at(&text, "[Mika's personality: ## About you\n- naps a lot]");
    let place = at(&text, "## Where you are");
    assert!(main < described && described < personality && personality < place, "{text}");
    assert!(!text.contains("You are Mika, taking part"), "{text}");
    assert!(!text.contains("Character Sheet"), "a block the order turns off: {text}");
    // The in-chat block sits one message from the end; the post-history instruction closes it
    // (consecutive user messages are joined, as strict wires need).
    let messages: Vec<(&str, &str)> = laid["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        messages[1..],
        [
            ("user", "[ref_1] alice: hi"),
            ("assistant", "Meow."),
            (
                "user",
                "(Reply in one short line.)\n[ref_3] alice: how are you?\n[system] Stay in \
                 character as Mika."
            ),
        ],
        "{messages:?}"
    );
    // Its samplers, where the server set none.
    assert!((laid["temperature"].as_f64().unwrap() - 0.7).abs() < 1e-6, "{laid}");
    assert!((laid["min_p"].as_f64().unwrap() - 0.1).abs() < 1e-6, "{laid}");
    assert_eq!(laid["max_tokens"], 300);

    // Toggling blocks changes the next request.
    let on =
        s.answer(in_dm("preset toggle").arg("block", "Enhance Definitions").arg("on", true)).await;
    assert!(on.contains("`enhanceDefinitions` (Enhance Definitions)") && on.ends_with("is on."));
    let off = s.answer(in_dm("preset toggle").arg("block", "1").arg("on", false)).await;
    assert!(off.contains("`main`") && off.ends_with("is off."), "{off}");
    let missing = s.answer(in_dm("preset toggle").arg("block", "nope").arg("on", true)).await;
    assert!(missing.contains("has no block `nope`"), "{missing}");
    let shown = s.answer(in_dm("preset show")).await;
    assert!(shown.contains("1. `main` (Main Prompt) · system · 78 characters · off"), "{shown}");
    let toggled = system(&s.asked("still there?", "Yes.").await);
    assert!(!toggled.contains("Write Mika's next reply"), "{toggled}");
    assert!(toggled.contains("Keep the Character Sheet's definitions absolute."), "{toggled}");

    // Hostile files are refused with the reason, and nothing changes.
    let junk = s.import_preset("junk.json", b"{ not json".to_vec()).await;
    assert!(junk.contains("cannot be imported") && junk.contains("not valid JSON"), "{junk}");
    let many: Vec<Value> =
        (0..300).map(|n| json!({ "identifier": format!("b{n}"), "content": "x" })).collect();
    let huge =
        s.import_preset("huge.json", json!({ "prompts": many }).to_string().into_bytes()).await;
    assert!(huge.contains("prompts has 300 blocks; at most 200"), "{huge}");
    let bad_role = json!({ "prompts": [{ "identifier": "main", "role": "god" }] });
    let refused = s.import_preset("role.json", bad_role.to_string().into_bytes()).await;
    assert!(refused.contains("prompts[0].role"), "{refused}");
    assert_eq!(s.answer(in_dm("preset list")).await.matches("\n- ").count(), 1);

    // Back to Tomori's own layout; removing the preset leaves it there.
    s.answer(in_dm("preset switch").arg("name", "tomori")).await;
    let back = s.asked("bye", "Nya.").await;
    assert!(system(&back).starts_with("You are Mika, taking part in a group chat."));
    assert!(!last_user(&back).contains("[system]"));
    let removed = s.answer(in_dm("preset remove").arg("name", "Default")).await;
    assert_eq!(removed, "Preset **Default** is removed.");
}

#[tokio::test]
async fn presets_are_for_managers_in_a_server() {
    let s = stack().await;
    let member = SlashCommand::new(CHANNEL, UserSpec::new(crate::ALICE, "alice"), "preset list")
        .in_guild(GUILD, 0x400 | 0x800);
    let refused = s.answer(member).await;
    assert!(refused.contains("Manage Server"), "{refused}");
    let _ = alice();
}
