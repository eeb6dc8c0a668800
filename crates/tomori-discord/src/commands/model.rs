//! `/model text|temperature|fallback|embedding|embedding-clear|show|reset`: which model the
//! server talks through, and which embeds its documents.
//!
//! The provider is a known provider (answered with the server's keys from `/provider key`) or
//! one of the server's endpoints (`custom:<label>`). The chain the engine builds for each turn is
//! this model, then its fallbacks, then the operator's instance providers. The embedding model
//! is resolved the same way (an endpoint is asked for the model named); documents embedded with
//! another model stay stored but are not searched until they are added again.

use tomori_llm::{Wire, known_provider};
use tomori_store::credentials::KeyOwner;
use tomori_store::models::{self, EmbeddingModel, MAX_FALLBACK, ServerModel};
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
    /// Temperature in hundredths (Discord integers), `None` for the provider's default.
    Temperature {
        hundredths: Option<i64>,
    },
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
            SubCommandBuilder::new("temperature", "Sampling temperature (empty: the default)")
                .option(
                    IntegerBuilder::new("hundredths", "0 to 200, i.e. 0.00 to 2.00")
                        .min_value(0)
                        .max_value(200),
                ),
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
        "temperature" => Ok(Action::Temperature { hundredths: inner.integer("hundredths")? }),
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
        Action::Show => Need::Member,
        _ => Need::Manager,
    }
}

/// The provider must be known, or one of the server's endpoints.
async fn check(ctx: &Ctx<'_>, provider: &str, model: &str) -> Result<(), Failure> {
    models::check_model(model).map_err(|_| {
        Failure::BadInput(format!(
            "`{model}` is not a model id: use letters, digits and . _ : / @ + - only."
        ))
    })?;
    if known_provider(provider).is_some() {
        return Ok(());
    }
    if let Some(label) = provider.strip_prefix("custom:")
        && endpoints::get(ctx.store, ctx.server().await?, KeyOwner::Server, label).await?.is_some()
    {
        return Ok(());
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
    check(ctx, provider, model).await
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
    if !model.fallback.is_empty() {
        text.push_str(&format!(" · then {}", model.fallback.join(", ")));
    }
    text
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
        Action::Text { provider, model, vision, tools } => {
            check(ctx, provider, model).await?;
            let (temperature, fallback) =
                current.map(|c| (c.temperature, c.fallback)).unwrap_or_default();
            ServerModel {
                provider: provider.clone(),
                model: model.clone(),
                vision: *vision,
                tools: *tools,
                temperature,
                fallback,
            }
        }
        Action::Temperature { hundredths } => {
            let mut model = current.ok_or_else(need_model)?;
            // 0..=200 hundredths (Discord enforces the range; the store checks it again).
            #[expect(clippy::cast_precision_loss, reason = "at most 200")]
            let value = hundredths.map(|h| h as f32 / 100.0);
            model.temperature = value;
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
