//! Writing a lorebook as a card's `character_book`: the V2 spec's fields, and SillyTavern's
//! settings under each entry's `extensions` with the names SillyTavern reads.

use serde_json::{Map, Value, json};

use super::{DEFAULT_DEPTH, LoreEntry, Lorebook, Position, Role, SelectiveLogic};

/// SillyTavern's number for a position.
fn position_number(position: Position) -> u8 {
    match position {
        Position::BeforeChar => 0,
        Position::AfterChar => 1,
        Position::AuthorsNoteTop => 2,
        Position::AuthorsNoteBottom => 3,
        Position::AtDepth { .. } => 4,
        Position::BeforeExamples => 5,
        Position::AfterExamples => 6,
    }
}

fn logic_number(logic: SelectiveLogic) -> u8 {
    match logic {
        SelectiveLogic::AndAny => 0,
        SelectiveLogic::NotAll => 1,
        SelectiveLogic::NotAny => 2,
        SelectiveLogic::AndAll => 3,
    }
}

fn role_number(role: Role) -> u8 {
    match role {
        Role::System => 0,
        Role::User => 1,
        Role::Assistant => 2,
    }
}

fn entry(entry: &LoreEntry) -> Value {
    let (depth, role) = match entry.position {
        Position::AtDepth { depth, role } => (depth, role),
        _ => (DEFAULT_DEPTH, Role::System),
    };
    // Unknown keys first, so the modelled settings always win.
    let mut extensions: Map<String, Value> = entry.extensions.clone();
    let modelled = json!({
        "position": position_number(entry.position),
        "depth": depth,
        "role": role_number(role),
        "probability": entry.probability,
        "useProbability": entry.use_probability,
        "selectiveLogic": logic_number(entry.logic),
        "exclude_recursion": entry.exclude_recursion,
        "prevent_recursion": entry.prevent_recursion,
        "match_whole_words": entry.match_whole_words,
        "case_sensitive": entry.case_sensitive,
        "scan_depth": entry.scan_depth,
    });
    if let Value::Object(modelled) = modelled {
        extensions.extend(modelled);
    }
    let keys = |keys: &[super::Key]| -> Vec<String> {
        keys.iter().map(|key| key.written().into_owned()).collect()
    };
    json!({
        "id": entry.uid,
        "keys": keys(&entry.keys),
        "secondary_keys": keys(&entry.secondary_keys),
        "comment": entry.name,
        "content": entry.content,
        "constant": entry.constant,
        "selective": entry.selective,
        "insertion_order": entry.order,
        "enabled": entry.enabled,
        "position": if entry.position == Position::BeforeChar { "before_char" } else { "after_char" },
        "case_sensitive": entry.case_sensitive,
        "extensions": extensions,
    })
}

pub(crate) fn character_book(book: &Lorebook) -> Value {
    let mut out = json!({
        "name": book.name,
        "recursive_scanning": book.recursive,
        "extensions": book.extensions,
        "entries": book.entries.iter().map(entry).collect::<Vec<_>>(),
    });
    if let Value::Object(out) = &mut out {
        if let Some(depth) = book.scan_depth {
            out.insert("scan_depth".to_owned(), depth.into());
        }
        if let Some(budget) = book.token_budget {
            out.insert("token_budget".to_owned(), budget.into());
        }
    }
    out
}
