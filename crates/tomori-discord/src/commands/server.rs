//! `/server feature <flag> <on|off>`, `/server channel add|remove <set> [channel]`, cooldown,
//! trigger words, always-reply, deliberate mode, the auto-trigger range, member teaching, quotas,
//! the role
//! whitelist (`/server role add|remove|list`), the user blacklist (`/server blacklist …`) and the
//! persona each channel speaks with (`/server channel-persona set|clear|list`), and the server's
//! own deliberate tool triggers (`/server tool-trigger add|remove|list`). Everything here but the
//! lists changes the server and needs Manage Server.

use tomori_core::settings::{CooldownKind, Feature};
use tomori_core::trigger::MAX_AUTO_TRIGGER;
use twilight_model::application::command::CommandType;
use twilight_model::channel::ChannelType;
use twilight_model::guild::Permissions;
use twilight_util::builder::command::{
    ChannelBuilder, CommandBuilder, IntegerBuilder, RoleBuilder, StringBuilder, SubCommandBuilder,
    SubCommandGroupBuilder, UserBuilder,
};

use tomori_admin::server::{AccessList, QuotaKind, SETS, Switch, TriggerAction};
use tomori_core::tool_intent::ToolFamily;
use tomori_core::tool_intent::custom::{MAX_REGEX_CHARS, TriggerKind};

use super::{Args, BadInput, Ctx, Failure, Need, persona_edit};

/// A `/server` subcommand: the admin layer's (`tomori_admin::server`).
pub(crate) use tomori_admin::server::{Action, WordVerb};

const COOLDOWNS: [CooldownKind; 5] = [
    CooldownKind::Off,
    CooldownKind::PerUser,
    CooldownKind::PerChannel,
    CooldownKind::ServerWide,
    CooldownKind::Strict,
];

/// The quotas offered: text replies, pictures and videos.
const QUOTA_KINDS: [QuotaKind; 3] = [QuotaKind::Text, QuotaKind::Image, QuotaKind::Video];

/// The feature flags `/server feature` offers: every one.
fn offered_features() -> impl Iterator<Item = Feature> {
    Feature::ALL.into_iter()
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
            SubCommandBuilder::new(
                "byok-required",
                "Members must bring their own key (/personal key add) to be answered",
            )
            .option(on_off("state", "On or off").required(true)),
        )
        .option(
            SubCommandBuilder::new(
                "deliberate-tools",
                "Offer tools only to a message that asks for what they do",
            )
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
        .option(super::overrides::channel_prompt_group())
        .option(super::overrides::channel_model_group())
        .option(super::overrides::list_subcommand())
        .option(tool_trigger_group())
        .option(
            SubCommandGroupBuilder::new(
                "short-term",
                "What the personas noted lately in the server's channels",
            )
            .subcommands([
                SubCommandBuilder::new("show", "Show the notes"),
                SubCommandBuilder::new("clear", "Forget every note"),
            ]),
        )
}

/// `/server tool-trigger add|remove|list`.
fn tool_trigger_group() -> SubCommandGroupBuilder {
    let family = || {
        StringBuilder::new("family", "The tools it asks for")
            .required(true)
            .choices(ToolFamily::ALL.map(|f| (f.name(), f.name())))
    };
    let kind = || {
        StringBuilder::new("kind", "phrase (* = anything, ^ = start) or regex")
            .required(true)
            .choices([("phrase", "phrase"), ("regex", "regex")])
    };
    let max = u16::try_from(MAX_REGEX_CHARS).unwrap_or(u16::MAX);
    let text =
        || StringBuilder::new("text", "The phrase or expression").required(true).max_length(max);
    SubCommandGroupBuilder::new(
        "tool-trigger",
        "Your own phrases that ask for tools (deliberate tool mode)",
    )
    .subcommands([
        SubCommandBuilder::new("add", "Add a trigger")
            .option(family())
            .option(kind())
            .option(text()),
        SubCommandBuilder::new("remove", "Remove a trigger").option(
            IntegerBuilder::new("number", "Its number in the list").required(true).min_value(1),
        ),
        SubCommandBuilder::new("list", "List the server's own triggers"),
    ])
}

fn parse_tool_trigger(args: Args<'_>) -> Result<TriggerAction, BadInput> {
    let (verb, args) = args.nested()?;
    match verb {
        "list" => return Ok(TriggerAction::List),
        "remove" => return Ok(TriggerAction::Remove { number: args.required_integer("number")? }),
        _ => {}
    }
    let family =
        ToolFamily::parse(args.required_string("family")?).ok_or_else(BadInput::unknown)?;
    let kind = TriggerKind::parse(args.required_string("kind")?).ok_or_else(BadInput::unknown)?;
    let text = args.required_string("text")?.to_owned();
    match verb {
        "add" => Ok(TriggerAction::Add { family, kind, text }),
        _ => Err(BadInput::unknown()),
    }
}

pub(crate) fn parse(args: Args<'_>) -> Result<Action, BadInput> {
    let (sub, args) = args.nested()?;
    if let Some(action) = super::overrides::parse_server(sub, args)? {
        return Ok(Action::Overrides(action));
    }
    match sub {
        "tool-trigger" => parse_tool_trigger(args).map(Action::ToolTrigger),
        "short-term" => match args.nested()?.0 {
            "show" => Ok(Action::ShortTerm(tomori_admin::short_term::Action::Show)),
            "clear" => Ok(Action::ShortTerm(tomori_admin::short_term::Action::Clear)),
            _ => Err(BadInput::unknown()),
        },
        "feature" => {
            let name = args.required_string("flag")?;
            let feature = Feature::from_name(name)
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
        "byok-required" => Ok(Action::Switch(Switch::ByokRequired(
            parse_on_off(args, "state")?
                .ok_or_else(|| BadInput("The option `state` is required.".to_owned()))?,
        ))),
        "deliberate-tools" => Ok(Action::Switch(Switch::DeliberateTools(
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
    action.need()
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    Ok(tomori_admin::server::run(ctx.store, &ctx.caller.admin(), action).await?.text)
}
