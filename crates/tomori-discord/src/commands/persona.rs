//! `/persona create|list|rename|remove`: the server's personas. Listing is for every member;
//! the rest changes the server and needs Manage Server.

use tomori_core::persona::MAX_NICKNAME_CHARS;
use tomori_store::Scope;
use tomori_store::personas::{self, NewPersona, Persona};
use twilight_model::application::command::CommandType;
use twilight_model::application::interaction::InteractionContextType;
use twilight_model::guild::Permissions;
use twilight_util::builder::command::{CommandBuilder, StringBuilder, SubCommandBuilder};

use super::{Args, BadInput, Ctx, Failure, Need, non_empty};

/// Discord's longest string option.
const MAX_PROMPT_OPTION: u16 = 6_000;

/// A `/persona` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Create { name: String, prompt: Option<String> },
    List,
    Rename { name: String, new_name: String },
    Remove { name: String },
}

fn nickname_option(name: &'static str, description: &'static str) -> StringBuilder {
    let max = u16::try_from(MAX_NICKNAME_CHARS).unwrap_or(u16::MAX);
    StringBuilder::new(name, description).required(true).max_length(max)
}

pub(crate) fn definition() -> CommandBuilder {
    CommandBuilder::new(
        "persona",
        "Create and manage the server's personas",
        CommandType::ChatInput,
    )
    .default_member_permissions(Permissions::MANAGE_GUILD)
    .contexts([InteractionContextType::Guild])
    .option(
        SubCommandBuilder::new(
            "create",
            "Create a persona (the server's first becomes its main persona)",
        )
        .option(nickname_option("name", "Its display name"))
        .option(
            StringBuilder::new("prompt", "Its personality prompt").max_length(MAX_PROMPT_OPTION),
        ),
    )
    .option(SubCommandBuilder::new("list", "List the server's personas"))
    .option(
        SubCommandBuilder::new("rename", "Rename a persona; its memories stay")
            .option(nickname_option("name", "The persona's current name"))
            .option(nickname_option("new_name", "Its new name")),
    )
    .option(
        SubCommandBuilder::new("remove", "Remove an alter (not the main persona)")
            .option(nickname_option("name", "The persona to remove")),
    )
}

pub(crate) fn parse(args: Args<'_>) -> Result<Action, BadInput> {
    let (sub, args) = args.nested()?;
    Ok(match sub {
        "create" => Action::Create {
            name: args.required_string("name")?.to_owned(),
            prompt: args.string("prompt")?.map(str::to_owned),
        },
        "list" => Action::List,
        "rename" => Action::Rename {
            name: args.required_string("name")?.to_owned(),
            new_name: args.required_string("new_name")?.to_owned(),
        },
        "remove" => Action::Remove { name: args.required_string("name")?.to_owned() },
        _ => return Err(BadInput::unknown()),
    })
}

pub(crate) fn need(action: &Action) -> Need {
    match action {
        Action::List => Need::Member,
        Action::Create { .. } | Action::Rename { .. } | Action::Remove { .. } => Need::Manager,
    }
}

/// The persona with this name in the caller's server.
pub(crate) async fn named(ctx: &Ctx<'_>, scope: Scope, name: &str) -> Result<Persona, Failure> {
    personas::find(ctx.store, scope, non_empty(name, "persona name")?)
        .await?
        .ok_or_else(|| Failure::BadInput(format!("This server has no persona named {name}.")))
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    let scope = ctx.server().await?;
    match action {
        Action::Create { name, prompt } => {
            let new = NewPersona {
                nickname: name.clone(),
                prompt: prompt.clone().unwrap_or_default(),
                ..NewPersona::default()
            };
            let persona = personas::create(ctx.store, scope, ctx.actor(), new).await?;
            let role = if persona.is_main { "the main persona" } else { "an alter" };
            Ok(format!("Created **{}** as {role}.", persona.nickname))
        }
        Action::List => {
            let all = personas::list(ctx.store, scope).await?;
            if all.is_empty() {
                return Ok(
                    "This server has no persona yet; create one with /persona create.".to_owned()
                );
            }
            let lines: Vec<String> = all
                .iter()
                .map(|p| {
                    let role = if p.is_main { " (main)" } else { "" };
                    format!("- **{}**{role}", p.nickname)
                })
                .collect();
            Ok(lines.join("\n"))
        }
        Action::Rename { name, new_name } => {
            let persona = named(ctx, scope, name).await?;
            let renamed =
                personas::rename(ctx.store, scope, ctx.actor(), persona.id, new_name).await?;
            Ok(format!("Renamed **{}** to **{}**.", persona.nickname, renamed.nickname))
        }
        Action::Remove { name } => {
            let persona = named(ctx, scope, name).await?;
            personas::remove(ctx.store, scope, ctx.actor(), persona.id).await?;
            Ok(format!("Removed **{}**.", persona.nickname))
        }
    }
}
