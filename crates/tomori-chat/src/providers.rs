//! Which models answer a server: the model its admins chose (`/model text`) with the server's own
//! keys or one of its custom endpoints, then its fallback chain, then the operator's instance
//! providers. Built for each turn from the store, so a key or model change applies to the next
//! message without a restart.

use tomori_core::id::ServerId;
use tomori_llm::{ApiKey, Capabilities, Endpoint, KeySource, Target, Wire, known_provider};
use tomori_net::Client;
use tomori_store::credentials::{self, KeyOwner};
use tomori_store::models::{self, ServerModel};
use tomori_store::{Scope, Store, StoreError, endpoints};

/// Builds the chains; holds the client whose policy judges every endpoint a server names.
#[derive(Debug, Clone)]
pub struct ServerProviders {
    client: Client,
}

/// A server's chain and sampling choices.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chain {
    pub(crate) targets: Vec<Target>,
    pub(crate) temperature: Option<f32>,
}

impl ServerProviders {
    /// Chains whose server-named endpoints are reached through `client`, which must hold the
    /// server-scope policy under the operator's `[net]` settings.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The server's chain: its own model and fallbacks (those that can be reached: a known
    /// provider with at least one enabled key, or a custom endpoint that still exists), then
    /// `instance`.
    pub(crate) async fn chain(
        &self,
        store: &Store,
        server: ServerId,
        instance: &[Target],
    ) -> Result<Chain, StoreError> {
        let scope = Scope::server(server);
        let Some(model) = models::get(store, scope).await? else {
            return Ok(Chain { targets: instance.to_vec(), temperature: None });
        };
        let mut targets = Vec::new();
        let primary =
            Capabilities { vision: model.vision, tools: model.tools, ..Capabilities::default() };
        let entries = std::iter::once((model.provider.as_str(), model.model.as_str(), primary))
            .chain(fallbacks(&model));
        for (provider, model_id, capabilities) in entries {
            match self.target(store, scope, provider, model_id, capabilities).await {
                Ok(Some(target)) => targets.push(target),
                Ok(None) => {
                    tracing::debug!(
                        provider,
                        model = model_id,
                        "a server model has no key or endpoint"
                    );
                }
                Err(err) => tracing::warn!(provider, error = %err, "a server model is unusable"),
            }
        }
        targets.extend(instance.iter().cloned());
        Ok(Chain { targets, temperature: model.temperature })
    }

    async fn target(
        &self,
        store: &Store,
        scope: Scope,
        provider: &str,
        model: &str,
        capabilities: Capabilities,
    ) -> Result<Option<Target>, ChainError> {
        let policy = self.client.policy();
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
            keys.extend(server_keys(store, scope, provider).await?);
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
                    self.client.clone(),
                )
                .with_keys(keys)
                .with_capabilities(capabilities),
            ));
        }
        let Some(known) = known_provider(provider) else { return Ok(None) };
        let keys = server_keys(store, scope, provider).await?;
        if keys.is_empty() {
            return Ok(None);
        }
        let endpoint = Endpoint::new(known.wire, known.base_url, policy)?;
        Ok(Some(
            Target::new(
                format!("{provider} · {model}"),
                provider,
                endpoint,
                model,
                self.client.clone(),
            )
            .with_keys(keys)
            .with_capabilities(capabilities),
        ))
    }
}

/// The server's enabled keys for `provider` (`/provider key add`), opened for this turn.
async fn server_keys(
    store: &Store,
    scope: Scope,
    provider: &str,
) -> Result<Vec<ApiKey>, StoreError> {
    let mut keys = Vec::new();
    for info in credentials::list(store, scope, KeyOwner::Server).await? {
        if info.provider != provider || !info.enabled {
            continue;
        }
        let secret = credentials::reveal(store, scope, info.id).await?;
        let uses = u64::try_from(info.usage_count).unwrap_or(0);
        keys.push(ApiKey::new(format!("key:{}", info.id), KeySource::Server, secret, uses));
    }
    Ok(keys)
}

/// Fallback entries as (provider, model, default capabilities).
fn fallbacks(model: &ServerModel) -> impl Iterator<Item = (&str, &str, Capabilities)> {
    model
        .fallback
        .iter()
        .filter_map(|entry| entry.split_once('/'))
        .map(|(provider, model)| (provider, model, Capabilities::default()))
}

#[derive(Debug, thiserror::Error)]
enum ChainError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Endpoint(#[from] tomori_llm::LlmError),
}
