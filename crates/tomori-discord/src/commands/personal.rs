//! `/personal privacy <0|1|2>`: what Tomori may do with the caller's own data. Anyone may set
//! their own level, in a server or a direct message.

use tomori_core::privacy::PrivacyLevel;
use tomori_store::users;
use twilight_model::application::command::CommandType;
use twilight_util::builder::command::{CommandBuilder, IntegerBuilder, SubCommandBuilder};

use super::{Args, BadInput, Ctx, Failure, Need};

/// A `/personal` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Privacy { level: PrivacyLevel },
}

pub(crate) fn definition() -> CommandBuilder {
    CommandBuilder::new("personal", "Your own settings", CommandType::ChatInput).option(
        SubCommandBuilder::new("privacy", "What Tomori may do with your data").option(
            IntegerBuilder::new("level", "Your privacy level").required(true).choices([
                ("0: full personalisation", 0),
                ("1: no personal memories, roles or status", 1),
                ("2: never answer me or use my messages", 2),
            ]),
        ),
    )
}

pub(crate) fn parse(args: Args<'_>) -> Result<Action, BadInput> {
    let (sub, args) = args.nested()?;
    match sub {
        "privacy" => {
            let level = PrivacyLevel::from_number(args.required_integer("level")?)
                .map_err(|e| BadInput(format!("The {e}.")))?;
            Ok(Action::Privacy { level })
        }
        _ => Err(BadInput::unknown()),
    }
}

pub(crate) fn need(action: &Action) -> Need {
    match action {
        Action::Privacy { .. } => Need::Anyone,
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    match action {
        Action::Privacy { level } => {
            users::set_privacy(ctx.store, ctx.me().await?, ctx.actor(), *level).await?;
            let meaning = match level {
                PrivacyLevel::Minimal => "personas may use everything you share with them",
                PrivacyLevel::Partial => {
                    "personas no longer use your personal memories, roles or status"
                }
                PrivacyLevel::Full => "I will not answer you or use your messages",
            };
            Ok(format!("Your privacy level is now {level}: {meaning}."))
        }
    }
}
