//! Opening the database: the operator's `DATABASE_URL`, or the embedded private cluster under
//! `<data_dir>/postgres`.

use anyhow::Context as _;
use secrecy::SecretString;
use tomori_store::db::{AppLogin, Pool as PgPool};
use tomori_store::embedded::{EmbeddedOptions, EmbeddedPostgres};
use tomori_store::secrets::KeyRing;

use crate::config::Config;

/// Name of the database the embedded cluster holds.
const EMBEDDED_DATABASE: &str = "tomori";

/// An open database: the owner pool, the URL the application pool connects with, and the
/// embedded server when there is one (stopped by [`Database::close`]).
pub(crate) struct Database {
    pub(crate) owner: PgPool,
    pub(crate) url: SecretString,
    embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Whether the database is the embedded cluster.
    pub(crate) fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// How the application pool logs in: `[database] app_url` when the operator gives one, else
    /// the owner's URL as `tomori_app` with the password derived from the key ring.
    pub(crate) fn app_login(&self, config: &Config, ring: &KeyRing) -> AppLogin {
        match &config.database.app_url {
            Some(url) => AppLogin::Url(url.clone()),
            None => AppLogin::Derived {
                owner: self.owner.clone(),
                owner_url: self.url.clone(),
                password: ring.app_password(),
            },
        }
    }

    /// Closes the pool and stops the embedded server if this process started it.
    pub(crate) async fn close(self) {
        self.owner.close().await;
        if let Some(embedded) = self.embedded
            && let Err(err) = embedded.stop().await
        {
            tracing::error!(error = %err, "stopping the embedded PostgreSQL");
        }
    }
}

/// Whether opening may create the embedded cluster and its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// `run`, `chat` and `migrate`: a first start creates the database.
    Create,
    /// `doctor`, `keys` and `audit`: run from the wrong folder they must say so, not leave a new
    /// empty database behind.
    Existing,
}

/// No embedded database where the configuration points.
#[derive(Debug, thiserror::Error)]
#[error(
    "no Tomori database at {0} (data_dir is relative to the folder you run from): run this from the folder that holds tomori.toml, pass --config, or set DATABASE_URL; `tomori run` or `tomori migrate` creates a new one"
)]
pub(crate) struct NotFound(pub(crate) String);

/// Connects to the configured database, starting the embedded one when no URL is set.
///
/// # Errors
/// An unreachable database, an embedded cluster that cannot start (the message says how to
/// install PostgreSQL or set `DATABASE_URL`), or with [`Access::Existing`] none where the
/// configuration points ([`NotFound`]).
pub(crate) async fn open(config: &Config, access: Access) -> anyhow::Result<Database> {
    if let Some(url) = &config.database.url {
        let owner =
            tomori_store::db::connect_owner(url).await.context("connecting to DATABASE_URL")?;
        return Ok(Database { owner, url: url.clone(), embedded: None });
    }
    let root = config.data_dir.join("postgres");
    if access == Access::Existing && !EmbeddedPostgres::exists(&root) {
        let shown = std::path::absolute(&root).unwrap_or_else(|_| root.clone());
        return Err(NotFound(shown.display().to_string()).into());
    }
    let embedded =
        EmbeddedPostgres::start(EmbeddedOptions { root, bin_dir: None, throwaway: false })
            .await
            .context("starting the embedded PostgreSQL")?;
    let result = async {
        let admin = tomori_store::db::connect_owner(&embedded.database_url("postgres")).await?;
        tomori_store::db::ensure_database(&admin, EMBEDDED_DATABASE).await?;
        admin.close().await;
        let url = embedded.database_url(EMBEDDED_DATABASE);
        let owner = tomori_store::db::connect_owner(&url).await?;
        anyhow::Ok((owner, url))
    }
    .await;
    match result {
        Ok((owner, url)) => Ok(Database { owner, url, embedded: Some(embedded) }),
        Err(err) => {
            let _ = embedded.stop().await;
            Err(err.context("connecting to the embedded PostgreSQL"))
        }
    }
}
