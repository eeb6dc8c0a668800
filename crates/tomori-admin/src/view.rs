//! What a front door shows as a page rather than a sentence: the same reads the slash commands'
//! list and show actions make, as values (the dashboard renders them). Each read authorises
//! itself like the action it mirrors: a server's configuration for any member (`/server`'s
//! lists, `/model show`, `/persona list`), a member's own data for themselves alone.

use tomori_store::{Scope, Store, memories, personas, quotas, settings, users};

pub use tomori_core::id::Snowflake;
pub use tomori_core::quota::QuotaLimits;
pub use tomori_core::settings::Feature;
pub use tomori_store::memories::Memory;
pub use tomori_store::personas::Persona;
pub use tomori_store::quotas::QuotaKind;
pub use tomori_store::settings::ServerSettings;
pub use tomori_store::users::UserSettings;

use crate::access::{AdminError, Need, authorize, tenant};
use crate::caller::Caller;
use crate::model;
use crate::server::SETS;

/// A server's configuration as its overview page shows it.
#[derive(Debug, Clone)]
pub struct ServerView {
    /// The settings, feature flags included.
    pub settings: ServerSettings,
    /// The personas, main first.
    pub personas: Vec<Persona>,
    /// The model, in the words `/model show` uses.
    pub model: String,
    /// The quotas: text, image and video.
    pub quotas: Vec<(QuotaKind, QuotaLimits)>,
    /// Every channel set with its label and channels.
    pub channel_sets: Vec<(&'static str, Vec<Snowflake>)>,
}

/// The server `caller` names, for a member of it.
///
/// # Errors
/// A caller outside a server, or the store failing.
pub async fn server(store: &Store, caller: &Caller) -> Result<ServerView, AdminError> {
    authorize(store, caller, Need::Member, false).await?;
    let scope = tenant(store, caller).await?;
    let model = model::run(store, caller, &model::Action::Show).await?.text;
    let mut quotas = Vec::new();
    for kind in [QuotaKind::Text, QuotaKind::Image, QuotaKind::Video] {
        quotas.push((kind, quotas::limits(store, scope, kind).await?));
    }
    let mut channel_sets = Vec::new();
    for (set, label) in SETS {
        channel_sets.push((label, settings::channels(store, scope, set).await?));
    }
    Ok(ServerView {
        settings: settings::get(store, scope).await?,
        personas: personas::list(store, scope).await?,
        model,
        quotas,
        channel_sets,
    })
}

/// The server's memories, every persona's, for a member of it (as `/memory list` shows them).
///
/// # Errors
/// A caller outside a server, or the store failing.
pub async fn server_memories(store: &Store, caller: &Caller) -> Result<Vec<Memory>, AdminError> {
    authorize(store, caller, Need::Member, false).await?;
    let scope = tenant(store, caller).await?;
    Ok(memories::list_all_server(store, scope).await?)
}

/// The personas of the server `caller` names, for a member of it.
///
/// # Errors
/// A caller outside a server, or the store failing.
pub async fn personas(store: &Store, caller: &Caller) -> Result<Vec<Persona>, AdminError> {
    authorize(store, caller, Need::Member, false).await?;
    let scope = tenant(store, caller).await?;
    Ok(personas::list(store, scope).await?)
}

/// A member's own settings and personal memories.
#[derive(Debug, Clone)]
pub struct MemberView {
    /// Privacy level, language, nickname.
    pub settings: UserSettings,
    /// Every personal memory, for every persona.
    pub memories: Vec<Memory>,
}

/// The caller's own page.
///
/// # Errors
/// The store failing.
pub async fn member(store: &Store, caller: &Caller) -> Result<MemberView, AdminError> {
    // Security: cross-user tampering. The user scope is the caller's own id as the platform
    // reported it; nothing typed names whose data is read.
    let me = Scope::user(store.resolve_user(caller.user).await?);
    Ok(MemberView {
        settings: users::get(store, me).await?,
        memories: memories::list_all_personal(store, me).await?,
    })
}

/// One persona whole (its prompt included), as `/persona show` shows it: for managers only,
/// since a server may keep its prompts to them.
///
/// # Errors
/// A refusal, no such persona, or the store failing.
pub async fn persona(store: &Store, caller: &Caller, name: &str) -> Result<Persona, AdminError> {
    authorize(store, caller, Need::Manager, true).await?;
    let scope = tenant(store, caller).await?;
    crate::persona::named(store, scope, name).await
}

/// How many of the newest audit rows a log page shows.
pub const AUDIT_ROWS: i64 = 200;

pub use tomori_store::audit::{Entry as AuditEntry, Finding as AuditFinding};

/// A server's audit log: its newest rows, and whether its chain verifies.
#[derive(Debug, Clone)]
pub struct AuditView {
    /// The newest [`AUDIT_ROWS`] rows, newest first.
    pub entries: Vec<AuditEntry>,
    /// Rows in the whole chain.
    pub rows: u64,
    /// Every edited, inserted or deleted row found; empty when the chain is intact.
    pub findings: Vec<AuditFinding>,
}

/// The audit log of the server `caller` names, verified: for managers, like every view of who
/// changed what.
///
/// # Errors
/// A refusal, or the store failing.
pub async fn audit(store: &Store, caller: &Caller) -> Result<AuditView, AdminError> {
    authorize(store, caller, Need::Manager, false).await?;
    let scope = tenant(store, caller).await?;
    let (entries, verification) = tomori_store::audit::tenant_log(store, scope, AUDIT_ROWS).await?;
    Ok(AuditView { entries, rows: verification.rows, findings: verification.findings })
}
