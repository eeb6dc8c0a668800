//! The reminder scheduler: delivers due reminders through a [`ChatSurface`], once each.
//!
//! [`Scheduler::run`] makes a pass at start (so reminders that fell due while the bot was down
//! go out once), then sleeps until the next reminder is due, at most [`SchedulerOptions::poll`]
//! (15 s), and wakes early when a reminder is created or moved in this process. A pass
//! ([`Scheduler::tick`]) asks the store for due reminders across tenants and, for each, claims it
//! in its own tenant (a lease on `next_attempt_at`, so another bot process racing for it gets
//! nothing), sends it, and finishes it:
//! - delivered: a one-off is deleted; a recurring reminder moves to its next occurrence after
//!   now, skipping occurrences missed during downtime (one message, never a flood);
//! - failed: the attempt is counted and retried with exponential backoff; after
//!   [`SchedulerOptions::max_attempts`] attempts the occurrence is given up and logged.
//!
//! The message pings the reminded member and no one else, and speaks as the persona that set
//! the reminder: the main persona as the bot, an alter through its webhook (the surface's job).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio_util::sync::CancellationToken;
use tomori_store::reminders::{self, Claimed, Finished, Reminder};
use tomori_store::{Scope, Store, StoreError};
use tomori_tools::Clock;

use crate::dm_members::DmMembers;
use crate::surface::{ChatSurface, Outgoing, Speaker};

/// Tunables of the scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// The longest sleep between passes, even when nothing is known to be due.
    pub poll: Duration,
    /// Reminders asked for at once.
    pub batch: u32,
    /// How long a claim holds a reminder; another scheduler may take it over after that.
    pub lease: TimeDelta,
    /// Attempts to deliver one occurrence before giving it up.
    pub max_attempts: u32,
    /// The wait after the first failure; it doubles with each further failure.
    pub first_retry: TimeDelta,
    /// The longest wait between retries.
    pub max_retry: TimeDelta,
    /// How late a delivery may be before the message says it is late.
    pub late_after: TimeDelta,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(15),
            batch: 50,
            lease: TimeDelta::minutes(2),
            max_attempts: 5,
            first_retry: TimeDelta::seconds(30),
            max_retry: TimeDelta::minutes(15),
            late_after: TimeDelta::minutes(5),
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tick {
    /// Reminders sent.
    pub delivered: u32,
    /// Failed deliveries that will be retried.
    pub retried: u32,
    /// Occurrences given up after the last attempt failed.
    pub gave_up: u32,
}

/// The scheduler; see the module documentation.
#[derive(Debug)]
pub struct Scheduler<S> {
    store: Store,
    surface: S,
    clock: Clock,
    options: SchedulerOptions,
    /// The engine's map of DM channels to members, told of each DM a reminder goes into.
    dm_members: Option<Arc<DmMembers>>,
}

/// The wait before the next attempt after `attempts` failures: doubling from `first`, at most
/// `max`.
pub fn backoff(attempts: u32, first: TimeDelta, max: TimeDelta) -> TimeDelta {
    let doublings = attempts.saturating_sub(1).min(20);
    first.checked_mul(1_i32 << doublings).map_or(max, |wait| wait.min(max))
}

/// The text of a delivered reminder.
pub fn message_text(reminder: &Reminder, now: DateTime<Utc>, late_after: TimeDelta) -> String {
    let mut text = format!("⏰ <@{}> Reminder: {}", reminder.user, reminder.purpose);
    if let Some(hours) = reminder.repeat_hours {
        let every = match hours {
            24 => "day".to_owned(),
            168 => "week".to_owned(),
            1 => "hour".to_owned(),
            h if h % 24 == 0 => format!("{} days", h / 24),
            h => format!("{h} hours"),
        };
        text.push_str(&format!(" (every {every})"));
    }
    if now - reminder.due_at > late_after {
        text.push_str(&format!(
            "\n-# This was due <t:{}:f>; it comes late because I was offline.",
            reminder.due_at.timestamp()
        ));
    }
    text
}

fn speaker(claimed: &Claimed) -> Speaker {
    match &claimed.persona {
        Some(persona) if !persona.is_main => Speaker::Persona {
            name: persona.nickname.clone(),
            avatar_url: persona.avatar_url.clone(),
        },
        // The main persona, or a persona deleted since: the bot itself.
        _ => Speaker::Bot,
    }
}

impl<S: ChatSurface> Scheduler<S> {
    /// A scheduler delivering through `surface`, reading the time from `clock`.
    pub fn new(store: Store, surface: S, clock: Clock, options: SchedulerOptions) -> Self {
        Self { store, surface, clock, options, dm_members: None }
    }

    /// Tells `members` (the engine's, [`crate::engine::Engine::dm_members`]) which member each
    /// DM channel a reminder goes into belongs to, before it is sent: the gateway's echo of the
    /// reminder is then read in that member's tenant, even by an engine that restarted since
    /// the member last wrote there.
    #[must_use]
    pub fn with_dm_members(mut self, members: Arc<DmMembers>) -> Self {
        self.dm_members = Some(members);
        self
    }

    /// One pass: claims, sends and finishes every reminder due now. Stops early, between
    /// reminders, when `cancel` is cancelled.
    ///
    /// # Errors
    /// The store is unavailable; what was delivered stays delivered.
    pub async fn tick(&self, cancel: &CancellationToken) -> Result<Tick, StoreError> {
        let mut tick = Tick::default();
        // Each batch's reminders are claimed (or were claimed by someone else), so they are not
        // due again in the next batch; the bound only guards against a store that misbehaves.
        for _ in 0..100 {
            let due = reminders::due(&self.store, self.clock.now(), self.options.batch).await?;
            let full = u32::try_from(due.len()).unwrap_or(u32::MAX) >= self.options.batch;
            for found in due {
                if cancel.is_cancelled() {
                    return Ok(tick);
                }
                let scope = Scope::server(found.server);
                let now = self.clock.now();
                let lease_until = now + self.options.lease;
                let Some(claimed) =
                    reminders::claim(&self.store, scope, found.id, now, lease_until).await?
                else {
                    continue;
                };
                self.deliver(scope, &claimed, &mut tick).await?;
            }
            if !full {
                break;
            }
        }
        Ok(tick)
    }

    async fn deliver(
        &self,
        scope: Scope,
        claimed: &Claimed,
        tick: &mut Tick,
    ) -> Result<(), StoreError> {
        let reminder = &claimed.reminder;
        let message = Outgoing {
            content: message_text(reminder, self.clock.now(), self.options.late_after),
            speaker: speaker(claimed),
            reply_to: None,
            // Security: prompt injection. The purpose is model-written text; only the reminded
            // member may be pinged, whatever it contains (no @everyone, roles or other users).
            ping_users: vec![reminder.user],
            files: Vec::new(),
        };
        // Before sending: the echo may arrive before the send returns.
        if claimed.in_members_dm
            && let Some(members) = &self.dm_members
        {
            members.learn(reminder.channel, reminder.user);
        }
        let sent = self.surface.send(reminder.channel, message).await;
        crate::telemetry::reminder(sent.is_ok());
        let now = self.clock.now();
        let finished = match sent {
            Ok(_) => {
                tick.delivered += 1;
                reminders::delivered(&self.store, scope, claimed, now).await?
            }
            Err(error) => {
                let attempts = claimed.attempts + 1;
                if attempts >= self.options.max_attempts {
                    tick.gave_up += 1;
                    tracing::error!(
                        reminder = reminder.id,
                        server = %scope.server_id().map(|s| s.get()).unwrap_or_default(),
                        channel = %reminder.channel,
                        attempts,
                        error = %error,
                        "giving up on a reminder: every delivery attempt failed"
                    );
                    reminders::failed(&self.store, scope, claimed, now, None).await?
                } else {
                    tick.retried += 1;
                    let wait = backoff(attempts, self.options.first_retry, self.options.max_retry);
                    tracing::warn!(
                        reminder = reminder.id,
                        channel = %reminder.channel,
                        attempts,
                        retry_in_s = wait.num_seconds(),
                        error = %error,
                        "delivering a reminder failed; it will be retried"
                    );
                    reminders::failed(&self.store, scope, claimed, now, Some(now + wait)).await?
                }
            }
        };
        if finished == Finished::Superseded {
            tracing::info!(
                reminder = reminder.id,
                "the reminder changed while it was being delivered; its new state stands"
            );
        }
        Ok(())
    }

    /// Delivers reminders until `cancel` is cancelled: a pass at start, then one whenever the
    /// next reminder is due, at least every [`SchedulerOptions::poll`], and early when a reminder
    /// is created or moved through this process's store.
    pub async fn run(&self, cancel: CancellationToken) {
        let mut changes = reminders::watch(&self.store);
        tracing::info!(poll_s = self.options.poll.as_secs(), "the reminder scheduler runs");
        loop {
            // Changes from here on wake the wait below, including those made during the pass.
            changes.borrow_and_update();
            match self.tick(&cancel).await {
                Ok(tick) if tick != Tick::default() => tracing::debug!(?tick, "reminder pass"),
                Ok(_) => {}
                Err(error) => tracing::warn!(error = %error, "a reminder pass failed"),
            }
            let wait = match reminders::next_due(&self.store).await {
                Ok(Some(at)) => (at - self.clock.now()).to_std().unwrap_or(Duration::ZERO),
                Ok(None) => self.options.poll,
                Err(error) => {
                    tracing::warn!(error = %error, "cannot read when the next reminder is due");
                    self.options.poll
                }
            };
            // At least a little: a reminder due but not claimable must not spin the loop.
            let floor = Duration::from_millis(200).min(self.options.poll);
            let wait = wait.clamp(floor, self.options.poll);
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
                changed = changes.changed() => {
                    if changed.is_err() {
                        // The store is gone; only the timer is left.
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
        tracing::info!("the reminder scheduler stopped");
    }
}

impl<S: ChatSurface> Scheduler<S> {
    /// Runs the scheduler in a task until [`SchedulerHandle::stop`].
    pub fn spawn(self) -> SchedulerHandle {
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let task = tokio::spawn(async move { self.run(stop).await });
        SchedulerHandle { cancel, task }
    }
}

/// A running scheduler.
#[derive(Debug)]
pub struct SchedulerHandle {
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl SchedulerHandle {
    /// How long [`Self::stop`] waits for a delivery in flight.
    pub const STOP_GRACE: Duration = Duration::from_secs(10);

    /// Stops the scheduler: the delivery in flight finishes (it is bounded by the platform's
    /// timeouts, and by [`Self::STOP_GRACE`]), no further reminder is claimed.
    pub async fn stop(self) {
        self.cancel.cancel();
        let mut task = self.task;
        match tokio::time::timeout(Self::STOP_GRACE, &mut task).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(error = %error, "the reminder scheduler panicked"),
            Err(_) => {
                tracing::warn!("the reminder scheduler did not stop in time; abandoning its pass");
                task.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tomori_core::id::Snowflake;

    use super::*;

    #[test]
    fn retries_back_off_to_a_ceiling() {
        let first = TimeDelta::seconds(30);
        let max = TimeDelta::minutes(15);
        let waits: Vec<i64> = (1..=8).map(|a| backoff(a, first, max).num_seconds()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(backoff(u32::MAX, first, max), max);
    }

    #[test]
    fn messages_ping_name_the_cadence_and_admit_lateness() {
        let due = DateTime::from_timestamp(1_796_000_000, 0).expect("a time");
        let reminder = |repeat_hours| Reminder {
            id: 1,
            channel: Snowflake::new(2).expect("id"),
            user: Snowflake::new(33).expect("id"),
            persona: None,
            purpose: "stretch".to_owned(),
            due_at: due,
            repeat_hours,
        };
        let text = |repeat_hours, late_minutes| {
            message_text(
                &reminder(repeat_hours),
                due + TimeDelta::minutes(late_minutes),
                TimeDelta::minutes(5),
            )
        };
        assert_eq!(text(None, 0), "⏰ <@33> Reminder: stretch");
        assert_eq!(text(Some(24), 5), "⏰ <@33> Reminder: stretch (every day)");
        assert_eq!(text(Some(48), 0), "⏰ <@33> Reminder: stretch (every 2 days)");
        assert_eq!(text(Some(5), 0), "⏰ <@33> Reminder: stretch (every 5 hours)");
        assert_eq!(
            text(None, 6),
            "⏰ <@33> Reminder: stretch\n-# This was due <t:1796000000:f>; it comes late because I was offline."
        );
    }
}
