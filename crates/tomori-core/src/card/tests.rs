//! Table tests of the card parser and writer. Every fixture is built here: JSON cards as
//! literals, PNGs from a generated image plus hand-made text chunks.

use std::io::Write as _;

use base64::Engine as _;
use serde_json::{Value, json};

use super::dialogue::{Dialogue, keep_macros, parse_examples, render_examples};
use super::png::{self, PngError};
use super::*;

fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.encode(text).into_bytes()
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("writing to a Vec");
    encoder.finish().expect("finishing a Vec")
}

/// A chunk's data: keyword, zero byte, rest.
fn keyed(keyword: &str, rest: &[u8]) -> Vec<u8> {
    let mut data = keyword.as_bytes().to_vec();
    data.push(0);
    data.extend_from_slice(rest);
    data
}

fn text_chunk(keyword: &str, text: &[u8]) -> ([u8; 4], Vec<u8>) {
    (*b"tEXt", keyed(keyword, text))
}

fn ztxt_chunk(keyword: &str, text: &[u8]) -> ([u8; 4], Vec<u8>) {
    let mut rest = vec![0];
    rest.extend(zlib(text));
    (*b"zTXt", keyed(keyword, &rest))
}

fn itxt_chunk(keyword: &str, text: &[u8], compressed: bool) -> ([u8; 4], Vec<u8>) {
    let mut rest = vec![u8::from(compressed), 0];
    rest.extend_from_slice(b"en\0");
    rest.extend_from_slice(b"Character\0");
    if compressed {
        rest.extend(zlib(text));
    } else {
        rest.extend_from_slice(text);
    }
    (*b"iTXt", keyed(keyword, &rest))
}

/// A valid 2×2 PNG with `before` chunks ahead of its IDAT and `after` chunks behind it.
fn png_with(before: &[([u8; 4], Vec<u8>)], after: &[([u8; 4], Vec<u8>)]) -> Vec<u8> {
    let base = png::solid_png(2, [1, 2, 3]);
    let chunks = png::chunks(&base).expect("the generated PNG is valid");
    let mut out = png::SIGNATURE.to_vec();
    for chunk in &chunks {
        if &chunk.kind == b"IDAT" {
            before.iter().for_each(|(kind, data)| png::push_chunk(&mut out, kind, data));
        }
        if &chunk.kind == b"IEND" {
            after.iter().for_each(|(kind, data)| png::push_chunk(&mut out, kind, data));
        }
        png::push_chunk(&mut out, &chunk.kind, chunk.data);
    }
    out
}

fn v2(data: &Value) -> String {
    json!({ "spec": "chara_card_v2", "spec_version": "2.0", "data": data }).to_string()
}

fn v3(data: &Value) -> String {
    json!({ "spec": "chara_card_v3", "spec_version": "3.0", "data": data }).to_string()
}

/// What a parse is expected to give: the card's main facts, or an error message part.
#[derive(Debug, PartialEq, Eq)]
struct Facts {
    name: String,
    spec: SourceSpec,
    prompt: String,
    greeting: String,
    alternates: usize,
    attributes: Vec<String>,
    dialogues: usize,
    lorebook: u32,
    tags: Vec<String>,
}

fn facts(card: &PersonaCard) -> Facts {
    Facts {
        name: card.name.clone(),
        spec: card.source_spec,
        prompt: card.prompt.clone(),
        greeting: card.greeting.clone(),
        alternates: card.alternate_greetings.len(),
        attributes: card.attributes.clone(),
        dialogues: card.sample_dialogues.len(),
        lorebook: card.lorebook_entries,
        tags: card.tags.clone(),
    }
}

#[track_caller]
fn check(input: &[u8], expected: Result<Facts, &str>) {
    let got = parse(input, &Limits::default(), None);
    match (got, expected) {
        (Ok(imported), Ok(want)) => assert_eq!(facts(&imported.card), want),
        (Err(error), Err(part)) => {
            let message = error.to_string();
            assert!(message.contains(part), "{message:?} should contain {part:?}");
            assert!(!message.contains('\n'), "one line: {message:?}");
        }
        (got, want) => panic!("got {got:?}, want {want:?}"),
    }
}

fn seraph(spec: SourceSpec) -> Facts {
    Facts {
        name: "Seraph".to_owned(),
        spec,
        prompt: "{{char}} guards the glade for {{user}}.".to_owned(),
        greeting: "Hello, {{user}}.".to_owned(),
        alternates: 0,
        attributes: Vec::new(),
        dialogues: 0,
        lorebook: 0,
        tags: Vec::new(),
    }
}

fn seraph_data() -> Value {
    json!({
        "name": "Seraph",
        "description": "{{char}} guards the glade for {{user}}.",
        "first_mes": "Hello, <USER>.",
    })
}

#[test]
fn cards_in_every_format_parse_or_say_what_is_wrong() {
    let data = seraph_data();
    let v2_json = v2(&data);
    let v3_json = v3(&data);
    let v1_json = data.to_string();

    check(v1_json.as_bytes(), Ok(seraph(SourceSpec::V1)));
    check(v2_json.as_bytes(), Ok(seraph(SourceSpec::V2)));
    check(v3_json.as_bytes(), Ok(seraph(SourceSpec::V3)));
    check(format!("\u{feff}  {v2_json}").as_bytes(), Ok(seraph(SourceSpec::V2)));
    // V2 without `spec` but with everything under `data`.
    check(json!({ "data": data }).to_string().as_bytes(), Ok(seraph(SourceSpec::V2)));

    // PNGs: the chunk before or after IDAT, compressed or not, base64 or plain JSON.
    let chara = b64(&v2_json);
    check(&png_with(&[text_chunk("chara", &chara)], &[]), Ok(seraph(SourceSpec::V2)));
    check(&png_with(&[], &[text_chunk("Chara", &chara)]), Ok(seraph(SourceSpec::V2)));
    check(&png_with(&[ztxt_chunk("chara", &chara)], &[]), Ok(seraph(SourceSpec::V2)));
    check(&png_with(&[itxt_chunk("chara", &chara, true)], &[]), Ok(seraph(SourceSpec::V2)));
    check(&png_with(&[itxt_chunk("ccv3", &b64(&v3_json), false)], &[]), Ok(seraph(SourceSpec::V3)));
    check(&png_with(&[text_chunk("chara", v2_json.as_bytes())], &[]), Ok(seraph(SourceSpec::V2)));
    let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&v2_json);
    check(&png_with(&[text_chunk("chara", unpadded.as_bytes())], &[]), Ok(seraph(SourceSpec::V2)));
    // ccv3 wins over chara, whichever comes first.
    let other_v2 = v2(&json!({ "name": "Other" }));
    let both = [text_chunk("chara", &b64(&other_v2)), text_chunk("ccv3", &b64(&v3_json))];
    check(&png_with(&both, &[]), Ok(seraph(SourceSpec::V3)));
    // Other text chunks are skipped.
    check(
        &png_with(&[text_chunk("Comment", b"hi"), text_chunk("chara", &chara)], &[]),
        Ok(seraph(SourceSpec::V2)),
    );

    // Refusals.
    check(b"hello", Err("neither a PNG image nor JSON"));
    check(b"", Err("neither a PNG image nor JSON"));
    check(b"{\"name\": ", Err("not valid JSON"));
    check(b"{\"name\": \"\xff\"}", Err("not valid UTF-8"));
    check(json!({ "name": 7 }).to_string().as_bytes(), Err("name is not a string"));
    check(json!({ "name": "" }).to_string().as_bytes(), Err("name is empty"));
    check(v2(&json!({ "name": ["x"] })).as_bytes(), Err("data.name is not a string"));
    check(json!({ "spec": "chara_card_v2" }).to_string().as_bytes(), Err("data is missing"));
    check(
        json!({ "spec": "chara_card_v9", "data": {} }).to_string().as_bytes(),
        Err("unknown card spec"),
    );
    check(v2(&json!({ "name": "A: B" })).as_bytes(), Err("may not contain \":\""));
    check(v2(&json!({ "name": "A", "tags": "x" })).as_bytes(), Err("data.tags is not a list"));
    check(
        v2(&json!({ "name": "A", "alternate_greetings": [1] })).as_bytes(),
        Err("data.alternate_greetings[0] is not a string"),
    );
    check(
        v2(&json!({ "name": "A", "character_book": { "entries": [{ "content": 3 }] } })).as_bytes(),
        Err("data.character_book.entries[0].content is not a string"),
    );
    check(
        v2(&json!({ "name": "A", "description": "x".repeat(8_001) })).as_bytes(),
        Err("data.description is 8001 characters long; at most 8000"),
    );
    check(
        v2(&json!({ "name": "A", "first_mes": "x".repeat(8_001) })).as_bytes(),
        Err("data.first_mes is 8001 characters long"),
    );
    check(b"[1, 2]", Err("neither a PNG image nor JSON"));
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    check(deep.as_bytes(), Err("not valid JSON"));
    let padding = " ".repeat(MAX_JSON_BYTES);
    check(format!("{v2_json}{padding}").as_bytes(), Err("card JSON is"));

    let good = png_with(&[text_chunk("chara", &chara)], &[]);
    check(&png_with(&[], &[]), Err("no character data"));
    check(good.get(..good.len() - 20).expect("shorter"), Err("truncated"));
    check(&png::SIGNATURE, Err("truncated"));
    let mut bad_crc = good.clone();
    let text = png::chunks(&good).expect("valid")[1];
    bad_crc[text.start + 10] ^= 0xff;
    check(&bad_crc, Err("tEXt chunk is corrupt"));
    check(
        &png_with(&[text_chunk("chara", b"!!not base64!!")], &[]),
        Err("chara chunk is not base64"),
    );
    check(&png_with(&[text_chunk("chara", &b64("not json"))], &[]), Err("not valid JSON"));
    let mut bad_ztxt = ztxt_chunk("chara", &chara);
    bad_ztxt.1.truncate(bad_ztxt.1.len() - 6);
    check(&png_with(&[bad_ztxt], &[]), Err("does not decompress"));
    // Security: a decompression bomb stops at the cap.
    let bomb = ztxt_chunk("chara", &vec![b'A'; MAX_CHUNK_TEXT_BYTES + 1]);
    check(&png_with(&[bomb], &[]), Err("inflates past the size a card may have"));
    let mut huge = good.clone();
    huge.resize(MAX_PNG_BYTES + 1, 0);
    check(&huge, Err("the PNG is 8388609 bytes; at most 8388608"));
    let big_text = vec![b'A'; MAX_CHUNK_TEXT_BYTES + 1];
    check(
        &png_with(&[text_chunk("chara", &big_text)], &[]),
        Err("chara chunk is larger than a card"),
    );
    let mut many = png_with(&[], &[]);
    let iend = many.split_off(many.len() - 12);
    for _ in 0..png::MAX_CHUNKS {
        png::push_chunk(&mut many, b"tIME", &[0; 7]);
    }
    many.extend(iend);
    check(&many, Err("more than 65536 chunks"));
    let mut not_ihdr = png::SIGNATURE.to_vec();
    png::push_chunk(&mut not_ihdr, b"tEXt", &keyed("chara", &chara));
    png::push_chunk(&mut not_ihdr, b"IEND", &[]);
    check(&not_ihdr, Err("does not start with an IHDR"));
}

#[test]
fn fields_map_onto_a_persona() {
    let card = v3(&json!({
        "name": "Long Name",
        "nickname": "Mio",
        "description": "{{char}} is a librarian.",
        "personality": "Quiet, kind.",
        "scenario": "A library at night with {{user}}.",
        "system_prompt": "{{original}} Stay in character.",
        "post_history_instructions": "",
        "first_mes": "*looks up* Oh, hello.",
        "alternate_greetings": ["Welcome back.", "  ", "Shh."],
        "mes_example": "<START>\n{{user}}: Hi\n{{char}}: Hello.\n<START>\n{{char}}: *reads*",
        "tags": ["Library", " ", "Kind"],
        "creator_notes": "not imported",
        "extensions": { "depth_prompt": { "prompt": "Whisper.", "depth": 4 } },
        "character_book": {
            "entries": [
                { "keys": ["book"], "content": "@@depth 2\nBooks are {{char}}'s life.", "enabled": true },
                { "keys": ["x"], "content": "disabled", "enabled": false },
                { "keys": ["y"], "content": "   " },
            ],
        },
    }));
    let imported = parse(card.as_bytes(), &Limits::default(), None).expect("a valid card");
    assert_eq!(imported.warnings, Vec::<String>::new());
    let card = imported.card;
    assert_eq!(card.name, "Mio");
    assert_eq!(card.prompt, "{{char}} is a librarian.");
    assert_eq!(
        card.attributes,
        [
            "Personality: Quiet, kind.",
            "Scenario: A library at night with {{user}}.",
            "Instructions: Stay in character.",
            "Instructions: Whisper.",
        ]
    );
    // The lorebook stays a lorebook, all three entries, in SillyTavern's normal form.
    let book = card.character_book.as_ref().expect("a lorebook");
    let entries = book["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["keys"], json!(["book"]));
    assert!(
        entries[0]["content"].as_str().is_some_and(|c| c.contains("Books are {{char}}'s life."))
    );
    assert_eq!(entries[1]["enabled"], json!(false));
    assert_eq!(card.greeting, "*looks up* Oh, hello.");
    assert_eq!(card.alternate_greetings, ["Welcome back.", "Shh."]);
    assert_eq!(
        card.sample_dialogues,
        [
            Dialogue { user: "Hi".to_owned(), bot: "Hello.".to_owned() },
            Dialogue { user: String::new(), bot: "*reads*".to_owned() },
        ]
    );
    assert_eq!(card.lorebook_entries, 3);
    assert_eq!(card.tags, ["Library", "Kind"]);
    assert_eq!(card.trigger_words, Vec::<String>::new());

    // The name option replaces an unusable name before it is checked.
    let bad_name = v2(&json!({ "name": "Dr: Who", "description": "{{char}} travels." }));
    let renamed = parse(bad_name.as_bytes(), &Limits::default(), Some("Doctor")).expect("renamed");
    assert_eq!(
        (renamed.card.name.as_str(), renamed.card.prompt.as_str()),
        ("Doctor", "{{char}} travels.")
    );
}

#[test]
fn long_and_numerous_fields_are_split_or_capped_with_warnings() {
    let limits = Limits {
        persona_attributes: 3,
        persona_attribute_chars: 100,
        persona_sample_dialogues: 1,
        ..Limits::default()
    };
    let paragraph = "A sentence that is long enough. ".repeat(5);
    let card = v2(&json!({
        "name": "Kai",
        "personality": paragraph,
        "character_book": { "entries": [ { "content": "one" }, { "content": "two" } ] },
        "mes_example": format!(
            "<START>\n{{{{user}}}}: a\n{{{{char}}}}: {}\n<START>\n{{{{user}}}}: b\n{{{{char}}}}: c\n<START>\n{{{{char}}}}: d",
            "x".repeat(101)
        ),
        "tags": (0..40).map(|i| format!("t{i}")).collect::<Vec<_>>(),
        "alternate_greetings": (0..25).map(|i| format!("hi {i}")).collect::<Vec<_>>(),
    }));
    let imported = parse(card.as_bytes(), &limits, None).expect("a valid card");
    let card = imported.card;
    // The two lorebook entries stay lore; the personality is split into two attributes.
    assert_eq!(card.attributes.len(), 2);
    assert_eq!(card.lorebook_entries, 2);
    assert!(card.attributes.iter().all(|a| a.chars().count() <= 100), "{:?}", card.attributes);
    assert!(card.attributes[0].starts_with("Personality: A sentence"));
    assert_eq!(card.sample_dialogues, [Dialogue { user: "b".to_owned(), bot: "c".to_owned() }]);
    assert_eq!(card.tags.len(), MAX_TAGS);
    assert_eq!(card.alternate_greetings.len(), MAX_ALTERNATE_GREETINGS);
    expect_test::expect![[r#"
        [
            "5 alternate greetings left out (at most 20)",
            "1 sample dialogues left out (a line longer than 100 characters)",
            "1 sample dialogues left out (at most 1)",
            "8 tags left out (at most 32 of 64 characters)",
        ]
    "#]]
    .assert_debug_eq(&imported.warnings);
}

#[test]
fn tomori_persona_json_is_checked_strictly() {
    let card = PersonaCard {
        tomori_persona: FORMAT_VERSION,
        name: " Yui ".to_owned(),
        source_spec: SourceSpec::Tomori,
        prompt: " Cheerful. ".to_owned(),
        greeting: String::new(),
        alternate_greetings: Vec::new(),
        attributes: vec!["Likes tea".to_owned()],
        sample_dialogues: vec![Dialogue { user: "Hi".to_owned(), bot: "Hey!".to_owned() }],
        trigger_words: vec!["yui".to_owned()],
        lorebook_entries: 0,
        character_book: None,
        tags: Vec::new(),
    };
    let json = serde_json::to_vec(&card).expect("serialises");
    let parsed = parse(&json, &Limits::default(), None).expect("valid").card;
    assert_eq!((parsed.name.as_str(), parsed.prompt.as_str()), ("Yui", "Cheerful."));
    assert_eq!(parsed.trigger_words, ["yui"]);

    let strict = |change: fn(&mut Value)| {
        let mut value = serde_json::to_value(&card).expect("serialises");
        change(&mut value);
        parse(value.to_string().as_bytes(), &Limits::default(), None)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let expect_err = |result: Result<(), String>, part: &str| {
        let message = result.expect_err("refused");
        assert!(message.contains(part), "{message:?} should contain {part:?}");
    };
    expect_err(strict(|v| v["tomori_persona"] = json!(2)), "unknown persona format version 2");
    expect_err(strict(|v| v["extra"] = json!(1)), "unknown field `extra`");
    expect_err(strict(|v| v["attributes"] = json!(vec!["a"; 51])), "51 attributes; at most 50");
    expect_err(strict(|v| v["attributes"] = json!(["  "])), "attribute 1 is empty");
    expect_err(strict(|v| v["trigger_words"] = json!(["x".repeat(65)])), "trigger word 1 is 65");
    expect_err(strict(|v| v["name"] = json!("@everyone")), "cannot be a persona name");
    expect_err(
        strict(|v| v["sample_dialogues"] = json!([{ "user": "a", "bot": "" }])),
        "sample dialogue 1 (answer) is empty",
    );
}

#[test]
fn an_export_imports_back_as_the_same_persona() {
    let card = PersonaCard {
        tomori_persona: FORMAT_VERSION,
        name: "Hana".to_owned(),
        source_spec: SourceSpec::Tomori,
        prompt: "Hana tends the garden.\n\nShe is patient.".to_owned(),
        greeting: "Good morning!".to_owned(),
        alternate_greetings: vec!["Back already?".to_owned()],
        attributes: vec!["Likes roses".to_owned(), "Two lines\nof text".to_owned()],
        sample_dialogues: vec![
            Dialogue { user: "Hi\nthere".to_owned(), bot: "Hello!\nHana: still me".to_owned() },
            Dialogue { user: String::new(), bot: "*waves*".to_owned() },
        ],
        trigger_words: vec!["garden".to_owned()],
        lorebook_entries: 0,
        character_book: None,
        tags: vec!["Calm".to_owned()],
    };
    // Attributes travel as constant entries marked as Tomori's and come back as attributes.
    let expected = PersonaCard { source_spec: SourceSpec::V2, ..card.clone() };
    let png_bytes = export_png(&card, None).expect("exports");
    let back = parse(&png_bytes, &Limits::default(), None).expect("imports");
    assert_eq!(back.card, expected);
    assert_eq!(back.warnings, Vec::<String>::new());

    // An avatar keeps its own chunks; an old card chunk in it is replaced, not kept.
    let old = text_chunk("ccv3", &b64(&v3(&json!({ "name": "Old" }))));
    let avatar = png_with(&[text_chunk("Comment", b"keep me"), old], &[]);
    let with_avatar = export_png(&card, Some(&avatar)).expect("exports");
    let kinds: Vec<String> = png::chunks(&with_avatar)
        .expect("valid")
        .iter()
        .map(|c| png::text_keyword(c).unwrap_or_else(|| c.name()))
        .collect();
    assert_eq!(kinds, ["IHDR", "Comment", "IDAT", "chara", "IEND"]);
    assert_eq!(parse(&with_avatar, &Limits::default(), None).expect("imports").card, expected);
    assert!(matches!(
        export_png(&card, Some(b"not a png")),
        Err(CardError::Png(PngError::Signature))
    ));

    // Edited in SillyTavern: mes_example no longer matches Tomori's copy, so it wins.
    let mut v2_value = card.to_v2_json();
    v2_value["data"]["mes_example"] = json!("<START>\n{{user}}: Yo\n{{char}}: Hey.");
    let edited = parse(v2_value.to_string().as_bytes(), &Limits::default(), None).expect("imports");
    assert_eq!(
        edited.card.sample_dialogues,
        [Dialogue { user: "Yo".to_owned(), bot: "Hey.".to_owned() }]
    );

    // Trigger words written by hand are stored in their bare form, once.
    v2_value["data"]["extensions"]["tomori"]["trigger_words"] =
        json!(["\"Quetz\", `Tomo`", "quetz", 7, "\"\""]);
    let words = parse(v2_value.to_string().as_bytes(), &Limits::default(), None).expect("imports");
    assert_eq!(words.card.trigger_words, ["quetz", "tomo"]);
    let mut ours = card.clone();
    ours.trigger_words = vec!["\"Quetz\"".to_owned(), "`Tomo`, QUETZ".to_owned()];
    assert_eq!(normalize(ours, &Limits::default()).unwrap().trigger_words, ["quetz", "tomo"]);
}

#[test]
fn the_greeting_is_stored_as_an_opening_example_when_it_fits() {
    let mut card = PersonaCard {
        tomori_persona: FORMAT_VERSION,
        name: "Rin".to_owned(),
        source_spec: SourceSpec::V2,
        prompt: String::new(),
        greeting: "Hi!".to_owned(),
        alternate_greetings: Vec::new(),
        attributes: Vec::new(),
        sample_dialogues: vec![Dialogue { user: "a".to_owned(), bot: "b".to_owned() }],
        trigger_words: Vec::new(),
        lorebook_entries: 0,
        character_book: None,
        tags: Vec::new(),
    };
    let opening = Dialogue { user: String::new(), bot: "Hi!".to_owned() };
    let limits = Limits::default();
    assert_eq!(card.stored_dialogues(&limits), [card.sample_dialogues[0].clone(), opening.clone()]);
    card.sample_dialogues.push(opening);
    assert_eq!(card.stored_dialogues(&limits).len(), 2, "not twice");
    let full = Limits { persona_sample_dialogues: 2, ..Limits::default() };
    card.greeting = "Other".to_owned();
    assert_eq!(card.stored_dialogues(&full).len(), 2, "no room");
}

#[test]
fn sample_dialogues_read_from_mes_example() {
    #[track_caller]
    fn check(mes_example: &str, expected: &[(&str, &str)]) {
        let got = parse_examples(mes_example, "Aoi");
        let got: Vec<(&str, &str)> =
            got.iter().map(|d| (d.user.as_str(), d.bot.as_str())).collect();
        assert_eq!(got, expected, "{mes_example:?}");
    }
    check("", &[]);
    check("<START>\n{{user}}: hi\n{{char}}: hello", &[("hi", "hello")]);
    check("<start>\r\n<USER>: hi\r\n<BOT>: hello <user>", &[("hi", "hello {{user}}")]);
    check("{{user}}: a\n{{user}}: b\n{{char}}: c", &[("a\nb", "c")]);
    check("{{char}}: opens\n{{user}}: q\n{{char}}: a", &[("", "opens"), ("q", "a")]);
    check("Aoi: by name\nmore\n\nlines", &[("", "by name\nmore\n\nlines")]);
    check("{{user}}: unanswered\n<START>\n{{char}}: x", &[("", "x")]);
    check("preamble\n{{char}}:   ", &[]);
    check("<START>\n{{user}}: {{char}}?\n{{char}}: yes", &[("{{char}}?", "yes")]);
    let dialogues = vec![
        Dialogue { user: "q".to_owned(), bot: "a\nb".to_owned() },
        Dialogue { user: String::new(), bot: "c".to_owned() },
    ];
    let rendered = render_examples(&dialogues);
    assert_eq!(rendered, "<START>\n{{user}}: q\n{{char}}: a\nb\n<START>\n{{char}}: c");
    assert_eq!(parse_examples(&rendered, "Aoi"), dialogues);
}

#[test]
fn macros_are_kept_in_their_standard_spelling() {
    #[track_caller]
    fn check(text: &str, expected: &str) {
        assert_eq!(keep_macros(text), expected, "{text:?}");
    }
    check("{{char}} and {{user}}", "{{char}} and {{user}}");
    check("{{CHAR}} <bot> <User> {bot} {{Original}}x", "{{char}} {{char}} {{user}} {{char}} x");
    check("ともり {{char}}!", "ともり {{char}}!");
    check("<b>bold</b> {not} {{other}}", "<b>bold</b> {not} {{other}}");
}

#[test]
fn generated_pngs_are_valid() {
    for size in [0, 1, 64, 5000] {
        let image = png::solid_png(size, [9, 9, 9]);
        let chunks = png::chunks(&image).expect("valid");
        let kinds: Vec<String> = chunks.iter().map(png::Chunk::name).collect();
        assert_eq!(kinds, ["IHDR", "IDAT", "IEND"]);
    }
    assert_ne!(colour_of("Yui"), colour_of("Kaede"));
}

#[test]
fn a_lorebook_and_the_attributes_survive_export_and_import_apart() {
    let book = json!({
        "name": "Eldoria",
        "entries": [
            { "id": 0, "keys": ["dragon", "/wyrms?/i"], "secondary_keys": ["fire"], "selective": true,
              "content": "Dragons sleep under the Ash Peaks.", "insertion_order": 50, "enabled": true,
              "position": "after_char", "extensions": { "selectiveLogic": 3, "probability": 80, "useProbability": true } },
            { "id": 1, "keys": [], "constant": true, "content": "It is always winter in Eldoria.",
              "enabled": true, "extensions": { "position": 4, "depth": 2, "role": 1 } },
        ],
    });
    let card = v2(
        &json!({ "name": "Aria", "description": "{{char}} guards the pass.", "character_book": book }),
    );
    let imported = parse(card.as_bytes(), &Limits::default(), None).expect("a valid card").card;
    assert_eq!(imported.lorebook_entries, 2);
    let lore = imported.character_book.clone().expect("the lorebook");
    let with_attributes =
        PersonaCard { attributes: vec!["Carries a lantern".to_owned()], ..imported.clone() };
    let png_bytes = export_png(&with_attributes, None).expect("exports");
    let back = parse(&png_bytes, &Limits::default(), None).expect("imports").card;
    assert_eq!(back.character_book.as_ref(), Some(&lore), "the lorebook comes back unchanged");
    assert_eq!(back.attributes, ["Carries a lantern"], "the attribute comes back as an attribute");
    assert_eq!(back.lorebook_entries, 2);
    // SillyTavern reads every setting from the exported card.
    let exported = with_attributes.to_v2_json();
    let entries = exported["data"]["character_book"]["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["extensions"]["selectiveLogic"], 3);
    assert_eq!(entries[1]["extensions"]["depth"], 2);
    assert_eq!(entries[2]["extensions"]["tomori_attribute"], true);
}
