//! The operator's listener under `tomori run` (`[web] listen`): tomori-web's routes over this
//! process's database pools and Discord shards, and the dashboard when `[web] public_url` is set.

use std::sync::{Arc, OnceLock};

use secrecy::SecretString;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tomori_store::Store;
use tomori_store::db::Pool;
use tomori_web::dashboard::{Dashboard, DashboardConfig};
use tomori_web::{
    DatabaseCheck, GatewayCheck, MigrationsCheck, Readiness, ShardState, ShardStates, Web,
};

use crate::config::Config;

/// The Discord shards' status once the gateway is connected; "not started" until then.
#[derive(Debug, Clone, Default)]
pub(crate) struct GatewaySlot(Arc<OnceLock<tomori_discord::ShardStatus>>);

impl GatewaySlot {
    /// Reports `status` from now on.
    pub(crate) fn fill(&self, status: tomori_discord::ShardStatus) {
        let _ = self.0.set(status);
    }
}

impl ShardStates for GatewaySlot {
    fn shards(&self) -> Option<Vec<ShardState>> {
        let status = self.0.get()?;
        Some(
            status
                .shards()
                .into_iter()
                .map(|(id, connected)| ShardState { id, connected })
                .collect(),
        )
    }
}

/// The running listener.
pub(crate) struct Listener {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    dashboard: Option<Dashboard>,
}

impl Listener {
    /// The dashboard it serves, if any (the playground's engine is handed to it once the bot
    /// is connected).
    pub(crate) fn dashboard(&self) -> Option<&Dashboard> {
        self.dashboard.as_ref()
    }

    /// Stops accepting, lets requests in flight finish, and waits for the task.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Starts the listener, unless `[web] listen` is empty. A listener that cannot bind (the port is
/// taken) is logged as an error and the bot runs on without it: health and metrics serve the
/// operator, and their absence must not take the bot off Discord.
pub(crate) async fn start(
    config: &Config,
    exporter: tomori_web::metrics::Exporter,
    app: Pool,
    owner: Pool,
    gateway: GatewaySlot,
    store: &Store,
    token: &SecretString,
) -> Option<Listener> {
    let listen = config.web.address()?;
    let listener = match tomori_web::bind(listen).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(error = %error, source = ?std::error::Error::source(&error).map(ToString::to_string), "the health and metrics listener is off");
            return None;
        }
    };
    let address =
        listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| listen.to_owned());
    let readiness = Readiness::new()
        .with(DatabaseCheck::new(app.clone()))
        .with(MigrationsCheck::new(owner))
        .with(GatewayCheck::new(Arc::new(gateway)));
    let mut web = Web::new(readiness).with_metrics(exporter.with_pool(app));
    let dashboard = dashboard(config, store, token);
    if let Some(dashboard) = &dashboard {
        web = web.with_dashboard(dashboard.clone());
    }
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(error) = tomori_web::serve(listener, web, shutdown).await {
            tracing::error!(%error, "the health and metrics listener stopped");
        }
    });
    tracing::info!(%address, "serving /health/live, /health/ready and /metrics");
    Some(Listener { stop, task, dashboard })
}

/// The dashboard, when `[web] public_url` is set; its other settings missing, or a public URL it
/// refuses, are logged as errors and leave it off (the bot runs on without it).
fn dashboard(config: &Config, store: &Store, token: &SecretString) -> Option<Dashboard> {
    let public_url = config.web.public_url.clone()?;
    let (Some(client_id), Some(client_secret)) =
        (config.web.client_id, config.web.client_secret.clone())
    else {
        tracing::error!(
            "web.public_url is set but web.client_id or web.client_secret is not: the dashboard is off"
        );
        return None;
    };
    let dashboard_config = DashboardConfig {
        public_url: public_url.clone(),
        client_id,
        client_secret,
        api_base: config.discord.api_base.clone(),
        bot_token: token.clone(),
        server_policy: crate::providers::server_policy(config),
    };
    match Dashboard::new(dashboard_config, store.clone()) {
        Ok(dashboard) => {
            tracing::info!(public_url = %public_url, "serving the dashboard");
            Some(dashboard)
        }
        Err(error) => {
            tracing::error!(%error, "the dashboard is off");
            None
        }
    }
}
