//! How Tomori talks in a server (`/config …` on Discord): the system prompt, the numeric limits,
//! the humanizer, the timezone, the context note, the thought-log channel, and `setup`, the
//! guided first run. Everything here changes the server and needs Manage Server; `setup` also
//! works in a direct message, on the member's DM tenant.
//!
//! Ranges are checked here for a short answer and again by the store (and the table's CHECK
//! constraints), so a stale front door cannot write a value out of range.

use tomori_core::id::Snowflake;
use tomori_store::Store;
use tomori_store::settings::{self, Setting};

use crate::access::{AdminError, Need, authorize, tenant};
use crate::answer::Answer;
use crate::caller::Caller;

mod setup;

pub use setup::{INSTANCE, InstanceProvider, Setup, SetupOutcome, choices, setup};

/// The most characters of a system prompt (the table's CHECK constraint).
pub const MAX_SYSTEM_PROMPT: usize = 8_000;

/// The most characters of a context note (the table's CHECK constraint).
pub const MAX_CONTEXT_NOTE: usize = 2_000;

/// A numeric setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Number {
    /// Persona-to-persona replies in a row.
    CascadeLimit,
    /// Personas one message may trigger.
    MatchLimit,
    /// Messages of history read per reply.
    MessageFetchLimit,
    /// Messages one reply may be split into.
    SendLimit,
    /// How much replies are humanised.
    Humanizer,
}

/// The numeric settings: command name, description, range, and how answers name them.
pub const NUMBERS: [(Number, &str, &str, i64, i64, &str); 5] = [
    (
        Number::CascadeLimit,
        "cascade-limit",
        "Persona-to-persona replies in a row",
        0,
        10,
        "cascade limit",
    ),
    (Number::MatchLimit, "match-limit", "Personas one message may trigger", 1, 10, "match limit"),
    (
        Number::MessageFetchLimit,
        "message-fetch-limit",
        "Messages of history read per reply",
        1,
        200,
        "message fetch limit",
    ),
    (
        Number::SendLimit,
        "send-limit",
        "Messages one reply may be split into (0 = no limit)",
        0,
        50,
        "send limit",
    ),
    (Number::Humanizer, "humanizer", "How much replies are humanised", 0, 3, "humanizer degree"),
];

impl Number {
    /// The store's setting with this value.
    fn setting(self, value: i16) -> Setting {
        match self {
            Self::CascadeLimit => Setting::CascadeLimit(value),
            Self::MatchLimit => Setting::MatchLimit(value),
            Self::MessageFetchLimit => Setting::MessageFetchLimit(value),
            Self::SendLimit => Setting::SendLimit(value),
            Self::Humanizer => Setting::HumanizerDegree(value),
        }
    }

    /// Its range and how answers name it.
    fn range_and_label(self) -> (i64, i64, &'static str) {
        NUMBERS
            .iter()
            .find(|entry| entry.0 == self)
            .map_or((0, 0, "value"), |&(_, _, _, low, high, label)| (low, high, label))
    }

    /// `value` in its range, as the column's type; a short refusal otherwise.
    fn checked(self, value: i64) -> Result<i16, AdminError> {
        let (low, high, label) = self.range_and_label();
        if !(low..=high).contains(&value) {
            return Err(AdminError::BadInput(format!(
                "The {label} must be from {low} to {high}; nothing was changed."
            )));
        }
        i16::try_from(value)
            .map_err(|_| AdminError::BadInput(format!("The {label} is out of range.")))
    }
}

/// One change to how Tomori talks in the server (`setup` is [`setup()`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The server's system prompt; `None` removes it.
    SystemPrompt(Option<String>),
    /// A system prompt read from a file the front door brought (said with its length).
    SystemPromptFromFile(String),
    /// One of [`NUMBERS`], with the value given.
    Number {
        /// Which.
        number: Number,
        /// The value.
        value: i64,
    },
    /// The server's timezone: UTC, an offset, or a tz database name.
    Timezone(String),
    /// A note shown to the persona in every turn; `None` removes it.
    ContextNote(Option<String>),
    /// Where reasoning is logged (the channel asked in when `None`), or nowhere.
    ThoughtLog {
        /// On or off.
        on: bool,
        /// The channel.
        channel: Option<Snowflake>,
    },
}

fn non_empty(text: &str, what: &str) -> Result<String, AdminError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AdminError::BadInput(format!("The {what} is empty.")));
    }
    Ok(text.to_owned())
}

fn system_prompt(text: &str) -> Result<String, AdminError> {
    let text = non_empty(text, "system prompt")?;
    let chars = text.chars().count();
    if chars > MAX_SYSTEM_PROMPT {
        return Err(AdminError::BadInput(format!(
            "The system prompt has {chars} characters; it may have at most {MAX_SYSTEM_PROMPT}. \
             Nothing was changed."
        )));
    }
    Ok(text)
}

/// Runs `action` on the server `caller` asked in, after checking they may.
///
/// # Errors
/// A refusal, input refused (nothing changes then), or the store failing.
pub async fn run(store: &Store, caller: &Caller, action: &Action) -> Result<Answer, AdminError> {
    authorize(store, caller, Need::Manager, false).await?;
    let scope = tenant(store, caller).await?;
    let (setting, answer) = match action {
        Action::SystemPrompt(Some(text)) => (
            Setting::SystemPrompt(Some(system_prompt(text)?)),
            "The system prompt is set.".to_owned(),
        ),
        Action::SystemPrompt(None) => {
            (Setting::SystemPrompt(None), "The system prompt is removed.".to_owned())
        }
        Action::SystemPromptFromFile(text) => {
            let text = system_prompt(text)?;
            let chars = text.chars().count();
            (
                Setting::SystemPrompt(Some(text)),
                format!("The system prompt is set ({chars} characters)."),
            )
        }
        Action::ContextNote(Some(text)) => (
            Setting::ContextNote(Some(non_empty(text, "context note")?)),
            "The context note is set.".to_owned(),
        ),
        Action::ContextNote(None) => {
            (Setting::ContextNote(None), "The context note is removed.".to_owned())
        }
        Action::Number { number, value } => {
            let n = number.checked(*value)?;
            let (_, _, label) = number.range_and_label();
            (number.setting(n), format!("The {label} is now {n}."))
        }
        Action::Timezone(name) => {
            let Ok(zone) = tomori_core::timezone::Zone::parse(name.trim()) else {
                return Err(AdminError::BadInput(
                    "Use UTC, an offset such as UTC+9 or UTC-3:30, or a name such as Asia/Tokyo; \
                     nothing was changed."
                        .to_owned(),
                ));
            };
            let name = zone.to_string();
            let now = tomori_core::timezone::describe_now(chrono::Utc::now(), &name);
            (Setting::Timezone(name.clone()), format!("The timezone is now `{name}`: it is {now}."))
        }
        Action::ThoughtLog { on: true, channel } => {
            let channel = channel.unwrap_or(caller.channel);
            (
                Setting::ThoughtLogChannel(Some(channel)),
                format!("Thoughts are logged in <#{channel}>."),
            )
        }
        Action::ThoughtLog { on: false, .. } => {
            (Setting::ThoughtLogChannel(None), "Thoughts are no longer logged.".to_owned())
        }
    };
    settings::set(store, scope, caller.actor(), setting).await?;
    Ok(Answer::text(answer))
}
