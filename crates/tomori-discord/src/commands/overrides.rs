//! The per-channel and per-persona options of `/server` and `/persona`: `channel-prompt
//! set|clear`, `channel-model set|clear`, `overrides` and `/persona model set|clear`, all run by
//! the admin layer's `overrides`.

use twilight_model::channel::ChannelType;
use twilight_util::builder::command::{
    BooleanBuilder, ChannelBuilder, StringBuilder, SubCommandBuilder, SubCommandGroupBuilder,
};

use tomori_admin::overrides::{Action, Choice};
use tomori_core::id::Snowflake;

use super::{Args, BadInput};

/// The places a channel override may be set on: channels, threads and categories.
const PLACES: [ChannelType; 7] = [
    ChannelType::GuildText,
    ChannelType::GuildAnnouncement,
    ChannelType::GuildForum,
    ChannelType::GuildVoice,
    ChannelType::GuildCategory,
    ChannelType::PublicThread,
    ChannelType::PrivateThread,
];

fn place() -> ChannelBuilder {
    ChannelBuilder::new("channel", "A channel, thread or category")
        .required(true)
        .channel_types(PLACES)
}

/// The model options, as `/model text` has them.
fn with_model(sub: SubCommandBuilder) -> SubCommandBuilder {
    sub.option(
        StringBuilder::new("provider", "A provider name or custom:<endpoint label>")
            .required(true)
            .max_length(71),
    )
    .option(StringBuilder::new("model", "The model id").required(true).max_length(200))
    .option(BooleanBuilder::new("vision", "It sees images (default: the endpoint's flag, or no)"))
    .option(BooleanBuilder::new("tools", "It calls tools (default yes)"))
}

/// `/server channel-prompt …`.
pub(crate) fn channel_prompt_group() -> SubCommandGroupBuilder {
    SubCommandGroupBuilder::new(
        "channel-prompt",
        "A system prompt that replaces the server's in a channel or category",
    )
    .subcommands([
        SubCommandBuilder::new("set", "Give a channel or category its own system prompt")
            .option(place())
            .option(
                StringBuilder::new("prompt", "1 to 6000 characters")
                    .required(true)
                    .max_length(6_000),
            ),
        SubCommandBuilder::new("clear", "The server's system prompt applies there again")
            .option(place()),
    ])
}

/// `/server channel-model …`.
pub(crate) fn channel_model_group() -> SubCommandGroupBuilder {
    SubCommandGroupBuilder::new(
        "channel-model",
        "A model that answers for every persona in a channel or category",
    )
    .subcommands([
        with_model(
            SubCommandBuilder::new("set", "Give a channel or category its own model")
                .option(place()),
        ),
        SubCommandBuilder::new("clear", "The server's models answer there again").option(place()),
    ])
}

/// `/server overrides`.
pub(crate) fn list_subcommand() -> SubCommandBuilder {
    SubCommandBuilder::new(
        "overrides",
        "List the channels' own prompts and models, and personas' models",
    )
}

/// `/persona model …`.
pub(crate) fn persona_model_group(persona: impl Fn() -> StringBuilder) -> SubCommandGroupBuilder {
    SubCommandGroupBuilder::new("model", "A persona's own model, where no channel has one")
        .subcommands([
            with_model(
                SubCommandBuilder::new("set", "Give a persona its own model").option(persona()),
            ),
            SubCommandBuilder::new("clear", "The persona answers through the server's model again")
                .option(persona()),
        ])
}

fn channel(args: Args<'_>) -> Result<Snowflake, BadInput> {
    args.channel("channel")?.ok_or_else(|| BadInput("The option `channel` is required.".to_owned()))
}

fn choice(args: Args<'_>) -> Result<Choice, BadInput> {
    Ok(Choice {
        provider: args.required_string("provider")?.to_owned(),
        model: args.required_string("model")?.to_owned(),
        vision: args.boolean("vision")?,
        tools: args.boolean("tools")?,
    })
}

/// The `/server` subcommand `sub` of this module, or `None` when it is another's.
pub(crate) fn parse_server(sub: &str, args: Args<'_>) -> Result<Option<Action>, BadInput> {
    Ok(Some(match sub {
        "channel-prompt" => match args.nested()? {
            ("set", args) => Action::PromptSet {
                channel: channel(args)?,
                prompt: args.required_string("prompt")?.to_owned(),
            },
            ("clear", args) => Action::PromptClear { channel: channel(args)? },
            _ => return Err(BadInput::unknown()),
        },
        "channel-model" => match args.nested()? {
            ("set", args) => Action::ModelSet { channel: channel(args)?, choice: choice(args)? },
            ("clear", args) => Action::ModelClear { channel: channel(args)? },
            _ => return Err(BadInput::unknown()),
        },
        "overrides" => Action::List,
        _ => return Ok(None),
    }))
}

/// `/persona model set|clear`.
pub(crate) fn parse_persona(args: Args<'_>) -> Result<Action, BadInput> {
    match args.nested()? {
        ("set", args) => Ok(Action::PersonaModelSet {
            persona: args.required_string("name")?.to_owned(),
            choice: choice(args)?,
        }),
        ("clear", args) => {
            Ok(Action::PersonaModelClear { persona: args.required_string("name")?.to_owned() })
        }
        _ => Err(BadInput::unknown()),
    }
}
