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

/// Connects to the configured database, starting the embedded one when no URL is set.
///
/// # Errors
/// An unreachable database, or an embedded cluster that cannot start (the message says how to
/// install PostgreSQL or set `DATABASE_URL`).
pub(crate) async fn open(config: &Config) -> anyhow::Result<Database> {
    if let Some(url) = &config.database.url {
        let owner =
            tomori_store::db::connect_owner(url).await.context("connecting to DATABASE_URL")?;
        return Ok(Database { owner, url: url.clone(), embedded: None });
    }
    let root = config.data_dir.join("postgres");
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
