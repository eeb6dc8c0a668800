//! What the tool gate may ask about a turn while it runs ([`tomori_tools::LiveState`]), answered
//! from the database and the engine's own knowledge.
//!
//! Flags and privacy are read fresh from the store on every question, so a flag an admin turns
//! off mid-turn stops the next tool call. Permissions are what the engine knows for certain: the
//! bot can see and write in the channel it answers in, and the invoker's Manage Server comes from
//! the platform. Anything the engine cannot know (another channel's visibility) is an error, which
//! the gate treats as a refusal.

use std::sync::Arc;

use chrono::NaiveDate;
use futures_util::future::BoxFuture;
use tomori_core::id::{ServerId, Snowflake, UserId};
use tomori_core::quota::QuotaVerdict;
use tomori_store::quotas::{self, QuotaKind};
use tomori_store::{Scope, Store, settings, users};
use tomori_tools::{Author, Features, LiveError, LiveState, Perm, Perms, Snapshot, Visibility};

use crate::history::Remembered;

/// The live state of one turn.
pub(crate) struct EngineLive {
    pub(crate) store: Store,
    pub(crate) server: ServerId,
    pub(crate) user: UserId,
    pub(crate) invoker: Snowflake,
    pub(crate) invoker_is_admin: bool,
    pub(crate) bot_user: Option<Snowflake>,
    /// The messages the turn's context showed, for questions about their authors.
    pub(crate) shown: Arc<Vec<Remembered>>,
    pub(crate) today: NaiveDate,
}

fn unavailable(err: impl std::fmt::Display) -> LiveError {
    LiveError(err.to_string())
}

impl LiveState for EngineLive {
    fn snapshot(&self) -> BoxFuture<'_, Result<Snapshot, LiveError>> {
        Box::pin(async move {
            let settings = settings::get(&self.store, Scope::server(self.server))
                .await
                .map_err(unavailable)?;
            let privacy =
                users::get(&self.store, Scope::user(self.user)).await.map_err(unavailable)?.privacy;
            let mut invoker = Perms::of(&[Perm::ViewChannel, Perm::SendMessages]);
            if self.invoker_is_admin {
                invoker = invoker.with(Perm::ManageGuild);
            }
            Ok(Snapshot {
                features: Features::from_settings(&settings),
                privacy,
                bot: Perms::of(&[Perm::ViewChannel, Perm::SendMessages, Perm::ReadMessageHistory]),
                invoker,
            })
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
            let item =
                self.shown.iter().find(|m| m.id == message).ok_or_else(|| {
                    LiveError("the message is not in this turn's context".to_owned())
                })?;
            Ok(match (&item.persona, self.bot_user) {
                (Some(_), Some(bot)) if item.author == bot => Author::Bot,
                (Some(_), _) => Author::PersonaWebhook,
                (None, _) => Author::Other,
            })
        })
    }

    fn message_visibility(
        &self,
        _message: Snowflake,
    ) -> BoxFuture<'_, Result<Visibility, LiveError>> {
        Box::pin(async {
            Err(LiveError("channel visibility is not known to the engine".to_owned()))
        })
    }
}
