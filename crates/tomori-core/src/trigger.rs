//! When to reply: the admission and persona-matching decision for one incoming message.
//!
//! The caller (the Discord adapter, through the engine) describes the message in Tomori's own
//! terms (who wrote it, whether it mentions or replies to the bot, which personas exist) and gets
//! back either a reason to stay silent or the personas to answer with, in order. Everything here is
//! a pure function of that description, so the rules read as a table of cases in the tests.

mod words;

pub use words::{normalize_trigger_word, parse_trigger_words};

use crate::privacy::PrivacyLevel;

mod auto;

pub use auto::{AutoCounter, AutoRange, AutoRangeError, MAX_AUTO_TRIGGER, draw_target};

/// Who wrote the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    /// A person.
    Human {
        /// Their privacy level.
        privacy: PrivacyLevel,
    },
    /// The bot itself, speaking as the main persona.
    SelfBot {
        /// Persona messages in a row, this one included (1 for an answer to a person).
        chain: u32,
    },
    /// One of the bot's managed persona webhooks.
    OwnPersona {
        /// Index of the persona in [`Situation::personas`].
        persona: usize,
        /// Persona messages in a row, this one included.
        chain: u32,
    },
    /// Another bot.
    OtherBot,
    /// A webhook Tomori does not manage.
    UnknownWebhook,
}

/// What the message replies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyTo {
    /// Not a reply, or a reply to someone else.
    Nothing,
    /// A message of the bot itself (the main persona).
    Bot,
    /// A message of one of the bot's persona webhooks.
    Persona(usize),
}

/// Whether the channel makes the bot join in unaddressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoTrigger {
    /// An ordinary channel.
    Off,
    /// An auto-trigger channel whose random counter reached its threshold on this message.
    CounterHit,
    /// Always-reply: every message from a person gets an answer.
    AlwaysReply,
}

/// A persona as the trigger rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonaTrigger {
    /// Display name (also an implicit trigger word).
    pub nickname: String,
    /// Extra trigger words.
    pub triggers: Vec<String>,
    /// Whether this is the main persona (the bot's own voice).
    pub is_main: bool,
}

/// The server's trigger settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TriggerSettings {
    /// Personas one message may trigger.
    pub match_limit: u32,
    /// Persona-to-persona replies allowed in a row.
    pub cascade_limit: u32,
    /// Only "@trigger", a mention or a reply count.
    pub deliberate: bool,
}

/// Everything the decision depends on.
#[derive(Debug, Clone)]
pub struct Situation<'a> {
    /// Who wrote it.
    pub author: Author,
    /// The text.
    pub content: &'a str,
    /// A direct message (always answered).
    pub is_dm: bool,
    /// The bot is @mentioned.
    pub mentions_bot: bool,
    /// What it replies to.
    pub reply_to: ReplyTo,
    /// The channel (or the author's roles) is outside the server's whitelist.
    pub outside_whitelist: bool,
    /// The channel is the thought-log channel.
    pub in_thought_log: bool,
    /// Auto-trigger state of the channel.
    pub auto_trigger: AutoTrigger,
    /// The server's personas, main persona first.
    pub personas: &'a [PersonaTrigger],
    /// The channel's own persona (index into `personas`), which speaks in place of the main
    /// persona when the bot is addressed without a persona's name: mentions, replies to the bot,
    /// server trigger words, auto-trigger. Other personas' names and triggers still call them.
    pub default_persona: Option<usize>,
    /// Trigger words of the server (they address the default persona).
    pub server_triggers: &'a [String],
    /// Settings.
    pub settings: TriggerSettings,
}

/// Why the bot stays silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Silence {
    /// Nothing addressed the bot.
    NotAddressed,
    /// Starts with "!": meant for another bot or for people.
    BangPrefix,
    /// Privacy level 2: never triggers by message.
    PrivacyFull,
    /// Another bot or an unknown webhook that does not address Tomori directly.
    ForeignBot,
    /// A persona chain reached the cascade limit.
    CascadeLimit,
    /// Outside the server's channel or role whitelist.
    NotWhitelisted,
    /// The thought-log channel never triggers.
    ThoughtLog,
    /// The server has no persona.
    NoPersona,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Stay silent.
    Silent(Silence),
    /// Answer with these personas (indices into [`Situation::personas`]), one after another.
    Reply {
        /// Personas in answer order.
        personas: Vec<usize>,
        /// Addressed on purpose (mention, reply, trigger, DM): errors are shown; passive turns
        /// (auto-trigger) fail quietly.
        deliberate: bool,
    },
}

/// Whether the author may be answered here at all, whatever addressed the bot: the admission
/// rules of [`decide`] (a persona exists, not the thought-log channel, not privacy level 2,
/// inside the channel and role whitelists and off the blacklist, which DMs live outside of)
/// without its trigger rules. An explicit request to answer (`/bot respond`) must pass these,
/// and only these.
pub fn admission(s: &Situation<'_>) -> Option<Silence> {
    if s.personas.is_empty() {
        return Some(Silence::NoPersona);
    }
    if s.in_thought_log {
        return Some(Silence::ThoughtLog);
    }
    if matches!(s.author, Author::Human { privacy: PrivacyLevel::Full }) {
        return Some(Silence::PrivacyFull);
    }
    if s.outside_whitelist && !s.is_dm {
        return Some(Silence::NotWhitelisted);
    }
    None
}

/// Decides whether and as whom to answer.
pub fn decide(s: &Situation<'_>) -> Decision {
    if s.personas.is_empty() {
        return Decision::Silent(Silence::NoPersona);
    }
    if s.in_thought_log {
        return Decision::Silent(Silence::ThoughtLog);
    }
    if s.content.trim_start().starts_with('!') {
        return Decision::Silent(Silence::BangPrefix);
    }
    let sender_persona = match s.author {
        Author::Human { privacy: PrivacyLevel::Full } => {
            return Decision::Silent(Silence::PrivacyFull);
        }
        Author::SelfBot { chain } | Author::OwnPersona { chain, .. }
            if chain > s.settings.cascade_limit =>
        {
            return Decision::Silent(Silence::CascadeLimit);
        }
        Author::SelfBot { .. } => Some(0),
        Author::OwnPersona { persona, .. } => Some(persona),
        Author::Human { .. } | Author::OtherBot | Author::UnknownWebhook => None,
    };
    // Security: spoofed persona output. A webhook the bot does not manage can take any name
    // and avatar, a persona's or a member's, so nothing it writes starts a turn, however it
    // addresses the bot (another bot account has a stable identity and is answered when
    // addressed directly).
    if matches!(s.author, Author::UnknownWebhook) {
        return Decision::Silent(Silence::ForeignBot);
    }
    let is_person = matches!(s.author, Author::Human { .. });
    let matches = match_personas(s, sender_persona);
    let direct = s.mentions_bot || s.reply_to != ReplyTo::Nothing || !matches.is_empty();
    if matches!(s.author, Author::OtherBot | Author::UnknownWebhook) && !direct {
        return Decision::Silent(Silence::ForeignBot);
    }

    let mut personas: Vec<usize> = Vec::new();
    let push = |idx: usize, list: &mut Vec<usize>| {
        if Some(idx) != sender_persona && !list.contains(&idx) {
            list.push(idx);
        }
    };
    let default = default_index(s);
    match s.reply_to {
        ReplyTo::Persona(idx) => push(idx, &mut personas),
        ReplyTo::Bot => push(default, &mut personas),
        ReplyTo::Nothing => {}
    }
    if s.mentions_bot && matches.is_empty() {
        push(default, &mut personas);
    }
    for idx in matches {
        push(idx, &mut personas);
    }
    let mut deliberate = true;
    if personas.is_empty() {
        if s.is_dm && is_person {
            push(default, &mut personas);
        } else if is_person && s.auto_trigger != AutoTrigger::Off {
            push(default, &mut personas);
            deliberate = false;
        }
    }
    if personas.is_empty() {
        return Decision::Silent(Silence::NotAddressed);
    }
    // Security: spend abuse. Auto-trigger and always-reply never bypass the whitelist by being
    // addressed; only DMs live outside it.
    if s.outside_whitelist && !s.is_dm {
        return Decision::Silent(Silence::NotWhitelisted);
    }
    let limit = usize::try_from(s.settings.match_limit.max(1)).unwrap_or(usize::MAX);
    personas.truncate(limit);
    Decision::Reply { personas, deliberate }
}

/// The channel's persona when it names one that exists, else the main persona.
fn default_index(s: &Situation<'_>) -> usize {
    s.default_persona
        .filter(|idx| *idx < s.personas.len())
        .or_else(|| s.personas.iter().position(|p| p.is_main))
        .unwrap_or(0)
}

/// Personas whose trigger appears in the text, ordered by where it first appears.
fn match_personas(s: &Situation<'_>, sender: Option<usize>) -> Vec<usize> {
    let deliberate = s.settings.deliberate && !s.is_dm;
    let default = default_index(s);
    let mut hits: Vec<(usize, usize)> = Vec::new();
    for (idx, persona) in s.personas.iter().enumerate() {
        if Some(idx) == sender {
            continue;
        }
        let words = std::iter::once(&persona.nickname)
            .chain(&persona.triggers)
            .chain(if idx == default { s.server_triggers } else { &[] });
        let first = words.filter_map(|word| find_trigger(s.content, word, deliberate)).min();
        if let Some(position) = first {
            hits.push((position, idx));
        }
    }
    hits.sort_unstable();
    hits.into_iter().map(|(_, idx)| idx).collect()
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF    // hiragana, katakana
        | 0x3400..=0x4DBF  // CJK extension A
        | 0x4E00..=0x9FFF  // CJK unified ideographs
        | 0xF900..=0xFAFF  // compatibility ideographs
        | 0xFF66..=0xFF9F  // half-width katakana
        | 0xAC00..=0xD7AF) // hangul syllables
}

/// Where `trigger` first appears in `text` (a char index), if it does.
///
/// Latin-script triggers match case-insensitively as whole words in which every letter may
/// repeat ("tomori" matches "Tomoooori!"); triggers with CJK characters match as substrings, since
/// those scripts do not separate words with spaces. In deliberate mode only "@trigger" counts.
/// The trigger is read in its stored form ([`normalize_trigger_word`]), so words stored quoted
/// before that rule still match.
pub fn find_trigger(text: &str, trigger: &str, deliberate: bool) -> Option<usize> {
    let pattern: Vec<char> = normalize_trigger_word(trigger).chars().collect();
    if pattern.is_empty() {
        return None;
    }
    let chars: Vec<char> = text.to_lowercase().chars().collect();
    if pattern.iter().any(|c| is_cjk(*c)) {
        return (0..chars.len()).find(|&start| {
            chars
                .get(start..start + pattern.len())
                .is_some_and(|window| window == pattern.as_slice())
                && (!deliberate || preceded_by_at(&chars, start))
        });
    }
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    (0..chars.len()).find(|&start| {
        let boundary_before = start == 0 || chars.get(start - 1).is_none_or(|c| !is_word(*c));
        boundary_before
            && (!deliberate || preceded_by_at(&chars, start))
            && match_repeating(&chars, start, &pattern)
                .is_some_and(|end| chars.get(end).is_none_or(|c| !is_word(*c)))
    })
}

/// "@ trigger" with optional spaces between the at sign and the word.
fn preceded_by_at(chars: &[char], start: usize) -> bool {
    chars
        .get(..start)
        .is_some_and(|before| before.iter().rev().find(|c| !c.is_whitespace()) == Some(&'@'))
}

/// Matches `pattern` at `start`, each pattern character standing for one or more copies of
/// itself; returns the end index of the longest match.
fn match_repeating(chars: &[char], start: usize, pattern: &[char]) -> Option<usize> {
    let (&first, rest) = pattern.split_first()?;
    if chars.get(start) != Some(&first) {
        return None;
    }
    let mut run_end = start + 1;
    while chars.get(run_end) == Some(&first) {
        run_end += 1;
    }
    if rest.is_empty() {
        return Some(run_end);
    }
    // Backtrack: the next pattern character may be the same letter ("aaron" needs two a's).
    (start + 1..=run_end).rev().find_map(|next| match_repeating(chars, next, rest))
}

/// Whether the whole message asks the bot to stop ("stop", "that's enough", "やめて", ...).
pub fn is_stop_phrase(text: &str) -> bool {
    const PHRASES: &[&str] = &[
        "wait",
        "stop",
        "enough",
        "chill",
        "halt",
        "pause",
        "quit",
        "okay stop",
        "ok stop",
        "okay enough",
        "that's enough",
        "thats enough",
        "that's good",
        "that's fine",
        "alright stop",
        "please stop",
        "stop it",
        "nevermind",
        "never mind",
        "cut it out",
        "tone it down",
        "knock it off",
        "やめて",
        "ストップ",
        "もういい",
        "十分",
        "もう十分",
        "いいよ",
        "もうやめて",
        "待って",
        "ちょっと待って",
    ];
    let normalized: String = text
        .trim()
        .trim_matches(|c: char| {
            c.is_ascii_punctuation() || "。！？…、".contains(c) || c.is_whitespace()
        })
        .to_lowercase()
        .replace('\u{2019}', "'")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    PHRASES.contains(&normalized.as_str())
}

#[cfg(test)]
mod tests;
