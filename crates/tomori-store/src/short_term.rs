//! Short-term memory (`update_short_term_memory`, `/server short-term`, `/personal
//! short-term`): a persona's notes about what is going on in a channel and with a member there,
//! shown for a day in its turns in the server's other channels. See migration 0023 for who may
//! see what; [`recent`] applies it.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use tomori_core::id::{LineageId, Snowflake};

use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::{Scope, Store, StoreError};

/// The longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 1_500;
/// How long a note is shown after it was written.
pub const SHOWN_FOR: TimeDelta = TimeDelta::hours(24);
/// The most notes one turn shows.
pub const MAX_SHOWN: i64 = 3;

/// One note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The channel it was written in.
    pub channel: Snowflake,
    /// The member it is about; `None` for the channel as a whole.
    pub member: Option<Snowflake>,
    /// Written in a private channel (shown nowhere else).
    pub private: bool,
    /// What it says (model output: untrusted text).
    pub note: String,
    /// When it was last written.
    pub updated_at: DateTime<Utc>,
}

/// Where a note is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotePlace {
    /// The persona lineage that keeps it.
    pub lineage: LineageId,
    /// The channel.
    pub channel: Snowflake,
    /// Whether the channel is in the server's private set.
    pub private: bool,
}

struct Row {
    channel_id: i64,
    member_id: Option<i64>,
    private: bool,
    note: String,
    updated_at: DateTime<Utc>,
}

impl TryFrom<Row> for Note {
    type Error = StoreError;

    fn try_from(row: Row) -> Result<Self, StoreError> {
        let id = |raw: i64| Snowflake::from_db(raw).map_err(|_| StoreError::NotFound("channel"));
        Ok(Note {
            channel: id(row.channel_id)?,
            member: row.member_id.map(id).transpose()?,
            private: row.private,
            note: row.note,
            updated_at: row.updated_at,
        })
    }
}

/// Writes the persona's note for `place` (about `member`, or the channel when `None`),
/// replacing the one it had there, with an audit row.
///
/// # Errors
/// An empty or over-long note, or an unavailable database.
pub async fn write(
    store: &Store,
    scope: Scope,
    actor: Actor,
    place: NotePlace,
    member: Option<Snowflake>,
    note: &str,
) -> Result<(), StoreError> {
    let note = note.trim();
    let chars = note.chars().count();
    if chars == 0 || chars > MAX_NOTE_CHARS {
        return Err(StoreError::Invalid {
            field: "note",
            reason: format!("1 to {MAX_NOTE_CHARS} characters"),
        });
    }
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    sqlx::query!(
        "INSERT INTO short_term_notes (server_id, lineage_id, channel_id, member_id, private, note)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (server_id, lineage_id, channel_id, member_id) DO UPDATE
         SET note = EXCLUDED.note, private = EXCLUDED.private, updated_at = now()",
        server,
        place.lineage.get(),
        place.channel.to_db(),
        member.map(Snowflake::to_db),
        place.private,
        note
    )
    .execute(tx.conn())
    .await
    .about("short-term note")?;
    let after =
        json!({ "about": if member.is_some() { "member" } else { "channel" }, "chars": chars });
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "short_term.write",
            target: format!("channel:{}", place.channel.get()),
            before: None,
            after: Some(&after),
        },
    )
    .await?;
    tx.commit().await
}

/// The most notes [`shareable`] reads for one persona.
pub const MAX_READ: i64 = 200;

/// The persona's notes that may be shown outside the channel they were written in: written in
/// the last [`SHOWN_FOR`], not in a private channel; newest first, at most [`MAX_READ`]. A turn
/// picks its own with [`pick`] (callers may keep this list for a few seconds).
///
/// # Errors
/// An unavailable database.
pub async fn shareable(
    store: &Store,
    scope: Scope,
    lineage: LineageId,
    now: DateTime<Utc>,
) -> Result<Vec<Note>, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    // Security: cross-channel leaks. A private channel's notes are never selected.
    let rows = sqlx::query_as!(
        Row,
        "SELECT channel_id, member_id, private, note, updated_at FROM short_term_notes
         WHERE server_id = $1 AND lineage_id = $2 AND NOT private AND updated_at >= $3
         ORDER BY updated_at DESC LIMIT $4",
        server,
        lineage.get(),
        now - SHOWN_FOR,
        MAX_READ
    )
    .fetch_all(tx.conn())
    .await
    .about("short-term notes")?;
    tx.commit().await?;
    rows.into_iter().map(Note::try_from).collect()
}

/// The notes a turn in `channel` answering `member` shows, from [`shareable`]: written in
/// another channel, not private, still fresh at `now`, about that channel or about this member;
/// newest first, at most [`MAX_SHOWN`].
pub fn pick(
    notes: &[Note],
    channel: Snowflake,
    member: Snowflake,
    now: DateTime<Utc>,
) -> Vec<Note> {
    // Security: cross-channel leaks. Checked here again whatever the list came from: a private
    // channel's note and a note about another member are never shown.
    notes
        .iter()
        .filter(|n| n.channel != channel && !n.private && n.updated_at >= now - SHOWN_FOR)
        .filter(|n| n.member.is_none_or(|m| m == member))
        .take(usize::try_from(MAX_SHOWN).unwrap_or(3))
        .cloned()
        .collect()
}

/// Every note of the server (`member` given: only those about that member), newest first.
///
/// # Errors
/// An unavailable database.
pub async fn list(
    store: &Store,
    scope: Scope,
    member: Option<Snowflake>,
) -> Result<Vec<Note>, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let rows = sqlx::query_as!(
        Row,
        "SELECT channel_id, member_id, private, note, updated_at FROM short_term_notes
         WHERE server_id = $1 AND ($2::bigint IS NULL OR member_id = $2)
         ORDER BY updated_at DESC LIMIT 100",
        server,
        member.map(Snowflake::to_db)
    )
    .fetch_all(tx.conn())
    .await
    .about("short-term notes")?;
    tx.commit().await?;
    rows.into_iter().map(Note::try_from).collect()
}

/// Forgets the server's notes (`member` given: only those about that member), with an audit
/// row; how many went.
///
/// # Errors
/// An unavailable database.
pub async fn clear(
    store: &Store,
    scope: Scope,
    actor: Actor,
    member: Option<Snowflake>,
) -> Result<u64, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let removed = sqlx::query!(
        "DELETE FROM short_term_notes WHERE server_id = $1 AND ($2::bigint IS NULL OR member_id = $2)",
        server,
        member.map(Snowflake::to_db)
    )
    .execute(tx.conn())
    .await
    .about("short-term notes")?
    .rows_affected();
    if removed > 0 {
        let before = json!({ "notes": removed });
        let target = member.map_or_else(|| "server".to_owned(), |m| format!("member:{}", m.get()));
        audit::record(
            &mut tx,
            Change {
                actor,
                action: "short_term.clear",
                target,
                before: Some(&before),
                after: None,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(removed)
}
