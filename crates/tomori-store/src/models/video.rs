//! The model that makes videos for a server (`/model video`): read when a video is asked for, so
//! a change applies to the next video without a revision.

use serde::Serialize;

use super::{check_model, check_provider};
use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::{Scope, Store, StoreError};

/// A known provider's or a custom endpoint's video model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VideoModel {
    /// A known provider (`google` for Veo) or `custom:<label>`.
    pub provider: String,
    /// The provider's video model id.
    pub model: String,
}

/// The server's video model, if it chose one.
///
/// # Errors
/// An unavailable database.
pub async fn get_video(store: &Store, scope: Scope) -> Result<Option<VideoModel>, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let row = sqlx::query_as!(
        VideoModel,
        "SELECT provider, model FROM server_video_models WHERE server_id = $1",
        server
    )
    .fetch_optional(tx.conn())
    .await
    .about("video model")?;
    tx.commit().await?;
    Ok(row)
}

/// Sets the server's video model (`None` forgets it), with an audit row of before and after.
/// False when there was nothing to forget.
///
/// # Errors
/// An invalid provider or model (nothing changes), or an unavailable database.
pub async fn set_video(
    store: &Store,
    scope: Scope,
    actor: Actor,
    model: Option<&VideoModel>,
) -> Result<bool, StoreError> {
    if let Some(model) = model {
        check_provider(&model.provider)?;
        check_model(&model.model)?;
    }
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let before = sqlx::query_as!(
        VideoModel,
        "DELETE FROM server_video_models WHERE server_id = $1 RETURNING provider, model",
        server
    )
    .fetch_optional(tx.conn())
    .await
    .about("video model")?;
    match model {
        Some(model) => {
            sqlx::query!(
                "INSERT INTO server_video_models (server_id, provider, model) VALUES ($1, $2, $3)",
                server,
                model.provider,
                model.model
            )
            .execute(tx.conn())
            .await
            .about("video model")?;
        }
        // Nothing to forget: the transaction changed nothing and writes no audit row.
        None if before.is_none() => {
            tx.commit().await?;
            return Ok(false);
        }
        None => {}
    }
    let as_json = |m: &VideoModel| serde_json::to_value(m).expect("a model serialises");
    let (before, after) = (before.as_ref().map(as_json), model.map(as_json));
    audit::record(
        &mut tx,
        Change {
            actor,
            action: if model.is_some() { "model.video.set" } else { "model.video.clear" },
            target: "model:video".to_owned(),
            before: before.as_ref(),
            after: after.as_ref(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
