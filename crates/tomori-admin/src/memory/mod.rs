//! What Tomori remembers (`/memory server|personal …` on Discord) and the server's documents
//! ([`documents`]).
//!
//! Server memories belong to one persona (the main persona unless one is named). Teaching one
//! needs Manage Server unless the server lets members teach; changing or removing one always
//! needs it; every member may list and export them (see SECURITY.md). Personal memories are the
//! caller's own, in their user scope, whatever server they were added from; without a persona
//! they apply to every persona. Imports add all of a file's memories or, when any is refused,
//! none.

pub mod documents;

use tomori_core::id::LineageId;
use tomori_core::shared_memory::SharedMemoryChange::{Revise, Teach};
use tomori_store::memories::{self, Memory};
use tomori_store::{Scope, Store, memory_edits, personas};

use crate::access::{AdminError, Need, authorize, tenant};
use crate::answer::{Answer, AnswerFile};
use crate::caller::Caller;
use crate::persona::named;

/// The largest memory file accepted.
pub const MAX_IMPORT_BYTES: u64 = 1024 * 1024;

/// Whose memories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The server's, for one persona.
    Server,
    /// The caller's own.
    Personal,
}

/// One action on memories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Remembers `content`.
    Add {
        /// Whose.
        kind: Kind,
        /// What.
        content: String,
        /// For which persona (the main one, or for personal memories every one, if empty).
        persona: Option<String>,
    },
    /// Lists them.
    List {
        /// Whose.
        kind: Kind,
        /// For which persona.
        persona: Option<String>,
    },
    /// Forgets one.
    Remove {
        /// Whose.
        kind: Kind,
        /// Its id, as listed.
        id: i64,
    },
    /// Changes one's text.
    Edit {
        /// Whose.
        kind: Kind,
        /// Its id, as listed.
        id: i64,
        /// The new text.
        content: String,
    },
    /// Them as a JSON file.
    Export {
        /// Whose.
        kind: Kind,
        /// For which persona (server memories).
        persona: Option<String>,
    },
    /// Adds a memory file's memories: a server export, a personal export or a list of texts.
    Import {
        /// Whose.
        kind: Kind,
        /// The file's name, for answers.
        filename: String,
        /// Its bytes, at most [`MAX_IMPORT_BYTES`].
        bytes: Vec<u8>,
        /// For which persona.
        persona: Option<String>,
    },
}

impl Action {
    /// Who may run it.
    pub fn need(&self) -> Need {
        match self {
            Self::Add { kind: Kind::Server, .. } | Self::Import { kind: Kind::Server, .. } => {
                Need::SharedMemory(Teach)
            }
            Self::List { kind: Kind::Server, .. } | Self::Export { kind: Kind::Server, .. } => {
                Need::Member
            }
            Self::Remove { kind: Kind::Server, .. } | Self::Edit { kind: Kind::Server, .. } => {
                Need::SharedMemory(Revise)
            }
            Self::Add { kind: Kind::Personal, .. }
            | Self::List { kind: Kind::Personal, .. }
            | Self::Remove { kind: Kind::Personal, .. }
            | Self::Edit { kind: Kind::Personal, .. }
            | Self::Export { kind: Kind::Personal, .. }
            | Self::Import { kind: Kind::Personal, .. } => Need::Anyone,
        }
    }
}

/// Runs `action` for `caller`.
///
/// # Errors
/// A refusal, input refused (nothing changes then), or the store failing.
pub async fn run(store: &Store, caller: &Caller, action: &Action) -> Result<Answer, AdminError> {
    authorize(store, caller, action.need(), action.need() == Need::Anyone).await?;
    match action {
        Action::Add { kind: Kind::Server, content, persona } => {
            let scope = tenant(store, caller).await?;
            let (lineage, name) = server_lineage(store, scope, persona.as_deref()).await?;
            let teacher = Some(caller.user);
            let memory =
                memories::add_server(store, scope, caller.actor(), lineage, teacher, content)
                    .await?;
            Ok(Answer::text(format!("**{name}** will remember that (`[id:{}]`).", memory.id)))
        }
        Action::List { kind: Kind::Server, persona } => {
            let scope = tenant(store, caller).await?;
            let (lineage, name) = server_lineage(store, scope, persona.as_deref()).await?;
            let all = memories::list_server(store, scope, lineage).await?;
            Ok(Answer::text(listing(&all, &format!("**{name}**"))))
        }
        Action::Remove { kind: Kind::Server, id } => {
            let scope = tenant(store, caller).await?;
            memories::remove_server(store, scope, caller.actor(), *id).await?;
            Ok(Answer::text(format!("Forgot server memory `[id:{id}]`.")))
        }
        Action::Edit { kind: Kind::Server, id, content } => {
            let scope = tenant(store, caller).await?;
            memory_edits::update_server(store, scope, caller.actor(), *id, content).await?;
            Ok(Answer::text(format!("Server memory `[id:{id}]` now says: {}", content.trim())))
        }
        Action::Export { kind: Kind::Server, persona } => {
            server_export(store, caller, persona.as_deref()).await
        }
        Action::Import { kind, filename, bytes, persona } => {
            import(store, caller, *kind, filename, bytes, persona.as_deref()).await
        }
        personal => personal_run(store, caller, personal).await,
    }
}

/// The personal half of [`run`]: everything in the caller's own user scope.
async fn personal_run(
    store: &Store,
    caller: &Caller,
    action: &Action,
) -> Result<Answer, AdminError> {
    // Security: cross-user tampering. Every call runs in the caller's own user scope, so another
    // user's memory id finds nothing.
    let me = Scope::user(store.resolve_user(caller.user).await?);
    let text = match action {
        Action::Add { content, persona, .. } => {
            let (lineage, whose) = personal_lineage(store, caller, persona.as_deref()).await?;
            let memory =
                memories::add_personal(store, me, caller.actor(), lineage, content).await?;
            format!("Remembered for {whose} (`[id:{}]`); only you can see or change it.", memory.id)
        }
        Action::List { persona, .. } => {
            let (lineage, whose) = personal_lineage(store, caller, persona.as_deref()).await?;
            listing(&memories::list_personal(store, me, lineage).await?, &whose)
        }
        Action::Remove { id, .. } => {
            memories::remove_personal(store, me, caller.actor(), *id).await?;
            format!("Forgot your memory `[id:{id}]`.")
        }
        Action::Edit { id, content, .. } => {
            memory_edits::update_personal(store, me, caller.actor(), *id, content).await?;
            format!("Your memory `[id:{id}]` now says: {}", content.trim())
        }
        Action::Export { .. } => {
            let all = memories::list_all_personal(store, me).await?;
            let bytes = serde_json::to_vec_pretty(&crate::personal::memories_json(&all))
                .unwrap_or_default();
            return Ok(Answer {
                text: format!(
                    "Your {} personal memories, as JSON; only you can see this.",
                    all.len()
                ),
                files: vec![AnswerFile { name: "my-memories.json".to_owned(), bytes }],
            });
        }
        Action::Import { filename, bytes, persona, .. } => {
            return import(store, caller, Kind::Personal, filename, bytes, persona.as_deref())
                .await;
        }
    };
    Ok(Answer::text(text))
}

async fn server_export(
    store: &Store,
    caller: &Caller,
    persona: Option<&str>,
) -> Result<Answer, AdminError> {
    let scope = tenant(store, caller).await?;
    let (lineage, name) = server_lineage(store, scope, persona).await?;
    let all = memories::list_server(store, scope, lineage).await?;
    let file = serde_json::json!({
        "persona": name,
        "memories": all.iter().map(|m| serde_json::json!({
            "id": m.id,
            "content": m.content,
            "taught_by": m.teacher,
        })).collect::<Vec<_>>(),
    });
    Ok(Answer {
        text: format!("{} memories of **{name}**, as JSON.", all.len()),
        files: vec![AnswerFile {
            name: format!("memories-{}.json", file_stem(&name)),
            bytes: serde_json::to_vec_pretty(&file).unwrap_or_default(),
        }],
    })
}

async fn import(
    store: &Store,
    caller: &Caller,
    kind: Kind,
    filename: &str,
    bytes: &[u8],
    persona: Option<&str>,
) -> Result<Answer, AdminError> {
    let contents = memory_texts(bytes).map_err(|reason| {
        AdminError::BadInput(format!(
            "`{filename}` is not a memory file ({reason}); nothing was changed."
        ))
    })?;
    let texts: Vec<&str> = contents.iter().map(String::as_str).collect();
    let count = match kind {
        Kind::Server => {
            let scope = tenant(store, caller).await?;
            let (lineage, _) = server_lineage(store, scope, persona).await?;
            let teacher = Some(caller.user);
            memories::add_server_many(store, scope, caller.actor(), lineage, teacher, &texts)
                .await?
                .len()
        }
        Kind::Personal => {
            let (lineage, _) = personal_lineage(store, caller, persona).await?;
            let me = Scope::user(store.resolve_user(caller.user).await?);
            memories::add_personal_many(store, me, caller.actor(), lineage, &texts).await?.len()
        }
    };
    Ok(Answer::text(format!("Imported {count} memories.")))
}

/// The lineage a server memory belongs to: the named persona's, or the main persona's.
async fn server_lineage(
    store: &Store,
    scope: Scope,
    persona: Option<&str>,
) -> Result<(LineageId, String), AdminError> {
    let persona = match persona {
        Some(name) => named(store, scope, name).await?,
        None => personas::list(store, scope).await?.into_iter().find(|p| p.is_main).ok_or_else(
            || {
                AdminError::BadInput(
                    "This server has no persona yet; create one with /persona create.".to_owned(),
                )
            },
        )?,
    };
    Ok((persona.lineage, persona.nickname))
}

/// The lineage a personal memory belongs to: the named persona's (in this server), or every
/// persona's.
async fn personal_lineage(
    store: &Store,
    caller: &Caller,
    persona: Option<&str>,
) -> Result<(LineageId, String), AdminError> {
    let Some(name) = persona else {
        return Ok((LineageId::EVERY_PERSONA, "every persona".to_owned()));
    };
    if caller.guild.is_none() {
        return Err(AdminError::BadInput(
            "Name a persona only in a server; here, leave it empty to cover every persona."
                .to_owned(),
        ));
    }
    let persona = named(store, tenant(store, caller).await?, name).await?;
    Ok((persona.lineage, format!("**{}**", persona.nickname)))
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
