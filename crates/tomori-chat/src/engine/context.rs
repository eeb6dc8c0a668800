//! The context stage: what one persona's turn shows the model (the prompt within the token
//! budget, the history through the privacy filter, memories, document passages, images) and
//! what its tools see.

use std::sync::{Arc, Mutex};

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tomori_core::emoji::{self, ServerEmoji};
use tomori_core::handles::Handles;
use tomori_core::lorebook::{self, ScanInput, ScanMessage};
use tomori_core::macros::{MacroContext, MacroNames};
use tomori_core::media_links;
use tomori_core::preset::Samplers;
use tomori_core::privacy::PrivacyLevel;
use tomori_core::prompt::{
    self, HistoryItem, Lore, ParticipantView, PersonaView, PromptInput, PromptRole, TokenBudget,
    estimate_tokens,
};
use tomori_core::settings::Feature;
use tomori_core::timezone::Zone;
use tomori_llm::{ChatRequest, Message, Part, Role, Target};
use tomori_store::personas::Persona;
use tomori_store::{StoreError, short_term};
use tomori_tools::{MemoryScope, Place, SharedAnalyst, TurnContext};

use super::analyze::Analyst;
use super::{Inner, Plan, in_channel_set};
use crate::history::Remembered;
use crate::live::EngineLive;
use crate::providers::Chain;
use crate::surface::ChatSurface;
use crate::views::ChainFor;

impl<S: ChatSurface> Inner<S> {
    /// The tools' view of the turn.
    pub(super) async fn tool_context(
        &self,
        plan: &Plan,
        persona: &Persona,
        handles: Handles,
        shown_memories: Vec<(MemoryScope, i64)>,
        cancel: &CancellationToken,
    ) -> Result<TurnContext, StoreError> {
        let user = plan.seen.user.as_ref().ok_or(StoreError::NotFound("user"))?.id;
        let limit = usize::try_from(plan.settings().message_fetch_limit).unwrap_or(80);
        let shown = Arc::new(self.recent(plan.message.channel, limit));
        let place = match plan.message.guild {
            Some(_) => Place::Guild { rp: in_channel_set(&plan.seen.view.rp, &plan.message) },
            None => Place::Dm,
        };
        let live = EngineLive {
            store: self.store.clone(),
            views: Arc::clone(&self.views),
            home: self.home_of(&plan.message),
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
            outbox: tomori_tools::Outbox::default(),
            shown: tomori_tools::ShownImages::default(),
            member_request: false,
            youtube: Vec::new(),
            offered: Vec::new(),
            analyst: None,
            private_channel: in_channel_set(&plan.seen.view.private, &plan.message),
        })
    }

    pub(super) async fn request_for(
        &self,
        plan: &Plan,
        persona: &Persona,
    ) -> Result<Prepared, StoreError> {
        self.backfill(plan).await;
        let limit = usize::try_from(plan.settings().message_fetch_limit).unwrap_or(80);
        let recent = self.recent(plan.message.channel, limit);
        let mut chain = self.chain_for(plan, persona, &recent).await?;
        let preset = plan.seen.view.preset.as_deref();
        if let Some(preset) = preset {
            fill_sampler(&mut chain.sampler, &preset.samplers);
        }
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
            if item.persona.is_none()
                && !item.is_summary
                && !participants.contains(&item.author_name)
            {
                participants.push(item.author_name.clone());
            }
            let mut content = item.content.clone();
            if !item.reactions.is_empty() {
                let counted: Vec<String> =
                    item.reactions.iter().map(|(emoji, n)| format!("{emoji} {n}")).collect();
                content.push_str(&format!("\n[reactions: {}]", counted.join(", ")));
            }
            history.push(HistoryItem { handle, author, own, content, reply_to, media });
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
        let emoji = self.emoji_for(plan);
        let mut budget = budget(self.options.prompt_budget, &chain);
        // A preset's context size is a choice to send less; never more than the model takes.
        if let Some(max) = preset.and_then(|p| p.samplers.max_context).filter(|m| *m > 0) {
            budget.context_tokens = budget.context_tokens.min(max);
        }
        let lore = lore_for(plan, persona, &recent, budget);
        let short_term = self.short_term_for(plan, persona).await;
        let input = PromptInput {
            persona: PersonaView {
                name: &persona.nickname,
                prompt: &persona.prompt,
                attributes: &persona.attributes,
                sample_dialogues: &dialogues,
            },
            other_personas: &others,
            system_prompt: plan.seen.view.system_prompt(&plan.message),
            server_name: plan.message.guild_name.as_deref(),
            now: &now,
            server_memories: &server_memories,
            server_documents: &server_documents,
            participants: &participant_views,
            history: &history,
            context_note: plan.settings().context_note.as_deref(),
            member: &plan.message.author.name,
            server_emoji: &emoji,
            budget,
            lore: &lore,
            short_term: &short_term,
            macros: Some((macro_context(plan, persona, &recent), getrandom::u64().unwrap_or(0))),
            preset,
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
        let mut sampler = chain.sampler;
        sampler.speaker = chain.stop_speaker.then(|| persona.nickname.clone());
        let mut request = ChatRequest {
            system: vec![prompt.system],
            messages,
            sampler,
            thinking: chain.thinking,
            ..ChatRequest::default()
        };
        self.attach_images(&mut request, &chain.targets, &recent, &mut handles).await;
        self.attach_video(&mut request, &chain.targets, &recent, &mut handles).await;
        // Links are looked for only when the answering model could watch one.
        let youtube = if chain.targets.first().is_some_and(Target::sees_video) {
            youtube_links(&recent)
        } else {
            Vec::new()
        };
        // A blind first model asks the vision model about images only where it describes.
        let first_sees = chain.targets.first().is_some_and(|t| t.capabilities.vision);
        let analyst = match (chain.describer, self.media.get()) {
            (Some(vision), Some(media)) if !first_sees => {
                let analyst = Analyst { llm: self.llm.clone(), media: Arc::clone(media), vision };
                Some(Arc::new(analyst) as SharedAnalyst)
            }
            _ => None,
        };
        Ok(Prepared { request, chain: chain.targets, handles, shown, analyst, youtube })
    }
}

impl<S: ChatSurface> Inner<S> {
    /// The persona's recent notes from the server's other channels, for a member at privacy
    /// level 0 in a guild (`tomori_store::short_term::pick`: not a private channel's, not about
    /// another member, at most 3). A store failure leaves them out.
    async fn short_term_for(&self, plan: &Plan, persona: &Persona) -> Vec<String> {
        let member_allows = plan
            .seen
            .user
            .as_ref()
            .is_some_and(|u| u.view.settings.privacy == PrivacyLevel::Minimal);
        if plan.message.guild.is_none() || !plan.from_person || !member_allows {
            return Vec::new();
        }
        let notes = match self.notes.notes(&self.store, plan.server, persona.lineage).await {
            Ok(notes) => notes,
            Err(error) => {
                tracing::warn!(%error, "short-term notes left out");
                return Vec::new();
            }
        };
        let now = Utc::now();
        let (channel, member) = (plan.message.channel, plan.message.author.id);
        short_term::pick(&notes, channel, member, now)
            .into_iter()
            .map(|n| {
                let about = if n.member.is_some() { "about you" } else { "about the channel" };
                let ago = tomori_tools::ago(n.updated_at, now);
                format!("In <#{}>, {about}, {ago}: {}", n.channel.get(), n.note)
            })
            .collect()
    }

    /// The turn's provider chain with the server's sampling choices.
    pub(super) async fn chain_for(
        &self,
        plan: &Plan,
        persona: &Persona,
        recent: &[Remembered],
    ) -> Result<Chain, StoreError> {
        let message = &plan.message;
        // A member's DM tenant is their own: there is no server's key to spare.
        let byok = plan.settings().byok_required && plan.from_person && message.guild.is_some();
        let Some(providers) = self.providers.get() else {
            // Security: spend control (BYOK mode). Without the server's chains there is nothing
            // of the member's own to answer with.
            let targets = if byok { Vec::new() } else { self.chain.clone() };
            return Ok(Chain { targets, ..Chain::default() });
        };
        // Security: prompt disclosure through a member's own endpoint, which receives the
        // assembled prompt. It answers only where that member may see the prompt anyway (`/tool
        // prompt`'s rule), or in their direct messages.
        let own_endpoint = message.guild.is_none()
            || message.author_is_admin
            || plan.settings().feature(Feature::PromptSnapshot);
        // Images the turn would show: the server's vision model may have to look.
        let images = self.media.get().is_some_and(|media| !media.pick(recent).is_empty());
        let primary = plan.seen.view.model_for(message, persona.id).cloned();
        let turn = ChainFor { own_endpoint, images, primary, byok };
        self.views.chain(providers, &self.store, &plan.seen, &self.chain, turn).await
    }

    /// The server's custom emoji the persona may use here: none in direct messages, role-play
    /// channels, or when the server turned `emoji_usage` off.
    pub(super) fn emoji_for(&self, plan: &Plan) -> Vec<ServerEmoji> {
        let Some(guild) = plan.message.guild else { return Vec::new() };
        let rp = in_channel_set(&plan.seen.view.rp, &plan.message);
        let usage = plan.settings().feature(Feature::EmojiUsage);
        if emoji::emoji_allowed(usage, rp, false) {
            self.surface.server_emoji(guild)
        } else {
            Vec::new()
        }
    }

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
        // An animated GIF shows several frames; all of them count against the turn's images.
        let mut room = media.max_images();
        for (attachment, result) in picked.iter().zip(loaded) {
            match result {
                Ok(frames) if room > 0 => {
                    let handle = handles.media_handle(&attachment.url);
                    let label = if frames.len() > 1 {
                        format!("[{handle}] (animated: its first, middle and last frames)")
                    } else {
                        format!("[{handle}]")
                    };
                    last_user.parts.push(Part::Text(label));
                    for frame in frames.iter().take(room) {
                        last_user.parts.push(Part::Image(frame.clone()));
                    }
                    room = room.saturating_sub(frames.len());
                }
                Ok(_) => {}
                Err(err) => tracing::debug!(error = %err, "an image was left out of the prompt"),
            }
        }
    }
}

impl<S: ChatSurface> Inner<S> {
    /// Shows a model that watches videos the newest video attachment of the recent messages,
    /// labelled with its `media_N` handle, after the last user message's text; a model of the
    /// chain that does not watch reads the caption instead. A video that cannot be fetched or
    /// is not one is left out; the turn goes on.
    async fn attach_video(
        &self,
        request: &mut ChatRequest,
        chain: &[Target],
        recent: &[Remembered],
        handles: &mut Handles,
    ) {
        let Some(media) = self.media.get() else { return };
        media.forget_stale_video();
        if !chain.iter().any(Target::sees_video) {
            return;
        }
        let Some(attachment) = media.pick_video(recent) else { return };
        let handle = handles.media_handle(&attachment.url);
        let caption = format!("[{handle}: a video this model cannot watch]");
        let video = match media.load_video(&attachment.url, caption).await {
            Ok(video) => video,
            Err(err) => {
                tracing::debug!(error = %err, "a video was left out of the prompt");
                return;
            }
        };
        if let Some(last_user) = request.messages.iter_mut().rev().find(|m| m.role == Role::User) {
            last_user.parts.push(Part::Text(format!("[{handle}] (a video)")));
            last_user.parts.push(Part::Video(video));
        }
    }
}

/// A turn's request and what the prompt showed the model.
pub(super) struct Prepared {
    pub(super) request: ChatRequest,
    /// The models to try, in order.
    pub(super) chain: Vec<Target>,
    pub(super) handles: Handles,
    pub(super) shown: Vec<(MemoryScope, i64)>,
    /// The vision model describing images for a blind chain (`analyze_image`).
    pub(super) analyst: Option<SharedAnalyst>,
    /// The YouTube videos the recent messages link, newest first (`process_youtube_video`).
    pub(super) youtube: Vec<String>,
}

/// The YouTube videos the recent messages link, newest message first, at most
/// [`media_links::MAX_LINKS`].
fn youtube_links(recent: &[Remembered]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for message in recent.iter().rev() {
        for id in media_links::youtube_ids_in(&message.content) {
            if ids.len() == media_links::MAX_LINKS {
                return ids;
            }
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// What SillyTavern's macros stand for in this turn: the time in the server's zone, the last
/// message, when a member last wrote (from the message id's time), and the channel for `{{pick}}`.
fn macro_context<'a>(
    plan: &'a Plan,
    persona: &'a Persona,
    recent: &'a [Remembered],
) -> MacroContext<'a> {
    let now = Utc::now();
    let zone = Zone::parse(&plan.settings().timezone).unwrap_or(Zone::UTC);
    let last_member = recent.iter().rev().find(|m| m.persona.is_none() && !m.is_summary);
    MacroContext {
        names: MacroNames { user: &plan.message.author.name, persona: &persona.nickname },
        now,
        zone,
        last_message: recent.last().map_or("", |m| m.content.as_str()),
        // Ids the platform did not mint (the dashboard's) carry no time: no idle time then.
        last_member_message_at: last_member
            .and_then(|m| tomori_tools::sent_at(m.id))
            .filter(|at| *at <= now),
        pick_seed: plan.message.channel.get(),
    }
}

/// The speaking persona's lore for this turn: its lorebook's entries whose keys appear in the
/// recent messages (newest first, each as `name: text`), within a quarter of the prompt's budget
/// (SillyTavern's default share) or the book's own budget when smaller.
fn lore_for(plan: &Plan, persona: &Persona, recent: &[Remembered], budget: TokenBudget) -> Lore {
    let Some(book) = plan.seen.view.lorebook(persona.id) else { return Lore::default() };
    let names: Vec<&str> =
        recent.iter().map(|m| m.persona.as_deref().unwrap_or(&m.author_name)).collect();
    let messages: Vec<ScanMessage<'_>> = recent
        .iter()
        .zip(&names)
        .rev()
        .map(|(m, name)| ScanMessage { name: Some(name), text: &m.content })
        .collect();
    let scan = ScanInput {
        messages: &messages,
        extra: &[],
        names: Some(MacroNames { user: &plan.message.author.name, persona: &persona.nickname }),
        token_budget: Some(budget.prompt_tokens() / 4),
    };
    let mut rng = || getrandom::u64().unwrap_or(0);
    let activation = lorebook::activate(book, &scan, &mut rng, estimate_tokens);
    if !activation.left_out.is_empty() {
        tracing::debug!(left_out = activation.left_out.len(), "lore over its budget left out");
    }
    Lore::from_activation(&activation)
}

/// Fills what the server's `/model` settings leave unset with the active preset's samplers: the
/// server's explicit choice wins, as it is the one made in Tomori. Values the wire formats cannot
/// carry (top_a, repetition penalty, seed) and temperatures over 2 are not sent.
fn fill_sampler(sampler: &mut tomori_llm::Sampler, preset: &Samplers) {
    #[expect(clippy::cast_possible_truncation, reason = "the preset bounded every value")]
    let narrow = |v: Option<f64>| v.map(|v| v as f32);
    sampler.temperature = sampler.temperature.or(narrow(preset.temperature.filter(|t| *t <= 2.0)));
    sampler.top_p = sampler.top_p.or(narrow(preset.top_p));
    sampler.top_k = sampler.top_k.or(preset.top_k.filter(|k| *k > 0));
    sampler.min_p = sampler.min_p.or(narrow(preset.min_p.filter(|p| *p > 0.0)));
    sampler.frequency_penalty = sampler.frequency_penalty.or(narrow(preset.frequency_penalty));
    sampler.presence_penalty = sampler.presence_penalty.or(narrow(preset.presence_penalty));
    sampler.max_output_tokens = sampler.max_output_tokens.or(preset.max_tokens.filter(|n| *n > 0));
}

/// The prompt's budget for `chain`: the smallest context length any of its models is known to
/// have (a fallback must fit as well as the first choice), less the server's answer length when
/// it set one; `default` where nothing is known.
fn budget(default: TokenBudget, chain: &Chain) -> TokenBudget {
    let known = chain.targets.iter().filter_map(|t| t.capabilities.context_length).min();
    TokenBudget {
        context_tokens: known.unwrap_or(default.context_tokens),
        output_reserve: chain.sampler.max_output_tokens.unwrap_or(default.output_reserve),
    }
}

#[cfg(test)]
mod tests {
    use tomori_llm::{Capabilities, Endpoint, Wire};
    use tomori_net::Policy;

    use super::*;

    fn target(context_length: Option<u32>) -> Target {
        let policy = Policy::operator();
        let endpoint =
            Endpoint::new(Wire::OpenAiCompatible, "http://127.0.0.1:1/v1", &policy).expect("url");
        let client = tomori_net::Client::new(policy).expect("client");
        Target::new("t", "t", endpoint, "m", client)
            .with_capabilities(Capabilities { context_length, ..Capabilities::default() })
    }

    #[test]
    fn the_budget_is_the_smallest_known_context_less_the_answer() {
        let default = TokenBudget::default();
        // Context lengths of the chain, the server's max_tokens, then the budget expected.
        type Case<'a> = (&'a [Option<u32>], Option<u32>, u32, u32);
        let cases: [Case<'_>; 5] = [
            (&[], None, default.context_tokens, default.output_reserve),
            (&[None, None], None, default.context_tokens, default.output_reserve),
            (&[Some(128_000), None], None, 128_000, default.output_reserve),
            (&[Some(128_000), Some(8_192)], Some(1_000), 8_192, 1_000),
            (&[None, Some(4_096)], Some(512), 4_096, 512),
        ];
        for (lengths, max_output, context, reserve) in cases {
            let chain = Chain {
                targets: lengths.iter().map(|l| target(*l)).collect(),
                sampler: tomori_llm::Sampler {
                    max_output_tokens: max_output,
                    ..tomori_llm::Sampler::default()
                },
                thinking: tomori_llm::ThinkingLevel::Auto,
                stop_speaker: false,
                describer: None,
            };
            let got = budget(default, &chain);
            assert_eq!(
                (got.context_tokens, got.output_reserve),
                (context, reserve),
                "{lengths:?} {max_output:?}"
            );
        }
    }
}
