//! `select_sticker`: sends one of the server's stickers after the text, or lists them.
//!
//! The model names a sticker by its name; without one, or with one the server lacks, it gets the
//! list of names to choose from. Sticker ids never reach the prompt.

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};
use tomori_core::settings::Feature;

use crate::context::TurnContext;
use crate::gate::{Authorized, Tool, ToolOutcome};
use crate::perm::{Perm, Perms};
use crate::platform::{Platform, StickerFacts};
use crate::policy::{Contexts, Effect, TargetRule, ToolPolicy};

/// Stickers listed to the model at most.
const MAX_LISTED: usize = 60;

/// The `select_sticker` tool.
pub struct SelectSticker {
    platform: Arc<dyn Platform>,
}

impl SelectSticker {
    /// The tool acting through `platform`.
    pub fn new(platform: Arc<dyn Platform>) -> Self {
        Self { platform }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StickerArgs {
    name: Option<String>,
}

fn listing(stickers: &[StickerFacts]) -> Vec<Value> {
    stickers
        .iter()
        .take(MAX_LISTED)
        .map(|s| json!({"name": s.name, "description": s.description, "tags": s.tags}))
        .collect()
}

impl SelectSticker {
    async fn run(&self, call: &Authorized<'_>, ctx: &TurnContext) -> ToolOutcome {
        let args: StickerArgs = match call.parse() {
            Ok(args) => args,
            Err(failure) => return failure,
        };
        let Some(guild) = ctx.guild else {
            return ToolOutcome::Failure("wrong_context: stickers belong to servers".to_owned());
        };
        let stickers = match self.platform.guild_stickers(guild).await {
            Ok(stickers) => stickers,
            Err(e) => return ToolOutcome::Failure(e.for_model()),
        };
        let Some(name) = args.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) else {
            return ToolOutcome::Success(json!({"stickers": listing(&stickers)}));
        };
        let Some(sticker) = stickers.iter().find(|s| s.name.eq_ignore_ascii_case(name)) else {
            return ToolOutcome::Failure(format!(
                "unknown_sticker: this server has no sticker named {name:?}; it has {}",
                Value::Array(stickers.iter().take(MAX_LISTED).map(|s| json!(s.name)).collect())
            ));
        };
        match self.platform.send_sticker(ctx.channel, sticker.id).await {
            Ok(_) => ToolOutcome::Success(json!({"sent_sticker": sticker.name})),
            Err(e) => ToolOutcome::Failure(e.for_model()),
        }
    }
}

impl Tool for SelectSticker {
    fn name(&self) -> &'static str {
        "select_sticker"
    }

    fn description(&self) -> &'static str {
        "Send one of this server's stickers after your text, by name. Leave the name out to list the stickers."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "The sticker's name; leave out to list them."},
            },
            "additionalProperties": false,
        })
    }

    fn policy(&self) -> ToolPolicy {
        ToolPolicy {
            feature: Some(Feature::StickerUsage),
            effect: Effect::Creates,
            bot_permissions: Perms::of(&[Perm::SendMessages, Perm::UseExternalStickers]),
            invoker_permissions: Perms::NONE,
            // Stickers are off in role-play channels.
            contexts: Contexts { guild: true, dm: false, rp_channel: false },
            quota: None,
            target: TargetRule::None,
        }
    }

    fn execute<'a>(
        &'a self,
        call: Authorized<'a>,
        ctx: &'a TurnContext,
    ) -> BoxFuture<'a, ToolOutcome> {
        async move { self.run(&call, ctx).await }.boxed()
    }
}
