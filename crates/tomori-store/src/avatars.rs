//! Persona avatars uploaded through the dashboard: the re-encoded image bytes, named by their
//! digest. Storing one points the persona's `avatar_url` at it in the same transaction, with an
//! audit row.

use sha2::{Digest as _, Sha256};
use tomori_core::id::PersonaId;

use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::{Scope, Store, StoreError};

/// The largest avatar stored, in bytes (the table checks it too).
pub const MAX_AVATAR_BYTES: usize = 1024 * 1024;

/// The image's digest as it appears in its URL.
pub fn digest(image: &[u8]) -> String {
    Sha256::digest(image).iter().map(|b| format!("{b:02x}")).collect()
}

/// Stores `image` (already re-encoded) as `persona`'s avatar and sets its `avatar_url` to
/// `url_for(digest)`. Returns the URL.
///
/// # Errors
/// An image over [`MAX_AVATAR_BYTES`] or empty, no such persona in the scope, or an
/// unavailable database; nothing changes then.
pub async fn put(
    store: &Store,
    scope: Scope,
    actor: Actor,
    persona: PersonaId,
    image: &[u8],
    url_for: impl FnOnce(&str) -> String,
) -> Result<String, StoreError> {
    let server = scope.require_server()?;
    if image.is_empty() || image.len() > MAX_AVATAR_BYTES {
        return Err(StoreError::Invalid {
            field: "avatar",
            reason: format!("the image must be 1 byte to {MAX_AVATAR_BYTES} bytes"),
        });
    }
    let digest = digest(image);
    let url = url_for(&digest);
    let mut tx = store.begin(scope).await?;
    let before = sqlx::query_scalar!(
        "SELECT avatar_url FROM personas WHERE id = $1 AND server_id = $2 FOR UPDATE",
        persona.get(),
        server.get()
    )
    .fetch_optional(tx.conn())
    .await
    .about("persona")?
    .ok_or(StoreError::NotFound("persona"))?;
    sqlx::query!(
        "INSERT INTO persona_avatars (persona_id, server_id, image, digest) VALUES ($1, $2, $3, $4)
         ON CONFLICT (persona_id) DO UPDATE
         SET image = EXCLUDED.image, digest = EXCLUDED.digest, updated_at = now()",
        persona.get(),
        server.get(),
        image,
        digest
    )
    .execute(tx.conn())
    .await
    .about("avatar")?;
    sqlx::query!(
        "UPDATE personas SET avatar_url = $3, updated_at = now() WHERE id = $1 AND server_id = $2",
        persona.get(),
        server.get(),
        url
    )
    .execute(tx.conn())
    .await
    .about("persona")?;
    let before_state = serde_json::json!({ "avatar_url": before });
    let after_state = serde_json::json!({ "avatar_url": url, "digest": digest });
    let change = Change {
        actor,
        action: "persona.avatar_upload",
        target: format!("persona:{persona}"),
        before: Some(&before_state),
        after: Some(&after_state),
    };
    audit::record(&mut tx, change).await?;
    tx.commit().await?;
    Ok(url)
}

/// The avatar image whose digest is `digest`, whichever tenant it belongs to: avatars are
/// public (Discord shows them to everyone), and an owner-rights function answers this one fact.
///
/// # Errors
/// An unavailable database.
pub async fn by_digest(store: &Store, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
    if digest.len() != 64
        || !digest.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Ok(None);
    }
    let image = sqlx::query_scalar!(r#"SELECT tomori_avatar($1) AS "image""#, digest)
        .fetch_one(&store.pool)
        .await
        .about("avatar")?;
    Ok(image)
}
