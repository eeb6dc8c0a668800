//! The store's error: what a caller can act on.

use crate::secrets::OpenError;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or went away; retrying later may work.
    #[error("database unavailable: {}", describe(.0))]
    Unavailable(#[source] sqlx::Error),
    /// The row does not exist in this tenant.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule was hit, e.g. a persona nickname already taken in this server.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A configured limit would be exceeded.
    #[error("limit reached: at most {limit} {what}")]
    LimitReached {
        /// What is counted.
        what: &'static str,
        /// The configured limit.
        limit: u32,
    },
    /// A value breaks a rule of the data model.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field or concept at fault.
        field: &'static str,
        /// Why, in words a user can act on.
        reason: String,
    },
    /// A sealed value could not be opened.
    #[error("stored secret cannot be opened")]
    Secret(#[from] OpenError),
    /// The schema is from a newer Tomori than this build.
    #[error(
        "the database was migrated by a newer Tomori (schema version {found}, this build knows up to {known}); upgrade Tomori"
    )]
    SchemaTooNew {
        /// Highest version applied in the database.
        found: i64,
        /// Highest version this build ships.
        known: i64,
    },
    /// A migration failed; it ran in a transaction, so nothing of it was applied.
    #[error("migration failed: {}", describe_migration(.0))]
    Migration(#[source] sqlx::migrate::MigrateError),
    /// Anything else from the database: a bug or a broken database, logged with its source.
    #[error("database error: {}", describe(.0))]
    Query(#[source] sqlx::Error),
}

/// What went wrong, in the database's words: its message and SQLSTATE, without the line of the
/// server's own source code that sqlx appends (a user cannot act on it, and it reads as a line of
/// their configuration or of a migration). The store's errors say this themselves, so whoever
/// prints one needs none of its sources.
fn describe(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("{} (SQLSTATE {code})", db.message()),
            None => db.message().to_owned(),
        },
        other => other.to_string(),
    }
}

fn describe_migration(err: &sqlx::migrate::MigrateError) -> String {
    match err {
        sqlx::migrate::MigrateError::Execute(inner) => describe(inner),
        sqlx::migrate::MigrateError::ExecuteMigration(inner, version) => {
            format!("migration {version}: {}", describe(inner))
        }
        other => other.to_string(),
    }
}

impl StoreError {
    /// Classifies an sqlx error; `what` names the thing a uniqueness violation is about.
    pub(crate) fn from_sqlx(err: sqlx::Error, what: &'static str) -> Self {
        match &err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Self::Unavailable(err),
            sqlx::Error::RowNotFound => Self::NotFound(what),
            sqlx::Error::Database(db) => match db.code().as_deref() {
                Some("23505") => Self::Conflict(what),
                Some("23514") => Self::Invalid {
                    field: what,
                    reason: "value outside the allowed range".to_owned(),
                },
                // admin_shutdown, crash_shutdown, cannot_connect_now, connection failures.
                Some("57P01" | "57P02" | "57P03" | "08000" | "08003" | "08006") => {
                    Self::Unavailable(err)
                }
                _ => Self::Query(err),
            },
            _ => Self::Query(err),
        }
    }
}

/// Shorthand used by repository modules: classify with the thing the query is about.
pub(crate) trait SqlxResultExt<T> {
    fn about(self, what: &'static str) -> Result<T, StoreError>;
}

impl<T> SqlxResultExt<T> for Result<T, sqlx::Error> {
    fn about(self, what: &'static str) -> Result<T, StoreError> {
        self.map_err(|err| StoreError::from_sqlx(err, what))
    }
}
