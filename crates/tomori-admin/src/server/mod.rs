//! The server's own configuration (`/server …` on Discord): its switches (feature flags,
//! always-reply, deliberate mode, member teaching, the cooldown), channel sets, trigger words,
//! the auto-trigger range, quotas, the role whitelist and member blacklist, and the persona each
//! channel speaks with. Everything but the lists changes the server and needs Manage Server.

mod limits;
mod lists;
mod switches;
mod tool_triggers;

use tomori_core::id::Snowflake;
use tomori_core::settings::ChannelSet;
use tomori_store::Store;
pub use tomori_store::access::AccessList;
pub use tomori_store::quotas::QuotaKind;

pub use lists::SETS;
pub use switches::{MAX_COOLDOWN_SECONDS, Switch, switch};
pub use tool_triggers::TriggerAction;

use crate::access::{AdminError, Need, authorize, tenant};
use crate::answer::Answer;
use crate::caller::Caller;

/// What `trigger-words add|remove` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordVerb {
    /// Add the words.
    Add,
    /// Remove the words.
    Remove,
}

/// One action on the server's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A switch ([`Switch`]).
    Switch(Switch),
    /// The personas' short-term notes in the server ([`crate::short_term`]).
    ShortTerm(crate::short_term::Action),
    /// Adds a channel to a set or takes it off.
    Channel {
        /// Which set.
        set: ChannelSet,
        /// Add (else remove).
        add: bool,
        /// The channel; the one asked in when `None`.
        channel: Option<Snowflake>,
    },
    /// Adds or removes server-wide trigger words.
    TriggerWord {
        /// Add or remove.
        verb: WordVerb,
        /// Stored forms (`tomori_core::trigger::parse_trigger_words`), at least one.
        words: Vec<String>,
    },
    /// Lists the trigger words.
    ListTriggerWords,
    /// How many people's messages pass in an auto-trigger channel before Tomori joins in.
    AutoTriggerRange {
        /// The fewest.
        min: i64,
        /// The most.
        max: i64,
    },
    /// Changes a quota; what is `None` stays as it is.
    Quota {
        /// Which quota.
        kind: QuotaKind,
        /// Per member per UTC day (0 to 100, 0 = none).
        per_user_daily: Option<i64>,
        /// For the whole server per period (0 to 99,999, 0 = none).
        server_pool: Option<i64>,
        /// The pool's period in days (1 to 365).
        reset_days: Option<i64>,
        /// Whether it applies.
        enabled: Option<bool>,
    },
    /// Adds or removes a role or user on an access list.
    Access {
        /// Which list.
        list: AccessList,
        /// Add (else remove).
        add: bool,
        /// The role or user.
        id: Snowflake,
    },
    /// Shows an access list.
    ListAccess(AccessList),
    /// The persona that speaks by default in a channel.
    ChannelPersonaSet {
        /// The channel.
        channel: Snowflake,
        /// The persona's name.
        persona: String,
    },
    /// The main persona speaks in the channel again.
    ChannelPersonaClear {
        /// The channel.
        channel: Snowflake,
    },
    /// Lists the channels with a persona of their own.
    ChannelPersonaList,
    /// A channel's own prompt or model ([`crate::overrides`]).
    Overrides(crate::overrides::Action),
    /// The server's own deliberate tool triggers.
    ToolTrigger(TriggerAction),
}

impl Action {
    /// Who may run it.
    pub fn need(&self) -> Need {
        // Security: every /server action but the lists changes the server.
        match self {
            Self::ListTriggerWords | Self::ListAccess(_) | Self::ChannelPersonaList => Need::Member,
            Self::Switch(change) => change.need(),
            Self::Overrides(action) => action.need(),
            Self::ToolTrigger(action) if !action.changes() => Need::Member,
            Self::Channel { .. }
            | Self::TriggerWord { .. }
            | Self::AutoTriggerRange { .. }
            | Self::Quota { .. }
            | Self::Access { .. }
            | Self::ChannelPersonaSet { .. }
            | Self::ChannelPersonaClear { .. }
            | Self::ToolTrigger(_)
            | Self::ShortTerm(_) => Need::Manager,
        }
    }
}

/// Runs `action` on the server `caller` asked in, after checking they may.
///
/// # Errors
/// A refusal, input out of range, or the store failing; nothing changes then.
pub async fn run(store: &Store, caller: &Caller, action: &Action) -> Result<Answer, AdminError> {
    authorize(store, caller, action.need(), false).await?;
    let scope = tenant(store, caller).await?;
    let text = match action {
        Action::Switch(change) => return switch(store, caller, change).await,
        Action::Overrides(action) => return crate::overrides::run(store, caller, action).await,
        Action::ShortTerm(action) => {
            return crate::short_term::run(
                store,
                caller,
                crate::short_term::Whose::Server,
                *action,
            )
            .await;
        }
        Action::Channel { set, add, channel } => {
            lists::channel(store, scope, caller, *set, *add, *channel).await?
        }
        Action::TriggerWord { verb, words } => {
            lists::trigger_words(store, scope, caller, *verb, words).await?
        }
        Action::ListTriggerWords => lists::list_trigger_words(store, scope).await?,
        Action::Access { list, add, id } => {
            lists::access(store, scope, caller, *list, *add, *id).await?
        }
        Action::ListAccess(list) => lists::list_access(store, scope, *list).await?,
        Action::ChannelPersonaSet { channel, persona } => {
            lists::channel_persona(store, scope, caller, *channel, persona).await?
        }
        Action::ChannelPersonaClear { channel } => {
            lists::clear_channel_persona(store, scope, caller, *channel).await?
        }
        Action::ChannelPersonaList => lists::list_channel_personas(store, scope).await?,
        Action::ToolTrigger(action) => tool_triggers::run(store, scope, caller, action).await?,
        Action::AutoTriggerRange { min, max } => {
            limits::auto_trigger(store, scope, caller, *min, *max).await?
        }
        Action::Quota { kind, per_user_daily, server_pool, reset_days, enabled } => {
            let change = limits::QuotaChange {
                per_user_daily: *per_user_daily,
                server_pool: *server_pool,
                reset_days: *reset_days,
                enabled: *enabled,
            };
            limits::quota(store, scope, caller, *kind, change).await?
        }
    };
    Ok(Answer::text(text))
}
