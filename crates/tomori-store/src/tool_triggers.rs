//! A server's own phrases and expressions for deliberate tool mode (`/server tool-trigger`); see
//! `tomori_core::tool_intent::custom` for how they match. Every change is audited and moves the
//! server's revision (the table's trigger), so the next turn matches with the new set.

use tomori_core::tool_intent::ToolFamily;
use tomori_core::tool_intent::custom::{
    self, MAX_PER_FAMILY, MAX_TRIGGERS, TriggerKind, TriggerSpec,
};

use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::{Scope, ScopedTx, Store, StoreError};

/// The server's triggers, by family, kind and pattern.
///
/// # Errors
/// An unavailable database.
pub async fn list(store: &Store, scope: Scope) -> Result<Vec<TriggerSpec>, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let rows = sqlx::query!(
        "SELECT family, kind, pattern FROM tool_triggers WHERE server_id = $1
         ORDER BY family, kind, pattern",
        server
    )
    .fetch_all(tx.conn())
    .await
    .about("tool trigger")?;
    tx.commit().await?;
    // The table allows only the names these parse.
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(TriggerSpec {
                family: ToolFamily::parse(&r.family)?,
                kind: TriggerKind::parse(&r.kind)?,
                pattern: r.pattern,
            })
        })
        .collect())
}

/// Adds a trigger written by an admin (normalised first). False when the server already has it.
///
/// # Errors
/// A pattern that does not check, a limit reached, or an unavailable database.
pub async fn add(
    store: &Store,
    scope: Scope,
    actor: Actor,
    family: ToolFamily,
    kind: TriggerKind,
    written: &str,
) -> Result<bool, StoreError> {
    let spec = stored(family, kind, written)
        .map_err(|reason| StoreError::Invalid { field: "tool trigger", reason })?;
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let counts = sqlx::query!(
        r#"SELECT count(*) AS "all!", count(*) FILTER (WHERE family = $2) AS "family!"
           FROM tool_triggers WHERE server_id = $1"#,
        server,
        family.name()
    )
    .fetch_one(tx.conn())
    .await
    .about("tool trigger")?;
    if usize::try_from(counts.all).unwrap_or(usize::MAX) >= MAX_TRIGGERS {
        return Err(StoreError::LimitReached { what: "tool triggers", limit: 50 });
    }
    if usize::try_from(counts.family).unwrap_or(usize::MAX) >= MAX_PER_FAMILY {
        return Err(StoreError::LimitReached { what: "tool triggers of one family", limit: 16 });
    }
    let inserted = sqlx::query!(
        "INSERT INTO tool_triggers (server_id, family, kind, pattern) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
        server,
        family.name(),
        kind.name(),
        spec.pattern
    )
    .execute(tx.conn())
    .await
    .about("tool trigger")?
    .rows_affected();
    if inserted == 0 {
        tx.commit().await?;
        return Ok(false);
    }
    record(&mut tx, actor, "tool_trigger.add", None, Some(&spec)).await?;
    tx.commit().await?;
    Ok(true)
}

/// Removes a trigger, matched as it would be stored. False when the server has no such trigger.
///
/// # Errors
/// An unavailable database.
pub async fn remove(
    store: &Store,
    scope: Scope,
    actor: Actor,
    family: ToolFamily,
    kind: TriggerKind,
    written: &str,
) -> Result<bool, StoreError> {
    // A pattern that would not be stored cannot be there.
    let Ok(spec) = stored(family, kind, written) else { return Ok(false) };
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let removed = sqlx::query!(
        "DELETE FROM tool_triggers
         WHERE server_id = $1 AND family = $2 AND kind = $3 AND pattern = $4",
        server,
        family.name(),
        kind.name(),
        spec.pattern
    )
    .execute(tx.conn())
    .await
    .about("tool trigger")?
    .rows_affected();
    if removed == 0 {
        tx.commit().await?;
        return Ok(false);
    }
    record(&mut tx, actor, "tool_trigger.remove", Some(&spec), None).await?;
    tx.commit().await?;
    Ok(true)
}

/// The trigger as it is stored: its pattern normalised and checked.
fn stored(family: ToolFamily, kind: TriggerKind, written: &str) -> Result<TriggerSpec, String> {
    Ok(TriggerSpec { family, kind, pattern: custom::normalize(kind, written)? })
}

async fn record(
    tx: &mut ScopedTx,
    actor: Actor,
    action: &'static str,
    before: Option<&TriggerSpec>,
    after: Option<&TriggerSpec>,
) -> Result<(), StoreError> {
    let json = |s: &TriggerSpec| serde_json::to_value(s).expect("a trigger serialises");
    let (before, after) = (before.map(json), after.map(json));
    let target = before.as_ref().or(after.as_ref()).map_or(String::new(), |v| {
        format!("tool_trigger:{}", v["family"].as_str().unwrap_or_default())
    });
    audit::record(
        tx,
        Change { actor, action, target, before: before.as_ref(), after: after.as_ref() },
    )
    .await
}
