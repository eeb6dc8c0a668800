//! `/tool status|refresh|compact|prompt|ping`: what Tomori is set up with here, a fresh start
//! for the channel's history (or one that keeps a summary of it), the context a persona would be
//! given now, and a liveness check.
//!
//! Status shows key labels and endpoint URLs to managers only; other members see whether a
//! model is configured. The prompt snapshot needs Manage Server unless the server turned on
//! `prompt_snapshot`; it is ephemeral (the newest part as text, the whole context as `context.md`)
//! and passes through `tomori_admin::diagnostics::redact_secrets` first.

use tomori_admin::diagnostics::{self, redact_secrets};
use tomori_chat::engine::CompactError;
use tomori_chat::surface::SurfaceError;
use tomori_core::settings::Feature;
use twilight_model::application::command::CommandType;
use twilight_util::builder::command::{CommandBuilder, SubCommandBuilder};

use super::{Args, BadInput, Ctx, Failure, Need};

/// A `/tool` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Status,
    Refresh,
    Compact,
    Prompt,
    Ping,
}

pub(crate) fn definition() -> CommandBuilder {
    CommandBuilder::new("tool", "Inspect and reset Tomori in this channel", CommandType::ChatInput)
        .option(SubCommandBuilder::new("status", "The model, keys and features in use here"))
        .option(SubCommandBuilder::new(
            "refresh",
            "Start the conversation afresh: earlier messages are no longer shown to the model",
        ))
        .option(SubCommandBuilder::new(
            "compact",
            "Summarise the conversation so far; later messages see the summary instead",
        ))
        .option(SubCommandBuilder::new("prompt", "Show the context a persona would be given now"))
        .option(SubCommandBuilder::new("ping", "Check that Tomori and its database respond"))
}

pub(crate) fn parse(args: Args<'_>) -> Result<Action, BadInput> {
    match args.nested()?.0 {
        "status" => Ok(Action::Status),
        "refresh" => Ok(Action::Refresh),
        "compact" => Ok(Action::Compact),
        "prompt" => Ok(Action::Prompt),
        "ping" => Ok(Action::Ping),
        _ => Err(BadInput::unknown()),
    }
}

pub(crate) fn need(action: &Action) -> Need {
    match action {
        Action::Status | Action::Ping => Need::Member,
        Action::Refresh | Action::Compact => Need::Moderator,
        Action::Prompt => Need::ManagerOrFeature(Feature::PromptSnapshot),
    }
}

/// Why a history marker could not be posted, for the member who asked.
fn marker_refused(err: &SurfaceError) -> String {
    match err {
        SurfaceError::Forbidden(permission) => format!(
            "Nothing was changed: I need the {permission} permission in this channel to post the \
             marker that history starts at."
        ),
        _ => "Nothing was changed: Discord did not take the marker message; try again in a \
              moment."
            .to_owned(),
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    match action {
        Action::Ping => Ok(diagnostics::ping(ctx.store, &ctx.caller.admin()).await?.text),
        Action::Refresh => match ctx.control.refresh(ctx.caller.channel).await {
            Ok(()) => {
                Ok("Fresh start: personas no longer see the messages before this point.".to_owned())
            }
            Err(err) => Err(Failure::BadInput(marker_refused(&err))),
        },
        Action::Compact => match ctx.control.compact(ctx.caller.as_request()).await {
            Ok(summed) => Ok(format!(
                "Summarised {summed} messages; personas now see the summary instead of them."
            )),
            Err(CompactError::Surface(err)) => Err(Failure::BadInput(marker_refused(&err))),
            Err(CompactError::Store(err)) => Err(err.into()),
            Err(err) => Err(Failure::BadInput(format!("Nothing was changed: {err}."))),
        },
        Action::Prompt => {
            let Some(prompt) = ctx.control.prompt_snapshot(ctx.caller.as_request()).await else {
                return Err(Failure::BadInput(
                    "There is no persona to build a context for yet; create one with /persona \
                     create."
                        .to_owned(),
                ));
            };
            // Security: prompt snapshot discloses secrets. The context holds no keys by
            // construction; anything a user pasted that looks like one is masked as well.
            let prompt = redact_secrets(&prompt);
            // The whole context as a file beside the answer (ephemeral, like the answer).
            ctx.files.attach("context.md".to_owned(), prompt.as_bytes().to_vec());
            // The newest part matters most: the answer keeps the end of a long context.
            let budget = 1_700;
            let chars = prompt.chars().count();
            let shown: String = prompt.chars().skip(chars.saturating_sub(budget)).collect();
            let cut = if chars > budget { "…(earlier context cut)…\n" } else { "" };
            Ok(format!("{cut}```md\n{}\n```", shown.replace("```", "'''")))
        }
        Action::Status => Ok(diagnostics::status(ctx.store, &ctx.caller.admin()).await?.text),
    }
}
