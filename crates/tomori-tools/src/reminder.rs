//! `create_task`, `update_task` and `list_tasks`: reminders the model sets for the member it is
//! talking to, delivered later in the same channel by the scheduler (`tomori_chat::reminders`).
//!
//! A reminder always reminds the member whose turn it is: the model cannot make the bot ping
//! someone else later. Times are relative ("in 10 minutes") or absolute in the server's timezone
//! (see [`crate::reminder_time`]); a reminder can repeat every N hours. Changing or cancelling
//! one goes through [`TargetRule::OwnedByInvoker`]: the store changes only the invoker's own
//! reminders, or any when the invoker has Manage Server. Every change is audited by the store
//! with [`Actor::Model`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};
use tomori_core::timezone::Zone;
use tomori_store::audit::Actor;
use tomori_store::reminders::{self, Editor, NewReminder, Reminder, ReminderChange};
use tomori_store::{Scope, Store, StoreError, settings};

use crate::context::TurnContext;
use crate::gate::{Authorized, Target, Tool, ToolOutcome};
use crate::perm::{Perm, Perms};
use crate::policy::{Contexts, Effect, TargetRule, ToolPolicy};
use crate::reminder_time::{Due, When, parse_when, resolve};

/// Where the reminder tools read the time: the system clock, or a fixed one in tests.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(Arc::new(Utc::now))
    }

    /// A clock that reads `now()`.
    pub fn new(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    /// The time now.
    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// Sets a reminder for the member in this channel.
#[derive(Clone, Debug)]
pub struct CreateTask {
    store: Store,
    clock: Clock,
}

/// Changes or cancels one of the member's reminders.
#[derive(Clone, Debug)]
pub struct UpdateTask {
    store: Store,
    clock: Clock,
}

/// Lists the member's pending reminders in this server.
#[derive(Clone, Debug)]
pub struct ListTasks {
    store: Store,
}

impl CreateTask {
    /// The tool over `store`, on the system clock.
    pub fn new(store: Store) -> Self {
        Self::with_clock(store, Clock::system())
    }

    /// The tool over `store`, reading the time from `clock`.
    pub fn with_clock(store: Store, clock: Clock) -> Self {
        Self { store, clock }
    }
}

impl UpdateTask {
    /// The tool over `store`, on the system clock.
    pub fn new(store: Store) -> Self {
        Self::with_clock(store, Clock::system())
    }

    /// The tool over `store`, reading the time from `clock`.
    pub fn with_clock(store: Store, clock: Clock) -> Self {
        Self { store, clock }
    }
}

impl ListTasks {
    /// The tool over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

fn actor(ctx: &TurnContext) -> Actor {
    Actor::Model { persona: ctx.persona, invoker: ctx.invoker }
}

/// The server's zone, or why its setting is not one.
async fn server_zone(
    store: &Store,
    ctx: &TurnContext,
) -> Result<Result<Zone, String>, ToolOutcome> {
    match settings::get(store, Scope::server(ctx.server)).await {
        Ok(settings) => Ok(Zone::parse(&settings.timezone).map_err(|e| e.to_string())),
        Err(e) => Err(store_failure(&e)),
    }
}

fn store_failure(error: &StoreError) -> ToolOutcome {
    let reason = match error {
        StoreError::LimitReached { what, limit } => format!(
            "task_limit_reached: at most {limit} {what}; cancel one with update_task first"
        ),
        StoreError::Invalid { field, reason } => format!("invalid_task: {field}: {reason}"),
        StoreError::NotFound(_) => "task_not_found: no pending task with that id belongs to the member who asked (list_tasks shows theirs)".to_owned(),
        other => {
            tracing::error!(error = %other, "reminder tool: store error");
            "storage_unavailable: nothing was changed; try again later".to_owned()
        }
    };
    ToolOutcome::Failure(reason)
}

/// `0` (or absent) is a one-off, like TomoriBot's `repetition_interval_hours`.
fn repeat(hours: Option<i64>) -> Result<Option<u32>, ToolOutcome> {
    match hours {
        None | Some(0) => Ok(None),
        Some(h) => u32::try_from(h)
            .ok()
            .filter(|h| (1..=reminders::MAX_REPEAT_HOURS).contains(h))
            .map(Some)
            .ok_or_else(|| {
                ToolOutcome::Failure(format!(
                    "invalid_task: repetition_interval_hours must be 0 (once) or 1 to {}",
                    reminders::MAX_REPEAT_HOURS
                ))
            }),
    }
}

fn when(text: &str, zone: Result<Zone, String>, now: DateTime<Utc>) -> Result<Due, ToolOutcome> {
    parse_when(text)
        .map_err(|reason| {
            ToolOutcome::Failure(format!(
                "invalid_time: {reason}; use a relative time such as \"in 10 minutes\" or a local time \"YYYY-MM-DD HH:MM\""
            ))
        })
        .and_then(|w: When| resolve(w, zone, now).map_err(ToolOutcome::Failure))
}

/// How the model sees a reminder: the time in the server's zone (UTC when the setting is not a
/// zone) and as a Discord timestamp that each reader sees in their own zone.
fn view(reminder: &Reminder, zone: Option<Zone>, ctx: &TurnContext) -> Value {
    let zone = zone.unwrap_or(Zone::UTC);
    json!({
        "task_id": reminder.id,
        "purpose": reminder.purpose,
        "due": format!("{} ({zone})", zone.local(reminder.due_at).format("%Y-%m-%d %H:%M")),
        "due_discord_timestamp": format!("<t:{}:F>", reminder.due_at.timestamp()),
        "repetition_interval_hours": reminder.repeat_hours.unwrap_or(0),
        "in_this_channel": reminder.channel == ctx.channel,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateArgs {
    purpose: String,
    time: String,
    #[serde(default)]
    repetition_interval_hours: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateArgs {
    #[serde(rename = "task_id")]
    _task_id: i64,
    #[serde(default)]
    cancel: Option<bool>,
    #[serde(default)]
    purpose: Option<String>,
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    repetition_interval_hours: Option<i64>,
}

const TIME_DESCRIPTION: &str = "When: relative (\"in 10 minutes\", \"2h30m\", \"in 3 days\") or the server's local date and time \"YYYY-MM-DD HH:MM\" (the prompt shows the server's time and zone). At most a year ahead.";
const REPEAT_DESCRIPTION: &str =
    "Repeat every N hours (24 = daily, 168 = weekly); 0 or absent for once.";

impl Tool for CreateTask {
    fn name(&self) -> &'static str {
        "create_task"
    }

    fn description(&self) -> &'static str {
        "Set a reminder for the member you are talking to: at the time given, you will remind them of the purpose in this channel with a ping. It can repeat. Tell them the task id; they can change or cancel it later."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "purpose": {"type": "string", "description": "What to remind them of, in a few words."},
                "time": {"type": "string", "description": TIME_DESCRIPTION},
                "repetition_interval_hours": {"type": "integer", "description": REPEAT_DESCRIPTION},
            },
            "required": ["purpose", "time"],
            "additionalProperties": false,
        })
    }

    fn policy(&self) -> ToolPolicy {
        ToolPolicy {
            feature: None,
            effect: Effect::Creates,
            // The reminder is delivered here later.
            bot_permissions: Perms::of(&[Perm::SendMessages]),
            invoker_permissions: Perms::NONE,
            contexts: Contexts::EVERYWHERE,
            quota: None,
            target: TargetRule::None,
        }
    }

    fn execute<'a>(
        &'a self,
        call: Authorized<'a>,
        ctx: &'a TurnContext,
    ) -> BoxFuture<'a, ToolOutcome> {
        async move {
            let args: CreateArgs = match call.parse() {
                Ok(args) => args,
                Err(failure) => return failure,
            };
            let now = self.clock.now();
            let zone = match server_zone(&self.store, ctx).await {
                Ok(zone) => zone,
                Err(failure) => return failure,
            };
            let repeat_hours = match repeat(args.repetition_interval_hours) {
                Ok(hours) => hours,
                Err(failure) => return failure,
            };
            let due = match when(&args.time, zone.clone(), now) {
                Ok(due) => due,
                Err(failure) => return failure,
            };
            let new = NewReminder {
                channel: ctx.channel,
                // Security: prompt injection. The reminder pings the member whose turn it is, never
                // someone the model names, so text in the conversation cannot aim pings elsewhere.
                user: ctx.invoker,
                persona: Some(ctx.persona),
                purpose: args.purpose,
                due_at: due.at,
                repeat_hours,
            };
            match reminders::create(&self.store, Scope::server(ctx.server), actor(ctx), new).await {
                Ok(reminder) => {
                    let mut out = view(&reminder, zone.ok(), ctx);
                    out["status"] = json!("scheduled");
                    if due.ambiguous {
                        out["note"] = json!(
                            "that local time happens twice (clocks go back); the first one was used"
                        );
                    }
                    ToolOutcome::Success(out)
                }
                Err(e) => store_failure(&e),
            }
        }
        .boxed()
    }
}

impl Tool for UpdateTask {
    fn name(&self) -> &'static str {
        "update_task"
    }

    fn description(&self) -> &'static str {
        "Change or cancel one of the member's reminders by task id: a new time, purpose or repeat interval, or cancel=true to delete it."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "task_id": {"type": "integer", "description": "The task id (create_task or list_tasks gives it)."},
                "cancel": {"type": "boolean", "description": "true to cancel the reminder; give nothing else then."},
                "purpose": {"type": "string", "description": "A new purpose."},
                "time": {"type": "string", "description": TIME_DESCRIPTION},
                "repetition_interval_hours": {"type": "integer", "description": REPEAT_DESCRIPTION},
            },
            "required": ["task_id"],
            "additionalProperties": false,
        })
    }

    fn policy(&self) -> ToolPolicy {
        ToolPolicy {
            feature: None,
            effect: Effect::Destructive,
            bot_permissions: Perms::NONE,
            invoker_permissions: Perms::NONE,
            contexts: Contexts::EVERYWHERE,
            quota: None,
            target: TargetRule::OwnedByInvoker { id_arg: "task_id" },
        }
    }

    fn execute<'a>(
        &'a self,
        call: Authorized<'a>,
        ctx: &'a TurnContext,
    ) -> BoxFuture<'a, ToolOutcome> {
        async move {
            let args: UpdateArgs = match call.parse() {
                Ok(args) => args,
                Err(failure) => return failure,
            };
            // The gate resolved the target; the arguments are not read again for it.
            let Some(Target::Record(id)) = call.target() else {
                return ToolOutcome::Failure("unknown_target".to_owned());
            };
            let editor = Editor {
                user: ctx.invoker,
                manages_server: call.snapshot().invoker.contains(Perm::ManageGuild),
            };
            let scope = Scope::server(ctx.server);
            let zone = match server_zone(&self.store, ctx).await {
                Ok(zone) => zone,
                Err(failure) => return failure,
            };
            let changes_something = args.purpose.is_some()
                || args.time.is_some()
                || args.repetition_interval_hours.is_some();
            if args.cancel == Some(true) {
                if changes_something {
                    return ToolOutcome::Failure(
                        "invalid_task: cancel=true takes no other change".to_owned(),
                    );
                }
                return match reminders::cancel(&self.store, scope, actor(ctx), editor, id).await {
                    Ok(reminder) => {
                        let mut out = view(&reminder, zone.ok(), ctx);
                        out["status"] = json!("cancelled");
                        ToolOutcome::Success(out)
                    }
                    Err(e) => store_failure(&e),
                };
            }
            if !changes_something {
                return ToolOutcome::Failure(
                    "invalid_task: give a new time, purpose or repetition_interval_hours, or cancel=true".to_owned(),
                );
            }
            let mut change = ReminderChange { purpose: args.purpose, ..ReminderChange::default() };
            let mut ambiguous = false;
            if let Some(text) = &args.time {
                match when(text, zone.clone(), self.clock.now()) {
                    Ok(due) => {
                        change.due_at = Some(due.at);
                        ambiguous = due.ambiguous;
                    }
                    Err(failure) => return failure,
                }
            }
            if args.repetition_interval_hours.is_some() {
                match repeat(args.repetition_interval_hours) {
                    Ok(hours) => change.repeat_hours = Some(hours),
                    Err(failure) => return failure,
                }
            }
            match reminders::update(&self.store, scope, actor(ctx), editor, id, change).await {
                Ok(reminder) => {
                    let mut out = view(&reminder, zone.ok(), ctx);
                    out["status"] = json!("updated");
                    if ambiguous {
                        out["note"] = json!("that local time happens twice (clocks go back); the first one was used");
                    }
                    ToolOutcome::Success(out)
                }
                Err(e) => store_failure(&e),
            }
        }
        .boxed()
    }
}

impl Tool for ListTasks {
    fn name(&self) -> &'static str {
        "list_tasks"
    }

    fn description(&self) -> &'static str {
        "List the pending reminders of the member you are talking to in this server, with their task ids."
    }

    fn parameters(&self) -> Value {
        json!({"type": "object", "properties": {}, "additionalProperties": false})
    }

    fn policy(&self) -> ToolPolicy {
        ToolPolicy::read_only()
    }

    fn execute<'a>(
        &'a self,
        _call: Authorized<'a>,
        ctx: &'a TurnContext,
    ) -> BoxFuture<'a, ToolOutcome> {
        async move {
            let zone = match server_zone(&self.store, ctx).await {
                Ok(zone) => zone.ok(),
                Err(failure) => return failure,
            };
            // Security: disclosure of other members' data. Only the invoker's own reminders.
            let scope = Scope::server(ctx.server);
            match reminders::list_for_member(&self.store, scope, ctx.invoker).await {
                Ok(list) => ToolOutcome::Success(json!({
                    "tasks": list.iter().map(|r| view(r, zone, ctx)).collect::<Vec<_>>(),
                })),
                Err(e) => store_failure(&e),
            }
        }
        .boxed()
    }
}
