//! `GET /metrics`: the process-wide Prometheus recorder, rendered by its handle.
//!
//! [`install`] makes `metrics-exporter-prometheus`'s recorder the `metrics` facade's global
//! recorder, so a `metrics::counter!` anywhere in the process lands here; the exporter's own HTTP
//! listener is not built in, the handle is rendered inside the axum route. Series names and their
//! label rules are in `tomori_core::metric_names`; durations (`*_seconds`) are histograms with
//! buckets from 5 ms to 2 minutes.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use tomori_core::metric_names as names;
use tomori_store::db::Pool;

/// Bucket bounds, in seconds, of every duration histogram: engine work is milliseconds, a model's
/// first token seconds, a long answer with tools minutes.
const SECONDS_BUCKETS: &[f64] =
    &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

/// The Prometheus text format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Why the recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("installing the Prometheus recorder")]
pub struct MetricsError(#[source] BuildError);

/// What `/metrics` renders: the recorder's handle, and the application pool whose use is sampled
/// at each scrape.
#[derive(Clone)]
pub struct Exporter {
    handle: PrometheusHandle,
    pool: Option<Pool>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter").field("pool", &self.pool.is_some()).finish_non_exhaustive()
    }
}

impl Exporter {
    /// Samples `pool`'s connections at each scrape ([`names::DB_POOL_CONNECTIONS`]).
    #[must_use]
    pub fn with_pool(mut self, pool: Pool) -> Self {
        self.pool = Some(pool);
        self
    }

    /// The text a scrape returns.
    pub fn render(&self) -> String {
        if let Some(pool) = &self.pool {
            let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
            let size = pool.size();
            let gauge =
                |state| metrics::gauge!(names::DB_POOL_CONNECTIONS, names::label::STATE => state);
            gauge("idle").set(f64::from(idle));
            gauge("in_use").set(f64::from(size.saturating_sub(idle)));
            metrics::gauge!(names::DB_POOL_MAX)
                .set(f64::from(pool.options().get_max_connections()));
        }
        // No background upkeep task: histograms are drained here, at the pace of the scrapes.
        self.handle.run_upkeep();
        self.handle.render()
    }
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder as the process's `metrics` recorder (once; later calls
/// return the same one) and describes Tomori's series.
///
/// # Errors
/// Another recorder is already installed.
pub fn install() -> Result<Exporter, MetricsError> {
    if let Some(handle) = HANDLE.get() {
        return Ok(Exporter { handle: handle.clone(), pool: None });
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS_BUCKETS)
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(MetricsError)?;
    let handle = HANDLE.get_or_init(|| handle).clone();
    describe();
    Ok(Exporter { handle, pool: None })
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(names::TURNS, "Turns the engine started, by outcome.");
    describe_counter!(
        names::TURN_REFUSALS,
        "Turns refused before the model was called, by reason."
    );
    describe_histogram!(
        names::ENGINE_OVERHEAD,
        Unit::Seconds,
        "Time spent building a request before the model call."
    );
    describe_histogram!(
        names::MODEL_FIRST_TOKEN,
        Unit::Seconds,
        "Time from opening a model stream to its first text, by provider."
    );
    describe_histogram!(
        names::MODEL_DURATION,
        Unit::Seconds,
        "Time from opening a model stream to its end, by provider."
    );
    describe_counter!(
        names::MODEL_TOKENS,
        "Tokens the providers reported, by provider and direction."
    );
    describe_counter!(names::TOOL_CALLS, "Tool calls, by tool and verdict.");
    describe_counter!(names::GATE_REFUSALS, "Tool calls the gate refused, by reason.");
    describe_counter!(
        names::GATEWAY_RECONNECTS,
        "Gateway sessions re-established after the first, by shard."
    );
    describe_counter!(names::GATEWAY_RESUMES, "Gateway sessions resumed, by shard.");
    describe_gauge!(names::DB_POOL_CONNECTIONS, "Application pool connections, by state.");
    describe_gauge!(names::DB_POOL_MAX, "Largest size of the application pool.");
    describe_counter!(names::CACHE_LOOKUPS, "Revision cache lookups, by view and result.");
    describe_counter!(
        names::REMINDER_DELIVERIES,
        "Reminders handled by the scheduler, by outcome."
    );
}

pub(crate) async fn scrape(State(exporter): State<Exporter>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], exporter.render())
}
