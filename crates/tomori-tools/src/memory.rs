//! `create_long_term_memory` and `update_long_term_memory`: the model teaches itself, for the
//! server (this persona's server memories) or for the invoker (their personal memories).
//!
//! Both need the `self_teaching` flag. Server memories follow `/memory`'s rule
//! ([`tomori_core::shared_memory::may_change`]): teaching needs Manage Server unless the server
//! lets members teach, and changing or deleting one always needs it (in a direct message the
//! member is the only one the conversation's pseudo-server has, so they manage it). Personal
//! memories also need the invoker at privacy level 0 and the server's `personal_memories` flag.
//! All of it is read from the live state the call was authorised against. Every write goes through tomori-store with [`Actor::Model`], so the audit chain names
//! the persona and the member whose turn it was. Updates can only reach memories the turn showed
//! (the gate's [`TargetRule::ShownMemory`]); blank content deletes.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};
use tomori_core::privacy::PrivacyLevel;
use tomori_core::settings::Feature;
use tomori_core::shared_memory::{self, SharedMemoryChange};
use tomori_store::audit::Actor;
use tomori_store::{Scope, Store, StoreError, memories, memory_edits};

use crate::context::{MemoryScope, Place, TurnContext};
use crate::gate::{Authorized, Target, Tool, ToolOutcome};
use crate::perm::{Perm, Perms};
use crate::policy::{Contexts, Effect, TargetRule, ToolPolicy};

/// Saves a new long-term memory.
#[derive(Clone, Debug)]
pub struct CreateMemory {
    store: Store,
}

impl CreateMemory {
    /// The tool over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

/// Replaces or deletes a long-term memory the turn showed.
#[derive(Clone, Debug)]
pub struct UpdateMemory {
    store: Store,
}

impl UpdateMemory {
    /// The tool over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

fn actor(ctx: &TurnContext) -> Actor {
    Actor::Model { persona: ctx.persona, invoker: ctx.invoker }
}

/// Security: personal data of users who opted out. Personal memories only for privacy level 0
/// with the server's `personal_memories` flag on, as read at authorisation.
fn personal_allowed(call: &Authorized<'_>) -> Result<(), ToolOutcome> {
    let live = call.snapshot();
    if live.privacy != PrivacyLevel::Minimal {
        return Err(ToolOutcome::Failure(
            "personal_memory_refused: the member's privacy level does not allow personal memories; save a server memory only if it is not personal".to_owned(),
        ));
    }
    if !live.features.is_on(Feature::PersonalMemories) {
        return Err(ToolOutcome::Failure(
            "personal_memory_refused: personal memories are off in this server".to_owned(),
        ));
    }
    Ok(())
}

/// Security: privilege escalation through the model. A member gets the model to change the
/// server's shared memory only where `/memory` would let them change it themselves; the rule is
/// the commands' own ([`shared_memory::may_change`]), judged on the permissions and settings the
/// call was authorised against.
fn shared_allowed(
    call: &Authorized<'_>,
    ctx: &TurnContext,
    change: SharedMemoryChange,
) -> Result<(), ToolOutcome> {
    let live = call.snapshot();
    let manages = live.invoker.contains(Perm::ManageGuild) || ctx.place == Place::Dm;
    if shared_memory::may_change(change, manages, live.member_teaching) {
        return Ok(());
    }
    Err(ToolOutcome::Failure(match change {
        SharedMemoryChange::Teach => "teaching_refused: only members with Manage Server may teach this server's memories here (member teaching is off); a fact about this member alone can be a personal memory".to_owned(),
        SharedMemoryChange::Revise => "revising_refused: only members with Manage Server may change or delete this server's memories".to_owned(),
    }))
}

fn store_failure(error: &StoreError) -> ToolOutcome {
    let reason = match error {
        StoreError::LimitReached { what, limit } => {
            format!("memory_limit_reached: at most {limit} {what}; update or delete one instead")
        }
        StoreError::Invalid { reason, .. } => format!("invalid_memory: {reason}"),
        StoreError::NotFound(_) => "memory_not_found: it may have been deleted".to_owned(),
        other => {
            tracing::error!(error = %other, "memory tool: store error");
            "storage_unavailable: the memory was not saved; try again later".to_owned()
        }
    };
    ToolOutcome::Failure(reason)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateArgs {
    content: String,
    memory_scope: MemoryScope,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateArgs {
    #[serde(rename = "memory_id")]
    _memory_id: i64,
    #[serde(rename = "memory_scope")]
    _memory_scope: MemoryScope,
    content: String,
}

fn scope_schema() -> Value {
    json!({
        "type": "string",
        "enum": ["server", "personal"],
        "description": "server: for everyone here, with this persona; personal: about the member you are talking to, for them only"
    })
}

impl Tool for CreateMemory {
    fn name(&self) -> &'static str {
        "create_long_term_memory"
    }

    fn description(&self) -> &'static str {
        "Remember a fact for future conversations. Use when someone asks you to remember something or shares a lasting fact. Write it in the third person with {user} for the member and {bot} for yourself."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "content": {"type": "string", "description": "What to remember, one fact."},
                "memory_scope": scope_schema(),
            },
            "required": ["content", "memory_scope"],
            "additionalProperties": false,
        })
    }

    fn policy(&self) -> ToolPolicy {
        ToolPolicy {
            feature: Some(Feature::SelfTeaching),
            effect: Effect::Creates,
            bot_permissions: Perms::NONE,
            invoker_permissions: Perms::NONE,
            contexts: Contexts::EVERYWHERE,
            quota: None,
            target: TargetRule::None,
        }
    }

    fn execute<'a>(
        &'a self,
        call: Authorized<'a>,
        ctx: &'a TurnContext,
    ) -> BoxFuture<'a, ToolOutcome> {
        async move {
            let args: CreateArgs = match call.parse() {
                Ok(args) => args,
                Err(failure) => return failure,
            };
            let saved = match args.memory_scope {
                MemoryScope::Server => {
                    if let Err(refused) = shared_allowed(&call, ctx, SharedMemoryChange::Teach) {
                        return refused;
                    }
                    memories::add_server(
                        &self.store,
                        Scope::server(ctx.server),
                        actor(ctx),
                        ctx.lineage,
                        Some(ctx.invoker),
                        &args.content,
                    )
                    .await
                }
                MemoryScope::Personal => {
                    if let Err(refused) = personal_allowed(&call) {
                        return refused;
                    }
                    memories::add_personal(
                        &self.store,
                        Scope::member(ctx.server, ctx.invoker_user),
                        actor(ctx),
                        ctx.lineage,
                        &args.content,
                    )
                    .await
                }
            };
            match saved {
                Ok(memory) => ToolOutcome::Success(json!({
                    "status": "saved",
                    "memory_id": memory.id,
                    "memory_scope": args.memory_scope,
                })),
                Err(e) => store_failure(&e),
            }
        }
        .boxed()
    }
}

impl Tool for UpdateMemory {
    fn name(&self) -> &'static str {
        "update_long_term_memory"
    }

    fn description(&self) -> &'static str {
        "Correct or delete a long-term memory shown to you as [id:N]. Blank content deletes it."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "memory_id": {"type": "integer", "description": "The N of [id:N]."},
                "memory_scope": scope_schema(),
                "content": {"type": "string", "description": "The new text; empty to delete."},
            },
            "required": ["memory_id", "memory_scope", "content"],
            "additionalProperties": false,
        })
    }

    fn policy(&self) -> ToolPolicy {
        ToolPolicy {
            feature: Some(Feature::SelfTeaching),
            effect: Effect::Destructive,
            bot_permissions: Perms::NONE,
            invoker_permissions: Perms::NONE,
            contexts: Contexts::EVERYWHERE,
            quota: None,
            target: TargetRule::ShownMemory { id_arg: "memory_id", scope_arg: "memory_scope" },
        }
    }

    fn execute<'a>(
        &'a self,
        call: Authorized<'a>,
        ctx: &'a TurnContext,
    ) -> BoxFuture<'a, ToolOutcome> {
        async move {
            let args: UpdateArgs = match call.parse() {
                Ok(args) => args,
                Err(failure) => return failure,
            };
            // The gate resolved the target; the arguments are not read again for it.
            let Some(Target::Memory { scope, id }) = call.target() else {
                return ToolOutcome::Failure("unknown_target".to_owned());
            };
            let delete = args.content.trim().is_empty();
            let done = match scope {
                MemoryScope::Server => {
                    if let Err(refused) = shared_allowed(&call, ctx, SharedMemoryChange::Revise) {
                        return refused;
                    }
                    let store_scope = Scope::server(ctx.server);
                    if delete {
                        memories::remove_server(&self.store, store_scope, actor(ctx), id).await
                    } else {
                        memory_edits::update_server(
                            &self.store,
                            store_scope,
                            actor(ctx),
                            id,
                            &args.content,
                        )
                        .await
                        .map(drop)
                    }
                }
                MemoryScope::Personal => {
                    if let Err(refused) = personal_allowed(&call) {
                        return refused;
                    }
                    let store_scope = Scope::member(ctx.server, ctx.invoker_user);
                    if delete {
                        memories::remove_personal(&self.store, store_scope, actor(ctx), id).await
                    } else {
                        memory_edits::update_personal(
                            &self.store,
                            store_scope,
                            actor(ctx),
                            id,
                            &args.content,
                        )
                        .await
                        .map(drop)
                    }
                }
            };
            match done {
                Ok(()) => ToolOutcome::Success(json!({
                    "status": if delete { "deleted" } else { "updated" },
                    "memory_id": id,
                    "memory_scope": scope,
                })),
                Err(e) => store_failure(&e),
            }
        }
        .boxed()
    }
}
