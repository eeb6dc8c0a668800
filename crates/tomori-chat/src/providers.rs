//! Which models answer a server: the model its admins chose (`/model text`) with the server's own
//! keys (or the asking member's own, when they added some for that provider) or one of its
//! custom endpoints, then its fallback chain, then the operator's instance providers; for a turn
//! with images that model cannot see, the server's vision model (`/model vision`) goes first.
//! Built for each turn from the store, so a key or model change applies to the next message
//! without a restart.
//!
//! A member's DM tenant (the pseudo-server that holds their direct messages, which they set up
//! themselves with `/model` and `/provider` in a DM) is reached through the personal-scope client:
//! anyone may manage one, so what it names is judged as a member's own endpoint is.
//!
//! A member's own endpoint (`/personal custom-endpoint`) replaces the whole chain for the turns
//! that answer them, where they may see the assembled prompt anyway (see [`Invoker`]): only that
//! endpoint is asked, and when it fails the member sees the failure; the server's keys and the
//! operator's providers are never spent on a member who chose their own model.

use tomori_core::id::{ServerId, UserId};
use tomori_llm::{
    ApiKey, Capabilities, Endpoint, KeySource, Sampler, Target, ThinkingLevel, Wire, known_provider,
};
use tomori_net::Client;
use tomori_store::credentials::{self, KeyOwner};
use tomori_store::endpoints::MEMBER_ENDPOINT;
use tomori_store::models::{self, EmbeddingModel, ImageModel, ServerModel, VideoModel, VisionMode};
use tomori_store::users::MemberModel;
use tomori_store::{Scope, Store, StoreError, endpoints};

use crate::views::ChainFor;

/// Builds the chains; holds the clients whose policies judge every endpoint a server or a member
/// names.
#[derive(Debug, Clone)]
pub struct ServerProviders {
    client: Client,
    /// Known providers reached at another address (tests: the fakes on loopback).
    base_urls: Vec<(String, String)>,
    /// For members' own endpoints: the personal-scope policy.
    personal: Option<Client>,
}

/// The member a turn answers, as the chain sees them.
#[derive(Debug, Clone)]
pub(crate) struct Invoker {
    pub(crate) user: UserId,
    /// Their own model (`/personal model`), when they chose one.
    pub(crate) model: Option<MemberModel>,
    /// Their own endpoint may answer them here. It receives the assembled prompt (persona,
    /// system prompt, server memories, history), so only where they may see that prompt anyway:
    /// a direct message, a server they manage, or one that turned `prompt_snapshot` on.
    pub(crate) own_endpoint: bool,
}

/// The tenant a chain is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tenant {
    pub(crate) server: ServerId,
    /// A member's DM tenant rather than a guild.
    pub(crate) dm: bool,
}

/// A server's chain and sampling choices.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chain {
    pub(crate) targets: Vec<Target>,
    /// The server's sampler parameters and stop strings, sent to every model of the chain.
    pub(crate) sampler: Sampler,
    /// How much the models reason before answering (`/model thinking`).
    pub(crate) thinking: ThinkingLevel,
    /// The speaker pattern is on (`/model stop speaker`): the request names the persona answering
    /// in [`Sampler::speaker`].
    pub(crate) stop_speaker: bool,
    /// The server's vision model, describing images for a chain whose first model cannot see
    /// them (`/model vision mode describe`, through `analyze_image`).
    pub(crate) describer: Option<Target>,
}

impl ServerProviders {
    /// Chains whose server-named endpoints are reached through `client`, which must hold the
    /// server-scope policy under the operator's `[net]` settings.
    pub fn new(client: Client) -> Self {
        Self { client, personal: None, base_urls: Vec::new() }
    }

    /// Lets members' own endpoints answer them, reached through `client`, which must hold the
    /// personal-scope policy (production-strict whatever the `[net]` settings). Without it a
    /// member with an endpoint gets no answer where it would have been used.
    #[must_use]
    pub fn with_personal_client(mut self, client: Client) -> Self {
        self.personal = Some(client);
        self
    }

    /// Reaches the known provider `provider` at `base_url` instead of its own address. The URL
    /// is judged by the target's policy like any endpoint's, when the target is built.
    #[must_use]
    pub fn with_provider_base_url(mut self, provider: &str, base_url: &str) -> Self {
        self.base_urls.push((provider.to_owned(), base_url.to_owned()));
        self
    }

    /// The server's chain: its own model (or the channel's or persona's, `turn.primary`) and
    /// fallbacks (those that can be reached: a known provider with at least one enabled key, or
    /// a custom endpoint that still exists), then `instance`. When the turn's context has images
    /// and the chosen model does not see them, the server's vision model (`/model vision`) goes
    /// first.
    pub(crate) async fn chain(
        &self,
        store: &Store,
        tenant: Tenant,
        invoker: Option<Invoker>,
        instance: &[Target],
        turn: &ChainFor,
    ) -> Result<Chain, StoreError> {
        let scope = Scope::server(tenant.server);
        let model = models::get(store, scope).await?;
        // The server's sampler choices shape every answer in the server, the member's own
        // endpoint and model included.
        let sampler = model.as_ref().map(sampler).unwrap_or_default();
        let thinking = model.as_ref().map_or(ThinkingLevel::Auto, |m| m.thinking);
        let stop_speaker = model.as_ref().is_some_and(|m| m.stop_speaker);
        let chain = |targets: Vec<Target>, describer: Option<Target>| Chain {
            targets,
            sampler,
            thinking,
            stop_speaker,
            describer,
        };
        if let Some(invoker) = invoker.as_ref().filter(|i| i.own_endpoint)
            && let Some(own) = self.members_own(store, invoker.user).await?
        {
            return Ok(chain(own.into_iter().collect(), None));
        }
        // Security: SSRF through DM tenants' endpoints. Any member manages their DM tenant, so
        // its endpoints go through the personal-scope client (production-strict), never the
        // server-scope one that the operator's [net] settings may loosen for guild admins.
        let client = if tenant.dm { self.personal.as_ref() } else { Some(&self.client) };
        let Some(client) = client else {
            tracing::warn!("a DM tenant's own model cannot be reached: no personal client");
            return Ok(chain(if turn.byok { Vec::new() } else { instance.to_vec() }, None));
        };
        let user = invoker.as_ref().map(|i| i.user);
        // The member's own model (`/personal model`), paid with their own keys only, goes first;
        // the server's follow only when they allow it and the server does not require their key.
        let mine = match invoker.as_ref().and_then(|i| i.model.as_ref()) {
            Some(choice) => self.members_choice(store, scope, client, user, choice).await,
            None => None,
        };
        let alone = invoker.as_ref().and_then(|i| i.model.as_ref()).is_some_and(|m| !m.fallback);
        if let Some(mine) = &mine
            && (alone || turn.byok)
        {
            return Ok(chain(vec![mine.clone()], None));
        }
        let (mut targets, describer) =
            self.server_targets(store, scope, client, user, model, turn).await;
        if turn.byok {
            // Security: spend control (BYOK mode). Only the member's own keys answer them: a
            // model reached with the server's keys or endpoints, and the instance's providers,
            // are never spent on their turn, nor is a vision model describing for them.
            targets.retain(paid_by_member);
            return Ok(chain(targets, describer.filter(paid_by_member)));
        }
        targets.splice(0..0, mine);
        targets.extend(instance.iter().cloned());
        Ok(chain(targets, describer))
    }

    /// The member's own model as a target, when they added a key of their own for its provider
    /// (never the server's keys: the server did not choose that model).
    async fn members_choice(
        &self,
        store: &Store,
        scope: Scope,
        client: &Client,
        user: Option<UserId>,
        choice: &MemberModel,
    ) -> Option<Target> {
        let capabilities = Capabilities::default();
        let target = self
            .usable(store, scope, client, user, (&choice.provider, &choice.model, capabilities))
            .await?;
        let theirs = paid_by_member(&target);
        if !theirs {
            tracing::debug!(provider = %choice.provider, "a member's model has no key of theirs");
        }
        theirs.then_some(target)
    }

    /// The server's targets: its model (or the channel's or persona's, `turn.primary`), its
    /// fallbacks, and its vision model first when the turn shows images the chosen one cannot
    /// see; or, when the server's vision model describes rather than answers, the targets
    /// without it and the vision model apart. Empty when the server chose no model.
    async fn server_targets(
        &self,
        store: &Store,
        scope: Scope,
        client: &Client,
        invoker: Option<UserId>,
        model: Option<ServerModel>,
        turn: &ChainFor,
    ) -> (Vec<Target>, Option<Target>) {
        // A channel's or persona's model answers first even where the server chose none.
        let model = match (model, &turn.primary) {
            (Some(model), _) => model,
            (None, Some(choice)) => ServerModel::new(&choice.provider, &choice.model),
            (None, None) => return (Vec::new(), None),
        };
        let (provider, model_id, vision, tools) = match &turn.primary {
            Some(c) => (c.provider.as_str(), c.model.as_str(), c.vision, c.tools),
            None => (model.provider.as_str(), model.model.as_str(), model.vision, model.tools),
        };
        let primary = Capabilities { vision, tools, ..Capabilities::default() };
        let entries = std::iter::once((provider, model_id, primary)).chain(fallbacks(&model));
        let mut targets = Vec::new();
        for (provider, model_id, capabilities) in entries {
            if let Some(target) =
                self.usable(store, scope, client, invoker, (provider, model_id, capabilities)).await
            {
                targets.push(target);
            }
        }
        // The vision model answers in place of a chosen model that cannot see (a custom
        // endpoint's own flag counts); the rest of the chain stays behind it, and the catalogue
        // removes the images for the models that do not see. In describe mode it stays apart,
        // and the chosen model asks it about images instead.
        let chosen_sees = targets.first().is_some_and(|t| t.capabilities.vision);
        let mut describer = None;
        if turn.images
            && !chosen_sees
            && let Some((provider, id)) =
                model.vision_model.as_deref().and_then(|entry| entry.split_once('/'))
        {
            let sees = Capabilities { vision: true, tools: true, ..Capabilities::default() };
            if let Some(target) =
                self.usable(store, scope, client, invoker, (provider, id, sees)).await
            {
                match model.vision_mode {
                    VisionMode::Answer => targets.insert(0, target),
                    VisionMode::Describe => describer = Some(target),
                }
            }
        }
        (targets, describer)
    }

    /// The member's own endpoint, if they registered one: `Some(None)` when it cannot be used
    /// (the policy refuses it now, or there is no personal client), so that the turn fails
    /// rather than going to someone else's model.
    async fn members_own(
        &self,
        store: &Store,
        user: UserId,
    ) -> Result<Option<Option<Target>>, StoreError> {
        let scope = Scope::user(user);
        let Some((endpoint, key)) =
            endpoints::get(store, scope, KeyOwner::Personal, MEMBER_ENDPOINT).await?
        else {
            return Ok(None);
        };
        let Some(client) = &self.personal else {
            tracing::warn!("a member's own endpoint cannot be reached: no personal client");
            return Ok(Some(None));
        };
        // Security: SSRF through members' endpoints. The personal-scope policy (https to public
        // addresses, whatever the mode) judged the URL at registration; it judges it again here
        // and, with its DNS answers, on every request the client makes.
        let wire = match Endpoint::new(Wire::OpenAiCompatible, &endpoint.base_url, client.policy())
        {
            Ok(wire) => wire,
            Err(err) => {
                tracing::warn!(error = %err, "a member's own endpoint is refused");
                return Ok(Some(None));
            }
        };
        let keys = key
            .map(|key| {
                ApiKey::new(format!("endpoint:{}", endpoint.id), KeySource::Personal, key, 0)
            })
            .into_iter()
            .collect();
        let capabilities = Capabilities {
            tools: endpoint.has_tools,
            vision: endpoint.has_vision,
            context_length: endpoint.context_length.and_then(|n| u32::try_from(n).ok()),
            embeddings: false,
        };
        Ok(Some(Some(
            Target::new(
                format!("your endpoint · {}", endpoint.model),
                format!("custom:{MEMBER_ENDPOINT}"),
                wire,
                &endpoint.model,
                client.clone(),
            )
            .with_keys(keys)
            .with_capabilities(capabilities),
        )))
    }

    /// The target for one entry, or `None` (logged) when it cannot be reached.
    async fn usable(
        &self,
        store: &Store,
        scope: Scope,
        client: &Client,
        invoker: Option<UserId>,
        entry: Entry<'_>,
    ) -> Option<Target> {
        let (provider, model, _) = entry;
        match self.target(store, scope, client, invoker, entry).await {
            Ok(Some(target)) => Some(target),
            Ok(None) => {
                tracing::debug!(provider, model, "a server model has no key or endpoint");
                None
            }
            Err(err) => {
                tracing::warn!(provider, error = %err, "a server model is unusable");
                None
            }
        }
    }

    /// The target that embeds with the server's embedding model: resolved as the chat model is
    /// (a known provider with the server's keys, or one of its custom endpoints), except that a
    /// custom endpoint is asked for the embedding model named rather than its chat model. `None`
    /// when it cannot be reached (no enabled key, the endpoint was removed).
    ///
    /// # Errors
    /// The store failed, or the endpoint's URL is refused by the policy.
    pub(crate) async fn embedding_target(
        &self,
        store: &Store,
        server: ServerId,
        model: &EmbeddingModel,
    ) -> Result<Option<Target>, ChainError> {
        let capabilities =
            Capabilities { tools: false, vision: false, context_length: None, embeddings: true };
        let scope = Scope::server(server);
        let target = self
            .target(store, scope, &self.client, None, (&model.provider, &model.model, capabilities))
            .await?;
        Ok(target.map(|mut target| {
            target.label = format!("{} · {}", model.provider, model.model);
            target.model = model.model.clone();
            target.capabilities = capabilities;
            target
        }))
    }

    /// The target that draws with the server's image model for `invoker` (who pays with
    /// their own keys for that provider when they added some, as for text): a known provider
    /// or one of the tenant's custom endpoints, asked for the image model named. `None` when it
    /// cannot be reached.
    ///
    /// # Errors
    /// The store failed, or the endpoint's URL is refused by the policy.
    pub(crate) async fn image_target(
        &self,
        store: &Store,
        tenant: Tenant,
        invoker: Option<UserId>,
        model: &ImageModel,
    ) -> Result<Option<Target>, ChainError> {
        // Security: SSRF through DM tenants' endpoints, as for their chat models.
        let client = if tenant.dm { self.personal.as_ref() } else { Some(&self.client) };
        let Some(client) = client else { return Ok(None) };
        let capabilities = Capabilities::default();
        let scope = Scope::server(tenant.server);
        let target = self
            .target(store, scope, client, invoker, (&model.provider, &model.model, capabilities))
            .await?;
        Ok(target.map(|mut target| {
            target.label = format!("{} · {}", model.provider, model.model);
            target.model = model.model.clone();
            target
        }))
    }

    /// The target that films with the server's video model for `invoker`, resolved as the
    /// image model is (their own keys first; a known provider or one of the tenant's endpoints).
    ///
    /// # Errors
    /// As [`ServerProviders::image_target`].
    pub(crate) async fn video_target(
        &self,
        store: &Store,
        tenant: Tenant,
        invoker: Option<UserId>,
        model: &VideoModel,
    ) -> Result<Option<Target>, ChainError> {
        let entry = ImageModel { provider: model.provider.clone(), model: model.model.clone() };
        self.image_target(store, tenant, invoker, &entry).await
    }

    /// The target for one entry, reached through `client` (whose policy judges the URL).
    async fn target(
        &self,
        store: &Store,
        scope: Scope,
        client: &Client,
        invoker: Option<UserId>,
        entry: Entry<'_>,
    ) -> Result<Option<Target>, ChainError> {
        let (provider, model, capabilities) = entry;
        let policy = client.policy();
        if let Some(label) = provider.strip_prefix("custom:") {
            let Some((endpoint, key)) =
                endpoints::get(store, scope, KeyOwner::Server, label).await?
            else {
                return Ok(None);
            };
            // Security: SSRF through admin endpoints. The server-scope policy judged the URL at
            // registration; it judges it again here and on every request the client makes.
            let wire = Endpoint::new(Wire::OpenAiCompatible, &endpoint.base_url, policy)?;
            let mut keys: Vec<ApiKey> = key
                .map(|key| {
                    ApiKey::new(format!("endpoint:{}", endpoint.id), KeySource::Server, key, 0)
                })
                .into_iter()
                .collect();
            keys.extend(owner_keys(store, scope, KeyOwner::Server, provider).await?);
            let capabilities = Capabilities {
                tools: endpoint.has_tools,
                vision: endpoint.has_vision,
                context_length: endpoint.context_length.and_then(|n| u32::try_from(n).ok()),
                embeddings: false,
            };
            return Ok(Some(
                Target::new(
                    format!("{label} · {}", endpoint.model),
                    provider,
                    wire,
                    &endpoint.model,
                    client.clone(),
                )
                .with_keys(keys)
                .with_capabilities(capabilities),
            ));
        }
        let Some(known) = known_provider(provider) else { return Ok(None) };
        // The member who asked pays with their own keys when they added some for this provider
        // (`/personal key add`), and only with those: a rate-limited personal key never falls
        // through to the server's.
        let personal = match invoker {
            Some(user) => {
                owner_keys(store, Scope::user(user), KeyOwner::Personal, provider).await?
            }
            None => Vec::new(),
        };
        let keys = if personal.is_empty() {
            owner_keys(store, scope, KeyOwner::Server, provider).await?
        } else {
            personal
        };
        if keys.is_empty() {
            return Ok(None);
        }
        let base_url = self
            .base_urls
            .iter()
            .find(|(name, _)| name == provider)
            .map_or(known.base_url, |(_, url)| url.as_str());
        let endpoint = Endpoint::new(known.wire, base_url, policy)?;
        Ok(Some(
            Target::new(format!("{provider} · {model}"), provider, endpoint, model, client.clone())
                .with_keys(keys)
                .with_capabilities(capabilities),
        ))
    }
}

/// The server's (`/provider key add`) or a member's (`/personal key add`) enabled keys for
/// `provider`, opened for this turn.
async fn owner_keys(
    store: &Store,
    scope: Scope,
    owner: KeyOwner,
    provider: &str,
) -> Result<Vec<ApiKey>, StoreError> {
    let source = match owner {
        KeyOwner::Server => KeySource::Server,
        KeyOwner::Personal => KeySource::Personal,
    };
    let mut keys = Vec::new();
    for info in credentials::list(store, scope, owner).await? {
        if info.provider != provider || !info.enabled {
            continue;
        }
        let secret = credentials::reveal(store, scope, info.id).await?;
        let uses = u64::try_from(info.usage_count).unwrap_or(0);
        keys.push(ApiKey::new(format!("key:{}", info.id), source, secret, uses));
    }
    Ok(keys)
}

/// The server's sampler choices in the provider-neutral request's terms.
fn sampler(model: &ServerModel) -> Sampler {
    let params = &model.params;
    Sampler {
        temperature: model.temperature,
        top_p: params.top_p,
        top_k: params.top_k.and_then(|k| u32::try_from(k).ok()),
        frequency_penalty: params.frequency_penalty,
        presence_penalty: params.presence_penalty,
        max_output_tokens: params.max_tokens.and_then(|n| u32::try_from(n).ok()),
        min_p: params.min_p,
        stop: model.stop.clone(),
        speaker: None,
        logit_bias: tomori_llm::LogitBias::new(model.logit_bias.clone()),
    }
}

/// Whether only the member's own keys pay for `target` (a target with no key at all is a
/// server's endpoint, which they do not pay for).
fn paid_by_member(target: &Target) -> bool {
    !target.keys.is_empty() && target.keys.iter().all(|k| k.source() == KeySource::Personal)
}

/// One model of a chain: provider, model id, and what it can do.
type Entry<'a> = (&'a str, &'a str, Capabilities);

/// Fallback entries as (provider, model, default capabilities).
fn fallbacks(model: &ServerModel) -> impl Iterator<Item = (&str, &str, Capabilities)> {
    model
        .fallback
        .iter()
        .filter_map(|entry| entry.split_once('/'))
        .map(|(provider, model)| (provider, model, Capabilities::default()))
}

/// Why a server's model could not be turned into a target.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ChainError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Endpoint(#[from] tomori_llm::LlmError),
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;
    use tomori_core::id::Snowflake;
    use tomori_llm::{Timeouts, client_for};
    use tomori_net::Policy;
    use tomori_store::audit::Actor;
    use tomori_testkit::TestDb;

    use super::*;

    #[tokio::test]
    async fn a_members_own_keys_answer_their_messages_and_only_theirs() {
        let db = TestDb::new().await;
        let store = db.store().await;
        let server = store.resolve_guild(Snowflake::new(5).expect("id")).await.expect("guild");
        let scope = Scope::server(server);
        let model = ServerModel::new("openrouter", "some/model");
        models::set(&store, scope, Actor::Operator, &model).await.expect("model");
        let key = |k: &str| SecretString::from(k.to_owned());
        credentials::add(
            &store,
            scope,
            Actor::Operator,
            KeyOwner::Server,
            "openrouter",
            "s",
            &key("sk-server"),
        )
        .await
        .expect("server key");
        let alice = store.resolve_user(Snowflake::new(11).expect("id")).await.expect("alice");
        let bob = store.resolve_user(Snowflake::new(12).expect("id")).await.expect("bob");
        credentials::add(
            &store,
            Scope::user(alice),
            Actor::Operator,
            KeyOwner::Personal,
            "openrouter",
            "a",
            &key("sk-alice"),
        )
        .await
        .expect("personal key");
        let client = client_for(Policy::new(tomori_net::Scope::Server), &Timeouts::default())
            .expect("client");
        let providers = ServerProviders::new(client);
        let sources = |chain: Chain| -> Vec<KeySource> {
            chain.targets[0].keys.iter().map(ApiKey::source).collect()
        };
        let member = |user| Some(Invoker { user, model: None, own_endpoint: true });
        let guild = Tenant { server, dm: false };
        let turn = &ChainFor { own_endpoint: true, images: false, primary: None, byok: false };
        let hers = providers.chain(&store, guild, member(alice), &[], turn).await.expect("chain");
        assert_eq!(sources(hers), [KeySource::Personal]);
        let his = providers.chain(&store, guild, member(bob), &[], turn).await.expect("chain");
        assert_eq!(sources(his), [KeySource::Server]);
        let passive = providers.chain(&store, guild, None, &[], turn).await.expect("chain");
        assert_eq!(sources(passive), [KeySource::Server]);
        // Where members must bring their own key, the server's keys answer nobody.
        let byok = &ChainFor { byok: true, ..turn.clone() };
        let hers = providers.chain(&store, guild, member(alice), &[], byok).await.expect("chain");
        assert_eq!(sources(hers), [KeySource::Personal]);
        let his = providers.chain(&store, guild, member(bob), &[], byok).await.expect("chain");
        assert!(his.targets.is_empty(), "bob has no key of his own");

        // A member's own model goes first, paid with their key, then the server's (unless they
        // said not to, or the server requires their key); without a key of theirs it is ignored.
        let choosing = |user, model: &str, fallback| {
            let choice = MemberModel {
                provider: "openrouter".to_owned(),
                model: model.to_owned(),
                fallback,
            };
            Some(Invoker { user, model: Some(choice), own_endpoint: false })
        };
        let models = |chain: &Chain| -> Vec<String> {
            chain.targets.iter().map(|t| t.model.clone()).collect()
        };
        let hers = providers.chain(&store, guild, choosing(alice, "her/model", true), &[], turn);
        let hers = hers.await.expect("chain");
        assert_eq!(models(&hers), ["her/model", "some/model"]);
        assert_eq!(sources(hers), [KeySource::Personal]);
        let alone = providers.chain(&store, guild, choosing(alice, "her/model", false), &[], turn);
        assert_eq!(models(&alone.await.expect("chain")), ["her/model"]);
        let byok_hers =
            providers.chain(&store, guild, choosing(alice, "her/model", true), &[], byok);
        assert_eq!(models(&byok_hers.await.expect("chain")), ["her/model"]);
        let his = providers.chain(&store, guild, choosing(bob, "his/model", false), &[], turn);
        assert_eq!(models(&his.await.expect("chain")), ["some/model"], "no key of his: ignored");
    }
}
