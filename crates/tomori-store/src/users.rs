//! Users' own settings: privacy level, language and nickname.

use tomori_core::id::Snowflake;
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
    /// Their own model (`/personal model set`), paid with their own keys.
    pub model: Option<MemberModel>,
    /// Their own choice of deliberate tool mode; the server's when `None`.
    pub deliberate_tools: Option<bool>,
}

/// A member's own model.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct MemberModel {
    /// A known provider's name (their own keys for it pay).
    pub provider: String,
    /// The provider's model id.
    pub model: String,
    /// The server's models may answer them when theirs fails.
    pub fallback: bool,
}

/// A user's settings before they change any: the columns' defaults (a test holds them equal).
impl Default for UserSettings {
    fn default() -> Self {
        Self {
            privacy: PrivacyLevel::Minimal,
            language: "en".to_owned(),
            nickname: None,
            model: None,
            deliberate_tools: None,
        }
    }
}

/// The scope user's settings.
///
/// # Errors
/// An unavailable database.
pub async fn get(store: &Store, scope: Scope) -> Result<UserSettings, StoreError> {
    let user = scope.require_user()?;
    let mut tx = store.begin(Scope::user(user)).await?;
    let row = sqlx::query!(
        "SELECT privacy_level, language, nickname, model_provider, model_id, model_fallback,
                deliberate_tools
         FROM users WHERE id = $1",
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
        model: match (row.model_provider, row.model_id) {
            (Some(provider), Some(model)) => {
                Some(MemberModel { provider, model, fallback: row.model_fallback })
            }
            _ => None,
        },
        deliberate_tools: row.deliberate_tools,
    })
}

/// Sets the scope user's own choice of deliberate tool mode (`None`: the server's).
///
/// # Errors
/// An unavailable database.
pub async fn set_deliberate_tools(
    store: &Store,
    scope: Scope,
    actor: Actor,
    mode: Option<bool>,
) -> Result<(), StoreError> {
    let before = get(store, scope).await?.deliberate_tools;
    let user = scope.require_user()?;
    let mut tx = store.begin(Scope::user(user)).await?;
    sqlx::query!("UPDATE users SET deliberate_tools = $2 WHERE id = $1", user.get(), mode)
        .execute(tx.conn())
        .await
        .about("user")?;
    let before = serde_json::json!({ "deliberate_tools": before });
    let after = serde_json::json!({ "deliberate_tools": mode });
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "user.deliberate_tools",
            target: format!("user:{user}"),
            before: Some(&before),
            after: Some(&after),
        },
    )
    .await?;
    tx.commit().await
}

/// Sets (or with `None`, clears) the scope user's own model. The provider must be a known
/// provider's name; the caller checks it against the providers it knows.
///
/// # Errors
/// An invalid provider or model id, or an unavailable database.
pub async fn set_model(
    store: &Store,
    scope: Scope,
    actor: Actor,
    model: Option<&MemberModel>,
) -> Result<(), StoreError> {
    if let Some(model) = model {
        crate::models::check_model(&model.model)?;
        if model.provider.starts_with("custom:") {
            return Err(StoreError::Invalid {
                field: "provider",
                reason: "a provider's name (your own endpoint is /personal custom-endpoint)"
                    .to_owned(),
            });
        }
        crate::models::check_provider(&model.provider)?;
    }
    let before = get(store, scope).await?.model;
    let user = scope.require_user()?;
    let mut tx = store.begin(Scope::user(user)).await?;
    sqlx::query!(
        "UPDATE users SET model_provider = $2, model_id = $3, model_fallback = $4 WHERE id = $1",
        user.get(),
        model.map(|m| m.provider.as_str()),
        model.map(|m| m.model.as_str()),
        model.is_none_or(|m| m.fallback)
    )
    .execute(tx.conn())
    .await
    .about("user")?;
    let json = |m: &MemberModel| serde_json::to_value(m).expect("model serialises");
    let (before, after) = (before.as_ref().map(json), model.map(json));
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "user.model",
            target: format!("user:{user}"),
            before: before.as_ref(),
            after: after.as_ref(),
        },
    )
    .await?;
    tx.commit().await
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

/// Checks a language code: 2 to 16 ASCII letters and hyphens (`en`, `ja`, `pt-BR`).
fn check_language(code: &str) -> Result<(), StoreError> {
    let ok = (2..=16).contains(&code.len())
        && code.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-')
        && !code.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field: "language",
            reason: "a language code such as en, ja or pt-BR".to_owned(),
        })
    }
}

/// Sets the scope user's language and nickname (what personas call them; `None` clears it).
/// Each `Some` field changes; `None` fields of `change` stay as they are.
///
/// # Errors
/// A malformed language code, a nickname over 64 characters, or an unavailable database.
pub async fn set_profile(
    store: &Store,
    scope: Scope,
    actor: Actor,
    language: Option<&str>,
    nickname: Option<Option<&str>>,
) -> Result<UserSettings, StoreError> {
    if let Some(code) = language {
        check_language(code)?;
    }
    if let Some(Some(name)) = nickname
        && (name.trim().is_empty() || name.chars().count() > 64)
    {
        return Err(StoreError::Invalid {
            field: "nickname",
            reason: "1 to 64 characters".to_owned(),
        });
    }
    let before = get(store, scope).await?;
    let user = scope.require_user()?;
    let language = language.map_or_else(|| before.language.clone(), str::to_owned);
    let nickname = match nickname {
        Some(name) => name.map(|n| n.trim().to_owned()),
        None => before.nickname.clone(),
    };
    let mut tx = store.begin(Scope::user(user)).await?;
    sqlx::query!(
        "UPDATE users SET language = $2, nickname = $3 WHERE id = $1",
        user.get(),
        language,
        nickname
    )
    .execute(tx.conn())
    .await
    .about("user")?;
    let before_state =
        serde_json::json!({ "language": before.language, "nickname": before.nickname });
    let after_state = serde_json::json!({ "language": language, "nickname": nickname });
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "user.profile",
            target: format!("user:{user}"),
            before: Some(&before_state),
            after: Some(&after_state),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(UserSettings { language, nickname, ..before })
}

/// Deletes the scope user and everything that is theirs alone: settings, personal memories,
/// personal keys and endpoints (by cascade). The audit chain keeps a row saying it happened, and
/// nothing of the content. Memories they taught a server belong to that server and stay.
///
/// # Errors
/// An unavailable database.
pub async fn delete(store: &Store, scope: Scope, actor: Actor) -> Result<(), StoreError> {
    let user = scope.require_user()?;
    let mut tx = store.begin(Scope::user(user)).await?;
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "user.delete",
            target: format!("user:{user}"),
            before: None,
            after: None,
        },
    )
    .await?;
    sqlx::query!("DELETE FROM users WHERE id = $1", user.get())
        .execute(tx.conn())
        .await
        .about("user")?;
    tx.commit().await
}

/// The users among `discord_ids` (at most 200 are looked at) who chose privacy level 2, through
/// `tomori_withheld_users`, which answers that and nothing else about anyone. A user Tomori has
/// never seen is not withheld.
///
/// # Errors
/// An unavailable database.
pub async fn withheld(
    store: &Store,
    discord_ids: &[Snowflake],
) -> Result<Vec<Snowflake>, StoreError> {
    let ids: Vec<i64> = discord_ids.iter().map(|id| id.to_db()).collect();
    let rows = sqlx::query_scalar!(r#"SELECT id AS "id!" FROM tomori_withheld_users($1) id"#, &ids)
        .fetch_all(&store.pool)
        .await
        .about("user")?;
    rows.into_iter()
        .map(|raw| {
            Snowflake::from_db(raw)
                .map_err(|e| StoreError::Invalid { field: "user id", reason: e.to_string() })
        })
        .collect()
}
