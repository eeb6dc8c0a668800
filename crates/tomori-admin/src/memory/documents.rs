//! The server's documents for retrieval (`/memory document add|list|remove` on Discord). A
//! .txt, .md or .pdf file (at most 4 MiB) that the front door downloaded through the media
//! policy is read here (PDFs in a confined child process, through tomori-tools'
//! `PdfExtractor`), then cut, embedded and stored by `tomori_chat::documents`. Adding follows
//! the rule for teaching server memories; removing needs Manage Server; every member may list
//! them.

use tomori_chat::documents::{DocumentError, Documents, Progress};
use tomori_core::document::{MAX_CHUNKS_PER_SERVER, MAX_DOCUMENTS_PER_SERVER};
use tomori_core::shared_memory::SharedMemoryChange::{Revise, Teach};
use tomori_store::{Store, StoreError, documents, models};
use tomori_tools::{FileKind, PdfExtractor, classify, decode_text};

pub use tomori_core::document::MAX_FILE_BYTES;

use crate::access::{AdminError, Need, authorize, tenant};
use crate::answer::Answer;
use crate::caller::Caller;

/// What reading and storing documents needs: the engine's documents, and the PDF reader.
#[derive(Clone, Debug)]
pub struct DocumentServices {
    /// Cuts, embeds and stores documents.
    pub documents: Documents,
    /// Reads PDFs in a confined child process.
    pub pdf: PdfExtractor,
}

/// An uploaded file as the platform describes it, before anything is downloaded.
#[derive(Debug, Clone, Copy)]
pub struct FileFacts<'a> {
    /// Its name.
    pub filename: &'a str,
    /// Its declared type.
    pub content_type: Option<&'a str>,
}

fn refuse(filename: &str, why: &str) -> AdminError {
    AdminError::BadInput(format!("`{filename}` {why}. Nothing was changed."))
}

/// Before a document is downloaded: the caller may add one, the server has an embedding model
/// (so a server without one costs no download), and the file is a .txt, .md or .pdf whose
/// declared type agrees. Returns the kind to read it as.
///
/// # Errors
/// A refusal, no embedding model, a file of another kind, or the store failing.
pub async fn check_upload(
    store: &Store,
    caller: &Caller,
    file: FileFacts<'_>,
) -> Result<FileKind, AdminError> {
    authorize(store, caller, Need::SharedMemory(Teach), false).await?;
    let scope = tenant(store, caller).await?;
    if models::get_embedding(store, scope).await?.is_none() {
        return Err(document_failure(file.filename, DocumentError::NoModel));
    }
    let extension = file.filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let expected = match extension.as_deref() {
        Some("txt" | "md" | "markdown") => FileKind::Text,
        Some("pdf") => FileKind::Pdf,
        _ => return Err(refuse(file.filename, "is not a .txt, .md or .pdf file")),
    };
    // Security: parser denial of service. The type is decided by name and declared type before
    // anything is downloaded (a binary type under a text name is refused), the download stops at
    // 4 MiB, and PDFs are read in a confined child process (tomori_tools::pdf), killed at a
    // deadline, at most two at once: a hostile PDF costs that child, never the bot.
    if classify(file.filename, file.content_type) != expected {
        return Err(refuse(file.filename, "is declared as another kind of file"));
    }
    Ok(expected)
}

/// Reads a downloaded document of `kind` and adds it as `name`, reporting embedding progress.
///
/// # Errors
/// As [`check_upload`], a file that cannot be read, or the document refused (limits, the
/// embedding model failing, a name taken); nothing is stored then.
pub async fn add(
    store: &Store,
    caller: &Caller,
    services: &DocumentServices,
    (file, kind, bytes): (FileFacts<'_>, FileKind, Vec<u8>),
    name: &str,
    progress: &Progress<'_>,
) -> Result<Answer, AdminError> {
    authorize(store, caller, Need::SharedMemory(Teach), false).await?;
    let scope = tenant(store, caller).await?;
    let text = match kind {
        FileKind::Pdf => services.pdf.extract(bytes).await.map_err(|error| {
            refuse(file.filename, &format!("could not be read as a PDF: {error}"))
        })?,
        _ => decode_text(&bytes, file.content_type)
            .ok_or_else(|| refuse(file.filename, "is not a text file"))?,
    };
    let added = services
        .documents
        .add_with_progress(store, scope, caller.actor(), Some(caller.user), name, &text, progress)
        .await
        .map_err(|error| document_failure(name, error))?;
    Ok(Answer::text(format!(
        "Added `{}`: {} passages from {} characters. The personas look it up when a message is \
         about it.",
        added.name, added.chunks, added.chars
    )))
}

/// The server's documents, with what is not searched and why.
///
/// # Errors
/// A refusal, or the store failing.
pub async fn list(store: &Store, caller: &Caller) -> Result<Answer, AdminError> {
    authorize(store, caller, Need::Member, false).await?;
    let scope = tenant(store, caller).await?;
    let all = documents::list(store, scope).await?;
    let model = models::get_embedding(store, scope).await?;
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
    Ok(Answer::text(lines.join("\n")))
}

/// Removes a document and its passages.
///
/// # Errors
/// A refusal, no such document, or the store failing.
pub async fn remove(store: &Store, caller: &Caller, name: &str) -> Result<Answer, AdminError> {
    authorize(store, caller, Need::SharedMemory(Revise), false).await?;
    let scope = tenant(store, caller).await?;
    let removed = documents::remove(store, scope, caller.actor(), name).await?;
    Ok(Answer::text(format!("Removed `{}` ({} passages).", removed.name, removed.chunks)))
}

/// The sentence for a document that was not added.
fn document_failure(name: &str, error: DocumentError) -> AdminError {
    let bad = |text: String| AdminError::BadInput(format!("{text} Nothing was changed."));
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
        DocumentError::Store(error) => AdminError::Store(error),
    }
}
