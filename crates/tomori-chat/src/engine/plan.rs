//! The plan stage: who wrote a message, whether and as whom to answer it
//! (`tomori_core::trigger`), with the admission rules `/bot respond` must pass too; and what is
//! remembered of it (nothing of a member at privacy level 2).

use tomori_core::id::Snowflake;
use tomori_core::privacy::PrivacyLevel;
use tomori_core::trigger::{
    self, Author, AutoTrigger, Decision, PersonaTrigger, ReplyTo, Situation, TriggerSettings,
};
use tomori_store::personas::Persona;
use tomori_store::settings::ServerSettings;
use tomori_store::{Scope, webhooks};

use super::{Inner, Plan, PlanError, in_channel_set, lock, main_name};
use crate::surface::{ChatSurface, Inbound};
use crate::views::ServerView;

impl<S: ChatSurface> Inner<S> {
    pub(super) async fn plan(
        &self,
        message: Inbound,
        forced: Option<&str>,
    ) -> Result<Option<Plan>, PlanError> {
        let store = &self.store;
        let bot_user = self.bot_user.get().copied();
        let by_person = !message.author.is_bot
            && message.author.webhook.is_none()
            && bot_user != Some(message.author.id);
        let seen = self
            .views
            .read(store, self.home_of(&message), by_person.then_some(message.author.id))
            .await?;
        let author_privacy =
            seen.user.as_ref().map_or(PrivacyLevel::Minimal, |u| u.view.settings.privacy);
        if by_person {
            self.note_privacy(message.author.id, author_privacy);
        }
        let server = seen.server;
        let view = &seen.view;
        let managed_webhook = self.managed_webhook(&message, Scope::server(server)).await;
        let (author, persona_name) =
            self.author_of(&message, &view.personas, managed_webhook, author_privacy);
        // A `/bot respond` without text is a request, not a message of the conversation.
        // Security: privacy level 2. Nothing a member at that level writes is captured, so no
        // turn (theirs or anyone's) can show it to a model.
        let request_only = forced.is_some() && message.content.trim().is_empty();
        if !request_only && (!by_person || author_privacy.may_reach_models()) {
            self.remember(&message, persona_name);
        }

        let in_guild = message.guild.is_some();
        let outside_whitelist =
            (in_guild && !view.whitelist.is_empty() && !in_channel_set(&view.whitelist, &message))
                || !person_allowed(view, &message, &author);
        let in_auto_channel = in_guild && in_channel_set(&view.auto_trigger, &message);
        let auto_trigger = self.auto_trigger(&view.settings, in_auto_channel, &message, &author);
        // The channel's own persona (a thread follows its parent), if the server chose one.
        let default_persona = message
            .guild
            .and_then(|_| view.channel_persona(message.channel, message.parent_channel))
            .and_then(|id| view.personas.iter().position(|p| p.id == id));
        let triggers = persona_triggers(&view.personas);
        let settings = &view.settings;
        let situation = Situation {
            author,
            content: &message.content,
            is_dm: !in_guild,
            mentions_bot: message.mentions_bot,
            reply_to: reply_target(&message, bot_user, managed_webhook, &view.personas),
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
        let decision = match forced {
            None => trigger::decide(&situation),
            Some(name) => forced_decision(&situation, name, &view.personas, default_persona),
        };
        tracing::debug!(channel = %message.channel, ?decision, "decided");
        let Decision::Reply { personas: chosen, deliberate } = decision else { return Ok(None) };
        let from_person = matches!(situation.author, Author::Human { .. });
        Ok(Some(Plan { message, server, seen, chosen, deliberate, from_person }))
    }

    /// The channel's managed webhook (a thread uses its parent's), looked up only when a webhook
    /// wrote the message or the message replies to one.
    async fn managed_webhook(&self, message: &Inbound, scope: Scope) -> Option<Snowflake> {
        let involved = message.author.webhook.is_some()
            || message.reply_to.as_ref().is_some_and(|r| r.webhook.is_some());
        if !involved {
            return None;
        }
        let home = message.parent_channel.unwrap_or(message.channel);
        webhooks::get(&self.store, scope, home).await.ok().flatten().map(|w| w.webhook_id)
    }

    /// Who wrote the message, with the length of the persona chain it continues, and the name
    /// its text is remembered under when the bot or one of its personas wrote it.
    fn author_of(
        &self,
        message: &Inbound,
        personas: &[Persona],
        managed_webhook: Option<Snowflake>,
        privacy: PrivacyLevel,
    ) -> (Author, Option<String>) {
        let bot_user = self.bot_user.get().copied();
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
        let persona_name = author_persona
            .and_then(|i| personas.get(i))
            .map(|p| p.nickname.clone())
            .or_else(|| is_self.then(|| main_name(personas)));
        let author = if bot_user == Some(message.author.id) {
            Author::SelfBot { chain }
        } else if let Some(persona) = author_persona {
            Author::OwnPersona { persona, chain }
        } else if message.author.webhook.is_some() {
            Author::UnknownWebhook
        } else if message.author.is_bot {
            Author::OtherBot
        } else {
            Author::Human { privacy }
        };
        (author, persona_name)
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
}

/// The role whitelist (when it has roles) and the user blacklist keep people out the same way a
/// channel outside the whitelist does.
fn person_allowed(view: &ServerView, message: &Inbound, author: &Author) -> bool {
    if message.guild.is_none() || !matches!(author, Author::Human { .. }) {
        return true;
    }
    let roles = &view.role_whitelist;
    (roles.is_empty() || message.author_roles.iter().any(|r| roles.contains(r)))
        && !view.blacklist.contains(&message.author.id)
}

fn persona_triggers(personas: &[Persona]) -> Vec<PersonaTrigger> {
    personas
        .iter()
        .map(|p| PersonaTrigger {
            nickname: p.nickname.clone(),
            triggers: p.trigger_words.clone(),
            is_main: p.is_main,
        })
        .collect()
}

/// Whom the message replies to: the bot itself, or one of its personas through the channel's
/// managed webhook (a foreign webhook of the same name is nobody).
fn reply_target(
    message: &Inbound,
    bot_user: Option<Snowflake>,
    managed_webhook: Option<Snowflake>,
    personas: &[Persona],
) -> ReplyTo {
    match &message.reply_to {
        Some(reply) if Some(reply.author) == bot_user && reply.webhook.is_none() => ReplyTo::Bot,
        Some(reply) if reply.webhook.is_some() && reply.webhook == managed_webhook => reply
            .webhook_name
            .as_ref()
            .and_then(|name| personas.iter().position(|p| p.nickname.eq_ignore_ascii_case(name)))
            .map_or(ReplyTo::Nothing, ReplyTo::Persona),
        _ => ReplyTo::Nothing,
    }
}

/// `/bot respond as NAME`: the named persona (else the channel's, else the main one) answers,
/// once the message passes admission.
fn forced_decision(
    situation: &Situation<'_>,
    name: &str,
    personas: &[Persona],
    default_persona: Option<usize>,
) -> Decision {
    // Security: admission bypass. `/bot respond` overrides the trigger rules only: the
    // blacklist, role and channel whitelists, thought-log silence and privacy level keep it out
    // exactly as they keep out a message.
    if let Some(refused) = trigger::admission(situation) {
        return Decision::Silent(refused);
    }
    let named = personas.iter().position(|p| p.nickname.eq_ignore_ascii_case(name));
    let main = personas.iter().position(|p| p.is_main).unwrap_or(0);
    Decision::Reply {
        personas: vec![named.unwrap_or(default_persona.unwrap_or(main))],
        deliberate: true,
    }
}
