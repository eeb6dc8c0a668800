//! The web dashboard: a second front door on the admin layer, beside the slash commands.
//!
//! A member signs in with Discord (OAuth2 code flow with PKCE and `state`, [`auth`]); the
//! session lives in this process ([`session`]) and the browser keeps only its id. Every page a
//! member sees about a server is read, and every change made, through `tomori_admin` with a
//! [`tomori_admin::Caller`] whose grants are read from Discord for that member: at the time of
//! a change, freshly ([`Dashboard::caller_for_change`]), never from the login.
//!
//! Pages are rendered on the server with maud, which escapes everything it interpolates; there
//! is no script at all, so the Content-Security-Policy forbids every script. Forms post back
//! here and are answered with a redirect to the page (post, redirect, get), carrying a one-time
//! message. Every form carries a token good for one submission of one session ([`forms`]).

mod auth;
mod discord;
mod forms;
mod pages;
pub mod playground;
mod session;

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use secrecy::SecretString;
use tomori_admin::mcp::GuildMcp;
use tomori_admin::memory::documents::DocumentServices;
use tomori_admin::provider::UrlPolicies;
use tomori_admin::{Caller, Grants, Store};
use tomori_chat::engine::Engine;
use tomori_chat::media::{Media, Uploads};
use tomori_core::id::Snowflake;
use tomori_net::{FetchError, Policy, Scope as NetScope, Url};

use self::discord::{DiscordApi, DiscordError, Guild};
use self::playground::WebSurface;
use self::session::{Member, Sessions};

/// What the dashboard needs from the binary.
#[derive(Debug)]
pub struct DashboardConfig {
    /// Where members reach the dashboard (`[web] public_url`); the OAuth2 redirect is under it.
    pub public_url: Url,
    /// The application's OAuth2 client id.
    pub client_id: u64,
    /// The application's OAuth2 client secret.
    pub client_secret: SecretString,
    /// Discord's REST API base (`[discord] api_base`).
    pub api_base: Url,
    /// The bot's token, to list the servers the bot is in.
    pub bot_token: SecretString,
    /// The policy that judges endpoints server admins register (the operator's `[net]`
    /// settings applied), as the slash commands use it.
    pub server_policy: Policy,
}

/// Why the dashboard cannot start.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// `public_url` is plain http on a host other than loopback: the session cookie would cross
    /// the network in clear.
    #[error(
        "web.public_url: {0} is http on a host other than loopback; the dashboard needs https \
         there (put a TLS-terminating proxy in front)"
    )]
    Insecure(String),
    /// The HTTP client could not be built.
    #[error("the dashboard's HTTP client: {0}")]
    Client(#[from] FetchError),
}

/// The dashboard's state: the store, Discord, and the sessions.
#[derive(Clone)]
pub struct Dashboard(Arc<Inner>);

struct Inner {
    store: Store,
    discord: DiscordApi,
    sessions: Sessions,
    public_url: Url,
    secure_cookies: bool,
    server_policy: Policy,
    personal_policy: Policy,
    playground: OnceLock<Playground>,
    services: OnceLock<Services>,
    /// Turns true when the listener shuts down: open event streams end then, so a graceful
    /// shutdown does not wait for pages that stay open.
    closing: tokio::sync::watch::Sender<bool>,
    jobs: std::sync::Mutex<std::collections::HashMap<(u64, Snowflake), Job>>,
}

/// What documents, MCP servers and avatars need, handed over once the bot is connected.
pub struct Services {
    /// Reading and embedding documents.
    pub documents: DocumentServices,
    /// The guilds' MCP servers, as the tool gate uses them.
    pub mcp: GuildMcp,
    /// The bounded image decoder (avatars).
    pub media: Media,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").finish_non_exhaustive()
    }
}

/// A background job a member started (adding a document), as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Job {
    /// Where it is, in words.
    pub(crate) text: String,
    /// It ended (in success or failure).
    pub(crate) done: bool,
}

/// Background jobs kept at most (the oldest finished ones go first).
const MAX_JOBS: usize = 1_000;

/// The engine the playground talks to, its surface, and where the files members attach wait
/// for the engine's media layer.
#[derive(Clone)]
pub(crate) struct Playground {
    pub(crate) engine: Engine<WebSurface>,
    pub(crate) surface: WebSurface,
    pub(crate) uploads: Arc<Uploads>,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard").field("public_url", &self.0.public_url.as_str()).finish()
    }
}

/// Whether `url` is served to this machine alone.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl Dashboard {
    /// The dashboard over `store`.
    ///
    /// # Errors
    /// An insecure public URL, or the HTTP client failing to build.
    pub fn new(config: DashboardConfig, store: Store) -> Result<Self, DashboardError> {
        let https = config.public_url.scheme() == "https";
        // Security: session theft. Outside loopback the cookie is `Secure` and the dashboard is
        // https only.
        if !https && !is_loopback(&config.public_url) {
            return Err(DashboardError::Insecure(config.public_url.to_string()));
        }
        let discord = DiscordApi::new(
            config.api_base,
            config.client_id,
            config.client_secret,
            config.bot_token,
        )?;
        Ok(Self(Arc::new(Inner {
            store,
            discord,
            sessions: Sessions::default(),
            public_url: config.public_url,
            secure_cookies: https,
            server_policy: config.server_policy,
            personal_policy: Policy::new(NetScope::Personal),
            playground: OnceLock::new(),
            services: OnceLock::new(),
            closing: tokio::sync::watch::Sender::new(false),
            jobs: std::sync::Mutex::default(),
        })))
    }

    /// Gives the dashboard what documents, MCP servers and avatars need (once the bot is
    /// connected): the same services the slash commands and the engine use.
    pub fn set_services(&self, services: Services) {
        let _ = self.0.services.set(services);
    }

    pub(crate) fn documents(&self) -> Option<DocumentServices> {
        self.0.services.get().map(|s| s.documents.clone())
    }

    pub(crate) fn mcp(&self) -> Option<&GuildMcp> {
        self.0.services.get().map(|s| &s.mcp)
    }

    pub(crate) fn media(&self) -> Option<&Media> {
        self.0.services.get().map(|s| &s.media)
    }

    /// The job `user` started in `guild`, if any.
    pub(crate) fn job(&self, guild: u64, user: Snowflake) -> Option<Job> {
        let jobs = self.0.jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        jobs.get(&(guild, user)).cloned()
    }

    pub(crate) fn set_job(&self, guild: u64, user: Snowflake, job: Job) {
        let mut jobs = self.0.jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if jobs.len() >= MAX_JOBS && !jobs.contains_key(&(guild, user)) {
            jobs.retain(|_, j| !j.done);
        }
        if jobs.len() < MAX_JOBS || jobs.contains_key(&(guild, user)) {
            jobs.insert((guild, user), job);
        }
    }

    /// Gives the playground its engine (once the bot is connected): an engine of its own on
    /// `surface`, built like the Discord engine, over the same store and providers, whose media
    /// layer reads the files members attach from `uploads`
    /// ([`tomori_chat::media::Media::with_uploads`]).
    pub fn set_playground(
        &self,
        engine: Engine<WebSurface>,
        surface: WebSurface,
        uploads: Arc<Uploads>,
    ) {
        let _ = self.0.playground.set(Playground { engine, surface, uploads });
    }

    /// Ends every open event stream (the listener is shutting down).
    pub fn close(&self) {
        self.0.closing.send_replace(true);
    }

    /// Resolves once [`Self::close`] was called.
    pub(crate) fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut closing = self.0.closing.subscribe();
        async move {
            let _ = closing.wait_for(|closed| *closed).await;
        }
    }

    pub(crate) fn playground(&self) -> Option<&Playground> {
        self.0.playground.get()
    }

    /// An absolute URL of the dashboard's `path` (which starts with `/`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.0.public_url.as_str().trim_end_matches('/'))
    }

    /// The path prefix of the public URL (empty at the root), for links and redirects.
    pub(crate) fn base(&self) -> &str {
        self.0.public_url.path().trim_end_matches('/')
    }

    /// The dashboard's origin, which a form's `Origin` header must name.
    fn origin(&self) -> String {
        self.0.public_url.origin().ascii_serialization()
    }

    /// The URL policies for endpoints registered here, as the slash commands have them.
    pub(crate) fn policies(&self) -> UrlPolicies<'_> {
        UrlPolicies { server: &self.0.server_policy, personal: &self.0.personal_policy }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.0.store
    }

    pub(crate) fn sessions(&self) -> &Sessions {
        &self.0.sessions
    }

    pub(crate) fn discord(&self) -> &DiscordApi {
        &self.0.discord
    }

    /// The servers `member` shares with the bot, with their permissions there as Discord reports
    /// them now.
    pub(crate) async fn shared_guilds(&self, member: &Member) -> Result<Vec<Guild>, DiscordError> {
        let theirs = self.0.discord.member_guilds(&member.access_token).await?;
        let bots = self.0.discord.bot_guilds().await?;
        Ok(theirs.into_iter().filter(|g| bots.iter().any(|b| b.id == g.id)).collect())
    }

    /// The caller for `member` acting in `guild`, with the grants Discord reports for them
    /// there at this moment; `None` when they do not share that server with the bot.
    ///
    /// # Errors
    /// Discord failing to answer: the action does not run.
    pub(crate) async fn caller_for_change(
        &self,
        member: &Member,
        guild: Snowflake,
    ) -> Result<Option<Caller>, DiscordError> {
        // Security: a normal user runs admin actions. Manage Server is read from Discord for this
        // member now, for this request, never remembered from the login or an earlier page.
        let shared = self.shared_guilds(member).await?;
        Ok(shared.iter().find(|g| g.snowflake() == Some(guild)).map(|g| Caller {
            user: member.user,
            guild: Some(guild),
            // Server-wide actions name no channel; the guild's id stands in, as it does for the
            // server's default channel on Discord.
            channel: guild,
            grants: g.grants(),
        }))
    }

    /// The caller for `member`'s own data: their DM tenant, nothing granted.
    pub(crate) fn caller_for_self(member: &Member) -> Caller {
        Caller { user: member.user, guild: None, channel: member.user, grants: Grants::default() }
    }

    /// A `Set-Cookie` value for `name`.
    pub(crate) fn cookie(&self, name: &str, value: &str, path: &str, max_age: u64) -> String {
        let secure = if self.0.secure_cookies { "; Secure" } else { "" };
        let path = format!("{}{path}", self.base());
        let path = if path.is_empty() { "/".to_owned() } else { path };
        format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
    }
}

/// The dashboard's routes; the binary nests them under the public URL's path.
pub fn router(dashboard: Dashboard) -> Router {
    let routes = Router::new()
        .route("/", get(pages::home))
        .route("/static/style.css", get(pages::stylesheet))
        .route("/static/playground.js", get(pages::script))
        .route("/login", get(auth::login))
        .route("/auth/callback", get(auth::callback))
        .route("/logout", post(auth::logout))
        .route("/servers", get(pages::servers::list))
        .route("/servers/{guild}", get(pages::servers::overview))
        .route("/servers/{guild}/feature", post(pages::servers::feature))
        .route("/servers/{guild}/quota", post(pages::servers::quota))
        .route("/servers/{guild}/channel", post(pages::servers::channel))
        .route(
            "/servers/{guild}/personas",
            get(pages::personas::list).post(pages::personas::create),
        )
        .route("/servers/{guild}/personas/remove", post(pages::personas::remove))
        .route(
            "/servers/{guild}/personas/import",
            post(pages::personas::import)
                .layer(DefaultBodyLimit::max(pages::personas::MAX_UPLOAD_BYTES)),
        )
        .route("/servers/{guild}/personas/export", get(pages::personas::export))
        .route(
            "/servers/{guild}/personas/avatar",
            post(pages::persona_edit::avatar)
                .layer(DefaultBodyLimit::max(pages::persona_edit::MAX_AVATAR_UPLOAD)),
        )
        .route("/avatars/{file}", get(pages::persona_edit::serve_avatar))
        .route(
            "/servers/{guild}/personas/edit",
            get(pages::persona_edit::page).post(pages::persona_edit::save),
        )
        .route("/servers/{guild}/memories", get(pages::memories::list).post(pages::memories::add))
        .route("/servers/{guild}/memories/remove", post(pages::memories::remove))
        .route("/servers/{guild}/memories/edit", post(pages::memories::edit))
        .route("/servers/{guild}/memories/export", post(pages::memories::export))
        .route("/servers/{guild}/models", get(pages::models::page).post(pages::models::choose))
        .route("/servers/{guild}/models/reset", post(pages::models::reset))
        .route("/servers/{guild}/models/keys", post(pages::models::add_key))
        .route("/servers/{guild}/models/keys/remove", post(pages::models::remove_key))
        .route("/servers/{guild}/models/endpoints", post(pages::models::add_endpoint))
        .route("/servers/{guild}/audit", get(pages::audit::page))
        .route(
            "/servers/{guild}/documents",
            get(pages::documents::page)
                .post(pages::documents::upload)
                .layer(DefaultBodyLimit::max(pages::documents::MAX_UPLOAD_BYTES)),
        )
        .route("/servers/{guild}/documents/remove", post(pages::documents::remove))
        .route("/servers/{guild}/mcp", get(pages::mcp::page).post(pages::mcp::add))
        .route("/servers/{guild}/mcp/toggle", post(pages::mcp::toggle))
        .route("/servers/{guild}/mcp/remove", post(pages::mcp::remove))
        .route(
            "/servers/{guild}/playground",
            get(pages::playground::page)
                .post(pages::playground::say)
                .layer(DefaultBodyLimit::max(pages::playground::MAX_FORM_BYTES)),
        )
        .route("/servers/{guild}/playground/events", get(pages::playground::events))
        .route("/me", get(pages::member::page))
        .route("/me/privacy", post(pages::member::privacy))
        .route("/me/memories/remove", post(pages::member::remove_memory))
        .route("/me/export", post(pages::member::export))
        .route("/me/delete", post(pages::member::delete))
        .layer(middleware::from_fn_with_state(dashboard.clone(), guard))
        .with_state(dashboard.clone());
    match dashboard.base() {
        "" => routes,
        base => Router::new().nest(base, routes),
    }
}

/// The Content-Security-Policy of every page: nothing but this origin's stylesheet, images and
/// scripts (the playground's, a file; no inline script runs), and requests to this origin only.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                   script-src 'self'; connect-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// Refuses cross-site writes, and sets the security headers on every answer.
async fn guard(State(dashboard): State<Dashboard>, request: Request, next: Next) -> Response {
    // Security: CSRF. A form posted from another site carries its Origin; such a request is
    // refused before any handler runs (the form token is the second, independent check).
    if request.method() == axum::http::Method::POST {
        let origin = request.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok());
        let site = request.headers().get("sec-fetch-site").and_then(|o| o.to_str().ok());
        let foreign = origin.is_some_and(|o| o != dashboard.origin())
            || site.is_some_and(|s| s == "cross-site");
        if foreign {
            return pages::refusal(
                &dashboard,
                StatusCode::FORBIDDEN,
                "This form was sent from another site; nothing was changed.",
            );
        }
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // Security: hostile content in pages. No inline script may run, nothing loads from
    // elsewhere, and no other site may frame the dashboard.
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Nothing of the dashboard's URLs (the OAuth2 code in the callback's) leaves in a Referer
    // to another origin. Not `no-referrer`: under it browsers send `Origin: null` with forms,
    // which the check above must refuse.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
