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

use tomori_core::id::Snowflake;
use tomori_store::credentials::KeyOwner;
use tomori_store::endpoints;
use tomori_store::models::{self, ServerModel};
use tomori_store::personas::{self, NewPersona};
use tomori_store::settings::{self, Setting};
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

/// What `setup`'s provider option names for the instance's own providers.
pub(crate) const INSTANCE: &str = "instance";

/// Discord's most autocomplete choices, and its longest choice name.
const MAX_CHOICES: usize = 25;
const MAX_CHOICE_NAME: usize = 100;

/// The most characters of a system prompt (the table's CHECK constraint).
const MAX_SYSTEM_PROMPT: usize = 8_000;
/// The longest string option Discord accepts: a longer `max_length` makes Discord refuse the
/// whole bulk registration (every command, not only this one). A longer prompt is uploaded as a
/// file (`system-prompt upload`).
const MAX_STRING_OPTION: u16 = 6_000;
/// The largest system-prompt file downloaded: 8,000 characters of four-byte UTF-8 and a BOM.
const MAX_SYSTEM_PROMPT_FILE: u64 = 32 * 1024 + 4;
/// The most characters of a context note (the table's CHECK constraint).
const MAX_CONTEXT_NOTE: u16 = 2_000;

/// A numeric setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Number {
    CascadeLimit,
    MatchLimit,
    MessageFetchLimit,
    SendLimit,
    Humanizer,
}

/// The numeric settings: subcommand, description, range, and how answers name them.
const NUMBERS: [(Number, &str, &str, i64, i64, &str); 5] = [
    (
        Number::CascadeLimit,
        "cascade-limit",
        "Persona-to-persona replies in a row",
        0,
        10,
        "cascade limit",
    ),
    (Number::MatchLimit, "match-limit", "Personas one message may trigger", 1, 10, "match limit"),
    (
        Number::MessageFetchLimit,
        "message-fetch-limit",
        "Messages of history read per reply",
        1,
        200,
        "message fetch limit",
    ),
    (
        Number::SendLimit,
        "send-limit",
        "Messages one reply may be split into (0 = no limit)",
        0,
        50,
        "send limit",
    ),
    (Number::Humanizer, "humanizer", "How much replies are humanised", 0, 3, "humanizer degree"),
];

impl Number {
    /// The store's setting with this value.
    fn setting(self, value: i16) -> Setting {
        match self {
            Self::CascadeLimit => Setting::CascadeLimit(value),
            Self::MatchLimit => Setting::MatchLimit(value),
            Self::MessageFetchLimit => Setting::MessageFetchLimit(value),
            Self::SendLimit => Setting::SendLimit(value),
            Self::Humanizer => Setting::HumanizerDegree(value),
        }
    }

    /// Its range and how answers name it.
    fn range_and_label(self) -> (i64, i64, &'static str) {
        NUMBERS
            .iter()
            .find(|entry| entry.0 == self)
            .map_or((0, 0, "value"), |&(_, _, _, low, high, label)| (low, high, label))
    }
}

/// A `/config` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// `system-prompt set|remove`.
    SystemPrompt(Option<String>),
    /// `system-prompt upload <file>`: a prompt too long for an option, as a .txt or .md file.
    SystemPromptFile(Upload),
    /// One of [`NUMBERS`], with the value given.
    Number { number: Number, value: i64 },
    /// `timezone <name>`.
    Timezone(String),
    /// `context-note set|remove`.
    ContextNote(Option<String>),
    /// `thought-log set [channel]` (this channel when empty) or `thought-log off`.
    ThoughtLog { on: bool, channel: Option<Snowflake> },
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
        return Ok(Action::Number { number, value: args.required_integer("value")? });
    }
    match sub {
        "system-prompt" => text_or_remove(args).map(Action::SystemPrompt),
        "context-note" => text_or_remove(args).map(Action::ContextNote),
        "timezone" => Ok(Action::Timezone(args.required_string("name")?.trim().to_owned())),
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
            ("set", args) => Ok(Action::ThoughtLog { on: true, channel: args.channel("channel")? }),
            ("off", _) => Ok(Action::ThoughtLog { on: false, channel: None }),
            _ => Err(BadInput::unknown()),
        },
        _ => Err(BadInput::unknown()),
    }
}

pub(crate) fn need(action: &Action) -> Need {
    // Security: every /config action changes the server; `authorize` checks Manage Server in
    // code before `run`.
    match action {
        Action::SystemPrompt(_)
        | Action::SystemPromptFile(_)
        | Action::Number { .. }
        | Action::Timezone(_)
        | Action::ContextNote(_)
        | Action::ThoughtLog { .. }
        | Action::Setup { .. } => Need::Manager,
    }
}

/// Whether a `/config` action also works in a DM (on the member's DM tenant).
pub(crate) fn in_dm(action: &Action) -> bool {
    matches!(action, Action::Setup { .. })
}

/// What `setup` was asked to make answer.
enum Answerer {
    /// The operator's `[providers.*]`, in their order.
    Instance,
    /// One of the server's custom endpoints, by label.
    Custom(endpoints::CustomEndpoint),
    /// A known provider, with the server's key (asked for next).
    Known(&'static str),
}

/// Finds what `raw` names; the answer lists what may be named when it names nothing.
async fn answerer(ctx: &Ctx<'_>, raw: &str) -> Result<Answerer, Failure> {
    if raw.eq_ignore_ascii_case(INSTANCE) && !ctx.instance.is_empty() {
        return Ok(Answerer::Instance);
    }
    if let Some(label) = raw.strip_prefix("custom:")
        && let Some((endpoint, _)) =
            endpoints::get(ctx.store, ctx.server().await?, KeyOwner::Server, label).await?
    {
        return Ok(Answerer::Custom(endpoint));
    }
    if let Some(known) = tomori_llm::known_provider(&raw.to_ascii_lowercase()) {
        return Ok(Answerer::Known(known.name));
    }
    let names: Vec<String> =
        choices(ctx, "", true).await?.into_iter().map(|(_, value)| format!("`{value}`")).collect();
    Err(Failure::BadInput(format!(
        "`{raw}` is not something that can answer here; choose one of {}. Nothing was changed.",
        names.join(", ")
    )))
}

/// What `setup` offers, as (name shown, value), filtered by what was typed: the instance's
/// providers first (no key needed), then the server's custom endpoints (only to a caller who
/// may manage the server), then the known providers.
pub(crate) async fn choices(
    ctx: &Ctx<'_>,
    typed: &str,
    may_manage: bool,
) -> Result<Vec<(String, String)>, Failure> {
    let mut offered = Vec::new();
    if !ctx.instance.is_empty() {
        let models: Vec<String> =
            ctx.instance.iter().map(|p| format!("{} · {}", p.name, p.model)).collect();
        let name = format!("This instance's model, no key needed ({})", models.join(", "));
        offered.push((name, INSTANCE.to_owned()));
    }
    // Security: endpoint labels and models can be private to a server's managers (as
    // `/provider endpoint list` is).
    if may_manage {
        for endpoint in endpoints::list(ctx.store, ctx.server().await?, KeyOwner::Server).await? {
            let value = format!("custom:{}", endpoint.label);
            offered.push((format!("{value} · {} (custom endpoint)", endpoint.model), value));
        }
    }
    for known in tomori_llm::KNOWN_PROVIDERS {
        offered.push((format!("{} (needs an API key)", known.name), known.name.to_owned()));
    }
    let typed = typed.trim().to_lowercase();
    Ok(offered
        .into_iter()
        .filter(|(name, value)| {
            typed.is_empty() || name.to_lowercase().contains(&typed) || value.contains(&typed)
        })
        .take(MAX_CHOICES)
        .map(|(name, value)| (name.chars().take(MAX_CHOICE_NAME).collect(), value))
        .collect())
}

/// The autocomplete answer for `setup`'s provider option.
pub(crate) async fn provider_choices(
    ctx: &Ctx<'_>,
    typed: &str,
) -> Result<Vec<CommandOptionChoice>, Failure> {
    let may_manage = super::authorize(ctx, Need::Manager, true).await.is_ok();
    Ok(choices(ctx, typed, may_manage)
        .await?
        .into_iter()
        .map(|(name, value)| CommandOptionChoice {
            name,
            name_localizations: None,
            value: CommandOptionChoiceValue::String(value),
        })
        .collect())
}

/// `/config setup`: makes `persona` the main persona when the server has none, then makes
/// `provider` answer: the instance's providers (the server's own model choice is removed), a
/// custom endpoint, or a known provider with `model` (keeping any sampling choices and
/// fallbacks), whose key form is the answer. Nothing is written when the choice is refused.
pub(crate) async fn setup(
    ctx: &Ctx<'_>,
    provider: &str,
    model: Option<&str>,
    persona: &str,
    vision: bool,
) -> Result<InteractionResponse, Failure> {
    let answerer = answerer(ctx, provider).await?;
    if let (Answerer::Known(_), None) = (&answerer, model) {
        return Err(Failure::BadInput(format!(
            "Name the model `{provider}` should use (the `model` option); nothing was changed."
        )));
    }
    if let Some(model) = model {
        models::check_model(model).map_err(|_| {
            Failure::BadInput(format!("`{model}` is not a model id; nothing was changed."))
        })?;
    }
    let scope = ctx.server().await?;
    let made = main_persona(ctx, scope, persona).await?;
    let text = match answerer {
        Answerer::Known(name) => {
            choose_model(ctx, scope, name, model.unwrap_or_default(), vision, true).await?;
            return super::provider::key_modal(ctx, KeyOwner::Server, name, "default").await;
        }
        Answerer::Custom(endpoint) => {
            let model = model.unwrap_or(&endpoint.model);
            let provider = format!("custom:{}", endpoint.label);
            choose_model(ctx, scope, &provider, model, endpoint.has_vision, endpoint.has_tools)
                .await?;
            format!(
                "{made}The custom endpoint `{}` answers here now ({model}). If it needs a key, \
                 add one with /provider key add provider:{provider}.",
                endpoint.label
            )
        }
        Answerer::Instance => {
            let removed = models::clear(ctx.store, scope, ctx.actor()).await?;
            let names: Vec<&str> = ctx.instance.iter().map(|p| p.name.as_str()).collect();
            format!(
                "{made}This instance's model answers here now ({}); it needs no key.{}",
                names.join(", then "),
                if removed { " The model chosen here before was removed." } else { "" }
            )
        }
    };
    Ok(text_response(&text))
}

/// Chooses the server's model, keeping any sampling choices and fallbacks.
async fn choose_model(
    ctx: &Ctx<'_>,
    scope: tomori_store::Scope,
    provider: &str,
    model: &str,
    vision: bool,
    tools: bool,
) -> Result<(), Failure> {
    let mut chosen =
        models::get(ctx.store, scope).await?.unwrap_or_else(|| ServerModel::new(provider, model));
    provider.clone_into(&mut chosen.provider);
    model.clone_into(&mut chosen.model);
    chosen.vision = vision;
    chosen.tools = tools;
    Ok(models::set(ctx.store, scope, ctx.actor(), &chosen).await?)
}

/// Makes `name` the main persona when the server has none; says so, or says nothing.
async fn main_persona(
    ctx: &Ctx<'_>,
    scope: tomori_store::Scope,
    name: &str,
) -> Result<String, Failure> {
    if !personas::list(ctx.store, scope).await?.is_empty() {
        return Ok(String::new());
    }
    let nickname = tomori_core::persona::validate_nickname(name)
        .map_err(|e| Failure::BadInput(format!("That persona name won't do: {e}.")))?;
    let new = NewPersona { nickname: nickname.to_owned(), ..NewPersona::default() };
    let persona = personas::create(ctx.store, scope, ctx.actor(), new).await?;
    Ok(format!("**{}** is the main persona. ", persona.nickname))
}

/// A number in its range, as the column's type; a short answer otherwise.
fn in_range(number: Number, value: i64) -> Result<i16, Failure> {
    let (low, high, label) = number.range_and_label();
    if !(low..=high).contains(&value) {
        return Err(Failure::BadInput(format!(
            "The {label} must be from {low} to {high}; nothing was changed."
        )));
    }
    i16::try_from(value).map_err(|_| Failure::BadInput(format!("The {label} is out of range.")))
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    let scope = ctx.server().await?;
    let (setting, answer) = match action {
        Action::SystemPrompt(Some(text)) => (
            Setting::SystemPrompt(Some(non_empty(text, "system prompt")?.to_owned())),
            "The system prompt is set.".to_owned(),
        ),
        Action::SystemPrompt(None) => {
            (Setting::SystemPrompt(None), "The system prompt is removed.".to_owned())
        }
        Action::SystemPromptFile(file) => {
            let text = prompt_file(ctx, file).await?;
            let chars = text.chars().count();
            (
                Setting::SystemPrompt(Some(text)),
                format!("The system prompt is set ({chars} characters)."),
            )
        }
        Action::ContextNote(Some(text)) => (
            Setting::ContextNote(Some(non_empty(text, "context note")?.to_owned())),
            "The context note is set.".to_owned(),
        ),
        Action::ContextNote(None) => {
            (Setting::ContextNote(None), "The context note is removed.".to_owned())
        }
        Action::Number { number, value } => {
            let n = in_range(*number, *value)?;
            let (_, _, label) = number.range_and_label();
            (number.setting(n), format!("The {label} is now {n}."))
        }
        Action::Timezone(name) => {
            let Ok(zone) = tomori_core::timezone::Zone::parse(name.trim()) else {
                return Err(Failure::BadInput(
                    "Use UTC, an offset such as UTC+9 or UTC-3:30, or a name such as Asia/Tokyo; \
                     nothing was changed."
                        .to_owned(),
                ));
            };
            let name = zone.to_string();
            let now = tomori_core::timezone::describe_now(chrono::Utc::now(), &name);
            (Setting::Timezone(name.clone()), format!("The timezone is now `{name}`: it is {now}."))
        }
        Action::ThoughtLog { on: true, channel } => {
            let channel = channel.unwrap_or(ctx.caller.channel);
            (
                Setting::ThoughtLogChannel(Some(channel)),
                format!("Thoughts are logged in <#{channel}>."),
            )
        }
        Action::ThoughtLog { on: false, .. } => {
            (Setting::ThoughtLogChannel(None), "Thoughts are no longer logged.".to_owned())
        }
        // Answered with the key form before `run` (see `Commands::handle`).
        Action::Setup { .. } => {
            return Err(Failure::BadInput("Use the form to finish the setup.".to_owned()));
        }
    };
    settings::set(ctx.store, scope, ctx.actor(), setting).await?;
    Ok(answer)
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
