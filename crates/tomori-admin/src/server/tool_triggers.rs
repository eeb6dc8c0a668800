//! `/server tool-trigger add|remove|list`: a server's own phrases and expressions for deliberate
//! tool mode (`tomori_core::tool_intent::custom`), beside the built-in keywords.

use tomori_core::tool_intent::ToolFamily;
use tomori_core::tool_intent::custom::{MAX_PER_FAMILY, MAX_TRIGGERS, TriggerKind};
use tomori_store::{Scope, Store, StoreError, tool_triggers};

use crate::access::AdminError;
use crate::caller::Caller;

/// A `/server tool-trigger` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerAction {
    /// Adds a trigger.
    Add {
        /// The family it asks for.
        family: ToolFamily,
        /// Phrase or expression.
        kind: TriggerKind,
        /// As written.
        text: String,
    },
    /// Removes a trigger by its number in the list.
    Remove {
        /// From 1, as `list` numbers them.
        number: i64,
    },
    /// Lists the triggers.
    List,
}

impl TriggerAction {
    /// Whether it changes the server.
    pub(super) fn changes(&self) -> bool {
        !matches!(self, Self::List)
    }
}

/// Runs a `/server tool-trigger` subcommand.
///
/// # Errors
/// Input refused (nothing changes then), a limit reached, or the store failing.
pub(super) async fn run(
    store: &Store,
    scope: Scope,
    caller: &Caller,
    action: &TriggerAction,
) -> Result<String, AdminError> {
    Ok(match action {
        TriggerAction::List => list(store, scope).await?,
        TriggerAction::Add { family, kind, text } => {
            let added = tool_triggers::add(store, scope, caller.actor(), *family, *kind, text)
                .await
                .map_err(|error| match error {
                    StoreError::Invalid { reason, .. } => {
                        AdminError::BadInput(format!("Not added: {reason}. Nothing was changed."))
                    }
                    StoreError::LimitReached { .. } => AdminError::BadInput(format!(
                        "At most {MAX_TRIGGERS} tool triggers, {MAX_PER_FAMILY} for one family; \
                         remove one with /server tool-trigger remove."
                    )),
                    other => other.into(),
                })?;
            if added {
                format!(
                    "A message with that {} now asks for the {} tools (in deliberate tool mode, \
                     /server deliberate-tools).",
                    kind.name(),
                    family.name()
                )
            } else {
                "That trigger is already there; nothing was changed.".to_owned()
            }
        }
        TriggerAction::Remove { number } => {
            let triggers = tool_triggers::list(store, scope).await?;
            let at = usize::try_from(*number).ok().and_then(|n| n.checked_sub(1));
            let Some(trigger) = at.and_then(|at| triggers.get(at)) else {
                return Err(AdminError::BadInput(format!(
                    "There is no trigger {number}; /server tool-trigger list numbers them."
                )));
            };
            let (family, kind) = (trigger.family, trigger.kind);
            let actor = caller.actor();
            if tool_triggers::remove(store, scope, actor, family, kind, &trigger.pattern).await? {
                format!(
                    "Removed the {} trigger `{}` for the {} tools.",
                    kind.name(),
                    trigger.pattern,
                    family.name()
                )
            } else {
                "That trigger was just removed; nothing was changed.".to_owned()
            }
        }
    })
}

async fn list(store: &Store, scope: Scope) -> Result<String, AdminError> {
    let triggers = tool_triggers::list(store, scope).await?;
    if triggers.is_empty() {
        return Ok("No tool triggers of this server's own; the built-in keywords apply.".to_owned());
    }
    let mut out = format!("Tool triggers ({} of {MAX_TRIGGERS}):", triggers.len());
    for (n, trigger) in triggers.iter().enumerate() {
        out.push_str(&format!(
            "\n{}. {} · {} `{}`",
            n + 1,
            trigger.family.name(),
            trigger.kind.name(),
            trigger.pattern.replace('`', "'")
        ));
    }
    Ok(out)
}
