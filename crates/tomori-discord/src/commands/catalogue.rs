//! The command catalogue (`docs/commands.md`), generated from the definitions that are
//! registered with Discord and from the permission each action checks in code, so the page
//! cannot drift from the bot: a test fails (and rewrites the page) when it is stale.
//!
//! The "checked in code" column is found by parsing a sample invocation of each subcommand (its
//! required options filled with placeholder values) and asking the parsed action what it
//! [`Need`]s: the same path a real interaction takes.

use std::fmt::Write as _;

use serde_json::{Value, json};
use tomori_core::shared_memory::SharedMemoryChange;
use twilight_model::application::command::{
    Command, CommandOption, CommandOptionChoiceValue, CommandOptionType, CommandOptionValue,
};
use twilight_model::application::interaction::application_command::CommandData;

use super::{Invocation, Need, definitions, parse};

/// The Markdown page.
pub fn render() -> String {
    let mut page = String::from(
        "# Slash commands\n\n\
         Generated from the command definitions by `cargo test -p tomori-discord` \
         (`commands::catalogue`); do not edit by hand.\n\n\
         *Who may run it* is checked by the bot when the command runs, from the permissions \
         Discord computed for the member in that channel. Discord's own per-command permission \
         settings only hide commands in the menu; they never grant anything.\n\n\
         | Who | Meaning |\n|---|---|\n\
         | anyone | anyone, in a server or a direct message (your own data) |\n\
         | member | any member of the server |\n\
         | manager | Manage Server or Administrator |\n\
         | moderator | Manage Server, Administrator or Manage Messages |\n\
         | teacher | managers, or any member when the server lets members teach memories |\n\n\
         *In a DM* says whether it also works in a direct message with the bot. There it acts on \
         your own DM tenant (the pseudo-server that holds your conversations with Tomori), which \
         you manage: set up its persona, model and keys there as an admin does in a server.\n",
    );
    for command in definitions() {
        let _ = write!(page, "\n## /{}\n\n{}\n\n", command.name, command.description);
        page.push_str("| Subcommand | Who may run it | In a DM | Options |\n|---|---|---|---|\n");
        for (path, options) in leaves(&command) {
            let sampled = sample(&command.name, &path, &options);
            let who =
                sampled.as_ref().map_or_else(|| "see the command".to_owned(), |i| who(i.need()));
            let dm = match &sampled {
                Some(invocation) if invocation.need() == Need::Anyone || invocation.in_dm() => {
                    "yes"
                }
                Some(_) => "no",
                None => "see the command",
            };
            let _ = writeln!(
                page,
                "| `/{} {}` | {} | {} | {} |",
                command.name,
                path.join(" "),
                who,
                dm,
                describe(&options)
            );
        }
    }
    page
}

/// Each subcommand's path (`["server", "add"]`) and options.
fn leaves(command: &Command) -> Vec<(Vec<String>, Vec<CommandOption>)> {
    let mut out = Vec::new();
    let subcommands = command.options.iter().any(|o| {
        matches!(o.kind, CommandOptionType::SubCommand | CommandOptionType::SubCommandGroup)
    });
    if !subcommands {
        out.push((Vec::new(), command.options.clone()));
        return out;
    }
    for option in &command.options {
        match option.kind {
            CommandOptionType::SubCommand => {
                out.push((vec![option.name.clone()], option.options.clone().unwrap_or_default()));
            }
            CommandOptionType::SubCommandGroup => {
                for sub in option.options.iter().flatten() {
                    out.push((
                        vec![option.name.clone(), sub.name.clone()],
                        sub.options.clone().unwrap_or_default(),
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

fn who(need: Need) -> String {
    match need {
        Need::Anyone => "anyone".to_owned(),
        Need::Member => "member".to_owned(),
        Need::Manager => "manager".to_owned(),
        Need::Moderator => "moderator".to_owned(),
        Need::SharedMemory(SharedMemoryChange::Teach) => "teacher".to_owned(),
        Need::SharedMemory(SharedMemoryChange::Revise) => "manager".to_owned(),
        Need::ManagerOrFeature(feature) => {
            format!("manager, or member while `{}` is on", feature.name())
        }
    }
}

fn kind_name(kind: CommandOptionType) -> &'static str {
    match kind {
        CommandOptionType::String => "text",
        CommandOptionType::Integer => "integer",
        CommandOptionType::Boolean => "true/false",
        CommandOptionType::User => "user",
        CommandOptionType::Channel => "channel",
        CommandOptionType::Role => "role",
        CommandOptionType::Mentionable => "user or role",
        CommandOptionType::Number => "number",
        CommandOptionType::Attachment => "file",
        _ => "value",
    }
}

fn choice_text(value: &CommandOptionChoiceValue) -> String {
    match value {
        CommandOptionChoiceValue::String(text) => text.clone(),
        CommandOptionChoiceValue::Integer(n) => n.to_string(),
        CommandOptionChoiceValue::Number(n) => n.to_string(),
    }
}

fn describe(options: &[CommandOption]) -> String {
    if options.is_empty() {
        return "none".to_owned();
    }
    options
        .iter()
        .map(|o| {
            let mut text = format!("`{}` ({}", o.name, kind_name(o.kind));
            if o.required != Some(true) {
                text.push_str(", optional");
            }
            if let Some(choices) = o.choices.as_ref().filter(|c| !c.is_empty()) {
                let names: Vec<String> = choices.iter().map(|c| choice_text(&c.value)).collect();
                let _ = write!(text, ": {}", names.join(", "));
            }
            text.push_str(&format!("): {}", o.description.replace('|', "\\|")));
            text
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

/// A placeholder value for a required option, shaped as Discord sends it.
fn placeholder(option: &CommandOption) -> Option<Value> {
    let value = match option.kind {
        CommandOptionType::String | CommandOptionType::Integer
            if option.choices.as_ref().is_some_and(|c| !c.is_empty()) =>
        {
            match option.choices.as_ref().and_then(|c| c.first()).map(|c| &c.value) {
                Some(CommandOptionChoiceValue::String(text)) => json!(text),
                Some(CommandOptionChoiceValue::Integer(n)) => json!(n),
                _ => return None,
            }
        }
        CommandOptionType::String => json!("x"),
        CommandOptionType::Integer => {
            let min = match option.min_value {
                Some(CommandOptionValue::Integer(n)) => n,
                _ => 1,
            };
            json!(min)
        }
        CommandOptionType::Boolean => json!(true),
        CommandOptionType::Number => json!(1.0),
        CommandOptionType::User
        | CommandOptionType::Channel
        | CommandOptionType::Role
        | CommandOptionType::Mentionable
        | CommandOptionType::Attachment => json!("1"),
        _ => return None,
    };
    let kind = serde_json::to_value(option.kind).ok()?;
    Some(json!({ "name": option.name, "type": kind, "value": value }))
}

/// A sample invocation of `/name path…`, when it parses.
fn sample(name: &str, path: &[String], options: &[CommandOption]) -> Option<Invocation> {
    let filled: Vec<Value> = options
        .iter()
        .filter(|o| o.required == Some(true))
        .map(placeholder)
        .collect::<Option<_>>()?;
    let mut tree = Value::Array(filled);
    for (depth, segment) in path.iter().enumerate().rev() {
        let kind = if depth + 1 == path.len() { 1 } else { 2 };
        tree = json!([{ "name": segment, "type": kind, "options": tree }]);
    }
    let mut data = json!({ "id": "1", "name": name, "type": 1, "options": tree });
    // Discord sends an attachment option's file in the resolved data, under the option's value.
    if options.iter().any(|o| o.required == Some(true) && o.kind == CommandOptionType::Attachment) {
        let file = json!({ "id": "1", "filename": "x", "size": 1, "url": "https://x/", "proxy_url": "https://x/" });
        data["resolved"] = json!({ "attachments": { "1": file } });
    }
    let data: CommandData = serde_json::from_value(data).ok()?;
    parse(&data).ok()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_catalogue_page_is_fresh() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/commands.md");
        let expected = render();
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        if actual != expected {
            std::fs::write(&path, &expected).expect("rewrite docs/commands.md");
            panic!("docs/commands.md was stale and has been rewritten; review and commit it");
        }
    }

    #[test]
    fn discord_shows_a_command_in_dms_exactly_when_some_of_it_works_there() {
        use twilight_model::application::interaction::InteractionContextType;
        for command in definitions() {
            let works = leaves(&command).iter().any(|(path, options)| {
                sample(&command.name, path, options)
                    .is_some_and(|i| i.need() == Need::Anyone || i.in_dm())
            });
            let shown = command
                .contexts
                .as_ref()
                .is_some_and(|c| c.contains(&InteractionContextType::BotDm));
            assert_eq!(shown, works, "/{}", command.name);
        }
    }

    #[test]
    fn every_subcommand_has_a_checked_permission() {
        for command in definitions() {
            for (path, options) in leaves(&command) {
                assert!(
                    sample(&command.name, &path, &options).is_some(),
                    "/{} {} does not parse from its own definition",
                    command.name,
                    path.join(" ")
                );
            }
        }
    }
}
