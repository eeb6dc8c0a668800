use super::*;

#[test]
fn normalisation_cleans_nuls_line_endings_and_whitespace() {
    let cases: &[(&str, &str)] = &[
        ("", ""),
        ("  plain  ", "plain"),
        ("a\r\nb\rc\nd", "a\nb\nc\nd"),
        ("nul\0 in\0side", "nul inside"),
        ("tabs\t\tand   spaces", "tabs and spaces"),
        ("bell\u{7}and\u{1b}escape", "bellandescape"),
        ("no-break\u{a0}\u{a0}space", "no-break space"),
        ("para one\n\n\n\n\npara two", "para one\n\npara two"),
        ("line   \n   indented\n \t \nnext", "line\nindented\n\nnext"),
        ("\n\n\nleading and trailing\n\n\n", "leading and trailing"),
        ("日本語\u{3000}の\r\n文章", "日本語 の\n文章"),
    ];
    for (input, expected) in cases {
        assert_eq!(normalise(input), *expected, "normalising {input:?}");
    }
}

#[track_caller]
fn check(text: &str, size: usize, overlap: usize, expected: &[&str]) {
    let got = chunk_with(text, size, overlap);
    assert_eq!(got, expected, "chunking {text:?} at {size}/{overlap}");
    for piece in &got {
        assert!(piece.chars().count() <= size, "{piece:?} is longer than {size}");
    }
}

#[test]
fn chunks_prefer_paragraphs_then_lines_then_sentences_then_spaces() {
    // Text that fits is one chunk; nothing is none.
    check("short text", 20, 4, &["short text"]);
    check("", 20, 4, &[]);
    check("   ", 20, 4, &[]);
    // A paragraph break in the window's second half wins over a later line break; the next
    // chunk starts at the word nearest the overlap, here before the break.
    check(
        "aaaa aaaa aaaa\n\nbbbb bb\ncc dd ee ff",
        24,
        4,
        &["aaaa aaaa aaaa", "aaaa\n\nbbbb bb", "bb\ncc dd ee ff"],
    );
    // Then a line break.
    check(
        "one two three\nfour five six seven",
        20,
        4,
        &["one two three", "three\nfour five six", "six seven"],
    );
    // Then a sentence end.
    check(
        "First one here. Second one is longer.",
        24,
        4,
        &["First one here.", "here. Second one is", "is longer."],
    );
    // Then a space; the next chunk starts at a word within the overlap.
    check(
        "alpha beta gamma delta epsilon zeta",
        16,
        6,
        &["alpha beta", "beta gamma", "gamma delta", "delta epsilon", "epsilon zeta"],
    );
    // No boundary at all: a hard cut, and the overlap starts mid-word.
    check("abcdefghijklmnopqrst", 8, 2, &["abcdefgh", "ghijklmn", "mnopqrst"]);
}

#[test]
fn boundaries_in_the_first_half_of_the_window_are_ignored() {
    // The only space is too early: cutting there would make a two-letter chunk.
    check("ab cdefghijklmnopq", 10, 2, &["ab cdefghi", "hijklmnopq"]);
}

#[test]
fn multibyte_text_is_cut_between_characters_with_overlap() {
    // Japanese: no spaces; sentences end with 。 without a following space.
    let text = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。";
    check(
        text,
        12,
        3,
        &[
            "吾輩は猫である。",
            "ある。名前はまだ無い。",
            "無い。どこで生れたかとん",
            "かとんと見当がつかぬ。",
        ],
    );
    // Emoji and combining characters are counted as characters, never split as bytes.
    let emoji = "🍵🍵🍵🍵🍵 🍰🍰🍰🍰🍰 🌸🌸🌸🌸🌸";
    let chunks = chunk_with(emoji, 12, 3);
    assert_eq!(chunks, ["🍵🍵🍵🍵🍵 🍰🍰🍰🍰🍰", "🍰🍰🍰🍰🍰 🌸🌸🌸🌸🌸"]);
}

#[test]
fn real_sized_chunks_overlap_and_cover_the_whole_text() {
    let sentences: Vec<String> = (0..400)
        .map(|i| format!("Sentence number {i} says something about tea and the weather."))
        .collect();
    let text = sentences.join(" ");
    let chunks = chunk(&text);
    assert!(chunks.len() > 20, "{} chunks", chunks.len());
    for (n, piece) in chunks.iter().enumerate() {
        let len = piece.chars().count();
        assert!(len <= CHUNK_CHARS, "chunk {n} has {len} characters");
        // Every chunk but the last ends at a sentence end.
        if n + 1 < chunks.len() {
            assert!(len > CHUNK_CHARS / 2, "chunk {n} is only {len} characters");
            assert!(piece.ends_with('.'), "chunk {n} ends mid-sentence: {piece:?}");
        }
    }
    // Consecutive chunks share text, and nothing is lost between them.
    for pair in chunks.windows(2) {
        let tail: String =
            pair[0].chars().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
        assert!(
            pair[1].contains(tail.trim()),
            "no overlap between {:?} and {:?}",
            pair[0],
            pair[1]
        );
    }
    for sentence in &sentences {
        assert!(chunks.iter().any(|c| c.contains(sentence.as_str())), "{sentence} was lost");
    }
}

#[test]
fn names_are_checked() {
    assert_eq!(check_name("  rules.md "), Ok("rules.md".to_owned()));
    assert_eq!(check_name("ルール.txt"), Ok("ルール.txt".to_owned()));
    assert!(check_name("").is_err());
    assert!(check_name("   ").is_err());
    assert!(check_name("a`b").is_err());
    assert!(check_name("line\nbreak").is_err());
    assert!(check_name(&"x".repeat(101)).is_err());
    assert!(check_name(&"字".repeat(100)).is_ok());
}

#[test]
fn queries_are_trimmed_cut_and_skipped_when_short() {
    assert_eq!(query("  hi "), None);
    assert_eq!(query("abc"), Some("abc".to_owned()));
    assert_eq!(query("日本語"), Some("日本語".to_owned()));
    let long = "é".repeat(1_500);
    assert_eq!(query(&long).map(|q| q.chars().count()), Some(QUERY_MAX_CHARS));
}
