//! `/config`: the server's prompt, limits, humanizer, timezone, context note and thought-log
//! channel, and `setup`, the guided first run. Everything here changes the server and needs
//! Manage Server; `setup` also works in a DM, on the member's DM tenant.
//!
//! `setup` offers (through Discord's autocomplete) what can answer here: the instance's own
//! providers (`[providers.*]` in `tomori.toml`, no key needed), the server's custom endpoints, and
//! the known cloud providers (whose key it then asks for in a form).
//!
//! Ranges are checked here for a short answer and again by the store (and the table's CHECK
//! constraints), so a stale registration cannot write a value out of range.

use tomori_admin::config::{self, MAX_SYSTEM_PROMPT, NUMBERS, SetupOutcome};
use tomori_admin::provider::KeyOwner;
use twilight_model::application::command::{
    CommandOptionChoice, CommandOptionChoiceValue, CommandType,
};
use twilight_model::channel::ChannelType;
use twilight_model::guild::Permissions;
use twilight_model::http::interaction::InteractionResponse;
use twilight_util::builder::command::{
    BooleanBuilder, ChannelBuilder, CommandBuilder, IntegerBuilder, StringBuilder,
    SubCommandBuilder, SubCommandGroupBuilder,
};

use twilight_model::application::interaction::InteractionDataResolved;
use twilight_util::builder::command::AttachmentBuilder;

use super::upload::Upload;
use super::{Args, BadInput, Ctx, Failure, Need, non_empty, text_response};

/// The longest string option Discord accepts: a longer `max_length` makes Discord refuse the
/// whole bulk registration (every command, not only this one). A longer prompt is uploaded as a
/// file (`system-prompt upload`).
const MAX_STRING_OPTION: u16 = 6_000;
/// The largest system-prompt file downloaded: 8,000 characters of four-byte UTF-8 and a BOM.
const MAX_SYSTEM_PROMPT_FILE: u64 = 32 * 1024 + 4;
/// The most characters of a context note, as Discord's option length.
const MAX_CONTEXT_NOTE: u16 = 2_000;

/// A `/config` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// The settings (`tomori_admin::config`).
    Admin(config::Action),
    /// `system-prompt upload <file>`: a prompt too long for an option, as a .txt or .md file.
    SystemPromptFile(Upload),
    /// The guided first run: a main persona if there is none, then what answers (the instance's
    /// providers, a custom endpoint, or a known provider whose key form follows).
    Setup { provider: String, model: Option<String>, persona: String, vision: bool },
}

fn set_remove(
    name: &'static str,
    description: &'static str,
    what: &'static str,
    max: u16,
) -> SubCommandGroupBuilder {
    SubCommandGroupBuilder::new(name, description).subcommands([
        SubCommandBuilder::new("set", "Set it")
            .option(StringBuilder::new("text", what).required(true).min_length(1).max_length(max)),
        SubCommandBuilder::new("remove", "Remove it"),
    ])
}

/// `system-prompt set|upload|remove`: a prompt longer than a string option may be goes through a
/// file, since Discord refuses a `max_length` over 6,000 and a modal's text input holds 4,000.
fn system_prompt() -> SubCommandGroupBuilder {
    SubCommandGroupBuilder::new("system-prompt", "The server's extra system prompt").subcommands([
        SubCommandBuilder::new("set", "Set it").option(
            StringBuilder::new("text", "The prompt (up to 6,000 characters; longer: upload)")
                .required(true)
                .min_length(1)
                .max_length(MAX_STRING_OPTION),
        ),
        SubCommandBuilder::new("upload", "Set it from a .txt or .md file (up to 8,000 characters)")
            .option(AttachmentBuilder::new("file", "The prompt as a text file").required(true)),
        SubCommandBuilder::new("remove", "Remove it"),
    ])
}

pub(crate) fn definition() -> CommandBuilder {
    let mut command =
        CommandBuilder::new("config", "Configure how Tomori talks here", CommandType::ChatInput)
            .default_member_permissions(Permissions::MANAGE_GUILD)
            .option(system_prompt());
    for (_, name, description, low, high, _) in NUMBERS {
        command = command.option(
            SubCommandBuilder::new(name, description).option(
                IntegerBuilder::new("value", "The new value")
                    .required(true)
                    .min_value(low)
                    .max_value(high),
            ),
        );
    }
    command
        .option(
            SubCommandBuilder::new("setup", "First run: a persona and what answers")
                .option(
                    StringBuilder::new(
                        "provider",
                        "This instance's model, a custom endpoint, or a provider (needs a key)",
                    )
                    .required(true)
                    .max_length(72)
                    .autocomplete(true),
                )
                .option(
                    StringBuilder::new(
                        "model",
                        "The model id for a provider, e.g. deepseek/deepseek-chat",
                    )
                    .max_length(200),
                )
                .option(
                    StringBuilder::new("persona", "The main persona's name (default Tomori)")
                        .max_length(80),
                )
                .option(BooleanBuilder::new("vision", "The model sees images (default no)")),
        )
        .option(
            SubCommandBuilder::new("timezone", "The server's timezone").option(
                StringBuilder::new(
                    "name",
                    "UTC, an offset such as UTC+9, or a name such as Asia/Tokyo",
                )
                .required(true)
                .max_length(64),
            ),
        )
        .option(set_remove(
            "context-note",
            "A note near the end of every context",
            "The note",
            MAX_CONTEXT_NOTE,
        ))
        .option(
            SubCommandGroupBuilder::new("thought-log", "Where reasoning is logged").subcommands([
                SubCommandBuilder::new("set", "Log to a channel").option(
                    ChannelBuilder::new("channel", "The channel (this one if empty)")
                        .channel_types([
                            ChannelType::GuildText,
                            ChannelType::GuildAnnouncement,
                            ChannelType::PublicThread,
                            ChannelType::PrivateThread,
                        ]),
                ),
                SubCommandBuilder::new("off", "Stop logging"),
            ]),
        )
}

/// `set <text>` or `remove` of a set/remove group.
fn text_or_remove(args: Args<'_>) -> Result<Option<String>, BadInput> {
    match args.nested()? {
        ("set", args) => Ok(Some(args.required_string("text")?.to_owned())),
        ("remove", _) => Ok(None),
        _ => Err(BadInput::unknown()),
    }
}

pub(crate) fn parse(
    args: Args<'_>,
    resolved: Option<&InteractionDataResolved>,
) -> Result<Action, BadInput> {
    let (sub, args) = args.nested()?;
    if sub == "system-prompt"
        && let ("upload", upload) = args.nested()?
    {
        return Ok(Action::SystemPromptFile(Upload::from_option(upload, resolved, "file")?));
    }
    if let Some(&(number, ..)) = NUMBERS.iter().find(|entry| entry.1 == sub) {
        return Ok(Action::Admin(config::Action::Number {
            number,
            value: args.required_integer("value")?,
        }));
    }
    match sub {
        "system-prompt" => {
            text_or_remove(args).map(|t| Action::Admin(config::Action::SystemPrompt(t)))
        }
        "context-note" => {
            text_or_remove(args).map(|t| Action::Admin(config::Action::ContextNote(t)))
        }
        "timezone" => Ok(Action::Admin(config::Action::Timezone(
            args.required_string("name")?.trim().to_owned(),
        ))),
        "setup" => Ok(Action::Setup {
            provider: args.required_string("provider")?.trim().to_owned(),
            model: args
                .string("model")?
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_owned),
            persona: args.string("persona")?.map_or("Tomori", str::trim).to_owned(),
            vision: args.boolean("vision")?.unwrap_or(false),
        }),
        "thought-log" => match args.nested()? {
            ("set", args) => Ok(Action::Admin(config::Action::ThoughtLog {
                on: true,
                channel: args.channel("channel")?,
            })),
            ("off", _) => {
                Ok(Action::Admin(config::Action::ThoughtLog { on: false, channel: None }))
            }
            _ => Err(BadInput::unknown()),
        },
        _ => Err(BadInput::unknown()),
    }
}

pub(crate) fn need(action: &Action) -> Need {
    // Security: every /config action changes the server; `authorize` checks Manage Server in
    // code before `run`.
    match action {
        Action::Admin(_) | Action::SystemPromptFile(_) | Action::Setup { .. } => Need::Manager,
    }
}

/// Whether a `/config` action also works in a DM (on the member's DM tenant).
pub(crate) fn in_dm(action: &Action) -> bool {
    matches!(action, Action::Setup { .. })
}

/// The autocomplete answer for `setup`'s provider option (the admin layer's choices).
pub(crate) async fn provider_choices(
    ctx: &Ctx<'_>,
    typed: &str,
) -> Result<Vec<CommandOptionChoice>, Failure> {
    Ok(config::choices(ctx.store, &ctx.caller.admin(), ctx.instance, typed)
        .await?
        .into_iter()
        .map(|(name, value)| CommandOptionChoice {
            name,
            name_localizations: None,
            value: CommandOptionChoiceValue::String(value),
        })
        .collect())
}

/// `/config setup` through the admin layer; a known provider's key form is the answer when the
/// setup needs a key.
pub(crate) async fn setup(
    ctx: &Ctx<'_>,
    provider: &str,
    model: Option<&str>,
    persona: &str,
    vision: bool,
) -> Result<InteractionResponse, Failure> {
    let asked = config::Setup {
        provider: provider.to_owned(),
        model: model.map(str::to_owned),
        persona: persona.to_owned(),
        vision,
    };
    match config::setup(ctx.store, &ctx.caller.admin(), ctx.instance, &asked).await? {
        SetupOutcome::Done(answer) => Ok(text_response(&answer.text)),
        SetupOutcome::NeedsKey { provider } => {
            super::provider::key_modal(ctx, KeyOwner::Server, provider, "default").await
        }
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    let from_file;
    let action = match action {
        Action::Admin(action) => action,
        Action::SystemPromptFile(file) => {
            from_file = config::Action::SystemPromptFromFile(prompt_file(ctx, file).await?);
            &from_file
        }
        // Answered with the key form before `run` (see `Commands::handle`).
        Action::Setup { .. } => {
            return Err(Failure::BadInput("Use the form to finish the setup.".to_owned()));
        }
    };
    Ok(config::run(ctx.store, &ctx.caller.admin(), action).await?.text)
}

/// The text of an uploaded system prompt: a .txt or .md file of at most [`MAX_SYSTEM_PROMPT`]
/// characters.
async fn prompt_file(ctx: &Ctx<'_>, file: &Upload) -> Result<String, Failure> {
    let refuse =
        |why: String| Failure::BadInput(format!("`{}` {why}. Nothing was changed.", file.filename));
    let extension = file.filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    // Security: denial of service through uploads. Only text is accepted, decided by name and
    // declared type before anything is downloaded, and the download stops at a few KiB.
    if !matches!(extension.as_deref(), Some("txt" | "md" | "markdown"))
        || tomori_tools::classify(&file.filename, file.content_type.as_deref())
            != tomori_tools::FileKind::Text
    {
        return Err(refuse("is not a .txt or .md file".to_owned()));
    }
    let bytes = file.fetch(ctx, MAX_SYSTEM_PROMPT_FILE).await?;
    let text = tomori_tools::decode_text(&bytes, file.content_type.as_deref())
        .ok_or_else(|| refuse("is not a text file".to_owned()))?;
    let text = non_empty(&text, "system prompt")?.to_owned();
    let chars = text.chars().count();
    if chars > MAX_SYSTEM_PROMPT {
        return Err(refuse(format!(
            "has {chars} characters; a system prompt may have at most {MAX_SYSTEM_PROMPT}"
        )));
    }
    Ok(text)
}
