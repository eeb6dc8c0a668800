//! Short-term memory (`/server short-term`, `/personal short-term` on Discord): the notes the
//! personas keep about what is going on in the server's channels, and with members. Managers see
//! and clear the server's; every member sees and clears the notes about themselves.

use std::fmt::Write as _;

use tomori_store::Store;
use tomori_store::short_term::{self, Note};

use crate::access::{AdminError, Need, authorize, tenant};
use crate::answer::Answer;
use crate::caller::Caller;

/// Whose notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    /// Every note of the server (Manage Server).
    Server,
    /// The notes about the caller.
    Mine,
}

/// What to do with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// List them (at most 100, newest first).
    Show,
    /// Forget them.
    Clear,
}

/// Notes listed in one answer.
const LISTED: usize = 20;

/// Runs `action` on `whose` notes in the server `caller` asked in.
///
/// # Errors
/// A refusal (a member asking for the server's, or anyone in a direct message), or the store
/// failing.
pub async fn run(
    store: &Store,
    caller: &Caller,
    whose: Whose,
    action: Action,
) -> Result<Answer, AdminError> {
    let need = match whose {
        Whose::Server => Need::Manager,
        Whose::Mine => Need::Member,
    };
    authorize(store, caller, need, true).await?;
    if caller.guild.is_none() {
        return Ok(Answer::text(
            "Short-term notes are kept in servers only; a direct message has none.".to_owned(),
        ));
    }
    let scope = tenant(store, caller).await?;
    let member = (whose == Whose::Mine).then_some(caller.user);
    let text = match action {
        Action::Show => shown(&short_term::list(store, scope, member).await?, whose),
        Action::Clear => {
            let removed = short_term::clear(store, scope, caller.actor(), member).await?;
            format!("Forgot {removed} short-term note(s).")
        }
    };
    Ok(Answer::text(text))
}

fn shown(notes: &[Note], whose: Whose) -> String {
    if notes.is_empty() {
        return match whose {
            Whose::Server => "The personas keep no short-term notes in this server.".to_owned(),
            Whose::Mine => "The personas keep no short-term notes about you here.".to_owned(),
        };
    }
    let mut text = format!("{} short-term note(s), newest first:", notes.len());
    for note in notes.iter().take(LISTED) {
        let about = match note.member {
            Some(member) => format!("about <@{}>", member.get()),
            None => "about the channel".to_owned(),
        };
        let private = if note.private { " (private channel)" } else { "" };
        let body: String = note.note.chars().take(300).collect();
        let _ = write!(
            text,
            "\n- <#{}>{private}, {about}, {}: {body}",
            note.channel.get(),
            note.updated_at.format("%Y-%m-%d %H:%M UTC")
        );
    }
    if notes.len() > LISTED {
        let _ = write!(text, "\n… and {} more.", notes.len() - LISTED);
    }
    text
}
