//! SillyTavern's text conventions: the `{{char}}`/`{{user}}` macros (and the older `<BOT>` and
//! `<USER>`), and `mes_example`, the sample dialogues written as blocks that start with `<START>`
//! and lines that start with a speaker (`{{user}}:` or `{{char}}:`).

use serde::{Deserialize, Serialize};

/// What `{{user}}` becomes: the speaker label Tomori's prompt uses for sample dialogues.
pub const USER_NAME: &str = "User";

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

/// Replaces the macros, case-insensitively and in one pass (a name that contains a macro is not
/// expanded again): `{{char}}` and `<BOT>` become `name`, `{{user}}` and `<USER>` become
/// [`USER_NAME`], and `{{original}}` (a placeholder in system prompts) disappears.
pub fn substitute(text: &str, name: &str) -> String {
    const MACROS: [(&str, Option<&str>); 5] = [
        ("{{char}}", None),
        ("<bot>", None),
        ("{{user}}", Some(USER_NAME)),
        ("<user>", Some(USER_NAME)),
        ("{{original}}", Some("")),
    ];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while let Some(c) = rest.chars().next() {
        if c == '{' || c == '<' {
            for (pattern, replacement) in MACROS {
                if rest.get(..pattern.len()).is_some_and(|head| head.eq_ignore_ascii_case(pattern))
                {
                    out.push_str(replacement.unwrap_or(name));
                    rest = rest.get(pattern.len()..).unwrap_or_default();
                    continue 'scan;
                }
            }
        }
        out.push(c);
        rest = rest.get(c.len_utf8()..).unwrap_or_default();
    }
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

/// Reads `mes_example` into sample dialogues, macros substituted with `name`.
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
                let bot = substitute(&text, name).trim().to_owned();
                if !bot.is_empty() {
                    out.push(Dialogue { user: substitute(&user, name).trim().to_owned(), bot });
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
