//! Recent history per channel, kept from gateway events so that a turn does not refetch it over
//! REST.
//!
//! Each channel keeps at most `capacity` messages (the largest message fetch limit a server may
//! set); the number of channels is bounded too, the least recently active channel giving way.
//! Message text is stored once, as sent, and changed by edits and deletions. The first turn in a
//! channel after start adds what the platform still has from before ([`History::backfill`]);
//! history markers (`/tool refresh`, `/tool compact`) move where a channel's history starts.

use std::collections::{HashMap, VecDeque};

use tomori_core::id::Snowflake;

use crate::surface::ReactionChange;

/// Distinct emoji counted per message.
pub const MAX_REACTIONS: usize = 10;

/// One remembered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    /// Message id.
    pub id: Snowflake,
    /// Author's user (or webhook) id.
    pub author: Snowflake,
    /// Author's display name.
    pub author_name: String,
    /// Written by the bot or one of its persona webhooks; the persona's name if so.
    pub persona: Option<String>,
    /// Text.
    pub content: String,
    /// The message it replies to.
    pub reply_to: Option<Snowflake>,
    /// Attachments.
    pub attachments: Vec<RememberedAttachment>,
    /// Reactions members left on it: each emoji with how many, never who (at most
    /// [`MAX_REACTIONS`] emoji; members the engine knows to be at privacy level 2 not counted).
    pub reactions: Vec<(String, u32)>,
    /// The summary a compact marker carries (`/tool compact`), shown as a note, not as anyone's
    /// message; kept through edits, deletions and privacy changes of the messages it summed up.
    pub is_summary: bool,
}

/// A remembered attachment: where it is and what the platform says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RememberedAttachment {
    /// Where the platform serves it.
    pub url: String,
    /// MIME type, when the platform says.
    pub content_type: Option<String>,
    /// Size in bytes, as the platform claims.
    pub size: u64,
}

impl RememberedAttachment {
    /// Whether the platform calls it an image.
    pub fn is_image(&self) -> bool {
        self.content_type.as_deref().is_some_and(|t| t.to_ascii_lowercase().starts_with("image/"))
    }

    /// Whether the platform calls it a video.
    pub fn is_video(&self) -> bool {
        self.content_type.as_deref().is_some_and(|t| t.to_ascii_lowercase().starts_with("video/"))
    }
}

/// One channel's kept messages.
#[derive(Debug, Default)]
struct Channel {
    /// The clock at the channel's last activity (the least recent gives way).
    used: u64,
    /// Oldest first, by id.
    messages: VecDeque<Remembered>,
    /// The latest history marker seen: nothing older is kept (a summary item sits at it).
    floor: Option<Snowflake>,
    /// The platform's own history was read into it once (see [`History::backfill`]).
    backfilled: bool,
}

/// The cache.
#[derive(Debug)]
pub struct History {
    capacity: usize,
    max_channels: usize,
    channels: HashMap<Snowflake, Channel>,
    clock: u64,
}

impl History {
    /// A cache of `capacity` messages per channel for at most `max_channels` channels.
    pub fn new(capacity: usize, max_channels: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            max_channels: max_channels.max(1),
            channels: HashMap::new(),
            clock: 0,
        }
    }

    /// The channel's entry, made room for if new.
    fn channel(&mut self, channel: Snowflake) -> &mut Channel {
        self.clock += 1;
        if !self.channels.contains_key(&channel) && self.channels.len() >= self.max_channels {
            let stalest = self.channels.iter().min_by_key(|(_, c)| c.used).map(|(id, _)| *id);
            if let Some(stalest) = stalest {
                self.channels.remove(&stalest);
            }
        }
        let entry = self.channels.entry(channel).or_default();
        entry.used = self.clock;
        entry
    }

    /// Remembers a message, forgetting the channel's oldest beyond capacity.
    pub fn push(&mut self, channel: Snowflake, message: Remembered) {
        let capacity = self.capacity;
        let entry = self.channel(channel);
        if entry.floor.is_some_and(|floor| message.id <= floor && !message.is_summary)
            || entry.messages.iter().any(|m| m.id == message.id)
        {
            return;
        }
        // Gateway events arrive in order, so this is almost always the end.
        let at = entry.messages.iter().rposition(|m| m.id < message.id).map_or(0, |i| i + 1);
        entry.messages.insert(at, message);
        while entry.messages.len() > capacity {
            entry.messages.pop_front();
        }
    }

    /// Whether the channel's history has not been read from the platform yet in this process
    /// (it is again after the channel gave way to others).
    pub fn needs_backfill(&self, channel: Snowflake) -> bool {
        !self.channels.get(&channel).is_some_and(|c| c.backfilled)
    }

    /// How many messages the channel keeps now.
    pub fn kept(&self, channel: Snowflake) -> usize {
        self.channels.get(&channel).map_or(0, |c| c.messages.len())
    }

    /// Adds the messages read from the platform (oldest first) under those kept since, and marks
    /// the channel read. Messages older than the latest marker, and ones already kept, are
    /// skipped; edits and deletions seen since win over what was read.
    pub fn backfill(&mut self, channel: Snowflake, older: Vec<Remembered>) {
        self.channel(channel).backfilled = true;
        for message in older {
            self.push(channel, message);
        }
    }

    /// A history marker: the channel's history starts at `id`, with `summary` (the compact
    /// marker's note) as its first item, or after it (the refresh marker).
    pub fn start_at(&mut self, channel: Snowflake, id: Snowflake, summary: Option<Remembered>) {
        let entry = self.channel(channel);
        if entry.floor.is_some_and(|floor| floor > id) {
            return;
        }
        entry.floor = Some(id);
        entry.messages.retain(|m| m.id > id);
        if let Some(summary) = summary {
            entry.messages.push_front(summary);
        }
    }

    /// Forgets a channel's history (a platform with no markers: the terminal's `/tool refresh`).
    pub fn reset(&mut self, channel: Snowflake) {
        if let Some(entry) = self.channels.get_mut(&channel) {
            entry.messages.clear();
        }
    }

    /// A kept message was edited: its text and attachments become the new ones.
    pub fn edit(
        &mut self,
        channel: Snowflake,
        id: Snowflake,
        content: String,
        attachments: Vec<RememberedAttachment>,
    ) {
        let found = self
            .channels
            .get_mut(&channel)
            .and_then(|c| c.messages.iter_mut().find(|m| m.id == id && !m.is_summary));
        if let Some(message) = found {
            message.content = content;
            message.attachments = attachments;
        }
    }

    /// A reaction was added to, removed from or cleared off a kept message (cleared with no
    /// emoji: all of them).
    pub fn react(
        &mut self,
        channel: Snowflake,
        id: Snowflake,
        emoji: Option<&str>,
        change: ReactionChange,
    ) {
        let found = self
            .channels
            .get_mut(&channel)
            .and_then(|c| c.messages.iter_mut().find(|m| m.id == id && !m.is_summary));
        let Some(message) = found else { return };
        let reactions = &mut message.reactions;
        match (emoji, change) {
            (None, _) => reactions.clear(),
            (Some(emoji), ReactionChange::Cleared) => reactions.retain(|(e, _)| e != emoji),
            (Some(emoji), ReactionChange::Added) => match reactions
                .iter()
                .position(|(e, _)| e == emoji)
            {
                Some(at) => {
                    if let Some((_, count)) = reactions.get_mut(at) {
                        *count = count.saturating_add(1);
                    }
                }
                None if reactions.len() < MAX_REACTIONS => reactions.push((emoji.to_owned(), 1)),
                None => {}
            },
            (Some(emoji), ReactionChange::Removed) => {
                if let Some((_, count)) = reactions.iter_mut().find(|(e, _)| e == emoji) {
                    *count = count.saturating_sub(1);
                }
                reactions.retain(|(_, count)| *count > 0);
            }
        }
    }

    /// Kept messages were deleted.
    pub fn delete(&mut self, channel: Snowflake, ids: &[Snowflake]) {
        if let Some(entry) = self.channels.get_mut(&channel) {
            entry.messages.retain(|m| m.is_summary || !ids.contains(&m.id));
        }
    }

    /// Forgets everything `author` wrote, in every channel (they chose privacy level 2).
    pub fn forget_author(&mut self, author: Snowflake) {
        for entry in self.channels.values_mut() {
            entry.messages.retain(|m| m.is_summary || m.author != author);
        }
    }

    /// The last `limit` messages of a channel, oldest first.
    pub fn recent(&self, channel: Snowflake, limit: usize) -> Vec<Remembered> {
        self.channels.get(&channel).map_or_else(Vec::new, |entry| {
            let skip = entry.messages.len().saturating_sub(limit);
            entry.messages.iter().skip(skip).cloned().collect()
        })
    }

    /// Channels cached (for metrics and tests).
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> Snowflake {
        Snowflake::new(n).unwrap()
    }

    fn message(n: u64) -> Remembered {
        Remembered {
            id: id(n),
            author: id(1),
            author_name: "alice".into(),
            persona: None,
            content: format!("message {n}"),
            reply_to: None,
            attachments: Vec::new(),
            reactions: Vec::new(),
            is_summary: false,
        }
    }

    #[test]
    fn reactions_are_counted_per_emoji_within_bounds() {
        let mut history = History::new(10, 2);
        history.push(id(100), message(1));
        for emoji in ["👍", "👍", ":blobcat:", "👍"] {
            history.react(id(100), id(1), Some(emoji), ReactionChange::Added);
        }
        history.react(id(100), id(1), Some("👍"), ReactionChange::Removed);
        history.react(id(100), id(1), Some(":blobcat:"), ReactionChange::Removed);
        history.react(id(100), id(1), Some("🎉"), ReactionChange::Removed);
        let kept = &history.recent(id(100), 1)[0];
        assert_eq!(kept.reactions, [("👍".to_owned(), 2)]);
        for n in 0..20 {
            history.react(id(100), id(1), Some(&format!(":e{n}:")), ReactionChange::Added);
        }
        assert_eq!(history.recent(id(100), 1)[0].reactions.len(), MAX_REACTIONS);
        history.react(id(100), id(1), Some(":e0:"), ReactionChange::Cleared);
        assert_eq!(history.recent(id(100), 1)[0].reactions.len(), MAX_REACTIONS - 1);
        history.react(id(100), id(1), None, ReactionChange::Cleared);
        assert!(history.recent(id(100), 1)[0].reactions.is_empty());
        history.react(id(100), id(99), Some("👍"), ReactionChange::Added);
    }

    fn ids(history: &History, channel: u64) -> Vec<u64> {
        history.recent(id(channel), 100).iter().map(|m| m.id.get()).collect()
    }

    #[test]
    fn keeps_the_newest_messages_per_channel_within_bounds() {
        let mut history = History::new(3, 2);
        for n in 1..=5 {
            history.push(id(100), message(n));
        }
        history.push(id(100), message(5));
        let kept: Vec<u64> = history.recent(id(100), 10).iter().map(|m| m.id.get()).collect();
        assert_eq!(kept, [3, 4, 5]);
        assert_eq!(history.recent(id(100), 2).len(), 2);
        history.push(id(200), message(6));
        history.push(id(100), message(7));
        history.push(id(300), message(8));
        assert_eq!(history.channel_count(), 2);
        assert!(
            history.recent(id(200), 10).is_empty(),
            "the least recently active channel gives way"
        );
        let mut other = message(9);
        other.author = id(2);
        history.push(id(100), other);
        history.forget_author(id(1));
        let kept: Vec<u64> = history.recent(id(100), 10).iter().map(|m| m.id.get()).collect();
        assert_eq!(kept, [9], "only the other author's message is left");
        history.reset(id(100));
        assert!(history.recent(id(100), 10).is_empty());
    }

    #[test]
    fn backfill_fills_in_under_what_was_kept_once() {
        let mut history = History::new(5, 10);
        assert!(history.needs_backfill(id(100)));
        history.push(id(100), message(7));
        history.push(id(100), message(9));
        assert!(history.needs_backfill(id(100)), "messages seen live are not a backfill");
        history.backfill(id(100), (1..=8).map(message).collect());
        assert!(!history.needs_backfill(id(100)));
        assert_eq!(ids(&history, 100), [5, 6, 7, 8, 9], "merged by id, the newest kept");
    }

    #[test]
    fn edits_and_deletions_change_what_is_kept() {
        let mut history = History::new(10, 10);
        for n in 1..=4 {
            history.push(id(100), message(n));
        }
        history.edit(id(100), id(2), "edited".into(), Vec::new());
        history.edit(id(100), id(99), "unknown".into(), Vec::new());
        history.delete(id(100), &[id(3), id(4), id(98)]);
        let kept = history.recent(id(100), 10);
        assert_eq!(kept.iter().map(|m| m.id.get()).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(kept[1].content, "edited");
    }

    #[test]
    fn markers_move_where_history_starts_and_hold_against_backfill() {
        let mut history = History::new(10, 10);
        for n in 1..=4 {
            history.push(id(100), message(n));
        }
        history.start_at(id(100), id(3), None);
        assert_eq!(ids(&history, 100), [4], "a refresh marker: after it");
        history.backfill(id(100), (1..=4).map(message).collect());
        assert_eq!(ids(&history, 100), [4], "nothing from before the marker comes back");
        let mut summary = message(6);
        summary.is_summary = true;
        summary.content = "they talked about cats".into();
        history.push(id(100), message(5));
        history.push(id(100), message(7));
        history.start_at(id(100), id(6), Some(summary));
        assert_eq!(ids(&history, 100), [6, 7], "a compact marker: at it, with its summary");
        history.start_at(id(100), id(3), None);
        assert_eq!(ids(&history, 100), [6, 7], "an older marker changes nothing");
        history.forget_author(id(1));
        assert_eq!(ids(&history, 100), [6], "the summary stays when its authors leave");
    }
}
