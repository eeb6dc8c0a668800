//! Who ran a command and what it runs with: the [`Caller`] as Discord described them, the
//! [`Ctx`] an action gets, and [`authorize`], the one gate every action passes.

use std::sync::{Mutex, PoisonError};

use tomori_chat::surface::Inbound;
use tomori_core::id::Snowflake;
use tomori_net::Policy;
use tomori_store::Store;
use twilight_model::application::interaction::Interaction;
use twilight_model::application::interaction::modal::ModalInteractionComponent;
use twilight_model::guild::Permissions;
use twilight_model::http::attachment::Attachment;

use super::{BotControl, DocumentIntake, Failure, InstanceProvider, pending};
use crate::id::snowflake;
use crate::permissions::is_manager;

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
    /// The category of a channel that is not a thread (a thread's is not in the interaction).
    pub(crate) category: Option<Snowflake>,
    /// Discord's computed permissions of the member in this channel; empty outside a guild.
    pub(crate) permissions: Permissions,
    pub(crate) roles: Vec<Snowflake>,
}

impl Caller {
    pub(super) fn of(interaction: &Interaction) -> Result<Self, &'static str> {
        let user = interaction.author().ok_or("no user")?;
        let channel = interaction.channel.as_ref();
        // Discord-compatible servers (and older payloads) send only `channel_id`; then a
        // thread's parent is not known here.
        #[expect(deprecated, reason = "the fallback for payloads without the channel object")]
        let channel_id = channel.map(|c| c.id).or(interaction.channel_id).ok_or("no channel")?;
        let member = interaction.member.as_ref();
        let parent = channel.filter(|c| c.kind.is_thread()).and_then(|c| c.parent_id);
        let category = channel.filter(|c| !c.kind.is_thread()).and_then(|c| c.parent_id);
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
            category: category.map(snowflake).transpose().map_err(|_| "category id")?,
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
    /// The caller as the admin layer knows them: what Discord granted them in this channel
    /// (Administrator counts as Manage Server).
    pub(crate) fn admin(&self) -> tomori_admin::Caller {
        tomori_admin::Caller {
            user: self.user,
            guild: self.guild,
            channel: self.channel,
            grants: tomori_admin::Grants {
                manage_server: is_manager(self.permissions),
                manage_messages: self.permissions.contains(Permissions::MANAGE_MESSAGES),
            },
        }
    }

    /// The interaction as a message asking the engine to act in this channel (`/bot respond`,
    /// `/tool prompt`): no text of its own; the engine works from the channel's history. Its id
    /// is the interaction's, so replies to it fall back to plain sends.
    pub(crate) fn as_request(&self) -> Inbound {
        Inbound {
            guild: self.guild,
            guild_name: None,
            channel: self.channel,
            parent_channel: self.parent_channel,
            category: self.category,
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
    /// Judges endpoints members register for themselves, and in their DM tenant.
    pub(crate) personal_policy: &'a Policy,
    /// The operator's instance providers.
    pub(crate) instance: &'a [InstanceProvider],
    /// Downloads of attachments and avatars, when available.
    pub(crate) media: Option<&'a tomori_net::Client>,
    /// Files to attach to the answer.
    pub(crate) files: &'a Outbox,
    /// Forms waiting for their submission.
    pub(crate) pending: &'a pending::Pending,
    /// Server documents and the PDF reader, when the instance has them.
    pub(crate) documents: Option<&'a DocumentIntake>,
    /// What models cost (`/tool estimate`).
    pub(crate) prices: &'a tomori_core::pricing::PriceTable,
}

/// What goes with an action's (ephemeral) answer: files to attach, and progress notes shown in
/// its place while a long action runs.
#[derive(Debug)]
pub(crate) struct Outbox {
    files: Mutex<Vec<Attachment>>,
    progress: tokio::sync::watch::Sender<Option<String>>,
}

impl Default for Outbox {
    fn default() -> Self {
        Self { files: Mutex::default(), progress: tokio::sync::watch::Sender::new(None) }
    }
}

impl Outbox {
    /// Whether a file is attached already.
    pub(crate) fn has_files(&self) -> bool {
        !self.files.lock().unwrap_or_else(PoisonError::into_inner).is_empty()
    }

    /// Attaches a file to the answer.
    pub(crate) fn attach(&self, filename: String, bytes: Vec<u8>) {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        let id = u64::try_from(files.len()).unwrap_or(u64::MAX);
        files.push(Attachment::from_bytes(filename, bytes, id));
    }

    /// Shows `note` as the answer until the action ends, once it is deferred; only the newest
    /// note is sent when they come faster than Discord takes edits.
    pub(crate) fn progress(&self, note: String) {
        self.progress.send_replace(Some(note));
    }

    pub(super) fn progress_notes(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.progress.subscribe()
    }

    pub(super) fn take(&self) -> Vec<Attachment> {
        std::mem::take(&mut *self.files.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The value of the text input `custom_id` anywhere in a submitted modal.
pub(super) fn text_input<'a>(
    components: &'a [ModalInteractionComponent],
    custom_id: &str,
) -> Option<&'a str> {
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

/// Who may run an action: the admin layer's rule (`tomori_admin::Need`).
pub(crate) use tomori_admin::Need;

/// Checks `need` against the caller through the admin layer's one rule
/// (`tomori_admin::authorize`); every action passes it before it runs. `in_dm` says whether the
/// action also works in a direct message, on the caller's DM tenant.
pub(crate) async fn authorize(ctx: &Ctx<'_>, need: Need, in_dm: bool) -> Result<(), Failure> {
    Ok(tomori_admin::authorize(ctx.store, &ctx.caller.admin(), need, in_dm).await?)
}
