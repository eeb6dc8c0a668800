//! A guild's MCP servers: add, list, toggle and remove with audit rows; the limit, names and
//! URLs refused without a change; tokens sealed to their row's tenant and rotated with the ring;
//! other guilds see nothing.

use secrecy::{ExposeSecret, SecretString};
use tomori_store::mcp::{self, MAX_SERVERS, McpServer};
use tomori_store::{Scope, StoreError, keys};
use tomori_testkit::{TestDb, audit_actions};

use crate::{admin, snowflake};

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

#[tokio::test]
async fn servers_are_added_listed_toggled_and_removed_with_audit_rows() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let scope = Scope::server(store.resolve_guild(snowflake(1)).await.unwrap());
    let token = secret("tok-123");
    let search = mcp::add(&store, scope, admin(), "search", "https://mcp.example/s", Some(&token))
        .await
        .unwrap();
    assert_eq!(
        search,
        McpServer {
            id: search.id,
            name: "search".into(),
            url: "https://mcp.example/s".into(),
            enabled: true,
            has_token: true
        }
    );
    // A blank token is no token.
    let files =
        mcp::add(&store, scope, admin(), "files", "https://mcp.example/f", Some(&secret("  ")))
            .await
            .unwrap();
    assert!(!files.has_token);
    let names = |list: Vec<McpServer>| list.into_iter().map(|s| s.name).collect::<Vec<_>>();
    assert_eq!(names(mcp::list(&store, scope).await.unwrap()), ["files", "search"]);

    let opened = mcp::enabled(&store, scope).await.unwrap();
    assert_eq!(opened.len(), 2);
    assert!(opened[0].token.is_none());
    assert_eq!(
        opened[1].token.as_ref().map(|t| t.expose_secret().to_owned()),
        Some("tok-123".into())
    );

    let off = mcp::set_enabled(&store, scope, admin(), "search", false).await.unwrap();
    assert!(!off.enabled);
    assert_eq!(
        mcp::enabled(&store, scope).await.unwrap().into_iter().map(|e| e.name).collect::<Vec<_>>(),
        ["files"]
    );
    let removed = mcp::remove(&store, scope, admin(), "files").await.unwrap();
    assert_eq!(removed.id, files.id);
    assert_eq!(names(mcp::list(&store, scope).await.unwrap()), ["search"]);
    assert_eq!(audit_actions(&db).await, ["mcp.add", "mcp.add", "mcp.toggle", "mcp.remove"]);

    // Security: MCP tokens leaking from a DB dump. The column holds ciphertext only.
    let raw: Vec<u8> = sqlx::query_scalar("SELECT auth_token FROM mcp_servers WHERE id = $1")
        .bind(search.id)
        .fetch_one(db.owner())
        .await
        .unwrap();
    assert!(!raw.windows(7).any(|w| w == b"tok-123"));
}

#[tokio::test]
async fn bad_input_and_the_limit_change_nothing() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let scope = Scope::server(store.resolve_guild(snowflake(1)).await.unwrap());
    let long_url = format!("https://mcp.example/{}", "a".repeat(2_100));
    let long_token = secret(&"t".repeat(5_000));
    let cases: Vec<(&str, &str, Option<&SecretString>)> = vec![
        ("", "https://mcp.example/", None),
        ("Upper", "https://mcp.example/", None),
        ("with space", "https://mcp.example/", None),
        ("a-name-that-is-far-too-long-for-it", "https://mcp.example/", None),
        ("ok", "", None),
        ("ok", &long_url, None),
        ("ok", "https://mcp.example/", Some(&long_token)),
    ];
    for (name, url, token) in cases {
        let err = mcp::add(&store, scope, admin(), name, url, token).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{name:?} {url:?}: {err:?}");
    }
    for n in 0..MAX_SERVERS {
        mcp::add(&store, scope, admin(), &format!("s{n}"), "https://mcp.example/", None)
            .await
            .unwrap();
    }
    let dup = mcp::add(&store, scope, admin(), "s0", "https://other.example/", None).await;
    assert!(
        matches!(dup, Err(StoreError::LimitReached { what: "MCP servers", limit: 5 })),
        "{dup:?}"
    );
    mcp::remove(&store, scope, admin(), "s4").await.unwrap();
    let dup = mcp::add(&store, scope, admin(), "s0", "https://other.example/", None).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let missing = mcp::remove(&store, scope, admin(), "nope").await;
    assert!(matches!(missing, Err(StoreError::NotFound("MCP server"))), "{missing:?}");
    let missing = mcp::set_enabled(&store, scope, admin(), "nope", true).await;
    assert!(matches!(missing, Err(StoreError::NotFound("MCP server"))), "{missing:?}");
    assert_eq!(mcp::list(&store, scope).await.unwrap().len(), 4);
    assert_eq!(audit_actions(&db).await.len(), 6, "five adds and one remove, nothing else");
}

#[tokio::test]
async fn other_guilds_see_nothing_and_a_moved_token_does_not_open() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let a = store.resolve_guild(snowflake(1)).await.unwrap();
    let b = store.resolve_guild(snowflake(2)).await.unwrap();
    mcp::add(
        &store,
        Scope::server(a),
        admin(),
        "shared",
        "https://a.example/",
        Some(&secret("tok-a")),
    )
    .await
    .unwrap();
    // Security: cross-tenant leakage.
    assert!(mcp::list(&store, Scope::server(b)).await.unwrap().is_empty());
    assert!(mcp::enabled(&store, Scope::server(b)).await.unwrap().is_empty());
    let err = mcp::remove(&store, Scope::server(b), admin(), "shared").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    // B may use the same name; A's token copied onto B's row does not open there.
    mcp::add(
        &store,
        Scope::server(b),
        admin(),
        "shared",
        "https://b.example/",
        Some(&secret("tok-b")),
    )
    .await
    .unwrap();
    sqlx::query(
        "UPDATE mcp_servers SET auth_token = (SELECT auth_token FROM mcp_servers WHERE server_id = $1)
         WHERE server_id = $2",
    )
    .bind(a.get())
    .bind(b.get())
    .execute(db.owner())
    .await
    .unwrap();
    let err = mcp::enabled(&store, Scope::server(b)).await.unwrap_err();
    assert!(matches!(err, StoreError::Secret(_)), "{err:?}");
    let opened = mcp::enabled(&store, Scope::server(a)).await.unwrap();
    assert_eq!(
        opened[0].token.as_ref().map(|t| t.expose_secret().to_owned()),
        Some("tok-a".into())
    );
}

#[tokio::test]
async fn tokens_are_rotated_with_the_key_ring() {
    let db = TestDb::new().await;
    let old = db.store().await;
    let scope = Scope::server(old.resolve_guild(snowflake(1)).await.unwrap());
    mcp::add(&old, scope, admin(), "search", "https://mcp.example/", Some(&secret("tok")))
        .await
        .unwrap();
    let ring = TestDb::key_ring(&[1, 2], None);
    assert_eq!(keys::rotate(db.owner(), &ring, false).await.unwrap().resealed, 1);
    let new = db.store_with(TestDb::key_ring(&[2], None), Default::default()).await;
    let opened = mcp::enabled(&new, scope).await.unwrap();
    assert_eq!(opened[0].token.as_ref().map(|t| t.expose_secret().to_owned()), Some("tok".into()));
}
