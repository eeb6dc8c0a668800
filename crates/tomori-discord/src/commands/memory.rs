//! `/memory server add|edit|list|remove|export` and `/memory personal add|edit|list|remove|export`.
//! Exports are JSON files attached to the (ephemeral) answer; imports take such a file back (or
//! a plain JSON list of texts) and add all of its memories or, when any is refused, none.
//!
//! Server memories belong to one persona (the main persona unless one is named). Teaching one
//! needs Manage Server unless the server lets members teach; removing one always needs it; every
//! member may list them. Personal memories are the caller's own, in their user scope, whatever
//! server they were added from; without a persona they apply to every persona.
//!
//! `/memory document add|list|remove`: the server's documents for retrieval. A .txt, .md or .pdf
//! file (at most 4 MiB) is downloaded through the media client, read (PDFs in a confined child
//! process, through tomori-tools' `PdfExtractor`), then cut, embedded and stored by
//! `tomori_chat::documents`. Adding follows the rule for teaching server memories; removing
//! needs Manage Server; every member may list them.

use tomori_admin::memory::{self, documents};
use tomori_core::shared_memory::SharedMemoryChange::{Revise, Teach};
use twilight_model::application::command::CommandType;
use twilight_model::application::interaction::InteractionDataResolved;
use twilight_util::builder::command::{
    AttachmentBuilder, CommandBuilder, IntegerBuilder, StringBuilder, SubCommandBuilder,
    SubCommandGroupBuilder,
};

use super::upload::Upload;
use super::{Args, BadInput, Ctx, Failure, Need};

/// Discord's longest string option; the store's own limit applies too.
const MAX_MEMORY_OPTION: u16 = 6_000;

/// Whose memories (the admin layer's).
pub(crate) use tomori_admin::memory::Kind;

/// A `/memory` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Add, list, remove, edit, export (`tomori_admin::memory`).
    Admin(memory::Action),
    Import {
        kind: Kind,
        file: Upload,
        persona: Option<String>,
    },
    DocumentAdd {
        file: Upload,
        name: Option<String>,
    },
    DocumentList,
    DocumentRemove {
        name: String,
    },
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
        SubCommandBuilder::new("export", "Download memories as a JSON file").option(persona(false)),
        SubCommandBuilder::new("import", "Add the memories of a JSON file (an export)")
            .option(AttachmentBuilder::new("file", "The JSON file").required(true))
            .option(persona(false)),
        SubCommandBuilder::new("remove", "Forget a memory by its id (from list)")
            .option(IntegerBuilder::new("id", "The memory's id").required(true).min_value(1)),
    ])
}

fn document_group() -> SubCommandGroupBuilder {
    let name = |description: &str| StringBuilder::new("name", description).max_length(100);
    SubCommandGroupBuilder::new("document", "Documents the personas look things up in").subcommands(
        [
            SubCommandBuilder::new("add", "Add a .txt, .md or .pdf file (at most 4 MB)")
                .option(AttachmentBuilder::new("file", "The file").required(true))
                .option(name("Its name (the file's name if empty)")),
            SubCommandBuilder::new("list", "List the server's documents"),
            SubCommandBuilder::new("remove", "Remove a document by its name")
                .option(name("The document's name (from list)").required(true)),
        ],
    )
}

pub(crate) fn definition() -> CommandBuilder {
    CommandBuilder::new("memory", "What the personas remember", CommandType::ChatInput)
        .option(group("server", "The server's memories", "the main persona if empty"))
        .option(group("personal", "Your own memories", "every persona if empty"))
        .option(document_group())
}

pub(crate) fn parse(
    args: Args<'_>,
    resolved: Option<&InteractionDataResolved>,
) -> Result<Action, BadInput> {
    let (group, args) = args.nested()?;
    let kind = match group {
        "server" => Kind::Server,
        "personal" => Kind::Personal,
        "document" => {
            return match args.nested()? {
                ("add", a) => Ok(Action::DocumentAdd {
                    file: Upload::from_option(a, resolved, "file")?,
                    name: a.string("name")?.map(str::to_owned),
                }),
                ("list", _) => Ok(Action::DocumentList),
                ("remove", a) => {
                    Ok(Action::DocumentRemove { name: a.required_string("name")?.to_owned() })
                }
                _ => Err(BadInput::unknown()),
            };
        }
        _ => return Err(BadInput::unknown()),
    };
    let (sub, args) = args.nested()?;
    let persona = || args.string("persona").map(|p| p.map(str::to_owned));
    let action = match sub {
        "import" => {
            let file = Upload::from_option(args, resolved, "file")?;
            return Ok(Action::Import { kind, file, persona: persona()? });
        }
        "add" => memory::Action::Add {
            kind,
            content: args.required_string("content")?.to_owned(),
            persona: persona()?,
        },
        "list" => memory::Action::List { kind, persona: persona()? },
        "export" => memory::Action::Export { kind, persona: persona()? },
        "remove" => memory::Action::Remove { kind, id: args.required_integer("id")? },
        "edit" => memory::Action::Edit {
            kind,
            id: args.required_integer("id")?,
            content: args.required_string("content")?.to_owned(),
        },
        _ => return Err(BadInput::unknown()),
    };
    Ok(Action::Admin(action))
}

pub(crate) fn need(action: &Action) -> Need {
    match action {
        Action::Admin(action) => action.need(),
        Action::Import { kind: Kind::Server, .. } | Action::DocumentAdd { .. } => {
            Need::SharedMemory(Teach)
        }
        Action::Import { kind: Kind::Personal, .. } => Need::Anyone,
        Action::DocumentList => Need::Member,
        Action::DocumentRemove { .. } => Need::SharedMemory(Revise),
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    let caller = ctx.caller.admin();
    let imported;
    let action = match action {
        Action::DocumentAdd { file, name } => {
            return document_add(ctx, file, name.as_deref()).await;
        }
        Action::DocumentList => return Ok(documents::list(ctx.store, &caller).await?.text),
        Action::DocumentRemove { name } => {
            return Ok(documents::remove(ctx.store, &caller, name).await?.text);
        }
        Action::Admin(action) => action,
        Action::Import { kind, file, persona } => {
            imported = memory::Action::Import {
                kind: *kind,
                filename: file.filename.clone(),
                bytes: file.fetch(ctx, memory::MAX_IMPORT_BYTES).await?,
                persona: persona.clone(),
            };
            &imported
        }
    };
    let answer = memory::run(ctx.store, &caller, action).await?;
    for file in answer.files {
        ctx.files.attach(file.name, file.bytes);
    }
    Ok(answer.text)
}

/// `/memory document add`: checked before the download (so a refused file costs nothing),
/// downloaded through the media policy, then read and stored by the admin layer, with the
/// embedding progress shown in the deferred answer.
async fn document_add(ctx: &Ctx<'_>, file: &Upload, name: Option<&str>) -> Result<String, Failure> {
    let caller = ctx.caller.admin();
    let services = ctx.documents.ok_or_else(|| {
        Failure::BadInput("Server documents are unavailable on this bot.".to_owned())
    })?;
    let facts = documents::FileFacts {
        filename: &file.filename,
        content_type: file.content_type.as_deref(),
    };
    let kind = documents::check_upload(ctx.store, &caller, facts).await?;
    let bytes = file.fetch(ctx, documents::MAX_FILE_BYTES).await?;
    let name = name.map_or_else(|| file.filename.clone(), str::to_owned);
    let progress = |done: usize, total: usize| {
        ctx.files.progress(format!("Adding `{name}`: embedding {done}/{total} passages…"));
    };
    let added =
        documents::add(ctx.store, &caller, services, (facts, kind, bytes), &name, &progress)
            .await?;
    Ok(added.text)
}
