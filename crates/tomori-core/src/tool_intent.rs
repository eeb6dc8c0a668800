//! Deliberate tool mode (`/server deliberate-tools`): which tools a message asks for. With the
//! mode on, a turn is offered only the tools of the families its message names (searching,
//! reminders, pictures, memory…), the few that only read the turn's own state, and for a few
//! turns the families a tool was used for in the channel; a call to a tool that was not offered
//! is answered with a failure.
//!
//! Matching is by word starts in the lower-cased message ("remind" matches "reminder" and
//! "remind me", not "premind"), so it costs one pass per keyword and needs no regex. A server's
//! own tools (MCP) are asked for by name, or by the word "tool". A server may add phrases and
//! expressions of its own ([`custom`]).

pub mod custom;

use serde::{Deserialize, Serialize};

/// A family of tools that one kind of request calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolFamily {
    /// Searching and reading the web.
    Web,
    /// Reminders.
    Reminders,
    /// Pictures: drawing one, looking at an avatar.
    Pictures,
    /// Videos.
    Videos,
    /// Long-term memory.
    Memory,
    /// Acting on recent messages: pinning, editing, deleting, reacting, replying.
    Messages,
    /// Threads and other channels.
    Channels,
    /// Stickers.
    Stickers,
    /// Attached files.
    Files,
    /// A server's own tools (MCP).
    Server,
}

impl ToolFamily {
    /// Every family.
    pub const ALL: [Self; 10] = [
        Self::Web,
        Self::Reminders,
        Self::Pictures,
        Self::Videos,
        Self::Memory,
        Self::Messages,
        Self::Channels,
        Self::Stickers,
        Self::Files,
        Self::Server,
    ];

    fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// The family's name, as commands and the store write it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Reminders => "reminders",
            Self::Pictures => "pictures",
            Self::Videos => "videos",
            Self::Memory => "memory",
            Self::Messages => "messages",
            Self::Channels => "channels",
            Self::Stickers => "stickers",
            Self::Files => "files",
            Self::Server => "server",
        }
    }

    /// The family named `name`.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Word starts that ask for this family.
    fn keywords(self) -> &'static [&'static str] {
        match self {
            Self::Web => &[
                "search",
                "google",
                "look up",
                "lookup",
                "look it up",
                "browse",
                "website",
                "web",
                "online",
                "internet",
                "news",
                "latest",
                "http://",
                "https://",
                "link",
                "url",
                "wiki",
            ],
            Self::Reminders => {
                &["remind", "reminder", "alarm", "schedule", "task", "timer", "wake me", "ping me"]
            }
            Self::Pictures => &[
                "draw",
                "picture",
                "image",
                "illustrat",
                "paint",
                "sketch",
                "generate",
                "selfie",
                "photo",
                "art",
                "avatar",
                "pfp",
                "profile pic",
            ],
            Self::Videos => &["video", "clip", "animat", "film", "youtube"],
            Self::Memory => &["remember", "forget", "memor", "don't forget", "note that", "learn"],
            Self::Messages => &["pin", "unpin", "edit", "delete", "react", "reply to", "emoji"],
            Self::Channels => &["thread", "channel", "post in", "announce", "cross-post", "<#"],
            Self::Stickers => &["sticker"],
            Self::Files => &["file", "pdf", "document", "attachment", "attached", "read this"],
            Self::Server => &["tool", "mcp"],
        }
    }
}

/// The tools that are always offered: they only read the turn's own state (`analyze_image` its
/// own images, and it is offered at all only where the chat model is blind and the turn shows
/// images; `process_youtube_video` the videos its messages link, offered only to a model that
/// watches them) or keep the persona's own notes.
const ALWAYS: [&str; 5] = [
    "review_capabilities",
    "reveal_message_metadata",
    "update_short_term_memory",
    "analyze_image",
    "process_youtube_video",
];

/// The family of a built-in tool; a name this does not know is a server's own tool.
#[must_use]
pub fn family_of(tool: &str) -> Option<ToolFamily> {
    if ALWAYS.contains(&tool) {
        return None;
    }
    Some(match tool {
        "web_search" | "fetch_url" => ToolFamily::Web,
        "create_task" | "update_task" | "list_tasks" => ToolFamily::Reminders,
        "generate_image" | "peek_profile_picture" => ToolFamily::Pictures,
        "generate_video" => ToolFamily::Videos,
        "create_long_term_memory" | "update_long_term_memory" => ToolFamily::Memory,
        "manage_message" | "interact_with_recent_message" => ToolFamily::Messages,
        "create_thread" | "cross_channel_message" => ToolFamily::Channels,
        "select_sticker" => ToolFamily::Stickers,
        "read_file" => ToolFamily::Files,
        _ => ToolFamily::Server,
    })
}

/// A set of tool families.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Families(u16);

impl Families {
    /// No family.
    pub const NONE: Self = Self(0);

    /// Whether `family` is in the set.
    #[must_use]
    pub fn contains(self, family: ToolFamily) -> bool {
        self.0 & family.bit() != 0
    }

    /// The set with `family` added.
    #[must_use]
    pub fn with(self, family: ToolFamily) -> Self {
        Self(self.0 | family.bit())
    }

    /// Both sets.
    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Whether `needle` starts a word of `haystack` (both lower-case).
fn starts_a_word(haystack: &str, needle: &str) -> bool {
    haystack.match_indices(needle).any(|(at, _)| starts_word(haystack, at))
}

/// Whether a match at byte `at` of `haystack` starts a word there.
fn starts_word(haystack: &str, at: usize) -> bool {
    haystack
        .get(..at)
        .and_then(|before| before.chars().next_back())
        .is_none_or(|c| !c.is_alphanumeric())
}

/// The families `text` asks for.
#[must_use]
pub fn asked_for(text: &str) -> Families {
    let text = text.to_lowercase();
    ToolFamily::ALL.into_iter().fold(Families::NONE, |set, family| {
        if family.keywords().iter().any(|k| starts_a_word(&text, k)) {
            set.with(family)
        } else {
            set
        }
    })
}

/// Whether `tool` may be offered to a message that asks for `wanted` in deliberate tool mode;
/// a server's own tool also when the message names it (`_` read as a space).
#[must_use]
pub fn offered(tool: &str, wanted: Families, text: &str) -> bool {
    match family_of(tool) {
        None => true,
        Some(ToolFamily::Server) => {
            let text = text.to_lowercase();
            wanted.contains(ToolFamily::Server)
                || starts_a_word(&text, &tool.to_lowercase())
                || starts_a_word(&text, &tool.to_lowercase().replace('_', " "))
        }
        Some(family) => wanted.contains(family),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_asks_for_the_families_it_names() {
        use ToolFamily::*;
        let cases: &[(&str, &[ToolFamily])] = &[
            ("hey, how are you?", &[]),
            ("can you search for the weather in Oslo", &[Web]),
            ("Remind me to drink water in 2 hours", &[Reminders]),
            ("draw me a cat", &[Pictures]),
            ("please REMEMBER that I like tea", &[Memory]),
            ("what's on https://example.com", &[Web]),
            ("make a video of a dancing cat", &[Videos]),
            ("pin that message", &[Messages]),
            ("start a thread about it", &[Channels]),
            ("send a sticker", &[Stickers]),
            ("read the attached pdf", &[Files]),
            ("use the weather tool", &[Server]),
            // Word starts only: these ask for nothing.
            ("I'm spinning around", &[]),
            ("that's a smart cart", &[]),
        ];
        for (text, families) in cases {
            let expected = families.iter().fold(Families::NONE, |s, f| s.with(*f));
            assert_eq!(asked_for(text), expected, "{text}");
        }
    }

    #[test]
    fn tools_are_offered_by_family_and_the_bookkeeping_ones_always() {
        let wanted = asked_for("draw me something");
        assert!(offered("generate_image", wanted, "draw me something"));
        assert!(!offered("web_search", wanted, "draw me something"));
        assert!(offered("review_capabilities", Families::NONE, "hi"));
        assert!(offered("update_short_term_memory", Families::NONE, "hi"));
        assert!(offered("analyze_image", Families::NONE, "what is this?"));
        assert!(offered("process_youtube_video", Families::NONE, "thoughts? youtu.be/x"));
        // A server's own tool, by name or by the word "tool".
        assert!(offered("dice_roll", Families::NONE, "do a dice roll"));
        assert!(offered("dice_roll", Families::NONE, "dice_roll please"));
        assert!(!offered("dice_roll", Families::NONE, "hello"));
        assert!(offered("dice_roll", asked_for("use a tool"), "use a tool"));
        assert_eq!(family_of("fetch_url"), Some(ToolFamily::Web));
        assert!(Families::NONE.union(wanted).contains(ToolFamily::Pictures));
    }
}
