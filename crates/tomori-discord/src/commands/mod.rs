//! Slash commands: their definitions, registration, and the path from an INTERACTION_CREATE to
//! an answer.
//!
//! Each command group lives in its own module (`persona`, `memory`, `server`, `personal`, `bot`,
//! `config`, `provider`, `model`, `tool`, `mcp`, `generate`) with three parts: `definition` (twilight's
//! `CommandBuilder`), `parse` (the interaction's
//! options into a closed `Action` enum, so that nothing downstream reads raw option names) and
//! `run`. Each action also states what it [`Need`]s; [`Commands::handle`] checks that need in one
//! place, [`authorize`], before any action runs.
//!
//! Security: ManageGuild is checked in code at execution time from the permissions Discord
//! computed for this member in this channel (`interaction.member.permissions`);
//! `default_member_permissions` in the definitions is only a UI hint that a server can override.
//! A refusal is an ephemeral message and changes nothing.
//!
//! Direct messages: `/persona`, `/config setup`, `/model` and `/provider` (besides the member's
//! own `/personal` and `/memory personal`) also work in a DM with the bot, where they act on the
//! member's DM tenant (the pseudo-server that holds their direct messages), of which they are the
//! only manager. Everything else answers that it works only in a server.
//!
//! Timing: Discord wants an answer within three seconds. Actions known to be slow defer at once
//! (`DeferredChannelMessageWithSource`, then an edit of the original response); the others answer
//! directly, unless they take longer than [`DEFER_AFTER`], in which case they defer then.
//!
//! Every answer is ephemeral and pings nobody (`allowed_mentions` is empty): the text may quote
//! names and memories that users wrote. Failures reach the user as one short sentence; anything
//! internal is logged with an incident id that the sentence names.

mod args;
mod bot;
pub mod catalogue;
mod config;
mod context;
mod control;
mod generate;
mod mcp;
mod memory;
mod model;
mod overrides;
mod pending;
mod persona;
mod persona_edit;
mod personal;
mod preset;
mod provider;
mod server;
mod setup;
mod tool;
mod upload;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use secrecy::SecretString;
use tomori_core::id::Snowflake;
use tomori_store::credentials::KeyOwner;
use tomori_store::{Store, StoreError};
use twilight_model::application::command::Command;
use twilight_model::application::interaction::InteractionContextType;
use twilight_model::application::interaction::application_command::CommandData;
use twilight_model::application::interaction::modal::ModalInteractionData;
use twilight_model::application::interaction::{Interaction, InteractionData, InteractionType};
use twilight_model::channel::message::{AllowedMentions, MessageFlags};
use twilight_model::http::attachment::Attachment;
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};
use twilight_model::oauth::ApplicationIntegrationType;
use twilight_util::builder::interaction_response::ChannelMessageBuilder;

use tomori_net::Policy;

pub(crate) use self::args::{Args, BadInput, non_empty};
use self::context::text_input;
pub(crate) use self::context::{Caller, Ctx, Need, Outbox, authorize};
pub use self::control::BotControl;

/// How long a command may work before its answer is deferred.
pub const DEFER_AFTER: Duration = Duration::from_millis(2_000);

/// The most characters an answer may have (Discord's message limit, with room to spare).
const MAX_ANSWER_CHARS: usize = 1_900;

/// The text input of the token forms (`/mcp add`, `/personal custom-endpoint add`).
pub(crate) const TOKEN_INPUT: &str = "token";

/// Why registering the commands failed.
#[derive(Debug, thiserror::Error)]
#[error("{what} failed")]
pub struct RegisterError {
    /// Which request.
    what: &'static str,
    /// Why.
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// The slash commands on one REST client; see the module documentation.
pub struct Commands {
    http: Arc<twilight_http::Client>,
    store: Store,
    control: Arc<dyn BotControl>,
    mcp: Option<tomori_tools::mcp::GuildMcp>,
    defer_after: Duration,
    /// Judges the endpoints admins register.
    server_policy: Policy,
    /// Downloads of attachments (card imports) and avatars; `None` when it could not be built.
    media: Option<tomori_net::Client>,
    /// Forms waiting for their submission.
    pending: pending::Pending,
    /// Server documents (`/memory document add`); `None` turns adding them off.
    documents: Option<DocumentIntake>,
    /// Judges the endpoints members register for themselves, and in their DM tenant.
    personal_policy: Policy,
    /// The operator's `[providers.*]`, which `/config setup` offers.
    instance: Vec<InstanceProvider>,
    /// What models cost: the built-in list prices and the operator's `[prices]`.
    prices: tomori_core::pricing::PriceTable,
}

/// A provider of the operator's `tomori.toml` (the admin layer's, which `/config setup` offers).
pub use tomori_admin::config::InstanceProvider;

/// What `/memory document add` needs (the admin layer's).
pub(crate) use tomori_admin::memory::documents::DocumentServices as DocumentIntake;

impl std::fmt::Debug for Commands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commands").field("defer_after", &self.defer_after).finish_non_exhaustive()
    }
}

/// The commands Discord also shows in a direct message with the bot (see the module
/// documentation); the others only in servers.
const IN_DIRECT_MESSAGES: [&str; 7] =
    ["persona", "memory", "personal", "config", "provider", "model", "preset"];

/// Every command, in the order they are registered.
pub fn definitions() -> Vec<Command> {
    let mut commands = vec![
        persona::definition().build(),
        memory::definition().build(),
        server::definition().build(),
        personal::definition().build(),
        bot::definition().build(),
        config::definition().build(),
        provider::definition().build(),
        model::definition().build(),
        preset::definition().build(),
        tool::definition().build(),
        mcp::definition().build(),
        generate::definition().build(),
    ];
    for command in &mut commands {
        // Installed to guilds only: no user-installed commands in other people's DMs and groups.
        command.integration_types = Some(vec![ApplicationIntegrationType::GuildInstall]);
        let mut contexts = vec![InteractionContextType::Guild];
        if IN_DIRECT_MESSAGES.contains(&command.name.as_str()) {
            contexts.push(InteractionContextType::BotDm);
        }
        command.contexts = Some(contexts);
    }
    commands
}

impl Commands {
    /// Registers every command for the application, or for one guild (registered there, they
    /// appear at once; useful while developing). Replaces whatever was registered before.
    /// Returns the names registered.
    ///
    /// # Errors
    /// Discord refused or could not be reached.
    pub async fn register(&self, guild: Option<Snowflake>) -> Result<Vec<String>, RegisterError> {
        fn rest<E: std::error::Error + Send + Sync + 'static>(
            what: &'static str,
        ) -> impl FnOnce(E) -> RegisterError {
            move |e| RegisterError { what, source: Box::new(e) }
        }
        let application = self
            .http
            .current_user_application()
            .await
            .map_err(rest("GET /applications/@me"))?
            .model()
            .await
            .map_err(rest("GET /applications/@me"))?
            .id;
        let commands = definitions();
        let interaction = self.http.interaction(application);
        let registered = match guild {
            Some(guild) => interaction
                .set_guild_commands(crate::id::twilight(guild), &commands)
                .await
                .map_err(rest("PUT guild commands"))?
                .models()
                .await
                .map_err(rest("PUT guild commands"))?,
            None => interaction
                .set_global_commands(&commands)
                .await
                .map_err(rest("PUT global commands"))?
                .models()
                .await
                .map_err(rest("PUT global commands"))?,
        };
        Ok(registered.into_iter().map(|c| c.name).collect())
    }

    /// Handles one interaction: parses it, checks the member's permissions, runs it and answers.
    /// Interactions other than slash commands are ignored.
    pub async fn handle(&self, interaction: Interaction) {
        let data = match (&interaction.kind, &interaction.data) {
            (
                InteractionType::ApplicationCommand,
                Some(InteractionData::ApplicationCommand(data)),
            ) => data,
            (InteractionType::ModalSubmit, Some(InteractionData::ModalSubmit(data))) => {
                self.modal_submitted(&interaction, data).await;
                return;
            }
            (
                InteractionType::ApplicationCommandAutocomplete,
                Some(InteractionData::ApplicationCommand(data)),
            ) => {
                self.autocomplete(&interaction, data).await;
                return;
            }
            _ => {
                tracing::debug!(kind = ?interaction.kind, "interaction ignored");
                return;
            }
        };
        let caller = match Caller::of(&interaction) {
            Ok(caller) => caller,
            Err(reason) => {
                tracing::warn!(reason, "an interaction without a usable user or channel");
                self.answer_now(&interaction, "I can't tell who or where you are; try again.")
                    .await;
                return;
            }
        };
        let invocation = match parse(data) {
            Ok(invocation) => invocation,
            Err(BadInput(text)) => {
                self.answer_now(&interaction, &text).await;
                return;
            }
        };
        let files = Outbox::default();
        let ctx = self.ctx(&caller, &files);
        // Actions that answer with a form: authorised, then the form is the answer.
        let form = match &invocation {
            Invocation::Provider(provider::Action::KeyAdd { .. })
            | Invocation::Personal(
                personal::Action::KeyAdd { .. } | personal::Action::EndpointAdd { .. },
            )
            | Invocation::Mcp(mcp::Action::Add { .. })
            | Invocation::Config(config::Action::Setup { .. }) => Some(&invocation),
            _ => None,
        };
        if let Some(invocation) = form {
            let modal = async {
                authorize(&ctx, invocation.need(), invocation.in_dm()).await?;
                match invocation {
                    Invocation::Config(config::Action::Setup {
                        provider,
                        model,
                        persona,
                        vision,
                    }) => config::setup(&ctx, provider, model.as_deref(), persona, *vision).await,
                    Invocation::Provider(provider::Action::KeyAdd { provider, label }) => {
                        provider::key_modal(&ctx, KeyOwner::Server, provider, label).await
                    }
                    Invocation::Personal(personal::Action::KeyAdd { provider, label }) => {
                        provider::key_modal(&ctx, KeyOwner::Personal, provider, label).await
                    }
                    Invocation::Personal(personal::Action::EndpointAdd {
                        url,
                        model,
                        tools,
                        vision,
                    }) => personal::endpoint_form(&ctx, url, model, *tools, *vision).await,
                    Invocation::Mcp(mcp::Action::Add { name, url }) => {
                        mcp::add_form(&ctx, name, url).await
                    }
                    _ => Err(Failure::BadInput("That command has no form.".to_owned())),
                }
            };
            match modal.await {
                Ok(response) => self.respond(&interaction, &response).await,
                Err(failure) => {
                    self.answer_now(&interaction, &failure.message(invocation.name())).await;
                }
            }
            return;
        }
        // Boxed: the store and engine calls behind it make a large future.
        let work = Box::pin(run(&ctx, &invocation));
        self.deliver(&interaction, work, invocation.slow(), &files, invocation.name()).await;
    }

    /// What an action runs with, for `caller`, attaching files to `files`.
    fn ctx<'a>(&'a self, caller: &'a Caller, files: &'a Outbox) -> Ctx<'a> {
        Ctx {
            store: &self.store,
            control: self.control.as_ref(),
            caller,
            mcp: self.mcp.as_ref(),
            server_policy: &self.server_policy,
            personal_policy: &self.personal_policy,
            instance: &self.instance,
            media: self.media.as_ref(),
            files,
            pending: &self.pending,
            documents: self.documents.as_ref(),
            prices: &self.prices,
        }
    }

    /// Answers with what `work` says: at once when it is done within [`DEFER_AFTER`] (and not
    /// known to be `slow`), else after deferring.
    async fn deliver(
        &self,
        interaction: &Interaction,
        mut work: BoxFuture<'_, String>,
        slow: bool,
        files: &Outbox,
        name: &'static str,
    ) {
        if slow || self.defer_after.is_zero() {
            if self.defer(interaction).await {
                let text = self.with_progress(interaction, work, files).await;
                attach_whole(&text, files);
                self.edit_with(interaction, &text, &files.take()).await;
            }
            return;
        }
        match tokio::time::timeout(self.defer_after, &mut work).await {
            Ok(text) => {
                attach_whole(&text, files);
                self.answer_now_with(interaction, &text, &files.take()).await;
            }
            Err(_) => {
                tracing::debug!(command = name, "deferring a slow command");
                if self.defer(interaction).await {
                    let text = self.with_progress(interaction, work, files).await;
                    attach_whole(&text, files);
                    self.edit_with(interaction, &text, &files.take()).await;
                }
            }
        }
    }

    /// Runs a deferred action to its answer, showing its progress notes meanwhile (each edit is
    /// awaited, so a burst of notes costs one edit at a time, the newest).
    async fn with_progress(
        &self,
        interaction: &Interaction,
        mut work: BoxFuture<'_, String>,
        files: &Outbox,
    ) -> String {
        let mut notes = files.progress_notes();
        loop {
            tokio::select! {
                biased;
                text = &mut work => return text,
                changed = notes.changed() => {
                    if changed.is_err() {
                        return work.await;
                    }
                    let note = notes.borrow_and_update().clone();
                    if let Some(note) = note {
                        self.edit_with(interaction, &note, &[]).await;
                    }
                }
            }
        }
    }

    /// Answers an autocomplete request: `/config setup`'s provider option is the only one that
    /// asks. Anything unexpected gets no choices.
    async fn autocomplete(&self, interaction: &Interaction, data: &CommandData) {
        let typed = match (data.name.as_str(), Args(&data.options).focused()) {
            ("config", Some(("provider", typed))) => Some(typed),
            _ => None,
        };
        let choices = match (typed, Caller::of(interaction)) {
            (Some(typed), Ok(caller)) => {
                let files = Outbox::default();
                let ctx = self.ctx(&caller, &files);
                config::provider_choices(&ctx, typed).await.unwrap_or_else(|failure| {
                    // `message` logs an internal failure; the member just sees no choices.
                    let _ = failure.message("config");
                    Vec::new()
                })
            }
            _ => Vec::new(),
        };
        let response = InteractionResponse {
            kind: InteractionResponseType::ApplicationCommandAutocompleteResult,
            data: Some(InteractionResponseData {
                choices: Some(choices),
                ..InteractionResponseData::default()
            }),
        };
        self.respond(interaction, &response).await;
    }

    async fn answer_now(&self, interaction: &Interaction, text: &str) {
        self.answer_now_with(interaction, text, &[]).await;
    }

    /// Answers with `files` attached (sent as multipart form data when there are any).
    async fn answer_now_with(&self, interaction: &Interaction, text: &str, files: &[Attachment]) {
        let mut response = text_response(text);
        if let Some(data) = response.data.as_mut().filter(|_| !files.is_empty()) {
            data.attachments = Some(files.to_vec());
        }
        self.respond(interaction, &response).await;
    }

    async fn respond(&self, interaction: &Interaction, response: &InteractionResponse) {
        let sent = self
            .http
            .interaction(interaction.application_id)
            .create_response(interaction.id, &interaction.token, response)
            .await;
        if let Err(error) = sent {
            tracing::warn!(%error, "answering an interaction failed");
        }
    }

    /// A submitted modal: a key form, or a token form whose command's options wait in
    /// `pending`. The member is authorised again, as if the command ran now, before anything is
    /// stored.
    async fn modal_submitted(&self, interaction: &Interaction, data: &ModalInteractionData) {
        let Ok(caller) = Caller::of(interaction) else {
            self.answer_now(interaction, "I can't tell who or where you are; try again.").await;
            return;
        };
        let files = Outbox::default();
        let ctx = self.ctx(&caller, &files);
        let secret = |id: &str| {
            text_input(&data.components, id)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| SecretString::from(v.to_owned()))
        };
        let (prefix, nonce) = data.custom_id.split_once('|').unwrap_or((&data.custom_id, ""));
        // Security: a normal user submits someone's form (a replayed or forged submission). A
        // server key or an MCP server needs a manager now, whoever saw the form; a member's own
        // key or endpoint is stored in their own scope; a token form's nonce is valid once, for
        // the member and server it was shown to (`pending`).
        // A server key form is shown in a DM too (`/provider key add`, `/config setup` there),
        // where its key goes to the caller's own DM tenant.
        let (command, need, in_dm, slow) = match prefix {
            mcp::ADD_MODAL => ("mcp", Need::Manager, false, true),
            personal::ENDPOINT_MODAL => ("personal", Need::Anyone, true, false),
            _ => match provider::key_form_owner(&data.custom_id) {
                Some(KeyOwner::Personal) => ("personal", Need::Anyone, true, false),
                _ => ("provider", Need::Manager, true, false),
            },
        };
        let ctx = &ctx;
        let work = Box::pin(async move {
            let outcome = async {
                authorize(ctx, need, in_dm).await?;
                match prefix {
                    mcp::ADD_MODAL => mcp::add_submitted(ctx, nonce, secret(TOKEN_INPUT)).await,
                    personal::ENDPOINT_MODAL => {
                        personal::endpoint_submitted(ctx, nonce, secret(TOKEN_INPUT)).await
                    }
                    _ => {
                        let key = secret("key")
                            .ok_or_else(|| Failure::BadInput("The form had no key.".to_owned()))?;
                        provider::key_submitted(ctx, &data.custom_id, key).await
                    }
                }
            };
            outcome.await.unwrap_or_else(|failure| failure.message(command))
        });
        self.deliver(interaction, work, slow, &files, command).await;
    }

    /// Acknowledges now and answers later; false when Discord refused (nothing more to send).
    async fn defer(&self, interaction: &Interaction) -> bool {
        let mut response = ChannelMessageBuilder::new().flags(MessageFlags::EPHEMERAL).build();
        response.kind = InteractionResponseType::DeferredChannelMessageWithSource;
        let sent = self
            .http
            .interaction(interaction.application_id)
            .create_response(interaction.id, &interaction.token, &response)
            .await;
        if let Err(error) = &sent {
            tracing::warn!(%error, "deferring an interaction failed");
        }
        sent.is_ok()
    }

    /// Edits the deferred answer, adding `files`.
    async fn edit_with(&self, interaction: &Interaction, text: &str, files: &[Attachment]) {
        let text = clip(text);
        let none = AllowedMentions::default();
        let client = self.http.interaction(interaction.application_id);
        let mut update = client
            .update_response(&interaction.token)
            .content(Some(&text))
            .allowed_mentions(Some(&none));
        if !files.is_empty() {
            update = update.attachments(files);
        }
        let sent = update.await;
        if let Err(error) = sent {
            tracing::warn!(%error, "editing an interaction's answer failed");
        }
    }
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Invocation {
    Persona(persona::Action),
    Memory(memory::Action),
    Server(server::Action),
    Personal(personal::Action),
    Bot(bot::Action),
    Config(config::Action),
    Provider(provider::Action),
    Model(model::Action),
    Preset(preset::Action),
    Tool(tool::Action),
    Mcp(mcp::Action),
    Generate(generate::Request),
}

impl Invocation {
    pub(crate) fn need(&self) -> Need {
        match self {
            Self::Persona(action) => persona::need(action),
            Self::Memory(action) => memory::need(action),
            Self::Server(action) => server::need(action),
            Self::Personal(action) => personal::need(action),
            Self::Bot(action) => bot::need(action),
            Self::Config(action) => config::need(action),
            Self::Provider(action) => provider::need(action),
            Self::Model(action) => model::need(action),
            Self::Preset(action) => preset::need(action),
            Self::Tool(action) => tool::need(action),
            Self::Mcp(action) => mcp::need(action),
            Self::Generate(request) => generate::need(request),
        }
    }

    /// Whether it also works in a direct message, on the caller's DM tenant (actions that need
    /// nothing but the caller work there anyway).
    pub(crate) fn in_dm(&self) -> bool {
        match self {
            Self::Persona(_)
            | Self::Model(_)
            | Self::Provider(_)
            | Self::Personal(_)
            | Self::Preset(_) => true,
            Self::Config(action) => config::in_dm(action),
            Self::Memory(action) => memory::need(action) == Need::Anyone,
            Self::Server(_) | Self::Bot(_) | Self::Tool(_) | Self::Mcp(_) | Self::Generate(_) => {
                false
            }
        }
    }

    /// Known to take longer than Discord's window: defer at once.
    fn slow(&self) -> bool {
        matches!(
            self,
            Self::Bot(bot::Action::Respond { .. } | bot::Action::Generate(_))
                | Self::Generate(_)
                | Self::Tool(tool::Action::Prompt { .. } | tool::Action::Estimate)
                | Self::Memory(memory::Action::DocumentAdd { .. })
        )
    }

    /// The command's name, for logs.
    fn name(&self) -> &'static str {
        match self {
            Self::Persona(_) => "persona",
            Self::Memory(_) => "memory",
            Self::Server(_) => "server",
            Self::Personal(_) => "personal",
            Self::Bot(_) => "bot",
            Self::Config(_) => "config",
            Self::Provider(_) => "provider",
            Self::Model(_) => "model",
            Self::Preset(_) => "preset",
            Self::Tool(_) => "tool",
            Self::Mcp(_) => "mcp",
            Self::Generate(_) => "generate",
        }
    }
}

/// Authorizes and runs an invocation; the answer's text either way.
async fn run(ctx: &Ctx<'_>, invocation: &Invocation) -> String {
    let outcome = async {
        authorize(ctx, invocation.need(), invocation.in_dm()).await?;
        match invocation {
            Invocation::Persona(action) => persona::run(ctx, action).await,
            Invocation::Memory(action) => memory::run(ctx, action).await,
            Invocation::Server(action) => server::run(ctx, action).await,
            Invocation::Personal(action) => personal::run(ctx, action).await,
            Invocation::Bot(action) => bot::run(ctx, action).await,
            Invocation::Config(action) => config::run(ctx, action).await,
            Invocation::Provider(action) => provider::run(ctx, action).await,
            Invocation::Model(action) => model::run(ctx, action).await,
            Invocation::Preset(action) => preset::run(ctx, action).await,
            Invocation::Tool(action) => tool::run(ctx, action).await,
            Invocation::Mcp(action) => mcp::run(ctx, action).await,
            Invocation::Generate(request) => generate::run_request(ctx, request).await,
        }
    }
    .await;
    outcome.unwrap_or_else(|failure| failure.message(invocation.name()))
}

/// Parses a slash command's data.
///
/// # Errors
/// An unknown command or options that do not fit it (a stale registration, or a client that
/// sent what Discord should not have let through).
pub(crate) fn parse(data: &CommandData) -> Result<Invocation, BadInput> {
    let args = Args(&data.options);
    match data.name.as_str() {
        "persona" => persona::parse(args, data.resolved.as_ref()).map(Invocation::Persona),
        "memory" => memory::parse(args, data.resolved.as_ref()).map(Invocation::Memory),
        "server" => server::parse(args).map(Invocation::Server),
        "personal" => personal::parse(args).map(Invocation::Personal),
        "bot" => bot::parse(args).map(Invocation::Bot),
        "config" => config::parse(args, data.resolved.as_ref()).map(Invocation::Config),
        "provider" => provider::parse(args, data.resolved.as_ref()).map(Invocation::Provider),
        "model" => model::parse(args, data.resolved.as_ref()).map(Invocation::Model),
        "preset" => preset::parse(args, data.resolved.as_ref()).map(Invocation::Preset),
        "tool" => tool::parse(args).map(Invocation::Tool),
        "mcp" => mcp::parse(args).map(Invocation::Mcp),
        "generate" => generate::parse(args).map(Invocation::Generate),
        _ => Err(BadInput::unknown()),
    }
}

/// Why an action did not happen.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The input does not work (beyond what the option types catch).
    BadInput(String),
    /// The command needs a server.
    ServerOnly,
    /// The member lacks the named permission.
    Refused(&'static str),
    /// The store said no, or failed.
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<tomori_admin::AdminError> for Failure {
    fn from(error: tomori_admin::AdminError) -> Self {
        match error {
            tomori_admin::AdminError::BadInput(text) => Self::BadInput(text),
            tomori_admin::AdminError::ServerOnly => Self::ServerOnly,
            tomori_admin::AdminError::Refused(permission) => Self::Refused(permission),
            tomori_admin::AdminError::Store(error) => Self::Store(error),
        }
    }
}

impl Failure {
    /// The sentence the user sees; internal failures are logged with the incident id it names.
    fn message(self, command: &'static str) -> String {
        match self {
            Self::BadInput(text) => text,
            Self::ServerOnly => "This works only in a server. In a direct message with me, \
                 /persona, /config setup, /model and /provider set up our own conversations, and \
                 /personal and /memory personal are yours everywhere."
                .to_owned(),
            Self::Refused(permission) => {
                format!("You need the {permission} permission to do that; nothing was changed.")
            }
            Self::Store(StoreError::NotFound(what)) => format!("No such {what}."),
            Self::Store(StoreError::Conflict(what)) => format!("A {what} already exists."),
            Self::Store(StoreError::LimitReached { what, limit }) => {
                format!("Limit reached: at most {limit} {what}.")
            }
            Self::Store(StoreError::Invalid { field, reason }) => {
                format!("Invalid {field}: {reason}.")
            }
            Self::Store(error) => {
                let incident = incident_id();
                let source = std::error::Error::source(&error).map(ToString::to_string);
                tracing::error!(%incident, command, %error, ?source, "a command failed");
                format!(
                    "Something went wrong on my side (incident {incident}); nothing was changed."
                )
            }
        }
    }
}

fn incident_id() -> String {
    let mut bytes = [0_u8; 4];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An answer with `text`: ephemeral, shortened to fit, pinging nobody.
pub(crate) fn text_response(text: &str) -> InteractionResponse {
    ChannelMessageBuilder::new()
        .content(clip(text))
        .flags(MessageFlags::EPHEMERAL)
        .allowed_mentions(AllowedMentions::default())
        .build()
}

/// An answer too long for one message is clipped to fit ([`clip`]) and, unless the action
/// attached a file of its own, sent whole as `answer.txt` beside it.
fn attach_whole(text: &str, files: &Outbox) {
    if text.chars().count() > MAX_ANSWER_CHARS && !files.has_files() {
        files.attach("answer.txt".to_owned(), text.as_bytes().to_vec());
    }
}

/// Shortens an answer to fit one message, at a line break when there is one.
fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_ANSWER_CHARS {
        return text.to_owned();
    }
    let room = MAX_ANSWER_CHARS - 40;
    let mut out = String::new();
    let mut lines = text.lines();
    let mut skipped = 0_usize;
    for line in lines.by_ref() {
        let used = out.chars().count();
        if used + line.chars().count() + 1 > room {
            // The line that does not fit is shown as far as it does (a long prompt is one line),
            // the rest counted.
            let left = room.saturating_sub(used + 2);
            if left >= 80 {
                out.extend(line.chars().take(left));
                out.push_str("…\n");
            } else {
                skipped += 1;
            }
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    skipped += lines.count();
    if skipped == 0 {
        out.pop();
        return out;
    }
    out.push_str(&format!("…and {skipped} more lines."));
    out
}

#[cfg(test)]
mod tests;
