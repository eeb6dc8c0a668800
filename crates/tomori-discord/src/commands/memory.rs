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

use tomori_admin::persona::named;
use tomori_chat::documents::DocumentError;
use tomori_core::document::{MAX_CHUNKS_PER_SERVER, MAX_DOCUMENTS_PER_SERVER, MAX_FILE_BYTES};
use tomori_core::id::LineageId;
use tomori_core::shared_memory::SharedMemoryChange::{Revise, Teach};
use tomori_store::memories::{self, Memory};
use tomori_store::models;
use tomori_store::{Scope, StoreError, documents, memory_edits, personas};
use tomori_tools::{FileKind, PdfExtractor, classify, decode_text};
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
    Export { kind: Kind, persona: Option<String> },
    Import { kind: Kind, file: Upload, persona: Option<String> },
    DocumentAdd { file: Upload, name: Option<String> },
    DocumentList,
    DocumentRemove { name: String },
}

/// The largest memory file accepted.
const MAX_IMPORT_BYTES: u64 = 1024 * 1024;

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
    Ok(match sub {
        "add" => Action::Add {
            kind,
            content: args.required_string("content")?.to_owned(),
            persona: persona()?,
        },
        "list" => Action::List { kind, persona: persona()? },
        "export" => Action::Export { kind, persona: persona()? },
        "import" => Action::Import {
            kind,
            file: Upload::from_option(args, resolved, "file")?,
            persona: persona()?,
        },
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
        Action::Add { kind: Kind::Server, .. } => Need::SharedMemory(Teach),
        Action::List { kind: Kind::Server, .. } | Action::Export { kind: Kind::Server, .. } => {
            Need::Member
        }
        Action::Import { kind: Kind::Server, .. } => Need::SharedMemory(Teach),
        Action::Remove { kind: Kind::Server, .. } | Action::Edit { kind: Kind::Server, .. } => {
            Need::SharedMemory(Revise)
        }
        // Documents are shared memory too: the same rules.
        Action::DocumentAdd { .. } => Need::SharedMemory(Teach),
        Action::DocumentList => Need::Member,
        Action::DocumentRemove { .. } => Need::SharedMemory(Revise),
        Action::Add { kind: Kind::Personal, .. }
        | Action::List { kind: Kind::Personal, .. }
        | Action::Remove { kind: Kind::Personal, .. }
        | Action::Edit { kind: Kind::Personal, .. }
        | Action::Export { kind: Kind::Personal, .. }
        | Action::Import { kind: Kind::Personal, .. } => Need::Anyone,
    }
}

/// The lineage a server memory belongs to: the named persona's, or the main persona's.
async fn server_lineage(
    ctx: &Ctx<'_>,
    scope: Scope,
    persona: Option<&str>,
) -> Result<(LineageId, String), Failure> {
    let persona = match persona {
        Some(name) => named(ctx.store, scope, name).await?,
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
            let persona = named(ctx.store, ctx.server().await?, name).await?;
            Ok((persona.lineage, format!("**{}**", persona.nickname)))
        }
    }
}

/// The texts of a memory file: a server export (`{"memories": [{"content": …}]}`), a personal
/// export (`[{"content": …}]`) or a plain list of strings.
fn memory_texts(bytes: &[u8]) -> Result<Vec<String>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))?;
    let items = match &value {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Object(map) => match map.get("memories") {
            Some(serde_json::Value::Array(items)) => items,
            _ => return Err("no `memories` list".to_owned()),
        },
        _ => return Err("neither a list nor an export".to_owned()),
    };
    items
        .iter()
        .enumerate()
        .map(|(n, item)| match item {
            serde_json::Value::String(text) => Ok(text.clone()),
            serde_json::Value::Object(fields) => match fields.get("content") {
                Some(serde_json::Value::String(text)) => Ok(text.clone()),
                _ => Err(format!("entry {} has no text `content`", n + 1)),
            },
            _ => Err(format!("entry {} is neither text nor an object", n + 1)),
        })
        .collect()
}

/// A name as a file-name stem: letters, digits and `-` only.
fn file_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .trim_matches('-')
        .to_owned();
    if stem.is_empty() { "persona".to_owned() } else { stem }
}

fn listing(memories: &[Memory], whose: &str) -> String {
    if memories.is_empty() {
        return format!("No memories for {whose} yet.");
    }
    let mut lines = vec![format!("Memories for {whose}:")];
    lines.extend(memories.iter().map(|m| format!("`[id:{}]` {}", m.id, m.content)));
    lines.join("\n")
}

/// The text of an uploaded document: a .txt or .md file decoded (byte-order mark, declared
/// charset, else UTF-8), or a .pdf's text.
async fn document_text(
    ctx: &Ctx<'_>,
    pdf: &PdfExtractor,
    file: &Upload,
) -> Result<String, Failure> {
    let refuse =
        |why: &str| Failure::BadInput(format!("`{}` {why}. Nothing was changed.", file.filename));
    let extension = file.filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let expected = match extension.as_deref() {
        Some("txt" | "md" | "markdown") => FileKind::Text,
        Some("pdf") => FileKind::Pdf,
        _ => return Err(refuse("is not a .txt, .md or .pdf file")),
    };
    // Security: parser denial of service. The type is decided by name and declared type before
    // anything is downloaded (a binary type under a text name is refused), the download stops at
    // 4 MiB, and PDFs are read in a confined child process (tomori_tools::pdf), killed at a
    // deadline, at most two at once: a hostile PDF costs that child, never the bot.
    if classify(&file.filename, file.content_type.as_deref()) != expected {
        return Err(refuse("is declared as another kind of file"));
    }
    let bytes = file.fetch(ctx, MAX_FILE_BYTES).await?;
    match expected {
        FileKind::Pdf => pdf
            .extract(bytes)
            .await
            .map_err(|error| refuse(&format!("could not be read as a PDF: {error}"))),
        _ => decode_text(&bytes, file.content_type.as_deref())
            .ok_or_else(|| refuse("is not a text file")),
    }
}

/// The sentence for a document that was not added.
fn document_failure(name: &str, error: DocumentError) -> Failure {
    let bad = |text: String| Failure::BadInput(format!("{text} Nothing was changed."));
    match error {
        DocumentError::NoModel => {
            bad("Choose an embedding model with /model embedding first.".to_owned())
        }
        DocumentError::Unreachable(model) => bad(format!(
            "The embedding model `{model}` has no enabled key or endpoint; add one with \
             /provider key add or /provider endpoint add."
        )),
        DocumentError::Empty => bad(format!("`{name}` has no text.")),
        DocumentError::TooLong { chars } => {
            bad(format!("`{name}` has {chars} characters of text; at most 120,000 are accepted."))
        }
        DocumentError::TooManyChunks { chunks } => {
            bad(format!("`{name}` makes {chunks} passages; at most 150 are accepted."))
        }
        DocumentError::Embedding(error) => {
            tracing::info!(%error, "embedding a document failed");
            bad(format!("The embedding model failed ({}).", error.code()))
        }
        DocumentError::BadVectors(why) => {
            bad(format!("The embedding model answered unusable vectors ({why})."))
        }
        DocumentError::TimedOut => bad("Embedding the document took too long.".to_owned()),
        DocumentError::Store(StoreError::Conflict(_)) => bad(format!(
            "A document named `{name}` already exists; remove it first or choose another name."
        )),
        DocumentError::Store(StoreError::Invalid { field, reason }) => {
            bad(format!("Invalid {field}: {reason}."))
        }
        DocumentError::Store(error) => Failure::Store(error),
    }
}

async fn document_list(ctx: &Ctx<'_>) -> Result<String, Failure> {
    let scope = ctx.server().await?;
    let all = documents::list(ctx.store, scope).await?;
    let model = models::get_embedding(ctx.store, scope).await?;
    let chunks: u32 = all.iter().map(|d| d.chunks).sum();
    let mut lines = vec![format!(
        "Documents: {} of {MAX_DOCUMENTS_PER_SERVER}, {chunks} of {MAX_CHUNKS_PER_SERVER} passages.",
        all.len()
    )];
    if model.is_none() {
        lines.push("No embedding model: documents are not searched (see /model embedding).".into());
    }
    for d in &all {
        let mut line = format!("`{}` · {} passages · {} characters", d.name, d.chunks, d.chars);
        if let Some(model) = &model
            && !d.family.is_made_by(model)
        {
            line.push_str(&format!(
                " · embedded with `{}/{}`: not searched until added again",
                d.family.provider, d.family.model
            ));
        }
        lines.push(line);
    }
    Ok(lines.join("\n"))
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    match action {
        Action::DocumentAdd { file, name } => {
            let scope = ctx.server().await?;
            let intake = ctx.documents.ok_or_else(|| {
                Failure::BadInput("Server documents are unavailable on this bot.".to_owned())
            })?;
            // Checked before the download, so a server without a model costs nothing.
            if models::get_embedding(ctx.store, scope).await?.is_none() {
                return Err(document_failure(&file.filename, DocumentError::NoModel));
            }
            let name = name.clone().unwrap_or_else(|| file.filename.clone());
            let text = document_text(ctx, &intake.pdf, file).await?;
            let actor = ctx.actor();
            let progress = |done: usize, total: usize| {
                ctx.files.progress(format!("Adding `{name}`: embedding {done}/{total} passages…"));
            };
            let added = intake
                .documents
                .add_with_progress(
                    ctx.store,
                    scope,
                    actor,
                    Some(ctx.caller.user),
                    &name,
                    &text,
                    &progress,
                )
                .await
                .map_err(|error| document_failure(&name, error))?;
            Ok(format!(
                "Added `{}`: {} passages from {} characters. The personas look it up when \
                 a message is about it.",
                added.name, added.chunks, added.chars
            ))
        }
        Action::DocumentList => document_list(ctx).await,
        Action::DocumentRemove { name } => {
            let scope = ctx.server().await?;
            let removed = documents::remove(ctx.store, scope, ctx.actor(), name).await?;
            Ok(format!("Removed `{}` ({} passages).", removed.name, removed.chunks))
        }
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
        Action::Export { kind: Kind::Server, persona } => {
            let scope = ctx.server().await?;
            let (lineage, name) = server_lineage(ctx, scope, persona.as_deref()).await?;
            let all = memories::list_server(ctx.store, scope, lineage).await?;
            let file = serde_json::json!({
                "persona": name,
                "memories": all.iter().map(|m| serde_json::json!({
                    "id": m.id,
                    "content": m.content,
                    "taught_by": m.teacher,
                })).collect::<Vec<_>>(),
            });
            let bytes = serde_json::to_vec_pretty(&file).unwrap_or_default();
            ctx.files.attach(format!("memories-{}.json", file_stem(&name)), bytes);
            Ok(format!("{} memories of **{name}**, as JSON.", all.len()))
        }
        Action::Export { kind: Kind::Personal, .. } => {
            let all = memories::list_all_personal(ctx.store, ctx.me().await?).await?;
            let bytes = serde_json::to_vec_pretty(&tomori_admin::personal::memories_json(&all))
                .unwrap_or_default();
            ctx.files.attach("my-memories.json".to_owned(), bytes);
            Ok(format!("Your {} personal memories, as JSON; only you can see this.", all.len()))
        }
        Action::Import { kind, file, persona } => {
            let bytes = file.fetch(ctx, MAX_IMPORT_BYTES).await?;
            let contents = memory_texts(&bytes).map_err(|reason| {
                Failure::BadInput(format!(
                    "`{}` is not a memory file ({reason}); nothing was changed.",
                    file.filename
                ))
            })?;
            let texts: Vec<&str> = contents.iter().map(String::as_str).collect();
            let count = match kind {
                Kind::Server => {
                    let scope = ctx.server().await?;
                    let (lineage, _) = server_lineage(ctx, scope, persona.as_deref()).await?;
                    let teacher = Some(ctx.caller.user);
                    memories::add_server_many(
                        ctx.store,
                        scope,
                        ctx.actor(),
                        lineage,
                        teacher,
                        &texts,
                    )
                    .await?
                    .len()
                }
                Kind::Personal => {
                    let (lineage, _) = personal_lineage(ctx, persona.as_deref()).await?;
                    memories::add_personal_many(
                        ctx.store,
                        ctx.me().await?,
                        ctx.actor(),
                        lineage,
                        &texts,
                    )
                    .await?
                    .len()
                }
            };
            Ok(format!("Imported {count} memories."))
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
