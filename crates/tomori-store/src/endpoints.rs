//! Custom OpenAI-compatible endpoints of a server or a user (a local model, a self-hosted
//! gateway): where, which model, what it can do, and an optional sealed key. The URL is judged
//! by tomori-net's policy of the owner's scope when it is registered and on every call; the
//! store keeps what passed.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::audit::{self, Actor, Change};
use crate::credentials::KeyOwner;
use crate::error::SqlxResultExt;
use crate::secrets::{Owner, SealContext};
use crate::{Scope, ScopedTx, Store, StoreError};

/// The most endpoints one owner may register.
pub const MAX_ENDPOINTS: i64 = 10;

/// The label of a member's own endpoint (`/personal custom-endpoint`): a member has at most one,
/// and it answers all their messages.
pub const MEMBER_ENDPOINT: &str = "personal";

/// A registered endpoint, without its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomEndpoint {
    /// Row id.
    pub id: i64,
    /// The owner's name for it; the provider is then `custom:<label>`.
    pub label: String,
    /// Base URL (`…/v1`), as admitted by the policy.
    pub base_url: String,
    /// The model id sent with each request.
    pub model: String,
    /// Context window in tokens, when given.
    pub context_length: Option<i32>,
    /// The model calls tools.
    pub has_tools: bool,
    /// The model sees images.
    pub has_vision: bool,
    /// A key is stored for it.
    pub has_key: bool,
}

/// What registering an endpoint takes.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    /// Label, `[a-z0-9_-]{1,64}`.
    pub label: String,
    /// Base URL, already admitted by the owner's policy.
    pub base_url: String,
    /// Model id.
    pub model: String,
    /// Context window in tokens.
    pub context_length: Option<i32>,
    /// Calls tools.
    pub has_tools: bool,
    /// Sees images.
    pub has_vision: bool,
    /// Bearer key, if the endpoint needs one.
    pub api_key: Option<SecretString>,
}

fn owner_ids(scope: Scope, owner: KeyOwner) -> Result<(Option<i64>, Option<i64>), StoreError> {
    Ok(match owner {
        KeyOwner::Server => (Some(scope.require_server()?.get()), None),
        KeyOwner::Personal => (None, Some(scope.require_user()?.get())),
    })
}

fn seal_context(scope: Scope, owner: KeyOwner) -> Result<SealContext, StoreError> {
    let owner = match owner {
        KeyOwner::Server => Owner::Server(scope.require_server()?),
        KeyOwner::Personal => Owner::User(scope.require_user()?),
    };
    Ok(SealContext { table: "custom_endpoints", column: "api_key", owner })
}

fn invalid(field: &'static str, reason: &str) -> StoreError {
    StoreError::Invalid { field, reason: reason.to_owned() }
}

/// Registers an endpoint.
///
/// # Errors
/// A bad label, model or size, a label in use, the endpoint limit, or an unavailable database.
pub async fn add(
    store: &Store,
    scope: Scope,
    actor: Actor,
    owner: KeyOwner,
    new: &NewEndpoint,
) -> Result<CustomEndpoint, StoreError> {
    let label_ok = (1..=64).contains(&new.label.len())
        && new
            .label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !label_ok {
        return Err(invalid("label", "1 to 64 lower-case letters, digits, _ or -"));
    }
    crate::models::check_model(&new.model)?;
    if new.base_url.len() > 2048 {
        return Err(invalid("URL", "at most 2048 characters"));
    }
    if new.context_length.is_some_and(|n| n <= 0) {
        return Err(invalid("context length", "a positive number of tokens"));
    }
    let (server_id, user_id) = owner_ids(scope, owner)?;
    // Security: keys leak from a DB dump. An endpoint's key is sealed like a provider key.
    // Security: key exfiltration by a database edit. The key is sealed for the endpoint's
    // origin too, so pointing the row at another host makes the key unopenable.
    let sealed = match &new.api_key {
        Some(key) if !key.expose_secret().trim().is_empty() => Some(store.keys().seal_bound(
            key.expose_secret().trim(),
            &seal_context(scope, owner)?,
            &origin(&new.base_url),
        )),
        _ => None,
    };
    let mut tx = store.begin(scope).await?;
    let count = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM custom_endpoints
           WHERE server_id IS NOT DISTINCT FROM $1 AND user_id IS NOT DISTINCT FROM $2"#,
        server_id,
        user_id
    )
    .fetch_one(tx.conn())
    .await
    .about("endpoint")?;
    if count >= MAX_ENDPOINTS {
        return Err(StoreError::LimitReached { what: "custom endpoints", limit: 10 });
    }
    let id = sqlx::query_scalar!(
        "INSERT INTO custom_endpoints (server_id, user_id, label, capability, base_url, model,
             api_key, key_version, context_length, has_tools, has_vision, api_key_bound)
         VALUES ($1, $2, $3, 'text', $4, $5, $6, $7, $8, $9, $10, true) RETURNING id",
        server_id,
        user_id,
        new.label,
        new.base_url,
        new.model,
        sealed.as_ref().map(|s| s.blob.clone()),
        sealed.as_ref().map(|s| s.key_version),
        new.context_length,
        new.has_tools,
        new.has_vision
    )
    .fetch_one(tx.conn())
    .await
    .about("endpoint with that label")?;
    let endpoint = CustomEndpoint {
        id,
        label: new.label.clone(),
        base_url: new.base_url.clone(),
        model: new.model.clone(),
        context_length: new.context_length,
        has_tools: new.has_tools,
        has_vision: new.has_vision,
        has_key: sealed.is_some(),
    };
    let after = serde_json::to_value(&endpoint).expect("endpoint serialises");
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "endpoint.add",
            target: format!("endpoint:{id}"),
            before: None,
            after: Some(&after),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(endpoint)
}

/// What [`edit`] changes in an endpoint; `None` keeps a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointEdit {
    /// Base URL, already admitted by the owner's policy.
    pub base_url: Option<String>,
    /// Model id.
    pub model: Option<String>,
    /// Context window in tokens.
    pub context_length: Option<i32>,
    /// Calls tools.
    pub has_tools: Option<bool>,
    /// Sees images.
    pub has_vision: Option<bool>,
}

/// Changes an endpoint in place, with an audit row of before and after. Its label stays; its keys
/// stay only while its origin (scheme, host and port) does; the flag says whether any were
/// removed.
///
/// # Errors
/// A bad model or size, an unknown label, or an unavailable database.
pub async fn edit(
    store: &Store,
    scope: Scope,
    actor: Actor,
    owner: KeyOwner,
    label: &str,
    change: &EndpointEdit,
) -> Result<(CustomEndpoint, bool), StoreError> {
    if let Some(model) = &change.model {
        crate::models::check_model(model)?;
    }
    if change.base_url.as_ref().is_some_and(|url| url.len() > 2048) {
        return Err(invalid("URL", "at most 2048 characters"));
    }
    if change.context_length.is_some_and(|n| n <= 0) {
        return Err(invalid("context length", "a positive number of tokens"));
    }
    let (server_id, user_id) = owner_ids(scope, owner)?;
    let mut tx = store.begin(scope).await?;
    let before = sqlx::query_as!(
        CustomEndpoint,
        r#"SELECT id, label, base_url, model, context_length, has_tools, has_vision,
                  api_key IS NOT NULL AS "has_key!"
           FROM custom_endpoints
           WHERE server_id IS NOT DISTINCT FROM $1 AND user_id IS NOT DISTINCT FROM $2
             AND label = $3
           FOR UPDATE"#,
        server_id,
        user_id,
        label
    )
    .fetch_optional(tx.conn())
    .await
    .about("endpoint")?
    .ok_or(StoreError::NotFound("endpoint"))?;
    let after = CustomEndpoint {
        base_url: change.base_url.clone().unwrap_or_else(|| before.base_url.clone()),
        model: change.model.clone().unwrap_or_else(|| before.model.clone()),
        context_length: change.context_length.or(before.context_length),
        has_tools: change.has_tools.unwrap_or(before.has_tools),
        has_vision: change.has_vision.unwrap_or(before.has_vision),
        ..before.clone()
    };
    // Security: key exfiltration by another admin. A stored key was given for one host; an
    // endpoint moved to another origin loses its keys, which must be typed again for the new one.
    let moved = origin(&after.base_url) != origin(&before.base_url);
    sqlx::query!(
        "UPDATE custom_endpoints SET base_url = $2, model = $3, context_length = $4,
             has_tools = $5, has_vision = $6,
             api_key = CASE WHEN $7 THEN NULL ELSE api_key END,
             api_key_bound = api_key_bound AND NOT $7
         WHERE id = $1",
        after.id,
        after.base_url,
        after.model,
        after.context_length,
        after.has_tools,
        after.has_vision,
        moved
    )
    .execute(tx.conn())
    .await
    .about("endpoint")?;
    let keys_dropped = if moved {
        drop_keys(&mut tx, actor, server_id, user_id, label).await? > 0 || before.has_key
    } else {
        false
    };
    let after = if moved { CustomEndpoint { has_key: false, ..after } } else { after };
    let (was, now) = (
        serde_json::to_value(&before).expect("endpoint serialises"),
        serde_json::to_value(&after).expect("endpoint serialises"),
    );
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "endpoint.edit",
            target: format!("endpoint:{}", after.id),
            before: Some(&was),
            after: Some(&now),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((after, keys_dropped))
}

/// Scheme and authority of a URL, lower-cased: what a key is given for. A URL without `://`
/// is its own origin, so any change of it counts as a move.
pub(crate) fn origin(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_ascii_lowercase() };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{}://{}", scheme.to_ascii_lowercase(), authority.to_ascii_lowercase())
}

/// Deletes the owner's stored keys for `custom:<label>` (the ones `/provider key add` keeps
/// apart from the endpoint row), with an audit row each.
async fn drop_keys(
    tx: &mut ScopedTx,
    actor: Actor,
    server_id: Option<i64>,
    user_id: Option<i64>,
    label: &str,
) -> Result<usize, StoreError> {
    let provider = format!("custom:{label}");
    let dropped = sqlx::query!(
        "DELETE FROM provider_credentials
         WHERE provider = $1 AND server_id IS NOT DISTINCT FROM $2
           AND user_id IS NOT DISTINCT FROM $3
         RETURNING id, label",
        provider,
        server_id,
        user_id
    )
    .fetch_all(tx.conn())
    .await
    .about("key")?;
    let count = dropped.len();
    for key in dropped {
        let before = serde_json::json!({ "provider": provider, "label": key.label });
        audit::record(
            tx,
            Change {
                actor,
                action: "key.remove",
                target: format!("key:{}", key.id),
                before: Some(&before),
                after: None,
            },
        )
        .await?;
    }
    Ok(count)
}

/// The owner's endpoints.
///
/// # Errors
/// An unavailable database.
pub async fn list(
    store: &Store,
    scope: Scope,
    owner: KeyOwner,
) -> Result<Vec<CustomEndpoint>, StoreError> {
    let (server_id, user_id) = owner_ids(scope, owner)?;
    let mut tx = store.begin(scope).await?;
    let rows = sqlx::query_as!(
        CustomEndpoint,
        r#"SELECT id, label, base_url, model, context_length, has_tools, has_vision,
                  api_key IS NOT NULL AS "has_key!"
           FROM custom_endpoints
           WHERE server_id IS NOT DISTINCT FROM $1 AND user_id IS NOT DISTINCT FROM $2
           ORDER BY label"#,
        server_id,
        user_id
    )
    .fetch_all(tx.conn())
    .await
    .about("endpoint")?;
    tx.commit().await?;
    Ok(rows)
}

/// One endpoint by label, with its opened key.
///
/// # Errors
/// A key that does not open, or an unavailable database.
pub async fn get(
    store: &Store,
    scope: Scope,
    owner: KeyOwner,
    label: &str,
) -> Result<Option<(CustomEndpoint, Option<SecretString>)>, StoreError> {
    let (server_id, user_id) = owner_ids(scope, owner)?;
    let mut tx = store.begin(scope).await?;
    let row = sqlx::query!(
        "SELECT id, label, base_url, model, context_length, has_tools, has_vision, api_key,
                api_key_bound
         FROM custom_endpoints
         WHERE server_id IS NOT DISTINCT FROM $1 AND user_id IS NOT DISTINCT FROM $2 AND label = $3",
        server_id,
        user_id,
        label
    )
    .fetch_optional(tx.conn())
    .await
    .about("endpoint")?;
    tx.commit().await?;
    let Some(row) = row else { return Ok(None) };
    let ctx = seal_context(scope, owner)?;
    let key = match &row.api_key {
        Some(blob) if row.api_key_bound => {
            Some(store.keys().open_bound(blob, &ctx, &origin(&row.base_url))?)
        }
        // Sealed before keys were bound to their origin; the next start binds it
        // (`keys::bind_endpoint_keys`).
        Some(blob) => Some(store.keys().open(blob, &ctx)?),
        None => None,
    };
    let endpoint = CustomEndpoint {
        id: row.id,
        label: row.label,
        base_url: row.base_url,
        model: row.model,
        context_length: row.context_length,
        has_tools: row.has_tools,
        has_vision: row.has_vision,
        has_key: key.is_some(),
    };
    Ok(Some((endpoint, key)))
}

/// Removes an endpoint by label.
///
/// # Errors
/// No such endpoint, or an unavailable database.
pub async fn remove(
    store: &Store,
    scope: Scope,
    actor: Actor,
    owner: KeyOwner,
    label: &str,
) -> Result<(), StoreError> {
    let (server_id, user_id) = owner_ids(scope, owner)?;
    let mut tx = store.begin(scope).await?;
    let id = sqlx::query_scalar!(
        "DELETE FROM custom_endpoints
         WHERE server_id IS NOT DISTINCT FROM $1 AND user_id IS NOT DISTINCT FROM $2 AND label = $3
         RETURNING id",
        server_id,
        user_id,
        label
    )
    .fetch_optional(tx.conn())
    .await
    .about("endpoint")?
    .ok_or(StoreError::NotFound("endpoint"))?;
    // Security: key exfiltration by another admin. The keys go with the endpoint, so a new
    // endpoint under the same label elsewhere does not inherit them.
    drop_keys(&mut tx, actor, server_id, user_id, label).await?;
    let before = serde_json::json!({ "label": label });
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "endpoint.remove",
            target: format!("endpoint:{id}"),
            before: Some(&before),
            after: None,
        },
    )
    .await?;
    tx.commit().await
}

/// The largest stored ComfyUI workflow, in bytes of JSON (the table checks it too).
pub const MAX_WORKFLOW_BYTES: usize = 256 * 1024;

/// The ComfyUI workflow of the server's endpoint `label`, when it has one.
///
/// # Errors
/// An unavailable database.
pub async fn workflow(
    store: &Store,
    scope: Scope,
    label: &str,
) -> Result<Option<serde_json::Value>, StoreError> {
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let workflow = sqlx::query_scalar!(
        "SELECT w.workflow FROM endpoint_workflows w
         JOIN custom_endpoints e ON e.id = w.endpoint_id AND e.server_id = w.server_id
         WHERE w.server_id = $1 AND e.label = $2",
        server,
        label
    )
    .fetch_optional(tx.conn())
    .await
    .about("workflow")?;
    tx.commit().await?;
    Ok(workflow)
}

/// Gives the server's endpoint `label` a ComfyUI workflow (`None` takes it away), with an audit
/// row naming the endpoint and the workflow's size. False when the endpoint does not exist, or
/// there was nothing to take away.
///
/// # Errors
/// A workflow over [`MAX_WORKFLOW_BYTES`], or an unavailable database.
pub async fn set_workflow(
    store: &Store,
    scope: Scope,
    actor: Actor,
    label: &str,
    workflow: Option<&serde_json::Value>,
) -> Result<bool, StoreError> {
    let size = workflow.map(|w| w.to_string().len());
    if let Some(size) = size.filter(|size| *size > MAX_WORKFLOW_BYTES) {
        return Err(StoreError::Invalid {
            field: "workflow",
            reason: format!("{size} bytes; at most {MAX_WORKFLOW_BYTES}"),
        });
    }
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    let endpoint = sqlx::query_scalar!(
        "SELECT id FROM custom_endpoints WHERE server_id = $1 AND label = $2",
        server,
        label
    )
    .fetch_optional(tx.conn())
    .await
    .about("endpoint")?;
    let Some(endpoint) = endpoint else {
        tx.commit().await?;
        return Ok(false);
    };
    let removed = sqlx::query!("DELETE FROM endpoint_workflows WHERE endpoint_id = $1", endpoint)
        .execute(tx.conn())
        .await
        .about("workflow")?
        .rows_affected();
    if let Some(workflow) = workflow {
        sqlx::query!(
            "INSERT INTO endpoint_workflows (endpoint_id, server_id, workflow) VALUES ($1, $2, $3)",
            endpoint,
            server,
            workflow
        )
        .execute(tx.conn())
        .await
        .about("workflow")?;
    } else if removed == 0 {
        tx.commit().await?;
        return Ok(false);
    }
    let after = size.map(|bytes| serde_json::json!({ "bytes": bytes }));
    audit::record(
        &mut tx,
        Change {
            actor,
            action: if workflow.is_some() {
                "endpoint.workflow.set"
            } else {
                "endpoint.workflow.clear"
            },
            target: format!("endpoint:{label}"),
            before: None,
            after: after.as_ref(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
