//! Server settings: limits, trigger behaviour, feature flags and channel sets.

use serde::Serialize;
use tomori_core::id::Snowflake;
use tomori_core::settings::{ChannelSet, CooldownKind, Feature};
use tomori_core::timezone::Zone;
use tomori_core::trigger::AutoRange;

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
    /// The lower end of the auto-trigger range (0 with `auto_trigger_max` 0: off); see
    /// [`ServerSettings::auto_trigger`].
    pub auto_trigger_min: i16,
    /// The upper end of the auto-trigger range.
    pub auto_trigger_max: i16,
    /// Answer every person's message in every channel of the server (the whitelist still
    /// applies), whether or not it addresses the bot.
    pub always_reply: bool,
    /// Deliberate trigger mode: a bare trigger word does not count; "@trigger", mentions and
    /// replies do.
    pub deliberate_trigger: bool,
    /// Members without ManageGuild may teach server memories.
    pub member_teaching: bool,
    /// Members must bring their own key: their turns are answered only through their own keys or
    /// endpoint.
    pub byok_required: bool,
    /// Deliberate tool mode: tools are offered only to a message that asks for what they do.
    pub deliberate_tools: bool,
    /// Feature flags, in [`Feature::ALL`] order.
    pub features: Vec<(&'static str, bool)>,
}

impl ServerSettings {
    /// How many people's messages pass in an auto-trigger channel before the bot joins in.
    pub fn auto_trigger(&self) -> AutoRange {
        AutoRange::from_stored(self.auto_trigger_min, self.auto_trigger_max)
    }

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

/// Locks the server's settings row until the transaction ends, so that a read-modify-write
/// (the trigger word list) or a before/after audit pair cannot interleave with another change.
async fn lock(tx: &mut crate::ScopedTx, server: i64) -> Result<(), StoreError> {
    sqlx::query!("SELECT server_id FROM server_settings WHERE server_id = $1 FOR UPDATE", server)
        .fetch_optional(tx.conn())
        .await
        .about("settings")?
        .ok_or(StoreError::NotFound("server settings"))?;
    Ok(())
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
        auto_trigger_min: r.auto_trigger_min,
        auto_trigger_max: r.auto_trigger_max,
        always_reply: r.always_reply,
        deliberate_trigger: r.deliberate_trigger,
        member_teaching: r.member_teaching,
        byok_required: r.byok_required,
        deliberate_tools: r.deliberate_tools,
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

/// One server setting and its new value, for [`set`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    /// Extra system prompt (`None` removes it); at most 8000 characters.
    SystemPrompt(Option<String>),
    /// Persona-to-persona replies in a row, 0 to 10.
    CascadeLimit(i16),
    /// Personas one message may trigger, 1 to 10.
    MatchLimit(i16),
    /// Messages of history read per turn, 1 to 200.
    MessageFetchLimit(i16),
    /// Messages one reply may be split into, 0 (no limit) to 50.
    SendLimit(i16),
    /// How much replies are humanised, 0 to 3.
    HumanizerDegree(i16),
    /// "UTC", a "UTC+H[:MM]" offset, or a tz database name such as "Asia/Tokyo".
    Timezone(String),
    /// Note near the end of the context (`None` removes it); at most 2000 characters.
    ContextNote(Option<String>),
    /// Channel for reasoning and attributions (`None` turns it off).
    ThoughtLogChannel(Option<Snowflake>),
    /// How cooldowns are keyed, and their length in seconds (0 to 86400; unchanged when `None`).
    Cooldown {
        /// How cooldowns are keyed.
        kind: CooldownKind,
        /// Length in seconds.
        seconds: Option<i32>,
    },
    /// Answer every person's message in the server, addressed or not.
    AlwaysReply(bool),
    /// Deliberate trigger mode: only "@trigger", mentions and replies count.
    DeliberateTrigger(bool),
    /// How many people's messages pass in an auto-trigger channel before the bot joins in
    /// (checked when it was made; 0–0 is off).
    AutoTrigger(AutoRange),
    /// Members without Manage Server may teach server memories.
    MemberTeaching(bool),
    /// Members must bring their own key.
    ByokRequired(bool),
    /// Tools are offered only to a message that asks for what they do.
    DeliberateTools(bool),
}

impl Setting {
    /// The column(s) it changes, as the audit log and errors name them.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::SystemPrompt(_) => "system_prompt",
            Self::CascadeLimit(_) => "cascade_limit",
            Self::MatchLimit(_) => "match_limit",
            Self::MessageFetchLimit(_) => "message_fetch_limit",
            Self::SendLimit(_) => "send_limit",
            Self::HumanizerDegree(_) => "humanizer_degree",
            Self::Timezone(_) => "timezone",
            Self::ContextNote(_) => "context_note",
            Self::ThoughtLogChannel(_) => "thought_log_channel",
            Self::Cooldown { .. } => "cooldown",
            Self::AlwaysReply(_) => "always_reply",
            Self::DeliberateTrigger(_) => "deliberate_trigger",
            Self::AutoTrigger(_) => "auto_trigger",
            Self::MemberTeaching(_) => "member_teaching",
            Self::ByokRequired(_) => "byok_required",
            Self::DeliberateTools(_) => "deliberate_tools",
        }
    }

    /// Checks the value against the same rules as the table's CHECK constraints.
    fn validate(&self) -> Result<(), StoreError> {
        fn range<T: PartialOrd + std::fmt::Display>(
            field: &'static str,
            value: T,
            low: T,
            high: T,
        ) -> Result<(), StoreError> {
            if value < low || value > high {
                return Err(StoreError::Invalid {
                    field,
                    reason: format!("must be from {low} to {high}"),
                });
            }
            Ok(())
        }
        fn length(field: &'static str, text: &str, max: usize) -> Result<(), StoreError> {
            if text.trim().is_empty() || text.chars().count() > max {
                return Err(StoreError::Invalid {
                    field,
                    reason: format!("1 to {max} characters"),
                });
            }
            Ok(())
        }
        match self {
            Self::SystemPrompt(Some(text)) => length("system prompt", text, 8000),
            Self::ContextNote(Some(text)) => length("context note", text, 2000),
            Self::SystemPrompt(None)
            | Self::ContextNote(None)
            | Self::ThoughtLogChannel(_)
            | Self::AlwaysReply(_)
            | Self::DeliberateTrigger(_)
            | Self::AutoTrigger(_)
            | Self::MemberTeaching(_)
            | Self::ByokRequired(_)
            | Self::DeliberateTools(_) => Ok(()),
            Self::CascadeLimit(n) => range("cascade limit", *n, 0, 10),
            Self::MatchLimit(n) => range("match limit", *n, 1, 10),
            Self::MessageFetchLimit(n) => range("message fetch limit", *n, 1, 200),
            Self::SendLimit(n) => range("send limit", *n, 0, 50),
            Self::HumanizerDegree(n) => range("humanizer degree", *n, 0, 3),
            Self::Cooldown { seconds, .. } => {
                seconds.map_or(Ok(()), |s| range("cooldown seconds", s, 0, 86_400))
            }
            Self::Timezone(name) => {
                if valid_timezone(name) {
                    Ok(())
                } else {
                    Err(StoreError::Invalid {
                        field: "timezone",
                        reason: "use UTC, an offset such as UTC+9 or UTC-3:30, or a name such as \
                                 Asia/Tokyo"
                            .to_owned(),
                    })
                }
            }
        }
    }

    /// This setting's state in `settings`, for the audit row.
    fn state(&self, settings: &ServerSettings) -> serde_json::Value {
        match self {
            Self::SystemPrompt(_) => serde_json::json!({ "system_prompt": settings.system_prompt }),
            Self::CascadeLimit(_) => serde_json::json!({ "cascade_limit": settings.cascade_limit }),
            Self::MatchLimit(_) => serde_json::json!({ "match_limit": settings.match_limit }),
            Self::MessageFetchLimit(_) => {
                serde_json::json!({ "message_fetch_limit": settings.message_fetch_limit })
            }
            Self::SendLimit(_) => serde_json::json!({ "send_limit": settings.send_limit }),
            Self::HumanizerDegree(_) => {
                serde_json::json!({ "humanizer_degree": settings.humanizer_degree })
            }
            Self::Timezone(_) => serde_json::json!({ "timezone": settings.timezone }),
            Self::ContextNote(_) => serde_json::json!({ "context_note": settings.context_note }),
            Self::ThoughtLogChannel(_) => {
                serde_json::json!({ "thought_log_channel": settings.thought_log_channel })
            }
            Self::Cooldown { .. } => serde_json::json!({
                "cooldown_kind": settings.cooldown_kind.name(),
                "cooldown_seconds": settings.cooldown_seconds,
            }),
            Self::AlwaysReply(_) => serde_json::json!({ "always_reply": settings.always_reply }),
            Self::DeliberateTrigger(_) => {
                serde_json::json!({ "deliberate_trigger": settings.deliberate_trigger })
            }
            Self::AutoTrigger(_) => serde_json::json!({
                "auto_trigger_min": settings.auto_trigger_min,
                "auto_trigger_max": settings.auto_trigger_max,
            }),
            Self::ByokRequired(_) => serde_json::json!({ "byok_required": settings.byok_required }),
            Self::DeliberateTools(_) => {
                serde_json::json!({ "deliberate_tools": settings.deliberate_tools })
            }
            Self::MemberTeaching(_) => {
                serde_json::json!({ "member_teaching": settings.member_teaching })
            }
        }
    }
}

/// Whether `name` is "UTC", a "UTC+H" / "UTC-H[:MM]" offset (hours 0 to 14), or a zone of the
/// tz database such as "Asia/Tokyo" ([`Zone::parse`]).
pub fn valid_timezone(name: &str) -> bool {
    Zone::parse(name).is_ok()
}

/// Changes one setting, with an audit row of its state before and after in the same
/// transaction.
///
/// # Errors
/// A value outside its range ([`StoreError::Invalid`], also when the table's CHECK constraint
/// says so), or an unavailable database.
pub async fn set(
    store: &Store,
    scope: Scope,
    actor: Actor,
    setting: Setting,
) -> Result<(), StoreError> {
    setting.validate()?;
    // Zones are stored as spelled canonically ("asia/tokyo" becomes "Asia/Tokyo").
    let setting = match setting {
        Setting::Timezone(name) => {
            Setting::Timezone(Zone::parse(&name).map_or(name, |zone| zone.to_string()))
        }
        other => other,
    };
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    lock(&mut tx, server).await?;
    let before = setting.state(&read(&mut tx, server).await?);
    let what = "setting";
    // Security: one static statement per column; values are bound, never part of the SQL text.
    let conn = tx.conn();
    match &setting {
        Setting::SystemPrompt(text) => sqlx::query!(
            "UPDATE server_settings SET system_prompt = $2, updated_at = now() WHERE server_id = $1",
            server,
            text.as_deref()
        )
        .execute(conn)
        .await
        .about(what)?,
        Setting::CascadeLimit(n) => sqlx::query!(
            "UPDATE server_settings SET cascade_limit = $2, updated_at = now() WHERE server_id = $1",
            server,
            n
        )
        .execute(conn)
        .await
        .about(what)?,
        Setting::MatchLimit(n) => sqlx::query!(
            "UPDATE server_settings SET match_limit = $2, updated_at = now() WHERE server_id = $1",
            server,
            n
        )
        .execute(conn)
        .await
        .about(what)?,
        Setting::MessageFetchLimit(n) => sqlx::query!(
            "UPDATE server_settings SET message_fetch_limit = $2, updated_at = now()
             WHERE server_id = $1",
            server,
            n
        )
        .execute(conn)
        .await
        .about(what)?,
        Setting::SendLimit(n) => sqlx::query!(
            "UPDATE server_settings SET send_limit = $2, updated_at = now() WHERE server_id = $1",
            server,
            n
        )
        .execute(conn)
        .await
        .about(what)?,
        Setting::HumanizerDegree(n) => sqlx::query!(
            "UPDATE server_settings SET humanizer_degree = $2, updated_at = now()
             WHERE server_id = $1",
            server,
            n
        )
        .execute(conn)
        .await
        .about(what)?,
        Setting::Timezone(name) => sqlx::query!(
            "UPDATE server_settings SET timezone = $2, updated_at = now() WHERE server_id = $1",
            server,
            name
        )
        .execute(conn)
        .await
        .about(what)?,
        Setting::ContextNote(text) => sqlx::query!(
            "UPDATE server_settings SET context_note = $2, updated_at = now() WHERE server_id = $1",
            server,
            text.as_deref()
        )
        .execute(conn)
        .await
        .about(what)?,
        Setting::ThoughtLogChannel(channel) => sqlx::query!(
            "UPDATE server_settings SET thought_log_channel = $2, updated_at = now()
             WHERE server_id = $1",
            server,
            channel.map(Snowflake::to_db)
        )
        .execute(conn)
        .await
        .about(what)?,
        Setting::Cooldown { kind, seconds } => sqlx::query!(
            "UPDATE server_settings SET cooldown_kind = $2,
                 cooldown_seconds = COALESCE($3, cooldown_seconds), updated_at = now()
             WHERE server_id = $1",
            server,
            kind.name(),
            *seconds
        )
        .execute(conn)
        .await
        .about(what)?,
        Setting::AlwaysReply(on) => sqlx::query!(
            "UPDATE server_settings SET always_reply = $2, updated_at = now() WHERE server_id = $1",
            server,
            on
        )
        .execute(conn)
        .await
        .about(what)?,
        Setting::DeliberateTrigger(on) => sqlx::query!(
            "UPDATE server_settings SET deliberate_trigger = $2, updated_at = now()
             WHERE server_id = $1",
            server,
            on
        )
        .execute(conn)
        .await
        .about(what)?,
        Setting::AutoTrigger(range) => sqlx::query!(
            "UPDATE server_settings SET auto_trigger_min = $2, auto_trigger_max = $3,
                 updated_at = now()
             WHERE server_id = $1",
            server,
            i16::try_from(range.min()).unwrap_or(i16::MAX),
            i16::try_from(range.max()).unwrap_or(i16::MAX)
        )
        .execute(conn)
        .await
        .about(what)?,
        Setting::MemberTeaching(on) => sqlx::query!(
            "UPDATE server_settings SET member_teaching = $2, updated_at = now()
             WHERE server_id = $1",
            server,
            on
        )
        .execute(conn)
        .await
        .about(what)?,
        Setting::ByokRequired(on) => sqlx::query!(
            "UPDATE server_settings SET byok_required = $2, updated_at = now() WHERE server_id = $1",
            server,
            on
        )
        .execute(conn)
        .await
        .about(what)?,
        Setting::DeliberateTools(on) => sqlx::query!(
            "UPDATE server_settings SET deliberate_tools = $2, updated_at = now()
             WHERE server_id = $1",
            server,
            on
        )
        .execute(conn)
        .await
        .about(what)?,
    };
    let after = setting.state(&read(&mut tx, server).await?);
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "settings.set",
            target: format!("setting:{}", setting.name()),
            before: Some(&before),
            after: Some(&after),
        },
    )
    .await?;
    tx.commit().await
}

/// Adds a server-wide trigger word (lower-cased and trimmed; 1 to 64 characters). Adding a word
/// already there changes nothing and returns false.
///
/// # Errors
/// An empty or overlong word, the configured limit reached, or an unavailable database.
pub async fn add_trigger_word(
    store: &Store,
    scope: Scope,
    actor: Actor,
    word: &str,
) -> Result<bool, StoreError> {
    let word = word.trim().to_lowercase();
    if word.is_empty() || word.chars().count() > 64 {
        return Err(StoreError::Invalid {
            field: "trigger word",
            reason: "1 to 64 characters".to_owned(),
        });
    }
    let server = scope.require_server()?.get();
    let limit = store.limits().trigger_words;
    let mut tx = store.begin(scope).await?;
    lock(&mut tx, server).await?;
    let before = read(&mut tx, server).await?.trigger_words;
    if before.contains(&word) {
        tx.commit().await?;
        return Ok(false);
    }
    if before.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
        return Err(StoreError::LimitReached { what: "trigger words", limit });
    }
    let mut after = before.clone();
    after.push(word);
    write_trigger_words(&mut tx, server, actor, &before, &after).await?;
    tx.commit().await?;
    Ok(true)
}

/// Removes a server-wide trigger word (compared lower-cased).
///
/// # Errors
/// A word that is not there, or an unavailable database.
pub async fn remove_trigger_word(
    store: &Store,
    scope: Scope,
    actor: Actor,
    word: &str,
) -> Result<(), StoreError> {
    let word = word.trim().to_lowercase();
    let server = scope.require_server()?.get();
    let mut tx = store.begin(scope).await?;
    lock(&mut tx, server).await?;
    let before = read(&mut tx, server).await?.trigger_words;
    let after: Vec<String> = before.iter().filter(|w| **w != word).cloned().collect();
    if after.len() == before.len() {
        return Err(StoreError::NotFound("trigger word"));
    }
    write_trigger_words(&mut tx, server, actor, &before, &after).await?;
    tx.commit().await
}

async fn write_trigger_words(
    tx: &mut crate::ScopedTx,
    server: i64,
    actor: Actor,
    before: &[String],
    after: &[String],
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE server_settings SET trigger_words = $2, updated_at = now() WHERE server_id = $1",
        server,
        after
    )
    .execute(tx.conn())
    .await
    .about("trigger word")?;
    let before = serde_json::json!({ "trigger_words": before });
    let after = serde_json::json!({ "trigger_words": after });
    audit::record(
        tx,
        Change {
            actor,
            action: "settings.trigger_words",
            target: "setting:trigger_words".to_owned(),
            before: Some(&before),
            after: Some(&after),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::{Setting, valid_timezone};

    #[test]
    fn timezones_are_utc_offsets_or_iana_zones() {
        for ok in [
            "UTC",
            "utc",
            "UTC+9",
            "UTC-3:30",
            "UTC+14",
            "Asia/Tokyo",
            "asia/tokyo",
            "America/Argentina/Buenos_Aires",
        ] {
            assert!(valid_timezone(ok), "{ok}");
        }
        for bad in [
            "",
            "Mars/Olympus",
            "UTC+15",
            "UTC+9:60",
            "UTC+",
            "UTC+1:5",
            "Tokyo",
            "Mars/Olympus_Mons",
            "Asia/",
            "/Tokyo",
            "Asia/Tokyo Bay",
            "a/b/c/d",
            "Asia/Tōkyō",
            "x'; --/y",
        ] {
            assert!(!valid_timezone(bad), "{bad}");
        }
    }

    #[test]
    fn values_outside_the_table_ranges_are_invalid() {
        for bad in [
            Setting::CascadeLimit(11),
            Setting::MatchLimit(0),
            Setting::MessageFetchLimit(201),
            Setting::SendLimit(-1),
            Setting::HumanizerDegree(4),
            Setting::Cooldown {
                kind: tomori_core::settings::CooldownKind::Off,
                seconds: Some(86_401),
            },
            Setting::SystemPrompt(Some("x".repeat(8_001))),
            Setting::ContextNote(Some(" ".to_owned())),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert!(Setting::MessageFetchLimit(200).validate().is_ok());
        assert!(Setting::SystemPrompt(None).validate().is_ok());
    }
}
