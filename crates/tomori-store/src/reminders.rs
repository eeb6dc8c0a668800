//! Reminders: one-off and recurring messages the bot sends a member at a set time, and what the
//! scheduler needs to deliver each exactly once.
//!
//! Members (through the model's `create_task` tool) create, change and cancel their own reminders
//! in one server; a member with Manage Server may change anyone's. Pending reminders are capped
//! per member and per server ([`Limits`](tomori_core::limits::Limits)). Every create, update and
//! cancel appends to the server's audit chain in the same transaction.
//!
//! Delivery works across tenants and processes:
//! - [`due`] and [`next_due`] are the only functions without a [`Scope`]: they go through
//!   `SECURITY DEFINER` functions that return ids and server ids of due reminders, or the earliest
//!   due time, and nothing else.
//! - [`claim`] then takes one reminder in its own tenant scope by pushing `next_attempt_at`
//!   forward to a lease, in one conditional `UPDATE`: of two schedulers racing for the same row,
//!   the second finds the condition false once the first has committed, so it gets nothing.
//! - [`delivered`] and [`failed`] finish a claim only while the lease is still the claimant's,
//!   so a claim that outlived its lease (and was taken over) changes nothing.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use tokio::sync::watch;
use tomori_core::id::{PersonaId, ServerId, Snowflake};

use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::{Scope, ScopedTx, Store, StoreError};

/// Characters a reminder's purpose may have (the table's CHECK).
pub const MAX_PURPOSE_CHARS: usize = 1000;
/// The longest repeat interval, in hours: a year.
pub const MAX_REPEAT_HOURS: u32 = 8760;

/// A pending reminder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reminder {
    /// Row id: the task id the model and members see.
    pub id: i64,
    /// Where it is delivered.
    pub channel: Snowflake,
    /// Who it reminds (and pings).
    pub user: Snowflake,
    /// The persona that set it; `None` (or a deleted persona) means the main persona.
    pub persona: Option<PersonaId>,
    /// What to remind of.
    pub purpose: String,
    /// The next time it is due.
    pub due_at: DateTime<Utc>,
    /// Hours between occurrences; `None` for a one-off.
    pub repeat_hours: Option<u32>,
}

/// A reminder to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReminder {
    /// Where to deliver it.
    pub channel: Snowflake,
    /// Who to remind.
    pub user: Snowflake,
    /// The persona setting it.
    pub persona: Option<PersonaId>,
    /// What to remind of (trimmed; 1 to 1000 characters).
    pub purpose: String,
    /// When.
    pub due_at: DateTime<Utc>,
    /// Hours between occurrences (1 to 8760), or `None` for a one-off.
    pub repeat_hours: Option<u32>,
}

/// What [`update`] changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReminderChange {
    /// A new purpose.
    pub purpose: Option<String>,
    /// A new due time; the retry count starts again.
    pub due_at: Option<DateTime<Utc>>,
    /// A new recurrence: `Some(None)` makes it a one-off.
    pub repeat_hours: Option<Option<u32>>,
}

impl ReminderChange {
    fn is_empty(&self) -> bool {
        self.purpose.is_none() && self.due_at.is_none() && self.repeat_hours.is_none()
    }
}

/// Who asks to change a reminder, for the ownership rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Editor {
    /// The member.
    pub user: Snowflake,
    /// The member has Manage Server in that server.
    pub manages_server: bool,
}

fn check_purpose(purpose: &str) -> Result<String, StoreError> {
    let purpose = purpose.trim();
    if purpose.is_empty() || purpose.chars().count() > MAX_PURPOSE_CHARS {
        return Err(StoreError::Invalid {
            field: "reminder purpose",
            reason: format!("1 to {MAX_PURPOSE_CHARS} characters"),
        });
    }
    Ok(purpose.to_owned())
}

fn check_repeat(hours: Option<u32>) -> Result<Option<i32>, StoreError> {
    match hours {
        None => Ok(None),
        Some(h) if (1..=MAX_REPEAT_HOURS).contains(&h) => Ok(i32::try_from(h).ok()),
        Some(_) => Err(StoreError::Invalid {
            field: "reminder repeat interval",
            reason: format!("1 to {MAX_REPEAT_HOURS} hours, or none for a one-off"),
        }),
    }
}

fn repeat_from_db(hours: Option<i32>) -> Option<u32> {
    hours.and_then(|h| u32::try_from(h).ok())
}

fn snowflake(raw: i64) -> Result<Snowflake, StoreError> {
    Snowflake::from_db(raw).map_err(|_| StoreError::Invalid {
        field: "reminder",
        reason: "a stored Discord id is out of range".to_owned(),
    })
}

fn state(reminder: &Reminder) -> serde_json::Value {
    serde_json::to_value(reminder).unwrap_or(serde_json::Value::Null)
}

/// A receiver that sees a change whenever a reminder is created or rescheduled through this
/// store (or a clone of it), after the change committed. A scheduler waits on it next to its
/// timer, so a reminder due sooner than its next poll is not late.
pub fn watch(store: &Store) -> watch::Receiver<()> {
    store.reminders_changed.subscribe()
}

fn changed(store: &Store) {
    store.reminders_changed.send_replace(());
}

/// Serialises reminder creations in one server, so that two at once cannot both pass the caps.
async fn lock_server(tx: &mut ScopedTx, server: i64) -> Result<(), StoreError> {
    sqlx::query!(
        "SELECT server_id FROM server_settings WHERE server_id = $1 FOR NO KEY UPDATE",
        server
    )
    .fetch_optional(tx.conn())
    .await
    .about("reminder")?
    .ok_or(StoreError::NotFound("server settings"))?;
    Ok(())
}

/// Creates a reminder.
///
/// # Errors
/// An empty or overlong purpose, a repeat interval out of range, the member's or the server's cap
/// on pending reminders ([`StoreError::LimitReached`]), or an unavailable database.
pub async fn create(
    store: &Store,
    scope: Scope,
    actor: Actor,
    new: NewReminder,
) -> Result<Reminder, StoreError> {
    let purpose = check_purpose(&new.purpose)?;
    let repeat = check_repeat(new.repeat_hours)?;
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    lock_server(&mut tx, server).await?;
    let counts = sqlx::query!(
        r#"SELECT count(*) AS "server!", count(*) FILTER (WHERE user_discord_id = $2) AS "member!"
           FROM reminders WHERE server_id = $1"#,
        server,
        new.user.to_db()
    )
    .fetch_one(tx.conn())
    .await
    .about("reminder")?;
    // Security: denial of service (cost exhaustion). A member (or a model talked into it) cannot fill the
    // scheduler: pending reminders are capped per member and per server.
    let limits = store.limits();
    if counts.member >= i64::from(limits.reminders_per_member) {
        return Err(StoreError::LimitReached {
            what: "pending reminders per member",
            limit: limits.reminders_per_member,
        });
    }
    if counts.server >= i64::from(limits.reminders_per_server) {
        return Err(StoreError::LimitReached {
            what: "pending reminders in this server",
            limit: limits.reminders_per_server,
        });
    }
    let row = sqlx::query!(
        "INSERT INTO reminders
             (server_id, channel_id, user_discord_id, persona_id, purpose, due_at, repeat_hours,
              next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $6)
         RETURNING id, due_at",
        server,
        new.channel.to_db(),
        new.user.to_db(),
        new.persona.map(PersonaId::get),
        purpose,
        new.due_at,
        repeat
    )
    .fetch_one(tx.conn())
    .await
    .about("reminder")?;
    let reminder = Reminder {
        id: row.id,
        channel: new.channel,
        user: new.user,
        persona: new.persona,
        purpose,
        due_at: row.due_at,
        repeat_hours: repeat_from_db(repeat),
    };
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "reminder.create",
            target: format!("reminder:{}", reminder.id),
            before: None,
            after: Some(&state(&reminder)),
        },
    )
    .await?;
    tx.commit().await?;
    changed(store);
    Ok(reminder)
}

/// Reads a reminder for a change, locked until the transaction ends, if the editor may change it.
async fn editable(
    tx: &mut ScopedTx,
    server: i64,
    id: i64,
    editor: Editor,
) -> Result<Reminder, StoreError> {
    let row = sqlx::query!(
        "SELECT id, channel_id, user_discord_id, persona_id, purpose, due_at, repeat_hours
         FROM reminders WHERE server_id = $1 AND id = $2 FOR UPDATE",
        server,
        id
    )
    .fetch_optional(tx.conn())
    .await
    .about("reminder")?
    .ok_or(StoreError::NotFound("reminder"))?;
    let reminder = Reminder {
        id: row.id,
        channel: snowflake(row.channel_id)?,
        user: snowflake(row.user_discord_id)?,
        persona: row.persona_id.map(PersonaId::from_db),
        purpose: row.purpose,
        due_at: row.due_at,
        repeat_hours: repeat_from_db(row.repeat_hours),
    };
    // Security: tampering with other members' data. A member changes only their own reminders
    // unless they manage the server; someone else's reads as not found, so ids reveal nothing.
    if reminder.user != editor.user && !editor.manages_server {
        return Err(StoreError::NotFound("reminder"));
    }
    Ok(reminder)
}

/// Changes a reminder's purpose, time or recurrence. A new time also restarts the retry count.
///
/// # Errors
/// Nothing to change, an invalid value, a reminder that does not exist in this server or that
/// belongs to someone else while the editor does not manage the server
/// ([`StoreError::NotFound`]), or an unavailable database.
pub async fn update(
    store: &Store,
    scope: Scope,
    actor: Actor,
    editor: Editor,
    id: i64,
    change: ReminderChange,
) -> Result<Reminder, StoreError> {
    if change.is_empty() {
        return Err(StoreError::Invalid {
            field: "reminder change",
            reason: "give a new time, purpose or repeat interval".to_owned(),
        });
    }
    let purpose = change.purpose.as_deref().map(check_purpose).transpose()?;
    let repeat = change.repeat_hours.map(check_repeat).transpose()?;
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let before = editable(&mut tx, server, id, editor).await?;
    let after = Reminder {
        purpose: purpose.unwrap_or_else(|| before.purpose.clone()),
        due_at: change.due_at.unwrap_or(before.due_at),
        repeat_hours: repeat.map_or(before.repeat_hours, repeat_from_db),
        ..before.clone()
    };
    let row = sqlx::query!(
        "UPDATE reminders SET purpose = $3, due_at = $4, repeat_hours = $5,
             next_attempt_at = CASE WHEN $6 THEN $4 ELSE next_attempt_at END,
             attempts = CASE WHEN $6 THEN 0 ELSE attempts END
         WHERE server_id = $1 AND id = $2
         RETURNING due_at",
        server,
        id,
        after.purpose,
        after.due_at,
        after.repeat_hours.and_then(|h| i32::try_from(h).ok()),
        change.due_at.is_some()
    )
    .fetch_one(tx.conn())
    .await
    .about("reminder")?;
    let after = Reminder { due_at: row.due_at, ..after };
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "reminder.update",
            target: format!("reminder:{id}"),
            before: Some(&state(&before)),
            after: Some(&state(&after)),
        },
    )
    .await?;
    tx.commit().await?;
    changed(store);
    Ok(after)
}

/// Cancels (deletes) a reminder and returns what it was.
///
/// # Errors
/// A reminder that does not exist in this server or that belongs to someone else while the
/// editor does not manage the server ([`StoreError::NotFound`]), or an unavailable database.
pub async fn cancel(
    store: &Store,
    scope: Scope,
    actor: Actor,
    editor: Editor,
    id: i64,
) -> Result<Reminder, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let before = editable(&mut tx, server, id, editor).await?;
    sqlx::query!("DELETE FROM reminders WHERE server_id = $1 AND id = $2", server, id)
        .execute(tx.conn())
        .await
        .about("reminder")?;
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "reminder.cancel",
            target: format!("reminder:{id}"),
            before: Some(&state(&before)),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(before)
}

/// A member's pending reminders in the scope's server, soonest first.
///
/// # Errors
/// An unavailable database.
pub async fn list_for_member(
    store: &Store,
    scope: Scope,
    user: Snowflake,
) -> Result<Vec<Reminder>, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let rows = sqlx::query!(
        "SELECT id, channel_id, user_discord_id, persona_id, purpose, due_at, repeat_hours
         FROM reminders WHERE server_id = $1 AND user_discord_id = $2 ORDER BY due_at, id",
        server,
        user.to_db()
    )
    .fetch_all(tx.conn())
    .await
    .about("reminder")?;
    tx.commit().await?;
    rows.into_iter()
        .map(|r| {
            Ok(Reminder {
                id: r.id,
                channel: snowflake(r.channel_id)?,
                user: snowflake(r.user_discord_id)?,
                persona: r.persona_id.map(PersonaId::from_db),
                purpose: r.purpose,
                due_at: r.due_at,
                repeat_hours: repeat_from_db(r.repeat_hours),
            })
        })
        .collect()
}

/// A due reminder's id and tenant, from [`due`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueRef {
    /// The reminder.
    pub id: i64,
    /// Its tenant: claim it with `Scope::server(server)`.
    pub server: ServerId,
}

/// Up to `limit` reminders due at `now` (their `next_attempt_at` has passed), oldest first, across
/// every tenant; only ids and tenants, through `tomori_due_reminders`.
///
/// # Errors
/// An unavailable database.
pub async fn due(store: &Store, now: DateTime<Utc>, limit: u32) -> Result<Vec<DueRef>, StoreError> {
    let limit = i32::try_from(limit).unwrap_or(i32::MAX);
    let rows = sqlx::query!(
        r#"SELECT reminder_id AS "id!", reminder_server_id AS "server!"
           FROM tomori_due_reminders($1, $2)"#,
        now,
        limit
    )
    .fetch_all(&store.pool)
    .await
    .about("reminder")?;
    Ok(rows.into_iter().map(|r| DueRef { id: r.id, server: ServerId::from_db(r.server) }).collect())
}

/// When the next reminder of any tenant is due (or retried, or its lease ends), through
/// `tomori_next_reminder_at`; `None` when there are none.
///
/// # Errors
/// An unavailable database.
pub async fn next_due(store: &Store) -> Result<Option<DateTime<Utc>>, StoreError> {
    sqlx::query_scalar!(r#"SELECT tomori_next_reminder_at() AS "at""#)
        .fetch_one(&store.pool)
        .await
        .about("reminder")
}

/// The persona a claimed reminder speaks as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderPersona {
    /// It is the server's main persona (it speaks as the bot).
    pub is_main: bool,
    /// Its nickname.
    pub nickname: String,
    /// Its avatar.
    pub avatar_url: Option<String>,
}

/// A reminder claimed for delivery by [`claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The reminder.
    pub reminder: Reminder,
    /// The persona that set it, if it still exists.
    pub persona: Option<ReminderPersona>,
    /// Failed deliveries of this occurrence so far.
    pub attempts: u32,
    /// The reminder lives in the reminded member's own DM tenant: its channel is their direct
    /// messages with the bot.
    pub in_members_dm: bool,
    /// The lease: `next_attempt_at` as the claim set it. Finishing requires it unchanged.
    lease: DateTime<Utc>,
}

/// Claims reminder `id` of the scope's server if it is due at `now`, leasing it until
/// `lease_until` (another scheduler may take it over after that). `None` when it is not due any
/// more: delivered, claimed by someone else, changed or cancelled meanwhile.
///
/// # Errors
/// An unavailable database.
pub async fn claim(
    store: &Store,
    scope: Scope,
    id: i64,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Option<Claimed>, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    // The condition on next_attempt_at is re-checked after waiting for a concurrent claimant's
    // row lock, so exactly one of two racing schedulers updates the row.
    let row = sqlx::query!(
        r#"WITH claimed AS (
               UPDATE reminders SET next_attempt_at = $3
               WHERE server_id = $1 AND id = $2 AND next_attempt_at <= $4
               RETURNING id, channel_id, user_discord_id, persona_id, purpose, due_at,
                         repeat_hours, attempts, next_attempt_at
           )
           SELECT c.id AS "id!", c.channel_id AS "channel_id!",
                  c.user_discord_id AS "user_discord_id!", c.persona_id, c.purpose AS "purpose!",
                  c.due_at AS "due_at!", c.repeat_hours, c.attempts AS "attempts!",
                  c.next_attempt_at AS "lease!", p.is_main AS "is_main?",
                  p.nickname AS "nickname?", p.avatar_url AS "avatar_url?",
                  EXISTS (SELECT 1 FROM servers s WHERE s.id = $1 AND s.kind = 'dm'
                          AND s.discord_id = c.user_discord_id) AS "in_members_dm!"
           FROM claimed c LEFT JOIN personas p ON p.id = c.persona_id"#,
        server,
        id,
        lease_until,
        now
    )
    .fetch_optional(tx.conn())
    .await
    .about("reminder")?;
    tx.commit().await?;
    let Some(row) = row else { return Ok(None) };
    let persona = match (row.is_main, row.nickname) {
        (Some(is_main), Some(nickname)) => {
            Some(ReminderPersona { is_main, nickname, avatar_url: row.avatar_url })
        }
        _ => None,
    };
    Ok(Some(Claimed {
        reminder: Reminder {
            id: row.id,
            channel: snowflake(row.channel_id)?,
            user: snowflake(row.user_discord_id)?,
            persona: row.persona_id.map(PersonaId::from_db),
            purpose: row.purpose,
            due_at: row.due_at,
            repeat_hours: repeat_from_db(row.repeat_hours),
        },
        persona,
        attempts: u32::try_from(row.attempts).unwrap_or(0),
        in_members_dm: row.in_members_dm,
        lease: row.lease,
    }))
}

/// What finishing a claim did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// A one-off is done and deleted.
    Deleted,
    /// A recurring reminder now waits for its next occurrence.
    Rescheduled(DateTime<Utc>),
    /// The delivery will be tried again then.
    Retry(DateTime<Utc>),
    /// The claim's lease was lost (the reminder changed, was cancelled or taken over): nothing
    /// was changed.
    Superseded,
}

/// The first occurrence of a reminder repeating every `hours` from `due` that is after `now`.
/// After downtime this skips every occurrence that was missed: a reminder is delivered once for
/// all of them, never once each.
pub fn next_occurrence(due: DateTime<Utc>, hours: u32, now: DateTime<Utc>) -> DateTime<Utc> {
    let step = TimeDelta::hours(i64::from(hours.max(1)));
    if due > now {
        return due + step;
    }
    let behind = (now - due).num_seconds();
    let steps = behind / step.num_seconds() + 1;
    i32::try_from(steps)
        .ok()
        .and_then(|n| step.checked_mul(n))
        .and_then(|ahead| due.checked_add_signed(ahead))
        .unwrap_or(now + step)
}

/// The occurrence is over (delivered, or given up): delete a one-off, move a recurring reminder
/// to its next occurrence after `now`.
async fn finish_occurrence(
    store: &Store,
    scope: Scope,
    claimed: &Claimed,
    now: DateTime<Utc>,
) -> Result<Finished, StoreError> {
    let server = scope.require_server()?.get();
    let id = claimed.reminder.id;
    let mut tx = store.begin(scope).await?;
    let finished = match claimed.reminder.repeat_hours {
        None => {
            let deleted = sqlx::query!(
                "DELETE FROM reminders WHERE server_id = $1 AND id = $2 AND next_attempt_at = $3",
                server,
                id,
                claimed.lease
            )
            .execute(tx.conn())
            .await
            .about("reminder")?
            .rows_affected();
            if deleted == 0 { Finished::Superseded } else { Finished::Deleted }
        }
        Some(hours) => {
            let next = next_occurrence(claimed.reminder.due_at, hours, now);
            let row = sqlx::query!(
                "UPDATE reminders SET due_at = $4, next_attempt_at = $4, attempts = 0
                 WHERE server_id = $1 AND id = $2 AND next_attempt_at = $3
                 RETURNING due_at",
                server,
                id,
                claimed.lease,
                next
            )
            .fetch_optional(tx.conn())
            .await
            .about("reminder")?;
            row.map_or(Finished::Superseded, |r| Finished::Rescheduled(r.due_at))
        }
    };
    tx.commit().await?;
    Ok(finished)
}

/// The claimed reminder was delivered at `now`.
///
/// # Errors
/// An unavailable database; the lease then runs out and the reminder is delivered again.
pub async fn delivered(
    store: &Store,
    scope: Scope,
    claimed: &Claimed,
    now: DateTime<Utc>,
) -> Result<Finished, StoreError> {
    finish_occurrence(store, scope, claimed, now).await
}

/// Delivering the claimed reminder failed: count the attempt and try again at `retry_at`, or, when
/// that is `None`, give this occurrence up (as if delivered: a one-off is deleted, a recurring
/// reminder waits for its next occurrence).
///
/// # Errors
/// An unavailable database; the lease then runs out and the delivery is tried again.
pub async fn failed(
    store: &Store,
    scope: Scope,
    claimed: &Claimed,
    now: DateTime<Utc>,
    retry_at: Option<DateTime<Utc>>,
) -> Result<Finished, StoreError> {
    let Some(retry_at) = retry_at else {
        return finish_occurrence(store, scope, claimed, now).await;
    };
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let row = sqlx::query!(
        "UPDATE reminders SET attempts = attempts + 1, next_attempt_at = $4
         WHERE server_id = $1 AND id = $2 AND next_attempt_at = $3
         RETURNING next_attempt_at",
        server,
        claimed.reminder.id,
        claimed.lease,
        retry_at
    )
    .fetch_optional(tx.conn())
    .await
    .about("reminder")?;
    tx.commit().await?;
    Ok(row.map_or(Finished::Superseded, |r| Finished::Retry(r.next_attempt_at)))
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDateTime;

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").expect("a test time").and_utc()
    }

    #[test]
    fn recurring_reminders_skip_what_downtime_missed() {
        let check = |due: &str, hours: u32, now: &str, expected: &str| {
            assert_eq!(
                next_occurrence(at(due), hours, at(now)),
                at(expected),
                "{due} +{hours}h at {now}"
            );
        };
        // Delivered on time: the next occurrence.
        check("2026-12-01 09:00", 24, "2026-12-01 09:00", "2026-12-02 09:00");
        check("2026-12-01 09:00", 24, "2026-12-01 09:01", "2026-12-02 09:00");
        // Delivered early (a retry lease cannot make it early, but the arithmetic holds).
        check("2026-12-01 09:00", 1, "2026-12-01 08:00", "2026-12-01 10:00");
        // Three days down: one delivery now, then the next one in the future, keeping the cadence.
        check("2026-12-01 09:00", 24, "2026-12-04 12:00", "2026-12-05 09:00");
        check("2026-12-01 09:00", 24, "2026-12-04 09:00", "2026-12-05 09:00");
        check("2026-12-01 09:00", 5, "2026-12-01 19:00", "2026-12-02 00:00");
        // A year down on an hourly reminder.
        check("2026-01-01 00:00", 1, "2026-12-31 23:30", "2027-01-01 00:00");
    }

    #[test]
    fn purposes_and_intervals_are_checked() {
        assert_eq!(check_purpose("  tea  ").ok().as_deref(), Some("tea"));
        assert!(check_purpose(" ").is_err());
        assert!(check_purpose(&"x".repeat(MAX_PURPOSE_CHARS + 1)).is_err());
        assert!(check_purpose(&"é".repeat(MAX_PURPOSE_CHARS)).is_ok());
        assert_eq!(check_repeat(None).ok(), Some(None));
        assert_eq!(check_repeat(Some(24)).ok(), Some(Some(24)));
        assert!(check_repeat(Some(0)).is_err());
        assert!(check_repeat(Some(MAX_REPEAT_HOURS + 1)).is_err());
    }
}
