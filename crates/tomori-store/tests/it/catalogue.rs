//! Invariants of the schema read from PostgreSQL's catalogue, so that a new table or function
//! that forgets one fails here instead of in production.

use sqlx::PgPool;
use tomori_store::Scope;
use tomori_testkit::TestDb;

/// Tables whose rows a turn reads through a cached view: each must move a revision when it
/// changes, or the cache serves stale settings silently.
const REVISIONED: &[&str] = &[
    "channel_overrides",
    "channel_personas",
    "custom_endpoints",
    "documents",
    "persona_lorebooks",
    "persona_models",
    "personal_memories",
    "personas",
    "provider_credentials",
    "quota_settings",
    "server_channels",
    "server_embedding_models",
    "server_memories",
    "server_models",
    "server_presets",
    "server_role_whitelist",
    "server_settings",
    "server_user_blacklist",
    "tool_triggers",
    "users",
];

/// Tables no cached view holds, and why.
const NOT_CACHED: &[(&str, &str)] = &[
    ("servers", "holds the server's revision itself"),
    ("cooldowns", "written by every turn, read live"),
    ("quota_counters", "counted live by the gate, fails closed"),
    ("reminders", "the scheduler's own queue"),
    ("key_checks", "read at startup and by keys commands"),
    ("audit_log", "append-only log, read by audit commands"),
    ("audit_heads", "the chains' heads"),
    ("managed_webhooks", "read at delivery, not part of a turn's plan"),
    ("mcp_servers", "read by the tool layer when a server is connected"),
    ("document_chunks", "follows document_generations instead of a revision"),
    ("document_generations", "its own generation counter for passages and vectors"),
    ("server_image_models", "read when an image is asked for, not by a turn's plan"),
    ("server_video_models", "read when a video is asked for, not by a turn's plan"),
    ("endpoint_workflows", "read when a picture is asked for, not by a turn's plan"),
    ("short_term_notes", "read at each answer; writing one must not reload the server's views"),
    ("persona_avatars", "served by the dashboard; turns read personas.avatar_url, which moves"),
];

async fn tables(owner: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
           AND c.relname <> '_sqlx_migrations'
         ORDER BY 1",
    )
    .fetch_all(owner)
    .await
    .unwrap()
}

#[tokio::test]
async fn every_table_has_row_level_security_and_the_app_owns_none() {
    let db = TestDb::new().await;
    let rows: Vec<(String, bool, String)> = sqlx::query_as(
        "SELECT c.relname::text, c.relrowsecurity, pg_get_userbyid(c.relowner)::text
         FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
           AND c.relname <> '_sqlx_migrations'",
    )
    .fetch_all(db.owner())
    .await
    .unwrap();
    assert!(rows.len() > 20, "the catalogue query sees the schema: {rows:?}");
    let unprotected: Vec<_> = rows.iter().filter(|(_, rls, _)| !rls).map(|r| &r.0).collect();
    assert!(unprotected.is_empty(), "tables without row-level security: {unprotected:?}");
    // An owner is exempt from its own table's policies (without FORCE).
    let owned: Vec<_> = rows.iter().filter(|(_, _, owner)| owner == "tomori_app").collect();
    assert!(owned.is_empty(), "tables the application role owns: {owned:?}");
}

#[tokio::test]
async fn every_table_a_turn_reads_moves_a_revision_and_every_table_is_classified() {
    let db = TestDb::new().await;
    let all = tables(db.owner()).await;
    let unclassified: Vec<_> = all
        .iter()
        .filter(|t| !REVISIONED.contains(&t.as_str()) && !NOT_CACHED.iter().any(|(n, _)| n == *t))
        .collect();
    assert!(
        unclassified.is_empty(),
        "new tables must be listed in REVISIONED (and get a revision trigger) or NOT_CACHED: {unclassified:?}"
    );
    let triggered: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT c.relname::text FROM pg_trigger t
         JOIN pg_class c ON c.oid = t.tgrelid
         JOIN pg_proc p ON p.oid = t.tgfoid
         WHERE NOT t.tgisinternal
           AND p.proname IN ('tomori_bump_revision', 'tomori_bump_own_revision')",
    )
    .fetch_all(db.owner())
    .await
    .unwrap();
    let missing: Vec<_> =
        REVISIONED.iter().filter(|t| !triggered.iter().any(|x| x == *t)).collect();
    assert!(missing.is_empty(), "cached tables without a revision trigger: {missing:?}");
    let stale: Vec<_> = REVISIONED
        .iter()
        .chain(NOT_CACHED.iter().map(|(n, _)| n))
        .filter(|t| !all.iter().any(|x| x == *t))
        .collect();
    assert!(stale.is_empty(), "classified tables that no longer exist: {stale:?}");
}

#[tokio::test]
async fn functions_with_the_owners_rights_search_pg_temp_last() {
    let db = TestDb::new().await;
    let rows: Vec<(String, Option<Vec<String>>)> = sqlx::query_as(
        "SELECT p.proname::text, p.proconfig::text[] FROM pg_proc p
         WHERE p.prosecdef AND p.pronamespace = 'public'::regnamespace",
    )
    .fetch_all(db.owner())
    .await
    .unwrap();
    assert!(rows.len() >= 5, "{rows:?}");
    for (name, config) in rows {
        let path = config
            .unwrap_or_default()
            .into_iter()
            .find_map(|c| c.strip_prefix("search_path=").map(str::to_owned));
        assert_eq!(path.as_deref(), Some("pg_catalog, public, pg_temp"), "{name}");
    }
}

#[tokio::test]
async fn the_application_pool_logs_in_as_tomori_app_and_cannot_reset_to_the_owner() {
    let db = TestDb::new().await;
    let owner: String =
        sqlx::query_scalar("SELECT current_user::text").fetch_one(db.owner()).await.unwrap();
    let store = db.store().await;
    let server = store.resolve_guild(crate::snowflake(5)).await.unwrap();
    let mut tx = store.begin(Scope::server(server)).await.unwrap();
    sqlx::query("RESET ROLE").execute(tx.conn()).await.unwrap();
    let (session, current): (String, String) =
        sqlx::query_as("SELECT session_user::text, current_user::text")
            .fetch_one(tx.conn())
            .await
            .unwrap();
    assert_eq!((session.as_str(), current.as_str()), ("tomori_app", "tomori_app"));
    // The owner's name is quoted by the server (format's %I), so no SQL is built here.
    let escalate = sqlx::raw_sql(
        "DO $$ BEGIN EXECUTE format('SET ROLE %I',
             (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'personas'));
         END $$",
    )
    .execute(tx.conn())
    .await;
    let refused = escalate.expect_err("tomori_app must not be able to become the owner");
    assert!(refused.to_string().contains("permission denied"), "refused as {owner}? {refused}");
}
