//! Server documents (`/memory document`): a document with its chunks and their embeddings,
//! stored in one transaction, and the exact cosine search over a server's chunks that retrieval
//! runs on every turn.
//!
//! Limits (from [`tomori_core::document`]): 150 chunks a document, 20 documents and 1,000 chunks
//! a server. They are checked inside the transaction that adds, after taking the server's
//! generation row lock, so two additions at once cannot pass them together. Every addition and
//! removal bumps the server's generation and is audited.
//!
//! Each document records the embedding family (provider, model, dimension) of its chunks; a
//! search compares only chunks of the family it is given, so documents embedded with an earlier
//! model are ignored until they are added again. Vectors are `real[]` and the search runs in
//! this process (no pgvector): see [`cache`] for how a server's vectors are kept between
//! searches.

mod cache;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tomori_core::document::{
    CHUNK_CHARS, MAX_CHUNKS_PER_DOCUMENT, MAX_CHUNKS_PER_SERVER, MAX_DOCUMENT_CHARS,
    MAX_DOCUMENTS_PER_SERVER, check_name,
};
use tomori_core::id::Snowflake;
use tomori_core::vector::{MAX_DIMENSION, Matrix};

pub(crate) use self::cache::VectorCache;
use self::cache::Vectors;
pub use self::cache::{CacheStats, DEFAULT_VECTOR_CACHE_BYTES};
use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::models::{EmbeddingModel, check_model, check_provider};
use crate::{Scope, Store, StoreError};

/// The embedding family of a document's chunks: vectors of different families are not
/// comparable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Family {
    /// Provider name, as in [`EmbeddingModel`].
    pub provider: String,
    /// Model id.
    pub model: String,
    /// Length of each vector.
    pub dimension: u32,
}

impl Family {
    /// Whether `model` makes vectors of this family (of some dimension).
    pub fn is_made_by(&self, model: &EmbeddingModel) -> bool {
        self.provider == model.provider && self.model == model.model
    }
}

/// One chunk to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewChunk {
    /// Its text, at most [`CHUNK_CHARS`] characters.
    pub content: String,
    /// Its embedding, of the document's dimension.
    pub embedding: Vec<f32>,
}

/// A document to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDocument {
    /// Its name, unique in the server (case-insensitive).
    pub name: String,
    /// Characters of its normalised text.
    pub chars: usize,
    /// The family of its embeddings.
    pub family: Family,
    /// Its chunks, in order.
    pub chunks: Vec<NewChunk>,
}

/// A stored document, without its chunks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocumentInfo {
    /// Row id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// The family its chunks were embedded with.
    pub family: Family,
    /// Characters of its text.
    pub chars: u32,
    /// Chunks.
    pub chunks: u32,
    /// Who added it.
    pub added_by: Option<Snowflake>,
    /// When.
    pub added_at: DateTime<Utc>,
}

/// How much of the server's allowance its documents use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Documents.
    pub documents: usize,
    /// Chunks, all documents together.
    pub chunks: usize,
}

/// A retrieved chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    /// The document's name.
    pub document: String,
    /// The chunk's position in it, from 0.
    pub ordinal: u32,
    /// Its text.
    pub content: String,
    /// Cosine similarity to the query.
    pub score: f32,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid { field, reason: reason.into() }
}

fn to_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn to_usize(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

impl NewDocument {
    /// Checks everything that does not need the database; returns the trimmed name.
    fn validate(&self) -> Result<String, StoreError> {
        let name = check_name(&self.name).map_err(|reason| invalid("document name", reason))?;
        check_provider(&self.family.provider)?;
        check_model(&self.family.model)?;
        let dimension = usize::try_from(self.family.dimension).unwrap_or(usize::MAX);
        if !(1..=MAX_DIMENSION).contains(&dimension) {
            return Err(invalid("embedding", format!("1 to {MAX_DIMENSION} dimensions")));
        }
        if !(1..=MAX_DOCUMENT_CHARS).contains(&self.chars) {
            return Err(invalid("document", format!("1 to {MAX_DOCUMENT_CHARS} characters")));
        }
        if self.chunks.is_empty() {
            return Err(invalid("document", "it has no text"));
        }
        if self.chunks.len() > MAX_CHUNKS_PER_DOCUMENT {
            return Err(StoreError::LimitReached {
                what: "chunks in one document",
                limit: u32::try_from(MAX_CHUNKS_PER_DOCUMENT).unwrap_or(u32::MAX),
            });
        }
        for chunk in &self.chunks {
            let chars = chunk.content.chars().count();
            if chars == 0 || chars > CHUNK_CHARS || chunk.content.trim().is_empty() {
                return Err(invalid("chunk", format!("1 to {CHUNK_CHARS} characters of text")));
            }
            if chunk.embedding.len() != dimension {
                return Err(invalid("embedding", "every chunk has the document's dimension"));
            }
            // Security: poisoned vectors. A NaN, an infinity or an all-zero vector would make
            // every similarity meaningless (or NaN); such an answer from a provider is refused.
            let finite = chunk.embedding.iter().all(|x| x.is_finite());
            if !finite || chunk.embedding.iter().all(|x| *x == 0.0) {
                return Err(invalid("embedding", "a vector with a NaN, an infinity or no length"));
            }
        }
        Ok(name)
    }
}

/// Bumps the server's document generation, taking the row lock that serialises its document
/// changes until the transaction ends.
async fn bump_generation(tx: &mut crate::ScopedTx, server: i64) -> Result<i64, StoreError> {
    sqlx::query_scalar!(
        "INSERT INTO document_generations (server_id, generation) VALUES ($1, 1)
         ON CONFLICT (server_id) DO UPDATE SET generation = document_generations.generation + 1
         RETURNING generation",
        server
    )
    .fetch_one(tx.conn())
    .await
    .about("document")
}

async fn usage_in(tx: &mut crate::ScopedTx, server: i64) -> Result<Usage, StoreError> {
    let row = sqlx::query!(
        r#"SELECT count(*) AS "documents!", coalesce(sum(chunk_count), 0)::bigint AS "chunks!"
           FROM documents WHERE server_id = $1"#,
        server
    )
    .fetch_one(tx.conn())
    .await
    .about("document")?;
    Ok(Usage { documents: to_usize(row.documents), chunks: to_usize(row.chunks) })
}

/// Checks that `adding` more chunks in one more document fit the server's allowance.
///
/// # Errors
/// `LimitReached` naming the limit that would be passed.
pub fn check_allowance(usage: Usage, adding: usize) -> Result<(), StoreError> {
    if usage.documents + 1 > MAX_DOCUMENTS_PER_SERVER {
        return Err(StoreError::LimitReached {
            what: "documents in a server",
            limit: u32::try_from(MAX_DOCUMENTS_PER_SERVER).unwrap_or(u32::MAX),
        });
    }
    if usage.chunks + adding > MAX_CHUNKS_PER_SERVER {
        return Err(StoreError::LimitReached {
            what: "document chunks in a server",
            limit: u32::try_from(MAX_CHUNKS_PER_SERVER).unwrap_or(u32::MAX),
        });
    }
    Ok(())
}

/// How much of its allowance the server uses (checked before a document is embedded, so a
/// document that cannot fit costs no embedding calls; [`add`] checks again).
///
/// # Errors
/// An unavailable database.
pub async fn usage(store: &Store, scope: Scope) -> Result<Usage, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let usage = usage_in(&mut tx, server).await?;
    tx.commit().await?;
    Ok(usage)
}

/// Stores a document and all its chunks in one transaction: everything, or nothing when any
/// check fails.
///
/// # Errors
/// An invalid name, chunk or vector, a name already taken (`Conflict`), a limit
/// (`LimitReached`), or an unavailable database.
pub async fn add(
    store: &Store,
    scope: Scope,
    actor: Actor,
    added_by: Option<Snowflake>,
    document: &NewDocument,
) -> Result<DocumentInfo, StoreError> {
    let name = document.validate()?;
    let server_id = scope.require_server()?;
    let server = server_id.get();
    let mut tx = store.begin(scope).await?;
    bump_generation(&mut tx, server).await?;
    check_allowance(usage_in(&mut tx, server).await?, document.chunks.len())?;
    let family = &document.family;
    let dimension = i32::try_from(family.dimension).unwrap_or(i32::MAX);
    let row = sqlx::query!(
        "INSERT INTO documents
             (server_id, name, provider, model, dimension, chars, chunk_count, added_by_discord_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         RETURNING id, created_at",
        server,
        name,
        family.provider,
        family.model,
        dimension,
        to_i32(document.chars),
        to_i32(document.chunks.len()),
        added_by.map(Snowflake::to_db)
    )
    .fetch_one(tx.conn())
    .await
    .about("document")?;
    // One statement for every chunk: the vectors travel as one flat array that each row slices.
    let ordinals: Vec<i32> = (0..document.chunks.len()).map(to_i32).collect();
    let contents: Vec<String> = document.chunks.iter().map(|c| c.content.clone()).collect();
    let flat: Vec<f32> = document.chunks.iter().flat_map(|c| c.embedding.iter().copied()).collect();
    sqlx::query!(
        "INSERT INTO document_chunks (document_id, server_id, ordinal, content, embedding)
         SELECT $1, $2, t.ordinal, t.content, ($5::real[])[t.ordinal * $6 + 1 : (t.ordinal + 1) * $6]
         FROM unnest($3::integer[], $4::text[]) AS t (ordinal, content)",
        row.id,
        server,
        &ordinals,
        &contents,
        &flat,
        dimension
    )
    .execute(tx.conn())
    .await
    .about("document chunk")?;
    let info = DocumentInfo {
        id: row.id,
        name,
        family: family.clone(),
        chars: u32::try_from(document.chars).unwrap_or(u32::MAX),
        chunks: u32::try_from(document.chunks.len()).unwrap_or(u32::MAX),
        added_by,
        added_at: row.created_at,
    };
    let after = serde_json::to_value(&info).expect("document serialises");
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "document.add",
            target: format!("document:{}", info.id),
            before: None,
            after: Some(&after),
        },
    )
    .await?;
    tx.commit().await?;
    store.vectors.forget(server_id);
    Ok(info)
}

/// The server's documents, by name.
///
/// # Errors
/// An unavailable database.
pub async fn list(store: &Store, scope: Scope) -> Result<Vec<DocumentInfo>, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let rows = sqlx::query!(
        "SELECT id, name, provider, model, dimension, chars, chunk_count, added_by_discord_id,
                created_at
         FROM documents WHERE server_id = $1 ORDER BY lower(name), id",
        server
    )
    .fetch_all(tx.conn())
    .await
    .about("document")?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|r| DocumentInfo {
            id: r.id,
            name: r.name,
            family: Family {
                provider: r.provider,
                model: r.model,
                dimension: u32::try_from(r.dimension).unwrap_or(0),
            },
            chars: u32::try_from(r.chars).unwrap_or(0),
            chunks: u32::try_from(r.chunk_count).unwrap_or(0),
            added_by: r.added_by_discord_id.and_then(|id| Snowflake::from_db(id).ok()),
            added_at: r.created_at,
        })
        .collect())
}

/// Removes a document (by name, case-insensitive) and its chunks.
///
/// # Errors
/// `NotFound` when the server has no such document, or an unavailable database.
pub async fn remove(
    store: &Store,
    scope: Scope,
    actor: Actor,
    name: &str,
) -> Result<DocumentInfo, StoreError> {
    let server_id = scope.require_server()?;
    let server = server_id.get();
    let mut tx = store.begin(scope).await?;
    bump_generation(&mut tx, server).await?;
    let r = sqlx::query!(
        "DELETE FROM documents WHERE server_id = $1 AND lower(name) = lower($2)
         RETURNING id, name, provider, model, dimension, chars, chunk_count, added_by_discord_id,
                   created_at",
        server,
        name.trim()
    )
    .fetch_optional(tx.conn())
    .await
    .about("document")?
    .ok_or(StoreError::NotFound("document"))?;
    let info = DocumentInfo {
        id: r.id,
        name: r.name,
        family: Family {
            provider: r.provider,
            model: r.model,
            dimension: u32::try_from(r.dimension).unwrap_or(0),
        },
        chars: u32::try_from(r.chars).unwrap_or(0),
        chunks: u32::try_from(r.chunk_count).unwrap_or(0),
        added_by: r.added_by_discord_id.and_then(|id| Snowflake::from_db(id).ok()),
        added_at: r.created_at,
    };
    let before = serde_json::to_value(&info).expect("document serialises");
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "document.remove",
            target: format!("document:{}", info.id),
            before: Some(&before),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    store.vectors.forget(server_id);
    Ok(info)
}

/// What retrieval needs to know before embedding anything: the server's embedding model and how
/// many of its documents that model made. `None` without an embedding model.
///
/// # Errors
/// An unavailable database.
pub async fn retrieval_state(
    store: &Store,
    scope: Scope,
) -> Result<Option<(EmbeddingModel, usize)>, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let row = sqlx::query!(
        r#"SELECT m.provider, m.model,
                  (SELECT count(*) FROM documents d
                   WHERE d.server_id = m.server_id AND d.provider = m.provider
                     AND d.model = m.model) AS "documents!"
           FROM server_embedding_models m WHERE m.server_id = $1"#,
        server
    )
    .fetch_optional(tx.conn())
    .await
    .about("document")?;
    tx.commit().await?;
    Ok(row
        .map(|r| (EmbeddingModel { provider: r.provider, model: r.model }, to_usize(r.documents))))
}

/// The `k` chunks of `family` most similar to `query` (cosine at least `min_score`), best first.
///
/// The server's vectors come from the store's cache when its generation is unchanged, else
/// they are loaded (and normalised) once and cached; the texts of the chunks found are read by
/// id. A stored vector that cannot be normalised is skipped.
///
/// # Errors
/// An unavailable database.
pub async fn search(
    store: &Store,
    scope: Scope,
    family: &Family,
    query: &[f32],
    k: usize,
    min_score: f32,
) -> Result<Vec<Passage>, StoreError> {
    let server_id = scope.require_server()?;
    let server = server_id.get();
    let mut tx = store.begin(scope).await?;
    let generation = sqlx::query_scalar!(
        "SELECT generation FROM document_generations WHERE server_id = $1",
        server
    )
    .fetch_optional(tx.conn())
    .await
    .about("document")?
    .unwrap_or(0);
    let vectors = match store.vectors.get(server_id, family, generation) {
        Some(vectors) => vectors,
        None => {
            let vectors = Arc::new(load(&mut tx, server, family, generation).await?);
            store.vectors.put(server_id, Arc::clone(&vectors));
            vectors
        }
    };
    let hits = vectors.matrix.top_k(query, k, min_score);
    let ids: Vec<i64> = hits.iter().filter_map(|h| vectors.ids.get(h.row).copied()).collect();
    if ids.is_empty() {
        tx.commit().await?;
        return Ok(Vec::new());
    }
    let rows = sqlx::query!(
        "SELECT c.id, c.ordinal, c.content, d.name
         FROM document_chunks c JOIN documents d ON d.id = c.document_id
         WHERE c.server_id = $1 AND c.id = ANY($2)",
        server,
        &ids
    )
    .fetch_all(tx.conn())
    .await
    .about("document")?;
    tx.commit().await?;
    // In the order of the hits; a chunk removed since the vectors were loaded is skipped.
    Ok(hits
        .iter()
        .zip(&ids)
        .filter_map(|(hit, id)| {
            let row = rows.iter().find(|r| r.id == *id)?;
            Some(Passage {
                document: row.name.clone(),
                ordinal: u32::try_from(row.ordinal).unwrap_or(0),
                content: row.content.clone(),
                score: hit.score,
            })
        })
        .collect())
}

/// Loads and normalises the server's vectors of `family`.
async fn load(
    tx: &mut crate::ScopedTx,
    server: i64,
    family: &Family,
    generation: i64,
) -> Result<Vectors, StoreError> {
    let dimension = i32::try_from(family.dimension).unwrap_or(i32::MAX);
    let rows = sqlx::query!(
        "SELECT c.id, c.embedding
         FROM document_chunks c JOIN documents d ON d.id = c.document_id
         WHERE c.server_id = $1 AND d.provider = $2 AND d.model = $3 AND d.dimension = $4
         ORDER BY c.id",
        server,
        family.provider,
        family.model,
        dimension
    )
    .fetch_all(tx.conn())
    .await
    .about("document")?;
    let width = usize::try_from(family.dimension).unwrap_or(0);
    let mut matrix = Matrix::with_capacity(width, rows.len());
    let mut ids = Vec::with_capacity(rows.len());
    for row in rows {
        match matrix.push(&row.embedding) {
            Ok(()) => ids.push(row.id),
            Err(error) => tracing::warn!(chunk = row.id, %error, "a stored vector was skipped"),
        }
    }
    Ok(Vectors { family: family.clone(), generation, matrix, ids })
}

/// What the store's vector cache holds now.
pub fn cache_stats(store: &Store) -> CacheStats {
    store.vectors.stats()
}
