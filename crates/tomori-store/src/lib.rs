//! PostgreSQL storage for Tomori: migrations, tenant-scoped repositories, row-level security,
//! sealed secrets and the audit chain.
//!
//! Architecture invariant: this is the only crate that speaks SQL, every statement is a
//! compile-checked sqlx macro with bind parameters, and every repository function takes a
//! [`Scope`] first. The application pool runs as the `tomori_app` role, which PostgreSQL's
//! row-level-security policies confine to the tenant the transaction was opened for, so a query
//! that forgets its tenant filter still cannot see another tenant's rows.
//!
//! Two pools exist. The *owner* pool (see [`db::connect_owner`]) runs migrations and the
//! maintenance commands (`keys rotate`, `audit verify`), which by nature span every tenant. The
//! *application* pool ([`db::connect_app`]) is the one the bot uses for everything else.

pub mod access;
pub mod audit;
pub mod avatars;
pub mod cache;
pub mod channel_personas;
pub mod credentials;
pub mod db;
pub mod documents;
pub mod embedded;
pub mod endpoints;
mod error;
pub mod keys;
pub mod lorebooks;
pub mod mcp;
pub mod memories;
pub mod memory_edits;
pub mod models;
pub mod overrides;
pub mod personas;
pub mod presets;
pub mod quotas;
pub mod reminders;
mod scope;
pub mod secrets;
pub mod servers;
pub mod settings;
pub mod short_term;
pub mod tool_triggers;
pub mod users;
pub mod webhooks;

use std::sync::Arc;

pub use error::StoreError;
pub use scope::{Scope, ScopedTx};
use sqlx::PgPool;
use tomori_core::limits::Limits;

use crate::secrets::KeyRing;

/// The application's handle on the database: the tenant-confined pool, the key ring that seals
/// secrets, and the storage limits. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
    keys: Arc<KeyRing>,
    limits: Arc<Limits>,
    /// Bumped after every committed reminder change, so a scheduler in this process can wake
    /// early for a reminder due sooner than it planned (see [`reminders::watch`]).
    reminders_changed: Arc<tokio::sync::watch::Sender<()>>,
    /// Servers' document vectors, normalised, between searches (see [`documents`]).
    vectors: Arc<documents::VectorCache>,
}

impl Store {
    /// Wraps an application pool from [`db::connect_app`].
    pub fn new(pool: PgPool, keys: Arc<KeyRing>, limits: Limits) -> Self {
        Self {
            pool,
            keys,
            limits: Arc::new(limits),
            reminders_changed: Arc::new(tokio::sync::watch::Sender::new(())),
            vectors: Arc::new(documents::VectorCache::new(documents::DEFAULT_VECTOR_CACHE_BYTES)),
        }
    }

    /// Bounds the memory that cached document vectors may take (default
    /// [`documents::DEFAULT_VECTOR_CACHE_BYTES`]). Call it before cloning the store: clones made
    /// earlier keep the old cache.
    #[must_use]
    pub fn with_vector_cache_bytes(mut self, bytes: usize) -> Self {
        self.vectors = Arc::new(documents::VectorCache::new(bytes));
        self
    }

    /// The storage limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The key ring.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
