//! The routes over a real listener: readiness following its checks (a switch, fake shards, and a
//! real PostgreSQL cluster stopped and started again), liveness, and the Prometheus rendering.
#![expect(clippy::unwrap_used, reason = "tests")]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tomori_store::db::{self, AppLogin};
use tomori_store::embedded::{EmbeddedOptions, EmbeddedPostgres};
use tomori_testkit::TestDb;
use tomori_testkit::http::{Reply, get};
use tomori_web::health::CheckFuture;
use tomori_web::{
    Check, DatabaseCheck, GatewayCheck, MigrationsCheck, Readiness, ShardState, ShardStates, Web,
};

/// How long a condition may take to show on the routes.
const WAIT: Duration = Duration::from_secs(30);

/// A check the test turns on and off.
#[derive(Clone, Default)]
struct Switch(Arc<AtomicBool>);

impl Check for Switch {
    fn name(&self) -> &'static str {
        "switch"
    }

    fn check(&self) -> CheckFuture<'_> {
        let on = self.0.load(Ordering::SeqCst);
        Box::pin(async move { if on { Ok(()) } else { Err("switched off".to_owned()) } })
    }
}

/// Shards the test sets.
#[derive(Clone, Default)]
struct Shards(Arc<Mutex<Option<Vec<ShardState>>>>);

impl ShardStates for Shards {
    fn shards(&self) -> Option<Vec<ShardState>> {
        self.0.lock().unwrap().clone()
    }
}

/// Serves `web` on a loopback port until the sender is dropped.
async fn serve(web: Web) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = tomori_web::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(tomori_web::serve(listener, web, async move {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// Polls `/health/ready` until its status is `want` (at most [`WAIT`]).
async fn ready_becomes(addr: SocketAddr, want: u16) -> Reply {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let reply = get(addr, "/health/ready").await.unwrap();
        if reply.status == want {
            return reply;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {}: {}", reply.status, reply.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn json(reply: &Reply) -> serde_json::Value {
    serde_json::from_str(&reply.body).unwrap()
}

#[tokio::test]
async fn readiness_names_what_is_not_ready_and_recovers() {
    let switch = Switch::default();
    let shards = Shards::default();
    let readiness =
        Readiness::new().with(switch.clone()).with(GatewayCheck::new(Arc::new(shards.clone())));
    let (addr, _stop) = serve(Web::new(readiness)).await;

    let live = get(addr, "/health/live").await.unwrap();
    assert_eq!((live.status, json(&live)["status"].as_str()), (200, Some("live")));

    let reply = get(addr, "/health/ready").await.unwrap();
    assert_eq!(reply.status, 503);
    let body = json(&reply);
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["not_ready"]["switch"], "switched off");
    assert_eq!(body["not_ready"]["gateway"], "not started");

    switch.0.store(true, Ordering::SeqCst);
    *shards.0.lock().unwrap() =
        Some(vec![ShardState { id: 0, connected: true }, ShardState { id: 1, connected: false }]);
    let body = json(&get(addr, "/health/ready").await.unwrap());
    assert_eq!(body["checks"]["switch"], "ok");
    assert_eq!(body["not_ready"]["gateway"], "shard(s) 1 not connected");
    assert!(body["not_ready"].get("switch").is_none());

    shards.0.lock().unwrap().as_mut().unwrap()[1].connected = true;
    let reply = get(addr, "/health/ready").await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = json(&reply);
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["gateway"], "ok");
    assert_eq!(get(addr, "/metrics").await.unwrap().status, 404, "no exporter, no metrics");
}

/// A check that never answers counts as not ready once its time is up.
#[tokio::test]
async fn a_check_that_hangs_is_not_ready() {
    struct Hangs;
    impl Check for Hangs {
        fn name(&self) -> &'static str {
            "hangs"
        }
        fn check(&self) -> CheckFuture<'_> {
            Box::pin(std::future::pending())
        }
    }
    let readiness = Readiness::new().with(Hangs).with_timeout(Duration::from_millis(100));
    let (addr, _stop) = serve(Web::new(readiness)).await;
    let reply = get(addr, "/health/ready").await.unwrap();
    assert_eq!(reply.status, 503);
    assert_eq!(json(&reply)["not_ready"]["hangs"], "no answer within 0.1 s");
}

#[tokio::test]
async fn metrics_render_in_the_prometheus_text_format() {
    let exporter = tomori_web::metrics::install().unwrap();
    let again = tomori_web::metrics::install().unwrap();
    let (addr, _stop) = serve(Web::new(Readiness::new()).with_metrics(exporter)).await;
    metrics::counter!("tomori_test_events_total", "kind" => "render").increment(3);
    metrics::histogram!("tomori_test_wait_seconds").record(0.2);
    let reply = get(addr, "/metrics").await.unwrap();
    assert_eq!(reply.status, 200);
    assert!(reply.headers.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"));
    assert!(reply.body.contains("tomori_test_events_total{kind=\"render\"} 3"), "{}", reply.body);
    assert!(
        reply.body.contains("tomori_test_wait_seconds_bucket{le=\"0.25\"} 1"),
        "durations are histograms with buckets: {}",
        reply.body
    );
    assert!(again.render().contains("tomori_test_events_total"), "one recorder per process");
}

/// A private cluster under a short path (its socket path must fit in 107 bytes).
fn cluster_root() -> PathBuf {
    let nonce: u32 = rand_suffix();
    std::env::temp_dir().join(format!("tw-{}-{nonce}", std::process::id()))
}

fn rand_suffix() -> u32 {
    let mut bytes = [0; 4];
    getrandom::fill(&mut bytes).unwrap();
    u32::from_le_bytes(bytes)
}

#[tokio::test]
async fn readiness_follows_the_database_down_and_back() {
    let root = cluster_root();
    let options = EmbeddedOptions { root: root.clone(), bin_dir: None, throwaway: true };
    let pg = EmbeddedPostgres::start(options.clone()).await.unwrap();
    let admin = db::connect_owner(&pg.database_url("postgres")).await.unwrap();
    db::ensure_database(&admin, "tomori").await.unwrap();
    admin.close().await;
    let url = pg.database_url("tomori");
    let owner = db::connect_owner(&url).await.unwrap();
    db::migrate(&owner).await.unwrap();
    let ring = TestDb::key_ring(&[1], None);
    let login =
        AppLogin::Derived { owner: owner.clone(), owner_url: url, password: ring.app_password() };
    let app = db::connect_app(&login, 2).await.unwrap();
    let exporter = tomori_web::metrics::install().unwrap().with_pool(app.clone());
    let readiness = Readiness::new()
        .with(DatabaseCheck::new(app.clone()))
        .with(MigrationsCheck::new(owner.clone()));
    let (addr, _stop) = serve(Web::new(readiness).with_metrics(exporter)).await;

    let ready = ready_becomes(addr, 200).await;
    assert_eq!(json(&ready)["checks"]["database"], "ok");
    assert_eq!(json(&ready)["checks"]["migrations"], "ok");
    let scraped = get(addr, "/metrics").await.unwrap().body;
    assert!(scraped.contains("tomori_db_pool_connections{state=\"idle\"}"), "{scraped}");
    assert!(scraped.contains("tomori_db_pool_max_connections 2"), "{scraped}");

    pg.stop().await.unwrap();
    let down = ready_becomes(addr, 503).await;
    assert_eq!(json(&down)["not_ready"]["database"], "unreachable", "{}", down.body);

    let pg = EmbeddedPostgres::start(options).await.unwrap();
    let back = ready_becomes(addr, 200).await;
    assert_eq!(json(&back)["status"], "ready");

    app.close().await;
    owner.close().await;
    pg.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(root);
}
