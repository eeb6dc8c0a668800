//! Reading both formats, refusing bad input with the field's path, and writing back.

use super::*;

fn wi_text(entry: &Value) -> String {
    json!({ "entries": { "0": entry } }).to_string()
}

fn wi_error(text: &str, bounds: &LorebookBounds) -> String {
    match Lorebook::from_world_info_json(text.as_bytes(), bounds) {
        Ok(book) => panic!("{text} was accepted: {book:?}"),
        Err(error) => error.to_string(),
    }
}

fn book_error(book: &Value, bounds: &LorebookBounds) -> String {
    match Lorebook::from_character_book(book, bounds) {
        Ok(book) => panic!("accepted: {book:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn a_world_info_file_reads_with_sillytaverns_defaults() {
    let text = json!({ "entries": {
        "10": { "uid": 10, "key": [" Eldoria ", "", "magical forest"], "keysecondary": ["/glade/i"],
                "comment": "Eldoria", "content": "A forest.", "selectiveLogic": 3, "order": 50,
                "position": 4, "depth": 2, "role": 2, "probability": null, "scanDepth": null,
                "caseSensitive": true, "group": "ignored", "sticky": 2 },
        "2": { "uid": 2, "key": ["beast"], "disable": true, "excludeRecursion": true,
               "preventRecursion": true, "matchWholeWords": false, "scanDepth": 5, "order": 100.0 },
    }})
    .to_string();
    let book =
        Lorebook::from_world_info_json(text.as_bytes(), &LorebookBounds::default()).expect("valid");
    let bounds = LorebookBounds::default();
    let key = |text: &str| Key::parse(text, &bounds).expect("a valid key");
    let want = Lorebook {
        name: String::new(),
        scan_depth: None,
        token_budget: None,
        recursive: true,
        entries: vec![
            LoreEntry {
                uid: 2,
                keys: vec![key("beast")],
                selective: true,
                enabled: false,
                match_whole_words: Some(false),
                scan_depth: Some(5),
                use_probability: true,
                exclude_recursion: true,
                prevent_recursion: true,
                ..LoreEntry::default()
            },
            LoreEntry {
                uid: 10,
                name: "Eldoria".to_owned(),
                keys: vec![key("Eldoria"), key("magical forest")],
                secondary_keys: vec![key("/glade/i")],
                selective: true,
                logic: SelectiveLogic::AndAll,
                case_sensitive: Some(true),
                order: 50,
                position: Position::AtDepth { depth: 2, role: Role::Assistant },
                use_probability: true,
                content: "A forest.".to_owned(),
                ..LoreEntry::default()
            },
        ],
        extensions: Map::new(),
    };
    assert_eq!(book, want);
    assert!(matches!(
        book.entries.get(1).and_then(|e| e.secondary_keys.first()),
        Some(Key::Regex(_))
    ));
}

#[test]
fn a_character_book_reads_the_spec_fields_and_sillytaverns_extensions() {
    let book = json!({
        "name": "Eldoria", "scan_depth": 3, "token_budget": 500, "recursive_scanning": false,
        "extensions": { "other_tool": { "x": 1 } },
        "entries": [
            { "id": 0, "keys": ["eldoria"], "secondary_keys": [], "comment": "", "name": "Named",
              "content": "c", "constant": false, "selective": false, "insertion_order": 100,
              "enabled": true, "position": "before_char",
              "extensions": { "position": 0, "probability": null, "useProbability": false } },
            { "id": "7", "keys": ["dragon"], "content": "d", "enabled": false, "position": "after_char",
              "case_sensitive": true, "priority": 3,
              "extensions": { "position": 4, "depth": 0, "role": 1, "selectiveLogic": 2,
                              "match_whole_words": false, "scan_depth": 4, "exclude_recursion": true,
                              "display_index": 7 } },
            { "keys": ["after"], "content": "e", "position": "after_char", "use_regex": true },
        ],
    });
    let book = Lorebook::from_character_book(&book, &LorebookBounds::default()).expect("valid");
    assert_eq!(
        (book.name.as_str(), book.scan_depth, book.token_budget, book.recursive),
        ("Eldoria", Some(3), Some(500), false)
    );
    assert_eq!(book.extensions.get("other_tool"), Some(&json!({ "x": 1 })));
    let facts: Vec<_> = book
        .entries
        .iter()
        .map(|e| {
            (
                e.uid,
                e.name.as_str(),
                e.enabled,
                e.position,
                e.logic,
                e.case_sensitive,
                e.match_whole_words,
                e.scan_depth,
            )
        })
        .collect();
    assert_eq!(
        facts,
        [
            (0, "Named", true, Position::BeforeChar, SelectiveLogic::AndAny, None, None, None),
            (
                7,
                "",
                false,
                Position::AtDepth { depth: 0, role: Role::User },
                SelectiveLogic::NotAny,
                Some(true),
                Some(false),
                Some(4)
            ),
            (2, "", true, Position::AfterChar, SelectiveLogic::AndAny, None, None, None),
        ]
    );
    let second = book.entries.get(1).expect("three entries");
    assert_eq!(second.extensions, *json!({ "display_index": 7 }).as_object().expect("an object"));
    let third = book.entries.get(2).expect("three entries");
    assert!(
        matches!(third.keys.first(), Some(Key::Regex(k)) if k.pattern() == "after" && k.flags().is_empty())
    );
}

#[test]
fn bad_world_info_is_refused_with_the_fields_path() {
    let bounds = LorebookBounds::default();
    let entry = |extra: Value| wi_text(&extra);
    let long_regex = format!("/{}/", "a".repeat(201));
    let cases = [
        ("[]".to_owned(), "top level is not an object"),
        ("{".to_owned(), "not valid JSON"),
        ("{\"entries\": []}".to_owned(), "entries is not an object"),
        (json!({ "entries": { "3": 1 } }).to_string(), "entries[3] is not an object"),
        (entry(json!({ "key": "dragon" })), "entries[0].key is not a list of strings"),
        (entry(json!({ "key": ["a", 1] })), "entries[0].key[1] is not a string"),
        (entry(json!({ "keysecondary": [null] })), "entries[0].keysecondary[0] is not a string"),
        (entry(json!({ "content": 5 })), "entries[0].content is not a string"),
        (entry(json!({ "disable": "yes" })), "entries[0].disable is not true or false"),
        (
            entry(json!({ "selectiveLogic": 4 })),
            "entries[0].selectiveLogic is not a whole number from 0 to 3",
        ),
        (
            entry(json!({ "probability": 101 })),
            "entries[0].probability is not a whole number from 0 to 100",
        ),
        (entry(json!({ "probability": 50.5 })), "entries[0].probability is not a whole number"),
        (entry(json!({ "order": 1e12 })), "entries[0].order is not a whole number"),
        (entry(json!({ "uid": -1 })), "entries[0].uid is not a whole number"),
        (entry(json!({ "position": 7 })), "entries[0].position is not a position Tomori supports"),
        (
            entry(json!({ "position": 4, "depth": -1 })),
            "entries[0].depth is not a whole number from 0 to 1000",
        ),
        (
            entry(json!({ "position": 4, "role": 3 })),
            "entries[0].role is not a whole number from 0 to 2",
        ),
        (
            entry(json!({ "scanDepth": 1001 })),
            "entries[0].scanDepth is not a whole number from 0 to 1000",
        ),
        (
            entry(json!({ "key": ["/(?=a)b/"] })),
            "entries[0].key[0]: the regex /(?=a)b/ is not supported here: look-around",
        ),
        (
            entry(json!({ "key": ["/(a)\\1/"] })),
            "entries[0].key[0]: the regex /(a)\\1/ is not supported here: backreferences",
        ),
        (
            entry(json!({ "key": ["/{{char}}/"] })),
            "entries[0].key[0]: the regex /{{char}}/ is not supported here",
        ),
        (
            entry(json!({ "key": ["/(\\w{100}){100}/"] })),
            "is too large: compiled, it would exceed 65536 bytes",
        ),
        (entry(json!({ "key": [long_regex] })), "is 201 characters long; at most 200 are allowed"),
        (
            entry(json!({ "key": ["k".repeat(201)] })),
            "entries[0].key[0] is 201 characters long; at most 200",
        ),
        (
            entry(json!({ "content": "c".repeat(16_001) })),
            "entries[0].content is 16001 characters long",
        ),
    ];
    for (text, part) in cases {
        let message = wi_error(&text, &bounds);
        assert!(message.contains(part), "{message:?} should contain {part:?}");
        assert!(!message.contains('\n'), "one line: {message:?}");
    }
}

#[test]
fn bad_character_books_are_refused_with_the_fields_path() {
    let bounds = LorebookBounds::default();
    let cases = [
        (json!([]), "character_book is not an object"),
        (json!({ "entries": {} }), "entries is not a list"),
        (json!({ "entries": [3] }), "entries[0] is not an object"),
        (json!({ "entries": [{ "keys": ["a", ["b"]] }] }), "entries[0].keys[1] is not a string"),
        (
            json!({ "entries": [{ "position": "middle" }] }),
            "entries[0].position is not \"before_char\" or \"after_char\"",
        ),
        (json!({ "entries": [{ "extensions": [] }] }), "entries[0].extensions is not an object"),
        (
            json!({ "entries": [{ "extensions": { "depth": "4", "position": 4 } }] }),
            "entries[0].extensions.depth is not a whole number",
        ),
        (
            json!({ "entries": [{ "extensions": { "useProbability": 1 } }] }),
            "entries[0].extensions.useProbability is not true or false",
        ),
        (
            json!({ "entries": [{ "secondary_keys": ["/[/"] }] }),
            "entries[0].secondary_keys[0]: the regex /[/",
        ),
        (json!({ "scan_depth": "deep" }), "scan_depth is not a whole number"),
        (json!({ "recursive_scanning": 1 }), "recursive_scanning is not true or false"),
    ];
    for (book, part) in cases {
        let message = book_error(&book, &bounds);
        assert!(message.contains(part), "{message:?} should contain {part:?}");
    }
}

#[test]
fn books_beyond_the_bounds_are_refused() {
    let small = LorebookBounds {
        json_bytes: 300,
        entries: 2,
        keys_per_entry: 2,
        keys_total: 3,
        regex_keys: 1,
        ..LorebookBounds::default()
    };
    let entries = |list: Value| json!({ "entries": list });
    let cases = [
        (entries(json!([{}, {}, {}])), "entries has 3 items; at most 2 are allowed"),
        (entries(json!([{ "keys": ["a", "b", "c"] }])), "entries[0].keys has 3 items; at most 2"),
        (
            entries(json!([{ "keys": ["a", "b"] }, { "keys": ["c", "d"] }])),
            "keys of all entries has 4 items; at most 3",
        ),
        (
            entries(json!([{ "keys": ["/a/", "/b/"] }])),
            "regex keys of all entries has 2 items; at most 1",
        ),
    ];
    for (book, part) in cases {
        let message = book_error(&book, &small);
        assert!(message.contains(part), "{message:?} should contain {part:?}");
    }
    let big = wi_text(&json!({ "content": "x".repeat(300) }));
    assert!(wi_error(&big, &small).contains("bytes; at most 300 bytes are accepted"));
}

#[test]
fn a_book_survives_a_round_trip_through_character_book() {
    let written = json!({
        "name": "Book", "scan_depth": 4, "token_budget": 900, "recursive_scanning": false,
        "extensions": { "kept": true },
        "entries": [
            { "id": 3, "keys": ["a", "/b+/gi"], "secondary_keys": ["c"], "comment": "First",
              "content": "one", "constant": true, "selective": true, "insertion_order": -5,
              "enabled": false, "case_sensitive": true, "position": "after_char",
              "extensions": { "position": 4, "depth": 9, "role": 2, "probability": 30,
                              "useProbability": true, "selectiveLogic": 1, "exclude_recursion": true,
                              "prevent_recursion": true, "match_whole_words": false, "scan_depth": 8,
                              "unknown": [1, 2] } },
            { "keys": ["x"], "content": "two", "use_regex": true },
            { "keys": [], "content": "three", "extensions": { "position": 6 } },
        ],
    });
    let bounds = LorebookBounds::default();
    let book = Lorebook::from_character_book(&written, &bounds).expect("valid");
    let exported = book.to_character_book();
    let again = Lorebook::from_character_book(&exported, &bounds).expect("its own export reads");
    assert_eq!(again, book);
    // What SillyTavern reads: the number position and the depth under extensions.
    let first = exported.pointer("/entries/0").expect("an entry");
    assert_eq!(first.pointer("/extensions/position"), Some(&json!(4)));
    assert_eq!(first.pointer("/extensions/depth"), Some(&json!(9)));
    assert_eq!(first.pointer("/extensions/unknown"), Some(&json!([1, 2])));
    assert_eq!(first.pointer("/position"), Some(&json!("after_char")));
    assert_eq!(first.pointer("/keys"), Some(&json!(["a", "/b+/gi"])));
    assert_eq!(exported.pointer("/entries/1/keys"), Some(&json!(["/x/"])));

    // A World Info file exports to a card's book and reads back the same.
    let wi = world_info(&[
        json!({ "key": ["k"], "position": 4, "depth": 1, "probability": 10, "selectiveLogic": 2 }),
        json!({ "constant": true, "position": 3, "caseSensitive": false }),
    ]);
    let again = Lorebook::from_character_book(&wi.to_character_book(), &bounds).expect("reads");
    assert_eq!(again, wi);
}

#[test]
fn mangled_input_never_panics() {
    let valid = wi_text(&json!({
        "key": ["dragon", "/dr[a-z]+/i"], "keysecondary": ["fire"], "selectiveLogic": 1,
        "position": 4, "depth": 3, "role": 1, "probability": 50, "content": "Lore about dragons."
    }));
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..2_000 {
        let mut bytes = valid.clone().into_bytes();
        for _ in 0..1 + next() % 4 {
            let len = u64::try_from(bytes.len()).unwrap();
            let at = usize::try_from(next() % len).unwrap();
            if let Some(byte) = bytes.get_mut(at) {
                *byte = u8::try_from(next() % 128).unwrap();
            }
        }
        if let Ok(book) = Lorebook::from_world_info_json(&bytes, &LorebookBounds::default()) {
            let messages = [ScanMessage { name: Some("x"), text: "dragon fire" }];
            let scan = ScanInput { messages: &messages, ..ScanInput::default() };
            let _activation = activate(&book, &scan, &mut next, bytes_len);
            let _exported = book.to_character_book();
        }
    }
}

fn bytes_len(text: &str) -> usize {
    text.len()
}
