//! Building [`Commands`]: what they answer through and with, and the operator's choices.

use std::sync::Arc;
use std::time::Duration;

use tomori_net::Policy;
use tomori_store::Store;

use super::{BotControl, Commands, DEFER_AFTER, DocumentIntake, InstanceProvider, pending};

impl Commands {
    /// Commands that answer through `http`, change `store`, and reach the engine through
    /// `control`.
    pub fn new(
        http: Arc<twilight_http::Client>,
        store: Store,
        control: Arc<dyn BotControl>,
    ) -> Self {
        // Security: SSRF through attachment URLs. Downloads go through tomori-net's media
        // policy: https to public addresses only, whatever the network mode.
        let media = tomori_net::Client::new(Policy::new(tomori_net::Scope::Media))
            .inspect_err(|error| tracing::warn!(%error, "no media client; card import is off"))
            .ok();
        Self {
            http,
            store,
            control,
            mcp: None,
            defer_after: DEFER_AFTER,
            server_policy: Policy::new(tomori_net::Scope::Server),
            media,
            pending: pending::Pending::default(),
            documents: None,
            // Security: SSRF through members' endpoints. Anyone may register one (in a DM, any
            // member of any server the bot is in), so the personal scope applies,
            // production-strict whatever the operator's [net] settings: https to public
            // addresses only.
            personal_policy: Policy::new(tomori_net::Scope::Personal),
            instance: Vec::new(),
            prices: tomori_core::pricing::PriceTable::built_in(),
        }
    }

    /// Prices `/tool estimate` uses: the built-in list prices with the operator's `[prices]`.
    #[must_use]
    pub fn with_prices(mut self, prices: tomori_core::pricing::PriceTable) -> Self {
        self.prices = prices;
        self
    }

    /// Lets `/config setup` offer the operator's instance providers (`[providers.*]`), which
    /// need no key from the server.
    #[must_use]
    pub fn with_instance_providers(mut self, providers: Vec<InstanceProvider>) -> Self {
        self.instance = providers;
        self
    }

    /// Replaces the policy that judges members' own endpoints and DM tenants' endpoints (tests:
    /// one that may reach loopback).
    #[must_use]
    pub fn with_personal_policy(mut self, policy: Policy) -> Self {
        self.personal_policy = policy;
        self
    }

    /// Lets `/memory document add` embed and store documents through `documents` (the engine's
    /// own, so both share the store's vector cache).
    #[must_use]
    pub fn with_documents(
        mut self,
        documents: tomori_chat::documents::Documents,
        pdf: tomori_tools::PdfExtractor,
    ) -> Self {
        self.documents = Some(DocumentIntake { documents, pdf });
        self
    }

    /// Lets `/mcp` manage the guilds' remote MCP servers through `mcp` (the same source the
    /// tool gate uses, so changes reach the next turn). Without it `/mcp` says MCP is
    /// unavailable.
    #[must_use]
    pub fn with_mcp(mut self, mcp: tomori_tools::mcp::GuildMcp) -> Self {
        self.mcp = Some(mcp);
        self
    }

    /// The policy that judges endpoints admins register (the operator's `[net]` settings for
    /// the server scope).
    #[must_use]
    pub fn with_server_policy(mut self, policy: Policy) -> Self {
        self.server_policy = policy;
        self
    }

    /// Replaces the client that downloads attachments and avatars (tests: one that may reach
    /// loopback).
    #[must_use]
    pub fn media_client(mut self, client: tomori_net::Client) -> Self {
        self.media = Some(client);
        self
    }

    /// Overrides [`DEFER_AFTER`]; zero defers every command at once (tests).
    #[must_use]
    pub fn defer_after(mut self, after: Duration) -> Self {
        self.defer_after = after;
        self
    }
}
