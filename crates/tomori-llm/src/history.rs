//! Conversation shaping every wire format shares: speaker names as text, strict role
//! alternation, and tool history turned into plain text when tools cannot be sent.

use crate::request::{Message, Part, Role};

/// The user turn put first when a conversation must start with the user.
pub(crate) const LEADING_USER_TURN: &str = "[conversation start]";

/// Message text with the speaker's name in front, `Name: text`. Names go into the text on every
/// wire format: OpenAI's `name` field is refused or ignored by many compatible servers, and the
/// other two formats have no such field.
pub(crate) fn named_text(name: Option<&str>, text: &str) -> String {
    match name {
        Some(name) if !name.trim().is_empty() => format!("{}: {text}", name.trim()),
        _ => text.to_owned(),
    }
}

/// Merges consecutive messages of the same role and makes the first one a user message.
/// `tool_is_user` treats tool results as user turns (Anthropic, Gemini); otherwise tool turns
/// stay separate and are never merged.
pub(crate) fn alternate(messages: Vec<Message>, tool_is_user: bool) -> Vec<Message> {
    let role_of = |role: Role| if tool_is_user && role == Role::Tool { Role::User } else { role };
    let mut out: Vec<Message> = Vec::with_capacity(messages.len() + 1);
    for message in messages {
        let role = role_of(message.role);
        // Names are folded into the text first, so merged turns keep who said what.
        let parts = fold_name(message.name.as_deref(), message.parts);
        let merge = out.last().is_some_and(|last| {
            role_of(last.role) == role
                && (tool_is_user || (message.role != Role::Tool && last.role != Role::Tool))
        });
        match out.last_mut() {
            Some(last) if merge => last.parts.extend(parts),
            _ => out.push(Message { role: message.role, name: None, parts }),
        }
    }
    if out.first().is_some_and(|first| role_of(first.role) != Role::User) {
        out.insert(0, Message::user(LEADING_USER_TURN));
    }
    out
}

fn fold_name(name: Option<&str>, parts: Vec<Part>) -> Vec<Part> {
    let Some(name) = name else { return parts };
    let mut named = false;
    parts
        .into_iter()
        .map(|part| match part {
            Part::Text(text) if !named => {
                named = true;
                Part::Text(named_text(Some(name), &text))
            }
            other => other,
        })
        .collect()
}

/// Replaces tool calls and tool results with text, for requests sent without tools: the model
/// still sees what happened, and servers that refuse tool turns accept the history.
pub(crate) fn flatten_tools(messages: Vec<Message>) -> Vec<Message> {
    messages
        .into_iter()
        .map(|message| {
            let role = if message.role == Role::Tool { Role::User } else { message.role };
            let parts = message
                .parts
                .into_iter()
                .map(|part| match part {
                    Part::ToolCall(call) => {
                        Part::Text(format!("[called tool {} with {}]", call.name, call.arguments))
                    }
                    Part::ToolResult(result) => {
                        let status = if result.is_error { "failed" } else { "returned" };
                        Part::Text(format!("[tool {} {status}: {}]", result.name, result.content))
                    }
                    other => other,
                })
                .collect();
            Message { role, name: message.name, parts }
        })
        .collect()
}

/// The text parts of a message joined with newlines, ignoring everything else.
pub(crate) fn joined_text(parts: &[Part]) -> String {
    let mut text = String::new();
    for part in parts {
        // Only Gemini's models watch videos; others read the caption.
        let piece = match part {
            Part::Text(piece) => Some(piece),
            Part::Video(video) => Some(&video.caption),
            _ => None,
        };
        if let Some(piece) = piece {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(piece);
        }
    }
    text
}
