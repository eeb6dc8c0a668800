use super::*;

#[track_caller]
fn check(text: &str, max: usize, expected: &[&str]) {
    let got = split_message(text, max);
    assert_eq!(got, expected, "splitting {text:?}");
    for message in &got {
        assert!(message.chars().count() <= max, "{message:?} is longer than {max}");
    }
}

#[test]
fn short_text_is_one_message() {
    check("hello", 50, &["hello"]);
    check("  padded  ", 50, &["padded"]);
    check("", 50, &[]);
}

#[test]
fn cuts_prefer_paragraphs_then_lines_then_sentences_then_spaces() {
    check(
        "first paragraph here.\n\nsecond paragraph here.",
        30,
        &["first paragraph here.", "second paragraph here."],
    );
    check("line one is here\nline two is here", 20, &["line one is here", "line two is here"]);
    check(
        "One sentence. Another sentence goes here.",
        25,
        &["One sentence.", "Another sentence goes", "here."],
    );
    check("words words words words words", 16, &["words words", "words words", "words"]);
}

#[test]
fn never_cuts_inside_urls_emoji_or_mentions() {
    let url = "https://example.com/a/very/long/path";
    let text = format!("see {url} now and then some more words after it");
    for message in split_message(&text, 44) {
        assert!(!message.contains("https://") || message.contains(url), "URL broken: {message:?}");
    }
    let emoji = "<:tomori_happy:123456789012345678>";
    let text = format!("so happy {emoji} today and tomorrow");
    for message in split_message(&text, 40) {
        assert!(!message.contains("<:") || message.contains(emoji), "emoji broken: {message:?}");
    }
}

#[test]
fn code_blocks_are_closed_and_reopened_with_their_language() {
    let code: String = (0..30).map(|i| format!("let x{i} = {i};\n")).collect();
    let text = format!("Here:\n```rust\n{code}```\nDone.");
    let messages = split_message(&text, 120);
    assert!(messages.len() > 2, "{messages:?}");
    for message in &messages {
        assert!(message.chars().count() <= 120);
        assert_eq!(message.matches("```").count() % 2, 0, "unbalanced fence in {message:?}");
    }
    for message in &messages[1..messages.len() - 1] {
        assert!(message.starts_with("```rust\n"), "{message:?}");
    }
    let rejoined: String = messages.join("\n");
    for i in 0..30 {
        assert!(rejoined.contains(&format!("let x{i} = {i};")), "line {i} lost");
    }
}

#[test]
fn text_without_any_boundary_is_cut_hard_and_loses_nothing() {
    let text = "x".repeat(100);
    let messages = split_message(&text, 30);
    assert!(messages.iter().all(|m| m.chars().count() <= 30));
    assert_eq!(messages.concat(), text);
    let cjk = "あ".repeat(100);
    assert_eq!(split_message(&cjk, 40).concat(), cjk);
}

#[test]
fn discord_sized_messages() {
    let paragraph = "Tomori talks a lot. ".repeat(30);
    let text = [paragraph.trim(); 8].join("\n\n");
    let messages = split_message(&text, MAX_MESSAGE_CHARS);
    assert!(messages.len() >= 2);
    assert!(messages.iter().all(|m| m.chars().count() <= MAX_MESSAGE_CHARS));
    assert_eq!(messages.join(" ").split_whitespace().count(), text.split_whitespace().count());
}

#[test]
fn a_code_block_the_text_never_closes_is_closed() {
    check("Here:\n```rust\nlet x = 1;", 50, &["Here:\n```rust\nlet x = 1;\n```"]);
    let code: String = (0..20).map(|i| format!("let x{i} = {i};\n")).collect();
    for message in split_message(&format!("```\n{code}"), 80) {
        assert_eq!(message.matches("```").count() % 2, 0, "unbalanced fence in {message:?}");
    }
}

#[test]
fn sentence_cuts_skip_abbreviations() {
    check(
        "Dr. Smith met Mr. Jones in the U.S. today.",
        30,
        &["Dr. Smith met Mr. Jones in", "the U.S. today."],
    );
}
