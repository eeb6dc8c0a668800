//! ComfyUI workflows for custom endpoints (`/provider endpoint workflow` on Discord): an endpoint
//! with a workflow is a ComfyUI server, and `/model image set custom:<label> …` makes it draw.
//! The workflow is checked here, when it is registered, so a picture never waits on a workflow
//! that could not run.

use tomori_llm::ComfyWorkflow;
use tomori_store::{Store, endpoints};

use crate::access::{AdminError, Need, authorize, tenant};
use crate::answer::Answer;
use crate::caller::Caller;

/// The largest workflow file taken (ComfyUI's API format), in bytes.
pub const MAX_WORKFLOW_FILE_BYTES: usize = tomori_llm::MAX_WORKFLOW_BYTES;

/// Gives the endpoint `label` the workflow in `bytes` (a file called `filename`).
///
/// # Errors
/// A refusal, a workflow that cannot run (the reason says which check), an unknown endpoint, or
/// the store failing; nothing changes then.
pub async fn set(
    store: &Store,
    caller: &Caller,
    label: &str,
    filename: &str,
    bytes: &[u8],
) -> Result<Answer, AdminError> {
    authorize(store, caller, Need::Manager, true).await?;
    let scope = tenant(store, caller).await?;
    // Security: hostile workflows. Size, nesting, node count, links, node types that reach
    // outside the ComfyUI host, parent paths and the placeholders are checked before storing.
    let workflow = ComfyWorkflow::parse(bytes).map_err(|error| {
        AdminError::BadInput(format!(
            "`{filename}` is not a workflow Tomori can run: {error}. Nothing was changed."
        ))
    })?;
    let nodes = workflow.node_ids().count();
    if !endpoints::set_workflow(store, scope, caller.actor(), label, Some(&workflow.as_json()))
        .await?
    {
        return Err(AdminError::BadInput(format!(
            "There is no endpoint called `{label}`; add it with /provider endpoint add first. \
             Nothing was changed."
        )));
    }
    Ok(Answer::text(format!(
        "`custom:{label}` is now a ComfyUI server running `{filename}` ({nodes} nodes); choose it \
         with /model image set provider:custom:{label}."
    )))
}

/// Takes the workflow away from the endpoint `label` (it is an OpenAI-compatible endpoint again).
///
/// # Errors
/// A refusal, an endpoint without a workflow, or the store failing.
pub async fn clear(store: &Store, caller: &Caller, label: &str) -> Result<Answer, AdminError> {
    authorize(store, caller, Need::Manager, true).await?;
    let scope = tenant(store, caller).await?;
    if !endpoints::set_workflow(store, scope, caller.actor(), label, None).await? {
        return Err(AdminError::BadInput(format!(
            "`custom:{label}` has no workflow (or there is no such endpoint); nothing was changed."
        )));
    }
    Ok(Answer::text(format!("`custom:{label}` no longer runs a ComfyUI workflow.")))
}
