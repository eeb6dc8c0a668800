//! `/tool status|refresh|compact|prompt|ping`: what Tomori is set up with here, a fresh start
//! for the channel's history (or one that keeps a summary of it), the context a persona would be
//! given now, and a liveness check.
//!
//! Status shows key labels and endpoint URLs to managers only; other members see whether a
//! model is configured. The prompt snapshot needs Manage Server unless the server turned on
//! `prompt_snapshot`; it is ephemeral and passes through [`redact_secrets`] first.

use std::time::Instant;

use tomori_chat::engine::CompactError;
use tomori_chat::surface::SurfaceError;
use tomori_core::settings::Feature;
use tomori_store::credentials::{self, KeyOwner};
use tomori_store::{endpoints, models, settings};
use twilight_model::application::command::CommandType;
use twilight_util::builder::command::{CommandBuilder, SubCommandBuilder};

use super::{Args, BadInput, Ctx, Failure, Need};
use crate::permissions::is_manager;

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

/// Replaces what looks like a credential with `[redacted]`: words with a provider key prefix,
/// and long runs of letters and digits mixed (tokens, keys) that no prose contains.
pub(crate) fn redact_secrets(text: &str) -> String {
    const PREFIXES: &[&str] =
        &["sk-", "sk_", "AIza", "xai-", "gsk_", "pplx-", "ghp_", "github_pat_", "xoxb-", "xoxp-"];
    let looks_secret = |word: &str| {
        let token = word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_');
        let long_mixed = token.len() >= 32
            && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && token.bytes().any(|b| b.is_ascii_digit())
            && token.bytes().any(|b| b.is_ascii_alphabetic());
        (token.len() >= 12 && PREFIXES.iter().any(|p| token.starts_with(p))) || long_mixed
    };
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let words: Vec<String> = line
            .split(' ')
            .map(|word| if looks_secret(word) { "[redacted]".to_owned() } else { word.to_owned() })
            .collect();
        out.push_str(&words.join(" "));
    }
    out
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
    let scope = ctx.server().await?;
    match action {
        Action::Ping => {
            let started = Instant::now();
            settings::get(ctx.store, scope).await?;
            Ok(format!("Pong. The database answered in {} ms.", started.elapsed().as_millis()))
        }
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
            // The newest part matters most: the answer keeps the end of a long context.
            let budget = 1_700;
            let chars = prompt.chars().count();
            let shown: String = prompt.chars().skip(chars.saturating_sub(budget)).collect();
            let cut = if chars > budget { "…(earlier context cut)…\n" } else { "" };
            Ok(format!("{cut}```md\n{}\n```", shown.replace("```", "'''")))
        }
        Action::Status => {
            let manager = is_manager(ctx.caller.permissions);
            let settings = settings::get(ctx.store, scope).await?;
            let mut lines = Vec::new();
            match models::get(ctx.store, scope).await? {
                Some(model) if manager => lines.push(format!(
                    "Model: `{}/{}`{}",
                    model.provider,
                    model.model,
                    if model.fallback.is_empty() {
                        String::new()
                    } else {
                        format!(", then {}", model.fallback.join(", "))
                    }
                )),
                Some(_) => lines.push("Model: chosen by this server's admins".to_owned()),
                None => lines.push("Model: the instance default".to_owned()),
            }
            let keys = credentials::list(ctx.store, scope, KeyOwner::Server).await?;
            let endpoints = endpoints::list(ctx.store, scope, KeyOwner::Server).await?;
            // Security: configuration disclosure to members. Key labels and endpoint URLs are
            // for managers; members see counts.
            if manager {
                let labels: Vec<String> =
                    keys.iter().map(|k| format!("{} · {}", k.provider, k.label)).collect();
                lines.push(format!(
                    "Keys: {}",
                    if labels.is_empty() { "none".to_owned() } else { labels.join(", ") }
                ));
                for e in &endpoints {
                    lines.push(format!(
                        "Endpoint `custom:{}`: {} at <{}>",
                        e.label, e.model, e.base_url
                    ));
                }
            } else {
                lines.push(format!("Keys: {} · endpoints: {}", keys.len(), endpoints.len()));
            }
            let on: Vec<&str> =
                Feature::ALL.iter().filter(|f| settings.feature(**f)).map(|f| f.name()).collect();
            lines.push(format!("Features on: {}", on.join(", ")));
            Ok(lines.join("\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_secrets;

    #[test]
    fn credentials_are_masked_and_prose_is_not() {
        let text = "my key is sk-or-v1-0123456789abcdef, and\ntoken ghp_abcdefghijklmnop1234 ok";
        assert_eq!(redact_secrets(text), "my key is [redacted] and\ntoken [redacted] ok");
        let hex = "a3f9c2e1b7d84a6f9e0c1b2a3d4e5f60718293a4";
        assert_eq!(redact_secrets(&format!("id {hex}")), "id [redacted]");
        let prose = "Supercalifragilisticexpialidocious and sk-short are fine, as is 2026-11-24.";
        assert_eq!(redact_secrets(prose), prose);
    }
}
