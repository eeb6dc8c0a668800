//! A server's SillyTavern chat-completion presets (`/preset …`): each kept as the JSON that
//! `tomori_core::preset` checked, with the blocks an admin turned on or off since. At most one is
//! active (a unique index), and a turn lays out its prompt with it; without one, Tomori's own
//! layout. Every change moves the server's revision (a trigger) and writes an audit row.

use serde_json::{Map, Value, json};

use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::{Scope, Store, StoreError};

/// The most presets one server keeps.
pub const MAX_PRESETS: u32 = 20;

/// The largest stored preset, in bytes of JSON (the table checks it too).
pub const MAX_PRESET_BYTES: usize = 2 * 1024 * 1024;

/// The most characters of a preset's name.
pub const MAX_NAME_CHARS: usize = 64;

/// One stored preset.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPreset {
    /// Its name in this server.
    pub name: String,
    /// The preset JSON as imported.
    pub preset: Value,
    /// Blocks turned on or off since, by identifier.
    pub toggles: Vec<(String, bool)>,
    /// Turns use it.
    pub active: bool,
}

/// Whether `name` may name a preset: 1 to 64 letters, digits, spaces and `_.()-`.
///
/// # Errors
/// [`StoreError::Invalid`] saying what is allowed.
pub fn check_name(name: &str) -> Result<(), StoreError> {
    let ok = (1..=MAX_NAME_CHARS).contains(&name.chars().count())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || " _.()-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field: "preset name",
            reason: "use 1 to 64 letters, digits, spaces and _ . ( ) -".to_owned(),
        })
    }
}

fn toggles(value: &Value) -> Vec<(String, bool)> {
    value
        .as_object()
        .map(|map| map.iter().filter_map(|(k, v)| Some((k.clone(), v.as_bool()?))).collect())
        .unwrap_or_default()
}

/// The server's presets, by name.
///
/// # Errors
/// An unavailable database.
pub async fn list(store: &Store, scope: Scope) -> Result<Vec<StoredPreset>, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let rows = sqlx::query!(
        "SELECT name, preset, toggles, active FROM server_presets WHERE server_id = $1
         ORDER BY name",
        server
    )
    .fetch_all(tx.conn())
    .await
    .about("presets")?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|r| StoredPreset {
            name: r.name,
            toggles: toggles(&r.toggles),
            preset: r.preset,
            active: r.active,
        })
        .collect())
}

/// The active preset, when the server switched to one.
///
/// # Errors
/// An unavailable database.
pub async fn active(store: &Store, scope: Scope) -> Result<Option<StoredPreset>, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let row = sqlx::query!(
        "SELECT name, preset, toggles FROM server_presets WHERE server_id = $1 AND active",
        server
    )
    .fetch_optional(tx.conn())
    .await
    .about("preset")?;
    tx.commit().await?;
    Ok(row.map(|r| StoredPreset {
        name: r.name,
        toggles: toggles(&r.toggles),
        preset: r.preset,
        active: true,
    }))
}

/// Stores `preset` under `name`, replacing one of that name (its toggles go, whether it is active
/// stays). True when it replaced one.
///
/// # Errors
/// A bad name, a preset over [`MAX_PRESET_BYTES`], [`MAX_PRESETS`] already kept, or an
/// unavailable database.
pub async fn import(
    store: &Store,
    scope: Scope,
    actor: Actor,
    name: &str,
    preset: &Value,
) -> Result<bool, StoreError> {
    check_name(name)?;
    let size = preset.to_string().len();
    if size > MAX_PRESET_BYTES {
        return Err(StoreError::Invalid {
            field: "preset",
            reason: format!("{size} bytes; at most {MAX_PRESET_BYTES}"),
        });
    }
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let others = sqlx::query_scalar!(
        "SELECT count(*) AS \"n!\" FROM server_presets WHERE server_id = $1 AND name <> $2",
        server,
        name
    )
    .fetch_one(tx.conn())
    .await
    .about("presets")?;
    if others >= i64::from(MAX_PRESETS) {
        return Err(StoreError::LimitReached { what: "presets", limit: MAX_PRESETS });
    }
    let replaced = sqlx::query_scalar!(
        "INSERT INTO server_presets (server_id, name, preset) VALUES ($1, $2, $3)
         ON CONFLICT (server_id, name)
         DO UPDATE SET preset = EXCLUDED.preset, toggles = '{}'::jsonb, updated_at = now()
         RETURNING (xmax <> 0) AS \"replaced!\"",
        server,
        name,
        preset
    )
    .fetch_one(tx.conn())
    .await
    .about("preset")?;
    let blocks = preset["prompts"].as_array().map_or(0, Vec::len);
    let after = json!({ "name": name, "blocks": blocks, "bytes": size });
    let change = Change {
        actor,
        action: "preset.import",
        target: format!("preset:{name}"),
        before: None,
        after: Some(&after),
    };
    audit::record(&mut tx, change).await?;
    tx.commit().await?;
    Ok(replaced)
}

/// Makes the preset called `name` the active one, or none (`None`: Tomori's own layout).
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown name, or an unavailable database.
pub async fn switch(
    store: &Store,
    scope: Scope,
    actor: Actor,
    name: Option<&str>,
) -> Result<(), StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let before = sqlx::query_scalar!(
        "UPDATE server_presets SET active = false WHERE server_id = $1 AND active RETURNING name",
        server
    )
    .fetch_optional(tx.conn())
    .await
    .about("preset")?;
    if let Some(name) = name {
        sqlx::query!(
            "UPDATE server_presets SET active = true, updated_at = now()
             WHERE server_id = $1 AND name = $2 RETURNING name",
            server,
            name
        )
        .fetch_optional(tx.conn())
        .await
        .about("preset")?
        .ok_or(StoreError::NotFound("preset"))?;
    }
    let (before, after) = (json!({ "active": before }), json!({ "active": name }));
    let change = Change {
        actor,
        action: "preset.switch",
        target: "presets".to_owned(),
        before: Some(&before),
        after: Some(&after),
    };
    audit::record(&mut tx, change).await?;
    tx.commit().await?;
    Ok(())
}

/// Turns the block `identifier` of the preset called `name` on or off.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown preset, or an unavailable database.
pub async fn toggle(
    store: &Store,
    scope: Scope,
    actor: Actor,
    name: &str,
    identifier: &str,
    on: bool,
) -> Result<(), StoreError> {
    let server = scope.require_server()?.get();
    let mut change = Map::new();
    change.insert(identifier.to_owned(), Value::Bool(on));
    let change = Value::Object(change);
    let mut tx = store.begin(scope).await?;
    sqlx::query!(
        "UPDATE server_presets SET toggles = toggles || $3, updated_at = now()
         WHERE server_id = $1 AND name = $2 RETURNING name",
        server,
        name,
        change
    )
    .fetch_optional(tx.conn())
    .await
    .about("preset")?
    .ok_or(StoreError::NotFound("preset"))?;
    let after = json!({ "block": identifier, "enabled": on });
    let change = Change {
        actor,
        action: "preset.toggle",
        target: format!("preset:{name}"),
        before: None,
        after: Some(&after),
    };
    audit::record(&mut tx, change).await?;
    tx.commit().await?;
    Ok(())
}

/// Removes the preset called `name`; false when there is none. Removing the active one puts the
/// server back on Tomori's own layout.
///
/// # Errors
/// An unavailable database.
pub async fn remove(
    store: &Store,
    scope: Scope,
    actor: Actor,
    name: &str,
) -> Result<bool, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let removed = sqlx::query_scalar!(
        "DELETE FROM server_presets WHERE server_id = $1 AND name = $2 RETURNING active",
        server,
        name
    )
    .fetch_optional(tx.conn())
    .await
    .about("preset")?;
    let Some(was_active) = removed else {
        tx.commit().await?;
        return Ok(false);
    };
    let before = json!({ "name": name, "active": was_active });
    let change = Change {
        actor,
        action: "preset.remove",
        target: format!("preset:{name}"),
        before: Some(&before),
        after: None,
    };
    audit::record(&mut tx, change).await?;
    tx.commit().await?;
    Ok(true)
}
