//! The audit chain: every admin, configuration, key and memory change appends a row whose hash
//! covers the previous row of the same chain.
//!
//! There is one chain per tenant (`server:<id>`, `user:<id>`) so that appends from different
//! tenants do not contend and row-level security applies to the log as to everything else; the
//! `instance` chain records operator actions such as key rotation. The application role may only
//! insert into `audit_log`; [`verify`] (run by `tomori audit verify` on the owner connection)
//! recomputes every chain and reports each edited, inserted or deleted row.
//!
//! Rows hold digests of the before and after states, not the states: the log proves what changed
//! without becoming a second copy of memories or prompts.

use std::fmt;

use chrono::{DateTime, SubsecRound, Utc};
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use tomori_core::id::{PersonaId, Snowflake};

use crate::error::SqlxResultExt;
use crate::{ScopedTx, StoreError};

const GENESIS: [u8; 32] = [0; 32];

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A Discord user, through a slash command.
    Discord(Snowflake),
    /// The model, through a tool, on behalf of the user who triggered the turn.
    Model {
        /// The persona that called the tool.
        persona: PersonaId,
        /// The user whose turn it was.
        invoker: Snowflake,
    },
    /// The operator, through the command line.
    Operator,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Discord(user) => write!(f, "discord:{user}"),
            Self::Model { persona, invoker } => write!(f, "model:{persona}:for:{invoker}"),
            Self::Operator => f.write_str("operator"),
        }
    }
}

/// One change to record.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    /// Who.
    pub actor: Actor,
    /// What kind of change, e.g. `persona.create`.
    pub action: &'static str,
    /// What was changed, e.g. `persona:12`.
    pub target: String,
    /// The state before, if there was one.
    pub before: Option<&'a serde_json::Value>,
    /// The state after, if there is one.
    pub after: Option<&'a serde_json::Value>,
}

/// SHA-256 of a state's JSON. `serde_json` keeps object keys sorted, so equal states give equal
/// digests.
pub fn digest(state: &serde_json::Value) -> Vec<u8> {
    Sha256::digest(serde_json::to_vec(state).expect("a JSON value always serialises")).to_vec()
}

struct Row<'a> {
    chain: &'a str,
    seq: i64,
    actor: &'a str,
    action: &'a str,
    target: &'a str,
    before_digest: Option<&'a [u8]>,
    after_digest: Option<&'a [u8]>,
    at: DateTime<Utc>,
    prev_hash: &'a [u8],
}

impl Row<'_> {
    fn hash(&self) -> Vec<u8> {
        let mut hasher = Sha256::new();
        hasher.update(b"tomori/audit/1");
        hasher.update(self.prev_hash);
        for field in [self.chain, self.actor, self.action, self.target] {
            hasher.update(u64::try_from(field.len()).unwrap_or(u64::MAX).to_be_bytes());
            hasher.update(field.as_bytes());
        }
        hasher.update(self.seq.to_be_bytes());
        for digest in [self.before_digest, self.after_digest] {
            match digest {
                Some(bytes) => {
                    hasher.update([1]);
                    hasher.update(bytes);
                }
                None => hasher.update([0]),
            }
        }
        hasher.update(self.at.timestamp_micros().to_be_bytes());
        hasher.finalize().to_vec()
    }
}

/// Appends `change` to the chain of the transaction's tenant, inside that transaction, so the
/// record commits or rolls back with the change itself.
///
/// # Errors
/// The database refused or is unavailable.
pub async fn record(tx: &mut ScopedTx, change: Change<'_>) -> Result<(), StoreError> {
    let scope = tx.scope();
    let (chain, server_id, user_id) = match (scope.server_id(), scope.user_id()) {
        (Some(server), _) => (format!("server:{server}"), Some(server.get()), None),
        (None, Some(user)) => (format!("user:{user}"), None, Some(user.get())),
        (None, None) => unreachable!("a Scope always names a server or a user"),
    };
    append(tx.conn(), &chain, server_id, user_id, change).await
}

/// Appends to the `instance` chain on the owner connection (operator actions).
///
/// # Errors
/// The database refused or is unavailable.
pub async fn record_instance(owner: &PgPool, change: Change<'_>) -> Result<(), StoreError> {
    let mut tx = owner.begin().await.about("audit")?;
    append(&mut tx, "instance", None, None, change).await?;
    tx.commit().await.about("audit")
}

async fn append(
    conn: &mut PgConnection,
    chain: &str,
    server_id: Option<i64>,
    user_id: Option<i64>,
    change: Change<'_>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO audit_heads (chain, server_id, user_id, seq, hash) VALUES ($1, $2, $3, 0, $4)
         ON CONFLICT (chain) DO NOTHING",
        chain,
        server_id,
        user_id,
        &GENESIS[..]
    )
    .execute(&mut *conn)
    .await
    .about("audit head")?;
    // The row lock on the head serialises appends to one chain.
    let head = sqlx::query!("SELECT seq, hash FROM audit_heads WHERE chain = $1 FOR UPDATE", chain)
        .fetch_one(&mut *conn)
        .await
        .about("audit head")?;
    let actor = change.actor.to_string();
    let before_digest = change.before.map(digest);
    let after_digest = change.after.map(digest);
    // PostgreSQL keeps microseconds; truncate first so the hash survives the round trip.
    let at = Utc::now().trunc_subsecs(6);
    let row = Row {
        chain,
        seq: head.seq + 1,
        actor: &actor,
        action: change.action,
        target: &change.target,
        before_digest: before_digest.as_deref(),
        after_digest: after_digest.as_deref(),
        at,
        prev_hash: &head.hash,
    };
    let hash = row.hash();
    sqlx::query!(
        "INSERT INTO audit_log (chain, seq, server_id, user_id, actor, action, target,
                                before_digest, after_digest, at, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        chain,
        row.seq,
        server_id,
        user_id,
        actor,
        change.action,
        change.target,
        before_digest,
        after_digest,
        at,
        &head.hash,
        hash
    )
    .execute(&mut *conn)
    .await
    .about("audit row")?;
    sqlx::query!(
        "UPDATE audit_heads SET seq = $2, hash = $3 WHERE chain = $1",
        chain,
        row.seq,
        hash
    )
    .execute(&mut *conn)
    .await
    .about("audit head")?;
    Ok(())
}

/// A break in a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A row's content no longer matches its hash.
    Edited {
        /// Chain.
        chain: String,
        /// Position in the chain.
        seq: i64,
        /// Row id.
        id: i64,
    },
    /// A row that the chain's head does not account for, or that does not link to its predecessor.
    Inserted {
        /// Chain.
        chain: String,
        /// Position in the chain.
        seq: i64,
        /// Row id.
        id: i64,
    },
    /// The chain's recorded head does not match its last row.
    HeadMismatch {
        /// Chain.
        chain: String,
    },
    /// Rows missing from the chain.
    Deleted {
        /// Chain.
        chain: String,
        /// First missing position.
        from_seq: i64,
        /// Last missing position.
        to_seq: i64,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Edited { chain, seq, id } => {
                write!(f, "edited: row {id} ({chain} #{seq}) does not match its hash")
            }
            Self::Inserted { chain, seq, id } => {
                write!(f, "inserted: row {id} ({chain} #{seq}) is not part of the recorded chain")
            }
            Self::HeadMismatch { chain } => {
                write!(f, "edited: the recorded head of {chain} does not match its last row")
            }
            Self::Deleted { chain, from_seq, to_seq } if from_seq == to_seq => {
                write!(f, "deleted: {chain} #{from_seq} is missing")
            }
            Self::Deleted { chain, from_seq, to_seq } => {
                write!(f, "deleted: {chain} #{from_seq} to #{to_seq} are missing")
            }
        }
    }
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verification {
    /// Rows checked.
    pub rows: u64,
    /// Chains checked.
    pub chains: u64,
    /// Every break found, in chain order.
    pub findings: Vec<Finding>,
    /// Each chain's recorded head, for an operator to keep elsewhere: a head noted earlier that
    /// no longer appears in a later run reveals a chain cut back and re-grown.
    pub heads: Vec<ChainHead>,
}

/// A chain's recorded head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// Chain.
    pub chain: String,
    /// Rows in the chain according to the head.
    pub seq: i64,
    /// Hash of the newest row, lower-case hex.
    pub hash: String,
}

/// Recomputes every chain. Runs on the owner connection: verification spans all tenants.
///
/// # Errors
/// The database is unavailable.
pub async fn verify(owner: &PgPool) -> Result<Verification, StoreError> {
    verify_with_progress(owner, |_, _| {}).await
}

/// [`verify`], calling `on_chain` with the chains checked so far and the number of chains after
/// each one.
///
/// # Errors
/// As [`verify`].
pub async fn verify_with_progress(
    owner: &PgPool,
    mut on_chain: impl FnMut(u64, u64) + Send,
) -> Result<Verification, StoreError> {
    let mut report = Verification::default();
    let heads: Vec<(String, i64, Vec<u8>)> =
        sqlx::query!("SELECT chain, seq, hash FROM audit_heads ORDER BY chain")
            .fetch_all(owner)
            .await
            .about("audit heads")?
            .into_iter()
            .map(|h| (h.chain, h.seq, h.hash))
            .collect();
    let orphan_chains = sqlx::query_scalar!(
        r#"SELECT DISTINCT chain AS "chain!" FROM audit_log
           WHERE chain NOT IN (SELECT chain FROM audit_heads) ORDER BY 1"#
    )
    .fetch_all(owner)
    .await
    .about("audit log")?;
    report.heads = heads
        .iter()
        .map(|(chain, seq, hash)| ChainHead {
            chain: chain.clone(),
            seq: *seq,
            hash: hash.iter().map(|b| format!("{b:02x}")).collect(),
        })
        .collect();
    let total = u64::try_from(heads.len() + orphan_chains.len()).unwrap_or(u64::MAX);
    let chains = heads
        .into_iter()
        .map(|(chain, seq, hash)| (chain, Some((seq, hash))))
        .chain(orphan_chains.into_iter().map(|chain| (chain, None)));
    let mut conn = owner.acquire().await.about("audit log")?;
    for (chain, head) in chains {
        report.chains += 1;
        verify_chain(&mut conn, &chain, head, &mut report).await?;
        on_chain(report.chains, total);
    }
    Ok(report)
}

/// One row of a tenant's chain, as its log page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Position in the chain.
    pub seq: i64,
    /// Who (`discord:<id>`, `model:<persona>:for:<id>`, `operator`).
    pub actor: String,
    /// What kind of change.
    pub action: String,
    /// What was changed.
    pub target: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The newest `limit` rows of the scope's own chain, newest first, and that chain recomputed as
/// [`verify`] does, in the tenant's transaction (row-level security shows it nothing else).
///
/// # Errors
/// The database is unavailable.
pub async fn tenant_log(
    store: &crate::Store,
    scope: crate::Scope,
    limit: i64,
) -> Result<(Vec<Entry>, Verification), StoreError> {
    let chain = match (scope.server_id(), scope.user_id()) {
        (Some(server), _) => format!("server:{server}"),
        (None, Some(user)) => format!("user:{user}"),
        (None, None) => unreachable!("a Scope always names a server or a user"),
    };
    let mut tx = store.begin(scope).await?;
    let entries = sqlx::query_as!(
        Entry,
        "SELECT seq, actor, action, target, at FROM audit_log WHERE chain = $1
         ORDER BY seq DESC LIMIT $2",
        chain,
        limit
    )
    .fetch_all(tx.conn())
    .await
    .about("audit log")?;
    let head = sqlx::query!("SELECT seq, hash FROM audit_heads WHERE chain = $1", chain)
        .fetch_optional(tx.conn())
        .await
        .about("audit head")?
        .map(|h| (h.seq, h.hash));
    let mut report = Verification { chains: 1, ..Verification::default() };
    verify_chain(tx.conn(), &chain, head, &mut report).await?;
    tx.commit().await?;
    Ok((entries, report))
}

async fn verify_chain(
    conn: &mut PgConnection,
    chain: &str,
    head: Option<(i64, Vec<u8>)>,
    report: &mut Verification,
) -> Result<(), StoreError> {
    let (head_seq, head_hash) = head.unwrap_or((0, GENESIS.to_vec()));
    let mut rows = sqlx::query!(
        "SELECT id, seq, actor, action, target, before_digest, after_digest, at, prev_hash, hash
         FROM audit_log WHERE chain = $1 ORDER BY seq",
        chain
    )
    .fetch(conn);
    let findings_before = report.findings.len();
    let mut expected_seq = 1;
    let mut prev_hash = GENESIS.to_vec();
    let mut last_hash = GENESIS.to_vec();
    while let Some(row) = rows.try_next().await.about("audit log")? {
        report.rows += 1;
        if row.seq > head_seq {
            report.findings.push(Finding::Inserted {
                chain: chain.to_owned(),
                seq: row.seq,
                id: row.id,
            });
            continue;
        }
        let linked_after_gap = row.seq > expected_seq;
        if linked_after_gap {
            report.findings.push(Finding::Deleted {
                chain: chain.to_owned(),
                from_seq: expected_seq,
                to_seq: row.seq - 1,
            });
        }
        let recomputed = Row {
            chain,
            seq: row.seq,
            actor: &row.actor,
            action: &row.action,
            target: &row.target,
            before_digest: row.before_digest.as_deref(),
            after_digest: row.after_digest.as_deref(),
            at: row.at,
            prev_hash: &row.prev_hash,
        }
        .hash();
        if recomputed != row.hash {
            report.findings.push(Finding::Edited {
                chain: chain.to_owned(),
                seq: row.seq,
                id: row.id,
            });
        } else if row.prev_hash != prev_hash && !linked_after_gap {
            report.findings.push(Finding::Inserted {
                chain: chain.to_owned(),
                seq: row.seq,
                id: row.id,
            });
        }
        prev_hash = row.hash.clone();
        last_hash = row.hash;
        expected_seq = row.seq + 1;
    }
    if expected_seq <= head_seq {
        report.findings.push(Finding::Deleted {
            chain: chain.to_owned(),
            from_seq: expected_seq,
            to_seq: head_seq,
        });
    } else if last_hash != head_hash && report.findings.len() == findings_before {
        report.findings.push(Finding::HeadMismatch { chain: chain.to_owned() });
    }
    Ok(())
}
