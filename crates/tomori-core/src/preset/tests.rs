//! Table tests of preset reading and layout. The preset is built here, shaped like
//! SillyTavern's default chat-completion preset.

use serde_json::{Value, json};

use super::*;

fn default_like() -> Value {
    json!({
        "temperature": 1, "frequency_penalty": 0, "presence_penalty": 0.5, "top_p": 1, "top_k": 0,
        "min_p": 0.05, "repetition_penalty": 1, "openai_max_context": 4095, "openai_max_tokens": 300,
        "seed": -1, "chat_completion_source": "openai",
        "wi_format": "[Lore: {0}]",
        "scenario_format": "[Scenario: {{scenario}}]",
        "personality_format": "[{{char}}'s personality: {{personality}}]",
        "prompts": [
            { "name": "Main Prompt", "system_prompt": true, "role": "system", "content": "Write {{char}}'s next reply.", "identifier": "main" },
            { "name": "Auxiliary Prompt", "system_prompt": true, "role": "system", "content": "", "identifier": "nsfw" },
            { "identifier": "dialogueExamples", "name": "Chat Examples", "system_prompt": true, "marker": true },
            { "name": "Post-History Instructions", "system_prompt": true, "role": "system", "content": "Stay in character.", "identifier": "jailbreak" },
            { "identifier": "chatHistory", "name": "Chat History", "system_prompt": true, "marker": true },
            { "identifier": "worldInfoAfter", "name": "World Info (after)", "system_prompt": true, "marker": true },
            { "identifier": "worldInfoBefore", "name": "World Info (before)", "system_prompt": true, "marker": true },
            { "identifier": "enhanceDefinitions", "role": "system", "name": "Enhance Definitions", "content": "Add what you know.", "system_prompt": true, "marker": false },
            { "identifier": "charDescription", "name": "Char Description", "system_prompt": true, "marker": true },
            { "identifier": "charPersonality", "name": "Char Personality", "system_prompt": true, "marker": true },
            { "identifier": "scenario", "name": "Scenario", "system_prompt": true, "marker": true },
            { "identifier": "personaDescription", "name": "Persona Description", "system_prompt": true, "marker": true },
            { "identifier": "reminder", "name": "Reminder", "role": "user", "content": "Be brief.", "injection_position": 1, "injection_depth": 2, "injection_order": 50 },
            { "identifier": "deep", "name": "Deep", "role": "assistant", "content": "(thinking)", "injection_position": 1, "injection_depth": 0 },
        ],
        "prompt_order": [
            { "character_id": 100000, "order": [
                { "identifier": "main", "enabled": true },
                { "identifier": "chatHistory", "enabled": true },
            ] },
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
                { "identifier": "reminder", "enabled": true },
                { "identifier": "deep", "enabled": true },
                { "identifier": "jailbreak", "enabled": true },
                { "identifier": "missing", "enabled": true },
                { "identifier": "main", "enabled": false },
            ] },
        ],
    })
}

fn read(value: &Value) -> Result<Preset, PresetError> {
    Preset::from_json(value.to_string().as_bytes(), &PresetBounds::default())
}

fn sources() -> PromptSources<'static> {
    PromptSources {
        char_description: "Tomori is a librarian.",
        char_personality: "quiet",
        scenario: "",
        persona_description: "alice likes tea.",
        dialogue_examples: "<START>\nalice: hi",
        world_info_before: "The city floats.",
        world_info_after: "",
        main_override: None,
        post_history_override: None,
    }
}

fn text(identifier: &str, role: Role, content: &str) -> Part {
    Part::Text { identifier: identifier.to_owned(), role, content: content.to_owned() }
}

#[test]
fn blocks_follow_the_persona_order_with_its_enabled_flags() {
    let preset = read(&default_like()).expect("valid");
    let order: Vec<(&str, bool)> =
        preset.blocks.iter().map(|b| (b.identifier.as_str(), b.enabled)).collect();
    assert_eq!(
        order,
        [
            ("main", true),
            ("worldInfoBefore", true),
            ("personaDescription", true),
            ("charDescription", true),
            ("charPersonality", true),
            ("scenario", true),
            ("enhanceDefinitions", false),
            ("nsfw", true),
            ("worldInfoAfter", true),
            ("dialogueExamples", true),
            ("chatHistory", true),
            ("reminder", true),
            ("deep", true),
            ("jailbreak", true),
        ]
    );
    assert_eq!(
        preset.samplers,
        Samplers {
            temperature: Some(1.0),
            top_p: Some(1.0),
            top_k: Some(0),
            top_a: None,
            min_p: Some(0.05),
            frequency_penalty: Some(0.0),
            presence_penalty: Some(0.5),
            repetition_penalty: Some(1.0),
            max_tokens: Some(300),
            max_context: Some(4095),
            seed: None,
        }
    );
    assert_eq!(preset.block("enhanceDefinitions"), None);
    assert!(preset.block("main").is_some());
}

#[test]
fn which_order_is_used() {
    let mut only_first = default_like();
    if let Some(orders) = only_first.get_mut("prompt_order").and_then(Value::as_array_mut) {
        orders.truncate(1);
    }
    let mut none = default_like();
    if let Some(root) = none.as_object_mut() {
        root.remove("prompt_order");
    }
    let cases = [
        ("the first order without 100001", only_first, vec!["main", "chatHistory"]),
        ("the prompts list without any order", none, {
            let mut all = vec!["main", "nsfw", "dialogueExamples", "jailbreak", "chatHistory"];
            all.extend([
                "worldInfoAfter",
                "worldInfoBefore",
                "enhanceDefinitions",
                "charDescription",
            ]);
            all.extend(["charPersonality", "scenario", "personaDescription", "reminder", "deep"]);
            all
        }),
    ];
    for (what, value, want) in cases {
        let preset = read(&value).expect("valid");
        let order: Vec<&str> = preset.blocks.iter().map(|b| b.identifier.as_str()).collect();
        assert_eq!(order, want, "{what}");
    }
}

#[test]
fn the_layout_fills_markers_and_leaves_out_disabled_and_empty_blocks() {
    let preset = read(&default_like()).expect("valid");
    let layout = layout(&preset, &sources());
    assert_eq!(
        layout.parts,
        [
            text("main", Role::System, "Write {{char}}'s next reply."),
            text("worldInfoBefore", Role::System, "[Lore: The city floats.]"),
            text("personaDescription", Role::System, "alice likes tea."),
            text("charDescription", Role::System, "Tomori is a librarian."),
            text("charPersonality", Role::System, "[{{char}}'s personality: quiet]"),
            text("dialogueExamples", Role::System, "<START>\nalice: hi"),
            Part::ChatHistory,
            text("jailbreak", Role::System, "Stay in character."),
        ]
    );
    let in_chat: Vec<(&str, u32, i32, Role)> =
        layout.in_chat.iter().map(|c| (c.identifier.as_str(), c.depth, c.order, c.role)).collect();
    assert_eq!(in_chat, [("deep", 0, 100, Role::Assistant), ("reminder", 2, 50, Role::User)]);
}

#[test]
fn a_cards_prompts_replace_main_and_post_history() {
    let preset = read(&default_like()).expect("valid");
    let sources = PromptSources {
        main_override: Some("{{original}} Be playful."),
        post_history_override: Some("Never break character."),
        ..sources()
    };
    let layout = layout(&preset, &sources);
    let texts: Vec<&str> = layout
        .parts
        .iter()
        .filter_map(|part| match part {
            Part::Text { identifier, content, .. }
                if identifier == "main" || identifier == "jailbreak" =>
            {
                Some(content.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["Write {{char}}'s next reply. Be playful.", "Never break character."]);
}

#[test]
fn bad_presets_are_refused_with_the_fields_path() {
    let with = |path: &str, value: Value| {
        let mut preset = default_like();
        if let Some(slot) = preset.pointer_mut(path) {
            *slot = value;
        }
        preset
    };
    let cases = [
        (json!([]), "top level is not an object"),
        (with("/prompts", json!({})), "prompts is not a list"),
        (with("/prompts/2", json!(7)), "prompts[2] is not an object"),
        (with("/prompts/2/identifier", json!("")), "prompts[2].identifier is missing or empty"),
        (with("/prompts/3/identifier", json!("main")), "prompts[3].identifier repeats \"main\""),
        (
            with("/prompts/0/role", json!("robot")),
            "prompts[0].role is not \"system\", \"user\" or \"assistant\"",
        ),
        (with("/prompts/0/content", json!(["a"])), "prompts[0].content is not a string"),
        (
            with("/prompts/0/content", json!("x".repeat(32_001))),
            "prompts[0].content is 32001 characters long",
        ),
        (
            with("/prompts/12/injection_depth", json!(-1)),
            "prompts[12].injection_depth is not a whole number from 0 to 1000",
        ),
        (
            with("/prompts/12/injection_position", json!(2)),
            "prompts[12].injection_position is not a whole number from 0 to 1",
        ),
        (with("/prompts/2/marker", json!("no")), "prompts[2].marker is not true or false"),
        (with("/prompt_order", json!({})), "prompt_order is not a list"),
        (
            with("/prompt_order/1/order/2/enabled", json!("yes")),
            "prompt_order[1].order[2].enabled is not true or false",
        ),
        (
            with("/prompt_order/1/order/2", json!({ "enabled": true })),
            "prompt_order[1].order[2].identifier is missing",
        ),
        (
            with("/prompt_order/1/character_id", json!("me")),
            "prompt_order[1].character_id is not a whole number",
        ),
        (with("/temperature", json!("hot")), "temperature is not a number from 0 to 5"),
        (with("/top_p", json!(1.5)), "top_p is not a number from 0 to 1"),
        (with("/openai_max_tokens", json!(-3)), "openai_max_tokens is not a whole number"),
        (with("/wi_format", json!(1)), "wi_format is not a string"),
    ];
    for (value, part) in cases {
        let message = match read(&value) {
            Ok(_) => panic!("accepted, wanted {part:?}"),
            Err(error) => error.to_string(),
        };
        assert!(message.contains(part), "{message:?} should contain {part:?}");
    }
    let small = PresetBounds { json_bytes: 100, ..PresetBounds::default() };
    let text = default_like().to_string();
    let error = Preset::from_json(text.as_bytes(), &small).expect_err("too large");
    assert!(error.to_string().contains("at most 100 bytes"), "{error}");
    let few = PresetBounds { blocks: 3, ..PresetBounds::default() };
    let error = Preset::from_json(text.as_bytes(), &few).expect_err("too many blocks");
    assert_eq!(error.to_string(), "prompts has 14 blocks; at most 3 are allowed");
    assert!(Preset::from_json(b"{", &PresetBounds::default()).is_err());
}
