//! The harness's model: a [`crate::fake_llm::Responder`] that streams an answer with a
//! first-token latency and a token rate, notes when each request arrived, and, while a fault is
//! switched on, stalls mid-stream or answers 500.
//!
//! Every answer starts with `ack r<seq>`, where `seq` numbers the requests from 0 in arrival
//! order; the harness finds that marker in the Discord message and so knows which request
//! produced which answer (and the message's `message_reference` says which user message it
//! answers).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::fake_llm::{Recorded, Reply, Turn, WireFormat};

/// The marker every answer starts with.
pub(super) const ANSWER_MARK: &str = "ack r";

/// What the model does to the requests that arrive now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Mode {
    /// Stream the answer.
    Normal = 0,
    /// Stream half of the answer, pause for the stall, then the rest.
    Stall = 1,
    /// Answer 500 with the wire's error body.
    ServerError = 2,
}

/// How a request was treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Arrival {
    /// When the request arrived (read in full).
    pub(super) at: Instant,
    /// What it got.
    pub(super) mode: Mode,
}

/// The harness's fake model; see the module documentation.
#[derive(Debug)]
pub(super) struct Model {
    latency: Duration,
    gap: Duration,
    tokens: u32,
    stall: Duration,
    mode: AtomicU8,
    arrivals: Mutex<Vec<Arrival>>,
}

impl Model {
    /// A model that waits `latency` before the first token, then sends `tokens` tokens at
    /// `tokens_per_sec`; a stall lasts `stall`.
    pub(super) fn new(
        latency: Duration,
        tokens_per_sec: u32,
        tokens: u32,
        stall: Duration,
    ) -> Self {
        Self {
            latency,
            gap: Duration::from_secs(1) / tokens_per_sec.max(1),
            tokens,
            stall,
            mode: AtomicU8::new(Mode::Normal as u8),
            arrivals: Mutex::new(Vec::new()),
        }
    }

    /// Switches what the next requests get.
    pub(super) fn set_mode(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    fn mode(&self) -> Mode {
        match self.mode.load(Ordering::SeqCst) {
            1 => Mode::Stall,
            2 => Mode::ServerError,
            _ => Mode::Normal,
        }
    }

    /// Every chat request so far; the index is the request's `seq`.
    pub(super) fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The answer to one request.
    pub(super) fn respond(&self, request: &Recorded) -> Reply {
        if request.method != "POST" || !request.path.ends_with("/chat/completions") {
            return Reply::error(WireFormat::OpenAi, 404, "fake: only chat completions here");
        }
        let mode = self.mode();
        let seq = {
            let mut arrivals = self.arrivals.lock().unwrap_or_else(PoisonError::into_inner);
            // When the request's last byte was read, not when the fake got round to it.
            arrivals.push(Arrival { at: Instant::from_std(request.received), mode });
            arrivals.len() - 1
        };
        if mode == Mode::ServerError {
            return Reply::error(WireFormat::OpenAi, 500, "fake: the model is overloaded");
        }
        Reply::Turn(self.turn(seq, mode == Mode::Stall))
    }

    /// `ack r<seq> w2 w3 …`, one token per delta, the stall (if any) half way.
    fn turn(&self, seq: usize, stall: bool) -> Turn {
        let mut turn = Turn::new().pause(self.latency).text(&format!("{ANSWER_MARK}{seq}"));
        let half = self.tokens / 2;
        for token in 2..=self.tokens {
            if stall && token == half.max(2) {
                turn = turn.pause(self.stall);
            }
            turn = turn.pause(self.gap).text(&format!(" w{token}"));
        }
        turn
    }
}

/// The request number in an answer that starts with [`ANSWER_MARK`].
pub(super) fn answer_seq(content: &str) -> Option<usize> {
    let rest = content.strip_prefix(ANSWER_MARK)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_numbered_by_arrival() {
        let check = |content: &str, expected: Option<usize>| {
            assert_eq!(answer_seq(content), expected, "{content}");
        };
        check("ack r0 w2 w3", Some(0));
        check("ack r417", Some(417));
        check("Sorry, I couldn't reach the model right now (incident 0a1b2c3d).", None);
        check("ack rx", None);
        check("", None);
    }
}
