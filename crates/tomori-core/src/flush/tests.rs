use super::*;

/// Takes every message `unsent` allows now (or, with `end`, all of it), and checks them and
/// what is left.
#[track_caller]
fn check(degree: Degree, text: &str, end: bool, messages: &[&str], left: &str) {
    let mut unsent = text.to_owned();
    let mut got = Vec::new();
    while let Some(message) = take_message(&mut unsent, degree, end) {
        assert!(message.chars().count() <= MAX_MESSAGE_CHARS, "{message:?} is too long");
        got.push(message);
        assert!(got.len() < 100, "no end to {text:?}");
    }
    assert_eq!(got, messages, "messages of {text:?}");
    assert_eq!(unsent.trim(), left, "left of {text:?}");
}

use Degree::{Lines, Sentences, Whole};

#[test]
fn sentences_end_where_a_reader_would_end_them() {
    check(
        Sentences,
        "Hello there. How are you? I am fine",
        false,
        &["Hello there.", "How are you?"],
        "I am fine",
    );
    check(
        Sentences,
        "Dr. Smith moved to the U.S. last year. Yes",
        false,
        &["Dr. Smith moved to the U.S. last year."],
        "Yes",
    );
    check(
        Sentences,
        "Use e.g. green tea. Pi is 3.14 today. ",
        false,
        &["Use e.g. green tea."],
        "Pi is 3.14 today.",
    );
    check(
        Sentences,
        "Mr. J. Smith arrived at 5 p.m. sharp. Ok",
        false,
        &["Mr. J. Smith arrived at 5 p.m. sharp."],
        "Ok",
    );
    check(Sentences, "It is 3.", false, &[], "It is 3.");
    check(Sentences, "Wait... what?! No", false, &["Wait... what?!"], "No");
    check(Sentences, "\"Really?\" she asked. Then", false, &["\"Really?\" she asked."], "Then");
    check(
        Sentences,
        "See https://example.com/a.b. ok",
        false,
        &[],
        "See https://example.com/a.b. ok",
    );
    check(
        Sentences,
        "Read [the docs. Really](https://x.y/z). Done",
        false,
        &["Read [the docs. Really](https://x.y/z)."],
        "Done",
    );
    check(
        Sentences,
        "He said (this is. Long) ok. Next",
        false,
        &["He said (this is. Long) ok."],
        "Next",
    );
    check(Sentences, "sad :( but fine. Ok", false, &["sad :( but fine."], "Ok");
    check(Sentences, "In 2024. Then", false, &["In 2024."], "Then");
}

#[test]
fn cjk_sentences_end_only_at_their_punctuation() {
    check(Sentences, "こんにちは。元気です", false, &["こんにちは。"], "元気です");
    check(
        Sentences,
        "「こんにちは。元気？」と言った。次",
        false,
        &["「こんにちは。元気？」と言った。"],
        "次",
    );
    check(Sentences, "今日はいい天気ですね", false, &[], "今日はいい天気ですね");
    check(Sentences, "え？！本当", false, &["え？！"], "本当");
}

#[test]
fn lines_and_blocks_are_messages_from_degree_one() {
    check(Lines, "Line one\nLine two", false, &["Line one"], "Line two");
    check(Lines, "Line one\n", false, &[], "Line one");
    check(Lines, "Line one. Still one", false, &[], "Line one. Still one");
    check(Lines, "1. First item\n2. Second", false, &["1. First item"], "2. Second");
    check(Lines, "Wow\n!\nNext", false, &["Wow\n!"], "Next");
    check(Lines, "Wow\n!", false, &[], "Wow\n!");
    check(Lines, "She said \"wait.\nno\" ok\nNext", false, &["She said \"wait.\nno\" ok"], "Next");
    check(
        Lines,
        "| a | b |\n| - | - |\n| 1 | 2 |\nAfter",
        false,
        &["| a | b |\n| - | - |\n| 1 | 2 |"],
        "After",
    );
    check(
        Lines,
        "Here:\n```rust\nlet x = 1;\n\nlet y = 2;\n```\nDone",
        false,
        &["Here:", "```rust\nlet x = 1;\n\nlet y = 2;\n```"],
        "Done",
    );
    check(Lines, "Look ```rust\nlet x = 1;\n", false, &["Look"], "```rust\nlet x = 1;");
    check(Sentences, "Line one\nLine two. Three", false, &["Line one", "Line two."], "Three");
}

#[test]
fn degree_zero_waits_for_the_end_and_the_end_releases_everything() {
    check(Whole, "Line one\nLine two. More", false, &[], "Line one\nLine two. More");
    check(Whole, "Line one\nLine two. More", true, &["Line one\nLine two. More"], "");
    check(Lines, "Line one\nLine (two", true, &["Line one", "Line (two"], "");
    check(Sentences, "Done. ", true, &["Done."], "");
    check(Lines, "```py\nprint(1)\n", true, &["```py\nprint(1)\n```"], "");
}

#[test]
fn long_text_is_cut_within_discords_limit() {
    let sentence = "This sentence keeps going on. ";
    let long = sentence.repeat(60);
    let mut unsent = long.clone();
    let first = take_message(&mut unsent, Lines, false).expect("past the overflow point");
    assert!(first.ends_with("going on."), "{first:?}");
    assert!((OVERFLOW_CHARS..=MAX_MESSAGE_CHARS).contains(&first.chars().count()));
    // Held by an open parenthesis, still cut at the overflow point.
    let held = format!("({}", sentence.repeat(40));
    let mut unsent = held.clone();
    assert!(take_message(&mut unsent, Sentences, false).is_some());
    // No boundary at all: a hard cut, nothing lost.
    let solid = "x".repeat(4_000);
    let mut unsent = solid.clone();
    let mut joined = String::new();
    while let Some(message) = take_message(&mut unsent, Whole, true) {
        assert!(message.chars().count() <= MAX_MESSAGE_CHARS);
        joined.push_str(&message);
    }
    assert_eq!(joined, solid);
}

#[test]
fn a_long_code_block_is_closed_and_reopened_with_its_language() {
    let code: String = (0..300).map(|i| format!("let x{i} = {i};\n")).collect();
    let text = format!("Code:\n```rust\n{code}```\nDone.");
    for degree in [Whole, Lines, Sentences] {
        let mut unsent = text.clone();
        let mut messages = Vec::new();
        while let Some(message) = take_message(&mut unsent, degree, true) {
            messages.push(message);
        }
        for message in &messages {
            assert!(message.chars().count() <= MAX_MESSAGE_CHARS, "{degree:?}");
            assert_eq!(message.matches("```").count() % 2, 0, "unbalanced in {message:?}");
        }
        let joined = messages.join("\n");
        for i in 0..300 {
            assert!(joined.contains(&format!("let x{i} = {i};")), "{degree:?} lost line {i}");
        }
        assert!(
            messages
                .iter()
                .skip(1)
                .filter(|m| m.contains("let x"))
                .all(|m| m.starts_with("```rust\n"))
        );
    }
}

#[test]
fn degrees_come_from_the_setting() {
    assert_eq!(Degree::from_setting(0), Whole);
    assert_eq!(Degree::from_setting(-4), Whole);
    assert_eq!(Degree::from_setting(1), Lines);
    assert_eq!(Degree::from_setting(2), Degree::TypedLines);
    assert_eq!(Degree::from_setting(3), Sentences);
    assert_eq!(Degree::from_setting(9), Sentences);
}

/// Runs `answer` through the output filter in deltas of `size` characters, flushing after each.
fn stream(answer: &str, size: usize, degree: Degree) -> Vec<String> {
    use crate::output::{AnswerFilter, FilterSetup, Thinking};
    let setup = FilterSetup {
        persona: "Tomori",
        other_personas: &["Kaede"],
        member: "alice",
        thinking: Thinking::Unknown,
        tools: &[],
    };
    let mut filter = AnswerFilter::new(&setup);
    let mut unsent = String::new();
    let mut messages = Vec::new();
    let chars: Vec<char> = answer.chars().collect();
    for delta in chars.chunks(size) {
        unsent.push_str(filter.push_text(&delta.iter().collect::<String>()));
        while let Some(message) = take_message(&mut unsent, degree, false) {
            messages.push(message);
        }
    }
    unsent.push_str(&filter.finish().rest);
    while let Some(message) = take_message(&mut unsent, degree, true) {
        messages.push(message);
    }
    messages
}

#[test]
fn a_streamed_answer_flushes_as_the_whole_answer_would() {
    let paragraph = "Green tea, e.g. sencha, is brewed at 70.5 degrees. Dr. Tanaka agrees! \
        Is that right? Tomori: it is. ";
    let answer = format!(
        "<think>plan</think>Tomori: {}\n\n```py\nprint(1)\n```\n{}",
        paragraph.repeat(8),
        paragraph.repeat(30)
    );
    for degree in [Whole, Lines, Sentences] {
        let whole = stream(&answer, usize::MAX, degree);
        for size in [1, 7, 20] {
            assert_eq!(stream(&answer, size, degree), whole, "{degree:?} in deltas of {size}");
        }
        for message in &whole {
            assert!(message.chars().count() <= MAX_MESSAGE_CHARS);
            assert!(!message.contains("Tomori:") && !message.contains("plan"), "{message:?}");
        }
        let words = |text: &str| text.split_whitespace().filter(|w| *w != "Tomori:").count();
        let sent: usize = whole.iter().map(|m| words(m)).sum();
        assert_eq!(sent, words(&answer) - 1, "{degree:?}: every word but the reasoning is sent");
    }
    assert!(stream(&answer, 20, Sentences).len() > 100);
}

#[test]
fn typing_pauses_only_at_degrees_2_and_3_and_within_bounds() {
    use std::time::Duration;
    let ms = Duration::from_millis;
    let table = [
        (Whole, 400, ms(0)),
        (Lines, 400, ms(0)),
        (Degree::TypedLines, 4, ms(500)),
        (Degree::TypedLines, 40, ms(1_000)),
        (Sentences, 100, ms(2_500)),
        (Sentences, 2_000, ms(3_000)),
        (Sentences, usize::MAX, ms(3_000)),
    ];
    for (degree, chars, expected) in table {
        assert_eq!(degree.typing_pause(chars), expected, "{degree:?} {chars}");
    }
}
