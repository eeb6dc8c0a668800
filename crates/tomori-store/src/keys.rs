//! Key ring maintenance on the owner connection: the startup check, `tomori keys audit` and
//! `tomori keys rotate`.
//!
//! Rotation re-seals every sealed column under the current key version in batches of
//! [`ROTATE_BATCH`] rows, each batch its own transaction with the rows locked. Stopping it halfway
//! leaves every row sealed under either the old or the new version, both of which the ring still
//! holds, and running it again continues where it stopped.

use sqlx::PgPool;
use tomori_core::id::{ServerId, UserId};

use crate::StoreError;
use crate::audit::{self, Actor, Change};
use crate::credentials;
use crate::error::SqlxResultExt;
use crate::secrets::{KeyRing, Owner, SealContext, version_to_db};

/// Rows re-sealed per transaction.
pub const ROTATE_BATCH: i64 = 200;

const CHECK_TEXT: &str = "tomori key check";

fn check_context() -> SealContext {
    SealContext { table: "key_checks", column: "sealed", owner: Owner::Instance }
}

fn ring_error(reason: String) -> StoreError {
    StoreError::Invalid { field: "key ring", reason }
}

/// Checks the ring against the database: every version the ring holds must be the same secret
/// that sealed this database's values under that version, and every version that stored values
/// use must be in the ring. Records a check value for versions seen for the first time.
///
/// # Errors
/// A wrong secret or a missing version, named in the message; or an unavailable database.
pub async fn check_ring(owner: &PgPool, ring: &KeyRing) -> Result<(), StoreError> {
    for version in ring.versions() {
        let db_version = version_to_db(version);
        let stored =
            sqlx::query_scalar!("SELECT sealed FROM key_checks WHERE key_version = $1", db_version)
                .fetch_optional(owner)
                .await
                .about("key check")?;
        match stored {
            Some(blob) => {
                let opened = ring.open(&blob, &check_context());
                let matches = opened
                    .is_ok_and(|text| secrecy::ExposeSecret::expose_secret(&text) == CHECK_TEXT);
                if !matches {
                    return Err(ring_error(format!(
                        "TOMORI_SECRET_V{version} is not the secret this database was sealed with under version {version}"
                    )));
                }
            }
            None => {
                let sealed = ring.seal_with(version, CHECK_TEXT, &check_context());
                sqlx::query!(
                    "INSERT INTO key_checks (key_version, sealed) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    db_version,
                    sealed.blob
                )
                .execute(owner)
                .await
                .about("key check")?;
            }
        }
    }
    for usage in audit_versions(owner).await? {
        let known = u32::try_from(usage.key_version).is_ok_and(|v| ring.has(v));
        if !known {
            return Err(ring_error(format!(
                "{} value(s) in {} are sealed with key version {}, but TOMORI_SECRET_V{} is not set",
                usage.rows, usage.column, usage.key_version, usage.key_version
            )));
        }
    }
    Ok(())
}

/// Whether this database was ever used with a key ring: it holds key check values or sealed
/// values. A new key must not be generated for it.
///
/// # Errors
/// An unavailable database.
pub async fn was_sealed(owner: &PgPool) -> Result<bool, StoreError> {
    sqlx::query_scalar!(
        r#"SELECT (EXISTS (SELECT 1 FROM key_checks) OR EXISTS (SELECT 1 FROM sealed_values))
             AS "sealed!""#
    )
    .fetch_one(owner)
    .await
    .about("key check")
}

/// Rows sealed under one key version in one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionUsage {
    /// `table.column`.
    pub column: String,
    /// Key version.
    pub key_version: i32,
    /// Rows.
    pub rows: i64,
}

/// Which key versions stored values use (`tomori keys audit`).
///
/// # Errors
/// An unavailable database.
pub async fn audit_versions(owner: &PgPool) -> Result<Vec<VersionUsage>, StoreError> {
    sqlx::query_as!(
        VersionUsage,
        r#"SELECT sealed_column AS "column!", key_version AS "key_version!", count(*) AS "rows!"
           FROM sealed_values GROUP BY 1, 2 ORDER BY 1, 2"#
    )
    .fetch_all(owner)
    .await
    .about("sealed values")
}

/// What a rotation did or, in a dry run, would do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Rows re-sealed (or to re-seal).
    pub resealed: u64,
    /// Batches committed.
    pub batches: u64,
}

#[derive(Debug, Clone, Copy)]
enum Column {
    ProviderKey,
    EndpointKey,
    McpToken,
    WebhookToken,
}

const COLUMNS: [Column; 4] =
    [Column::ProviderKey, Column::EndpointKey, Column::McpToken, Column::WebhookToken];

struct Batch {
    key_a: i64,
    key_b: i64,
    server_id: Option<i64>,
    user_id: Option<i64>,
    blob: Vec<u8>,
    /// What the value is bound to, for values sealed bound: an endpoint key's endpoint URL.
    binding: Option<String>,
    /// Whether the value was sealed bound to it already.
    bound: bool,
}

/// Which rows a pass re-seals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Every value not under the current key version (`tomori keys rotate`), and every value
    /// that should be bound and is not.
    Rotate,
    /// Only values that should be bound and are not (at startup).
    Bind,
}

impl Column {
    fn context(self, server_id: Option<i64>, user_id: Option<i64>) -> SealContext {
        let owner = match (server_id, user_id) {
            (Some(server), _) => Owner::Server(ServerId::from_db(server)),
            (None, Some(user)) => Owner::User(UserId::from_db(user)),
            (None, None) => Owner::Instance,
        };
        match self {
            Self::ProviderKey => credentials::seal_context(server_id, user_id),
            Self::EndpointKey => {
                SealContext { table: "custom_endpoints", column: "api_key", owner }
            }
            Self::McpToken => SealContext { table: "mcp_servers", column: "auth_token", owner },
            Self::WebhookToken => SealContext { table: "managed_webhooks", column: "token", owner },
        }
    }

    async fn pending(self, owner: &PgPool, current: i32) -> Result<i64, StoreError> {
        let n = match self {
            Self::ProviderKey => {
                sqlx::query_scalar!(
                    "SELECT count(*) FROM provider_credentials WHERE key_version <> $1",
                    current
                )
                .fetch_one(owner)
                .await
            }
            Self::EndpointKey => {
                sqlx::query_scalar!(
                    "SELECT count(*) FROM custom_endpoints
                     WHERE api_key IS NOT NULL AND (key_version <> $1 OR NOT api_key_bound)",
                    current
                )
                .fetch_one(owner)
                .await
            }
            Self::McpToken => {
                sqlx::query_scalar!(
                    "SELECT count(*) FROM mcp_servers WHERE key_version <> $1",
                    current
                )
                .fetch_one(owner)
                .await
            }
            Self::WebhookToken => {
                sqlx::query_scalar!(
                    "SELECT count(*) FROM managed_webhooks WHERE key_version <> $1",
                    current
                )
                .fetch_one(owner)
                .await
            }
        };
        Ok(n.about("sealed values")?.unwrap_or(0))
    }

    async fn batch(
        self,
        tx: &mut sqlx::PgConnection,
        current: i32,
        pass: Pass,
    ) -> Result<Vec<Batch>, StoreError> {
        if pass == Pass::Bind && !matches!(self, Self::EndpointKey) {
            return Ok(Vec::new());
        }
        let rows = match self {
            Self::ProviderKey => sqlx::query_as!(
                Batch,
                r#"SELECT id AS "key_a!", 0::bigint AS "key_b!", server_id, user_id, secret AS "blob!",
                          NULL::text AS "binding?", false AS "bound!"
                   FROM provider_credentials WHERE key_version <> $1
                   ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED"#,
                current,
                ROTATE_BATCH
            )
            .fetch_all(tx)
            .await,
            Self::EndpointKey => sqlx::query_as!(
                Batch,
                r#"SELECT id AS "key_a!", 0::bigint AS "key_b!", server_id, user_id, api_key AS "blob!",
                          base_url AS "binding?", api_key_bound AS "bound!"
                   FROM custom_endpoints
                   WHERE api_key IS NOT NULL AND (NOT api_key_bound OR ($3 AND key_version <> $1))
                   ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED"#,
                current,
                ROTATE_BATCH,
                pass == Pass::Rotate
            )
            .fetch_all(tx)
            .await,
            Self::McpToken => sqlx::query_as!(
                Batch,
                r#"SELECT id AS "key_a!", 0::bigint AS "key_b!", server_id AS "server_id?", NULL::bigint AS user_id,
                          auth_token AS "blob!", NULL::text AS "binding?", false AS "bound!"
                   FROM mcp_servers WHERE key_version <> $1 AND auth_token IS NOT NULL
                   ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED"#,
                current,
                ROTATE_BATCH
            )
            .fetch_all(tx)
            .await,
            Self::WebhookToken => sqlx::query_as!(
                Batch,
                r#"SELECT server_id AS "key_a!", channel_id AS "key_b!", server_id AS "server_id?",
                          NULL::bigint AS user_id, token AS "blob!", NULL::text AS "binding?",
                          false AS "bound!"
                   FROM managed_webhooks WHERE key_version <> $1
                   ORDER BY server_id, channel_id LIMIT $2 FOR UPDATE SKIP LOCKED"#,
                current,
                ROTATE_BATCH
            )
            .fetch_all(tx)
            .await,
        };
        rows.about("sealed values")
    }

    async fn store(
        self,
        tx: &mut sqlx::PgConnection,
        row: &Batch,
        blob: &[u8],
        version: i32,
    ) -> Result<(), StoreError> {
        let done = match self {
            Self::ProviderKey => {
                sqlx::query!(
                    "UPDATE provider_credentials SET secret = $2, key_version = $3 WHERE id = $1",
                    row.key_a,
                    blob,
                    version
                )
                .execute(tx)
                .await
            }
            Self::EndpointKey => {
                sqlx::query!(
                    "UPDATE custom_endpoints SET api_key = $2, key_version = $3, api_key_bound = true
                     WHERE id = $1",
                    row.key_a,
                    blob,
                    version
                )
                .execute(tx)
                .await
            }
            Self::McpToken => {
                sqlx::query!(
                    "UPDATE mcp_servers SET auth_token = $2, key_version = $3 WHERE id = $1",
                    row.key_a,
                    blob,
                    version
                )
                .execute(tx)
                .await
            }
            Self::WebhookToken => {
                sqlx::query!(
                    "UPDATE managed_webhooks SET token = $3, key_version = $4 WHERE server_id = $1 AND channel_id = $2",
                    row.key_a,
                    row.key_b,
                    blob,
                    version
                )
                .execute(tx)
                .await
            }
        };
        done.about("sealed values").map(drop)
    }
}

/// Re-seals every stored secret under the ring's current version (`tomori keys rotate`).
///
/// # Errors
/// A value that does not open with the ring (nothing of its batch is written), or an unavailable
/// database; batches committed before the error stay committed.
pub async fn rotate(owner: &PgPool, ring: &KeyRing, dry_run: bool) -> Result<Rotation, StoreError> {
    rotate_with_progress(owner, ring, dry_run, |_, _| {}).await
}

/// [`rotate`], calling `on_batch` with the work done so far and the rows there were to re-seal
/// after each committed batch.
///
/// # Errors
/// As [`rotate`].
pub async fn rotate_with_progress(
    owner: &PgPool,
    ring: &KeyRing,
    dry_run: bool,
    mut on_batch: impl FnMut(&Rotation, u64) + Send,
) -> Result<Rotation, StoreError> {
    let current = version_to_db(ring.current());
    let mut report = Rotation::default();
    let mut total = 0;
    for column in COLUMNS {
        total += u64::try_from(column.pending(owner, current).await?).unwrap_or(0);
    }
    if dry_run {
        report.resealed = total;
        return Ok(report);
    }
    for column in COLUMNS {
        reseal(owner, ring, column, Pass::Rotate, &mut report, |report| on_batch(report, total))
            .await?;
    }
    if report.resealed > 0 {
        let after = serde_json::json!({ "key_version": current, "resealed": report.resealed });
        audit::record_instance(
            owner,
            Change {
                actor: Actor::Operator,
                action: "keys.rotate",
                target: "key_ring".to_owned(),
                before: None,
                after: Some(&after),
            },
        )
        .await?;
    }
    Ok(report)
}

/// Re-seals one column's rows that `pass` selects, in batches, counting into `report`.
async fn reseal(
    owner: &PgPool,
    ring: &KeyRing,
    column: Column,
    pass: Pass,
    report: &mut Rotation,
    mut on_batch: impl FnMut(&Rotation) + Send,
) -> Result<(), StoreError> {
    let current = version_to_db(ring.current());
    loop {
        let mut tx = owner.begin().await.about("rotation")?;
        let rows = column.batch(&mut tx, current, pass).await?;
        if rows.is_empty() {
            return Ok(());
        }
        for row in &rows {
            let ctx = column.context(row.server_id, row.user_id);
            let sealed = match &row.binding {
                // Security: key exfiltration by a database edit. Endpoint keys are re-sealed
                // bound to their endpoint's origin.
                Some(url) => {
                    let origin = crate::endpoints::origin(url);
                    let plaintext = if row.bound {
                        ring.open_bound(&row.blob, &ctx, &origin)?
                    } else {
                        ring.open(&row.blob, &ctx)?
                    };
                    ring.seal_bound(secrecy::ExposeSecret::expose_secret(&plaintext), &ctx, &origin)
                }
                None => {
                    let plaintext = ring.open(&row.blob, &ctx)?;
                    ring.seal(secrecy::ExposeSecret::expose_secret(&plaintext), &ctx)
                }
            };
            column.store(&mut tx, row, &sealed.blob, sealed.key_version).await?;
        }
        tx.commit().await.about("rotation")?;
        report.resealed += u64::try_from(rows.len()).unwrap_or(u64::MAX);
        report.batches += 1;
        on_batch(report);
    }
}

/// Re-seals the endpoint keys stored before keys were bound to their endpoint's origin (at
/// every start; nothing to do after the first). Returns how many it bound.
///
/// # Errors
/// A key that does not open with the ring, or an unavailable database.
pub async fn bind_endpoint_keys(owner: &PgPool, ring: &KeyRing) -> Result<u64, StoreError> {
    let mut report = Rotation::default();
    reseal(owner, ring, Column::EndpointKey, Pass::Bind, &mut report, |_| {}).await?;
    if report.resealed > 0 {
        let after = serde_json::json!({ "bound": report.resealed });
        audit::record_instance(
            owner,
            Change {
                actor: Actor::Operator,
                action: "keys.bind",
                target: "custom_endpoints.api_key".to_owned(),
                before: None,
                after: Some(&after),
            },
        )
        .await?;
    }
    Ok(report.resealed)
}
