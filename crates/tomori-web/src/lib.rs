//! The operator's HTTP listener: `GET /health/live`, `GET /health/ready` and `GET /metrics`.
//!
//! Architecture invariant: an adapter like tomori-discord, it never depends on another adapter
//! and knows no chat platform. What it reports comes in through small traits the binary fills
//! in: [`health::Check`] for each readiness condition ([`health::DatabaseCheck`] over the store's
//! pools, [`health::GatewayCheck`] over any [`health::ShardStates`]), and the process-wide
//! Prometheus recorder of [`metrics::install`], which every crate records into through the
//! `metrics` facade under the names of `tomori_core::metric_names`.
//!
//! The [`dashboard`] is the members' and admins' web front door on the admin layer, served on
//! the same listener when the binary configures it.
//!
//! Entry points: [`Web`] (what the routes report), [`router`], [`bind`] and [`serve`].

pub mod dashboard;
pub mod health;
pub mod metrics;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;

pub use health::{
    Check, DatabaseCheck, GatewayCheck, MigrationsCheck, Readiness, ShardState, ShardStates,
};

/// What the routes report.
#[derive(Clone)]
pub struct Web {
    readiness: Arc<Readiness>,
    metrics: Option<metrics::Exporter>,
    dashboard: Option<dashboard::Dashboard>,
}

impl Web {
    /// Routes over `readiness`; `/metrics` answers 404 until [`Self::with_metrics`].
    pub fn new(readiness: Readiness) -> Self {
        Self { readiness: Arc::new(readiness), metrics: None, dashboard: None }
    }

    /// Serves the dashboard too, under its public URL's path.
    #[must_use]
    pub fn with_dashboard(mut self, dashboard: dashboard::Dashboard) -> Self {
        self.dashboard = Some(dashboard);
        self
    }

    /// Serves `/metrics` from `exporter`.
    #[must_use]
    pub fn with_metrics(mut self, exporter: metrics::Exporter) -> Self {
        self.metrics = Some(exporter);
        self
    }
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web")
            .field("metrics", &self.metrics.is_some())
            .field("dashboard", &self.dashboard)
            .finish_non_exhaustive()
    }
}

/// The routes.
pub fn router(web: Web) -> Router {
    let mut router = Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .with_state(Arc::clone(&web.readiness));
    if let Some(exporter) = web.metrics {
        router = router
            .merge(Router::new().route("/metrics", get(metrics::scrape)).with_state(exporter));
    }
    if let Some(dashboard) = web.dashboard {
        router = router.merge(dashboard::router(dashboard));
    }
    router
}

/// Why the listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// `[web] listen` is not `host:port`.
    #[error("web.listen: {0:?} is not an address and port such as 127.0.0.1:9100")]
    Address(String),
    /// Binding failed (in use, not permitted).
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Binds `listen` (`host:port`, an IP address for host).
///
/// # Errors
/// A value that is not an address and port, or one that cannot be bound.
pub async fn bind(listen: &str) -> Result<tokio::net::TcpListener, WebError> {
    let addr: SocketAddr =
        listen.trim().parse().map_err(|_| WebError::Address(listen.to_owned()))?;
    tokio::net::TcpListener::bind(addr).await.map_err(|source| WebError::Bind { addr, source })
}

/// Serves the routes on `listener` until `shutdown` completes.
///
/// # Errors
/// The listener failed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    web: Web,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let dashboard = web.dashboard.clone();
    let shutdown = async move {
        shutdown.await;
        // Pages that stay open (the playground's event stream) would hold the graceful
        // shutdown forever; their streams end now.
        if let Some(dashboard) = dashboard {
            dashboard.close();
        }
    };
    axum::serve(listener, router(web)).with_graceful_shutdown(shutdown).await
}
