//! `/model text|vision|image|video|temperature|parameters|thinking|stop|logit-bias|fallback|embedding|embedding-clear|show|reset`:
//! which model the server talks through, which one looks at images for it (and how), which one
//! draws, which one films, how it samples, and which model embeds its documents. `logit-bias
//! upload` takes a SillyTavern logit bias file, fetched within its size limit.
//!
//! The provider is a known provider (answered with the server's keys from `/provider key`) or
//! one of the server's endpoints (`custom:<label>`). The chain the engine builds for each turn is
//! this model, then its fallbacks, then the operator's instance providers; the sampler
//! parameters and stop strings go with every request of the chain. The embedding model is
//! resolved the same way (an endpoint is asked for the model named); documents embedded with
//! another model stay stored but are not searched until they are added again.

use tomori_admin::model::{
    Action as AdminAction, BiasChange, MAX_LOGIT_BIAS_FILE_BYTES, VisionMode,
};
use tomori_core::thinking::ThinkingLevel;
use twilight_model::application::command::CommandType;
use twilight_model::application::interaction::InteractionDataResolved;
use twilight_model::guild::Permissions;
use twilight_util::builder::command::{
    AttachmentBuilder, BooleanBuilder, CommandBuilder, IntegerBuilder, StringBuilder,
    SubCommandBuilder, SubCommandGroupBuilder,
};

use super::upload::Upload;
use super::{Args, BadInput, Ctx, Failure, Need};

/// A `/model` subcommand: the admin layer's (`tomori_admin::model`), or a logit bias file still
/// to be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Admin(AdminAction),
    BiasUpload(Upload),
}

/// A typed stop string: the two characters `\n` stand for a line break (slash-command options
/// cannot hold one) and `\t` for a tab.
fn unescape(text: &str) -> String {
    text.replace("\\n", "\n").replace("\\t", "\t")
}

pub(crate) fn definition() -> CommandBuilder {
    let provider = || {
        StringBuilder::new("provider", "A provider (openrouter, openai, …) or custom:<endpoint>")
            .required(true)
            .max_length(72)
    };
    let model = || StringBuilder::new("model", "The model id").required(true).max_length(200);
    CommandBuilder::new("model", "Which model the server talks through", CommandType::ChatInput)
        .default_member_permissions(Permissions::MANAGE_GUILD)
        .option(
            SubCommandBuilder::new("text", "Choose the chat model")
                .option(provider())
                .option(model())
                .option(BooleanBuilder::new("vision", "It sees images (default no)"))
                .option(BooleanBuilder::new("tools", "It calls tools (default yes)")),
        )
        .option(
            SubCommandGroupBuilder::new(
                "vision",
                "The model that answers when there are images and the chat model can't see",
            )
            .subcommands([
                SubCommandBuilder::new("set", "Choose the vision model")
                    .option(provider())
                    .option(model()),
                SubCommandBuilder::new("clear", "No vision model"),
                SubCommandBuilder::new("mode", "How the vision model helps").option(
                    StringBuilder::new(
                        "mode",
                        "It answers in the chat model's place, or describes",
                    )
                    .required(true)
                    .choices([
                        ("answer: it answers turns with images", "answer"),
                        ("describe: the chat model asks it (analyze_image)", "describe"),
                    ]),
                ),
            ]),
        )
        .option(
            SubCommandGroupBuilder::new("image", "The model that draws pictures (generate_image)")
                .subcommands([
                    SubCommandBuilder::new("set", "Choose the image model")
                        .option(provider())
                        .option(model()),
                    SubCommandBuilder::new("clear", "No image model"),
                ]),
        )
        .option(
            SubCommandGroupBuilder::new("video", "The model that makes videos (generate_video)")
                .subcommands([
                    SubCommandBuilder::new(
                        "set",
                        "Choose the video model (google Veo, openrouter)",
                    )
                    .option(provider())
                    .option(model()),
                    SubCommandBuilder::new("clear", "No video model"),
                ]),
        )
        .option(
            SubCommandBuilder::new("temperature", "Sampling temperature (empty: the default)")
                .option(
                    IntegerBuilder::new("hundredths", "0 to 200, i.e. 0.00 to 2.00")
                        .min_value(0)
                        .max_value(200),
                ),
        )
        .option(
            SubCommandBuilder::new(
                "parameters",
                "Sampler parameters (unset ones keep their value)",
            )
            .option(
                IntegerBuilder::new("top_p", "Nucleus sampling, 0 to 100 hundredths (0.00–1.00)")
                    .min_value(0)
                    .max_value(100),
            )
            .option(
                IntegerBuilder::new("top_k", "Top-k sampling, 1 to 1000")
                    .min_value(1)
                    .max_value(1000),
            )
            .option(
                IntegerBuilder::new("max_tokens", "Longest answer in tokens, 1 to 65536")
                    .min_value(1)
                    .max_value(65_536),
            )
            .option(
                IntegerBuilder::new("frequency_penalty", "-200 to 200 hundredths (-2.00–2.00)")
                    .min_value(-200)
                    .max_value(200),
            )
            .option(
                IntegerBuilder::new("presence_penalty", "-200 to 200 hundredths (-2.00–2.00)")
                    .min_value(-200)
                    .max_value(200),
            )
            .option(
                IntegerBuilder::new("min_p", "Min-p sampling, 0 to 100 hundredths (0.00–1.00)")
                    .min_value(0)
                    .max_value(100),
            )
            .option(BooleanBuilder::new("reset", "Clear every parameter first")),
        )
        .option(
            SubCommandBuilder::new("thinking", "How much the model reasons before answering")
                .option(
                    StringBuilder::new(
                        "level",
                        "auto sends nothing; low, medium, high: about 1k, 4k, 8k tokens",
                    )
                    .required(true)
                    .choices(ThinkingLevel::ALL.map(|l| (l.name(), l.name()))),
                ),
        )
        .option(
            SubCommandGroupBuilder::new("stop", "Strings that end an answer (at most 40)")
                .subcommands([
                    SubCommandBuilder::new("add", "Add a stop string").option(
                        StringBuilder::new("text", "1 to 200 characters; \\n is a line break")
                            .required(true)
                            .max_length(400),
                    ),
                    SubCommandBuilder::new("remove", "Remove a stop string").option(
                        StringBuilder::new("text", "The stop string, as listed")
                            .required(true)
                            .max_length(400),
                    ),
                    SubCommandBuilder::new("list", "List the stop strings"),
                    SubCommandBuilder::new(
                        "speaker",
                        "Also end an answer at a line that opens with another speaker's Name:",
                    )
                    .option(BooleanBuilder::new("on", "On or off").required(true)),
                ]),
        )
        .option(
            SubCommandGroupBuilder::new(
                "logit-bias",
                "Words made more or less likely (at most 50)",
            )
            .subcommands([
                SubCommandBuilder::new("add", "Bias a word or phrase ({exact} or [token ids])")
                    .option(
                        StringBuilder::new(
                            "text",
                            "A word or phrase, {exact text}, or [1234, 5678]",
                        )
                        .required(true)
                        .max_length(100),
                    )
                    .option(
                        IntegerBuilder::new("bias", "-100 (never) to 100 (always)")
                            .required(true)
                            .min_value(-100)
                            .max_value(100),
                    ),
                SubCommandBuilder::new("remove", "Remove a word's bias").option(
                    StringBuilder::new("text", "The text, as listed")
                        .required(true)
                        .max_length(100),
                ),
                SubCommandBuilder::new("list", "List the logit bias"),
                SubCommandBuilder::new("upload", "Replace it with a SillyTavern logit bias file")
                    .option(AttachmentBuilder::new("file", "The JSON file").required(true)),
            ]),
        )
        .option(
            SubCommandGroupBuilder::new("fallback", "Models tried when the chosen one fails")
                .subcommands([
                    SubCommandBuilder::new("add", "Add a fallback model")
                        .option(provider())
                        .option(model()),
                    SubCommandBuilder::new("clear", "Remove every fallback"),
                ]),
        )
        .option(
            SubCommandBuilder::new("embedding", "Choose the model that embeds server documents")
                .option(provider())
                .option(model()),
        )
        .option(SubCommandBuilder::new(
            "embedding-clear",
            "Stop searching server documents (they stay stored)",
        ))
        .option(SubCommandBuilder::new("show", "Show the server's models"))
        .option(SubCommandBuilder::new("reset", "Use the instance's default model again"))
}

pub(crate) fn parse(
    args: Args<'_>,
    resolved: Option<&InteractionDataResolved>,
) -> Result<Action, BadInput> {
    let (sub, inner) = args.nested()?;
    if sub == "logit-bias"
        && let ("upload", a) = inner.nested()?
    {
        return Ok(Action::BiasUpload(Upload::from_option(a, resolved, "file")?));
    }
    parse_admin(sub, inner).map(Action::Admin)
}

fn parse_admin(sub: &str, inner: Args<'_>) -> Result<AdminAction, BadInput> {
    use AdminAction as Action;
    let names = |a: Args<'_>| -> Result<(String, String), BadInput> {
        Ok((
            a.required_string("provider")?.trim().to_ascii_lowercase(),
            a.required_string("model")?.trim().to_owned(),
        ))
    };
    match sub {
        "text" => {
            let (provider, model) = names(inner)?;
            Ok(Action::Text {
                provider,
                model,
                vision: inner.boolean("vision")?.unwrap_or(false),
                tools: inner.boolean("tools")?.unwrap_or(true),
            })
        }
        "vision" => match inner.nested()? {
            ("set", a) => {
                let (provider, model) = names(a)?;
                Ok(Action::VisionSet { provider, model })
            }
            ("clear", _) => Ok(Action::VisionClear),
            ("mode", a) => {
                let mode = VisionMode::parse(a.required_string("mode")?);
                Ok(Action::VisionMode { mode: mode.ok_or_else(BadInput::unknown)? })
            }
            _ => Err(BadInput::unknown()),
        },
        "image" => match inner.nested()? {
            ("set", a) => {
                let (provider, model) = names(a)?;
                Ok(Action::ImageSet { provider, model })
            }
            ("clear", _) => Ok(Action::ImageClear),
            _ => Err(BadInput::unknown()),
        },
        "video" => match inner.nested()? {
            ("set", a) => {
                let (provider, model) = names(a)?;
                Ok(Action::VideoSet { provider, model })
            }
            ("clear", _) => Ok(Action::VideoClear),
            _ => Err(BadInput::unknown()),
        },
        "temperature" => Ok(Action::Temperature { hundredths: inner.integer("hundredths")? }),
        "parameters" => Ok(Action::Parameters {
            top_p: inner.integer("top_p")?,
            top_k: inner.integer("top_k")?,
            max_tokens: inner.integer("max_tokens")?,
            frequency_penalty: inner.integer("frequency_penalty")?,
            presence_penalty: inner.integer("presence_penalty")?,
            min_p: inner.integer("min_p")?,
            reset: inner.boolean("reset")?.unwrap_or(false),
        }),
        "thinking" => {
            let level = inner.required_string("level")?;
            let level = ThinkingLevel::parse(level).ok_or_else(BadInput::unknown)?;
            Ok(Action::Thinking { level })
        }
        "stop" => match inner.nested()? {
            ("add", a) => Ok(Action::StopAdd { text: unescape(a.required_string("text")?) }),
            ("remove", a) => Ok(Action::StopRemove { text: unescape(a.required_string("text")?) }),
            ("list", _) => Ok(Action::StopList),
            ("speaker", a) => Ok(Action::StopSpeaker { on: a.boolean("on")?.unwrap_or(false) }),
            _ => Err(BadInput::unknown()),
        },
        "logit-bias" => match inner.nested()? {
            ("add", a) => Ok(Action::LogitBias(BiasChange::Add {
                text: a.required_string("text")?.to_owned(),
                bias: a.integer("bias")?.ok_or_else(|| Args::missing("bias"))?,
            })),
            ("remove", a) => Ok(Action::LogitBias(BiasChange::Remove {
                text: a.required_string("text")?.to_owned(),
            })),
            ("list", _) => Ok(Action::LogitBiasList),
            _ => Err(BadInput::unknown()),
        },
        "fallback" => match inner.nested()? {
            ("add", a) => {
                let (provider, model) = names(a)?;
                Ok(Action::FallbackAdd { provider, model })
            }
            ("clear", _) => Ok(Action::FallbackClear),
            _ => Err(BadInput::unknown()),
        },
        "embedding" => {
            let (provider, model) = names(inner)?;
            Ok(Action::Embedding { provider, model })
        }
        "embedding-clear" => Ok(Action::EmbeddingClear),
        "show" => Ok(Action::Show),
        "reset" => Ok(Action::Reset),
        _ => Err(BadInput::unknown()),
    }
}

pub(crate) fn need(action: &Action) -> Need {
    match action {
        Action::Admin(action) => action.need(),
        Action::BiasUpload(_) => Need::Manager,
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    let caller = ctx.caller.admin();
    let action = match action {
        Action::Admin(action) => action.clone(),
        Action::BiasUpload(file) => {
            let max = u64::try_from(MAX_LOGIT_BIAS_FILE_BYTES).unwrap_or(u64::MAX);
            let bytes = file.fetch(ctx, max).await?;
            let json = String::from_utf8(bytes).map_err(|_| {
                Failure::BadInput(format!(
                    "`{}` is not UTF-8 text; nothing was changed.",
                    file.filename
                ))
            })?;
            AdminAction::LogitBias(BiasChange::Upload { json })
        }
    };
    Ok(tomori_admin::model::run(ctx.store, &caller, &action).await?.text)
}
