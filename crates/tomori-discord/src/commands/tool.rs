//! `/tool status|refresh|compact|prompt|estimate|ping`: what Tomori is set up with here, a fresh
//! start for the channel's history (or one that keeps a summary of it), the context a persona
//! would be given now, what it would cost, and a liveness check.
//!
//! Status shows key labels and endpoint URLs to managers only; other members see whether a
//! model is configured. The prompt snapshot needs Manage Server unless the server turned on
//! `prompt_snapshot`; it is ephemeral (the newest part as text, the whole context as
//! `context.md`, or as `context.json` with the model, sampler and tools) and passes through
//! `tomori_admin::diagnostics::redact_secrets` first. The estimate shows sizes and a price only,
//! none of the context, so any member may ask.

use tomori_admin::diagnostics::{self, redact_secrets};
use tomori_chat::engine::{CompactError, Snapshot};
use tomori_chat::surface::SurfaceError;
use tomori_core::pricing::{PriceSource, PriceTable};
use tomori_core::settings::Feature;
use twilight_model::application::command::CommandType;
use twilight_util::builder::command::{CommandBuilder, StringBuilder, SubCommandBuilder};

use super::{Args, BadInput, Ctx, Failure, Need};

/// A `/tool` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Status,
    Refresh,
    Compact,
    Prompt { json: bool },
    Estimate,
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
        .option(
            SubCommandBuilder::new("prompt", "Show the context a persona would be given now")
                .option(
                    StringBuilder::new("format", "As text (default) or as JSON")
                        .choices([("text", "text"), ("json", "json")]),
                ),
        )
        .option(SubCommandBuilder::new(
            "estimate",
            "How many tokens the next answer here would take, and about what it costs",
        ))
        .option(SubCommandBuilder::new("ping", "Check that Tomori and its database respond"))
}

pub(crate) fn parse(args: Args<'_>) -> Result<Action, BadInput> {
    match args.nested()?.0 {
        "status" => Ok(Action::Status),
        "refresh" => Ok(Action::Refresh),
        "compact" => Ok(Action::Compact),
        "prompt" => match args.nested()?.1.string("format")? {
            None | Some("text") => Ok(Action::Prompt { json: false }),
            Some("json") => Ok(Action::Prompt { json: true }),
            Some(other) => Err(BadInput(format!("Say text or json, not `{other}`."))),
        },
        "estimate" => Ok(Action::Estimate),
        "ping" => Ok(Action::Ping),
        _ => Err(BadInput::unknown()),
    }
}

pub(crate) fn need(action: &Action) -> Need {
    match action {
        Action::Status | Action::Ping | Action::Estimate => Need::Member,
        Action::Refresh | Action::Compact => Need::Moderator,
        Action::Prompt { .. } => Need::ManagerOrFeature(Feature::PromptSnapshot),
    }
}

/// Masks what looks like a secret in every string of `value`.
fn redact_strings(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text) => *text = redact_secrets(text),
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_strings),
        serde_json::Value::Object(map) => map.values_mut().for_each(redact_strings),
        _ => {}
    }
}

fn no_persona() -> Failure {
    Failure::BadInput(
        "There is no persona to build a context for yet; create one with /persona create."
            .to_owned(),
    )
}

/// `/tool estimate`'s answer: the context's tokens, the answer's cap, and what both would cost
/// at the first model's price when one is known.
fn estimate(snapshot: &Snapshot, prices: &PriceTable) -> String {
    let (input, output) = (snapshot.input_tokens, snapshot.output_tokens);
    let Some(model) = &snapshot.model else {
        return format!(
            "The context here is about {input} tokens, but no model is set up to answer it \
             (/config setup)."
        );
    };
    let sizes = format!(
        "The next answer here goes to `{}`: about {input} tokens of context (tools included), \
         and at most {output} tokens of answer.",
        model.label
    );
    match prices.lookup(&model.provider, &model.model) {
        Some((key, price, source)) => {
            let whose = match source {
                PriceSource::BuiltIn => "built-in list price",
                PriceSource::Operator => "the operator's price",
            };
            format!(
                "{sizes} That is about ${:.4} for the context and up to ${:.4} with a full \
                 answer, at ${} / ${} per million tokens in / out (`{key}`, {whose}).",
                price.cost(input, 0),
                price.cost(input, output),
                price.input_per_mtok,
                price.output_per_mtok,
            )
        }
        None => format!(
            "{sizes} No price is known for this model; the operator can add one under \
             [prices] in the config file."
        ),
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
        Action::Prompt { json } => {
            let Some(snapshot) = ctx.control.prompt_snapshot(ctx.caller.as_request()).await else {
                return Err(no_persona());
            };
            // Security: prompt snapshot discloses secrets. The context holds no keys by
            // construction; anything a user pasted that looks like one is masked as well.
            let (name, whole) = if *json {
                // Each string is masked on its own, so the file stays JSON.
                let mut value = snapshot.json;
                redact_strings(&mut value);
                ("context.json", serde_json::to_string_pretty(&value).unwrap_or_default())
            } else {
                ("context.md", redact_secrets(&snapshot.text))
            };
            // The whole context as a file beside the answer (ephemeral, like the answer).
            ctx.files.attach(name.to_owned(), whole.as_bytes().to_vec());
            // The newest part matters most: the answer keeps the end of a long context.
            let budget = 1_700;
            let chars = whole.chars().count();
            let shown: String = whole.chars().skip(chars.saturating_sub(budget)).collect();
            let cut = if chars > budget { "…(earlier context cut)…\n" } else { "" };
            let fence = if *json { "json" } else { "md" };
            Ok(format!("{cut}```{fence}\n{}\n```", shown.replace("```", "'''")))
        }
        Action::Estimate => {
            let Some(snapshot) = ctx.control.prompt_snapshot(ctx.caller.as_request()).await else {
                return Err(no_persona());
            };
            Ok(estimate(&snapshot, ctx.prices))
        }
        Action::Status => Ok(diagnostics::status(ctx.store, &ctx.caller.admin()).await?.text),
    }
}
