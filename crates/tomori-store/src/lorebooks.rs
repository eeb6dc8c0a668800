//! Personas' lorebooks (`/persona lorebook`, card import): one V2 `character_book` JSON per
//! persona, checked and normalised by `tomori_core::lorebook` before it reaches the store. A
//! change moves the server's revision (a trigger), so the next turn reads it.

use serde_json::{Value, json};
use tomori_core::id::PersonaId;

use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::{Scope, Store, StoreError};

/// The largest stored book, in bytes of JSON (the table checks it too).
pub const MAX_BOOK_BYTES: usize = 4 * 1024 * 1024;

/// Whether `book` may be stored (its size; its content was checked by `tomori_core::lorebook`).
///
/// # Errors
/// A book over [`MAX_BOOK_BYTES`].
pub fn check(book: &Value) -> Result<(), StoreError> {
    let size = book.to_string().len();
    if size > MAX_BOOK_BYTES {
        return Err(StoreError::Invalid {
            field: "lorebook",
            reason: format!("{size} bytes; at most {MAX_BOOK_BYTES}"),
        });
    }
    Ok(())
}

/// Every persona's lorebook of the server.
///
/// # Errors
/// An unavailable database.
pub async fn list(store: &Store, scope: Scope) -> Result<Vec<(PersonaId, Value)>, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let rows = sqlx::query!(
        "SELECT persona_id, book FROM persona_lorebooks WHERE server_id = $1 ORDER BY persona_id",
        server
    )
    .fetch_all(tx.conn())
    .await
    .about("lorebooks")?;
    tx.commit().await?;
    Ok(rows.into_iter().map(|r| (PersonaId::from_db(r.persona_id), r.book)).collect())
}

/// One persona's lorebook.
///
/// # Errors
/// An unavailable database.
pub async fn get(
    store: &Store,
    scope: Scope,
    persona: PersonaId,
) -> Result<Option<Value>, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let book = sqlx::query_scalar!(
        "SELECT book FROM persona_lorebooks WHERE server_id = $1 AND persona_id = $2",
        server,
        persona.get()
    )
    .fetch_optional(tx.conn())
    .await
    .about("lorebook")?;
    tx.commit().await?;
    Ok(book)
}

/// Replaces the persona's lorebook (`None` removes it), with an audit row of how many entries
/// it had and has. False when there was nothing to remove.
///
/// # Errors
/// A book over [`MAX_BOOK_BYTES`], a persona of another server, or an unavailable database.
pub async fn set(
    store: &Store,
    scope: Scope,
    actor: Actor,
    persona: PersonaId,
    book: Option<&Value>,
) -> Result<bool, StoreError> {
    if let Some(book) = book {
        check(book)?;
    }
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let before = sqlx::query_scalar!(
        "DELETE FROM persona_lorebooks WHERE server_id = $1 AND persona_id = $2 RETURNING book",
        server,
        persona.get()
    )
    .fetch_optional(tx.conn())
    .await
    .about("lorebook")?;
    if let Some(book) = book {
        sqlx::query!(
            "INSERT INTO persona_lorebooks (persona_id, server_id, book) VALUES ($1, $2, $3)",
            persona.get(),
            server,
            book
        )
        .execute(tx.conn())
        .await
        .about("lorebook")?;
    } else if before.is_none() {
        tx.commit().await?;
        return Ok(false);
    }
    let entries = |b: &Value| json!({ "entries": b["entries"].as_array().map_or(0, Vec::len) });
    let (before, after) = (before.as_ref().map(entries), book.map(entries));
    audit::record(
        &mut tx,
        Change {
            actor,
            action: if book.is_some() { "persona.lorebook.set" } else { "persona.lorebook.clear" },
            target: format!("persona:{}", persona.get()),
            before: before.as_ref(),
            after: after.as_ref(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
