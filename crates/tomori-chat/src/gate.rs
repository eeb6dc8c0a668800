//! One turn at a time per channel: the lock, the FIFO queue, interrupts and stops.
//!
//! A [`Gate`] is the state of every channel; the engine asks it what to do with each triggering
//! message ([`Gate::arrive`]) and what to run next when a turn ends ([`Gate::finish`]). The rules:
//! - an idle channel starts the turn;
//! - a stop phrase from the user being answered cancels the turn;
//! - a follow-up from that user interrupts a turn that is only streaming (at most
//!   [`MAX_INTERRUPTS`] times a turn), and waits at the front of the queue behind a tool chain,
//!   replacing an earlier waiting follow-up;
//! - anything else waits in FIFO order, up to the gate's queue cap ([`DEFAULT_MAX_QUEUED`]
//!   unless the engine sets another): beyond it a message is turned away, and its author is
//!   told once while the queue stays full;
//! - a turn older than [`STALE_AFTER`] is released (cancelled) when the next message arrives.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tomori_core::id::Snowflake;

/// How often one turn may be interrupted by follow-ups.
pub const MAX_INTERRUPTS: u8 = 3;
/// Messages that may wait per channel unless the engine sets another cap
/// (`EngineOptions::max_queued`).
pub const DEFAULT_MAX_QUEUED: usize = 8;
/// A turn running longer than this is presumed stuck.
pub const STALE_AFTER: Duration = Duration::from_secs(180);

/// What the running turn is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Generating text: safe to interrupt.
    Streaming,
    /// Running tools: interrupting would lose their work.
    Tools,
}

/// A turn the gate let run: its id (to report its end) and its cancellation token (cancelled by a
/// stop, an interrupt, `/bot kill` or staleness; everything the turn does, outbound HTTP included,
/// watches it).
#[derive(Debug, Clone)]
pub struct Turn {
    /// Identifies the turn to [`Gate::finish`].
    pub id: u64,
    /// Cancelled when the turn must end.
    pub cancel: CancellationToken,
}

/// What to do with an arriving message.
#[derive(Debug)]
pub enum Arrival {
    /// Run it now.
    Start(Turn),
    /// It waits in the queue.
    Queued,
    /// The running turn was cancelled; run this one now in its place.
    Interrupt(Turn),
    /// The running turn was asked to stop; this message needs no answer.
    Stopped,
    /// The channel's queue is full: the message is dropped. `tell` is true the first time its
    /// author is turned away while the queue stays full (tell them once, not on every message).
    Full {
        /// Whether to tell the author.
        tell: bool,
    },
}

#[derive(Debug)]
struct Busy {
    user: Snowflake,
    since: Instant,
    phase: Phase,
    interrupts: u8,
    turn: Turn,
}

#[derive(Debug)]
struct Channel<T> {
    busy: Option<Busy>,
    queue: VecDeque<(Snowflake, bool, T)>,
    /// Members turned away since the queue last had room.
    turned_away: HashSet<Snowflake>,
}

impl<T> Channel<T> {
    fn new() -> Self {
        Self { busy: None, queue: VecDeque::new(), turned_away: HashSet::new() }
    }
}

/// The state of every channel. `T` is what the engine queues (the message).
#[derive(Debug)]
pub struct Gate<T> {
    channels: Mutex<HashMap<Snowflake, Channel<T>>>,
    next_id: std::sync::atomic::AtomicU64,
    max_queued: usize,
}

impl<T> Default for Gate<T> {
    fn default() -> Self {
        Self::with_max_queued(DEFAULT_MAX_QUEUED)
    }
}

impl<T> Gate<T> {
    /// A gate letting at most `max_queued` messages wait per channel (at least one).
    pub fn with_max_queued(max_queued: usize) -> Self {
        Self {
            channels: Mutex::new(HashMap::new()),
            next_id: std::sync::atomic::AtomicU64::new(1),
            max_queued: max_queued.max(1),
        }
    }

    fn new_turn(&self, user: Snowflake, now: Instant) -> (Busy, Turn) {
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let turn = Turn { id, cancel: CancellationToken::new() };
        (
            Busy { user, since: now, phase: Phase::Streaming, interrupts: 0, turn: turn.clone() },
            turn,
        )
    }

    /// Decides what happens to a message from `user` that would trigger in `channel`.
    pub fn arrive(
        &self,
        channel: Snowflake,
        user: Snowflake,
        is_stop: bool,
        item: T,
        now: Instant,
    ) -> Arrival {
        let mut channels = self.channels.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let state = channels.entry(channel).or_insert_with(Channel::new);
        if let Some(busy) = &state.busy
            && now.saturating_duration_since(busy.since) > STALE_AFTER
        {
            tracing::warn!(%channel, "releasing a stale turn");
            busy.turn.cancel.cancel();
            state.busy = None;
            state.queue.clear();
            state.turned_away.clear();
        }
        let Some(busy) = &mut state.busy else {
            let (busy, turn) = self.new_turn(user, now);
            state.busy = Some(busy);
            return Arrival::Start(turn);
        };
        if busy.user == user && is_stop {
            busy.turn.cancel.cancel();
            return Arrival::Stopped;
        }
        if busy.user == user && busy.phase == Phase::Streaming && busy.interrupts < MAX_INTERRUPTS {
            busy.turn.cancel.cancel();
            let interrupts = busy.interrupts + 1;
            let (mut replacement, turn) = self.new_turn(user, now);
            replacement.interrupts = interrupts;
            *busy = replacement;
            return Arrival::Interrupt(turn);
        }
        let follow_up = busy.user == user && busy.phase == Phase::Tools;
        // Only the latest follow-up waits, at the front, replacing the one before it.
        let replaces = follow_up
            && state.queue.front().is_some_and(|(u, follow_up, _)| *u == user && *follow_up);
        // Security: queue flooding. A busy channel holds a bounded number of waiting messages;
        // beyond them a message is dropped and its author told once while the queue stays full.
        if !replaces && state.queue.len() >= self.max_queued {
            return Arrival::Full { tell: state.turned_away.insert(user) };
        }
        if follow_up {
            if replaces {
                state.queue.pop_front();
            }
            state.queue.push_front((user, true, item));
        } else {
            state.queue.push_back((user, false, item));
        }
        Arrival::Queued
    }

    /// Marks the running turn as being in `phase`.
    pub fn set_phase(&self, channel: Snowflake, phase: Phase) {
        let mut channels = self.channels.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(busy) = channels.get_mut(&channel).and_then(|c| c.busy.as_mut()) {
            busy.phase = phase;
        }
    }

    /// Ends turn `finished` and hands out the next queued item with its turn. A turn that was
    /// replaced by an interrupt, or released as stale, no longer holds the channel.
    pub fn finish(&self, channel: Snowflake, finished: u64, now: Instant) -> Option<(T, Turn)> {
        let mut channels = self.channels.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let state = channels.get_mut(&channel)?;
        if state.busy.as_ref().is_none_or(|b| b.turn.id != finished) {
            return None;
        }
        state.busy = None;
        let Some((user, _, item)) = state.queue.pop_front() else {
            channels.remove(&channel);
            return None;
        };
        // The queue has room again: whoever is turned away next is told again.
        state.turned_away.clear();
        let (busy, turn) = self.new_turn(user, now);
        state.busy = Some(busy);
        Some((item, turn))
    }

    /// `/bot kill`: cancels the running turn and empties the queue; returns whether a turn ran.
    pub fn kill(&self, channel: Snowflake) -> bool {
        let mut channels = self.channels.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(state) = channels.get_mut(&channel) else { return false };
        state.queue.clear();
        state.turned_away.clear();
        match state.busy.take() {
            Some(busy) => {
                busy.turn.cancel.cancel();
                channels.remove(&channel);
                true
            }
            None => false,
        }
    }

    /// Whether a channel has no turn running and none waiting.
    pub fn is_idle(&self, channel: Snowflake) -> bool {
        let channels = self.channels.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        channels.get(&channel).is_none_or(|c| c.busy.is_none() && c.queue.is_empty())
    }

    /// Messages waiting in a channel.
    pub fn queued(&self, channel: Snowflake) -> usize {
        let channels = self.channels.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        channels.get(&channel).map_or(0, |c| c.queue.len())
    }
}

#[cfg(test)]
mod tests;
