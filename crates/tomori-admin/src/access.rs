//! Who may run what: the one check every action passes, whatever front door it came through.

use tomori_core::settings::Feature;
use tomori_core::shared_memory::{self, SharedMemoryChange};
use tomori_store::{Scope, Store, StoreError, settings};

use crate::caller::Caller;

/// Who may run an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone, in a server or a direct message: the caller's own data.
    Anyone,
    /// Any member of the server (reading, or asking for an answer).
    Member,
    /// Manage Server or Administrator.
    Manager,
    /// Manage Server, Administrator or Manage Messages.
    Moderator,
    /// A change to the server's shared memory (memories, documents), as
    /// `tomori_core::shared_memory::may_change` rules: teaching needs Manage Server or
    /// Administrator unless the server lets members teach; revising always needs them.
    SharedMemory(SharedMemoryChange),
    /// Manage Server or Administrator, or any member while the server has this feature on.
    ManagerOrFeature(Feature),
}

/// Why an action did not run (its input is refused before anything changes).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The input does not work; the sentence says why and that nothing changed.
    #[error("{0}")]
    BadInput(String),
    /// The action needs a server and was asked for in a direct message.
    #[error("this only works in a server")]
    ServerOnly,
    /// The caller lacks the named permission.
    #[error("this needs the {0} permission")]
    Refused(&'static str),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The permission a refusal names.
const MANAGE_SERVER: &str = "Manage Server";

/// The tenant an action works on: the server asked in, or in a direct message the caller's own
/// DM tenant.
///
/// # Errors
/// An unavailable database.
pub async fn tenant(store: &Store, caller: &Caller) -> Result<Scope, StoreError> {
    let server = match caller.guild {
        Some(guild) => store.resolve_guild(guild).await?,
        // Security: cross-tenant leakage. The DM tenant is keyed by the caller's own user id as
        // the platform reported it with the action, never by anything they typed.
        None => store.resolve_dm(caller.user).await?,
    };
    Ok(Scope::server(server))
}

/// Checks `need` against the caller; the one gate every action passes before it runs. `in_dm`
/// says whether the action also works in a direct message, on the caller's DM tenant.
///
/// # Errors
/// [`AdminError::ServerOnly`], [`AdminError::Refused`], or the store failing while reading the
/// server's settings that the rule depends on.
pub async fn authorize(
    store: &Store,
    caller: &Caller,
    need: Need,
    in_dm: bool,
) -> Result<(), AdminError> {
    if need == Need::Anyone {
        return Ok(());
    }
    if caller.guild.is_none() {
        // Security: ManageGuild boundary. In a DM the tenant is the caller's own (see
        // [`tenant`]): they manage it, and no server's state is reachable from there.
        return if in_dm { Ok(()) } else { Err(AdminError::ServerOnly) };
    }
    // Security: a normal user runs admin actions. The grants the platform reported for this
    // action are checked here, when it runs, before anything is read or written for it.
    let grants = caller.grants;
    let allowed = match need {
        Need::Anyone | Need::Member => true,
        Need::Manager => grants.manage_server,
        Need::Moderator => grants.manage_server || grants.manage_messages,
        Need::SharedMemory(change) => {
            let member_teaching = !grants.manage_server
                && change == SharedMemoryChange::Teach
                && settings::get(store, tenant(store, caller).await?).await?.member_teaching;
            shared_memory::may_change(change, grants.manage_server, member_teaching)
        }
        Need::ManagerOrFeature(feature) => {
            grants.manage_server
                || settings::get(store, tenant(store, caller).await?).await?.feature(feature)
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(AdminError::Refused(if need == Need::Moderator {
            "Manage Server or Manage Messages"
        } else {
            MANAGE_SERVER
        }))
    }
}
