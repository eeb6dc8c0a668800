//! The server's lists: channel sets, trigger words, the role whitelist and member blacklist, and
//! the persona each channel speaks with.

use tomori_core::id::Snowflake;
use tomori_core::settings::ChannelSet;
use tomori_store::access::{self, AccessList};
use tomori_store::{Scope, Store, channel_personas, personas, settings};

use super::WordVerb;
use crate::access::AdminError;
use crate::caller::Caller;

/// The channel sets, with how answers name them.
pub const SETS: [(ChannelSet, &str); 5] = [
    (ChannelSet::Whitelist, "whitelist"),
    (ChannelSet::AutoTrigger, "auto-trigger channels"),
    (ChannelSet::Rp, "role-play channels"),
    (ChannelSet::Private, "private channels"),
    (ChannelSet::CrossChannelBlocklist, "cross-channel blocklist"),
];

fn set_label(set: ChannelSet) -> &'static str {
    SETS.iter().find(|(s, _)| *s == set).map_or("channel set", |(_, label)| label)
}

pub(super) async fn channel(
    store: &Store,
    scope: Scope,
    caller: &Caller,
    set: ChannelSet,
    add: bool,
    channel: Option<Snowflake>,
) -> Result<String, AdminError> {
    let channel = channel.unwrap_or(caller.channel);
    let label = set_label(set);
    if add {
        settings::add_channel(store, scope, caller.actor(), set, channel).await?;
        Ok(format!("<#{channel}> is in the {label}."))
    } else {
        settings::remove_channel(store, scope, caller.actor(), set, channel).await?;
        Ok(format!("<#{channel}> is no longer in the {label}."))
    }
}

pub(super) async fn trigger_words(
    store: &Store,
    scope: Scope,
    caller: &Caller,
    verb: WordVerb,
    words: &[String],
) -> Result<String, AdminError> {
    let mut lines = Vec::with_capacity(words.len());
    for word in words {
        let line = match verb {
            WordVerb::Add => {
                if settings::add_trigger_word(store, scope, caller.actor(), word).await? {
                    format!("`{word}` is now a trigger word.")
                } else {
                    format!("`{word}` was already a trigger word.")
                }
            }
            WordVerb::Remove => {
                settings::remove_trigger_word(store, scope, caller.actor(), word).await?;
                format!("`{word}` is no longer a trigger word.")
            }
        };
        lines.push(line);
    }
    Ok(lines.join("\n"))
}

pub(super) async fn list_trigger_words(store: &Store, scope: Scope) -> Result<String, AdminError> {
    let words = settings::get(store, scope).await?.trigger_words;
    if words.is_empty() {
        return Ok("There are no server-wide trigger words.".to_owned());
    }
    Ok(words.iter().map(|w| format!("- `{w}`")).collect::<Vec<_>>().join("\n"))
}

pub(super) async fn access(
    store: &Store,
    scope: Scope,
    caller: &Caller,
    list: AccessList,
    add: bool,
    id: Snowflake,
) -> Result<String, AdminError> {
    let (mention, label) = match list {
        AccessList::RoleWhitelist => (format!("<@&{id}>"), "role whitelist"),
        AccessList::UserBlacklist => (format!("<@{id}>"), "blacklist"),
    };
    if add {
        let added = access::add(store, scope, caller.actor(), list, id).await?;
        Ok(if added {
            format!("{mention} is on the {label}.")
        } else {
            format!("{mention} was already on the {label}.")
        })
    } else {
        access::remove(store, scope, caller.actor(), list, id).await?;
        Ok(format!("{mention} is off the {label}."))
    }
}

pub(super) async fn list_access(
    store: &Store,
    scope: Scope,
    list: AccessList,
) -> Result<String, AdminError> {
    let ids = access::list(store, scope, list).await?;
    let joined =
        |mention: fn(&Snowflake) -> String| ids.iter().map(mention).collect::<Vec<_>>().join(", ");
    Ok(match list {
        AccessList::RoleWhitelist if ids.is_empty() => {
            "No role whitelist: every member may talk to Tomori.".to_owned()
        }
        AccessList::RoleWhitelist => format!(
            "Only members with these roles may talk to Tomori: {}",
            joined(|id| format!("<@&{id}>"))
        ),
        AccessList::UserBlacklist if ids.is_empty() => "Nobody is blacklisted.".to_owned(),
        AccessList::UserBlacklist => {
            format!("Tomori never answers: {}", joined(|id| format!("<@{id}>")))
        }
    })
}

pub(super) async fn channel_persona(
    store: &Store,
    scope: Scope,
    caller: &Caller,
    channel: Snowflake,
    persona: &str,
) -> Result<String, AdminError> {
    let name = persona.trim();
    if name.is_empty() {
        return Err(AdminError::BadInput("The persona name is empty.".to_owned()));
    }
    // Found by name in this server's own scope only.
    let found = personas::find(store, scope, name).await?.ok_or_else(|| {
        AdminError::BadInput(format!(
            "This server has no persona called {name}; /persona list shows them."
        ))
    })?;
    channel_personas::set(store, scope, caller.actor(), channel, found.id).await?;
    Ok(if found.is_main {
        format!("{} speaks in <#{channel}>, as everywhere else.", found.nickname)
    } else {
        format!(
            "{} now answers in <#{channel}> when Tomori is addressed there without a persona's \
             name.",
            found.nickname
        )
    })
}

pub(super) async fn clear_channel_persona(
    store: &Store,
    scope: Scope,
    caller: &Caller,
    channel: Snowflake,
) -> Result<String, AdminError> {
    channel_personas::clear(store, scope, caller.actor(), channel).await?;
    Ok(format!("The main persona speaks in <#{channel}> again."))
}

pub(super) async fn list_channel_personas(
    store: &Store,
    scope: Scope,
) -> Result<String, AdminError> {
    let list = channel_personas::list(store, scope).await?;
    if list.is_empty() {
        return Ok("No channel has a persona of its own.".to_owned());
    }
    Ok(list
        .iter()
        .map(|c| format!("<#{}>: {}", c.channel, c.nickname))
        .collect::<Vec<_>>()
        .join("\n"))
}
