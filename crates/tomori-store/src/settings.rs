//! Server settings: limits, trigger behaviour, feature flags and channel sets.

use serde::Serialize;
use tomori_core::id::Snowflake;
use tomori_core::settings::{ChannelSet, CooldownKind, Feature};

use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::{Scope, Store, StoreError};

/// A server's settings as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerSettings {
    /// Server-wide trigger words.
    pub trigger_words: Vec<String>,
    /// Persona-to-persona replies allowed in a row.
    pub cascade_limit: i16,
    /// Personas one message may trigger.
    pub match_limit: i16,
    /// Messages one reply may be split into (0 = no limit).
    pub send_limit: i16,
    /// Messages of history read per turn.
    pub message_fetch_limit: i16,
    /// How much replies are humanised (0 to 3).
    pub humanizer_degree: i16,
    /// IANA timezone name for reminders and time in prompts.
    pub timezone: String,
    /// Extra system prompt.
    pub system_prompt: Option<String>,
    /// Note injected near the end of the context.
    pub context_note: Option<String>,
    /// Channel that receives reasoning and attributions.
    pub thought_log_channel: Option<i64>,
    /// How message cooldowns are keyed.
    #[serde(skip)]
    pub cooldown_kind: CooldownKind,
    /// Cooldown length in seconds.
    pub cooldown_seconds: i32,
    /// Random auto-trigger threshold (0 = off).
    pub auto_trigger_threshold: i16,
    /// Reply to every message in auto-trigger channels.
    pub always_reply: bool,
    /// Only "@trigger", mentions and replies count.
    pub deliberate_trigger: bool,
    /// Members without ManageGuild may teach server memories.
    pub member_teaching: bool,
    /// Feature flags, in [`Feature::ALL`] order.
    pub features: Vec<(&'static str, bool)>,
}

impl ServerSettings {
    /// Whether a feature is on.
    pub fn feature(&self, feature: Feature) -> bool {
        self.features.iter().any(|(name, on)| *name == feature.name() && *on)
    }
}

/// Reads the scope server's settings.
///
/// # Errors
/// An unavailable database.
pub async fn get(store: &Store, scope: Scope) -> Result<ServerSettings, StoreError> {
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    let settings = read(&mut tx, server.get()).await?;
    tx.commit().await?;
    Ok(settings)
}

async fn read(tx: &mut crate::ScopedTx, server: i64) -> Result<ServerSettings, StoreError> {
    let r = sqlx::query!("SELECT * FROM server_settings WHERE server_id = $1", server)
        .fetch_optional(tx.conn())
        .await
        .about("settings")?
        .ok_or(StoreError::NotFound("server settings"))?;
    let flags = [
        r.tool_use,
        r.self_teaching,
        r.personal_memories,
        r.web_search,
        r.image_gen,
        r.video_gen,
        r.manage_message,
        r.thread_creation,
        r.cross_channel,
        r.prompt_snapshot,
        r.sticker_usage,
        r.emoji_usage,
    ];
    Ok(ServerSettings {
        trigger_words: r.trigger_words,
        cascade_limit: r.cascade_limit,
        match_limit: r.match_limit,
        send_limit: r.send_limit,
        message_fetch_limit: r.message_fetch_limit,
        humanizer_degree: r.humanizer_degree,
        timezone: r.timezone,
        system_prompt: r.system_prompt,
        context_note: r.context_note,
        thought_log_channel: r.thought_log_channel,
        cooldown_kind: CooldownKind::from_name(&r.cooldown_kind),
        cooldown_seconds: r.cooldown_seconds,
        auto_trigger_threshold: r.auto_trigger_threshold,
        always_reply: r.always_reply,
        deliberate_trigger: r.deliberate_trigger,
        member_teaching: r.member_teaching,
        features: Feature::ALL.iter().map(|f| f.name()).zip(flags).collect(),
    })
}

/// Turns a feature flag on or off.
///
/// # Errors
/// An unavailable database.
pub async fn set_feature(
    store: &Store,
    scope: Scope,
    actor: Actor,
    feature: Feature,
    on: bool,
) -> Result<(), StoreError> {
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    let before = read(&mut tx, server.get()).await?.feature(feature);
    // One static statement for every flag: the flag's name is data, never part of the SQL text.
    sqlx::query!(
        "UPDATE server_settings SET
            tool_use          = CASE WHEN $2 = 'tool_use'          THEN $3 ELSE tool_use END,
            self_teaching     = CASE WHEN $2 = 'self_teaching'     THEN $3 ELSE self_teaching END,
            personal_memories = CASE WHEN $2 = 'personal_memories' THEN $3 ELSE personal_memories END,
            web_search        = CASE WHEN $2 = 'web_search'        THEN $3 ELSE web_search END,
            image_gen         = CASE WHEN $2 = 'image_gen'         THEN $3 ELSE image_gen END,
            video_gen         = CASE WHEN $2 = 'video_gen'         THEN $3 ELSE video_gen END,
            manage_message    = CASE WHEN $2 = 'manage_message'    THEN $3 ELSE manage_message END,
            thread_creation   = CASE WHEN $2 = 'thread_creation'   THEN $3 ELSE thread_creation END,
            cross_channel     = CASE WHEN $2 = 'cross_channel'     THEN $3 ELSE cross_channel END,
            prompt_snapshot   = CASE WHEN $2 = 'prompt_snapshot'   THEN $3 ELSE prompt_snapshot END,
            sticker_usage     = CASE WHEN $2 = 'sticker_usage'     THEN $3 ELSE sticker_usage END,
            emoji_usage       = CASE WHEN $2 = 'emoji_usage'       THEN $3 ELSE emoji_usage END,
            updated_at = now()
         WHERE server_id = $1",
        server.get(),
        feature.name(),
        on
    )
    .execute(tx.conn())
    .await
    .about("settings")?;
    let before = serde_json::json!({ feature.name(): before });
    let after = serde_json::json!({ feature.name(): on });
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "settings.feature",
            target: format!("feature:{}", feature.name()),
            before: Some(&before),
            after: Some(&after),
        },
    )
    .await?;
    tx.commit().await
}

/// Adds a channel to one of the server's channel sets. Adding a channel twice changes nothing.
///
/// # Errors
/// An unavailable database.
pub async fn add_channel(
    store: &Store,
    scope: Scope,
    actor: Actor,
    set: ChannelSet,
    channel: Snowflake,
) -> Result<(), StoreError> {
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    let inserted = sqlx::query!(
        "INSERT INTO server_channels (server_id, channel_set, channel_id) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
        server.get(),
        set.name(),
        channel.to_db()
    )
    .execute(tx.conn())
    .await
    .about("channel")?
    .rows_affected();
    if inserted > 0 {
        let after = serde_json::json!({ "set": set.name(), "channel": channel });
        audit::record(
            &mut tx,
            Change {
                actor,
                action: "settings.channel.add",
                target: format!("channel:{channel}"),
                before: None,
                after: Some(&after),
            },
        )
        .await?;
    }
    tx.commit().await
}

/// Removes a channel from a channel set.
///
/// # Errors
/// A channel not in the set, or an unavailable database.
pub async fn remove_channel(
    store: &Store,
    scope: Scope,
    actor: Actor,
    set: ChannelSet,
    channel: Snowflake,
) -> Result<(), StoreError> {
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    let deleted = sqlx::query!(
        "DELETE FROM server_channels WHERE server_id = $1 AND channel_set = $2 AND channel_id = $3",
        server.get(),
        set.name(),
        channel.to_db()
    )
    .execute(tx.conn())
    .await
    .about("channel")?
    .rows_affected();
    if deleted == 0 {
        return Err(StoreError::NotFound("channel in that set"));
    }
    let before = serde_json::json!({ "set": set.name(), "channel": channel });
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "settings.channel.remove",
            target: format!("channel:{channel}"),
            before: Some(&before),
            after: None,
        },
    )
    .await?;
    tx.commit().await
}

/// The channels in one set.
///
/// # Errors
/// An unavailable database.
pub async fn channels(
    store: &Store,
    scope: Scope,
    set: ChannelSet,
) -> Result<Vec<Snowflake>, StoreError> {
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    let ids = sqlx::query_scalar!(
        "SELECT channel_id FROM server_channels WHERE server_id = $1 AND channel_set = $2 ORDER BY channel_id",
        server.get(),
        set.name()
    )
    .fetch_all(tx.conn())
    .await
    .about("channel")?;
    tx.commit().await?;
    Ok(ids.into_iter().filter_map(|id| Snowflake::from_db(id).ok()).collect())
}
