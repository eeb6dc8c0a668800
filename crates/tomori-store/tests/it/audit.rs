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
        "INSERT INTO audit_log (chain, server_id, seq, actor, action, target, at, prev_hash, hash)
         SELECT chain, server_id, 6, 'discord:1', 'key.add', 'key:1', now(), hash, hash
         FROM audit_heads WHERE chain = $1",
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

/// The row hash as the format defines it, computed here independently of the store's code.
fn row_hash(row: &sqlx::postgres::PgRow, chain: &str, prev_hash: &[u8]) -> Vec<u8> {
    use sha2::{Digest as _, Sha256};
    use sqlx::Row as _;
    let mut hasher = Sha256::new();
    hasher.update(b"tomori/audit/1");
    hasher.update(prev_hash);
    for field in [chain, row.get("actor"), row.get("action"), row.get("target")] {
        hasher.update(u64::try_from(field.len()).unwrap().to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hasher.update(row.get::<i64, _>("seq").to_be_bytes());
    for digest in [row.get::<Option<Vec<u8>>, _>("before_digest"), row.get("after_digest")] {
        match digest {
            Some(bytes) => {
                hasher.update([1]);
                hasher.update(bytes);
            }
            None => hasher.update([0]),
        }
    }
    let at: chrono::DateTime<chrono::Utc> = row.get("at");
    hasher.update(at.timestamp_micros().to_be_bytes());
    hasher.finalize().to_vec()
}

#[tokio::test]
async fn a_replaced_row_with_a_valid_hash_but_broken_link_is_found() {
    let db = TestDb::new().await;
    let chain = history(&db.store().await).await;
    // Rewire row 3 to claim another predecessor and give it the hash that matches: the row is
    // self-consistent, only its link to row 2 is broken.
    let row = sqlx::query("SELECT * FROM audit_log WHERE chain = $1 AND seq = 3")
        .bind(&chain)
        .fetch_one(db.owner())
        .await
        .unwrap();
    let forged_prev = vec![7_u8; 32];
    let hash = row_hash(&row, &chain, &forged_prev);
    sqlx::query("UPDATE audit_log SET prev_hash = $2, hash = $3 WHERE chain = $1 AND seq = 3")
        .bind(&chain)
        .bind(&forged_prev)
        .bind(&hash)
        .execute(db.owner())
        .await
        .unwrap();
    let report = audit::verify(db.owner()).await.unwrap();
    // Row 3 no longer links to row 2, and row 4 no longer links to row 3.
    assert!(
        matches!(
            report.findings.as_slice(),
            [Finding::Inserted { seq: 3, .. }, Finding::Inserted { seq: 4, .. }]
        ),
        "{:?}",
        report.findings
    );
}

#[tokio::test]
async fn a_tampered_head_is_found_and_every_head_is_reported() {
    let db = TestDb::new().await;
    let chain = history(&db.store().await).await;
    let clean = audit::verify(db.owner()).await.unwrap();
    assert_eq!(clean.heads.len(), 2);
    let head = clean.heads.iter().find(|h| h.chain == chain).unwrap();
    assert_eq!((head.seq, head.hash.len()), (5, 64));
    // The owner can switch the trigger off; verify still notices.
    sqlx::query("ALTER TABLE audit_heads DISABLE TRIGGER forward")
        .execute(db.owner())
        .await
        .unwrap();
    sqlx::query("UPDATE audit_heads SET hash = sha256('x') WHERE chain = $1")
        .bind(&chain)
        .execute(db.owner())
        .await
        .unwrap();
    let report = audit::verify(db.owner()).await.unwrap();
    assert_eq!(report.findings, [Finding::HeadMismatch { chain: chain.clone() }]);
}

#[tokio::test]
async fn a_tenant_can_neither_write_another_tenants_chain_nor_rewind_its_own_head() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let chain = history(&store).await;
    let other = store.resolve_guild(snowflake(2)).await.unwrap();
    let mut tx = store.begin(Scope::server(other)).await.unwrap();
    // A row under its own tenant id but the other chain's name.
    let forged = sqlx::query(
        "INSERT INTO audit_log (chain, server_id, seq, actor, action, target, at, prev_hash, hash)
         VALUES ($1, $2, 99, 'discord:1', 'key.add', 'key:1', now(), '\\x00', '\\x00')",
    )
    .bind(&chain)
    .bind(other.get())
    .execute(tx.conn())
    .await;
    assert!(forged.is_err(), "a chain's name is its tenant's");
    drop(tx);
    // Its own head moved back, or forward to a row that does not exist.
    let own = format!("server:{other}");
    for (seq, why) in [(0_i64, "back"), (2, "to nothing")] {
        let mut tx = store.begin(Scope::server(other)).await.unwrap();
        let moved = sqlx::query("UPDATE audit_heads SET seq = $2 WHERE chain = $1")
            .bind(&own)
            .bind(seq)
            .execute(tx.conn())
            .await;
        assert!(moved.is_err(), "a head may not move {why}");
    }
    let report = audit::verify(db.owner()).await.unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}
