//! `/server feature <flag> <on|off>` and `/server channel add|remove <set> [channel]`: feature
//! flags and channel sets. Everything here changes the server and needs Manage Server.

use tomori_core::id::Snowflake;
use tomori_core::settings::{ChannelSet, Feature};
use tomori_store::settings;
use twilight_model::application::command::CommandType;
use twilight_model::application::interaction::InteractionContextType;
use twilight_model::channel::ChannelType;
use twilight_model::guild::Permissions;
use twilight_util::builder::command::{
    ChannelBuilder, CommandBuilder, StringBuilder, SubCommandBuilder, SubCommandGroupBuilder,
};

use super::{Args, BadInput, Ctx, Failure, Need};

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
    Feature { feature: Feature, on: bool },
    Channel { set: ChannelSet, add: bool, channel: Option<Snowflake> },
}

fn channel_subcommand(name: &'static str, description: &'static str) -> SubCommandBuilder {
    SubCommandBuilder::new(name, description)
        .option(
            StringBuilder::new("set", "Which channel set")
                .required(true)
                .choices(SETS.iter().map(|(set, _)| (set.name(), set.name()))),
        )
        .option(ChannelBuilder::new("channel", "The channel (this one if empty)").channel_types([
            ChannelType::GuildText,
            ChannelType::GuildAnnouncement,
            ChannelType::GuildForum,
            ChannelType::GuildVoice,
            ChannelType::PublicThread,
            ChannelType::PrivateThread,
        ]))
}

pub(crate) fn definition() -> CommandBuilder {
    CommandBuilder::new("server", "Configure Tomori in this server", CommandType::ChatInput)
        .default_member_permissions(Permissions::MANAGE_GUILD)
        .contexts([InteractionContextType::Guild])
        .option(
            SubCommandBuilder::new("feature", "Turn a feature on or off")
                .option(
                    StringBuilder::new("flag", "The feature")
                        .required(true)
                        .choices(Feature::ALL.iter().map(|f| (f.name(), f.name()))),
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
}

pub(crate) fn parse(args: Args<'_>) -> Result<Action, BadInput> {
    let (sub, args) = args.nested()?;
    match sub {
        "feature" => {
            let name = args.required_string("flag")?;
            let feature = Feature::from_name(name)
                .ok_or_else(|| BadInput(format!("There is no feature called `{name}`.")))?;
            let on = match args.required_string("state")? {
                "on" => true,
                "off" => false,
                other => return Err(BadInput(format!("Say on or off, not `{other}`."))),
            };
            Ok(Action::Feature { feature, on })
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
        _ => Err(BadInput::unknown()),
    }
}

pub(crate) fn need(action: &Action) -> Need {
    match action {
        Action::Feature { .. } | Action::Channel { .. } => Need::Manager,
    }
}

fn set_label(set: ChannelSet) -> &'static str {
    SETS.iter().find(|(s, _)| *s == set).map_or("channel set", |(_, label)| label)
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    let scope = ctx.server().await?;
    match action {
        Action::Feature { feature, on } => {
            settings::set_feature(ctx.store, scope, ctx.actor(), *feature, *on).await?;
            let state = if *on { "on" } else { "off" };
            Ok(format!("`{}` is now {state}.", feature.name()))
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
    }
}
