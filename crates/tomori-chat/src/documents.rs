//! Server documents between the text and the store: [`Documents::add`] turns a document's text
//! into stored chunks with their embeddings (normalise, chunk, embed in batches, store all or
//! nothing), and [`Documents::passages`] finds the passages a turn is shown.
//!
//! Both embed with the server's embedding model (`/model embedding`), resolved like its chat
//! model by [`ServerProviders`], so a custom endpoint is judged by the server-scope URL policy
//! at every call. Retrieval never fails a turn: it runs only when the server has an embedding
//! model and documents that model made, within [`DocumentOptions::retrieval_timeout`], and any
//! failure is logged and answered with no passages.

use std::time::Duration;

use tomori_core::document::{
    self, MAX_CHUNKS_PER_DOCUMENT, MAX_DOCUMENT_CHARS, MIN_SIMILARITY, TOP_K,
};
use tomori_core::id::{ServerId, Snowflake};
use tomori_core::vector::MAX_DIMENSION;
use tomori_llm::{EmbeddingRequest, Llm, LlmError, StreamLimits, Target, Timeouts};
use tomori_store::audit::Actor;
use tomori_store::documents::{self, DocumentInfo, Family, NewChunk, NewDocument, Passage};
use tomori_store::models::{self, EmbeddingModel};
use tomori_store::{Scope, Store, StoreError};

use crate::providers::{ChainError, ServerProviders};

/// Told the passages embedded so far and how many there are, after each embedding batch.
pub type Progress<'a> = dyn Fn(usize, usize) + Send + Sync + 'a;

/// Tunables of [`Documents`].
#[derive(Debug, Clone)]
pub struct DocumentOptions {
    /// Texts per embeddings request when a document is added.
    pub batch: usize,
    /// The longest a turn waits for its passages (embedding the query and searching).
    pub retrieval_timeout: Duration,
    /// The longest adding one document may take, all its embedding requests included.
    pub add_timeout: Duration,
    /// Timeouts of each embeddings request.
    pub timeouts: Timeouts,
    /// The largest embeddings answer read (a batch of 32 vectors of 3,072 dimensions is about
    /// 1.5 MB of JSON).
    pub max_answer_bytes: u64,
}

impl Default for DocumentOptions {
    fn default() -> Self {
        Self {
            batch: 32,
            retrieval_timeout: Duration::from_secs(5),
            add_timeout: Duration::from_secs(300),
            timeouts: Timeouts {
                connect: Duration::from_secs(10),
                first_byte: Duration::from_secs(60),
                idle: Duration::from_secs(60),
                total: Duration::from_secs(90),
            },
            max_answer_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Why a document was not added.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The server has no embedding model.
    #[error("the server has no embedding model")]
    NoModel,
    /// The embedding model has no enabled key, or its custom endpoint is gone.
    #[error("the embedding model {0} has no usable key or endpoint")]
    Unreachable(String),
    /// The text is empty once normalised.
    #[error("the document has no text")]
    Empty,
    /// The text is longer than [`MAX_DOCUMENT_CHARS`].
    #[error("the document has {chars} characters, more than {MAX_DOCUMENT_CHARS}")]
    TooLong {
        /// Characters after normalisation.
        chars: usize,
    },
    /// The text makes more than [`MAX_CHUNKS_PER_DOCUMENT`] chunks.
    #[error("the document makes {chunks} chunks, more than {MAX_CHUNKS_PER_DOCUMENT}")]
    TooManyChunks {
        /// Chunks it would make.
        chunks: usize,
    },
    /// The provider refused or failed.
    #[error("embedding failed: {0}")]
    Embedding(#[from] LlmError),
    /// The provider answered with vectors that cannot be stored or compared.
    #[error("the embedding model answered unusable vectors: {0}")]
    BadVectors(&'static str),
    /// Adding took longer than [`DocumentOptions::add_timeout`].
    #[error("adding the document took too long")]
    TimedOut,
    /// The store refused (a limit, a name taken) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ChainError> for DocumentError {
    fn from(error: ChainError) -> Self {
        match error {
            ChainError::Store(error) => Self::Store(error),
            ChainError::Endpoint(error) => Self::Embedding(error),
        }
    }
}

/// See the module documentation. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Documents {
    providers: ServerProviders,
    llm: Llm,
    options: DocumentOptions,
}

impl Documents {
    /// Documents embedded through `providers` (the same the engine resolves chat models with).
    pub fn new(providers: ServerProviders) -> Self {
        Self::with_options(providers, DocumentOptions::default())
    }

    /// The same, with other tunables.
    pub fn with_options(providers: ServerProviders, options: DocumentOptions) -> Self {
        let limits =
            StreamLimits { max_body_bytes: options.max_answer_bytes, ..StreamLimits::default() };
        let llm = Llm::default().with_timeouts(options.timeouts).with_limits(limits);
        Self { providers, llm, options }
    }

    async fn target(
        &self,
        store: &Store,
        server: ServerId,
        model: &EmbeddingModel,
    ) -> Result<Target, DocumentError> {
        self.providers.embedding_target(store, server, model).await?.ok_or_else(|| {
            DocumentError::Unreachable(format!("{}/{}", model.provider, model.model))
        })
    }

    /// Embeds `texts` in batches; every vector has the same dimension, within bounds.
    async fn embed(
        &self,
        target: &Target,
        texts: &[String],
        progress: &Progress<'_>,
    ) -> Result<Vec<Vec<f32>>, DocumentError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.options.batch.max(1)) {
            let request = EmbeddingRequest { inputs: batch.to_vec(), dimensions: None };
            let answer = self.llm.embed(std::slice::from_ref(target), &request).await?;
            if answer.vectors.len() != batch.len() {
                return Err(DocumentError::BadVectors("a different number of vectors"));
            }
            vectors.extend(answer.vectors);
            progress(vectors.len(), texts.len());
        }
        let dimension = vectors.first().map_or(0, Vec::len);
        if !(1..=MAX_DIMENSION).contains(&dimension) {
            return Err(DocumentError::BadVectors("an empty or oversized vector"));
        }
        if vectors.iter().any(|v| v.len() != dimension) {
            return Err(DocumentError::BadVectors("vectors of different lengths"));
        }
        Ok(vectors)
    }

    /// Adds a document to the server: normalises `text`, cuts it into chunks, embeds them with
    /// the server's embedding model and stores the document with every chunk in one
    /// transaction. The limits and the name are checked before anything is embedded, so a
    /// document that cannot be stored costs no embedding calls.
    ///
    /// # Errors
    /// See [`DocumentError`]; nothing is stored on any of them.
    pub async fn add(
        &self,
        store: &Store,
        scope: Scope,
        actor: Actor,
        added_by: Option<Snowflake>,
        name: &str,
        text: &str,
    ) -> Result<DocumentInfo, DocumentError> {
        self.add_with_progress(store, scope, actor, added_by, name, text, &|_, _| {}).await
    }

    /// [`Documents::add`], calling `progress` with the passages embedded so far and their
    /// number after each embedding batch.
    ///
    /// # Errors
    /// As [`Documents::add`].
    #[expect(clippy::too_many_arguments, reason = "add's arguments and the progress callback")]
    pub async fn add_with_progress(
        &self,
        store: &Store,
        scope: Scope,
        actor: Actor,
        added_by: Option<Snowflake>,
        name: &str,
        text: &str,
        progress: &Progress<'_>,
    ) -> Result<DocumentInfo, DocumentError> {
        let adding = self.add_unbounded(store, scope, actor, added_by, name, text, progress);
        tokio::time::timeout(self.options.add_timeout, adding)
            .await
            .map_err(|_| DocumentError::TimedOut)?
    }

    #[expect(clippy::too_many_arguments, reason = "add's arguments and the progress callback")]
    async fn add_unbounded(
        &self,
        store: &Store,
        scope: Scope,
        actor: Actor,
        added_by: Option<Snowflake>,
        name: &str,
        text: &str,
        progress: &Progress<'_>,
    ) -> Result<DocumentInfo, DocumentError> {
        let server = scope.server_id().ok_or(StoreError::Invalid {
            field: "scope",
            reason: "documents belong to a server".to_owned(),
        })?;
        let name = document::check_name(name).map_err(|reason| StoreError::Invalid {
            field: "document name",
            reason: reason.to_owned(),
        })?;
        let text = document::normalise(text);
        let chars = text.chars().count();
        if chars == 0 {
            return Err(DocumentError::Empty);
        }
        if chars > MAX_DOCUMENT_CHARS {
            return Err(DocumentError::TooLong { chars });
        }
        let chunks = document::chunk(&text);
        if chunks.len() > MAX_CHUNKS_PER_DOCUMENT {
            return Err(DocumentError::TooManyChunks { chunks: chunks.len() });
        }
        // Security: spend abuse. Everything that would make the store refuse the document is
        // checked before the first embedding request, so a refused document costs nothing.
        let existing = documents::list(store, scope).await?;
        if existing.iter().any(|d| d.name.to_lowercase() == name.to_lowercase()) {
            return Err(StoreError::Conflict("document").into());
        }
        documents::check_allowance(documents::usage(store, scope).await?, chunks.len())?;
        let model = models::get_embedding(store, scope).await?.ok_or(DocumentError::NoModel)?;
        let target = self.target(store, server, &model).await?;
        let vectors = self.embed(&target, &chunks, progress).await?;
        let dimension = vectors.first().map_or(0, Vec::len);
        let new = NewDocument {
            name,
            chars,
            family: Family {
                provider: model.provider,
                model: model.model,
                dimension: u32::try_from(dimension).unwrap_or(u32::MAX),
            },
            chunks: chunks
                .into_iter()
                .zip(vectors)
                .map(|(content, embedding)| NewChunk { content, embedding })
                .collect(),
        };
        Ok(documents::add(store, scope, actor, added_by, &new).await?)
    }

    /// The passages of the server's documents most relevant to `message` (the latest user
    /// message of the turn): at most [`TOP_K`], each at least [`MIN_SIMILARITY`] similar. Empty
    /// when the message is shorter than three characters, the server has no embedding model or
    /// no documents of it (`state`, from [`documents::retrieval_state`]), or anything fails or
    /// takes longer than the retrieval timeout (logged; the turn goes on without documents).
    pub async fn passages(
        &self,
        store: &Store,
        server: ServerId,
        state: Option<&(EmbeddingModel, usize)>,
        message: &str,
    ) -> Vec<Passage> {
        let Some((model, count)) = state else { return Vec::new() };
        if *count == 0 {
            return Vec::new();
        }
        let Some(query) = document::query(message) else { return Vec::new() };
        // Security: denial of service through a slow or failing embedding endpoint (an admin's
        // custom endpoint included). Retrieval is bounded in time and never fails the turn.
        let search = self.search(store, server, model, query);
        match tokio::time::timeout(self.options.retrieval_timeout, search).await {
            Ok(Ok(passages)) => passages,
            Ok(Err(error)) => {
                tracing::warn!(%error, "document retrieval failed; answering without documents");
                Vec::new()
            }
            Err(_) => {
                tracing::warn!(
                    after = ?self.options.retrieval_timeout,
                    "document retrieval timed out; answering without documents"
                );
                Vec::new()
            }
        }
    }

    async fn search(
        &self,
        store: &Store,
        server: ServerId,
        model: &EmbeddingModel,
        query: String,
    ) -> Result<Vec<Passage>, DocumentError> {
        let scope = Scope::server(server);
        let target = self.target(store, server, model).await?;
        let vector = self.embed(&target, &[query], &|_, _| {}).await?.pop().unwrap_or_default();
        let family = Family {
            provider: model.provider.clone(),
            model: model.model.clone(),
            dimension: u32::try_from(vector.len()).unwrap_or(u32::MAX),
        };
        Ok(documents::search(store, scope, &family, &vector, TOP_K, MIN_SIMILARITY).await?)
    }
}
