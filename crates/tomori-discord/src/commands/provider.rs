//! `/provider key add|list|remove` and `/provider endpoint add|list|workflow|remove`: the
//! server's own API keys (a pool per provider) and its custom endpoints (OpenAI-compatible, or
//! ComfyUI servers with a workflow).
//!
//! A key never travels as a slash-command option: `key add` answers with a modal, and the key
//! arrives in the modal's submission, which is authorised again before anything is stored. Keys
//! are sealed by the store; lists show labels and usage, never the key. An endpoint's URL is
//! judged by tomori-net's server-scope policy here, and again on every call.

use secrecy::SecretString;
use tomori_admin::provider::{self, EndpointEdit, KeyOwner, UrlPolicies, workflow};
use tomori_llm::KNOWN_PROVIDERS;
use twilight_model::application::command::CommandType;
use twilight_model::application::interaction::InteractionDataResolved;
use twilight_model::channel::message::component::{Component, Label, TextInput, TextInputStyle};
use twilight_model::guild::Permissions;
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};
use twilight_util::builder::command::{
    AttachmentBuilder, BooleanBuilder, CommandBuilder, IntegerBuilder, StringBuilder,
    SubCommandBuilder, SubCommandGroupBuilder,
};

use super::pending::Form;
use super::upload::Upload;
use super::{Args, BadInput, Ctx, Failure, Need};

/// The prefix of the server key form's custom id: `provider-key|<provider>|<label>`.
pub(crate) const KEY_MODAL: &str = "provider-key";

/// The prefix of a member's own key form (`/personal key add`): `personal-key|<provider>|<label>`.
pub(crate) const PERSONAL_KEY_MODAL: &str = "personal-key";

/// Whose key a form's custom id stores, by its prefix; `None` for a form that is not a key form.
pub(crate) fn key_form_owner(custom_id: &str) -> Option<KeyOwner> {
    match custom_id.split('|').next() {
        Some(KEY_MODAL) => Some(KeyOwner::Server),
        Some(PERSONAL_KEY_MODAL) => Some(KeyOwner::Personal),
        _ => None,
    }
}

/// The text input of the key modal.
const KEY_INPUT: &str = "key";

/// A `/provider` subcommand: the key form, or one of the admin layer's actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Shows the key modal; the key is stored when it is submitted.
    KeyAdd { provider: String, label: String },
    /// Everything else (`tomori_admin::provider`).
    Admin(provider::Action),
    /// Gives an endpoint a ComfyUI workflow, or (without a file) takes it away.
    Workflow { label: String, file: Option<Upload> },
}

pub(crate) fn definition() -> CommandBuilder {
    let known: Vec<&str> = KNOWN_PROVIDERS.iter().map(|p| p.name).collect();
    CommandBuilder::new(
        "provider",
        "The server's API keys and custom endpoints",
        CommandType::ChatInput,
    )
    .default_member_permissions(Permissions::MANAGE_GUILD)
    .option(
        SubCommandGroupBuilder::new("key", "API keys (several per provider form a pool)")
            .subcommands([
                SubCommandBuilder::new("add", "Add a key (you type it into a private form)")
                    .option(
                        StringBuilder::new(
                            "provider",
                            format!("{} or custom:<endpoint label>", known.join(", ")),
                        )
                        .required(true)
                        .max_length(72),
                    )
                    .option(
                        StringBuilder::new("label", "A name for this key (default: default)")
                            .max_length(64),
                    ),
                SubCommandBuilder::new("list", "List the keys (never shown)"),
                SubCommandBuilder::new("remove", "Remove a key by its id (from list)")
                    .option(IntegerBuilder::new("id", "The key's id").required(true).min_value(1)),
                SubCommandBuilder::new(
                    "purge",
                    "Remove every key of one provider (its whole pool)",
                )
                .option(
                    StringBuilder::new("provider", "The provider whose keys go")
                        .required(true)
                        .max_length(72),
                ),
            ]),
    )
    .option(
        SubCommandGroupBuilder::new("endpoint", "OpenAI-compatible endpoints (local models)")
            .subcommands([
                SubCommandBuilder::new("add", "Register an endpoint")
                    .option(
                        StringBuilder::new("label", "Its name (a-z, 0-9, _ and -)")
                            .required(true)
                            .max_length(64),
                    )
                    .option(
                        StringBuilder::new("url", "Base URL, e.g. https://llm.example/v1")
                            .required(true)
                            .max_length(2048),
                    )
                    .option(
                        StringBuilder::new("model", "The model id to request")
                            .required(true)
                            .max_length(200),
                    )
                    .option(BooleanBuilder::new("tools", "The model calls tools (default yes)"))
                    .option(BooleanBuilder::new("vision", "The model sees images (default no)"))
                    .option(
                        IntegerBuilder::new("context", "Context window in tokens")
                            .min_value(512)
                            .max_value(10_000_000),
                    ),
                SubCommandBuilder::new("edit", "Change an endpoint (options left out stay)")
                    .option(StringBuilder::new("label", "Its name").required(true).max_length(64))
                    .option(
                        StringBuilder::new("url", "Base URL, e.g. https://llm.example/v1")
                            .max_length(2048),
                    )
                    .option(StringBuilder::new("model", "The model id to request").max_length(200))
                    .option(BooleanBuilder::new("tools", "The model calls tools"))
                    .option(BooleanBuilder::new("vision", "The model sees images"))
                    .option(
                        IntegerBuilder::new("context", "Context window in tokens")
                            .min_value(512)
                            .max_value(10_000_000),
                    ),
                SubCommandBuilder::new("list", "List the endpoints"),
                SubCommandBuilder::new(
                    "workflow",
                    "Make an endpoint a ComfyUI server with a workflow (API format); no file: undo",
                )
                .option(StringBuilder::new("label", "Its name").required(true).max_length(64))
                .option(AttachmentBuilder::new("file", "The workflow (Export (API) in ComfyUI)")),
                SubCommandBuilder::new("remove", "Remove an endpoint")
                    .option(StringBuilder::new("label", "Its name").required(true).max_length(64)),
            ]),
    )
}

pub(crate) fn parse(
    args: Args<'_>,
    resolved: Option<&InteractionDataResolved>,
) -> Result<Action, BadInput> {
    let (group, args) = args.nested()?;
    let (sub, args) = args.nested()?;
    match (group, sub) {
        ("endpoint", "workflow") => Ok(Action::Workflow {
            label: args.required_string("label")?.trim().to_owned(),
            file: match args.value("file") {
                Some(_) => Some(Upload::from_option(args, resolved, "file")?),
                None => None,
            },
        }),
        ("key", "add") => Ok(Action::KeyAdd {
            provider: args.required_string("provider")?.trim().to_ascii_lowercase(),
            label: args.string("label")?.map_or("default", str::trim).to_owned(),
        }),
        ("key", "list") => Ok(Action::Admin(provider::Action::KeyList)),
        ("key", "remove") => {
            Ok(Action::Admin(provider::Action::KeyRemove { id: args.required_integer("id")? }))
        }
        ("key", "purge") => Ok(Action::Admin(provider::Action::KeyPurge {
            provider: args.required_string("provider")?.trim().to_owned(),
        })),
        ("endpoint", "add") => Ok(Action::Admin(provider::Action::EndpointAdd {
            label: args.required_string("label")?.trim().to_owned(),
            url: args.required_string("url")?.trim().to_owned(),
            model: args.required_string("model")?.trim().to_owned(),
            tools: args.boolean("tools")?.unwrap_or(true),
            vision: args.boolean("vision")?.unwrap_or(false),
            context_length: args
                .integer("context")?
                .map(|n| {
                    i32::try_from(n).map_err(|_| BadInput("The context is too large.".to_owned()))
                })
                .transpose()?,
        })),
        ("endpoint", "edit") => {
            let change = EndpointEdit {
                base_url: args.string("url")?.map(|u| u.trim().to_owned()),
                model: args.string("model")?.map(|m| m.trim().to_owned()),
                context_length: args
                    .integer("context")?
                    .map(|n| {
                        i32::try_from(n)
                            .map_err(|_| BadInput("The context is too large.".to_owned()))
                    })
                    .transpose()?,
                has_tools: args.boolean("tools")?,
                has_vision: args.boolean("vision")?,
            };
            Ok(Action::Admin(provider::Action::EndpointEdit {
                label: args.required_string("label")?.trim().to_owned(),
                change,
            }))
        }
        ("endpoint", "list") => Ok(Action::Admin(provider::Action::EndpointList)),
        ("endpoint", "remove") => Ok(Action::Admin(provider::Action::EndpointRemove {
            label: args.required_string("label")?.trim().to_owned(),
        })),
        _ => Err(BadInput::unknown()),
    }
}

pub(crate) fn need(_action: &Action) -> Need {
    // Keys and endpoints spend the server's money and reach its network: managers only, listing
    // included (labels and URLs can be private).
    Need::Manager
}

/// The one secret a form asks for.
pub(crate) struct SecretField<'a> {
    /// The text input's custom id, read back from the submission.
    pub(crate) id: &'a str,
    pub(crate) label: &'a str,
    pub(crate) placeholder: &'a str,
    pub(crate) description: &'a str,
    pub(crate) required: bool,
}

/// Keeps what a command was given (`form`) for the caller under a new nonce and answers with the
/// form that asks for its optional token (custom id `{modal}|{nonce}`).
pub(crate) fn optional_token_form(
    ctx: &Ctx<'_>,
    form: Form,
    modal: &str,
    title: String,
    label: &'static str,
    placeholder: &'static str,
) -> Result<InteractionResponse, Failure> {
    let nonce = ctx
        .pending
        .insert(ctx.caller.guild, ctx.caller.user, form)
        .ok_or_else(|| Failure::BadInput("I could not make a form; try again.".to_owned()))?;
    let field = SecretField {
        id: super::TOKEN_INPUT,
        label,
        placeholder,
        description: "Stored encrypted; never shown again.",
        required: false,
    };
    Ok(secret_modal(format!("{modal}|{nonce}"), title, &field))
}

/// A form with one secret text input: the answer to a command whose secret must not travel as a
/// slash-command option (where it would show in the client's input history and be echoed).
pub(crate) fn secret_modal(
    custom_id: String,
    title: String,
    field: &SecretField<'_>,
) -> InteractionResponse {
    #[expect(deprecated, reason = "the field exists for old clients; the Label carries the text")]
    let input = TextInput {
        custom_id: field.id.to_owned(),
        id: None,
        label: None,
        max_length: Some(4000),
        min_length: Some(if field.required { 1 } else { 0 }),
        placeholder: Some(field.placeholder.to_owned()),
        required: Some(field.required),
        style: TextInputStyle::Short,
        value: None,
    };
    let component = Component::Label(Label {
        component: Box::new(Component::TextInput(input)),
        description: Some(field.description.to_owned()),
        id: None,
        label: field.label.to_owned(),
    });
    InteractionResponse {
        kind: InteractionResponseType::Modal,
        data: Some(InteractionResponseData {
            custom_id: Some(custom_id),
            title: Some(title),
            components: Some(vec![component]),
            ..InteractionResponseData::default()
        }),
    }
}

/// The form `key add` answers with (a server key, or the member's own), once the input checked
/// out.
pub(crate) async fn key_modal(
    ctx: &Ctx<'_>,
    owner: KeyOwner,
    provider: &str,
    label: &str,
) -> Result<InteractionResponse, Failure> {
    provider::check_key(ctx.store, &ctx.caller.admin(), owner, provider, label).await?;
    let field = SecretField {
        id: KEY_INPUT,
        label: "API key",
        placeholder: "sk-…",
        description: "Stored encrypted; never shown again.",
        required: true,
    };
    let (prefix, title) = match owner {
        KeyOwner::Server => (KEY_MODAL, format!("{provider} key")),
        KeyOwner::Personal => (PERSONAL_KEY_MODAL, format!("Your own {provider} key")),
    };
    Ok(secret_modal(format!("{prefix}|{provider}|{label}"), title, &field))
}

/// Stores the key from a submitted modal (`custom_id` and the key input's value); the caller has
/// been authorised again for this submission.
pub(crate) async fn key_submitted(
    ctx: &Ctx<'_>,
    custom_id: &str,
    key: SecretString,
) -> Result<String, Failure> {
    let mut parts = custom_id.split('|');
    let (Some(owner), Some(_), Some(provider), Some(label), None) =
        (key_form_owner(custom_id), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Failure::BadInput("That form is not one of mine.".to_owned()));
    };
    let caller = ctx.caller.admin();
    Ok(provider::add_key(ctx.store, &caller, owner, provider, label, &key).await?.text)
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    let action = match action {
        Action::Admin(action) => action,
        Action::Workflow { label, file: Some(file) } => {
            let max = u64::try_from(workflow::MAX_WORKFLOW_FILE_BYTES).unwrap_or(u64::MAX);
            let bytes = file.fetch(ctx, max).await?;
            let caller = ctx.caller.admin();
            let answer = workflow::set(ctx.store, &caller, label, &file.filename, &bytes).await?;
            return Ok(answer.text);
        }
        Action::Workflow { label, file: None } => {
            return Ok(workflow::clear(ctx.store, &ctx.caller.admin(), label).await?.text);
        }
        // Answered with a modal before `run` (see `Commands::handle`).
        Action::KeyAdd { .. } => {
            return Err(Failure::BadInput("Use the form to add a key.".to_owned()));
        }
    };
    let policies = UrlPolicies { server: ctx.server_policy, personal: ctx.personal_policy };
    Ok(provider::run(ctx.store, &ctx.caller.admin(), policies, action).await?.text)
}
