//! What a turn reads from the store, kept in memory for as long as it is current.
//!
//! A message costs one round trip to the database before its model request:
//! [`Store::revisions`] resolves its server and author and returns their revisions. Everything
//! else a turn reads (settings, channel sets, access lists, personas, memories, quota limits, the
//! provider chain with its keys) comes from copies loaded under those revisions. Every committed
//! write moves the revision it belongs to in the same transaction (see
//! `tomori_store::cache`), so the next message after a change, in any process, loads afresh.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tomori_core::id::{LineageId, PersonaId, ServerId, Snowflake, UserId};
use tomori_core::lorebook::{Lorebook, LorebookBounds};
use tomori_core::preset::{Preset, PresetBounds};
use tomori_core::quota::QuotaLimits;
use tomori_core::settings::ChannelSet;
use tomori_core::tool_intent::custom::CustomTriggers;
use tomori_llm::Target;
use tomori_store::access::{self, AccessList};
use tomori_store::cache::RevisionCache;
use tomori_store::channel_personas::{self, ChannelPersona};
use tomori_store::credentials::{self, KeyOwner};
use tomori_store::memories::Memory;
use tomori_store::models::EmbeddingModel;
use tomori_store::overrides::{self, ChannelOverride, ModelChoice};
use tomori_store::personas::Persona;
use tomori_store::presets::{self, StoredPreset};
use tomori_store::quotas::{self, QuotaKind};
use tomori_store::servers::Home;
use tomori_store::settings::ServerSettings;
use tomori_store::tool_triggers;
use tomori_store::users::UserSettings;
use tomori_store::{
    Scope, Store, StoreError, documents, endpoints, lorebooks, memories, personas, settings, users,
};

use crate::providers::{Chain, Invoker, ServerProviders, Tenant};
use crate::surface::Inbound;

/// Entries unused this long are dropped, so an idle server or user costs no memory here.
const IDLE: Duration = Duration::from_secs(600);

/// Stored lorebooks, parsed. The store holds only books tomori-core wrote, so a book that no
/// longer parses (a bound lowered since) is logged and left out rather than failing the turn.
fn parse_lorebooks(
    stored: Vec<(PersonaId, serde_json::Value)>,
) -> HashMap<PersonaId, Arc<Lorebook>> {
    let bounds = LorebookBounds::default();
    stored
        .into_iter()
        .filter_map(|(persona, book)| match Lorebook::from_character_book(&book, &bounds) {
            Ok(book) => Some((persona, Arc::new(book))),
            Err(error) => {
                tracing::warn!(persona = persona.get(), %error, "a stored lorebook is left out");
                None
            }
        })
        .collect()
}

/// The active preset, parsed with its blocks turned on or off; like a lorebook, one that no
/// longer parses is logged and left out (the turn uses Tomori's own layout).
fn parse_preset(stored: Option<StoredPreset>) -> Option<Arc<Preset>> {
    let stored = stored?;
    let json = stored.preset.to_string();
    match Preset::from_json(json.as_bytes(), &PresetBounds::default()) {
        Ok(preset) => {
            let toggles = stored.toggles.iter().map(|(id, on)| (id.as_str(), *on));
            Some(Arc::new(preset.with_toggles(toggles)))
        }
        Err(error) => {
            tracing::warn!(preset = %stored.name, %error, "the stored preset is left out");
            None
        }
    }
}

/// What a turn reads of its server.
#[derive(Debug)]
pub(crate) struct ServerView {
    pub(crate) settings: ServerSettings,
    pub(crate) personas: Vec<Persona>,
    pub(crate) whitelist: Vec<Snowflake>,
    pub(crate) auto_trigger: Vec<Snowflake>,
    pub(crate) rp: Vec<Snowflake>,
    /// The private set: no thought logs there, and its short-term notes stay there.
    pub(crate) private: Vec<Snowflake>,
    pub(crate) role_whitelist: Vec<Snowflake>,
    pub(crate) blacklist: Vec<Snowflake>,
    /// Channels with a persona of their own (`/server channel-persona`).
    channel_personas: Vec<ChannelPersona>,
    /// Every lineage's memories, newest first.
    memories: Vec<Memory>,
    pub(crate) text_quota: QuotaLimits,
    /// The embedding model and how many documents it made, when the server has one.
    pub(crate) retrieval: Option<(EmbeddingModel, usize)>,
    /// Personas' lorebooks, parsed once per revision.
    lorebooks: HashMap<PersonaId, Arc<Lorebook>>,
    /// The preset the prompt is laid out with (`/preset switch`); Tomori's own when `None`.
    pub(crate) preset: Option<Arc<Preset>>,
    /// Channels (and categories) with a prompt or model of their own.
    channel_overrides: Vec<ChannelOverride>,
    /// Personas with a model of their own.
    persona_models: Vec<(PersonaId, ModelChoice)>,
    /// The server's own deliberate tool triggers (`/server tool-trigger`), compiled once per
    /// revision.
    pub(crate) tool_triggers: CustomTriggers,
}

impl ServerView {
    async fn load(store: &Store, server: ServerId) -> Result<Self, StoreError> {
        let scope = Scope::server(server);
        let (settings, personas, whitelist, auto_trigger, rp, private) = tokio::try_join!(
            settings::get(store, scope),
            personas::list(store, scope),
            settings::channels(store, scope, ChannelSet::Whitelist),
            settings::channels(store, scope, ChannelSet::AutoTrigger),
            settings::channels(store, scope, ChannelSet::Rp),
            settings::channels(store, scope, ChannelSet::Private),
        )?;
        let (role_whitelist, blacklist, channel_personas, memories, text_quota, retrieval) = tokio::try_join!(
            access::list(store, scope, AccessList::RoleWhitelist),
            access::list(store, scope, AccessList::UserBlacklist),
            channel_personas::list(store, scope),
            memories::list_all_server(store, scope),
            quotas::limits(store, scope, QuotaKind::Text),
            documents::retrieval_state(store, scope),
        )?;
        let (lorebooks, preset, channel_overrides, persona_models, triggers) = tokio::try_join!(
            lorebooks::list(store, scope),
            presets::active(store, scope),
            overrides::channels(store, scope),
            overrides::persona_models(store, scope),
            tool_triggers::list(store, scope),
        )?;
        let (lorebooks, preset) = (parse_lorebooks(lorebooks), parse_preset(preset));
        // A tenant with no persona of its own is answered by the built-in one until an admin makes
        // one (`/persona create`, `/persona import`, `/config setup`).
        let personas = if personas.is_empty() {
            vec![crate::first_contact::default_persona()]
        } else {
            personas
        };
        Ok(Self {
            settings,
            personas,
            whitelist,
            auto_trigger,
            rp,
            private,
            role_whitelist,
            blacklist,
            channel_personas,
            memories,
            text_quota,
            retrieval,
            lorebooks,
            preset,
            channel_overrides,
            persona_models,
            tool_triggers: CustomTriggers::compile(&triggers),
        })
    }

    /// The first of the message's channel, the thread's parent and the category that `has`
    /// something of its own.
    fn override_for<T>(
        &self,
        message: &Inbound,
        has: impl Fn(&ChannelOverride) -> Option<&T>,
    ) -> Option<&T> {
        let places = [Some(message.channel), message.parent_channel, message.category];
        places.into_iter().flatten().find_map(|place| {
            self.channel_overrides.iter().find(|c| c.channel == place).and_then(&has)
        })
    }

    /// The channel's own model (`/server channel-model`, found as the prompt is).
    pub(crate) fn channel_model(&self, message: &Inbound) -> Option<&ModelChoice> {
        self.override_for(message, |c| c.model.as_ref())
    }

    /// The system prompt where `message` was written: the channel's own (`/server
    /// channel-prompt`, a thread's parent's, or the category's), else the server's.
    pub(crate) fn system_prompt(&self, message: &Inbound) -> Option<&str> {
        self.override_for(message, |c| c.system_prompt.as_ref())
            .or(self.settings.system_prompt.as_ref())
            .map(String::as_str)
    }

    /// The model that answers as `persona` where `message` was written, when it is not the
    /// server's: the channel's (`/server channel-model`, found as the prompt is), else the
    /// persona's own (`/persona model`).
    pub(crate) fn model_for(&self, message: &Inbound, persona: PersonaId) -> Option<&ModelChoice> {
        self.channel_model(message)
            .or_else(|| self.persona_models.iter().find(|(p, _)| *p == persona).map(|(_, m)| m))
    }

    /// The persona's lorebook, when it has one.
    pub(crate) fn lorebook(&self, persona: PersonaId) -> Option<&Lorebook> {
        self.lorebooks.get(&persona).map(Arc::as_ref)
    }

    /// The persona that speaks by default in `channel`, or in its `parent` when the channel (a
    /// thread) has no choice of its own.
    pub(crate) fn channel_persona(
        &self,
        channel: Snowflake,
        parent: Option<Snowflake>,
    ) -> Option<PersonaId> {
        channel_persona(&self.channel_personas, channel, parent)
    }

    /// The server memories of one persona lineage, newest first.
    pub(crate) fn memories(&self, lineage: LineageId) -> impl Iterator<Item = &Memory> {
        self.memories.iter().filter(move |m| m.lineage == lineage)
    }
}

/// What a turn reads of the person it answers.
#[derive(Debug)]
pub(crate) struct UserView {
    pub(crate) settings: UserSettings,
    /// Every lineage's personal memories, newest first.
    memories: Vec<Memory>,
    /// They added keys (`/personal key add`) or an endpoint (`/personal custom-endpoint`) of
    /// their own, so their chain may differ from the server's.
    own_models: bool,
}

impl UserView {
    async fn load(store: &Store, user: UserId, revision: i64) -> Result<Self, StoreError> {
        // Nothing was ever written for a user at revision 0 (every change to their settings,
        // memories, keys or endpoints moves it), so their view is the defaults: a first message
        // from someone new costs no reads.
        if revision == 0 {
            let settings = UserSettings::default();
            return Ok(Self { settings, memories: Vec::new(), own_models: false });
        }
        let scope = Scope::user(user);
        let (settings, memories, keys, endpoints) = tokio::try_join!(
            users::get(store, scope),
            memories::list_all_personal(store, scope),
            credentials::list(store, scope, KeyOwner::Personal),
            endpoints::list(store, scope, KeyOwner::Personal),
        )?;
        let own_models = !keys.is_empty() || !endpoints.is_empty();
        Ok(Self { settings, memories, own_models })
    }

    /// Personal memories for a persona lineage: its own and those for every persona (lineage 0).
    pub(crate) fn memories(&self, lineage: LineageId) -> impl Iterator<Item = &Memory> {
        self.memories.iter().filter(move |m| m.lineage == lineage || m.lineage.get() == 0)
    }
}

/// The server and author of one message, as read under their current revisions.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) server: ServerId,
    /// The server is a member's DM tenant.
    dm: bool,
    server_revision: i64,
    pub(crate) view: Arc<ServerView>,
    /// The author, when a person wrote the message.
    pub(crate) user: Option<SeenUser>,
}

/// A person's id and view.
#[derive(Debug, Clone)]
pub(crate) struct SeenUser {
    pub(crate) id: UserId,
    revision: i64,
    pub(crate) view: Arc<UserView>,
}

/// A cached chain's key: the server, the member when they have models of their own, and the rest.
type ChainKey = (ServerId, Option<UserId>, ChainFor);

/// What shapes a turn's chain besides the server and the member.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ChainFor {
    /// The member's own endpoint may answer here (see [`Invoker`]).
    pub(crate) own_endpoint: bool,
    /// The turn would show images (the server's vision model may go first).
    pub(crate) images: bool,
    /// The channel's or the persona's model, which answers in place of the server's.
    pub(crate) primary: Option<ModelChoice>,
    /// The server requires members to bring their own key, and this turn answers one.
    pub(crate) byok: bool,
}

/// The caches, shared by the engine and its turns' live state.
#[derive(Debug)]
pub(crate) struct Views {
    servers: RevisionCache<ServerId, i64, ServerView>,
    users: RevisionCache<UserId, i64, UserView>,
    /// Keyed by the server, the member answered when they have models of their own, and what
    /// else shapes the chain.
    chains: RevisionCache<ChainKey, (i64, i64), Chain>,
}

impl Default for Views {
    fn default() -> Self {
        Self {
            servers: RevisionCache::named("server", 10_000, IDLE),
            users: RevisionCache::named("user", 50_000, IDLE),
            chains: RevisionCache::named("chain", 10_000, IDLE),
        }
    }
}

impl Views {
    /// The message's server and (when `author` is named) author, current as of now.
    pub(crate) async fn read(
        &self,
        store: &Store,
        home: Home,
        author: Option<Snowflake>,
    ) -> Result<Seen, StoreError> {
        // The revisions are read first: whatever is loaded after them is at least as new.
        let revisions = store.revisions(home, author).await?;
        let server = revisions.server;
        let view = self
            .servers
            .get_or_load(server, revisions.server_revision, || {
                Box::pin(ServerView::load(store, server))
            })
            .await?;
        let user = match revisions.user {
            Some((id, revision)) => {
                let view = self
                    .users
                    .get_or_load(id, revision, || UserView::load(store, id, revision))
                    .await?;
                Some(SeenUser { id, revision, view })
            }
            None => None,
        };
        let dm = matches!(home, Home::Dm(_));
        Ok(Seen { server, dm, server_revision: revisions.server_revision, view, user })
    }

    /// The provider chain for a turn answering `seen`'s author (or no one in particular).
    pub(crate) async fn chain(
        &self,
        providers: &ServerProviders,
        store: &Store,
        seen: &Seen,
        instance: &[Target],
        turn: ChainFor,
    ) -> Result<Chain, StoreError> {
        let member = seen.user.as_ref().filter(|u| u.view.own_models);
        let key = (seen.server, member.map(|u| u.id), turn.clone());
        let revision = (seen.server_revision, member.map_or(0, |u| u.revision));
        let invoker = member.map(|u| Invoker {
            user: u.id,
            model: u.view.settings.model.clone(),
            own_endpoint: turn.own_endpoint,
        });
        let chain = self
            .chains
            .get_or_load(key, revision, || {
                let tenant = Tenant { server: seen.server, dm: seen.dm };
                providers.chain(store, tenant, invoker, instance, &turn)
            })
            .await?;
        Ok(Chain::clone(&chain))
    }
}

/// The channel's own choice, else its parent's.
fn channel_persona(
    chosen: &[ChannelPersona],
    channel: Snowflake,
    parent: Option<Snowflake>,
) -> Option<PersonaId> {
    let of = |c: Snowflake| chosen.iter().find(|p| p.channel == c);
    of(channel).or_else(|| parent.and_then(of)).map(|p| p.persona)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_follows_its_parent_unless_it_has_a_persona_of_its_own() {
        let id = |n| Snowflake::new(n).unwrap();
        let chosen = |channel, persona| ChannelPersona {
            channel: id(channel),
            persona: PersonaId::from_db(persona),
            nickname: String::new(),
        };
        let list = [chosen(10, 1), chosen(11, 2)];
        let check = |channel: u64, parent: Option<u64>, expected: Option<i64>| {
            let found = channel_persona(&list, id(channel), parent.map(id));
            assert_eq!(found, expected.map(PersonaId::from_db), "{channel} in {parent:?}");
        };
        check(10, None, Some(1));
        check(12, Some(10), Some(1));
        check(11, Some(10), Some(2));
        check(12, None, None);
        check(13, Some(14), None);
    }
}
