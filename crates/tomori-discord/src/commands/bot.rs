//! `/bot kill` (stop the channel's turn and clear its queue; Manage Server or Manage Messages)
//! and `/bot respond [persona]` (answer now as a persona; any member, subject to the engine's
//! privacy, cooldown and quota checks).

use tomori_core::privacy::PrivacyLevel;
use tomori_store::users;
use twilight_model::application::command::CommandType;
use twilight_util::builder::command::{CommandBuilder, StringBuilder, SubCommandBuilder};

use super::persona::named;
use super::{Args, BadInput, Ctx, Failure, Need};

/// A `/bot` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Kill,
    Respond { persona: Option<String> },
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
}

pub(crate) fn parse(args: Args<'_>) -> Result<Action, BadInput> {
    let (sub, args) = args.nested()?;
    match sub {
        "kill" => Ok(Action::Kill),
        "respond" => Ok(Action::Respond { persona: args.string("persona")?.map(str::to_owned) }),
        _ => Err(BadInput::unknown()),
    }
}

pub(crate) fn need(action: &Action) -> Need {
    match action {
        Action::Kill => Need::Moderator,
        Action::Respond { .. } => Need::Member,
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
            let scope = ctx.server().await?;
            // A name must be one of the server's personas; without one the engine chooses as
            // for a message: the channel's persona, else the main persona (the built-in one on a
            // server that has none yet).
            let persona = match persona {
                Some(name) => Some(named(ctx, scope, name).await?.nickname),
                None => None,
            };
            let me = users::get(ctx.store, ctx.me().await?).await?;
            if me.privacy == PrivacyLevel::Full {
                return Ok(
                    "Your privacy level is 2, so I don't answer you; /personal privacy changes it."
                        .to_owned(),
                );
            }
            let message = caller.as_request();
            let answer = match &persona {
                Some(name) => format!("**{name}** is answering."),
                None => "Answering now.".to_owned(),
            };
            ctx.control.respond(message, persona).await;
            Ok(answer)
        }
    }
}
