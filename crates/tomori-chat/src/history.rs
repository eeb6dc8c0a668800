//! Recent history per channel, kept from gateway events so that a turn does not refetch it over
//! REST.
//!
//! Each channel keeps at most `capacity` messages (the largest message fetch limit a server may
//! set); the number of channels is bounded too, the least recently active channel giving way.
//! Message text is stored once, as sent.

use std::collections::{HashMap, VecDeque};

use tomori_core::id::Snowflake;

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
}

/// The cache.
#[derive(Debug)]
pub struct History {
    capacity: usize,
    max_channels: usize,
    channels: HashMap<Snowflake, (u64, VecDeque<Remembered>)>,
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

    /// Remembers a message, forgetting the channel's oldest beyond capacity.
    pub fn push(&mut self, channel: Snowflake, message: Remembered) {
        self.clock += 1;
        if !self.channels.contains_key(&channel) && self.channels.len() >= self.max_channels {
            let stalest =
                self.channels.iter().min_by_key(|(_, (used, _))| *used).map(|(id, _)| *id);
            if let Some(stalest) = stalest {
                self.channels.remove(&stalest);
            }
        }
        let (used, messages) = self.channels.entry(channel).or_insert_with(|| (0, VecDeque::new()));
        *used = self.clock;
        if messages.iter().any(|m| m.id == message.id) {
            return;
        }
        messages.push_back(message);
        while messages.len() > self.capacity {
            messages.pop_front();
        }
    }

    /// Forgets a channel's history (the `/tool refresh` reset).
    pub fn reset(&mut self, channel: Snowflake) {
        self.channels.remove(&channel);
    }

    /// Forgets everything `author` wrote, in every channel (they chose privacy level 2).
    pub fn forget_author(&mut self, author: Snowflake) {
        for (_, messages) in self.channels.values_mut() {
            messages.retain(|m| m.author != author);
        }
    }

    /// The last `limit` messages of a channel, oldest first.
    pub fn recent(&self, channel: Snowflake, limit: usize) -> Vec<Remembered> {
        self.channels.get(&channel).map_or_else(Vec::new, |(_, messages)| {
            let skip = messages.len().saturating_sub(limit);
            messages.iter().skip(skip).cloned().collect()
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
        }
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
}
