//! Slash commands: their definitions, registration, and the path from an INTERACTION_CREATE to
//! an answer.
//!
//! Each command group lives in its own module (`persona`, `memory`, `server`, `personal`, `bot`,
//! `config`, `provider`, `model`, `tool`, `mcp`) with three parts: `definition` (twilight's
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
//! Timing: Discord wants an answer within three seconds. Actions known to be slow defer at once
//! (`DeferredChannelMessageWithSource`, then an edit of the original response); the others answer
//! directly, unless they take longer than [`DEFER_AFTER`], in which case they defer then.
//!
//! Every answer is ephemeral and pings nobody (`allowed_mentions` is empty): the text may quote
//! names and memories that users wrote. Failures reach the user as one short sentence; anything
//! internal is logged with an incident id that the sentence names.

mod bot;
pub mod catalogue;
mod config;
mod mcp;
mod memory;
mod model;
mod pending;
mod persona;
mod persona_edit;
mod personal;
mod provider;
mod server;
mod tool;
mod upload;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::BoxFuture;
use secrecy::SecretString;
use tomori_chat::engine::Engine;
use tomori_chat::surface::{ChatSurface, Inbound};
use tomori_core::id::Snowflake;
use tomori_core::settings::Feature;
use tomori_store::audit::Actor;
use tomori_store::credentials::KeyOwner;
use tomori_store::{Scope, Store, StoreError, settings};
use twilight_model::application::command::Command;
use twilight_model::application::interaction::application_command::{
    CommandData, CommandDataOption, CommandOptionValue,
};
use twilight_model::application::interaction::modal::{
    ModalInteractionComponent, ModalInteractionData,
};
use twilight_model::application::interaction::{Interaction, InteractionData, InteractionType};
use twilight_model::channel::message::{AllowedMentions, MessageFlags};
use twilight_model::guild::Permissions;
use twilight_model::http::attachment::Attachment;
use twilight_model::http::interaction::{InteractionResponse, InteractionResponseType};
use twilight_util::builder::interaction_response::ChannelMessageBuilder;

use tomori_net::Policy;

use crate::id::snowflake;
use crate::permissions::is_manager;

/// How long a command may work before its answer is deferred.
pub const DEFER_AFTER: Duration = Duration::from_millis(2_000);

/// The most characters an answer may have (Discord's message limit, with room to spare).
const MAX_ANSWER_CHARS: usize = 1_900;

/// The text input of the token forms (`/mcp add`, `/personal custom-endpoint add`).
pub(crate) const TOKEN_INPUT: &str = "token";

/// What the commands may ask of the conversation engine.
pub trait BotControl: Send + Sync + 'static {
    /// Ends the channel's running turn and clears its queue; false when nothing was running.
    fn kill(&self, channel: Snowflake) -> bool;

    /// Answers in `message`'s channel as the named persona (when `None`, the channel's persona or
    /// the main persona),
    /// whatever the trigger rules say; the engine's privacy, cooldown and quota checks still
    /// apply. Returns once the turn is decided.
    fn respond(&self, message: Inbound, persona: Option<String>) -> BoxFuture<'_, ()>;

    /// `/tool refresh`: the channel's history starts now.
    fn refresh(&self, channel: Snowflake);

    /// The context the main persona would be given if asked to answer `message` now.
    fn prompt_snapshot(&self, message: Inbound) -> BoxFuture<'_, Option<String>>;
}

impl<S: ChatSurface> BotControl for Engine<S> {
    fn kill(&self, channel: Snowflake) -> bool {
        Engine::kill(self, channel)
    }

    fn respond(&self, message: Inbound, persona: Option<String>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // An unknown name (here: none) makes the engine use the channel's persona, else the
            // main persona.
            self.respond_as(message, persona.as_deref().unwrap_or_default()).await;
        })
    }

    fn refresh(&self, channel: Snowflake) {
        Engine::refresh(self, channel);
    }

    fn prompt_snapshot(&self, message: Inbound) -> BoxFuture<'_, Option<String>> {
        Box::pin(Engine::prompt_snapshot(self, message))
    }
}

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
    documents: Option<tomori_chat::documents::Documents>,
    /// PDF parses of uploaded documents running at once (see `tomori_tools::extract_pdf`).
    pdf_slots: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Commands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commands").field("defer_after", &self.defer_after).finish_non_exhaustive()
    }
}

/// Every command, in the order they are registered.
pub fn definitions() -> Vec<Command> {
    vec![
        persona::definition().build(),
        memory::definition().build(),
        server::definition().build(),
        personal::definition().build(),
        bot::definition().build(),
        config::definition().build(),
        provider::definition().build(),
        model::definition().build(),
        tool::definition().build(),
        mcp::definition().build(),
    ]
}

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
            pdf_slots: Arc::new(tokio::sync::Semaphore::new(tomori_tools::PDF_SLOTS)),
        }
    }

    /// Lets `/memory document add` embed and store documents through `documents` (the engine's
    /// own, so both share the store's vector cache).
    #[must_use]
    pub fn with_documents(mut self, documents: tomori_chat::documents::Documents) -> Self {
        self.documents = Some(documents);
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
        let ctx = Ctx {
            store: &self.store,
            control: self.control.as_ref(),
            caller: &caller,
            mcp: self.mcp.as_ref(),
            server_policy: &self.server_policy,
            media: self.media.as_ref(),
            files: &files,
            pending: &self.pending,
            documents: self.documents.as_ref(),
            pdf_slots: &self.pdf_slots,
        };
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
                authorize(&ctx, invocation.need()).await?;
                match invocation {
                    Invocation::Config(config::Action::Setup {
                        provider,
                        model,
                        persona,
                        vision,
                    }) => config::setup(&ctx, provider, model, persona, *vision).await,
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
                let text = work.await;
                self.edit_with(interaction, &text, &files.take()).await;
            }
            return;
        }
        match tokio::time::timeout(self.defer_after, &mut work).await {
            Ok(text) => self.answer_now_with(interaction, &text, &files.take()).await,
            Err(_) => {
                tracing::debug!(command = name, "deferring a slow command");
                if self.defer(interaction).await {
                    let text = work.await;
                    self.edit_with(interaction, &text, &files.take()).await;
                }
            }
        }
    }

    async fn answer_now(&self, interaction: &Interaction, text: &str) {
        self.answer_now_with(interaction, text, &[]).await;
    }

    /// Answers with `files` attached (sent as multipart form data when there are any).
    async fn answer_now_with(&self, interaction: &Interaction, text: &str, files: &[Attachment]) {
        let mut response = ChannelMessageBuilder::new()
            .content(clip(text))
            .flags(MessageFlags::EPHEMERAL)
            .allowed_mentions(AllowedMentions::default());
        if !files.is_empty() {
            response = response.attachments(files.to_vec());
        }
        self.respond(interaction, &response.build()).await;
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
        let ctx = Ctx {
            store: &self.store,
            control: self.control.as_ref(),
            caller: &caller,
            mcp: self.mcp.as_ref(),
            server_policy: &self.server_policy,
            media: self.media.as_ref(),
            files: &files,
            pending: &self.pending,
            documents: self.documents.as_ref(),
            pdf_slots: &self.pdf_slots,
        };
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
        let (command, need, slow) = match prefix {
            mcp::ADD_MODAL => ("mcp", Need::Manager, true),
            personal::ENDPOINT_MODAL => ("personal", Need::Anyone, false),
            _ => match provider::key_form_owner(&data.custom_id) {
                Some(KeyOwner::Personal) => ("personal", Need::Anyone, false),
                _ => ("provider", Need::Manager, false),
            },
        };
        let ctx = &ctx;
        let work = Box::pin(async move {
            let outcome = async {
                authorize(ctx, need).await?;
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

/// Who used a command, and where.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The interaction's id (a synthetic message id for `/bot respond`).
    pub(crate) interaction: Snowflake,
    pub(crate) user: Snowflake,
    pub(crate) name: String,
    pub(crate) guild: Option<Snowflake>,
    pub(crate) channel: Snowflake,
    /// The parent channel, when the command was used in a thread.
    pub(crate) parent_channel: Option<Snowflake>,
    /// Discord's computed permissions of the member in this channel; empty outside a guild.
    pub(crate) permissions: Permissions,
    pub(crate) roles: Vec<Snowflake>,
}

impl Caller {
    fn of(interaction: &Interaction) -> Result<Self, &'static str> {
        let user = interaction.author().ok_or("no user")?;
        let channel = interaction.channel.as_ref();
        let channel_id = channel.map(|c| c.id).ok_or("no channel")?;
        let member = interaction.member.as_ref();
        let parent = channel.filter(|c| c.kind.is_thread()).and_then(|c| c.parent_id);
        Ok(Self {
            interaction: snowflake(interaction.id).map_err(|_| "interaction id")?,
            user: snowflake(user.id).map_err(|_| "user id")?,
            name: member
                .and_then(|m| m.nick.clone())
                .or_else(|| user.global_name.clone())
                .unwrap_or_else(|| user.name.clone()),
            guild: interaction.guild_id.map(snowflake).transpose().map_err(|_| "guild id")?,
            channel: snowflake(channel_id).map_err(|_| "channel id")?,
            parent_channel: parent.map(snowflake).transpose().map_err(|_| "parent id")?,
            // Security: ManageGuild boundary. Only the permissions Discord computed for this
            // interaction count; a member object without them (or none, in a direct message)
            // means no permissions at all.
            permissions: member.and_then(|m| m.permissions).unwrap_or_else(Permissions::empty),
            roles: member
                .map(|m| m.roles.iter().map(|r| snowflake(*r)).collect::<Result<_, _>>())
                .transpose()
                .map_err(|_| "role id")?
                .unwrap_or_default(),
        })
    }
}

impl Caller {
    /// The interaction as a message asking the engine to act in this channel (`/bot respond`,
    /// `/tool prompt`): no text of its own; the engine works from the channel's history. Its id
    /// is the interaction's, so replies to it fall back to plain sends.
    pub(crate) fn as_request(&self) -> Inbound {
        Inbound {
            guild: self.guild,
            guild_name: None,
            channel: self.channel,
            parent_channel: self.parent_channel,
            message: self.interaction,
            author: tomori_chat::surface::InboundAuthor {
                id: self.user,
                name: self.name.clone(),
                is_bot: false,
                webhook: None,
            },
            content: String::new(),
            mentions_bot: true,
            mentions: Vec::new(),
            reply_to: None,
            author_roles: self.roles.clone(),
            author_is_admin: is_manager(self.permissions),
            attachments: Vec::new(),
        }
    }
}

/// What a command runs with.
pub(crate) struct Ctx<'a> {
    pub(crate) store: &'a Store,
    pub(crate) control: &'a dyn BotControl,
    pub(crate) caller: &'a Caller,
    /// The guilds' MCP servers, when the instance has them.
    pub(crate) mcp: Option<&'a tomori_tools::mcp::GuildMcp>,
    /// Judges endpoints admins register.
    pub(crate) server_policy: &'a Policy,
    /// Downloads of attachments and avatars, when available.
    pub(crate) media: Option<&'a tomori_net::Client>,
    /// Files to attach to the answer.
    pub(crate) files: &'a Outbox,
    /// Forms waiting for their submission.
    pub(crate) pending: &'a pending::Pending,
    /// Server documents, when the instance has them.
    pub(crate) documents: Option<&'a tomori_chat::documents::Documents>,
    /// Slots for parsing uploaded PDFs.
    pub(crate) pdf_slots: &'a Arc<tokio::sync::Semaphore>,
}

/// Files an action attaches to its (ephemeral) answer.
#[derive(Debug, Default)]
pub(crate) struct Outbox(Mutex<Vec<Attachment>>);

impl Outbox {
    /// Attaches a file to the answer.
    pub(crate) fn attach(&self, filename: String, bytes: Vec<u8>) {
        let mut files = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let id = u64::try_from(files.len()).unwrap_or(u64::MAX);
        files.push(Attachment::from_bytes(filename, bytes, id));
    }

    fn take(&self) -> Vec<Attachment> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The value of the text input `custom_id` anywhere in a submitted modal.
fn text_input<'a>(components: &'a [ModalInteractionComponent], custom_id: &str) -> Option<&'a str> {
    components.iter().find_map(|component| match component {
        ModalInteractionComponent::TextInput(input) if input.custom_id == custom_id => {
            Some(input.value.as_str())
        }
        ModalInteractionComponent::ActionRow(row) => text_input(&row.components, custom_id),
        ModalInteractionComponent::Label(label) => {
            text_input(std::slice::from_ref(&*label.component), custom_id)
        }
        _ => None,
    })
}

impl Ctx<'_> {
    /// Who the audit log names.
    pub(crate) fn actor(&self) -> Actor {
        Actor::Discord(self.caller.user)
    }

    /// The server the command was used in.
    pub(crate) async fn server(&self) -> Result<Scope, Failure> {
        let guild = self.caller.guild.ok_or(Failure::ServerOnly)?;
        Ok(Scope::server(self.store.resolve_guild(guild).await?))
    }

    /// The caller's own data.
    pub(crate) async fn me(&self) -> Result<Scope, Failure> {
        Ok(Scope::user(self.store.resolve_user(self.caller.user).await?))
    }
}

/// Who may run an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Anyone, in a server or a direct message: the caller's own data.
    Anyone,
    /// Any member of the server (reading, or asking for an answer).
    Member,
    /// Manage Server or Administrator.
    Manager,
    /// Manage Server, Administrator or Manage Messages.
    Moderator,
    /// Manage Server or Administrator, or any member when the server lets members teach.
    Teacher,
    /// Manage Server or Administrator, or any member while the server has this feature on.
    ManagerOrFeature(Feature),
}

/// The permission a refusal names.
const MANAGE_SERVER: &str = "Manage Server";

/// Checks `need` against the caller; the one gate every action passes before it runs.
async fn authorize(ctx: &Ctx<'_>, need: Need) -> Result<(), Failure> {
    let permissions = ctx.caller.permissions;
    if need == Need::Anyone {
        return Ok(());
    }
    if ctx.caller.guild.is_none() {
        return Err(Failure::ServerOnly);
    }
    // Security: a normal user runs admin commands (default_member_permissions can be
    // overridden by a server). The member's computed permissions are checked here, when the
    // command runs, before anything is read or written on its behalf.
    let allowed = match need {
        Need::Anyone | Need::Member => true,
        Need::Manager => is_manager(permissions),
        Need::Moderator => {
            is_manager(permissions) || permissions.contains(Permissions::MANAGE_MESSAGES)
        }
        Need::Teacher => {
            is_manager(permissions)
                || settings::get(ctx.store, ctx.server().await?).await?.member_teaching
        }
        Need::ManagerOrFeature(feature) => {
            is_manager(permissions)
                || settings::get(ctx.store, ctx.server().await?).await?.feature(feature)
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(Failure::Refused(if need == Need::Moderator {
            "Manage Server or Manage Messages"
        } else {
            MANAGE_SERVER
        }))
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
    Tool(tool::Action),
    Mcp(mcp::Action),
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
            Self::Tool(action) => tool::need(action),
            Self::Mcp(action) => mcp::need(action),
        }
    }

    /// Known to take longer than Discord's window: defer at once.
    fn slow(&self) -> bool {
        matches!(
            self,
            Self::Bot(bot::Action::Respond { .. })
                | Self::Tool(tool::Action::Prompt)
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
            Self::Tool(_) => "tool",
            Self::Mcp(_) => "mcp",
        }
    }
}

/// Authorizes and runs an invocation; the answer's text either way.
async fn run(ctx: &Ctx<'_>, invocation: &Invocation) -> String {
    let outcome = async {
        authorize(ctx, invocation.need()).await?;
        match invocation {
            Invocation::Persona(action) => persona::run(ctx, action).await,
            Invocation::Memory(action) => memory::run(ctx, action).await,
            Invocation::Server(action) => server::run(ctx, action).await,
            Invocation::Personal(action) => personal::run(ctx, action).await,
            Invocation::Bot(action) => bot::run(ctx, action).await,
            Invocation::Config(action) => config::run(ctx, action).await,
            Invocation::Provider(action) => provider::run(ctx, action).await,
            Invocation::Model(action) => model::run(ctx, action).await,
            Invocation::Tool(action) => tool::run(ctx, action).await,
            Invocation::Mcp(action) => mcp::run(ctx, action).await,
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
        "config" => config::parse(args).map(Invocation::Config),
        "provider" => provider::parse(args).map(Invocation::Provider),
        "model" => model::parse(args).map(Invocation::Model),
        "tool" => tool::parse(args).map(Invocation::Tool),
        "mcp" => mcp::parse(args).map(Invocation::Mcp),
        _ => Err(BadInput::unknown()),
    }
}

/// Input the command refuses, with the sentence the user sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadInput(pub(crate) String);

impl BadInput {
    fn unknown() -> Self {
        Self(
            "I don't know that command; it may have changed since Discord last showed it to you."
                .to_owned(),
        )
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

impl Failure {
    /// The sentence the user sees; internal failures are logged with the incident id it names.
    fn message(self, command: &'static str) -> String {
        match self {
            Self::BadInput(text) => text,
            Self::ServerOnly => "This command works only in a server.".to_owned(),
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

/// Shortens an answer to fit one message, at a line break when there is one.
fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_ANSWER_CHARS {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut lines = text.lines();
    let mut skipped = 0_usize;
    for line in lines.by_ref() {
        if out.chars().count() + line.chars().count() + 1 > MAX_ANSWER_CHARS - 40 {
            skipped += 1;
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    skipped += lines.count();
    if out.is_empty() {
        out = text.chars().take(MAX_ANSWER_CHARS - 40).collect();
        out.push('\n');
    }
    out.push_str(&format!("…and {skipped} more lines."));
    out
}

/// A (sub)command's options.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Args<'a>(&'a [CommandDataOption]);

impl<'a> Args<'a> {
    /// The subcommand or subcommand group used, and its options.
    pub(crate) fn nested(self) -> Result<(&'a str, Args<'a>), BadInput> {
        self.0
            .iter()
            .find_map(|option| match &option.value {
                CommandOptionValue::SubCommand(inner)
                | CommandOptionValue::SubCommandGroup(inner) => {
                    Some((option.name.as_str(), Args(inner)))
                }
                _ => None,
            })
            .ok_or_else(BadInput::unknown)
    }

    fn value(self, name: &str) -> Option<&'a CommandOptionValue> {
        self.0.iter().find(|option| option.name == name).map(|option| &option.value)
    }

    fn wrong(name: &str) -> BadInput {
        BadInput(format!("The option `{name}` has the wrong type; the command may have changed."))
    }

    fn missing(name: &str) -> BadInput {
        BadInput(format!("The option `{name}` is required."))
    }

    pub(crate) fn string(self, name: &str) -> Result<Option<&'a str>, BadInput> {
        match self.value(name) {
            None => Ok(None),
            Some(CommandOptionValue::String(text)) => Ok(Some(text.as_str())),
            Some(_) => Err(Self::wrong(name)),
        }
    }

    pub(crate) fn required_string(self, name: &str) -> Result<&'a str, BadInput> {
        self.string(name)?.ok_or_else(|| Self::missing(name))
    }

    pub(crate) fn integer(self, name: &str) -> Result<Option<i64>, BadInput> {
        match self.value(name) {
            None => Ok(None),
            Some(CommandOptionValue::Integer(number)) => Ok(Some(*number)),
            Some(_) => Err(Self::wrong(name)),
        }
    }

    pub(crate) fn required_integer(self, name: &str) -> Result<i64, BadInput> {
        self.integer(name)?.ok_or_else(|| Self::missing(name))
    }

    pub(crate) fn boolean(self, name: &str) -> Result<Option<bool>, BadInput> {
        match self.value(name) {
            None => Ok(None),
            Some(CommandOptionValue::Boolean(value)) => Ok(Some(*value)),
            Some(_) => Err(Self::wrong(name)),
        }
    }

    /// A role or user option (both arrive as ids), required.
    pub(crate) fn mentionable(self, name: &str) -> Result<Snowflake, BadInput> {
        match self.value(name) {
            None => Err(Self::missing(name)),
            Some(CommandOptionValue::Role(id)) => snowflake(*id).map_err(|_| Self::wrong(name)),
            Some(CommandOptionValue::User(id)) => snowflake(*id).map_err(|_| Self::wrong(name)),
            Some(_) => Err(Self::wrong(name)),
        }
    }

    pub(crate) fn channel(self, name: &str) -> Result<Option<Snowflake>, BadInput> {
        match self.value(name) {
            None => Ok(None),
            Some(CommandOptionValue::Channel(id)) => {
                snowflake(*id).map(Some).map_err(|_| Self::wrong(name))
            }
            Some(_) => Err(Self::wrong(name)),
        }
    }
}

/// A string option's text, trimmed and not empty.
pub(crate) fn non_empty<'a>(text: &'a str, what: &str) -> Result<&'a str, Failure> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Failure::BadInput(format!("The {what} is empty.")));
    }
    Ok(text)
}

#[cfg(test)]
mod tests;
