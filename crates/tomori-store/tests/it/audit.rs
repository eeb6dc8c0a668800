use tomori_core::settings::Feature;
use tomori_store::audit::{self, Finding};
use tomori_store::personas::{self, NewPersona};
use tomori_store::{Scope, Store, settings};
use tomori_testkit::TestDb;

use crate::{admin, snowflake};

/// Five changes in one server's chain and one in another's.
async fn history(store: &Store) -> String {
    let guild = store.resolve_guild(snowflake(1)).await.unwrap();
    let scope = Scope::server(guild);
    personas::create(
        store,
        scope,
        admin(),
        NewPersona { nickname: "Tomori".into(), ..Default::default() },
    )
    .await
    .unwrap();
    for feature in
        [Feature::ImageGen, Feature::CrossChannel, Feature::ManageMessage, Feature::ThreadCreation]
    {
        settings::set_feature(store, scope, admin(), feature, true).await.unwrap();
    }
    let other = Scope::server(store.resolve_guild(snowflake(2)).await.unwrap());
    settings::set_feature(store, other, admin(), Feature::VideoGen, true).await.unwrap();
    format!("server:{guild}")
}

#[tokio::test]
async fn an_untouched_chain_verifies() {
    let db = TestDb::new().await;
    history(&db.store().await).await;
    let report = audit::verify(db.owner()).await.unwrap();
    assert_eq!((report.rows, report.chains), (6, 2));
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}

#[tokio::test]
async fn an_edited_row_is_found() {
    let db = TestDb::new().await;
    let chain = history(&db.store().await).await;
    sqlx::query("UPDATE audit_log SET actor = 'discord:1' WHERE chain = $1 AND seq = 3")
        .bind(&chain)
        .execute(db.owner())
        .await
        .unwrap();
    let report = audit::verify(db.owner()).await.unwrap();
    assert!(
        matches!(report.findings.as_slice(), [Finding::Edited { seq: 3, .. }]),
        "{:?}",
        report.findings
    );
}

#[tokio::test]
async fn a_deleted_row_is_found() {
    let db = TestDb::new().await;
    let chain = history(&db.store().await).await;
    sqlx::query("DELETE FROM audit_log WHERE chain = $1 AND seq = 2")
        .bind(&chain)
        .execute(db.owner())
        .await
        .unwrap();
    let report = audit::verify(db.owner()).await.unwrap();
    assert!(
        matches!(report.findings.as_slice(), [Finding::Deleted { from_seq: 2, to_seq: 2, .. }]),
        "{:?}",
        report.findings
    );

    // Deleting the newest rows is found through the chain's head.
    sqlx::query("DELETE FROM audit_log WHERE chain = $1 AND seq >= 4")
        .bind(&chain)
        .execute(db.owner())
        .await
        .unwrap();
    let report = audit::verify(db.owner()).await.unwrap();
    assert!(
        report
            .findings
            .iter()
            .any(|f| matches!(f, Finding::Deleted { from_seq: 4, to_seq: 5, .. })),
        "{:?}",
        report.findings
    );
}

#[tokio::test]
async fn an_inserted_row_is_found() {
    let db = TestDb::new().await;
    let chain = history(&db.store().await).await;
    sqlx::query(
        "INSERT INTO audit_log (chain, seq, actor, action, target, at, prev_hash, hash)
         SELECT chain, 6, 'discord:1', 'key.add', 'key:1', now(), hash, hash FROM audit_heads WHERE chain = $1",
    )
    .bind(&chain)
    .execute(db.owner())
    .await
    .unwrap();
    let report = audit::verify(db.owner()).await.unwrap();
    assert!(
        matches!(report.findings.as_slice(), [Finding::Inserted { seq: 6, .. }]),
        "{:?}",
        report.findings
    );
}

#[tokio::test]
async fn a_replaced_row_with_a_valid_hash_but_broken_link_is_found() {
    let db = TestDb::new().await;
    let chain = history(&db.store().await).await;
    // Rewire row 3 to claim an arbitrary predecessor: its own hash no longer matches.
    sqlx::query("UPDATE audit_log SET prev_hash = sha256('x') WHERE chain = $1 AND seq = 3")
        .bind(&chain)
        .execute(db.owner())
        .await
        .unwrap();
    let report = audit::verify(db.owner()).await.unwrap();
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
}
