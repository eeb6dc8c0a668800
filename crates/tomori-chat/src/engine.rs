//! The engine: from an inbound message to delivered replies.
//!
//! [`Engine::handle`] records the message in the history cache, decides whether and as whom to
//! answer (`tomori_core::trigger`), and passes the message through the channel [`Gate`]. A turn
//! then checks the abuse controls (cooldown, active-turn caps, the text quota, which fails
//! closed), keeps the typing indicator alive, and for each persona assembles the prompt, streams
//! the answer from the provider chain, and sends it as discrete messages as paragraphs complete.
//! Persona-to-persona cascades need no special path: the bot's own messages come back as gateway
//! events and are decided like any other, with the chain counted against the cascade limit.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use chrono::Utc;
use tomori_core::id::{ServerId, Snowflake};
use tomori_core::privacy::PrivacyLevel;
use tomori_core::prompt::TokenBudget;
use tomori_core::quota::{QuotaVerdict, cooldown_key};
use tomori_core::trigger::{self, AutoCounter};
use tomori_llm::{Llm, Target};
use tomori_store::StoreError;
use tomori_store::personas::Persona;
use tomori_store::quotas::{self, QuotaKind};
use tomori_store::servers::Home;
use tomori_store::settings::ServerSettings;
use tomori_store::{Scope, Store};

use crate::abuse::{ActiveTurns, Cooldowns, LocalCooldowns};
use crate::dm_members::DmMembers;
use crate::documents::Documents;
use crate::first_contact::SetupHints;
use crate::gate::{Arrival, Gate, Turn};
use crate::history::{History, Remembered, RememberedAttachment};
use crate::media::Media;
use crate::providers::ServerProviders;
use crate::surface::{ChatSurface, Inbound, Outgoing, Speaker};
use crate::views::{Seen, Views};

mod analyze;
mod channel_history;
mod context;
mod deliberate;
mod picture;
mod plan;
mod snapshot;
mod stream;

pub use channel_history::{CompactError, MAX_SUMMARY_CHARS, SUMMARY_AUTHOR};
pub use picture::{DrawAsk, Drawn};
pub use snapshot::{Snapshot, SnapshotModel};

/// Tunables of the engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Messages kept per channel in the history cache.
    pub history_capacity: usize,
    /// Channels kept in the history cache.
    pub history_channels: usize,
    /// The prompt's budget for a chain none of whose models has a known context length; the
    /// smallest known one (the catalogue's, `[providers.*] context_length`, a custom
    /// endpoint's) replaces its context tokens, and the server's `max_output_tokens` its
    /// output reserve.
    pub prompt_budget: TokenBudget,
    /// The most messages one turn may send, whatever the server's send limit.
    pub flood_cap: usize,
    /// How often the typing indicator is renewed.
    pub typing_every: Duration,
    /// The first pause before deciding on a message again while the database is unavailable;
    /// it doubles up to `store_retry_max`, then the message gets a visible error if it
    /// addressed the bot (the defaults bridge about 15 s of outage).
    pub store_retry: Duration,
    /// The longest pause between attempts.
    pub store_retry_max: Duration,
    /// Messages that may wait per channel behind the running turn; beyond them a message is
    /// dropped and its author told (default [`crate::gate::DEFAULT_MAX_QUEUED`]).
    pub max_queued: usize,
    /// How long one persona's answer may take from its first model request: retries, keys,
    /// fallbacks, streaming and the tool loop (its tool runs included) together; past it the
    /// answer ends with a notice and no quota is spent. The default matches the gate's
    /// staleness bound (`gate::STALE_AFTER`).
    pub turn_deadline: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            history_capacity: 200,
            history_channels: 10_000,
            prompt_budget: TokenBudget::default(),
            flood_cap: 40,
            typing_every: Duration::from_secs(8),
            store_retry: Duration::from_millis(500),
            store_retry_max: Duration::from_secs(8),
            max_queued: crate::gate::DEFAULT_MAX_QUEUED,
            turn_deadline: crate::gate::STALE_AFTER,
        }
    }
}

/// A decided turn, waiting in or coming out of the gate.
#[derive(Debug, Clone)]
struct Plan {
    message: Inbound,
    server: ServerId,
    /// The server and author as read for this message.
    seen: Seen,
    chosen: Vec<usize>,
    deliberate: bool,
    from_person: bool,
}

impl Plan {
    /// Deliberate tool mode for this turn: the member's own choice, else the server's.
    fn deliberate_tools(&self) -> bool {
        let member = self.seen.user.as_ref().and_then(|u| u.view.settings.deliberate_tools);
        member.unwrap_or(self.settings().deliberate_tools)
    }

    fn settings(&self) -> &ServerSettings {
        &self.seen.view.settings
    }

    fn personas(&self) -> &[Persona] {
        &self.seen.view.personas
    }
}

struct Inner<S> {
    store: Store,
    /// What turns read from the store, per revision.
    views: Arc<Views>,
    surface: S,
    llm: Llm,
    chain: Vec<Target>,
    options: EngineOptions,
    bot_user: OnceLock<Snowflake>,
    /// The tool gate; without one, turns run without tools.
    tools: OnceLock<Arc<tomori_tools::Gate>>,
    /// Image fetching for models that see; without it, images stay `media_N` handles.
    media: OnceLock<Arc<Media>>,
    /// Servers' own models and keys; without it, every server uses the instance chain.
    providers: OnceLock<ServerProviders>,
    /// Retrieval over server documents; without it, prompts carry no document passages.
    documents: OnceLock<Documents>,
    gate: Gate<Plan>,
    history: Mutex<History>,
    /// Persona messages in a row per channel, for the cascade limit.
    chains: Mutex<HashMap<Snowflake, u32>>,
    /// People's messages since the last auto-trigger answer per channel, and the cycle's target.
    auto_counters: Mutex<HashMap<Snowflake, AutoCounter>>,
    cooldowns: Arc<dyn Cooldowns>,
    /// The personas' shareable short-term notes, kept a few seconds.
    notes: crate::notes::NoteCache,
    active: ActiveTurns,
    /// Channels told that no provider can answer (once per channel per process).
    setup_hints: SetupHints,
    /// Tool families used lately per channel, offered again in deliberate tool mode.
    affordances: deliberate::Affordances,
    /// Pictures and videos members asked for, being made (`/bot kill` stops them).
    making: picture::Making,
    /// Members last seen at privacy level 2: nothing of theirs is kept or shown to a model.
    withheld: Mutex<HashSet<Snowflake>>,
    /// Models (`provider/model` of a chain's first target) seen sending a closing reasoning tag
    /// with no opening one: their template opens the block, so their text is held until a tag.
    template_opens: Mutex<HashSet<String>>,
    /// The member each DM channel belongs to, from their own messages and the reminders sent
    /// there: the bot's replies there are read in that member's DM tenant ([`Inner::home_of`]).
    dm_members: Arc<DmMembers>,
}

/// The conversation engine; cheap to clone.
pub struct Engine<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Engine<S> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: ChatSurface> Engine<S> {
    /// An engine answering through `surface` with the provider `chain` (tried in order).
    pub fn new(
        store: Store,
        surface: S,
        llm: Llm,
        chain: Vec<Target>,
        options: EngineOptions,
    ) -> Self {
        let history = History::new(options.history_capacity, options.history_channels);
        let max_queued = options.max_queued;
        Self {
            inner: Arc::new(Inner {
                store,
                views: Arc::default(),
                surface,
                llm,
                chain,
                options,
                bot_user: OnceLock::new(),
                tools: OnceLock::new(),
                media: OnceLock::new(),
                providers: OnceLock::new(),
                documents: OnceLock::new(),
                gate: Gate::with_max_queued(max_queued),
                history: Mutex::new(history),
                chains: Mutex::new(HashMap::new()),
                auto_counters: Mutex::new(HashMap::new()),
                cooldowns: Arc::new(LocalCooldowns::default()),
                notes: crate::notes::NoteCache::default(),
                active: ActiveTurns::default(),
                setup_hints: SetupHints::default(),
                affordances: deliberate::Affordances::default(),
                making: picture::Making::default(),
                withheld: Mutex::default(),
                dm_members: Arc::default(),
                template_opens: Mutex::default(),
            }),
        }
    }

    /// Tells the engine the bot's own user id (from the platform's ready event).
    pub fn set_bot_user(&self, id: Snowflake) {
        let _ = self.inner.bot_user.set(id);
    }

    /// Which member each DM channel belongs to, for the reminder scheduler to tell the engine
    /// of the DMs it sends reminders into ([`crate::reminders::Scheduler::with_dm_members`]).
    pub fn dm_members(&self) -> Arc<DmMembers> {
        Arc::clone(&self.inner.dm_members)
    }

    /// Gives the engine its tool gate; turns then offer the tools the gate allows.
    pub fn set_tools(&self, tools: Arc<tomori_tools::Gate>) {
        let _ = self.inner.tools.set(tools);
    }

    /// Lets the engine show images to models that see them, fetched through `media`.
    pub fn set_media(&self, media: Media) {
        let _ = self.inner.media.set(Arc::new(media));
    }

    /// Lets servers choose their own model, keys and custom endpoints (`/model`, `/provider`).
    pub fn set_server_providers(&self, providers: ServerProviders) {
        let _ = self.inner.providers.set(providers);
    }

    /// Shows each turn the passages of the server's documents most relevant to the latest user
    /// message (`/memory document`, `/model embedding`).
    pub fn set_documents(&self, documents: Documents) {
        let _ = self.inner.documents.set(documents);
    }

    /// `/bot kill`: ends the channel's turn, cancelling its outbound requests, and clears its queue.
    pub fn kill(&self, channel: Snowflake) -> bool {
        // Both: a picture being made is not a turn of the channel's queue.
        let making = self.inner.making.kill(channel);
        self.inner.gate.kill(channel) || making
    }

    /// Handles one inbound message. Returns once the message is decided; turns run in tasks.
    pub async fn handle(&self, message: Inbound) {
        self.dispatch(message, None).await;
    }

    /// Answers `message` as the persona named `persona` whatever the trigger rules say (`/bot
    /// respond`, the terminal chat), once it passes the same admission as a message (privacy,
    /// blacklist, role and channel whitelists, thought-log channel). An unknown name falls back
    /// to the channel's persona (`/server channel-persona`), else the main persona. Returns
    /// whether a turn was started or queued; false when admission refused it (or planning
    /// failed, which the member is told).
    pub async fn respond_as(&self, message: Inbound, persona: &str) -> bool {
        self.dispatch(message, Some(persona)).await
    }

    /// A member chose privacy level 2 (`/personal privacy`): everything of theirs leaves the
    /// history now, before their next message would show it. Their later messages are withheld
    /// as soon as a message of theirs is read at that level; this makes it immediate.
    pub fn withhold_author(&self, user: Snowflake) {
        self.inner.note_privacy(user, PrivacyLevel::Full);
    }

    /// The context the main persona would be given if `message` (a request, its text ignored)
    /// asked it to answer now: the system prompt, the conversation (images named only) and the
    /// tools it would be offered, with the model that would answer. `None` when the server has
    /// no persona or the store failed.
    pub async fn prompt_snapshot(&self, message: Inbound) -> Option<Snapshot> {
        let inner = &self.inner;
        let seen =
            inner.views.read(&inner.store, home(&message), Some(message.author.id)).await.ok()?;
        let main = seen.view.personas.iter().position(|p| p.is_main)?;
        let plan = Plan {
            message,
            server: seen.server,
            seen,
            chosen: vec![main],
            deliberate: true,
            from_person: true,
        };
        let persona = plan.personas().get(main)?;
        let prepared = inner.request_for(&plan, persona).await.ok()?;
        let mut request = prepared.request;
        if let Some(gate) = inner.tools.get()
            && !crate::first_contact::is_builtin(persona)
        {
            let cancel = tokio_util::sync::CancellationToken::new();
            let ctx = inner.tool_context(&plan, persona, prepared.handles, prepared.shown, &cancel);
            if let Ok(ctx) = ctx.await {
                request.tools = gate.advertise(&ctx).await;
            }
        }
        let model = prepared.chain.first().map(|target| SnapshotModel {
            provider: target.provider.clone(),
            model: target.model.clone(),
            label: target.label.clone(),
        });
        Some(snapshot::snapshot(&request, model))
    }

    /// Whether the channel has no turn running and none waiting.
    pub fn is_idle(&self, channel: Snowflake) -> bool {
        self.inner.gate.is_idle(channel)
    }

    /// Decides `message` and hands it to the gate; true when a turn started or was queued.
    async fn dispatch(&self, message: Inbound, forced: Option<&str>) -> bool {
        let inner = &self.inner;
        let mut wait = inner.options.store_retry;
        let plan = loop {
            match Box::pin(inner.plan(message.clone(), forced)).await {
                Ok(Some(plan)) => break plan,
                Ok(None) => return false,
                // The database is away (a restart, a failover): wait a little and decide again,
                // so a short outage delays answers instead of losing them.
                Err(PlanError::Store(StoreError::Unavailable(_)))
                    if wait <= inner.options.store_retry_max =>
                {
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(err) => {
                    let incident = incident_id();
                    tracing::error!(%incident, error = %err, "planning a turn failed");
                    inner.cannot_decide(&message, forced.is_some(), &incident).await;
                    return false;
                }
            }
        };
        let channel = plan.message.channel;
        let user = plan.message.author.id;
        let is_stop = trigger::is_stop_phrase(&plan.message.content);
        match inner.gate.arrive(channel, user, is_stop, plan.clone(), Instant::now()) {
            Arrival::Start(turn) | Arrival::Interrupt(turn) => {
                let inner = Arc::clone(inner);
                tokio::spawn(async move { inner.run(plan, turn).await });
                true
            }
            Arrival::Full { tell } => {
                tracing::info!(%channel, "the channel's queue is full; a message was dropped");
                if tell && plan.from_person {
                    inner.tell(&plan.message, QUEUE_FULL).await;
                }
                false
            }
            Arrival::Queued => true,
            Arrival::Stopped => false,
        }
    }
}

/// What a member turned away by a full queue is told (once while it stays full).
const QUEUE_FULL: &str =
    "There are too many messages waiting for me in this channel; ask me again in a moment.";

/// A failure while planning: logged, and shown to someone who addressed the bot directly.
#[derive(Debug, thiserror::Error)]
enum PlanError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl<S: ChatSurface> Inner<S> {
    /// Planning failed for good. A message that addressed the bot directly (a DM, a mention, a
    /// reply to the bot, `/bot respond`), which can be told without the database, gets a short
    /// visible error; anything else stays quiet as a passive turn would.
    async fn cannot_decide(&self, message: &Inbound, forced: bool, incident: &str) {
        let bot = self.bot_user.get().copied();
        let direct = forced
            || message.guild.is_none()
            || message.mentions_bot
            || message.reply_to.as_ref().is_some_and(|r| Some(r.author) == bot);
        let from_someone = Some(message.author.id) != bot && message.author.webhook.is_none();
        if !(direct && from_someone) {
            return;
        }
        let notice = Outgoing {
            content: format!(
                "Sorry, I can't reach my memory right now (incident {incident}); try again in a \
                 moment."
            ),
            speaker: Speaker::Bot,
            reply_to: Some(message.message),
            ping_users: Vec::new(),
            files: Vec::new(),
        };
        if let Err(err) = self.surface.send(message.channel, notice).await {
            tracing::warn!(error = %err, "sending a notice failed");
        }
    }

    /// Records the privacy level a member was just read at. Security: privacy level 2. On the
    /// way to level 2 everything they wrote leaves the history cache, so messages from before
    /// the change are not shown either; the set keeps them out of every later read.
    fn note_privacy(&self, user: Snowflake, level: PrivacyLevel) {
        let mut withheld = lock(&self.withheld);
        if level.may_reach_models() {
            withheld.remove(&user);
        } else if withheld.insert(user) {
            lock(&self.history).forget_author(user);
        }
    }

    /// The channel's last `limit` messages that may reach a model, oldest first: every prompt,
    /// snapshot, image set, retrieval query and tool view of the history reads through here.
    ///
    /// Security: privacy level 2. Members last seen at that level are left out even if a
    /// message of theirs was captured before their level was known.
    fn recent(&self, channel: Snowflake, limit: usize) -> Vec<Remembered> {
        let mut recent = lock(&self.history).recent(channel, limit);
        let withheld = lock(&self.withheld);
        if !withheld.is_empty() {
            recent.retain(|m| !withheld.contains(&m.author));
        }
        recent
    }

    fn remember(&self, message: &Inbound, persona: Option<String>) {
        lock(&self.history).push(message.channel, remembered(message, persona));
    }

    /// Runs a turn, then whatever the gate hands out next for the channel.
    async fn run(self: Arc<Self>, mut plan: Plan, mut turn: Turn) {
        loop {
            let channel = plan.message.channel;
            self.execute(&plan, &turn).await;
            match self.gate.finish(channel, turn.id, Instant::now()) {
                Some((next, next_turn)) => {
                    plan = next;
                    turn = next_turn;
                }
                None => return,
            }
        }
    }

    async fn notice(&self, plan: &Plan, text: &str) {
        if plan.deliberate {
            self.tell(&plan.message, text).await;
        }
    }

    /// A short notice from the bot, replying to `message`.
    async fn tell(&self, message: &Inbound, text: &str) {
        let notice = Outgoing {
            content: text.to_owned(),
            speaker: Speaker::Bot,
            reply_to: Some(message.message),
            ping_users: Vec::new(),
            files: Vec::new(),
        };
        if let Err(err) = self.surface.send(message.channel, notice).await {
            tracing::warn!(error = %err, "sending a notice failed");
        }
    }

    async fn execute(&self, plan: &Plan, turn: &Turn) {
        let message = &plan.message;
        let scope = Scope::server(plan.server);
        let today = Utc::now().date_naive();
        if plan.from_person {
            let kind = plan.settings().cooldown_kind;
            let key = cooldown_key(
                kind,
                message.author_is_admin,
                message.author.id.get(),
                message.channel.get(),
            );
            if let Some(key) = key {
                let length = Duration::from_secs(
                    u64::try_from(plan.settings().cooldown_seconds).unwrap_or(0),
                );
                if let Err(left) =
                    self.cooldowns.try_start(plan.server.get(), &key, length, Instant::now())
                {
                    crate::telemetry::refused("cooldown");
                    self.notice(
                        plan,
                        &format!("Slow down a little: try again in {} s.", left.as_secs().max(1)),
                    )
                    .await;
                    return;
                }
            }
            if self.active.acquire(message.author.id, plan.server.get()).is_err() {
                crate::telemetry::refused("busy");
                self.notice(plan, "I'm still busy with earlier messages; give me a moment.").await;
                return;
            }
            // Security: spend abuse. The quota check fails closed: a database error refuses the turn.
            let limits = plan.seen.view.text_quota;
            let verdict = quotas::check_against(
                &self.store,
                scope,
                QuotaKind::Text,
                limits,
                message.author.id,
                today,
            )
            .await;
            let refusal = match crate::telemetry::quota(verdict) {
                Ok(QuotaVerdict::Allowed) => None,
                Ok(QuotaVerdict::UserExhausted { resets_on }) => Some(format!(
                    "You've used today's messages; your allowance resets on {resets_on}."
                )),
                Ok(QuotaVerdict::PoolExhausted { resets_on }) => {
                    Some(format!("This server's message pool is used up until {resets_on}."))
                }
                Err(err) => {
                    tracing::error!(error = %err, "quota check failed; refusing the turn");
                    Some("I can't check this server's quota right now, so I won't answer. Try again later.".to_owned())
                }
            };
            if let Some(text) = refusal {
                self.active.release(message.author.id, plan.server.get());
                self.notice(plan, &text).await;
                return;
            }
        }

        let typing_done = turn.cancel.child_token();
        let typing = {
            let done = typing_done.clone();
            let channel = message.channel;
            let every = self.options.typing_every;
            let surface = &self.surface;
            async move {
                loop {
                    let _ = surface.typing(channel).await;
                    tokio::select! {
                        () = done.cancelled() => return,
                        () = tokio::time::sleep(every) => {}
                    }
                }
            }
        };
        let answer = async {
            let mut ok = true;
            for &idx in &plan.chosen {
                if turn.cancel.is_cancelled() {
                    break;
                }
                ok &= self.answer_as(plan, idx, &turn.cancel).await;
            }
            typing_done.cancel();
            ok
        };
        let ((), ok) = tokio::join!(typing, answer);
        crate::telemetry::turn_ended(ok, turn.cancel.is_cancelled());
        if plan.from_person {
            if ok && !turn.cancel.is_cancelled() {
                self.record_text_use(scope, message.author.id, today).await;
            }
            self.active.release(message.author.id, plan.server.get());
        }
    }

    /// Counts an answered message against the member's and the server's text quota. While the
    /// database is unavailable the count is retried in the background on the same schedule as
    /// deciding (about 15 s), so an answer given during an outage is not free.
    async fn record_text_use(&self, scope: Scope, user: Snowflake, today: chrono::NaiveDate) {
        let kind = QuotaKind::Text;
        match quotas::record(&self.store, scope, kind, user, today).await {
            Ok(()) => {}
            Err(StoreError::Unavailable(_)) => {
                let store = self.store.clone();
                let (mut wait, max) = (self.options.store_retry, self.options.store_retry_max);
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(wait).await;
                        match quotas::record(&store, scope, kind, user, today).await {
                            Ok(()) => return,
                            Err(StoreError::Unavailable(_)) if wait < max => wait *= 2,
                            Err(err) => {
                                tracing::error!(error = %err, "recording quota usage failed");
                                return;
                            }
                        }
                    }
                });
            }
            Err(err) => tracing::error!(error = %err, "recording quota usage failed"),
        }
    }
}

/// Whether the message's channel, or the thread's parent, is in `set`.
fn in_channel_set(set: &[Snowflake], message: &Inbound) -> bool {
    set.contains(&message.channel)
        || message.parent_channel.is_some_and(|parent| set.contains(&parent))
}

/// The tenant a message belongs to.
fn home(message: &Inbound) -> Home {
    match message.guild {
        Some(guild) => Home::Guild(guild),
        None => Home::Dm(message.author.id),
    }
}

impl<S> Inner<S> {
    /// The tenant `message` belongs to. A DM is its member's tenant, also for the bot's own
    /// messages there (the gateway's echo of a reply), which are read as the member's persona's
    /// words; the member is learned from their messages in that channel.
    fn home_of(&self, message: &Inbound) -> Home {
        if message.guild.is_some() {
            return home(message);
        }
        let from_bot = self.bot_user.get() == Some(&message.author.id);
        if from_bot && let Some(member) = self.dm_members.member_of(message.channel) {
            return Home::Dm(member);
        }
        if !from_bot && !message.author.is_bot && message.author.webhook.is_none() {
            self.dm_members.learn(message.channel, message.author.id);
        }
        home(message)
    }
}

/// `message` as a history item, spoken by `persona` when the bot or one of its personas wrote it.
fn remembered(message: &Inbound, persona: Option<String>) -> Remembered {
    Remembered {
        id: message.message,
        author: message.author.id,
        author_name: message.author.name.clone(),
        reactions: Vec::new(),
        persona,
        content: message.content.clone(),
        reply_to: message.reply_to.as_ref().map(|r| r.message),
        attachments: remembered_attachments(message),
        is_summary: false,
    }
}

/// The GIF links a message shows at most, besides its attachments.
const MAX_GIF_LINKS: usize = 2;

/// `message`'s attachments, and the GIFs its Giphy and Tenor links name when the platform has
/// not embedded one yet (a link posted without a preview, or before the preview arrived): the
/// media window then shows them like an attached GIF.
fn remembered_attachments(message: &Inbound) -> Vec<RememberedAttachment> {
    let mut attachments: Vec<RememberedAttachment> = message
        .attachments
        .iter()
        .map(|a| RememberedAttachment {
            url: a.url.clone(),
            content_type: a.content_type.clone(),
            size: a.size,
        })
        .collect();
    let has_gif = attachments
        .iter()
        .any(|a| a.content_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("image/gif")));
    if !has_gif {
        let links = tomori_core::media_links::gif_links_in(&message.content, MAX_GIF_LINKS);
        attachments.extend(links.into_iter().map(|link| RememberedAttachment {
            url: link.url().to_owned(),
            content_type: Some("image/gif".to_owned()),
            size: 0,
        }));
    }
    attachments
}

/// The text of one generation by `chain` (no tools), at most about `max_bytes` of it: a model
/// that keeps talking is cut, not buffered without end.
async fn text_of(
    llm: &Llm,
    chain: &[Target],
    request: &tomori_llm::ChatRequest,
    max_bytes: usize,
) -> Result<String, tomori_llm::LlmError> {
    let mut stream = llm.stream(chain, request).await?;
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        if let tomori_llm::StreamEvent::Text(piece) = event?
            && text.len() < max_bytes
        {
            text.push_str(&piece);
        }
    }
    Ok(text)
}

fn main_name(personas: &[Persona]) -> String {
    personas.iter().find(|p| p.is_main).map(|p| p.nickname.clone()).unwrap_or_default()
}

fn incident_id() -> String {
    let mut bytes = [0_u8; 4];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn speaker(persona: &Persona) -> Speaker {
    if persona.is_main {
        Speaker::Bot
    } else {
        Speaker::Persona { name: persona.nickname.clone(), avatar_url: persona.avatar_url.clone() }
    }
}
