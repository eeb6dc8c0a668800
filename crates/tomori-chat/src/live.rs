//! What the tool gate may ask about a turn while it runs ([`tomori_tools::LiveState`]), answered
//! from the database and the engine's own knowledge.
//!
//! Flags and privacy are read under the current revisions on every question (one round trip;
//! see `views`), so a flag an admin turns off mid-turn stops the next tool call. The first
//! question, the tools offered with the model request, is answered from the state the turn was
//! planned with a moment earlier, and asks the platform nothing: the bot is assumed to have what
//! answering proves (and Use External Stickers). Every later question, each tool call's, takes
//! permissions, channels and message authors from the surface's [`Platform`], so a permission
//! missing or revoked mid-turn stops the call. Without a platform (the terminal) the engine answers only what it knows for certain (the
//! bot can see and write in the channel it answers in; authors from its own history) and treats
//! the rest as unknown, which the gate refuses.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::NaiveDate;
use futures_util::future::BoxFuture;
use tomori_core::id::{ServerId, Snowflake};
use tomori_core::quota::QuotaVerdict;
use tomori_store::quotas::{self, QuotaKind};
use tomori_store::servers::Home;
use tomori_store::{Scope, Store};
use tomori_tools::{
    Author, ChannelAccess, ChannelFacts, Features, LiveError, LiveState, Perm, Perms, Platform,
    Snapshot, Visibility,
};

use crate::history::Remembered;
use crate::views::{Seen, Views};

/// The live state of one turn.
pub(crate) struct EngineLive {
    pub(crate) store: Store,
    pub(crate) views: Arc<Views>,
    /// The turn's tenant.
    pub(crate) home: Home,
    /// The state the turn was planned with, for the first question only (the tools to offer).
    pub(crate) planned: Mutex<Option<Seen>>,
    pub(crate) server: ServerId,
    pub(crate) invoker: Snowflake,
    pub(crate) invoker_is_admin: bool,
    pub(crate) bot_user: Option<Snowflake>,
    /// The guild, `None` in a direct message.
    pub(crate) guild: Option<Snowflake>,
    /// The channel the turn answers in (every shown message is in it).
    pub(crate) channel: Snowflake,
    /// The platform, for permissions, channels and message authors.
    pub(crate) platform: Option<Arc<dyn Platform>>,
    /// The messages the turn's context showed, for questions about their authors.
    pub(crate) shown: Arc<Vec<Remembered>>,
    pub(crate) today: NaiveDate,
}

fn unavailable(err: impl std::fmt::Display) -> LiveError {
    LiveError(err.to_string())
}

impl EngineLive {
    fn platform(&self) -> Result<&Arc<dyn Platform>, LiveError> {
        self.platform.as_ref().ok_or_else(|| LiveError("no platform to ask".to_owned()))
    }

    fn shown(&self, message: Snowflake) -> Result<&Remembered, LiveError> {
        self.shown
            .iter()
            .find(|m| m.id == message)
            .ok_or_else(|| LiveError("the message is not in this turn's context".to_owned()))
    }

    /// What answering here proves, and nothing more: the bot and the invoker can see and write in
    /// the channel.
    fn proven(&self) -> (Perms, Perms) {
        let mut invoker = Perms::of(&[Perm::ViewChannel, Perm::SendMessages]);
        if self.invoker_is_admin {
            invoker = invoker.with(Perm::ManageGuild);
        }
        let bot = Perms::of(&[Perm::ViewChannel, Perm::SendMessages, Perm::ReadMessageHistory]);
        (bot, invoker)
    }

    /// The bot's and the invoker's permissions in `channel`, from the platform.
    async fn access(&self, channel: Snowflake) -> Result<ChannelAccess, LiveError> {
        let mut access =
            self.platform()?.access(channel, self.invoker).await.map_err(unavailable)?;
        if self.invoker_is_admin {
            access.invoker = access.invoker.with(Perm::ManageGuild);
        }
        Ok(access)
    }
}

impl LiveState for EngineLive {
    fn snapshot(&self) -> BoxFuture<'_, Result<Snapshot, LiveError>> {
        Box::pin(async move {
            let planned = self.planned.lock().unwrap_or_else(PoisonError::into_inner).take();
            let offer = planned.is_some();
            let seen = match planned {
                Some(seen) => seen,
                None => self
                    .views
                    .read(&self.store, self.home, Some(self.invoker))
                    .await
                    .map_err(unavailable)?,
            };
            let privacy = seen
                .user
                .as_ref()
                .map_or(tomori_core::privacy::PrivacyLevel::Minimal, |u| u.view.settings.privacy);
            let (bot, invoker) = match (&self.platform, offer) {
                (None, _) => self.proven(),
                (Some(_), true) => {
                    // Security: stale permissions. What is offered is not what is allowed: every
                    // call is judged again with the permissions Discord gives at that moment (the
                    // arm below). The offer asks Discord nothing, so no turn waits for it and
                    // no REST budget goes to it: the bot is assumed to have what answering here
                    // proves, plus Use External Stickers and Attach Files, which @everyone has
                    // by default.
                    let (bot, invoker) = self.proven();
                    (bot.with(Perm::UseExternalStickers).with(Perm::AttachFiles), invoker)
                }
                (Some(_), false) => {
                    let access = self.access(self.channel).await?;
                    (access.bot, access.invoker)
                }
            };
            let features = Features::from_settings(&seen.view.settings);
            let member_teaching = seen.view.settings.member_teaching;
            Ok(Snapshot { features, privacy, bot, invoker, member_teaching })
        })
    }

    fn quota(&self, kind: QuotaKind) -> BoxFuture<'_, Result<QuotaVerdict, LiveError>> {
        Box::pin(async move {
            quotas::check(&self.store, Scope::server(self.server), kind, self.invoker, self.today)
                .await
                .map_err(unavailable)
        })
    }

    fn record_quota(&self, kind: QuotaKind) -> BoxFuture<'_, Result<(), LiveError>> {
        Box::pin(async move {
            quotas::record(&self.store, Scope::server(self.server), kind, self.invoker, self.today)
                .await
                .map_err(unavailable)
        })
    }

    fn message_author(&self, message: Snowflake) -> BoxFuture<'_, Result<Author, LiveError>> {
        Box::pin(async move {
            let item = self.shown(message)?;
            // Security: LLM-driven manage_message misuse. With a platform, authorship is what it
            // says now (the message's author and webhook), not what the history cache recorded.
            if let Some(platform) = &self.platform {
                let facts = platform.message(self.channel, message).await.map_err(unavailable)?;
                return Ok(facts.author);
            }
            Ok(match (&item.persona, self.bot_user) {
                (Some(_), Some(bot)) if item.author == bot => Author::Bot,
                (Some(_), _) => Author::PersonaWebhook,
                (None, _) => Author::Other,
            })
        })
    }

    fn message_visibility(
        &self,
        message: Snowflake,
    ) -> BoxFuture<'_, Result<Visibility, LiveError>> {
        Box::pin(async move {
            // Every message the turn showed is in the turn's channel.
            self.shown(message)?;
            Ok(self.access(self.channel).await?.visibility())
        })
    }

    fn guild_channels(&self) -> BoxFuture<'_, Result<Vec<ChannelFacts>, LiveError>> {
        Box::pin(async move {
            let guild = self
                .guild
                .ok_or_else(|| LiveError("a direct message has no channels".to_owned()))?;
            self.platform()?.guild_channels(guild).await.map_err(unavailable)
        })
    }

    fn channel_access(
        &self,
        channel: Snowflake,
    ) -> BoxFuture<'_, Result<ChannelAccess, LiveError>> {
        Box::pin(async move { self.access(channel).await })
    }
}
