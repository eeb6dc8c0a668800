//! Card parsing never panics, and a valid persona survives export and import unchanged:
//! thousands of generated personas round-trip through the V2 PNG and the persona JSON, and
//! thousands of mutated cards (bytes flipped, cut, spliced, CRCs repaired so the damage reaches
//! the text chunks and the JSON inside) go through the parser.
//!
//! The generator is a small deterministic xorshift, so a failure reproduces from its seed. The
//! cargo-fuzz target in `fuzz/` explores the same parser without a seed corpus of our making.
#![expect(clippy::unwrap_used, reason = "test code")]

use serde_json::{Value, json};
use tomori_core::card::{self, Dialogue, FORMAT_VERSION, PersonaCard, SourceSpec, png};
use tomori_core::limits::Limits;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap()).unwrap()
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Text pieces for personas. No `{` or `<` (which could spell a macro that import rewrites in its
/// standard spelling)
/// and no line starting with `@@` (a lorebook decorator): text that round-trips unchanged.
const WORDS: &[&str] = &[
    "Hana",
    "tea",
    "garden",
    " ",
    " ",
    " ",
    "\n",
    "\n\n",
    "User:",
    "Hana:",
    "START",
    "*smiles*",
    "\"quoted\"",
    "ともり",
    "é",
    "🌸",
    "—",
    "a",
    "b",
    ".",
    ",",
    "!",
    "?",
    "#",
    ":",
    "\t",
    "}",
    ">",
    "\\",
    "\u{200b}",
    "[x]",
    "(y)",
    "\r\n",
];

fn text(rng: &mut Rng, max_words: usize) -> String {
    let n = rng.below(max_words + 1);
    (0..n).map(|_| WORDS[rng.below(WORDS.len())]).collect()
}

/// Text with at least one visible word (usually; a blank one now and then is refused).
fn filled(rng: &mut Rng, max_words: usize) -> String {
    let mut out = text(rng, max_words);
    if !rng.chance(50) {
        out.push_str(NAMES[rng.below(NAMES.len())]);
    }
    out
}

fn texts(rng: &mut Rng, max: usize, max_words: usize) -> Vec<String> {
    (0..rng.below(max + 1)).map(|_| filled(rng, max_words)).collect()
}

const NAMES: &[&str] = &["Hana", "Yui", "Kaede Mori", "ともり", "Rin-2", "A", "Dr. Who", "O'Neil"];

fn persona(rng: &mut Rng) -> PersonaCard {
    PersonaCard {
        tomori_persona: FORMAT_VERSION,
        name: NAMES[rng.below(NAMES.len())].to_owned(),
        source_spec: SourceSpec::Tomori,
        prompt: text(rng, 60),
        greeting: text(rng, 20),
        alternate_greetings: texts(rng, 3, 10),
        attributes: texts(rng, 8, 30),
        sample_dialogues: (0..rng.below(5))
            .map(|_| Dialogue {
                user: if rng.chance(4) { String::new() } else { text(rng, 15) },
                bot: filled(rng, 15),
            })
            .collect(),
        trigger_words: texts(rng, 3, 2),
        lorebook_entries: 0,
        character_book: None,
        tags: texts(rng, 4, 2),
    }
}

#[test]
fn valid_personas_round_trip_through_export_and_import() {
    let limits = Limits::default();
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let avatar = png::solid_png(3, [10, 20, 30]);
    let mut valid = 0;
    for round in 0..2_000 {
        let Ok(card) = card::normalize(persona(&mut rng), &limits) else {
            continue;
        };
        valid += 1;
        let image = if rng.chance(2) { None } else { Some(avatar.as_slice()) };
        let exported = card::export_png(&card, image).unwrap();
        let back = card::parse(&exported, &limits, None)
            .unwrap_or_else(|e| panic!("round {round}: {e}\n{card:#?}"));
        let expected = PersonaCard { source_spec: SourceSpec::V2, ..card.clone() };
        assert_eq!(back.card, expected, "round {round}");
        assert!(back.warnings.is_empty(), "round {round}: {:?}", back.warnings);
        let json = serde_json::to_vec(&card).unwrap();
        assert_eq!(card::parse(&json, &limits, None).unwrap().card, card, "round {round}");
    }
    // Empty attributes, greetings or answers make some generated personas invalid; most are not.
    assert!(valid > 1_000, "only {valid} valid personas generated");
}

/// Valid cards in every format, to mutate.
fn seeds(rng: &mut Rng) -> Vec<Vec<u8>> {
    let card = card::normalize(
        PersonaCard {
            tomori_persona: FORMAT_VERSION,
            name: "Seed".to_owned(),
            source_spec: SourceSpec::Tomori,
            prompt: "A seed.".to_owned(),
            greeting: "Hi.".to_owned(),
            alternate_greetings: vec!["Yo.".to_owned()],
            attributes: vec!["One".to_owned(), "Two".to_owned()],
            sample_dialogues: vec![Dialogue { user: "q".to_owned(), bot: "a".to_owned() }],
            trigger_words: vec!["seed".to_owned()],
            lorebook_entries: 0,
            character_book: None,
            tags: vec!["t".to_owned()],
        },
        &Limits::default(),
    )
    .unwrap();
    let v2 = card.to_v2_json().to_string();
    let v3 = v2.replace("chara_card_v2", "chara_card_v3");
    let mut out = vec![
        card::export_png(&card, None).unwrap(),
        v2.clone().into_bytes(),
        v3.into_bytes(),
        json!({ "name": "V1", "description": "d", "mes_example": "<START>\n{{user}}: a\n{{char}}: b" })
            .to_string()
            .into_bytes(),
        serde_json::to_vec(&card).unwrap(),
    ];
    // A PNG whose card chunk is compressed (zTXt), to reach the inflater.
    let mut compressed = Vec::new();
    {
        use std::io::Write as _;
        let mut encoder =
            flate2::write::ZlibEncoder::new(&mut compressed, flate2::Compression::fast());
        encoder.write_all(v2.as_bytes()).unwrap();
        encoder.finish().unwrap();
    }
    let base = png::solid_png(2, [0, 0, 0]);
    let mut ztxt = png::SIGNATURE.to_vec();
    for chunk in png::chunks(&base).unwrap() {
        if &chunk.kind == b"IEND" {
            let mut data = b"chara\0\0".to_vec();
            data.extend_from_slice(&compressed);
            png::push_chunk(&mut ztxt, b"zTXt", &data);
        }
        png::push_chunk(&mut ztxt, &chunk.kind, chunk.data);
    }
    out.push(ztxt);
    let _ = rng.next();
    out
}

/// Recomputes every chunk CRC it can find, so that mutations inside chunks are judged by the
/// text and JSON decoders instead of stopping at the checksum.
fn repair_crcs(bytes: &mut [u8]) {
    let mut at = 8;
    while at + 12 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
        let Ok(len) = usize::try_from(len) else { return };
        let Some(end) = (at + 8).checked_add(len).filter(|e| e + 4 <= bytes.len()) else {
            return;
        };
        let crc = crc32fast::hash(&bytes[at + 4..end]);
        bytes[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        at = end + 4;
    }
}

/// A JSON value of a random type, for replacing fields of a card.
fn random_value(rng: &mut Rng) -> Value {
    match rng.below(8) {
        0 => Value::Null,
        1 => json!(rng.chance(2)),
        2 => json!(rng.next() % 1000),
        3 => json!(text(rng, 5)),
        4 => json!([text(rng, 3), 1, null]),
        5 => json!({ "content": text(rng, 3), "enabled": rng.chance(2) }),
        6 => json!("x".repeat(rng.below(20_000))),
        _ => json!([{ "user": "a", "bot": "b" }]),
    }
}

/// Replaces one random field, at any depth, with a random value.
fn mutate_json(value: &mut Value, rng: &mut Rng) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = &keys[rng.below(keys.len())];
            let child = map.get_mut(key).unwrap();
            if rng.chance(3) { *child = random_value(rng) } else { mutate_json(child, rng) }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = rng.below(items.len());
            if rng.chance(3) {
                items[i] = random_value(rng)
            } else {
                mutate_json(&mut items[i], rng)
            }
        }
        other => *other = random_value(rng),
    }
}

fn mutate_bytes(bytes: &mut Vec<u8>, rng: &mut Rng) {
    for _ in 0..=rng.below(4) {
        if bytes.is_empty() {
            bytes.push(0);
        }
        match rng.below(5) {
            0 => {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(bytes.len());
                bytes[i] = u8::try_from(rng.below(256)).unwrap();
            }
            2 => bytes.truncate(rng.below(bytes.len() + 1)),
            3 => {
                let i = rng.below(bytes.len() + 1);
                let junk: Vec<u8> =
                    (0..rng.below(16)).map(|_| u8::try_from(rng.below(256)).unwrap()).collect();
                bytes.splice(i..i, junk);
            }
            _ => {
                let (a, b) = (rng.below(bytes.len()), rng.below(bytes.len()));
                let (from, to) = (a.min(b), a.max(b));
                let copy = bytes[from..to].to_vec();
                let at = rng.below(bytes.len() + 1);
                bytes.splice(at..at, copy);
            }
        }
    }
}

#[test]
fn mutated_cards_never_panic_the_parser() {
    let limits = Limits::default();
    let small = Limits { persona_attributes: 1, persona_sample_dialogues: 1, ..Limits::default() };
    let mut rng = Rng(0x0bad_c0de_1234_5678);
    let seeds = seeds(&mut rng);
    let (mut accepted, mut refused) = (0, 0);
    for round in 0..6_000 {
        let seed = &seeds[rng.below(seeds.len())];
        let mut input = seed.clone();
        if input.first() == Some(&b'{') && rng.chance(2) {
            let mut value: Value = serde_json::from_slice(&input).unwrap();
            mutate_json(&mut value, &mut rng);
            input = value.to_string().into_bytes();
        } else {
            mutate_bytes(&mut input, &mut rng);
            if rng.chance(2) {
                repair_crcs(&mut input);
            }
        }
        let name = rng.chance(5).then_some("Renamed");
        let limits = if rng.chance(4) { &small } else { &limits };
        match card::parse(&input, limits, name) {
            Ok(imported) => {
                accepted += 1;
                // Whatever was accepted is within the limits and exports again.
                assert!(card::normalize(imported.card.clone(), limits).is_ok(), "round {round}");
                assert!(card::export_png(&imported.card, None).is_ok(), "round {round}");
            }
            Err(error) => {
                refused += 1;
                assert!(!error.to_string().contains('\n'), "round {round}: one line: {error}");
            }
        }
    }
    // Both outcomes are exercised, not just the first check.
    assert!(accepted > 300 && refused > 300, "accepted {accepted}, refused {refused}");
}
