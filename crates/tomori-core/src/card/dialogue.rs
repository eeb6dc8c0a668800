//! SillyTavern's text conventions: the `{{char}}`/`{{user}}` macros (and the older `<BOT>` and
//! `<USER>`), kept as macros, and `mes_example`, the sample dialogues written as blocks that start with `<START>`
//! and lines that start with a speaker (`{{user}}:` or `{{char}}:`).

use serde::{Deserialize, Serialize};

/// One sample exchange: what someone says and how the persona answers. An empty `user` is an
/// example the persona opens (a greeting).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dialogue {
    /// What someone says; empty when the persona speaks first.
    pub user: String,
    /// How the persona answers.
    pub bot: String,
}

/// Card text as Tomori stores it: the macros kept (in their standard spelling, `{{user}}` and
/// `{{char}}`; see [`crate::macros::canonical`]) so that each prompt fills in the member it
/// answers and the persona's current name, and `{{original}}` (a placeholder SillyTavern fills
/// with its own system prompt) removed.
pub fn keep_macros(text: &str) -> String {
    let canonical = crate::macros::canonical(text);
    if !canonical.to_ascii_lowercase().contains("{{original}}") {
        return canonical;
    }
    let mut out = String::with_capacity(canonical.len());
    let mut rest = canonical.as_str();
    while let Some(at) = rest.find("{{") {
        out.push_str(rest.get(..at).unwrap_or_default());
        let from = rest.get(at..).unwrap_or_default();
        let placeholder = "{{original}}";
        if from.get(..placeholder.len()).is_some_and(|head| head.eq_ignore_ascii_case(placeholder))
        {
            rest = from.get(placeholder.len()..).unwrap_or_default();
        } else {
            out.push_str("{{");
            rest = from.get(2..).unwrap_or_default();
        }
    }
    out.push_str(rest);
    out
}

/// Who a `mes_example` line is spoken by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Speaker {
    User,
    Bot,
}

/// The speaker a line starts with, and the rest of the line.
fn speaker<'a>(line: &'a str, name: &str) -> Option<(Speaker, &'a str)> {
    let line = line.trim_start();
    let prefixes = [
        ("{{user}}:", Speaker::User),
        ("<user>:", Speaker::User),
        ("{{char}}:", Speaker::Bot),
        ("<bot>:", Speaker::Bot),
    ];
    for (prefix, who) in prefixes {
        if line.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix)) {
            return Some((who, line.get(prefix.len()..).unwrap_or_default()));
        }
    }
    // Some cards write the character's own name instead of the macro.
    let named = line.strip_prefix(name).and_then(|rest| rest.strip_prefix(':'));
    match named {
        Some(rest) if !name.is_empty() => Some((Speaker::Bot, rest)),
        _ => None,
    }
}

fn is_start(line: &str) -> bool {
    line.trim().eq_ignore_ascii_case("<start>")
}

/// Reads `mes_example` into sample dialogues, macros kept (see [`keep_macros`]); `name` is
/// the character's name, which some cards write as the speaker instead of the macro.
///
/// Each `<START>` begins a new conversation. A user line is paired with the character line that
/// follows it; a character line with no user line before it becomes an example with an empty
/// user side; lines without a speaker continue the line before them; a user line nobody answers
/// is dropped, as is text before the first speaker.
pub fn parse_examples(mes_example: &str, name: &str) -> Vec<Dialogue> {
    let mut out = Vec::new();
    let mut pending_user: Option<String> = None;
    let mut current: Option<(Speaker, String)> = None;
    let finish = |turn: Option<(Speaker, String)>,
                  pending_user: &mut Option<String>,
                  out: &mut Vec<Dialogue>| {
        match turn {
            Some((Speaker::User, text)) => {
                // Two user lines in a row read as one longer one.
                *pending_user = Some(match pending_user.take() {
                    Some(before) => format!("{before}\n{text}"),
                    None => text,
                });
            }
            Some((Speaker::Bot, text)) => {
                let user = pending_user.take().unwrap_or_default();
                let bot = keep_macros(&text).trim().to_owned();
                if !bot.is_empty() {
                    out.push(Dialogue { user: keep_macros(&user).trim().to_owned(), bot });
                }
            }
            None => {}
        }
    };
    for line in mes_example.lines() {
        if is_start(line) {
            finish(current.take(), &mut pending_user, &mut out);
            pending_user = None;
            continue;
        }
        match speaker(line, name) {
            Some((who, rest)) => {
                finish(current.take(), &mut pending_user, &mut out);
                current = Some((who, rest.trim_start().to_owned()));
            }
            None => {
                if let Some((_, text)) = current.as_mut() {
                    text.push('\n');
                    text.push_str(line);
                }
            }
        }
    }
    finish(current.take(), &mut pending_user, &mut out);
    out
}

/// Writes sample dialogues as `mes_example`: one `<START>` block per exchange, with the macros
/// SillyTavern expects as speakers.
pub fn render_examples(dialogues: &[Dialogue]) -> String {
    let blocks: Vec<String> = dialogues
        .iter()
        .map(|d| {
            if d.user.is_empty() {
                format!("<START>\n{{{{char}}}}: {}", d.bot)
            } else {
                format!("<START>\n{{{{user}}}}: {}\n{{{{char}}}}: {}", d.user, d.bot)
            }
        })
        .collect();
    blocks.join("\n")
}
