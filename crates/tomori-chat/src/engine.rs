//! The engine: from an inbound message to delivered replies.
//!
//! [`Engine::handle`] records the message in the history cache, decides whether and as whom to
//! answer (`tomori_core::trigger`), and passes the message through the channel [`Gate`]. A turn
//! then checks the abuse controls (cooldown, active-turn caps, the text quota, which fails
//! closed), keeps the typing indicator alive, and for each persona assembles the prompt, streams
//! the answer from the provider chain, and sends it as discrete messages as paragraphs complete.
//! Persona-to-persona cascades need no special path: the bot's own messages come back as gateway
//! events and are decided like any other, with the chain counted against the cascade limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tomori_core::chunk::{MAX_MESSAGE_CHARS, split_message};
use tomori_core::handles::Handles;
use tomori_core::id::{ServerId, Snowflake};
use tomori_core::output::{Participant, resolve_mentions, strip_labels, strip_reasoning};
use tomori_core::privacy::PrivacyLevel;
use tomori_core::prompt::{
    self, HistoryItem, ParticipantView, PersonaView, PromptInput, PromptRole, TokenBudget,
};
use tomori_core::quota::{QuotaVerdict, cooldown_key};
use tomori_core::settings::{ChannelSet, Feature};
use tomori_core::trigger::{
    self, Author, AutoCounter, AutoTrigger, Decision, PersonaTrigger, ReplyTo, Situation,
    TriggerSettings,
};
use tomori_llm::{ChatRequest, Completion, Llm, Message, Part, Role, StreamEvent, Target};
use tomori_store::StoreError;
use tomori_store::personas::Persona;
use tomori_store::quotas::{self, QuotaKind};
use tomori_store::servers::Home;
use tomori_store::settings::ServerSettings;
use tomori_store::{Scope, Store, settings, webhooks};
use tomori_tools::{LoopLimits, LoopState, LoopStep, MemoryScope, Place, TurnContext};

use crate::abuse::{ActiveTurns, Cooldowns, LocalCooldowns};
use crate::documents::Documents;
use crate::first_contact::{self, SetupHints};
use crate::gate::{Arrival, Gate, Phase, Turn};
use crate::history::{History, Remembered, RememberedAttachment};
use crate::live::EngineLive;
use crate::media::Media;
use crate::providers::{Chain, ServerProviders};
use crate::surface::{ChatSurface, Inbound, Outgoing, Speaker};
use crate::views::{ChainFor, Seen, Views};

/// Tunables of the engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Messages kept per channel in the history cache.
    pub history_capacity: usize,
    /// Channels kept in the history cache.
    pub history_channels: usize,
    /// The model's context as one prompt may use it (the same for every model until the
    /// engine knows each model's context length).
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
    media: OnceLock<Media>,
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
    active: ActiveTurns,
    /// Channels told that no provider can answer (once per channel per process).
    setup_hints: SetupHints,
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
                gate: Gate::default(),
                history: Mutex::new(history),
                chains: Mutex::new(HashMap::new()),
                auto_counters: Mutex::new(HashMap::new()),
                cooldowns: Arc::new(LocalCooldowns::default()),
                active: ActiveTurns::default(),
                setup_hints: SetupHints::default(),
            }),
        }
    }

    /// Tells the engine the bot's own user id (from the platform's ready event).
    pub fn set_bot_user(&self, id: Snowflake) {
        let _ = self.inner.bot_user.set(id);
    }

    /// Gives the engine its tool gate; turns then offer the tools the gate allows.
    pub fn set_tools(&self, tools: Arc<tomori_tools::Gate>) {
        let _ = self.inner.tools.set(tools);
    }

    /// Lets the engine show images to models that see them, fetched through `media`.
    pub fn set_media(&self, media: Media) {
        let _ = self.inner.media.set(media);
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
        self.inner.gate.kill(channel)
    }

    /// Handles one inbound message. Returns once the message is decided; turns run in tasks.
    pub async fn handle(&self, message: Inbound) {
        self.dispatch(message, None).await;
    }

    /// Answers `message` as the persona named `persona` whatever the trigger rules say (`/bot
    /// respond`, the terminal chat). An unknown name falls back to the channel's persona
    /// (`/server channel-persona`), else the main persona.
    pub async fn respond_as(&self, message: Inbound, persona: &str) {
        self.dispatch(message, Some(persona)).await;
    }

    /// `/tool refresh`: the channel's history starts after this point; earlier messages are no
    /// longer shown to the model.
    pub fn refresh(&self, channel: Snowflake) {
        lock(&self.inner.history).reset(channel);
        lock(&self.inner.chains).remove(&channel);
    }

    /// The context the main persona would be given if `message` (a request, its text ignored)
    /// asked it to answer now: the system prompt and the conversation as text, images named
    /// only. `None` when the server has no persona or the store failed.
    pub async fn prompt_snapshot(&self, message: Inbound) -> Option<String> {
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
        Some(render_request(&prepared.request))
    }

    /// Whether the channel has no turn running and none waiting.
    pub fn is_idle(&self, channel: Snowflake) -> bool {
        self.inner.gate.is_idle(channel)
    }

    async fn dispatch(&self, message: Inbound, forced: Option<&str>) {
        let inner = &self.inner;
        let mut wait = inner.options.store_retry;
        let plan = loop {
            match Box::pin(inner.plan(message.clone(), forced)).await {
                Ok(Some(plan)) => break plan,
                Ok(None) => return,
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
                    return;
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
            }
            Arrival::Queued | Arrival::Stopped => {}
        }
    }
}

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
        };
        if let Err(err) = self.surface.send(message.channel, notice).await {
            tracing::warn!(error = %err, "sending a notice failed");
        }
    }

    fn remember(&self, message: &Inbound, persona: Option<String>) {
        let remembered = Remembered {
            id: message.message,
            author: message.author.id,
            author_name: message.author.name.clone(),
            persona,
            content: message.content.clone(),
            reply_to: message.reply_to.as_ref().map(|r| r.message),
            attachments: message
                .attachments
                .iter()
                .map(|a| RememberedAttachment {
                    url: a.url.clone(),
                    content_type: a.content_type.clone(),
                    size: a.size,
                })
                .collect(),
        };
        lock(&self.history).push(message.channel, remembered);
    }

    async fn plan(
        &self,
        message: Inbound,
        forced: Option<&str>,
    ) -> Result<Option<Plan>, PlanError> {
        let store = &self.store;
        let bot_user = self.bot_user.get().copied();
        let by_person = !message.author.is_bot
            && message.author.webhook.is_none()
            && bot_user != Some(message.author.id);
        let seen =
            self.views.read(store, home(&message), by_person.then_some(message.author.id)).await?;
        let server = seen.server;
        let scope = Scope::server(server);
        let (settings, personas) = (&seen.view.settings, &seen.view.personas);
        // The channel's managed webhook (a thread uses its parent's), looked up only when a
        // webhook wrote the message or the message replies to one.
        let webhook_involved = message.author.webhook.is_some()
            || message.reply_to.as_ref().is_some_and(|r| r.webhook.is_some());
        let managed_webhook = if webhook_involved {
            let home = message.parent_channel.unwrap_or(message.channel);
            webhooks::get(store, scope, home).await.ok().flatten().map(|w| w.webhook_id)
        } else {
            None
        };

        // Who wrote it, and how long the persona chain is.
        let author_persona = match (message.author.webhook, managed_webhook) {
            (Some(hook), Some(managed)) if hook == managed => {
                personas.iter().position(|p| p.nickname.eq_ignore_ascii_case(&message.author.name))
            }
            _ => None,
        };
        let is_self = bot_user == Some(message.author.id) || author_persona.is_some();
        let chain = {
            let mut chains = lock(&self.chains);
            let count = chains.entry(message.channel).or_insert(0);
            *count = if is_self { *count + 1 } else { 0 };
            *count
        };
        let persona_name = author_persona.and_then(|i| personas.get(i)).map(|p| p.nickname.clone());
        // A `/bot respond` without text is a request, not a message of the conversation.
        if !(forced.is_some() && message.content.trim().is_empty()) {
            self.remember(&message, persona_name.or_else(|| is_self.then(|| main_name(personas))));
        }
        let author = if bot_user == Some(message.author.id) {
            Author::SelfBot { chain }
        } else if let Some(persona) = author_persona {
            Author::OwnPersona { persona, chain }
        } else if message.author.webhook.is_some() {
            Author::UnknownWebhook
        } else if message.author.is_bot {
            Author::OtherBot
        } else {
            let privacy =
                seen.user.as_ref().map_or(PrivacyLevel::Minimal, |u| u.view.settings.privacy);
            Author::Human { privacy }
        };

        let view = &seen.view;
        let in_guild = message.guild.is_some();
        let in_whitelist = in_channel_set(&view.whitelist, &message);
        // The role whitelist (when it has roles) and the user blacklist keep people out the same
        // way a channel outside the whitelist does.
        let person_allowed = if in_guild && matches!(author, Author::Human { .. }) {
            let roles = &view.role_whitelist;
            (roles.is_empty() || message.author_roles.iter().any(|r| roles.contains(r)))
                && !view.blacklist.contains(&message.author.id)
        } else {
            true
        };
        let outside_whitelist =
            (in_guild && !view.whitelist.is_empty() && !in_whitelist) || !person_allowed;
        let in_auto_channel = in_guild && in_channel_set(&view.auto_trigger, &message);
        let auto_trigger = self.auto_trigger(settings, in_auto_channel, &message, &author);
        // The channel's own persona (a thread follows its parent), if the server chose one.
        let default_persona = match message.guild {
            Some(_) => view
                .channel_persona(message.channel, message.parent_channel)
                .and_then(|id| personas.iter().position(|p| p.id == id)),
            None => None,
        };
        let triggers: Vec<PersonaTrigger> = personas
            .iter()
            .map(|p| PersonaTrigger {
                nickname: p.nickname.clone(),
                triggers: p.trigger_words.clone(),
                is_main: p.is_main,
            })
            .collect();
        let reply_to = match &message.reply_to {
            Some(reply) if Some(reply.author) == bot_user && reply.webhook.is_none() => {
                ReplyTo::Bot
            }
            Some(reply) if reply.webhook.is_some() && reply.webhook == managed_webhook => reply
                .webhook_name
                .as_ref()
                .and_then(|name| {
                    personas.iter().position(|p| p.nickname.eq_ignore_ascii_case(name))
                })
                .map_or(ReplyTo::Nothing, ReplyTo::Persona),
            _ => ReplyTo::Nothing,
        };
        let situation = Situation {
            author,
            content: &message.content,
            is_dm: message.guild.is_none(),
            mentions_bot: message.mentions_bot,
            reply_to,
            outside_whitelist,
            in_thought_log: settings
                .thought_log_channel
                .is_some_and(|c| c == message.channel.to_db()),
            auto_trigger,
            personas: &triggers,
            default_persona,
            server_triggers: &settings.trigger_words,
            settings: TriggerSettings {
                match_limit: u32::try_from(settings.match_limit).unwrap_or(1),
                cascade_limit: u32::try_from(settings.cascade_limit).unwrap_or(0),
                deliberate: settings.deliberate_trigger,
            },
        };
        let mut decision = trigger::decide(&situation);
        if let Some(name) = forced
            && !matches!(
                decision,
                Decision::Silent(trigger::Silence::PrivacyFull | trigger::Silence::NoPersona)
            )
        {
            let idx = personas.iter().position(|p| p.nickname.eq_ignore_ascii_case(name));
            let main = personas.iter().position(|p| p.is_main).unwrap_or(0);
            let default = default_persona.unwrap_or(main);
            decision = Decision::Reply { personas: vec![idx.unwrap_or(default)], deliberate: true };
        }
        tracing::debug!(channel = %message.channel, ?decision, "decided");
        let Decision::Reply { personas: chosen, deliberate } = decision else { return Ok(None) };
        let from_person = matches!(author, Author::Human { .. });
        Ok(Some(Plan { message, server, seen, chosen, deliberate, from_person }))
    }

    fn auto_trigger(
        &self,
        settings: &ServerSettings,
        in_auto_channel: bool,
        message: &Inbound,
        author: &Author,
    ) -> AutoTrigger {
        if message.guild.is_none() || !matches!(author, Author::Human { .. }) {
            return AutoTrigger::Off;
        }
        // Always-reply is server-wide; the auto-trigger channels have their own counter.
        if settings.always_reply {
            return AutoTrigger::AlwaysReply;
        }
        let range = settings.auto_trigger();
        if !in_auto_channel || range.is_off() {
            return AutoTrigger::Off;
        }
        // The cycle's target is drawn with the message id as the seed, so tests can predict it.
        let mut counters = lock(&self.auto_counters);
        let counter = counters.entry(message.channel).or_default();
        if counter.advance(range, message.message.get()) {
            AutoTrigger::CounterHit
        } else {
            AutoTrigger::Off
        }
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
        if !plan.deliberate {
            return;
        }
        let message = Outgoing {
            content: text.to_owned(),
            speaker: Speaker::Bot,
            reply_to: Some(plan.message.message),
            ping_users: Vec::new(),
        };
        if let Err(err) = self.surface.send(plan.message.channel, message).await {
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

    /// Generates and delivers one persona's answer; false when it failed.
    async fn answer_as(&self, plan: &Plan, idx: usize, cancel: &CancellationToken) -> bool {
        let Some(persona) = plan.personas().get(idx) else { return false };
        let started = Instant::now();
        let prepared = match self.request_for(plan, persona).await {
            Ok(prepared) => prepared,
            Err(err) => {
                let incident = incident_id();
                tracing::error!(%incident, error = %err, "building the prompt failed");
                self.notice(
                    plan,
                    &format!(
                        "Sorry, I can't reach my memory right now (incident {incident}); try \
                         again in a moment."
                    ),
                )
                .await;
                return false;
            }
        };
        crate::telemetry::overhead(started);
        // No provider at all: whoever addressed the bot learns, once per channel, what to do.
        if prepared.chain.is_empty() {
            if plan.deliberate && self.setup_hints.first_time(plan.message.channel) {
                self.notice(plan, first_contact::NO_PROVIDER).await;
            }
            return false;
        }
        let mut request = prepared.request;
        let tools = match self.tools.get() {
            // The built-in persona has no row or lineage to file memories or reminders under.
            Some(gate) if plan.from_person && !first_contact::is_builtin(persona) => match self
                .tool_context(plan, persona, prepared.handles, prepared.shown, cancel)
                .await
            {
                Ok(ctx) => {
                    request.tools = gate.advertise(&ctx).await;
                    Some((gate, ctx))
                }
                Err(err) => {
                    tracing::warn!(error = %err, "no tools this turn");
                    None
                }
            },
            _ => None,
        };
        let mut delivery = Delivery::new(self, plan, persona);
        let mut loop_state = LoopState::new(LoopLimits::default());
        loop {
            match loop_state.begin_iteration() {
                LoopStep::Continue => {}
                LoopStep::ContinueWithNotice => self.notice(plan, "Still working on it…").await,
                LoopStep::Abort(reason) => {
                    tracing::warn!(?reason, "tool loop stopped");
                    self.notice(plan, "I'm going around in circles, so I'll stop here.").await;
                    break;
                }
            }
            let Some(completion) =
                self.generate(plan, &prepared.chain, &request, &mut delivery, cancel).await
            else {
                return false;
            };
            let Some((gate, ctx)) = &tools else { break };
            if completion.tool_calls.is_empty() || cancel.is_cancelled() {
                break;
            }
            // Tools run: a follow-up now waits instead of interrupting and losing their work.
            self.gate.set_phase(plan.message.channel, Phase::Tools);
            let results = tomori_tools::run_tool_calls(gate, &completion.tool_calls, ctx).await;
            self.gate.set_phase(plan.message.channel, Phase::Streaming);
            let step = loop_state.record(&results);
            request.messages.push(completion.to_message());
            request.messages.push(tomori_tools::results_message(results));
            if let LoopStep::Abort(reason) = step {
                tracing::warn!(?reason, "tool loop stopped");
                self.notice(plan, "My tools keep failing, so I'll stop here.").await;
                break;
            }
        }
        delivery.finish().await;
        self.log_thoughts(plan, persona, &delivery.thoughts()).await;
        true
    }

    /// One model call: streams text into `delivery` and returns the whole completion (with any
    /// tool calls), or `None` when it failed or the turn was cancelled.
    async fn generate(
        &self,
        plan: &Plan,
        chain: &[Target],
        request: &ChatRequest,
        delivery: &mut Delivery<'_, S>,
        cancel: &CancellationToken,
    ) -> Option<Completion> {
        let stream = tokio::select! {
            () = cancel.cancelled() => return None,
            stream = self.llm.stream(chain, request) => stream,
        };
        let mut stream = match stream {
            Ok(stream) => stream,
            Err(err) => {
                let incident = incident_id();
                tracing::error!(%incident, code = err.code(), error = %err, "generation failed");
                self.notice(
                    plan,
                    &format!("Sorry, I couldn't reach the model right now (incident {incident})."),
                )
                .await;
                return None;
            }
        };
        let mut completion = Completion::default();
        loop {
            let event = tokio::select! {
                () = cancel.cancelled() => return None,
                event = stream.next() => event,
            };
            match event {
                None => return Some(completion),
                Some(Ok(event)) => {
                    match &event {
                        // The delivery stopped (send limit): end the turn, calling no tools.
                        StreamEvent::Text(text) if !delivery.push(text).await => {
                            return Some(Completion::default());
                        }
                        StreamEvent::Reasoning(text) => delivery.reasoning.push_str(text),
                        _ => {}
                    }
                    completion.push(event);
                }
                Some(Err(err)) => {
                    let incident = incident_id();
                    tracing::error!(%incident, code = err.code(), error = %err, "the stream failed");
                    delivery.finish().await;
                    // A cut-off answer must not pass for a complete one.
                    let text = if delivery.sent == 0 {
                        format!("Sorry, my answer broke off (incident {incident}).")
                    } else {
                        format!("Sorry, my answer broke off there (incident {incident}).")
                    };
                    self.notice(plan, &text).await;
                    return None;
                }
            }
        }
    }

    /// The tools' view of the turn.
    async fn tool_context(
        &self,
        plan: &Plan,
        persona: &Persona,
        handles: Handles,
        shown_memories: Vec<(MemoryScope, i64)>,
        cancel: &CancellationToken,
    ) -> Result<TurnContext, StoreError> {
        let user = plan.seen.user.as_ref().ok_or(StoreError::NotFound("user"))?.id;
        let limit = usize::try_from(plan.settings().message_fetch_limit).unwrap_or(80);
        let shown = Arc::new(lock(&self.history).recent(plan.message.channel, limit));
        let place = match plan.message.guild {
            Some(_) => Place::Guild { rp: in_channel_set(&plan.seen.view.rp, &plan.message) },
            None => Place::Dm,
        };
        let live = EngineLive {
            store: self.store.clone(),
            views: Arc::clone(&self.views),
            home: home(&plan.message),
            planned: Mutex::new(Some(plan.seen.clone())),
            server: plan.server,
            invoker: plan.message.author.id,
            invoker_is_admin: plan.message.author_is_admin,
            bot_user: self.bot_user.get().copied(),
            guild: plan.message.guild,
            channel: plan.message.channel,
            platform: self.surface.platform(),
            shown,
            today: Utc::now().date_naive(),
        };
        Ok(TurnContext {
            server: plan.server,
            guild: plan.message.guild,
            channel: plan.message.channel,
            place,
            invoker: plan.message.author.id,
            invoker_user: user,
            persona: persona.id,
            lineage: persona.lineage,
            handles,
            shown_memories,
            live: Arc::new(live),
            cancel: cancel.child_token(),
        })
    }

    /// Sends the turn's reasoning to the thought-log channel, when the server has one.
    ///
    /// Security: private-channel disclosure. Reasoning about a private channel or a DM would leak
    /// its content into the (usually more public) thought-log channel, so it is dropped instead.
    async fn log_thoughts(&self, plan: &Plan, persona: &Persona, thoughts: &str) {
        let Some(channel) =
            plan.settings().thought_log_channel.and_then(|c| Snowflake::from_db(c).ok())
        else {
            return;
        };
        if thoughts.trim().is_empty() || plan.message.guild.is_none() {
            return;
        }
        let private =
            settings::channels(&self.store, Scope::server(plan.server), ChannelSet::Private).await;
        match private {
            Ok(private) if !in_channel_set(&private, &plan.message) => {}
            _ => return,
        }
        let text = format!(
            "**{}** thought, answering in <#{}>:\n{}",
            persona.nickname,
            plan.message.channel,
            thoughts.trim()
        );
        for chunk in split_message(&text, MAX_MESSAGE_CHARS).into_iter().take(3) {
            let outgoing = Outgoing {
                content: chunk,
                speaker: Speaker::Bot,
                reply_to: None,
                ping_users: Vec::new(),
            };
            if let Err(err) = self.surface.send(channel, outgoing).await {
                tracing::warn!(error = %err, "sending to the thought-log channel failed");
                return;
            }
        }
    }

    async fn request_for(&self, plan: &Plan, persona: &Persona) -> Result<Prepared, StoreError> {
        let limit = usize::try_from(plan.settings().message_fetch_limit).unwrap_or(80);
        let recent = lock(&self.history).recent(plan.message.channel, limit);
        let mut shown: Vec<(MemoryScope, i64)> = Vec::new();
        // Memories carry their id, so the model can name one to update_long_term_memory.
        let server_memories: Vec<String> = plan
            .seen
            .view
            .memories(persona.lineage)
            .map(|m| {
                shown.push((MemoryScope::Server, m.id));
                format!("[id:{}] {}", m.id, m.content)
            })
            .collect();
        let mut handles = Handles::default();
        let mut history = Vec::with_capacity(recent.len());
        let mut participants: Vec<String> = Vec::new();
        for item in &recent {
            let handle = handles.message_handle(item.id);
            let reply_to = item.reply_to.map(|r| handles.message_handle(r));
            let media = item.attachments.iter().map(|a| handles.media_handle(&a.url)).collect();
            let own = item
                .persona
                .as_deref()
                .is_some_and(|name| name.eq_ignore_ascii_case(&persona.nickname));
            let author = item.persona.clone().unwrap_or_else(|| item.author_name.clone());
            if item.persona.is_none() && !participants.contains(&item.author_name) {
                participants.push(item.author_name.clone());
            }
            history.push(HistoryItem {
                handle,
                author,
                own,
                content: item.content.clone(),
                reply_to,
                media,
            });
        }
        // Personal memories of the person being answered, when their privacy level and the server allow.
        let mut personal: Vec<String> = Vec::new();
        if plan.from_person
            && let Some(user) = &plan.seen.user
        {
            let me = &user.view.settings;
            // What they asked to be called and answered in (/personal), at any privacy level
            // that lets Tomori answer them at all.
            if let Some(nickname) = &me.nickname {
                personal.push(format!("Prefers to be called {nickname}."));
            }
            if me.language != "en" {
                personal
                    .push(format!("Prefers replies in the language with code {}.", me.language));
            }
            if me.privacy == PrivacyLevel::Minimal
                && plan.settings().feature(Feature::PersonalMemories)
            {
                let memories = user.view.memories(persona.lineage).map(|m| {
                    shown.push((MemoryScope::Personal, m.id));
                    format!("[id:{}] {}", m.id, m.content)
                });
                personal.extend(memories);
            }
        }
        // Passages of the server's documents for the latest user message (skipped, within a
        // time limit, when the server has none; a failure leaves them out).
        let server_documents: Vec<String> = match self.documents.get() {
            Some(documents) => {
                let query = recent.iter().rev().find(|m| m.persona.is_none()).map(|m| &m.content);
                let query = query.map_or("", String::as_str);
                documents
                    .passages(&self.store, plan.server, plan.seen.view.retrieval.as_ref(), query)
                    .await
                    .into_iter()
                    .map(|p| format!("[{}, part {}] {}", p.document, p.ordinal + 1, p.content))
                    .collect()
            }
            None => Vec::new(),
        };
        let participant_views: Vec<ParticipantView<'_>> = participants
            .iter()
            .map(|name| ParticipantView {
                name,
                memories: if *name == plan.message.author.name { &personal } else { &[] },
            })
            .collect();
        let dialogues: Vec<(String, String)> =
            persona.sample_dialogues.iter().map(|d| (d.user.clone(), d.bot.clone())).collect();
        let others: Vec<&str> = plan
            .personas()
            .iter()
            .filter(|p| p.id != persona.id)
            .map(|p| p.nickname.as_str())
            .collect();
        let now = tomori_core::timezone::describe_now(Utc::now(), &plan.settings().timezone);
        let input = PromptInput {
            persona: PersonaView {
                name: &persona.nickname,
                prompt: &persona.prompt,
                attributes: &persona.attributes,
                sample_dialogues: &dialogues,
            },
            other_personas: &others,
            system_prompt: plan.settings().system_prompt.as_deref(),
            server_name: plan.message.guild_name.as_deref(),
            now: &now,
            server_memories: &server_memories,
            server_documents: &server_documents,
            participants: &participant_views,
            history: &history,
            context_note: plan.settings().context_note.as_deref(),
            member: &plan.message.author.name,
            server_emoji: &[],
            budget: self.options.prompt_budget,
        };
        let (prompt, warnings) = prompt::assemble(&input);
        if !warnings.is_empty() {
            tracing::debug!(?warnings, "prompt trimmed");
        }
        let messages = prompt
            .messages
            .into_iter()
            .map(|m| match m.role {
                PromptRole::User => Message::user(m.content),
                PromptRole::Assistant => Message::assistant(m.content),
            })
            .collect();
        let chain = match self.providers.get() {
            Some(providers) => {
                let message = &plan.message;
                // Security: prompt disclosure through a member's own endpoint, which receives
                // the assembled prompt. It answers only where that member may see the prompt
                // anyway (`/tool prompt`'s rule), or in their direct messages.
                let own_endpoint = message.guild.is_none()
                    || message.author_is_admin
                    || plan.settings().feature(Feature::PromptSnapshot);
                // Images the turn would show: the server's vision model may have to look.
                let images = self.media.get().is_some_and(|media| !media.pick(&recent).is_empty());
                let turn = ChainFor { own_endpoint, images };
                self.views.chain(providers, &self.store, &plan.seen, &self.chain, turn).await?
            }
            None => Chain { targets: self.chain.clone(), ..Chain::default() },
        };
        let mut request = ChatRequest {
            system: vec![prompt.system],
            messages,
            sampler: chain.sampler,
            ..ChatRequest::default()
        };
        self.attach_images(&mut request, &chain.targets, &recent, &mut handles).await;
        Ok(Prepared { request, chain: chain.targets, handles, shown })
    }
}

impl<S: ChatSurface> Inner<S> {
    /// Shows the model the images of the most recent messages, when a model of the chain sees
    /// images: each labelled with its `media_N` handle, after the last user message's text.
    /// An image that cannot be fetched or decoded is left out; the turn goes on.
    async fn attach_images(
        &self,
        request: &mut ChatRequest,
        chain: &[Target],
        recent: &[Remembered],
        handles: &mut Handles,
    ) {
        let Some(media) = self.media.get() else { return };
        if !chain.iter().any(|target| target.capabilities.vision) {
            return;
        }
        let picked = media.pick(recent);
        if picked.is_empty() {
            return;
        }
        let loads = picked.iter().map(|a| media.load(&a.url));
        let loaded = futures_util::future::join_all(loads).await;
        let Some(last_user) = request.messages.iter_mut().rev().find(|m| m.role == Role::User)
        else {
            return;
        };
        for (attachment, result) in picked.iter().zip(loaded) {
            match result {
                Ok(image) => {
                    let label = format!("[{}]", handles.media_handle(&attachment.url));
                    last_user.parts.push(Part::Text(label));
                    last_user.parts.push(Part::Image((*image).clone()));
                }
                Err(err) => tracing::debug!(error = %err, "an image was left out of the prompt"),
            }
        }
    }
}

/// A turn's request and what the prompt showed the model.
struct Prepared {
    request: ChatRequest,
    /// The models to try, in order.
    chain: Vec<Target>,
    handles: Handles,
    shown: Vec<(MemoryScope, i64)>,
}

/// A request as plain text, for `/tool prompt`: images and tool traffic named, not included.
fn render_request(request: &ChatRequest) -> String {
    let mut out = String::from("## System\n");
    for block in &request.system {
        out.push_str(block);
        out.push('\n');
    }
    for message in &request.messages {
        let role = match message.role {
            Role::User => "User",
            Role::Assistant => "Assistant",
            _ => "Other",
        };
        out.push_str(&format!("\n## {role}\n"));
        for part in &message.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Image(_) => out.push_str("[image]"),
                _ => out.push_str("[tool traffic]"),
            }
            out.push('\n');
        }
    }
    out
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

fn main_name(personas: &[Persona]) -> String {
    personas.iter().find(|p| p.is_main).map(|p| p.nickname.clone()).unwrap_or_default()
}

fn incident_id() -> String {
    let mut bytes = [0_u8; 4];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sends an answer as it is generated: whole paragraphs as soon as they are complete, the rest at
/// the end; reasoning and labels stripped, mentions made safe, within the send limit.
struct Delivery<'a, S> {
    inner: &'a Inner<S>,
    plan: &'a Plan,
    persona: &'a Persona,
    raw: String,
    /// Reasoning the provider streamed separately.
    reasoning: String,
    /// Characters of the visible text already sent.
    sent_chars: usize,
    /// Messages sent.
    sent: usize,
    /// The most messages this turn may send.
    limit: usize,
    stopped: bool,
}

impl<'a, S: ChatSurface> Delivery<'a, S> {
    fn new(inner: &'a Inner<S>, plan: &'a Plan, persona: &'a Persona) -> Self {
        let server_limit = usize::try_from(plan.settings().send_limit).unwrap_or(0);
        let limit = if server_limit == 0 {
            inner.options.flood_cap
        } else {
            server_limit.min(inner.options.flood_cap)
        };
        Self {
            inner,
            plan,
            persona,
            raw: String::new(),
            reasoning: String::new(),
            sent_chars: 0,
            sent: 0,
            limit,
            stopped: false,
        }
    }

    /// Everything the model thought: streamed reasoning and `<think>` blocks in the text.
    fn thoughts(&self) -> String {
        let inline = strip_reasoning(&self.raw).reasoning;
        match (self.reasoning.trim().is_empty(), inline.is_empty()) {
            (true, _) => inline,
            (false, true) => self.reasoning.trim().to_owned(),
            (false, false) => format!("{}\n\n{inline}", self.reasoning.trim()),
        }
    }

    fn visible(&self) -> String {
        let separated = strip_reasoning(&self.raw);
        let others: Vec<&str> = self
            .plan
            .personas()
            .iter()
            .filter(|p| p.id != self.persona.id)
            .map(|p| p.nickname.as_str())
            .collect();
        strip_labels(&separated.visible, &self.persona.nickname, &others)
    }

    /// Adds generated text; sends what is complete. False once the turn must stop generating.
    async fn push(&mut self, text: &str) -> bool {
        self.raw.push_str(text);
        let visible = self.visible();
        let pending: String = visible.chars().skip(self.sent_chars).collect();
        // Send up to the last paragraph break, once there is one and enough text to be worth a message.
        if let Some(cut) = pending.rfind("\n\n")
            && (pending.chars().count() > 400 || pending.chars().count() > MAX_MESSAGE_CHARS)
        {
            let ready = pending.get(..cut).unwrap_or_default().to_owned();
            self.sent_chars += ready.chars().count();
            self.send(&ready).await;
        }
        !self.stopped
    }

    /// Sends whatever is left.
    async fn finish(&mut self) {
        let visible = self.visible();
        let pending: String = visible.chars().skip(self.sent_chars).collect();
        self.sent_chars += pending.chars().count();
        self.send(&pending).await;
    }

    async fn send(&mut self, text: &str) {
        if self.stopped || text.trim().is_empty() {
            return;
        }
        let views = participants(self.inner, self.plan);
        for chunk in split_message(text, MAX_MESSAGE_CHARS) {
            if self.sent >= self.limit {
                self.stopped = true;
                let note = Outgoing {
                    content: "(I'll stop here: that's as many messages as I may send at once.)"
                        .to_owned(),
                    speaker: speaker(self.persona),
                    reply_to: None,
                    ping_users: Vec::new(),
                };
                let _ = self.inner.surface.send(self.plan.message.channel, note).await;
                return;
            }
            let content = resolve_mentions(&chunk, &views);
            let ping_users = views
                .iter()
                .filter(|p| content.contains(&format!("<@{}>", p.user_id)))
                .filter_map(|p| Snowflake::new(p.user_id).ok())
                .collect();
            let outgoing = Outgoing {
                content,
                speaker: speaker(self.persona),
                reply_to: (self.sent == 0 && self.plan.deliberate)
                    .then_some(self.plan.message.message),
                ping_users,
            };
            match self.inner.surface.send(self.plan.message.channel, outgoing).await {
                Ok(_) => self.sent += 1,
                Err(err) => {
                    tracing::warn!(error = %err, "sending a reply failed");
                    self.stopped = true;
                    return;
                }
            }
        }
    }
}

fn speaker(persona: &Persona) -> Speaker {
    if persona.is_main {
        Speaker::Bot
    } else {
        Speaker::Persona { name: persona.nickname.clone(), avatar_url: persona.avatar_url.clone() }
    }
}

/// People in the channel's recent history, for resolving `@name` in the answer: only someone the
/// conversation already contains can be pinged.
fn participants<S>(inner: &Inner<S>, plan: &Plan) -> Vec<Participant> {
    let recent = lock(&inner.history).recent(plan.message.channel, inner.options.history_capacity);
    let mut people: Vec<Participant> = Vec::new();
    for item in recent.iter().filter(|m| m.persona.is_none()) {
        if people.iter().any(|p| p.user_id == item.author.get()) {
            continue;
        }
        people.push(Participant {
            names: vec![item.author_name.clone()],
            user_id: item.author.get(),
        });
    }
    people
}
