//! `review_capabilities`: the bot's self-diagnosis for the member who asked: which features are
//! on, what the bot and the member may do here, where the turn happens, the tools this turn
//! offers, and whether pictures and videos can be made (the image and video models and the
//! member's quotas).
//!
//! Security: credential disclosure. Which provider keys the server holds (names and counts, never
//! the keys) is shown only to a member with Manage Server; nothing here reveals a secret or an id.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};
use tomori_core::quota::QuotaVerdict;
use tomori_core::settings::Feature;
use tomori_store::credentials::{self, KeyOwner};
use tomori_store::models;
use tomori_store::{Scope, Store};

use crate::context::{Place, TurnContext};
use crate::gate::{Authorized, Tool, ToolOutcome};
use crate::perm::{Perm, Perms};
use crate::policy::{QuotaKind, ToolPolicy};

/// The `review_capabilities` tool.
#[derive(Clone, Debug)]
pub struct ReviewCapabilities {
    store: Store,
}

impl ReviewCapabilities {
    /// The tool reading key metadata from `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

fn names(perms: Perms) -> Vec<&'static str> {
    perms.iter().map(Perm::name).collect()
}

impl ReviewCapabilities {
    async fn run(&self, call: &Authorized<'_>, ctx: &TurnContext) -> ToolOutcome {
        let snapshot = call.snapshot();
        let features: Map<String, Value> = Feature::ALL
            .iter()
            .map(|f| (f.name().to_owned(), Value::Bool(snapshot.features.is_on(*f))))
            .collect();
        let place = match ctx.place {
            Place::Dm => "direct message",
            Place::Guild { rp: true } => "role-play channel",
            Place::Guild { rp: false } => "server channel",
        };
        let mut report = json!({
            "place": place,
            "features": features,
            "bot_permissions_here": names(snapshot.bot),
            "member_permissions_here": names(snapshot.invoker),
            "member_privacy": format!("{:?}", snapshot.privacy).to_lowercase(),
            "tools_offered_now": ctx.offered,
        });
        report["pictures"] = self.pictures(snapshot, ctx).await;
        report["videos"] = self.videos(snapshot, ctx).await;
        if snapshot.invoker.contains(Perm::ManageGuild) {
            let keys = credentials::list(&self.store, Scope::server(ctx.server), KeyOwner::Server)
                .await
                .map(|keys| {
                    let mut counts: Map<String, Value> = Map::new();
                    for key in keys.iter().filter(|k| k.enabled) {
                        let entry = counts.entry(key.provider.clone()).or_insert(json!(0));
                        *entry = json!(entry.as_u64().unwrap_or(0) + 1);
                    }
                    Value::Object(counts)
                })
                .unwrap_or_else(|_| json!("unavailable"));
            report["server_provider_keys"] = keys;
        } else {
            report["server_provider_keys"] = json!("shown to members with Manage Server only");
        }
        ToolOutcome::Success(report)
    }
}

impl ReviewCapabilities {
    /// Whether `generate_image` can draw here now: the flag, the server's image model, and the
    /// member's image quota (none of it secret).
    async fn pictures(&self, snapshot: &crate::context::Snapshot, ctx: &TurnContext) -> Value {
        if !snapshot.features.is_on(Feature::ImageGen) {
            return json!("off in this server (image_gen)");
        }
        let model = match models::get_image(&self.store, Scope::server(ctx.server)).await {
            Ok(Some(model)) => format!("{}/{}", model.provider, model.model),
            Ok(None) => return json!("no image model chosen (/model image)"),
            Err(_) => return json!("unavailable"),
        };
        let quota = quota_state(ctx, QuotaKind::Image).await;
        json!({ "image_model": model, "image_quota": quota })
    }

    /// Whether `generate_video` can film here now, as [`ReviewCapabilities::pictures`] says for
    /// pictures: the `video_gen` flag, the server's video model and the member's video quota.
    async fn videos(&self, snapshot: &crate::context::Snapshot, ctx: &TurnContext) -> Value {
        if !snapshot.features.is_on(Feature::VideoGen) {
            return json!("off in this server (video_gen)");
        }
        let model = match models::get_video(&self.store, Scope::server(ctx.server)).await {
            Ok(Some(model)) => format!("{}/{}", model.provider, model.model),
            Ok(None) => return json!("no video model chosen (/model video)"),
            Err(_) => return json!("unavailable"),
        };
        let quota = quota_state(ctx, QuotaKind::Video).await;
        json!({ "video_model": model, "video_quota": quota })
    }
}

/// The member's quota of `kind` in words.
async fn quota_state(ctx: &TurnContext, kind: QuotaKind) -> String {
    match ctx.live.quota(kind).await {
        Ok(QuotaVerdict::Allowed) => "available".to_owned(),
        Ok(
            QuotaVerdict::UserExhausted { resets_on } | QuotaVerdict::PoolExhausted { resets_on },
        ) => {
            format!("used up until {resets_on}")
        }
        Err(_) => "unknown".to_owned(),
    }
}

impl Tool for ReviewCapabilities {
    fn name(&self) -> &'static str {
        "review_capabilities"
    }

    fn description(&self) -> &'static str {
        "Review what you can do here: the server's features, your and the member's permissions in this channel, the tools you have this turn, and whether you can draw pictures and make videos now."
    }

    fn parameters(&self) -> Value {
        json!({"type": "object", "properties": {}, "additionalProperties": false})
    }

    fn policy(&self) -> ToolPolicy {
        ToolPolicy::read_only()
    }

    fn execute<'a>(
        &'a self,
        call: Authorized<'a>,
        ctx: &'a TurnContext,
    ) -> BoxFuture<'a, ToolOutcome> {
        async move { self.run(&call, ctx).await }.boxed()
    }
}
