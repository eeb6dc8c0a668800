//! `/server feature <flag> <on|off>`, `/server channel add|remove <set> [channel]`, cooldown,
//! trigger words, always-reply, deliberate mode, the auto-trigger range, member teaching, quotas,
//! the role
//! whitelist (`/server role add|remove|list`), the user blacklist (`/server blacklist …`) and the
//! persona each channel speaks with (`/server channel-persona set|clear|list`). Everything here
//! but the lists changes the server and needs Manage Server.

use tomori_core::id::Snowflake;
use tomori_core::settings::{ChannelSet, CooldownKind, Feature};
use tomori_core::trigger::{AutoRange, MAX_AUTO_TRIGGER};
use tomori_store::access::{self, AccessList};
use tomori_store::quotas::{self, QuotaKind, QuotaPatch};
use tomori_store::settings::{self, Setting};
use tomori_store::{channel_personas, personas};
use twilight_model::application::command::CommandType;
use twilight_model::channel::ChannelType;
use twilight_model::guild::Permissions;
use twilight_util::builder::command::{
    ChannelBuilder, CommandBuilder, IntegerBuilder, RoleBuilder, StringBuilder, SubCommandBuilder,
    SubCommandGroupBuilder, UserBuilder,
};

use tomori_admin::server::Switch;

use super::{Args, BadInput, Ctx, Failure, Need, persona_edit};

/// The channel sets, in the order the command offers them, with how answers name them.
const SETS: [(ChannelSet, &str); 5] = [
    (ChannelSet::Whitelist, "whitelist"),
    (ChannelSet::AutoTrigger, "auto-trigger channels"),
    (ChannelSet::Rp, "role-play channels"),
    (ChannelSet::Private, "private channels"),
    (ChannelSet::CrossChannelBlocklist, "cross-channel blocklist"),
];

/// A `/server` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Feature flags, always-reply, deliberate mode, member teaching, the cooldown: the admin
    /// layer's (`tomori_admin::server`).
    Switch(Switch),
    Channel {
        set: ChannelSet,
        add: bool,
        channel: Option<Snowflake>,
    },
    TriggerWord {
        verb: WordVerb,
        /// Stored forms (`tomori_core::trigger::parse_trigger_words`), at least one.
        words: Vec<String>,
    },
    ListTriggerWords,
    /// How many people's messages pass in an auto-trigger channel before Tomori joins in.
    AutoTriggerRange {
        min: i64,
        max: i64,
    },
    Quota {
        kind: QuotaKind,
        per_user_daily: Option<i64>,
        server_pool: Option<i64>,
        reset_days: Option<i64>,
        enabled: Option<bool>,
    },
    /// Adds or removes a role or user on an access list.
    Access {
        list: AccessList,
        add: bool,
        id: Snowflake,
    },
    ListAccess(AccessList),
    /// The persona that speaks by default in a channel.
    ChannelPersonaSet {
        channel: Snowflake,
        persona: String,
    },
    ChannelPersonaClear {
        channel: Snowflake,
    },
    ChannelPersonaList,
}

/// What `trigger-words add|remove` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WordVerb {
    Add,
    Remove,
}

const COOLDOWNS: [CooldownKind; 5] = [
    CooldownKind::Off,
    CooldownKind::PerUser,
    CooldownKind::PerChannel,
    CooldownKind::ServerWide,
    CooldownKind::Strict,
];

/// The quotas offered: image and video generation do not exist yet, so their quotas (kept in
/// the table) would do nothing.
const QUOTA_KINDS: [QuotaKind; 1] = [QuotaKind::Text];

/// Feature flags nothing reads yet (there is no image or video generation): not offered until
/// they work; their columns stay.
pub(crate) const NOT_OFFERED: [Feature; 2] = [Feature::ImageGen, Feature::VideoGen];

/// The feature flags `/server feature` offers.
fn offered_features() -> impl Iterator<Item = Feature> {
    Feature::ALL.into_iter().filter(|f| !NOT_OFFERED.contains(f))
}

fn on_off(name: &'static str, description: &'static str) -> StringBuilder {
    StringBuilder::new(name, description).choices([("on", "on"), ("off", "off")])
}

fn parse_on_off(args: Args<'_>, name: &str) -> Result<Option<bool>, BadInput> {
    match args.string(name)? {
        None => Ok(None),
        Some("on") => Ok(Some(true)),
        Some("off") => Ok(Some(false)),
        Some(other) => Err(BadInput(format!("Say on or off, not `{other}`."))),
    }
}

fn integer(name: &'static str, description: &'static str, low: i64, high: i64) -> IntegerBuilder {
    IntegerBuilder::new(name, description).min_value(low).max_value(high)
}

/// A number in its range; a short answer otherwise.
fn in_range(label: &str, value: i64, low: i64, high: i64) -> Result<i64, Failure> {
    if (low..=high).contains(&value) {
        Ok(value)
    } else {
        Err(Failure::BadInput(format!(
            "The {label} must be from {low} to {high}; nothing was changed."
        )))
    }
}

fn optional_u32(
    label: &str,
    value: Option<i64>,
    low: i64,
    high: i64,
) -> Result<Option<u32>, Failure> {
    value.map(|v| in_range(label, v, low, high).map(|v| u32::try_from(v).unwrap_or(0))).transpose()
}

/// The kinds of channel an option may name.
const CHANNEL_TYPES: [ChannelType; 6] = [
    ChannelType::GuildText,
    ChannelType::GuildAnnouncement,
    ChannelType::GuildForum,
    ChannelType::GuildVoice,
    ChannelType::PublicThread,
    ChannelType::PrivateThread,
];

fn channel_subcommand(name: &'static str, description: &'static str) -> SubCommandBuilder {
    SubCommandBuilder::new(name, description)
        .option(
            StringBuilder::new("set", "Which channel set")
                .required(true)
                .choices(SETS.iter().map(|(set, _)| (set.name(), set.name()))),
        )
        .option(
            ChannelBuilder::new("channel", "The channel (this one if empty)")
                .channel_types(CHANNEL_TYPES),
        )
}

pub(crate) fn definition() -> CommandBuilder {
    CommandBuilder::new("server", "Configure Tomori in this server", CommandType::ChatInput)
        .default_member_permissions(Permissions::MANAGE_GUILD)
        .option(
            SubCommandBuilder::new("feature", "Turn a feature on or off")
                .option(
                    StringBuilder::new("flag", "The feature")
                        .required(true)
                        .choices(offered_features().map(|f| (f.name(), f.name()))),
                )
                .option(
                    StringBuilder::new("state", "On or off")
                        .required(true)
                        .choices([("on", "on"), ("off", "off")]),
                ),
        )
        .option(SubCommandGroupBuilder::new("channel", "Channel sets").subcommands([
            channel_subcommand("add", "Add a channel to a set"),
            channel_subcommand("remove", "Remove a channel from a set"),
        ]))
        .option(
            SubCommandBuilder::new("cooldown", "How often Tomori may be triggered")
                .option(
                    StringBuilder::new("kind", "How the cooldown is keyed")
                        .required(true)
                        .choices(COOLDOWNS.iter().map(|k| (k.name(), k.name()))),
                )
                .option(integer("seconds", "Cooldown length in seconds", 0, 86_400)),
        )
        .option(
            SubCommandGroupBuilder::new("trigger-words", "Server-wide trigger words").subcommands(
                [
                    SubCommandBuilder::new("add", "Add trigger words")
                        .option(persona_edit::words_option()),
                    SubCommandBuilder::new("remove", "Remove trigger words")
                        .option(persona_edit::words_option()),
                    SubCommandBuilder::new("list", "List the trigger words"),
                ],
            ),
        )
        .option(
            SubCommandBuilder::new(
                "always-reply",
                "Answer every message in every channel, addressed or not",
            )
            .option(on_off("state", "On or off").required(true)),
        )
        .option(
            SubCommandBuilder::new(
                "deliberate-mode",
                "Only @trigger, mentions and replies call Tomori (not a bare trigger word)",
            )
            .option(on_off("state", "On or off").required(true)),
        )
        .option(
            SubCommandBuilder::new(
                "auto-trigger-range",
                "In auto-trigger channels, join in after a random min to max messages (0 0 = off)",
            )
            .option(
                integer("min", "The fewest messages", 0, MAX_AUTO_TRIGGER.into()).required(true),
            )
            .option(integer("max", "The most messages", 0, MAX_AUTO_TRIGGER.into()).required(true)),
        )
        .option(
            SubCommandBuilder::new("member-teaching", "Whether members may teach server memories")
                .option(on_off("state", "On or off").required(true)),
        )
        .option(
            SubCommandBuilder::new("quota", "Generation quotas")
                .option(
                    StringBuilder::new("kind", "What is generated")
                        .required(true)
                        .choices(QUOTA_KINDS.iter().map(|k| (k.name(), k.name()))),
                )
                .option(integer("per-user-daily", "Per member per UTC day (0 = none)", 0, 100))
                .option(integer(
                    "server-pool",
                    "For the whole server per period (0 = none)",
                    0,
                    99_999,
                ))
                .option(integer("reset-days", "Length of the pool period in days", 1, 365))
                .option(on_off("enabled", "Whether the quota applies")),
        )
        .option(
            SubCommandGroupBuilder::new(
                "role",
                "Roles whose members may talk to Tomori (none listed: everyone)",
            )
            .subcommands([
                SubCommandBuilder::new("add", "Let this role's members talk to Tomori")
                    .option(RoleBuilder::new("role", "The role").required(true)),
                SubCommandBuilder::new("remove", "Take the role off the whitelist")
                    .option(RoleBuilder::new("role", "The role").required(true)),
                SubCommandBuilder::new("list", "List the whitelisted roles"),
            ]),
        )
        .option(
            SubCommandGroupBuilder::new("blacklist", "Members Tomori never answers").subcommands([
                SubCommandBuilder::new("add", "Never answer this member")
                    .option(UserBuilder::new("user", "The member").required(true)),
                SubCommandBuilder::new("remove", "Answer this member again")
                    .option(UserBuilder::new("user", "The member").required(true)),
                SubCommandBuilder::new("list", "List the blacklisted members"),
            ]),
        )
        .option(
            SubCommandGroupBuilder::new(
                "channel-persona",
                "The persona that answers in a channel when Tomori is addressed without a name",
            )
            .subcommands([
                SubCommandBuilder::new("set", "Let a persona speak by default in a channel")
                    .option(
                        ChannelBuilder::new("channel", "The channel")
                            .required(true)
                            .channel_types(CHANNEL_TYPES),
                    )
                    .option(
                        StringBuilder::new("persona", "The persona's name")
                            .required(true)
                            .max_length(80),
                    ),
                SubCommandBuilder::new("clear", "The main persona speaks in the channel again")
                    .option(
                        ChannelBuilder::new("channel", "The channel")
                            .required(true)
                            .channel_types(CHANNEL_TYPES),
                    ),
                SubCommandBuilder::new("list", "List the channels with a persona of their own"),
            ]),
        )
}

pub(crate) fn parse(args: Args<'_>) -> Result<Action, BadInput> {
    let (sub, args) = args.nested()?;
    match sub {
        "feature" => {
            let name = args.required_string("flag")?;
            let feature = Feature::from_name(name)
                .filter(|f| !NOT_OFFERED.contains(f))
                .ok_or_else(|| BadInput(format!("There is no feature called `{name}`.")))?;
            let on = match args.required_string("state")? {
                "on" => true,
                "off" => false,
                other => return Err(BadInput(format!("Say on or off, not `{other}`."))),
            };
            Ok(Action::Switch(Switch::Feature { feature, on }))
        }
        "channel" => {
            let (verb, args) = args.nested()?;
            let add = match verb {
                "add" => true,
                "remove" => false,
                _ => return Err(BadInput::unknown()),
            };
            let name = args.required_string("set")?;
            let set = SETS
                .iter()
                .map(|(set, _)| *set)
                .find(|set| set.name() == name)
                .ok_or_else(|| BadInput(format!("There is no channel set called `{name}`.")))?;
            Ok(Action::Channel { set, add, channel: args.channel("channel")? })
        }
        "cooldown" => {
            let name = args.required_string("kind")?;
            let kind = COOLDOWNS
                .into_iter()
                .find(|k| k.name() == name)
                .ok_or_else(|| BadInput(format!("There is no cooldown called `{name}`.")))?;
            Ok(Action::Switch(Switch::Cooldown { kind, seconds: args.integer("seconds")? }))
        }
        "trigger-words" => match args.nested()? {
            ("add", args) => Ok(Action::TriggerWord {
                verb: WordVerb::Add,
                words: persona_edit::trigger_words(args)?,
            }),
            ("remove", args) => Ok(Action::TriggerWord {
                verb: WordVerb::Remove,
                words: persona_edit::trigger_words(args)?,
            }),
            ("list", _) => Ok(Action::ListTriggerWords),
            _ => Err(BadInput::unknown()),
        },
        "always-reply" => Ok(Action::Switch(Switch::AlwaysReply(
            parse_on_off(args, "state")?
                .ok_or_else(|| BadInput("The option `state` is required.".to_owned()))?,
        ))),
        "deliberate-mode" => Ok(Action::Switch(Switch::DeliberateMode(
            parse_on_off(args, "state")?
                .ok_or_else(|| BadInput("The option `state` is required.".to_owned()))?,
        ))),
        "member-teaching" => Ok(Action::Switch(Switch::MemberTeaching(
            parse_on_off(args, "state")?
                .ok_or_else(|| BadInput("The option `state` is required.".to_owned()))?,
        ))),
        "auto-trigger-range" => Ok(Action::AutoTriggerRange {
            min: args.required_integer("min")?,
            max: args.required_integer("max")?,
        }),
        "quota" => {
            let name = args.required_string("kind")?;
            let kind = QUOTA_KINDS
                .into_iter()
                .find(|k| k.name() == name)
                .ok_or_else(|| BadInput(format!("There is no quota called `{name}`.")))?;
            Ok(Action::Quota {
                kind,
                per_user_daily: args.integer("per-user-daily")?,
                server_pool: args.integer("server-pool")?,
                reset_days: args.integer("reset-days")?,
                enabled: parse_on_off(args, "enabled")?,
            })
        }
        "role" | "blacklist" => {
            let (list, option) = if sub == "role" {
                (AccessList::RoleWhitelist, "role")
            } else {
                (AccessList::UserBlacklist, "user")
            };
            match args.nested()? {
                ("list", _) => Ok(Action::ListAccess(list)),
                (verb @ ("add" | "remove"), args) => {
                    Ok(Action::Access { list, add: verb == "add", id: args.mentionable(option)? })
                }
                _ => Err(BadInput::unknown()),
            }
        }
        "channel-persona" => {
            let required_channel = |args: Args<'_>| {
                args.channel("channel")?
                    .ok_or_else(|| BadInput("The option `channel` is required.".to_owned()))
            };
            match args.nested()? {
                ("set", args) => Ok(Action::ChannelPersonaSet {
                    channel: required_channel(args)?,
                    persona: args.required_string("persona")?.trim().to_owned(),
                }),
                ("clear", args) => {
                    Ok(Action::ChannelPersonaClear { channel: required_channel(args)? })
                }
                ("list", _) => Ok(Action::ChannelPersonaList),
                _ => Err(BadInput::unknown()),
            }
        }
        _ => Err(BadInput::unknown()),
    }
}

pub(crate) fn need(action: &Action) -> Need {
    // Security: every /server action but the list changes the server; `authorize` checks Manage
    // Server in code before `run`.
    match action {
        Action::ListTriggerWords | Action::ListAccess(_) | Action::ChannelPersonaList => {
            Need::Member
        }
        Action::Switch(change) => change.need(),
        Action::Channel { .. }
        | Action::TriggerWord { .. }
        | Action::AutoTriggerRange { .. }
        | Action::Quota { .. }
        | Action::Access { .. }
        | Action::ChannelPersonaSet { .. }
        | Action::ChannelPersonaClear { .. } => Need::Manager,
    }
}

fn set_label(set: ChannelSet) -> &'static str {
    SETS.iter().find(|(s, _)| *s == set).map_or("channel set", |(_, label)| label)
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    let scope = ctx.server().await?;
    match action {
        Action::ChannelPersonaSet { channel, persona } => {
            let name = super::non_empty(persona, "persona name")?;
            // Found by name in this server's own scope only.
            let found = personas::find(ctx.store, scope, name).await?.ok_or_else(|| {
                Failure::BadInput(format!(
                    "This server has no persona called {name}; /persona list shows them."
                ))
            })?;
            channel_personas::set(ctx.store, scope, ctx.actor(), *channel, found.id).await?;
            Ok(if found.is_main {
                format!("{} speaks in <#{channel}>, as everywhere else.", found.nickname)
            } else {
                format!(
                    "{} now answers in <#{channel}> when Tomori is addressed there without a \
                     persona's name.",
                    found.nickname
                )
            })
        }
        Action::ChannelPersonaClear { channel } => {
            channel_personas::clear(ctx.store, scope, ctx.actor(), *channel).await?;
            Ok(format!("The main persona speaks in <#{channel}> again."))
        }
        Action::ChannelPersonaList => {
            let list = channel_personas::list(ctx.store, scope).await?;
            if list.is_empty() {
                return Ok("No channel has a persona of its own.".to_owned());
            }
            Ok(list
                .iter()
                .map(|c| format!("<#{}>: {}", c.channel, c.nickname))
                .collect::<Vec<_>>()
                .join("\n"))
        }
        Action::Access { list, add, id } => {
            let (mention, label) = match list {
                AccessList::RoleWhitelist => (format!("<@&{id}>"), "role whitelist"),
                AccessList::UserBlacklist => (format!("<@{id}>"), "blacklist"),
            };
            if *add {
                let added = access::add(ctx.store, scope, ctx.actor(), *list, *id).await?;
                Ok(if added {
                    format!("{mention} is on the {label}.")
                } else {
                    format!("{mention} was already on the {label}.")
                })
            } else {
                access::remove(ctx.store, scope, ctx.actor(), *list, *id).await?;
                Ok(format!("{mention} is off the {label}."))
            }
        }
        Action::ListAccess(list) => {
            let ids = access::list(ctx.store, scope, *list).await?;
            Ok(match list {
                AccessList::RoleWhitelist if ids.is_empty() => {
                    "No role whitelist: every member may talk to Tomori.".to_owned()
                }
                AccessList::RoleWhitelist => format!(
                    "Only members with these roles may talk to Tomori: {}",
                    ids.iter().map(|id| format!("<@&{id}>")).collect::<Vec<_>>().join(", ")
                ),
                AccessList::UserBlacklist if ids.is_empty() => "Nobody is blacklisted.".to_owned(),
                AccessList::UserBlacklist => format!(
                    "Tomori never answers: {}",
                    ids.iter().map(|id| format!("<@{id}>")).collect::<Vec<_>>().join(", ")
                ),
            })
        }
        Action::Switch(change) => {
            Ok(tomori_admin::server::switch(ctx.store, &ctx.caller.admin(), change).await?.text)
        }
        Action::Channel { set, add, channel } => {
            let channel = channel.unwrap_or(ctx.caller.channel);
            let label = set_label(*set);
            if *add {
                settings::add_channel(ctx.store, scope, ctx.actor(), *set, channel).await?;
                Ok(format!("<#{channel}> is in the {label}."))
            } else {
                settings::remove_channel(ctx.store, scope, ctx.actor(), *set, channel).await?;
                Ok(format!("<#{channel}> is no longer in the {label}."))
            }
        }
        Action::TriggerWord { verb: WordVerb::Add, words } => {
            let mut lines = Vec::with_capacity(words.len());
            for word in words {
                if settings::add_trigger_word(ctx.store, scope, ctx.actor(), word).await? {
                    lines.push(format!("`{word}` is now a trigger word."));
                } else {
                    lines.push(format!("`{word}` was already a trigger word."));
                }
            }
            Ok(lines.join("\n"))
        }
        Action::TriggerWord { verb: WordVerb::Remove, words } => {
            let mut lines = Vec::with_capacity(words.len());
            for word in words {
                settings::remove_trigger_word(ctx.store, scope, ctx.actor(), word).await?;
                lines.push(format!("`{word}` is no longer a trigger word."));
            }
            Ok(lines.join("\n"))
        }
        Action::ListTriggerWords => {
            let words = settings::get(ctx.store, scope).await?.trigger_words;
            if words.is_empty() {
                return Ok("There are no server-wide trigger words.".to_owned());
            }
            Ok(words.iter().map(|w| format!("- `{w}`")).collect::<Vec<_>>().join("\n"))
        }
        Action::AutoTriggerRange { min, max } => {
            let range = u16::try_from(*min)
                .ok()
                .zip(u16::try_from(*max).ok())
                .ok_or(tomori_core::trigger::AutoRangeError::TooLarge)
                .and_then(|(min, max)| AutoRange::new(min, max))
                .map_err(|e| {
                    Failure::BadInput(format!("That range won't do: {e}; nothing was changed."))
                })?;
            settings::set(ctx.store, scope, ctx.actor(), Setting::AutoTrigger(range)).await?;
            Ok(if range.is_off() {
                "Auto-trigger channels no longer join in unaddressed.".to_owned()
            } else {
                format!(
                    "In auto-trigger channels Tomori now joins in after {} to {} messages \
                     (`/server channel add auto_trigger` picks the channels).",
                    range.min(),
                    range.max()
                )
            })
        }
        Action::Quota { kind, per_user_daily, server_pool, reset_days, enabled } => {
            let patch = QuotaPatch {
                enabled: *enabled,
                per_user_daily: optional_u32("per-user daily limit", *per_user_daily, 0, 100)?,
                server_pool: optional_u32("server pool", *server_pool, 0, 99_999)?,
                reset_period_days: optional_u32("reset period", *reset_days, 1, 365)?,
            };
            let now = quotas::update_limits(ctx.store, scope, ctx.actor(), *kind, patch).await?;
            Ok(format!(
                "The {} quota is {}: {} per member per day, {} for the server every {} days (0 = no limit).",
                kind.name(),
                if now.enabled { "on" } else { "off" },
                now.per_user_daily,
                now.server_pool,
                now.reset_period_days
            ))
        }
    }
}
