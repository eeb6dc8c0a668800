use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::Connection;
use tomori_store::embedded::{EmbeddedOptions, EmbeddedPostgres};

#[tokio::test]
async fn the_embedded_cluster_starts_on_a_socket_is_reused_and_stops() {
    tomori_testkit::init();
    let root = std::env::temp_dir().join(format!("tomori-embedded-test-{}", std::process::id()));
    let options = EmbeddedOptions { root: root.clone(), bin_dir: None, throwaway: true };
    let pg = EmbeddedPostgres::start(options.clone()).await.unwrap();
    assert!(pg.started_here());
    let url = pg.database_url("postgres");
    assert!(url.expose_secret().contains("host=/"), "unix socket only");
    let mut conn = sqlx::PgConnection::connect(url.expose_secret()).await.unwrap();
    let listen: String =
        sqlx::query_scalar("SHOW listen_addresses").fetch_one(&mut conn).await.unwrap();
    assert_eq!(listen, "", "the embedded server must not listen on TCP");
    conn.close().await.unwrap();

    // A second start finds it running and leaves it to its owner.
    let second = EmbeddedPostgres::start(options).await.unwrap();
    assert!(!second.started_here());
    second.stop().await.unwrap();
    assert!(sqlx::PgConnection::connect(url.expose_secret()).await.is_ok());

    pg.stop().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(sqlx::PgConnection::connect(url.expose_secret()).await.is_err());
    std::fs::remove_dir_all(&root).ok();
}
