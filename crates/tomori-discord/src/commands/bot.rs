//! `/bot kill` (stop the channel's turn and clear its queue; Manage Server or Manage Messages),
//! `/bot respond [persona]` (answer now as a persona; any member, subject to the engine's
//! privacy, cooldown and quota checks) and `/bot generate image [persona] [size]` (a scene from
//! the recent conversation, drawn in the persona's style; see `generate`).

use tomori_admin::bot::Respond;
use twilight_model::application::command::CommandType;
use twilight_util::builder::command::{
    CommandBuilder, StringBuilder, SubCommandBuilder, SubCommandGroupBuilder,
};

use super::generate::{self, Image};
use super::{Args, BadInput, Ctx, Failure, Need};

/// A `/bot` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Kill,
    Respond { persona: Option<String> },
    Generate(Image),
}

pub(crate) fn definition() -> CommandBuilder {
    CommandBuilder::new("bot", "Control the conversation in this channel", CommandType::ChatInput)
        .option(SubCommandBuilder::new(
            "kill",
            "Stop the answer being written here and clear the queue",
        ))
        .option(
            SubCommandBuilder::new("respond", "Have a persona answer now").option(
                StringBuilder::new(
                    "persona",
                    "Who answers (if empty: the channel's persona, else the main one)",
                )
                .max_length(80),
            ),
        )
        .option(
            SubCommandGroupBuilder::new("generate", "Have a persona make something").subcommands([
                generate::image_subcommand(
                    "A scene from the recent conversation, in the persona's style",
                    false,
                ),
            ]),
        )
}

pub(crate) fn parse(args: Args<'_>) -> Result<Action, BadInput> {
    let (sub, args) = args.nested()?;
    match sub {
        "kill" => Ok(Action::Kill),
        "respond" => Ok(Action::Respond { persona: args.string("persona")?.map(str::to_owned) }),
        "generate" => match args.nested()? {
            ("image", args) => generate::parse_image(args, false).map(Action::Generate),
            _ => Err(BadInput::unknown()),
        },
        _ => Err(BadInput::unknown()),
    }
}

pub(crate) fn need(action: &Action) -> Need {
    match action {
        Action::Kill => Need::Moderator,
        Action::Respond { .. } | Action::Generate(_) => Need::Member,
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    let caller = ctx.caller;
    match action {
        Action::Kill => Ok(if ctx.control.kill(caller.channel) {
            "Stopped. The queue in this channel is cleared.".to_owned()
        } else {
            "Nothing was running in this channel.".to_owned()
        }),
        Action::Respond { persona } => {
            match tomori_admin::bot::respond(ctx.store, &caller.admin(), persona.as_deref()).await?
            {
                Respond::Engine { persona, answer } => {
                    ctx.control.respond(caller.as_request(), persona).await;
                    Ok(answer.text)
                }
                Respond::Declined(answer) => Ok(answer.text),
            }
        }
        Action::Generate(image) => generate::run(ctx, image).await,
    }
}
