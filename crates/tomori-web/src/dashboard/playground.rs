//! The playground: a member talks to a server's personas in the browser, through the same engine
//! as Discord (the same admission, quotas, memories, tools and privacy), on a [`WebSurface`].
//!
//! Each member has one playground room per server: a channel id of its own, derived from the
//! server and the member and above every id Discord hands out, so no two rooms and no Discord
//! channel share a history. What the personas say is kept per room (bounded) for the page, and
//! pushed to the member's open page as Server-Sent Events.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::broadcast;
use tomori_chat::surface::{ChatSurface, Outgoing, Speaker, SurfaceError};
use tomori_core::id::Snowflake;

/// Lines a room keeps for its page.
const TRANSCRIPT: usize = 100;
/// Events a slow page may fall behind by before it misses some (it reloads the transcript then).
const EVENTS: usize = 64;
/// Rooms kept at most; the oldest go first.
const MAX_ROOMS: usize = 2_000;
/// Discord's epoch, in Unix milliseconds.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// One line of a playground conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// Who said it: the member, a persona by name, or `None` for the main persona.
    pub who: Option<String>,
    /// It is the member's own.
    pub mine: bool,
    /// The text.
    pub text: String,
}

#[derive(Debug)]
struct Room {
    transcript: VecDeque<Line>,
    events: broadcast::Sender<Line>,
    touched: u64,
}

#[derive(Debug, Default)]
struct Rooms {
    rooms: Mutex<HashMap<Snowflake, Room>>,
    counter: AtomicU64,
}

/// The engine's surface for the playground: messages go to the rooms' transcripts and pages.
#[derive(Debug, Clone, Default)]
pub struct WebSurface(Arc<Rooms>);

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl WebSurface {
    /// A surface with no rooms yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The playground channel of `member` in `guild`.
    pub fn room_of(guild: Snowflake, member: Snowflake) -> Snowflake {
        let digest = Sha256::new()
            .chain_update(b"tomori/playground/1")
            .chain_update(guild.get().to_be_bytes())
            .chain_update(member.get().to_be_bytes())
            .finalize();
        let mut first = [0_u8; 8];
        first.copy_from_slice(&digest[..8]);
        // Bit 62 set: Discord's ids stay below it for decades (their top bits are milliseconds
        // since 2015), so a room never shares an id with a real channel.
        let id = (u64::from_be_bytes(first) & ((1 << 62) - 1)) | (1 << 62);
        Snowflake::new(id).unwrap_or(guild)
    }

    /// A new message id, ordered in time like Discord's (`None` only past the year 2200).
    pub fn next_id(&self) -> Option<Snowflake> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let millis = u64::try_from(now).unwrap_or(0).saturating_sub(DISCORD_EPOCH_MS).max(1);
        let count = self.0.counter.fetch_add(1, Ordering::Relaxed) & 0x3F_FFFF;
        Snowflake::new((millis << 22) | count).ok()
    }

    fn with_room<T>(&self, room: Snowflake, f: impl FnOnce(&mut Room) -> T) -> T {
        let mut rooms = lock(&self.0.rooms);
        let tick = self.0.counter.fetch_add(1, Ordering::Relaxed);
        if !rooms.contains_key(&room)
            && rooms.len() >= MAX_ROOMS
            && let Some(oldest) = rooms.iter().min_by_key(|(_, r)| r.touched).map(|(k, _)| *k)
        {
            rooms.remove(&oldest);
        }
        let entry = rooms.entry(room).or_insert_with(|| Room {
            transcript: VecDeque::new(),
            events: broadcast::channel(EVENTS).0,
            touched: tick,
        });
        entry.touched = tick;
        f(entry)
    }

    /// Adds `line` to `room` and tells its open pages.
    pub fn push(&self, room: Snowflake, line: Line) {
        self.with_room(room, |r| {
            if r.transcript.len() >= TRANSCRIPT {
                r.transcript.pop_front();
            }
            r.transcript.push_back(line.clone());
            let _ = r.events.send(line);
        });
    }

    /// The room's conversation so far.
    pub fn transcript(&self, room: Snowflake) -> Vec<Line> {
        self.with_room(room, |r| r.transcript.iter().cloned().collect())
    }

    /// What the room says from now on.
    pub fn subscribe(&self, room: Snowflake) -> broadcast::Receiver<Line> {
        self.with_room(room, |r| r.events.subscribe())
    }
}

impl ChatSurface for WebSurface {
    async fn send(&self, channel: Snowflake, message: Outgoing) -> Result<Snowflake, SurfaceError> {
        let who = match message.speaker {
            Speaker::Bot => None,
            Speaker::Persona { name, .. } => Some(name),
        };
        self.push(channel, Line { who, mine: false, text: message.content });
        self.next_id().ok_or_else(|| SurfaceError::Unavailable("no message id left".into()))
    }

    async fn typing(&self, _channel: Snowflake) -> Result<(), SurfaceError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> Snowflake {
        Snowflake::new(n).unwrap()
    }

    #[test]
    fn rooms_are_per_server_and_member_and_above_discords_ids() {
        let a = WebSurface::room_of(id(1), id(2));
        assert_ne!(a, WebSurface::room_of(id(2), id(1)));
        assert_ne!(a, WebSurface::room_of(id(1), id(3)));
        assert_eq!(a, WebSurface::room_of(id(1), id(2)));
        assert!(a.get() >= 1 << 62);
    }

    #[test]
    fn message_ids_grow() {
        let surface = WebSurface::new();
        let (first, second) = (surface.next_id().unwrap(), surface.next_id().unwrap());
        assert!(second > first);
        assert!(first.get() < 1 << 62, "ordinary snowflakes, below the rooms");
    }

    #[test]
    fn a_room_keeps_its_newest_lines() {
        let surface = WebSurface::new();
        let room = id(9);
        for n in 0..=TRANSCRIPT {
            surface.push(room, Line { who: None, mine: false, text: n.to_string() });
        }
        let lines = surface.transcript(room);
        assert_eq!(lines.len(), TRANSCRIPT);
        assert_eq!(lines[0].text, "1");
    }
}
