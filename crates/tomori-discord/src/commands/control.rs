//! What the commands may ask of the conversation engine ([`BotControl`]), and the engine's
//! answers to it.

use futures_util::future::BoxFuture;
use tomori_chat::engine::{CompactError, DrawAsk, Drawn, Engine, Snapshot};
use tomori_chat::surface::{ChatSurface, Inbound, SurfaceError};
use tomori_core::id::Snowflake;

/// What the commands may ask of the conversation engine.
pub trait BotControl: Send + Sync + 'static {
    /// Ends the channel's running turn and clears its queue; false when nothing was running.
    fn kill(&self, channel: Snowflake) -> bool;

    /// Answers in `message`'s channel as the named persona (when `None`, the channel's persona or
    /// the main persona),
    /// whatever the trigger rules say; the engine's privacy, cooldown and quota checks still
    /// apply. Returns once the turn is decided.
    fn respond(&self, message: Inbound, persona: Option<String>) -> BoxFuture<'_, ()>;

    /// `/tool refresh`: posts a marker after which the channel's history starts.
    fn refresh(&self, channel: Snowflake) -> BoxFuture<'_, Result<(), SurfaceError>>;

    /// `/tool compact`: the model summarises the channel's history into a marker at which it
    /// starts; `message` stands for the member asking. Returns how many messages it sums up.
    fn compact(&self, message: Inbound) -> BoxFuture<'_, Result<usize, CompactError>>;

    /// The context the main persona would be given if asked to answer `message` now.
    fn prompt_snapshot(&self, message: Inbound) -> BoxFuture<'_, Option<Snapshot>>;

    /// `/personal privacy 2`: nothing `user` wrote reaches a model from now on, earlier messages
    /// included, without waiting for their next message.
    fn withhold_author(&self, user: Snowflake);

    /// `/generate image`, `/bot generate image`: the persona named (when `None`, the channel's
    /// persona or the main one) draws `ask` for the member `message` stands for and posts it in
    /// the channel; the error is the sentence the member reads. Without an engine that draws,
    /// nothing is drawn (fails closed).
    fn draw(
        &self,
        _message: Inbound,
        _persona: Option<String>,
        _ask: DrawAsk,
    ) -> BoxFuture<'_, Result<Drawn, String>> {
        Box::pin(async { Err("Pictures can't be made here.".to_owned()) })
    }
}

impl<S: ChatSurface> BotControl for Engine<S> {
    fn kill(&self, channel: Snowflake) -> bool {
        Engine::kill(self, channel)
    }

    fn respond(&self, message: Inbound, persona: Option<String>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // An unknown name (here: none) makes the engine use the channel's persona, else the
            // main persona.
            self.respond_as(message, persona.as_deref().unwrap_or_default()).await;
        })
    }

    fn refresh(&self, channel: Snowflake) -> BoxFuture<'_, Result<(), SurfaceError>> {
        Box::pin(Engine::refresh(self, channel))
    }

    fn compact(&self, message: Inbound) -> BoxFuture<'_, Result<usize, CompactError>> {
        Box::pin(Engine::compact(self, message))
    }

    fn prompt_snapshot(&self, message: Inbound) -> BoxFuture<'_, Option<Snapshot>> {
        Box::pin(Engine::prompt_snapshot(self, message))
    }

    fn withhold_author(&self, user: Snowflake) {
        Engine::withhold_author(self, user);
    }

    fn draw(
        &self,
        message: Inbound,
        persona: Option<String>,
        ask: DrawAsk,
    ) -> BoxFuture<'_, Result<Drawn, String>> {
        Box::pin(async move {
            Engine::draw(self, message, persona.as_deref().unwrap_or_default(), ask).await
        })
    }
}
