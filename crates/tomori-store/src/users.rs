//! Users' own settings: privacy level, language and nickname.

use tomori_core::privacy::PrivacyLevel;

use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::{Scope, Store, StoreError};

/// A user's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSettings {
    /// What Tomori may do with their data.
    pub privacy: PrivacyLevel,
    /// Preferred language code.
    pub language: String,
    /// What personas call them, if set.
    pub nickname: Option<String>,
}

/// The scope user's settings.
///
/// # Errors
/// An unavailable database.
pub async fn get(store: &Store, scope: Scope) -> Result<UserSettings, StoreError> {
    let user = scope.require_user()?;
    let mut tx = store.begin(Scope::user(user)).await?;
    let row = sqlx::query!(
        "SELECT privacy_level, language, nickname FROM users WHERE id = $1",
        user.get()
    )
    .fetch_optional(tx.conn())
    .await
    .about("user")?
    .ok_or(StoreError::NotFound("user"))?;
    tx.commit().await?;
    Ok(UserSettings {
        privacy: PrivacyLevel::from_number(i64::from(row.privacy_level))
            .map_err(|e| StoreError::Invalid { field: "privacy level", reason: e.to_string() })?,
        language: row.language,
        nickname: row.nickname,
    })
}

/// Sets the scope user's privacy level.
///
/// # Errors
/// An unavailable database.
pub async fn set_privacy(
    store: &Store,
    scope: Scope,
    actor: Actor,
    level: PrivacyLevel,
) -> Result<(), StoreError> {
    let user = scope.require_user()?;
    let mut tx = store.begin(Scope::user(user)).await?;
    let before = sqlx::query_scalar!(
        "UPDATE users SET privacy_level = $2 WHERE id = $1
         RETURNING (SELECT privacy_level FROM users WHERE id = $1)",
        user.get(),
        level.as_number()
    )
    .fetch_optional(tx.conn())
    .await
    .about("user")?
    .flatten()
    .ok_or(StoreError::NotFound("user"))?;
    let before = serde_json::json!({ "privacy_level": before });
    let after = serde_json::json!({ "privacy_level": level.as_number() });
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "user.privacy",
            target: format!("user:{user}"),
            before: Some(&before),
            after: Some(&after),
        },
    )
    .await?;
    tx.commit().await
}
