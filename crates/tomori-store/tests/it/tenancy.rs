use tomori_store::personas::{self, NewPersona};
use tomori_store::{Scope, memories};
use tomori_testkit::TestDb;

use crate::{admin, snowflake};

#[tokio::test]
async fn a_query_without_tenant_filter_sees_only_its_own_tenant() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let guild_a = store.resolve_guild(snowflake(1001)).await.unwrap();
    let guild_b = store.resolve_guild(snowflake(1002)).await.unwrap();
    for (guild, name) in [(guild_a, "Alpha"), (guild_b, "Beta")] {
        let persona = personas::create(
            &store,
            Scope::server(guild),
            admin(),
            NewPersona { nickname: name.to_owned(), ..NewPersona::default() },
        )
        .await
        .unwrap();
        memories::add_server(
            &store,
            Scope::server(guild),
            admin(),
            persona.lineage,
            None,
            &format!("{name} secret"),
        )
        .await
        .unwrap();
    }

    // The queries below "forget" their tenant filter on purpose.
    let mut tx = store.begin(Scope::server(guild_a)).await.unwrap();
    let names: Vec<String> = sqlx::query_scalar("SELECT nickname FROM personas ORDER BY 1")
        .fetch_all(tx.conn())
        .await
        .unwrap();
    assert_eq!(names, ["Alpha"]);
    let contents: Vec<String> = sqlx::query_scalar("SELECT content FROM server_memories")
        .fetch_all(tx.conn())
        .await
        .unwrap();
    assert_eq!(contents, ["Alpha secret"]);
    let servers: i64 =
        sqlx::query_scalar("SELECT count(*) FROM servers").fetch_one(tx.conn()).await.unwrap();
    assert_eq!(servers, 1);
    let audit_rows: Vec<String> = sqlx::query_scalar("SELECT chain FROM audit_log GROUP BY chain")
        .fetch_all(tx.conn())
        .await
        .unwrap();
    assert_eq!(audit_rows, [format!("server:{guild_a}")]);
    // Writes are confined too: an update of every row touches only this tenant's.
    let updated =
        sqlx::query("UPDATE personas SET prompt = 'hijacked'").execute(tx.conn()).await.unwrap();
    assert_eq!(updated.rows_affected(), 1);
    // And a row for another tenant cannot be inserted.
    let foreign = sqlx::query(
        "INSERT INTO personas (server_id, is_main, nickname) VALUES ($1, false, 'Mole')",
    )
    .bind(guild_b.get())
    .execute(tx.conn())
    .await;
    assert!(foreign.is_err(), "row-level security must refuse a row of another tenant");
    drop(tx);

    // Without any scope, nothing is visible at all.
    let mut tx =
        store.begin(Scope::user(store.resolve_user(snowflake(7)).await.unwrap())).await.unwrap();
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM personas").fetch_one(tx.conn()).await.unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn the_application_role_cannot_bypass_row_level_security() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let mut tx =
        store.begin(Scope::server(store.resolve_guild(snowflake(5)).await.unwrap())).await.unwrap();
    let (role, bypass): (String, bool) = sqlx::query_as(
        "SELECT current_user::text, rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(tx.conn())
    .await
    .unwrap();
    assert_eq!(role, "tomori_app");
    assert!(!bypass);
    // The audit log is append-only for the application.
    let edit = sqlx::query("UPDATE audit_log SET action = 'x'").execute(tx.conn()).await;
    assert!(edit.is_err(), "the application must not be able to edit the audit log");
}

#[tokio::test]
async fn personal_memories_are_confined_to_their_user() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let alice = store.resolve_user(snowflake(11)).await.unwrap();
    let bob = store.resolve_user(snowflake(12)).await.unwrap();
    let every = tomori_core::id::LineageId::EVERY_PERSONA;
    memories::add_personal(&store, Scope::user(alice), admin(), every, "alice likes tea")
        .await
        .unwrap();
    memories::add_personal(&store, Scope::user(bob), admin(), every, "bob likes coffee")
        .await
        .unwrap();
    let mut tx = store.begin(Scope::user(bob)).await.unwrap();
    let seen: Vec<String> = sqlx::query_scalar("SELECT content FROM personal_memories")
        .fetch_all(tx.conn())
        .await
        .unwrap();
    assert_eq!(seen, ["bob likes coffee"]);
    drop(tx);
    let listed = memories::list_personal(&store, Scope::user(alice), every).await.unwrap();
    assert_eq!(listed.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["alice likes tea"]);
}
