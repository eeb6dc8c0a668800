//! Tenancy: a [`Scope`] names the tenant a transaction acts for, and [`ScopedTx`] is a transaction
//! whose row-level-security context has been set to it.

use sqlx::{Postgres, Transaction};
use tomori_core::id::{ServerId, UserId};

use crate::error::SqlxResultExt;
use crate::{Store, StoreError};

/// The tenant a repository call acts for. Built from resolved ids only (see `servers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    server: Option<ServerId>,
    user: Option<UserId>,
}

impl Scope {
    /// A server's data: settings, personas, server memories, server keys.
    pub const fn server(server: ServerId) -> Self {
        Self { server: Some(server), user: None }
    }

    /// A user's personal data: privacy settings, personal memories, personal keys.
    pub const fn user(user: UserId) -> Self {
        Self { server: None, user: Some(user) }
    }

    /// A member of a server: both the server's and that user's data.
    pub const fn member(server: ServerId, user: UserId) -> Self {
        Self { server: Some(server), user: Some(user) }
    }

    /// The server, if the scope includes one.
    pub const fn server_id(&self) -> Option<ServerId> {
        self.server
    }

    /// The user, if the scope includes one.
    pub const fn user_id(&self) -> Option<UserId> {
        self.user
    }

    /// The server or a `Invalid` error naming what the call needs.
    pub(crate) fn require_server(&self) -> Result<ServerId, StoreError> {
        self.server.ok_or(StoreError::Invalid {
            field: "scope",
            reason: "this needs a server scope".to_owned(),
        })
    }

    /// The user or a `Invalid` error naming what the call needs.
    pub(crate) fn require_user(&self) -> Result<UserId, StoreError> {
        self.user.ok_or(StoreError::Invalid {
            field: "scope",
            reason: "this needs a user scope".to_owned(),
        })
    }
}

/// A transaction confined to one [`Scope`]. Dropping it without `commit` rolls back.
#[derive(Debug)]
pub struct ScopedTx {
    pub(crate) tx: Transaction<'static, Postgres>,
    pub(crate) scope: Scope,
}

impl ScopedTx {
    /// Commits the transaction.
    ///
    /// # Errors
    /// The database refused or went away; nothing was committed.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await.about("transaction")
    }

    /// The connection, for the store's own queries and its tests.
    pub fn conn(&mut self) -> &mut sqlx::PgConnection {
        &mut self.tx
    }

    /// The scope this transaction acts for.
    pub fn scope(&self) -> Scope {
        self.scope
    }
}

impl Store {
    /// Opens a transaction confined to `scope`.
    ///
    /// Repository functions use this; it is public so that the store's integration tests can show
    /// what row-level security does to a query that forgets its tenant filter.
    ///
    /// # Errors
    /// The database is unavailable.
    pub async fn begin(&self, scope: Scope) -> Result<ScopedTx, StoreError> {
        let mut tx = self.pool.begin().await.about("transaction")?;
        let server = scope.server.map(|id| id.get().to_string()).unwrap_or_default();
        let user = scope.user.map(|id| id.get().to_string()).unwrap_or_default();
        // Security: cross-tenant leakage. The tenant is set per transaction (is_local = true), so
        // a pooled connection never carries one request's tenant into the next.
        sqlx::query!(
            r#"SELECT set_config('tomori.server_id', $1, true) AS "server?", set_config('tomori.user_id', $2, true) AS "user?""#,
            server,
            user
        )
        .fetch_one(&mut *tx)
        .await
        .about("tenant")?;
        Ok(ScopedTx { tx, scope })
    }
}
