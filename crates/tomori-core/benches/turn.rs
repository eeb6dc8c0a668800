//! The engine's pure work for one turn, at the sizes the issue names: 80 messages of history, 25
//! server memories and 10 participants. Deciding, assembling the prompt and splitting a long
//! answer are what the engine adds on top of the database reads and the provider call.
//! Retrieval over server documents adds an exact vector search over at most 1,000 chunks.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tomori_core::chunk::{MAX_MESSAGE_CHARS, split_message};
use tomori_core::flush::{Degree, take_message};
use tomori_core::handles::Handles;
use tomori_core::id::Snowflake;
use tomori_core::output::tool_text::KnownTool;
use tomori_core::output::{
    AnswerFilter, FilterSetup, Participant, Thinking, resolve_mentions, strip_labels,
    strip_reasoning,
};
use tomori_core::privacy::PrivacyLevel;
use tomori_core::prompt::{
    HistoryItem, Lore, ParticipantView, PersonaView, PromptInput, TokenBudget, assemble,
};
use tomori_core::trigger::{
    Author, AutoTrigger, PersonaTrigger, ReplyTo, Situation, TriggerSettings, decide,
};
use tomori_core::vector::Matrix;

fn turn(c: &mut Criterion) {
    let personas: Vec<PersonaTrigger> = ["Tomori", "Kaede", "Momiji"]
        .iter()
        .enumerate()
        .map(|(i, name)| PersonaTrigger {
            nickname: (*name).into(),
            triggers: vec![format!("{name}chan")],
            is_main: i == 0,
        })
        .collect();
    let names: Vec<String> = (0..10).map(|i| format!("member{i}")).collect();
    let history: Vec<HistoryItem> = (0..80)
        .map(|i| HistoryItem {
            handle: format!("ref_{}", i + 1),
            author: names[i % 10].clone(),
            own: i % 7 == 0,
            content: format!(
                "message {i}: a sentence of ordinary chat about tea, games and the weather."
            ),
            reply_to: (i % 5 == 0).then(|| format!("ref_{i}")),
            media: Vec::new(),
        })
        .collect();
    let memories: Vec<String> =
        (0..25).map(|i| format!("server fact {i}: something worth remembering about us")).collect();
    let personal: Vec<String> = (0..5).map(|i| format!("likes thing {i}")).collect();
    let attributes = vec!["cheerful".to_owned(), "likes tea".to_owned()];
    let dialogues = vec![("hi".to_owned(), "Hello hello!".to_owned())];
    let participants: Vec<Participant> = names
        .iter()
        .enumerate()
        .map(|(i, n)| Participant {
            names: vec![n.clone()],
            user_id: 1000 + u64::try_from(i).unwrap_or(0),
        })
        .collect();
    let answer = "Tomori: Here is a thoughtful answer. ".repeat(120);

    c.bench_function("turn: decide + prompt (80 messages, 25 memories, 10 people) + output", |b| {
        b.iter(|| {
            let situation = Situation {
                author: Author::Human { privacy: PrivacyLevel::Minimal },
                content: black_box("hey tomori, what do you think about kaede's idea?"),
                is_dm: false,
                mentions_bot: false,
                reply_to: ReplyTo::Nothing,
                outside_whitelist: false,
                in_thought_log: false,
                auto_trigger: AutoTrigger::Off,
                personas: &personas,
                default_persona: None,
                server_triggers: &[],
                settings: TriggerSettings { match_limit: 3, cascade_limit: 3, deliberate: false },
            };
            let decision = decide(&situation);
            let mut handles = Handles::default();
            for n in 0..80_u64 {
                handles.message_handle(Snowflake::new(1_000_000 + n).expect("non-zero"));
            }
            let views: Vec<ParticipantView<'_>> = names
                .iter()
                .map(|n| ParticipantView {
                    name: n,
                    memories: if n == "member0" { &personal } else { &[] },
                })
                .collect();
            let input = PromptInput {
                persona: PersonaView {
                    name: "Tomori",
                    prompt: "Cheerful.",
                    attributes: &attributes,
                    sample_dialogues: &dialogues,
                },
                other_personas: &["Kaede", "Momiji"],
                system_prompt: Some("Keep it short."),
                server_name: Some("Tea House"),
                now: "2026-11-24 15:00 UTC",
                server_memories: &memories,
                server_documents: &[],
                participants: &views,
                history: &history,
                context_note: None,
                member: "member0",
                server_emoji: &[],
                budget: TokenBudget::default(),
                lore: &Lore::EMPTY,
                short_term: &[],
                macros: None,
                preset: None,
            };
            let prompt = assemble(&input);
            let visible = strip_labels(&strip_reasoning(&answer).visible, "Tomori", &["Kaede"]);
            let chunks: Vec<String> = split_message(&visible, MAX_MESSAGE_CHARS)
                .iter()
                .map(|m| resolve_mentions(m, &participants))
                .collect();
            black_box((decision, prompt, chunks))
        });
    });
}

fn parts(c: &mut Criterion) {
    let personas: Vec<PersonaTrigger> = ["Tomori", "Kaede", "Momiji"]
        .iter()
        .enumerate()
        .map(|(i, name)| PersonaTrigger {
            nickname: (*name).into(),
            triggers: vec![format!("{name}chan")],
            is_main: i == 0,
        })
        .collect();
    c.bench_function("decide: trigger and admission", |b| {
        b.iter(|| {
            decide(&Situation {
                author: Author::Human { privacy: PrivacyLevel::Minimal },
                content: black_box("hey tomoooori, what do you think about kaede's idea?"),
                is_dm: false,
                mentions_bot: false,
                reply_to: ReplyTo::Nothing,
                outside_whitelist: false,
                in_thought_log: false,
                auto_trigger: AutoTrigger::Off,
                personas: &personas,
                default_persona: None,
                server_triggers: &[],
                settings: TriggerSettings { match_limit: 3, cascade_limit: 3, deliberate: false },
            })
        });
    });
    let reply: String = (0..60)
        .map(|i| format!("Paragraph {i} talks about https://example.com/page/{i} and <:tea:123456789012345678>.\n\n"))
        .chain(std::iter::once("```rust\n".to_owned() + &"let x = 1;\n".repeat(400) + "```\n"))
        .collect();
    let reply: String = reply.chars().take(20_000).collect();
    c.bench_function("split_message: a 20 kB reply", |b| {
        b.iter(|| split_message(black_box(&reply), MAX_MESSAGE_CHARS))
    });
}

/// A streamed answer of 4,000 characters: reasoning first, the persona's label, sentences with
/// abbreviations and decimals, a label repeated mid-line, a code block and a list.
fn long_answer() -> String {
    let mut answer =
        String::from("<think>They ask about tea; answer warmly and in detail.</think>Tomori: ");
    let paragraph = "Green tea, e.g. sencha, is brewed at 70.5 degrees for about 1.5 minutes. \
        Dr. Tanaka in the U.S. says so! Is that right? Tomori: it is. ";
    let mut n = 0;
    while answer.chars().count() < 3_600 {
        answer.push_str(paragraph);
        n += 1;
        if n % 4 == 0 {
            answer.push_str("\n\n```python\nfor cup in range(3):\n    print(cup)\n```\n");
        }
        if n % 5 == 0 {
            answer.push_str("\n- first: steep\n- second: pour (slowly)\n\n");
        }
    }
    answer.chars().take(4_000).collect()
}

fn stream(c: &mut Criterion) {
    let answer = long_answer();
    let chars: Vec<char> = answer.chars().collect();
    let deltas: Vec<String> = chars.chunks(20).map(|chunk| chunk.iter().collect()).collect();
    let tools = [KnownTool { name: "read_file".into(), parameters: vec!["handle".into()] }];
    let setup = FilterSetup {
        persona: "Tomori",
        other_personas: &["Kaede", "Momiji"],
        member: "member0",
        thinking: Thinking::Unknown,
        tools: &tools,
    };
    for degree in [Degree::Sentences, Degree::Whole] {
        let name = format!(
            "stream: filter + labels + flush ({degree:?}), 4,000 characters in 20-character deltas"
        );
        c.bench_function(&name, |b| {
            b.iter(|| {
                let mut filter = AnswerFilter::new(&setup);
                let mut unsent = String::new();
                let mut messages = Vec::new();
                for delta in &deltas {
                    unsent.push_str(filter.push_text(black_box(delta)));
                    while let Some(message) = take_message(&mut unsent, degree, false) {
                        messages.push(message);
                    }
                }
                let finished = filter.finish();
                unsent.push_str(&finished.rest);
                while let Some(message) = take_message(&mut unsent, degree, true) {
                    messages.push(message);
                }
                black_box((messages, finished.verdict))
            });
        });
    }
}

/// Pseudo-random vectors (xorshift), so runs compare like with like without a dependency.
fn vectors(rows: usize, dimension: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut state = seed.max(1);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // The top 24 bits as a value in [-1, 1).
        #[expect(clippy::cast_precision_loss, reason = "24 bits fit an f32 exactly")]
        let unit = (state >> 40) as f32 / (1_u64 << 23) as f32;
        unit - 1.0
    };
    (0..rows).map(|_| (0..dimension).map(|_| next()).collect()).collect()
}

fn vector_search(c: &mut Criterion) {
    for dimension in [1_536, 768] {
        let rows = vectors(1_000, dimension, 7);
        let mut matrix = Matrix::with_capacity(dimension, rows.len());
        for row in &rows {
            matrix.push(row).expect("a random vector has a direction");
        }
        let query = vectors(1, dimension, 11).remove(0);
        c.bench_function(&format!("vector search: top 6 of 1,000 chunks × {dimension}"), |b| {
            b.iter(|| matrix.top_k(black_box(&query), 6, -1.0))
        });
        c.bench_function(&format!("vector load: normalise 1,000 chunks × {dimension}"), |b| {
            b.iter(|| {
                let mut m = Matrix::with_capacity(dimension, rows.len());
                for row in black_box(&rows) {
                    m.push(row).expect("a random vector has a direction");
                }
                m
            })
        });
    }
}

criterion_group!(benches, turn, parts, stream, vector_search);
criterion_main!(benches);
