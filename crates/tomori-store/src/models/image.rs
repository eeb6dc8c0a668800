//! The model that draws for a server (`/model image`): read when an image is asked for, so a
//! change applies to the next image without a revision.

use serde::Serialize;

use super::{check_model, check_provider};
use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::{Scope, Store, StoreError};

/// A known provider's or a custom endpoint's image model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageModel {
    /// A known provider (`openai`, `openrouter`, `google`) or `custom:<label>`.
    pub provider: String,
    /// The provider's image model id.
    pub model: String,
}

/// The server's image model, if it chose one.
///
/// # Errors
/// An unavailable database.
pub async fn get_image(store: &Store, scope: Scope) -> Result<Option<ImageModel>, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let row = sqlx::query_as!(
        ImageModel,
        "SELECT provider, model FROM server_image_models WHERE server_id = $1",
        server
    )
    .fetch_optional(tx.conn())
    .await
    .about("image model")?;
    tx.commit().await?;
    Ok(row)
}

/// Sets the server's image model (`None` forgets it), with an audit row of before and after.
/// False when there was nothing to forget.
///
/// # Errors
/// An invalid provider or model, or an unavailable database.
pub async fn set_image(
    store: &Store,
    scope: Scope,
    actor: Actor,
    model: Option<&ImageModel>,
) -> Result<bool, StoreError> {
    if let Some(model) = model {
        check_provider(&model.provider)?;
        check_model(&model.model)?;
    }
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let before = sqlx::query_as!(
        ImageModel,
        "DELETE FROM server_image_models WHERE server_id = $1 RETURNING provider, model",
        server
    )
    .fetch_optional(tx.conn())
    .await
    .about("image model")?;
    if let Some(model) = model {
        sqlx::query!(
            "INSERT INTO server_image_models (server_id, provider, model) VALUES ($1, $2, $3)",
            server,
            model.provider,
            model.model
        )
        .execute(tx.conn())
        .await
        .about("image model")?;
    } else if before.is_none() {
        tx.commit().await?;
        return Ok(false);
    }
    let value = |m: &ImageModel| serde_json::to_value(m).expect("model serialises");
    let (before, after) = (before.as_ref().map(value), model.map(value));
    audit::record(
        &mut tx,
        Change {
            actor,
            action: if model.is_some() { "model.image.set" } else { "model.image.clear" },
            target: "model:image".to_owned(),
            before: before.as_ref(),
            after: after.as_ref(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// What one generation made, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Generated<'a> {
    /// `image` or `video`.
    pub kind: &'a str,
    /// The description the provider was given.
    pub prompt: &'a str,
    /// Who drew it (`provider · model`).
    pub provider: &'a str,
    /// The delivered file's size.
    pub bytes: usize,
}

/// Records a generation in the server's audit log: who asked, what for and who drew it.
///
/// # Errors
/// An unavailable database.
pub async fn record_generation(
    store: &Store,
    scope: Scope,
    actor: Actor,
    generated: &Generated<'_>,
) -> Result<(), StoreError> {
    let mut tx = store.begin(scope).await?;
    let after = serde_json::to_value(generated).expect("a generation serialises");
    audit::record(
        &mut tx,
        Change {
            actor,
            action: if generated.kind == "video" { "video.generate" } else { "image.generate" },
            target: format!("generation:{}", generated.kind),
            before: None,
            after: Some(&after),
        },
    )
    .await?;
    tx.commit().await
}
