//! The plan stage: who wrote a message, whether and as whom to answer it
//! (`tomori_core::trigger`), with the admission rules `/bot respond` must pass too; and what is
//! remembered of it (nothing of a member at privacy level 2).

use tomori_core::privacy::PrivacyLevel;
use tomori_core::trigger::{
    self, Author, AutoTrigger, Decision, PersonaTrigger, ReplyTo, Situation, TriggerSettings,
};
use tomori_store::settings::ServerSettings;
use tomori_store::{Scope, webhooks};

use super::{Inner, Plan, PlanError, home, in_channel_set, lock, main_name};
use crate::surface::{ChatSurface, Inbound};

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
        let seen =
            self.views.read(store, home(&message), by_person.then_some(message.author.id)).await?;
        let author_privacy =
            seen.user.as_ref().map_or(PrivacyLevel::Minimal, |u| u.view.settings.privacy);
        if by_person {
            self.note_privacy(message.author.id, author_privacy);
        }
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
        // Security: privacy level 2. Nothing a member at that level writes is captured, so no
        // turn (theirs or anyone's) can show it to a model.
        let request_only = forced.is_some() && message.content.trim().is_empty();
        if !request_only && (!by_person || author_privacy.may_reach_models()) {
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
            Author::Human { privacy: author_privacy }
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
        let decision = match forced {
            None => trigger::decide(&situation),
            // Security: admission bypass. `/bot respond` overrides the trigger rules only: the
            // blacklist, role and channel whitelists, thought-log silence and privacy level keep
            // it out exactly as they keep out a message.
            Some(name) => match trigger::admission(&situation) {
                Some(refused) => Decision::Silent(refused),
                None => {
                    let idx = personas.iter().position(|p| p.nickname.eq_ignore_ascii_case(name));
                    let main = personas.iter().position(|p| p.is_main).unwrap_or(0);
                    let persona = idx.unwrap_or(default_persona.unwrap_or(main));
                    Decision::Reply { personas: vec![persona], deliberate: true }
                }
            },
        };
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
}
