//! Table tests of lorebook reading, writing and activation. Every fixture is built here.

mod activation;
mod parsing;

use serde_json::{Value, json};

use super::*;

/// A World Info file whose entries are `base` merged with each of `entries`, uid by position.
fn world_info(entries: &[Value]) -> Lorebook {
    let mut map = Map::new();
    for (uid, extra) in entries.iter().enumerate() {
        let mut entry = json!({ "uid": uid, "key": [], "content": format!("lore {uid}") });
        if let (Value::Object(entry), Value::Object(extra)) = (&mut entry, extra) {
            entry.extend(extra.clone());
        }
        map.insert(uid.to_string(), entry);
    }
    let text = json!({ "entries": map }).to_string();
    Lorebook::from_world_info_json(text.as_bytes(), &LorebookBounds::default())
        .expect("a valid World Info file")
}

/// A fixed random source.
fn always(n: u64) -> impl FnMut() -> u64 {
    move || n
}

/// One token per byte, so budgets are easy to reason about.
fn bytes(text: &str) -> usize {
    text.len()
}

/// The uids that fire for these messages (newest first), in prompt order.
fn fired(book: &Lorebook, messages: &[&str]) -> Vec<u32> {
    let messages: Vec<ScanMessage<'_>> =
        messages.iter().map(|text| ScanMessage { name: None, text }).collect();
    let scan = ScanInput { messages: &messages, ..ScanInput::default() };
    activate(book, &scan, &mut always(0), bytes).fired.iter().map(|f| f.uid).collect()
}
