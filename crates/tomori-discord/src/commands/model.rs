//! `/model text|vision|temperature|parameters|stop|fallback|embedding|embedding-clear|show|reset`:
//! which model the server talks through, which one looks at images for it, how it samples, and
//! which model embeds its documents.
//!
//! The provider is a known provider (answered with the server's keys from `/provider key`) or
//! one of the server's endpoints (`custom:<label>`). The chain the engine builds for each turn is
//! this model, then its fallbacks, then the operator's instance providers; the sampler
//! parameters and stop strings go with every request of the chain. The embedding model is
//! resolved the same way (an endpoint is asked for the model named); documents embedded with
//! another model stay stored but are not searched until they are added again.

use tomori_llm::{Wire, known_provider};
use tomori_store::credentials::KeyOwner;
use tomori_store::models::{self, EmbeddingModel, MAX_FALLBACK, MAX_STOP, Params, ServerModel};
use tomori_store::{documents, endpoints};
use twilight_model::application::command::CommandType;
use twilight_model::guild::Permissions;
use twilight_util::builder::command::{
    BooleanBuilder, CommandBuilder, IntegerBuilder, StringBuilder, SubCommandBuilder,
    SubCommandGroupBuilder,
};

use super::{Args, BadInput, Ctx, Failure, Need};

/// A `/model` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Text {
        provider: String,
        model: String,
        vision: bool,
        tools: bool,
    },
    /// The model for turns with images, when the text model does not see them.
    VisionSet {
        provider: String,
        model: String,
    },
    VisionClear,
    /// Temperature in hundredths (Discord integers), `None` for the provider's default.
    Temperature {
        hundredths: Option<i64>,
    },
    /// Sampler parameters; fractions in hundredths (Discord integers). Unset options keep their
    /// value; `reset` clears every parameter first.
    Parameters {
        top_p: Option<i64>,
        top_k: Option<i64>,
        max_tokens: Option<i64>,
        frequency_penalty: Option<i64>,
        presence_penalty: Option<i64>,
        reset: bool,
    },
    /// A stop string, with `\n` typed as a line break.
    StopAdd {
        text: String,
    },
    StopRemove {
        text: String,
    },
    StopList,
    FallbackAdd {
        provider: String,
        model: String,
    },
    FallbackClear,
    Embedding {
        provider: String,
        model: String,
    },
    EmbeddingClear,
    Show,
    Reset,
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
            .option(BooleanBuilder::new("reset", "Clear every parameter first")),
        )
        .option(
            SubCommandGroupBuilder::new("stop", "Strings that end an answer (at most 4)")
                .subcommands([
                    SubCommandBuilder::new("add", "Add a stop string").option(
                        StringBuilder::new("text", "1 to 50 characters; \\n is a line break")
                            .required(true)
                            .max_length(100),
                    ),
                    SubCommandBuilder::new("remove", "Remove a stop string").option(
                        StringBuilder::new("text", "The stop string, as listed")
                            .required(true)
                            .max_length(100),
                    ),
                    SubCommandBuilder::new("list", "List the stop strings"),
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

pub(crate) fn parse(args: Args<'_>) -> Result<Action, BadInput> {
    let (sub, inner) = args.nested()?;
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
            _ => Err(BadInput::unknown()),
        },
        "temperature" => Ok(Action::Temperature { hundredths: inner.integer("hundredths")? }),
        "parameters" => Ok(Action::Parameters {
            top_p: inner.integer("top_p")?,
            top_k: inner.integer("top_k")?,
            max_tokens: inner.integer("max_tokens")?,
            frequency_penalty: inner.integer("frequency_penalty")?,
            presence_penalty: inner.integer("presence_penalty")?,
            reset: inner.boolean("reset")?.unwrap_or(false),
        }),
        "stop" => match inner.nested()? {
            ("add", a) => Ok(Action::StopAdd { text: unescape(a.required_string("text")?) }),
            ("remove", a) => Ok(Action::StopRemove { text: unescape(a.required_string("text")?) }),
            ("list", _) => Ok(Action::StopList),
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
        Action::Show | Action::StopList => Need::Member,
        _ => Need::Manager,
    }
}

/// What a checked provider is.
enum Checked {
    Known,
    /// One of the server's endpoints; whether it sees images.
    Endpoint {
        vision: bool,
    },
}

/// The provider must be known, or one of the server's endpoints.
async fn check(ctx: &Ctx<'_>, provider: &str, model: &str) -> Result<Checked, Failure> {
    models::check_model(model).map_err(|_| {
        Failure::BadInput(format!(
            "`{model}` is not a model id: use letters, digits and . _ : / @ + - only."
        ))
    })?;
    if known_provider(provider).is_some() {
        return Ok(Checked::Known);
    }
    if let Some(label) = provider.strip_prefix("custom:")
        && let Some((endpoint, _)) =
            endpoints::get(ctx.store, ctx.server().await?, KeyOwner::Server, label).await?
    {
        return Ok(Checked::Endpoint { vision: endpoint.has_vision });
    }
    Err(Failure::BadInput(format!(
        "Unknown provider `{provider}`: use a provider name from /provider key add or \
         custom:<endpoint label>; nothing was changed."
    )))
}

/// An embedding model must be reachable like a chat model and speak a wire with embeddings.
async fn check_embedding(ctx: &Ctx<'_>, provider: &str, model: &str) -> Result<(), Failure> {
    if known_provider(provider).is_some_and(|known| known.wire == Wire::Anthropic) {
        return Err(Failure::BadInput(format!(
            "`{provider}` has no embeddings API; use openai, openrouter, google, nvidia or a \
             custom:<endpoint>. Nothing was changed."
        )));
    }
    check(ctx, provider, model).await.map(|_| ())
}

/// What `/model show` says about documents.
fn describe_embedding(model: Option<&EmbeddingModel>) -> String {
    match model {
        Some(model) => {
            format!("Server documents are embedded with `{}/{}`.", model.provider, model.model)
        }
        None => "No embedding model: server documents are not searched.".to_owned(),
    }
}

fn describe(model: &ServerModel) -> String {
    let mut text = format!("`{}/{}`", model.provider, model.model);
    if model.vision {
        text.push_str(" · sees images");
    }
    if !model.tools {
        text.push_str(" · no tools");
    }
    if let Some(t) = model.temperature {
        text.push_str(&format!(" · temperature {t:.2}"));
    }
    let p = &model.params;
    if let Some(v) = p.top_p {
        text.push_str(&format!(" · top_p {v:.2}"));
    }
    if let Some(v) = p.top_k {
        text.push_str(&format!(" · top_k {v}"));
    }
    if let Some(v) = p.max_tokens {
        text.push_str(&format!(" · at most {v} tokens"));
    }
    if let Some(v) = p.frequency_penalty {
        text.push_str(&format!(" · frequency penalty {v:.2}"));
    }
    if let Some(v) = p.presence_penalty {
        text.push_str(&format!(" · presence penalty {v:.2}"));
    }
    if !model.stop.is_empty() {
        text.push_str(&format!(" · stops at {}", shown_stops(&model.stop)));
    }
    if !model.fallback.is_empty() {
        text.push_str(&format!(" · then {}", model.fallback.join(", ")));
    }
    if let Some(vision) = &model.vision_model {
        text.push_str(&format!(" · images go to `{vision}`"));
    }
    text
}

/// Stop strings as typed (line breaks as `\n`), quoted.
fn shown_stops(stops: &[String]) -> String {
    stops.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")
}

/// Hundredths (a Discord integer within the option's range) as a fraction.
fn fraction(hundredths: i64) -> f32 {
    // Options are bounded to ±200, so the conversion is exact.
    #[expect(clippy::cast_precision_loss, reason = "at most 200 in magnitude")]
    let value = hundredths as f32 / 100.0;
    value
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    let scope = ctx.server().await?;
    let current = models::get(ctx.store, scope).await?;
    let need_model = || {
        Failure::BadInput("Choose a model with /model text first; nothing was changed.".to_owned())
    };
    let updated = match action {
        Action::Show => {
            let text = match current {
                Some(model) => format!("This server talks through {}.", describe(&model)),
                None => "This server uses the instance's default model.".to_owned(),
            };
            let embedding = models::get_embedding(ctx.store, scope).await?;
            return Ok(format!("{text}\n{}", describe_embedding(embedding.as_ref())));
        }
        Action::Embedding { provider, model } => {
            check_embedding(ctx, provider, model).await?;
            let chosen = EmbeddingModel { provider: provider.clone(), model: model.clone() };
            models::set_embedding(ctx.store, scope, ctx.actor(), &chosen).await?;
            let stale = documents::list(ctx.store, scope)
                .await?
                .iter()
                .filter(|d| !d.family.is_made_by(&chosen))
                .count();
            let mut text = describe_embedding(Some(&chosen));
            if stale > 0 {
                text.push_str(&format!(
                    " {stale} document(s) were embedded with another model and are not searched \
                     until added again (see /memory document list)."
                ));
            }
            return Ok(text);
        }
        Action::EmbeddingClear => {
            let cleared = models::clear_embedding(ctx.store, scope, ctx.actor()).await?;
            return Ok(if cleared {
                "Server documents are no longer searched; they stay stored.".to_owned()
            } else {
                "This server has no embedding model.".to_owned()
            });
        }
        Action::Reset => {
            let cleared = models::clear(ctx.store, scope, ctx.actor()).await?;
            return Ok(if cleared {
                "This server uses the instance's default model again.".to_owned()
            } else {
                "This server already uses the instance's default model.".to_owned()
            });
        }
        Action::StopList => {
            let stops = current.map(|c| c.stop).unwrap_or_default();
            return Ok(if stops.is_empty() {
                "No stop strings.".to_owned()
            } else {
                format!("Stop strings: {}.", shown_stops(&stops))
            });
        }
        Action::Text { provider, model, vision, tools } => {
            check(ctx, provider, model).await?;
            // Sampling choices and fallbacks stay when the model changes.
            let mut chosen =
                current.unwrap_or_else(|| ServerModel::new(provider.clone(), model.clone()));
            chosen.provider.clone_from(provider);
            chosen.model.clone_from(model);
            chosen.vision = *vision;
            chosen.tools = *tools;
            chosen
        }
        Action::VisionSet { provider, model: id } => {
            if let Checked::Endpoint { vision: false } = check(ctx, provider, id).await? {
                return Err(Failure::BadInput(format!(
                    "The endpoint `{provider}` is not marked as seeing images; register it with \
                     vision:true. Nothing was changed."
                )));
            }
            let mut model = current.ok_or_else(need_model)?;
            model.vision_model = Some(format!("{provider}/{id}"));
            model
        }
        Action::VisionClear => {
            let mut model = current.ok_or_else(need_model)?;
            model.vision_model = None;
            model
        }
        Action::Temperature { hundredths } => {
            let mut model = current.ok_or_else(need_model)?;
            // 0..=200 hundredths (Discord enforces the range; the store checks it again).
            model.temperature = hundredths.map(fraction);
            model
        }
        Action::Parameters {
            top_p,
            top_k,
            max_tokens,
            frequency_penalty,
            presence_penalty,
            reset,
        } => {
            let given = [top_p, top_k, max_tokens, frequency_penalty, presence_penalty];
            if !reset && given.iter().all(|v| v.is_none()) {
                return Err(Failure::BadInput(
                    "Give at least one parameter (or reset); /model show lists them.".to_owned(),
                ));
            }
            let mut model = current.ok_or_else(need_model)?;
            if *reset {
                model.params = Params::default();
            }
            // Discord enforces each option's range; the store checks every value again, and an
            // integer that does not fit is refused rather than wrapped.
            let whole = |v: i64, what: &str| {
                i32::try_from(v).map_err(|_| Failure::BadInput(format!("The {what} is too large.")))
            };
            let p = &mut model.params;
            p.top_p = top_p.map(fraction).or(p.top_p);
            p.top_k = top_k.map(|v| whole(v, "top_k")).transpose()?.or(p.top_k);
            p.max_tokens = max_tokens.map(|v| whole(v, "max_tokens")).transpose()?.or(p.max_tokens);
            p.frequency_penalty = frequency_penalty.map(fraction).or(p.frequency_penalty);
            p.presence_penalty = presence_penalty.map(fraction).or(p.presence_penalty);
            model
        }
        Action::StopAdd { text } => {
            models::check_stop(text).map_err(|_| {
                Failure::BadInput(
                    "A stop string is 1 to 50 characters (\\n for a line break), not only spaces; \
                     nothing was changed."
                        .to_owned(),
                )
            })?;
            let mut model = current.ok_or_else(need_model)?;
            if model.stop.contains(text) {
                return Err(Failure::BadInput(format!(
                    "{text:?} is already a stop string; nothing was changed."
                )));
            }
            if model.stop.len() >= MAX_STOP {
                return Err(Failure::BadInput(format!(
                    "At most {MAX_STOP} stop strings; remove one with /model stop remove."
                )));
            }
            model.stop.push(text.clone());
            model
        }
        Action::StopRemove { text } => {
            let mut model = current.ok_or_else(need_model)?;
            let before = model.stop.len();
            model.stop.retain(|s| s != text);
            if model.stop.len() == before {
                return Err(Failure::BadInput(format!(
                    "{text:?} is not a stop string; /model stop list shows them."
                )));
            }
            model
        }
        Action::FallbackAdd { provider, model: id } => {
            check(ctx, provider, id).await?;
            let mut model = current.ok_or_else(need_model)?;
            if model.fallback.len() >= MAX_FALLBACK {
                return Err(Failure::BadInput(format!(
                    "At most {MAX_FALLBACK} fallbacks; clear them with /model fallback clear."
                )));
            }
            model.fallback.push(format!("{provider}/{id}"));
            model
        }
        Action::FallbackClear => {
            let mut model = current.ok_or_else(need_model)?;
            model.fallback.clear();
            model
        }
    };
    models::set(ctx.store, scope, ctx.actor(), &updated).await?;
    Ok(format!("This server now talks through {}.", describe(&updated)))
}
