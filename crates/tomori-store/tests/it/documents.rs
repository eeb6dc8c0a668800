//! Server documents: all-or-nothing storage under the limits, tenant isolation, the family rule,
//! and the exact search with its in-process cache (invalidated here, revalidated across
//! processes by the generation).

use tomori_core::document::{MAX_CHUNKS_PER_DOCUMENT, MAX_DOCUMENTS_PER_SERVER};
use tomori_store::documents::{self, Family, NewChunk, NewDocument};
use tomori_store::models::{self, EmbeddingModel};
use tomori_store::{Scope, Store, StoreError};
use tomori_testkit::{TestDb, audit_actions};

use crate::{admin, snowflake};

fn family(model: &str, dimension: u32) -> Family {
    Family { provider: "openai".to_owned(), model: model.to_owned(), dimension }
}

/// A 3-dimensional vector pointing mostly along axis `axis`.
fn axis(axis: usize) -> Vec<f32> {
    let mut v = vec![0.1_f32; 3];
    v[axis] = 1.0;
    v
}

fn doc(name: &str, chunks: Vec<(&str, Vec<f32>)>) -> NewDocument {
    let dimension = u32::try_from(chunks.first().map_or(3, |c| c.1.len())).unwrap();
    NewDocument {
        name: name.to_owned(),
        chars: chunks.iter().map(|c| c.0.chars().count()).sum::<usize>().max(1),
        family: family("text-embedding-3-small", dimension),
        chunks: chunks
            .into_iter()
            .map(|(content, embedding)| NewChunk { content: content.to_owned(), embedding })
            .collect(),
    }
}

/// `n` chunks of text along axis 0.
fn chunks(n: usize) -> Vec<(&'static str, Vec<f32>)> {
    (0..n).map(|_| ("some text", axis(0))).collect()
}

async fn server(store: &Store, guild: u64) -> Scope {
    Scope::server(store.resolve_guild(snowflake(guild)).await.unwrap())
}

async fn counts(db: &TestDb) -> (i64, i64) {
    let documents: i64 =
        sqlx::query_scalar("SELECT count(*) FROM documents").fetch_one(db.owner()).await.unwrap();
    let chunks: i64 = sqlx::query_scalar("SELECT count(*) FROM document_chunks")
        .fetch_one(db.owner())
        .await
        .unwrap();
    (documents, chunks)
}

#[tokio::test]
async fn a_document_is_stored_listed_searched_and_removed_with_audit_rows() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let scope = server(&store, 1).await;
    let added = documents::add(
        &store,
        scope,
        admin(),
        Some(snowflake(42)),
        &doc("Rules.md", vec![("the wifi password", axis(0)), ("opening hours", axis(1))]),
    )
    .await
    .unwrap();
    assert_eq!((added.name.as_str(), added.chunks, added.family.dimension), ("Rules.md", 2, 3));
    let listed = documents::list(&store, scope).await.unwrap();
    assert_eq!(listed, std::slice::from_ref(&added));

    let found = documents::search(&store, scope, &added.family, &axis(1), 6, 0.5).await.unwrap();
    let texts: Vec<(&str, u32)> = found.iter().map(|p| (p.content.as_str(), p.ordinal)).collect();
    assert_eq!(texts, [("opening hours", 1)], "the orthogonal chunk is under the threshold");
    assert_eq!(found[0].document, "Rules.md");
    assert!(found[0].score > 0.9);

    // Names are unique per server, whatever their case.
    let again = documents::add(&store, scope, admin(), None, &doc("rules.MD", chunks(1))).await;
    assert!(matches!(again, Err(StoreError::Conflict("document"))), "{again:?}");

    let removed = documents::remove(&store, scope, admin(), "RULES.md").await.unwrap();
    assert_eq!(removed.id, added.id);
    assert_eq!(counts(&db).await, (0, 0), "chunks go with their document");
    let missing = documents::remove(&store, scope, admin(), "rules.md").await;
    assert!(matches!(missing, Err(StoreError::NotFound("document"))));
    assert_eq!(audit_actions(&db).await, ["document.add", "document.remove"]);
}

#[tokio::test]
async fn the_limits_hold_and_a_refused_document_leaves_nothing() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let scope = server(&store, 1).await;
    // Per document.
    let too_long = doc("long", chunks(MAX_CHUNKS_PER_DOCUMENT + 1));
    let refused = documents::add(&store, scope, admin(), None, &too_long).await;
    assert!(matches!(refused, Err(StoreError::LimitReached { limit: 150, .. })), "{refused:?}");
    // Bad chunks and vectors.
    let bad: Vec<NewDocument> = vec![
        doc("nan", vec![("a", vec![f32::NAN, 0.0, 0.0])]),
        doc("zero", vec![("a", vec![0.0, 0.0, 0.0])]),
        doc("mixed", vec![("a", axis(0)), ("b", vec![1.0, 0.0])]),
        doc("empty", vec![("   ", axis(0))]),
        doc("huge", vec![(&*"x".repeat(1_001), axis(0))]),
        doc("", chunks(1)),
        doc("none", Vec::new()),
    ];
    for document in &bad {
        let refused = documents::add(&store, scope, admin(), None, document).await;
        assert!(
            matches!(refused, Err(StoreError::Invalid { .. })),
            "{}: {refused:?}",
            document.name
        );
    }
    // A failure inside the transaction, after the document row was written: the database refuses
    // the NUL in the second chunk, and the document goes too.
    let nul = doc("nul", vec![("fine", axis(0)), ("not\0fine", axis(0))]);
    assert!(documents::add(&store, scope, admin(), None, &nul).await.is_err());
    assert_eq!(counts(&db).await, (0, 0));
    assert!(audit_actions(&db).await.is_empty());

    // Per server: 1,000 chunks (here 6 documents of 150, then 100 more, then one too many).
    for n in 0..6 {
        let full = doc(&format!("full {n}"), chunks(MAX_CHUNKS_PER_DOCUMENT));
        documents::add(&store, scope, admin(), None, &full).await.unwrap();
    }
    documents::add(&store, scope, admin(), None, &doc("last", chunks(100))).await.unwrap();
    let over = documents::add(&store, scope, admin(), None, &doc("over", chunks(1))).await;
    assert!(matches!(over, Err(StoreError::LimitReached { limit: 1_000, .. })), "{over:?}");
    assert_eq!(counts(&db).await, (7, 1_000));
    // And 20 documents.
    documents::remove(&store, scope, admin(), "last").await.unwrap();
    for n in 6..MAX_DOCUMENTS_PER_SERVER {
        documents::add(&store, scope, admin(), None, &doc(&format!("small {n}"), chunks(1)))
            .await
            .unwrap();
    }
    let over = documents::add(&store, scope, admin(), None, &doc("twenty-one", chunks(1))).await;
    assert!(matches!(over, Err(StoreError::LimitReached { limit: 20, .. })), "{over:?}");
    assert_eq!(counts(&db).await, (20, 914));
}

#[tokio::test]
async fn concurrent_additions_cannot_pass_the_limit_together() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let scope = server(&store, 1).await;
    for n in 0..6 {
        let full = doc(&format!("full {n}"), chunks(MAX_CHUNKS_PER_DOCUMENT));
        documents::add(&store, scope, admin(), None, &full).await.unwrap();
    }
    // 900 stored; each of these fits alone, both do not.
    let (a, b) = (doc("a", chunks(60)), doc("b", chunks(60)));
    let (first, second) = tokio::join!(
        documents::add(&store, scope, admin(), None, &a),
        documents::add(&store, scope, admin(), None, &b),
    );
    assert!(first.is_ok() != second.is_ok(), "exactly one fits: {first:?} {second:?}");
    assert_eq!(counts(&db).await, (7, 960));
}

#[tokio::test]
async fn documents_are_confined_to_their_server() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let a = server(&store, 1).await;
    let b = server(&store, 2).await;
    let added =
        documents::add(&store, a, admin(), None, &doc("secret.txt", chunks(2))).await.unwrap();
    assert!(documents::list(&store, b).await.unwrap().is_empty());
    assert!(
        documents::search(&store, b, &added.family, &axis(0), 6, 0.0).await.unwrap().is_empty()
    );
    let gone = documents::remove(&store, b, admin(), "secret.txt").await;
    assert!(matches!(gone, Err(StoreError::NotFound(_))));
    // The same name is free in another server.
    documents::add(&store, b, admin(), None, &doc("secret.txt", chunks(1))).await.unwrap();
    // Row-level security, with the tenant filter "forgotten".
    let mut tx = store.begin(b).await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM document_chunks")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(seen, 1);
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM documents").fetch_all(tx.conn()).await.unwrap();
    assert_eq!(names, ["secret.txt"]);
    let foreign = sqlx::query("INSERT INTO document_generations (server_id) VALUES ($1)")
        .bind(a.server_id().unwrap().get())
        .execute(tx.conn())
        .await;
    assert!(foreign.is_err(), "row-level security refuses another server's row");
}

#[tokio::test]
async fn only_the_current_family_is_searched() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let scope = server(&store, 1).await;
    let old =
        NewDocument { family: family("old-model", 3), ..doc("old", vec![("old text", axis(0))]) };
    documents::add(&store, scope, admin(), None, &old).await.unwrap();
    let new = doc("new", vec![("new text", axis(0))]);
    documents::add(&store, scope, admin(), None, &new).await.unwrap();
    let wide = NewDocument {
        family: family("text-embedding-3-small", 4),
        ..doc("wide", vec![("wide text", vec![1.0, 0.0, 0.0, 0.0])])
    };
    documents::add(&store, scope, admin(), None, &wide).await.unwrap();
    let found = documents::search(&store, scope, &new.family, &axis(0), 6, 0.0).await.unwrap();
    assert_eq!(found.iter().map(|p| p.content.as_str()).collect::<Vec<_>>(), ["new text"]);
    // A query of another dimension finds nothing rather than failing.
    assert!(
        documents::search(&store, scope, &new.family, &[1.0, 0.0], 6, 0.0)
            .await
            .unwrap()
            .is_empty()
    );

    // Retrieval's first question: the model, and how many documents it made.
    assert_eq!(documents::retrieval_state(&store, scope).await.unwrap(), None);
    let model = EmbeddingModel { provider: "openai".to_owned(), model: "old-model".to_owned() };
    models::set_embedding(&store, scope, admin(), &model).await.unwrap();
    assert_eq!(documents::retrieval_state(&store, scope).await.unwrap(), Some((model, 1)));
    let current = EmbeddingModel {
        provider: "openai".to_owned(),
        model: "text-embedding-3-small".to_owned(),
    };
    models::set_embedding(&store, scope, admin(), &current).await.unwrap();
    assert_eq!(models::get_embedding(&store, scope).await.unwrap(), Some(current.clone()));
    assert_eq!(documents::retrieval_state(&store, scope).await.unwrap(), Some((current, 2)));
    assert!(models::clear_embedding(&store, scope, admin()).await.unwrap());
    assert!(!models::clear_embedding(&store, scope, admin()).await.unwrap());
    let bad = EmbeddingModel { provider: "Open AI".to_owned(), model: "m".to_owned() };
    assert!(models::set_embedding(&store, scope, admin(), &bad).await.is_err());
    let actions = audit_actions(&db).await;
    assert_eq!(
        actions[3..],
        ["model.embedding.set", "model.embedding.set", "model.embedding.clear"]
    );
}

#[tokio::test]
async fn the_vector_cache_follows_changes_here_and_in_other_processes() {
    let db = TestDb::new().await;
    let here = db.store().await;
    let there = db.store().await; // another process: its own cache, the same database
    let scope = server(&here, 1).await;
    let first = doc("first", vec![("about tea", axis(0))]);
    documents::add(&here, scope, admin(), None, &first).await.unwrap();
    let search = |store: &Store| {
        let store = store.clone();
        let family = first.family.clone();
        async move {
            documents::search(&store, scope, &family, &axis(0), 6, 0.5)
                .await
                .unwrap()
                .into_iter()
                .map(|p| p.content)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(search(&here).await, ["about tea"]);
    assert_eq!(documents::cache_stats(&here).servers, 1);
    // A change in this process drops the entry at once.
    documents::add(&here, scope, admin(), None, &doc("second", vec![("more tea", axis(0))]))
        .await
        .unwrap();
    assert_eq!(documents::cache_stats(&here).servers, 0);
    assert_eq!(search(&here).await, ["about tea", "more tea"]);
    // A change in another process is seen through the generation.
    documents::remove(&there, scope, admin(), "first").await.unwrap();
    assert_eq!(search(&here).await, ["more tea"]);
    documents::add(&there, scope, admin(), None, &doc("third", vec![("tea again", axis(0))]))
        .await
        .unwrap();
    assert_eq!(search(&here).await, ["more tea", "tea again"]);
}

#[tokio::test]
async fn the_vector_cache_stays_within_its_budget() {
    let db = TestDb::new().await;
    // Room for one server's 100 vectors of 3 dimensions (12 bytes + an 8-byte id each), not two.
    let store = db.store().await.with_vector_cache_bytes(3_000);
    let mut families = Vec::new();
    for guild in [1, 2] {
        let scope = server(&store, guild).await;
        let added = documents::add(&store, scope, admin(), None, &doc("d", chunks(100))).await;
        families.push((scope, added.unwrap().family));
    }
    for (scope, family) in &families {
        assert_eq!(
            documents::search(&store, *scope, family, &axis(0), 6, 0.5).await.unwrap().len(),
            6
        );
        let stats = documents::cache_stats(&store);
        assert_eq!((stats.servers, stats.bytes), (1, 2_000), "the older server was evicted");
    }
    // Vectors larger than the whole budget are searched but not kept.
    let tiny = db.store().await.with_vector_cache_bytes(100);
    let (scope, family) = &families[0];
    assert_eq!(documents::search(&tiny, *scope, family, &axis(0), 6, 0.5).await.unwrap().len(), 6);
    assert_eq!(documents::cache_stats(&tiny).servers, 0);
}
