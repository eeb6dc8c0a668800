//! The stream stage: one persona's answer from the provider chain, through the tool loop, into
//! a [`Delivery`]. A turn's whole wait on models is bounded by its deadline; an answer that is
//! empty once filtered (nothing, only reasoning, or another speaker's lines) is generated again
//! once, then the addressed member is told, and no quota is spent on it.

use tokio_util::sync::CancellationToken;
use tomori_core::flush::Degree;
use tomori_core::id::Snowflake;
use tomori_core::output::tool_text::TextToolCall;
use tomori_core::output::{Participant, Thinking, Verdict};
use tomori_llm::{ChatRequest, Completion, StreamEvent, Target, ToolCall};
use tomori_store::personas::Persona;
use tomori_tools::{LoopLimits, LoopState, LoopStep, TurnContext};

use tomori_core::chunk::{MAX_MESSAGE_CHARS, split_message};
use tomori_core::settings::ChannelSet;
use tomori_store::{Scope, settings};

use super::context::Prepared;
use super::{Inner, Plan, deliberate, in_channel_set, incident_id, lock, speaker};
use crate::deliver::{Audience, Delivery, Generation};
use crate::first_contact;
use crate::gate::Phase;
use crate::surface::{ChatSurface, Outgoing, Speaker};

/// What the addressed member is told when the model said nothing twice.
const EMPTY_ANSWER: &str =
    "I couldn't put an answer together just now; try asking me again in other words.";

/// One model call of a turn: where, what, and until when.
#[derive(Clone, Copy)]
pub(super) struct Call<'a> {
    pub(super) chain: &'a [Target],
    pub(super) request: &'a ChatRequest,
    pub(super) deadline: tokio::time::Instant,
}

/// What follows one generation.
enum Next {
    /// Run the model again: tool results to read.
    Again,
    /// The generation called no tools: the answer is complete (unless it was empty).
    Done,
    /// The tool loop was stopped (cancelled, or its tools keep failing).
    Stop,
}

/// The gate and the turn's tool context for one round of tool calls.
struct ToolStep<'a> {
    gate: &'a tomori_tools::Gate,
    ctx: &'a TurnContext,
    loop_state: &'a mut LoopState,
    cancel: &'a CancellationToken,
}

impl<S: ChatSurface> Inner<S> {
    /// Generates and delivers one persona's answer; false when it failed or said nothing (no
    /// quota is spent then).
    pub(super) async fn answer_as(
        &self,
        plan: &Plan,
        idx: usize,
        cancel: &CancellationToken,
    ) -> bool {
        let Some(persona) = plan.personas().get(idx) else { return false };
        let Some(prepared) = self.prepare(plan, persona).await else { return false };
        let mut request = prepared.request;
        let tools = match self.tools.get() {
            // The built-in persona has no row or lineage to file memories or reminders under.
            Some(gate) if plan.from_person && !first_contact::is_builtin(persona) => match self
                .tool_context(plan, persona, prepared.handles, prepared.shown, cancel)
                .await
            {
                Ok(mut ctx) => {
                    ctx.analyst = prepared.analyst.clone();
                    ctx.youtube = prepared.youtube.clone();
                    request.tools = gate.advertise(&ctx).await;
                    if plan.deliberate_tools() {
                        let recent = self.affordances.take(plan.message.channel);
                        let custom = &plan.seen.view.tool_triggers;
                        let asked = &plan.message.content;
                        deliberate::narrow(&mut request.tools, asked, custom, recent);
                    }
                    // A picture a tool fetches is shown only to a chain with a model that sees.
                    if !prepared.chain.iter().any(|t| t.capabilities.vision) {
                        request.tools.retain(|t| t.name != tomori_tools::PEEK_PROFILE_PICTURE);
                    }
                    // A linked video is watched only by an answering model that watches videos.
                    let watches = prepared.chain.first().is_some_and(Target::sees_video);
                    if !watches || ctx.youtube.is_empty() {
                        request.tools.retain(|t| t.name != tomori_tools::PROCESS_YOUTUBE_VIDEO);
                    }
                    // Images are described only for a blind chain whose server asked for it.
                    if ctx.analyst.is_none() {
                        request.tools.retain(|t| t.name != tomori_tools::ANALYZE_IMAGE);
                    }
                    ctx.offered = request.tools.iter().map(|t| t.name.clone()).collect();
                    Some((gate.as_ref(), ctx))
                }
                Err(err) => {
                    tracing::warn!(error = %err, "no tools this turn");
                    None
                }
            },
            _ => None,
        };
        let mut delivery =
            Delivery::new(&self.surface, self.audience(plan, persona), cancel.child_token());
        delivery.offer_tools(&request.tools);
        delivery.set_thinking(self.thinking(&prepared.chain));
        let mut loop_state = LoopState::new(LoopLimits::default());
        let deadline = tokio::time::Instant::now() + self.options.turn_deadline;
        let (mut said, mut retried) = (false, false);
        loop {
            if !self.next_iteration(plan, &mut loop_state).await {
                break;
            }
            let call = Call { chain: &prepared.chain, request: &request, deadline };
            let Some((mut completion, generation)) =
                self.generate(plan, call, &mut delivery, cancel).await
            else {
                return false;
            };
            said |= generation.verdict == Verdict::Answer;
            if generation.lone_close {
                self.template_opens(&prepared.chain);
                delivery.set_thinking(Thinking::TemplateOpens);
            }
            let next = match &tools {
                Some((gate, ctx)) => {
                    completion.tool_calls.extend(as_tool_calls(generation.tool_calls));
                    let step = ToolStep { gate, ctx, loop_state: &mut loop_state, cancel };
                    self.run_tools(plan, step, &completion, &mut request).await
                }
                None => Next::Done,
            };
            match next {
                Next::Again => continue,
                Next::Stop => break,
                Next::Done => {}
            }
            // Nothing visible in the whole answer: once more, then the member is told.
            if said || retried || cancel.is_cancelled() {
                break;
            }
            retried = true;
            tracing::info!(verdict = ?generation.verdict, "an empty answer; generating again");
            if let Verdict::OtherSpeaker(_) = generation.verdict {
                request.system.push(format!(
                    "Write only {}'s own reply, in their voice; never lines for anyone else.",
                    persona.nickname
                ));
            }
        }
        if let Some((_, ctx)) = &tools
            && !cancel.is_cancelled()
        {
            said |= delivery.send_files(ctx.outbox.take()).await;
        }
        self.log_thoughts(plan, persona, delivery.thoughts()).await;
        if !said && delivery.sent() == 0 {
            if !cancel.is_cancelled() {
                self.notice(plan, EMPTY_ANSWER).await;
            }
            return false;
        }
        true
    }

    /// Whether the tool loop may ask the model again (telling the member when it is slow or
    /// going in circles).
    async fn next_iteration(&self, plan: &Plan, loop_state: &mut LoopState) -> bool {
        match loop_state.begin_iteration() {
            LoopStep::Continue => true,
            LoopStep::ContinueWithNotice => {
                self.notice(plan, "Still working on it…").await;
                true
            }
            LoopStep::Abort(reason) => {
                tracing::warn!(?reason, "tool loop stopped");
                self.notice(plan, "I'm going around in circles, so I'll stop here.").await;
                false
            }
        }
    }

    /// Runs the completion's tool calls through the gate and adds the exchange to `request`.
    async fn run_tools(
        &self,
        plan: &Plan,
        step: ToolStep<'_>,
        completion: &Completion,
        request: &mut ChatRequest,
    ) -> Next {
        if completion.tool_calls.is_empty() {
            return Next::Done;
        }
        if step.cancel.is_cancelled() {
            return Next::Stop;
        }
        // Tools run: a follow-up now waits instead of interrupting and losing their work.
        self.gate.set_phase(plan.message.channel, Phase::Tools);
        let results = if plan.deliberate_tools() {
            // A call to a tool this turn did not offer is answered, not run.
            let (offered, mut refused) =
                deliberate::withheld(&request.tools, &completion.tool_calls);
            let mut results = tomori_tools::run_tool_calls(step.gate, &offered, step.ctx).await;
            let succeeded: Vec<ToolCall> = offered
                .iter()
                .zip(&results)
                .filter(|(_, result)| !result.is_error)
                .map(|(call, _)| call.clone())
                .collect();
            self.affordances.used(plan.message.channel, deliberate::families(&succeeded));
            results.append(&mut refused);
            results
        } else {
            tomori_tools::run_tool_calls(step.gate, &completion.tool_calls, step.ctx).await
        };
        // A note written now is seen by the next turn in this process at once.
        if completion.tool_calls.iter().any(|c| c.name == "update_short_term_memory") {
            self.notes.forget(plan.server);
        }
        self.gate.set_phase(plan.message.channel, Phase::Streaming);
        let recorded = step.loop_state.record(&results);
        request.messages.push(completion.to_message());
        request.messages.push(tomori_tools::results_message(results));
        // Pictures the tools fetched follow their results, as the user's turn (see ARCHITECTURE,
        // "Pictures in tool results").
        request.messages.extend(step.ctx.shown.take_message());
        if let LoopStep::Abort(reason) = recorded {
            tracing::warn!(?reason, "tool loop stopped");
            self.notice(plan, "My tools keep failing, so I'll stop here.").await;
            return Next::Stop;
        }
        Next::Again
    }

    /// The turn's request, or `None` after telling the member why there is none.
    async fn prepare(&self, plan: &Plan, persona: &Persona) -> Option<Prepared> {
        let started = std::time::Instant::now();
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
                return None;
            }
        };
        crate::telemetry::overhead(started);
        // A member without a key where the server requires one is told on each deliberate turn.
        if prepared.chain.is_empty() && plan.settings().byok_required && plan.from_person {
            if plan.deliberate {
                self.notice(plan, first_contact::BRING_YOUR_KEY).await;
            }
            return None;
        }
        // No provider at all: whoever addressed the bot learns, once per channel, what to do.
        if prepared.chain.is_empty() {
            if plan.deliberate && self.setup_hints.first_time(plan.message.channel) {
                self.notice(plan, first_contact::NO_PROVIDER).await;
            }
            return None;
        }
        Some(prepared)
    }

    /// What is known about the reasoning blocks of the chain's first model.
    fn thinking(&self, chain: &[Target]) -> Thinking {
        let known = chain.first().is_some_and(|target| {
            lock(&self.template_opens).contains(&format!("{}/{}", target.provider, target.model))
        });
        if known { Thinking::TemplateOpens } else { Thinking::Unknown }
    }

    /// The chain's first model sent a closing reasoning tag with no opening one.
    fn template_opens(&self, chain: &[Target]) {
        // Bounded: servers name models freely, and forgetting one only costs it the hold.
        let mut known = lock(&self.template_opens);
        if let Some(target) = chain.first()
            && known.len() < 1024
        {
            known.insert(format!("{}/{}", target.provider, target.model));
        }
    }

    /// Who the answer speaks as and to, and within which limits.
    fn audience(&self, plan: &Plan, persona: &Persona) -> Audience {
        let server_limit = usize::try_from(plan.settings().send_limit).unwrap_or(0);
        let cap = self.options.flood_cap;
        let limit = if server_limit == 0 { cap } else { server_limit.min(cap) };
        Audience {
            channel: plan.message.channel,
            reply_to: plan.deliberate.then_some(plan.message.message),
            speaker: speaker(persona),
            persona: persona.nickname.clone(),
            other_personas: plan
                .personas()
                .iter()
                .filter(|p| p.id != persona.id)
                .map(|p| p.nickname.clone())
                .collect(),
            member: plan.message.author.name.clone(),
            participants: self.participants(plan.message.channel),
            degree: Degree::from_setting(plan.settings().humanizer_degree),
            emoji: self.emoji_for(plan),
            limit,
        }
    }

    /// People in the channel's recent history, for resolving `@name` in the answer: only
    /// someone the conversation already contains can be pinged.
    fn participants(&self, channel: Snowflake) -> Vec<Participant> {
        let recent = self.recent(channel, self.options.history_capacity);
        let mut people: Vec<Participant> = Vec::new();
        for item in recent.iter().filter(|m| m.persona.is_none() && !m.is_summary) {
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

    /// One model call: streams text through `delivery` and returns the whole completion (with
    /// any tool calls) and what the visible answer amounted to, or `None` when it failed, ran
    /// past the turn's deadline or the turn was cancelled.
    async fn generate(
        &self,
        plan: &Plan,
        call: Call<'_>,
        delivery: &mut Delivery<'_, S>,
        cancel: &CancellationToken,
    ) -> Option<(Completion, Generation)> {
        let deadline = call.deadline;
        delivery.begin();
        let stream = tokio::select! {
            () = cancel.cancelled() => return None,
            () = tokio::time::sleep_until(deadline) => {
                self.past_deadline(plan, delivery).await;
                return None;
            }
            stream = self.llm.stream(call.chain, call.request) => stream,
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
                () = tokio::time::sleep_until(deadline) => {
                    self.past_deadline(plan, delivery).await;
                    return None;
                }
                event = stream.next() => event,
            };
            match event {
                None => break,
                Some(Ok(event)) => {
                    match &event {
                        // The send limit was reached, or another speaker took over: the answer
                        // ends here, calling no tools.
                        StreamEvent::Text(text) if !delivery.push_text(text).await => {
                            completion.push(event);
                            completion.tool_calls.clear();
                            break;
                        }
                        StreamEvent::Reasoning(text) => delivery.push_reasoning(text),
                        _ => {}
                    }
                    completion.push(event);
                }
                Some(Err(err)) => {
                    let incident = incident_id();
                    tracing::error!(%incident, code = err.code(), error = %err, "the stream failed");
                    delivery.end().await;
                    // A cut-off answer must not pass for a complete one.
                    let text = if delivery.sent() == 0 {
                        format!("Sorry, my answer broke off (incident {incident}).")
                    } else {
                        format!("Sorry, my answer broke off there (incident {incident}).")
                    };
                    self.notice(plan, &text).await;
                    return None;
                }
            }
        }
        let generation = delivery.end().await?;
        Some((completion, generation))
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
                files: Vec::new(),
            };
            if let Err(err) = self.surface.send(channel, outgoing).await {
                tracing::warn!(error = %err, "sending to the thought-log channel failed");
                return;
            }
        }
    }

    /// The turn's deadline passed while it waited on a model: what was generated is sent, and
    /// the member learns that the rest did not come (a stalled provider no longer holds the
    /// channel through every retry and fallback).
    async fn past_deadline(&self, plan: &Plan, delivery: &mut Delivery<'_, S>) {
        let incident = incident_id();
        tracing::warn!(
            %incident,
            after = ?self.options.turn_deadline,
            "the turn's deadline passed while waiting on the model"
        );
        delivery.end().await;
        self.notice(
            plan,
            &format!("Sorry, the model took too long to answer (incident {incident})."),
        )
        .await;
    }
}

/// Calls the model wrote as text, as the structured calls the gate runs (ids of our own; the
/// model's next request carries them with their results).
fn as_tool_calls(calls: Vec<TextToolCall>) -> impl Iterator<Item = ToolCall> {
    calls.into_iter().enumerate().map(|(n, call)| ToolCall {
        id: format!("text_call_{}", n + 1),
        name: call.name,
        arguments: call.arguments.into(),
        signature: None,
    })
}
