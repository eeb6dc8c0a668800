//! Forms waiting for their submission. A command that asks for a secret through a modal may have
//! been given more than the modal's 100-character custom id can carry (a URL), so what it was
//! given waits here, in this process, under a random nonce that is all the custom id holds.
//!
//! Security: forged and replayed form submissions. A nonce is 128 random bits, used once, valid
//! for [`TTL`], and only for the member and server that ran the command; an unknown, used or
//! expired nonce, or one submitted by someone else or elsewhere, stores nothing. The map is
//! bounded: at most [`MAX_PER_USER`] forms wait per member and [`MAX_PENDING`] in all, the oldest
//! giving way, so no one can grow it without limit.
//!
//! A form shown by one bot process must be submitted to the same process; after a restart its
//! nonce is unknown, and the member runs the command again.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tomori_core::id::Snowflake;

/// How long a form may wait for its submission.
pub(crate) const TTL: Duration = Duration::from_secs(5 * 60);

/// The most forms waiting at once, across everyone.
pub(crate) const MAX_PENDING: usize = 1_000;

/// The most forms one member may have waiting.
pub(crate) const MAX_PER_USER: usize = 5;

/// What a waiting form was given by its command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Form {
    /// `/mcp add`: the server to probe and store once the token (if any) arrives.
    McpAdd { name: String, url: String },
    /// `/personal custom-endpoint add`: the member's endpoint, stored once the token (if any)
    /// arrives.
    PersonalEndpoint { url: String, model: String, tools: bool, vision: bool },
}

/// Why a submission found no form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stale {
    /// Never issued here, already used, or dropped (expired, evicted, or the bot restarted).
    Unknown,
    /// Issued to someone else, or in another server.
    NotYours,
}

impl Stale {
    /// The sentence the member sees.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Self::Unknown => {
                "That form has expired or was already used; nothing was saved. Run the command \
                 again."
            }
            Self::NotYours => "That form was not shown to you here; nothing was saved.",
        }
    }
}

#[derive(Debug)]
struct Entry {
    guild: Option<Snowflake>,
    user: Snowflake,
    form: Form,
    issued: Instant,
}

/// The waiting forms; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Pending(Mutex<HashMap<String, Entry>>);

impl Pending {
    /// Keeps `form` for `user` in `guild` and returns its nonce; `None` when no randomness was
    /// available (nothing is kept).
    pub(crate) fn insert(
        &self,
        guild: Option<Snowflake>,
        user: Snowflake,
        form: Form,
    ) -> Option<String> {
        self.insert_at(guild, user, form, Instant::now())
    }

    /// The form behind `nonce`, removed, if it is still valid for `user` in `guild`.
    pub(crate) fn take(
        &self,
        nonce: &str,
        guild: Option<Snowflake>,
        user: Snowflake,
    ) -> Result<Form, Stale> {
        self.take_at(nonce, guild, user, Instant::now())
    }

    fn insert_at(
        &self,
        guild: Option<Snowflake>,
        user: Snowflake,
        form: Form,
        now: Instant,
    ) -> Option<String> {
        let mut bytes = [0_u8; 16];
        getrandom::fill(&mut bytes).ok()?;
        let nonce: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, entry| now.saturating_duration_since(entry.issued) < TTL);
        let oldest = |map: &HashMap<String, Entry>, mine: bool| {
            map.iter()
                .filter(|(_, entry)| !mine || entry.user == user)
                .min_by_key(|(_, entry)| entry.issued)
                .map(|(nonce, _)| nonce.clone())
        };
        if map.values().filter(|entry| entry.user == user).count() >= MAX_PER_USER
            && let Some(old) = oldest(&map, true)
        {
            map.remove(&old);
        }
        if map.len() >= MAX_PENDING
            && let Some(old) = oldest(&map, false)
        {
            map.remove(&old);
        }
        map.insert(nonce.clone(), Entry { guild, user, form, issued: now });
        Some(nonce)
    }

    fn take_at(
        &self,
        nonce: &str,
        guild: Option<Snowflake>,
        user: Snowflake,
        now: Instant,
    ) -> Result<Form, Stale> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = map.get(nonce).ok_or(Stale::Unknown)?;
        if now.saturating_duration_since(entry.issued) >= TTL {
            map.remove(nonce);
            return Err(Stale::Unknown);
        }
        // Someone else's submission leaves the form for its owner.
        if entry.user != user || entry.guild != guild {
            return Err(Stale::NotYours);
        }
        map.remove(nonce).map(|entry| entry.form).ok_or(Stale::Unknown)
    }
}

#[cfg(test)]
mod tests;
