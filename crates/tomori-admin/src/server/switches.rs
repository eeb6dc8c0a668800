//! A server's switches: feature flags, always-reply, deliberate mode, member teaching and the
//! cooldown (`/server feature|always-reply|deliberate-mode|member-teaching|cooldown`). They
//! authorise themselves, so they can also be used on their own.

use tomori_core::settings::{CooldownKind, Feature};
use tomori_store::Store;
use tomori_store::settings::{self, Setting};

use crate::access::{AdminError, Need, authorize, tenant};
use crate::answer::Answer;
use crate::caller::Caller;

/// The longest cooldown, in seconds (a day).
pub const MAX_COOLDOWN_SECONDS: i64 = 86_400;

/// One change to a server's switches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Switch {
    /// A feature flag on or off.
    Feature {
        /// Which.
        feature: Feature,
        /// On or off.
        on: bool,
    },
    /// Answer every message in the server (within the whitelist), addressed or not.
    AlwaysReply(bool),
    /// Only `@trigger`, mentions and replies call the bot, not a bare trigger word.
    DeliberateMode(bool),
    /// Members without Manage Server may teach server memories and add documents.
    MemberTeaching(bool),
    /// Members must bring their own key: only their own keys or endpoint answer them.
    ByokRequired(bool),
    /// Tools are offered only to a message that asks for what they do.
    DeliberateTools(bool),
    /// How answers are rationed in time.
    Cooldown {
        /// Per member, per channel, or per server.
        kind: CooldownKind,
        /// Seconds (0 to [`MAX_COOLDOWN_SECONDS`]); the current length when `None`.
        seconds: Option<i64>,
    },
}

impl Switch {
    /// Who may change it.
    pub fn need(&self) -> Need {
        Need::Manager
    }

    /// Whether it works in a direct message (on the caller's DM tenant).
    pub fn in_dm(&self) -> bool {
        false
    }
}

/// Changes a switch of the server `caller` asked in, after checking they may.
///
/// # Errors
/// A refusal, input out of range, or the store failing; nothing changes then.
pub async fn switch(store: &Store, caller: &Caller, change: &Switch) -> Result<Answer, AdminError> {
    authorize(store, caller, change.need(), change.in_dm()).await?;
    let scope = tenant(store, caller).await?;
    let actor = caller.actor();
    let text = match change {
        Switch::Feature { feature, on } => {
            settings::set_feature(store, scope, actor, *feature, *on).await?;
            format!("`{}` is now {}.", feature.name(), on_off(*on))
        }
        Switch::AlwaysReply(on) => {
            settings::set(store, scope, actor, Setting::AlwaysReply(*on)).await?;
            if *on {
                "Always-reply is on: Tomori answers every message in this server (within the \
                 whitelist), addressed or not."
                    .to_owned()
            } else {
                "Always-reply is off: Tomori answers when addressed, and in auto-trigger channels \
                 by their range."
                    .to_owned()
            }
        }
        Switch::DeliberateMode(on) => {
            settings::set(store, scope, actor, Setting::DeliberateTrigger(*on)).await?;
            if *on {
                "Deliberate mode is on: a bare trigger word no longer calls Tomori; @trigger, a \
                 mention or a reply does."
                    .to_owned()
            } else {
                "Deliberate mode is off: trigger words call Tomori again.".to_owned()
            }
        }
        Switch::MemberTeaching(on) => {
            settings::set(store, scope, actor, Setting::MemberTeaching(*on)).await?;
            format!("Member teaching is now {}.", on_off(*on))
        }
        Switch::ByokRequired(on) => {
            settings::set(store, scope, actor, Setting::ByokRequired(*on)).await?;
            if *on {
                "Members now bring their own key: Tomori answers a member only through the keys                  they added (/personal key add) or their own endpoint; the server's keys and                  endpoints are not spent on them."
                    .to_owned()
            } else {
                "Members no longer need their own key: the server's models answer them again."
                    .to_owned()
            }
        }
        Switch::DeliberateTools(on) => {
            settings::set(store, scope, actor, Setting::DeliberateTools(*on)).await?;
            if *on {
                "Deliberate tool mode is on: tools are offered only to a message that asks for                  what they do (searching, reminders, pictures, memory…), and for a few turns after                  one was used."
                    .to_owned()
            } else {
                "Deliberate tool mode is off: every allowed tool is offered on every turn."
                    .to_owned()
            }
        }
        Switch::Cooldown { kind, seconds } => {
            let seconds = match seconds {
                Some(s) if !(0..=MAX_COOLDOWN_SECONDS).contains(s) => {
                    return Err(AdminError::BadInput(format!(
                        "The cooldown must be from 0 to {MAX_COOLDOWN_SECONDS}; nothing was \
                         changed."
                    )));
                }
                Some(s) => Some(i32::try_from(*s).unwrap_or(0)),
                None => None,
            };
            settings::set(store, scope, actor, Setting::Cooldown { kind: *kind, seconds }).await?;
            let now = settings::get(store, scope).await?;
            format!("The cooldown is now `{}`, {} seconds.", kind.name(), now.cooldown_seconds)
        }
    };
    Ok(Answer::text(text))
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}
