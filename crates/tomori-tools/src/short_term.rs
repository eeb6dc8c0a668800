//! `update_short_term_memory`: the persona's note about what is going on in this channel, or
//! with the member it is answering, which its turns in the server's other channels see for a day
//! (`tomori_store::short_term`). One note per channel and subject, replaced each time.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};
use tomori_core::privacy::PrivacyLevel;
use tomori_store::audit::Actor;
use tomori_store::short_term::{self, MAX_NOTE_CHARS, NotePlace};
use tomori_store::{Scope, Store, StoreError};

use crate::context::TurnContext;
use crate::gate::{Authorized, Tool, ToolOutcome};
use crate::perm::Perms;
use crate::policy::{Contexts, Effect, TargetRule, ToolPolicy};

/// The `update_short_term_memory` tool.
#[derive(Clone, Debug)]
pub struct UpdateShortTermMemory {
    store: Store,
}

impl UpdateShortTermMemory {
    /// The tool writing notes to `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    about: About,
    note: String,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum About {
    Channel,
    Member,
}

impl Tool for UpdateShortTermMemory {
    fn name(&self) -> &'static str {
        "update_short_term_memory"
    }

    fn description(&self) -> &'static str {
        "Keep a short note of what is going on right now, so you remember it in this server's other channels for a day: about this channel (the topic, plans, the mood) or about the member you are answering (what they are doing or asked for). It replaces your earlier note on the same subject here. Not for lasting facts (use long-term memory for those)."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "about": {
                    "type": "string",
                    "enum": ["channel", "member"],
                    "description": "channel: what is going on here; member: what is going on with the member you are answering",
                },
                "note": {
                    "type": "string",
                    "description": format!("The note, in the third person, at most {MAX_NOTE_CHARS} characters."),
                },
            },
            "required": ["about", "note"],
            "additionalProperties": false,
        })
    }

    fn policy(&self) -> ToolPolicy {
        ToolPolicy {
            feature: None,
            effect: Effect::Creates,
            bot_permissions: Perms::NONE,
            invoker_permissions: Perms::NONE,
            // A direct message has one channel: nothing to carry elsewhere.
            contexts: Contexts { guild: true, dm: false, rp_channel: true },
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
            let args: Args = match call.parse() {
                Ok(args) => args,
                Err(failure) => return failure,
            };
            // Security: privacy levels. Nothing is noted during the turn of a member who asked
            // to be remembered less (level 1) or not at all (level 2).
            if call.snapshot().privacy != PrivacyLevel::Minimal {
                return ToolOutcome::Failure(
                    "short_term_refused: the member's privacy level does not allow notes"
                        .to_owned(),
                );
            }
            let place = NotePlace {
                lineage: ctx.lineage,
                channel: ctx.channel,
                private: ctx.private_channel,
            };
            let member = (args.about == About::Member).then_some(ctx.invoker);
            let actor = Actor::Model { persona: ctx.persona, invoker: ctx.invoker };
            let scope = Scope::server(ctx.server);
            match short_term::write(&self.store, scope, actor, place, member, &args.note).await {
                Ok(()) => ToolOutcome::Success(json!({ "status": "noted" })),
                Err(StoreError::Invalid { reason, .. }) => {
                    ToolOutcome::Failure(format!("invalid_note: {reason}"))
                }
                Err(error) => {
                    tracing::error!(%error, "short-term memory: store error");
                    ToolOutcome::Failure("storage_unavailable: try again later".to_owned())
                }
            }
        }
        .boxed()
    }
}
