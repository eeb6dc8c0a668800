//! Slash commands in the fake: [`SlashCommand`], the builder tests use to inject an
//! INTERACTION_CREATE for an application command, and the routes an interaction is answered on
//! (`POST interactions/{id}/{token}/callback`, `PATCH webhooks/{app}/{token}/messages/@original`),
//! which the fake checks as Discord does: one callback per interaction, the right token, and no
//! edit before the callback.

use serde_json::{Value, json};

use super::multipart::FakeFile;
use super::payload::{AttachmentSpec, ChannelInfo, UserSpec, channel_json};

/// Discord's `attachment_size_limit` for a server without boosts (10 MiB).
const ATTACHMENT_SIZE_LIMIT: u64 = 10 * 1024 * 1024;

/// An application-command interaction to inject: build it, then pass it to
/// [`super::FakeDiscord::inject_command`].
#[derive(Debug, Clone, PartialEq)]
pub struct SlashCommand {
    /// Interaction id; `None` lets the fake assign a fresh snowflake.
    pub id: Option<u64>,
    /// Guild, or `None` for a direct message.
    pub guild: Option<u64>,
    /// Channel (or thread) it was used in.
    pub channel: u64,
    /// Who used it.
    pub user: UserSpec,
    /// The member's computed permissions (guild only), as Discord computes them with channel
    /// overwrites; `None` leaves the field out.
    pub permissions: Option<u64>,
    /// The member's roles (guild only).
    pub roles: Vec<u64>,
    /// The command's name, then its subcommand group and subcommand, as used.
    pub path: Vec<String>,
    /// The innermost options, as Discord sends them (`{"name","type","value"}`).
    pub options: Vec<Value>,
    /// Attachments the options name, sent in `data.resolved.attachments`.
    pub attachments: Vec<AttachmentSpec>,
    /// Set for a modal submission: the modal's custom id and its text inputs' ids and values.
    pub modal: Option<(String, Vec<(String, String)>)>,
    /// Set for an autocomplete request (interaction type 4): the option being typed is sent
    /// with `"focused": true`.
    pub autocomplete: bool,
    /// Leaves out the `channel` object and sends only `channel_id`, as older or
    /// Discord-compatible servers do.
    pub without_channel_object: bool,
}

impl SlashCommand {
    /// `/path` used by `user` in a direct-message channel; `path` is the command as typed
    /// without options, e.g. `"memory personal add"`.
    pub fn new(channel: u64, user: UserSpec, path: &str) -> Self {
        Self {
            id: None,
            guild: None,
            channel,
            user,
            permissions: None,
            roles: Vec::new(),
            path: path.split_whitespace().map(str::to_owned).collect(),
            options: Vec::new(),
            attachments: Vec::new(),
            modal: None,
            autocomplete: false,
            without_channel_object: false,
        }
    }

    /// Makes this an autocomplete request (interaction type 4) while the member types `typed`
    /// into the string option `name`; the bot answers with choices (callback type 8).
    pub fn autocomplete(mut self, name: &str, typed: &str) -> Self {
        self.options.push(json!({ "name": name, "type": 3, "value": typed, "focused": true }));
        self.autocomplete = true;
        self
    }

    /// Makes this the submission of a modal (interaction type 5) with `custom_id` and these
    /// text inputs, each wrapped in a label component as current clients send them. The path
    /// is ignored.
    pub fn submit_modal(mut self, custom_id: &str, inputs: &[(&str, &str)]) -> Self {
        let inputs = inputs.iter().map(|(id, value)| ((*id).to_owned(), (*value).to_owned()));
        self.modal = Some((custom_id.to_owned(), inputs.collect()));
        self
    }

    /// Uses it in a guild, by a member with these computed permissions (a bit set, e.g. `0x20`
    /// for Manage Server).
    pub fn in_guild(mut self, guild: u64, permissions: u64) -> Self {
        self.guild = Some(guild);
        self.permissions = Some(permissions);
        self
    }

    /// Uses this interaction id instead of a fresh one.
    pub fn id(mut self, id: u64) -> Self {
        self.id = Some(id);
        self
    }

    /// Adds an option to the innermost (sub)command; the option type follows the value: a
    /// string is type 3, an integer 4, a boolean 5, a float 10.
    pub fn arg(mut self, name: &str, value: impl Into<Value>) -> Self {
        let value = value.into();
        let kind = match &value {
            Value::Bool(_) => 5,
            Value::Number(n) if n.is_i64() || n.is_u64() => 4,
            Value::Number(_) => 10,
            _ => 3,
        };
        self.options.push(json!({ "name": name, "type": kind, "value": value }));
        self
    }

    /// Adds an attachment option (type 11) naming `file` (see
    /// [`super::FakeDiscord::host_attachment`]), resolved as Discord resolves it.
    pub fn attachment_arg(mut self, name: &str, file: &AttachmentSpec) -> Self {
        self.options.push(json!({ "name": name, "type": 11, "value": file.id.to_string() }));
        self.attachments.push(file.clone());
        self
    }

    /// Adds a user option (type 6).
    pub fn user_arg(mut self, name: &str, user: u64) -> Self {
        self.options.push(json!({ "name": name, "type": 6, "value": user.to_string() }));
        self
    }

    /// Adds a role option (type 8).
    pub fn role_arg(mut self, name: &str, role: u64) -> Self {
        self.options.push(json!({ "name": name, "type": 8, "value": role.to_string() }));
        self
    }

    /// Adds a channel option (type 7).
    pub fn channel_arg(mut self, name: &str, channel: u64) -> Self {
        self.options.push(json!({ "name": name, "type": 7, "value": channel.to_string() }));
        self
    }

    /// The event's `d` object.
    pub(super) fn payload(
        &self,
        id: u64,
        token: &str,
        application: u64,
        channel: Option<&ChannelInfo>,
        timestamp: &str,
    ) -> Value {
        // The innermost options nest inside the subcommand (type 1), which nests inside its
        // group (type 2), as Discord sends them.
        let mut options = Value::Array(self.options.clone());
        let depth = self.path.len();
        for (level, name) in self.path.iter().enumerate().skip(1).rev() {
            let kind = if level + 1 == depth { 1 } else { 2 };
            options = json!([{ "name": name, "type": kind, "options": options }]);
        }
        let (kind, data) = match &self.modal {
            Some((custom_id, inputs)) => {
                let components: Vec<Value> = inputs
                    .iter()
                    .enumerate()
                    .map(|(n, (input, value))| {
                        json!({ "type": 18, "id": 2 * n + 1, "component":
                            { "type": 4, "id": 2 * n + 2, "custom_id": input, "value": value } })
                    })
                    .collect();
                (5, json!({ "custom_id": custom_id, "components": components }))
            }
            None => (
                if self.autocomplete { 4 } else { 2 },
                json!({
                    "id": (id ^ 0x5a5a).to_string(),
                    "name": self.path.first().cloned().unwrap_or_default(),
                    "type": 1,
                    "options": options,
                }),
            ),
        };
        let mut object = json!({
            "id": id.to_string(),
            "application_id": application.to_string(),
            "type": kind,
            "token": token,
            "version": 1,
            "channel_id": self.channel.to_string(),
            "locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {},
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
            "context": if self.guild.is_some() { 0 } else { 1 },
            "data": data,
        });
        if self.modal.is_none() && !self.attachments.is_empty() {
            let resolved: serde_json::Map<String, Value> = self
                .attachments
                .iter()
                .map(|a| {
                    let attachment = json!({
                        "id": a.id.to_string(),
                        "filename": a.filename,
                        "url": a.url,
                        "proxy_url": a.url,
                        "content_type": a.content_type,
                        "size": a.size,
                        "ephemeral": true,
                    });
                    (a.id.to_string(), attachment)
                })
                .collect();
            object["data"]["resolved"] = json!({ "attachments": resolved });
        }
        let fields = object.as_object_mut().expect("a JSON object literal");
        if let Some(channel) = channel.filter(|_| !self.without_channel_object) {
            fields.insert("channel".to_owned(), channel_json(channel));
        }
        match self.guild {
            Some(guild) => {
                fields.insert("guild_id".to_owned(), json!(guild.to_string()));
                fields.insert("guild_locale".to_owned(), json!("en-US"));
                let mut member = json!({
                    "user": self.user.json(),
                    "roles": self.roles.iter().map(u64::to_string).collect::<Vec<_>>(),
                    "nick": null,
                    "joined_at": timestamp,
                    "deaf": false,
                    "mute": false,
                    "flags": 0,
                });
                if let Some(permissions) = self.permissions {
                    member
                        .as_object_mut()
                        .expect("a JSON object literal")
                        .insert("permissions".to_owned(), json!(permissions.to_string()));
                }
                fields.insert("member".to_owned(), member);
            }
            None => {
                fields.insert("user".to_owned(), self.user.json());
            }
        }
        object
    }
}

/// An injected interaction and how the bot answered it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeInteraction {
    /// Its id.
    pub id: u64,
    /// The channel it was used in.
    pub channel: u64,
    /// Its token.
    pub token: String,
    /// The callback types the bot sent, in order (4 = message, 5 = deferred message, 8 =
    /// autocomplete choices, 9 = modal);
    /// Discord
    /// accepts only the first.
    pub callbacks: Vec<u64>,
    /// The original response's text: the callback's content, then each edit's.
    pub content: Option<String>,
    /// The original response is ephemeral (flag 64 in the callback).
    pub ephemeral: bool,
    /// `allowed_mentions` of the callback or the last edit.
    pub allowed_mentions: Option<Value>,
    /// Edits of the original response (`PATCH .../messages/@original`).
    pub edits: usize,
    /// The text of each edit that set one, in order (progress notes, then the answer).
    pub edited_texts: Vec<String>,
    /// Files attached to the original response, by the callback or an edit.
    pub files: Vec<FakeFile>,
    /// The modal the bot answered with (callback type 9): its `data` object.
    pub modal: Option<Value>,
    /// The autocomplete choices the bot answered with (callback type 8).
    pub choices: Option<Vec<Value>>,
}

impl FakeInteraction {
    /// The bot deferred (callback type 5) before answering.
    pub fn deferred(&self) -> bool {
        self.callbacks.first() == Some(&5)
    }

    /// The bot has put text in the original response.
    pub fn answered(&self) -> bool {
        self.content.is_some()
    }
}

/// The interaction routes; `Err` carries Discord's status, code and message.
pub(super) fn callback(
    interaction: &mut FakeInteraction,
    token: &str,
    body: Option<&Value>,
    files: &[FakeFile],
) -> Result<(), (u16, u32, &'static str)> {
    if interaction.token != token {
        return Err((404, 10062, "Unknown interaction"));
    }
    let kind = body.and_then(|b| b.get("type")).and_then(Value::as_u64).unwrap_or(0);
    let already = !interaction.callbacks.is_empty();
    interaction.callbacks.push(kind);
    if already {
        return Err((400, 40060, "Interaction has already been acknowledged."));
    }
    let data = body.and_then(|b| b.get("data"));
    let flags = data.and_then(|d| d.get("flags")).and_then(Value::as_u64).unwrap_or(0);
    interaction.ephemeral = flags & 64 != 0;
    interaction.allowed_mentions = data.and_then(|d| d.get("allowed_mentions")).cloned();
    match kind {
        4 => {
            let content = data.and_then(|d| d.get("content")).and_then(Value::as_str);
            interaction.content = Some(content.unwrap_or_default().to_owned());
            interaction.files.extend_from_slice(files);
            Ok(())
        }
        5 => Ok(()),
        8 => {
            // Discord's limits: at most 25 choices, names of 1 to 100 characters, string values
            // of at most 100.
            let choices = data.and_then(|d| d.get("choices")).and_then(Value::as_array);
            let valid = choices.is_some_and(|choices| {
                choices.len() <= 25
                    && choices.iter().all(|c| {
                        let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
                        let value = c.get("value").and_then(Value::as_str);
                        (1..=100).contains(&name.chars().count())
                            && value.is_some_and(|v| v.chars().count() <= 100)
                    })
            });
            if !valid {
                return Err((400, 50035, "Invalid Form Body (choices)"));
            }
            interaction.choices = choices.cloned();
            Ok(())
        }
        9 => {
            let valid = data.is_some_and(|d| {
                d.get("custom_id").and_then(Value::as_str).is_some_and(|id| id.len() <= 100)
                    && d.get("title").and_then(Value::as_str).is_some_and(|t| t.len() <= 45)
                    && d.get("components").and_then(Value::as_array).is_some_and(|c| !c.is_empty())
            });
            if !valid {
                return Err((400, 50035, "Invalid Form Body (modal)"));
            }
            interaction.modal = data.cloned();
            Ok(())
        }
        _ => Err((400, 50035, "Invalid Form Body (type)")),
    }
}

/// `PATCH webhooks/{app}/{token}/messages/@original`.
pub(super) fn edit_original(
    interaction: &mut FakeInteraction,
    body: Option<&Value>,
    files: &[FakeFile],
) -> Result<(), (u16, u32, &'static str)> {
    if interaction.callbacks.is_empty() {
        return Err((404, 10008, "Unknown Message"));
    }
    if let Some(content) = body.and_then(|b| b.get("content")).and_then(Value::as_str) {
        if content.chars().count() > 2000 {
            return Err((400, 50035, "Invalid Form Body (content)"));
        }
        interaction.content = Some(content.to_owned());
        interaction.edited_texts.push(content.to_owned());
    }
    if let Some(mentions) = body.and_then(|b| b.get("allowed_mentions")) {
        interaction.allowed_mentions = Some(mentions.clone());
    }
    interaction.files.extend_from_slice(files);
    interaction.edits += 1;
    Ok(())
}

/// The original response as a message object (the answer to an edit).
pub(super) fn original_json(
    id: u64,
    channel: u64,
    bot: &UserSpec,
    content: &str,
    timestamp: &str,
) -> Value {
    json!({
        "id": id.to_string(),
        "channel_id": channel.to_string(),
        "author": bot.json(),
        "content": content,
        "timestamp": timestamp,
        "edited_timestamp": timestamp,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": false,
        "type": 20,
        "flags": 64,
    })
}
