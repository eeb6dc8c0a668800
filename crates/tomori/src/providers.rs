//! The instance's provider chain, built from `[providers.*]` in the config file.
//!
//! Operator endpoints are trusted like the operator: they may use http and loopback or private
//! addresses (a local Ollama), but tomori-net's operator policy still refuses cloud-metadata
//! addresses on every request.

use std::time::Duration;

use anyhow::Context as _;
use tomori_llm::{
    ApiKey, Capabilities, Endpoint, EndpointOptions, ExtraHeader, KeySource, Target, Timeouts,
    Wire, client_for,
};
use tomori_net::Policy;

use crate::config::{Config, ProviderKind};

/// The chain of instance targets, in name order.
///
/// # Errors
/// A provider whose endpoint cannot be built (already validated when the config loaded).
pub(crate) fn instance_chain(config: &Config) -> anyhow::Result<Vec<Target>> {
    let timeouts = Timeouts::default();
    let client =
        client_for(Policy::operator(), &timeouts).context("building the provider client")?;
    let mut chain = Vec::new();
    for (name, provider) in &config.providers {
        let wire = match provider.kind {
            ProviderKind::OpenaiCompatible => Wire::OpenAiCompatible,
            ProviderKind::Anthropic => Wire::Anthropic,
            ProviderKind::Gemini => Wire::Gemini,
        };
        let policy = Policy::operator();
        let endpoint = match &provider.base_url {
            Some(url) => Endpoint::new(wire, url.as_str(), &policy),
            None => Endpoint::first_party(wire, &policy),
        }
        .with_context(|| format!("providers.{name}.base_url"))?
        .with_options(endpoint_options(name, provider)?);
        let keys = provider
            .api_key
            .iter()
            .map(|key| ApiKey::new(format!("config:{name}"), KeySource::Instance, key.clone(), 0))
            .collect();
        let defaults = Timeouts::default();
        let seconds = |secs: Option<u64>, default| secs.map_or(default, Duration::from_secs);
        let own_timeouts = Timeouts {
            first_byte: seconds(provider.first_byte_timeout_secs, defaults.first_byte),
            idle: seconds(provider.idle_timeout_secs, defaults.idle),
            ..defaults
        };
        let capabilities = Capabilities {
            tools: provider.tools,
            vision: provider.vision,
            context_length: provider.context_length,
            embeddings: false,
        };
        chain.push(
            Target::new(
                format!("{name} · {}", provider.model),
                name.clone(),
                endpoint,
                provider.model.clone(),
                client.clone(),
            )
            .with_keys(keys)
            .with_capabilities(capabilities)
            .with_timeouts(own_timeouts),
        );
    }
    Ok(chain)
}

/// `extra_headers` and `extra_query` of `[providers.<name>]` as the endpoint's options.
///
/// # Errors
/// A header name that is not a token or one the client sets itself.
pub(crate) fn endpoint_options(
    name: &str,
    provider: &crate::config::ProviderConfig,
) -> anyhow::Result<EndpointOptions> {
    let extra_headers = provider
        .extra_headers
        .iter()
        .map(|(header, value)| {
            ExtraHeader::new(header, value.clone())
                .with_context(|| format!("providers.{name}.extra_headers"))
        })
        .collect::<anyhow::Result<_>>()?;
    let extra_query = provider.extra_query.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    Ok(EndpointOptions { extra_headers, extra_query, ..EndpointOptions::default() })
}

/// The instance providers as `/config setup` offers them, in the chain's order.
pub(crate) fn instance_providers(config: &Config) -> Vec<tomori_discord::InstanceProvider> {
    config
        .providers
        .iter()
        .map(|(name, provider)| tomori_discord::InstanceProvider {
            name: name.clone(),
            model: provider.model.clone(),
        })
        .collect()
}

/// Servers' own models, keys and custom endpoints: reached through a client whose server-scope
/// policy follows the operator's `[net]` settings. Members' own endpoints: through a client
/// whose personal-scope policy is production-strict whatever those settings say.
///
/// # Errors
/// A client cannot be built.
pub(crate) fn server_providers(
    config: &Config,
) -> anyhow::Result<tomori_chat::providers::ServerProviders> {
    let policy = server_policy(config);
    let client =
        client_for(policy, &Timeouts::default()).context("building the server provider client")?;
    // Security: SSRF through members' endpoints. `Policy::new` is production mode; the `[net]`
    // settings never loosen the personal scope.
    let personal = client_for(Policy::new(tomori_net::Scope::Personal), &Timeouts::default())
        .context("building the personal endpoint client")?;
    Ok(tomori_chat::providers::ServerProviders::new(client).with_personal_client(personal))
}

/// The policy that judges endpoints server admins register.
pub(crate) fn server_policy(config: &Config) -> Policy {
    Policy::from_config(tomori_net::Scope::Server, &config.net.to_net())
}

/// Image fetching for vision models: attachment URLs go through tomori-net's media scope
/// (https to public hosts only, whatever the `[net]` settings say); Tenor links' pages through
/// the tool scope under the `[net]` settings.
///
/// # Errors
/// The client cannot be built.
pub(crate) fn media(config: &Config) -> anyhow::Result<tomori_chat::media::Media> {
    let net = config.net.to_net();
    let client = tomori_net::Client::new(Policy::from_config(tomori_net::Scope::Media, &net))
        .context("building the media client")?;
    // Tenor links' pages are read under the tool scope, like a page the model fetches.
    let pages = tomori_net::Client::new(Policy::from_config(tomori_net::Scope::Tool, &net))
        .context("building the link-page client")?;
    Ok(tomori_chat::media::Media::new(client, tomori_chat::media::MediaOptions::default())
        .with_page_client(pages))
}

/// The tool gate with the built-in tools, with `platform` the tools that act through it
/// (`read_file` reading PDFs with the extractor that comes with it), and with `images`
/// `generate_image`.
/// Model-supplied URLs go through tomori-net's tool scope under the operator's `[net]` settings;
/// attachments through the media scope; the operator's own search endpoints through the operator
/// scope.
///
/// # Errors
/// A client that cannot be built, or a built-in tool whose policy the registry refuses (a bug).
pub(crate) fn tool_gate(
    config: &Config,
    store: &tomori_store::Store,
    platform: Option<(std::sync::Arc<dyn tomori_tools::Platform>, tomori_tools::PdfExtractor)>,
    images: Option<std::sync::Arc<dyn tomori_tools::ImageMaker>>,
    videos: Option<std::sync::Arc<dyn tomori_tools::VideoMaker>>,
) -> anyhow::Result<tomori_tools::Gate> {
    let net = config.net.to_net();
    let mut tool_policy = Policy::from_config(tomori_net::Scope::Tool, &net);
    for ip in &config.net.tool_test_loopback {
        // Security: SSRF to loopback services. Only the listed loopback addresses, only for the
        // model's tools, and only when the operator's file names them (test rigs).
        tracing::warn!(%ip, "net.tool_test_loopback: the model's tools may fetch from this loopback address");
        tool_policy = tool_policy.allow_loopback_address_for_tests(*ip);
    }
    let tool_client = tomori_net::Client::new(tool_policy).context("building the tool client")?;
    let operator_client =
        tomori_net::Client::new(Policy::operator()).context("building the search client")?;
    let search = tomori_tools::SearchConfig {
        searxng: config.tools.searxng_url.clone(),
        ..Default::default()
    };
    let mut registry = tomori_tools::builtins(store, tool_client, operator_client, search)
        .context("registering tools")?;
    if let Some((platform, pdf)) = platform {
        let media_client =
            tomori_net::Client::new(Policy::from_config(tomori_net::Scope::Media, &net))
                .context("building the media client")?;
        // Profile pictures are fetched and decoded as the images of messages are.
        let pictures: std::sync::Arc<dyn tomori_tools::PictureLoader> =
            std::sync::Arc::new(media(config)?);
        registry
            .register(tomori_tools::PeekProfilePicture::new(
                std::sync::Arc::clone(&platform),
                pictures,
            ))
            .context("registering peek_profile_picture")?;
        tomori_tools::platform_tools(&mut registry, store, platform, media_client, pdf)
            .context("registering the platform tools")?;
    }
    // Pictures are posted as attachments, which only a platform surface delivers.
    if let Some(images) = images {
        registry
            .register(tomori_tools::GenerateImage::new(images))
            .context("registering generate_image")?;
    }
    // Videos too: files posted with the answer.
    if let Some(videos) = videos {
        registry
            .register(tomori_tools::GenerateVideo::new(videos))
            .context("registering generate_video")?;
    }
    Ok(tomori_tools::Gate::new(registry))
}
