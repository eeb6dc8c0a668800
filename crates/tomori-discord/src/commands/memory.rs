//! `/memory server add|edit|list|remove` and `/memory personal add|edit|list|remove`.
//!
//! Server memories belong to one persona (the main persona unless one is named). Teaching one
//! needs Manage Server unless the server lets members teach; removing one always needs it; every
//! member may list them. Personal memories are the caller's own, in their user scope, whatever
//! server they were added from; without a persona they apply to every persona.

use tomori_core::id::LineageId;
use tomori_store::memories::{self, Memory};
use tomori_store::{Scope, memory_edits, personas};
use twilight_model::application::command::CommandType;
use twilight_util::builder::command::{
    CommandBuilder, IntegerBuilder, StringBuilder, SubCommandBuilder, SubCommandGroupBuilder,
};

use super::persona::named;
use super::{Args, BadInput, Ctx, Failure, Need};

/// Discord's longest string option; the store's own limit applies too.
const MAX_MEMORY_OPTION: u16 = 6_000;

/// Whose memories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Server,
    Personal,
}

/// A `/memory` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Add { kind: Kind, content: String, persona: Option<String> },
    List { kind: Kind, persona: Option<String> },
    Remove { kind: Kind, id: i64 },
    Edit { kind: Kind, id: i64, content: String },
}

fn group(name: &'static str, description: &'static str, whose: &str) -> SubCommandGroupBuilder {
    let persona = |required| {
        StringBuilder::new("persona", format!("The persona they belong to ({whose})"))
            .required(required)
            .max_length(80)
    };
    SubCommandGroupBuilder::new(name, description).subcommands([
        SubCommandBuilder::new("add", "Remember something")
            .option(
                StringBuilder::new("content", "What to remember")
                    .required(true)
                    .max_length(MAX_MEMORY_OPTION),
            )
            .option(persona(false)),
        SubCommandBuilder::new("edit", "Rewrite a memory by its id (from list)")
            .option(IntegerBuilder::new("id", "The memory's id").required(true).min_value(1))
            .option(
                StringBuilder::new("content", "What it should say now")
                    .required(true)
                    .max_length(MAX_MEMORY_OPTION),
            ),
        SubCommandBuilder::new("list", "List memories").option(persona(false)),
        SubCommandBuilder::new("remove", "Forget a memory by its id (from list)")
            .option(IntegerBuilder::new("id", "The memory's id").required(true).min_value(1)),
    ])
}

pub(crate) fn definition() -> CommandBuilder {
    CommandBuilder::new("memory", "What the personas remember", CommandType::ChatInput)
        .option(group("server", "The server's memories", "the main persona if empty"))
        .option(group("personal", "Your own memories", "every persona if empty"))
}

pub(crate) fn parse(args: Args<'_>) -> Result<Action, BadInput> {
    let (group, args) = args.nested()?;
    let kind = match group {
        "server" => Kind::Server,
        "personal" => Kind::Personal,
        _ => return Err(BadInput::unknown()),
    };
    let (sub, args) = args.nested()?;
    let persona = || args.string("persona").map(|p| p.map(str::to_owned));
    Ok(match sub {
        "add" => Action::Add {
            kind,
            content: args.required_string("content")?.to_owned(),
            persona: persona()?,
        },
        "list" => Action::List { kind, persona: persona()? },
        "remove" => Action::Remove { kind, id: args.required_integer("id")? },
        "edit" => Action::Edit {
            kind,
            id: args.required_integer("id")?,
            content: args.required_string("content")?.to_owned(),
        },
        _ => return Err(BadInput::unknown()),
    })
}

pub(crate) fn need(action: &Action) -> Need {
    match action {
        Action::Add { kind: Kind::Server, .. } => Need::Teacher,
        Action::List { kind: Kind::Server, .. } => Need::Member,
        Action::Remove { kind: Kind::Server, .. } | Action::Edit { kind: Kind::Server, .. } => {
            Need::Manager
        }
        Action::Add { kind: Kind::Personal, .. }
        | Action::List { kind: Kind::Personal, .. }
        | Action::Remove { kind: Kind::Personal, .. }
        | Action::Edit { kind: Kind::Personal, .. } => Need::Anyone,
    }
}

/// The lineage a server memory belongs to: the named persona's, or the main persona's.
async fn server_lineage(
    ctx: &Ctx<'_>,
    scope: Scope,
    persona: Option<&str>,
) -> Result<(LineageId, String), Failure> {
    let persona = match persona {
        Some(name) => named(ctx, scope, name).await?,
        None => personas::list(ctx.store, scope)
            .await?
            .into_iter()
            .find(|p| p.is_main)
            .ok_or_else(|| {
                Failure::BadInput(
                    "This server has no persona yet; create one with /persona create.".to_owned(),
                )
            })?,
    };
    Ok((persona.lineage, persona.nickname))
}

/// The lineage a personal memory belongs to: the named persona's (in this server), or every
/// persona's.
async fn personal_lineage(
    ctx: &Ctx<'_>,
    persona: Option<&str>,
) -> Result<(LineageId, String), Failure> {
    match persona {
        None => Ok((LineageId::EVERY_PERSONA, "every persona".to_owned())),
        Some(name) => {
            if ctx.caller.guild.is_none() {
                return Err(Failure::BadInput(
                    "Name a persona only in a server; here, leave it empty to cover every persona."
                        .to_owned(),
                ));
            }
            let persona = named(ctx, ctx.server().await?, name).await?;
            Ok((persona.lineage, format!("**{}**", persona.nickname)))
        }
    }
}

fn listing(memories: &[Memory], whose: &str) -> String {
    if memories.is_empty() {
        return format!("No memories for {whose} yet.");
    }
    let mut lines = vec![format!("Memories for {whose}:")];
    lines.extend(memories.iter().map(|m| format!("`[id:{}]` {}", m.id, m.content)));
    lines.join("\n")
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    match action {
        Action::Add { kind: Kind::Server, content, persona } => {
            let scope = ctx.server().await?;
            let (lineage, name) = server_lineage(ctx, scope, persona.as_deref()).await?;
            let teacher = Some(ctx.caller.user);
            let memory =
                memories::add_server(ctx.store, scope, ctx.actor(), lineage, teacher, content)
                    .await?;
            Ok(format!("**{name}** will remember that (`[id:{}]`).", memory.id))
        }
        Action::List { kind: Kind::Server, persona } => {
            let scope = ctx.server().await?;
            let (lineage, name) = server_lineage(ctx, scope, persona.as_deref()).await?;
            let all = memories::list_server(ctx.store, scope, lineage).await?;
            Ok(listing(&all, &format!("**{name}**")))
        }
        Action::Remove { kind: Kind::Server, id } => {
            let scope = ctx.server().await?;
            memories::remove_server(ctx.store, scope, ctx.actor(), *id).await?;
            Ok(format!("Forgot server memory `[id:{id}]`."))
        }
        Action::Edit { kind: Kind::Server, id, content } => {
            let scope = ctx.server().await?;
            memory_edits::update_server(ctx.store, scope, ctx.actor(), *id, content).await?;
            Ok(format!("Server memory `[id:{id}]` now says: {}", content.trim()))
        }
        Action::Edit { kind: Kind::Personal, id, content } => {
            // Security: cross-user tampering. The update runs in the caller's own user scope.
            memory_edits::update_personal(ctx.store, ctx.me().await?, ctx.actor(), *id, content)
                .await?;
            Ok(format!("Your memory `[id:{id}]` now says: {}", content.trim()))
        }
        Action::Add { kind: Kind::Personal, content, persona } => {
            let (lineage, whose) = personal_lineage(ctx, persona.as_deref()).await?;
            let me = ctx.me().await?;
            let memory =
                memories::add_personal(ctx.store, me, ctx.actor(), lineage, content).await?;
            Ok(format!(
                "Remembered for {whose} (`[id:{}]`); only you can see or change it.",
                memory.id
            ))
        }
        Action::List { kind: Kind::Personal, persona } => {
            let (lineage, whose) = personal_lineage(ctx, persona.as_deref()).await?;
            let all = memories::list_personal(ctx.store, ctx.me().await?, lineage).await?;
            Ok(listing(&all, &whose))
        }
        Action::Remove { kind: Kind::Personal, id } => {
            // Security: cross-user tampering. The delete runs in the caller's own user scope,
            // so another user's memory id finds nothing.
            memories::remove_personal(ctx.store, ctx.me().await?, ctx.actor(), *id).await?;
            Ok(format!("Forgot your memory `[id:{id}]`."))
        }
    }
}
